//! Records the versions of the linked aws-lc-rs and aws-lc-sys crates, read from the
//! workspace's Cargo.lock, so that key provenance names the exact library that generated a key.

use std::path::PathBuf;

fn locked_version(lock: &str, package: &str) -> Option<String> {
    let header = format!("name = \"{package}\"\nversion = \"");
    let start = lock.find(&header)? + header.len();
    let end = lock[start..].find('"')? + start;
    Some(lock[start..end].to_owned())
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let lock_path = manifest.join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock_path.display());
    let lock = std::fs::read_to_string(&lock_path).unwrap_or_default();
    let sys = if cfg!(feature = "fips") { "aws-lc-fips-sys" } else { "aws-lc-sys" };
    let rs_version = locked_version(&lock, "aws-lc-rs").unwrap_or_else(|| "unknown".into());
    let sys_version = locked_version(&lock, sys).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=KEYSTEAD_AWS_LC_RS_VERSION={rs_version}");
    println!("cargo:rustc-env=KEYSTEAD_AWS_LC_SYS_CRATE={sys} {sys_version}");
}
