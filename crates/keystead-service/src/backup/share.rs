//! Backup shares: the backup key split M-of-N, one share per recovery officer, each in its own
//! file. A share names its backup, so a share of another backup is recognised before anything
//! is combined; the bundle's header keeps a digest of each share, so a damaged or forged share
//! is named instead of spoiling the others.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use keystead_crypto::shamir::Share;
use keystead_crypto::SecretBytes;
use zeroize::Zeroizing;

use crate::error::invalid;
use crate::{Error, ShareText};

/// The prefix of every backup share's text form.
const PREFIX: &str = "ksb1";

/// Length of the backup key, and so of every share's value.
pub(crate) const KEY_LEN: usize = 32;

/// A short check over a share's text, so a mistyped or truncated share is caught on entry.
fn check(body: &str) -> String {
    hex::encode(&keystead_crypto::sha256(body.as_bytes())[..3])
}

/// The digest of a share kept in the bundle's header, bound to its backup and index. A share
/// is 256 random bits: its digest reveals nothing usable.
pub(crate) fn digest(backup_id: &str, share: &Share) -> String {
    let mut input =
        Zeroizing::new(format!("keystead-backup-share.{backup_id}.{}.", share.index).into_bytes());
    input.extend_from_slice(share.value.expose_secret());
    hex::encode(keystead_crypto::sha256(&input))
}

/// The associated data of a share held in the store for its holder.
pub(crate) fn held_aad(backup_id: &str, index: u8, holder: &str) -> Vec<u8> {
    keystead_core::envelope::canonical_fields(&[
        b"keystead held backup share v1",
        backup_id.as_bytes(),
        &[index],
        holder.as_bytes(),
    ])
}

/// The text of a share: `ksb1.<backup id>.<index>.<threshold>.<value>.<check>`.
pub(crate) fn encode(backup_id: &str, threshold: u8, share: &Share) -> ShareText {
    let body = Zeroizing::new(format!(
        "{PREFIX}.{backup_id}.{}.{threshold}.{}",
        share.index,
        URL_SAFE_NO_PAD.encode(share.value.expose_secret())
    ));
    let check = check(&body);
    ShareText::new(Zeroizing::new(format!("{}.{check}", body.as_str())))
}

/// A parsed share with the backup it names.
pub(crate) struct ParsedShare {
    pub backup_id: String,
    pub share: Share,
}

/// Parses a share's text (the `ksb1` line of a share file; comment lines are skipped).
/// Errors name the share by its position on the command line, never echo it.
pub(crate) fn parse(text: &str, position: usize) -> Result<ParsedShare, Error> {
    let malformed = || {
        invalid(
            "share",
            format!("share {position} is not a Keystead backup share (expected a line ksb1.<backup>.<n>.<m>.<value>.<check>)"),
        )
    };
    let line = text.lines().map(str::trim).find(|line| line.starts_with(PREFIX)).ok_or_else(malformed)?;
    let (body, given_check) = line.rsplit_once('.').ok_or_else(malformed)?;
    if !keystead_crypto::ct_eq_str(&check(body), given_check) {
        return Err(invalid(
            "share",
            format!("share {position}: its check digits do not match: it was mistyped or truncated"),
        ));
    }
    let mut parts = body.splitn(5, '.');
    let (Some(PREFIX), Some(backup_id), Some(index), Some(_threshold), Some(value)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let index: u8 = index.parse().map_err(|_| malformed())?;
    let value = SecretBytes::new(URL_SAFE_NO_PAD.decode(value).map_err(|_| malformed())?);
    if index == 0 || value.len() != KEY_LEN {
        return Err(malformed());
    }
    Ok(ParsedShare { backup_id: backup_id.to_owned(), share: Share { index, value } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_round_trips_and_a_typo_is_caught() {
        let secret = keystead_crypto::random_secret(KEY_LEN).expect("random");
        let shares = keystead_crypto::shamir::split(&secret, 2, 3).expect("splits");
        let text = encode("bkp_1", 2, &shares[1]);
        let file = format!("# a comment\n{}\n", text.expose_secret());
        let parsed = parse(&file, 1).expect("parses");
        assert_eq!(parsed.backup_id, "bkp_1");
        assert_eq!(parsed.share.index, 2);
        assert!(parsed.share.value.ct_eq(&shares[1].value));
        assert_eq!(digest("bkp_1", &parsed.share), digest("bkp_1", &shares[1]));
        assert_ne!(digest("bkp_2", &parsed.share), digest("bkp_1", &shares[1]));

        let mut typo = text.expose_secret().to_owned();
        let at = typo.len() - 12;
        let flipped = if typo.as_bytes()[at] == b'A' { "B" } else { "A" };
        typo.replace_range(at..at + 1, flipped);
        let err = parse(&typo, 3).err().expect("refused");
        assert!(err.to_string().contains("share 3"), "{err}");
        assert!(!err.to_string().contains(&typo), "the error echoes the share");
    }
}
