//! Test databases: a fresh SQLite file, or a fresh database on the PostgreSQL server named by
//! `KEYSTEAD_TEST_DATABASE_URL`. In CI (`CI` set) a missing or unreachable PostgreSQL fails the
//! test; elsewhere the PostgreSQL half is skipped with a note.

use keystead_store::{Backend, SqlStore};
use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;

/// A database of its own for one test.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: the server URL and the database to drop when the test ends.
    cleanup: Option<(String, String)>,
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("keystead.db").display());
        Self { url, backend: Backend::Sqlite, _dir: Some(dir), cleanup: None }
    }

    pub async fn postgres() -> Option<Self> {
        let in_ci = std::env::var_os("CI").is_some();
        let Some(base) = std::env::var("KEYSTEAD_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
            assert!(!in_ci, "KEYSTEAD_TEST_DATABASE_URL must be set in CI");
            eprintln!("skipping the PostgreSQL half: KEYSTEAD_TEST_DATABASE_URL is not set");
            return None;
        };
        sqlx::any::install_default_drivers();
        let admin = AnyPoolOptions::new().max_connections(1).connect(&base).await.unwrap_or_else(|e| {
            panic!("cannot reach PostgreSQL at KEYSTEAD_TEST_DATABASE_URL: {e}");
        });
        let name =
            format!("keystead_test_{}", hex::encode(keystead_crypto::random_array::<8>().expect("random")));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .expect("create a test database");
        admin.close().await;
        let (prefix, rest) = base.rsplit_once('/').expect("a URL with a database path");
        let query = rest.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
        Some(Self {
            url: format!("{prefix}/{name}{query}"),
            backend: Backend::Postgres,
            _dir: None,
            cleanup: Some((base, name)),
        })
    }

    pub async fn open(&self) -> SqlStore {
        let store = SqlStore::open(&self.url).await.expect("the store opens");
        assert_eq!(store.backend(), self.backend);
        store
    }

    /// A raw connection for editing the database behind the store's back.
    pub async fn raw(&self) -> AnyPool {
        AnyPoolOptions::new().max_connections(1).connect(&self.url).await.expect("raw connection")
    }

    pub fn drop_trigger(&self, name: &str) -> String {
        match self.backend {
            Backend::Sqlite => format!("DROP TRIGGER {name}"),
            Backend::Postgres => format!("DROP TRIGGER {name} ON audit_events"),
        }
    }
}

impl Drop for TestDb {
    /// Drops the test's PostgreSQL database, so runs leave nothing behind on the shared
    /// server. A thread of its own: a test's runtime cannot block on another.
    fn drop(&mut self) {
        let Some((base, name)) = self.cleanup.take() else { return };
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let admin = AnyPoolOptions::new().max_connections(1).connect(&base).await.ok()?;
                // FORCE: pool connections of the test's store may still be closing.
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&admin)
                    .await
                    .ok()?;
                admin.close().await;
                Some(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!(
                "note: could not drop the test database {}",
                self.url.rsplit('/').next().unwrap_or_default()
            );
        }
    }
}
