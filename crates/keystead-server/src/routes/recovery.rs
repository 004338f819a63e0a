//! `/v1/recovery/*`.

use super::*;
use keystead_service::RecoveryAssessment;

#[utoipa::path(
    get,
    path = "/v1/recovery/assessment",
    tag = "recovery",
    summary = "Every key's continuity impact against its exposure, policy mismatches and recommendations (json or md)",
    params(ReportQuery),
    responses((status = 200, description = "Success", body = Object), (status = "default", response = ErrorBody))
)]
pub(super) async fn assessment(
    State(service): State<AppState>,
    Authed(caller): Authed,
    QueryOf(q): QueryOf<ReportQuery>,
) -> Result<axum::response::Response, ApiError> {
    let format = q.format.unwrap_or_else(|| "json".into());
    if !matches!(format.as_str(), "json" | "md") {
        return Err(ApiError::bad_request("format must be json or md"));
    }
    let assessment = service.recovery_assess(&caller, q.tenant.as_deref()).await?;
    super::inventory::rendered(
        &format,
        &assessment,
        None,
        Some(&|a: &RecoveryAssessment| a.to_markdown()),
        &|a| a.to_markdown(),
    )
}
