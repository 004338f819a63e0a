//! Sealing: where the root key comes from and whether it is in memory.
//!
//! Under the `shamir` seal the store keeps only the root key sealed under an unseal key; the
//! unseal key exists whole only at `operator init` (to be split) and at the moment the last
//! share of an unseal arrives (to be recombined), and is dropped at once. Unseal progress is
//! per node and in memory: each node of a cluster is unsealed by its operators.

use std::sync::{Arc, MutexGuard};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use keystead_core::{AuditAction, Tenant};
use keystead_crypto::shamir::{self, Share};
use keystead_crypto::{AccessToken, RootKey, UnsealKey};
use keystead_store::{Change, NewPrincipal};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::invalid;
use crate::share_text::{self, ShareKind, ShareTextError};
use crate::{Caller, Error, Service};

/// Store settings written at initialization.
mod meta {
    pub const KIND: &str = "seal_kind";
    pub const ID: &str = "seal_id";
    pub const THRESHOLD: &str = "seal_threshold";
    pub const SHARES: &str = "seal_shares";
    pub const SEALED_ROOT: &str = "sealed_root_key";
    pub const ROOT_KCV: &str = "root_key_kcv";
    pub const ROOT_PRINCIPAL: &str = "root_principal";
    pub const SHARE_DIGESTS: &str = "seal_share_digests";
    pub const PKCS11_KEY_LABEL: &str = "pkcs11_key_label";
}

/// How the server obtains its root key.
pub enum SealSetup {
    /// The root key read from a file by `server --dev`. Development only.
    File(RootKey),
    /// The root key sealed in the store under an unseal key split into shares.
    Shamir,
    /// The root key wrapped by a key held in a PKCS#11 token (`hsm.rs`); unsealed at start.
    Pkcs11(crate::hsm::Pkcs11Settings),
}

impl std::fmt::Debug for SealSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

impl SealSetup {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            SealSetup::File(_) => "file",
            SealSetup::Shamir => "shamir",
            SealSetup::Pkcs11(_) => "pkcs11",
        }
    }
}

/// The shamir seal's settings as stored at initialization.
#[derive(Clone, Debug)]
pub(crate) struct ShamirSettings {
    seal_id: String,
    threshold: u8,
    shares: u8,
    sealed_root: Vec<u8>,
    root_kcv: String,
    /// SHA-256 of each issued share (by index), so that a forged or foreign share is refused
    /// on entry instead of spoiling the other operators' progress. A share is 256 random
    /// bits: its digest reveals nothing usable.
    /// `None` for a store initialized before digests were kept: shares are then checked only
    /// when combined.
    share_digests: Option<Vec<String>>,
}

/// Whether the root key is in memory.
pub(crate) enum SealState {
    Uninitialized,
    Sealed {
        settings: ShamirSettings,
        entered: Vec<Share>,
    },
    Unsealed {
        root: Arc<RootKey>,
        settings: Option<ShamirSettings>,
    },
    /// Sealed by an operator under the pkcs11 seal: a restart unseals (the token unwraps).
    HsmSealed,
}

/// The seal as `operator status` shows it. Public: it reveals no secret and a sealed server
/// must be able to say that it is sealed.
#[derive(Clone, Debug, Serialize)]
pub struct SealStatus {
    /// `shamir`, `pkcs11`, or `file` (development only).
    pub kind: &'static str,
    /// Whether the store has a root key.
    pub initialized: bool,
    /// Whether the root key is out of memory.
    pub sealed: bool,
    /// Shares needed to unseal.
    pub threshold: Option<u8>,
    /// Shares issued.
    pub shares: Option<u8>,
    /// Shares entered so far towards the next unseal.
    pub progress: usize,
    /// The store's seal id, printed in every share so shares of another store are recognised.
    pub seal_id: Option<String>,
    /// A loud warning when the seal is not fit for real keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<&'static str>,
    /// The node this status is of.
    pub node: String,
    /// The environment it serves.
    pub environment: String,
}

/// What `operator init` hands out once: the shares and the root token.
pub struct InitOutput {
    /// The store's seal id.
    pub seal_id: String,
    /// Shares needed to unseal.
    pub threshold: u8,
    /// One text share per operator.
    pub shares: Vec<ShareText>,
    /// The root principal's token.
    pub root_token: AccessToken,
}

impl std::fmt::Debug for InitOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InitOutput(seal {}, {} shares, redacted)", self.seal_id, self.shares.len())
    }
}

/// An unseal share in its text form; zeroized on drop, never printed by `Debug`.
pub struct ShareText(Zeroizing<String>);

impl ShareText {
    pub(crate) fn new(text: Zeroizing<String>) -> Self {
        Self(text)
    }

    /// The share's text. Named so that every use is visible in review.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ShareText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShareText(redacted)")
    }
}

fn share_digest(seal_id: &str, share: &Share) -> String {
    share_text::digest(ShareKind::Unseal, seal_id, share)
}

fn encode_share(seal_id: &str, share: &Share) -> ShareText {
    share_text::encode(ShareKind::Unseal, seal_id, None, share)
}

/// Parses a share's text. Errors never echo the share.
fn parse_share(text: &str, settings: &ShamirSettings) -> Result<Share, Error> {
    let decoded = share_text::decode(ShareKind::Unseal, text, UnsealKey::LEN).map_err(|err| match err {
        ShareTextError::Malformed => {
            invalid("share", "not a Keystead unseal share (expected kss1.<seal id>.<n>.<value>.<check>)")
        }
        ShareTextError::CheckMismatch => {
            invalid("share", "the share's check digits do not match: it was mistyped or truncated")
        }
    })?;
    if decoded.owner != settings.seal_id {
        return Err(invalid(
            "share",
            format!(
                "the share belongs to another Keystead store (seal {}; this store is seal {})",
                decoded.owner, settings.seal_id
            ),
        ));
    }
    if decoded.share.index > settings.shares {
        return Err(invalid(
            "share",
            "not a Keystead unseal share (expected kss1.<seal id>.<n>.<value>.<check>)",
        ));
    }
    Ok(decoded.share)
}

/// The associated data binding a wrapped root key to its store's seal.
fn hsm_aad(seal_id: &str) -> Vec<u8> {
    keystead_core::envelope::canonical_fields(&[b"keystead pkcs11 root key v1", seal_id.as_bytes()])
}

fn settings_from(entries: &[(&str, Option<String>)]) -> Result<ShamirSettings, Error> {
    let corrupt = || Error::Store(keystead_store::Error::Corrupt { what: "seal settings" });
    let get = |name: &str| {
        entries.iter().find(|(n, _)| *n == name).and_then(|(_, v)| v.clone()).ok_or_else(corrupt)
    };
    Ok(ShamirSettings {
        seal_id: get(meta::ID)?,
        threshold: get(meta::THRESHOLD)?.parse().map_err(|_| corrupt())?,
        shares: get(meta::SHARES)?.parse().map_err(|_| corrupt())?,
        sealed_root: URL_SAFE_NO_PAD.decode(get(meta::SEALED_ROOT)?).map_err(|_| corrupt())?,
        root_kcv: get(meta::ROOT_KCV)?,
        share_digests: entries
            .iter()
            .find(|(n, _)| *n == meta::SHARE_DIGESTS)
            .and_then(|(_, v)| v.as_deref())
            .map(|digests| digests.split(',').map(str::to_owned).collect()),
    })
}

impl Service {
    /// Determines the seal state at start-up from the store and the configured seal.
    pub(crate) async fn initial_seal_state(
        store: &dyn keystead_store::Store,
        setup: SealSetup,
    ) -> Result<SealState, Error> {
        let stored_kind = store.meta(meta::KIND).await?;
        let configured = setup.kind();
        let mismatch = |stored: &str| {
            Error::SealState {
            reason: format!(
                "this store was initialized with the {stored} seal, but the server is configured with the {configured} seal"
            ),
        }
        };
        match setup {
            // Opened by the caller: see `initial_hsm_state`.
            SealSetup::Pkcs11(_) => Self::initial_hsm_state(store).await,
            SealSetup::File(root) => {
                // Stores made before seal kinds were recorded were all file-sealed.
                let kind = store.init_meta(meta::KIND, "file").await?;
                if kind != "file" {
                    return Err(mismatch(&kind));
                }
                let root_kcv = store.init_meta(meta::ROOT_KCV, &root.kcv()).await?;
                if !keystead_crypto::ct_eq_str(&root_kcv, &root.kcv()) {
                    return Err(Error::Crypto(keystead_crypto::Error::Unseal));
                }
                Ok(SealState::Unsealed { root: Arc::new(root), settings: None })
            }
            SealSetup::Shamir => match stored_kind.as_deref() {
                None if store.meta(meta::ROOT_KCV).await?.is_some() => Err(mismatch("file")),
                None => Ok(SealState::Uninitialized),
                Some("shamir") => {
                    let mut entries = Vec::new();
                    for name in [
                        meta::ID,
                        meta::THRESHOLD,
                        meta::SHARES,
                        meta::SEALED_ROOT,
                        meta::ROOT_KCV,
                        meta::SHARE_DIGESTS,
                    ] {
                        entries.push((name, store.meta(name).await?));
                    }
                    Ok(SealState::Sealed { settings: settings_from(&entries)?, entered: Vec::new() })
                }
                Some(other) => Err(mismatch(other)),
            },
        }
    }

    /// Under the pkcs11 seal: uninitialized, or initialized and waiting for the token.
    pub(crate) async fn initial_hsm_state(store: &dyn keystead_store::Store) -> Result<SealState, Error> {
        match store.meta(meta::KIND).await?.as_deref() {
            None if store.meta(meta::ROOT_KCV).await?.is_some() => Err(Error::SealState {
                reason: "this store was initialized with the file seal, but the server is configured with the pkcs11 seal".into(),
            }),
            None => Ok(SealState::Uninitialized),
            Some("pkcs11") => Ok(SealState::HsmSealed),
            Some(other) => Err(Error::SealState {
                reason: format!("this store was initialized with the {other} seal, but the server is configured with the pkcs11 seal"),
            }),
        }
    }

    /// Under the pkcs11 seal: asks the token to unwrap the stored root key, checks it against
    /// the stored check value and unseals.
    pub(crate) async fn hsm_unseal(&self) -> Result<(), Error> {
        let Some(hsm) = &self.hsm else {
            return Err(Error::SealState { reason: "this server has no pkcs11 seal configured".into() });
        };
        let corrupt = || Error::Store(keystead_store::Error::Corrupt { what: "pkcs11 seal settings" });
        let seal_id = self.store.meta(meta::ID).await?.ok_or_else(corrupt)?;
        let wrapped = self.store.meta(meta::SEALED_ROOT).await?.ok_or_else(corrupt)?;
        let wrapped = URL_SAFE_NO_PAD.decode(wrapped).map_err(|_| corrupt())?;
        let kcv = self.store.meta(meta::ROOT_KCV).await?.ok_or_else(corrupt)?;
        let stored_label = self.store.meta(meta::PKCS11_KEY_LABEL).await?.unwrap_or_default();
        let root = {
            let hsm = hsm.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if stored_label != hsm.key_label() {
                return Err(Error::SealState {
                    reason: format!(
                        "pkcs11 seal: this store's root key is wrapped by the token key labelled {stored_label:?}, but the server is configured with {:?}",
                        hsm.key_label()
                    ),
                });
            }
            let material = hsm.unwrap(&hsm_aad(&seal_id), &wrapped)?;
            RootKey::from_material(&material)?
        };
        if !keystead_crypto::ct_eq_str(&root.kcv(), &kcv) {
            return Err(Error::Crypto(keystead_crypto::Error::Unseal));
        }
        *self.seal_state() = SealState::Unsealed { root: Arc::new(root), settings: None };
        Ok(())
    }

    /// Loads the seal settings if the store was initialized (by another node) after this
    /// node started; this node stays sealed (or, under the pkcs11 seal, unseals).
    pub(crate) async fn refresh_seal_settings(&self) -> Result<(), Error> {
        if !matches!(*self.seal_state(), SealState::Uninitialized) {
            return Ok(());
        }
        if self.hsm.is_some() {
            if matches!(Self::initial_hsm_state(self.store.as_ref()).await?, SealState::HsmSealed) {
                self.hsm_unseal().await?;
                let caller = Caller::system("seal-refresh");
                let mut event = self.attempt(&caller, AuditAction::OperatorUnseal, &Tenant::default_tenant());
                event.details.insert("seal".into(), "pkcs11".into());
                event.reason = Some("another node initialized the store".into());
                self.store.commit(Change::AuditOnly, event).await?;
            }
            return Ok(());
        }
        let loaded = Self::initial_seal_state(self.store.as_ref(), SealSetup::Shamir).await?;
        let mut state = self.seal_state();
        if matches!(*state, SealState::Uninitialized) {
            *state = loaded;
        }
        Ok(())
    }

    fn seal_state(&self) -> MutexGuard<'_, SealState> {
        // A panic while holding the lock cannot leave the state half-changed: every change
        // is one assignment. Recover the guard rather than take the server down.
        self.seal.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The root key, or why it is not available.
    pub(crate) fn root(&self) -> Result<Arc<RootKey>, Error> {
        match &*self.seal_state() {
            SealState::Unsealed { root, .. } => Ok(root.clone()),
            SealState::Uninitialized => Err(Error::NotInitialized),
            SealState::HsmSealed => Err(Error::Sealed {
                progress: "sealed by an operator under the pkcs11 seal; restarting the node unseals it"
                    .into(),
            }),
            SealState::Sealed { settings, entered } => Err(Error::Sealed {
                progress: format!("{} of {} unseal shares entered", entered.len(), settings.threshold),
            }),
        }
    }

    /// Refuses every request while the root key is not in memory.
    pub(crate) fn require_unsealed(&self) -> Result<(), Error> {
        self.root().map(drop)
    }

    /// The seal's state, for anyone (it reveals no secret).
    pub fn seal_status(&self) -> SealStatus {
        let state = self.seal_state();
        let kind = self.seal_kind;
        let (initialized, sealed, settings, progress) = match &*state {
            SealState::Uninitialized => (false, true, None, 0),
            SealState::HsmSealed => (true, true, None, 0),
            SealState::Sealed { settings, entered } => (true, true, Some(settings), entered.len()),
            SealState::Unsealed { settings, .. } => (true, false, settings.as_ref(), 0),
        };
        SealStatus {
            kind,
            initialized,
            sealed,
            threshold: settings.map(|s| s.threshold),
            shares: settings.map(|s| s.shares),
            progress,
            seal_id: settings.map(|s| s.seal_id.clone()),
            warning: (kind == "file").then_some(
                "DEVELOPMENT ONLY: the file seal keeps the root key in clear on disk; never use it for real keys",
            ),
            node: self.config.node.to_string(),
            environment: self.config.environment.to_string(),
        }
    }

    /// `operator init`: generates the root key and the unseal key, seals the first under the
    /// second, splits the unseal key into `shares` shares with threshold `threshold`, creates
    /// the root principal, and stores the sealed root key, the settings and the principal with
    /// the audit event in one transaction. The server stays sealed: the operators prove their
    /// shares work by unsealing it. Nothing secret is kept.
    pub async fn operator_init(&self, source: &str, shares: u8, threshold: u8) -> Result<InitOutput, Error> {
        let caller = Caller::anonymous(source, "none");
        let mut event = self.attempt(&caller, AuditAction::OperatorInit, &Tenant::default_tenant());
        event.details.insert("shares".into(), shares.to_string());
        event.details.insert("threshold".into(), threshold.to_string());
        let result = self.initialize(shares, threshold, &mut event).await;
        self.finish(event, result).await
    }

    async fn initialize(
        &self,
        shares: u8,
        threshold: u8,
        event: &mut keystead_core::AuditEvent,
    ) -> Result<InitOutput, Error> {
        if !matches!(*self.seal_state(), SealState::Uninitialized) {
            return Err(Error::SealState { reason: "the store is already initialized".into() });
        }
        if self.hsm.is_some() {
            if shares != 0 || threshold != 0 {
                return Err(invalid(
                    "shares",
                    "the pkcs11 seal issues no shares (the token holds the key); initialize without --shares and --threshold",
                ));
            }
            return self.initialize_hsm(event).await;
        }
        if shares == 0 || threshold == 0 || threshold > shares {
            return Err(invalid("threshold", "need 1 <= threshold <= shares <= 255"));
        }
        if shares > 1 && threshold < 2 {
            return Err(invalid("threshold", "with more than one share the threshold must be at least 2, or one operator alone could unseal"));
        }
        let seal_id = hex::encode(keystead_crypto::random_array::<4>()?);
        let (root, root_material) = RootKey::generate()?;
        let (unseal_key, unseal_material) = UnsealKey::generate()?;
        let sealed_root = unseal_key.seal_root(seal_id.as_bytes(), &root_material)?;
        drop(root_material);
        drop(unseal_key);
        let parts = shamir::split(&unseal_material, threshold, shares)?;
        drop(unseal_material);
        let share_texts: Vec<ShareText> = parts.iter().map(|share| encode_share(&seal_id, share)).collect();
        let share_digests: Vec<String> = parts.iter().map(|share| share_digest(&seal_id, share)).collect();
        drop(parts);
        let root_token = AccessToken::generate()?;
        event.details.insert("seal_id".into(), seal_id.clone());
        let change = Change::Initialize {
            meta: vec![
                (meta::KIND.into(), "shamir".into()),
                (meta::ID.into(), seal_id.clone()),
                (meta::THRESHOLD.into(), threshold.to_string()),
                (meta::SHARES.into(), shares.to_string()),
                (meta::SEALED_ROOT.into(), URL_SAFE_NO_PAD.encode(&sealed_root)),
                (meta::ROOT_KCV.into(), root.kcv()),
                (meta::SHARE_DIGESTS.into(), share_digests.join(",")),
                (meta::ROOT_PRINCIPAL.into(), crate::ops::read::ROOT_PRINCIPAL.into()),
            ],
            root: self.root_principal(&root_token),
        };
        self.store.commit(change, event.clone()).await?;
        let settings = ShamirSettings {
            seal_id: seal_id.clone(),
            threshold,
            shares,
            sealed_root,
            root_kcv: root.kcv(),
            share_digests: Some(share_digests),
        };
        *self.seal_state() = SealState::Sealed { settings, entered: Vec::new() };
        Ok(InitOutput { seal_id, threshold, shares: share_texts, root_token })
    }

    /// The root principal `operator init` creates, holding `token`.
    fn root_principal(&self, token: &AccessToken) -> NewPrincipal {
        NewPrincipal {
            name: crate::ops::read::ROOT_PRINCIPAL.into(),
            token_hash: *token.hash().as_bytes(),
            roles: vec![crate::access::ROOT_ROLE.into()],
            tenant: None,
            created_at: self.now(),
            expires_at: None,
        }
    }

    /// `operator init` under the pkcs11 seal: the root key is wrapped by the token's key (made
    /// in the token if absent) and the server is unsealed at once; no shares are issued.
    async fn initialize_hsm(&self, event: &mut keystead_core::AuditEvent) -> Result<InitOutput, Error> {
        let seal_id = hex::encode(keystead_crypto::random_array::<4>()?);
        let (root, root_material) = RootKey::generate()?;
        let (wrapped, key_label) = {
            let hsm = self.hsm.as_ref().map(|h| h.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
            let hsm = hsm.as_ref().ok_or(Error::NotInitialized)?;
            (hsm.wrap(&hsm_aad(&seal_id), &root_material)?, hsm.key_label().to_owned())
        };
        drop(root_material);
        let root_token = AccessToken::generate()?;
        event.details.insert("seal_id".into(), seal_id.clone());
        event.details.insert("seal".into(), "pkcs11".into());
        event.details.insert("pkcs11_key_label".into(), key_label.clone());
        let change = Change::Initialize {
            meta: vec![
                (meta::KIND.into(), "pkcs11".into()),
                (meta::ID.into(), seal_id.clone()),
                (meta::SEALED_ROOT.into(), URL_SAFE_NO_PAD.encode(&wrapped)),
                (meta::ROOT_KCV.into(), root.kcv()),
                (meta::PKCS11_KEY_LABEL.into(), key_label),
                (meta::ROOT_PRINCIPAL.into(), crate::ops::read::ROOT_PRINCIPAL.into()),
            ],
            root: self.root_principal(&root_token),
        };
        self.store.commit(change, event.clone()).await?;
        *self.seal_state() = SealState::Unsealed { root: Arc::new(root), settings: None };
        Ok(InitOutput { seal_id, threshold: 0, shares: Vec::new(), root_token })
    }

    /// `operator unseal`: takes one share. With the threshold reached, recombines the unseal
    /// key, opens the root key and checks it against the stored check value. A wrong
    /// combination resets the progress (the operators start again, as with Vault). Every
    /// share entered is audited by index and progress, never by value.
    pub async fn operator_unseal(&self, source: &str, share_text: &str) -> Result<SealStatus, Error> {
        // Another node may have initialized the store since this one started.
        self.refresh_seal_settings().await?;
        let caller = Caller::anonymous(source, "unseal-share");
        let mut event = self.attempt(&caller, AuditAction::OperatorUnseal, &Tenant::default_tenant());
        if matches!(*self.seal_state(), SealState::HsmSealed) {
            // Unsealing needs no secret here (the token holds the key), and this route takes no
            // credentials: anyone could undo an operator's emergency seal. A restart unseals.
            event.details.insert("seal".into(), "pkcs11".into());
            let err = Error::SealState {
                reason: "this node was sealed under the pkcs11 seal; restart it to unseal (the token unwraps the root key at start)".into(),
            };
            return Err(self.refuse(event, err).await);
        }
        let (result, event) = self.enter_share(share_text, event);
        match result {
            Ok(()) => match self.store.commit(Change::AuditOnly, event).await {
                Ok(_) => Ok(self.seal_status()),
                Err(err) => {
                    // No unaudited unseal: forget the progress, and the root key if this share
                    // completed it.
                    self.reset_to_sealed();
                    Err(err.into())
                }
            },
            Err(err) => Err(self.refuse(event, err).await),
        }
    }

    /// Back to sealed with no shares entered.
    fn reset_to_sealed(&self) {
        let mut state = self.seal_state();
        let settings = match &*state {
            SealState::Sealed { settings, .. } | SealState::Unsealed { settings: Some(settings), .. } => {
                settings.clone()
            }
            SealState::Uninitialized | SealState::HsmSealed | SealState::Unsealed { settings: None, .. } => {
                return
            }
        };
        *state = SealState::Sealed { settings, entered: Vec::new() };
        self.cache.clear();
        self.access.forget_all_principals();
        self.seal_epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn enter_share(
        &self,
        share_text: &str,
        mut event: keystead_core::AuditEvent,
    ) -> (Result<(), Error>, keystead_core::AuditEvent) {
        let mut state = self.seal_state();
        let (settings, entered) = match &mut *state {
            SealState::Uninitialized => return (Err(Error::NotInitialized), event),
            SealState::HsmSealed => {
                return (Err(Error::SealState { reason: "the pkcs11 seal takes no shares".into() }), event)
            }
            SealState::Unsealed { .. } => {
                return (Err(Error::SealState { reason: "the server is already unsealed".into() }), event)
            }
            SealState::Sealed { settings, entered } => (settings, entered),
        };
        let share = match parse_share(share_text, settings) {
            Ok(share) => share,
            Err(err) => return (Err(err), event),
        };
        event.details.insert("share_index".into(), share.index.to_string());
        let genuine = settings.share_digests.as_ref().is_none_or(|digests| {
            digests.get(usize::from(share.index) - 1).is_some_and(|digest| {
                keystead_crypto::ct_eq_str(digest, &share_digest(&settings.seal_id, &share))
            })
        });
        if !genuine {
            let err = invalid(
                "share",
                format!(
                    "share {} is not the share issued for this store: refused; {} of {} entered, progress kept",
                    share.index,
                    entered.len(),
                    settings.threshold
                ),
            );
            return (Err(err), event);
        }
        if entered.iter().any(|e| e.index == share.index) {
            let err = invalid(
                "share",
                format!(
                    "share {} was already entered; {} of {} entered, the rest must come from other operators",
                    share.index,
                    entered.len(),
                    settings.threshold
                ),
            );
            return (Err(err), event);
        }
        entered.push(share);
        event.details.insert("progress".into(), format!("{}/{}", entered.len(), settings.threshold));
        if entered.len() < usize::from(settings.threshold) {
            return (Ok(()), event);
        }
        let shares = std::mem::take(entered);
        let opened = shamir::combine(&shares)
            .and_then(|material| UnsealKey::from_material(&material))
            .and_then(|key| key.open_root(settings.seal_id.as_bytes(), &settings.sealed_root));
        drop(shares);
        match opened {
            Ok(root) if keystead_crypto::ct_eq_str(&root.kcv(), &settings.root_kcv) => {
                event.details.insert("result".into(), "unsealed".into());
                let settings = settings.clone();
                *state = SealState::Unsealed { root: Arc::new(root), settings: Some(settings) };
                (Ok(()), event)
            }
            _ => {
                let err = invalid(
                    "share",
                    format!(
                        "the {} shares entered do not open the root key: at least one is wrong; progress was reset, enter {} shares again",
                        settings.threshold, settings.threshold
                    ),
                );
                (Err(err), event)
            }
        }
    }

    /// `operator seal`: drops the root key and every unsealed key from memory at once. Keys
    /// in use by requests already running are freed when those requests end.
    pub async fn operator_seal(&self, caller: &Caller) -> Result<SealStatus, Error> {
        self.require_unsealed()?;
        let event = self.attempt(caller, AuditAction::OperatorSeal, &Tenant::default_tenant());
        let result = self.authorize(caller, keystead_core::Action::Seal, None).and_then(|()| {
            let mut state = self.seal_state();
            match &*state {
                SealState::Unsealed { settings: Some(settings), .. } => {
                    *state = SealState::Sealed { settings: settings.clone(), entered: Vec::new() };
                    self.cache.clear();
                    self.access.forget_all_principals();
                    self.seal_epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Ok(())
                }
                SealState::Unsealed { settings: None, .. } if self.hsm.is_some() => {
                    *state = SealState::HsmSealed;
                    self.cache.clear();
                    self.access.forget_all_principals();
                    self.seal_epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Ok(())
                }
                SealState::Unsealed { settings: None, .. } => Err(Error::SealState {
                    reason: "the development file seal cannot be sealed (its key is on disk); stop the server instead".into(),
                }),
                SealState::Sealed { .. } | SealState::Uninitialized | SealState::HsmSealed => {
                    Err(Error::SealState { reason: "the server is already sealed".into() })
                }
            }
        });
        match result {
            Ok(()) => {
                // The seal has happened; a failure to record it must not undo it.
                if let Err(err) = self.store.commit(Change::AuditOnly, event).await {
                    tracing::error!(error = %err, "could not record the seal in the audit log");
                }
                Ok(self.seal_status())
            }
            Err(err) => Err(self.refuse(event, err).await),
        }
    }
}
