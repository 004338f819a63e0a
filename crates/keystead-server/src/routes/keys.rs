//! `/v1/keys`: create, list, show, rotate, activate, deactivate, public key.

use super::*;

#[utoipa::path(
    post,
    path = "/v1/keys",
    tag = "keys",
    summary = "Create a key and its first version (key custodian)",
    request_body = CreateKey,
    responses((status = 200, description = "Success", body = Key), (status = "default", response = ErrorBody))
)]
pub(super) async fn create_key(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<CreateKey>,
) -> ApiResult<Key> {
    let request = CreateKeyRequest {
        tenant: body.tenant,
        name: body.name,
        purpose: body.purpose,
        algorithm: body.algorithm,
        usage_context: body.usage_context,
        owner: body.owner,
        description: body.description,
        environment: body.environment,
        classification: body.classification,
        labels: body.labels,
        rotation_period: body.rotation_period,
        protect_period: body.protect_period,
        recoverable: body.recoverable,
        criticality: body.criticality,
        pre_active: body.pre_active,
        origin: body.origin,
    };
    Ok(Json(service.create_key(&caller, request).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/keys/{key}/import-params",
    tag = "keys",
    summary = "A wrapping public key and a single-use, 24-hour import token (bring your own key)",
    params(("key" = String, Path, description = "An external key's name or id, or the name of a key to create by the import")),
    request_body = ImportParamsRequest,
    responses((status = 200, description = "Success", body = ImportParams), (status = "default", response = ErrorBody))
)]
pub(super) async fn import_params(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<ImportParamsRequest>,
) -> ApiResult<ImportParams> {
    let request = keystead_service::ImportParamsRequest {
        tenant: body.tenant,
        key,
        wrapping_algorithm: body.wrapping_algorithm,
        wrapping_key_spec: body.wrapping_key_spec,
    };
    let params = service.import_params(&caller, request).await?;
    Ok(Json(ImportParams {
        key: params.key_name,
        key_id: params.key_id.map(|id| id.to_string()),
        tenant: params.tenant.to_string(),
        token: params.token,
        public_key_pem: params.public_key_pem,
        wrapping_algorithm: params.wrapping_algorithm.to_string(),
        wrapping_key_spec: params.wrapping_key_spec.to_string(),
        expires_at: params.expires_at,
    }))
}

#[utoipa::path(
    post,
    path = "/v1/keys/{key}/import",
    tag = "keys",
    summary = "Import wrapped material into an external key, or into a new key of that name",
    params(("key" = String, Path, description = "The key's name or id (a new key's name)")),
    request_body = ImportKey,
    responses((status = 200, description = "Success", body = Key), (status = "default", response = ErrorBody))
)]
pub(super) async fn import_key(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<ImportKey>,
) -> ApiResult<Key> {
    let wrapped = STANDARD
        .decode(body.wrapped.trim())
        .map_err(|_| ApiError::bad_request("wrapped: not base64".to_owned()))?;
    let request = keystead_service::ImportKeyRequest {
        token: body.token.into_bytes(),
        wrapped,
        key: CreateKeyRequest {
            tenant: body.tenant,
            name: key,
            purpose: body.purpose.unwrap_or_default(),
            algorithm: body.algorithm.unwrap_or_default(),
            usage_context: body.usage_context,
            owner: body.owner,
            description: body.description,
            classification: body.classification,
            labels: body.labels,
            protect_period: body.protect_period,
            recoverable: body.recoverable,
            criticality: body.criticality,
            ..CreateKeyRequest::default()
        },
    };
    Ok(Json(service.import_key(&caller, request).await?.into_wire()))
}

#[utoipa::path(
    delete,
    path = "/v1/keys/{key}/material",
    tag = "keys",
    summary = "Delete Keystead's copy of an external key's imported material (it waits in pending-import)",
    params(("key" = String, Path, description = "Key name or id"), TenantQuery),
    responses((status = 200, description = "Success", body = Key), (status = "default", response = ErrorBody))
)]
pub(super) async fn delete_material(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    QueryOf(q): QueryOf<TenantQuery>,
) -> ApiResult<Key> {
    Ok(Json(service.delete_imported_material(&caller, q.tenant.as_deref(), &key).await?.into_wire()))
}

pub(super) fn parse_labels(
    text: Option<&str>,
) -> Result<std::collections::BTreeMap<String, String>, ApiError> {
    keystead_core::key::parse_pairs("label", text.unwrap_or_default().split(','))
        .map_err(|err| ApiError::bad_request(err.to_string()))
}

#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = "keys",
    summary = "Keys matching a filter",
    params(ListKeys),
    responses((status = 200, description = "Success", body = Vec<Key>), (status = "default", response = ErrorBody))
)]
pub(super) async fn list_keys(
    State(service): State<AppState>,
    Authed(caller): Authed,
    QueryOf(query): QueryOf<ListKeys>,
) -> ApiResult<Vec<Key>> {
    let filter = KeyListFilter {
        labels: parse_labels(query.label.as_deref())?,
        tenant: query.tenant,
        purpose: query.purpose,
        state: query.state,
        owner: query.owner,
        all: query.all,
    };
    Ok(Json(service.list_keys(&caller, filter).await?.into_wire()))
}

#[utoipa::path(
    get,
    path = "/v1/keys/{key}",
    tag = "keys",
    summary = "A key with its versions, provenance and history",
    params(("key" = String, Path, description = "Key name or id"), TenantQuery),
    responses((status = 200, description = "Success", body = Key), (status = "default", response = ErrorBody))
)]
pub(super) async fn show_key(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    QueryOf(q): QueryOf<TenantQuery>,
) -> ApiResult<Key> {
    Ok(Json(service.show_key(&caller, q.tenant.as_deref(), &key).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/keys/{key}/rotate",
    tag = "keys",
    summary = "Add a new primary version",
    params(("key" = String, Path, description = "Key name or id"), TenantQuery),
    responses((status = 200, description = "Success", body = Key), (status = "default", response = ErrorBody))
)]
pub(super) async fn rotate_key(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    QueryOf(q): QueryOf<TenantQuery>,
) -> ApiResult<Key> {
    Ok(Json(service.rotate_key(&caller, q.tenant.as_deref(), &key).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/keys/{key}/activate",
    tag = "keys",
    summary = "Activate a pre-active version",
    params(("key" = String, Path, description = "Key name or id")),
    request_body = VersionBody,
    responses((status = 200, description = "Success", body = Key), (status = "default", response = ErrorBody))
)]
pub(super) async fn activate_key(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<VersionBody>,
) -> ApiResult<Key> {
    Ok(Json(service.activate_key(&caller, body.tenant.as_deref(), &key, body.version).await?.into_wire()))
}

#[utoipa::path(
    post,
    path = "/v1/keys/{key}/deactivate",
    tag = "keys",
    summary = "Deactivate a version: it only processes from now on",
    params(("key" = String, Path, description = "Key name or id")),
    request_body = VersionBody,
    responses((status = 200, description = "Success", body = Key), (status = "default", response = ErrorBody))
)]
pub(super) async fn deactivate_key(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<VersionBody>,
) -> ApiResult<Key> {
    Ok(Json(service.deactivate_key(&caller, body.tenant.as_deref(), &key, body.version).await?.into_wire()))
}

#[utoipa::path(
    get,
    path = "/v1/keys/{key}/public",
    tag = "keys",
    summary = "The public key of an asymmetric key, PEM",
    params(("key" = String, Path, description = "Key name or id"), PublicQuery),
    responses((status = 200, description = "Success", body = PublicKey), (status = "default", response = ErrorBody))
)]
pub(super) async fn public_key(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    QueryOf(q): QueryOf<PublicQuery>,
) -> ApiResult<PublicKey> {
    Ok(Json(PublicKey { pem: service.public_key(&caller, q.tenant.as_deref(), &key, q.version).await? }))
}
