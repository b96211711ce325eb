//! Dealing a plaintext contribution into the three parties' shares, in the bundle layout
//! (for tests and benchmarks; providers deal with `triad-provider`).

use crate::{ContributionShares, ValueShape};

/// A contribution in plaintext.
#[derive(Clone, Debug, PartialEq, Eq)]
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

/// The three parties' shares of `c`, with randomness from `rand`. Value bytes past
/// `shape.max_len()` are dropped (the public length stays `value_bytes.len()`).
pub fn deal(shape: &ValueShape, c: &Plain, rand: &mut impl FnMut() -> u64) -> [ContributionShares; 3] {
    let words = shape.value_words();
    let mut padded = vec![0u8; 8 * words];
    for (d, s) in padded.iter_mut().zip(&c.value_bytes) {
        *d = *s;
    }
    let value_words: Vec<u64> = padded.chunks(8).map(|w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8]))).collect();
    let blinder_words: [u64; 2] = [0, 1].map(|w| u64::from_le_bytes(c.blinder[8 * w..8 * w + 8].try_into().unwrap_or([0; 8])));
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

/// A small deterministic generator (SplitMix64) for tests and benchmarks.
pub fn splitmix(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed;
    move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
