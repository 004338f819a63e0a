//! End-to-end tests of the real `keystead` binary: a dev server on a free loopback port,
//! driven by the CLI.

mod tour;
mod util;
