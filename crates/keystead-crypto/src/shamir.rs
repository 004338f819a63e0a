//! Shamir secret sharing over GF(2^8) with the polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d, the
//! field of `sharks`/`blahaj` and of Reed-Solomon codes), byte by byte.
//!
//! Written here rather than taken from a crate for two reasons: the polynomial coefficients
//! must come from AWS-LC's DRBG like every other secret Keystead draws, and field arithmetic
//! on secret bytes must not use lookup tables indexed by secrets (the common log/exp-table
//! implementations leak through cache timing). Multiplication here is branch-free and
//! table-free. The tests check it against the `blahaj` crate (a maintained fork of `sharks`)
//! in both directions: shares made here are recovered there, and the other way round.

use crate::{random_secret, Error, SecretBytes};

/// Multiplication in GF(2^8), in constant time: no branches or indices on the operands.
fn mul(mut a: u8, mut b: u8) -> u8 {
    let mut product = 0u8;
    for _ in 0..8 {
        product ^= a & 0u8.wrapping_sub(b & 1);
        let carry = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (0x1d & carry);
        b >>= 1;
    }
    product
}

/// The multiplicative inverse, a^254, with a fixed sequence of operations. `inv(0)` is 0,
/// which never occurs: share indices are distinct and non-zero.
fn inv(a: u8) -> u8 {
    // 254 = 0b1111_1110: square-and-multiply over a fixed exponent.
    let mut result = 1u8;
    let mut power = a;
    for bit in 0..8 {
        if (254u8 >> bit) & 1 == 1 {
            result = mul(result, power);
        }
        power = mul(power, power);
    }
    result
}

/// One share: its index (the x coordinate, 1..=255) and one byte per secret byte.
pub struct Share {
    /// The x coordinate; never 0 (0 is where the secret lies).
    pub index: u8,
    /// The polynomial values at `index`.
    pub value: SecretBytes,
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Share(index {}, redacted)", self.index)
    }
}

/// Splits `secret` into `shares` shares, any `threshold` of which recover it.
pub fn split(secret: &SecretBytes, threshold: u8, shares: u8) -> Result<Vec<Share>, Error> {
    if threshold == 0 || threshold > shares {
        return Err(Error::Sharing { reason: "the threshold must be between 1 and the number of shares" });
    }
    let len = secret.len();
    // Coefficients 1..threshold-1 of one polynomial per secret byte; coefficient 0 is the byte.
    let coefficients = random_secret(len * usize::from(threshold - 1))?;
    let coefficients = coefficients.expose_secret();
    let mut out = Vec::with_capacity(usize::from(shares));
    for index in 1..=shares {
        let mut value = vec![0u8; len];
        for (byte, slot) in value.iter_mut().enumerate() {
            // Horner's rule from the highest coefficient down to the secret byte.
            let mut y = 0u8;
            for degree in (1..usize::from(threshold)).rev() {
                y = mul(y, index) ^ coefficients[(degree - 1) * len + byte];
            }
            *slot = mul(y, index) ^ secret.expose_secret()[byte];
        }
        out.push(Share { index, value: SecretBytes::new(value) });
    }
    Ok(out)
}

/// Recovers the secret from shares by Lagrange interpolation at 0. The caller supplies at
/// least the threshold; with fewer, or with a wrong share, the result is a wrong secret,
/// which the caller detects (Keystead opens an authenticated ciphertext with it).
pub fn combine(shares: &[Share]) -> Result<SecretBytes, Error> {
    let Some(first) = shares.first() else {
        return Err(Error::Sharing { reason: "no shares" });
    };
    let len = first.value.len();
    for (i, share) in shares.iter().enumerate() {
        if share.index == 0 {
            return Err(Error::Sharing { reason: "a share has index 0" });
        }
        if share.value.len() != len {
            return Err(Error::Sharing { reason: "the shares have different lengths" });
        }
        if shares[..i].iter().any(|earlier| earlier.index == share.index) {
            return Err(Error::Sharing { reason: "the same share was given twice" });
        }
    }
    let mut secret = vec![0u8; len];
    for (j, share) in shares.iter().enumerate() {
        // The Lagrange basis polynomial of share j evaluated at 0; indices are public.
        let mut basis = 1u8;
        for (m, other) in shares.iter().enumerate() {
            if m != j {
                basis = mul(basis, mul(other.index, inv(other.index ^ share.index)));
            }
        }
        for (slot, y) in secret.iter_mut().zip(share.value.expose_secret()) {
            *slot ^= mul(*y, basis);
        }
    }
    Ok(SecretBytes::new(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SecretBytes {
        random_secret(32).unwrap()
    }

    #[test]
    fn field_arithmetic_is_that_of_0x11d() {
        // Powers of the generator 2 wrap through the reduction polynomial: 2^8 = 0x1d.
        assert_eq!(mul(0x80, 2), 0x1d);
        assert_eq!(mul(0x1d, 2), 0x3a);
        // 2 generates the multiplicative group: its powers reach all 255 non-zero elements.
        let mut seen = std::collections::BTreeSet::new();
        let mut power = 1u8;
        for _ in 0..255 {
            seen.insert(power);
            power = mul(power, 2);
        }
        assert_eq!(seen.len(), 255);
        assert_eq!(power, 1);
        for a in 1..=255u8 {
            assert_eq!(mul(a, inv(a)), 1, "inverse of {a}");
            assert_eq!(mul(a, 1), a);
            assert_eq!(mul(a, 0), 0);
        }
    }

    #[test]
    fn any_threshold_subset_recovers_the_secret() {
        let secret = secret();
        let shares = split(&secret, 3, 5).unwrap();
        assert_eq!(shares.len(), 5);
        let pick = |idx: &[usize]| -> Vec<Share> {
            idx.iter()
                .map(|&i| Share {
                    index: shares[i].index,
                    value: SecretBytes::from_slice(shares[i].value.expose_secret()),
                })
                .collect()
        };
        for subset in [[0, 1, 2], [0, 2, 4], [4, 3, 1], [1, 2, 3]] {
            assert!(combine(&pick(&subset)).unwrap().ct_eq(&secret), "{subset:?}");
        }
        assert!(!combine(&pick(&[0, 1])).unwrap().ct_eq(&secret), "two of three reveal nothing useful");
        let mut wrong = pick(&[0, 1, 2]);
        wrong[1] = Share { index: wrong[1].index, value: random_secret(32).unwrap() };
        assert!(!combine(&wrong).unwrap().ct_eq(&secret));
        let repeated = pick(&[0, 0, 1]);
        assert!(matches!(combine(&repeated), Err(Error::Sharing { .. })));
    }

    #[test]
    fn one_of_one_and_bad_parameters() {
        let secret = secret();
        let shares = split(&secret, 1, 1).unwrap();
        assert!(combine(&shares).unwrap().ct_eq(&secret));
        assert!(split(&secret, 0, 3).is_err());
        assert!(split(&secret, 4, 3).is_err());
        assert!(combine(&[]).is_err());
    }

    /// Interoperability with an independent implementation, both ways.
    #[test]
    fn agrees_with_an_independent_implementation() {
        let secret = secret();
        // Ours → theirs.
        let ours = split(&secret, 3, 5).unwrap();
        let theirs: Vec<blahaj::Share> = ours[1..4]
            .iter()
            .map(|s| {
                let mut bytes = vec![s.index];
                bytes.extend_from_slice(s.value.expose_secret());
                blahaj::Share::try_from(bytes.as_slice()).unwrap()
            })
            .collect();
        let recovered = blahaj::Sharks(3).recover(theirs.iter()).unwrap();
        assert_eq!(recovered, secret.expose_secret());
        // Theirs → ours.
        let dealer = blahaj::Sharks(3).dealer(secret.expose_secret());
        let shares: Vec<Share> = dealer
            .take(5)
            .skip(2)
            .map(|s| {
                let bytes = Vec::from(&s);
                Share { index: bytes[0], value: SecretBytes::from_slice(&bytes[1..]) }
            })
            .collect();
        assert!(combine(&shares).unwrap().ct_eq(&secret));
    }
}
