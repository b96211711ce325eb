//! `triad-input-check`: the commitment check of client inputs inside MPC
//! (`docs/protocols/input-check.md`).
//!
//! A contribution counts only if its value is what a website served to the provider: the
//! TLSNotary presentation commits to the value bytes as `H(value || blinder)` (a
//! PlaintextHash commitment, 16-byte blinder, BLAKE3 or SHA-256). The parties hold boolean
//! shares of the value bytes and the blinder and an arithmetic share of the number, in the
//! layout of `proto/triad/provider/v1/bundle.proto`, and check for a whole batch at once,
//! one lane per contribution:
//!
//! 1. the hash of the shared bytes equals the public commitment;
//! 2. the bytes are a well-formed decimal of the dataset's shape;
//! 3. the arithmetic share equals the parsed number `value * 10^max_decimals`.
//!
//! Every gate is proven before anything is opened (in batches of 2^20 gates as they are
//! logged, and the rest before the opening), and exactly three bits per contribution are
//! opened: the results of the three checks.
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

mod blake3;
mod block;
mod count;
pub mod deal;
mod decimal;
mod gates;
mod sha256;
mod value;

use triad_mpc_core::engine::Engine;
use triad_mpc_core::{ArithShare, BoolShare};

pub use count::Cost;
pub use decimal::parse_plain;

/// The commitment's hash algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// BLAKE3 (the TLSNotary default).
    Blake3,
    /// SHA-256.
    Sha256,
}

impl HashAlg {
    /// The name used in `PlaintextCommitment.alg` ("blake3", "sha256").
    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Blake3 => "blake3",
            HashAlg::Sha256 => "sha256",
        }
    }

    /// From its name.
    pub fn from_name(s: &str) -> Option<HashAlg> {
        match s {
            "blake3" => Some(HashAlg::Blake3),
            "sha256" => Some(HashAlg::Sha256),
            _ => None,
        }
    }

    /// The longest hashed message (`value || blinder`) one compression covers.
    fn max_message(self) -> usize {
        match self {
            HashAlg::Blake3 => 64,
            HashAlg::Sha256 => sha256::MAX_MESSAGE,
        }
    }
}

/// A dataset's value format (`triad.events.v1.ValueFormat` without the binary scale).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueShape {
    /// Largest number of digits before the point (at least 1).
    pub max_integer_digits: u32,
    /// Largest number of digits after the point; the number is `value * 10^max_decimals`.
    pub max_decimals: u32,
}

impl ValueShape {
    /// Longest well-formed value in bytes (the padded length of the value bytes).
    pub fn max_len(&self) -> usize {
        let point = usize::from(self.max_decimals > 0);
        self.max_integer_digits as usize + point + self.max_decimals as usize
    }

    /// Words of the boolean sharing of the padded value bytes.
    pub fn value_words(&self) -> usize {
        self.max_len().div_ceil(8)
    }

    /// Checks the shape is usable with `alg`: at least one integer digit, at most 18 digits,
    /// and `value || blinder` fits one compression.
    pub fn check(&self, alg: HashAlg) -> Result<(), CheckError> {
        if self.max_integer_digits == 0 || self.max_integer_digits + self.max_decimals > 18 {
            return Err(CheckError::Shape {
                max_integer_digits: self.max_integer_digits,
                max_decimals: self.max_decimals,
            });
        }
        if self.max_len() + block::BLINDER_LEN > alg.max_message() {
            return Err(CheckError::TooLong {
                alg: alg.name(),
                max_len: self.max_len(),
                limit: alg.max_message() - block::BLINDER_LEN,
            });
        }
        Ok(())
    }
}

/// One party's shares of one contribution, as opened from its `ShareBundle`: the components
/// `(x_i, x_{i+1})` of each sharing, and the public length and commitment.
///
/// `Debug` prints the public length and the shape only, never share components.
#[derive(Clone, PartialEq, Eq)]
pub struct ContributionShares {
    /// Arithmetic sharing of `N = value * 10^max_decimals`.
    pub value: (u64, u64),
    /// Public length of the committed value bytes.
    pub value_len: usize,
    /// Boolean sharing of the value bytes zero-padded to `max_len`, little-endian in words
    /// ([`ValueShape::value_words`] words each).
    pub value_bytes: (Vec<u64>, Vec<u64>),
    /// Boolean sharing of the 16-byte blinder (2 words each).
    pub blinder: ([u64; 2], [u64; 2]),
    /// The public commitment `H(value || blinder)`.
    pub commitment: [u8; 32],
}

impl std::fmt::Debug for ContributionShares {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ContributionShares(value_len={}, value_words={})", self.value_len, self.value_bytes.0.len())
    }
}

/// The outcome for one contribution. When several checks fail, the first in this order is
/// reported: a commitment mismatch (the bytes are not what the website served; nothing
/// else about them matters), then a malformed decimal, then a value mismatch. A public
/// length outside `1..=max_len` is [`Verdict::MalformedDecimal`] from the length alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// All three checks passed.
    Accepted,
    /// `H(value || blinder)` differs from the commitment.
    CommitmentMismatch,
    /// The bytes are not a decimal of the dataset's shape.
    MalformedDecimal,
    /// The arithmetic share is not the parsed number.
    ValueMismatch,
}

impl Verdict {
    /// The verdict from the three opened bits, in the documented precedence.
    fn from_bits(commitment_ok: bool, well_formed: bool, value_ok: bool) -> Verdict {
        if !commitment_ok {
            Verdict::CommitmentMismatch
        } else if !well_formed {
            Verdict::MalformedDecimal
        } else if !value_ok {
            Verdict::ValueMismatch
        } else {
            Verdict::Accepted
        }
    }
}

/// Why a batch could not be checked at all.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The shape allows no integer digit or more than 18 digits.
    #[error(
        "value shape ({max_integer_digits} integer digits, {max_decimals} decimals) is unusable: it needs at least 1 integer digit and at most 18 digits in all"
    )]
    Shape {
        /// `max_integer_digits`.
        max_integer_digits: u32,
        /// `max_decimals`.
        max_decimals: u32,
    },
    /// `value || blinder` would need more than one compression.
    #[error("values of up to {max_len} bytes are too long for the one-block {alg} check (at most {limit} bytes)")]
    TooLong {
        /// The algorithm.
        alg: &'static str,
        /// The shape's `max_len`.
        max_len: usize,
        /// The longest value that fits.
        limit: usize,
    },
    /// A contribution's value bytes do not have the shape's number of words.
    #[error("contribution {index} has {found} words of value bytes; the shape needs {expected}")]
    Layout {
        /// Position in the batch.
        index: usize,
        /// Words found.
        found: usize,
        /// Words expected.
        expected: usize,
    },
    /// The MPC engine failed or aborted (a deviating party is caught here).
    #[error(transparent)]
    Mpc(#[from] triad_mpc_core::Error),
}

/// Checks a batch of contributions (this party's shares); every party calls it with the
/// same shape, algorithm and public fields. Returns one verdict per contribution; a
/// failing contribution does not affect the others. An abort (a deviating party) returns
/// an error and no verdict.
pub fn check_batch<E: Engine>(
    e: &mut E,
    shape: ValueShape,
    alg: HashAlg,
    batch: &[ContributionShares],
) -> Result<Vec<Verdict>, CheckError> {
    check_batch_with_cost(e, shape, alg, batch).map(|(v, _)| v)
}

/// [`check_batch`], also returning the gates it used.
pub fn check_batch_with_cost<E: Engine>(
    e: &mut E,
    shape: ValueShape,
    alg: HashAlg,
    batch: &[ContributionShares],
) -> Result<(Vec<Verdict>, Cost), CheckError> {
    shape.check(alg)?;
    let words = shape.value_words();
    for (index, c) in batch.iter().enumerate() {
        if c.value_bytes.0.len() != words || c.value_bytes.1.len() != words {
            return Err(CheckError::Layout {
                index,
                found: c.value_bytes.0.len().min(c.value_bytes.1.len()),
                expected: words,
            });
        }
    }
    if batch.is_empty() {
        return Ok((Vec::new(), Cost::default()));
    }
    let mut e = triad_mpc_core::counted::Counted::new(e).verify_every(count::VERIFY_AFTER);
    let m = shape.max_len();
    // A length outside 1..=max_len is rejected publicly; its lane runs as length 0.
    let bad_len: Vec<bool> = batch.iter().map(|c| c.value_len == 0 || c.value_len > m).collect();
    let lens: Vec<usize> = batch.iter().zip(&bad_len).map(|(c, &bad)| if bad { 0 } else { c.value_len }).collect();
    let lanes = gates::Lanes { me: e.session().me(), n: batch.len() };
    let value_planes = byte_planes(&lanes, batch, m, |c| (&c.value_bytes.0[..], &c.value_bytes.1[..]))?;
    let blinder_planes = byte_planes(&lanes, batch, block::BLINDER_LEN, |c| (&c.blinder.0[..], &c.blinder.1[..]))?;

    let commitment_ok = commitment_matches(&mut e, &lanes, alg, &value_planes, &blinder_planes, &lens, batch)?;
    let sel = decimal::selectors(&mut e, &lanes, &shape, &value_planes, &lens)?;
    let well_formed = sel.well_formed()?;
    let value = ArithShare::from_components(
        batch.iter().map(|c| c.value.0).collect(),
        batch.iter().map(|c| c.value.1).collect(),
    )?;
    let value_ok = value::value_matches(&mut e, &lanes, &shape, &value_planes, &sel, &lens, &value)?;

    let zero = BoolShare::public(lanes.me, &vec![0; lanes.words()], lanes.n)?;
    let bits = [commitment_ok, well_formed, value_ok].map(|b| b.unwrap_or_else(|| zero.clone()));
    let opened = e.open_bits(&gates::pack(&bits.iter().collect::<Vec<_>>(), lanes.n)?)?;
    let bit = |i: usize| opened.get(i / 64).is_some_and(|w| (w >> (i % 64)) & 1 == 1);
    let n = lanes.n;
    let verdicts = (0..n)
        .map(|l| {
            if bad_len[l] { Verdict::MalformedDecimal } else { Verdict::from_bits(bit(l), bit(n + l), bit(2 * n + l)) }
        })
        .collect();
    Ok((verdicts, e.cost()))
}

/// Bit planes `[k][j]` (bit `j` of byte `k`, `k < len`) of a little-endian word sharing,
/// one lane per contribution (XOR sharing is linear: each party transposes its own
/// components).
fn byte_planes<'a>(
    lanes: &gates::Lanes,
    batch: &'a [ContributionShares],
    len: usize,
    words: impl Fn(&'a ContributionShares) -> (&'a [u64], &'a [u64]),
) -> Result<Vec<[BoolShare; 8]>, CheckError> {
    let mut s0 = vec![vec![0u64; lanes.words()]; 8 * len];
    let mut s1 = vec![vec![0u64; lanes.words()]; 8 * len];
    for (l, c) in batch.iter().enumerate() {
        let (a, b) = words(c);
        for bit in 0..8 * len {
            s0[bit][l / 64] |= ((a[bit / 64] >> (bit % 64)) & 1) << (l % 64);
            s1[bit][l / 64] |= ((b[bit / 64] >> (bit % 64)) & 1) << (l % 64);
        }
    }
    let mut planes = s0.into_iter().zip(s1).map(|(a, b)| BoolShare::from_components(a, b, lanes.n));
    (0..len)
        .map(|_| {
            let mut next = || planes.next().unwrap_or(Err(triad_mpc_core::Error::InvalidArgument("missing plane")));
            Ok([next()?, next()?, next()?, next()?, next()?, next()?, next()?, next()?])
        })
        .collect()
}

/// The expected output word `i` for a commitment.
type TargetWord = fn(&[u8; 32], usize) -> u32;

/// `[H(value || blinder) == commitment]` per lane: the hash circuit, then the AND of the 256
/// bits `out ^ !target` (255 ANDs, 8 rounds).
fn commitment_matches<E: Engine>(
    e: &mut E,
    lanes: &gates::Lanes,
    alg: HashAlg,
    value: &[[BoolShare; 8]],
    blinder: &[[BoolShare; 8]],
    lens: &[usize],
    batch: &[ContributionShares],
) -> Result<gates::Bit, CheckError> {
    let msg = block::message_words(alg, lanes, value, blinder, lens)?;
    let (out, target): (Vec<gates::Word>, TargetWord) = match alg {
        HashAlg::Blake3 => {
            (blake3::hash_circuit(e, lanes, &msg, |l| (lens[l] + block::BLINDER_LEN) as u64)?, blake3::target_word)
        }
        HashAlg::Sha256 => (sha256::hash_circuit(e, lanes, &msg)?, sha256::target_word),
    };
    let mut eq = Vec::with_capacity(256);
    for (i, w) in out.iter().enumerate() {
        let not_target = gates::Word::public(lanes, 32, |l| u64::from(!target(&batch[l].commitment, i)))?;
        eq.extend(w.xor(&not_target)?.0);
    }
    Ok(gates::and_all(e, lanes, eq)?)
}

/// The same checks in plaintext (the reference for tests): the verdict for `value_bytes`
/// (the committed bytes, `value_len` of them), `blinder`, the public `commitment` and the
/// number `value` the arithmetic sharing holds.
pub fn check_plain(
    shape: ValueShape,
    alg: HashAlg,
    value_bytes: &[u8],
    blinder: &[u8; 16],
    commitment: &[u8; 32],
    value: u64,
) -> Verdict {
    if value_bytes.is_empty() || value_bytes.len() > shape.max_len() {
        return Verdict::MalformedDecimal;
    }
    let Some(hash) = plaintext_hash(alg, value_bytes, blinder) else {
        return Verdict::MalformedDecimal;
    };
    let parsed = parse_plain(&shape, value_bytes);
    Verdict::from_bits(&hash == commitment, parsed.is_some(), parsed == Some(value))
}

/// `H(value || blinder)` in plaintext, for messages of one block (`value` at most 48 bytes
/// for BLAKE3, 39 for SHA-256); `None` if longer.
pub fn plaintext_hash(alg: HashAlg, value: &[u8], blinder: &[u8; 16]) -> Option<[u8; 32]> {
    if value.len() + block::BLINDER_LEN > alg.max_message() {
        return None;
    }
    Some(match alg {
        HashAlg::Blake3 => {
            blake3::hash_plain(&block::block_plain(alg, value, blinder), value.len() + block::BLINDER_LEN)
        }
        HashAlg::Sha256 => sha256::hash_plain(&[value, &blinder[..]].concat()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_hashes_equal_the_crates_for_every_one_block_length() {
        let blinder: [u8; 16] = std::array::from_fn(|i| (i * 37 + 5) as u8);
        let data: Vec<u8> = (0..64u32).map(|i| (i * 101 + 7) as u8).collect();
        for len in 0..=48 {
            let v = &data[..len];
            let want = *::blake3::Hasher::new().update(v).update(&blinder).finalize().as_bytes();
            assert_eq!(plaintext_hash(HashAlg::Blake3, v, &blinder), Some(want), "blake3 len {len}");
        }
        for len in 0..=39 {
            use sha2::Digest as _;
            let v = &data[..len];
            let want: [u8; 32] = sha2::Sha256::new().chain_update(v).chain_update(blinder).finalize().into();
            assert_eq!(plaintext_hash(HashAlg::Sha256, v, &blinder), Some(want), "sha256 len {len}");
        }
        assert_eq!(plaintext_hash(HashAlg::Blake3, &data[..49], &blinder), None);
        assert_eq!(plaintext_hash(HashAlg::Sha256, &data[..40], &blinder), None);
    }
}
