//! Errors of the crypto provider. None carries secret material.

use keystead_core::Algorithm;

/// A cryptographic operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// AWS-LC could not generate the key.
    #[error("key generation failed for {algorithm}")]
    Generation {
        /// The algorithm asked for.
        algorithm: Algorithm,
    },
    /// Stored material did not parse as a key of the algorithm.
    #[error("stored material is not a valid {algorithm} key")]
    InvalidMaterial {
        /// The expected algorithm.
        algorithm: Algorithm,
    },
    /// Sealed data failed authentication: wrong root key, wrong associated data, or tampering.
    #[error("sealed data failed authentication (tampered, moved or sealed under another root key)")]
    Unseal,
    /// A ciphertext, wrapped key or tag failed authentication.
    #[error("authentication failed: the data, its context or its key do not match")]
    Authentication,
    /// The input is not acceptable for the operation.
    #[error("invalid input for {algorithm}: {reason}")]
    InvalidInput {
        /// The algorithm concerned.
        algorithm: Algorithm,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The key's algorithm cannot do the operation.
    #[error("{algorithm} cannot {operation}")]
    Unsupported {
        /// The key's algorithm.
        algorithm: Algorithm,
        /// The operation asked for.
        operation: &'static str,
    },
    /// The random generator failed.
    #[error("the random bit generator failed")]
    Random,
    /// A power-on self-test gave a wrong answer.
    #[error("known-answer self-test failed: {test}")]
    SelfTest {
        /// Which test.
        test: &'static str,
    },
    /// Wrapped import material could not be recovered with the import token's key.
    #[error("{reason}")]
    ImportUnwrap {
        /// Why (never the material).
        reason: String,
    },
    /// Imported material is not a key of the declared algorithm.
    #[error("imported material does not fit {algorithm}: {reason}")]
    ImportedMaterial {
        /// The key's algorithm.
        algorithm: Algorithm,
        /// What was received instead (sizes, never bytes).
        reason: String,
    },
    /// Secret sharing was asked something impossible.
    #[error("secret sharing: {reason}")]
    Sharing {
        /// What is wrong.
        reason: &'static str,
    },
}
