//! Operations, and the two tables every operation is checked against: purpose × operation
//! (CEK-11) and state × operation (NIST SP 800-57 Part 1 §7).

use time::OffsetDateTime;

use crate::algorithm::named_enum;
use crate::{Error, KeyState, Purpose};

/// A cryptographic operation on a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs, reason = "variant names are the operation names")]
pub enum Operation {
    Encrypt,
    Decrypt,
    Sign,
    Verify,
    Mac,
    MacVerify,
    Wrap,
    Unwrap,
    DataKey,
}

named_enum!(Operation, "operation", [
    Encrypt => "encrypt",
    Decrypt => "decrypt",
    Sign => "sign",
    Verify => "verify",
    Mac => "mac",
    MacVerify => "mac-verify",
    Wrap => "wrap",
    Unwrap => "unwrap",
    DataKey => "datakey",
]);

/// NIST's split of key use: applying protection versus processing protected data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperationClass {
    /// Encrypt, sign, MAC, wrap: creates new protected data.
    Protect,
    /// Decrypt, verify, MAC-verify, unwrap: works on existing protected data.
    Process,
}

impl Operation {
    /// Whether the operation protects or processes.
    pub fn class(self) -> OperationClass {
        use Operation::*;
        match self {
            Encrypt | Sign | Mac | Wrap | DataKey => OperationClass::Protect,
            Decrypt | Verify | MacVerify | Unwrap => OperationClass::Process,
        }
    }

    /// The purpose × operation table: which operations each purpose allows.
    pub fn allowed_for(self, purpose: Purpose) -> bool {
        use Operation::*;
        match purpose {
            Purpose::Encrypt => matches!(self, Encrypt | Decrypt | DataKey),
            Purpose::Sign => matches!(self, Sign | Verify),
            Purpose::Mac => matches!(self, Mac | MacVerify),
            Purpose::Wrap => matches!(self, Wrap | Unwrap),
            Purpose::AsymmetricDecrypt => matches!(self, Encrypt | Decrypt),
        }
    }

    /// Refuses the operation unless the key's purpose allows it.
    pub fn check_purpose(self, key_name: &str, purpose: Purpose) -> Result<(), Error> {
        if self.allowed_for(purpose) {
            Ok(())
        } else {
            Err(Error::PurposeViolation { key: key_name.to_owned(), purpose, operation: self })
        }
    }
}

/// What the state check needs to know about one use of a version.
#[derive(Clone, Copy, Debug, Default)]
pub struct UseFacts {
    /// When the data being processed was protected, if the envelope says.
    pub protected_at: Option<OffsetDateTime>,
    /// When the version was suspended, if it is.
    pub suspended_at: Option<OffsetDateTime>,
    /// The caller is an incident responder.
    pub caller_is_incident_responder: bool,
    /// The caller gave a justification.
    pub has_justification: bool,
    /// A quorum-approved, unexpired exception allows protecting with a compromised version.
    pub exception_open: bool,
}

/// The state × operation table (DESIGN.md "States").
pub fn check_state(
    key_name: &str,
    version: u32,
    state: KeyState,
    operation: Operation,
    facts: &UseFacts,
) -> Result<(), Error> {
    let refuse = |detail: &'static str| {
        Err(Error::InvalidState { key: key_name.to_owned(), version, state, operation, detail })
    };
    match (state, operation.class()) {
        (KeyState::Active, _) => Ok(()),
        (KeyState::PreActive, _) => refuse("; activate it first"),
        (KeyState::Suspended, OperationClass::Protect) => refuse("; resume it or rotate the key"),
        (KeyState::Suspended, OperationClass::Process) => match (facts.protected_at, facts.suspended_at) {
            (Some(protected), Some(suspended)) if protected < suspended => Ok(()),
            (Some(_), Some(_)) => refuse("; the data was protected after the version was suspended"),
            _ => refuse("; only data with a protect time earlier than the suspension may be processed"),
        },
        (KeyState::Deactivated, OperationClass::Protect) => refuse("; it only processes existing data"),
        (KeyState::Deactivated, OperationClass::Process) => Ok(()),
        (KeyState::Compromised, OperationClass::Protect) if facts.exception_open => Ok(()),
        (KeyState::Compromised, OperationClass::Protect) => {
            refuse("; protecting needs a quorum-approved, time-boxed exception")
        }
        (KeyState::Compromised, OperationClass::Process)
            if facts.caller_is_incident_responder && facts.has_justification =>
        {
            Ok(())
        }
        (KeyState::Compromised, OperationClass::Process) => refuse(
            "; only an incident responder may process with it, giving --justification and --affected-systems",
        ),
        (KeyState::Destroyed | KeyState::DestroyedCompromised, _) => {
            refuse("; its material has been destroyed")
        }
        (KeyState::PendingImport, _) => refuse(
            "; it holds no material until its owner imports it (keystead key import-params, then key import)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Operation::*;

    /// Every (purpose, operation) pair against the table written out from DESIGN.md.
    #[test]
    fn purpose_table_covers_every_pair() {
        let allowed: &[(Purpose, Operation)] = &[
            (Purpose::Encrypt, Encrypt),
            (Purpose::Encrypt, Decrypt),
            (Purpose::Encrypt, DataKey),
            (Purpose::Sign, Sign),
            (Purpose::Sign, Verify),
            (Purpose::Mac, Mac),
            (Purpose::Mac, MacVerify),
            (Purpose::Wrap, Wrap),
            (Purpose::Wrap, Unwrap),
            (Purpose::AsymmetricDecrypt, Encrypt),
            (Purpose::AsymmetricDecrypt, Decrypt),
        ];
        for purpose in Purpose::ALL {
            for op in Operation::ALL {
                let expected = allowed.contains(&(*purpose, *op));
                let result = op.check_purpose("k", *purpose);
                assert_eq!(result.is_ok(), expected, "{purpose} × {op}");
                if let Err(err) = result {
                    let text = err.to_string();
                    assert!(text.contains(purpose.as_str()) && text.contains(op.as_str()), "{text}");
                }
            }
        }
    }

    /// Every (state, operation) pair, each under the facts that matter to it.
    #[test]
    fn state_table_covers_every_pair() {
        let early = OffsetDateTime::UNIX_EPOCH;
        let late = early + time::Duration::days(1);
        let plain = UseFacts::default();
        let before_suspension = UseFacts { protected_at: Some(early), suspended_at: Some(late), ..plain };
        let after_suspension = UseFacts { protected_at: Some(late), suspended_at: Some(early), ..plain };
        let responder = UseFacts { caller_is_incident_responder: true, has_justification: true, ..plain };
        let responder_without_reason = UseFacts { caller_is_incident_responder: true, ..plain };
        let exception = UseFacts { exception_open: true, ..plain };

        for state in KeyState::ALL {
            for op in Operation::ALL {
                let protect = op.class() == OperationClass::Protect;
                let cases: Vec<(&UseFacts, bool)> = match state {
                    KeyState::Active => vec![(&plain, true)],
                    KeyState::PreActive => vec![(&plain, false), (&responder, false)],
                    KeyState::Suspended => {
                        vec![(&plain, false), (&before_suspension, !protect), (&after_suspension, false)]
                    }
                    KeyState::Deactivated => vec![(&plain, !protect)],
                    KeyState::Compromised => vec![
                        (&plain, false),
                        (&exception, protect),
                        (&responder, !protect),
                        (&responder_without_reason, false),
                    ],
                    KeyState::Destroyed | KeyState::DestroyedCompromised | KeyState::PendingImport => {
                        vec![(&plain, false), (&responder, false), (&exception, false)]
                    }
                };
                for (facts, expected) in cases {
                    let result = check_state("k", 1, *state, *op, facts);
                    assert_eq!(result.is_ok(), expected, "{state} × {op} with {facts:?}");
                }
            }
        }
    }
}
