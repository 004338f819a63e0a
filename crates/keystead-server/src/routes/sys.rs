//! `/v1/status` and `/v1/sys/*`: status, init, unseal, seal.

use super::*;
use keystead_api::Secret;

#[utoipa::path(
    get,
    path = "/v1/status",
    tag = "sys",
    summary = "Node, environment, crypto library, self-tests and seal; needs a token",
    responses((status = 200, description = "Success", body = ServerStatus), (status = "default", response = ErrorBody))
)]
pub(super) async fn status(
    State(service): State<AppState>,
    Authed(caller): Authed,
) -> ApiResult<ServerStatus> {
    Ok(Json(service.status_for(&caller).await?.into_wire()))
}

/// Public: a sealed server must be able to say so.
#[utoipa::path(
    get,
    path = "/v1/sys/seal-status",
    tag = "sys",
    summary = "Seal state; public so that a sealed server can say so",
    responses((status = 200, description = "Success", body = SealStatus), (status = "default", response = ErrorBody)),
    security(())
)]
pub(super) async fn seal_status(State(service): State<AppState>) -> Json<SealStatus> {
    Json(service.seal_status().into_wire())
}

#[utoipa::path(
    post,
    path = "/v1/sys/init",
    tag = "sys",
    summary = "Initialize an uninitialized store: unseal shares and root token, shown once",
    request_body = Init,
    responses((status = 200, description = "Success", body = Initialized), (status = "default", response = ErrorBody)),
    security(())
)]
pub(super) async fn init(
    State(service): State<AppState>,
    Source(source): Source,
    Body(body): Body<Init>,
) -> ApiResult<Initialized> {
    let output = service.operator_init(&source, body.shares, body.threshold).await?;
    Ok(Json(Initialized {
        seal_id: output.seal_id.clone(),
        threshold: output.threshold,
        shares: output.shares.iter().map(|s| Secret::new(s.expose_secret().to_owned())).collect(),
        root_token: Secret::new(output.root_token.expose_secret().to_owned()),
    }))
}

#[utoipa::path(
    post,
    path = "/v1/sys/unseal",
    tag = "sys",
    summary = "Enter one unseal share; the seal status after it",
    request_body = Unseal,
    responses((status = 200, description = "Success", body = SealStatus), (status = "default", response = ErrorBody)),
    security(())
)]
pub(super) async fn unseal(
    State(service): State<AppState>,
    Source(source): Source,
    Body(body): Body<Unseal>,
) -> ApiResult<SealStatus> {
    let share = zeroize::Zeroizing::new(body.share.expose_secret().to_owned());
    Ok(Json(service.operator_unseal(&source, &share).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/sys/seal",
    tag = "sys",
    summary = "Seal this node: the root key and every cached key leave memory (admin, incident responder)",
    responses((status = 200, description = "Success", body = SealStatus), (status = "default", response = ErrorBody))
)]
pub(super) async fn seal(State(service): State<AppState>, Authed(caller): Authed) -> ApiResult<SealStatus> {
    Ok(Json(service.operator_seal(&caller).await?.into_wire()))
}
