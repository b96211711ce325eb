//! Square root and inverse square root by Goldschmidt's iteration in the
//! Catrina–Saxena framework (Liedel, "Secure distributed computation of the
//! square root and applications", ISPEC'12; Aly–Smart, ePrint 2019/354; as
//! MP-SPDZ `mpc_math.sqrt_simplified_fx`), after the normalisation of
//! Catrina–Saxena FC'10 `Norm`.
//!
//! With `e = m + 1` the bit length of `X`, `x = u 2^(e - f)` for the
//! normalised `u ∈ [0.5, 1)`. For even `e - f`, `sqrt x = sqrt u 2^((e-f)/2)`;
//! for odd `e - f`, `sqrt x = (sqrt u / √2) 2^((e-f+1)/2)`. The parity is an
//! XOR of one-hot bits, the power of two comes from the same one-hot vector
//! (see `normalize`), and the `1/√2` is a multiplication by the injected
//! parity bit. Goldschmidt: `y_0 = 1.95105 - u` (relative error ≤ 0.049 on
//! `[0.5, 1]`), `g = u y_0`, `h = y_0 / 2`, then three times
//! `r = 1/2 - g h`, `g += g r`, `h += h r`: `g → sqrt u`, `2h → 1/sqrt u`,
//! the error going `δ → 1.5 δ^2`: `0.049 → 3.6e-3 → 1.9e-5 → 5.7e-10`.

use crate::engine::Engine;
use crate::fixed::normalize::{exponent_digits, inject, normalize, pow2_from_digits, xor_where};
use crate::fixed::{FixedFormat, WORK_BITS, cat, constant, mul_shift, real_const, shift, uncat};
use crate::{ArithShare, Error, Result};

/// Fixed-point `sqrt x` for `0 <= X < 2^bits`, `2 <= bits <= 62`; `sqrt 0 = 0`.
/// Error (ulps, measured by the tests): `|Y - sqrt(x) 2^f| <= 2 + sqrt(x) 2^(f - w + 3)`,
/// `w = 28`: about two ulps for `x < 2^20` at `f = 16`.
///
/// Cost per element: the normalisation, Goldschmidt (1 + 3 × 3
/// multiplications and truncations in 7 rounds), the parity correction and
/// the scaling (2 multiplications, 2 truncations). Every truncation is exact
/// (`floor`), so the result is a deterministic function of `x` and may be
/// opened (see `crate::fixed`).
pub fn sqrt<E: Engine>(e: &mut E, fmt: FixedFormat, x: &ArithShare, bits: u32) -> Result<ArithShare> {
    root(e, fmt, x, bits, false)
}

/// Fixed-point `1 / sqrt x` for `0 <= X < 2^bits`; returns 0 for `x = 0`.
/// Error (ulps): `|Z - 2^f / sqrt x| <= 2 + (2^f / sqrt x) 2^-(w - 3)`.
/// Same cost as [`sqrt`].
pub fn inv_sqrt<E: Engine>(e: &mut E, fmt: FixedFormat, x: &ArithShare, bits: u32) -> Result<ArithShare> {
    root(e, fmt, x, bits, true)
}

fn root<E: Engine>(e: &mut E, fmt: FixedFormat, x: &ArithShare, bits: u32, inverse: bool) -> Result<ArithShare> {
    if !(2..=62).contains(&bits) {
        return Err(Error::InvalidArgument("sqrt needs 2 <= bits <= 62"));
    }
    let me = e.session().me();
    let (w, n, f) = (WORK_BITS, x.len(), fmt.frac_bits() as i64);
    let norm = normalize(e, x, bits)?;
    let u = shift(e, &norm.scaled, w as i64 - bits as i64, bits + 1)?;

    // Exponents per msb position i (bit length i + 1).
    let odd = |i: usize| (i as i64 + 1 - f).rem_euclid(2) == 1;
    let half_exp = |i: usize| (i as i64 + 1 - f + odd(i) as i64) / 2;
    let t = |i: usize| if inverse { f - w as i64 - half_exp(i) } else { f - w as i64 + half_exp(i) };
    let l = bits as usize;
    let tmin = (0..l).map(t).min().unwrap_or(0);
    let tmax = (0..l).map(t).max().unwrap_or(0);
    let mut bitsets = exponent_digits(me, &norm.onehot, n, |i| (t(i) - tmin) as u32)?;
    bitsets.push(xor_where(me, &norm.onehot, n, odd)?);
    let mut inj = inject(e, &bitsets)?;
    let parity = inj.pop().ok_or(Error::InvalidArgument("no bits"))?;
    let v = pow2_from_digits(e, &inj, Some(&norm.nonzero))?;

    let (g, h) = goldschmidt(e, &u)?;
    // Parity: sqrt u / √2 = g (1 - κ), κ = 1 - 1/√2; √2 / sqrt u = h (1 + κ'), κ' = √2 - 1.
    let k = 2 * w + 3;
    let (m, kappa, sign) = if inverse { (h, 2f64.sqrt() - 1.0, 1) } else { (g, 1.0 - 0.5f64.sqrt(), -1) };
    let pm = e.mul(&parity, &m)?.scale(real_const(kappa, w));
    let corr = shift(e, &pm, -(w as i64), k)?;
    let m = if sign > 0 { m.add(&corr)? } else { m.sub(&corr)? };
    // Output = m 2^t = (m v) 2^tmin; v = 0 when x = 0.
    let mv = e.mul(&m, &v)?;
    let out_bits = w + 3 + (tmax - tmin) as u32;
    if out_bits > 62 {
        return Err(Error::InvalidArgument("sqrt: bits too large for this format"));
    }
    shift(e, &mv, tmin, out_bits)
}

/// `(sqrt u, 1 / sqrt u)` at scale `2^w` for `u ∈ [0.5, 1]` at scale `2^w`.
/// `h` is kept at scale `2^(w+1)`, so that `2h` at scale `2^w` is the same
/// integer.
fn goldschmidt<E: Engine>(e: &mut E, u: &ArithShare) -> Result<(ArithShare, ArithShare)> {
    let me = e.session().me();
    let (w, n) = (WORK_BITS, u.len());
    let k = 2 * w + 3;
    let y0 = constant(me, real_const(1.95105, w), n).sub(u)?;
    let mut g = mul_shift(e, u, &y0, -(w as i64), k)?;
    let mut h = y0;
    for _ in 0..3 {
        let gh = mul_shift(e, &g, &h, -(w as i64 + 1), k)?;
        let r = constant(me, 1u64 << (w - 1), n).sub(&gh)?;
        let prod = e.mul(&cat(&[&g, &h])?, &cat(&[&r, &r])?)?;
        let both = uncat(&shift(e, &prod, -(w as i64), k)?, 2)?;
        g = g.add(&both[0])?;
        h = h.add(&both[1])?;
    }
    Ok((g, h))
}
