//! Keystead's domain: identifiers, purposes, algorithms, key states, operations and the rules
//! that bind them, plus the canonical encoding of audit events.
//!
//! This crate does no I/O and reads no clock: every timestamp is handed in by the caller.
#![forbid(unsafe_code)]

pub mod algorithm;
pub mod approval;
pub mod audit;
pub mod checkpoint;
pub mod envelope;
pub mod error;
pub mod ids;
pub mod import;
pub mod key;
pub mod operation;
pub mod role;
pub mod state;

pub use algorithm::{Algorithm, Environment, Purpose, UsageContext};
pub use audit::{AuditAction, AuditEvent, Outcome};
pub use envelope::Envelope;
pub use error::Error;
pub use ids::{AliasName, KeyId, KeyName, KeyRef, NodeName, PrincipalName, Tenant, VersionNumber};
pub use import::{WrappingAlgorithm, WrappingKeySpec};
pub use key::{Classification, KeyAttributes, Labels};
pub use operation::{Operation, OperationClass};
pub use role::{Action, Role};
pub use state::KeyState;
