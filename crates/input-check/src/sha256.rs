//! SHA-256 of one block: a message of at most 55 bytes, padded to 64 (FIPS 180-4, Sec. 5.1.1
//! and 6.2), one compression from the IV.
//!
//! Circuit: the 48 expanded schedule words two at a time (`W[t]` and `W[t+1]` are
//! independent), each a 4-operand sum (2 carry-save layers and a ripple: 92 ANDs); a round
//! computes Ch and Maj in one layer (one AND per bit each), `T1 = h + S1 + Ch + K + W`
//! (3 carry-save layers and a ripple) beside `T2 = S0 + Maj`, then `e = d + T1` beside
//! `a = T1 + T2`. The final feed-forward `H = IV + state` is not computed: the state is
//! compared with the public `commitment - IV` (mod 2^32) instead, which saves 8 adders.

use triad_mpc_core::Result;
use triad_mpc_core::engine::Engine;

use crate::gates::{Lanes, Layer, Word, add_many};

const IV: [u32; 8] =
    [0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19];

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
];

/// Longest message of one block: 64 bytes minus the 0x80 byte and the 8-byte length.
pub(crate) const MAX_MESSAGE: usize = 55;

/// The byte at position `q` of the padded block of a `len`-byte message, when it is a
/// padding byte (`None` inside the message).
pub(crate) fn padding_byte(len: usize, q: usize) -> Option<u8> {
    if q < len {
        None
    } else if q == len {
        Some(0x80)
    } else if q >= 56 {
        Some(((len as u64 * 8) >> (8 * (63 - q))) as u8)
    } else {
        Some(0)
    }
}

/// The hash of a message of at most [`MAX_MESSAGE`] bytes, in plaintext.
pub(crate) fn hash_plain(msg: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    for (q, b) in block.iter_mut().enumerate() {
        *b = padding_byte(msg.len(), q).unwrap_or_else(|| msg[q]);
    }
    let mut w = [0u32; 64];
    for t in 0..16 {
        w[t] = u32::from_be_bytes([block[4 * t], block[4 * t + 1], block[4 * t + 2], block[4 * t + 3]]);
    }
    for t in 16..64 {
        let s0 = w[t - 15].rotate_right(7) ^ w[t - 15].rotate_right(18) ^ (w[t - 15] >> 3);
        let s1 = w[t - 2].rotate_right(17) ^ w[t - 2].rotate_right(19) ^ (w[t - 2] >> 10);
        w[t] = s1.wrapping_add(w[t - 7]).wrapping_add(s0).wrapping_add(w[t - 16]);
    }
    let mut s = IV;
    for t in 0..64 {
        let [a, b, c, d, e, f, g, h] = s;
        let t1 = h
            .wrapping_add(e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25))
            .wrapping_add((e & f) ^ (!e & g))
            .wrapping_add(K[t])
            .wrapping_add(w[t]);
        let t2 =
            (a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22)).wrapping_add((a & b) ^ (a & c) ^ (b & c));
        s = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
    }
    let mut out = [0u8; 32];
    for i in 0..8 {
        out[4 * i..4 * i + 4].copy_from_slice(&s[i].wrapping_add(IV[i]).to_be_bytes());
    }
    out
}

fn xor3(a: &Word, b: &Word, c: &Word) -> Result<Word> {
    a.xor(b)?.xor(c)
}

/// The final state (before the feed-forward) of the compression of the padded block's 16
/// words `m`.
pub(crate) fn hash_circuit<E: Engine>(e: &mut E, lanes: &Lanes, m: &[Word]) -> Result<Vec<Word>> {
    let mut w: Vec<Word> = m.to_vec();
    while w.len() < 64 {
        let t = w.len();
        let groups = (t..t + 2)
            .map(|t| {
                let s0 = xor3(&w[t - 15].rotr(7), &w[t - 15].rotr(18), &w[t - 15].shr(3))?;
                let s1 = xor3(&w[t - 2].rotr(17), &w[t - 2].rotr(19), &w[t - 2].shr(10))?;
                Ok(vec![s1, w[t - 7].clone(), s0, w[t - 16].clone()])
            })
            .collect::<Result<Vec<_>>>()?;
        w.extend(add_many(e, lanes, groups, 32)?);
    }
    let mut s: Vec<Word> = IV.iter().map(|&x| Word::public(lanes, 32, |_| u64::from(x))).collect::<Result<_>>()?;
    for (t, wt) in w.into_iter().enumerate() {
        let (a, b, c, d, ee, f, g, h) = (&s[0], &s[1], &s[2], &s[3], &s[4], &s[5], &s[6], &s[7]);
        // Ch(e, f, g) = g ^ (e & (f ^ g)); Maj(a, b, c) = ((a ^ c) & (b ^ c)) ^ c.
        let mut layer = Layer::default();
        let fg = f.xor(g)?;
        let ch: Vec<_> = (0..32).map(|k| layer.and(&ee.0[k], &fg.0[k])).collect();
        let maj = (0..32).map(|k| layer.maj(&a.0[k], &b.0[k], &c.0[k])).collect::<Result<Vec<_>>>()?;
        let done = layer.run(e, lanes.n)?;
        let ch = Word(ch.into_iter().map(|p| done.get(p)).collect::<Result<_>>()?).xor(g)?;
        let maj = Word(maj.into_iter().map(|p| done.get(p)).collect::<Result<_>>()?);
        let big_s1 = xor3(&ee.rotr(6), &ee.rotr(11), &ee.rotr(25))?;
        let big_s0 = xor3(&a.rotr(2), &a.rotr(13), &a.rotr(22))?;
        let k = Word::public(lanes, 32, |_| u64::from(K[t]))?;
        let mut t12 = add_many(e, lanes, vec![vec![h.clone(), big_s1, ch, k, wt], vec![big_s0, maj]], 32)?.into_iter();
        let (t1, t2) = (next(&mut t12)?, next(&mut t12)?);
        let mut ae = add_many(e, lanes, vec![vec![t1.clone(), t2], vec![d.clone(), t1]], 32)?.into_iter();
        let (a_new, e_new) = (next(&mut ae)?, next(&mut ae)?);
        s = vec![a_new, s[0].clone(), s[1].clone(), s[2].clone(), e_new, s[4].clone(), s[5].clone(), s[6].clone()];
    }
    Ok(s)
}

fn next(it: &mut impl Iterator<Item = Word>) -> Result<Word> {
    it.next().ok_or(triad_mpc_core::Error::InvalidArgument("adder returned too few sums"))
}

/// The state word `i` must equal `commitment word i - IV[i]` (big-endian words).
pub(crate) fn target_word(commitment: &[u8; 32], i: usize) -> u32 {
    u32::from_be_bytes([commitment[4 * i], commitment[4 * i + 1], commitment[4 * i + 2], commitment[4 * i + 3]])
        .wrapping_sub(IV[i])
}
