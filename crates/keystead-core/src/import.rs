//! Bring your own key: how imported material is wrapped in transit (the names AWS KMS uses,
//! so material prepared for AWS imports into Keystead unchanged).

use crate::algorithm::named_enum;

/// How the owner wraps material under an import token's RSA public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WrappingAlgorithm {
    /// RSAES-OAEP with SHA-256 and MGF1-SHA-256 over the material itself: symmetric keys, and
    /// private keys small enough (EC, Ed25519). AWS: `RSAES_OAEP_SHA_256`.
    RsaOaepSha256,
    /// A fresh AES-256 key wrapped with RSAES-OAEP-SHA-256, followed by the material wrapped
    /// under it with AES key wrap with padding (RFC 5649): any material, RSA private keys
    /// included. AWS: `RSA_AES_KEY_WRAP_SHA_256`.
    RsaAesKeyWrapSha256,
}

named_enum!(WrappingAlgorithm, "wrapping algorithm", [
    RsaOaepSha256 => "rsa-oaep-sha256",
    RsaAesKeyWrapSha256 => "rsa-aes-kw-sha256",
]);

impl WrappingAlgorithm {
    /// The AWS KMS name.
    pub fn aws_name(self) -> &'static str {
        match self {
            Self::RsaOaepSha256 => "RSAES_OAEP_SHA_256",
            Self::RsaAesKeyWrapSha256 => "RSA_AES_KEY_WRAP_SHA_256",
        }
    }
}

/// The size of an import token's RSA wrapping key. RSA-2048 (112-bit strength) is not
/// offered: the wrapping key protects key material of up to 256-bit strength in transit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WrappingKeySpec {
    /// RSA with a 3072-bit modulus (128-bit strength).
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    Rsa4096,
}

named_enum!(WrappingKeySpec, "wrapping key spec", [
    Rsa3072 => "rsa-3072",
    Rsa4096 => "rsa-4096",
]);

impl WrappingKeySpec {
    /// The AWS KMS name.
    pub fn aws_name(self) -> &'static str {
        match self {
            Self::Rsa3072 => "RSA_3072",
            Self::Rsa4096 => "RSA_4096",
        }
    }

    /// The modulus length in bytes (the length of an RSA-OAEP ciphertext under it).
    pub fn modulus_bytes(self) -> usize {
        match self {
            Self::Rsa3072 => 384,
            Self::Rsa4096 => 512,
        }
    }
}

/// How long an import token is good for, as AWS KMS's: 24 hours.
pub const IMPORT_TOKEN_LIFETIME_SECONDS: i64 = 24 * 3_600;

/// The provenance statement of every imported version.
pub const NOT_ATTESTED: &str = "generated outside Keystead: not attested";
