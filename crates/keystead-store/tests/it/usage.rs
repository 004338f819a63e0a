//! Issue 15 on every backend: the audit writer keeps each version's use counters and each
//! key's last use in the batch's transaction; a key's status changes and newest events are
//! found by index among many uses; a batch of many events links into one intact chain.

use keystead_core::{AuditAction, Outcome};
use keystead_store::inventory::{InventoryFilter, InventoryQuery, InventorySort};
use keystead_store::{AuditFilter, Change, Store};

use crate::conformance::{attributes, event, now, version};
use crate::db::TestDb;

on_every_backend!(uses_are_counted_per_version_and_operation, history_and_recent_events_among_many_uses);

struct NoSignatures;

impl keystead_store::SignatureCheck for NoSignatures {
    fn check(&self, _: &str, _: u32, _: &[u8], _: &[u8]) -> Result<bool, String> {
        Err("no checkpoints in this test".into())
    }
}

fn use_of(
    key: &keystead_core::key::KeyAttributes,
    action: AuditAction,
    version: u32,
    second: i64,
) -> keystead_core::AuditEvent {
    let mut event = event(action, "n1");
    event.key_id = Some(key.id);
    event.version = Some(version);
    event.occurred_at = now() + time::Duration::seconds(second);
    event
}

async fn uses_are_counted_per_version_and_operation(db: TestDb) {
    let store = db.open().await;
    let used = attributes("used");
    let idle = attributes("idle");
    for key in [&used, &idle] {
        store
            .commit(
                Change::CreateKey { key: key.clone(), version: version(1) },
                event(AuditAction::KeyCreate, "n1"),
            )
            .await
            .unwrap();
    }
    let mut batch: Vec<_> = (0..150).map(|n| use_of(&used, AuditAction::Encrypt, 1, n)).collect();
    batch.extend((0..7).map(|n| use_of(&used, AuditAction::Decrypt, 2, 200 + n)));
    // A refusal is not a use.
    let mut refused = use_of(&used, AuditAction::Decrypt, 2, 900);
    refused.outcome = Outcome::Denied;
    batch.push(refused);
    store.append_audit_events(batch).await.unwrap();
    // A second batch adds to the counters; its use is earlier than the newest (clocks of
    // two nodes): the newest stays the newest.
    store.append_audit_events(vec![use_of(&used, AuditAction::Encrypt, 1, 10)]).await.unwrap();

    let usage = store.key_usage(used.id).await.unwrap();
    let shown: Vec<_> = usage.iter().map(|u| (u.version, u.operation.as_str(), u.uses)).collect();
    assert_eq!(shown, [(1, "encrypt", 151), (2, "decrypt", 7)]);
    assert_eq!(usage[0].first_used_at, now());
    assert_eq!(usage[0].last_used_at, now() + time::Duration::seconds(149));
    assert_eq!(usage[1].last_used_at, now() + time::Duration::seconds(206));
    assert!(store.key_usage(idle.id).await.unwrap().is_empty());

    // The inventory filters on the key's newest use.
    let page = |filter: InventoryFilter| {
        let query =
            InventoryQuery { filter, sort: InventorySort::Name, descending: false, offset: 0, limit: 10 };
        let store = &store;
        async move {
            let page = store.inventory(&query).await.unwrap();
            page.entries
                .iter()
                .map(|e| (e.key.attributes.name.to_string(), e.last_used_at))
                .collect::<Vec<_>>()
        }
    };
    let newest = now() + time::Duration::seconds(206);
    assert_eq!(
        page(InventoryFilter::default()).await,
        [("idle".to_owned(), None), ("used".to_owned(), Some(newest))]
    );
    let since = |s: i64| Some(now() + time::Duration::seconds(s));
    assert_eq!(page(InventoryFilter { used_since: since(206), ..Default::default() }).await.len(), 1);
    assert_eq!(page(InventoryFilter { used_since: since(207), ..Default::default() }).await.len(), 0);
    let unused = page(InventoryFilter { unused_since: since(207), ..Default::default() }).await;
    assert_eq!(unused.len(), 2, "never used and not used since: {unused:?}");
    let unused = page(InventoryFilter { unused_since: since(100), ..Default::default() }).await;
    assert_eq!(unused, [("idle".to_owned(), None)]);

    let report = store.verify_audit_chain(&NoSignatures).await.unwrap();
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.events, 2 + 158 + 1);
}

async fn history_and_recent_events_among_many_uses(db: TestDb) {
    let store = db.open().await;
    let key = attributes("busy");
    let mut create = event(AuditAction::KeyCreate, "n1");
    create.key_id = Some(key.id);
    store.commit(Change::CreateKey { key: key.clone(), version: version(1) }, create).await.unwrap();
    let uses = 100_000;
    for chunk in 0..(uses / 2_000) {
        let batch = (0..2_000).map(|n| use_of(&key, AuditAction::Encrypt, 1, chunk * 2_000 + n)).collect();
        store.append_audit_events(batch).await.unwrap();
    }
    let mut review = event(AuditAction::KeyReview, "n1");
    review.key_id = Some(key.id);
    store.append_audit_events(vec![review]).await.unwrap();
    store.append_audit_events(vec![use_of(&key, AuditAction::Encrypt, 1, 200_000)]).await.unwrap();

    let history = store
        .audit_events(&AuditFilter {
            key_id: Some(key.id),
            actions: AuditAction::STATUS_CHANGES.to_vec(),
            limit: Some(1_000),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let actions: Vec<_> = history.iter().map(|r| r.event.action).collect();
    assert_eq!(actions, [AuditAction::KeyCreate, AuditAction::KeyReview]);
    let recent = store
        .audit_events(&AuditFilter { key_id: Some(key.id), limit: Some(50), ..AuditFilter::default() })
        .await
        .unwrap();
    assert_eq!(recent.len(), 50);
    assert_eq!(recent[48].event.action, AuditAction::KeyReview);
    assert!(recent.windows(2).all(|w| w[0].sequence < w[1].sequence), "oldest first");
    let usage = store.key_usage(key.id).await.unwrap();
    assert_eq!(usage[0].uses, u64::try_from(uses).unwrap() + 1);
    let report = store.verify_audit_chain(&NoSignatures).await.unwrap();
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.events, u64::try_from(uses).unwrap() + 3);
}
