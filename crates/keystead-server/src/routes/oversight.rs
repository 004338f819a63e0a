//! `/v1/approvals`, `/v1/webhooks`.

use super::*;

#[utoipa::path(
    get,
    path = "/v1/approvals",
    tag = "approvals",
    summary = "Approval requests, newest first",
    params(ApprovalQuery),
    responses((status = 200, description = "Success", body = Vec<Approval>), (status = "default", response = ErrorBody))
)]
pub(super) async fn list_approvals(
    State(service): State<AppState>,
    Authed(caller): Authed,
    QueryOf(query): QueryOf<ApprovalQuery>,
) -> ApiResult<Vec<Approval>> {
    Ok(Json(service.list_approvals(&caller, query.status.as_deref()).await?.into_wire()))
}

#[utoipa::path(
    get,
    path = "/v1/approvals/{id}",
    tag = "approvals",
    summary = "One approval request with its votes",
    params(("id" = String, Path, description = "Approval request id")),
    responses((status = 200, description = "Success", body = Approval), (status = "default", response = ErrorBody))
)]
pub(super) async fn show_approval(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> ApiResult<Approval> {
    Ok(Json(service.show_approval(&caller, &id).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/approvals/{id}/approve",
    tag = "approvals",
    summary = "Approve; the approval completing the quorum runs the operation",
    params(("id" = String, Path, description = "Approval request id")),
    request_body = VoteBody,
    responses((status = 200, description = "Success", body = Approval), (status = "default", response = ErrorBody))
)]
pub(super) async fn approve(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    Body(body): Body<VoteBody>,
) -> ApiResult<Approval> {
    Ok(Json(service.vote_approval(&caller, &id, true, body.reason.as_deref()).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/approvals/{id}/reject",
    tag = "approvals",
    summary = "Reject (final); a reason is required",
    params(("id" = String, Path, description = "Approval request id")),
    request_body = VoteBody,
    responses((status = 200, description = "Success", body = Approval), (status = "default", response = ErrorBody))
)]
pub(super) async fn reject(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    Body(body): Body<VoteBody>,
) -> ApiResult<Approval> {
    Ok(Json(service.vote_approval(&caller, &id, false, body.reason.as_deref()).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/webhooks",
    tag = "webhooks",
    summary = "Add a webhook; its signing secret is returned once",
    request_body = AddWebhook,
    responses((status = 200, description = "Success", body = AddedWebhook), (status = "default", response = ErrorBody))
)]
pub(super) async fn add_webhook(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<AddWebhook>,
) -> ApiResult<AddedWebhook> {
    let added = service.add_webhook(&caller, &body.url, &body.events).await?;
    let secret =
        keystead_api::Secret::new(String::from_utf8_lossy(added.secret.expose_secret()).into_owned());
    Ok(Json(AddedWebhook { webhook: added.webhook.into_wire(), secret }))
}

#[utoipa::path(
    get,
    path = "/v1/webhooks",
    tag = "webhooks",
    summary = "Webhooks with the state of their deliveries",
    responses((status = 200, description = "Success", body = Vec<Webhook>), (status = "default", response = ErrorBody))
)]
pub(super) async fn list_webhooks(
    State(service): State<AppState>,
    Authed(caller): Authed,
) -> ApiResult<Vec<Webhook>> {
    Ok(Json(service.list_webhooks(&caller).await?.into_wire()))
}

#[utoipa::path(
    get,
    path = "/v1/webhooks/deliveries",
    tag = "webhooks",
    summary = "The newest deliveries with their status, attempts and last error",
    params(DeliveriesQuery),
    responses((status = 200, description = "Success", body = Vec<Delivery>), (status = "default", response = ErrorBody))
)]
pub(super) async fn list_deliveries(
    State(service): State<AppState>,
    Authed(caller): Authed,
    QueryOf(query): QueryOf<DeliveriesQuery>,
) -> ApiResult<Vec<Delivery>> {
    Ok(Json(service.list_deliveries(&caller, query.webhook.as_deref()).await?.into_wire()))
}

#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    summary = "Delete a webhook and every notification still queued for it",
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 200, description = "The webhook as it was", body = Webhook), (status = "default", response = ErrorBody))
)]
pub(super) async fn delete_webhook(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> ApiResult<Webhook> {
    Ok(Json(service.delete_webhook(&caller, &id).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/disable",
    tag = "webhooks",
    summary = "Stop queuing and sending notifications to a webhook; queued ones wait",
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 200, description = "Success", body = Webhook), (status = "default", response = ErrorBody))
)]
pub(super) async fn disable_webhook(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> ApiResult<Webhook> {
    Ok(Json(service.disable_webhook(&caller, &id).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/enable",
    tag = "webhooks",
    summary = "Turn a disabled webhook back on",
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 200, description = "Success", body = Webhook), (status = "default", response = ErrorBody))
)]
pub(super) async fn enable_webhook(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> ApiResult<Webhook> {
    Ok(Json(service.enable_webhook(&caller, &id).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/rotate-secret",
    tag = "webhooks",
    summary = "Replace a webhook's signing secret; the new one is returned once, and queued deliveries are signed with it",
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 200, description = "Success", body = AddedWebhook), (status = "default", response = ErrorBody))
)]
pub(super) async fn rotate_webhook_secret(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> ApiResult<AddedWebhook> {
    let rotated = service.rotate_webhook_secret(&caller, &id).await?;
    let secret =
        keystead_api::Secret::new(String::from_utf8_lossy(rotated.secret.expose_secret()).into_owned());
    Ok(Json(AddedWebhook { webhook: rotated.webhook.into_wire(), secret }))
}
