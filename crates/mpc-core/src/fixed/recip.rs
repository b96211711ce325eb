//! Reciprocal and division by a secret (Catrina–Saxena FC'10, protocols
//! `AppRcr` and `Div`; Aly–Smart, ePrint 2019/354; MP-SPDZ
//! `mpc_math.py`/`floatingpoint.py`): normalise the divisor `B` to
//! `u = B 2^(L-1-m) / 2^L ∈ [0.5, 1)`, compute `1/u` by Goldschmidt's
//! iteration from the linear approximation `4(√3 - 1) - 2u` (relative error
//! at most `7 - 4√3 ≈ 0.072`, slope a power of two so it is local), and
//! scale back with the same power of two:
//! `A / B = (A * r / 2^w) * v / 2^(L - fb)`.
//!
//! Goldschmidt: `e_0 = 1 - u r_0`, `r_{i+1} = r_i (1 + e_i)`,
//! `e_{i+1} = e_i^2`; the two products of a step are independent (one round).
//! Three steps leave a relative error `0.072^8 ≈ 2^-30.4`, below the working
//! resolution `2^-28`.

use crate::circuits::{b2a, bit_decompose};
use crate::engine::Engine;
use crate::fixed::normalize::{Normalized, normalize};
use crate::fixed::{FixedFormat, WORK_BITS, cat, constant, mul_shift, mul_wide, real_const, shift, uncat};
use crate::{ArithShare, Error, Result};

/// Public bounds of a division `A / B` (ring integers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DivBounds {
    /// `|A| < 2^num_bits` (`A` and the quotient share one scale).
    pub num_bits: u32,
    /// `|B| < 2^den_bits`.
    pub den_bits: u32,
    /// Fractional bits of `B`: the format's `f` for a fixed-point divisor,
    /// 0 for an integer such as a count.
    pub den_frac_bits: u32,
    /// `B` may be negative (costs a second bit decomposition).
    pub signed_den: bool,
}

impl DivBounds {
    fn check(self) -> Result<()> {
        let (la, l) = (self.num_bits, self.den_bits);
        let ok = (2..=58).contains(&l) && la >= 1 && la + self.den_frac_bits <= 60 && la + 2 * l <= 116;
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidArgument(
                "division bounds: need num_bits + den_frac_bits <= 60, 2 <= den_bits <= 58, num_bits + 2 den_bits <= 116",
            ))
        }
    }
}

/// Fixed-point `a / b`: `A` and the result at the same scale (any `f`), `B`
/// at scale `bounds.den_frac_bits`. Division by zero returns 0.
///
/// Range: `|A| < 2^num_bits`, `|B| < 2^den_bits`,
/// `num_bits + den_frac_bits <= 60` (the quotient by the smallest `B`,
/// `A 2^fb`, must fit), `num_bits + 2 den_bits <= 116`; products wider
/// than a truncation allows are split in two (`mul_wide`), so e.g. a sum
/// below `2^56` (2^40 at `f = 16`) can be divided by a count below `2^30`.
///
/// Error (in ulps of the result; the tests check it on random and edge
/// inputs): `|Q - q 2^f| <= 3 + 2^(fb+1) / |B| + |q 2^f| 2^-25`: the
/// truncations of `A r` are amplified by `v / 2^(L - fb) <= 2^fb / |B|`
/// (dividing by a small number magnifies any error, as it does the input's
/// own rounding), the rest is relative (`2^-w` per Goldschmidt step and
/// truncation, `w = 28`). For `|b| >= 1` this is at most 5 ulps plus the
/// relative term.
///
/// Cost per element: A2B of `B` (and of `|B|` if signed), the
/// normalisation (see `normalize`), Goldschmidt (7 multiplications and
/// truncations in 4 rounds), `A r` and `P v` (one multiplication and one
/// truncation each; when a product is too wide, a splitting truncation, two
/// multiplications in one round and up to two truncations). Measured for
/// `|A| < 2^44`, `B < 2^30` (before truncations became exact): 28
/// multiplications, 245 ANDs, 10 truncations; each truncation by `m` bits
/// now adds `m - 1` ANDs (as many rounds) and 2 multiplications to its mask.
///
/// Every truncation is exact (`floor`), so the quotient is a deterministic
/// function of `A` and `B` and may be opened (see `crate::fixed`).
pub fn div<E: Engine>(e: &mut E, a: &ArithShare, b: &ArithShare, bounds: DivBounds) -> Result<ArithShare> {
    bounds.check()?;
    if a.len() != b.len() {
        return Err(Error::InvalidArgument("div: lengths differ"));
    }
    let (a, b) = if bounds.signed_den { make_den_positive(e, a, b)? } else { (a.clone(), b.clone()) };
    let l = bounds.den_bits;
    let la = bounds.num_bits;
    let norm = normalize(e, &b, l)?;
    let u = shift(e, &norm.scaled, WORK_BITS as i64 - l as i64, l + 1)?;
    let r = recip_unit(e, &u, 3)?;
    // P = A r / 2^w ≈ A / u, |P| < 2^(la + 1) (+ 2 for the truncations).
    let p = mul_wide(e, &a, la, &r, WORK_BITS + 2, -(WORK_BITS as i64))?;
    // Q = P v / 2^(L - fb); v = 0 when B = 0.
    mul_wide(e, &p, la + 2, &norm.v, l, bounds.den_frac_bits as i64 - l as i64)
}

/// `2^k / B` for integers `0 <= B < 2^den_bits` (`2 <= den_bits <= 58`,
/// `k <= 60`); `B = 0` gives 0. The numerator is public, so unlike [`div`]
/// with a constant numerator there is no product with it: the normalised
/// reciprocal `r = 2^w / u` times `v = 2^(L-1-m)` is the quotient at scale
/// `2^(L + w)`, brought to `2^k` by one exact truncation (or a local shift).
///
/// Error: `|Q - 2^k / B| <= 2 + (2^k / B) 2^-25` (the relative error of
/// `r`, and the floors of the product; see [`div`]); with
/// [`Precision::Coarse`] the relative term is `2^-15` (one Goldschmidt step
/// fewer, always an underestimate).
pub fn pow2_div<E: Engine>(e: &mut E, b: &ArithShare, k: u32, den_bits: u32) -> Result<ArithShare> {
    let normal = Normal::new(e, b, den_bits)?;
    pow2_div_normal(e, &normal, k, Precision::Full)
}

/// Relative precision of a reciprocal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// `2^-25`: three Goldschmidt steps.
    Full,
    /// `2^-15`: two steps (`0.072^4`), two truncated products fewer per element.
    Coarse,
}

/// [`pow2_div`] of an already normalised `B` (see [`Normal`]).
pub fn pow2_div_normal<E: Engine>(e: &mut E, b: &Normal, k: u32, precision: Precision) -> Result<ArithShare> {
    let l = b.bits;
    if k > 60 {
        return Err(Error::InvalidArgument("pow2_div needs k <= 60"));
    }
    let u = shift(e, &b.norm.scaled, WORK_BITS as i64 - l as i64, l + 1)?;
    let steps = match precision {
        Precision::Full => 3,
        Precision::Coarse => 2,
    };
    let r = recip_unit(e, &u, steps)?;
    mul_wide(e, &r, WORK_BITS + 2, &b.norm.v, l, k as i64 - (l + WORK_BITS) as i64)
}

/// A non-negative integer `0 <= X < 2^bits` normalised once (its bit
/// decomposition, most significant bit and power of two), for several
/// elementwise functions of it ([`pow2_div_normal`],
/// [`crate::fixed::log2_normal`]). No `Debug`: it holds shares.
pub struct Normal {
    pub(crate) norm: Normalized,
    pub(crate) bits: u32,
}

impl Normal {
    /// Normalise `x` (`2 <= bits <= 58`).
    pub fn new<E: Engine>(e: &mut E, x: &ArithShare, bits: u32) -> Result<Normal> {
        if !(2..=58).contains(&bits) {
            return Err(Error::InvalidArgument("normalising needs 2 <= bits <= 58"));
        }
        Ok(Normal { norm: normalize(e, x, bits)?, bits })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.norm.v.len()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Fixed-point `1 / b` for `|B| < 2^den_bits` (`b` at the format's scale);
/// `1 / 0` returns 0. Error as [`div`] with `A = 2^f`.
pub fn reciprocal<E: Engine>(
    e: &mut E,
    fmt: FixedFormat,
    b: &ArithShare,
    den_bits: u32,
    signed: bool,
) -> Result<ArithShare> {
    let f = fmt.frac_bits();
    let one = constant(e.session().me(), 1u64 << f, b.len());
    div(e, &one, b, DivBounds { num_bits: f + 1, den_bits, den_frac_bits: f, signed_den: signed })
}

/// `(a * sign(b), |b|)`: the sign bit from an A2B, injected, then both
/// products in one round.
fn make_den_positive<E: Engine>(e: &mut E, a: &ArithShare, b: &ArithShare) -> Result<(ArithShare, ArithShare)> {
    let sign = bit_decompose(e, b)?.planes.pop().ok_or(Error::InvalidArgument("no bits"))?;
    let s = b2a(e, &sign)?;
    let prod = uncat(&e.mul(&cat(&[&s, &s])?, &cat(&[a, b])?)?, 2)?;
    Ok((a.sub(&prod[0].scale(2))?, b.sub(&prod[1].scale(2))?))
}

/// `1 / u` at scale `2^w` for `u ∈ [0.5, 1]` at scale `2^w`, `w = WORK_BITS`,
/// after `steps` (2 or 3) Goldschmidt steps.
fn recip_unit<E: Engine>(e: &mut E, u: &ArithShare, steps: usize) -> Result<ArithShare> {
    let me = e.session().me();
    let (w, n) = (WORK_BITS, u.len());
    // Products stay below 2^(2w+2) (r <= 2 + tiny, |e| < 0.08).
    let k = 2 * w + 3;
    let mut r = constant(me, real_const(4.0 * (3f64.sqrt() - 1.0), w), n).sub(&u.scale(2))?;
    let ur = mul_shift(e, u, &r, -(w as i64), k)?;
    let mut err = constant(me, 1u64 << w, n).sub(&ur)?;
    for step in 0..steps {
        if step + 1 == steps {
            let re = mul_shift(e, &r, &err, -(w as i64), k)?;
            r = r.add(&re)?;
        } else {
            let prod = e.mul(&cat(&[&r, &err])?, &cat(&[&err, &err])?)?;
            let both = uncat(&shift(e, &prod, -(w as i64), k)?, 2)?;
            r = r.add(&both[0])?;
            err = both[1].clone();
        }
    }
    Ok(r)
}
