//! The audit log, principals and grants.

use super::*;

#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "audit",
    summary = "Audit events, oldest first",
    params(AuditQuery),
    responses((status = 200, description = "Success", body = Vec<AuditEvent>), (status = "default", response = ErrorBody))
)]
pub(super) async fn audit_list(
    State(service): State<AppState>,
    Authed(caller): Authed,
    QueryOf(q): QueryOf<AuditQuery>,
) -> ApiResult<Vec<AuditEvent>> {
    let since =
        q.since.as_deref().map(|s| OffsetDateTime::parse(s, &Rfc3339)).transpose().map_err(|_| {
            ApiError::bad_request("since must be an RFC 3339 time such as 2026-11-23T10:00:00Z")
        })?;
    Ok(Json(
        service
            .audit_list(&caller, q.tenant.as_deref(), q.key.as_deref(), q.actor, since, q.limit)
            .await?
            .into_wire(),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/audit/verify",
    tag = "audit",
    summary = "Recompute every hash chain",
    responses((status = 200, description = "Success", body = ChainReport), (status = "default", response = ErrorBody))
)]
pub(super) async fn audit_verify(
    State(service): State<AppState>,
    Authed(caller): Authed,
) -> ApiResult<ChainReport> {
    Ok(Json(service.audit_verify(&caller).await?.into_wire()))
}

#[utoipa::path(
    get,
    path = "/v1/audit/export",
    tag = "audit",
    summary = "A page of the audit log exactly as stored, in chain order, for an offline verifier",
    params(ExportQuery),
    responses((status = 200, description = "Success", body = Vec<ExportLine>), (status = "default", response = ErrorBody))
)]
pub(super) async fn audit_export(
    State(service): State<AppState>,
    Authed(caller): Authed,
    QueryOf(q): QueryOf<ExportQuery>,
) -> ApiResult<Vec<ExportLine>> {
    let after = match (q.after_node, q.after_node_seq) {
        (Some(node), Some(seq)) => Some((node, seq)),
        (None, None) => None,
        _ => return Err(ApiError::bad_request("give after_node and after_node_seq together")),
    };
    let rows = service.audit_export_page(&caller, after, q.limit.unwrap_or(1000)).await?;
    Ok(Json(rows.into_iter().map(|row| keystead_service::ExportLine::from_row(row).into_wire()).collect()))
}

#[utoipa::path(
    get,
    path = "/v1/audit/archive-plan",
    tag = "audit",
    summary = "What an archive of events before a date would hold: per node, up to its newest signed checkpoint before it (admin)",
    params(ArchivePlanQuery),
    responses((status = 200, description = "Success", body = ArchivePlan), (status = "default", response = ErrorBody))
)]
pub(super) async fn audit_archive_plan(
    State(service): State<AppState>,
    Authed(caller): Authed,
    QueryOf(q): QueryOf<ArchivePlanQuery>,
) -> ApiResult<ArchivePlan> {
    Ok(Json(service.plan_audit_archive(&caller, q.before.as_deref()).await?.into_wire()))
}

#[utoipa::path(
    get,
    path = "/v1/audit/archive-rows",
    tag = "audit",
    summary = "A page of one archive range's events exactly as stored, in chain order (admin)",
    params(ArchiveRowsQuery),
    responses((status = 200, description = "Success", body = Vec<ExportLine>), (status = "default", response = ErrorBody))
)]
pub(super) async fn audit_archive_rows(
    State(service): State<AppState>,
    Authed(caller): Authed,
    QueryOf(q): QueryOf<ArchiveRowsQuery>,
) -> ApiResult<Vec<ExportLine>> {
    let rows = service
        .audit_archive_rows(&caller, &q.node, q.after_seq, q.through_seq, q.limit.unwrap_or(1000))
        .await?;
    Ok(Json(rows.into_iter().map(|row| keystead_service::ExportLine::from_row(row).into_wire()).collect()))
}

#[utoipa::path(
    post,
    path = "/v1/audit/archives",
    tag = "audit",
    summary = "Move the planned events out of the store, given the archive file's SHA-256; they must verify (admin)",
    request_body = CommitArchive,
    responses((status = 200, description = "Success", body = ArchiveDone), (status = "default", response = ErrorBody))
)]
pub(super) async fn audit_archive_commit(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<CommitArchive>,
) -> ApiResult<ArchiveDone> {
    let nodes = body.nodes.into_iter().map(crate::wire::oversight::range_from_wire).collect();
    Ok(Json(service.commit_audit_archive(&caller, &body.before, nodes, &body.file_sha256).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/principals",
    tag = "principals",
    summary = "Create a principal; its token is shown once (admin)",
    request_body = CreatePrincipal,
    responses((status = 200, description = "Success", body = CreatedPrincipal), (status = "default", response = ErrorBody))
)]
pub(super) async fn create_principal(
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
        token: keystead_api::Secret::new(created.token.expose_secret().to_owned()),
        principal: created.principal.into_wire(),
    }))
}

#[utoipa::path(
    get,
    path = "/v1/principals",
    tag = "principals",
    summary = "Principals (admin)",
    responses((status = 200, description = "Success", body = Vec<Principal>), (status = "default", response = ErrorBody))
)]
pub(super) async fn list_principals(
    State(service): State<AppState>,
    Authed(caller): Authed,
) -> ApiResult<Vec<Principal>> {
    Ok(Json(service.list_principals(&caller).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/principals/{name}/disable",
    tag = "principals",
    summary = "Disable a principal at once (admin)",
    params(("name" = String, Path, description = "Principal name")),
    responses((status = 200, description = "Success", body = Principal), (status = "default", response = ErrorBody))
)]
pub(super) async fn disable_principal(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(name): Path<String>,
) -> ApiResult<Principal> {
    Ok(Json(service.disable_principal(&caller, &name).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/grants",
    tag = "principals",
    summary = "Grant crypto operations on a key to a principal (admin)",
    request_body = AddGrant,
    responses((status = 200, description = "Success", body = Grant), (status = "default", response = ErrorBody))
)]
pub(super) async fn add_grant(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<AddGrant>,
) -> ApiResult<Grant> {
    Ok(Json(
        service
            .add_grant(&caller, body.tenant.as_deref(), &body.principal, &body.key, &body.ops)
            .await?
            .into_wire(),
    ))
}

#[utoipa::path(
    post,
    path = "/v1/principals/{name}/enable",
    tag = "principals",
    summary = "Let a disabled principal authenticate again with its token (admin)",
    params(("name" = String, Path, description = "Principal name")),
    responses((status = 200, description = "Success", body = Principal), (status = "default", response = ErrorBody))
)]
pub(super) async fn enable_principal(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(name): Path<String>,
) -> ApiResult<Principal> {
    Ok(Json(service.enable_principal(&caller, &name).await?.into_wire()))
}

#[utoipa::path(
    patch,
    path = "/v1/principals/{name}",
    tag = "principals",
    summary = "Change a principal's roles or expiry; every node applies it at once (admin)",
    params(("name" = String, Path, description = "Principal name")),
    request_body = UpdatePrincipal,
    responses((status = 200, description = "Success", body = Principal), (status = "default", response = ErrorBody))
)]
pub(super) async fn update_principal(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(name): Path<String>,
    Body(body): Body<UpdatePrincipal>,
) -> ApiResult<Principal> {
    let update = keystead_service::PrincipalUpdate {
        roles: body.roles,
        expires_in_seconds: body.expires_in_seconds,
        never_expires: body.never_expires,
    };
    Ok(Json(service.update_principal(&caller, &name, update).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/grants/revoke",
    tag = "principals",
    summary = "Take operations back from a grant, or the whole grant when none is named (admin)",
    request_body = RevokeGrant,
    responses((status = 200, description = "The grant as it remains (no operations: removed)", body = Grant), (status = "default", response = ErrorBody))
)]
pub(super) async fn revoke_grant(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<RevokeGrant>,
) -> ApiResult<Grant> {
    Ok(Json(
        service
            .revoke_grant(&caller, body.tenant.as_deref(), &body.principal, &body.key, &body.ops)
            .await?
            .into_wire(),
    ))
}
