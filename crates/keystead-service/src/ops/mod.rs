//! One module per group of operations.

mod create;
mod crypto;
mod lifecycle;
pub mod principals;
pub(crate) mod read;
pub mod requests;
mod resolve;
mod sign;
mod version;
mod wrap;
