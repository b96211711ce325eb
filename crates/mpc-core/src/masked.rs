//! Online comparisons and truncations on preprocessed masks ([`crate::edabit`]):
//! open `x + r` for a mask `r` nobody knows, then finish on the public value
//! and the mask's shared bits.
//!
//! * LTZ / EQZ with a 64-bit edaBit (Rabbit, Makri et al., CANS'21, ePrint
//!   2021/119; EGKRS20, ePrint 2020/338, Sec. 5; `docs/protocols/mpc-core.md`
//!   §6.2): open
//!   `c = x + r mod 2^64` (perfectly hiding: `r` is uniform on Z_2^64), so
//!   `x = c - r`. Its sign bit is `c_63 ^ r_63 ^ borrow_63(c - r)`: a borrow
//!   chain with one public operand costs one AND per bit (62 ANDs, 62 rounds).
//!   `x = 0` iff `c = r`: the AND of the 64 bits `!(c_j ^ r_j)` (63 ANDs, 6
//!   rounds).
//! * TruncPr with a [`TruncMask`] (Dalskov, Escudero, Keller, ePrint 2019/131,
//!   Sec. 4; MP-SPDZ `TruncPrRing`): open `(x + 2^(k-1) + r) mod 2^(k+1)`,
//!   one round, 8 B per element ([`trunc_pr_with`]; [`trunc_pr`] makes the
//!   mask on demand).
//! * Exact truncation: TruncPr's error is the borrow of the low `m` bits,
//!   `[c mod 2^m < r mod 2^m]`; a borrow chain on the mask's low bits
//!   (`m - 1` ANDs) and one bit injection remove it (the comparison correction
//!   of Catrina and de Hoogh, ESORICS'10, `Trunc` from `TruncPr` and `Mod2m`;
//!   MP-SPDZ `TruncRing` computes the same carry by local conversion).
//!
//! A mask is consumed by one call: it must never be used twice (the opened
//! value would reveal the difference of two inputs).
//!
//! The name says what these protocols share: each opens its input masked by
//! a preprocessed random value. It stays `masked` rather than, say, `online`:
//! the stockpile, fixed point, the benches and the tests call it by this
//! name, and a rename would move every caller without saying more.

use crate::circuits::{and_all, b2a, transpose};
use crate::edabit::{EdaBits, TruncMask, check_trunc_params};
use crate::engine::Engine;
use crate::prefix::Depth;
use crate::{ArithShare, BoolShare, Error, PartyId, Result};

fn same_len(a: usize, b: usize) -> Result<()> {
    if a == b { Ok(()) } else { Err(Error::InvalidArgument("mask and input lengths differ")) }
}

fn full_width(r: &EdaBits, n: usize) -> Result<()> {
    same_len(r.len(), n)?;
    if r.width() == 64 { Ok(()) } else { Err(Error::InvalidArgument("LTZ/EQZ need 64-bit edaBits")) }
}

/// `!w` word by word: the lanes where a public bit plane is 0.
fn not_words(w: &[u64]) -> Vec<u64> {
    w.iter().map(|v| !v).collect()
}

/// The borrow into bit `upto` of `c - r` for public `c` (bit planes `c_planes`)
/// and shared bits `r_bits`: `borrow_{j+1} = maj(!c_j, r_j, borrow_j)`, which
/// is `r_j & borrow_j` where `c_j = 1` and `r_j | borrow_j` where `c_j = 0`,
/// i.e. `((r_j ^ m) & (borrow_j ^ m)) ^ m` with the public lane mask
/// `m = !c_j`: one AND per bit from bit 1 on (`upto - 1` ANDs, as many rounds).
/// Over few lanes the generate and propagate bits `m & r_j`, `m ^ r_j` (local)
/// go through a prefix tree instead (`ceil(log2 upto)` rounds, about
/// `2 upto` ANDs).
fn borrow_chain<E: Engine>(
    e: &mut E,
    me: PartyId,
    c_planes: &[Vec<u64>],
    r_bits: &[BoolShare],
    upto: usize,
) -> Result<BoolShare> {
    let lanes = r_bits.first().map_or(0, BoolShare::lanes);
    borrow_chain_with(e, me, c_planes, r_bits, upto, Depth::borrow(lanes))
}

/// [`borrow_chain`] computed as `depth` says.
pub(crate) fn borrow_chain_with<E: Engine>(
    e: &mut E,
    me: PartyId,
    c_planes: &[Vec<u64>],
    r_bits: &[BoolShare],
    upto: usize,
    depth: Depth,
) -> Result<BoolShare> {
    if let Some(first) = r_bits.first()
        && depth == Depth::Log
    {
        let mut g = Vec::with_capacity(upto);
        let mut p = Vec::with_capacity(upto);
        for j in 0..upto {
            let m = not_words(&c_planes[j]);
            g.push(r_bits[j].and_public(&m)?);
            p.push(r_bits[j].xor_public(me, &m)?);
        }
        return crate::prefix::last_carry(e, g, p, first.lanes());
    }
    let m0 = not_words(&c_planes[0]);
    let mut borrow = r_bits[0].and_public(&m0)?;
    for j in 1..upto {
        let m = not_words(&c_planes[j]);
        let x = r_bits[j].xor_public(me, &m)?;
        let y = borrow.xor_public(me, &m)?;
        borrow = e.and(&x, &y)?.xor_public(me, &m)?;
    }
    Ok(borrow)
}

/// Open `c = x + r` for 64-bit edaBits `r` (one per element): the bit planes
/// of `c`. Perfectly hiding: `r` is uniform on Z_2^64 and unknown to everyone.
fn open_masked<E: Engine>(e: &mut E, x: &ArithShare, r: &EdaBits) -> Result<Vec<Vec<u64>>> {
    full_width(r, x.len())?;
    let c = e.open(&x.add(&r.arith)?)?;
    Ok(transpose(&c))
}

/// `x < 0` (signed 64-bit), boolean, consuming the 64-bit edaBits `r` (one per
/// element): one open and 62 ANDs.
pub fn ltz_with<E: Engine>(e: &mut E, x: &ArithShare, r: EdaBits) -> Result<BoolShare> {
    let me = e.session().me();
    let cp = open_masked(e, x, &r)?;
    let borrow = borrow_chain(e, me, &cp, &r.bits, 63)?;
    r.bits[63].xor(&borrow)?.xor_public(me, &cp[63])
}

/// `x == 0`, boolean, consuming the 64-bit edaBits `r`: one open and 63 ANDs
/// in 6 rounds.
pub fn eqz_with<E: Engine>(e: &mut E, x: &ArithShare, r: EdaBits) -> Result<BoolShare> {
    let me = e.session().me();
    let cp = open_masked(e, x, &r)?;
    let same =
        r.bits.iter().zip(&cp).map(|(rj, cj)| rj.xor_public(me, &not_words(cj))).collect::<Result<Vec<BoolShare>>>()?;
    and_all(e, same, x.len())
}

/// The opened `c = (x + 2^(k-1) + r) mod 2^(k+1)` and
/// `floor(x' / 2^m) + gamma`, `x' = x + 2^(k-1)`, `gamma = [c mod 2^m < r mod 2^m]`.
fn trunc_open<E: Engine>(e: &mut E, x: &ArithShare, mask: &TruncMask) -> Result<(Vec<u64>, ArithShare)> {
    let (k, m) = (mask.k, mask.m);
    check_trunc_params(k, m)?;
    let n = x.len();
    same_len(mask.len(), n)?;
    let me = e.session().me();
    // Open 2^(63-k) (x' + r): its top k+1 bits are (x' + r) mod 2^(k+1), uniform
    // because r is uniform on [0, 2^(k+1)); nothing else is revealed.
    let shift = 63 - k;
    let masked = x.add_public(me, &vec![1u64 << (k - 1); n])?.add(&mask.r)?.scale(1u64 << shift);
    let opened = e.open(&masked)?;
    let mut c = Vec::with_capacity(n);
    let mut public = Vec::with_capacity(n);
    let mut wrap_coef = Vec::with_capacity(n);
    for &v in &opened {
        let ck = v >> shift; // < 2^(k+1)
        c.push(ck);
        // floor(c / 2^m) - 2^(k-1-m) (the offset of x').
        public.push((ck >> m).wrapping_sub(1u64 << (k - 1 - m)));
        // x' + r wrapped past 2^(k+1) iff r_k = 1 and c_k = 0 (x' < 2^k):
        // + 2^(k+1-m) [wrap], [wrap] = (1 - c_k) [r_k].
        wrap_coef.push((1 - ((ck >> k) & 1)) << (k + 1 - m));
    }
    let out = mask.r_hi.neg().add(&mask.r_top.mul_public(&wrap_coef)?)?.add_public(me, &public)?;
    Ok((c, out))
}

/// Probabilistic truncation `TruncPr(x, k, m)` on a preprocessed mask: for
/// signed `|x| < 2^(k-1)`, `floor(x / 2^m) + e`, `e` in `{0, 1}`,
/// `Pr[e = 1] = (x mod 2^m) / 2^m`. One open (8 B per element, one round).
///
/// Writing `x' = x + 2^(k-1) = 2^m x_hi + x_lo` and likewise `r` and the opened
/// `c`: `x_lo + r_lo = c_lo + 2^m gamma` and
/// `x_hi = c_hi - r_hi + 2^(k+1-m) wrap - gamma`. The output omits `gamma`.
/// See `docs/protocols/mpc-core.md` §6.2 on what the data-dependent `e`
/// reveals when an output is opened (ePrint 2023/909, 2024/1127).
pub fn trunc_pr_with<E: Engine>(e: &mut E, x: &ArithShare, mask: &TruncMask) -> Result<ArithShare> {
    trunc_open(e, x, mask).map(|(_, out)| out)
}

/// Probabilistic truncation `TruncPr(x, k, m)`: for signed `|x| < 2^(k-1)`,
/// returns `floor(x / 2^m) + e` with `e` in `{0, 1}` and
/// `Pr[e = 1] = (x mod 2^m) / 2^m` (Dalskov, Escudero, Keller, ePrint 2019/131,
/// Sec. 4 / MP-SPDZ `TruncPrRing`; Catrina–Saxena FC'10 over fields). Needs
/// `0 < m < k <= 62`.
///
/// The mask (`r` uniform on `[0, 2^(k+1))`, `[floor(r / 2^m)]`, `[r_k]`) is
/// made on demand from two edaBits ([`crate::edabit::trunc_masks`]: `2k` ANDs
/// and 10 multiplications per element, proven before use); the online step is
/// [`trunc_pr_with`] (one open, 8 B per element). A driver with
/// a [`crate::stock::Stockpile`] takes the mask from stock instead. Same
/// semantics as the earlier version, whose mask cost `k + 1` bit injections.
///
/// ePrint 2023/909 reports that this family of truncations does not realise
/// a deterministic-error functionality: `e` depends on `x mod 2^m`; see
/// `docs/protocols/mpc-core.md` §6.2 before opening a truncated value.
pub fn trunc_pr<E: Engine>(e: &mut E, x: &ArithShare, k: u32, m: u32) -> Result<ArithShare> {
    let mask = crate::edabit::trunc_masks(e, x.len(), k, m)?;
    trunc_pr_with(e, x, &mask)
}

/// Exact truncation `floor(x / 2^m)` for signed `|x| < 2^(k-1)` on a
/// preprocessed mask: [`trunc_pr_with`] minus
/// `gamma = [c mod 2^m < r mod 2^m]`, from the mask's low bits (a borrow chain,
/// `m - 1` ANDs) and one bit injection (2 multiplications).
pub fn trunc_with<E: Engine>(e: &mut E, x: &ArithShare, mask: &TruncMask) -> Result<ArithShare> {
    let me = e.session().me();
    let (c, approx) = trunc_open(e, x, mask)?;
    let cp = transpose(&c);
    let gamma = borrow_chain(e, me, &cp, &mask.lo_bits, mask.m as usize)?;
    approx.sub(&b2a(e, &gamma)?)
}

/// Exact truncation with a mask made on demand ([`crate::edabit::trunc_masks`]).
pub fn trunc<E: Engine>(e: &mut E, x: &ArithShare, k: u32, m: u32) -> Result<ArithShare> {
    let mask = crate::edabit::trunc_masks(e, x.len(), k, m)?;
    trunc_with(e, x, &mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::run3;

    #[test]
    fn both_borrow_chains_compare_like_plaintext() {
        // borrow into bit `upto` of c - r: [c mod 2^upto < r mod 2^upto].
        let n = 140;
        let cs: Vec<u64> = (0..n as u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).collect();
        let rs: Vec<u64> = (0..n as u64)
            .map(|i| if i % 7 == 0 { cs[i as usize] } else { i.wrapping_mul(0xc2b2_ae3d_27d4_eb4f) })
            .collect();
        for upto in [1usize, 2, 5, 28, 63] {
            for depth in [Depth::Ripple, Depth::Log] {
                let (c2, r2) = (cs.clone(), rs.clone());
                let [out, _, _] = run3(None, move |pt| {
                    let me = pt.me();
                    let cp = transpose(&c2);
                    let rp = transpose(&r2);
                    let bits = (0..upto).map(|k| pt.share_public_bits(&rp[k], n)).collect::<Result<Vec<_>>>()?;
                    let b = borrow_chain_with(pt, me, &cp, &bits, upto, depth)?;
                    pt.open_bits(&b)
                });
                let got = out.expect("party 0");
                let mask = if upto == 64 { u64::MAX } else { (1u64 << upto) - 1 };
                for l in 0..n {
                    let want = cs[l] & mask < rs[l] & mask;
                    assert_eq!((got[l / 64] >> (l % 64)) & 1 == 1, want, "upto={upto} {depth:?} lane {l}");
                }
            }
        }
    }
}
