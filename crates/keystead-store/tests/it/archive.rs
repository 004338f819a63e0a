//! Audit archives on every backend: the plan ends at a checkpoint before the date, the move is
//! atomic with its `audit.archive` event, key status changes survive it, the chain verifies on
//! from the boundary, and a gap the archive does not explain is a break.

use keystead_core::AuditAction;
use keystead_store::archive::{ArchiveRange, ArchiveRecord};
use keystead_store::{Change, Store};

use crate::conformance::{attributes, event, now, version};
use crate::db::TestDb;

on_every_backend!(
    an_archive_moves_a_checkpointed_prefix_and_the_chain_goes_on,
    gaps_an_archive_does_not_explain_are_breaks
);

/// Accepts every signature: signatures are the service's business; here the claims' coverage
/// and order are checked.
struct NoSignatures;

impl keystead_store::SignatureCheck for NoSignatures {
    fn check(&self, _: &str, _: u32, _: &[u8], _: &[u8]) -> Result<bool, String> {
        Ok(true)
    }
}

/// A checkpoint over `store`'s current head of n1, after the `previous` one.
async fn checkpoint(
    store: &dyn Store,
    second: i64,
    previous: Option<(i64, String)>,
) -> keystead_core::AuditEvent {
    let head = store.chain_head("n1").await.unwrap();
    let claim = keystead_core::checkpoint::Checkpoint {
        previous,
        covers_node_seq: head.node_seq,
        covers_hash: head.hash,
        signed_at: at(second).format(&time::format_description::well_known::Rfc3339).unwrap(),
        key_id: "k".into(),
        key_version: 1,
        signature: vec![1],
    };
    let mut event = event(AuditAction::AuditCheckpoint, "n1");
    event.occurred_at = at(second);
    claim.describe(&mut event);
    event
}

fn at(second: i64) -> time::OffsetDateTime {
    now() + time::Duration::seconds(second)
}

/// A key created at second 0 (node n1, event 1), 9 uses, a checkpoint-action event at second
/// 10 (event 11), 5 more uses, another at second 20 (event 17), 3 more uses (to event 20).
async fn fill(store: &dyn Store) -> keystead_core::KeyId {
    let key = attributes("archived");
    let mut create = event(AuditAction::KeyCreate, "n1");
    create.key_id = Some(key.id);
    store.commit(Change::CreateKey { key: key.clone(), version: version(1) }, create).await.unwrap();
    let mut second = 0;
    let mut previous = None;
    for block in [9, 5, 3] {
        let uses = (0..block)
            .map(|_| {
                second += 1;
                let mut used = event(AuditAction::Encrypt, "n1");
                used.key_id = Some(key.id);
                used.version = Some(1);
                used.occurred_at = at(second);
                used
            })
            .collect();
        store.append_audit_events(uses).await.unwrap();
        if block != 3 {
            second = if second < 10 { 10 } else { 20 };
            let signed = checkpoint(store, second, previous.take()).await;
            let record = store.commit(Change::AuditOnly, signed).await.unwrap();
            previous = Some((record.node_sequence, record.hash));
        }
    }
    key.id
}

fn record(id: &str, ranges: Vec<ArchiveRange>) -> ArchiveRecord {
    ArchiveRecord {
        id: id.into(),
        ranges,
        file_sha256: "00".repeat(32),
        before: at(15),
        archived_at: at(30),
        archived_by: "root".into(),
    }
}

fn archive_event(id: &str, range: &ArchiveRange) -> keystead_core::AuditEvent {
    let mut archived = event(AuditAction::AuditArchive, "n1");
    archived.occurred_at = at(30);
    archived.details.insert("archive_id".into(), id.into());
    archived.details.insert(
        "range n1".into(),
        format!("{}-{} {}", range.first_seq, range.through_seq, range.through_hash),
    );
    archived
}

async fn an_archive_moves_a_checkpointed_prefix_and_the_chain_goes_on(db: TestDb) {
    let store = db.open().await;
    let key = fill(&store).await;
    assert!(store.archive_plan(at(5)).await.unwrap().is_empty(), "no checkpoint before second 5");
    let plan = store.archive_plan(at(15)).await.unwrap();
    assert_eq!(plan.len(), 1);
    let range = plan[0].clone();
    assert_eq!((range.first_seq, range.through_seq), (1, 11), "up to the checkpoint at second 10");
    assert_eq!(range.after_hash, keystead_store::chain::GENESIS);
    let rows = store.archive_rows("n1", 0, 11, 100).await.unwrap();
    assert_eq!(rows.len(), 11);
    assert_eq!(rows[10].hash, range.through_hash);

    store
        .commit(Change::ArchiveAudit(record("arc_1", plan.clone())), archive_event("arc_1", &range))
        .await
        .unwrap();
    assert!(store.archive_rows("n1", 0, 11, 100).await.unwrap().is_empty(), "the events left the store");
    let report = store.verify_audit_chain(&NoSignatures).await.unwrap();
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.events, 20 - 11 + 1, "the rest and the archive event");
    assert_eq!(report.nodes[0].archived_through, Some(11));
    let history = store.archived_key_history(key, 100).await.unwrap();
    assert_eq!(history.len(), 1, "the key's creation is kept");
    assert_eq!(history[0].event.action, AuditAction::KeyCreate);
    assert_eq!(store.key_usage(key).await.unwrap()[0].uses, 17, "counters are not archived");

    // The next archive continues from the boundary; a stale plan loses.
    let next = store.archive_plan(at(25)).await.unwrap();
    assert_eq!((next[0].first_seq, next[0].through_seq), (12, 17));
    assert_eq!(next[0].after_hash, range.through_hash);
    let stale =
        store.commit(Change::ArchiveAudit(record("arc_0", plan)), archive_event("arc_0", &range)).await;
    assert!(matches!(stale, Err(keystead_store::Error::Conflict { .. })), "{stale:?}");
    store
        .commit(Change::ArchiveAudit(record("arc_2", next.clone())), archive_event("arc_2", &next[0]))
        .await
        .unwrap();
    let report = store.verify_audit_chain(&NoSignatures).await.unwrap();
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.nodes[0].archived_through, Some(17));
    assert_eq!(store.archive_boundaries().await.unwrap()[0].archive_id, "arc_2");
}

async fn gaps_an_archive_does_not_explain_are_breaks(db: TestDb) {
    let store = db.open().await;
    fill(&store).await;
    let pool = db.raw().await;
    // Events no archive covers cannot be deleted.
    let delete = sqlx::query("DELETE FROM audit_events WHERE node_seq <= 11").execute(&pool).await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    // An archive record written straight into the database lets rows go, but no audit.archive
    // event in the chain records it: verification names the gap.
    let range = store.archive_plan(at(15)).await.unwrap().remove(0);
    sqlx::query(
        "INSERT INTO audit_archives (id, node, first_seq, through_seq, through_hash, events, file_sha256, \
         before_ms, archived_at_ms, archived_by) VALUES ('arc_x', 'n1', 1, 11, $1, 11, 'x', 0, 0, 'mallory')",
    )
    .bind(&range.through_hash)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("DELETE FROM audit_events WHERE node_seq <= 11").execute(&pool).await.unwrap();
    let report = store.verify_audit_chain(&NoSignatures).await.unwrap();
    assert!(!report.intact());
    assert!(report.breaks[0].2.contains("no audit.archive event"), "{:?}", report.breaks);
    // A row removed after the boundary (the trigger dropped) is a gap like any other.
    sqlx::query(&db.drop_trigger("audit_events_no_delete")).execute(&pool).await.unwrap();
    sqlx::query("DELETE FROM audit_events WHERE node_seq = 12").execute(&pool).await.unwrap();
    let report = store.verify_audit_chain(&NoSignatures).await.unwrap();
    assert!(
        report.breaks.iter().any(|(_, seq, why)| *seq == 13 && why.contains("event 12 is missing")),
        "{:?}",
        report.breaks
    );
}
