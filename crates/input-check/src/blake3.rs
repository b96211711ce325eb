//! BLAKE3 of one block (at most 64 bytes): one compression with the flags
//! CHUNK_START | CHUNK_END | ROOT, counter 0, the IV as chaining value (BLAKE3 spec,
//! O'Connor et al. 2020, Sec. 2.2–2.5). The output is the first 32 bytes, i.e. the words
//! `v[i] ^ v[i + 8]`, little-endian.
//!
//! The circuit runs the four G functions of each half-round side by side (their adders share
//! AND layers). A G costs two 3-operand and two 2-operand 32-bit additions: 2 * 61 + 2 * 31 =
//! 184 ANDs, 4 * 31 rounds; 56 G per compression, 10,304 ANDs, 1,736 rounds. An addend that is
//! 0 in every lane (message words past the longest input) drops out: `a + b + 0` costs 31;
//! with values of at most 9 bytes (25-byte messages) the compression takes 8,366 ANDs.

use triad_mpc_core::Result;
use triad_mpc_core::engine::Engine;

use crate::gates::{Lanes, Word, add_many};

/// The IV (the SHA-256 IV).
pub(crate) const IV: [u32; 8] =
    [0x6A09_E667, 0xBB67_AE85, 0x3C6E_F372, 0xA54F_F53A, 0x510E_527F, 0x9B05_688C, 0x1F83_D9AB, 0x5BE0_CD19];
const MSG_PERMUTATION: [usize; 16] = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
/// CHUNK_START | CHUNK_END | ROOT.
const FLAGS: u32 = 1 | 2 | 8;
/// The (a, b, c, d) state indices of the column then the diagonal G functions.
const COLUMNS: [[usize; 4]; 4] = [[0, 4, 8, 12], [1, 5, 9, 13], [2, 6, 10, 14], [3, 7, 11, 15]];
const DIAGONALS: [[usize; 4]; 4] = [[0, 5, 10, 15], [1, 6, 11, 12], [2, 7, 8, 13], [3, 4, 9, 14]];

/// The four steps of G on its quad `(a, b, c, d)` = indices `0..4`: `dst = dst + addend
/// (+ message word)`, then `mix = (mix ^ dst) >>> rot`.
const G_STEPS: [(usize, usize, Option<usize>, usize, usize); 4] =
    [(0, 1, Some(0), 3, 16), (2, 3, None, 1, 12), (0, 1, Some(1), 3, 8), (2, 3, None, 1, 7)];

/// The message schedule of round `r`: the permutation applied `r` times.
fn schedule(r: usize) -> [usize; 16] {
    let mut s: [usize; 16] = std::array::from_fn(|i| i);
    for _ in 0..r {
        s = std::array::from_fn(|i| s[MSG_PERMUTATION[i]]);
    }
    s
}

/// The hash of one block of `len <= 64` bytes (`block` zero-padded), in plaintext.
pub(crate) fn hash_plain(block: &[u8; 64], len: usize) -> [u8; 32] {
    let m: [u32; 16] = std::array::from_fn(|i| {
        u32::from_le_bytes([block[4 * i], block[4 * i + 1], block[4 * i + 2], block[4 * i + 3]])
    });
    let mut v: [u32; 16] =
        [IV[0], IV[1], IV[2], IV[3], IV[4], IV[5], IV[6], IV[7], IV[0], IV[1], IV[2], IV[3], 0, 0, len as u32, FLAGS];
    for r in 0..7 {
        let s = schedule(r);
        for (j, [a, b, c, d]) in COLUMNS.into_iter().chain(DIAGONALS).enumerate() {
            let (mx, my) = (m[s[2 * j]], m[s[2 * j + 1]]);
            v[a] = v[a].wrapping_add(v[b]).wrapping_add(mx);
            v[d] = (v[d] ^ v[a]).rotate_right(16);
            v[c] = v[c].wrapping_add(v[d]);
            v[b] = (v[b] ^ v[c]).rotate_right(12);
            v[a] = v[a].wrapping_add(v[b]).wrapping_add(my);
            v[d] = (v[d] ^ v[a]).rotate_right(8);
            v[c] = v[c].wrapping_add(v[d]);
            v[b] = (v[b] ^ v[c]).rotate_right(7);
        }
    }
    let mut out = [0u8; 32];
    for i in 0..8 {
        out[4 * i..4 * i + 4].copy_from_slice(&(v[i] ^ v[i + 8]).to_le_bytes());
    }
    out
}

/// The output words `v[i] ^ v[i + 8]` of the compression of the message words `m` (16
/// words) with the public per-lane block length `len(lane)`.
pub(crate) fn hash_circuit<E: Engine>(
    e: &mut E,
    lanes: &Lanes,
    m: &[Word],
    len: impl Fn(usize) -> u64,
) -> Result<Vec<Word>> {
    let c = |x: u32| Word::public(lanes, 32, |_| u64::from(x));
    let mut v: Vec<Word> = Vec::with_capacity(16);
    for &x in IV.iter().chain(&IV[..4]) {
        v.push(c(x)?);
    }
    v.push(c(0)?);
    v.push(c(0)?);
    v.push(Word::public(lanes, 32, len)?);
    v.push(c(FLAGS)?);
    for r in 0..7 {
        let s = schedule(r);
        for (half, quads) in [COLUMNS, DIAGONALS].into_iter().enumerate() {
            let msg = |j: usize, k: usize| m[s[2 * (4 * half + j) + k]].clone();
            for &(dst, addend, word, mix, rot) in &G_STEPS {
                let groups = (0..4)
                    .map(|j| {
                        let q = quads[j];
                        let mut g = vec![v[q[dst]].clone(), v[q[addend]].clone()];
                        g.extend(word.map(|k| msg(j, k)));
                        g
                    })
                    .collect();
                for (j, sum) in add_many(e, lanes, groups, 32)?.into_iter().enumerate() {
                    let q = quads[j];
                    v[q[dst]] = sum;
                    v[q[mix]] = v[q[mix]].xor(&v[q[dst]])?.rotr(rot);
                }
            }
        }
    }
    (0..8).map(|i| v[i].xor(&v[i + 8])).collect()
}

/// The output word `i` the commitment must equal: its bytes `4i..4i+4`, little-endian.
pub(crate) fn target_word(commitment: &[u8; 32], i: usize) -> u32 {
    u32::from_le_bytes([commitment[4 * i], commitment[4 * i + 1], commitment[4 * i + 2], commitment[4 * i + 3]])
}
