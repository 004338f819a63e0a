#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
//! Store conformance suite, run against real SQLite files.

mod conformance;
