//! The OpenAPI 3 document served at `/v1/openapi.json`. Paths come from the handlers'
//! annotations through the router itself; this adds what is common to all of them.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::Modify;

/// The document's fixed parts: title, security schemes, tags.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Keystead",
        description = "Key management that enforces key generation, purpose, inventory, compromise and recovery controls. Binary fields are standard base64. Errors carry a stable code."
    ),
    modifiers(&Security),
    security(("bearer" = []), ("mtls" = [])),
    components(schemas(keystead_api::ErrorBody, keystead_api::recovery::BackupStart), responses(keystead_api::ErrorBody)),
    tags(
        (name = "sys", description = "Status, initialization, sealing"),
        (name = "keys", description = "Key lifecycle and metadata"),
        (name = "crypto", description = "Cryptographic operations (crypto users with a grant)"),
        (name = "audit", description = "The hash-chained audit log"),
        (name = "principals", description = "Principals and grants"),
        (name = "approvals", description = "Quorum approvals and compromised-key exceptions"),
        (name = "webhooks", description = "Notifications to other systems"),
        (name = "inventory", description = "Inventory, reviews, anomalies and reports"),
        (name = "recovery", description = "Backups, restores and drills"),
    )
)]
pub struct ApiDoc;

/// Bearer tokens (`kst_…`) and client certificates whose subject CN names a principal.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A principal's token, `kst_…`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "mtls",
            SecurityScheme::MutualTls {
                description: Some(
                    "A client certificate from the configured client CA; its subject CN names the principal"
                        .into(),
                ),
                extensions: None,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// Schemas that are free-form objects on purpose, by JSON pointer, with why.
    const FREE_FORM: &[(&str, &str)] = &[(
        "/components/schemas/Evidence/properties/value",
        "a compliance figure: a count, a flag, a text or a list, each figure its own shape",
    )];

    /// Collects the JSON pointers of object schemas that say nothing of their fields.
    fn untyped_objects(node: &Value, pointer: &str, found: &mut Vec<String>) {
        match node {
            Value::Object(map) => {
                let is_object = match map.get("type") {
                    Some(Value::String(t)) => t == "object",
                    Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
                    _ => false,
                };
                let additional_typed = matches!(map.get("additionalProperties"), Some(Value::Object(inner)) if !inner.is_empty());
                let described = map.contains_key("properties")
                    || additional_typed
                    || ["allOf", "oneOf", "anyOf", "$ref"].iter().any(|k| map.contains_key(*k));
                if is_object && !described {
                    found.push(pointer.to_owned());
                }
                for (key, value) in map {
                    let escaped = key.replace('~', "~0").replace('/', "~1");
                    untyped_objects(value, &format!("{pointer}/{escaped}"), found);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    untyped_objects(item, &format!("{pointer}/{i}"), found);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn every_schema_is_typed_outside_the_allow_list() {
        let document = serde_json::to_value(crate::openapi()).expect("the document serializes");
        let mut found = Vec::new();
        untyped_objects(&document, "", &mut found);
        found.retain(|pointer| !FREE_FORM.iter().any(|(allowed, _)| allowed == pointer));
        assert!(found.is_empty(), "untyped object schemas: {found:#?}");
    }

    #[test]
    fn every_success_response_has_a_body_schema() {
        let document = serde_json::to_value(crate::openapi()).expect("the document serializes");
        let paths = document["paths"].as_object().expect("paths");
        assert!(paths.len() > 40, "only {} paths", paths.len());
        let mut missing = Vec::new();
        for (path, operations) in paths {
            for (method, operation) in operations.as_object().expect("operations") {
                let ok = &operation["responses"]["200"];
                let has_schema = ok["content"]
                    .as_object()
                    .is_some_and(|content| content.values().all(|media| media.get("schema").is_some()));
                if !has_schema {
                    missing.push(format!("{method} {path}"));
                }
            }
        }
        assert!(missing.is_empty(), "200 responses without a schema: {missing:#?}");
    }

    /// The detector itself: it must flag a bare object and pass typed ones.
    #[test]
    fn the_detector_flags_a_bare_object() {
        let sample = serde_json::json!({
            "a": {"type": "object"},
            "b": {"type": "object", "properties": {"x": {"type": "string"}}},
            "c": {"type": "object", "additionalProperties": {"type": "string"}},
            "d": {"type": ["object", "null"]},
        });
        let mut found = Vec::new();
        super::tests::untyped_objects(&sample, "", &mut found);
        found.sort();
        assert_eq!(found, vec!["/a".to_owned(), "/d".to_owned()]);
    }
}
