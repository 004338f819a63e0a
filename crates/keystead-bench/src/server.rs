//! Starting the real `keystead` binary on loopback (SQLite `--dev`, or PostgreSQL with the
//! shamir seal on a fresh database) and the benchmark's principals and keys in it.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use keystead_api::keys::CreateKey;
use keystead_api::principals::{AddGrant, CreatePrincipal, CreatedPrincipal};
use keystead_api::sys::{Init, Initialized, Unseal};
use keystead_api::Secret;
use sqlx::Connection;

/// The benchmark's keys: name, purpose, algorithm.
pub const KEYS: [(&str, &str, &str); 3] = [
    ("bench-aes", "encrypt", "aes-256-gcm"),
    ("bench-ed25519", "sign", "ed25519"),
    ("bench-p256", "sign", "ecdsa-p256"),
];

/// Where a benchmark server keeps its data.
#[derive(Clone, Debug)]
pub enum Backend {
    /// `keystead server --dev`: SQLite in a temporary directory (synchronous = FULL).
    Sqlite,
    /// `keystead server --config`: a fresh database on the PostgreSQL server at this URL.
    Postgres(String),
}

impl Backend {
    /// `sqlite` or `postgres`.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

/// A running `keystead` process; stopped (by its PID, which this process started) when dropped.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The root token (a benchmark server's; not a secret worth protecting).
    pub root_token: String,
    /// The crypto-user's token, granted every key of [`KEYS`].
    pub app_token: String,
    /// The crypto-user's AWS access key: id and secret (a benchmark principal's).
    pub aws_access_key: (String, String),
    /// The fresh PostgreSQL database to drop afterwards: (server URL, database name).
    database: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

/// A free port on loopback (bound and released: the server binds it right after).
pub fn free_port() -> Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// The `keystead` binary next to this one (both are built by the same `cargo build --release`).
pub fn default_binary() -> Result<PathBuf> {
    let me = std::env::current_exe()?;
    Ok(me.with_file_name("keystead"))
}

impl Server {
    /// Starts `binary` on `backend` and creates the benchmark's keys and crypto-user.
    pub async fn start(binary: &Path, backend: &Backend) -> Result<Self> {
        if !binary.exists() {
            bail!("{} not found: build it first (cargo build --release -p keystead)", binary.display());
        }
        let dir = tempfile::tempdir()?;
        let addr = free_port()?;
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let mut command = Command::new(binary);
        let mut database = None;
        match backend {
            Backend::Sqlite => {
                command.args(["server", "--dev", "--node", "bench", "--listen", &addr.to_string()]);
                command.arg("--data-dir").arg(dir.path().join("data"));
            }
            Backend::Postgres(url) => {
                let name = format!("keystead_bench_{}", std::process::id());
                let mut admin = sqlx::PgConnection::connect(url).await.context("cannot reach PostgreSQL")?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&mut admin).await?;
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await?;
                let (base, _) = url.rsplit_once('/').context("a PostgreSQL URL names a database")?;
                let config = format!(
                    "listen = \"{addr}\"\nenvironment = \"development\"\nnode = \"bench\"\n\n\
                     [storage]\nurl = \"{base}/{name}\"\n\n[seal]\nkind = \"shamir\"\n\n[aws]\nenabled = true\n"
                );
                let file = dir.path().join("keystead.toml");
                std::fs::write(&file, config)?;
                command.arg("server").arg("--config").arg(file);
                database = Some((url.clone(), name));
            }
        }
        let child = command.stdout(Stdio::null()).stderr(log).spawn().context("cannot start keystead")?;
        let mut server = Server {
            child,
            addr,
            root_token: String::new(),
            app_token: String::new(),
            aws_access_key: (String::new(), String::new()),
            database,
            _dir: dir,
        };
        server.wait_until_listening().await?;
        server.root_token = match backend {
            Backend::Sqlite => {
                std::fs::read_to_string(server._dir.path().join("data/dev-root-token"))?.trim().to_owned()
            }
            Backend::Postgres(_) => server.initialize().await?,
        };
        (server.app_token, server.aws_access_key) = server.create_keys_and_user().await?;
        Ok(server)
    }

    /// The process id, for CPU and memory readings.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn wait_until_listening(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                let log = std::fs::read_to_string(self._dir.path().join("server.log")).unwrap_or_default();
                bail!("keystead exited at start ({status}):\n{log}");
            }
            if reqwest::get(self.url("/v1/sys/seal-status")).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("keystead did not listen on {} within 60 s", self.addr)
    }

    async fn initialize(&self) -> Result<String> {
        let client = reqwest::Client::new();
        let init: Initialized = client
            .post(self.url("/v1/sys/init"))
            .json(&Init { shares: 1, threshold: 1 })
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let share = Secret::new(init.shares.0.first().context("one share")?.expose_secret().to_owned());
        client.post(self.url("/v1/sys/unseal")).json(&Unseal { share }).send().await?.error_for_status()?;
        Ok(init.root_token.expose_secret().to_owned())
    }

    async fn create_keys_and_user(&self) -> Result<(String, (String, String))> {
        let client = reqwest::Client::new();
        for (name, purpose, algorithm) in KEYS {
            let body = CreateKey {
                name: name.into(),
                purpose: purpose.into(),
                algorithm: algorithm.into(),
                usage_context: Some("x-bench".into()),
                ..CreateKey::default()
            };
            self.post(&client, "/v1/keys", &body).await?;
        }
        let principal = CreatePrincipal {
            name: "bench-app".into(),
            roles: vec!["crypto-user".into()],
            ..CreatePrincipal::default()
        };
        let created: CreatedPrincipal =
            serde_json::from_slice(&self.post(&client, "/v1/principals", &principal).await?)?;
        for (name, purpose, _) in KEYS {
            let ops = if purpose == "encrypt" { vec!["encrypt", "decrypt"] } else { vec!["sign", "verify"] };
            let grant = AddGrant {
                principal: "bench-app".into(),
                key: name.into(),
                ops: ops.into_iter().map(str::to_owned).collect(),
                tenant: None,
            };
            self.post(&client, "/v1/grants", &grant).await?;
        }
        let access: keystead_api::principals::CreatedAccessKey = serde_json::from_slice(
            &self.post(&client, "/v1/principals/bench-app/access-keys", &serde_json::json!({})).await?,
        )?;
        let aws = (access.access_key.access_key_id, access.secret_access_key.expose_secret().to_owned());
        Ok((created.token.expose_secret().to_owned(), aws))
    }

    async fn post(
        &self,
        client: &reqwest::Client,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<bytes::Bytes> {
        let response = client.post(self.url(path)).bearer_auth(&self.root_token).json(body).send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        if !status.is_success() {
            bail!("POST {path}: {status}: {}", String::from_utf8_lossy(&body));
        }
        Ok(body)
    }

    /// Stops the process and drops its database.
    pub async fn stop(mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        if let Some((url, name)) = self.database.take() {
            let mut admin = sqlx::PgConnection::connect(&url).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&mut admin).await?;
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only a server that `stop` did not already end: ours, by the PID we started.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time (user + system) a process has used so far, from `/proc/PID/stat`.
pub fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesized command name; utime and stime are the 14th and 15th.
    let after = stat.rsplit_once(')').context("/proc stat format")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 =
        fields.get(11).context("utime")?.parse::<u64>()? + fields.get(12).context("stime")?.parse::<u64>()?;
    // Linux reports in clock ticks of 1/100 s (USER_HZ) on every architecture it runs on here.
    Ok(Duration::from_millis(ticks * 10))
}

/// Resident memory of a process in MiB, from `/proc/PID/status`.
pub fn rss_mib(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("VmRSS")?;
    let kib: f64 = line.split_whitespace().nth(1).context("VmRSS value")?.parse()?;
    Ok(kib / 1024.0)
}

/// The headers of an AWS SigV4 request from the benchmark's access key, signed now.
pub fn sigv4_headers(server: &Server, target: &str, body: &[u8]) -> Result<Vec<(&'static str, String)>> {
    use keystead_aws::sigv4::{canonical_request, signature, string_to_sign, Authorization, SignedRequest};
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let amz_date = time::OffsetDateTime::now_utc().format(format)?;
    let mut headers = vec![
        ("host", server.addr.to_string()),
        ("x-amz-date", amz_date.clone()),
        ("content-type", "application/x-amz-json-1.1".to_owned()),
        ("x-amz-target", target.to_owned()),
    ];
    let mut map = axum::http::HeaderMap::new();
    for (name, value) in &headers {
        map.insert(*name, value.parse()?);
    }
    let signed: Vec<String> =
        ["content-type", "host", "x-amz-date", "x-amz-target"].map(str::to_owned).to_vec();
    let (id, secret) = &server.aws_access_key;
    let auth = Authorization {
        access_key_id: id.clone(),
        date: amz_date[..8].to_owned(),
        region: "us-east-1".into(),
        service: "kms".into(),
        signed_headers: signed.clone(),
        signature: String::new(),
    };
    let request = SignedRequest { method: "POST", path: "/", query: "", headers: &map, body };
    let canonical = canonical_request(&request, &signed).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let sig = signature(
        &keystead_crypto::SecretBytes::from_slice(secret.as_bytes()),
        &auth,
        &string_to_sign(&auth, &amz_date, &canonical),
    );
    headers.retain(|(name, _)| *name != "host");
    headers.push((
        "authorization",
        format!(
            "AWS4-HMAC-SHA256 Credential={id}/{}/us-east-1/kms/aws4_request, SignedHeaders={}, Signature={sig}",
            &amz_date[..8],
            signed.join(";")
        ),
    ));
    Ok(headers)
}
