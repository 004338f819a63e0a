//! The cryptographic commands: encrypt, decrypt, sign, verify, mac, mac-verify, wrap, unwrap,
//! datakey and rewrap (one ciphertext, or a file of them).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use clap::Args;
use keystead_api::crypto::{
    Ciphertext, DataKey, Decrypt, Encrypt, GenerateDataKey, Message, Plaintext, Rewrap, Rewrapped, Signature,
    Unwrap, Validity, Wrap, Wrapped,
};
use keystead_api::Secret;

use crate::client::{exit, seg, Client};
use crate::input::{pairs, read_input, read_text, write_secret};
use crate::output::{print_typed, Progress};

/// Why a compromised key is used (incident responders must give both).
#[derive(Debug, Args)]
pub struct JustifyArgs {
    /// Why the compromised key must be used.
    #[arg(long)]
    pub justification: Option<String>,
    /// The systems whose data is processed, comma separated.
    #[arg(long = "affected-systems", value_delimiter = ',', value_name = "SYSTEM,...")]
    pub affected_systems: Vec<String>,
}

/// `keystead encrypt`.
#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// Key name, alias or id.
    pub key: String,
    /// Encryption context pairs bound as associated data.
    #[arg(long = "context", value_name = "K=V")]
    pub context: Vec<String>,
    /// Read the plaintext from FILE instead of stdin.
    #[arg(long = "in", value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Tenant.
    #[arg(long)]
    pub tenant: Option<String>,
}

/// `keystead decrypt`.
#[derive(Debug, Args)]
pub struct DecryptArgs {
    #[command(flatten)]
    justify: JustifyArgs,
    /// The context given at encryption.
    #[arg(long = "context", value_name = "K=V")]
    context: Vec<String>,
    /// Read the ciphertext from FILE instead of stdin.
    #[arg(long = "in", value_name = "FILE")]
    input: Option<PathBuf>,
}

/// A message-taking operation (sign, mac).
#[derive(Debug, Args)]
pub struct MessageArgs {
    /// Key name, alias or id.
    pub key: String,
    /// Read the message from FILE instead of stdin.
    #[arg(long = "in", value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Tenant.
    #[arg(long)]
    pub tenant: Option<String>,
}

/// `keystead verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    message: MessageArgs,
    #[command(flatten)]
    justify: JustifyArgs,
    /// The ks1 signature.
    #[arg(long)]
    signature: String,
}

/// `keystead mac-verify`.
#[derive(Debug, Args)]
pub struct MacVerifyArgs {
    #[command(flatten)]
    message: MessageArgs,
    #[command(flatten)]
    justify: JustifyArgs,
    /// The ks1 tag.
    #[arg(long)]
    mac: String,
}

/// `keystead wrap`.
#[derive(Debug, Args)]
pub struct WrapArgs {
    /// Key name, alias or id.
    key: String,
    /// File holding the raw key material (16 to 4096 bytes, a multiple of 8).
    #[arg(long = "in", value_name = "FILE")]
    input: PathBuf,
    /// Tenant.
    #[arg(long)]
    tenant: Option<String>,
}

/// `keystead unwrap`.
#[derive(Debug, Args)]
pub struct UnwrapArgs {
    #[command(flatten)]
    justify: JustifyArgs,
    /// File holding the wrapped key (stdin by default).
    #[arg(long = "in", value_name = "FILE")]
    input: Option<PathBuf>,
    /// Write the material to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// `keystead datakey`.
#[derive(Debug, Args)]
pub struct DatakeyArgs {
    /// Key name, alias or id.
    key: String,
    /// Encryption context pairs.
    #[arg(long = "context", value_name = "K=V")]
    context: Vec<String>,
    /// Tenant.
    #[arg(long)]
    tenant: Option<String>,
}

/// `keystead rewrap`.
#[derive(Debug, Args)]
pub struct RewrapArgs {
    /// The context given at encryption.
    #[arg(long = "context", value_name = "K=V")]
    context: Vec<String>,
    /// File holding one ciphertext (stdin by default).
    #[arg(long = "in", value_name = "FILE", conflicts_with = "file")]
    input: Option<PathBuf>,
    /// Bulk: a file with one ciphertext per line; shows progress on stderr.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// Bulk: where the new ciphertexts go, line for line (must not exist; stdout by default).
    #[arg(long, value_name = "FILE", requires = "file")]
    out: Option<PathBuf>,
    /// Also rewrap data protected after a reported compromise (it may be the attacker's);
    /// without it such data is refused and, in bulk, kept unchanged.
    #[arg(long = "accept-suspect")]
    accept_suspect: bool,
    #[command(flatten)]
    justify: JustifyArgs,
}

/// Prints a typed answer as JSON, or one line of it for people.
fn answer<T: serde::Serialize>(json_out: bool, value: &T, line: &str) -> Result<i32> {
    if json_out {
        print_typed(value)?;
    } else {
        println!("{line}");
    }
    Ok(0)
}

/// Runs `encrypt`.
pub fn encrypt(client: &Client, a: EncryptArgs, json_out: bool) -> Result<i32> {
    let plaintext = read_input(a.input.as_deref())?;
    let body = Encrypt {
        plaintext: Secret::new(STANDARD.encode(zeroize::Zeroizing::new(plaintext).as_slice())),
        context: pairs(&a.context, "context")?,
        tenant: a.tenant,
    };
    let out: Ciphertext = client.post_as(&format!("/v1/keys/{}/encrypt", seg(&a.key)), &body)?;
    answer(json_out, &out, &out.ciphertext)
}

/// Runs `decrypt`: the plaintext goes to stdout as bytes.
pub fn decrypt(client: &Client, a: DecryptArgs, json_out: bool) -> Result<i32> {
    let body = Decrypt {
        ciphertext: read_text(a.input.as_deref())?,
        context: pairs(&a.context, "context")?,
        justification: a.justify.justification,
        affected_systems: a.justify.affected_systems,
    };
    let out: Plaintext = client.post_as("/v1/decrypt", &body)?;
    if json_out {
        print_typed(&out)?;
        return Ok(0);
    }
    if let Some(warning) = &out.warning {
        eprintln!("warning: {warning}");
    }
    let plaintext = zeroize::Zeroizing::new(
        STANDARD.decode(out.plaintext.expose_secret()).context("the server sent malformed base64")?,
    );
    std::io::stdout().write_all(&plaintext)?;
    Ok(0)
}

/// Runs `sign` or `mac` (`op`).
pub fn protect(client: &Client, op: &str, m: MessageArgs, json_out: bool) -> Result<i32> {
    let body = Message {
        message: STANDARD.encode(read_input(m.input.as_deref())?),
        tenant: m.tenant,
        ..Message::default()
    };
    let out: Signature = client.post_as(&format!("/v1/keys/{}/{op}", seg(&m.key)), &body)?;
    answer(json_out, &out, &out.signature)
}

/// Runs `verify`; exit 6 when the signature does not verify.
pub fn verify(client: &Client, a: VerifyArgs, json_out: bool) -> Result<i32> {
    check(client, "verify", a.message, a.justify, a.signature, json_out)
}

/// Runs `mac-verify`; exit 6 when the tag does not match.
pub fn mac_verify(client: &Client, a: MacVerifyArgs, json_out: bool) -> Result<i32> {
    check(client, "mac-verify", a.message, a.justify, a.mac, json_out)
}

fn check(
    client: &Client,
    op: &str,
    m: MessageArgs,
    justify: JustifyArgs,
    signature: String,
    json_out: bool,
) -> Result<i32> {
    let body = Message {
        message: STANDARD.encode(read_input(m.input.as_deref())?),
        signature: Some(signature.trim().to_owned()),
        tenant: m.tenant,
        justification: justify.justification,
        affected_systems: justify.affected_systems,
    };
    let out: Validity = client.post_as(&format!("/v1/keys/{}/{op}", seg(&m.key)), &body)?;
    if json_out {
        print_typed(&out)?;
    } else if out.valid {
        println!("valid");
    } else {
        eprintln!(
            "invalid: the {} does not match this message and key",
            if op == "verify" { "signature" } else { "MAC tag" }
        );
    }
    Ok(if out.valid { 0 } else { exit::NOT_VALID })
}

/// Runs `wrap`.
pub fn wrap(client: &Client, a: WrapArgs, json_out: bool) -> Result<i32> {
    let material = zeroize::Zeroizing::new(read_input(Some(&a.input))?);
    let body = Wrap { key_material: Secret::new(STANDARD.encode(material.as_slice())), tenant: a.tenant };
    let out: Wrapped = client.post_as(&format!("/v1/keys/{}/wrap", seg(&a.key)), &body)?;
    answer(json_out, &out, &out.wrapped)
}

/// Runs `unwrap`: the material goes to `--out` (mode 0600) or stdout.
pub fn unwrap(client: &Client, a: UnwrapArgs, json_out: bool) -> Result<i32> {
    let body = Unwrap {
        wrapped: read_text(a.input.as_deref())?,
        justification: a.justify.justification,
        affected_systems: a.justify.affected_systems,
    };
    let out: Plaintext = client.post_as("/v1/unwrap", &body)?;
    if json_out {
        print_typed(&out)?;
        return Ok(0);
    }
    let material = zeroize::Zeroizing::new(
        STANDARD.decode(out.plaintext.expose_secret()).context("the server sent malformed base64")?,
    );
    write_secret(a.out, &material)?;
    Ok(0)
}

/// Runs `datakey`.
pub fn datakey(client: &Client, a: DatakeyArgs, json_out: bool) -> Result<i32> {
    let body = GenerateDataKey { context: pairs(&a.context, "context")?, tenant: a.tenant };
    let out: DataKey = client.post_as(&format!("/v1/keys/{}/datakey", seg(&a.key)), &body)?;
    if json_out {
        print_typed(&out)?;
    } else {
        println!("plaintext:  {}", out.plaintext.expose_secret());
        println!("ciphertext: {}", out.ciphertext);
    }
    Ok(0)
}

/// Runs `rewrap`: one ciphertext, or (`--file`) one per line.
pub fn rewrap(client: &Client, a: RewrapArgs, json_out: bool) -> Result<i32> {
    let template = Rewrap {
        ciphertext: String::new(),
        context: pairs(&a.context, "context")?,
        justification: a.justify.justification,
        affected_systems: a.justify.affected_systems,
        accept_suspect: a.accept_suspect,
    };
    match a.file {
        Some(file) => rewrap_file(client, &file, a.out, &template, json_out),
        None => rewrap_one(client, a.input.as_deref(), template, json_out),
    }
}

fn rewrap_one(client: &Client, input: Option<&Path>, template: Rewrap, json_out: bool) -> Result<i32> {
    let mut ciphertext = String::new();
    match input {
        Some(path) => {
            ciphertext =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
        }
        None => {
            std::io::stdin().lock().read_line(&mut ciphertext).context("cannot read standard input")?;
        }
    }
    let body = Rewrap { ciphertext: ciphertext.trim().to_owned(), ..template };
    let out: Rewrapped = client.post_as("/v1/rewrap", &body)?;
    if json_out {
        print_typed(&out)?;
    } else {
        if let Some(warning) = &out.warning {
            eprintln!("warning: {warning}");
        }
        println!("{}", out.ciphertext);
    }
    Ok(0)
}

/// What `rewrap --file` reports with `--output json`.
#[derive(serde::Serialize)]
struct BulkSummary {
    rewrapped: u64,
    failed: Vec<String>,
    flagged: u64,
}

/// `rewrap --file FILE [--out FILE]`: one ciphertext per line, written line for line. A line
/// that fails keeps its old ciphertext in the output (nothing is lost) and is reported; the
/// exit code is then non-zero.
fn rewrap_file(
    client: &Client,
    file: &Path,
    out: Option<PathBuf>,
    template: &Rewrap,
    json_out: bool,
) -> Result<i32> {
    let input = std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let lines: Vec<String> =
        BufReader::new(input).lines().collect::<Result<_, _>>().context("the file is not text")?;
    let total = lines.iter().filter(|l| !l.trim().is_empty()).count() as u64;
    let mut sink: Box<dyn Write> = match &out {
        Some(path) => Box::new(
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?,
        ),
        None => {
            if json_out {
                bail!("--output json reports a summary; give --out FILE for the ciphertexts");
            }
            Box::new(std::io::stdout().lock())
        }
    };
    let mut progress = Progress::new(total, "rewrapped");
    let (mut done, mut failures, mut warnings) = (0_u64, Vec::new(), 0_u64);
    for (number, line) in lines.iter().enumerate() {
        let ciphertext = line.trim();
        if ciphertext.is_empty() {
            writeln!(sink)?;
            continue;
        }
        let body = Rewrap { ciphertext: ciphertext.to_owned(), ..template.clone() };
        match client.post_as::<_, Rewrapped>("/v1/rewrap", &body) {
            Ok(result) => {
                warnings += u64::from(result.warning.is_some());
                writeln!(sink, "{}", result.ciphertext)?;
            }
            Err(err) => {
                failures.push(format!("line {}: {err:#}", number + 1));
                writeln!(sink, "{ciphertext}")?;
            }
        }
        done += 1;
        progress.advance(done);
    }
    sink.flush()?;
    progress.finish();
    let rewrapped = done - failures.len() as u64;
    if json_out {
        print_typed(&BulkSummary { rewrapped, failed: failures.clone(), flagged: warnings })?;
    } else {
        eprintln!("rewrapped {rewrapped} of {total} ciphertexts");
        if warnings > 0 {
            eprintln!("warning: {warnings} came from data protected after a reported compromise, rewrapped with --accept-suspect (see the audit log)");
        }
        for failure in &failures {
            eprintln!("failed: {failure} (kept unchanged)");
        }
    }
    Ok(if failures.is_empty() { 0 } else { exit::FAILURE })
}
