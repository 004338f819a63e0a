//! Webhook signing secrets and the `Keystead-Signature` header they sign with.

use crate::{hmac_sha256, random_array, Error, SecretBytes};

/// A fresh webhook signing secret: `whsec_` and 64 hex digits (256 random bits), as UTF-8
/// bytes (the receiver keys its HMAC with exactly this text).
pub fn generate_webhook_secret() -> Result<SecretBytes, Error> {
    Ok(SecretBytes::new(format!("whsec_{}", hex::encode(random_array::<32>()?)).into_bytes()))
}

/// The `Keystead-Signature` header of one delivery: `t=<unix seconds>,v1=<hex HMAC-SHA256
/// of "t.body" under the secret>`. The timestamp is signed so a receiver can refuse replays.
pub fn webhook_signature(secret: &SecretBytes, timestamp: i64, body: &str) -> String {
    let signed = format!("{timestamp}.{body}");
    format!("t={timestamp},v1={}", hex::encode(hmac_sha256(secret, signed.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_their_form_and_differ() {
        let (a, b) = (generate_webhook_secret().expect("random"), generate_webhook_secret().expect("random"));
        assert!(!a.ct_eq(&b));
        let text = std::str::from_utf8(a.expose_secret()).expect("utf-8");
        assert!(text.starts_with("whsec_") && text.len() == 6 + 64, "{}", text.len());
    }

    /// RFC 4231 test case 2 (key "Jefe"), through the header's "t.body" framing.
    #[test]
    fn the_header_is_hmac_sha256_of_timestamp_dot_body() {
        let key = SecretBytes::from_slice(b"Jefe");
        let header = webhook_signature(&key, 0, "");
        assert_eq!(header, format!("t=0,v1={}", hex::encode(hmac_sha256(&key, b"0."))));
        let rfc = hmac_sha256(&key, b"what do ya want for nothing?");
        assert_eq!(hex::encode(rfc), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
