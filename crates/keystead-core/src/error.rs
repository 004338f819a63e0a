//! Errors of the domain rules.

use crate::{Algorithm, KeyState, Operation, Purpose};

/// A rule of the domain was broken by a request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A text did not parse as the named kind of value.
    #[error("invalid {what} {value:?}: {expected}")]
    InvalidValue {
        /// What was being parsed ("purpose", "algorithm", "key name", ...).
        what: &'static str,
        /// The offending input (never secret).
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// The algorithm cannot serve the purpose.
    #[error("algorithm {algorithm} does not fit purpose {purpose}; use one of: {allowed}")]
    AlgorithmPurposeMismatch {
        /// The requested algorithm.
        algorithm: Algorithm,
        /// The requested purpose.
        purpose: Purpose,
        /// Algorithms that fit the purpose.
        allowed: String,
    },
    /// The algorithm is below the policy's minimum strength.
    #[error(
        "algorithm {algorithm} gives {strength_bits}-bit security, below the minimum of {minimum_bits} bits"
    )]
    TooWeak {
        /// The requested algorithm.
        algorithm: Algorithm,
        /// Its security strength.
        strength_bits: u32,
        /// The policy minimum.
        minimum_bits: u32,
    },
    /// The operation is not one the key's purpose allows.
    #[error("key {key} has purpose {purpose}, which does not allow {operation}")]
    PurposeViolation {
        /// The key's name.
        key: String,
        /// Its purpose.
        purpose: Purpose,
        /// The refused operation.
        operation: Operation,
    },
    /// The operation is not allowed in the version's state.
    #[error("key {key} version {version} is {state}, which does not allow {operation}{detail}")]
    InvalidState {
        /// The key's name.
        key: String,
        /// The version concerned.
        version: u32,
        /// Its state.
        state: KeyState,
        /// The refused operation.
        operation: Operation,
        /// Extra explanation, empty or starting with "; ".
        detail: &'static str,
    },
    /// The state change is not in the transition table.
    #[error("key {key} version {version} cannot go from {from} to {to}")]
    InvalidTransition {
        /// The key's name.
        key: String,
        /// The version concerned.
        version: u32,
        /// The current state.
        from: KeyState,
        /// The requested state.
        to: KeyState,
    },
    /// A ciphertext, signature or tag text is malformed.
    #[error("malformed {what}: {reason}")]
    MalformedEnvelope {
        /// "ciphertext", "signature", ...
        what: &'static str,
        /// Why it did not parse.
        reason: &'static str,
    },
}
