//! Keystead's AWS KMS endpoint: `POST /` with `X-Amz-Target: TrentService.<Operation>` and
//! `Content-Type: application/x-amz-json-1.1`, authenticated by AWS Signature Version 4 with
//! Keystead access keys. A wire adapter only: every operation is a call of the same service
//! methods the REST API uses, so every control (purpose, grants, tenants, states, approvals,
//! audit) holds through this door too. Each call is audited with source `aws ADDRESS` and
//! `details.api_operation` naming the operation.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use keystead_service::{AccessKeyRefusal, Caller, Service};
use serde_json::Value;

mod crypto;
mod error;
mod import;
mod keys;
mod lifecycle;
mod names;
pub mod sigv4;

pub use error::AwsError;

/// The `[aws]` settings: where this endpoint says it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsConfig {
    /// The region clients sign for and ARNs name (`us-east-1` by default).
    pub region: String,
    /// The 12-digit account id ARNs name.
    pub account_id: String,
}

impl Default for AwsConfig {
    fn default() -> Self {
        Self { region: "us-east-1".into(), account_id: "000000000000".into() }
    }
}

/// The adapter's state: the service and the settings.
#[derive(Clone)]
pub(crate) struct Aws {
    service: Arc<Service>,
    config: Arc<AwsConfig>,
}

/// The AWS KMS routes (`POST /`), to merge into the server's router.
pub fn router(service: Arc<Service>, config: AwsConfig) -> Router {
    Router::new().route("/", post(handle)).with_state(Aws { service, config: Arc::new(config) })
}

/// Every operation of the AWS KMS API, so an unknown target and a known but unsupported one
/// get different answers.
const AWS_OPERATIONS: &[&str] = &[
    "CancelKeyDeletion",
    "ConnectCustomKeyStore",
    "CreateAlias",
    "CreateCustomKeyStore",
    "CreateGrant",
    "CreateKey",
    "Decrypt",
    "DeleteAlias",
    "DeleteCustomKeyStore",
    "DeleteImportedKeyMaterial",
    "DeriveSharedSecret",
    "DescribeCustomKeyStores",
    "DescribeKey",
    "DisableKey",
    "DisableKeyRotation",
    "DisconnectCustomKeyStore",
    "EnableKey",
    "EnableKeyRotation",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "GenerateRandom",
    "GetKeyPolicy",
    "GetKeyRotationStatus",
    "GetParametersForImport",
    "GetPublicKey",
    "ImportKeyMaterial",
    "ListAliases",
    "ListGrants",
    "ListKeyPolicies",
    "ListKeyRotations",
    "ListKeys",
    "ListResourceTags",
    "ListRetirableGrants",
    "PutKeyPolicy",
    "ReEncrypt",
    "ReplicateKey",
    "RetireGrant",
    "RevokeGrant",
    "RotateKeyOnDemand",
    "ScheduleKeyDeletion",
    "Sign",
    "TagResource",
    "UntagResource",
    "UpdateAlias",
    "UpdateCustomKeyStore",
    "UpdateKeyDescription",
    "UpdatePrimaryRegion",
    "Verify",
    "VerifyMac",
];

/// One request: who asks, what, with which fields.
pub(crate) struct Call<'a> {
    pub(crate) aws: &'a Aws,
    pub(crate) caller: Caller,
    pub(crate) body: Value,
}

async fn handle(State(aws): State<Aws>, parts: axum::http::request::Parts, body: Bytes) -> Response {
    let (method, uri, headers) = (&parts.method, &parts.uri, &parts.headers);
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.to_string());
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let request_id = new_request_id();
    let mut response = match answer(&aws, &peer, method, uri, headers, &body, &target, &request_id).await {
        Ok(value) => {
            let mut response = value.to_string().into_response();
            response
                .headers_mut()
                .insert("content-type", HeaderValue::from_static("application/x-amz-json-1.1"));
            response
        }
        Err(err) => err.into_response(),
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-requestid", value);
    }
    response
}

/// A fresh request id, as AWS returns in `x-amzn-RequestId` (a UUID-shaped hex string).
fn new_request_id() -> String {
    let bytes = keystead_crypto::random_array::<16>().unwrap_or_default();
    let hex = hex::encode(bytes);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

#[allow(clippy::too_many_arguments, reason = "the parts of one HTTP request")]
async fn answer(
    aws: &Aws,
    peer: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    target: &str,
    request_id: &str,
) -> Result<Value, AwsError> {
    let operation = target.strip_prefix("TrentService.").ok_or_else(|| {
        AwsError::new(
            "UnknownOperationException",
            "this endpoint speaks AWS KMS: send X-Amz-Target: TrentService.<Operation>",
        )
    })?;
    let source = format!("aws {peer}");
    let request = sigv4::SignedRequest {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers,
        body,
    };
    let pending = match sigv4::PendingCheck::new(&request) {
        Ok(pending) => pending,
        Err(err) => {
            // Counted and audited like a request without a credential (aggregated per source),
            // and refused as such while the source is rate limited.
            let counted = aws
                .service
                .authenticate_request(
                    keystead_service::Credential::Bearer(None),
                    &source,
                    target,
                    Some(request_id),
                )
                .await;
            if let Err(refused @ keystead_service::Error::RateLimited { .. }) = counted {
                return Err(AwsError::from(refused));
            }
            return Err(match err {
                sigv4::SignatureError::Missing => {
                    AwsError::new("MissingAuthenticationTokenException", "Missing Authentication Token")
                }
                sigv4::SignatureError::Incomplete(why) => AwsError::new("IncompleteSignatureException", why),
            });
        }
    };
    let now = aws.service.now();
    let region = aws.config.region.clone();
    let caller = aws
        .service
        .authenticate_access_key(
            &pending.auth.access_key_id,
            |secret| pending.verify(secret, &region, now),
            &source,
            target,
            Some(request_id),
        )
        .await
        .map_err(|refusal| match refusal {
            AccessKeyRefusal::Unrecognized => AwsError::new(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ),
            AccessKeyRefusal::BadSignature(why) => AwsError::new("InvalidSignatureException", why),
            AccessKeyRefusal::Other(err) => AwsError::from(err),
        })?;
    let caller = caller.with_api_operation(target);
    if !AWS_OPERATIONS.contains(&operation) {
        return Err(AwsError::new(
            "UnknownOperationException",
            format!("{operation} is not an AWS KMS operation"),
        ));
    }
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.starts_with("application/x-amz-json-1.1") {
        return Err(AwsError::validation("Content-Type must be application/x-amz-json-1.1"));
    }
    let body: Value = if body.is_empty() {
        Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_slice(body)
            .map_err(|err| AwsError::new("SerializationException", err.to_string()))?
    };
    if !body.is_object() {
        return Err(AwsError::new("SerializationException", "the request body must be a JSON object"));
    }
    let call = Call { aws, caller, body };
    dispatch(&call, operation).await
}

async fn dispatch(call: &Call<'_>, operation: &str) -> Result<Value, AwsError> {
    match operation {
        "CreateKey" => keys::create_key(call).await,
        "DescribeKey" => keys::describe_key(call).await,
        "ListKeys" => keys::list_keys(call).await,
        "EnableKey" => keys::enable_key(call, true).await,
        "DisableKey" => keys::enable_key(call, false).await,
        "CreateAlias" => keys::create_alias(call).await,
        "UpdateAlias" => keys::update_alias(call).await,
        "DeleteAlias" => keys::delete_alias(call).await,
        "ListAliases" => keys::list_aliases(call).await,
        "GetPublicKey" => keys::get_public_key(call).await,
        "GetParametersForImport" => import::get_parameters_for_import(call).await,
        "ImportKeyMaterial" => import::import_key_material(call).await,
        "DeleteImportedKeyMaterial" => import::delete_imported_key_material(call).await,
        "ScheduleKeyDeletion" => lifecycle::schedule_key_deletion(call).await,
        "CancelKeyDeletion" => lifecycle::cancel_key_deletion(call).await,
        "UpdateKeyDescription" => lifecycle::update_key_description(call).await,
        "TagResource" => lifecycle::tag_resource(call).await,
        "UntagResource" => lifecycle::untag_resource(call).await,
        "ListResourceTags" => lifecycle::list_resource_tags(call).await,
        "EnableKeyRotation" => lifecycle::enable_key_rotation(call, true).await,
        "DisableKeyRotation" => lifecycle::enable_key_rotation(call, false).await,
        "GetKeyRotationStatus" => lifecycle::get_key_rotation_status(call).await,
        "RotateKeyOnDemand" => lifecycle::rotate_key_on_demand(call).await,
        "ListKeyRotations" => lifecycle::list_key_rotations(call).await,
        "Encrypt" => crypto::encrypt(call).await,
        "Decrypt" => crypto::decrypt(call).await,
        "ReEncrypt" => crypto::re_encrypt(call).await,
        "GenerateDataKey" => crypto::generate_data_key(call, true).await,
        "GenerateDataKeyWithoutPlaintext" => crypto::generate_data_key(call, false).await,
        "GenerateRandom" => crypto::generate_random(call).await,
        "Sign" => crypto::sign(call).await,
        "Verify" => crypto::verify(call).await,
        "GenerateMac" => crypto::generate_mac(call).await,
        "VerifyMac" => crypto::verify_mac(call).await,
        other => Err(AwsError::unsupported(format!(
            "Keystead does not support {other} yet; see docs/aws.md for the operations it speaks"
        ))),
    }
}

impl Call<'_> {
    /// A text field, if present.
    pub(crate) fn text(&self, name: &str) -> Result<Option<&str>, AwsError> {
        match self.body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(AwsError::new("SerializationException", format!("{name} must be a string"))),
        }
    }

    /// A text field that must be present.
    pub(crate) fn required(&self, name: &str) -> Result<&str, AwsError> {
        self.text(name)?
            .ok_or_else(|| AwsError::validation(format!("1 validation error detected: {name} is required")))
    }

    /// A number field, if present.
    pub(crate) fn number(&self, name: &str) -> Result<Option<u64>, AwsError> {
        match self.body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value.as_u64().map(Some).ok_or_else(|| {
                AwsError::new("SerializationException", format!("{name} must be a whole number"))
            }),
        }
    }

    /// A blob field (standard base64), decoded into a zeroizing buffer.
    pub(crate) fn blob(&self, name: &str) -> Result<Option<keystead_crypto::SecretBytes>, AwsError> {
        use base64::Engine as _;
        let Some(text) = self.text(name)? else { return Ok(None) };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| AwsError::new("SerializationException", format!("{name} must be base64")))?;
        Ok(Some(keystead_crypto::SecretBytes::new(bytes)))
    }

    /// A blob field that must be present and hold 1 to `max` bytes.
    pub(crate) fn required_blob(
        &self,
        name: &str,
        max: usize,
    ) -> Result<keystead_crypto::SecretBytes, AwsError> {
        let blob = self.blob(name)?.ok_or_else(|| {
            AwsError::validation(format!("1 validation error detected: {name} is required"))
        })?;
        if blob.is_empty() || blob.len() > max {
            return Err(AwsError::validation(format!("{name} must hold 1 to {max} bytes")));
        }
        Ok(blob)
    }

    /// A string-to-string map field (`EncryptionContext`).
    pub(crate) fn context(&self, name: &str) -> Result<std::collections::BTreeMap<String, String>, AwsError> {
        let mut context = std::collections::BTreeMap::new();
        match self.body.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::Object(pairs)) => {
                for (key, value) in pairs {
                    let Value::String(value) = value else {
                        return Err(AwsError::new(
                            "SerializationException",
                            format!("{name} values must be strings"),
                        ));
                    };
                    context.insert(key.clone(), value.clone());
                }
            }
            Some(_) => {
                return Err(AwsError::new("SerializationException", format!("{name} must be an object")))
            }
        }
        Ok(context)
    }

    /// `Tags` (`[{"TagKey": .., "TagValue": ..}]`) as Keystead labels.
    pub(crate) fn tags(&self) -> Result<std::collections::BTreeMap<String, String>, AwsError> {
        let tags = self
            .body
            .get("Tags")
            .and_then(Value::as_array)
            .ok_or_else(|| AwsError::validation("Tags must be a list of {TagKey, TagValue}"))?;
        let mut labels = std::collections::BTreeMap::new();
        for tag in tags {
            let (Some(key), Some(value)) =
                (tag.get("TagKey").and_then(Value::as_str), tag.get("TagValue").and_then(Value::as_str))
            else {
                return Err(AwsError::validation("each tag needs a TagKey and a TagValue"));
            };
            labels.insert(key.to_owned(), value.to_owned());
        }
        Ok(labels)
    }

    /// The Keystead reference of the key named by field `name`.
    pub(crate) fn key_ref(&self, name: &str) -> Result<String, AwsError> {
        names::key_ref(&self.aws.config, self.required(name)?)
    }

    /// The service.
    pub(crate) fn service(&self) -> &Service {
        &self.aws.service
    }

    /// The settings.
    pub(crate) fn config(&self) -> &AwsConfig {
        &self.aws.config
    }
}
