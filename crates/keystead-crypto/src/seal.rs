//! The barrier: every version's material is sealed under the root key with AES-256-GCM, with
//! associated data that names the key, so a sealed row moved or edited in the database fails
//! to open.

use std::fmt;

use keystead_core::envelope::NONCE_LEN;
use keystead_core::Algorithm;

use crate::{Error, LoadedKey, SecretBytes};

/// The root key: 256 bits, only ever held in memory.
pub struct RootKey {
    key: LoadedKey,
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootKey(redacted)")
    }
}

impl RootKey {
    /// Length of the root key in bytes.
    pub const LEN: usize = 32;

    /// Generates a new root key.
    pub fn generate() -> Result<(Self, SecretBytes), Error> {
        let material = crate::generate(Algorithm::Aes256Gcm)?.material;
        Ok((Self::from_material(&material)?, material))
    }

    /// Loads a root key from its 32 bytes.
    pub fn from_material(material: &SecretBytes) -> Result<Self, Error> {
        if material.len() != Self::LEN {
            return Err(Error::InvalidMaterial { algorithm: Algorithm::Aes256Gcm });
        }
        Ok(Self { key: LoadedKey::load(Algorithm::Aes256Gcm, material)? })
    }

    /// The root key's check value, recorded so a wrong root key is recognised at unseal.
    pub fn kcv(&self) -> String {
        self.key.kcv().unwrap_or_default()
    }

    /// Seals `plaintext` bound to `aad`: nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, aad: &[u8], plaintext: &SecretBytes) -> Result<Vec<u8>, Error> {
        let (nonce, mut ciphertext) = self.key.aead_seal(aad, plaintext.expose_secret())?;
        let mut out = nonce.to_vec();
        out.append(&mut ciphertext);
        Ok(out)
    }

    /// Opens what [`seal`](Self::seal) produced with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<SecretBytes, Error> {
        let (nonce, ciphertext) = sealed.split_first_chunk::<NONCE_LEN>().ok_or(Error::Unseal)?;
        self.key.aead_open(nonce, aad, ciphertext).map_err(|_| Error::Unseal)
    }
}

/// The key that seals the root key at rest under the `shamir` seal: split into unseal shares,
/// never stored whole. Rekeying the shares re-seals only the root key, not every key.
pub struct UnsealKey {
    key: LoadedKey,
}

impl fmt::Debug for UnsealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnsealKey(redacted)")
    }
}

impl UnsealKey {
    /// Length of the unseal key in bytes.
    pub const LEN: usize = 32;

    /// Generates a new unseal key and returns it with its material, for splitting.
    pub fn generate() -> Result<(Self, SecretBytes), Error> {
        let material = crate::random_secret(Self::LEN)?;
        Ok((Self::from_material(&material)?, material))
    }

    /// Loads an unseal key from its 32 bytes (as recombined from shares).
    pub fn from_material(material: &SecretBytes) -> Result<Self, Error> {
        if material.len() != Self::LEN {
            return Err(Error::InvalidMaterial { algorithm: Algorithm::Aes256Gcm });
        }
        Ok(Self { key: LoadedKey::load(Algorithm::Aes256Gcm, material)? })
    }

    /// Seals the root key's material, bound to `context` (the store's seal id).
    pub fn seal_root(&self, context: &[u8], root_material: &SecretBytes) -> Result<Vec<u8>, Error> {
        let (nonce, mut ciphertext) = self.key.aead_seal(context, root_material.expose_secret())?;
        let mut out = nonce.to_vec();
        out.append(&mut ciphertext);
        Ok(out)
    }

    /// Opens the sealed root key. A wrong unseal key (a wrong share) fails here.
    pub fn open_root(&self, context: &[u8], sealed: &[u8]) -> Result<RootKey, Error> {
        let (nonce, ciphertext) = sealed.split_first_chunk::<NONCE_LEN>().ok_or(Error::Unseal)?;
        let material = self.key.aead_open(nonce, context, ciphertext).map_err(|_| Error::Unseal)?;
        RootKey::from_material(&material)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_material_is_bound_to_its_associated_data() {
        let (root, _) = RootKey::generate().unwrap();
        let secret = SecretBytes::from_slice(b"material");
        let sealed = root.seal(b"tenant|key|1|encrypt", &secret).unwrap();
        assert!(root.open(b"tenant|key|1|encrypt", &sealed).unwrap().ct_eq(&secret));
        assert!(matches!(root.open(b"tenant|key|1|sign", &sealed), Err(Error::Unseal)));
        let (other, _) = RootKey::generate().unwrap();
        assert!(matches!(other.open(b"tenant|key|1|encrypt", &sealed), Err(Error::Unseal)));
        assert!(matches!(root.open(b"x", &sealed[..5]), Err(Error::Unseal)));
    }

    #[test]
    fn the_unseal_key_seals_the_root_key() {
        let (root, material) = RootKey::generate().unwrap();
        let (unseal, unseal_material) = UnsealKey::generate().unwrap();
        let sealed = unseal.seal_root(b"seal-1", &material).unwrap();
        let reopened =
            UnsealKey::from_material(&unseal_material).unwrap().open_root(b"seal-1", &sealed).unwrap();
        assert_eq!(reopened.kcv(), root.kcv());
        assert!(matches!(unseal.open_root(b"seal-2", &sealed), Err(Error::Unseal)));
        let (other, _) = UnsealKey::generate().unwrap();
        assert!(matches!(other.open_root(b"seal-1", &sealed), Err(Error::Unseal)));
    }
}
