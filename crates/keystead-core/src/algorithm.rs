//! Purposes, algorithms, environments and usage contexts, and which algorithm fits which purpose.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Implements `Display`, `FromStr` and string serde for a fieldless enum from one name table.
macro_rules! named_enum {
    ($ty:ident, $what:literal, [$($variant:ident => $text:literal),+ $(,)?]) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The stable text name used in the CLI, the API and the store.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::Error;
            fn from_str(text: &str) -> Result<Self, $crate::Error> {
                match text {
                    $($text => Ok($ty::$variant),)+
                    _ => Err($crate::Error::InvalidValue {
                        what: $what,
                        value: text.chars().take(80).collect(),
                        expected: concat!("one of:", $(" ", $text),+),
                    }),
                }
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <String as ::serde::Deserialize>::deserialize(deserializer)?;
                text.parse().map_err(<D::Error as ::serde::de::Error>::custom)
            }
        }
    };
}
pub(crate) use named_enum;

/// What a key is for. Exactly one per key, fixed at creation (CEK-11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Symmetric authenticated encryption.
    Encrypt,
    /// Asymmetric signatures.
    Sign,
    /// Message authentication codes.
    Mac,
    /// Key-encryption key (AES key wrap).
    Wrap,
    /// RSA-OAEP: anyone encrypts with the public key, the service decrypts.
    AsymmetricDecrypt,
}

named_enum!(Purpose, "purpose", [
    Encrypt => "encrypt",
    Sign => "sign",
    Mac => "mac",
    Wrap => "wrap",
    AsymmetricDecrypt => "asymmetric-decrypt",
]);

/// A key algorithm. Each fits exactly one purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs, reason = "variant names are the algorithm names")]
pub enum Algorithm {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
    HmacSha256,
    HmacSha384,
    HmacSha512,
    EcdsaP256,
    EcdsaP384,
    Ed25519,
    Rsa2048Pss,
    Rsa3072Pss,
    Rsa4096Pss,
    Rsa2048Oaep,
    Rsa3072Oaep,
    Rsa4096Oaep,
    Aes256Kw,
}

named_enum!(Algorithm, "algorithm", [
    Aes128Gcm => "aes-128-gcm",
    Aes256Gcm => "aes-256-gcm",
    ChaCha20Poly1305 => "chacha20-poly1305",
    HmacSha256 => "hmac-sha256",
    HmacSha384 => "hmac-sha384",
    HmacSha512 => "hmac-sha512",
    EcdsaP256 => "ecdsa-p256",
    EcdsaP384 => "ecdsa-p384",
    Ed25519 => "ed25519",
    Rsa2048Pss => "rsa-2048-pss",
    Rsa3072Pss => "rsa-3072-pss",
    Rsa4096Pss => "rsa-4096-pss",
    Rsa2048Oaep => "rsa-2048-oaep",
    Rsa3072Oaep => "rsa-3072-oaep",
    Rsa4096Oaep => "rsa-4096-oaep",
    Aes256Kw => "aes-256-kw",
]);

/// The lowest security strength a production server generates or accepts.
pub const MINIMUM_STRENGTH_BITS: u32 = 128;

/// The lowest strength a non-production server accepts: RSA-2048 (112 bits) stays usable there
/// for interoperability tests; NIST SP 800-131A allows it for protection until 2030.
pub const LEGACY_MINIMUM_STRENGTH_BITS: u32 = 112;

impl Environment {
    /// The default minimum security strength for keys of this environment.
    pub fn default_minimum_strength_bits(self) -> u32 {
        match self {
            Environment::Production => MINIMUM_STRENGTH_BITS,
            Environment::Staging | Environment::Development | Environment::Test => {
                LEGACY_MINIMUM_STRENGTH_BITS
            }
        }
    }
}

impl Algorithm {
    /// The one purpose this algorithm serves.
    pub fn purpose(self) -> Purpose {
        use Algorithm::*;
        match self {
            Aes128Gcm | Aes256Gcm | ChaCha20Poly1305 => Purpose::Encrypt,
            HmacSha256 | HmacSha384 | HmacSha512 => Purpose::Mac,
            EcdsaP256 | EcdsaP384 | Ed25519 | Rsa2048Pss | Rsa3072Pss | Rsa4096Pss => Purpose::Sign,
            Rsa2048Oaep | Rsa3072Oaep | Rsa4096Oaep => Purpose::AsymmetricDecrypt,
            Aes256Kw => Purpose::Wrap,
        }
    }

    /// Security strength in bits: NIST SP 800-57 Part 1 Rev. 5, Table 2 (RSA-2048 is 112,
    /// RSA-3072 is 128), and NIST SP 800-56B Rev. 2 Appendix D for RSA-4096 (152).
    pub fn security_strength_bits(self) -> u32 {
        use Algorithm::*;
        match self {
            Aes128Gcm | EcdsaP256 | Ed25519 | Rsa3072Pss | Rsa3072Oaep => 128,
            Rsa2048Pss | Rsa2048Oaep => 112,
            Rsa4096Pss | Rsa4096Oaep => 152,
            EcdsaP384 => 192,
            Aes256Gcm | ChaCha20Poly1305 | Aes256Kw | HmacSha256 | HmacSha384 | HmacSha512 => 256,
        }
    }

    /// Checks that the algorithm fits the purpose and gives at least `minimum_bits` of strength.
    pub fn check_for(self, purpose: Purpose, minimum_bits: u32) -> Result<(), Error> {
        if self.purpose() != purpose {
            let allowed = Algorithm::ALL
                .iter()
                .filter(|a| a.purpose() == purpose)
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Error::AlgorithmPurposeMismatch { algorithm: self, purpose, allowed });
        }
        let strength = self.security_strength_bits();
        if strength < minimum_bits {
            return Err(Error::TooWeak { algorithm: self, strength_bits: strength, minimum_bits });
        }
        Ok(())
    }

    /// True for algorithms whose keys have a public half.
    pub fn is_asymmetric(self) -> bool {
        matches!(self.purpose(), Purpose::Sign | Purpose::AsymmetricDecrypt)
    }
}

/// The environment a key belongs to. A server serves exactly one (CEK-10: keep production and
/// non-production keys apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs, reason = "variant names are the environment names")]
pub enum Environment {
    Production,
    Staging,
    Development,
    Test,
}

named_enum!(Environment, "environment", [
    Production => "production",
    Staging => "staging",
    Development => "development",
    Test => "test",
]);

/// What a key is used for in the AI stack (CEK-11 guideline 2: map each key to its function).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UsageContext(String);

impl UsageContext {
    /// The well-known usage contexts; anything else must start with `x-`.
    pub const KNOWN: &'static [&'static str] = &[
        "model-signing",
        "prompt-encryption",
        "inference-log-encryption",
        "training-data-encryption",
        "model-weights-encryption",
        "volume-encryption",
        "database-encryption",
        "tls",
        "api-token",
        "audit-log-signing",
    ];

    /// Parses a known context or a custom `x-` label.
    pub fn new(text: impl Into<String>) -> Result<Self, Error> {
        let text = text.into();
        let custom_ok = text.len() > 2
            && text.len() <= 64
            && text.starts_with("x-")
            && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if Self::KNOWN.contains(&text.as_str()) || custom_ok {
            Ok(Self(text))
        } else {
            Err(Error::InvalidValue {
                what: "usage context",
                value: text.chars().take(80).collect(),
                expected: "model-signing, prompt-encryption, inference-log-encryption, training-data-encryption, model-weights-encryption, volume-encryption, database-encryption, tls, api-token, audit-log-signing, or a custom x-<lowercase-label>",
            })
        }
    }

    /// The text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UsageContext {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Error> {
        Self::new(value)
    }
}

impl From<UsageContext> for String {
    fn from(value: UsageContext) -> String {
        value.0
    }
}

impl fmt::Display for UsageContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Algorithm::ALL {
            assert_eq!(a.as_str().parse::<Algorithm>(), Ok(*a));
        }
        for p in Purpose::ALL {
            assert_eq!(p.as_str().parse::<Purpose>(), Ok(*p));
        }
        assert!("aes-512-gcm".parse::<Algorithm>().is_err());
    }

    #[test]
    fn every_algorithm_fits_exactly_its_purpose() {
        for a in Algorithm::ALL {
            for p in Purpose::ALL {
                let result = a.check_for(*p, 112);
                assert_eq!(result.is_ok(), a.purpose() == *p, "{a} for {p}");
            }
        }
    }

    #[test]
    fn weak_algorithms_are_refused_by_a_stricter_policy() {
        let err = Algorithm::Rsa2048Pss.check_for(Purpose::Sign, MINIMUM_STRENGTH_BITS);
        assert!(matches!(err, Err(Error::TooWeak { strength_bits: 112, .. })));
        assert!(Algorithm::Rsa3072Pss.check_for(Purpose::Sign, MINIMUM_STRENGTH_BITS).is_ok());
    }

    #[test]
    fn usage_contexts() {
        assert!(UsageContext::new("model-signing").is_ok());
        assert!(UsageContext::new("x-embedding-cache").is_ok());
        assert!(UsageContext::new("whatever").is_err());
        assert!(UsageContext::new("x-").is_err());
    }
}
