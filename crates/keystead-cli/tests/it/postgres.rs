//! A private PostgreSQL instance for one test: `initdb` into a temporary directory with the
//! installed server binaries, on a free port, stopped and restarted only by that test. The
//! shared cluster other tests use is never touched.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::free_port;

/// A running private PostgreSQL server, stopped on drop.
pub struct PrivatePostgres {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    /// `runuser -u postgres --` when running as root (PostgreSQL refuses to run as root).
    as_user: Vec<String>,
    pub port: u16,
    /// Extra server settings (TLS).
    settings: String,
}

/// The directory of the newest installed `initdb`.
fn server_binaries() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok())
    });
    found.pop()
}

fn run_checked(command: &mut Command, what: &str) -> Output {
    let out = command.output().unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl PrivatePostgres {
    /// Starts one, or explains why not: in CI a missing PostgreSQL is a failure, elsewhere
    /// the test is skipped with a note.
    pub fn start() -> Option<Self> {
        Self::start_with(None)
    }

    /// Starts one that also accepts TLS with this PEM certificate and key.
    pub fn start_with_tls(cert_pem: &str, key_pem: &str) -> Option<Self> {
        Self::start_with(Some((cert_pem, key_pem)))
    }

    fn start_with(tls: Option<(&str, &str)>) -> Option<Self> {
        let Some(bin) = server_binaries() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL server binaries (initdb, pg_ctl) are not installed under /usr/lib/postgresql; .ci/run installs them"
            );
            eprintln!("skipped: no PostgreSQL server binaries under /usr/lib/postgresql");
            return None;
        };
        let is_root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let as_user: Vec<String> =
            if is_root { ["runuser", "-u", "postgres", "--"].map(String::from).to_vec() } else { Vec::new() };
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("pgdata");
        std::fs::create_dir(&data).unwrap();
        if is_root {
            run_checked(Command::new("chmod").args(["755"]).arg(dir.path()), "chmod");
            run_checked(Command::new("chown").args(["postgres:postgres"]).arg(&data), "chown");
        }
        let mut server = Self { _dir: dir, data, bin, as_user, port: free_port(), settings: String::new() };
        run_checked(
            &mut server.command(
                "initdb",
                &["-A", "trust", "-U", "keystead", "-E", "UTF8", "--locale=C", "--no-sync", "-D"],
                Some(&server.data),
            ),
            "initdb",
        );
        if let Some((cert, key)) = tls {
            let (cert_path, key_path) = (server.data.join("server.crt"), server.data.join("server.key"));
            std::fs::write(&cert_path, cert).unwrap();
            std::fs::write(&key_path, key).unwrap();
            run_checked(Command::new("chmod").arg("600").arg(&key_path), "chmod");
            if is_root {
                run_checked(
                    Command::new("chown").args(["postgres:postgres"]).arg(&cert_path).arg(&key_path),
                    "chown",
                );
            }
            server.settings = format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                cert_path.display(),
                key_path.display()
            );
        }
        server.pg_ctl_start();
        Some(server)
    }

    fn command(&self, program: &str, args: &[&str], path: Option<&Path>) -> Command {
        let binary = self.bin.join(program);
        let mut command = match self.as_user.split_first() {
            Some((runner, rest)) => {
                let mut c = Command::new(runner);
                c.args(rest).arg(&binary);
                c
            }
            None => Command::new(&binary),
        };
        command.args(args);
        if let Some(path) = path {
            command.arg(path);
        }
        command
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://keystead@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100{}",
            self.port,
            self.data.display(),
            self.settings
        );
        let log = self.data.join("server.log");
        let mut command = self.command("pg_ctl", &["-w", "-t", "60", "-o", &options, "-l"], Some(&log));
        command.arg("-D").arg(&self.data).arg("start");
        run_checked(&mut command, "pg_ctl start");
    }

    /// Runs one SQL statement with psql over the Unix socket; its unaligned output.
    pub fn query(&self, sql: &str) -> String {
        let mut command = self.command("psql", &["-h"], Some(&self.data));
        command.args(["-p", &self.port.to_string(), "-U", "keystead", "-d", "postgres", "-Atc", sql]);
        String::from_utf8(run_checked(&mut command, "psql").stdout).unwrap().trim().to_owned()
    }

    /// Stops the server (fast shutdown: connections are cut).
    pub fn stop(&self) {
        let mut command = self.command("pg_ctl", &["-w", "-m", "fast", "-D"], Some(&self.data));
        command.arg("stop");
        run_checked(&mut command, "pg_ctl stop");
    }

    /// Starts it again after [`stop`](Self::stop), on the same port and data.
    pub fn restart(&self) {
        self.pg_ctl_start();
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let mut command = self.command("pg_ctl", &["-m", "immediate", "-D"], Some(&self.data));
        let _ = command.arg("stop").output();
    }
}
