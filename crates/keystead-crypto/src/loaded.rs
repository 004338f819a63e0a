//! Parsed keys, ready for the hot path: the service caches these so that an operation neither
//! reads the database nor parses PKCS#8 again.

use std::fmt;

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::hmac;
use aws_lc_rs::key_wrap::{self, KeyEncryptionKey, KeyWrap};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{
    OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey, OAEP_SHA256_MGF1SHA256,
};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use keystead_core::envelope::NONCE_LEN;
use keystead_core::Algorithm;

use crate::{Error, SecretBytes};

/// Domain separation label of symmetric key check values.
const KCV_LABEL: &[u8] = b"keystead key check value v1";
/// Bytes of a key check value (shown as hex).
const KCV_LEN: usize = 8;

enum Inner {
    Aead(LessSafeKey),
    /// Boxed: AWS-LC's HMAC key holds its precomputed state inline (over 1 KiB).
    Hmac(Box<hmac::Key>),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    RsaPss(aws_lc_rs::rsa::KeyPair),
    RsaOaep {
        private: OaepPrivateDecryptingKey,
        public: OaepPublicEncryptingKey,
    },
    AesKw(SecretBytes),
}

/// A key parsed from its material. Holds the material inside AWS-LC objects (or, for AES-KW,
/// a [`SecretBytes`]); `Debug` shows only the algorithm and the KCV.
pub struct LoadedKey {
    algorithm: Algorithm,
    kcv: String,
    public_key_der: Option<Vec<u8>>,
    inner: Inner,
}

impl fmt::Debug for LoadedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedKey")
            .field("algorithm", &self.algorithm)
            .field("kcv", &self.kcv)
            .finish_non_exhaustive()
    }
}

fn symmetric_kcv(material: &SecretBytes) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, material.expose_secret());
    let tag = hmac::sign(&key, KCV_LABEL);
    hex::encode(&tag.as_ref()[..KCV_LEN])
}

fn public_kcv(public_key_der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, public_key_der);
    hex::encode(&digest.as_ref()[..KCV_LEN])
}

fn pss_encoding(algorithm: Algorithm) -> &'static signature::RsaSignatureEncoding {
    match algorithm {
        Algorithm::Rsa4096Pss => &signature::RSA_PSS_SHA512,
        Algorithm::Rsa3072Pss => &signature::RSA_PSS_SHA384,
        _ => &signature::RSA_PSS_SHA256,
    }
}

fn verification_algorithm(algorithm: Algorithm) -> Option<&'static dyn signature::VerificationAlgorithm> {
    Some(match algorithm {
        Algorithm::EcdsaP256 => &signature::ECDSA_P256_SHA256_ASN1,
        Algorithm::EcdsaP384 => &signature::ECDSA_P384_SHA384_ASN1,
        Algorithm::Ed25519 => &signature::ED25519,
        Algorithm::Rsa2048Pss => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::Rsa3072Pss => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::Rsa4096Pss => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

fn rejected<E>(algorithm: Algorithm) -> impl FnOnce(E) -> Error {
    move |_| Error::InvalidMaterial { algorithm }
}

/// Length in bytes of the RFC 3394 integrity check block.
const KW_BLOCK: usize = 8;

impl LoadedKey {
    /// Parses material of `algorithm`.
    pub fn load(algorithm: Algorithm, material: &SecretBytes) -> Result<Self, Error> {
        use Algorithm::*;
        let bytes = material.expose_secret();
        let symmetric = |inner| Self { algorithm, kcv: symmetric_kcv(material), public_key_der: None, inner };
        let aead_key = |alg: &'static aead::Algorithm| {
            UnboundKey::new(alg, bytes).map(LessSafeKey::new).map_err(rejected(algorithm))
        };
        let expect_len = |len: usize| {
            if bytes.len() == len {
                Ok(())
            } else {
                Err(Error::InvalidMaterial { algorithm })
            }
        };
        let (inner, public) = match algorithm {
            Aes128Gcm => return Ok(symmetric(Inner::Aead(aead_key(&aead::AES_128_GCM)?))),
            Aes256Gcm => return Ok(symmetric(Inner::Aead(aead_key(&aead::AES_256_GCM)?))),
            ChaCha20Poly1305 => return Ok(symmetric(Inner::Aead(aead_key(&aead::CHACHA20_POLY1305)?))),
            HmacSha256 | HmacSha384 | HmacSha512 => {
                let (alg, len) = match algorithm {
                    HmacSha256 => (hmac::HMAC_SHA256, 32),
                    HmacSha384 => (hmac::HMAC_SHA384, 48),
                    _ => (hmac::HMAC_SHA512, 64),
                };
                expect_len(len)?;
                return Ok(symmetric(Inner::Hmac(Box::new(hmac::Key::new(alg, bytes)))));
            }
            Aes256Kw => {
                expect_len(32)?;
                return Ok(symmetric(Inner::AesKw(SecretBytes::from_slice(bytes))));
            }
            EcdsaP256 | EcdsaP384 => {
                let alg = if algorithm == EcdsaP256 {
                    &signature::ECDSA_P256_SHA256_ASN1_SIGNING
                } else {
                    &signature::ECDSA_P384_SHA384_ASN1_SIGNING
                };
                let pair = EcdsaKeyPair::from_pkcs8(alg, bytes).map_err(rejected(algorithm))?;
                let public = pair.public_key().as_der().map_err(rejected(algorithm))?.as_ref().to_vec();
                (Inner::Ecdsa(pair), public)
            }
            Ed25519 => {
                let pair = Ed25519KeyPair::from_pkcs8(bytes).map_err(rejected(algorithm))?;
                let public = pair.public_key().as_der().map_err(rejected(algorithm))?.as_ref().to_vec();
                (Inner::Ed25519(pair), public)
            }
            Rsa2048Pss | Rsa3072Pss | Rsa4096Pss => {
                let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(bytes).map_err(rejected(algorithm))?;
                if pair.public_modulus_len() * 8 != rsa_bits(algorithm) {
                    return Err(Error::InvalidMaterial { algorithm });
                }
                let public = pair.public_key().as_der().map_err(rejected(algorithm))?.as_ref().to_vec();
                (Inner::RsaPss(pair), public)
            }
            Rsa2048Oaep | Rsa3072Oaep | Rsa4096Oaep => {
                let private = PrivateDecryptingKey::from_pkcs8(bytes).map_err(rejected(algorithm))?;
                if private.key_size_bits() != rsa_bits(algorithm) {
                    return Err(Error::InvalidMaterial { algorithm });
                }
                let public_key = private.public_key();
                let public = public_key.as_der().map_err(rejected(algorithm))?.as_ref().to_vec();
                let inner = Inner::RsaOaep {
                    private: OaepPrivateDecryptingKey::new(private).map_err(rejected(algorithm))?,
                    public: OaepPublicEncryptingKey::new(public_key).map_err(rejected(algorithm))?,
                };
                (inner, public)
            }
        };
        Ok(Self { algorithm, kcv: public_kcv(&public), public_key_der: Some(public), inner })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The key check value: for symmetric keys the first 8 bytes of
    /// HMAC-SHA-256(key, "keystead key check value v1"); for asymmetric keys the first 8 bytes of
    /// SHA-256 over the DER public key. Hex encoded.
    pub fn kcv(&self) -> Result<String, Error> {
        Ok(self.kcv.clone())
    }

    /// DER SubjectPublicKeyInfo for asymmetric keys.
    pub fn public_key_der(&self) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.public_key_der.clone())
    }

    fn unsupported(&self, operation: &'static str) -> Error {
        Error::Unsupported { algorithm: self.algorithm, operation }
    }

    /// AEAD-encrypts with a fresh random 96-bit nonce. Returns the nonce and ciphertext‖tag.
    pub fn aead_seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<([u8; NONCE_LEN], Vec<u8>), Error> {
        let Inner::Aead(key) = &self.inner else { return Err(self.unsupported("encrypt")) };
        let nonce: [u8; NONCE_LEN] = crate::random_array()?;
        let mut in_out = plaintext.to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut in_out)
            .map_err(|_| Error::InvalidInput { algorithm: self.algorithm, reason: "plaintext too long" })?;
        Ok((nonce, in_out))
    }

    /// AEAD-decrypts; fails on any change to the ciphertext, nonce or associated data.
    pub fn aead_open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<SecretBytes, Error> {
        let Inner::Aead(key) = &self.inner else { return Err(self.unsupported("decrypt")) };
        let mut in_out = SecretBytes::from_slice(ciphertext);
        let len = key
            .open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), in_out.expose_secret_mut())
            .map_err(|_| Error::Authentication)?
            .len();
        Ok(SecretBytes::from_slice(&in_out.expose_secret()[..len]))
    }

    /// Signs `message` (ECDSA signatures are ASN.1 DER; RSA uses PSS).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let failed = |_| Error::InvalidInput { algorithm: self.algorithm, reason: "signing failed" };
        match &self.inner {
            Inner::Ecdsa(pair) => {
                Ok(pair.sign(&SystemRandom::new(), message).map_err(failed)?.as_ref().to_vec())
            }
            Inner::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            Inner::RsaPss(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(pss_encoding(self.algorithm), &SystemRandom::new(), message, &mut signature)
                    .map_err(failed)?;
                Ok(signature)
            }
            _ => Err(self.unsupported("sign")),
        }
    }

    /// Verifies a signature over `message`.
    pub fn verify(&self, message: &[u8], signature_bytes: &[u8]) -> Result<bool, Error> {
        let alg = verification_algorithm(self.algorithm).ok_or_else(|| self.unsupported("verify"))?;
        let public: &[u8] = match &self.inner {
            Inner::Ecdsa(pair) => pair.public_key().as_ref(),
            Inner::Ed25519(pair) => pair.public_key().as_ref(),
            Inner::RsaPss(pair) => pair.public_key().as_ref(),
            _ => return Err(self.unsupported("verify")),
        };
        Ok(UnparsedPublicKey::new(alg, public).verify(message, signature_bytes).is_ok())
    }

    /// Computes an HMAC tag.
    pub fn mac(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let Inner::Hmac(key) = &self.inner else { return Err(self.unsupported("mac")) };
        Ok(hmac::sign(key, message).as_ref().to_vec())
    }

    /// Verifies an HMAC tag in constant time.
    pub fn mac_verify(&self, message: &[u8], tag: &[u8]) -> Result<bool, Error> {
        let Inner::Hmac(key) = &self.inner else { return Err(self.unsupported("mac-verify")) };
        Ok(hmac::verify(key, message, tag).is_ok())
    }

    /// Wraps key material with AES key wrap (RFC 3394): 16 to 4096 bytes, a multiple of 8.
    pub fn wrap(&self, key_material: &SecretBytes) -> Result<Vec<u8>, Error> {
        let Inner::AesKw(kek) = &self.inner else { return Err(self.unsupported("wrap")) };
        let len = key_material.len();
        if !(16..=4096).contains(&len) || !len.is_multiple_of(KW_BLOCK) {
            return Err(Error::InvalidInput {
                algorithm: self.algorithm,
                reason: "key material to wrap must be 16 to 4096 bytes and a multiple of 8 (RFC 3394)",
            });
        }
        let kek = KeyEncryptionKey::new(&key_wrap::AES_256, kek.expose_secret())
            .map_err(|_| Error::InvalidMaterial { algorithm: self.algorithm })?;
        let mut out = vec![0; len + KW_BLOCK];
        let written = kek
            .wrap(key_material.expose_secret(), &mut out)
            .map_err(|_| Error::InvalidInput { algorithm: self.algorithm, reason: "wrap failed" })?
            .len();
        out.truncate(written);
        Ok(out)
    }

    /// Unwraps RFC 3394 output; fails if the integrity check does not hold.
    pub fn unwrap_key(&self, wrapped: &[u8]) -> Result<SecretBytes, Error> {
        let Inner::AesKw(kek) = &self.inner else { return Err(self.unsupported("unwrap")) };
        if wrapped.len() < 24 || wrapped.len() > 4096 + KW_BLOCK || !wrapped.len().is_multiple_of(KW_BLOCK) {
            return Err(Error::Authentication);
        }
        let kek = KeyEncryptionKey::new(&key_wrap::AES_256, kek.expose_secret())
            .map_err(|_| Error::InvalidMaterial { algorithm: self.algorithm })?;
        let mut out = SecretBytes::new(vec![0; wrapped.len()]);
        let len = kek.unwrap(wrapped, out.expose_secret_mut()).map_err(|_| Error::Authentication)?.len();
        Ok(SecretBytes::from_slice(&out.expose_secret()[..len]))
    }

    /// RSA-OAEP (SHA-256, MGF1-SHA-256) encryption with the public key; `label` binds context.
    pub fn rsa_encrypt(&self, plaintext: &[u8], label: Option<&[u8]>) -> Result<Vec<u8>, Error> {
        let Inner::RsaOaep { public, .. } = &self.inner else { return Err(self.unsupported("encrypt")) };
        if plaintext.len() > public.max_plaintext_size(&OAEP_SHA256_MGF1SHA256) {
            return Err(Error::InvalidInput {
                algorithm: self.algorithm,
                reason: "plaintext longer than RSA-OAEP allows for this key size; use envelope encryption (datakey)",
            });
        }
        let mut out = vec![0; public.ciphertext_size()];
        let len = public
            .encrypt(&OAEP_SHA256_MGF1SHA256, plaintext, &mut out, label)
            .map_err(|_| Error::InvalidInput { algorithm: self.algorithm, reason: "encryption failed" })?
            .len();
        out.truncate(len);
        Ok(out)
    }

    /// RSA-OAEP decryption with the private key.
    pub fn rsa_decrypt(&self, ciphertext: &[u8], label: Option<&[u8]>) -> Result<SecretBytes, Error> {
        let Inner::RsaOaep { private, .. } = &self.inner else { return Err(self.unsupported("decrypt")) };
        let mut out = SecretBytes::new(vec![0; private.min_output_size()]);
        let len = private
            .decrypt(&OAEP_SHA256_MGF1SHA256, ciphertext, out.expose_secret_mut(), label)
            .map_err(|_| Error::Authentication)?
            .len();
        Ok(SecretBytes::from_slice(&out.expose_secret()[..len]))
    }
}

/// A known-answer check of a key, for backups and recovery drills (CEK-20): made once with
/// the original material, it is checked again after the material has travelled (backed up,
/// restored, resealed). It proves the material still works with what the original produced,
/// not only that it hashes to the same KCV.
impl LoadedKey {
    /// A test vector over `message` (32 bytes): a ciphertext, signature, tag or wrapped key,
    /// depending on the key. Reveals nothing the key's normal use would not.
    pub fn test_vector(&self, message: &[u8; 32]) -> Result<Vec<u8>, Error> {
        match &self.inner {
            Inner::Aead(_) => {
                let (nonce, mut ciphertext) = self.aead_seal(message, message)?;
                let mut out = nonce.to_vec();
                out.append(&mut ciphertext);
                Ok(out)
            }
            Inner::Hmac(_) => self.mac(message),
            Inner::Ecdsa(_) | Inner::Ed25519(_) | Inner::RsaPss(_) => self.sign(message),
            Inner::RsaOaep { .. } => self.rsa_encrypt(message, None),
            Inner::AesKw(_) => self.wrap(&SecretBytes::from_slice(message)),
        }
    }

    /// Whether `vector` is what [`test_vector`](Self::test_vector) made over `message` with
    /// this key's material.
    pub fn check_test_vector(&self, message: &[u8; 32], vector: &[u8]) -> bool {
        let expected = SecretBytes::from_slice(message);
        match &self.inner {
            Inner::Aead(_) => vector
                .split_first_chunk::<NONCE_LEN>()
                .and_then(|(nonce, ciphertext)| self.aead_open(nonce, message, ciphertext).ok())
                .is_some_and(|plain| plain.ct_eq(&expected)),
            Inner::Hmac(_) => self.mac_verify(message, vector).unwrap_or(false),
            Inner::Ecdsa(_) | Inner::Ed25519(_) | Inner::RsaPss(_) => {
                self.verify(message, vector).unwrap_or(false)
            }
            Inner::RsaOaep { .. } => self.rsa_decrypt(vector, None).is_ok_and(|plain| plain.ct_eq(&expected)),
            Inner::AesKw(_) => self.unwrap_key(vector).is_ok_and(|plain| plain.ct_eq(&expected)),
        }
    }
}

fn rsa_bits(algorithm: Algorithm) -> usize {
    use Algorithm::*;
    match algorithm {
        Rsa2048Pss | Rsa2048Oaep => 2048,
        Rsa3072Pss | Rsa3072Oaep => 3072,
        _ => 4096,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate;

    #[test]
    fn every_algorithm_round_trips_its_operations() {
        for algorithm in Algorithm::ALL {
            let generated = generate(*algorithm).unwrap();
            let key = LoadedKey::load(*algorithm, &generated.material).unwrap();
            assert_eq!(key.kcv().unwrap(), generated.kcv);
            match algorithm.purpose() {
                keystead_core::Purpose::Encrypt => {
                    let (nonce, ct) = key.aead_seal(b"aad", b"hello").unwrap();
                    assert_eq!(key.aead_open(&nonce, b"aad", &ct).unwrap().expose_secret(), b"hello");
                    assert!(matches!(key.aead_open(&nonce, b"other", &ct), Err(Error::Authentication)));
                }
                keystead_core::Purpose::Sign => {
                    let sig = key.sign(b"model").unwrap();
                    assert!(key.verify(b"model", &sig).unwrap());
                    assert!(!key.verify(b"modem", &sig).unwrap());
                }
                keystead_core::Purpose::Mac => {
                    let tag = key.mac(b"m").unwrap();
                    assert!(key.mac_verify(b"m", &tag).unwrap());
                    assert!(!key.mac_verify(b"n", &tag).unwrap());
                }
                keystead_core::Purpose::Wrap => {
                    let dek = SecretBytes::from_slice(&[5; 32]);
                    let wrapped = key.wrap(&dek).unwrap();
                    assert!(key.unwrap_key(&wrapped).unwrap().ct_eq(&dek));
                    let mut bad = wrapped.clone();
                    bad[3] ^= 1;
                    assert!(key.unwrap_key(&bad).is_err());
                    assert!(key.wrap(&SecretBytes::from_slice(&[1; 15])).is_err());
                }
                keystead_core::Purpose::AsymmetricDecrypt => {
                    let ct = key.rsa_encrypt(b"secret", Some(b"ctx")).unwrap();
                    assert_eq!(key.rsa_decrypt(&ct, Some(b"ctx")).unwrap().expose_secret(), b"secret");
                    assert!(key.rsa_decrypt(&ct, None).is_err());
                }
            }
        }
    }

    #[test]
    fn material_of_another_algorithm_is_refused() {
        let p256 = generate(Algorithm::EcdsaP256).unwrap();
        assert!(LoadedKey::load(Algorithm::EcdsaP384, &p256.material).is_err());
        let rsa = generate(Algorithm::Rsa2048Pss).unwrap();
        assert!(LoadedKey::load(Algorithm::Rsa3072Pss, &rsa.material).is_err());
        let hmac = generate(Algorithm::HmacSha256).unwrap();
        assert!(LoadedKey::load(Algorithm::HmacSha512, &hmac.material).is_err());
    }

    #[test]
    fn ed25519_signatures_verify_with_the_exported_public_key() {
        let generated = generate(Algorithm::Ed25519).unwrap();
        let key = LoadedKey::load(Algorithm::Ed25519, &generated.material).unwrap();
        let der = key.public_key_der().unwrap().unwrap();
        let sig = key.sign(b"checkpoint").unwrap();
        assert!(crate::verify_ed25519(&der, b"checkpoint", &sig));
        assert!(!crate::verify_ed25519(&der, b"checkpoinT", &sig));
        let other = generate(Algorithm::Ed25519).unwrap();
        let other = LoadedKey::load(Algorithm::Ed25519, &other.material).unwrap();
        assert!(!crate::verify_ed25519(&other.public_key_der().unwrap().unwrap(), b"checkpoint", &sig));
        assert!(!crate::verify_ed25519(b"not a key", b"checkpoint", &sig));
    }

    #[test]
    fn test_vectors_check_with_the_same_material_only() {
        let message = [7u8; 32];
        for algorithm in Algorithm::ALL {
            let generated = crate::generate(*algorithm).expect("generates");
            let key = LoadedKey::load(*algorithm, &generated.material).expect("loads");
            let vector = key.test_vector(&message).expect("vector");
            assert!(key.check_test_vector(&message, &vector), "{algorithm}");
            let other =
                LoadedKey::load(*algorithm, &crate::generate(*algorithm).expect("generates").material)
                    .expect("loads");
            assert!(!other.check_test_vector(&message, &vector), "{algorithm}: another key passes");
            assert!(!key.check_test_vector(&[8u8; 32], &vector), "{algorithm}: another message passes");
        }
    }
}
