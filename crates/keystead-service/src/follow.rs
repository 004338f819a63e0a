//! Keeping this node's caches true to changes other nodes commit on a shared store.
//!
//! Every change that another node must see (key versions and states, a disabled principal,
//! grants, initialization) writes a row into the store's change feed in its own transaction.
//! Each node reads the feed when PostgreSQL notifies it (LISTEN/NOTIFY) and, as a safety net
//! for a lost notification or a dropped listener, every `recheck` interval. The feed is
//! durable, so a node that missed notifications catches up on its next read.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use keystead_core::KeyId;
use keystead_store::{FeedEntry, FeedKind};

use crate::Service;

/// Entries read per query.
const PAGE: u32 = 500;

/// How far below the feed head a node starts reading: entries with smaller numbers may
/// still be committing when it starts, and re-applying old ones is harmless.
const START_MARGIN: i64 = 256;

/// A gap in the feed (a sequence number not seen) is taken to be a transaction that rolled
/// back once this node has seen an entry above it for this long: no commit takes this long.
/// Measured on this node's clock, so clock skew between nodes does not matter.
const GAP_GRACE_MS: i64 = 60_000;

/// Which feed entries this node has applied. PostgreSQL hands out sequence numbers at insert
/// but transactions commit in any order, so an entry may appear after a later one: the
/// cursor keeps reading from below the oldest gap until the gap fills or grows old.
#[derive(Debug)]
pub(crate) struct FeedCursor {
    /// Every entry up to here is applied (or was a gap long enough to be a rollback).
    floor: i64,
    /// Entries above the floor already applied, with when this node first saw them
    /// (milliseconds since `origin`).
    applied: BTreeMap<i64, i64>,
    /// A monotonic origin: gap ages must not jump with the wall clock.
    origin: std::time::Instant,
    /// A read failed after entries were marked applied: refresh every cache before going on.
    refresh_all: bool,
}

impl FeedCursor {
    /// A cursor for a node whose caches were filled after the feed head was `head`.
    pub fn starting_at(head: i64) -> Self {
        Self {
            floor: (head - START_MARGIN).max(0),
            applied: BTreeMap::new(),
            origin: std::time::Instant::now(),
            refresh_all: false,
        }
    }

    fn elapsed_ms(&self) -> i64 {
        i64::try_from(self.origin.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    pub fn floor(&self) -> i64 {
        self.floor
    }

    /// Whether `seq` is new to this node; marks it applied, seen at `now_ms`.
    pub fn accept(&mut self, seq: i64, now_ms: i64) -> bool {
        if seq <= self.floor || self.applied.contains_key(&seq) {
            return false;
        }
        self.applied.insert(seq, now_ms);
        true
    }

    /// Moves the floor over contiguous entries and over gaps seen for longer than the grace
    /// period.
    pub fn advance(&mut self, now_ms: i64) {
        while let Some((&seq, &seen_ms)) = self.applied.first_key_value() {
            if seq == self.floor + 1 || seen_ms < now_ms - GAP_GRACE_MS {
                self.floor = seq;
                self.applied.pop_first();
            } else {
                break;
            }
        }
    }
}

impl Service {
    /// Follows the change feed until the process ends. Spawn it once per node. Starts from
    /// the feed head read when the service was built, before any cache was filled.
    pub async fn follow_changes(self: Arc<Self>, recheck: Duration) {
        let mut cursor = FeedCursor::starting_at(self.feed_start);
        loop {
            self.store.wait_for_feed(recheck).await;
            if let Err(err) = self.catch_up(&mut cursor).await {
                // Entries of this round may be marked applied without their effect: the next
                // round refreshes everything first.
                cursor.refresh_all = true;
                tracing::warn!(error = %err, "cannot read the change feed; caches are refreshed on the next round");
            }
        }
    }

    /// Reads and applies every feed entry this node has not applied yet: from the floor
    /// (below which everything is applied) to the end, page by page.
    pub(crate) async fn catch_up(&self, cursor: &mut FeedCursor) -> Result<(), crate::Error> {
        if cursor.refresh_all {
            self.cache.clear_entries();
            self.access.forget_all_principals();
            self.reload_grants().await?;
            self.refresh_seal_settings().await?;
            cursor.refresh_all = false;
        }
        let now_ms = cursor.elapsed_ms();
        let mut from = cursor.floor();
        let mut grants_changed = false;
        loop {
            let page = self.store.feed_after(from, PAGE).await?;
            let full = page.len() == PAGE as usize;
            for entry in page {
                match entry {
                    Ok(entry) => {
                        from = entry.seq;
                        if cursor.accept(entry.seq, now_ms) && entry.node != self.config.node.as_str() {
                            grants_changed |= self.apply_feed_entry(&entry).await?;
                        }
                    }
                    Err(seq) => {
                        // Written by a newer version: refresh everything to be safe.
                        from = seq;
                        if cursor.accept(seq, now_ms) {
                            self.cache.clear_entries();
                            self.access.forget_all_principals();
                            grants_changed = true;
                        }
                    }
                }
            }
            if !full {
                break;
            }
        }
        if grants_changed {
            self.reload_grants().await?;
        }
        cursor.advance(now_ms);
        Ok(())
    }

    /// Applies one entry of another node; returns whether grants must be reloaded.
    async fn apply_feed_entry(&self, entry: &FeedEntry) -> Result<bool, crate::Error> {
        tracing::debug!(seq = entry.seq, node = %entry.node, kind = entry.kind.as_str(), "change from another node");
        match entry.kind {
            FeedKind::Key => match KeyId::parse(&entry.subject) {
                Ok(id) => self.cache.invalidate(id),
                Err(_) => self.cache.clear_entries(),
            },
            FeedKind::Principal => self.access.forget_principal(&entry.subject),
            FeedKind::Grant => return Ok(true),
            FeedKind::Seal => self.refresh_seal_settings().await?,
            FeedKind::AccessKey => self.access.forget_access_key(&entry.subject),
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::FeedCursor;

    #[test]
    fn cursor_waits_below_a_gap_until_it_fills_or_grows_old() {
        let mut cursor = FeedCursor::starting_at(10 + super::START_MARGIN);
        assert!(!cursor.accept(9, 0), "entries before the start are old news");
        assert!(cursor.accept(12, 1_000));
        cursor.advance(2_000);
        assert_eq!(cursor.floor(), 10, "11 may still commit");
        assert!(!cursor.accept(12, 5_000), "applied once");
        assert!(cursor.accept(11, 1_500));
        cursor.advance(2_000);
        assert_eq!(cursor.floor(), 12);
        assert!(cursor.accept(14, 3_000));
        cursor.advance(3_000 + 59_000);
        assert_eq!(cursor.floor(), 12, "13 may still commit within the grace period");
        cursor.advance(3_000 + 60_001);
        assert_eq!(cursor.floor(), 14, "a gap seen for longer than the grace period is a rollback");
    }
}
