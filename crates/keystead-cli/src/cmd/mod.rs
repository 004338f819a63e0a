//! One module per command area, each owning its clap arguments and its `run` (mini-redis
//! `cmd/` style). Areas import the client, input and output helpers, never `cli.rs`: imports
//! point one way (`main` → `cli` → `cmd` → `client`, `input`, `output`).

pub mod aliases;
pub mod approvals;
pub mod audit;
pub mod audit_archive;
pub mod backup;
pub mod compliance;
pub mod crypto;
pub mod grants;
pub mod import;
pub mod inventory;
pub mod keys;
pub mod operator;
pub mod principals;
pub mod recovery;
pub mod server;
pub mod webhooks;
