//! The service's results as wire types: one [`IntoWire`] impl per view, so the public JSON
//! is `keystead_api`'s and a change in the service cannot silently change it.

mod keys;
pub(crate) mod oversight;
mod recovery;
mod reports;

/// Converts a service result into its `keystead_api` body. (A trait of this crate, because
/// neither the service's types nor the API's are this crate's: `From` is not allowed.)
pub trait IntoWire {
    /// The body.
    type Wire;
    /// Converts.
    fn into_wire(self) -> Self::Wire;
}

impl<T: IntoWire> IntoWire for Vec<T> {
    type Wire = Vec<T::Wire>;
    fn into_wire(self) -> Self::Wire {
        self.into_iter().map(IntoWire::into_wire).collect()
    }
}

impl<T: IntoWire> IntoWire for Option<T> {
    type Wire = Option<T::Wire>;
    fn into_wire(self) -> Self::Wire {
        self.map(IntoWire::into_wire)
    }
}

/// A count as the wire's `u64` (a `usize` always fits on the platforms Keystead runs on).
pub fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Every value of a map through `to_string` (roles, states as keys).
pub fn named_keys<K: std::fmt::Display, V>(
    map: std::collections::BTreeMap<K, V>,
) -> std::collections::BTreeMap<String, V> {
    map.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}
