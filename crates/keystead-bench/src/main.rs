//! `keystead-bench`: the load benchmark of docs/performance.md.
//!
//! `keystead-bench load` starts a bare axum + aws-lc-rs endpoint (this binary's `bare`
//! subcommand, in its own process) and the real `keystead` server side by side on loopback,
//! drives both with the same load generator, and prints req/s, p50/p99 and the ratio
//! Keystead / bare for encrypt, decrypt, sign (Ed25519, ECDSA P-256) and key show, on SQLite
//! and (given a URL) on PostgreSQL. Then it fills the log with uses of one key and measures the
//! reads that must stay flat (`key show`, `status`, an inventory page) against the same reads
//! on the nearly empty log.

mod bare;
mod load;
mod server;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use clap::{Parser, Subcommand};
use hyper::Method;
use keystead_api::crypto::{Ciphertext, Decrypt, Encrypt, Message};
use keystead_api::Secret;

use load::{Measured, Target};
use server::{Backend, Server};

/// The load benchmark: Keystead against a bare endpoint, same generator, same run.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Run the benchmark and print its tables.
    Load(LoadArgs),
    /// Serve the bare baseline endpoint (started by `load`; exposed for manual runs).
    Bare {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8746")]
        listen: String,
    },
}

#[derive(clap::Args)]
struct LoadArgs {
    /// The `keystead` binary (default: next to this one).
    #[arg(long)]
    keystead: Option<PathBuf>,
    /// Seconds each measurement runs.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds of unmeasured load before each measurement.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Uses of `bench-aes` to add before the flat-read check.
    #[arg(long, default_value_t = 100_000)]
    history: u64,
    /// Runs of every measurement; the median is printed.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Also measure on PostgreSQL: a server URL whose user may create databases
    /// (e.g. postgres://postgres@127.0.0.1:5432/test).
    #[arg(long, env = "KEYSTEAD_BENCH_DATABASE_URL")]
    postgres: Option<String>,
    /// Skip SQLite (with --postgres: PostgreSQL only).
    #[arg(long)]
    no_sqlite: bool,
    /// Only the operations whose name contains this text (e.g. `encrypt`), and no history
    /// check: for profiling one path.
    #[arg(long)]
    only: Option<String>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // reqwest (the setup requests) takes its TLS provider from the process: aws-lc-rs, as everywhere.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Commands::Bare { listen } => runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind(&listen).await?;
            bare::serve(listener).await
        }),
        Commands::Load(args) => runtime.block_on(benchmark(args)),
    }
}

/// The bare endpoint's process; stopped by its PID (ours) when dropped.
struct BareProcess(Child);

impl Drop for BareProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn json(value: &impl serde::Serialize) -> Result<Bytes> {
    Ok(Bytes::from(serde_json::to_vec(value)?))
}

async fn benchmark(args: LoadArgs) -> Result<()> {
    let binary = match &args.keystead {
        Some(path) => path.clone(),
        None => server::default_binary()?,
    };
    let bare_addr = server::free_port()?;
    let bare = BareProcess(
        Command::new(std::env::current_exe()?)
            .args(["bare", "--listen", &bare_addr.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start the bare endpoint")?,
    );
    describe_machine(&args);
    let mut backends = Vec::new();
    if !args.no_sqlite {
        backends.push(Backend::Sqlite);
    }
    if let Some(url) = &args.postgres {
        backends.push(Backend::Postgres(url.clone()));
    }
    for backend in backends {
        let server = Server::start(&binary, &backend).await?;
        println!("\n## {} (keystead pid {}, bare pid {})\n", backend.name(), server.pid(), bare.0.id());
        if args.only.is_some() {
            compare(&server, bare_addr, &args).await?;
            server.stop().await?;
            continue;
        }
        let before = flat_reads(&server, &args).await?;
        compare(&server, bare_addr, &args).await?;
        fill_history(&server, &args).await?;
        let after = flat_reads(&server, &args).await?;
        print_flat(&before, &after, args.history);
        println!(
            "\nkeystead RSS after the run: {:.0} MiB",
            server::rss_mib(server.pid()).unwrap_or(f64::NAN)
        );
        server.stop().await?;
    }
    Ok(())
}

fn describe_machine(args: &LoadArgs) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("# keystead-bench load");
    println!(
        "\n{cores} cores ({cpu}); {} connections, {} s per measurement after {} s warm-up, median of {} run(s); \
         1 KiB plaintexts and messages; load generator, bare endpoint and keystead share the machine.",
        args.connections, args.duration, args.warmup, args.runs
    );
}

/// Runs `target` `runs` times and keeps the median by req/s, with the server CPU per request.
async fn measure(target: &Target, args: &LoadArgs, pid: Option<u32>) -> Result<(Measured, Option<f64>)> {
    let mut results = Vec::new();
    for _ in 0..args.runs.max(1) {
        let cpu_before = pid.map(server::cpu_time).transpose()?;
        let measured = load::run(
            target,
            args.connections,
            Duration::from_secs(args.warmup),
            Duration::from_secs(args.duration),
        )
        .await?;
        let cpu_us = match (pid, cpu_before) {
            (Some(pid), Some(before)) => {
                let used = server::cpu_time(pid)?.saturating_sub(before);
                // Includes the warm-up's requests, which are not counted: an upper bound.
                let requests =
                    measured.ok as f64 * (args.duration + args.warmup) as f64 / args.duration as f64;
                Some(used.as_micros() as f64 / requests.max(1.0))
            }
            _ => None,
        };
        if measured.failed > 0 {
            eprintln!(
                "warning: {} {}: {} failed requests (first: {})",
                target.method,
                target.path,
                measured.failed,
                measured.first_failure.as_deref().unwrap_or("?")
            );
        }
        results.push((measured, cpu_us));
    }
    results.sort_by(|a, b| a.0.per_second.total_cmp(&b.0.per_second));
    Ok(results.swap_remove(results.len() / 2))
}

async fn compare(server: &Server, bare_addr: std::net::SocketAddr, args: &LoadArgs) -> Result<()> {
    let plaintext = Secret::new(STANDARD.encode([7u8; 1024]));
    let message = STANDARD.encode([9u8; 1024]);
    let app = Some(server.app_token.clone());
    let post = |addr, path: &str, bearer: Option<String>, body: Bytes| Target {
        addr,
        method: Method::POST,
        path: path.to_owned(),
        bearer,
        body,
        headers: Vec::new(),
    };
    let encrypt_body = json(&Encrypt { plaintext, ..Encrypt::default() })?;
    let keystead_ciphertext: Ciphertext = serde_json::from_slice(
        &load::once(&post(server.addr, "/v1/keys/bench-aes/encrypt", app.clone(), encrypt_body.clone()))
            .await?,
    )?;
    let bare_ciphertext: Ciphertext =
        serde_json::from_slice(&load::once(&post(bare_addr, "/encrypt", None, encrypt_body.clone())).await?)?;
    let decrypt = |ciphertext: String| json(&Decrypt { ciphertext, ..Decrypt::default() });
    let sign_body = json(&Message { message, ..Message::default() })?;
    let cases = [
        (
            "encrypt 1 KiB (AES-256-GCM)",
            post(bare_addr, "/encrypt", None, encrypt_body.clone()),
            post(server.addr, "/v1/keys/bench-aes/encrypt", app.clone(), encrypt_body),
        ),
        (
            "decrypt 1 KiB",
            post(bare_addr, "/decrypt", None, decrypt(bare_ciphertext.ciphertext)?),
            post(server.addr, "/v1/decrypt", app.clone(), decrypt(keystead_ciphertext.ciphertext)?),
        ),
        (
            "sign Ed25519",
            post(bare_addr, "/sign/ed25519", None, sign_body.clone()),
            post(server.addr, "/v1/keys/bench-ed25519/sign", app.clone(), sign_body.clone()),
        ),
        (
            "sign ECDSA P-256",
            post(bare_addr, "/sign/p256", None, sign_body.clone()),
            post(server.addr, "/v1/keys/bench-p256/sign", app.clone(), sign_body),
        ),
        (
            "key show",
            Target {
                addr: bare_addr,
                method: Method::GET,
                path: "/show".into(),
                bearer: None,
                body: Bytes::new(),
                headers: Vec::new(),
            },
            Target {
                addr: server.addr,
                method: Method::GET,
                path: "/v1/keys/bench-aes".into(),
                bearer: Some(server.root_token.clone()),
                body: Bytes::new(),
                headers: Vec::new(),
            },
        ),
    ];
    println!("| operation | bare req/s | bare p50 / p99 | keystead req/s | keystead p50 / p99 | ratio | keystead CPU per request |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, bare_target, keystead_target) in cases {
        if args.only.as_deref().is_some_and(|only| !name.contains(only)) {
            continue;
        }
        let (bare, _) = measure(&bare_target, args, None).await?;
        let (keystead, cpu_us) = measure(&keystead_target, args, Some(server.pid())).await?;
        println!(
            "| {name} | {:.0} | {} / {} µs | {:.0} | {} / {} µs | {:.0} % | {} |",
            bare.per_second,
            bare.p50_us,
            bare.p99_us,
            keystead.per_second,
            keystead.p50_us,
            keystead.p99_us,
            100.0 * keystead.per_second / bare.per_second.max(1.0),
            cpu_us.map(|us| format!("{us:.0} µs")).unwrap_or_default()
        );
    }
    if args.only.as_deref().is_none_or(|only| "aws encrypt".contains(only)) {
        compare_aws(
            server,
            args,
            post(
                server.addr,
                "/v1/keys/bench-aes/encrypt",
                app,
                json(&Encrypt {
                    plaintext: Secret::new(STANDARD.encode([7u8; 1024])),
                    ..Encrypt::default()
                })?,
            ),
        )
        .await?;
    }
    Ok(())
}

/// Native REST encrypt against the same encrypt through the AWS endpoint (SigV4), same run.
/// The AWS request is signed once and sent again and again (a replay inside the 15-minute
/// window, which the server accepts): the server verifies the whole HMAC chain every time,
/// and the load generator spends no more per request than for the native one.
async fn compare_aws(server: &Server, args: &LoadArgs, native: Target) -> Result<()> {
    let body =
        serde_json::json!({ "KeyId": "bench-aes", "Plaintext": STANDARD.encode([7u8; 1024]) }).to_string();
    let aws = Target {
        addr: server.addr,
        method: Method::POST,
        path: "/".into(),
        bearer: None,
        body: Bytes::from(body.clone()),
        headers: server::sigv4_headers(server, "TrentService.Encrypt", body.as_bytes())?,
    };
    load::once(&aws).await.context("the AWS endpoint refused the benchmark's Encrypt")?;
    let (native_run, native_cpu) = measure(&native, args, Some(server.pid())).await?;
    let (aws_run, aws_cpu) = measure(&aws, args, Some(server.pid())).await?;
    println!("\n| encrypt 1 KiB | req/s | p50 / p99 | CPU per request |");
    println!("|---|---:|---:|---:|");
    for (name, run, cpu) in
        [("native REST (bearer)", &native_run, native_cpu), ("AWS endpoint (SigV4)", &aws_run, aws_cpu)]
    {
        println!(
            "| {name} | {:.0} | {} / {} µs | {} |",
            run.per_second,
            run.p50_us,
            run.p99_us,
            cpu.map(|us| format!("{us:.0} µs")).unwrap_or_default()
        );
    }
    println!("\nAWS / native: {:.0} %", 100.0 * aws_run.per_second / native_run.per_second.max(1.0));
    Ok(())
}

/// Encrypts with `bench-aes` until it has `--history` more uses.
async fn fill_history(server: &Server, args: &LoadArgs) -> Result<()> {
    let body = json(&Encrypt { plaintext: Secret::new(STANDARD.encode([1u8; 64])), ..Encrypt::default() })?;
    let target = Target {
        addr: server.addr,
        method: Method::POST,
        path: "/v1/keys/bench-aes/encrypt".into(),
        bearer: Some(server.app_token.clone()),
        body,
        headers: Vec::new(),
    };
    let started = std::time::Instant::now();
    let sent = load::send_count(&target, args.connections, args.history).await?;
    eprintln!("added {sent} uses of bench-aes in {:.0} s", started.elapsed().as_secs_f64());
    // The server's background work (the anomaly scan reads every new event) catches up
    // before the reads are measured: wait until it uses under 5 % of a core for a second.
    let settle = std::time::Instant::now();
    while settle.elapsed() < Duration::from_secs(120) {
        let before = server::cpu_time(server.pid())?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        if server::cpu_time(server.pid())?.saturating_sub(before) < Duration::from_millis(50) {
            break;
        }
    }
    eprintln!("server idle again after {:.0} s", settle.elapsed().as_secs_f64());
    Ok(())
}

/// p50/p99 of the reads that must not grow with the log, one connection at a time.
async fn flat_reads(server: &Server, args: &LoadArgs) -> Result<Vec<(&'static str, Measured)>> {
    let get = |path: &str| Target {
        addr: server.addr,
        method: Method::GET,
        path: path.to_owned(),
        bearer: Some(server.root_token.clone()),
        body: Bytes::new(),
        headers: Vec::new(),
    };
    let reads = [
        ("key show (bench-aes)", get("/v1/keys/bench-aes")),
        ("status", get("/v1/status")),
        ("inventory page (50 keys)", get("/v1/inventory?limit=50")),
    ];
    let mut measured = Vec::new();
    for (name, target) in reads {
        let result =
            load::run(&target, 1, Duration::from_millis(200), Duration::from_secs(args.duration.min(3)))
                .await?;
        measured.push((name, result));
    }
    Ok(measured)
}

fn print_flat(before: &[(&str, Measured)], after: &[(&str, Measured)], history: u64) {
    println!("\nReads against history (one connection; p50 / p99):\n");
    println!("| read | nearly empty log | after {history} more uses | p99 ratio |");
    println!("|---|---:|---:|---:|");
    for ((name, empty), (_, full)) in before.iter().zip(after) {
        println!(
            "| {name} | {} / {} µs | {} / {} µs | {:.2} |",
            empty.p50_us,
            empty.p99_us,
            full.p50_us,
            full.p99_us,
            full.p99_us as f64 / empty.p99_us.max(1) as f64
        );
    }
}
