//! `/v1/recovery/*`.

use super::*;
use keystead_service::RecoveryAssessment as AssessmentView;

#[utoipa::path(
    get,
    path = "/v1/recovery/assessment",
    tag = "recovery",
    summary = "Every key's continuity impact against its exposure, policy mismatches and recommendations (json or md)",
    params(ReportQuery),
    responses((status = 200, description = "The assessment: JSON, or a Markdown file", body = RecoveryAssessment), (status = "default", response = ErrorBody))
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
        &IntoWire::into_wire,
        None,
        Some(&|a: &AssessmentView| a.to_markdown()),
        &|a| a.to_markdown(),
    )
}

#[utoipa::path(
    post,
    path = "/v1/backups",
    tag = "recovery",
    summary = "Back up every recoverable key (recovery officer). Newline-delimited JSON: a first line with the backup id and the M-of-N shares (shown once), then the bundle's lines as they are written; an error ends the stream with an {\"error\": ...} line",
    request_body = CreateBackup,
    responses((status = 200, description = "Success", content_type = "application/x-ndjson", body = String), (status = "default", response = ErrorBody))
)]
pub(super) async fn create_backup(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<CreateBackup>,
) -> Result<axum::response::Response, ApiError> {
    let backup = service.create_backup(&caller, body.shares, body.threshold, &body.holders).await?;
    let start = BackupStart {
        backup_id: backup.backup_id.clone(),
        threshold: backup.threshold,
        shares: keystead_api::SecretList(
            backup.shares.iter().map(|s| keystead_api::Secret::new(s.expose_secret().to_owned())).collect(),
        ),
        held_for: backup.held_for.clone(),
        keys: crate::wire::count(backup.keys),
        excluded: crate::wire::count(backup.excluded),
    };
    let mut first = zeroize::Zeroizing::new(
        serde_json::to_string(&start).map_err(|e| ApiError::bad_request(e.to_string()))?,
    );
    first.push('\n');
    let first = axum::body::Bytes::from(std::mem::take(&mut *first));
    drop(start);
    let request_id = caller.request_id.clone();
    let state = (Some(first), backup.lines, request_id);
    let lines = futures_util::stream::unfold(state, |(first, mut lines, request_id)| async move {
        if let Some(first) = first {
            return Some((Ok::<_, std::convert::Infallible>(first), (None, lines, request_id)));
        }
        let item = lines.recv().await?;
        let bytes = match item {
            Ok(line) => axum::body::Bytes::from(line),
            Err(err) => axum::body::Bytes::from(ApiError::from(err).to_json_line(request_id.as_deref())),
        };
        Some((Ok(bytes), (None, lines, request_id)))
    });
    let mut response = axum::response::Response::new(axum::body::Body::from_stream(lines));
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}

#[utoipa::path(
    post,
    path = "/v1/recovery/requests",
    tag = "recovery",
    summary = "Ask for a quorum's approval to restore one backup bundle (recovery officer; default policy: 2 recovery officers and 1 key custodian)",
    request_body = RecoveryRequest,
    responses((status = 200, description = "Success", body = Approval), (status = "default", response = ErrorBody))
)]
pub(super) async fn request_recovery(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<RecoveryRequest>,
) -> ApiResult<Approval> {
    let request = keystead_service::RecoveryRequest {
        backup_id: body.backup_id,
        bundle_sha256: body.bundle_sha256,
        keys: usize::try_from(body.keys).unwrap_or(usize::MAX),
        backed_up_at: body.backed_up_at,
        justification: body.justification,
        expires_in: body.expires_in,
    };
    Ok(Json(service.request_recovery(&caller, request).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/backups/restore",
    tag = "recovery",
    summary = "Restore a backup bundle into this store with M shares and an approved request, or as break-glass (recovery officer)",
    request_body = RestoreBackup,
    responses((status = 200, description = "Success", body = RestoreReport), (status = "default", response = ErrorBody))
)]
pub(super) async fn restore_backup(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<RestoreBackup>,
) -> ApiResult<RestoreReport> {
    let on_conflict = match body.on_conflict.as_deref() {
        None | Some("abort") => keystead_service::OnConflict::Abort,
        Some("skip") => keystead_service::OnConflict::Skip,
        Some(_) => return Err(ApiError::bad_request("on_conflict must be abort or skip")),
    };
    let input = keystead_service::RestoreInput {
        bundle: body.bundle,
        shares: zeroizing(body.shares),
        request: body.request,
        break_glass: body.break_glass,
        justification: body.justification,
        on_conflict,
    };
    Ok(Json(service.restore_backup(&caller, input).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/recovery/drills",
    tag = "recovery",
    summary = "Restore a bundle into a scratch in-memory store and check every key (KCV and test vector); the report is audited (recovery officer)",
    request_body = DrillBackup,
    responses((status = 200, description = "The drill ran (see result: passed or failed)", body = DrillReport), (status = "default", response = ErrorBody))
)]
pub(super) async fn drill(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<DrillBackup>,
) -> ApiResult<DrillReport> {
    Ok(Json(service.recovery_drill(&caller, &body.bundle, &zeroizing(body.shares)).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/backups/{id}/share",
    tag = "recovery",
    summary = "Collect the caller's share of a backup made with holders, once (recovery officer)",
    params(("id" = String, Path, description = "The backup id")),
    responses((status = 200, description = "Success", body = CollectedShare), (status = "default", response = ErrorBody))
)]
pub(super) async fn collect_share(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> ApiResult<CollectedShare> {
    let share = service.collect_backup_share(&caller, &id).await?;
    Ok(Json(CollectedShare {
        backup_id: id,
        share: keystead_api::Secret::new(share.expose_secret().to_owned()),
    }))
}

/// Share texts as the service takes them.
fn zeroizing(shares: keystead_api::SecretList) -> Vec<zeroize::Zeroizing<String>> {
    shares.0.iter().map(|s| zeroize::Zeroizing::new(s.expose_secret().to_owned())).collect()
}
