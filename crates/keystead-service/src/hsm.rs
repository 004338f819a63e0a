//! The `pkcs11` seal as the service sees it: something that wraps and unwraps the root key
//! with a key it never shows. The PKCS#11 code (cryptoki FFI) lives in `keystead-pkcs11`.

use keystead_crypto::SecretBytes;
pub use keystead_pkcs11::{Pkcs11Seal, Pkcs11Settings};

use crate::Error;

/// Wraps the root key under a key held elsewhere (an HSM token), and unwraps it again.
pub trait RootKeyWrapper: Send {
    /// The wrapping key's label, recorded with the store's seal settings.
    fn key_label(&self) -> &str;
    /// Wraps the root key's material, binding `aad`.
    fn wrap(&self, aad: &[u8], root_material: &SecretBytes) -> Result<Vec<u8>, Error>;
    /// Unwraps what [`wrap`](Self::wrap) produced with the same `aad`.
    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<SecretBytes, Error>;
}

/// A token failure: the seal is not in a state to serve (the node stays sealed).
fn seal_error(err: keystead_pkcs11::Error) -> Error {
    Error::SealState { reason: err.to_string() }
}

impl RootKeyWrapper for Pkcs11Seal {
    fn key_label(&self) -> &str {
        Pkcs11Seal::key_label(self)
    }

    fn wrap(&self, aad: &[u8], root_material: &SecretBytes) -> Result<Vec<u8>, Error> {
        Pkcs11Seal::wrap(self, aad, root_material).map_err(seal_error)
    }

    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<SecretBytes, Error> {
        Pkcs11Seal::unwrap(self, aad, wrapped).map_err(seal_error)
    }
}

/// Opens the token named by `settings` and logs in.
pub(crate) fn open(settings: Pkcs11Settings) -> Result<Box<dyn RootKeyWrapper>, Error> {
    Ok(Box::new(Pkcs11Seal::open(settings).map_err(seal_error)?))
}
