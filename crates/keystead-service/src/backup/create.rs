//! `backup create`: every recoverable key in one bundle sealed under a fresh backup key, the
//! backup key split M-of-N into shares, nothing else keeping it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keystead_core::{Action, AuditAction, AuditEvent, KeyState, Tenant};
use keystead_crypto::{shamir, RootKey, SecretBytes};
use keystead_store::{barrier, Change, HeldShare, KeyFilter, StoredKey};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;
use zeroize::Zeroizing;

use super::bundle::{self, BundleWriter, Header, KeyRecord, Manifest, ManifestKey, VersionRecord};
use super::share;
use crate::error::invalid;
use crate::{Caller, Error, Service, ShareText};

/// The most shares a backup may be split into.
pub const MAX_SHARES: u8 = 16;

/// A backup being written. The shares are handed out once, here; the bundle's lines follow
/// on `lines` as each key is sealed (a long backup shows its progress), ending with the
/// manifest and the end tag, or with an error.
pub struct BackupStream {
    /// The backup's id, named by every share.
    pub backup_id: String,
    /// Shares needed to open the bundle.
    pub threshold: u8,
    /// One share per recovery officer, by index; empty when the shares are held for named
    /// holders (each collects its own, the caller sees none).
    pub shares: Vec<ShareText>,
    /// The holders the shares are kept for, by index (empty: the caller received them).
    pub held_for: Vec<String>,
    /// Keys in the bundle.
    pub keys: usize,
    /// Keys left out (non-recoverable, or nothing left to recover).
    pub excluded: usize,
    /// The bundle's lines, each ending in a newline.
    pub lines: mpsc::Receiver<Result<String, Error>>,
}

impl std::fmt::Debug for BackupStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BackupStream({}, {} keys, shares redacted)", self.backup_id, self.keys)
    }
}

/// Why a key is left out of backups, if it is.
fn exclusion(stored: &StoredKey) -> Option<String> {
    let attributes = &stored.attributes;
    if !attributes.recoverable {
        return Some(format!(
            "recovery policy: non-recoverable ({} {} key, criticality {}; replaced rather than recovered)",
            attributes.purpose, attributes.algorithm, attributes.criticality
        ));
    }
    if stored.versions.iter().all(|v| v.sealed_material.is_none()) {
        if stored.versions.iter().any(|v| v.info.state == KeyState::PendingImport) {
            return Some("external key without imported material: its owner holds the material".into());
        }
        return Some("every version is destroyed: no material left to recover".into());
    }
    None
}

fn manifest_key(stored: &StoredKey, reason: Option<String>) -> ManifestKey {
    let attributes = &stored.attributes;
    ManifestKey {
        key_id: attributes.id.to_string(),
        tenant: attributes.tenant.to_string(),
        name: attributes.name.to_string(),
        purpose: attributes.purpose.to_string(),
        versions: reason.is_none().then_some(stored.versions.len() as u32),
        reason,
    }
}

impl Service {
    /// Starts a backup of every recoverable key. Refusals are audited here; the backup's own
    /// event is written once its last line is out.
    ///
    /// With `holders` (one distinct recovery officer per share, not the caller), the shares
    /// are kept sealed in the store for their holders, each of whom collects its own once
    /// ([`collect_backup_share`](Self::collect_backup_share)): nobody, the caller included,
    /// ever sees M shares. Without, the caller receives every share to hand out.
    pub async fn create_backup(
        &self,
        caller: &Caller,
        shares: u8,
        threshold: u8,
        holders: &[String],
    ) -> Result<BackupStream, Error> {
        let event = self.attempt(caller, AuditAction::BackupCreate, &Tenant::default_tenant());
        let result = self.start_backup(caller, shares, threshold, holders, event.clone()).await;
        self.finish(event, result).await
    }

    async fn start_backup(
        &self,
        caller: &Caller,
        shares: u8,
        threshold: u8,
        holders: &[String],
        mut event: AuditEvent,
    ) -> Result<BackupStream, Error> {
        self.authorize_whole_store(caller, "back up keys")?;
        if threshold < 2 || threshold > shares || shares > MAX_SHARES {
            return Err(invalid(
                "threshold",
                format!("need 2 <= threshold <= shares <= {MAX_SHARES}: no single share may open a backup"),
            ));
        }
        self.check_holders(caller, holders, shares).await?;
        let root = self.root()?;
        let mut included = Vec::new();
        let mut manifest = Manifest::default();
        for stored in self.store.keys(&KeyFilter::default()).await? {
            match exclusion(&stored) {
                Some(reason) => manifest.excluded.push(manifest_key(&stored, Some(reason))),
                None => {
                    manifest.included.push(manifest_key(&stored, None));
                    included.push(stored);
                }
            }
        }
        let backup_id = format!("bkp_{}", hex::encode(keystead_crypto::random_array::<16>()?));
        let (backup_key, material) = RootKey::generate()?;
        let split = shamir::split(&material, threshold, shares)?;
        drop(material);
        let header = Header {
            format: bundle::FORMAT.into(),
            version: bundle::VERSION,
            backup_id: backup_id.clone(),
            created_at: self.now(),
            created_by: caller.principal.clone(),
            node: self.config.node.to_string(),
            environment: self.config.environment.to_string(),
            threshold,
            shares,
            share_digests: split.iter().map(|s| share::digest(&backup_id, s)).collect(),
            keys: included.len(),
        };
        let texts: Vec<ShareText> = split.iter().map(|s| share::encode(&backup_id, threshold, s)).collect();
        drop(split);
        let (texts, held) = if holders.is_empty() {
            (texts, Vec::new())
        } else {
            let now = self.now();
            let mut held = Vec::with_capacity(texts.len());
            for (i, (text, holder)) in texts.iter().zip(holders).enumerate() {
                let index = u8::try_from(i + 1).unwrap_or(u8::MAX);
                let plain = SecretBytes::from_slice(text.expose_secret().as_bytes());
                held.push(HeldShare {
                    backup_id: backup_id.clone(),
                    index,
                    holder: holder.clone(),
                    sealed_share: Some(root.seal(&share::held_aad(&backup_id, index, holder), &plain)?),
                    created_at: now,
                    collected_at: None,
                });
            }
            event.details.insert("held_for".into(), holders.join(","));
            (Vec::new(), held)
        };
        let (writer, header_line) = BundleWriter::start(&header, backup_key)?;
        event.details.insert("backup_id".into(), backup_id.clone());
        event.details.insert("keys".into(), included.len().to_string());
        event.details.insert("excluded".into(), manifest.excluded.len().to_string());
        event.details.insert("threshold".into(), threshold.to_string());
        event.details.insert("shares".into(), shares.to_string());
        let (sender, lines) = mpsc::channel(16);
        let stream = BackupStream {
            backup_id,
            threshold,
            shares: texts,
            held_for: holders.to_vec(),
            keys: included.len(),
            excluded: manifest.excluded.len(),
            lines,
        };
        // The writer outlives the request that started it: it owns what it needs.
        let store = self.store.clone();
        let sealed =
            Sealed { epoch: self.seal_epoch.clone(), at_start: self.seal_epoch.load(Ordering::SeqCst) };
        tokio::spawn(async move {
            let mut digest = keystead_crypto::Sha256Stream::default();
            digest.update(header_line.as_bytes());
            let out = Output { sender: &sender, sealed };
            let written = match out.send(header_line).await {
                Ok(()) => write_keys(writer, &root, included, manifest, &out, &mut digest).await,
                Err(err) => Err(err),
            };
            drop(root);
            match written {
                Ok(versions) => {
                    event.details.insert("versions".into(), versions.to_string());
                    event.details.insert("bundle_sha256".into(), hex::encode(digest.finish()));
                    // Held shares are stored only with a complete backup, with its event.
                    let change = if held.is_empty() { Change::AuditOnly } else { Change::HoldShares(held) };
                    if let Err(err) = store.commit(change, event).await {
                        // The bundle is out but unrecorded: say so rather than pass it off as done.
                        tracing::error!(error = %err, "backup written but its audit event could not be stored");
                        let _ = sender.send(Err(Error::Store(err))).await;
                    }
                }
                Err(err) => {
                    let err = crate::audit::record_refusal(store.as_ref(), event, err).await;
                    let _ = sender.send(Err(err)).await;
                }
            }
        });
        Ok(stream)
    }

    /// One distinct recovery officer per share, none of them the caller.
    async fn check_holders(&self, caller: &Caller, holders: &[String], shares: u8) -> Result<(), Error> {
        if holders.is_empty() {
            return Ok(());
        }
        if holders.len() != usize::from(shares) {
            return Err(invalid(
                "holder",
                format!("name one holder per share: {} holders for {shares} shares", holders.len()),
            ));
        }
        for (i, holder) in holders.iter().enumerate() {
            if holders[..i].contains(holder) {
                return Err(invalid(
                    "holder",
                    format!("{holder} is named twice: each share needs its own holder"),
                ));
            }
            if holder == &caller.principal {
                return Err(invalid("holder", "the principal making the backup may not hold a share of it"));
            }
            let principal = self.store.principal_by_name(holder).await?;
            let officer = principal.as_ref().is_some_and(|p| {
                p.is_active_at(self.now())
                    && p.tenant.is_none()
                    && p.roles.iter().any(|r| r == "recovery-officer")
            });
            if !officer {
                return Err(invalid(
                    "holder",
                    format!("{holder} is not an active recovery officer of the whole store"),
                ));
            }
        }
        Ok(())
    }

    /// A holder collects its share of a backup, once: the share text, sealed in the store
    /// until now, is deleted as it is handed out.
    pub async fn collect_backup_share(&self, caller: &Caller, backup_id: &str) -> Result<ShareText, Error> {
        let mut event = self.attempt(caller, AuditAction::BackupShareCollect, &Tenant::default_tenant());
        event.details.insert("backup_id".into(), backup_id.chars().take(40).collect());
        let result = async {
            self.authorize_whole_store(caller, "collect a backup share")?;
            let not_found = || {
                invalid(
                    "backup",
                    format!(
                        "no share of backup {} is held for {}",
                        backup_id.chars().take(40).collect::<String>(),
                        caller.principal
                    ),
                )
            };
            let held = self.store.held_share(backup_id, &caller.principal).await?.ok_or_else(not_found)?;
            let Some(sealed) = held.sealed_share else {
                return Err(Error::SealState {
                    reason: format!("share {} of backup {backup_id} was collected already", held.index),
                });
            };
            let root = self.root()?;
            let plain = root
                .open(&share::held_aad(backup_id, held.index, &caller.principal), &sealed)
                .map_err(|_| Error::Store(keystead_store::Error::Corrupt { what: "held backup share" }))?;
            let text = std::str::from_utf8(plain.expose_secret())
                .map_err(|_| Error::Store(keystead_store::Error::Corrupt { what: "held backup share" }))?;
            let text = ShareText::new(Zeroizing::new(text.to_owned()));
            event.details.insert("share_index".into(), held.index.to_string());
            let change = Change::CollectShare {
                backup_id: backup_id.to_owned(),
                holder: caller.principal.clone(),
                at: self.now(),
            };
            self.store.commit(change, event.clone()).await?;
            Ok(text)
        }
        .await;
        self.finish(event, result).await
    }

    /// Backups, restores and drills cover every tenant: a principal confined to one tenant
    /// may not run them.
    pub(crate) fn authorize_whole_store(&self, caller: &Caller, what: &str) -> Result<(), Error> {
        self.authorize(caller, Action::Recover, None)?;
        if caller.tenant.is_some() {
            return Err(Error::PermissionDenied {
                reason: format!(
                    "{} is confined to a tenant; only a principal of the whole store may {what}",
                    caller.principal
                ),
            });
        }
        Ok(())
    }
}

/// How long a client may leave a line unread before the backup stops (and lets go of the
/// root key it holds).
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Whether the server was sealed since the backup started.
struct Sealed {
    epoch: Arc<AtomicU64>,
    at_start: u64,
}

/// Where a backup's lines go.
struct Output<'a> {
    sender: &'a mpsc::Sender<Result<String, Error>>,
    sealed: Sealed,
}

impl Output<'_> {
    /// Sends a line; stops the backup if the server was sealed meanwhile, or if the client
    /// went away or stopped reading.
    async fn send(&self, line: String) -> Result<(), Error> {
        let interrupted = |reason: &str| Error::BackupInterrupted { reason: reason.into() };
        if self.sealed.epoch.load(Ordering::SeqCst) != self.sealed.at_start {
            return Err(interrupted("the server was sealed"));
        }
        match tokio::time::timeout(READ_TIMEOUT, self.sender.send(Ok(line))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(interrupted("the client stopped reading the bundle")),
            Err(_) => Err(interrupted("the client read nothing for two minutes")),
        }
    }
}

/// Seals each key into its line and sends it, then the manifest and end lines. Returns
/// how many versions the bundle holds.
async fn write_keys(
    mut writer: BundleWriter,
    root: &RootKey,
    keys: Vec<StoredKey>,
    manifest: Manifest,
    out: &Output<'_>,
    digest: &mut keystead_crypto::Sha256Stream,
) -> Result<usize, Error> {
    let mut versions = 0;
    for stored in keys {
        let record = key_record(root, &stored, writer.backup_id())?;
        versions += record.versions.len();
        let line = writer.key(&record)?;
        digest.update(line.as_bytes());
        out.send(line).await?;
    }
    let tail = writer.finish(manifest)?;
    digest.update(tail.as_bytes());
    out.send(tail).await?;
    Ok(versions)
}

/// A key's record for the bundle: every version with its material (opened from the
/// barrier, checked against its KCV) and a test vector made with it.
fn key_record(root: &RootKey, stored: &StoredKey, backup_id: &str) -> Result<KeyRecord, Error> {
    let key_id = stored.attributes.id.to_string();
    let mut versions = Vec::with_capacity(stored.versions.len());
    for version in &stored.versions {
        let (material, test_vector) = if version.sealed_material.is_some() {
            let (material, loaded) = barrier::open_material_bytes(root, &stored.attributes, version)?;
            let message = bundle::test_message(backup_id, &key_id, version.info.number.get());
            let vector = loaded.test_vector(&message)?;
            (Some(Zeroizing::new(STANDARD.encode(material.expose_secret()))), Some(STANDARD.encode(vector)))
        } else {
            debug_assert!(!version.info.state.has_material());
            (None, None)
        };
        versions.push(VersionRecord {
            info: version.info.clone(),
            provenance_json: version.provenance_json.clone(),
            public_key_der: version.info.public_key_der.as_deref().map(|der| STANDARD.encode(der)),
            material,
            test_vector,
        });
    }
    Ok(KeyRecord { attributes: stored.attributes.clone(), versions })
}
