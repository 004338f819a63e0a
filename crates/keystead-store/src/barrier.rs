//! The sealed barrier. Material is sealed under the root key (AES-256-GCM) with associated data
//! `tenant | key id | version | purpose | algorithm | environment | kcv | SHA-256(provenance)`,
//! so editing any of these in the database, or copying sealed material to another key or
//! version, makes the material fail to open: the service refuses the key instead of obeying
//! the edited row (CEK-11).

use keystead_core::envelope::canonical_fields;
use keystead_core::key::KeyAttributes;
use keystead_core::VersionNumber;
use keystead_crypto::{LoadedKey, RootKey, SecretBytes};

use crate::{Error, StoredVersion};

/// The associated data that binds sealed material to its key and version.
pub fn material_aad(key: &KeyAttributes, number: VersionNumber, kcv: &str, provenance_json: &str) -> Vec<u8> {
    canonical_fields(&[
        b"keystead sealed material v1",
        key.tenant.as_str().as_bytes(),
        key.id.to_string().as_bytes(),
        &number.get().to_be_bytes(),
        key.purpose.as_str().as_bytes(),
        key.algorithm.as_str().as_bytes(),
        key.environment.as_str().as_bytes(),
        kcv.as_bytes(),
        &keystead_crypto::sha256(provenance_json.as_bytes()),
    ])
}

/// Seals a version's material.
pub fn seal_material(
    root: &RootKey,
    key: &KeyAttributes,
    number: VersionNumber,
    kcv: &str,
    provenance_json: &str,
    material: &SecretBytes,
) -> Result<Vec<u8>, Error> {
    root.seal(&material_aad(key, number, kcv, provenance_json), material).map_err(Error::Crypto)
}

/// Opens and parses a stored version's material, checking that it is the material the row
/// describes (the AEAD binding, then the KCV recomputed from the material itself).
pub fn open_material(
    root: &RootKey,
    key: &KeyAttributes,
    version: &StoredVersion,
) -> Result<LoadedKey, Error> {
    open_material_bytes(root, key, version).map(|(_, loaded)| loaded)
}

/// Like [`open_material`], also handing back the material itself: only a backup needs it, to
/// seal it again under the backup key.
pub fn open_material_bytes(
    root: &RootKey,
    key: &KeyAttributes,
    version: &StoredVersion,
) -> Result<(SecretBytes, LoadedKey), Error> {
    let integrity = || Error::Integrity { key_id: key.id.to_string(), version: version.info.number.get() };
    let sealed = version.sealed_material.as_deref().ok_or_else(integrity)?;
    let aad = material_aad(key, version.info.number, &version.info.kcv, &version.provenance_json);
    let material = root.open(&aad, sealed).map_err(|_| integrity())?;
    let loaded = LoadedKey::load(key.algorithm, &material).map_err(|_| integrity())?;
    if loaded.kcv().map_err(|_| integrity())? != version.info.kcv {
        return Err(integrity());
    }
    Ok((material, loaded))
}
