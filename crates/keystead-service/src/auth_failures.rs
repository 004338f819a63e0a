//! Failed authentication, recorded exactly but aggregated, and sources that keep failing
//! refused with `rate_limited` for a while.
//!
//! A request with no or a bad credential must not cost one durable audit row and one log line
//! each: a flood would fill the log and slow every honest request. Failures are tallied per
//! source address, reason and principal (when one is named). The first
//! [`WRITTEN_AT_ONCE`] failures of a tally in an interval are written at once, each with its
//! path and request id (`details.count` 1): an occasional mistyped token stays fully traceable.
//! The rest of the interval's failures of that tally are written as one event at the end of
//! the interval, with `details.count`, `first_seen` and `last_seen`. The counts of all `auth.failed` events add up
//! to the failures the server saw. The server log gets one line per written event, so it is
//! limited the same way.
//!
//! A source (an IP address) with `max_failures` failures within `window_seconds` is refused
//! for `block_seconds`, before its credential is even looked at: HTTP 429 with `Retry-After`.
//! Those refusals are tallied too (reason `rate_limited`).
//!
//! What is lost in a crash: the counts of the current interval not yet written (at most one
//! summary interval's worth; the first failure of each tally is already durable).

use std::collections::HashMap;
use std::sync::Mutex;

use time::OffsetDateTime;

/// How failed authentication is limited and summarized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthFailurePolicy {
    /// Refuse a source after this many failures within the window; `None` never refuses.
    pub max_failures: Option<u32>,
    /// The window failures are counted in.
    pub window_seconds: i64,
    /// How long a source that reached the limit is refused.
    pub block_seconds: i64,
    /// How often the aggregated counts are written.
    pub summary_seconds: i64,
}

impl Default for AuthFailurePolicy {
    /// 20 failures in 60 s block a source for 60 s; counts are written every 10 s.
    fn default() -> Self {
        Self { max_failures: Some(20), window_seconds: 60, block_seconds: 60, summary_seconds: 10 }
    }
}

/// Why a request was not authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureReason {
    /// No bearer token and no client certificate.
    MissingCredential,
    /// A bearer token no principal holds.
    UnknownToken,
    /// The token's or certificate's principal is disabled or expired.
    InactivePrincipal,
    /// A verified client certificate whose CN names no principal, or names root.
    UnknownCertificate,
    /// The source reached the failure limit and is refused for a while.
    RateLimited,
    /// An AWS access key id that no access key has.
    UnknownAccessKey,
    /// A disabled access key, or one whose principal is disabled or expired.
    InactiveAccessKey,
    /// An AWS SigV4 signature that does not verify (wrong secret, altered request, expired).
    BadSignature,
}

impl FailureReason {
    /// The stable name in `details.reason_code`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::MissingCredential => "missing_credential",
            FailureReason::UnknownToken => "unknown_token",
            FailureReason::InactivePrincipal => "inactive_principal",
            FailureReason::UnknownCertificate => "unknown_certificate",
            FailureReason::RateLimited => "rate_limited",
            FailureReason::UnknownAccessKey => "unknown_access_key",
            FailureReason::InactiveAccessKey => "inactive_access_key",
            FailureReason::BadSignature => "bad_signature",
        }
    }

    /// The human reason in the event.
    pub fn describe(self) -> &'static str {
        match self {
            FailureReason::MissingCredential => "no bearer token and no client certificate",
            FailureReason::UnknownToken => "a bearer token no principal holds",
            FailureReason::InactivePrincipal => "the principal is disabled or expired",
            FailureReason::UnknownCertificate => "the client certificate names no active principal",
            FailureReason::RateLimited => {
                "too many failed authentications from this source; refused for a while"
            }
            FailureReason::UnknownAccessKey => "an AWS access key id no access key has",
            FailureReason::InactiveAccessKey => "the access key or its principal is disabled or expired",
            FailureReason::BadSignature => "an AWS SigV4 signature that does not verify",
        }
    }

    /// How the refused request tried to authenticate, as audit events name the method.
    pub fn method(self) -> &'static str {
        match self {
            FailureReason::UnknownCertificate => "mtls",
            FailureReason::UnknownAccessKey
            | FailureReason::InactiveAccessKey
            | FailureReason::BadSignature => "sigv4",
            FailureReason::MissingCredential
            | FailureReason::UnknownToken
            | FailureReason::InactivePrincipal
            | FailureReason::RateLimited => "bearer",
        }
    }
}

/// What a tally counts together.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TallyKey {
    /// The source's address (no port: every connection of a client counts together).
    pub address: String,
    pub reason: FailureReason,
    /// The principal the credential named, if it named one.
    pub principal: Option<String>,
}

/// Failures of one tally not yet written.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub count: u64,
    pub first_seen: OffsetDateTime,
    pub last_seen: OffsetDateTime,
    /// The path of the first of them.
    pub path: String,
    /// The full source (with port) of the first of them.
    pub source: String,
}

struct Limiter {
    window_start: OffsetDateTime,
    failures: u32,
    blocked_until: Option<OffsetDateTime>,
}

/// Failures of one tally in each interval written one by one before the rest are aggregated.
pub(crate) const WRITTEN_AT_ONCE: u32 = 3;

/// One tally this interval.
#[derive(Default)]
struct Tally {
    /// Failures written at once.
    written: u32,
    /// Failures counted since, to be written as one event.
    pending: Option<Pending>,
}

#[derive(Default)]
struct State {
    tallies: HashMap<TallyKey, Tally>,
    sources: HashMap<String, Limiter>,
}

/// Sources and tallies tracked at most; beyond, failures count under one overflow address
/// (and are not rate-limited), so memory stays bounded whatever the number of addresses.
const MAX_TRACKED: usize = 10_000;
/// The address failures are counted under once [`MAX_TRACKED`] is reached.
pub(crate) const OVERFLOW_ADDRESS: &str = "(other sources)";

/// The tallies and limiters of one node.
pub(crate) struct AuthFailures {
    policy: AuthFailurePolicy,
    state: Mutex<State>,
}

/// What to do with a failure just counted.
pub(crate) enum Counted {
    /// Among the first of its tally this interval: write it now.
    First(TallyKey),
    /// Added to its tally's pending count.
    Aggregated,
}

impl AuthFailures {
    pub fn new(policy: AuthFailurePolicy) -> Self {
        Self { policy, state: Mutex::new(State::default()) }
    }

    pub fn policy(&self) -> &AuthFailurePolicy {
        &self.policy
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves counts, not invariants: carry on with them.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `address` may try to authenticate now; if not, the seconds until it may.
    pub fn blocked_for(&self, address: &str, now: OffsetDateTime) -> Option<u64> {
        let state = self.lock();
        let until = state.sources.get(address)?.blocked_until?;
        let left = (until - now).whole_seconds();
        (left > 0 || until > now).then(|| u64::try_from(left).unwrap_or(0).max(1))
    }

    /// Counts one failure. `limits` says whether it counts toward the source's limit (a
    /// refusal for being rate-limited does not extend the block).
    pub fn count(&self, mut key: TallyKey, path: &str, source: &str, now: OffsetDateTime) -> Counted {
        let mut state = self.lock();
        if key.reason != FailureReason::RateLimited {
            self.limit(&mut state, &key.address, now);
        }
        if !state.tallies.contains_key(&key) && state.tallies.len() >= MAX_TRACKED {
            key.address = OVERFLOW_ADDRESS.to_owned();
        }
        let tally = state.tallies.entry(key.clone()).or_default();
        if tally.written < WRITTEN_AT_ONCE {
            tally.written += 1;
            return Counted::First(key);
        }
        match &mut tally.pending {
            Some(pending) => {
                // Requests read the clock before they take the lock: times arrive out of order.
                pending.count += 1;
                pending.first_seen = pending.first_seen.min(now);
                pending.last_seen = pending.last_seen.max(now);
            }
            slot @ None => {
                *slot = Some(Pending {
                    count: 1,
                    first_seen: now,
                    last_seen: now,
                    path: path.to_owned(),
                    source: source.to_owned(),
                });
            }
        }
        Counted::Aggregated
    }

    fn limit(&self, state: &mut State, address: &str, now: OffsetDateTime) {
        let Some(max) = self.policy.max_failures else { return };
        if !state.sources.contains_key(address) && state.sources.len() >= MAX_TRACKED {
            return;
        }
        let window = time::Duration::seconds(self.policy.window_seconds);
        let limiter = state.sources.entry(address.to_owned()).or_insert(Limiter {
            window_start: now,
            failures: 0,
            blocked_until: None,
        });
        if now - limiter.window_start >= window {
            limiter.window_start = now;
            limiter.failures = 0;
        }
        limiter.failures += 1;
        if limiter.failures >= max {
            limiter.blocked_until = Some(now + time::Duration::seconds(self.policy.block_seconds));
            limiter.window_start = now;
            limiter.failures = 0;
        }
    }

    /// Takes the interval's pending counts (to be written) and starts a new interval; forgets
    /// sources whose window and block are over.
    pub fn drain(&self, now: OffsetDateTime) -> Vec<(TallyKey, Pending)> {
        let mut state = self.lock();
        let window = time::Duration::seconds(self.policy.window_seconds);
        state.sources.retain(|_, limiter| {
            limiter.blocked_until.is_some_and(|until| until > now) || now - limiter.window_start < window
        });
        let mut drained: Vec<(TallyKey, Pending)> =
            state.tallies.drain().filter_map(|(key, tally)| tally.pending.map(|p| (key, p))).collect();
        drained.sort_by(|a, b| a.0.cmp(&b.0));
        drained
    }

    /// Puts counts back that could not be written, so the next interval writes them.
    pub fn restore(&self, unwritten: Vec<(TallyKey, Pending)>) {
        let mut state = self.lock();
        for (key, pending) in unwritten {
            // Counted as written: these go out with the next summary, not one by one.
            let tally = state.tallies.entry(key).or_insert(Tally { written: WRITTEN_AT_ONCE, pending: None });
            match &mut tally.pending {
                Some(current) => {
                    current.count += pending.count;
                    current.first_seen = current.first_seen.min(pending.first_seen);
                    current.last_seen = current.last_seen.max(pending.last_seen);
                }
                slot @ None => *slot = Some(pending),
            }
        }
    }
}

/// The address of a source string such as `rest 127.0.0.1:5555` or `rest [::1]:5555`: the
/// part a client cannot vary by opening another connection.
pub(crate) fn address_of(source: &str) -> String {
    let peer = source.rsplit(' ').next().unwrap_or(source);
    match peer.parse::<std::net::SocketAddr>() {
        Ok(addr) => addr.ip().to_string(),
        Err(_) => peer.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(address: &str, reason: FailureReason) -> TallyKey {
        TallyKey { address: address.into(), reason, principal: None }
    }

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1_000_000 + seconds)
    }

    #[test]
    fn the_first_failures_are_written_at_once_and_the_rest_add_up() {
        let failures =
            AuthFailures::new(AuthFailurePolicy { max_failures: None, ..AuthFailurePolicy::default() });
        let k = key("10.0.0.1", FailureReason::UnknownToken);
        for second in 0..3 {
            assert!(matches!(
                failures.count(k.clone(), "/v1/keys", "rest 10.0.0.1:1", at(second)),
                Counted::First(_)
            ));
        }
        for second in 3..=99 {
            assert!(matches!(
                failures.count(k.clone(), "/v1/x", "rest 10.0.0.1:2", at(second)),
                Counted::Aggregated
            ));
        }
        let drained = failures.drain(at(100));
        assert_eq!(drained.len(), 1);
        let (_, pending) = &drained[0];
        assert_eq!((pending.count, pending.first_seen, pending.last_seen), (97, at(3), at(99)));
        assert_eq!(pending.path, "/v1/x");
        // A new interval: the next failure is again written at once.
        assert!(matches!(failures.count(k, "/v1/keys", "rest 10.0.0.1:1", at(101)), Counted::First(_)));
        assert!(failures.drain(at(102)).is_empty(), "nothing pending after a lone first failure");
    }

    #[test]
    fn a_source_reaching_the_limit_is_blocked_for_the_block_time_then_admitted() {
        let policy = AuthFailurePolicy {
            max_failures: Some(3),
            window_seconds: 60,
            block_seconds: 30,
            summary_seconds: 10,
        };
        let failures = AuthFailures::new(policy);
        let k = key("10.0.0.2", FailureReason::UnknownToken);
        for second in 0..2 {
            failures.count(k.clone(), "/", "s", at(second));
            assert_eq!(failures.blocked_for("10.0.0.2", at(second)), None);
        }
        failures.count(k, "/", "s", at(2));
        assert_eq!(failures.blocked_for("10.0.0.2", at(2)), Some(30));
        assert_eq!(failures.blocked_for("10.0.0.2", at(31)), Some(1));
        assert_eq!(failures.blocked_for("10.0.0.2", at(32)), None);
        assert_eq!(failures.blocked_for("10.0.0.3", at(2)), None, "other sources are not blocked");
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up_to_a_block() {
        let policy = AuthFailurePolicy {
            max_failures: Some(3),
            window_seconds: 10,
            block_seconds: 30,
            summary_seconds: 10,
        };
        let failures = AuthFailures::new(policy);
        let k = key("10.0.0.4", FailureReason::MissingCredential);
        for second in [0, 5, 11, 16, 22] {
            failures.count(k.clone(), "/", "s", at(second));
        }
        assert_eq!(failures.blocked_for("10.0.0.4", at(22)), None);
    }

    #[test]
    fn unwritten_counts_are_kept_for_the_next_interval() {
        let failures = AuthFailures::new(AuthFailurePolicy::default());
        let k = key("10.0.0.5", FailureReason::UnknownToken);
        for second in 0..7 {
            failures.count(k.clone(), "/", "s", at(second));
        }
        // A request that read the clock earlier but counted later does not move last_seen back.
        failures.count(k.clone(), "/", "s", at(1));
        let drained = failures.drain(at(10));
        assert_eq!(drained[0].1.count, 5, "3 written at once");
        assert_eq!((drained[0].1.first_seen, drained[0].1.last_seen), (at(1), at(6)));
        failures.restore(drained);
        failures.count(k, "/", "s", at(11));
        let drained = failures.drain(at(20));
        assert_eq!(drained[0].1.count, 6, "5 restored and 1 new");
    }

    #[test]
    fn addresses_drop_the_port() {
        assert_eq!(address_of("rest 127.0.0.1:5555"), "127.0.0.1");
        assert_eq!(address_of("rest [::1]:5555"), "::1");
        assert_eq!(address_of("rest unknown"), "unknown");
    }
}
