//! `keystead server`: `--dev` (embedded SQLite, the file seal, a root token printed once) or
//! `--config FILE` (TOML: SQLite or PostgreSQL, the shamir seal, TLS).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use keystead_core::{Environment, NodeName};
use keystead_crypto::{RootKey, SecretBytes};
use keystead_service::{Config, SealSetup, Service};
use keystead_store::SqlStore;

use std::path::PathBuf;

use clap::Args;

use crate::config::{ServerConfig, Storage, ROOT_TOKEN_FILE};

/// `keystead server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Development mode: embedded SQLite, file seal, root token printed once.
    #[arg(long)]
    pub dev: bool,
    /// Production configuration file (TOML; see docs/operations.md). Listen address,
    /// environment and node name then come from the file.
    #[arg(long, conflicts_with_all = ["dev", "listen", "environment", "node"])]
    pub config: Option<PathBuf>,
    /// Where the store, the seal key and the dev root token live (`--dev` only).
    #[arg(long, env = "KEYSTEAD_DATA_DIR", default_value = "keystead-data")]
    pub data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8745")]
    pub listen: String,
    /// The environment this server serves.
    #[arg(long, default_value = "development")]
    pub environment: String,
    /// This node's name in audit events and provenance (default: the host name).
    #[arg(long)]
    pub node: Option<String>,
    /// Log line format on stderr (overrides `[log] format` of the configuration file).
    #[arg(long, value_enum, value_name = "text|json")]
    pub log_format: Option<crate::config::LogFormat>,
}

/// File name of the development seal key inside the data directory.
const SEAL_FILE: &str = "seal.key";

/// Writes `bytes` to a new file readable only by its owner.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

/// The `file` seal: the root key in `<data-dir>/seal.key`. Development only.
fn file_seal(data_dir: &Path) -> Result<RootKey> {
    let path = data_dir.join(SEAL_FILE);
    if !path.exists() {
        let (root, material) = RootKey::generate().context("cannot generate the root key")?;
        write_private(&path, material.expose_secret())?;
        return Ok(root);
    }
    let mode = fs::metadata(&path)?.permissions().mode();
    if mode & 0o077 != 0 {
        bail!(
            "{} is readable by other users (mode {:o}); run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        );
    }
    // Owned straight into a zeroizing buffer: the key bytes are never copied.
    let material = SecretBytes::new(fs::read(&path)?);
    if material.len() != RootKey::LEN {
        bail!("{} does not hold a {}-byte root key", path.display(), RootKey::LEN);
    }
    RootKey::from_material(&material).context("the seal key is not a valid root key")
}

/// An operator message, through the log (so it follows `--log-format`; the subscriber never
/// panics on a closed stderr).
macro_rules! notice {
    ($($arg:tt)*) => {
        tracing::info!(target: "keystead::operator", "{}", format_args!($($arg)*))
    };
}

/// An operator warning, through the log.
macro_rules! caution {
    ($($arg:tt)*) => {
        tracing::warn!(target: "keystead::operator", "{}", format_args!($($arg)*))
    };
}

/// The node name: the one given, else the host name.
fn node_name(given: Option<String>) -> Result<NodeName> {
    Ok(match given {
        Some(node) => NodeName::new(node)?,
        None => NodeName::new(gethostname::gethostname().to_string_lossy().into_owned())
            .unwrap_or_else(|_| NodeName::new("keystead").expect("a fixed valid node name")),
    })
}

/// Takes an exclusive lock on `path` for the life of the process: two servers on one SQLite
/// file would each keep caches the other does not update.
fn lock_file(path: &Path, what: &Path) -> Result<File> {
    let lock = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    if lock.try_lock().is_err() {
        bail!("another keystead server is using {}", what.display());
    }
    Ok(lock)
}

/// Warns when a secret-bearing file is readable by users other than its owner (group
/// access for a TLS key is common, so this is a warning, not a refusal).
fn warn_if_shared(path: &Path, what: &str) {
    if let Ok(metadata) = fs::metadata(path) {
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            caution!(
                "WARNING: {what} {} is readable by other users (mode {mode:o}); consider `chmod 600`",
                path.display()
            );
        }
    }
}

/// Runs the server until Ctrl-C or SIGTERM.
pub fn run(args: ServerArgs) -> Result<()> {
    match (&args.config, args.dev) {
        (Some(_), true) => bail!("give either --dev or --config FILE, not both"),
        (Some(path), false) => run_configured(path),
        (None, true) => run_dev(args),
        (None, false) => bail!(
            "give --dev for a local development server, or --config FILE for a real one (see docs/operations.md)"
        ),
    }
}

/// `server --config FILE`: the shamir seal, TLS unless on loopback, storage by URL.
fn run_configured(path: &Path) -> Result<()> {
    let config = ServerConfig::load(path)?;
    let environment: Environment =
        config.environment.parse().with_context(|| format!("{}: environment", path.display()))?;
    let node = node_name(config.node.clone())?;
    let mut settings = Config::new(node, environment);
    config.policy.apply(&mut settings).with_context(|| format!("invalid policy in {}", path.display()))?;
    config.audit.apply(&mut settings).with_context(|| format!("invalid [audit] in {}", path.display()))?;
    config.auth.apply(&mut settings).with_context(|| format!("invalid [auth] in {}", path.display()))?;
    let aws = config.aws.endpoint(false).with_context(|| format!("invalid [aws] in {}", path.display()))?;
    config
        .anomaly
        .apply(&mut settings)
        .with_context(|| format!("invalid [anomaly] in {}", path.display()))?;
    let seal = config.seal.setup().with_context(|| format!("invalid [seal] in {}", path.display()))?;
    // Certificates first: a typo in a path must stop the server before it touches the store.
    let tls = match &config.tls {
        Some(tls) => {
            let server_config =
                keystead_server::server_config(&tls.cert, &tls.key, tls.client_ca.as_deref())?;
            warn_if_shared(&tls.key, "the TLS private key");
            Some(server_config)
        }
        None => None,
    };
    warn_if_shared(path, "the configuration file (it may hold the database password)");
    let storage = config.storage()?;
    let _lock = match &storage {
        Storage::Sqlite(file) => {
            let dir = file.parent().unwrap_or(Path::new("."));
            if !dir.exists() {
                fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
                fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
            }
            if !file.exists() {
                // SQLite takes an empty file as a new database, and gives its journal files the
                // database file's permissions: owner only, from the start.
                OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(file)
                    .with_context(|| format!("cannot create {}", file.display()))?;
            }
            let mut lock_path = file.clone().into_os_string();
            lock_path.push(".lock");
            Some(lock_file(Path::new(&lock_path), file)?)
        }
        Storage::Postgres(_) => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let store = match &storage {
            Storage::Sqlite(file) => SqlStore::open_sqlite(file).await,
            Storage::Postgres(url) => SqlStore::open(url).await,
        }
        .context("cannot open the store")?;
        let service = Service::new(Arc::new(store), seal, settings, keystead_service::system_clock())
            .await
            .context("the service refused to start")?;
        let service = Arc::new(service);
        tokio::spawn(service.clone().follow_changes(Duration::from_millis(config.storage.recheck_ms)));
        keystead_server::background::spawn(
            service.clone(),
            Duration::from_millis(config.scheduler.interval_ms),
        )?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let bound = listener.local_addr()?;
        service.record_start().await?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let seal = service.seal_status();
        notice!(
            "keystead listening on {scheme}://{bound} (node {}, environment {}, {})",
            seal.node,
            seal.environment,
            keystead_crypto::library_description()
        );
        if !seal.initialized {
            notice!(
                "The store is not initialized: run `keystead operator init --shares N --threshold M` (shamir seal) or `keystead operator init` (pkcs11 seal)."
            );
        } else if seal.sealed {
            notice!(
                "Sealed: {} of {} unseal shares are needed (`keystead operator unseal`).",
                seal.threshold.unwrap_or_default(),
                seal.shares.unwrap_or_default()
            );
        }
        keystead_server::serve(listener, service.clone(), tls, aws, shutdown_signal()).await?;
        write_last_auth_failures(&service).await;
        notice!("keystead stopped");
        Ok(())
    })
}

/// The development server runs due work every second, so short waits can be tried out.
const DEV_SCHEDULER_INTERVAL: Duration = Duration::from_secs(1);

/// `server --dev`: embedded SQLite in the data directory, the file seal, plain HTTP.
fn run_dev(args: ServerArgs) -> Result<()> {
    let environment: Environment = args.environment.parse()?;
    if environment == Environment::Production {
        bail!("--dev uses the file seal and cannot serve the production environment");
    }
    let node = node_name(args.node)?;
    fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    fs::set_permissions(&args.data_dir, fs::Permissions::from_mode(0o700))?;
    let lock = lock_file(&args.data_dir.join("keystead.lock"), &args.data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let root = file_seal(&args.data_dir)?;
        let store = SqlStore::open_sqlite(&args.data_dir.join("keystead.db"))
            .await
            .context("cannot open the store")?;
        let service = Service::new(
            Arc::new(store),
            SealSetup::File(root),
            Config::new(node, environment),
            keystead_service::system_clock(),
        )
        .await
        .context("the service refused to start")?;
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let bound = listener.local_addr()?;
        caution!(
            "WARNING: development mode. The root key is in {} (file seal); never use this for real keys.",
            args.data_dir.join(SEAL_FILE).display()
        );
        if let Some(token) = service.bootstrap_root().await? {
            write_private(&args.data_dir.join(ROOT_TOKEN_FILE), token.expose_secret().as_bytes())?;
            let mut stdout = std::io::stdout();
            let _ = writeln!(
                stdout,
                "Root token (shown once; also in {}): {}",
                args.data_dir.join(ROOT_TOKEN_FILE).display(),
                token.expose_secret()
            );
            let _ = stdout.flush();
        }
        service.record_start().await?;
        let status = service.status();
        notice!(
            "keystead listening on http://{bound} (node {}, environment {}, {})",
            status.node,
            status.environment,
            status.crypto_library
        );
        let _lock = lock;
        let service = Arc::new(service);
        keystead_server::background::spawn(service.clone(), DEV_SCHEDULER_INTERVAL)?;
        let aws = keystead_aws::AwsConfig::default();
        notice!("AWS KMS endpoint: POST http://{bound}/ (region {}, account {})", aws.region, aws.account_id);
        keystead_server::serve(listener, service.clone(), None, Some(aws), shutdown_signal()).await?;
        write_last_auth_failures(&service).await;
        notice!("keystead stopped");
        Ok(())
    })
}

/// The failed-authentication counts of the last interval, written as the server stops.
async fn write_last_auth_failures(service: &Service) {
    if let Err(err) = service.write_auth_failure_summaries().await {
        caution!("could not write the last failed-authentication counts to the audit log: {err}");
    }
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate => {},
    }
}
