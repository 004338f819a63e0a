//! Quorum approvals: which operations need them, who may approve, and when a request is
//! decided. A request needs, for each role of its policy, that many approvals from distinct
//! principals holding the role; the requester never counts; one rejection ends it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::algorithm::named_enum;
use crate::Role;

/// An operation that runs only once a quorum has approved it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ApprovalOperation {
    /// Scheduling the destruction of key versions.
    DestroyKey,
    /// A time-boxed window to protect with a compromised version.
    CompromisedKeyException,
    /// Restoring one named backup bundle into the store (used once).
    RestoreBackup,
    /// The sign-off of a break-glass restore, opened by the restore itself.
    BreakGlassReview,
}

named_enum!(ApprovalOperation, "approval operation", [
    DestroyKey => "destroy-key",
    CompromisedKeyException => "compromised-key-exception",
    RestoreBackup => "restore-backup",
    BreakGlassReview => "break-glass-review",
]);

/// Where a request stands. Every status but `pending` is final (`approved` exceptions move on
/// to `closed` when their window ends, approved restore requests when they are used).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApprovalStatus {
    /// Waiting for approvals.
    Pending,
    /// The quorum approved it and the operation ran (or its window is open).
    Approved,
    /// An approver rejected it.
    Rejected,
    /// It was not decided before its expiry.
    Expired,
    /// An approved exception whose window has ended.
    Closed,
}

named_enum!(ApprovalStatus, "approval status", [
    Pending => "pending",
    Approved => "approved",
    Rejected => "rejected",
    Expired => "expired",
    Closed => "closed",
]);

/// How many approvals of which role an operation needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalPolicy {
    /// Approvals needed per role.
    pub required: BTreeMap<Role, u32>,
}

impl ApprovalPolicy {
    /// Keystead's defaults: destroying key versions needs two key custodians; an exception
    /// for a compromised key needs an incident responder and a key custodian; restoring a
    /// backup, and signing off a break-glass restore, need two recovery officers and a key
    /// custodian.
    pub fn default_for(operation: ApprovalOperation) -> Self {
        let required = match operation {
            ApprovalOperation::DestroyKey => [(Role::KeyCustodian, 2)].into(),
            ApprovalOperation::CompromisedKeyException => {
                [(Role::IncidentResponder, 1), (Role::KeyCustodian, 1)].into()
            }
            ApprovalOperation::RestoreBackup | ApprovalOperation::BreakGlassReview => {
                [(Role::RecoveryOfficer, 2), (Role::KeyCustodian, 1)].into()
            }
        };
        Self { required }
    }

    /// Refuses a policy that could be met by nobody or by no one at all (zero approvals),
    /// or one asking more than 10 approvals of a role.
    pub fn validate(&self) -> Result<(), crate::Error> {
        let invalid = |value: String| crate::Error::InvalidValue {
            what: "approval policy",
            value,
            expected: "at least one approval in all, 1 to 10 per role",
        };
        if self.required.values().sum::<u32>() == 0 {
            return Err(invalid("no approvals".into()));
        }
        if let Some((role, count)) = self.required.iter().find(|(_, n)| **n == 0 || **n > 10) {
            return Err(invalid(format!("{role} = {count}")));
        }
        Ok(())
    }
}

/// One approver's decision on a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// The approver.
    pub principal: String,
    /// The role the approval counts for (for a rejection: a role of the policy it holds).
    pub role: Role,
    /// Approved (true) or rejected.
    pub approve: bool,
    /// The approver's reason (required for a rejection).
    pub reason: Option<String>,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// Why a principal's vote does not count.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VoteError {
    /// The requester tried to approve its own request.
    #[error("{principal} made this request and cannot approve or reject it; another approver must")]
    OwnRequest {
        /// The requester.
        principal: String,
    },
    /// The principal has voted on this request already.
    #[error("{principal} has already voted on this request; each approval needs a distinct principal")]
    AlreadyVoted {
        /// The approver.
        principal: String,
    },
    /// The principal holds no role the request still needs.
    #[error("{principal} holds no role this request still needs (still needed: {needed})")]
    NotEligible {
        /// The approver.
        principal: String,
        /// E.g. `1 key-custodian`.
        needed: String,
    },
}

/// Approvals still missing per role.
pub fn still_needed(policy: &ApprovalPolicy, votes: &[Vote]) -> BTreeMap<Role, u32> {
    policy
        .required
        .iter()
        .map(|(role, needed)| {
            let given = votes.iter().filter(|v| v.approve && v.role == *role).count() as u32;
            (*role, needed.saturating_sub(given))
        })
        .filter(|(_, missing)| *missing > 0)
        .collect()
}

fn describe(needed: &BTreeMap<Role, u32>) -> String {
    let parts: Vec<String> = needed.iter().map(|(role, n)| format!("{n} {role}")).collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

/// Which role `approver`'s vote counts for: the first role it holds that the request still
/// needs (for a rejection, any role of the policy). Refuses the requester, a second vote by
/// the same principal, and a principal holding none of the roles.
pub fn vote_role(
    policy: &ApprovalPolicy,
    requester: &str,
    votes: &[Vote],
    approver: &str,
    approver_roles: &[Role],
    approve: bool,
) -> Result<Role, VoteError> {
    if approver == requester {
        return Err(VoteError::OwnRequest { principal: approver.to_owned() });
    }
    if votes.iter().any(|v| v.principal == approver) {
        return Err(VoteError::AlreadyVoted { principal: approver.to_owned() });
    }
    let needed = still_needed(policy, votes);
    let candidates: &BTreeMap<Role, u32> = if approve { &needed } else { &policy.required };
    candidates
        .keys()
        .copied()
        .find(|role| approver_roles.contains(role))
        .ok_or_else(|| VoteError::NotEligible { principal: approver.to_owned(), needed: describe(&needed) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vote(principal: &str, role: Role, approve: bool) -> Vote {
        Vote { principal: principal.into(), role, approve, reason: None, at: OffsetDateTime::UNIX_EPOCH }
    }

    #[test]
    fn destroy_needs_two_distinct_custodians_other_than_the_requester() {
        let policy = ApprovalPolicy::default_for(ApprovalOperation::DestroyKey);
        let custodian = [Role::KeyCustodian];
        assert!(matches!(
            vote_role(&policy, "alice", &[], "alice", &custodian, true),
            Err(VoteError::OwnRequest { .. })
        ));
        assert_eq!(vote_role(&policy, "alice", &[], "bob", &custodian, true), Ok(Role::KeyCustodian));
        let votes = vec![vote("bob", Role::KeyCustodian, true)];
        assert!(matches!(
            vote_role(&policy, "alice", &votes, "bob", &custodian, true),
            Err(VoteError::AlreadyVoted { .. })
        ));
        assert_eq!(still_needed(&policy, &votes), [(Role::KeyCustodian, 1)].into());
        assert!(matches!(
            vote_role(&policy, "alice", &votes, "eve", &[Role::CryptoUser], true),
            Err(VoteError::NotEligible { .. })
        ));
        let votes = [votes, vec![vote("carol", Role::KeyCustodian, true)]].concat();
        assert!(still_needed(&policy, &votes).is_empty());
    }

    #[test]
    fn an_exception_needs_one_of_each_role_and_a_second_of_one_role_does_not_count() {
        let policy = ApprovalPolicy::default_for(ApprovalOperation::CompromisedKeyException);
        let votes = vec![vote("kc1", Role::KeyCustodian, true)];
        assert!(matches!(
            vote_role(&policy, "app", &votes, "kc2", &[Role::KeyCustodian], true),
            Err(VoteError::NotEligible { needed, .. }) if needed == "1 incident-responder"
        ));
        // A principal holding both roles counts for the one still needed.
        let both = [Role::KeyCustodian, Role::IncidentResponder];
        assert_eq!(vote_role(&policy, "app", &votes, "ir", &both, true), Ok(Role::IncidentResponder));
        // Anyone holding a role of the policy may reject, even once that role is satisfied.
        assert_eq!(
            vote_role(&policy, "app", &votes, "kc2", &[Role::KeyCustodian], false),
            Ok(Role::KeyCustodian)
        );
    }

    #[test]
    fn policies_are_validated() {
        assert!(ApprovalPolicy { required: BTreeMap::new() }.validate().is_err());
        assert!(ApprovalPolicy { required: [(Role::Admin, 0)].into() }.validate().is_err());
        assert!(ApprovalPolicy { required: [(Role::Admin, 11)].into() }.validate().is_err());
        for op in ApprovalOperation::ALL {
            assert!(ApprovalPolicy::default_for(*op).validate().is_ok());
        }
    }
}
