#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
//! Store conformance suite: every check runs against a real SQLite file and a real PostgreSQL database.

/// Runs one conformance check on every backend, as separate tests.
macro_rules! on_every_backend {
    ($($check:ident),+ $(,)?) => {
        $(
            mod $check {
                #[tokio::test]
                async fn sqlite() {
                    super::$check(crate::db::TestDb::sqlite().await).await;
                }

                #[tokio::test]
                async fn postgres() {
                    if let Some(db) = crate::db::TestDb::postgres().await {
                        super::$check(db).await;
                    }
                }
            }
        )+
    };
}

mod admin;
mod archive;
mod conformance;
mod db;
mod inventory;
mod oversight;
mod usage;
