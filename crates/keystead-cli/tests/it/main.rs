#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
//! End-to-end tests of the real `keystead` binary: a dev or a production-style (TLS, shamir)
//! server on a free loopback port,
//! driven by the CLI.

mod admin;
mod archive;
mod audit_export;
mod aws;
mod byok;
mod cluster;
mod compromise;
mod flood;
mod inventory;
mod pkcs11;
mod postgres;
mod production;
mod recovery;
mod tour;
mod util;
mod webhooks;
mod wire;
