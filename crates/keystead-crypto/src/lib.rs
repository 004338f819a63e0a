//! Keystead's cryptography provider: the only crate that calls `aws-lc-rs`.
//!
//! Secret bytes live only in [`SecretBytes`], which zeroizes on drop and has no `Display`,
//! `Serialize`, `Clone` or derived `Debug`. Parsed keys ([`LoadedKey`]) keep their material in
//! AWS-LC's memory, which AWS-LC cleanses when it frees it.
#![forbid(unsafe_code)]

mod error;
mod generate;
mod import;
mod loaded;
mod provenance;
mod seal;
mod secret;
pub mod selftest;
pub mod shamir;
mod token;
mod webhook;

pub use error::Error;
pub use generate::{generate, random_secret, GeneratedKey};
pub use import::{generate_wrapping_key, import_material, unwrap_imported, wrap_for_import, WrappingKey};
pub use loaded::LoadedKey;
pub use provenance::{external_provenance, fips_mode, generation_provenance, library_description};
pub use seal::{RootKey, UnsealKey};
pub use secret::SecretBytes;
pub use token::{ct_eq_str, hmac_sha256, random_array, sha256, AccessToken, Sha256Stream, TokenHash};
pub use webhook::{generate_webhook_secret, webhook_signature};

/// Verifies an Ed25519 signature with a public key given as DER SubjectPublicKeyInfo (what
/// `keystead key public` prints as PEM): the offline audit verifier's check.
pub fn verify_ed25519(public_key_der: &[u8], message: &[u8], signature: &[u8]) -> bool {
    aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, public_key_der)
        .verify(message, signature)
        .is_ok()
}
