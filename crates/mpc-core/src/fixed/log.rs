//! Base-2 logarithm of positive integers and base-2 exponential of fixed-point values, at the
//! working precision `W = WORK_BITS` (28 fractional bits), for the geometric mean.
//!
//! `log2 X = (m + 1) + log2 u` for the normalised `u = X / 2^(m+1) ∈ [0.5, 1)` (`normalize`):
//! the exponent `m + 1` is a public function of the one-hot msb vector (local digits, one bit
//! injection), and `log2 u = log2(1 + t) - 1` with `t = 2u - 1 ∈ [0, 1)` is a degree-7
//! polynomial (Chebyshev interpolation on [0, 1], max error 3.7e-7 ≈ 2^-21.4).
//! `2^L = 2^floor(L) · 2^frac(L)`: `floor` by one exact truncation, `2^frac` a degree-6
//! polynomial (max error 2.8e-9), `2^floor` from the integer part's bits by a product tree
//! (`pow2_from_digits`). Every truncation is exact, so results are deterministic functions of
//! the inputs (safe to open, see `crate::fixed`). Horner's rule: one multiplication and one
//! exact truncation per degree.

use crate::circuits::bit_decompose;
use crate::engine::Engine;
use crate::fixed::Normal;
use crate::fixed::normalize::{exponent_digits, inject, pow2_from_digits};
use crate::fixed::{WORK_BITS, constant, shift};
use crate::masked::trunc;
use crate::{ArithShare, Error, Result};

/// `log2(1 + t)` on `[0, 1]`, monomial coefficients, constant term first (Chebyshev
/// interpolation, degree 7: max error 3.7e-7, enough for the geometric mean's 10^-6; each
/// degree costs an exact truncation per element).
const LOG2_1P: [f64; 8] = [
    3.6856140976012614e-07,
    1.4426475487299224,
    -0.7203160643591521,
    0.4720869162443831,
    -0.3219602854622889,
    0.18875273773759313,
    -0.07565137468556601,
    0.014440352495210591,
];

/// `2^t` on `[0, 1]`, constant term first.
const EXP2: [f64; 7] = [
    1.0000000025307456,
    0.6931469327588609,
    0.24023045441239077,
    0.05548063019634242,
    0.009684186310778387,
    0.0012391331833896402,
    0.00021865784776764485,
];

/// `sum_k c_k t^k` at scale `2^W` for `|t| < 2` at scale `2^W` (the coefficients are below 2 in
/// magnitude, so every product stays below `2^(2W + 2)`).
fn horner<E: Engine>(e: &mut E, t: &ArithShare, coeffs: &[f64]) -> Result<ArithShare> {
    let me = e.session().me();
    let (w, n) = (WORK_BITS, t.len());
    let Some((&last, rest)) = coeffs.split_last() else {
        return Err(Error::InvalidArgument("empty polynomial"));
    };
    // Signed coefficients in two's complement (`real_const` is for non-negative constants).
    let enc = |c: f64| (c * (w as f64).exp2()).round() as i64 as u64;
    // c_d t: a public factor, exact truncation only.
    let mut p = trunc(e, &t.scale(enc(last)), 2 * w + 3, w)?.add(&constant(me, enc(rest[rest.len() - 1]), n))?;
    for &c in rest[..rest.len() - 1].iter().rev() {
        let prod = e.mul(&p, t)?;
        p = trunc(e, &prod, 2 * w + 4, w)?.add(&constant(me, enc(c), n))?;
    }
    Ok(p)
}

/// `log2 X` at scale `2^W` for integers `1 <= X < 2^bits`, `2 <= bits <= 58` (`X = 0` gives a
/// meaningless value). Error below `2^-21.3` (the polynomial's `2^-21.4` plus seven floors).
pub fn log2_int<E: Engine>(e: &mut E, x: &ArithShare, bits: u32) -> Result<ArithShare> {
    if !(2..=58).contains(&bits) {
        return Err(Error::InvalidArgument("log2_int needs 2 <= bits <= 58"));
    }
    let normal = Normal::new(e, x, bits)?;
    log2_normal(e, &normal)
}

/// [`log2_int`] of an already normalised `X` (see [`Normal`]).
pub fn log2_normal<E: Engine>(e: &mut E, x: &Normal) -> Result<ArithShare> {
    let me = e.session().me();
    let (w, n, bits, norm) = (WORK_BITS, x.len(), x.bits, &x.norm);
    let u = shift(e, &norm.scaled, w as i64 - bits as i64, bits + 1)?;
    let t = u.scale(2).sub(&constant(me, 1u64 << w, n))?;
    let frac = horner(e, &t, &LOG2_1P)?;
    let digits = exponent_digits(me, &norm.onehot, n, |i| (i + 1) as u32)?;
    let inj = inject(e, &digits)?;
    let mut expo = constant(me, 0, n);
    for (k, d) in inj.iter().enumerate() {
        expo = expo.add(&d.scale(1u64 << k))?;
    }
    // (m + 1) + log2(1 + t) - 1
    expo.scale(1u64 << w).add(&frac)?.sub(&constant(me, 1u64 << w, n))
}

/// `2^L` at scale `2^W` for `0 <= L < int_bits` at scale `2^W` (so the result is below
/// `2^(int_bits + W)`; needs `int_bits + W + 2 <= 62` and `int_bits <= 63`). Relative error
/// below `2^-26`.
pub fn exp2_fixed<E: Engine>(e: &mut E, l: &ArithShare, int_bits: u32) -> Result<ArithShare> {
    let w = WORK_BITS;
    if int_bits + w + 2 > 62 {
        return Err(Error::InvalidArgument("exp2: result too wide"));
    }
    let whole = trunc(e, l, w + int_bits + 1, w)?;
    let frac = l.sub(&whole.scale(1u64 << w))?;
    let two_frac = horner(e, &frac, &EXP2)?;
    let planes = bit_decompose(e, &whole)?.planes;
    let digit_count = (32 - int_bits.leading_zeros()) as usize;
    let digits = inject(e, &planes[..digit_count.min(6)])?;
    let pow = pow2_from_digits(e, &digits, None)?;
    e.mul(&pow, &two_frac)
}
