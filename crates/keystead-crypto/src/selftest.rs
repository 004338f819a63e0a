//! Power-on known-answer tests. The server refuses to start if one fails.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::hmac;
use aws_lc_rs::signature::Ed25519KeyPair;

use crate::Error;

/// One known-answer vector, from a published source.
struct Vector {
    name: &'static str,
    run: fn() -> Result<Vec<u8>, Error>,
    expected_hex: &'static str,
}

fn hex_bytes(text: &str) -> Vec<u8> {
    hex::decode(text).expect("known-answer vectors are valid hex")
}

/// McGrew & Viega, "The Galois/Counter Mode of Operation", test case 14:
/// AES-256, zero key, zero IV, one zero block of plaintext.
fn aes_256_gcm() -> Result<Vec<u8>, Error> {
    let fail = |_| Error::SelfTest { test: "AES-256-GCM" };
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[0u8; 32]).map_err(fail)?);
    let mut in_out = vec![0u8; 16];
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key([0u8; 12]), Aad::empty(), &mut in_out)
        .map_err(fail)?;
    let mut opened = in_out.clone();
    let plain = key
        .open_in_place(Nonce::assume_unique_for_key([0u8; 12]), Aad::empty(), &mut opened)
        .map_err(fail)?;
    if plain != [0u8; 16] {
        return Err(Error::SelfTest { test: "AES-256-GCM decrypt" });
    }
    Ok(in_out)
}

/// RFC 4231 test case 2: HMAC-SHA-256 with key "Jefe".
fn hmac_sha256() -> Result<Vec<u8>, Error> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, b"Jefe");
    Ok(hmac::sign(&key, b"what do ya want for nothing?").as_ref().to_vec())
}

/// RFC 8032 §7.1 test 1: Ed25519 signature of the empty message.
fn ed25519() -> Result<Vec<u8>, Error> {
    let fail = |_| Error::SelfTest { test: "Ed25519" };
    let pair = Ed25519KeyPair::from_seed_and_public_key(
        &hex_bytes("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"),
        &hex_bytes("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"),
    )
    .map_err(fail)?;
    Ok(pair.sign(b"").as_ref().to_vec())
}

const VECTORS: &[Vector] = &[
    Vector {
        name: "AES-256-GCM (GCM spec test case 14)",
        run: aes_256_gcm,
        expected_hex: "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919",
    },
    Vector {
        name: "HMAC-SHA-256 (RFC 4231 test case 2)",
        run: hmac_sha256,
        expected_hex: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    },
    Vector {
        name: "Ed25519 (RFC 8032 test 1)",
        run: ed25519,
        expected_hex: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    },
];

/// Runs every known-answer test; returns the names of those that passed.
pub fn run_all() -> Result<Vec<&'static str>, Error> {
    run_vectors(VECTORS)
}

fn run_vectors(vectors: &[Vector]) -> Result<Vec<&'static str>, Error> {
    vectors
        .iter()
        .map(|v| {
            let got = (v.run)()?;
            if aws_lc_rs::constant_time::verify_slices_are_equal(&got, &hex_bytes(v.expected_hex)).is_ok() {
                Ok(v.name)
            } else {
                Err(Error::SelfTest { test: v.name })
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_vectors_pass() {
        assert_eq!(run_all().unwrap().len(), 3);
    }

    #[test]
    fn a_wrong_answer_fails_the_self_test() {
        let corrupted = [Vector { name: "corrupted", run: hmac_sha256, expected_hex: "00" }];
        assert!(matches!(run_vectors(&corrupted), Err(Error::SelfTest { test: "corrupted" })));
    }
}
