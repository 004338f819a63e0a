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
    components(schemas(crate::api::ErrorBody), responses(crate::api::ErrorBody)),
    tags(
        (name = "sys", description = "Status, initialization, sealing"),
        (name = "keys", description = "Key lifecycle and metadata"),
        (name = "crypto", description = "Cryptographic operations (crypto users with a grant)"),
        (name = "audit", description = "The hash-chained audit log"),
        (name = "principals", description = "Principals and grants"),
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
