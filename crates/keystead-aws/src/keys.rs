//! Key management operations: CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey, the
//! alias operations and GetPublicKey.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keystead_core::KeyState;
use keystead_service::{CreateKeyRequest, KeyListFilter};
use serde_json::{json, Value};

use crate::names::{self, alias_arn, key_arn, key_metadata};
use crate::{AwsError, Call};

pub(crate) async fn create_key(call: &Call<'_>) -> Result<Value, AwsError> {
    let spec = match (call.text("KeySpec")?, call.text("CustomerMasterKeySpec")?) {
        (Some(spec), _) | (None, Some(spec)) => spec,
        (None, None) => "SYMMETRIC_DEFAULT",
    };
    let usage = call.text("KeyUsage")?.unwrap_or("ENCRYPT_DECRYPT");
    let origin = match call.text("Origin")?.unwrap_or("AWS_KMS") {
        "AWS_KMS" => None,
        "EXTERNAL" => Some("external".to_owned()),
        other => return Err(AwsError::unsupported(format!("Keystead does not support Origin {other}"))),
    };
    if call.body.get("MultiRegion").and_then(Value::as_bool) == Some(true) {
        return Err(AwsError::unsupported("Keystead keys are not multi-Region keys"));
    }
    let algorithm = names::algorithm_for(spec, usage)?;
    let labels = match call.body.get("Tags") {
        Some(_) => call.tags()?,
        None => std::collections::BTreeMap::new(),
    };
    // AWS keys have no name; Keystead's need one, unique in the tenant.
    let name = format!(
        "aws-{}",
        hex::encode(keystead_crypto::random_array::<8>().map_err(keystead_service::Error::from)?)
    );
    let request = CreateKeyRequest {
        name,
        purpose: algorithm.purpose().as_str().to_owned(),
        algorithm: algorithm.as_str().to_owned(),
        description: call.text("Description")?.map(str::to_owned),
        labels,
        origin,
        ..CreateKeyRequest::default()
    };
    let view = call.service().create_key(&call.caller, request).await?;
    Ok(json!({ "KeyMetadata": key_metadata(call.config(), &view) }))
}

pub(crate) async fn describe_key(call: &Call<'_>) -> Result<Value, AwsError> {
    let key = call.key_ref("KeyId")?;
    let view = call.service().describe_key(&call.caller, None, &key).await?;
    Ok(json!({ "KeyMetadata": key_metadata(call.config(), &view) }))
}

/// `Limit` (1 to 1000, 100 by default) and `Marker` (the last id of the previous page).
fn page<T>(
    call: &Call<'_>,
    items: Vec<T>,
    id: impl Fn(&T) -> String,
) -> Result<(Vec<T>, Option<String>), AwsError> {
    let limit = call.number("Limit")?.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AwsError::validation("Limit must be 1 to 1000"));
    }
    let start = match call.text("Marker")? {
        None => 0,
        Some(marker) => items.iter().position(|item| id(item) == marker).map(|i| i + 1).ok_or_else(|| {
            AwsError::new("InvalidMarkerException", "the Marker is not one this endpoint returned")
        })?,
    };
    let mut items: Vec<T> = items.into_iter().skip(start).collect();
    let limit = usize::try_from(limit).unwrap_or(1000);
    let next = (items.len() > limit).then(|| id(&items[limit - 1]));
    items.truncate(limit);
    Ok((items, next))
}

pub(crate) async fn list_keys(call: &Call<'_>) -> Result<Value, AwsError> {
    let filter = KeyListFilter { all: true, ..KeyListFilter::default() };
    let mut keys = call.service().list_keys(&call.caller, filter).await?;
    keys.sort_by_key(|k| k.attributes.id.to_string());
    let (keys, next) = page(call, keys, |k| k.attributes.id.to_string())?;
    let listed: Vec<Value> = keys
        .iter()
        .map(|k| json!({ "KeyId": k.attributes.id.to_string(), "KeyArn": key_arn(call.config(), &k.attributes.id) }))
        .collect();
    Ok(with_marker(json!({ "Keys": listed }), next))
}

fn with_marker(mut value: Value, next: Option<String>) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.insert("Truncated".into(), json!(next.is_some()));
        if let Some(marker) = next {
            object.insert("NextMarker".into(), json!(marker));
        }
    }
    value
}

/// EnableKey resumes a suspended key or activates a pre-active one; DisableKey suspends an
/// active one. Either is a no-op when the key is already so, as in AWS.
pub(crate) async fn enable_key(call: &Call<'_>, enable: bool) -> Result<Value, AwsError> {
    let key = call.key_ref("KeyId")?;
    let service = call.service();
    let view = service.describe_key(&call.caller, None, &key).await?;
    let has = |state: KeyState| view.versions.iter().any(|v| v.state == state);
    let id = view.attributes.id.to_string();
    match (enable, names::key_state(&view)) {
        (_, "PendingDeletion") => {
            return Err(AwsError::new(
                "KMSInvalidStateException",
                format!("{} is pending deletion; cancel the deletion first", key_arn(call.config(), &id)),
            ))
        }
        (true, "Enabled") | (false, "Disabled") => {}
        (true, _) if has(KeyState::Suspended) => {
            service.resume_key(&call.caller, None, &id, None).await?;
        }
        (true, _) if has(KeyState::PreActive) => {
            service.activate_key(&call.caller, None, &id, None).await?;
        }
        (true, _) => {
            let arn = key_arn(call.config(), &id);
            let why =
                "has no suspended or pre-active version to enable (deactivated, compromised or destroyed)";
            return Err(AwsError::new("KMSInvalidStateException", format!("{arn} {why}")));
        }
        (false, _) => {
            service.suspend_key(&call.caller, None, &id, None).await?;
        }
    }
    Ok(json!({}))
}

fn alias_name(call: &Call<'_>) -> Result<String, AwsError> {
    let alias = call.required("AliasName")?;
    let alias = match alias.strip_prefix("arn:") {
        Some(_) => names::key_ref(call.config(), alias)?,
        None => alias.to_owned(),
    };
    if alias.starts_with("alias/aws/") {
        return Err(AwsError::validation(
            "alias names starting with alias/aws/ are reserved for AWS managed keys",
        ));
    }
    Ok(alias)
}

pub(crate) async fn create_alias(call: &Call<'_>) -> Result<Value, AwsError> {
    let alias = alias_name(call)?;
    let key = call.key_ref("TargetKeyId")?;
    call.service().create_alias(&call.caller, None, &alias, &key).await?;
    Ok(json!({}))
}

pub(crate) async fn update_alias(call: &Call<'_>) -> Result<Value, AwsError> {
    let alias = alias_name(call)?;
    let key = call.key_ref("TargetKeyId")?;
    call.service().update_alias(&call.caller, None, &alias, &key).await?;
    Ok(json!({}))
}

pub(crate) async fn delete_alias(call: &Call<'_>) -> Result<Value, AwsError> {
    let alias = alias_name(call)?;
    call.service().delete_alias(&call.caller, None, &alias).await?;
    Ok(json!({}))
}

pub(crate) async fn list_aliases(call: &Call<'_>) -> Result<Value, AwsError> {
    let service = call.service();
    let mut aliases = service.list_aliases(&call.caller, None).await?;
    if call.text("KeyId")?.is_some() {
        let key = call.key_ref("KeyId")?;
        let id = service.describe_key(&call.caller, None, &key).await?.attributes.id;
        aliases.retain(|a| a.record.key_id == id);
    }
    aliases.sort_by(|a, b| a.record.alias.cmp(&b.record.alias));
    let (aliases, next) = page(call, aliases, |a| a.record.alias.clone())?;
    let listed: Vec<Value> = aliases
        .iter()
        .map(|a| {
            json!({
                "AliasName": a.record.alias,
                "AliasArn": alias_arn(call.config(), &a.record.alias),
                "TargetKeyId": a.record.key_id.to_string(),
                "CreationDate": a.record.created_at.unix_timestamp(),
                "LastUpdatedDate": a.record.updated_at.unix_timestamp(),
            })
        })
        .collect();
    Ok(with_marker(json!({ "Aliases": listed }), next))
}

pub(crate) async fn get_public_key(call: &Call<'_>) -> Result<Value, AwsError> {
    let key = call.key_ref("KeyId")?;
    let service = call.service();
    let view = service.describe_key(&call.caller, None, &key).await?;
    let id = view.attributes.id.to_string();
    let pem_text = service.public_key(&call.caller, None, &id, None).await?;
    let der = pem::parse(pem_text)
        .map_err(|_| AwsError::new("KMSInternalException", "the stored public key does not parse"))?;
    let mut value = key_metadata(call.config(), &view);
    let mut out = json!({
        "KeyId": key_arn(call.config(), &id),
        "PublicKey": STANDARD.encode(der.contents()),
    });
    if let (Some(out), Some(metadata)) = (out.as_object_mut(), value.as_object_mut()) {
        for field in
            ["KeySpec", "CustomerMasterKeySpec", "KeyUsage", "EncryptionAlgorithms", "SigningAlgorithms"]
        {
            if let Some(v) = metadata.remove(field) {
                out.insert(field.to_owned(), v);
            }
        }
    }
    Ok(out)
}
