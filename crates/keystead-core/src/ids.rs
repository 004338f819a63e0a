//! Identifier newtypes. Every identifier has its own type so that a key id is never passed
//! where a tenant is expected.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Error;

fn check_label(what: &'static str, value: &str, max_len: usize, expected: &'static str) -> Result<(), Error> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let starts_well = value.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if value.is_empty() || value.len() > max_len || !starts_well || !value.chars().all(valid_char) {
        return Err(Error::InvalidValue { what, value: value.chars().take(80).collect(), expected });
    }
    Ok(())
}

macro_rules! label_newtype {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and validates the text.
            pub fn new(value: impl Into<String>) -> Result<Self, Error> {
                let value = value.into();
                check_label(
                    $what,
                    &value,
                    $max,
                    concat!("1 to ", $max, " characters of a-z, A-Z, 0-9, '-', '_' or '.', starting with a letter or digit"),
                )?;
                Ok(Self(value))
            }

            /// The text form.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(value: String) -> Result<Self, Error> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}

label_newtype!(
    /// A tenant: the isolation boundary that owns keys.
    Tenant, "tenant", 64
);
label_newtype!(
    /// A key's name, unique within its tenant.
    KeyName, "key name", 128
);
label_newtype!(
    /// The name of a principal (a person or a workload that holds a token).
    PrincipalName, "principal name", 128
);
label_newtype!(
    /// The name of a server node; audit chains are kept per node.
    NodeName, "node name", 128
);

impl Tenant {
    /// The tenant used when a request names none.
    pub fn default_tenant() -> Self {
        Self("default".to_owned())
    }
}

/// A key's immutable id: a UUID, generated at creation, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(uuid::Uuid);

impl KeyId {
    /// Builds an id from 16 random bytes supplied by the crypto provider.
    pub fn from_random_bytes(bytes: [u8; 16]) -> Self {
        Self(uuid::Builder::from_random_bytes(bytes).into_uuid())
    }

    /// The id's 16 bytes (the binary envelope form carries them).
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.into_bytes()
    }

    /// The id whose 16 bytes these are.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(uuid::Uuid::from_bytes(bytes))
    }

    /// Parses the hyphenated UUID form.
    pub fn parse(text: &str) -> Result<Self, Error> {
        uuid::Uuid::try_parse(text).map(Self).map_err(|_| Error::InvalidValue {
            what: "key id",
            value: text.chars().take(80).collect(),
            expected: "a UUID such as 0b5c3f7e-1f9a-4c37-9d1b-2a9e6d7c8b10",
        })
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// An alias of a key: `alias/` and 1 to 250 characters of a-z, A-Z, 0-9, `/`, `_` or `-`
/// (the form AWS KMS uses). The prefix keeps aliases apart from key names, which cannot hold
/// a `/`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AliasName(String);

impl AliasName {
    /// The prefix every alias starts with.
    pub const PREFIX: &'static str = "alias/";

    /// Parses and validates the text.
    pub fn new(value: impl Into<String>) -> Result<Self, Error> {
        let value = value.into();
        let rest = value.strip_prefix(Self::PREFIX).unwrap_or_default();
        let valid = (1..=250).contains(&rest.len())
            && rest.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-'));
        if !valid {
            return Err(Error::InvalidValue {
                what: "alias",
                value: value.chars().take(80).collect(),
                expected: "alias/ followed by 1 to 250 characters of a-z, A-Z, 0-9, '/', '_' or '-', e.g. alias/prompts",
            });
        }
        Ok(Self(value))
    }

    /// The text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AliasName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for AliasName {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Error> {
        Self::new(value)
    }
}

impl From<AliasName> for String {
    fn from(value: AliasName) -> String {
        value.0
    }
}

/// How a request names a key: by id, by name within a tenant, or by an alias of its tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyRef {
    /// The key's id.
    Id(KeyId),
    /// The key's name.
    Name(KeyName),
    /// An alias of the key.
    Alias(AliasName),
}

impl KeyRef {
    /// A UUID is taken as an id, `alias/...` as an alias, anything else as a name.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text.starts_with(AliasName::PREFIX) {
            return AliasName::new(text).map(Self::Alias);
        }
        match KeyId::parse(text) {
            Ok(id) => Ok(Self::Id(id)),
            Err(_) => KeyName::new(text).map(Self::Name),
        }
    }
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => id.fmt(f),
            Self::Name(name) => name.fmt(f),
            Self::Alias(alias) => alias.fmt(f),
        }
    }
}

/// A key version number, starting at 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VersionNumber(u32);

impl VersionNumber {
    /// The first version of every key.
    pub const FIRST: Self = Self(1);

    /// A version number; zero is not one.
    pub fn new(number: u32) -> Result<Self, Error> {
        if number == 0 {
            return Err(Error::InvalidValue {
                what: "version",
                value: "0".into(),
                expected: "a version number starting at 1",
            });
        }
        Ok(Self(number))
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }

    /// The version after this one.
    pub fn next(self) -> Option<Self> {
        self.0.checked_add(1).map(Self)
    }
}

impl fmt::Display for VersionNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_validated_and_parsed_apart_from_names() {
        for good in ["alias/prompts", "alias/team/prompts-v2", "alias/a_b"] {
            assert!(matches!(KeyRef::parse(good), Ok(KeyRef::Alias(_))), "{good}");
        }
        for bad in ["alias/", "alias/has space", "alias/é", &format!("alias/{}", "a".repeat(251))] {
            assert!(KeyRef::parse(bad).is_err(), "{bad}");
            assert!(AliasName::new(bad).is_err(), "{bad}");
        }
        assert!(AliasName::new("prompts").is_err(), "the prefix is required");
        assert!(matches!(KeyRef::parse("prompts"), Ok(KeyRef::Name(_))));
    }

    #[test]
    fn names_are_validated() {
        assert!(KeyName::new("prompts").is_ok());
        assert!(KeyName::new("release-signer_v2.0").is_ok());
        for bad in ["", "-lead", "has space", "a:b", "ünï", &"x".repeat(129)] {
            assert!(KeyName::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn key_ref_prefers_id() {
        let id = KeyId::from_random_bytes([7; 16]);
        assert_eq!(KeyRef::parse(&id.to_string()), Ok(KeyRef::Id(id)));
        assert_eq!(KeyRef::parse("prompts"), Ok(KeyRef::Name(KeyName::new("prompts").unwrap())));
    }

    #[test]
    fn version_zero_is_refused() {
        assert!(VersionNumber::new(0).is_err());
        assert_eq!(VersionNumber::FIRST.next().map(VersionNumber::get), Some(2));
    }
}
