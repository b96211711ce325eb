//! The hash input block `value || blinder || padding`, per lane, from the bundle layout.
//!
//! The value length is public per lane, so which block byte is a value byte, a blinder byte
//! or a public padding byte is public: each block bit is an XOR of input bits under public
//! lane masks (no gate).

use triad_mpc_core::{BoolShare, Result};

use crate::HashAlg;
use crate::gates::{Bit, Lanes, Word, and_public, xor};

/// Blinder length in bytes.
pub(crate) const BLINDER_LEN: usize = 16;

/// What block byte `q` holds for a value of `len` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// Value byte `k`.
    Value(usize),
    /// Blinder byte `i`.
    Blinder(usize),
    /// A public byte (padding, length field).
    Const(u8),
}

/// The content of block byte `q` for a value of `len` bytes.
pub(crate) fn source(alg: HashAlg, len: usize, q: usize) -> Source {
    if q < len {
        Source::Value(q)
    } else if q < len + BLINDER_LEN {
        Source::Blinder(q - len)
    } else {
        match alg {
            HashAlg::Blake3 => Source::Const(0),
            HashAlg::Sha256 => Source::Const(crate::sha256::padding_byte(len + BLINDER_LEN, q).unwrap_or(0)),
        }
    }
}

/// The 64-byte block of `value || blinder` with its padding, in plaintext.
pub(crate) fn block_plain(alg: HashAlg, value: &[u8], blinder: &[u8; 16]) -> [u8; 64] {
    std::array::from_fn(|q| match source(alg, value.len(), q) {
        Source::Value(k) => value[k],
        Source::Blinder(i) => blinder[i],
        Source::Const(c) => c,
    })
}

/// The block byte holding bit `b` of message word `w`: little-endian words for BLAKE3,
/// big-endian for SHA-256.
fn byte_of(alg: HashAlg, w: usize, b: usize) -> usize {
    match alg {
        HashAlg::Blake3 => 4 * w + b / 8,
        HashAlg::Sha256 => 4 * w + 3 - b / 8,
    }
}

/// The 16 message words, assembled from the value byte planes `value[k][j]` (bit `j` of
/// byte `k`, `k < value_max_len`) and the blinder byte planes, with the public lengths.
pub(crate) fn message_words(
    alg: HashAlg,
    lanes: &Lanes,
    value: &[[BoolShare; 8]],
    blinder: &[[BoolShare; 8]],
    lens: &[usize],
) -> Result<Vec<Word>> {
    // Per block byte: the lanes taking it from the value, from each blinder byte, and the
    // public byte per lane.
    let bytes: Vec<[Bit; 8]> = (0..64)
        .map(|q| {
            let src: Vec<Source> = lens.iter().map(|&len| source(alg, len, q)).collect();
            let mut bits: [Bit; 8] = std::array::from_fn(|_| None);
            if q < value.len() {
                let mask = lanes.mask(|l| src[l] == Source::Value(q));
                for (j, bit) in bits.iter_mut().enumerate() {
                    *bit = xor(bit, &and_public(&Some(value[q][j].clone()), &mask)?)?;
                }
            }
            for (i, planes) in blinder.iter().enumerate() {
                let mask = lanes.mask(|l| src[l] == Source::Blinder(i));
                for (j, bit) in bits.iter_mut().enumerate() {
                    *bit = xor(bit, &and_public(&Some(planes[j].clone()), &mask)?)?;
                }
            }
            for (j, bit) in bits.iter_mut().enumerate() {
                let c = lanes.public(|l| matches!(src[l], Source::Const(c) if (c >> j) & 1 == 1))?;
                *bit = xor(bit, &c)?;
            }
            Ok(bits)
        })
        .collect::<Result<_>>()?;
    Ok((0..16).map(|w| Word((0..32).map(|b| bytes[byte_of(alg, w, b)][b % 8].clone()).collect())).collect())
}
