//! How AWS names map to Keystead's: key ids and ARNs, aliases, key specs and usages, states,
//! and the `KeyMetadata` AWS clients read.

use keystead_core::{Algorithm, KeyState, Purpose};
use keystead_service::KeyView;
use serde_json::{json, Value};

use crate::{AwsConfig, AwsError};

/// A key reference Keystead's service understands, from an AWS `KeyId`: a key id, a key ARN,
/// an alias name or an alias ARN (a Keystead key name is accepted too).
pub(crate) fn key_ref(config: &AwsConfig, key_id: &str) -> Result<String, AwsError> {
    if key_id.is_empty() || key_id.len() > 2048 {
        return Err(AwsError::validation("KeyId must be 1 to 2048 characters"));
    }
    let Some(rest) = key_id.strip_prefix("arn:") else { return Ok(key_id.to_owned()) };
    let parts: Vec<&str> = rest.splitn(5, ':').collect();
    let [_partition, "kms", region, account, resource] = parts.as_slice() else {
        return Err(AwsError::new("NotFoundException", format!("Invalid arn {key_id}")));
    };
    if *region != config.region || *account != config.account_id {
        return Err(AwsError::new(
            "NotFoundException",
            format!(
                "{key_id} names region {region} and account {account}; this endpoint serves {} in {}",
                config.account_id, config.region
            ),
        ));
    }
    if let Some(id) = resource.strip_prefix("key/") {
        return Ok(id.to_owned());
    }
    if resource.starts_with("alias/") {
        return Ok((*resource).to_owned());
    }
    Err(AwsError::new("NotFoundException", format!("Invalid arn {key_id}")))
}

/// The ARN of a key.
pub(crate) fn key_arn(config: &AwsConfig, id: &impl std::fmt::Display) -> String {
    format!("arn:aws:kms:{}:{}:key/{id}", config.region, config.account_id)
}

/// The ARN of an alias (`alias/...`).
pub(crate) fn alias_arn(config: &AwsConfig, alias: &str) -> String {
    format!("arn:aws:kms:{}:{}:{alias}", config.region, config.account_id)
}

/// The Keystead algorithm for an AWS `KeySpec` and `KeyUsage`.
pub(crate) fn algorithm_for(spec: &str, usage: &str) -> Result<Algorithm, AwsError> {
    use Algorithm::*;
    let algorithm = match (spec, usage) {
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT") => Aes256Gcm,
        ("RSA_2048", "ENCRYPT_DECRYPT") => Rsa2048Oaep,
        ("RSA_3072", "ENCRYPT_DECRYPT") => Rsa3072Oaep,
        ("RSA_4096", "ENCRYPT_DECRYPT") => Rsa4096Oaep,
        ("RSA_2048", "SIGN_VERIFY") => Rsa2048Pss,
        ("RSA_3072", "SIGN_VERIFY") => Rsa3072Pss,
        ("RSA_4096", "SIGN_VERIFY") => Rsa4096Pss,
        ("ECC_NIST_P256", "SIGN_VERIFY") => EcdsaP256,
        ("ECC_NIST_P384", "SIGN_VERIFY") => EcdsaP384,
        ("HMAC_256", "GENERATE_VERIFY_MAC") => HmacSha256,
        ("HMAC_384", "GENERATE_VERIFY_MAC") => HmacSha384,
        ("HMAC_512", "GENERATE_VERIFY_MAC") => HmacSha512,
        (
            "SYMMETRIC_DEFAULT" | "RSA_2048" | "RSA_3072" | "RSA_4096" | "ECC_NIST_P256" | "ECC_NIST_P384"
            | "HMAC_256" | "HMAC_384" | "HMAC_512",
            "ENCRYPT_DECRYPT" | "SIGN_VERIFY" | "GENERATE_VERIFY_MAC" | "KEY_AGREEMENT",
        ) => {
            return Err(AwsError::validation(format!(
                "KeyUsage {usage} is not valid for KeySpec {spec} (Keystead: SYMMETRIC_DEFAULT and RSA_* encrypt, \
                 RSA_* and ECC_NIST_P256/P384 sign, HMAC_* make MACs)"
            )))
        }
        _ => {
            return Err(AwsError::unsupported(format!(
                "Keystead does not support KeySpec {spec} with KeyUsage {usage}"
            )))
        }
    };
    Ok(algorithm)
}

/// `KeySpec` of a Keystead algorithm.
fn key_spec(algorithm: Algorithm) -> &'static str {
    use Algorithm::*;
    match algorithm {
        Aes128Gcm | Aes256Gcm | ChaCha20Poly1305 | Aes256Kw => "SYMMETRIC_DEFAULT",
        HmacSha256 => "HMAC_256",
        HmacSha384 => "HMAC_384",
        HmacSha512 => "HMAC_512",
        EcdsaP256 => "ECC_NIST_P256",
        EcdsaP384 => "ECC_NIST_P384",
        Ed25519 => "ECC_NIST_EDWARDS25519",
        Rsa2048Pss | Rsa2048Oaep => "RSA_2048",
        Rsa3072Pss | Rsa3072Oaep => "RSA_3072",
        Rsa4096Pss | Rsa4096Oaep => "RSA_4096",
    }
}

/// `KeyUsage` of a Keystead purpose. A wrapping key has no AWS counterpart.
fn key_usage(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Encrypt | Purpose::AsymmetricDecrypt => "ENCRYPT_DECRYPT",
        Purpose::Sign => "SIGN_VERIFY",
        Purpose::Mac => "GENERATE_VERIFY_MAC",
        Purpose::Wrap => "KEYSTEAD_WRAP_KEY",
    }
}

/// The one AWS signing algorithm a Keystead signing algorithm produces.
pub(crate) fn signing_algorithm(algorithm: Algorithm) -> Option<&'static str> {
    use Algorithm::*;
    match algorithm {
        EcdsaP256 => Some("ECDSA_SHA_256"),
        EcdsaP384 => Some("ECDSA_SHA_384"),
        Ed25519 => Some("ED25519_SHA_512"),
        Rsa2048Pss => Some("RSASSA_PSS_SHA_256"),
        Rsa3072Pss => Some("RSASSA_PSS_SHA_384"),
        Rsa4096Pss => Some("RSASSA_PSS_SHA_512"),
        Aes128Gcm | Aes256Gcm | ChaCha20Poly1305 | Aes256Kw | HmacSha256 | HmacSha384 | HmacSha512
        | Rsa2048Oaep | Rsa3072Oaep | Rsa4096Oaep => None,
    }
}

/// The one AWS MAC algorithm of a Keystead MAC algorithm.
pub(crate) fn mac_algorithm(algorithm: Algorithm) -> Option<&'static str> {
    match algorithm {
        Algorithm::HmacSha256 => Some("HMAC_SHA_256"),
        Algorithm::HmacSha384 => Some("HMAC_SHA_384"),
        Algorithm::HmacSha512 => Some("HMAC_SHA_512"),
        _ => None,
    }
}

/// The AWS key state of a Keystead key: `PendingDeletion` while a destruction is scheduled,
/// `Enabled` while a version is active, `PendingImport` while an external key waits for its
/// material, else `Disabled` (pre-active, suspended, deactivated, compromised or destroyed
/// versions only).
pub(crate) fn key_state(view: &KeyView) -> &'static str {
    if view.versions.iter().any(|v| v.destroy_at.is_some() && v.destroyed_at.is_none()) {
        return "PendingDeletion";
    }
    if view.versions.iter().any(|v| v.state == KeyState::Active) {
        return "Enabled";
    }
    if view.versions.iter().any(|v| v.state == KeyState::PendingImport) {
        return "PendingImport";
    }
    "Disabled"
}

/// `KeyMetadata` as DescribeKey and CreateKey return it.
pub(crate) fn key_metadata(config: &AwsConfig, view: &KeyView) -> Value {
    let attributes = &view.attributes;
    let state = key_state(view);
    let mut metadata = json!({
        "AWSAccountId": config.account_id,
        "KeyId": attributes.id.to_string(),
        "Arn": key_arn(config, &attributes.id),
        "CreationDate": attributes.created_at.unix_timestamp(),
        "Enabled": state == "Enabled",
        "Description": attributes.description,
        "KeyUsage": key_usage(attributes.purpose),
        "KeyState": state,
        "Origin": if attributes.origin == keystead_core::key::Origin::External { "EXTERNAL" } else { "AWS_KMS" },
        "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": key_spec(attributes.algorithm),
        "KeySpec": key_spec(attributes.algorithm),
        "MultiRegion": false,
    });
    let algorithms = match attributes.purpose {
        Purpose::Encrypt => Some(("EncryptionAlgorithms", "SYMMETRIC_DEFAULT")),
        Purpose::AsymmetricDecrypt => Some(("EncryptionAlgorithms", "RSAES_OAEP_SHA_256")),
        Purpose::Sign => signing_algorithm(attributes.algorithm).map(|a| ("SigningAlgorithms", a)),
        Purpose::Mac => mac_algorithm(attributes.algorithm).map(|a| ("MacAlgorithms", a)),
        Purpose::Wrap => None,
    };
    if let (Some((field, algorithm)), Some(object)) = (algorithms, metadata.as_object_mut()) {
        object.insert(field.to_owned(), json!([algorithm]));
    }
    if let (keystead_core::key::Origin::External, Some(object)) =
        (attributes.origin, metadata.as_object_mut())
    {
        object.insert("ExpirationModel".to_owned(), json!("KEY_MATERIAL_DOES_NOT_EXPIRE"));
    }
    if let (Some(at), Some(object)) =
        (view.versions.iter().filter_map(|v| v.destroy_at).min(), metadata.as_object_mut())
    {
        object.insert("DeletionDate".to_owned(), json!(at.unix_timestamp()));
    }
    metadata
}
