//! Key generation (CEK-10): every key comes from AWS-LC's DRBG through aws-lc-rs.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair};
use keystead_core::Algorithm;

use crate::{Error, LoadedKey, SecretBytes};

/// Freshly generated material with its public half and key check value.
pub struct GeneratedKey {
    /// The private or secret material (raw bytes for symmetric keys, PKCS#8 for asymmetric).
    pub material: SecretBytes,
    /// DER SubjectPublicKeyInfo for asymmetric keys.
    pub public_key_der: Option<Vec<u8>>,
    /// Key check value.
    pub kcv: String,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey").field("kcv", &self.kcv).finish_non_exhaustive()
    }
}

/// `len` random bytes from AWS-LC's DRBG, straight into a zeroizing buffer (data keys).
pub fn random_secret(len: usize) -> Result<SecretBytes, Error> {
    let mut bytes = SecretBytes::new(vec![0; len]);
    aws_lc_rs::rand::fill(secret_mut(&mut bytes)).map_err(|_| Error::Random)?;
    Ok(bytes)
}

/// Mutable access for filling a fresh buffer; private to the crate.
fn secret_mut(bytes: &mut SecretBytes) -> &mut [u8] {
    bytes.expose_secret_mut()
}

fn rsa_size(algorithm: Algorithm) -> Option<KeySize> {
    use Algorithm::*;
    match algorithm {
        Rsa2048Pss | Rsa2048Oaep => Some(KeySize::Rsa2048),
        Rsa3072Pss | Rsa3072Oaep => Some(KeySize::Rsa3072),
        Rsa4096Pss | Rsa4096Oaep => Some(KeySize::Rsa4096),
        _ => None,
    }
}

/// Generates new material for `algorithm`.
pub fn generate(algorithm: Algorithm) -> Result<GeneratedKey, Error> {
    use Algorithm::*;
    let failed = |_| Error::Generation { algorithm };
    let material = match algorithm {
        Aes128Gcm => random_secret(16)?,
        Aes256Gcm | ChaCha20Poly1305 | Aes256Kw | HmacSha256 => random_secret(32)?,
        HmacSha384 => random_secret(48)?,
        HmacSha512 => random_secret(64)?,
        EcdsaP256 | EcdsaP384 => {
            let alg = if algorithm == EcdsaP256 {
                &signature::ECDSA_P256_SHA256_ASN1_SIGNING
            } else {
                &signature::ECDSA_P384_SHA384_ASN1_SIGNING
            };
            let pair = EcdsaKeyPair::generate(alg).map_err(failed)?;
            SecretBytes::from_slice(pair.to_pkcs8v1().map_err(failed)?.as_ref())
        }
        Ed25519 => {
            let pair = Ed25519KeyPair::generate().map_err(failed)?;
            SecretBytes::from_slice(pair.to_pkcs8().map_err(failed)?.as_ref())
        }
        Rsa2048Pss | Rsa3072Pss | Rsa4096Pss => {
            let size = rsa_size(algorithm).ok_or(Error::Generation { algorithm })?;
            let pair = aws_lc_rs::rsa::KeyPair::generate(size).map_err(failed)?;
            SecretBytes::from_slice(pair.as_der().map_err(failed)?.as_ref())
        }
        Rsa2048Oaep | Rsa3072Oaep | Rsa4096Oaep => {
            let size = rsa_size(algorithm).ok_or(Error::Generation { algorithm })?;
            let key = aws_lc_rs::rsa::PrivateDecryptingKey::generate(size).map_err(failed)?;
            SecretBytes::from_slice(key.as_der().map_err(failed)?.as_ref())
        }
    };
    let loaded = LoadedKey::load(algorithm, &material)?;
    Ok(GeneratedKey { public_key_der: loaded.public_key_der()?, kcv: loaded.kcv()?, material })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_generates_distinct_material() {
        for algorithm in Algorithm::ALL {
            let a = generate(*algorithm).unwrap();
            let b = generate(*algorithm).unwrap();
            assert!(!a.material.ct_eq(&b.material), "{algorithm} repeated material");
            assert_ne!(a.kcv, b.kcv, "{algorithm}");
            assert_eq!(a.public_key_der.is_some(), algorithm.is_asymmetric(), "{algorithm}");
        }
    }
}
