//! A secret text on the wire.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

/// Secret text in a body: a plaintext (base64), a token, an unseal or backup share, a webhook
/// secret. Zeroized on drop; `Debug` prints only the length; no `Clone`, `Display`,
/// `PartialEq` or `Hash`. It serializes as a plain JSON string because carrying it is the
/// point of the body it is in.
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Takes ownership of the text.
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// The secret text. Named so that every use is visible in review.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Default for Secret {
    fn default() -> Self {
        Self::new(String::new())
    }
}

impl From<String> for Secret {
    fn from(text: String) -> Self {
        Self::new(text)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes, redacted)", self.0.len())
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    /// A decoding error never quotes the input: serde's "invalid type: ..." would echo a
    /// secret sent where a number was expected.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Zeroizing::<String>::deserialize(deserializer)
            .map(Self)
            .map_err(|_| serde::de::Error::custom("expected a secret text (a JSON string)"))
    }
}

impl utoipa::PartialSchema for Secret {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("Secret text: shown once, never logged"))
            .into()
    }
}

impl utoipa::ToSchema for Secret {}

/// A list of secret texts (unseal or backup shares). A decoding error never quotes them:
/// serde's "invalid type: string ..., expected a sequence" would echo a share sent where a
/// list was expected.
#[derive(Debug, Default)]
pub struct SecretList(pub Vec<Secret>);

impl FromIterator<Secret> for SecretList {
    fn from_iter<I: IntoIterator<Item = Secret>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl Serialize for SecretList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SecretList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<Secret>::deserialize(deserializer)
            .map(Self)
            .map_err(|_| serde::de::Error::custom("expected a list of secret texts (JSON strings)"))
    }
}

impl utoipa::PartialSchema for SecretList {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(Secret::schema())
            .description(Some("Secret texts: shown once, never logged"))
            .into()
    }
}

impl utoipa::ToSchema for SecretList {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_and_serde_round_trips() {
        let secret = Secret::new("SECRET-MARKER".into());
        let shown = format!("{secret:?}");
        assert!(!shown.contains("SECRET-MARKER"), "{shown}");
        let json = serde_json::to_string(&secret).expect("serializes");
        assert_eq!(json, "\"SECRET-MARKER\"");
        let back: Secret = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back.expose_secret(), "SECRET-MARKER");
    }

    #[test]
    fn decoding_errors_do_not_quote_the_input() {
        let err = serde_json::from_str::<Secret>("[\"SECRET-MARKER\"]").expect_err("refused");
        assert!(!err.to_string().contains("SECRET-MARKER"), "{err}");
        let err = serde_json::from_str::<SecretList>("\"SECRET-MARKER\"").expect_err("refused");
        assert!(!err.to_string().contains("SECRET-MARKER"), "{err}");
        let list: SecretList = serde_json::from_str("[\"a\", \"b\"]").expect("a list");
        assert_eq!(list.0.len(), 2);
    }
}

/// Compile-time guard: a secret must never gain an impl that could copy or print it.
#[cfg(test)]
mod no_leaky_impls {
    use std::fmt::Display;
    use std::hash::Hash;

    use static_assertions::assert_not_impl_any;

    assert_not_impl_any!(super::Secret: Clone, Copy, Display, PartialEq, Hash);
    assert_not_impl_any!(super::SecretList: Clone, Copy, Display, PartialEq, Hash);
    assert_not_impl_any!(crate::crypto::Plaintext: Clone, Display);
    assert_not_impl_any!(crate::crypto::DataKey: Clone, Display);
    assert_not_impl_any!(crate::principals::CreatedPrincipal: Clone, Display);
    assert_not_impl_any!(crate::sys::Initialized: Clone, Display);
    assert_not_impl_any!(crate::sys::Unseal: Clone, Display);
    assert_not_impl_any!(crate::oversight::AddedWebhook: Clone, Display);
    assert_not_impl_any!(crate::recovery::CollectedShare: Clone, Display);
}
