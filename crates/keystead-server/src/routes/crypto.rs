//! Cryptographic operations: encrypt, data keys, decrypt, sign, verify, MAC, wrap, unwrap.

use super::*;
use keystead_api::Secret;

#[utoipa::path(
    post,
    path = "/v1/keys/{key}/encrypt",
    tag = "crypto",
    summary = "Encrypt under the primary version",
    params(("key" = String, Path, description = "Key name or id")),
    request_body = Encrypt,
    responses((status = 200, description = "Success", body = Ciphertext), (status = "default", response = ErrorBody))
)]
pub(super) async fn encrypt(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<Encrypt>,
) -> ApiResult<Ciphertext> {
    let plaintext = decode_secret("plaintext", &body.plaintext)?;
    let ciphertext = service
        .encrypt(&caller, body.tenant.as_deref(), &key, plaintext.expose_secret(), &body.context)
        .await?;
    Ok(Json(Ciphertext { ciphertext }))
}

#[utoipa::path(
    post,
    path = "/v1/keys/{key}/datakey",
    tag = "crypto",
    summary = "A fresh data key, in the clear and wrapped",
    params(("key" = String, Path, description = "Key name or id")),
    request_body = GenerateDataKey,
    responses((status = 200, description = "Success", body = DataKey), (status = "default", response = ErrorBody))
)]
pub(super) async fn datakey(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<GenerateDataKey>,
) -> ApiResult<DataKey> {
    let data_key = service.generate_data_key(&caller, body.tenant.as_deref(), &key, &body.context).await?;
    Ok(Json(DataKey {
        plaintext: Secret::new(STANDARD.encode(data_key.plaintext.expose_secret())),
        ciphertext: data_key.ciphertext,
    }))
}

#[utoipa::path(
    post,
    path = "/v1/decrypt",
    tag = "crypto",
    summary = "Decrypt a ks1 ciphertext; the key and version come from it",
    request_body = Decrypt,
    responses((status = 200, description = "Success", body = Plaintext), (status = "default", response = ErrorBody))
)]
pub(super) async fn decrypt(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<Decrypt>,
) -> ApiResult<Plaintext> {
    let caller = justified(caller, body.justification, body.affected_systems)?;
    let opened = service.decrypt(&caller, &body.ciphertext, &body.context).await?;
    Ok(Json(Plaintext {
        plaintext: Secret::new(STANDARD.encode(opened.plaintext.expose_secret())),
        warning: opened.warning,
    }))
}

#[utoipa::path(
    post,
    path = "/v1/keys/{key}/sign",
    tag = "crypto",
    summary = "Sign a message",
    params(("key" = String, Path, description = "Key name or id")),
    request_body = Message,
    responses((status = 200, description = "Success", body = Signature), (status = "default", response = ErrorBody))
)]
pub(super) async fn sign(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<Message>,
) -> ApiResult<Signature> {
    let message = decode("message", &body.message)?;
    Ok(Json(Signature { signature: service.sign(&caller, body.tenant.as_deref(), &key, &message).await? }))
}

#[utoipa::path(
    post,
    path = "/v1/keys/{key}/mac",
    tag = "crypto",
    summary = "Compute a MAC tag",
    params(("key" = String, Path, description = "Key name or id")),
    request_body = Message,
    responses((status = 200, description = "Success", body = Signature), (status = "default", response = ErrorBody))
)]
pub(super) async fn mac(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<Message>,
) -> ApiResult<Signature> {
    let message = decode("message", &body.message)?;
    Ok(Json(Signature { signature: service.mac(&caller, body.tenant.as_deref(), &key, &message).await? }))
}

#[utoipa::path(
    post,
    path = "/v1/keys/{key}/verify",
    tag = "crypto",
    summary = "Verify a signature",
    params(("key" = String, Path, description = "Key name or id")),
    request_body = Message,
    responses((status = 200, description = "Success", body = Validity), (status = "default", response = ErrorBody))
)]
pub(super) async fn verify(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<Message>,
) -> ApiResult<Validity> {
    let caller = justified(caller, body.justification, body.affected_systems)?;
    let message = decode("message", &body.message)?;
    let signature = body.signature.ok_or_else(|| ApiError::bad_request("signature is required"))?;
    Ok(Json(Validity {
        valid: service.verify(&caller, body.tenant.as_deref(), &key, &message, &signature).await?,
    }))
}

#[utoipa::path(
    post,
    path = "/v1/keys/{key}/mac-verify",
    tag = "crypto",
    summary = "Verify a MAC tag",
    params(("key" = String, Path, description = "Key name or id")),
    request_body = Message,
    responses((status = 200, description = "Success", body = Validity), (status = "default", response = ErrorBody))
)]
pub(super) async fn mac_verify(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<Message>,
) -> ApiResult<Validity> {
    let caller = justified(caller, body.justification, body.affected_systems)?;
    let message = decode("message", &body.message)?;
    let tag = body.signature.ok_or_else(|| ApiError::bad_request("signature (the MAC tag) is required"))?;
    Ok(Json(Validity {
        valid: service.mac_verify(&caller, body.tenant.as_deref(), &key, &message, &tag).await?,
    }))
}

#[utoipa::path(
    post,
    path = "/v1/keys/{key}/wrap",
    tag = "crypto",
    summary = "Wrap key material",
    params(("key" = String, Path, description = "Key name or id")),
    request_body = Wrap,
    responses((status = 200, description = "Success", body = Wrapped), (status = "default", response = ErrorBody))
)]
pub(super) async fn wrap(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Path(key): Path<String>,
    Body(body): Body<Wrap>,
) -> ApiResult<Wrapped> {
    let material = decode_secret("key_material", &body.key_material)?;
    Ok(Json(Wrapped { wrapped: service.wrap(&caller, body.tenant.as_deref(), &key, &material).await? }))
}

#[utoipa::path(
    post,
    path = "/v1/unwrap",
    tag = "crypto",
    summary = "Unwrap key material",
    request_body = Unwrap,
    responses((status = 200, description = "Success", body = Plaintext), (status = "default", response = ErrorBody))
)]
pub(super) async fn unwrap(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<Unwrap>,
) -> ApiResult<Plaintext> {
    let caller = justified(caller, body.justification, body.affected_systems)?;
    let material = service.unwrap(&caller, &body.wrapped).await?;
    Ok(Json(Plaintext { plaintext: Secret::new(STANDARD.encode(material.expose_secret())), warning: None }))
}

#[utoipa::path(
    post,
    path = "/v1/rewrap",
    tag = "crypto",
    summary = "Re-encrypt a ciphertext under its key's primary version; the plaintext never leaves the server",
    request_body = Rewrap,
    responses((status = 200, description = "Success", body = Rewrapped), (status = "default", response = ErrorBody))
)]
pub(super) async fn rewrap(
    State(service): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body<Rewrap>,
) -> ApiResult<Rewrapped> {
    let caller = justified(caller, body.justification, body.affected_systems)?;
    Ok(Json(service.rewrap(&caller, &body.ciphertext, &body.context, body.accept_suspect).await?.into_wire()))
}
