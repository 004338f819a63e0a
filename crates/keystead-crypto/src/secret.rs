//! The one type that holds secret bytes.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// Secret bytes: zeroized on drop; no `Clone`, `Display`, `Serialize`, `PartialEq` or `Hash`.
/// `Debug` prints only the length.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of the bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Copies a slice; the caller remains responsible for the source.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// The secret bytes. Named so that every use is visible in review.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// Mutable access, for filling a fresh buffer inside this crate.
    pub(crate) fn expose_secret_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time equality.
    pub fn ct_eq(&self, other: &SecretBytes) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.0, &other.0).is_ok()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes({} bytes, redacted)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts() {
        let s = SecretBytes::new(b"SECRET-MARKER".to_vec());
        let shown = format!("{s:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("13 bytes"));
    }

    #[test]
    fn constant_time_equality() {
        let a = SecretBytes::from_slice(b"abc");
        assert!(a.ct_eq(&SecretBytes::from_slice(b"abc")));
        assert!(!a.ct_eq(&SecretBytes::from_slice(b"abd")));
        assert!(!a.ct_eq(&SecretBytes::from_slice(b"ab")));
    }
}

/// Compile-time guard: secret holders must never gain an impl that could copy or print them.
#[cfg(test)]
mod no_leaky_impls {
    use std::fmt::Display;
    use std::hash::Hash;

    use serde::Serialize;
    use static_assertions::assert_not_impl_any;

    assert_not_impl_any!(super::SecretBytes: Clone, Copy, Display, Serialize, PartialEq, Hash);
    assert_not_impl_any!(crate::AccessToken: Clone, Display, Serialize, PartialEq, Hash);
    assert_not_impl_any!(crate::LoadedKey: Clone, Display, Serialize, PartialEq, Hash);
    assert_not_impl_any!(crate::RootKey: Clone, Display, Serialize, PartialEq, Hash);
    assert_not_impl_any!(crate::GeneratedKey: Clone, Display, Serialize, PartialEq, Hash);
}
