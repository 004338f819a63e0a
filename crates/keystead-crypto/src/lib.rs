//! Keystead's cryptography provider: the only crate that calls `aws-lc-rs`.
//!
//! Secret bytes live only in [`SecretBytes`], which zeroizes on drop and has no `Display`,
//! `Serialize`, `Clone` or derived `Debug`. Parsed keys ([`LoadedKey`]) keep their material in
//! AWS-LC's memory, which AWS-LC cleanses when it frees it.
#![forbid(unsafe_code)]

mod error;
mod generate;
mod loaded;
mod provenance;
mod seal;
mod secret;
pub mod selftest;
pub mod shamir;
mod token;

pub use error::Error;
pub use generate::{generate, random_secret, GeneratedKey};
pub use loaded::LoadedKey;
pub use provenance::{fips_mode, generation_provenance, library_description};
pub use seal::{RootKey, UnsealKey};
pub use secret::SecretBytes;
pub use token::{ct_eq_str, hmac_sha256, random_array, sha256, AccessToken, TokenHash};
