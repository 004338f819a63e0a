//! `PATCH /v1/keys/{key}` and `/v1/aliases`: key attributes and aliases (key custodian).

use super::*;

#[utoipa::path(
    patch,
    path = "/v1/keys/{key}",
    tag = "keys",
    summary = "Change a key's owner, labels, description, periods, recovery policy, criticality or classification (key custodian); purpose, algorithm and environment never change",
    params(("key" = String, Path, description = "Key name, alias or id")),
    request_body = UpdateKey,
    responses((status = 200, description = "Success", body = Key), (status = "default", response = ErrorBody))
)]
pub(super) async fn update_key(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<UpdateKey>,
) -> ApiResult<Key> {
    let update = keystead_service::KeyUpdate {
        owner: body.owner,
        set_labels: body.set_labels,
        remove_labels: body.remove_labels,
        description: body.description,
        rotation_period: body.rotation_period,
        protect_period: body.protect_period,
        recoverable: body.recoverable,
        criticality: body.criticality,
        classification: body.classification,
    };
    Ok(Json(service.update_key(&caller, body.tenant.as_deref(), &key, update).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/aliases",
    tag = "keys",
    summary = "Make an alias (alias/...) name a key of its tenant (key custodian)",
    request_body = CreateAlias,
    responses((status = 200, description = "Success", body = Alias), (status = "default", response = ErrorBody))
)]
pub(super) async fn create_alias(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<CreateAlias>,
) -> ApiResult<Alias> {
    Ok(Json(service.create_alias(&caller, body.tenant.as_deref(), &body.alias, &body.key).await?.into_wire()))
}

#[utoipa::path(
    get,
    path = "/v1/aliases",
    tag = "keys",
    summary = "Aliases with the key each names and whether it is still usable",
    params(TenantQuery),
    responses((status = 200, description = "Success", body = Vec<Alias>), (status = "default", response = ErrorBody))
)]
pub(super) async fn list_aliases(
    State(service): State<AppState>,
    Authed(caller): Authed,
    QueryOf(q): QueryOf<TenantQuery>,
) -> ApiResult<Vec<Alias>> {
    Ok(Json(service.list_aliases(&caller, q.tenant.as_deref()).await?.into_wire()))
}

#[utoipa::path(
    put,
    path = "/v1/aliases/{alias}",
    tag = "keys",
    summary = "Point an alias at another key of its tenant (key custodian)",
    params(("alias" = String, Path, description = "The alias, alias/..., with '/' percent-encoded")),
    request_body = UpdateAlias,
    responses((status = 200, description = "Success", body = Alias), (status = "default", response = ErrorBody))
)]
pub(super) async fn update_alias(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(alias): Path<String>,
    Body(body): Body<UpdateAlias>,
) -> ApiResult<Alias> {
    Ok(Json(service.update_alias(&caller, body.tenant.as_deref(), &alias, &body.key).await?.into_wire()))
}

#[utoipa::path(
    delete,
    path = "/v1/aliases/{alias}",
    tag = "keys",
    summary = "Delete an alias; the key is untouched (key custodian)",
    params(("alias" = String, Path, description = "The alias, alias/..., with '/' percent-encoded"), TenantQuery),
    responses((status = 200, description = "The alias as it was", body = Alias), (status = "default", response = ErrorBody))
)]
pub(super) async fn delete_alias(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(alias): Path<String>,
    QueryOf(q): QueryOf<TenantQuery>,
) -> ApiResult<Alias> {
    Ok(Json(service.delete_alias(&caller, q.tenant.as_deref(), &alias).await?.into_wire()))
}
