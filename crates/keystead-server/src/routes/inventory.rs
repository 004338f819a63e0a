//! `/v1/inventory`, key reviews.

use super::*;
use keystead_service::InventoryRequest;

#[utoipa::path(
    get,
    path = "/v1/inventory",
    tag = "inventory",
    summary = "Every key and version (tombstones included), filtered, sorted and paginated",
    params(InventoryQuery),
    responses((status = 200, description = "Success", body = InventoryPage), (status = "default", response = ErrorBody))
)]
pub(super) async fn list(
    State(service): State<AppState>,
    Authed(caller): Authed,
    QueryOf(q): QueryOf<InventoryQuery>,
) -> ApiResult<InventoryPage> {
    let request = InventoryRequest {
        tenant: q.tenant,
        state: q.state,
        purpose: q.purpose,
        algorithm: q.algorithm,
        owner: q.owner,
        environment: q.environment,
        usage_context: q.usage_context,
        label: q.label,
        created_before: q.created_before,
        created_after: q.created_after,
        rotated_before: q.rotated_before,
        rotated_after: q.rotated_after,
        past_cryptoperiod: q.past_cryptoperiod,
        no_owner: q.no_owner,
        not_reviewed_since: q.not_reviewed_since,
        used_since: q.used_since,
        unused_since: q.unused_since,
        review_overdue: q.review_overdue,
        sort: q.sort,
        descending: q.descending,
        offset: q.offset,
        limit: q.limit,
    };
    Ok(Json(service.inventory_list(&caller, request).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/keys/{key}/reviews",
    tag = "inventory",
    summary = "Record the owner's periodic review of a key (owner or key custodian)",
    params(("key" = String, Path, description = "Key name or id")),
    request_body = Review,
    responses((status = 200, description = "Success", body = ReviewRecord), (status = "default", response = ErrorBody))
)]
pub(super) async fn review(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<Review>,
) -> ApiResult<ReviewRecord> {
    Ok(Json(service.review_key(&caller, body.tenant.as_deref(), &key, &body.attestation).await?.into_wire()))
}

#[utoipa::path(
    get,
    path = "/v1/anomalies",
    tag = "inventory",
    summary = "Anomalies raised by the rules over the audit stream, newest first",
    params(AnomalyQuery),
    responses((status = 200, description = "Success", body = Vec<Anomaly>), (status = "default", response = ErrorBody))
)]
pub(super) async fn anomalies(
    State(service): State<AppState>,
    Authed(caller): Authed,
    QueryOf(q): QueryOf<AnomalyQuery>,
) -> ApiResult<Vec<Anomaly>> {
    let since =
        q.since.as_deref().map(|s| OffsetDateTime::parse(s, &Rfc3339)).transpose().map_err(|_| {
            ApiError::bad_request("since must be an RFC 3339 time such as 2026-11-23T10:00:00Z")
        })?;
    Ok(Json(service.list_anomalies(&caller, q.rule, since, q.limit).await?.into_wire()))
}

/// A report rendered in the format asked for: JSON, or a file body with its media type.
pub(super) fn rendered<'r, T, W: serde::Serialize>(
    format: &str,
    report: &'r T,
    json: &dyn Fn(&'r T) -> W,
    csv: Option<&dyn Fn(&T) -> String>,
    markdown: Option<&dyn Fn(&T) -> String>,
    html: &dyn Fn(&T) -> String,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::header::CONTENT_TYPE;
    use axum::response::IntoResponse as _;
    Ok(match (format, csv, markdown) {
        ("json", _, _) => Json(json(report)).into_response(),
        ("csv", Some(csv), _) => ([(CONTENT_TYPE, "text/csv; charset=utf-8")], csv(report)).into_response(),
        ("md", _, Some(markdown)) => {
            ([(CONTENT_TYPE, "text/markdown; charset=utf-8")], markdown(report)).into_response()
        }
        ("html", _, _) => ([(CONTENT_TYPE, "text/html; charset=utf-8")], html(report)).into_response(),
        (other, csv, markdown) => {
            let mut formats = vec!["json"];
            formats.extend(csv.map(|_| "csv"));
            formats.extend(markdown.map(|_| "md"));
            formats.push("html");
            return Err(ApiError::bad_request(format!(
                "format {other:?} is not offered here; use one of {}",
                formats.join(", ")
            )));
        }
    })
}

#[utoipa::path(
    get,
    path = "/v1/inventory/report",
    tag = "inventory",
    summary = "The inventory report: totals, cryptoperiods, rotations due, compromised and destroyed keys, owners and reviews (json, csv or html)",
    params(ReportQuery),
    responses((status = 200, description = "The report: JSON, or a CSV or HTML file", body = InventoryReport), (status = "default", response = ErrorBody))
)]
pub(super) async fn report(
    State(service): State<AppState>,
    Authed(caller): Authed,
    QueryOf(q): QueryOf<ReportQuery>,
) -> Result<axum::response::Response, ApiError> {
    let format = q.format.unwrap_or_else(|| "json".into());
    if !matches!(format.as_str(), "json" | "csv" | "html") {
        return Err(ApiError::bad_request("format must be json, csv or html"));
    }
    let report = service.inventory_report(&caller, q.tenant.as_deref(), &format).await?;
    rendered(
        &format,
        &report,
        &IntoWire::into_wire,
        Some(&|r: &keystead_service::report::inventory::InventoryReport| r.to_csv()),
        None,
        &|r| r.to_html(),
    )
}

#[utoipa::path(
    get,
    path = "/v1/compliance/report",
    tag = "inventory",
    summary = "Compliance evidence for CEK-10, 11, 19, 20 and 21 from live data (json, md or html)",
    params(ReportQuery),
    responses((status = 200, description = "The report: JSON, or a Markdown or HTML file", body = ComplianceReport), (status = "default", response = ErrorBody))
)]
pub(super) async fn compliance(
    State(service): State<AppState>,
    Authed(caller): Authed,
    QueryOf(q): QueryOf<ReportQuery>,
) -> Result<axum::response::Response, ApiError> {
    use keystead_service::report::compliance::ComplianceReport;
    let format = q.format.unwrap_or_else(|| "json".into());
    if !matches!(format.as_str(), "json" | "md" | "html") {
        return Err(ApiError::bad_request("format must be json, md or html"));
    }
    let report = service.compliance_report(&caller, &format).await?;
    rendered(
        &format,
        &report,
        &IntoWire::into_wire,
        None,
        Some(&|r: &ComplianceReport| r.to_markdown()),
        &|r| r.to_html(),
    )
}
