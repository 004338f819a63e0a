//! Cryptographic operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext),
//! GenerateRandom, Sign, Verify, GenerateMac, VerifyMac. A `CiphertextBlob` is Keystead's
//! envelope in binary form, so AWS and native ciphertexts are interchangeable.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use keystead_core::{Envelope, KeyId, Purpose};
use keystead_service::KeyView;
use serde_json::{json, Value};

use crate::names::{self, key_arn};
use crate::{AwsError, Call};

/// AWS's limit on `Plaintext` and `Message`.
const MAX_PLAINTEXT: usize = 4096;
/// AWS's limit on `CiphertextBlob`; Keystead's envelope adds its header, so allow more.
const MAX_CIPHERTEXT: usize = 8192;

fn encryption_algorithm(call: &Call<'_>, field: &str) -> Result<Option<&'static str>, AwsError> {
    match call.text(field)? {
        None => Ok(None),
        Some("SYMMETRIC_DEFAULT") => Ok(Some("SYMMETRIC_DEFAULT")),
        Some("RSAES_OAEP_SHA_256") => Ok(Some("RSAES_OAEP_SHA_256")),
        Some(other) => Err(AwsError::unsupported(format!(
            "EncryptionAlgorithm {other} is not supported: Keystead encrypts with SYMMETRIC_DEFAULT (AES-256-GCM) or RSAES_OAEP_SHA_256"
        ))),
    }
}

/// The algorithm a key encrypts with, as AWS names it.
fn algorithm_of(purpose: Purpose) -> &'static str {
    if purpose == Purpose::AsymmetricDecrypt {
        "RSAES_OAEP_SHA_256"
    } else {
        "SYMMETRIC_DEFAULT"
    }
}

fn parse_blob(text: &str) -> Result<Envelope, AwsError> {
    Envelope::parse("ciphertext", text)
        .map_err(|err| AwsError::new("InvalidCiphertextException", err.to_string()))
}

pub(crate) async fn encrypt(call: &Call<'_>) -> Result<Value, AwsError> {
    let key = call.key_ref("KeyId")?;
    let plaintext = call.required_blob("Plaintext", MAX_PLAINTEXT)?;
    let context = call.context("EncryptionContext")?;
    let asked = encryption_algorithm(call, "EncryptionAlgorithm")?;
    let ciphertext =
        call.service().encrypt(&call.caller, None, &key, plaintext.expose_secret(), &context).await?;
    let envelope = parse_blob(&ciphertext)?;
    let algorithm = asked.unwrap_or("SYMMETRIC_DEFAULT");
    Ok(json!({
        "CiphertextBlob": STANDARD.encode(envelope.to_binary()),
        "KeyId": key_arn(call.config(), &envelope.key_id),
        "EncryptionAlgorithm": algorithm,
    }))
}

/// The key a `KeyId` field names, as an id (when the field is given).
async fn expected_key(call: &Call<'_>, field: &str) -> Result<Option<KeyView>, AwsError> {
    if call.text(field)?.is_none() {
        return Ok(None);
    }
    let key = call.key_ref(field)?;
    Ok(Some(call.service().describe_key(&call.caller, None, &key).await?))
}

fn check_expected(expected: Option<&KeyView>, actual: KeyId) -> Result<(), AwsError> {
    match expected {
        Some(view) if view.attributes.id != actual => Err(AwsError::new(
            "IncorrectKeyException",
            "The key ID in the request does not identify the key that encrypted the ciphertext.",
        )),
        _ => Ok(()),
    }
}

pub(crate) async fn decrypt(call: &Call<'_>) -> Result<Value, AwsError> {
    let blob = call.required_blob("CiphertextBlob", MAX_CIPHERTEXT)?;
    let envelope = Envelope::from_binary("ciphertext", blob.expose_secret())
        .map_err(|err| AwsError::new("InvalidCiphertextException", err.to_string()))?;
    let context = call.context("EncryptionContext")?;
    encryption_algorithm(call, "EncryptionAlgorithm")?;
    let expected = expected_key(call, "KeyId").await?;
    check_expected(expected.as_ref(), envelope.key_id)?;
    let opened = call.service().decrypt(&call.caller, &envelope.to_string(), &context).await?;
    let algorithm = expected.map_or("SYMMETRIC_DEFAULT", |v| algorithm_of(v.attributes.purpose));
    Ok(json!({
        "KeyId": key_arn(call.config(), &envelope.key_id),
        "Plaintext": STANDARD.encode(opened.plaintext.expose_secret()),
        "EncryptionAlgorithm": algorithm,
    }))
}

/// Decrypts under the source key and encrypts under the destination key: two audited uses.
pub(crate) async fn re_encrypt(call: &Call<'_>) -> Result<Value, AwsError> {
    let blob = call.required_blob("CiphertextBlob", MAX_CIPHERTEXT)?;
    let envelope = Envelope::from_binary("ciphertext", blob.expose_secret())
        .map_err(|err| AwsError::new("InvalidCiphertextException", err.to_string()))?;
    let source_context = call.context("SourceEncryptionContext")?;
    let destination_context = call.context("DestinationEncryptionContext")?;
    let destination = call.key_ref("DestinationKeyId")?;
    let expected = expected_key(call, "SourceKeyId").await?;
    check_expected(expected.as_ref(), envelope.key_id)?;
    let service = call.service();
    let opened = service.decrypt(&call.caller, &envelope.to_string(), &source_context).await?;
    let ciphertext = service
        .encrypt(&call.caller, None, &destination, opened.plaintext.expose_secret(), &destination_context)
        .await?;
    let new = parse_blob(&ciphertext)?;
    Ok(json!({
        "CiphertextBlob": STANDARD.encode(new.to_binary()),
        "SourceKeyId": key_arn(call.config(), &envelope.key_id),
        "KeyId": key_arn(call.config(), &new.key_id),
        "SourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "DestinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }))
}

pub(crate) async fn generate_data_key(call: &Call<'_>, with_plaintext: bool) -> Result<Value, AwsError> {
    let key = call.key_ref("KeyId")?;
    let context = call.context("EncryptionContext")?;
    let bytes = match (call.text("KeySpec")?, call.number("NumberOfBytes")?) {
        (Some(_), Some(_)) => return Err(AwsError::validation("give KeySpec or NumberOfBytes, not both")),
        (Some("AES_256"), None) => 32,
        (Some("AES_128"), None) => 16,
        (Some(other), None) => {
            return Err(AwsError::validation(format!("KeySpec {other} is not AES_256 or AES_128")))
        }
        (None, Some(n)) => usize::try_from(n).unwrap_or(usize::MAX),
        (None, None) => return Err(AwsError::validation("give KeySpec (AES_256, AES_128) or NumberOfBytes")),
    };
    let data_key = call.service().generate_data_key_sized(&call.caller, None, &key, &context, bytes).await?;
    let envelope = parse_blob(&data_key.ciphertext)?;
    let mut out = json!({
        "CiphertextBlob": STANDARD.encode(envelope.to_binary()),
        "KeyId": key_arn(call.config(), &envelope.key_id),
    });
    if let (true, Some(object)) = (with_plaintext, out.as_object_mut()) {
        object.insert("Plaintext".into(), json!(STANDARD.encode(data_key.plaintext.expose_secret())));
    }
    Ok(out)
}

pub(crate) async fn generate_random(call: &Call<'_>) -> Result<Value, AwsError> {
    let bytes =
        call.number("NumberOfBytes")?.ok_or_else(|| AwsError::validation("NumberOfBytes is required"))?;
    let random =
        call.service().generate_random(&call.caller, usize::try_from(bytes).unwrap_or(usize::MAX)).await?;
    Ok(json!({ "Plaintext": STANDARD.encode(random.expose_secret()) }))
}

/// What a signing or MAC request asks of a key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Asked {
    Sign,
    Verify,
    Mac,
    MacVerify,
}

/// Puts a request outside the key's purpose to the service, which refuses it and audits the
/// refusal as it does natively (a purpose violation, or permission denied when the grant check
/// comes first: no grant can name such an operation; the anomaly rules count both); the AWS
/// caller gets `InvalidKeyUsageException` either way.
async fn refuse_outside_purpose(call: &Call<'_>, view: &KeyView, asked: Asked, message: &[u8]) -> AwsError {
    let id = view.attributes.id.to_string();
    let probe = format!("ks1:{id}:v1:AA");
    let service = call.service();
    let result = match asked {
        Asked::Sign => service.sign(&call.caller, None, &id, message).await.map(|_| ()),
        Asked::Mac => service.mac(&call.caller, None, &id, message).await.map(|_| ()),
        Asked::Verify => service.verify(&call.caller, None, &id, message, &probe).await.map(|_| ()),
        Asked::MacVerify => service.mac_verify(&call.caller, None, &id, message, &probe).await.map(|_| ()),
    };
    let usage =
        if matches!(asked, Asked::Mac | Asked::MacVerify) { "GENERATE_VERIFY_MAC" } else { "SIGN_VERIFY" };
    let refusal = AwsError::new(
        "InvalidKeyUsageException",
        format!(
            "{} is not a {usage} key (Keystead purpose {})",
            key_arn(call.config(), &view.attributes.id),
            view.attributes.purpose
        ),
    );
    match result {
        Err(err)
            if matches!(
                err.kind(),
                keystead_service::ErrorKind::PurposeViolation | keystead_service::ErrorKind::PermissionDenied
            ) =>
        {
            refusal
        }
        Err(err) => AwsError::from(err),
        // The service allowed it: the adapter's table is wrong; refuse rather than guess.
        Ok(()) => refusal,
    }
}

/// The key a signing or MAC request names, checked against the algorithm it asks for.
async fn key_for(
    call: &Call<'_>,
    algorithm_field: &str,
    asked_for: Asked,
    message: &[u8],
) -> Result<(KeyView, &'static str), AwsError> {
    let key = call.key_ref("KeyId")?;
    let asked = call.required(algorithm_field)?;
    let view = call.service().describe_key(&call.caller, None, &key).await?;
    let algorithm = view.attributes.algorithm;
    let mac = matches!(asked_for, Asked::Mac | Asked::MacVerify);
    let offered = if mac { names::mac_algorithm(algorithm) } else { names::signing_algorithm(algorithm) };
    let Some(offered) = offered else {
        return Err(refuse_outside_purpose(call, &view, asked_for, message).await);
    };
    if asked != offered {
        return Err(AwsError::new(
            "InvalidKeyUsageException",
            format!(
                "{} ({algorithm}) supports {algorithm_field} {offered} only, not {asked}",
                key_arn(call.config(), &view.attributes.id)
            ),
        ));
    }
    Ok((view, offered))
}

fn message_type(call: &Call<'_>) -> Result<(), AwsError> {
    match call.text("MessageType")?.unwrap_or("RAW") {
        "RAW" => Ok(()),
        "DIGEST" => Err(AwsError::unsupported(
            "MessageType DIGEST is not supported yet: send the message itself (RAW, at most 4096 bytes)",
        )),
        other => Err(AwsError::validation(format!("MessageType {other} is not RAW or DIGEST"))),
    }
}

pub(crate) async fn sign(call: &Call<'_>) -> Result<Value, AwsError> {
    message_type(call)?;
    let message = call.required_blob("Message", MAX_PLAINTEXT)?;
    let (view, algorithm) = key_for(call, "SigningAlgorithm", Asked::Sign, message.expose_secret()).await?;
    let id = view.attributes.id.to_string();
    let signed = call.service().sign(&call.caller, None, &id, message.expose_secret()).await?;
    let envelope = parse_blob(&signed)?;
    Ok(json!({
        "KeyId": key_arn(call.config(), &id),
        "Signature": STANDARD.encode(&envelope.payload),
        "SigningAlgorithm": algorithm,
    }))
}

pub(crate) async fn generate_mac(call: &Call<'_>) -> Result<Value, AwsError> {
    let message = call.required_blob("Message", MAX_PLAINTEXT)?;
    let (view, algorithm) = key_for(call, "MacAlgorithm", Asked::Mac, message.expose_secret()).await?;
    let id = view.attributes.id.to_string();
    let tag = call.service().mac(&call.caller, None, &id, message.expose_secret()).await?;
    let envelope = parse_blob(&tag)?;
    Ok(json!({
        "KeyId": key_arn(call.config(), &id),
        "Mac": STANDARD.encode(&envelope.payload),
        "MacAlgorithm": algorithm,
    }))
}

/// Checks a raw signature or tag against the key's versions that still verify, primary first:
/// an AWS signature does not say which version made it.
async fn check_versions(
    call: &Call<'_>,
    view: &KeyView,
    message: &[u8],
    raw: &[u8],
    mac: bool,
) -> Result<bool, AwsError> {
    let id = view.attributes.id.to_string();
    let mut numbers: Vec<u32> =
        view.versions.iter().filter(|v| v.state.has_material()).map(|v| v.number.get()).collect();
    numbers.sort_by_key(|n| std::cmp::Reverse((Some(*n) == view.primary_version, *n)));
    for number in numbers {
        let envelope = format!("ks1:{id}:v{number}:{}", URL_SAFE_NO_PAD.encode(raw));
        let service = call.service();
        let valid = if mac {
            service.mac_verify(&call.caller, None, &id, message, &envelope).await?
        } else {
            service.verify(&call.caller, None, &id, message, &envelope).await?
        };
        if valid {
            return Ok(true);
        }
    }
    Ok(false)
}

pub(crate) async fn verify(call: &Call<'_>) -> Result<Value, AwsError> {
    message_type(call)?;
    let message = call.required_blob("Message", MAX_PLAINTEXT)?;
    let signature = call.required_blob("Signature", 8192)?;
    let (view, algorithm) = key_for(call, "SigningAlgorithm", Asked::Verify, message.expose_secret()).await?;
    if !check_versions(call, &view, message.expose_secret(), signature.expose_secret(), false).await? {
        return Err(AwsError::new("KMSInvalidSignatureException", "the signature does not verify"));
    }
    Ok(json!({
        "KeyId": key_arn(call.config(), &view.attributes.id),
        "SignatureValid": true,
        "SigningAlgorithm": algorithm,
    }))
}

pub(crate) async fn verify_mac(call: &Call<'_>) -> Result<Value, AwsError> {
    let message = call.required_blob("Message", MAX_PLAINTEXT)?;
    let tag = call.required_blob("Mac", 512)?;
    let (view, algorithm) = key_for(call, "MacAlgorithm", Asked::MacVerify, message.expose_secret()).await?;
    if !check_versions(call, &view, message.expose_secret(), tag.expose_secret(), true).await? {
        return Err(AwsError::new("KMSInvalidMacException", "the MAC does not verify"));
    }
    Ok(json!({
        "KeyId": key_arn(call.config(), &view.attributes.id),
        "MacValid": true,
        "MacAlgorithm": algorithm,
    }))
}
