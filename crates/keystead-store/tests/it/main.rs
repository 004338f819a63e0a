#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
//! Store conformance suite: every check runs against a real SQLite file and a real PostgreSQL database.

mod conformance;
mod db;
