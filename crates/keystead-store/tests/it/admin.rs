//! Conformance of the admin verbs' writes on every backend: key attribute updates, aliases,
//! grant revocation, principal updates and webhook state, each a compare-and-set that a
//! stale read loses without writing anything.

use keystead_core::{AuditAction, KeyRef, Operation, Tenant};
use keystead_store::{AliasRecord, Change, Error, Grant, NewPrincipal, Store, WebhookRecord};

use crate::conformance::{attributes, event, now, version};
use crate::db::TestDb;

async fn key_update_is_compare_and_set(db: TestDb) {
    let store = db.open().await;
    let mut key = attributes("prompts");
    key.description = "written at creation".into();
    store
        .commit(
            Change::CreateKey { key: key.clone(), version: version(1) },
            event(AuditAction::KeyCreate, "n1"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.key_by_id(key.id).await.unwrap().unwrap().attributes,
        key,
        "every attribute is stored at creation"
    );
    let mut next = key.clone();
    next.owner = "new-owner".into();
    next.description = "prompt store".into();
    next.recoverable = !key.recoverable;
    next.updated_at = key.updated_at + time::Duration::seconds(1);
    let update = Change::UpdateKey { key: next.clone(), from_updated_at: key.updated_at };
    store.commit(update, event(AuditAction::KeyUpdate, "n1")).await.unwrap();
    let stored = store.key_by_id(key.id).await.unwrap().unwrap();
    assert_eq!(stored.attributes, next);
    // A second update from the stale read loses, and writes nothing (audit event included).
    let events_before = store.audit_events(&Default::default()).await.unwrap().len();
    let stale = Change::UpdateKey { key: key.clone(), from_updated_at: key.updated_at };
    assert!(matches!(
        store.commit(stale, event(AuditAction::KeyUpdate, "n1")).await,
        Err(Error::Conflict { .. })
    ));
    assert_eq!(store.key_by_id(key.id).await.unwrap().unwrap().attributes, next);
    assert_eq!(store.audit_events(&Default::default()).await.unwrap().len(), events_before);
}

async fn aliases_name_keys_of_their_tenant(db: TestDb) {
    let store = db.open().await;
    let (a, b) = (attributes("a"), attributes("b"));
    for key in [&a, &b] {
        store
            .commit(
                Change::CreateKey { key: key.clone(), version: version(1) },
                event(AuditAction::KeyCreate, "n1"),
            )
            .await
            .unwrap();
    }
    let tenant = Tenant::default_tenant();
    let alias = AliasRecord {
        tenant: tenant.to_string(),
        alias: "alias/current".into(),
        key_id: a.id,
        created_at: now(),
        updated_at: now(),
    };
    store.commit(Change::CreateAlias(alias.clone()), event(AuditAction::AliasCreate, "n1")).await.unwrap();
    let by_alias = KeyRef::parse("alias/current").unwrap();
    assert_eq!(store.key(&tenant, &by_alias).await.unwrap().unwrap().attributes.id, a.id);
    let other = Tenant::new("other").unwrap();
    assert!(store.key(&other, &by_alias).await.unwrap().is_none(), "an alias is per tenant");
    assert!(matches!(
        store.commit(Change::CreateAlias(alias.clone()), event(AuditAction::AliasCreate, "n1")).await,
        Err(Error::NameTaken { .. })
    ));
    let point = |from, to| Change::PointAlias {
        tenant: tenant.to_string(),
        alias: "alias/current".into(),
        from,
        to,
        at: now(),
    };
    store.commit(point(a.id, b.id), event(AuditAction::AliasUpdate, "n1")).await.unwrap();
    assert_eq!(store.key(&tenant, &by_alias).await.unwrap().unwrap().attributes.id, b.id);
    assert!(matches!(
        store.commit(point(a.id, b.id), event(AuditAction::AliasUpdate, "n1")).await,
        Err(Error::Conflict { .. })
    ));
    assert_eq!(store.aliases(Some(&tenant), Some(b.id)).await.unwrap().len(), 1);
    assert!(store.aliases(Some(&tenant), Some(a.id)).await.unwrap().is_empty());
    let delete =
        |key_id| Change::DeleteAlias { tenant: tenant.to_string(), alias: "alias/current".into(), key_id };
    assert!(matches!(
        store.commit(delete(a.id), event(AuditAction::AliasDelete, "n1")).await,
        Err(Error::Conflict { .. })
    ));
    store.commit(delete(b.id), event(AuditAction::AliasDelete, "n1")).await.unwrap();
    assert!(store.key(&tenant, &by_alias).await.unwrap().is_none());
}

async fn grants_and_principals_change_by_compare_and_set(db: TestDb) {
    let store = db.open().await;
    let key = attributes("k");
    store
        .commit(
            Change::CreateKey { key: key.clone(), version: version(1) },
            event(AuditAction::KeyCreate, "n1"),
        )
        .await
        .unwrap();
    let principal = NewPrincipal {
        name: "app".into(),
        token_hash: [7; 32],
        roles: vec!["crypto-user".into()],
        tenant: None,
        created_at: now(),
        expires_at: None,
    };
    store
        .commit(Change::CreatePrincipal(principal), event(AuditAction::PrincipalCreate, "n1"))
        .await
        .unwrap();
    let grant = Grant {
        principal: "app".into(),
        key_id: key.id,
        operations: vec![Operation::Encrypt, Operation::Decrypt],
        created_at: now(),
    };
    store.commit(Change::AddGrant(grant), event(AuditAction::GrantAdd, "n1")).await.unwrap();
    let revoke = |from: Vec<Operation>, to: Vec<Operation>| Change::RevokeGrant {
        principal: "app".into(),
        key_id: key.id,
        from,
        to,
    };
    store
        .commit(
            revoke(vec![Operation::Encrypt, Operation::Decrypt], vec![Operation::Decrypt]),
            event(AuditAction::GrantRevoke, "n1"),
        )
        .await
        .unwrap();
    assert_eq!(store.grants().await.unwrap()[0].operations, vec![Operation::Decrypt]);
    assert!(matches!(
        store
            .commit(
                revoke(vec![Operation::Encrypt, Operation::Decrypt], vec![]),
                event(AuditAction::GrantRevoke, "n1")
            )
            .await,
        Err(Error::Conflict { .. })
    ));
    store
        .commit(revoke(vec![Operation::Decrypt], vec![]), event(AuditAction::GrantRevoke, "n1"))
        .await
        .unwrap();
    assert!(store.grants().await.unwrap().is_empty(), "an empty grant is deleted");

    let expiry = now() + time::Duration::days(1);
    let update = |from: &str, from_expires_at, to: &str| Change::UpdatePrincipal {
        name: "app".into(),
        from_roles: vec![from.into()],
        from_expires_at,
        roles: vec![to.into()],
        expires_at: Some(expiry),
    };
    store
        .commit(update("crypto-user", None, "auditor"), event(AuditAction::PrincipalUpdate, "n1"))
        .await
        .unwrap();
    let stored = store.principal_by_name("app").await.unwrap().unwrap();
    assert_eq!(stored.roles, vec!["auditor".to_owned()]);
    assert!(stored.expires_at.is_some());
    for (stale_roles, stale_expiry) in [("crypto-user", Some(expiry)), ("auditor", None)] {
        assert!(
            matches!(
                store
                    .commit(
                        update(stale_roles, stale_expiry, "admin"),
                        event(AuditAction::PrincipalUpdate, "n1")
                    )
                    .await,
                Err(Error::Conflict { .. })
            ),
            "a stale read of the roles or of the expiry loses"
        );
    }
    assert!(matches!(
        store
            .commit(Change::EnablePrincipal { name: "app".into() }, event(AuditAction::PrincipalEnable, "n1"))
            .await,
        Err(Error::Conflict { .. })
    ));
    store
        .commit(Change::DisablePrincipal { name: "app".into() }, event(AuditAction::PrincipalDisable, "n1"))
        .await
        .unwrap();
    store
        .commit(Change::EnablePrincipal { name: "app".into() }, event(AuditAction::PrincipalEnable, "n1"))
        .await
        .unwrap();
    assert!(!store.principal_by_name("app").await.unwrap().unwrap().disabled);
}

async fn webhook_state_changes(db: TestDb) {
    let store = db.open().await;
    let hook = WebhookRecord {
        id: "whk_1".into(),
        url: "http://127.0.0.1:9/x".into(),
        events: vec!["*".into()],
        sealed_secret: vec![1, 2, 3],
        created_at: now(),
        created_by: "admin".into(),
        enabled: true,
        secret_rotated_at: None,
    };
    store.commit(Change::AddWebhook(hook), event(AuditAction::WebhookAdd, "n1")).await.unwrap();
    let set = |enabled| Change::SetWebhookEnabled { id: "whk_1".into(), enabled };
    store.commit(set(false), event(AuditAction::WebhookDisable, "n1")).await.unwrap();
    assert!(!store.webhooks().await.unwrap()[0].enabled);
    assert!(matches!(
        store.commit(set(false), event(AuditAction::WebhookDisable, "n1")).await,
        Err(Error::Conflict { .. })
    ));
    store.commit(set(true), event(AuditAction::WebhookEnable, "n1")).await.unwrap();
    let rotate = |from: Vec<u8>| Change::RotateWebhookSecret {
        id: "whk_1".into(),
        from,
        sealed_secret: vec![9, 9],
        at: now(),
    };
    store.commit(rotate(vec![1, 2, 3]), event(AuditAction::WebhookRotateSecret, "n1")).await.unwrap();
    let stored = store.webhooks().await.unwrap().remove(0);
    assert_eq!(stored.sealed_secret, vec![9, 9]);
    assert!(stored.secret_rotated_at.is_some());
    assert!(matches!(
        store.commit(rotate(vec![1, 2, 3]), event(AuditAction::WebhookRotateSecret, "n1")).await,
        Err(Error::Conflict { .. })
    ));
    store
        .commit(Change::DeleteWebhook { id: "whk_1".into() }, event(AuditAction::WebhookDelete, "n1"))
        .await
        .unwrap();
    assert!(store.webhooks().await.unwrap().is_empty());
    assert!(matches!(
        store
            .commit(Change::DeleteWebhook { id: "whk_1".into() }, event(AuditAction::WebhookDelete, "n1"))
            .await,
        Err(Error::Conflict { .. })
    ));
}

on_every_backend!(
    key_update_is_compare_and_set,
    aliases_name_keys_of_their_tenant,
    grants_and_principals_change_by_compare_and_set,
    webhook_state_changes,
);
