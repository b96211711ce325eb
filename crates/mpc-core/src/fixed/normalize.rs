//! Normalisation of a non-negative secret: the power of two bringing it into
//! `[0.5, 1)` (Catrina–Saxena FC'10, protocol `Norm`; MP-SPDZ
//! `floatingpoint.py`/`mpc_math.py` `Norm`), from the bit decomposition and a
//! prefix-OR.
//!
//! For `0 < X < 2^L` with most significant bit `m`, the one-hot vector
//! `z_i = [i == m]` is `y_i ^ y_{i+1}` where `y_i = OR_{j >= i} x_j` is a
//! suffix OR of the bits. Any public function `g(m)` then has binary digits
//! that are XORs of the `z_i` (local), so `2^g(m)` costs the injection of
//! `ceil(log2(max g + 1))` digits and a product tree over them, instead of
//! injecting all `L` one-hot bits (16 B each) as a field-based `Norm` does.
//!
//! Costs per element: A2B of the low `L` bits (`2L - 3` ANDs), suffix OR by a
//! Hillis–Steele scan (`sum_d (L - d)` ANDs for `d = 1, 2, 4, ..`: 309 for
//! `L = 62`, 6 rounds), bit injection of the digits and of the non-zero flag
//! (2 multiplications each, 2 rounds), a product tree (one multiplication per
//! digit, `ceil(log2(digits + 1))` rounds) and `X * v` (one multiplication).

use crate::circuits::{b2a, bit_decompose_low, concat, split};
use crate::engine::Engine;
use crate::fixed::{cat, constant, uncat};
use crate::{ArithShare, BoolShare, Error, PartyId, Result};

/// `X` normalised: `scaled = X * v` with `v = 2^(L-1-m)`, in
/// `[2^(L-1), 2^L)`; for `X = 0`, `scaled = 2^(L-1)` (a harmless stand-in,
/// callers zero their outputs with `nonzero`).
pub(crate) struct Normalized {
    /// `X * 2^(L-1-m)`, or `2^(L-1)` if `X = 0`.
    pub(crate) scaled: ArithShare,
    /// `2^(L-1-m) * [X != 0]`.
    pub(crate) v: ArithShare,
    /// `z_i = [m == i]`, `i < L` (all zero if `X = 0`).
    pub(crate) onehot: Vec<BoolShare>,
    /// `[X != 0]`, arithmetic.
    pub(crate) nonzero: ArithShare,
}

/// Normalise `x`, `0 <= X < 2^bits`, `2 <= bits <= 62`. Bits at or above
/// `bits` are ignored, so a larger or negative `X` gives a wrong (but not
/// revealed) result.
pub(crate) fn normalize<E: Engine>(e: &mut E, x: &ArithShare, bits: u32) -> Result<Normalized> {
    if !(2..=62).contains(&bits) {
        return Err(Error::InvalidArgument("normalize needs 2 <= bits <= 62"));
    }
    let me = e.session().me();
    let (n, l) = (x.len(), bits as usize);
    // Only the low `bits` bits are read: an A2B over those bits alone.
    let planes = bit_decompose_low(e, x, bits)?.planes;
    let onehot = one_hot_msb(e, &planes[..l], n)?;
    // nonzero = OR of all bits = XOR of the one-hot bits (at most one is set).
    let nonzero = xor_where(me, &onehot, n, |_| true)?;
    let digits = exponent_digits(me, &onehot, n, |i| (l - 1 - i) as u32)?;
    let mut to_inject = digits;
    to_inject.push(nonzero);
    let mut inj = inject(e, &to_inject)?;
    let nz = inj.pop().ok_or(Error::InvalidArgument("no bits"))?;
    let v = pow2_from_digits(e, &inj, Some(&nz))?;
    // X v, plus 2^(L-1) (1 - nz) so that the stand-in for 0 is 0.5.
    let half = 1u64 << (l - 1);
    let scaled = e.mul(x, &v)?.add(&constant(me, half, n))?.sub(&nz.scale(half))?;
    Ok(Normalized { scaled, v, onehot, nonzero: nz })
}

/// `z_i = [i == msb]` from bit planes `x_0..x_{L-1}`: the suffix AND of the
/// negated bits `a_i = AND_{j >= i} !x_j` (a Hillis–Steele scan), then
/// `z_i = a_i ^ a_{i+1}` with `a_L = 1`.
fn one_hot_msb<E: Engine>(e: &mut E, planes: &[BoolShare], n: usize) -> Result<Vec<BoolShare>> {
    let me = e.session().me();
    let l = planes.len();
    let mut a: Vec<BoolShare> = planes.iter().map(|p| p.not(me)).collect();
    let mut d = 1;
    while d < l {
        let left: Vec<&BoolShare> = a[..l - d].iter().collect();
        let right: Vec<&BoolShare> = a[d..].iter().collect();
        let prod = e.and(&concat(&left)?, &concat(&right)?)?;
        for (i, p) in split(&prod, l - d, n)?.into_iter().enumerate() {
            a[i] = p;
        }
        d *= 2;
    }
    let mut z = Vec::with_capacity(l);
    for i in 0..l {
        z.push(match a.get(i + 1) {
            Some(next) => a[i].xor(next)?,
            None => a[i].not(me),
        });
    }
    Ok(z)
}

/// XOR of the one-hot bits `z_i` with `pick(i)`: the boolean value of
/// `pick(msb)` (0 when no bit is set).
pub(crate) fn xor_where(
    me: PartyId,
    onehot: &[BoolShare],
    n: usize,
    pick: impl Fn(usize) -> bool,
) -> Result<BoolShare> {
    let mut acc = BoolShare::public(me, &vec![0u64; n.div_ceil(64)], n)?;
    for (i, z) in onehot.iter().enumerate() {
        if pick(i) {
            acc = acc.xor(z)?;
        }
    }
    Ok(acc)
}

/// The binary digits of `g(msb)` (all zero when no bit is set), least
/// significant first; local.
pub(crate) fn exponent_digits(
    me: PartyId,
    onehot: &[BoolShare],
    n: usize,
    g: impl Fn(usize) -> u32,
) -> Result<Vec<BoolShare>> {
    let max = (0..onehot.len()).map(&g).max().unwrap_or(0);
    let count = (32 - max.leading_zeros()) as usize;
    (0..count).map(|j| xor_where(me, onehot, n, |i| (g(i) >> j) & 1 == 1)).collect()
}

/// Bit injection of several one-lane-per-element sharings in one batch
/// (lanes packed back to back, so no padding is injected).
pub(crate) fn inject<E: Engine>(e: &mut E, parts: &[BoolShare]) -> Result<Vec<ArithShare>> {
    let Some(first) = parts.first() else { return Ok(Vec::new()) };
    let n = first.lanes();
    let total = n * parts.len();
    let mut s0 = vec![0u64; total.div_ceil(64)];
    let mut s1 = vec![0u64; total.div_ceil(64)];
    for (j, p) in parts.iter().enumerate() {
        if p.lanes() != n {
            return Err(Error::InvalidArgument("inject: lane counts differ"));
        }
        let (a, b) = p.components();
        for l in 0..n {
            let pos = j * n + l;
            s0[pos / 64] |= ((a[l / 64] >> (l % 64)) & 1) << (pos % 64);
            s1[pos / 64] |= ((b[l / 64] >> (l % 64)) & 1) << (pos % 64);
        }
    }
    let packed = BoolShare::from_components(s0, s1, total)?;
    uncat(&b2a(e, &packed)?, parts.len())
}

/// `gate * prod_j (1 + (2^(2^j) - 1) d_j) = gate * 2^(sum_j 2^j d_j)` for
/// arithmetic digits `d_j` (exponent below 64): a product tree, one
/// multiplication per factor beyond the first, `ceil(log2 factors)` rounds.
pub(crate) fn pow2_from_digits<E: Engine>(
    e: &mut E,
    digits: &[ArithShare],
    gate: Option<&ArithShare>,
) -> Result<ArithShare> {
    let me = e.session().me();
    let mut level: Vec<ArithShare> = Vec::with_capacity(digits.len() + 1);
    for (j, d) in digits.iter().enumerate() {
        if j >= 6 {
            return Err(Error::InvalidArgument("pow2: exponent must be below 64"));
        }
        let c = (1u64 << (1u32 << j)).wrapping_sub(1);
        level.push(d.scale(c).add(&constant(me, 1, d.len()))?);
    }
    if let Some(g) = gate {
        level.push(g.clone());
    }
    while level.len() > 1 {
        let half = level.len() / 2;
        let left: Vec<&ArithShare> = level[..half].iter().collect();
        let right: Vec<&ArithShare> = level[half..2 * half].iter().collect();
        let prod = e.mul(&cat(&left)?, &cat(&right)?)?;
        let mut next = uncat(&prod, half)?;
        if level.len() % 2 == 1
            && let Some(last) = level.last()
        {
            next.push(last.clone());
        }
        level = next;
    }
    level.pop().ok_or(Error::InvalidArgument("pow2: no digits and no gate"))
}
