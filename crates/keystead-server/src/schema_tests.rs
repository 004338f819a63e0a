//! The OpenAPI document against serde: for every schema in the document, a sample built from
//! the schema alone must deserialize into the Rust type of that name and serialize back to
//! the same JSON. So the document describes the JSON exactly, and every wire type round-trips.

use std::collections::BTreeSet;

use keystead_api::audit::*;
use keystead_api::crypto::*;
use keystead_api::inventory::*;
use keystead_api::keys::*;
use keystead_api::oversight::*;
use keystead_api::principals::*;
use keystead_api::recovery::*;
use keystead_api::report::*;
use keystead_api::sys::*;
use keystead_api::{ErrorBody, ErrorCode, ErrorDetail};
use serde_json::{json, Map, Value};

/// A JSON instance of `schema`, with every optional part present.
fn sample(document: &Value, schema: &Value, depth: usize) -> Value {
    assert!(depth < 32, "schema nesting too deep (a cycle?)");
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return sample(document, &document["components"]["schemas"][name], depth + 1);
    }
    if let Some(parts) = schema["allOf"].as_array() {
        let mut merged = Map::new();
        for part in parts {
            if let Value::Object(fields) = sample(document, part, depth + 1) {
                merged.extend(fields);
            }
        }
        return Value::Object(merged);
    }
    if let Some(choices) = schema["oneOf"].as_array().or_else(|| schema["anyOf"].as_array()) {
        let first = choices.iter().find(|c| c["type"] != "null").expect("a non-null choice");
        return sample(document, first, depth + 1);
    }
    if let Some(values) = schema["enum"].as_array() {
        return values.first().cloned().expect("an enum value");
    }
    let kind = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(types) => {
            types.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("null").to_owned()
        }
        _ => "object".to_owned(),
    };
    match kind.as_str() {
        "string" if schema["format"] == "date-time" => json!("2026-01-02T03:04:05Z"),
        "string" => json!("text"),
        "integer" => json!(7),
        "number" => json!(7.5),
        "boolean" => json!(true),
        "array" => json!([sample(document, &schema["items"], depth + 1)]),
        "object" => {
            let mut fields = Map::new();
            if let Some(properties) = schema["properties"].as_object() {
                for (name, property) in properties {
                    fields.insert(name.clone(), sample(document, property, depth + 1));
                }
            }
            if let Some(inner) = schema["additionalProperties"].as_object().filter(|m| !m.is_empty()) {
                fields.insert("some-key".into(), sample(document, &Value::Object(inner.clone()), depth + 1));
            }
            Value::Object(fields)
        }
        other => panic!("unexpected schema type {other}"),
    }
}

/// Checks one named schema against its Rust type.
macro_rules! conforms {
    ($document:expr, $checked:expr, $($ty:ident),+ $(,)?) => {$(
        let name = stringify!($ty);
        let schema = &$document["components"]["schemas"][name];
        assert!(!schema.is_null(), "{name} is not in the document");
        let instance = sample(&$document, schema, 0);
        let value: $ty = serde_json::from_value(instance.clone())
            .unwrap_or_else(|err| panic!("{name}: the schema's sample does not deserialize: {err}\n{instance:#}"));
        let back = serde_json::to_value(&value).expect("serializes");
        assert_eq!(back, instance, "{name}: the round trip changed the JSON");
        $checked.insert(name);
    )+};
}

#[test]
fn every_schema_matches_its_type_and_round_trips() {
    let document = serde_json::to_value(crate::openapi()).expect("the document serializes");
    let mut checked = BTreeSet::new();
    conforms!(
        document,
        checked,
        ErrorBody,
        ErrorDetail,
        ErrorCode,
        CreateKey,
        UpdateKey,
        CreateAlias,
        UpdateAlias,
        Alias,
        Key,
        KeyVersion,
        VersionUsage,
        Provenance,
        ImportMark,
        ImportParamsRequest,
        ImportParams,
        ImportKey,
        RecoveryMark,
        CompromiseReport,
        PublicKey,
        VersionBody,
        Encrypt,
        GenerateDataKey,
        Decrypt,
        Message,
        Wrap,
        Unwrap,
        Rewrap,
        Ciphertext,
        Plaintext,
        Signature,
        Validity,
        Wrapped,
        DataKey,
        Rewrapped,
        CreatePrincipal,
        UpdatePrincipal,
        RevokeGrant,
        Principal,
        CreatedPrincipal,
        AccessKey,
        CreatedAccessKey,
        AddGrant,
        Grant,
        Compromise,
        Destroy,
        RequestException,
        VoteBody,
        Approval,
        ApprovalPolicy,
        Vote,
        AddWebhook,
        Webhook,
        AddedWebhook,
        Delivery,
        AuditEvent,
        ChainReport,
        ChainBreak,
        ChainStatus,
        ExportLine,
        ArchiveRange,
        ArchivePlan,
        CommitArchive,
        ArchiveDone,
        CanonicalEvent,
        InventoryPage,
        InventoryItem,
        Review,
        ReviewRecord,
        Anomaly,
        InventoryReport,
        InventoryTotals,
        InventoryRow,
        ComplianceReport,
        ControlStatus,
        ControlAssessment,
        Evidence,
        RecoveryAssessment,
        KeyAssessment,
        CreateBackup,
        BackupStart,
        RecoveryRequest,
        RestoreBackup,
        DrillBackup,
        RestoreReport,
        RestoredKey,
        ConflictingKey,
        BackedUpKey,
        DrillReport,
        DrillFailure,
        CollectedShare,
        ServerStatus,
        SealStatus,
        Init,
        Initialized,
        Unseal,
    );
    let in_document: BTreeSet<&str> =
        document["components"]["schemas"].as_object().expect("schemas").keys().map(String::as_str).collect();
    // Secret texts are plain strings in the document, checked by their own tests.
    let unchecked: Vec<&&str> = in_document
        .iter()
        .filter(|name| !checked.contains(*name) && !["Secret", "SecretList"].contains(*name))
        .collect();
    assert!(unchecked.is_empty(), "schemas with no conformance check: {unchecked:?}");
}
