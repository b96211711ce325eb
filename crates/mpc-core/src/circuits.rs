//! Non-linear building blocks composed from verified gates: bit injection,
//! bit decomposition (A2B by local share conversion and an adder), LTZ and
//! equality with zero. They are written against the [`Engine`] trait
//! ([`crate::engine`]), so the in-memory harness and a networked driver run
//! the same code. Probabilistic truncation is with the other protocols on
//! masks ([`crate::masked::trunc_pr`]).
//!
//! A2B by local conversion (ABY3, CCS'18, ePrint 2018/403, Sec. 5.3; Araki et
//! al., ePrint 2018/762): each arithmetic component `x_j` is held by two
//! parties, so its bits are a trivial boolean sharing; `x_0 + x_1 + x_2` is
//! then computed in binary: one full-adder layer (carry-save, 63 ANDs, one
//! round) and a ripple-carry adder (62 ANDs, 62 rounds). Every AND is logged
//! and proven like any other, which is what makes the conversion safe against
//! a malicious party (`docs/protocols/mpc-core.md` §6).

use crate::engine::Engine;
use crate::prefix::{Depth, add_doubled};
use crate::{ArithShare, BoolShare, Result};

/// Bit injection: one arithmetic element (0 or 1) per lane of `x`. Two
/// rounds, two verified multiplications per bit (`a ^ c = a + c - 2ac` on
/// the three trivially shared components).
pub fn b2a<E: Engine>(e: &mut E, x: &BoolShare) -> Result<ArithShare> {
    let me = e.session().me();
    let [b0, b1, b2] = x.bit_components(me);
    let p01 = e.mul(&b0, &b1)?;
    let t = b0.add(&b1)?.sub(&p01.scale(2))?;
    let p = e.mul(&t, &b2)?;
    t.add(&b2)?.sub(&p.scale(2))
}

/// The bits of a vector of 64-bit values: `planes[k]` holds bit `k` of every
/// element, one lane per element.
#[derive(Clone, Debug)]
pub struct BitPlanes {
    /// 64 planes, least significant first.
    pub planes: Vec<BoolShare>,
}

/// Concatenate planes into one sharing (lanes padded to whole words).
pub(crate) fn concat(parts: &[&BoolShare]) -> Result<BoolShare> {
    let mut s0 = Vec::new();
    let mut s1 = Vec::new();
    for p in parts {
        let (a, b) = p.components();
        s0.extend_from_slice(a);
        s1.extend_from_slice(b);
    }
    let lanes = 64 * s0.len();
    BoolShare::from_components(s0, s1, lanes)
}

/// Split a concatenation back into `k` sharings of `lanes` lanes each.
pub(crate) fn split(x: &BoolShare, k: usize, lanes: usize) -> Result<Vec<BoolShare>> {
    let w = lanes.div_ceil(64);
    let (a, b) = x.components();
    (0..k)
        .map(|i| BoolShare::from_components(a[i * w..(i + 1) * w].to_vec(), b[i * w..(i + 1) * w].to_vec(), lanes))
        .collect()
}

/// Transpose `values` into 64 bit-sliced planes.
pub(crate) fn transpose(values: &[u64]) -> Vec<Vec<u64>> {
    let words = values.len().div_ceil(64);
    let mut planes = vec![vec![0u64; words]; 64];
    for (v, &x) in values.iter().enumerate() {
        let (w, l) = (v / 64, v % 64);
        let mut x = x;
        while x != 0 {
            let k = x.trailing_zeros() as usize;
            planes[k][w] |= 1 << l;
            x &= x - 1;
        }
    }
    planes
}

/// Local step of A2B: the trivial boolean sharings of the low `width` bits of
/// the three arithmetic components (no communication).
pub(crate) fn component_planes(me: crate::PartyId, x: &ArithShare, width: usize) -> Result<[Vec<BoolShare>; 3]> {
    let n = x.len();
    let (c0, c1) = x.components();
    let (p0, p1) = (transpose(c0), transpose(c1));
    let zero = vec![0u64; n.div_ceil(64)];
    let i = me.index();
    let mut out: [Vec<BoolShare>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for (j, o) in out.iter_mut().enumerate() {
        for k in 0..width {
            let (s0, s1) = if j == i {
                (p0[k].clone(), zero.clone())
            } else if j == (i + 1) % 3 {
                (zero.clone(), p1[k].clone())
            } else {
                (zero.clone(), zero.clone())
            };
            o.push(BoolShare::from_components(s0, s1, n)?);
        }
    }
    Ok(out)
}

/// Carry-save layer over `w = a.len()` bits: `(s, t)` with
/// `a + b + c = s + 2t`, `s = a ^ b ^ c`,
/// `t = maj(a, b, c) = ((a ^ c) & (b ^ c)) ^ c`, one AND per bit of `t` in
/// one round. Without `keep_top` bit `w - 1` of `t` (shifted out of a sum
/// mod `2^w`) is not computed.
pub(crate) fn carry_save<E: Engine>(
    e: &mut E,
    a: &[BoolShare],
    b: &[BoolShare],
    c: &[BoolShare],
    n: usize,
    keep_top: bool,
) -> Result<(Vec<BoolShare>, Vec<BoolShare>)> {
    let w = a.len();
    let tw = if keep_top { w } else { w.saturating_sub(1) };
    let mut s = Vec::with_capacity(w);
    let mut ac = Vec::with_capacity(tw);
    let mut bc = Vec::with_capacity(tw);
    for k in 0..w {
        s.push(a[k].xor(&b[k])?.xor(&c[k])?);
        if k < tw {
            ac.push(a[k].xor(&c[k])?);
            bc.push(b[k].xor(&c[k])?);
        }
    }
    if ac.is_empty() {
        return Ok((s, Vec::new()));
    }
    let prod = e.and(&concat(&ac.iter().collect::<Vec<_>>())?, &concat(&bc.iter().collect::<Vec<_>>())?)?;
    let t = split(&prod, tw, n)?.iter().zip(c).map(|(p, ck)| p.xor(ck)).collect::<Result<Vec<_>>>()?;
    Ok((s, t))
}

/// Bit decomposition (A2B): the 64 bits of every element of `x`.
/// 125 ANDs per element in 63 rounds (a carry-save layer, then `s + 2t` by
/// ripple carry: 62 ANDs); over at most `prefix::LOG_DEPTH_LANES` elements
/// the carries come from a parallel prefix instead (8 rounds).
pub fn bit_decompose<E: Engine>(e: &mut E, x: &ArithShare) -> Result<BitPlanes> {
    bit_decompose_low(e, x, 64)
}

/// The low `bits` bits of every element of `x` (`1 <= bits <= 64`): the
/// low bits of a sum depend only on the low bits of its terms, so this is
/// [`bit_decompose`] over `bits` bits, `2 bits - 3` ANDs per element in
/// `bits - 1` rounds (fewer rounds over few elements). For `0 <= x <
/// 2^bits` these are all of its bits.
pub fn bit_decompose_low<E: Engine>(e: &mut E, x: &ArithShare, bits: u32) -> Result<BitPlanes> {
    if !(1..=64).contains(&bits) {
        return Err(crate::Error::InvalidArgument("bit_decompose_low needs 1 <= bits <= 64"));
    }
    let me = e.session().me();
    let n = x.len();
    let [a, b, c] = component_planes(me, x, bits as usize)?;
    let (s, t) = carry_save(e, &a, &b, &c, n, false)?;
    Ok(BitPlanes { planes: add_doubled(e, me, &s, &t, n, false, Depth::adder(n))?.0 })
}

/// `x < 0` as a signed 64-bit value (the most significant bit), boolean.
/// Compare `x < y` as `ltz(x - y)` when `|x - y| < 2^63`.
pub fn ltz<E: Engine>(e: &mut E, x: &ArithShare) -> Result<BoolShare> {
    let mut bits = bit_decompose(e, x)?;
    bits.planes.pop().ok_or(crate::Error::InvalidArgument("no bits"))
}

/// `x == 0`, boolean: NOT of the OR of all bits (an AND tree over the
/// negated bits, 63 ANDs, 6 rounds) after [`bit_decompose`].
pub fn eqz<E: Engine>(e: &mut E, x: &ArithShare) -> Result<BoolShare> {
    let me = e.session().me();
    let n = x.len();
    let bits = bit_decompose(e, x)?;
    and_all(e, bits.planes.iter().map(|b| b.not(me)).collect(), n)
}

/// The AND of all `level` sharings of `n` lanes each: a tree, `len - 1`
/// ANDs per lane in `ceil(log2(len))` rounds.
pub(crate) fn and_all<E: Engine>(e: &mut E, mut level: Vec<BoolShare>, n: usize) -> Result<BoolShare> {
    while level.len() > 1 {
        let half = level.len() / 2;
        let left: Vec<&BoolShare> = level[..half].iter().collect();
        let right: Vec<&BoolShare> = level[half..2 * half].iter().collect();
        let prod = e.and(&concat(&left)?, &concat(&right)?)?;
        let mut next = split(&prod, half, n)?;
        if level.len() % 2 == 1
            && let Some(last) = level.last()
        {
            next.push(last.clone());
        }
        level = next;
    }
    level.pop().ok_or(crate::Error::InvalidArgument("no bits"))
}

/// Random bits shared arithmetically: `count` sharings of `n` elements each
/// in `{0, 1}` (free random boolean bits, then bit injection: 16 B per bit).
/// This is preprocessing: it can run ahead of the online phase.
pub fn random_arith_bits<E: Engine>(e: &mut E, count: usize, n: usize) -> Result<Vec<ArithShare>> {
    let bits = e.session().random_bits(count * n);
    let a = b2a(e, &bits)?;
    let (c0, c1) = a.components();
    (0..count)
        .map(|i| ArithShare::from_components(c0[i * n..(i + 1) * n].to_vec(), c1[i * n..(i + 1) * n].to_vec()))
        .collect()
}
