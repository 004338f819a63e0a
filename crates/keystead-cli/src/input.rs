//! Reading what a command works on: stdin or files, `k=v` pairs, durations; writing secret
//! output to a new file of mode 0600.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

/// The bytes of FILE, or of standard input when there is none.
pub fn read_input(path: Option<&Path>) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    match path {
        Some(path) => {
            bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        }
        None => {
            std::io::stdin().read_to_end(&mut bytes).context("cannot read standard input")?;
        }
    }
    Ok(bytes)
}

/// A `ks1:` envelope from FILE or standard input, trimmed.
pub fn read_text(path: Option<&Path>) -> Result<String> {
    let bytes = read_input(path)?;
    let text =
        String::from_utf8(bytes).map_err(|_| anyhow!("the input is not text; expected a ks1: envelope"))?;
    Ok(text.trim().to_owned())
}

/// `--label k=v` / `--context k=v` flags as a map (the one parser: `keystead_core`'s).
pub fn pairs(items: &[String], what: &'static str) -> Result<BTreeMap<String, String>> {
    keystead_core::key::parse_pairs(what, items.iter().map(String::as_str))
        .map_err(|err| anyhow!("--{what}: {err}"))
}

/// Writes secret bytes to a new file of mode 0600 (never over an existing one), or stdout.
pub fn write_secret(out: Option<PathBuf>, material: &[u8]) -> Result<()> {
    match out {
        Some(path) => {
            let mut file =
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
            file.write_all(material)?;
        }
        None => std::io::stdout().write_all(material)?,
    }
    Ok(())
}

/// Parses `90d`, `12h`, `30m`, `45s` (or bare seconds) into seconds.
pub fn parse_duration_seconds(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last() {
        Some((at, c)) if c.is_ascii_alphabetic() => (&text[..at], c),
        _ => (text, 's'),
    };
    let multiplier = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return Err(format!("unknown unit {unit:?}: use s, m, h, d or w (e.g. 90d)")),
    };
    let count: u64 = digits.parse().map_err(|_| format!("{text:?} is not a duration such as 90d or 12h"))?;
    count.checked_mul(multiplier).ok_or_else(|| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::parse_duration_seconds;

    #[test]
    fn durations_parse_with_units_and_refuse_garbage() {
        assert_eq!(parse_duration_seconds("90d"), Ok(90 * 86_400));
        assert_eq!(parse_duration_seconds("12h"), Ok(43_200));
        assert_eq!(parse_duration_seconds("30m"), Ok(1_800));
        assert_eq!(parse_duration_seconds("45"), Ok(45));
        assert_eq!(parse_duration_seconds("2w"), Ok(1_209_600));
        assert!(parse_duration_seconds("5y").is_err());
        assert!(parse_duration_seconds("d").is_err());
        assert!(parse_duration_seconds("-3h").is_err());
        assert!(parse_duration_seconds("99999999999999999999d").is_err());
    }
}

/// A secret given on the command line or in the environment (a token, an unseal share):
/// zeroized on drop, and `Debug` (which clap's derived `Debug` of the whole command line
/// uses) prints only its length.
#[derive(Clone)]
pub struct SecretArg(zeroize::Zeroizing<String>);

impl SecretArg {
    /// The secret text. Named so that every use is visible in review.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for SecretArg {
    type Err = std::convert::Infallible;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self(zeroize::Zeroizing::new(text.to_owned())))
    }
}

impl std::fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretArg({} bytes, redacted)", self.0.len())
    }
}

#[cfg(test)]
mod secret_arg_tests {
    use super::SecretArg;

    #[test]
    fn debug_redacts() {
        let arg: SecretArg = "kst_SECRET-MARKER".parse().expect("infallible");
        assert!(!format!("{arg:?}").contains("SECRET-MARKER"));
        assert_eq!(arg.expose_secret(), "kst_SECRET-MARKER");
    }
}

/// Reads a bundle file (text; refused if it is not one).
pub fn read_bundle(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !text.starts_with("{\"type\":\"header\"") {
        bail!("{} is not a Keystead backup bundle (it does not start with a backup header)", path.display());
    }
    Ok(text)
}

/// Reads share files; their content is never printed.
pub fn read_shares(paths: &[PathBuf]) -> Result<keystead_api::SecretList> {
    paths
        .iter()
        .map(|path| {
            std::fs::read_to_string(path)
                .map(keystead_api::Secret::new)
                .with_context(|| format!("cannot read share file {}", path.display()))
        })
        .collect::<Result<_>>()
}
