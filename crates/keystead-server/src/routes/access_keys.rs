//! `/v1/principals/{name}/access-keys` and `/v1/access-keys`: AWS SigV4 access keys (admin).

use keystead_service::AccessKeyView;

use super::*;

fn wire(view: AccessKeyView) -> AccessKey {
    AccessKey {
        access_key_id: view.id,
        principal: view.principal,
        disabled: view.disabled,
        created_at: view.created_at,
        created_by: view.created_by,
    }
}

#[utoipa::path(
    post,
    path = "/v1/principals/{name}/access-keys",
    tag = "principals",
    summary = "Create an AWS SigV4 access key for a principal; its secret is shown once (admin)",
    params(("name" = String, Path, description = "Principal name")),
    responses((status = 200, description = "Success", body = CreatedAccessKey), (status = "default", response = ErrorBody))
)]
pub(super) async fn create_access_key(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(name): Path<String>,
) -> ApiResult<CreatedAccessKey> {
    let created = service.create_access_key(&caller, &name).await?;
    let secret = keystead_api::Secret::new(created.secret_text().to_owned());
    Ok(Json(CreatedAccessKey { access_key: wire(created.key), secret_access_key: secret }))
}

#[utoipa::path(
    get,
    path = "/v1/access-keys",
    tag = "principals",
    summary = "Access keys, of one principal or of all in reach (admin)",
    params(AccessKeyQuery),
    responses((status = 200, description = "Success", body = Vec<AccessKey>), (status = "default", response = ErrorBody))
)]
pub(super) async fn list_access_keys(
    State(service): State<AppState>,
    Authed(caller): Authed,
    QueryOf(q): QueryOf<AccessKeyQuery>,
) -> ApiResult<Vec<AccessKey>> {
    let keys = service.list_access_keys(&caller, q.principal.as_deref()).await?;
    Ok(Json(keys.into_iter().map(wire).collect()))
}

#[utoipa::path(
    post,
    path = "/v1/access-keys/{id}/disable",
    tag = "principals",
    summary = "Refuse requests signed with an access key from now on (admin)",
    params(("id" = String, Path, description = "Access key id")),
    responses((status = 200, description = "Success", body = AccessKey), (status = "default", response = ErrorBody))
)]
pub(super) async fn disable_access_key(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> ApiResult<AccessKey> {
    Ok(Json(wire(service.set_access_key_disabled(&caller, &id, true).await?)))
}

#[utoipa::path(
    post,
    path = "/v1/access-keys/{id}/enable",
    tag = "principals",
    summary = "Accept a disabled access key again (admin)",
    params(("id" = String, Path, description = "Access key id")),
    responses((status = 200, description = "Success", body = AccessKey), (status = "default", response = ErrorBody))
)]
pub(super) async fn enable_access_key(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> ApiResult<AccessKey> {
    Ok(Json(wire(service.set_access_key_disabled(&caller, &id, false).await?)))
}

#[utoipa::path(
    delete,
    path = "/v1/access-keys/{id}",
    tag = "principals",
    summary = "Delete an access key for good (admin)",
    params(("id" = String, Path, description = "Access key id")),
    responses((status = 200, description = "Success", body = AccessKey), (status = "default", response = ErrorBody))
)]
pub(super) async fn delete_access_key(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> ApiResult<AccessKey> {
    Ok(Json(wire(service.delete_access_key(&caller, &id).await?)))
}
