//! Bearer tokens, randomness and hashing helpers.

use std::fmt;

use crate::{Error, SecretBytes};

/// `N` random bytes from AWS-LC's DRBG.
pub fn random_array<const N: usize>() -> Result<[u8; N], Error> {
    let mut out = [0u8; N];
    aws_lc_rs::rand::fill(&mut out).map_err(|_| Error::Random)?;
    Ok(out)
}

/// Constant-time equality of two texts (check values, digests).
pub fn ct_eq_str(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

/// SHA-256.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// SHA-256 over data that arrives in pieces (a backup bundle as it is written).
pub struct Sha256Stream(aws_lc_rs::digest::Context);

impl Default for Sha256Stream {
    fn default() -> Self {
        Self(aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256))
    }
}

impl Sha256Stream {
    /// Adds the next piece.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything added.
    pub fn finish(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.0.finish().as_ref());
        out
    }
}

/// HMAC-SHA256 of `message` under `key` (webhook signatures).
pub fn hmac_sha256(key: &SecretBytes, message: &[u8]) -> [u8; 32] {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key.expose_secret());
    let tag = aws_lc_rs::hmac::sign(&key, message);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// A bearer token as presented by a client. Only its hash is ever stored.
pub struct AccessToken(SecretBytes);

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(redacted)")
    }
}

/// The SHA-256 of a token: what the store keeps to recognise it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenHash([u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", hex::encode(&self.0[..4]))
    }
}

impl TokenHash {
    /// Rebuilds a stored hash.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The hash bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time comparison.
    pub fn ct_eq(&self, other: &TokenHash) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.0, &other.0).is_ok()
    }
}

impl AccessToken {
    /// A new random token: `kst_` and 32 random bytes in hex, safe in shells, headers and files.
    pub fn generate() -> Result<Self, Error> {
        let bytes = SecretBytes::new(random_array::<32>()?.to_vec());
        Ok(Self(SecretBytes::new(format!("kst_{}", hex::encode(bytes.expose_secret())).into_bytes())))
    }

    /// Wraps a token received from a client.
    pub fn from_presented(text: &str) -> Self {
        Self(SecretBytes::from_slice(text.trim().as_bytes()))
    }

    /// The token text, for printing once to its owner.
    pub fn expose_secret(&self) -> &str {
        std::str::from_utf8(self.0.expose_secret()).unwrap_or_default()
    }

    /// Its hash.
    pub fn hash(&self) -> TokenHash {
        TokenHash(sha256(self.0.expose_secret()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2.
    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        let tag = hmac_sha256(&SecretBytes::from_slice(b"Jefe"), b"what do ya want for nothing?");
        assert_eq!(hex::encode(tag), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn tokens_are_random_and_recognised_by_hash() {
        let a = AccessToken::generate().unwrap();
        let b = AccessToken::generate().unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert!(a.expose_secret().starts_with("kst_"));
        let presented = AccessToken::from_presented(&format!(" {}\n", a.expose_secret()));
        assert!(presented.hash().ct_eq(&a.hash()));
        assert!(!presented.hash().ct_eq(&b.hash()));
        assert!(!format!("{a:?}").contains(a.expose_secret()));
    }
}
