//! Store conformance suite, run against real SQLite files.

mod conformance;
