//! Bring your own key through the AWS API: GetParametersForImport, ImportKeyMaterial and
//! DeleteImportedKeyMaterial on keys created with `Origin: EXTERNAL`. The service does the
//! work (and the checks); this module translates names and errors.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keystead_core::key::Origin;
use keystead_core::{WrappingAlgorithm, WrappingKeySpec};
use keystead_service::{CreateKeyRequest, ImportKeyRequest, ImportParamsRequest, KeyView};
use serde_json::{json, Value};

use crate::names::key_arn;
use crate::{AwsError, Call};

/// The key named by `KeyId`, which must be an external key.
async fn external_key(call: &Call<'_>) -> Result<KeyView, AwsError> {
    let key = call.key_ref("KeyId")?;
    let view = call.service().describe_key(&call.caller, None, &key).await?;
    if view.attributes.origin != Origin::External {
        return Err(AwsError::unsupported(format!(
            "{} has Origin AWS_KMS: only keys created with Origin EXTERNAL take imported key material",
            key_arn(call.config(), &view.attributes.id)
        )));
    }
    Ok(view)
}

fn wrapping_algorithm(name: &str) -> Result<WrappingAlgorithm, AwsError> {
    match name {
        "RSAES_OAEP_SHA_256" => Ok(WrappingAlgorithm::RsaOaepSha256),
        "RSA_AES_KEY_WRAP_SHA_256" => Ok(WrappingAlgorithm::RsaAesKeyWrapSha256),
        "RSAES_PKCS1_V1_5" | "RSAES_OAEP_SHA_1" | "RSA_AES_KEY_WRAP_SHA_1" => Err(AwsError::validation(format!(
            "WrappingAlgorithm {name} is not accepted by Keystead (PKCS#1 v1.5 and SHA-1 wrapping are weak): use \
             RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256"
        ))),
        other => Err(AwsError::validation(format!(
            "WrappingAlgorithm {other} is not one of RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_256"
        ))),
    }
}

fn wrapping_key_spec(name: &str) -> Result<WrappingKeySpec, AwsError> {
    match name {
        "RSA_3072" => Ok(WrappingKeySpec::Rsa3072),
        "RSA_4096" => Ok(WrappingKeySpec::Rsa4096),
        "RSA_2048" => Err(AwsError::validation(
            "WrappingKeySpec RSA_2048 (112-bit strength) is not offered by Keystead: use RSA_3072 or RSA_4096",
        )),
        other => Err(AwsError::validation(format!("WrappingKeySpec {other} is not one of RSA_3072, RSA_4096"))),
    }
}

pub(crate) async fn get_parameters_for_import(call: &Call<'_>) -> Result<Value, AwsError> {
    let algorithm = wrapping_algorithm(call.required("WrappingAlgorithm")?)?;
    let spec = wrapping_key_spec(call.required("WrappingKeySpec")?)?;
    let view = external_key(call).await?;
    let id = view.attributes.id.to_string();
    let request = ImportParamsRequest {
        tenant: None,
        key: id.clone(),
        wrapping_algorithm: Some(algorithm.to_string()),
        wrapping_key_spec: Some(spec.to_string()),
    };
    let params = call.service().import_params(&call.caller, request).await?;
    Ok(json!({
        "KeyId": key_arn(call.config(), &id),
        "ImportToken": STANDARD.encode(params.token.as_bytes()),
        "PublicKey": STANDARD.encode(&params.public_key_der),
        "ParametersValidTo": params.expires_at.unix_timestamp(),
    }))
}

pub(crate) async fn import_key_material(call: &Call<'_>) -> Result<Value, AwsError> {
    match (call.text("ExpirationModel")?, call.body.get("ValidTo")) {
        (None | Some("KEY_MATERIAL_DOES_NOT_EXPIRE"), None | Some(Value::Null)) => {}
        (None | Some("KEY_MATERIAL_DOES_NOT_EXPIRE"), Some(_)) => {
            return Err(AwsError::validation("ValidTo is only allowed with ExpirationModel KEY_MATERIAL_EXPIRES"))
        }
        (Some("KEY_MATERIAL_EXPIRES"), _) => {
            return Err(AwsError::validation(
                "Keystead does not expire imported key material (ExpirationModel KEY_MATERIAL_EXPIRES): import with \
                 KEY_MATERIAL_DOES_NOT_EXPIRE and retire the key with DeleteImportedKeyMaterial or ScheduleKeyDeletion",
            ))
        }
        (Some(other), _) => return Err(AwsError::validation(format!("ExpirationModel {other} is not known"))),
    }
    match call.text("ImportType")? {
        None | Some("EXISTING_KEY_MATERIAL") => {}
        Some(other) => {
            return Err(AwsError::unsupported(format!(
                "ImportType {other}: Keystead keys with imported material hold one material for life (no rotation)"
            )))
        }
    }
    let token = call.required_blob("ImportToken", 6_144)?;
    let wrapped = call.required_blob("EncryptedKeyMaterial", 6_144)?;
    let view = external_key(call).await?;
    let id = view.attributes.id.to_string();
    let request = ImportKeyRequest {
        token: token.expose_secret().to_vec(),
        wrapped: wrapped.expose_secret().to_vec(),
        key: CreateKeyRequest { name: id.clone(), ..CreateKeyRequest::default() },
    };
    call.service().import_key(&call.caller, request).await?;
    Ok(json!({ "KeyId": key_arn(call.config(), &id) }))
}

pub(crate) async fn delete_imported_key_material(call: &Call<'_>) -> Result<Value, AwsError> {
    let view = external_key(call).await?;
    let id = view.attributes.id.to_string();
    call.service().delete_imported_material(&call.caller, None, &id).await?;
    Ok(json!({ "KeyId": key_arn(call.config(), &id) }))
}
