//! Bring your own key: the RSA wrapping key behind an import token, unwrapping what the owner
//! sends under it, and checking that the material is a key of the declared algorithm.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
use aws_lc_rs::rsa::{KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA256_MGF1SHA256};
use keystead_core::{Algorithm, WrappingAlgorithm, WrappingKeySpec};

use crate::{Error, GeneratedKey, LoadedKey, SecretBytes};

/// An import token's RSA key pair: the private half (PKCS#8) to seal, the public half to hand
/// to the key's owner.
pub struct WrappingKey {
    /// PKCS#8 private key.
    pub private_pkcs8: SecretBytes,
    /// DER SubjectPublicKeyInfo.
    pub public_key_der: Vec<u8>,
}

impl std::fmt::Debug for WrappingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappingKey").finish_non_exhaustive()
    }
}

/// Generates a wrapping key pair (takes a second or two for RSA-4096: call it off the async
/// threads).
pub fn generate_wrapping_key(spec: WrappingKeySpec) -> Result<WrappingKey, Error> {
    let size = match spec {
        WrappingKeySpec::Rsa3072 => KeySize::Rsa3072,
        WrappingKeySpec::Rsa4096 => KeySize::Rsa4096,
    };
    let failed = |_| Error::Random;
    let private = PrivateDecryptingKey::generate(size).map_err(failed)?;
    let public_key_der = private.public_key().as_der().map_err(failed)?.as_ref().to_vec();
    let private_pkcs8 = SecretBytes::from_slice(private.as_der().map_err(failed)?.as_ref());
    Ok(WrappingKey { private_pkcs8, public_key_der })
}

/// AES-256: the size of the ephemeral key of `RSA_AES_KEY_WRAP_SHA_256`.
const EPHEMERAL_AES_KEY_LEN: usize = 32;
/// The most material Keystead imports (an RSA-4096 PKCS#8 key is about 2,400 bytes).
const MAX_MATERIAL_LEN: usize = 8_192;

fn refused(reason: impl Into<String>) -> Error {
    Error::ImportUnwrap { reason: reason.into() }
}

/// Recovers material the owner wrapped under the token's public key.
pub fn unwrap_imported(
    spec: WrappingKeySpec,
    algorithm: WrappingAlgorithm,
    private_pkcs8: &SecretBytes,
    wrapped: &[u8],
) -> Result<SecretBytes, Error> {
    let modulus = spec.modulus_bytes();
    let private =
        PrivateDecryptingKey::from_pkcs8(private_pkcs8.expose_secret()).map_err(|_| Error::Unseal)?;
    let private = OaepPrivateDecryptingKey::new(private).map_err(|_| Error::Unseal)?;
    let rsa_decrypt = |ciphertext: &[u8]| -> Result<SecretBytes, Error> {
        let mut out = SecretBytes::new(vec![0; private.min_output_size()]);
        let len = private
            .decrypt(&OAEP_SHA256_MGF1SHA256, ciphertext, out.expose_secret_mut(), None)
            .map_err(|_| undecryptable(algorithm))?
            .len();
        Ok(SecretBytes::from_slice(&out.expose_secret()[..len]))
    };
    match algorithm {
        WrappingAlgorithm::RsaOaepSha256 => {
            if wrapped.len() != modulus {
                return Err(refused(format!(
                    "wrapped material is {} bytes; RSAES_OAEP_SHA_256 under an {spec} wrapping key gives exactly {modulus} \
                     (material too large for RSA-OAEP, such as an RSA private key, needs rsa-aes-kw-sha256)",
                    wrapped.len()
                )));
            }
            rsa_decrypt(wrapped)
        }
        WrappingAlgorithm::RsaAesKeyWrapSha256 => {
            let rest = wrapped.len().saturating_sub(modulus);
            if wrapped.len() <= modulus
                || rest < 16
                || !rest.is_multiple_of(8)
                || rest > MAX_MATERIAL_LEN + 16
            {
                return Err(refused(format!(
                    "wrapped material is {} bytes; RSA_AES_KEY_WRAP_SHA_256 under an {spec} wrapping key gives the \
                     {modulus}-byte RSA-OAEP-wrapped AES-256 key followed by the RFC 5649 wrapped material (a \
                     multiple of 8 bytes, at least 16)",
                    wrapped.len()
                )));
            }
            let (wrapped_aes_key, wrapped_material) = wrapped.split_at(modulus);
            let aes_key = rsa_decrypt(wrapped_aes_key)?;
            if aes_key.len() != EPHEMERAL_AES_KEY_LEN {
                return Err(refused(format!(
                    "the RSA-wrapped AES key is {} bytes; RSA_AES_KEY_WRAP_SHA_256 uses an AES-256 key (32 bytes)",
                    aes_key.len()
                )));
            }
            let kek = AesKek::new(&AES_256, aes_key.expose_secret()).map_err(|_| undecryptable(algorithm))?;
            let mut out = SecretBytes::new(vec![0; wrapped_material.len()]);
            let len = kek
                .unwrap_with_padding(wrapped_material, out.expose_secret_mut())
                .map_err(|_| undecryptable(algorithm))?
                .len();
            Ok(SecretBytes::from_slice(&out.expose_secret()[..len]))
        }
    }
}

fn undecryptable(algorithm: WrappingAlgorithm) -> Error {
    refused(format!(
        "the wrapped material does not decrypt with this import token's wrapping key ({}): it was wrapped for \
         another token or key, with another algorithm, or it was altered",
        algorithm.aws_name()
    ))
}

/// The owner's side of an import: wraps `material` under an import token's public key. Keystead
/// itself never calls it on the server path; tests and tools that prepare imports do (any
/// RSA-OAEP-SHA-256 and RFC 5649 implementation gives the same format: `openssl pkeyutl`,
/// Python's `cryptography`, AWS's own instructions).
pub fn wrap_for_import(
    algorithm: WrappingAlgorithm,
    public_key_der: &[u8],
    material: &SecretBytes,
) -> Result<Vec<u8>, Error> {
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey};
    fn failed<E>(_: E) -> Error {
        refused("the wrapping public key is not an RSA public key, or the material is too large for it")
    }
    let public = OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(public_key_der).map_err(failed)?)
        .map_err(failed)?;
    let oaep = |plaintext: &[u8]| -> Result<Vec<u8>, Error> {
        let mut out = vec![0; public.ciphertext_size()];
        let len = public.encrypt(&OAEP_SHA256_MGF1SHA256, plaintext, &mut out, None).map_err(failed)?.len();
        out.truncate(len);
        Ok(out)
    };
    match algorithm {
        WrappingAlgorithm::RsaOaepSha256 => oaep(material.expose_secret()),
        WrappingAlgorithm::RsaAesKeyWrapSha256 => {
            let aes_key = crate::random_secret(EPHEMERAL_AES_KEY_LEN)?;
            let mut wrapped = oaep(aes_key.expose_secret())?;
            let mut out = vec![0; material.len() + 16];
            let len = AesKek::new(&AES_256, aes_key.expose_secret())
                .and_then(|kek| kek.wrap_with_padding(material.expose_secret(), &mut out).map(|o| o.len()))
                .map_err(failed)?;
            wrapped.extend_from_slice(&out[..len]);
            Ok(wrapped)
        }
    }
}

/// Checks that `material` is a key of `algorithm` (its length, or its PKCS#8 structure, curve
/// and modulus size) and computes its key check value and public key, as for generated keys.
pub fn import_material(algorithm: Algorithm, material: SecretBytes) -> Result<GeneratedKey, Error> {
    let expected = match algorithm {
        Algorithm::Aes128Gcm => "16 raw bytes",
        Algorithm::Aes256Gcm | Algorithm::ChaCha20Poly1305 | Algorithm::Aes256Kw | Algorithm::HmacSha256 => {
            "32 raw bytes"
        }
        Algorithm::HmacSha384 => "48 raw bytes",
        Algorithm::HmacSha512 => "64 raw bytes",
        Algorithm::EcdsaP256
        | Algorithm::EcdsaP384
        | Algorithm::Ed25519
        | Algorithm::Rsa2048Pss
        | Algorithm::Rsa3072Pss
        | Algorithm::Rsa4096Pss
        | Algorithm::Rsa2048Oaep
        | Algorithm::Rsa3072Oaep
        | Algorithm::Rsa4096Oaep => "a DER PKCS#8 private key of that curve or modulus size",
    };
    let wrong = || Error::ImportedMaterial {
        algorithm,
        reason: format!("{} bytes that are not {expected}", material.len()),
    };
    if material.len() > MAX_MATERIAL_LEN {
        return Err(wrong());
    }
    let loaded = LoadedKey::load(algorithm, &material).map_err(|_| wrong())?;
    Ok(GeneratedKey { public_key_der: loaded.public_key_der()?, kcv: loaded.kcv()?, material })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oaep_wrap(public_der: &[u8], plaintext: &[u8]) -> Vec<u8> {
        wrap_for_import(WrappingAlgorithm::RsaOaepSha256, public_der, &SecretBytes::from_slice(plaintext))
            .unwrap()
    }

    fn kw_wrap(public_der: &[u8], material: &[u8]) -> Vec<u8> {
        wrap_for_import(
            WrappingAlgorithm::RsaAesKeyWrapSha256,
            public_der,
            &SecretBytes::from_slice(material),
        )
        .unwrap()
    }

    #[test]
    fn both_wrapping_algorithms_round_trip_and_refuse_another_tokens_key() {
        let token = generate_wrapping_key(WrappingKeySpec::Rsa3072).unwrap();
        let other = generate_wrapping_key(WrappingKeySpec::Rsa3072).unwrap();
        let aes = [42u8; 32];
        let rsa = crate::generate(Algorithm::Rsa2048Pss).unwrap();

        let wrapped = oaep_wrap(&token.public_key_der, &aes);
        let got = unwrap_imported(
            WrappingKeySpec::Rsa3072,
            WrappingAlgorithm::RsaOaepSha256,
            &token.private_pkcs8,
            &wrapped,
        )
        .unwrap();
        assert_eq!(got.expose_secret(), aes);

        let wrapped = kw_wrap(&token.public_key_der, rsa.material.expose_secret());
        let got = unwrap_imported(
            WrappingKeySpec::Rsa3072,
            WrappingAlgorithm::RsaAesKeyWrapSha256,
            &token.private_pkcs8,
            &wrapped,
        )
        .unwrap();
        assert!(got.ct_eq(&rsa.material));
        let imported = import_material(Algorithm::Rsa2048Pss, got).unwrap();
        assert_eq!(imported.kcv, rsa.kcv);

        let for_other = oaep_wrap(&other.public_key_der, &aes);
        let err = unwrap_imported(
            WrappingKeySpec::Rsa3072,
            WrappingAlgorithm::RsaOaepSha256,
            &token.private_pkcs8,
            &for_other,
        )
        .unwrap_err();
        assert!(err.to_string().contains("does not decrypt"), "{err}");
        let err = unwrap_imported(
            WrappingKeySpec::Rsa4096,
            WrappingAlgorithm::RsaOaepSha256,
            &token.private_pkcs8,
            &wrapped,
        )
        .unwrap_err();
        assert!(err.to_string().contains("exactly 512"), "{err}");
    }

    #[test]
    fn material_must_fit_the_algorithm() {
        let err = import_material(Algorithm::Aes256Gcm, SecretBytes::from_slice(&[1; 16])).unwrap_err();
        assert!(err.to_string().contains("16 bytes that are not 32 raw bytes"), "{err}");
        let p384 = crate::generate(Algorithm::EcdsaP384).unwrap();
        assert!(import_material(Algorithm::EcdsaP256, p384.material).is_err());
        let aes = import_material(Algorithm::Aes256Gcm, SecretBytes::from_slice(&[1; 32])).unwrap();
        assert_eq!(
            aes.kcv,
            LoadedKey::load(Algorithm::Aes256Gcm, &SecretBytes::from_slice(&[1; 32])).unwrap().kcv().unwrap()
        );
    }
}
