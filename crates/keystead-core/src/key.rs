//! The key model: a named, purpose-bound container of versions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::algorithm::named_enum;
use crate::{Algorithm, Environment, Error, KeyId, KeyName, KeyState, Purpose, Tenant, UsageContext};

/// How sensitive the data a key protects is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs, reason = "variant names are the classification names")]
pub enum Classification {
    Public,
    Internal,
    Confidential,
    Restricted,
}

named_enum!(Classification, "classification", [
    Public => "public",
    Internal => "internal",
    Confidential => "confidential",
    Restricted => "restricted",
]);

/// How badly the business suffers if the key is lost (input to the recovery policy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs, reason = "variant names are the criticality names")]
pub enum Criticality {
    Low,
    Medium,
    High,
    Critical,
}

named_enum!(Criticality, "criticality", [
    Low => "low",
    Medium => "medium",
    High => "high",
    Critical => "critical",
]);

/// Where a key's material came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs, reason = "variant names are the origin names")]
pub enum Origin {
    Generated,
    Imported,
}

named_enum!(Origin, "origin", [
    Generated => "generated",
    Imported => "imported",
]);

/// Free-form `k=v` labels on a key, validated and ordered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<String, String>", into = "BTreeMap<String, String>")]
pub struct Labels(BTreeMap<String, String>);

impl Labels {
    /// At most this many labels per key.
    pub const MAX: usize = 64;

    /// Validates keys (like names) and values (printable, at most 256 bytes).
    pub fn new(map: BTreeMap<String, String>) -> Result<Self, Error> {
        if map.len() > Self::MAX {
            return Err(Error::InvalidValue {
                what: "labels",
                value: format!("{} labels", map.len()),
                expected: "at most 64 labels",
            });
        }
        for (k, v) in &map {
            KeyName::new(k.clone()).map_err(|_| Error::InvalidValue {
                what: "label key",
                value: k.chars().take(80).collect(),
                expected: "1 to 128 characters of a-z, A-Z, 0-9, '-', '_' or '.'",
            })?;
            if v.len() > 256 || v.chars().any(char::is_control) {
                return Err(Error::InvalidValue {
                    what: "label value",
                    value: v.chars().take(80).collect(),
                    expected: "at most 256 printable characters",
                });
            }
        }
        Ok(Self(map))
    }

    /// The labels as a map.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// Whether every label in `wanted` is present with the same value.
    pub fn contains_all(&self, wanted: &BTreeMap<String, String>) -> bool {
        wanted.iter().all(|(k, v)| self.0.get(k) == Some(v))
    }
}

impl TryFrom<BTreeMap<String, String>> for Labels {
    type Error = Error;
    fn try_from(map: BTreeMap<String, String>) -> Result<Self, Error> {
        Self::new(map)
    }
}

impl From<Labels> for BTreeMap<String, String> {
    fn from(labels: Labels) -> Self {
        labels.0
    }
}

/// A key's attributes: everything but its versions. Immutable fields (id, tenant, purpose,
/// algorithm, environment) are also bound into every version's sealed material.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAttributes {
    /// Immutable id.
    pub id: KeyId,
    /// Owning tenant.
    pub tenant: Tenant,
    /// Name, unique per tenant.
    pub name: KeyName,
    /// The one purpose.
    pub purpose: Purpose,
    /// The algorithm of every version.
    pub algorithm: Algorithm,
    /// The function the key serves.
    pub usage_context: UsageContext,
    /// The team or person answerable for the key.
    pub owner: String,
    /// What the key is for, in its owner's words (may be empty).
    #[serde(default)]
    pub description: String,
    /// The environment the key belongs to.
    pub environment: Environment,
    /// The classification of the data it protects.
    pub classification: Classification,
    /// Free-form labels.
    pub labels: Labels,
    /// Generated here or imported.
    pub origin: Origin,
    /// Rotate after this many seconds, if set.
    pub rotation_period_seconds: Option<i64>,
    /// The originator-usage period (NIST SP 800-57 §5.3): a version protects for at most
    /// this many seconds after its activation, then deactivates on its own.
    #[serde(default)]
    pub protect_period_seconds: Option<i64>,
    /// Whether the key is included in backups.
    pub recoverable: bool,
    /// Business criticality.
    pub criticality: Criticality,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change of the key or any of its versions.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The record of how a version's material was generated (CEK-10).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The cryptographic library that generated the material.
    pub library: String,
    /// Its version, read from the linked crate at build time.
    pub library_version: String,
    /// The underlying C library and its version.
    pub backend: String,
    /// Whether the library runs in its FIPS 140-3 validated mode.
    pub fips: bool,
    /// The deterministic random bit generator and its standard.
    pub rng: String,
    /// Where the DRBG's seed comes from.
    pub entropy_source: String,
    /// The algorithm generated.
    pub algorithm: Algorithm,
    /// Its security strength.
    pub security_strength_bits: u32,
    /// When the material was generated.
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// The environment of the server that generated it.
    pub environment: Environment,
    /// The node that generated it.
    pub node: String,
    /// Whether the material was generated here or imported.
    pub origin: Origin,
    /// Set when the version was restored from a backup (CEK-20): the material is the one
    /// generated as recorded above, brought back by a recovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<RecoveryMark>,
}

/// How a version came back from a backup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryMark {
    /// The backup bundle it was restored from.
    pub backup_id: String,
    /// When the backup was made.
    #[serde(with = "time::serde::rfc3339")]
    pub backed_up_at: OffsetDateTime,
    /// When it was restored.
    #[serde(with = "time::serde::rfc3339")]
    pub restored_at: OffsetDateTime,
    /// Who restored it.
    pub restored_by: String,
    /// The node it was restored on.
    pub node: String,
    /// The approved recovery request, or `break-glass` for an emergency restore.
    pub authorized_by: String,
}

/// One version of a key, without its material.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// Version number.
    pub number: crate::VersionNumber,
    /// Lifecycle state.
    pub state: KeyState,
    /// Key check value: identifies the material without revealing it.
    pub kcv: String,
    /// DER SubjectPublicKeyInfo for asymmetric keys (served as PEM by `key public`).
    #[serde(skip)]
    pub public_key_der: Option<Vec<u8>>,
    /// How the material was generated.
    pub provenance: Provenance,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it became active.
    #[serde(with = "time::serde::rfc3339::option")]
    pub activated_at: Option<OffsetDateTime>,
    /// When it was suspended (cleared on resume).
    #[serde(with = "time::serde::rfc3339::option")]
    pub suspended_at: Option<OffsetDateTime>,
    /// When it was deactivated.
    #[serde(with = "time::serde::rfc3339::option")]
    pub deactivated_at: Option<OffsetDateTime>,
    /// The compromise report, once the version is compromised.
    #[serde(default)]
    pub compromise: Option<CompromiseRecord>,
    /// When its approved destruction runs, while one is scheduled.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub destroy_at: Option<OffsetDateTime>,
    /// When its material was destroyed.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub destroyed_at: Option<OffsetDateTime>,
}

/// What was reported when a version was declared compromised (CEK-19).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompromiseRecord {
    /// The incident (security event record) the compromise belongs to.
    pub incident: String,
    /// When the compromise happened, as far as is known: data protected after it is suspect.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// When it was reported to Keystead.
    #[serde(with = "time::serde::rfc3339")]
    pub reported_at: OffsetDateTime,
    /// Who reported it.
    pub reported_by: String,
    /// Why the version is considered compromised.
    pub reason: String,
}

/// Parses `k=v` pairs (command-line `--label k=v` / `--context k=v`, or the items of a
/// comma-separated `label=k=v,k2=v2` query) into a map. The one parser of that syntax: the
/// CLI and the REST adapter both use it. Validation of the names is the caller's (see
/// [`Labels::new`]).
pub fn parse_pairs<'a>(
    what: &'static str,
    items: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeMap<String, String>, Error> {
    items
        .into_iter()
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| {
                Error::InvalidValue { what, value: item.chars().take(80).collect(), expected: "key=value" }
            })
        })
        .collect()
}

/// The longest duration accepted anywhere: 100 years. Times computed from it stay far inside
/// the representable range, on every backend.
pub const MAX_DURATION_SECONDS: i64 = 36_525 * 86_400;

/// Parses a duration such as `90d`, `12h`, `30m` or `3600s` into seconds (at most 100 years).
pub fn parse_duration_seconds(text: &str) -> Result<i64, Error> {
    let invalid = || Error::InvalidValue {
        what: "duration",
        value: text.chars().take(40).collect(),
        expected: "a positive number followed by s, m, h or d, such as 90d, of at most 36525d",
    };
    let split = text.len().checked_sub(1).ok_or_else(invalid)?;
    if !text.is_char_boundary(split) {
        return Err(invalid());
    }
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| invalid())?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(invalid()),
    };
    match number.checked_mul(scale) {
        Some(seconds) if number > 0 && seconds <= MAX_DURATION_SECONDS => Ok(seconds),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_seconds("90d"), Ok(90 * 86_400));
        assert_eq!(parse_duration_seconds("2h"), Ok(7_200));
        assert_eq!(parse_duration_seconds("36525d"), Ok(MAX_DURATION_SECONDS));
        for bad in ["", "d", "0d", "-1d", "5w", "99999999999999999d", "36526d", "3000000d", "5é"] {
            assert!(parse_duration_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pairs_are_parsed_once() {
        let parsed = parse_pairs("label", ["team=ml", "env=a=b", ""]).expect("pairs");
        assert_eq!(parsed.get("team").map(String::as_str), Some("ml"));
        assert_eq!(parsed.get("env").map(String::as_str), Some("a=b"), "the first = splits");
        assert_eq!(parsed.len(), 2);
        assert!(parse_pairs("label", ["no-equals"]).is_err());
    }

    #[test]
    fn labels_are_validated() {
        let ok: BTreeMap<_, _> = [("team".to_owned(), "ml".to_owned())].into();
        assert!(Labels::new(ok).is_ok());
        let bad: BTreeMap<_, _> = [("bad key".to_owned(), "v".to_owned())].into();
        assert!(Labels::new(bad).is_err());
        let bad_value: BTreeMap<_, _> = [("k".to_owned(), "a\nb".to_owned())].into();
        assert!(Labels::new(bad_value).is_err());
    }
}
