//! One module per group of operations.

pub mod access_keys;
pub mod anomaly;
pub mod approvals;
pub mod archive;
pub(crate) mod checkpoint;
pub mod compromise;
mod create;
mod crypto;
pub mod destroy;
pub mod exception;
pub mod import;
pub mod inventory;
pub(crate) mod lifecycle;
pub mod principals;
pub(crate) mod read;
pub mod recovery;
pub mod requests;
pub(crate) mod resolve;
pub mod scheduler;
mod sign;
pub mod update;
mod version;
mod webhook_admin;
pub mod webhooks;
mod wrap;
