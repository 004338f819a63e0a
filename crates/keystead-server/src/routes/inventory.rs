//! `/v1/inventory`, key reviews.

use super::*;
use keystead_service::ReviewRecord;
use keystead_service::{InventoryRequest, InventoryView};

#[utoipa::path(
    get,
    path = "/v1/inventory",
    tag = "inventory",
    summary = "Every key and version (tombstones included), filtered, sorted and paginated",
    params(InventoryRequest),
    responses((status = 200, description = "Success", body = Object), (status = "default", response = ErrorBody))
)]
pub(super) async fn list(
    State(service): State<AppState>,
    Authed(caller): Authed,
    QueryOf(query): QueryOf<InventoryRequest>,
) -> ApiResult<InventoryView> {
    Ok(Json(service.inventory_list(&caller, query).await?))
}

#[utoipa::path(
    post,
    path = "/v1/keys/{key}/reviews",
    tag = "inventory",
    summary = "Record the owner's periodic review of a key (owner or key custodian)",
    params(("key" = String, Path, description = "Key name or id")),
    request_body = Review,
    responses((status = 200, description = "Success", body = Object), (status = "default", response = ErrorBody))
)]
pub(super) async fn review(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<Review>,
) -> ApiResult<ReviewRecord> {
    Ok(Json(service.review_key(&caller, body.tenant.as_deref(), &key, &body.attestation).await?))
}

#[utoipa::path(
    get,
    path = "/v1/anomalies",
    tag = "inventory",
    summary = "Anomalies raised by the rules over the audit stream, newest first",
    params(AnomalyQuery),
    responses((status = 200, description = "Success", body = Vec<Object>), (status = "default", response = ErrorBody))
)]
pub(super) async fn anomalies(
    State(service): State<AppState>,
    Authed(caller): Authed,
    QueryOf(q): QueryOf<AnomalyQuery>,
) -> ApiResult<Vec<keystead_service::AnomalyRecord>> {
    let since =
        q.since.as_deref().map(|s| OffsetDateTime::parse(s, &Rfc3339)).transpose().map_err(|_| {
            ApiError::bad_request("since must be an RFC 3339 time such as 2026-11-23T10:00:00Z")
        })?;
    Ok(Json(service.list_anomalies(&caller, q.rule, since, q.limit).await?))
}
