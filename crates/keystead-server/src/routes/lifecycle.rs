//! `/v1/keys/{key}/…`: suspend, resume, compromise, destroy (a request for approval),
//! cancel a scheduled destruction, ask for a compromised-key exception.

use super::*;
use keystead_service::{CompromiseReport, DestroyRequest, ExceptionRequest};

#[utoipa::path(
    post,
    path = "/v1/keys/{key}/suspend",
    tag = "keys",
    summary = "Suspend active versions: no protecting; processing only of data protected before",
    params(("key" = String, Path, description = "Key name or id")),
    request_body = VersionBody,
    responses((status = 200, description = "Success", body = Key), (status = "default", response = ErrorBody))
)]
pub(super) async fn suspend_key(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<VersionBody>,
) -> ApiResult<Key> {
    Ok(Json(service.suspend_key(&caller, body.tenant.as_deref(), &key, body.version).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/keys/{key}/resume",
    tag = "keys",
    summary = "Resume suspended versions",
    params(("key" = String, Path, description = "Key name or id")),
    request_body = VersionBody,
    responses((status = 200, description = "Success", body = Key), (status = "default", response = ErrorBody))
)]
pub(super) async fn resume_key(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<VersionBody>,
) -> ApiResult<Key> {
    Ok(Json(service.resume_key(&caller, body.tenant.as_deref(), &key, body.version).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/keys/{key}/compromise",
    tag = "keys",
    summary = "Report versions compromised (incident responder or key custodian)",
    params(("key" = String, Path, description = "Key name or id")),
    request_body = Compromise,
    responses((status = 200, description = "Success", body = Key), (status = "default", response = ErrorBody))
)]
pub(super) async fn compromise_key(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<Compromise>,
) -> ApiResult<Key> {
    let report = CompromiseReport {
        version: body.version,
        incident: body.incident,
        occurred_at: body.occurred_at,
        reason: body.reason,
    };
    Ok(Json(service.compromise_key(&caller, body.tenant.as_deref(), &key, report).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/keys/{key}/destroy",
    tag = "keys",
    summary = "Request the destruction of versions; it runs once approved and after the wait",
    params(("key" = String, Path, description = "Key name or id")),
    request_body = Destroy,
    responses((status = 200, description = "The approval request", body = Approval), (status = "default", response = ErrorBody))
)]
pub(super) async fn destroy_key(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<Destroy>,
) -> ApiResult<Approval> {
    let request = DestroyRequest {
        version: body.version,
        after: body.after,
        justification: body.justification,
        expires_in: body.expires_in,
    };
    Ok(Json(service.request_destruction(&caller, body.tenant.as_deref(), &key, request).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/keys/{key}/destroy/cancel",
    tag = "keys",
    summary = "Call off scheduled destructions that have not run",
    params(("key" = String, Path, description = "Key name or id")),
    request_body = VersionBody,
    responses((status = 200, description = "Success", body = Key), (status = "default", response = ErrorBody))
)]
pub(super) async fn cancel_destruction(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<VersionBody>,
) -> ApiResult<Key> {
    Ok(Json(
        service.cancel_destruction(&caller, body.tenant.as_deref(), &key, body.version).await?.into_wire(),
    ))
}

#[utoipa::path(
    post,
    path = "/v1/keys/{key}/exceptions",
    tag = "approvals",
    summary = "Ask for a time-boxed window to protect with a compromised version",
    params(("key" = String, Path, description = "Key name or id")),
    request_body = RequestException,
    responses((status = 200, description = "The approval request", body = Approval), (status = "default", response = ErrorBody))
)]
pub(super) async fn request_exception(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<RequestException>,
) -> ApiResult<Approval> {
    let request = ExceptionRequest {
        version: body.version,
        operation: body.operation,
        duration: body.duration,
        justification: body.justification,
        expires_in: body.expires_in,
    };
    Ok(Json(service.request_exception(&caller, body.tenant.as_deref(), &key, request).await?.into_wire()))
}
