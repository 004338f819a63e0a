//! Routes and handlers: authenticate, decode, call the service, encode.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keystead_api::audit::*;
use keystead_api::crypto::*;
use keystead_api::inventory::*;
use keystead_api::keys::*;
use keystead_api::oversight::*;
use keystead_api::principals::*;
use keystead_api::recovery::*;
use keystead_api::report::*;
use keystead_api::sys::*;
use keystead_api::ErrorBody;
use keystead_service::{Caller, CreateKeyRequest, Credential, KeyListFilter, Service};
use serde::de::DeserializeOwned;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::wire::IntoWire;

mod access_keys;
mod admin;
mod aliases;
mod crypto;
mod inventory;
mod keys;
mod lifecycle;
mod oversight;
mod recovery;
mod sys;
use crate::metrics::Metrics;
use crate::{ApiError, ClientCertificate};

type AppState = Arc<Service>;
type ApiResult<T> = Result<Json<T>, ApiError>;

/// Builds the router and the OpenAPI document from the same handler list, so the document
/// cannot miss a route.
/// Another protocol's routes (the AWS endpoint), if any, are merged in before the
/// listener-wide layers, so they share the body and concurrency limits and request ids.
pub fn router(service: Arc<Service>, extra: Option<Router>) -> Router {
    let metrics = Arc::new(Metrics::new(service.clone()));
    let (api, openapi) = api_routes().split_for_parts();
    let openapi = Arc::new(openapi);
    let documents = Router::new()
        .route("/metrics", get(crate::metrics::render))
        .with_state(metrics.clone())
        .route("/v1/openapi.json", get(move || std::future::ready(Json(openapi.clone()))));
    let mut app = api
        .route_layer(axum::middleware::from_fn_with_state(metrics, crate::metrics::track))
        .with_state(service)
        .merge(documents);
    if let Some(extra) = extra {
        app = app.merge(extra);
    }
    app.layer(DefaultBodyLimit::max(crate::MAX_BODY_BYTES))
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(crate::MAX_CONCURRENT_REQUESTS))
        .layer(axum::middleware::from_fn(crate::request_id::layer))
}

/// The OpenAPI document `/v1/openapi.json` serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes().split_for_parts().1
}

/// Every `/v1` route with its OpenAPI description.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .routes(routes!(sys::status))
        .routes(routes!(sys::seal_status))
        .routes(routes!(sys::init))
        .routes(routes!(sys::unseal))
        .routes(routes!(sys::seal))
        .routes(routes!(keys::create_key, keys::list_keys))
        .routes(routes!(keys::show_key, aliases::update_key))
        .routes(routes!(aliases::create_alias, aliases::list_aliases))
        .routes(routes!(aliases::update_alias, aliases::delete_alias))
        .routes(routes!(keys::rotate_key))
        .routes(routes!(keys::import_params))
        .routes(routes!(keys::import_key))
        .routes(routes!(keys::delete_material))
        .routes(routes!(keys::activate_key))
        .routes(routes!(keys::deactivate_key))
        .routes(routes!(lifecycle::suspend_key))
        .routes(routes!(lifecycle::resume_key))
        .routes(routes!(lifecycle::compromise_key))
        .routes(routes!(lifecycle::destroy_key))
        .routes(routes!(lifecycle::cancel_destruction))
        .routes(routes!(lifecycle::request_exception))
        .routes(routes!(oversight::list_approvals))
        .routes(routes!(oversight::show_approval))
        .routes(routes!(oversight::approve))
        .routes(routes!(oversight::reject))
        .routes(routes!(oversight::add_webhook, oversight::list_webhooks))
        .routes(routes!(oversight::list_deliveries))
        .routes(routes!(oversight::delete_webhook))
        .routes(routes!(oversight::disable_webhook))
        .routes(routes!(oversight::enable_webhook))
        .routes(routes!(oversight::rotate_webhook_secret))
        .routes(routes!(crypto::rewrap))
        .routes(routes!(keys::public_key))
        .routes(routes!(crypto::encrypt))
        .routes(routes!(crypto::datakey))
        .routes(routes!(crypto::sign))
        .routes(routes!(crypto::verify))
        .routes(routes!(crypto::mac))
        .routes(routes!(crypto::mac_verify))
        .routes(routes!(crypto::wrap))
        .routes(routes!(crypto::decrypt))
        .routes(routes!(crypto::unwrap))
        .routes(routes!(admin::audit_list))
        .routes(routes!(admin::audit_verify))
        .routes(routes!(admin::audit_export))
        .routes(routes!(admin::audit_archive_plan))
        .routes(routes!(admin::audit_archive_rows))
        .routes(routes!(admin::audit_archive_commit))
        .routes(routes!(inventory::list))
        .routes(routes!(inventory::review))
        .routes(routes!(inventory::anomalies))
        .routes(routes!(inventory::report))
        .routes(routes!(inventory::compliance))
        .routes(routes!(recovery::assessment))
        .routes(routes!(recovery::create_backup))
        .routes(routes!(recovery::collect_share))
        .routes(routes!(recovery::request_recovery))
        .merge(
            // A bundle travels in the request body: these two routes take larger bodies.
            OpenApiRouter::new()
                .routes(routes!(recovery::restore_backup))
                .routes(routes!(recovery::drill))
                .layer(DefaultBodyLimit::max(crate::MAX_BUNDLE_BYTES))
                // Two bundles in memory at most, whoever sends them.
                .layer(tower::limit::GlobalConcurrencyLimitLayer::new(2)),
        )
        .routes(routes!(admin::create_principal, admin::list_principals))
        .routes(routes!(admin::disable_principal))
        .routes(routes!(admin::enable_principal))
        .routes(routes!(admin::update_principal))
        .routes(routes!(access_keys::create_access_key))
        .routes(routes!(access_keys::list_access_keys))
        .routes(routes!(access_keys::disable_access_key))
        .routes(routes!(access_keys::enable_access_key))
        .routes(routes!(access_keys::delete_access_key))
        .routes(routes!(admin::add_grant))
        .routes(routes!(admin::revoke_grant))
}

/// The authenticated caller of a request.
struct Authed(Caller);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, service: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .filter(|t| !t.trim().is_empty());
        let source = source_of(parts);
        // A token, when given, decides; a client certificate is the fallback.
        let certificate = match token {
            None => parts.extensions.get::<ClientCertificate>().and_then(|c| c.0.clone()),
            Some(_) => None,
        };
        let credential = match &certificate {
            Some(subject) => Credential::Certificate(subject),
            None => Credential::Bearer(token),
        };
        let request_id = parts.extensions.get::<crate::request_id::RequestId>().map(|id| id.0.clone());
        // Failures are counted, logged and audited there, aggregated per source.
        let caller = service
            .authenticate_request(credential, &source, parts.uri.path(), request_id.as_deref())
            .await?;
        Ok(Self(caller))
    }
}

/// Where a request came from, for the audit log.
fn source_of(parts: &Parts) -> String {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.to_string());
    format!("rest {}", peer.as_deref().unwrap_or("unknown"))
}

/// The source of an unauthenticated request (init, unseal).
struct Source(String);

impl<S: Send + Sync> FromRequestParts<S> for Source {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Self(source_of(parts)))
    }
}

/// A JSON body whose decoding errors are reported in the API's error format.
struct Body<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::too_large(crate::MAX_BODY_BYTES))
            }
            Err(rejection) => Err(ApiError::bad_request(json_problem(&rejection))),
        }
    }
}

fn json_problem(rejection: &JsonRejection) -> String {
    format!("invalid JSON body: {}", rejection.body_text())
}

/// A query string whose decoding errors are reported in the API's error format.
struct QueryOf<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryOf<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::bad_request(query_problem(&rejection))),
        }
    }
}

fn query_problem(rejection: &QueryRejection) -> String {
    format!("invalid query: {}", rejection.body_text())
}

/// The caller with the justification a body carries, validated (both parts or neither).
fn justified(
    caller: Caller,
    justification: Option<String>,
    affected_systems: Vec<String>,
) -> Result<Caller, ApiError> {
    if justification.is_none() && affected_systems.is_empty() {
        return Ok(caller);
    }
    let justification = keystead_service::Justification::new(
        justification.as_deref().unwrap_or_default(),
        &affected_systems,
    )?;
    Ok(caller.with_justification(Some(justification)))
}

fn decode(field: &str, text: &str) -> Result<Vec<u8>, ApiError> {
    STANDARD
        .decode(text.trim())
        .map_err(|_| ApiError::bad_request(format!("{field} must be standard base64")))
}

/// Decodes secret base64 text straight into zeroizing bytes.
fn decode_secret(
    field: &str,
    text: &keystead_api::Secret,
) -> Result<keystead_service::SecretBytes, ApiError> {
    decode(field, text.expose_secret()).map(keystead_service::SecretBytes::new)
}
