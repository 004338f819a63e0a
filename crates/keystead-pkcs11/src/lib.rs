//! The `pkcs11` seal: the root key is wrapped by an AES-256 key that lives in a PKCS#11 token
//! (an HSM; SoftHSM2 in tests) and never leaves it. At start the server asks the token to
//! unwrap the root key; the store holds only the wrapped root key, so a copy of the database
//! without the token is useless.
//!
//! The wrapping is AES-256-GCM computed inside the token (`CKM_AES_GCM`), with a fresh 96-bit
//! IV and associated data naming the store's seal, so a wrapped root key of another store is
//! refused. The token key is generated in the token at `operator init` if none carries the
//! label yet: sensitive, never extractable, usable only to encrypt and decrypt.
//!
//! `cryptoki` loads the PKCS#11 module (a C library) at run time; its FFI is the only unsafe
//! code involved, inside that crate. Keystead's own code stays `forbid(unsafe_code)`: this
//! crate is the boundary (STYLE.md puts FFI in a crate of its own), and the service reaches it
//! through a small trait (`keystead_service::hsm::RootKeyWrapper`).
#![forbid(unsafe_code)]

use std::path::PathBuf;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use keystead_crypto::SecretBytes;
use zeroize::Zeroizing;

/// A PKCS#11 failure: what Keystead was doing, and what the module or token said.
#[derive(Debug, thiserror::Error)]
#[error("pkcs11 seal: {what}: {detail}")]
pub struct Error {
    /// What was being done.
    pub what: String,
    /// The module's or token's answer (never a PIN or key material).
    pub detail: String,
}

/// Length of the GCM IV and tag.
const IV_LEN: usize = 12;
const TAG_BITS: u64 = 128;

/// Where the token is and how to log in.
pub struct Pkcs11Settings {
    /// The PKCS#11 module, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The label of the token holding the wrapping key.
    pub token_label: String,
    /// The label of the wrapping key in the token.
    pub key_label: String,
    /// The user PIN (from the environment, never from the configuration file).
    pub pin: Zeroizing<String>,
}

impl std::fmt::Debug for Pkcs11Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Settings")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("key_label", &self.key_label)
            .finish_non_exhaustive()
    }
}

/// A logged-in session on the token, ready to wrap and unwrap the root key.
pub struct Pkcs11Seal {
    settings: Pkcs11Settings,
    /// Kept so the module stays loaded and initialized while the session lives.
    _context: Pkcs11,
    session: Session,
}

impl std::fmt::Debug for Pkcs11Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pkcs11Seal({:?})", self.settings)
    }
}

fn hsm_error(what: &str, err: impl std::fmt::Display) -> Error {
    Error { what: what.to_owned(), detail: err.to_string() }
}

impl Pkcs11Seal {
    /// Loads the module, finds the token by label and logs in as its user.
    pub fn open(settings: Pkcs11Settings) -> Result<Self, Error> {
        let context = Pkcs11::new(&settings.module)
            .map_err(|e| hsm_error(&format!("cannot load the module {}", settings.module.display()), e))?;
        context
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(|e| hsm_error("cannot initialize the module", e))?;
        let slots = context.get_slots_with_token().map_err(|e| hsm_error("cannot list the slots", e))?;
        let slot = slots
            .into_iter()
            .find(|slot| {
                context
                    .get_token_info(*slot)
                    .is_ok_and(|info| info.label().trim_end() == settings.token_label)
            })
            .ok_or_else(|| {
                hsm_error("no token", format!("no token is labelled {:?}", settings.token_label))
            })?;
        let session = context.open_rw_session(slot).map_err(|e| hsm_error("cannot open a session", e))?;
        let pin = AuthPin::new(settings.pin.as_str().into());
        session
            .login(UserType::User, Some(&pin))
            .map_err(|e| hsm_error("the token refused the login (check the PIN)", e))?;
        Ok(Self { settings, _context: context, session })
    }

    /// The wrapping key's label.
    pub fn key_label(&self) -> &str {
        &self.settings.key_label
    }

    fn find_key(&self) -> Result<Option<ObjectHandle>, Error> {
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Label(self.settings.key_label.as_bytes().to_vec()),
        ];
        let found =
            self.session.find_objects(&template).map_err(|e| hsm_error("cannot search the token", e))?;
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            _ => Err(hsm_error(
                "ambiguous wrapping key",
                format!("{} keys are labelled {:?}; keep exactly one", found.len(), self.settings.key_label),
            )),
        }
    }

    /// The wrapping key, generated in the token if none carries the label yet.
    fn key_or_generate(&self) -> Result<ObjectHandle, Error> {
        if let Some(key) = self.find_key()? {
            return Ok(key);
        }
        let template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Sign(false),
            Attribute::Verify(false),
            Attribute::Derive(false),
            Attribute::ValueLen(32.into()),
            Attribute::Label(self.settings.key_label.as_bytes().to_vec()),
        ];
        self.session
            .generate_key(&Mechanism::AesKeyGen, &template)
            .map_err(|e| hsm_error("cannot generate the wrapping key in the token", e))
    }

    /// Wraps the root key: IV ‖ ciphertext ‖ tag, computed in the token.
    pub fn wrap(&self, aad: &[u8], root_material: &SecretBytes) -> Result<Vec<u8>, Error> {
        let key = self.key_or_generate()?;
        let mut iv = keystead_crypto::random_array::<IV_LEN>().map_err(|e| hsm_error("no random IV", e))?;
        let params =
            GcmParams::new(&mut iv, aad, TAG_BITS.into()).map_err(|e| hsm_error("GCM parameters", e))?;
        let sealed = self
            .session
            .encrypt(&Mechanism::AesGcm(params), key, root_material.expose_secret())
            .map_err(|e| hsm_error("the token could not wrap the root key", e))?;
        let mut out = iv.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Unwraps what [`wrap`](Self::wrap) produced with the same associated data.
    pub fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<SecretBytes, Error> {
        let key = self.find_key()?.ok_or_else(|| {
            hsm_error(
                "no wrapping key",
                format!("the token holds no key labelled {:?}", self.settings.key_label),
            )
        })?;
        let (iv, sealed) = wrapped
            .split_first_chunk::<IV_LEN>()
            .ok_or_else(|| hsm_error("the wrapped root key is damaged", "too short"))?;
        let mut iv = *iv;
        let params =
            GcmParams::new(&mut iv, aad, TAG_BITS.into()).map_err(|e| hsm_error("GCM parameters", e))?;
        let material = self.session.decrypt(&Mechanism::AesGcm(params), key, sealed).map_err(|e| {
            hsm_error("the token could not unwrap the root key (another token or key, or a damaged store)", e)
        })?;
        Ok(SecretBytes::new(material))
    }
}
