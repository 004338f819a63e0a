//! Routes and handlers: authenticate, decode, call the service, encode.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keystead_service::{Caller, CreateKeyRequest, KeyListFilter, KeyView, SealStatus, ServerStatus, Service};
use serde::de::DeserializeOwned;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::api::*;
use crate::metrics::Metrics;
use crate::{ApiError, ClientCertificate};

type AppState = Arc<Service>;
type ApiResult<T> = Result<Json<T>, ApiError>;

/// Builds the router.
pub fn router(service: Arc<Service>) -> Router {
    let metrics = Arc::new(Metrics::new(service.clone()));
    let metrics_route =
        Router::new().route("/metrics", get(crate::metrics::render)).with_state(metrics.clone());
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/sys/seal-status", get(seal_status))
        .route("/v1/sys/init", post(init))
        .route("/v1/sys/unseal", post(unseal))
        .route("/v1/sys/seal", post(seal))
        .route("/v1/keys", post(create_key).get(list_keys))
        .route("/v1/keys/{key}", get(show_key))
        .route("/v1/keys/{key}/rotate", post(rotate_key))
        .route("/v1/keys/{key}/activate", post(activate_key))
        .route("/v1/keys/{key}/deactivate", post(deactivate_key))
        .route("/v1/keys/{key}/public", get(public_key))
        .route("/v1/keys/{key}/encrypt", post(encrypt))
        .route("/v1/keys/{key}/datakey", post(datakey))
        .route("/v1/keys/{key}/sign", post(sign))
        .route("/v1/keys/{key}/verify", post(verify))
        .route("/v1/keys/{key}/mac", post(mac))
        .route("/v1/keys/{key}/mac-verify", post(mac_verify))
        .route("/v1/keys/{key}/wrap", post(wrap))
        .route("/v1/decrypt", post(decrypt))
        .route("/v1/unwrap", post(unwrap))
        .route("/v1/audit", get(audit_list))
        .route("/v1/audit/verify", get(audit_verify))
        .route("/v1/principals", post(create_principal).get(list_principals))
        .route("/v1/principals/{name}/disable", post(disable_principal))
        .route("/v1/grants", post(add_grant))
        .route_layer(axum::middleware::from_fn_with_state(metrics, crate::metrics::track))
        .with_state(service)
        .merge(metrics_route)
        .layer(DefaultBodyLimit::max(crate::MAX_BODY_BYTES))
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(crate::MAX_CONCURRENT_REQUESTS))
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
            .and_then(|v| v.strip_prefix("Bearer "));
        let source = source_of(parts);
        // A token, when given, decides; a client certificate is the fallback.
        let certificate = match token {
            None => parts.extensions.get::<ClientCertificate>().and_then(|c| c.0.clone()),
            Some(_) => None,
        };
        let outcome = match &certificate {
            Some(subject) => service.authenticate_certificate(subject, &source).await,
            None => service.authenticate(token, &source).await,
        };
        match outcome {
            Ok(caller) => Ok(Self(caller)),
            Err(err) => {
                tracing::warn!(%source, path = %parts.uri.path(), "request refused: {err}");
                if err.kind() == keystead_service::ErrorKind::Unauthenticated {
                    service
                        .record_failed_authentication(&source, parts.uri.path(), certificate.as_deref())
                        .await;
                }
                Err(err.into())
            }
        }
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

fn decode(field: &str, text: &str) -> Result<Vec<u8>, ApiError> {
    STANDARD
        .decode(text.trim())
        .map_err(|_| ApiError::bad_request(format!("{field} must be standard base64")))
}

async fn status(State(service): State<AppState>, Authed(caller): Authed) -> ApiResult<ServerStatus> {
    Ok(Json(service.status_for(&caller).await?))
}

/// Public: a sealed server must be able to say so.
async fn seal_status(State(service): State<AppState>) -> Json<SealStatus> {
    Json(service.seal_status())
}

async fn init(
    State(service): State<AppState>,
    Source(source): Source,
    Body(body): Body<Init>,
) -> ApiResult<InitOut> {
    let output = service.operator_init(&source, body.shares, body.threshold).await?;
    Ok(Json(InitOut {
        seal_id: output.seal_id.clone(),
        threshold: output.threshold,
        shares: output.shares.iter().map(|s| s.expose_secret().to_owned()).collect(),
        root_token: output.root_token.expose_secret().to_owned(),
    }))
}

async fn unseal(
    State(service): State<AppState>,
    Source(source): Source,
    Body(body): Body<Unseal>,
) -> ApiResult<SealStatus> {
    let share = zeroize::Zeroizing::new(body.share);
    Ok(Json(service.operator_unseal(&source, &share).await?))
}

async fn seal(State(service): State<AppState>, Authed(caller): Authed) -> ApiResult<SealStatus> {
    Ok(Json(service.operator_seal(&caller).await?))
}

async fn create_key(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<CreateKey>,
) -> ApiResult<KeyView> {
    let request = CreateKeyRequest {
        tenant: body.tenant,
        name: body.name,
        purpose: body.purpose,
        algorithm: body.algorithm,
        usage_context: body.usage_context,
        owner: body.owner,
        environment: body.environment,
        classification: body.classification,
        labels: body.labels,
        rotation_period: body.rotation_period,
        recoverable: body.recoverable,
        criticality: body.criticality,
        pre_active: body.pre_active,
    };
    Ok(Json(service.create_key(&caller, request).await?))
}

fn parse_labels(text: Option<&str>) -> Result<std::collections::BTreeMap<String, String>, ApiError> {
    let mut labels = std::collections::BTreeMap::new();
    for pair in text.unwrap_or_default().split(',').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').ok_or_else(|| ApiError::bad_request("labels must be k=v pairs"))?;
        labels.insert(k.to_owned(), v.to_owned());
    }
    Ok(labels)
}

async fn list_keys(
    State(service): State<AppState>,
    Authed(caller): Authed,
    QueryOf(query): QueryOf<ListKeys>,
) -> ApiResult<Vec<KeyView>> {
    let filter = KeyListFilter {
        labels: parse_labels(query.label.as_deref())?,
        tenant: query.tenant,
        purpose: query.purpose,
        state: query.state,
        owner: query.owner,
    };
    Ok(Json(service.list_keys(&caller, filter).await?))
}

async fn show_key(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    QueryOf(q): QueryOf<TenantQuery>,
) -> ApiResult<KeyView> {
    Ok(Json(service.show_key(&caller, q.tenant.as_deref(), &key).await?))
}

async fn rotate_key(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    QueryOf(q): QueryOf<TenantQuery>,
) -> ApiResult<KeyView> {
    Ok(Json(service.rotate_key(&caller, q.tenant.as_deref(), &key).await?))
}

async fn activate_key(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<VersionBody>,
) -> ApiResult<KeyView> {
    Ok(Json(service.activate_key(&caller, body.tenant.as_deref(), &key, body.version).await?))
}

async fn deactivate_key(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<VersionBody>,
) -> ApiResult<KeyView> {
    Ok(Json(service.deactivate_key(&caller, body.tenant.as_deref(), &key, body.version).await?))
}

async fn public_key(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    QueryOf(q): QueryOf<PublicQuery>,
) -> ApiResult<PublicKeyOut> {
    Ok(Json(PublicKeyOut { pem: service.public_key(&caller, q.tenant.as_deref(), &key, q.version).await? }))
}

async fn encrypt(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<Encrypt>,
) -> ApiResult<CiphertextOut> {
    let plaintext = decode("plaintext", &body.plaintext)?;
    let ciphertext =
        service.encrypt(&caller, body.tenant.as_deref(), &key, &plaintext, &body.context).await?;
    Ok(Json(CiphertextOut { ciphertext }))
}

async fn datakey(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<Encrypt>,
) -> ApiResult<DataKeyOut> {
    let data_key = service.generate_data_key(&caller, body.tenant.as_deref(), &key, &body.context).await?;
    Ok(Json(DataKeyOut {
        plaintext: STANDARD.encode(data_key.plaintext.expose_secret()),
        ciphertext: data_key.ciphertext,
    }))
}

async fn decrypt(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<Decrypt>,
) -> ApiResult<PlaintextOut> {
    let plaintext = service.decrypt(&caller, &body.ciphertext, &body.context).await?;
    Ok(Json(PlaintextOut { plaintext: STANDARD.encode(plaintext.expose_secret()) }))
}

async fn sign(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<Message>,
) -> ApiResult<SignatureOut> {
    let message = decode("message", &body.message)?;
    Ok(Json(SignatureOut { signature: service.sign(&caller, body.tenant.as_deref(), &key, &message).await? }))
}

async fn mac(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<Message>,
) -> ApiResult<SignatureOut> {
    let message = decode("message", &body.message)?;
    Ok(Json(SignatureOut { signature: service.mac(&caller, body.tenant.as_deref(), &key, &message).await? }))
}

async fn verify(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<Message>,
) -> ApiResult<ValidOut> {
    let message = decode("message", &body.message)?;
    let signature = body.signature.ok_or_else(|| ApiError::bad_request("signature is required"))?;
    Ok(Json(ValidOut {
        valid: service.verify(&caller, body.tenant.as_deref(), &key, &message, &signature).await?,
    }))
}

async fn mac_verify(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<Message>,
) -> ApiResult<ValidOut> {
    let message = decode("message", &body.message)?;
    let tag = body.signature.ok_or_else(|| ApiError::bad_request("signature (the MAC tag) is required"))?;
    Ok(Json(ValidOut {
        valid: service.mac_verify(&caller, body.tenant.as_deref(), &key, &message, &tag).await?,
    }))
}

async fn wrap(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<Wrap>,
) -> ApiResult<WrappedOut> {
    let material = keystead_service::SecretBytes::new(decode("key_material", &body.key_material)?);
    Ok(Json(WrappedOut { wrapped: service.wrap(&caller, body.tenant.as_deref(), &key, &material).await? }))
}

async fn unwrap(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<Unwrap>,
) -> ApiResult<PlaintextOut> {
    let material = service.unwrap(&caller, &body.wrapped).await?;
    Ok(Json(PlaintextOut { plaintext: STANDARD.encode(material.expose_secret()) }))
}

async fn audit_list(
    State(service): State<AppState>,
    Authed(caller): Authed,
    QueryOf(q): QueryOf<AuditQuery>,
) -> ApiResult<Vec<keystead_service::AuditRecord>> {
    let since =
        q.since.as_deref().map(|s| OffsetDateTime::parse(s, &Rfc3339)).transpose().map_err(|_| {
            ApiError::bad_request("since must be an RFC 3339 time such as 2026-11-23T10:00:00Z")
        })?;
    Ok(Json(
        service.audit_list(&caller, q.tenant.as_deref(), q.key.as_deref(), q.actor, since, q.limit).await?,
    ))
}

async fn audit_verify(
    State(service): State<AppState>,
    Authed(caller): Authed,
) -> ApiResult<keystead_service::ChainReport> {
    Ok(Json(service.audit_verify(&caller).await?))
}

async fn create_principal(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<CreatePrincipal>,
) -> ApiResult<CreatedPrincipal> {
    let created = service
        .create_principal_expiring(
            &caller,
            &body.name,
            &body.roles,
            body.tenant.as_deref(),
            body.expires_in_seconds,
        )
        .await?;
    Ok(Json(CreatedPrincipal {
        token: created.token.expose_secret().to_owned(),
        principal: created.principal,
    }))
}

async fn list_principals(
    State(service): State<AppState>,
    Authed(caller): Authed,
) -> ApiResult<Vec<keystead_service::StoredPrincipal>> {
    Ok(Json(service.list_principals(&caller).await?))
}

async fn disable_principal(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(name): Path<String>,
) -> ApiResult<keystead_service::StoredPrincipal> {
    Ok(Json(service.disable_principal(&caller, &name).await?))
}

async fn add_grant(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<AddGrant>,
) -> ApiResult<keystead_service::Grant> {
    Ok(Json(service.add_grant(&caller, body.tenant.as_deref(), &body.principal, &body.key, &body.ops).await?))
}
