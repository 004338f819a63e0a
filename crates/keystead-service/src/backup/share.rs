//! Backup shares: the backup key split M-of-N, one share per recovery officer, each in its own
//! file. A share names its backup, so a share of another backup is recognised before anything
//! is combined; the bundle's header keeps a digest of each share, so a damaged or forged share
//! is named instead of spoiling the others.

use keystead_crypto::shamir::Share;

use crate::error::invalid;
use crate::share_text::{self, ShareKind, ShareTextError};
use crate::{Error, ShareText};

/// Length of the backup key, and so of every share's value.
pub(crate) const KEY_LEN: usize = 32;

/// The digest of a share kept in the bundle's header, bound to its backup and index.
pub(crate) fn digest(backup_id: &str, share: &Share) -> String {
    share_text::digest(ShareKind::Backup, backup_id, share)
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
    share_text::encode(ShareKind::Backup, backup_id, Some(threshold), share)
}

/// A parsed share with the backup it names.
pub(crate) struct ParsedShare {
    pub backup_id: String,
    pub share: Share,
}

/// Parses a share's text (the `ksb1` line of a share file; comment lines are skipped).
/// Errors name the share by its position on the command line, never echo it.
pub(crate) fn parse(text: &str, position: usize) -> Result<ParsedShare, Error> {
    let decoded = share_text::decode(ShareKind::Backup, text, KEY_LEN).map_err(|err| match err {
        ShareTextError::Malformed => invalid(
            "share",
            format!("share {position} is not a Keystead backup share (expected a line ksb1.<backup>.<n>.<m>.<value>.<check>)"),
        ),
        ShareTextError::CheckMismatch => invalid(
            "share",
            format!("share {position}: its check digits do not match: it was mistyped or truncated"),
        ),
    })?;
    Ok(ParsedShare { backup_id: decoded.owner, share: decoded.share })
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
