//! The backup bundle: one text file of JSON lines.
//!
//! 1. `header`: format, version, backup id, who made it, the M-of-N split and a digest of
//!    each share. Readable without the shares.
//! 2. `key`, one per recoverable key: its id, tenant and name in the clear, and the key record
//!    (attributes, every version with its state, times, provenance, material and a test
//!    vector) sealed under the backup key with AES-256-GCM, bound to the backup, the line's
//!    position and the key.
//! 3. `manifest`: the keys included and the keys excluded, each with the reason.
//! 4. `end`: an AES-GCM tag under the backup key over the SHA-256 of every byte before it, so
//!    an edited, reordered, dropped or appended line, or a truncated file, is refused.
//!
//! The backup key exists whole only while the bundle is written and while it is opened.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keystead_core::envelope::canonical_fields;
use keystead_core::key::{KeyAttributes, VersionInfo};
use keystead_crypto::{RootKey, SecretBytes};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::error::invalid;
use crate::Error;

/// The bundle format's name, in its header.
pub(crate) const FORMAT: &str = "keystead-backup";
/// The bundle format's version; a reader refuses any other.
pub(crate) const VERSION: u32 = 1;

/// One line of a bundle.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub(crate) enum Line {
    Header(Header),
    Key(KeyLine),
    Manifest(Manifest),
    End { tag: String },
}

/// What the bundle is; readable without the shares.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Header {
    /// `keystead-backup`.
    pub format: String,
    /// The format version (1).
    pub version: u32,
    /// `bkp_` and 32 hex digits; every share names it.
    pub backup_id: String,
    /// When the backup was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Who made it.
    pub created_by: String,
    /// The node that made it.
    pub node: String,
    /// The environment of the store backed up.
    pub environment: String,
    /// Shares needed to open the bundle (M).
    pub threshold: u8,
    /// Shares issued (N).
    pub shares: u8,
    /// SHA-256 of each share, bound to the backup and the share's index, by index.
    pub share_digests: Vec<String>,
    /// Key lines that follow.
    pub keys: usize,
}

/// A key's line: who it is in the clear, everything else sealed.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct KeyLine {
    pub index: usize,
    pub key_id: String,
    pub tenant: String,
    pub name: String,
    /// Base64 of nonce ‖ ciphertext ‖ tag of the [`KeyRecord`] JSON.
    pub sealed: String,
}

/// A key in the manifest.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ManifestKey {
    /// The key's id.
    pub key_id: String,
    /// Its tenant.
    pub tenant: String,
    /// Its name.
    pub name: String,
    /// Its purpose.
    pub purpose: String,
    /// Version count (included keys).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub versions: Option<u32>,
    /// Why it is excluded.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

/// What the bundle holds and what it leaves out.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Manifest {
    /// The keys in the bundle.
    pub included: Vec<ManifestKey>,
    /// The keys left out, each with the reason (their recovery policy).
    pub excluded: Vec<ManifestKey>,
}

/// A key as it travels inside the bundle: everything needed to restore it exactly.
#[derive(Serialize, Deserialize)]
pub(crate) struct KeyRecord {
    pub attributes: KeyAttributes,
    pub versions: Vec<VersionRecord>,
}

/// One version inside the bundle.
#[derive(Serialize, Deserialize)]
pub(crate) struct VersionRecord {
    pub info: VersionInfo,
    /// The provenance exactly as stored.
    pub provenance_json: String,
    /// Base64 of the public key (asymmetric keys), kept even once the material is destroyed.
    pub public_key_der: Option<String>,
    /// Base64 of the material; `None` once destroyed.
    pub material: Option<Zeroizing<String>>,
    /// Base64 of a test vector made with the material at backup time.
    pub test_vector: Option<String>,
}

/// The message a version's test vector is made over.
pub(crate) fn test_message(backup_id: &str, key_id: &str, version: u32) -> [u8; 32] {
    keystead_crypto::sha256(&canonical_fields(&[
        b"keystead backup test vector v1",
        backup_id.as_bytes(),
        key_id.as_bytes(),
        &version.to_be_bytes(),
    ]))
}

fn key_aad(backup_id: &str, line: &KeyLine) -> Vec<u8> {
    canonical_fields(&[
        b"keystead backup key v1",
        backup_id.as_bytes(),
        &(line.index as u64).to_be_bytes(),
        line.key_id.as_bytes(),
        line.tenant.as_bytes(),
        line.name.as_bytes(),
    ])
}

/// `before_end`: the SHA-256 of every byte before the end line.
fn end_aad(backup_id: &str, before_end: &[u8; 32]) -> Vec<u8> {
    canonical_fields(&[b"keystead backup end v1", backup_id.as_bytes(), before_end])
}

fn to_line(line: &Line) -> Result<String, Error> {
    let mut text = serde_json::to_string(line).map_err(|e| Error::Bundle { reason: e.to_string() })?;
    text.push('\n');
    Ok(text)
}

/// Writes a bundle line by line, keeping the running bytes for the end tag.
pub(crate) struct BundleWriter {
    backup_id: String,
    key: RootKey,
    /// Every byte written so far, hashed as it goes (the bundle is never held whole).
    written: keystead_crypto::Sha256Stream,
    keys: usize,
}

impl BundleWriter {
    /// Starts a bundle: returns the writer and the header line.
    pub fn start(header: &Header, key: RootKey) -> Result<(Self, String), Error> {
        let text = to_line(&Line::Header(header.clone()))?;
        let mut written = keystead_crypto::Sha256Stream::default();
        written.update(text.as_bytes());
        let writer = Self { backup_id: header.backup_id.clone(), key, written, keys: 0 };
        Ok((writer, text))
    }

    /// The backup's id.
    pub fn backup_id(&self) -> &str {
        &self.backup_id
    }

    /// Seals one key's record into its line.
    pub fn key(&mut self, record: &KeyRecord) -> Result<String, Error> {
        let attributes = &record.attributes;
        let mut line = KeyLine {
            index: self.keys,
            key_id: attributes.id.to_string(),
            tenant: attributes.tenant.to_string(),
            name: attributes.name.to_string(),
            sealed: String::new(),
        };
        // Sized up front so the buffer holding material is not reallocated (and left behind
        // unzeroized) while it grows.
        let estimate = 4096 + record.versions.len() * 8192;
        let mut plain = Vec::with_capacity(estimate);
        serde_json::to_writer(&mut plain, record).map_err(|e| Error::Bundle { reason: e.to_string() })?;
        let plain = SecretBytes::new(plain);
        let sealed = self.key.seal(&key_aad(&self.backup_id, &line), &plain)?;
        line.sealed = STANDARD.encode(sealed);
        self.keys += 1;
        let text = to_line(&Line::Key(line))?;
        self.written.update(text.as_bytes());
        Ok(text)
    }

    /// The manifest and end lines; the writer (and the backup key) is dropped.
    pub fn finish(mut self, manifest: Manifest) -> Result<String, Error> {
        let manifest = to_line(&Line::Manifest(manifest))?;
        self.written.update(manifest.as_bytes());
        let before_end = self.written.finish();
        let tag = self.key.seal(&end_aad(&self.backup_id, &before_end), &SecretBytes::new(Vec::new()))?;
        Ok(manifest + &to_line(&Line::End { tag: STANDARD.encode(tag) })?)
    }
}

/// What a key line opened to, or why it did not.
pub(crate) struct OpenedKey {
    pub key_id: String,
    pub tenant: String,
    pub name: String,
    pub record: Result<KeyRecord, String>,
}

/// A bundle split into lines and its header read; nothing opened yet.
pub(crate) struct ParsedBundle<'a> {
    pub header: Header,
    text: &'a str,
    key_lines: Vec<KeyLine>,
    manifest: Option<Manifest>,
    /// The end tag and where its line starts.
    end: Option<(String, usize)>,
    /// Whether anything follows the end line.
    trailing: bool,
}

fn damaged(reason: impl Into<String>) -> Error {
    invalid("bundle", reason.into())
}

/// Reads a bundle's lines. Refuses text that is not a bundle of this format; a damaged key or
/// manifest line is kept for [`ParsedBundle::open`] to report.
pub(crate) fn parse(text: &str) -> Result<ParsedBundle<'_>, Error> {
    let mut offset = 0;
    let mut lines = Vec::new();
    for line in text.split_inclusive('\n') {
        lines.push((offset, line));
        offset += line.len();
    }
    let Some((_, first)) = lines.first() else {
        return Err(damaged("the bundle is empty"));
    };
    let header = match serde_json::from_str::<Line>(first) {
        Ok(Line::Header(header)) => header,
        _ => return Err(damaged("not a Keystead backup bundle (its first line is not a backup header)")),
    };
    if header.format != FORMAT || header.version != VERSION {
        return Err(damaged(format!(
            "bundle format {} version {} is not supported (this server reads {FORMAT} version {VERSION})",
            header.format, header.version
        )));
    }
    let mut parsed =
        ParsedBundle { header, text, key_lines: Vec::new(), manifest: None, end: None, trailing: false };
    for (start, line) in lines.into_iter().skip(1) {
        parsed.trailing |= parsed.end.is_some();
        match serde_json::from_str::<Line>(line) {
            Ok(Line::Key(key)) => parsed.key_lines.push(key),
            Ok(Line::Manifest(manifest)) => parsed.manifest = Some(manifest),
            Ok(Line::End { tag }) => parsed.end = Some((tag, start)),
            // Anything else (a second header, an edited line that no longer parses) leaves
            // the end tag unverifiable; the open reports it as an altered bundle.
            Ok(Line::Header(_)) | Err(_) => {}
        }
    }
    Ok(parsed)
}

/// The result of opening a bundle with its backup key.
pub(crate) struct OpenedBundle {
    /// Whether the end tag verifies over every byte before it (nothing altered, dropped or
    /// added) and the key lines are exactly those the header announced.
    pub authenticated: bool,
    pub manifest: Manifest,
    pub keys: Vec<OpenedKey>,
}

impl ParsedBundle<'_> {
    /// Checks the end tag and unseals every key line, each independently so a drill can
    /// name exactly which keys a damaged bundle lost.
    pub fn open(self, key: &RootKey) -> OpenedBundle {
        let backup_id = &self.header.backup_id;
        let tag_ok = self.end.as_ref().is_some_and(|(tag, start)| {
            STANDARD
                .decode(tag)
                .ok()
                .and_then(|tag| {
                    let before_end = keystead_crypto::sha256(&self.text.as_bytes()[..*start]);
                    key.open(&end_aad(backup_id, &before_end), &tag).ok()
                })
                .is_some()
        }) && !self.trailing;
        let counted = self.key_lines.len() == self.header.keys
            && self.key_lines.iter().enumerate().all(|(i, line)| line.index == i);
        let keys = self
            .key_lines
            .into_iter()
            .map(|line| {
                let record = open_key(key, backup_id, &line);
                OpenedKey { key_id: line.key_id, tenant: line.tenant, name: line.name, record }
            })
            .collect();
        OpenedBundle { authenticated: tag_ok && counted, manifest: self.manifest.unwrap_or_default(), keys }
    }
}

fn open_key(key: &RootKey, backup_id: &str, line: &KeyLine) -> Result<KeyRecord, String> {
    let sealed = STANDARD.decode(&line.sealed).map_err(|_| "its sealed record is not base64".to_owned())?;
    let plain = key
        .open(&key_aad(backup_id, line), &sealed)
        .map_err(|_| "its sealed record does not open: the line was altered or moved".to_owned())?;
    let record: KeyRecord = serde_json::from_slice(plain.expose_secret())
        .map_err(|_| "its record is not a key record of this format".to_owned())?;
    if record.attributes.id.to_string() != line.key_id
        || record.attributes.tenant.as_str() != line.tenant
        || record.attributes.name.as_str() != line.name
    {
        return Err("its record names another key than its line".into());
    }
    Ok(record)
}
