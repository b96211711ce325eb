//! Dealing a plaintext contribution into the three parties' shares, in the bundle layout
//! (for tests and benchmarks; providers deal with `triad-provider`).

use crate::{ContributionShares, ValueShape};

/// A contribution in plaintext. `Debug` prints the length only.
#[derive(Clone, PartialEq, Eq)]
pub struct Plain {
    /// The committed value bytes.
    pub value_bytes: Vec<u8>,
    /// The commitment's blinder.
    pub blinder: [u8; 16],
    /// The public commitment.
    pub commitment: [u8; 32],
    /// The number the arithmetic sharing holds.
    pub value: u64,
}

impl std::fmt::Debug for Plain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Plain(value_len={})", self.value_bytes.len())
    }
}

/// The three parties' shares of `c`, with randomness from `rand`. Value bytes past
/// `shape.max_len()` are dropped (the public length stays `value_bytes.len()`).
pub fn deal(shape: &ValueShape, c: &Plain, rand: &mut impl FnMut() -> u64) -> [ContributionShares; 3] {
    let words = shape.value_words();
    let mut padded = vec![0u8; 8 * words];
    for (d, s) in padded.iter_mut().zip(&c.value_bytes) {
        *d = *s;
    }
    let value_words: Vec<u64> = padded.chunks(8).map(|w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8]))).collect();
    let blinder_words: [u64; 2] =
        [0, 1].map(|w| u64::from_le_bytes(c.blinder[8 * w..8 * w + 8].try_into().unwrap_or([0; 8])));
    // x_1, x_2 random; x_0 completes the sum (XOR for the boolean sharings).
    let a1 = rand();
    let a2 = rand();
    let a = [c.value.wrapping_sub(a1).wrapping_sub(a2), a1, a2];
    let split = |v: &[u64], rand: &mut dyn FnMut() -> u64| -> [Vec<u64>; 3] {
        let b1: Vec<u64> = v.iter().map(|_| rand()).collect();
        let b2: Vec<u64> = v.iter().map(|_| rand()).collect();
        let b0 = v.iter().zip(&b1).zip(&b2).map(|((x, y), z)| x ^ y ^ z).collect();
        [b0, b1, b2]
    };
    let vb = split(&value_words, rand);
    let bb = split(&blinder_words, rand);
    let two = |v: &[u64]| [v.first().copied().unwrap_or(0), v.get(1).copied().unwrap_or(0)];
    std::array::from_fn(|i| {
        let j = (i + 1) % 3;
        ContributionShares {
            value: (a[i], a[j]),
            value_len: c.value_bytes.len(),
            value_bytes: (vb[i].clone(), vb[j].clone()),
            blinder: (two(&bb[i]), two(&bb[j])),
            commitment: c.commitment,
        }
    })
}

/// A deterministic *data* generator (SplitMix64) for test and benchmark
/// inputs: the values, blinders and the sharing randomness of [`deal`] when
/// all three benchmark processes must deal the same batch without talking.
/// Predictable from its seed, so never a source of keys, and never the
/// sharing randomness of real contributions (providers share with OS
/// randomness in `triad-provider`).
pub fn bench_data_rng(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed;
    move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_shows_no_plaintext_or_shares() {
        const SECRET: u64 = 0xDEAD_BEEF_CAFE_F00D;
        let leaks = |s: &str| {
            let s = s.to_lowercase();
            ["16045690984503111693", "deadbeef", "cafef00d", "3735928559", "3405705229", "13, 240, 254, 202"]
                .iter()
                .any(|w| s.contains(w))
        };
        let blinder: [u8; 16] = SECRET.to_le_bytes().repeat(2).try_into().unwrap_or([0; 16]);
        let plain = Plain { value_bytes: SECRET.to_string().into_bytes(), blinder, commitment: [0; 32], value: SECRET };
        // With zero randomness party 0 holds the value itself as a component.
        let shares = deal(&ValueShape { max_integer_digits: 20, max_decimals: 0 }, &plain, &mut || 0);
        assert_eq!(shares[0].value.0, SECRET);
        assert!(leaks(&format!("{:?}", shares[0].value)), "the detector must see a raw component");
        assert!(leaks(&format!("{:?}", plain.blinder)), "the detector must see raw blinder bytes");
        for s in [format!("{plain:?}"), format!("{shares:?}")] {
            assert!(!leaks(&s), "leaks: {s}");
        }
    }
}
