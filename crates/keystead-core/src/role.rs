//! Roles and the permission matrix (separation of duties). One table, tested over every
//! (role, action) pair; the service consults it before anything else happens.

use crate::algorithm::named_enum;
use crate::Operation;

/// A role a principal holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Principals, tenants, policies. No crypto, no material.
    Admin,
    /// Creates and manages keys' lifecycles. Cannot use keys.
    KeyCustodian,
    /// Crypto operations on keys it has been granted. Cannot manage keys.
    CryptoUser,
    /// Reads inventory and audit log. Changes nothing.
    Auditor,
    /// Reports compromise and processes data with compromised keys.
    IncidentResponder,
    /// Holds backup shares; approves and runs recovery.
    RecoveryOfficer,
}

named_enum!(Role, "role", [
    Admin => "admin",
    KeyCustodian => "key-custodian",
    CryptoUser => "crypto-user",
    Auditor => "auditor",
    IncidentResponder => "incident-responder",
    RecoveryOfficer => "recovery-officer",
]);

/// Something a principal may ask the service to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Create, list and disable principals; add grants.
    ManagePrincipals,
    /// Create a key.
    CreateKey,
    /// Rotate, activate, deactivate.
    ManageKeyLifecycle,
    /// Show and list keys, read public keys (metadata only, never material).
    ReadKeys,
    /// A cryptographic operation (crypto users also need a grant on the key).
    Use(Operation),
    /// Read and verify the audit log.
    ReadAudit,
    /// Read the server status.
    ReadStatus,
    /// Seal the server: drop the root key and every unsealed key from memory.
    Seal,
    /// Report a key version compromised.
    ReportCompromise,
    /// Ask for a time-boxed exception to protect with a compromised key.
    RequestException,
    /// Read approval requests.
    ReadApprovals,
    /// Add and list webhooks.
    ManageWebhooks,
    /// Re-encrypt a ciphertext under the key's primary version without revealing plaintext.
    Rewrap,
    /// Record a periodic review of any key (a key's owner may review their own keys too).
    ReviewKey,
    /// Back up every recoverable key, restore a backup (with an approved request or as the
    /// break-glass principal) and run recovery drills.
    Recover,
    /// Move audit events older than a date into a signed archive file and out of the store.
    ArchiveAudit,
}

impl Action {
    /// Every action, for exhaustive tests and documentation.
    pub fn all() -> Vec<Action> {
        let mut all = vec![
            Action::ManagePrincipals,
            Action::CreateKey,
            Action::ManageKeyLifecycle,
            Action::ReadKeys,
            Action::ReadAudit,
            Action::ReadStatus,
            Action::Seal,
            Action::ReportCompromise,
            Action::RequestException,
            Action::ReadApprovals,
            Action::ManageWebhooks,
            Action::Rewrap,
            Action::ReviewKey,
            Action::Recover,
            Action::ArchiveAudit,
        ];
        all.extend(Operation::ALL.iter().map(|op| Action::Use(*op)));
        all
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::ManagePrincipals => f.write_str("manage principals"),
            Action::CreateKey => f.write_str("create keys"),
            Action::ManageKeyLifecycle => f.write_str("manage key lifecycles"),
            Action::ReadKeys => f.write_str("read key metadata"),
            Action::Use(op) => write!(f, "{op}"),
            Action::ReadAudit => f.write_str("read the audit log"),
            Action::ReadStatus => f.write_str("read the server status"),
            Action::Seal => f.write_str("seal the server"),
            Action::ReportCompromise => f.write_str("report key compromise"),
            Action::RequestException => f.write_str("request compromised-key exceptions"),
            Action::ReadApprovals => f.write_str("read approval requests"),
            Action::ManageWebhooks => f.write_str("manage webhooks"),
            Action::Rewrap => f.write_str("rewrap"),
            Action::ReviewKey => f.write_str("review keys"),
            Action::Recover => f.write_str("back up and recover keys"),
            Action::ArchiveAudit => f.write_str("archive old audit events"),
        }
    }
}

impl Role {
    /// The permission matrix. Crypto use is further limited to granted keys (crypto users)
    /// and to compromised versions (incident responders, who only process).
    pub fn allows(self, action: Action) -> bool {
        use Action::*;
        match self {
            Role::Admin => {
                matches!(
                    action,
                    ManagePrincipals
                        | ReadKeys
                        | ReadStatus
                        | Seal
                        | ReadApprovals
                        | ManageWebhooks
                        | ArchiveAudit
                )
            }
            Role::KeyCustodian => matches!(
                action,
                CreateKey
                    | ManageKeyLifecycle
                    | ReadKeys
                    | ReadStatus
                    | ReportCompromise
                    | ReadApprovals
                    | ReviewKey
            ),
            Role::CryptoUser => {
                matches!(action, Use(_) | ReadKeys | ReadStatus | RequestException | ReadApprovals | Rewrap)
            }
            Role::Auditor => matches!(action, ReadKeys | ReadAudit | ReadStatus | ReadApprovals),
            // Sealing is an emergency stop an incident responder may pull. Responders process
            // data (never protect), and only with compromised versions (checked in the service).
            // They approve exceptions but do not request them: an exception lets exactly its
            // requester protect, so the application's principal asks.
            Role::IncidentResponder => {
                matches!(
                    action,
                    ReadKeys | ReadAudit | ReadStatus | Seal | ReportCompromise | ReadApprovals | Rewrap
                ) || matches!(action, Use(op) if op.class() == crate::OperationClass::Process)
            }
            Role::RecoveryOfficer => matches!(action, ReadKeys | ReadStatus | ReadApprovals | Recover),
        }
    }

    /// Whether this role's use of a key needs a per-key grant.
    pub fn needs_grant(self) -> bool {
        self == Role::CryptoUser
    }
}

/// Role pairs one principal may never hold together (separation of duties), with why. The
/// same table refuses them at `principal create` and at `principal update`.
pub const FORBIDDEN_TOGETHER: &[(Role, Role, &str)] = &[
    (Role::Admin, Role::CryptoUser, "an admin grants key use, so it could grant itself any key"),
    (Role::KeyCustodian, Role::CryptoUser, "key custodians manage keys and never use them"),
    (Role::Auditor, Role::Admin, "an auditor must be independent of the admins it audits"),
    (Role::Auditor, Role::KeyCustodian, "an auditor must be independent of the custodians it audits"),
];

/// The first forbidden pair among `roles`, if any.
pub fn forbidden_combination(roles: &[Role]) -> Option<(Role, Role, &'static str)> {
    FORBIDDEN_TOGETHER.iter().copied().find(|(a, b, _)| roles.contains(a) && roles.contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (role, action) pair against the table written out by hand.
    #[test]
    fn role_table_covers_every_pair() {
        let crypto: Vec<Action> = Operation::ALL.iter().map(|op| Action::Use(*op)).collect();
        use Operation::{Decrypt, MacVerify, Unwrap, Verify};
        let process: Vec<Action> =
            [Decrypt, Verify, MacVerify, Unwrap].into_iter().map(Action::Use).collect();
        let allowed = |role: Role| -> Vec<Action> {
            use Action::*;
            match role {
                Role::Admin => {
                    vec![
                        ManagePrincipals,
                        ReadKeys,
                        ReadStatus,
                        Seal,
                        ReadApprovals,
                        ManageWebhooks,
                        ArchiveAudit,
                    ]
                }
                Role::KeyCustodian => {
                    vec![
                        CreateKey,
                        ManageKeyLifecycle,
                        ReadKeys,
                        ReadStatus,
                        ReportCompromise,
                        ReadApprovals,
                        ReviewKey,
                    ]
                }
                Role::CryptoUser => {
                    [vec![ReadKeys, ReadStatus, RequestException, ReadApprovals, Rewrap], crypto.clone()]
                        .concat()
                }
                Role::Auditor => vec![ReadKeys, ReadAudit, ReadStatus, ReadApprovals],
                Role::IncidentResponder => [
                    vec![ReadKeys, ReadAudit, ReadStatus, Seal, ReportCompromise, ReadApprovals, Rewrap],
                    process.clone(),
                ]
                .concat(),
                Role::RecoveryOfficer => vec![ReadKeys, ReadStatus, ReadApprovals, Recover],
            }
        };
        for role in Role::ALL {
            for action in Action::all() {
                assert_eq!(role.allows(action), allowed(*role).contains(&action), "{role} × {action}");
            }
        }
    }

    #[test]
    fn forbidden_role_pairs_over_every_pair() {
        for a in Role::ALL {
            for b in Role::ALL {
                let listed =
                    FORBIDDEN_TOGETHER.iter().any(|(x, y, _)| (x == a && y == b) || (x == b && y == a));
                let found = forbidden_combination(&[*a, *b]).is_some();
                assert_eq!(found, listed, "{a} + {b}");
            }
        }
        assert!(forbidden_combination(&[Role::CryptoUser, Role::IncidentResponder]).is_none());
        assert!(forbidden_combination(&[Role::Admin]).is_none());
    }

    #[test]
    fn separation_of_duties() {
        for op in Operation::ALL {
            assert!(!Role::KeyCustodian.allows(Action::Use(*op)), "custodians cannot use keys");
            assert!(!Role::Admin.allows(Action::Use(*op)), "admins cannot use keys");
            assert!(!Role::Auditor.allows(Action::Use(*op)), "auditors change nothing");
        }
        for op in Operation::ALL.iter().filter(|op| op.class() == crate::OperationClass::Protect) {
            assert!(!Role::IncidentResponder.allows(Action::Use(*op)), "responders never protect");
        }
        assert!(!Role::CryptoUser.allows(Action::CreateKey));
        assert!(!Role::CryptoUser.allows(Action::ManageKeyLifecycle));
        for action in [Action::CreateKey, Action::ManageKeyLifecycle, Action::ManagePrincipals] {
            assert!(!Role::Auditor.allows(action));
        }
    }
}
