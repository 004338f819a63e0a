#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
//! Service tests through the real path: a real SQLite file, the real barrier, the real audit chain.

mod anomalies;
mod approvals;
mod backups;
mod bad_input;
mod checkpoints;
mod compliance;
mod compromise;
mod generation;
mod harness;
mod import;
mod inventory;
mod lifecycle;
mod purpose;
mod recovery;
mod roles;
mod scheduler;
mod sealing;
mod tamper;
mod use_audit;
