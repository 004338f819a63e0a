//! The one text codec of M-of-N shares, for unseal shares (`kss1`) and backup shares
//! (`ksb1`): `<prefix>.<owner>.<index>[.<threshold>].<value>.<check>`, where the owner is the
//! store's seal id or the backup id, the value is URL-safe base64, and the check is 6 hex
//! digits of SHA-256 over everything before it, so a mistyped or truncated share is caught on
//! entry. Parsing never echoes a share in an error.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use keystead_crypto::shamir::Share;
use keystead_crypto::SecretBytes;
use zeroize::Zeroizing;

use crate::ShareText;

/// Which shares a text is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ShareKind {
    /// An unseal share of a store's root key: `kss1.<seal id>.<index>.<value>.<check>`.
    Unseal,
    /// A backup share: `ksb1.<backup id>.<index>.<threshold>.<value>.<check>`.
    Backup,
}

impl ShareKind {
    fn prefix(self) -> &'static str {
        match self {
            ShareKind::Unseal => "kss1",
            ShareKind::Backup => "ksb1",
        }
    }

    /// The label of the digests kept of each share (bound to the owner and the index).
    fn digest_label(self) -> &'static str {
        match self {
            ShareKind::Unseal => "keystead-unseal-share",
            ShareKind::Backup => "keystead-backup-share",
        }
    }
}

/// A share read from its text.
pub(crate) struct DecodedShare {
    /// The seal id or backup id it names.
    pub owner: String,
    /// The share.
    pub share: Share,
}

/// Why a text is not a share. Worded by the caller, which knows the context (which store,
/// which position on the command line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ShareTextError {
    /// Not of the form at all.
    Malformed,
    /// The check digits do not match: mistyped or truncated.
    CheckMismatch,
}

fn check(body: &str) -> String {
    hex::encode(&keystead_crypto::sha256(body.as_bytes())[..3])
}

/// The digest kept of a share, bound to its owner and index. A share is 256 random bits: its
/// digest reveals nothing usable.
pub(crate) fn digest(kind: ShareKind, owner: &str, share: &Share) -> String {
    let mut input = Zeroizing::new(format!("{}.{owner}.{}.", kind.digest_label(), share.index).into_bytes());
    input.extend_from_slice(share.value.expose_secret());
    hex::encode(keystead_crypto::sha256(&input))
}

/// The text of a share.
pub(crate) fn encode(kind: ShareKind, owner: &str, threshold: Option<u8>, share: &Share) -> ShareText {
    let value = Zeroizing::new(URL_SAFE_NO_PAD.encode(share.value.expose_secret()));
    let body = Zeroizing::new(match (kind, threshold) {
        (ShareKind::Backup, Some(m)) => {
            format!("{}.{owner}.{}.{m}.{}", kind.prefix(), share.index, value.as_str())
        }
        _ => format!("{}.{owner}.{}.{}", kind.prefix(), share.index, value.as_str()),
    });
    let check = check(&body);
    ShareText::new(Zeroizing::new(format!("{}.{check}", body.as_str())))
}

/// Reads a share: the first line starting with the kind's prefix (other lines of a share
/// file, such as comments, are skipped). `value_len` is the length every share value has.
pub(crate) fn decode(kind: ShareKind, text: &str, value_len: usize) -> Result<DecodedShare, ShareTextError> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with(kind.prefix()))
        .ok_or(ShareTextError::Malformed)?;
    let (body, given_check) = line.rsplit_once('.').ok_or(ShareTextError::Malformed)?;
    let fields: Vec<&str> = body.split('.').collect();
    // A backup share states its threshold for the people holding it; the bundle's header is
    // what a restore trusts, so the field is only checked for form here.
    let (owner, index, value) = match (kind, fields.as_slice()) {
        (ShareKind::Unseal, [_, owner, index, value]) => (*owner, *index, *value),
        (ShareKind::Backup, [_, owner, index, threshold, value]) => {
            threshold.parse::<u8>().map_err(|_| ShareTextError::Malformed)?;
            (*owner, *index, *value)
        }
        _ => return Err(ShareTextError::Malformed),
    };
    if !keystead_crypto::ct_eq_str(&check(body), given_check) {
        return Err(ShareTextError::CheckMismatch);
    }
    let index: u8 = index.parse().map_err(|_| ShareTextError::Malformed)?;
    let value = SecretBytes::new(URL_SAFE_NO_PAD.decode(value).map_err(|_| ShareTextError::Malformed)?);
    if index == 0 || value.len() != value_len {
        return Err(ShareTextError::Malformed);
    }
    Ok(DecodedShare { owner: owner.to_owned(), share: Share { index, value } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_kinds_round_trip_and_refuse_each_others_text() {
        let secret = keystead_crypto::random_secret(32).expect("random");
        let shares = keystead_crypto::shamir::split(&secret, 2, 3).expect("splits");
        for (kind, threshold) in [(ShareKind::Unseal, None), (ShareKind::Backup, Some(2))] {
            let text = encode(kind, "owner_1", threshold, &shares[2]);
            let decoded =
                decode(kind, &format!("# comment\n{}\n", text.expose_secret()), 32).expect("decodes");
            assert_eq!(decoded.owner, "owner_1");
            assert_eq!(decoded.share.index, 3);
            assert!(decoded.share.value.ct_eq(&shares[2].value));
            let other = if kind == ShareKind::Unseal { ShareKind::Backup } else { ShareKind::Unseal };
            assert_eq!(decode(other, text.expose_secret(), 32).err(), Some(ShareTextError::Malformed));
            assert_eq!(decode(kind, text.expose_secret(), 16).err(), Some(ShareTextError::Malformed));
        }
        assert_ne!(digest(ShareKind::Unseal, "o", &shares[0]), digest(ShareKind::Backup, "o", &shares[0]));
    }

    #[test]
    fn a_typo_fails_the_check() {
        let secret = keystead_crypto::random_secret(32).expect("random");
        let shares = keystead_crypto::shamir::split(&secret, 2, 2).expect("splits");
        let mut text = encode(ShareKind::Unseal, "seal", None, &shares[0]).expose_secret().to_owned();
        let at = text.len() - 12;
        let flipped = if text.as_bytes()[at] == b'A' { "B" } else { "A" };
        text.replace_range(at..at + 1, flipped);
        assert_eq!(decode(ShareKind::Unseal, &text, 32).err(), Some(ShareTextError::CheckMismatch));
    }
}
