//! The audit hash chain: `hash = SHA-256(prev_hash ‖ canonical event bytes)`, one chain per node.

/// The previous hash of a node's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of an event given its predecessor's hash (hex) and its canonical bytes.
pub fn link(prev_hash_hex: &str, canonical: &[u8]) -> String {
    let mut input = Vec::with_capacity(prev_hash_hex.len() + canonical.len());
    input.extend_from_slice(prev_hash_hex.as_bytes());
    input.extend_from_slice(canonical);
    hex::encode(keystead_crypto::sha256(&input))
}

/// Checks one node's chain, given its rows in node-sequence order as
/// (node_seq, stored canonical JSON, prev_hash, hash). Returns where it first breaks.
pub fn first_break<'a>(
    rows: impl IntoIterator<Item = (i64, &'a str, &'a str, &'a str)>,
) -> Option<(i64, String)> {
    let mut expected_prev = GENESIS.to_owned();
    for (expected_seq, (seq, json, prev, hash)) in (1..).zip(rows) {
        if seq != expected_seq {
            return Some((seq, format!("expected sequence {expected_seq}: events are missing")));
        }
        if prev != expected_prev {
            return Some((seq, "previous hash does not match the preceding event".to_owned()));
        }
        if link(prev, json.as_bytes()) != hash {
            return Some((seq, "event content does not match its hash".to_owned()));
        }
        expected_prev = hash.to_owned();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_detects_edits_gaps_and_reordering() {
        let h1 = link(GENESIS, b"one");
        let h2 = link(&h1, b"two");
        let h3 = link(&h2, b"three");
        let good = [(1, "one", GENESIS, h1.as_str()), (2, "two", &h1, &h2), (3, "three", &h2, &h3)];
        assert_eq!(first_break(good), None);
        let edited = [(1, "one", GENESIS, h1.as_str()), (2, "TWO", &h1, &h2)];
        assert_eq!(first_break(edited).map(|b| b.0), Some(2));
        let gap = [(1, "one", GENESIS, h1.as_str()), (3, "three", &h2, &h3)];
        assert_eq!(first_break(gap).map(|b| b.0), Some(3));
        let truncated_start = [(2, "two", h1.as_str(), h2.as_str())];
        assert_eq!(first_break(truncated_start).map(|b| b.0), Some(2));
    }
}
