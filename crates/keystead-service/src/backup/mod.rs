//! Key recovery (CEK-20): backups with split knowledge (`create.rs`), restores authorized by a
//! quorum or by break-glass (`restore.rs`) and recovery drills (`drill.rs`), over one bundle
//! format (`bundle.rs`) and one share format (`share.rs`).

mod bundle;
mod create;
mod drill;
mod restore;
mod share;

use keystead_crypto::{shamir, RootKey};
use zeroize::Zeroizing;

pub use bundle::{Header as BackupHeader, Manifest as BackupManifest, ManifestKey};
pub use create::{BackupStream, MAX_SHARES};
pub use drill::{DrillFailure, DrillReport};
pub use restore::{ConflictingKey, OnConflict, RecoveryRequest, RestoreInput, RestoreReport, RestoredKey};

use crate::error::invalid;
use crate::Error;

/// Checks each share against the bundle's header and combines them into its backup key.
/// Refuses, naming the share (by its position as given), one of another backup, one that
/// does not match the digest the bundle keeps, the same share twice, and fewer than M.
fn unlock(header: &bundle::Header, shares: &[Zeroizing<String>]) -> Result<RootKey, Error> {
    // Wrong shares are wrong input (the bundle itself may be fine): invalid, not tampered.
    let refuse = |reason: String| invalid("share", reason);
    if header.share_digests.len() != usize::from(header.shares) {
        return Err(Error::Bundle { reason: "its header does not list one digest per share".into() });
    }
    let mut accepted: Vec<shamir::Share> = Vec::new();
    for (i, text) in shares.iter().enumerate() {
        let position = i + 1;
        let parsed = share::parse(text, position)?;
        if parsed.backup_id != header.backup_id {
            return Err(refuse(format!(
                "share {position} belongs to backup {}, not to this bundle's backup {}",
                parsed.backup_id, header.backup_id
            )));
        }
        let index = parsed.share.index;
        let matches = header.share_digests.get(usize::from(index) - 1).is_some_and(|kept| {
            keystead_crypto::ct_eq_str(kept, &share::digest(&header.backup_id, &parsed.share))
        });
        if !matches {
            return Err(refuse(format!(
                "share {position} (share {index} of backup {}) does not match the bundle's record of that share: it is damaged or forged",
                header.backup_id
            )));
        }
        if accepted.iter().any(|s| s.index == index) {
            return Err(refuse(format!("share {position} is share {index} again; each share counts once")));
        }
        accepted.push(parsed.share);
    }
    if accepted.len() < usize::from(header.threshold) {
        return Err(refuse(format!(
            "{} valid share(s) given; backup {} needs {} of its {} shares",
            accepted.len(),
            header.backup_id,
            header.threshold,
            header.shares
        )));
    }
    let material = shamir::combine(&accepted)?;
    if material.len() != share::KEY_LEN {
        return Err(refuse("the shares do not combine into a backup key".into()));
    }
    Ok(RootKey::from_material(&material)?)
}
