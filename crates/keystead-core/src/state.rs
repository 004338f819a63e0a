//! Key version states (NIST SP 800-57 Part 1 §7, named as in KMIP) and their transitions.

use crate::algorithm::named_enum;

/// The lifecycle state of one key version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Generated but not yet usable.
    PreActive,
    /// Usable for every operation its purpose allows.
    Active,
    /// Temporarily barred from protecting; still processes data protected before the suspension.
    Suspended,
    /// Retired: processes existing data only.
    Deactivated,
    /// Known or suspected to be exposed.
    Compromised,
    /// Material destroyed; metadata kept.
    Destroyed,
    /// Material destroyed after a compromise; metadata kept.
    DestroyedCompromised,
    /// Imported material is expected: none was imported yet, or Keystead's copy was deleted
    /// (the owner holds the material and may import the same again).
    PendingImport,
}

named_enum!(KeyState, "state", [
    PreActive => "pre-active",
    Active => "active",
    Suspended => "suspended",
    Deactivated => "deactivated",
    Compromised => "compromised",
    Destroyed => "destroyed",
    DestroyedCompromised => "destroyed-compromised",
    PendingImport => "pending-import",
]);

impl KeyState {
    /// Whether `self → to` is in DESIGN.md's transition table.
    pub fn can_transition_to(self, to: KeyState) -> bool {
        use KeyState::*;
        matches!(
            (self, to),
            (PreActive, Active)
                | (Active, Suspended)
                | (Suspended, Active)
                | (Active | Suspended, Deactivated)
                | (PreActive | Active | Suspended | Deactivated, Compromised)
                | (PreActive | Deactivated, Destroyed)
                | (Compromised | Destroyed, DestroyedCompromised)
                | (PendingImport, Active | Destroyed)
                | (PreActive | Active | Suspended, PendingImport)
        )
    }

    /// Whether the version holds material (it has not been destroyed, and it is not waiting
    /// for imported material).
    pub fn has_material(self) -> bool {
        !matches!(self, KeyState::Destroyed | KeyState::DestroyedCompromised | KeyState::PendingImport)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use KeyState::*;

    /// Every (from, to) pair, against the table written out by hand from DESIGN.md.
    #[test]
    fn transition_table_covers_every_pair() {
        let allowed: &[(KeyState, KeyState)] = &[
            (PreActive, Active),
            (Active, Suspended),
            (Suspended, Active),
            (Active, Deactivated),
            (Suspended, Deactivated),
            (PreActive, Compromised),
            (Active, Compromised),
            (Suspended, Compromised),
            (Deactivated, Compromised),
            (PreActive, Destroyed),
            (Deactivated, Destroyed),
            (Compromised, DestroyedCompromised),
            (Destroyed, DestroyedCompromised),
            (PendingImport, Active),
            (PendingImport, Destroyed),
            (PreActive, PendingImport),
            (Active, PendingImport),
            (Suspended, PendingImport),
        ];
        for from in KeyState::ALL {
            for to in KeyState::ALL {
                assert_eq!(from.can_transition_to(*to), allowed.contains(&(*from, *to)), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for s in KeyState::ALL {
            assert_eq!(s.as_str().parse::<KeyState>(), Ok(*s));
        }
    }
}
