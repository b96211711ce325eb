//! Sorting and order statistics of signed 64-bit keys: shuffle, then
//! quicksort / quickselect with revealed comparisons (Hamada, Kikuchi,
//! Chida, Ikarashi, Takahashi, ICISC'12, "Practically efficient
//! multi-party sorting protocols from comparison sort algorithms").
//!
//! 1. Keys are converted to XOR-shared words (A2B, [`crate::circuits`]),
//!    each row gets its original index `j` (public, trivially shared), and
//!    the rows (key, index, payload) are shuffled ([`crate::shuffle::shuffle`],
//!    malicious, checked before anything is revealed).
//! 2. Quicksort on the shuffled rows, all segments of a level at once: each
//!    element of a segment is compared with the segment's first element (a
//!    uniformly random pivot, since the arrangement stays in shuffled order
//!    within a segment) by a ripple-borrow comparator on the composite key
//!    `(key ^ 2^63, index)` (`64 + ceil(log2 n)` ANDs, as many rounds); the
//!    level's ANDs are verified, then the comparison bits are opened and the
//!    segments partitioned. Selection refines only the segments holding a
//!    wanted rank (quickselect).
//! 3. The result is a public permutation of the shuffled rows, applied
//!    locally to their shares.
//!
//! *What is revealed*: the outcomes of comparisons between distinct
//! composite keys in a uniformly random order, i.e. the comparison pattern
//! of quicksort on a random permutation, which a simulator draws without
//! knowing the keys (ties are broken by the secret original index, so equal
//! keys reveal nothing either). Every opened bit depends only on verified
//! ANDs and on checked shuffle output.
//!
//! *Cost* (expected): quicksort `2 n ln n - 2.85 n` comparisons
//! (~`1.39 n log2 n`), quickselect at most `3.4 n`; each `64 + ceil(log2 n)`
//! ANDs (`b + ceil(log2 n)` for unsigned keys below `2^b`: [`sort_unsigned`]),
//! plus 125 ANDs per key for A2B (`2b - 3`) and one shuffle.

use crate::circuits::{b2a, bit_decompose, bit_decompose_low, concat, split};
use crate::engine::Engine;
use crate::prefix::Depth;
use crate::shuffle::shuffle;
use crate::{ArithShare, BoolShare, Error, PartyId, Result};

/// Transpose a 64x64 bit matrix in place: bit `c` of `a[r]` becomes bit `r`
/// of `a[c]` (Hacker's Delight, Sec. 7-3, recursive block swaps).
fn transpose64(a: &mut [u64; 64]) {
    let mut j = 32;
    let mut m: u64 = 0x0000_0000_FFFF_FFFF;
    while j != 0 {
        let mut k = 0;
        while k < 64 {
            let t = ((a[k] >> j) ^ a[k + j]) & m;
            a[k] ^= t << j;
            a[k + j] ^= t;
            k = (k + j + 1) & !j;
        }
        j >>= 1;
        m ^= m << j;
    }
}

/// Bit planes `0..nbits` of the words `words[rows[e]]`: plane `k` has bit
/// `e` set iff bit `k` of element `e` is.
fn planes_of(words: &[u64], rows: &[u32], nbits: usize) -> Vec<Vec<u64>> {
    let m = rows.len();
    let blocks = m.div_ceil(64);
    let mut planes = vec![vec![0u64; blocks]; nbits];
    let mut a = [0u64; 64];
    for b in 0..blocks {
        a.fill(0);
        for (l, slot) in a.iter_mut().enumerate() {
            if let Some(&r) = rows.get(64 * b + l) {
                *slot = words[r as usize];
            }
        }
        transpose64(&mut a);
        for (k, p) in planes.iter_mut().enumerate() {
            p[b] = a[k];
        }
    }
    planes
}

/// Words of `n` elements from 64 bit planes of `n` lanes (the inverse of
/// [`planes_of`] on both components).
fn words_of(planes: &[BoolShare], n: usize) -> Result<BoolShare> {
    let blocks = n.div_ceil(64);
    let (mut s0, mut s1) = (vec![0u64; blocks * 64], vec![0u64; blocks * 64]);
    for (out, first) in [(&mut s0, true), (&mut s1, false)] {
        let mut a = [0u64; 64];
        for b in 0..blocks {
            for (k, slot) in a.iter_mut().enumerate() {
                let (c0, c1) = planes.get(k).map_or((&[][..], &[][..]), |p| p.components());
                *slot = *(if first { c0 } else { c1 }).get(b).unwrap_or(&0);
            }
            transpose64(&mut a);
            out[64 * b..64 * b + 64].copy_from_slice(&a);
        }
        out.truncate(n);
    }
    BoolShare::from_components(s0, s1, 64 * n)
}

/// XOR-shared 64-bit words (one per element, 64 lanes each) of arithmetic
/// values: A2B, 125 ANDs per element, 63 rounds.
pub fn arith_to_words<E: Engine>(e: &mut E, x: &ArithShare) -> Result<BoolShare> {
    let bits = bit_decompose(e, x)?;
    words_of(&bits.planes, x.len())
}

/// Arithmetic sharing of XOR-shared words (64 lanes per element): see
/// [`words_to_arith_low`].
pub fn words_to_arith<E: Engine>(e: &mut E, words: &BoolShare) -> Result<ArithShare> {
    words_to_arith_low(e, words, 64)
}

/// Arithmetic sharing of the low `bits` bits of XOR-shared words (64 lanes
/// per element; `1 <= bits <= 64`).
///
/// From 3 bits on, by a 64-bit edaBit `r` (Escudero, Ghosh, Keller, Rachuri,
/// Scholl, CRYPTO'20): `c = x + r mod 2^64` by a boolean adder over the
/// zero-extended `x`, `c` opened (uniform, as `r` is; the open verifies the
/// adder first), and `x = c - r` in the ring: about 190 ANDs (24 B) and an
/// 8-byte open per element instead of `2 bits` injections (16 B each).
pub fn words_to_arith_low<E: Engine>(e: &mut E, words: &BoolShare, bits: u32) -> Result<ArithShare> {
    if !(1..=64).contains(&bits) {
        return Err(Error::InvalidArgument("words_to_arith_low needs 1 <= bits <= 64"));
    }
    let n = words.words();
    if n == 0 {
        return Ok(ArithShare::public(e.session().me(), &[]));
    }
    if bits <= 2 {
        return inject_low(e, words, bits);
    }
    let me = e.session().me();
    let (w0, w1) = words.components();
    let all: Vec<u32> = (0..n as u32).collect();
    let (p0, p1) = (planes_of(w0, &all, bits as usize), planes_of(w1, &all, bits as usize));
    let zero = vec![0u64; n.div_ceil(64)];
    // The low `bits` planes, zero-extended to 64.
    let x = (0..64)
        .map(|k| match (p0.get(k), p1.get(k)) {
            (Some(a), Some(b)) => BoolShare::from_components(a.clone(), b.clone(), n),
            _ => BoolShare::from_components(zero.clone(), zero.clone(), n),
        })
        .collect::<Result<Vec<_>>>()?;
    let r = crate::edabit::edabits(e, n, 64)?;
    let c = crate::prefix::add(e, me, &x, &r.bits, n, Depth::adder(n))?;
    let opened = e.open_bits(&concat(&c.iter().collect::<Vec<_>>())?)?;
    // Planes back to values, 64 elements per 64x64 transpose.
    let blocks = n.div_ceil(64);
    let mut values = vec![0u64; blocks * 64];
    let mut a = [0u64; 64];
    for b in 0..blocks {
        for (k, slot) in a.iter_mut().enumerate() {
            *slot = opened.get(k * blocks + b).copied().unwrap_or(0);
        }
        transpose64(&mut a);
        values[64 * b..64 * b + 64].copy_from_slice(&a);
    }
    values.truncate(n);
    ArithShare::public(me, &values).sub(&r.arith)
}

/// [`words_to_arith_low`] by bit injection (`bits < 64`): `2 bits` multiplications per element.
fn inject_low<E: Engine>(e: &mut E, words: &BoolShare, bits: u32) -> Result<ArithShare> {
    let n = words.words();
    let w = bits as usize;
    let (c0, c1) = words.components();
    let lanes = |c: &[u64]| -> Vec<u64> {
        let mut out = vec![0u64; (n * w).div_ceil(64)];
        for (el, word) in c.iter().enumerate() {
            for k in 0..w {
                let pos = el * w + k;
                out[pos / 64] |= ((word >> k) & 1) << (pos % 64);
            }
        }
        out
    };
    let all = BoolShare::from_components(lanes(c0), lanes(c1), n * w)?;
    let injected = b2a(e, &all)?;
    let (b0, b1) = injected.components();
    let pack = |b: &[u64]| -> Vec<u64> {
        b.chunks_exact(w).map(|c| c.iter().enumerate().fold(0u64, |acc, (k, v)| acc.wrapping_add(v << k))).collect()
    };
    ArithShare::from_components(pack(b0), pack(b1))
}

/// XOR-shared words (one per element, 64 lanes each) of the low `bits` bits
/// of arithmetic values (the upper bits zero): `2 bits - 3` ANDs per element.
pub fn arith_to_words_low<E: Engine>(e: &mut E, x: &ArithShare, bits: u32) -> Result<BoolShare> {
    let planes = bit_decompose_low(e, x, bits)?;
    words_of(&planes.planes, x.len())
}

/// The key order: signed 64-bit words, or unsigned keys below `2^bits`.
#[derive(Clone, Copy)]
enum KeyOrder {
    Signed,
    Unsigned(u32),
}

impl KeyOrder {
    fn bits(self) -> usize {
        match self {
            KeyOrder::Signed => 64,
            KeyOrder::Unsigned(b) => b as usize,
        }
    }
}

/// Shuffled rows: key words, original index words, payload columns.
struct Shuffled {
    cols: Vec<BoolShare>,
    n: usize,
    /// Bits of the original index (`ceil(log2 n)`).
    index_bits: usize,
    order: KeyOrder,
}

fn shuffle_rows<E: Engine>(e: &mut E, keys: &BoolShare, payload: &[BoolShare], order: KeyOrder) -> Result<Shuffled> {
    let n = keys.words();
    if keys.lanes() != 64 * n || payload.iter().any(|p| p.words() != n) {
        return Err(Error::InvalidArgument("keys need one word per element and payload columns as many words"));
    }
    if n > u32::MAX as usize {
        return Err(Error::InvalidArgument("too many elements"));
    }
    let me = e.session().me();
    let index: Vec<u64> = (0..n as u64).collect();
    let mut cols = vec![keys.clone(), BoolShare::public(me, &index, 64 * n)?];
    cols.extend_from_slice(payload);
    let cols = shuffle(e, &cols)?;
    let index_bits = (usize::BITS - n.saturating_sub(1).leading_zeros()) as usize;
    Ok(Shuffled { cols, n, index_bits, order })
}

/// Composite-key planes of the rows `rows`, least significant first: the
/// index bits, then the key bits (signed keys with the sign bit flipped).
fn key_planes(me: PartyId, sh: &Shuffled, rows: &[u32]) -> Result<Vec<BoolShare>> {
    let m = rows.len();
    let kb = sh.order.bits();
    let (k0, k1) = sh.cols[0].components();
    let (i0, i1) = sh.cols[1].components();
    let (ip0, ip1) = (planes_of(i0, rows, sh.index_bits), planes_of(i1, rows, sh.index_bits));
    let (kp0, kp1) = (planes_of(k0, rows, kb), planes_of(k1, rows, kb));
    let mut out = Vec::with_capacity(sh.index_bits + kb);
    for (a, b) in ip0.into_iter().zip(ip1).chain(kp0.into_iter().zip(kp1)) {
        out.push(BoolShare::from_components(a, b, m)?);
    }
    if let (KeyOrder::Signed, Some(sign)) = (sh.order, out.last_mut()) {
        *sign = sign.not(me);
    }
    Ok(out)
}

/// `x < p` lane by lane for composite keys given as planes (least
/// significant first): the borrow of `x - p`,
/// `b_{k+1} = maj(!x_k, p_k, b_k) = ((!x_k ^ b_k) & (p_k ^ b_k)) ^ b_k`.
/// One AND per bit, as many rounds; over few lanes a prefix tree of the
/// generate bits `!x_k & p_k` (one AND round) and propagate bits
/// `!x_k ^ p_k` instead (`1 + ceil(log2 bits)` rounds, about `3 bits` ANDs).
fn less_than<E: Engine>(e: &mut E, x: &[BoolShare], p: &[BoolShare]) -> Result<BoolShare> {
    let lanes = x.first().map_or(0, BoolShare::lanes);
    less_than_with(e, x, p, Depth::comparison(lanes))
}

/// [`less_than`] computed as `depth` says.
fn less_than_with<E: Engine>(e: &mut E, x: &[BoolShare], p: &[BoolShare], depth: Depth) -> Result<BoolShare> {
    let me = e.session().me();
    let (x0, p0) = match (x.first(), p.first()) {
        (Some(a), Some(b)) => (a, b),
        _ => return Err(Error::InvalidArgument("no key bits")),
    };
    let lanes = x0.lanes();
    if depth == Depth::Log && x.len() == p.len() && x.len() > 1 {
        let nx: Vec<BoolShare> = x.iter().map(|xk| xk.not(me)).collect();
        let both = e.and(&concat(&nx.iter().collect::<Vec<_>>())?, &concat(&p.iter().collect::<Vec<_>>())?)?;
        let g = split(&both, x.len(), lanes)?;
        let prop = nx.iter().zip(p).map(|(a, b)| a.xor(b)).collect::<Result<Vec<_>>>()?;
        return crate::prefix::last_carry(e, g, prop, lanes);
    }
    let mut borrow = e.and(&x0.not(me), p0)?;
    for (xk, pk) in x.iter().zip(p).skip(1) {
        let u = xk.not(me).xor(&borrow)?;
        let v = pk.xor(&borrow)?;
        borrow = e.and(&u, &v)?.xor(&borrow)?;
    }
    Ok(borrow)
}

/// Below this many elements, plain quicksort (no sample).
const SAMPLE_FROM: usize = 256;

/// Quicksort / quickselect of the shuffled rows `rows` (kept in shuffled
/// order). Returns `order`: the row at sorted rank `r` is `order[r]` for
/// every wanted rank (all ranks when `wanted` is `None`).
///
/// Pivots come from a sample sorted first (sample sort, Frazer and McKellar,
/// JACM 1970): the first `n / 8` rows when sorting, `sqrt n` when
/// selecting. A segment's pivot is its sample element of median sample
/// rank, so segments halve; sample elements are placed by their known
/// ranks without comparisons; a segment without sample elements takes its
/// first element (uniform, the arrangement being in shuffled order). This
/// cuts the comparisons from `2 n ln n - 2.85 n` (15.1 n at 10^4, measured)
/// to 12.7 n (measured at 10^4; the bound `log2 n!` is 11.8 n), at the price
/// of more levels (54 instead of 33 at 10^4), and from 3.4 n to about 2 n
/// when selecting. Every choice depends only on opened comparisons and
/// shuffled positions.
fn arrange<E: Engine>(e: &mut E, sh: &Shuffled, rows: Vec<u32>, wanted: Option<&[usize]>) -> Result<Vec<u32>> {
    const UNKNOWN: u32 = u32::MAX;
    let me = e.session().me();
    let n = rows.len();
    let samples = match wanted {
        _ if n < SAMPLE_FROM => 0,
        None => n / 8,
        Some(_) => n.isqrt(),
    };
    let mut rank = vec![UNKNOWN; if samples > 0 { sh.n } else { 0 }];
    if samples > 0 {
        for (i, r) in arrange(e, sh, rows[..samples].to_vec(), None)?.into_iter().enumerate() {
            rank[r as usize] = i as u32;
        }
    }
    let rank_of = |r: u32| rank.get(r as usize).copied().unwrap_or(UNKNOWN);
    let mut order = rows;
    let want = |lo: usize, hi: usize| hi - lo >= 2 && wanted.is_none_or(|w| w.iter().any(|&r| lo <= r && r < hi));
    let mut segs: Vec<(usize, usize)> = if want(0, n) { vec![(0, n)] } else { Vec::new() };
    while !segs.is_empty() {
        // Pivot position of each segment, and the comparisons to make.
        let mut pivots = Vec::with_capacity(segs.len());
        let (mut xs, mut ps) = (Vec::new(), Vec::new());
        for &(lo, hi) in &segs {
            let mut known: Vec<(u32, usize)> =
                (lo..hi).filter_map(|k| Some((rank_of(order[k]), k)).filter(|x| x.0 != UNKNOWN)).collect();
            let at = if known.is_empty() {
                lo
            } else {
                let mid = known.len() / 2;
                known.select_nth_unstable(mid).1.1
            };
            pivots.push(at);
            for k in (lo..hi).filter(|&k| k != at && rank_of(order[k]) == UNKNOWN) {
                xs.push(order[k]);
                ps.push(order[at]);
            }
        }
        let bits = if xs.is_empty() {
            Vec::new()
        } else {
            let lt = less_than(e, &key_planes(me, sh, &xs)?, &key_planes(me, sh, &ps)?)?;
            // Verifies every pending AND first.
            e.open_bits(&lt)?
        };
        let bit = |i: usize| (bits[i / 64] >> (i % 64)) & 1 == 1;
        let mut next = Vec::new();
        let mut at = 0;
        for (&(lo, hi), &pos) in segs.iter().zip(&pivots) {
            let pivot = order[pos];
            let (mut left, mut right) = (Vec::new(), Vec::new());
            for k in (lo..hi).filter(|&k| k != pos) {
                let r = order[k];
                let less = match rank_of(r) {
                    UNKNOWN => {
                        at += 1;
                        bit(at - 1)
                    }
                    known => known < rank_of(pivot),
                };
                if less { left.push(r) } else { right.push(r) }
            }
            let mid = lo + left.len();
            order[lo..mid].copy_from_slice(&left);
            order[mid] = pivot;
            order[mid + 1..hi].copy_from_slice(&right);
            for (a, b) in [(lo, mid), (mid + 1, hi)] {
                if want(a, b) {
                    next.push((a, b));
                }
            }
        }
        segs = next;
    }
    Ok(order)
}

/// Rows `rows` of a word column.
fn gather(col: &BoolShare, rows: &[u32]) -> Result<BoolShare> {
    let (a, b) = col.components();
    let pick = |v: &[u64]| rows.iter().map(|&r| v[r as usize]).collect::<Vec<u64>>();
    BoolShare::from_components(pick(a), pick(b), 64 * rows.len())
}

/// Sorted keys (ascending, signed) and the payload columns in the same order,
/// as XOR-shared words (64 lanes per element; [`words_to_arith`] converts).
#[derive(Clone, Debug)]
pub struct Sorted {
    /// The keys in ascending signed order.
    pub keys: BoolShare,
    /// Each payload column, permuted like the keys.
    pub payload: Vec<BoolShare>,
}

/// Sort XOR-shared signed 64-bit keys (one word per element), carrying
/// payload columns (one word per element each). Equal keys keep an order
/// no party learns.
pub fn sort_words<E: Engine>(e: &mut E, keys: &BoolShare, payload: &[BoolShare]) -> Result<Sorted> {
    let sh = shuffle_rows(e, keys, payload, KeyOrder::Signed)?;
    sort_shuffled(e, sh)
}

/// Quicksort of shuffled rows and the columns gathered in sorted order.
fn sort_shuffled<E: Engine>(e: &mut E, sh: Shuffled) -> Result<Sorted> {
    let order = arrange(e, &sh, (0..sh.n as u32).collect(), None)?;
    let mut cols = sh.cols.iter().map(|c| gather(c, &order)).collect::<Result<Vec<_>>>()?.into_iter();
    let keys = cols.next().ok_or(Error::InvalidArgument("no key column"))?;
    Ok(Sorted { keys, payload: cols.skip(1).collect() })
}

/// Sort arithmetic signed 64-bit keys (A2B first), carrying payload columns.
pub fn sort<E: Engine>(e: &mut E, keys: &ArithShare, payload: &[BoolShare]) -> Result<Sorted> {
    let words = arith_to_words(e, keys)?;
    sort_words(e, &words, payload)
}

/// Sort arithmetic keys known to lie in `[0, 2^bits)` (`1 <= bits <= 63`),
/// carrying payload columns: A2B and comparisons over `bits` bits instead of
/// 64 (a key outside the range sorts by its low `bits` bits). The sorted keys
/// come back as words of their low `bits` bits ([`words_to_arith_low`]).
pub fn sort_unsigned<E: Engine>(e: &mut E, keys: &ArithShare, bits: u32, payload: &[BoolShare]) -> Result<Sorted> {
    check_key_bits(bits)?;
    let words = arith_to_words_low(e, keys, bits)?;
    let sh = shuffle_rows(e, &words, payload, KeyOrder::Unsigned(bits))?;
    sort_shuffled(e, sh)
}

/// The elements of ranks `ranks` (0-based, ascending) of arithmetic keys
/// known to lie in `[0, 2^bits)`, as arithmetic shares: [`select`] over
/// `bits` bits.
pub fn select_unsigned<E: Engine>(e: &mut E, keys: &ArithShare, bits: u32, ranks: &[usize]) -> Result<ArithShare> {
    check_key_bits(bits)?;
    let words = arith_to_words_low(e, keys, bits)?;
    let picked = select_shuffled(e, &words, ranks, KeyOrder::Unsigned(bits))?;
    words_to_arith_low(e, &picked, bits)
}

fn check_key_bits(bits: u32) -> Result<()> {
    if (1..=63).contains(&bits) { Ok(()) } else { Err(Error::InvalidArgument("unsigned keys need 1 <= bits <= 63")) }
}

/// The elements of ranks `ranks` (0-based, ascending signed order) of
/// XOR-shared keys, as XOR-shared words, by quickselect.
pub fn select_words<E: Engine>(e: &mut E, keys: &BoolShare, ranks: &[usize]) -> Result<BoolShare> {
    select_shuffled(e, keys, ranks, KeyOrder::Signed)
}

fn select_shuffled<E: Engine>(e: &mut E, keys: &BoolShare, ranks: &[usize], order: KeyOrder) -> Result<BoolShare> {
    let n = keys.words();
    if ranks.iter().any(|&r| r >= n) {
        return Err(Error::InvalidArgument("rank out of range"));
    }
    let sh = shuffle_rows(e, keys, &[], order)?;
    let order = arrange(e, &sh, (0..sh.n as u32).collect(), Some(ranks))?;
    let rows: Vec<u32> = ranks.iter().map(|&r| order[r]).collect();
    gather(&sh.cols[0], &rows)
}

/// The elements of ranks `ranks` (0-based, ascending signed order) of
/// arithmetic keys, as arithmetic shares: A2B, quickselect, bit injection
/// of the selected words.
pub fn select<E: Engine>(e: &mut E, keys: &ArithShare, ranks: &[usize]) -> Result<ArithShare> {
    let words = arith_to_words(e, keys)?;
    let picked = select_words(e, &words, ranks)?;
    words_to_arith(e, &picked)
}

/// The lower median: rank `(n - 1) / 2`.
pub fn median<E: Engine>(e: &mut E, keys: &ArithShare) -> Result<ArithShare> {
    if keys.is_empty() {
        return Err(Error::InvalidArgument("median of nothing"));
    }
    select(e, keys, &[(keys.len() - 1) / 2])
}

/// Rank of the nearest-rank percentile `p` (0..=100) of `n` elements:
/// `max(ceil(p n / 100), 1) - 1`.
pub fn percentile_rank(p: u32, n: usize) -> Result<usize> {
    if p > 100 || n == 0 {
        return Err(Error::InvalidArgument("percentile needs 0 <= p <= 100 and elements"));
    }
    Ok((p as usize * n).div_ceil(100).max(1) - 1)
}

/// Nearest-rank percentiles `ps` (each 0..=100), one quickselect for all.
pub fn percentiles<E: Engine>(e: &mut E, keys: &ArithShare, ps: &[u32]) -> Result<ArithShare> {
    let ranks = ps.iter().map(|&p| percentile_rank(p, keys.len())).collect::<Result<Vec<_>>>()?;
    select(e, keys, &ranks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose64_moves_bit_c_of_row_r_to_bit_r_of_row_c() {
        let mut a = [0u64; 64];
        for (r, x) in a.iter_mut().enumerate() {
            *x = 0x9e37_79b9_7f4a_7c15u64.rotate_left(r as u32) ^ (r as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        }
        let orig = a;
        transpose64(&mut a);
        for (r, row) in orig.iter().enumerate() {
            for (c, col) in a.iter().enumerate() {
                assert_eq!((col >> r) & 1, (row >> c) & 1, "r={r} c={c}");
            }
        }
    }

    #[test]
    fn planes_of_gathers_rows() {
        let words = [5u64, 1 << 63, u64::MAX, 0];
        let p = planes_of(&words, &[2, 0, 1], 64);
        assert_eq!(p[0][0], 0b011);
        assert_eq!(p[2][0], 0b011);
        assert_eq!(p[63][0], 0b101);
        assert_eq!(p[1][0], 0b001);
    }

    #[test]
    fn percentile_ranks_are_nearest_rank() {
        assert_eq!(percentile_rank(0, 10), Ok(0));
        assert_eq!(percentile_rank(50, 10), Ok(4));
        assert_eq!(percentile_rank(100, 10), Ok(9));
        assert_eq!(percentile_rank(1, 1000), Ok(9));
        assert!(percentile_rank(101, 10).is_err());
    }

    #[test]
    fn both_comparators_agree_with_plaintext() {
        use crate::harness::run3;
        // Lanes: pairs of composite keys over 12 bits, with ties and extremes.
        let xs: Vec<u64> = (0..150u64).map(|i| (i * 2654435761) % 4096).chain([0, 4095, 7, 7]).collect();
        let ps: Vec<u64> = (0..150u64).map(|i| (i * 40503 + 17) % 4096).chain([4095, 0, 7, 8]).collect();
        let n = xs.len();
        let plane = |v: &[u64], k: usize| -> Vec<u64> {
            let mut p = vec![0u64; v.len().div_ceil(64)];
            for (l, x) in v.iter().enumerate() {
                p[l / 64] |= ((x >> k) & 1) << (l % 64);
            }
            p
        };
        for depth in [Depth::Ripple, Depth::Log] {
            let (x2, p2) = (xs.clone(), ps.clone());
            let [r, _, _] = run3(None, move |pt| {
                let xp = (0..12).map(|k| pt.share_public_bits(&plane(&x2, k), n)).collect::<Result<Vec<_>>>()?;
                let pp = (0..12).map(|k| pt.share_public_bits(&plane(&p2, k), n)).collect::<Result<Vec<_>>>()?;
                let lt = less_than_with(pt, &xp, &pp, depth)?;
                pt.open_bits(&lt)
            });
            let bits = r.expect("party 0");
            for l in 0..n {
                assert_eq!((bits[l / 64] >> (l % 64)) & 1 == 1, xs[l] < ps[l], "{depth:?} lane {l}");
            }
        }
    }
}
