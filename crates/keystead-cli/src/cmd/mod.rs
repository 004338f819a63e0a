//! Command areas, each owning its clap arguments and its `run` (mini-redis `cmd/` style).
//! The areas not moved here yet still live in `cli.rs` and `commands.rs`.

pub mod aliases;
pub mod keys;
pub mod principals;
pub mod webhooks;
