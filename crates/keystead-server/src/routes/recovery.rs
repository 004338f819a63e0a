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

/// Body of `POST /v1/backups`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBackup {
    /// Shares to split the backup key into (N, at most 16).
    shares: u8,
    /// Shares needed to open the bundle (M, at least 2).
    threshold: u8,
    /// One recovery officer per share (not the caller): the shares are kept for them, each
    /// collects its own with `POST /v1/backups/{id}/share`, and the response holds none.
    #[serde(default)]
    holders: Vec<String>,
}

/// The first line of `POST /v1/backups`' response; the bundle's lines follow.
#[derive(serde::Serialize)]
struct BackupStart<'a> {
    backup_id: &'a str,
    threshold: u8,
    shares: Vec<&'a str>,
    held_for: &'a [String],
    keys: usize,
    excluded: usize,
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
        backup_id: &backup.backup_id,
        threshold: backup.threshold,
        shares: backup.shares.iter().map(|s| s.expose_secret()).collect(),
        held_for: &backup.held_for,
        keys: backup.keys,
        excluded: backup.excluded,
    };
    let mut first = zeroize::Zeroizing::new(
        serde_json::to_string(&start).map_err(|e| ApiError::bad_request(e.to_string()))?,
    );
    first.push('\n');
    let first = axum::body::Bytes::from(std::mem::take(&mut *first));
    drop(start);
    let lines = futures_util::stream::unfold((Some(first), backup.lines), |(first, mut lines)| async move {
        if let Some(first) = first {
            return Some((Ok::<_, std::convert::Infallible>(first), (None, lines)));
        }
        let item = lines.recv().await?;
        let bytes = match item {
            Ok(line) => axum::body::Bytes::from(line),
            Err(err) => axum::body::Bytes::from(ApiError::from(err).to_json_line()),
        };
        Some((Ok(bytes), (None, lines)))
    });
    let mut response = axum::response::Response::new(axum::body::Body::from_stream(lines));
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}

/// Body of `POST /v1/recovery/requests`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecoveryRequestBody {
    /// The bundle's backup id (from its header).
    backup_id: String,
    /// SHA-256 of the whole bundle file, hex.
    bundle_sha256: String,
    /// Keys in the bundle (from its header), shown to approvers.
    keys: usize,
    /// When the backup was made (from its header), shown to approvers.
    backed_up_at: String,
    /// Why the restore is needed.
    justification: String,
    /// How long the request stays open, e.g. `12h` (at most the approval TTL).
    expires_in: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/recovery/requests",
    tag = "recovery",
    summary = "Ask for a quorum's approval to restore one backup bundle (recovery officer; default policy: 2 recovery officers and 1 key custodian)",
    request_body = RecoveryRequestBody,
    responses((status = 200, description = "Success", body = Object), (status = "default", response = ErrorBody))
)]
pub(super) async fn request_recovery(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<RecoveryRequestBody>,
) -> ApiResult<keystead_service::ApprovalView> {
    let request = keystead_service::RecoveryRequest {
        backup_id: body.backup_id,
        bundle_sha256: body.bundle_sha256,
        keys: body.keys,
        backed_up_at: body.backed_up_at,
        justification: body.justification,
        expires_in: body.expires_in,
    };
    Ok(Json(service.request_recovery(&caller, request).await?))
}

/// Share texts in a request body. A decoding error never quotes them (serde's "invalid type:
/// string ..." would echo a share sent in the wrong place).
pub(crate) struct ShareList(Vec<zeroize::Zeroizing<String>>);

impl<'de> serde::Deserialize<'de> for ShareList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<zeroize::Zeroizing<String>>::deserialize(deserializer)
            .map(Self)
            .map_err(|_| serde::de::Error::custom("shares must be a list of share texts (ksb1.…)"))
    }
}

/// Body of `POST /v1/backups/restore`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RestoreBody {
    /// The bundle file's text.
    bundle: String,
    /// The share files' text, at least M.
    #[schema(value_type = Vec<String>)]
    shares: ShareList,
    /// The approved recovery request for this bundle.
    request: Option<String>,
    /// Restore as a break-glass principal, without a request (raises an anomaly, opens a review).
    #[serde(default)]
    break_glass: bool,
    /// Why (required for break-glass).
    justification: Option<String>,
    /// `abort` (default: restore nothing if a key conflicts) or `skip` (keep the store's state).
    on_conflict: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/backups/restore",
    tag = "recovery",
    summary = "Restore a backup bundle into this store with M shares and an approved request, or as break-glass (recovery officer)",
    request_body = RestoreBody,
    responses((status = 200, description = "Success", body = Object), (status = "default", response = ErrorBody))
)]
pub(super) async fn restore_backup(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<RestoreBody>,
) -> ApiResult<keystead_service::RestoreReport> {
    let on_conflict = match body.on_conflict.as_deref() {
        None | Some("abort") => keystead_service::OnConflict::Abort,
        Some("skip") => keystead_service::OnConflict::Skip,
        Some(_) => return Err(ApiError::bad_request("on_conflict must be abort or skip")),
    };
    let input = keystead_service::RestoreInput {
        bundle: body.bundle,
        shares: body.shares.0,
        request: body.request,
        break_glass: body.break_glass,
        justification: body.justification,
        on_conflict,
    };
    Ok(Json(service.restore_backup(&caller, input).await?))
}

/// Body of `POST /v1/recovery/drills`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DrillBody {
    /// The bundle file's text.
    bundle: String,
    /// The share files' text, at least M.
    #[schema(value_type = Vec<String>)]
    shares: ShareList,
}

#[utoipa::path(
    post,
    path = "/v1/recovery/drills",
    tag = "recovery",
    summary = "Restore a bundle into a scratch in-memory store and check every key (KCV and test vector); the report is audited (recovery officer)",
    request_body = DrillBody,
    responses((status = 200, description = "The drill ran (see result: passed or failed)", body = Object), (status = "default", response = ErrorBody))
)]
pub(super) async fn drill(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<DrillBody>,
) -> ApiResult<keystead_service::DrillReport> {
    Ok(Json(service.recovery_drill(&caller, &body.bundle, &body.shares.0).await?))
}

/// What `POST /v1/backups/{id}/share` returns, once.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct CollectedShare {
    /// The backup.
    backup_id: String,
    /// The share's text (`ksb1.…`), for the holder's share file.
    share: String,
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
    Ok(Json(CollectedShare { backup_id: id, share: share.expose_secret().to_owned() }))
}
