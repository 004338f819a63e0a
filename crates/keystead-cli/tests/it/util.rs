//! Running the real binary: a server in a temp dir (`--dev`, or `--config` with TLS), and CLI
//! invocations against it.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_keystead");

/// A running `keystead server`, killed on drop.
pub struct DevServer {
    child: Child,
    /// Everything the server wrote to stderr (its log), filled by a reader thread.
    log: Arc<Mutex<String>>,
    pub addr: String,
    pub data_dir: PathBuf,
    pub stdout: String,
    /// Environment every CLI call gets (e.g. the CA certificate).
    client_env: Vec<(String, String)>,
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// Reads stderr until a line contains `needle`, reports it, then keeps draining so the server
/// never writes into a closed pipe.
fn watch_stderr(
    stderr: ChildStderr,
    needle: &str,
    found: std::sync::mpsc::Sender<String>,
    log: Arc<Mutex<String>>,
) {
    let mut announced = false;
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        let mut log = log.lock().expect("log lock");
        log.push_str(&line);
        log.push('\n');
        if !announced && line.contains(needle) {
            announced = true;
            let _ = found.send(log.clone());
        }
    }
    if !announced {
        let seen = log.lock().expect("log lock").clone();
        // Worded so that it cannot contain the needle itself.
        let _ = found.send(format!("THE SERVER EXITED before its start line:\n{seen}"));
    }
}

impl DevServer {
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, &[])
    }

    /// A dev server with extra `server` flags (e.g. `--log-format json`).
    pub fn start_with(dir: &Path, extra: &[&str]) -> Self {
        let data_dir = dir.join("data");
        let addr = format!("127.0.0.1:{}", free_port());
        let mut args: Vec<std::ffi::OsString> =
            ["server", "--dev", "--node", "e2e-node", "--listen", &addr, "--data-dir"].map(Into::into).into();
        args.push(data_dir.clone().into());
        args.extend(extra.iter().map(Into::into));
        Self::spawn(dir, &args, format!("http://{addr}"), data_dir, Vec::new(), &[])
    }

    /// `keystead server --config FILE`, reached at `url` with the given CLI environment.
    pub fn start_configured(dir: &Path, config: &Path, url: &str, client_env: &[(&str, &Path)]) -> Self {
        Self::start_configured_env(dir, config, url, client_env, &[])
    }

    /// Like [`start_configured`](Self::start_configured), with environment variables for the
    /// server process (e.g. a PKCS#11 module's configuration and PIN).
    pub fn start_configured_env(
        dir: &Path,
        config: &Path,
        url: &str,
        client_env: &[(&str, &Path)],
        server_env: &[(&str, &str)],
    ) -> Self {
        let args = ["server".into(), "--config".into(), config.as_os_str().to_owned()];
        let client_env =
            client_env.iter().map(|(k, v)| ((*k).to_owned(), v.to_str().unwrap().to_owned())).collect();
        Self::spawn(dir, &args, url.to_owned(), dir.join("data"), client_env, server_env)
    }

    /// Starts the server and waits for its "listening" line.
    fn spawn(
        dir: &Path,
        args: &[std::ffi::OsString],
        url: String,
        data_dir: PathBuf,
        client_env: Vec<(String, String)>,
        server_env: &[(&str, &str)],
    ) -> Self {
        let mut child = Command::new(BIN)
            .args(args)
            .current_dir(dir)
            .envs(server_env.iter().copied())
            .env_remove("KEYSTEAD_TOKEN")
            // The most verbose level, so that the leak checks see everything the server logs.
            .env("KEYSTEAD_LOG", "trace")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start keystead server");
        let stderr = child.stderr.take().expect("piped stderr");
        let started = Instant::now();
        let (tx, rx) = std::sync::mpsc::channel();
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || watch_stderr(stderr, "keystead listening", tx, sink));
        let seen = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("no start after {:?}", started.elapsed()));
        assert!(seen.contains("keystead listening"), "{seen}");
        let mut stdout = String::new();
        if let Some(out) = child.stdout.take() {
            // The root token line, if any, was printed before the listening line.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(out);
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let _ = tx.send(line);
                let _ = std::io::copy(&mut reader, &mut std::io::sink());
            });
            stdout = rx.recv_timeout(Duration::from_millis(500)).unwrap_or_default();
        }
        Self { child, log, addr: url, data_dir, stdout, client_env }
    }

    /// Stops the server with SIGTERM, as an operator would, waits for it, and returns its log.
    pub fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(exit)) = self.child.try_wait() {
                assert!(exit.success(), "server exit status {exit}");
                // Let the reader thread take the last lines.
                std::thread::sleep(Duration::from_millis(200));
                return self.log.lock().expect("log lock").clone();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not stop on SIGTERM");
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").clone()
    }

    /// Runs a CLI command against this server, with `stdin` as its input.
    pub fn cli(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = Command::new(BIN)
            .args(args)
            .env("KEYSTEAD_ADDR", &self.addr)
            .env("KEYSTEAD_DATA_DIR", &self.data_dir)
            .env_remove("KEYSTEAD_TOKEN")
            .env_remove("KEYSTEAD_CACERT")
            .env_remove("KEYSTEAD_CLIENT_CERT")
            .env_remove("KEYSTEAD_CLIENT_KEY")
            .envs(self.client_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run keystead");
        child.stdin.take().expect("piped stdin").write_all(stdin).expect("write stdin");
        child.wait_with_output().expect("keystead finishes")
    }

    /// Runs a CLI command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str], stdin: &[u8]) -> String {
        let out = self.cli(args, stdin);
        assert!(out.status.success(), "keystead {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
