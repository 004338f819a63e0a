//! The text envelope of ciphertexts, signatures, MAC tags and wrapped keys:
//! `ks1:<key-id>:v<version>:<base64url>`. The key id and version are always authenticated by
//! the payload (as AEAD associated data, or by the signature's key), never merely trusted.

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use time::OffsetDateTime;

use crate::{Error, KeyId, VersionNumber};

const PREFIX: &str = "ks1";

/// The longest envelope text accepted (16 MiB payload after base64).
pub const MAX_ENVELOPE_LEN: usize = 22 * 1024 * 1024;

/// A parsed envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The key that produced it.
    pub key_id: KeyId,
    /// The version that produced it.
    pub version: VersionNumber,
    /// The binary payload.
    pub payload: Vec<u8>,
}

impl Envelope {
    /// Parses `ks1:<key-id>:v<version>:<base64url>`; `what` names the kind for errors.
    pub fn parse(what: &'static str, text: &str) -> Result<Self, Error> {
        let malformed = |reason| Error::MalformedEnvelope { what, reason };
        let text = text.trim();
        if text.len() > MAX_ENVELOPE_LEN {
            return Err(malformed("too long"));
        }
        if !text.starts_with("ks1:") {
            // The binary form in standard base64, as AWS clients print a CiphertextBlob.
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text) {
                if bytes.starts_with(BINARY_MAGIC) {
                    return Self::from_binary(what, &bytes);
                }
            }
        }
        let mut parts = text.splitn(4, ':');
        if parts.next() != Some(PREFIX) {
            return Err(malformed("it must start with ks1:"));
        }
        let key_id = parts
            .next()
            .and_then(|id| KeyId::parse(id).ok())
            .ok_or_else(|| malformed("the second field must be a key id"))?;
        let version = parts
            .next()
            .and_then(|v| v.strip_prefix('v'))
            .and_then(|n| n.parse::<u32>().ok())
            .and_then(|n| VersionNumber::new(n).ok())
            .ok_or_else(|| malformed("the third field must be a version such as v1"))?;
        let payload = parts
            .next()
            .and_then(|b64| URL_SAFE_NO_PAD.decode(b64).ok())
            .ok_or_else(|| malformed("the fourth field must be unpadded base64url"))?;
        Ok(Self { key_id, version, payload })
    }
}

/// The first bytes of the binary form.
const BINARY_MAGIC: &[u8] = b"KS1";

impl Envelope {
    /// The binary form (the AWS endpoint's `CiphertextBlob`): `KS1`, the key id's 16 bytes, the
    /// version as 4 bytes big-endian, then the payload. The same fields as the text form, so
    /// either converts to the other without loss.
    pub fn to_binary(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BINARY_MAGIC.len() + 20 + self.payload.len());
        out.extend_from_slice(BINARY_MAGIC);
        out.extend_from_slice(&self.key_id.to_bytes());
        out.extend_from_slice(&self.version.get().to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }

    /// Parses the binary form, or the text form sent as bytes.
    pub fn from_binary(what: &'static str, bytes: &[u8]) -> Result<Self, Error> {
        let malformed = |reason| Error::MalformedEnvelope { what, reason };
        if bytes.starts_with(b"ks1:") {
            let text = std::str::from_utf8(bytes).map_err(|_| malformed("the text form must be UTF-8"))?;
            return Self::parse(what, text);
        }
        if bytes.len() > MAX_ENVELOPE_LEN {
            return Err(malformed("too long"));
        }
        let rest = bytes.strip_prefix(BINARY_MAGIC).ok_or(malformed("it must start with KS1 or ks1:"))?;
        let (id, rest) = rest.split_first_chunk::<16>().ok_or(malformed("too short"))?;
        let (version, payload) = rest.split_first_chunk::<4>().ok_or(malformed("too short"))?;
        let version = VersionNumber::new(u32::from_be_bytes(*version))
            .map_err(|_| malformed("the version must be 1 or more"))?;
        Ok(Self { key_id: KeyId::from_bytes(*id), version, payload: payload.to_vec() })
    }
}

impl fmt::Display for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}:{}:v{}:{}", self.key_id, self.version, URL_SAFE_NO_PAD.encode(&self.payload))
    }
}

/// Length of the AEAD nonce Keystead uses (96 bits for AES-GCM and ChaCha20-Poly1305).
pub const NONCE_LEN: usize = 12;

/// The payload of a symmetric ciphertext: protect time, nonce, then ciphertext with tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AeadPayload {
    /// When the data was protected (milliseconds since the Unix epoch).
    pub protected_at_ms: i64,
    /// The AEAD nonce.
    pub nonce: [u8; NONCE_LEN],
    /// Ciphertext followed by the tag.
    pub ciphertext: Vec<u8>,
}

impl AeadPayload {
    /// Splits an envelope payload; refuses one too short to hold a tag.
    pub fn parse(payload: &[u8]) -> Result<Self, Error> {
        let malformed = |reason| Error::MalformedEnvelope { what: "ciphertext", reason };
        let (time, rest) = payload.split_first_chunk::<8>().ok_or_else(|| malformed("too short"))?;
        let (nonce, ciphertext) =
            rest.split_first_chunk::<NONCE_LEN>().ok_or_else(|| malformed("too short"))?;
        if ciphertext.len() < 16 {
            return Err(malformed("too short to hold an authentication tag"));
        }
        Ok(Self {
            protected_at_ms: i64::from_be_bytes(*time),
            nonce: *nonce,
            ciphertext: ciphertext.to_vec(),
        })
    }

    /// Joins the parts into an envelope payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + NONCE_LEN + self.ciphertext.len());
        out.extend_from_slice(&self.protected_at_ms.to_be_bytes());
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// The protect time, if representable.
    pub fn protected_at(&self) -> Option<OffsetDateTime> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.protected_at_ms) * 1_000_000).ok()
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Appends a length-prefixed field, so that no two field lists encode to the same bytes.
fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(&(field.len() as u64).to_be_bytes());
    out.extend_from_slice(field);
}

/// The associated data of a symmetric ciphertext: the envelope header, the protect time and the
/// caller's encryption context, each length-prefixed, the context sorted by key.
pub fn ciphertext_aad(
    key_id: KeyId,
    version: VersionNumber,
    protected_at_ms: i64,
    context: &BTreeMap<String, String>,
) -> Vec<u8> {
    let mut aad = Vec::new();
    push_field(&mut aad, b"keystead ciphertext ks1");
    push_field(&mut aad, key_id.to_string().as_bytes());
    push_field(&mut aad, &version.get().to_be_bytes());
    push_field(&mut aad, &protected_at_ms.to_be_bytes());
    push_field(&mut aad, &(context.len() as u64).to_be_bytes());
    for (k, v) in context {
        push_field(&mut aad, k.as_bytes());
        push_field(&mut aad, v.as_bytes());
    }
    aad
}

/// Canonical length-prefixed encoding of a list of fields (used for sealing associated data).
pub fn canonical_fields(fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields {
        push_field(&mut out, field);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips() {
        let env = Envelope {
            key_id: KeyId::from_random_bytes([1; 16]),
            version: VersionNumber::new(3).unwrap(),
            payload: vec![0, 1, 2, 250],
        };
        let text = env.to_string();
        assert!(text.starts_with("ks1:"));
        assert!(text.contains(":v3:"));
        assert_eq!(Envelope::parse("ciphertext", &text), Ok(env));
    }

    #[test]
    fn malformed_envelopes_are_refused_with_a_reason() {
        let id = KeyId::from_random_bytes([1; 16]);
        for bad in [
            "".to_owned(),
            "ks2:x:v1:AA".to_owned(),
            "ks1:not-a-uuid:v1:AA".to_owned(),
            format!("ks1:{id}:1:AA"),
            format!("ks1:{id}:v0:AA"),
            format!("ks1:{id}:v1:***"),
            format!("ks1:{id}:v1"),
        ] {
            let err = Envelope::parse("ciphertext", &bad).unwrap_err();
            assert!(matches!(err, Error::MalformedEnvelope { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn the_binary_form_carries_the_same_fields() {
        let env = Envelope {
            key_id: KeyId::from_random_bytes([7; 16]),
            version: VersionNumber::new(2).unwrap(),
            payload: vec![9, 8, 7],
        };
        let binary = env.to_binary();
        assert_eq!(Envelope::from_binary("ciphertext", &binary), Ok(env.clone()));
        assert_eq!(Envelope::from_binary("ciphertext", env.to_string().as_bytes()), Ok(env.clone()));
        let printed = base64::engine::general_purpose::STANDARD.encode(&binary);
        assert_eq!(Envelope::parse("ciphertext", &printed), Ok(env));
        assert!(Envelope::from_binary("ciphertext", b"KS1short").is_err());
        assert!(Envelope::from_binary("ciphertext", b"XYZ").is_err());
    }

    #[test]
    fn aead_payload_bounds() {
        assert!(AeadPayload::parse(&[0; 8 + 12 + 15]).is_err());
        let p = AeadPayload { protected_at_ms: 42, nonce: [9; 12], ciphertext: vec![1; 16] };
        assert_eq!(AeadPayload::parse(&p.to_bytes()), Ok(p));
    }

    #[test]
    fn context_order_does_not_matter_but_content_does() {
        let id = KeyId::from_random_bytes([1; 16]);
        let v = VersionNumber::FIRST;
        let a: BTreeMap<_, _> = [("a".into(), "1".into()), ("b".into(), "2".into())].into();
        let b: BTreeMap<_, _> = [("b".into(), "2".into()), ("a".into(), "1".into())].into();
        let c: BTreeMap<_, _> = [("a".into(), "12".into())].into();
        assert_eq!(ciphertext_aad(id, v, 5, &a), ciphertext_aad(id, v, 5, &b));
        assert_ne!(ciphertext_aad(id, v, 5, &a), ciphertext_aad(id, v, 5, &c));
        assert_ne!(ciphertext_aad(id, v, 5, &a), ciphertext_aad(id, v, 6, &a));
    }
}
