//! Fixed-point arithmetic on arithmetic shares (Catrina–Saxena, "Secure
//! computation with fixed-point numbers", FC'10; over Z_2^64 as in MP-SPDZ).
//!
//! A real `x` is stored as the signed (two's complement) integer
//! `X = round(x * 2^f)` in Z_2^64, with `f` fractional bits
//! ([`FixedFormat`]). Addition and multiplication by public integers are
//! local; a product carries `2f` fractional bits and is brought back to `f`
//! by the exact truncation [`crate::masked::trunc`] (`floor(X / 2^f)`),
//! which needs the product to satisfy `|X * Y| < 2^61`.
//!
//! *Every truncation here is exact*, never TruncPr
//! ([`crate::masked::trunc_pr`]): callers open these results (means,
//! deviations, converted inputs), and TruncPr's rounding is a coin biased by
//! the secret's dropped bits (ePrint 2023/909, `docs/protocols/mpc-core.md`
//! §6.2), which an opened result would carry, directly or through the
//! iterations. With exact truncation every output of this module is a
//! deterministic function of its inputs; the cost is `m - 1` ANDs (and as
//! many rounds) and 2 multiplications per truncation by `m` bits. Non-linear operations (reciprocal, division, square
//! root) normalise the secret into `[0.5, 1)` (module `normalize`), iterate at a
//! working precision of [`WORK_BITS`] bits and scale back.
//!
//! Every operation is composed of `Engine::mul`, `Engine::and` and
//! `Engine::open` (inside the truncation): no new message kind, so the
//! cheating tests of those steps cover them.
//!
//! See `docs/protocols/mpc-core.md`, section "Fixed point", for ranges, error
//! bounds and costs.

mod decimal;
mod log;
mod normalize;
mod recip;
mod sqrt;

pub use decimal::{decimal_error_bound, from_decimal};
pub use log::{exp2_fixed, log2_int, log2_normal};
pub use recip::{DivBounds, Normal, Precision, div, pow2_div, pow2_div_normal, reciprocal};
pub use sqrt::{inv_sqrt, sqrt};

use crate::circuits::b2a;
use crate::engine::Engine;
use crate::masked::trunc;
use crate::{ArithShare, BoolShare, Error, Result};

/// Default number of fractional bits: a resolution of `2^-16 ≈ 1.5e-5`
/// leaves `61 - 16 = 45` integer bits for stored values (`|x| < 3.5e13`)
/// and `61 - 32 = 29` for a product before truncation (`|x y| < 5.4e8`).
/// `f = 20` would give `1e-6` but only `|x y| < 2e6`; statistics aggregate
/// at scale `2f` and truncate once, so the product range is the binding one.
pub const DEFAULT_FRAC_BITS: u32 = 16;

/// Working precision of the reciprocal and square-root iterations: values in
/// `[0.25, 2]` are held with 28 fractional bits, so a product stays below
/// `2^(2*28+2) = 2^58` and its truncation needs `k = 58 <= 62`.
pub const WORK_BITS: u32 = 28;

/// Largest `k` a truncation accepts: a truncated value must satisfy
/// `|x| < 2^(k-1) = 2^61`.
pub const TRUNC_MAX_BITS: u32 = 62;

/// The fixed-point format: `frac_bits` fractional bits in a signed 64-bit
/// ring element. All three parties must use the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedFormat {
    frac_bits: u32,
}

impl Default for FixedFormat {
    fn default() -> FixedFormat {
        FixedFormat { frac_bits: DEFAULT_FRAC_BITS }
    }
}

impl FixedFormat {
    /// A format with `frac_bits` fractional bits, `1 <= frac_bits <= 30`
    /// (products need `2 f < 61`).
    pub fn new(frac_bits: u32) -> Result<FixedFormat> {
        if (1..=30).contains(&frac_bits) {
            Ok(FixedFormat { frac_bits })
        } else {
            Err(Error::InvalidArgument("fixed point needs 1 <= frac_bits <= 30"))
        }
    }

    /// Number of fractional bits `f`.
    pub fn frac_bits(self) -> u32 {
        self.frac_bits
    }

    /// The resolution `2^-f` (one ulp).
    pub fn ulp(self) -> f64 {
        (-(self.frac_bits as f64)).exp2()
    }

    /// The ring element of `x` (rounded to nearest); `None` if `|x| >= 2^(61-f)`
    /// or `x` is not finite.
    pub fn encode(self, x: f64) -> Option<u64> {
        let v = (x * (self.frac_bits as f64).exp2()).round();
        (v.is_finite() && v.abs() < 2f64.powi(61)).then_some(v as i64 as u64)
    }

    /// The real value of a ring element (signed).
    pub fn decode(self, v: u64) -> f64 {
        v as i64 as f64 * self.ulp()
    }

    /// The ring element as a base-10 fixed-point integer `round(x * 10^decimals)`,
    /// computed exactly (ties away from zero); `None` if it does not fit an i128.
    pub fn to_decimal(self, v: u64, decimals: u32) -> Option<i128> {
        let num = (v as i64 as i128).checked_mul(10i128.checked_pow(decimals)?)?;
        let den = 1i128 << self.frac_bits;
        let q = num.div_euclid(den);
        let r = num.rem_euclid(den);
        Some(if 2 * r >= den && (num >= 0 || 2 * r > den) { q + 1 } else { q })
    }
}

/// Fixed-point product `x * y` (one multiplication, one exact truncation by
/// `f`). Requires `|X * Y| < 2^61`, i.e. `|x y| < 2^(61 - 2f)`; the result
/// is exactly `floor(X Y / 2^f)` (error in `(-1, 0]` ulp, a deterministic
/// function of the inputs: safe to open).
pub fn mul<E: Engine>(e: &mut E, fmt: FixedFormat, x: &ArithShare, y: &ArithShare) -> Result<ArithShare> {
    mul_bounded(e, fmt, x, y, TRUNC_MAX_BITS)
}

/// [`mul`] for products known to satisfy `|X * Y| < 2^(product_bits - 1)`:
/// a smaller bound makes the truncation mask, hence the preprocessing, smaller.
pub fn mul_bounded<E: Engine>(
    e: &mut E,
    fmt: FixedFormat,
    x: &ArithShare,
    y: &ArithShare,
    product_bits: u32,
) -> Result<ArithShare> {
    let p = e.mul(x, y)?;
    trunc(e, &p, product_bits, fmt.frac_bits)
}

/// `c ? if_true : if_false` for an arithmetic bit `c ∈ {0, 1}`:
/// `if_false + c (if_true - if_false)`, one multiplication, one round.
/// (Works for any ring values, fixed point or not.)
pub fn select<E: Engine>(e: &mut E, c: &ArithShare, if_true: &ArithShare, if_false: &ArithShare) -> Result<ArithShare> {
    let d = if_true.sub(if_false)?;
    if_false.add(&e.mul(c, &d)?)
}

/// [`select`] for a boolean bit (one lane per element): bit injection
/// ([`b2a`], two multiplications, two rounds) then one multiplication.
pub fn select_bit<E: Engine>(
    e: &mut E,
    c: &BoolShare,
    if_true: &ArithShare,
    if_false: &ArithShare,
) -> Result<ArithShare> {
    if c.lanes() != if_true.len() {
        return Err(Error::InvalidArgument("select: one bit per element"));
    }
    let ca = b2a(e, c)?;
    select(e, &ca, if_true, if_false)
}

/// Concatenate arithmetic sharings (to batch independent gates in one round).
pub(crate) fn cat(parts: &[&ArithShare]) -> Result<ArithShare> {
    let mut s0 = Vec::new();
    let mut s1 = Vec::new();
    for p in parts {
        let (a, b) = p.components();
        s0.extend_from_slice(a);
        s1.extend_from_slice(b);
    }
    ArithShare::from_components(s0, s1)
}

/// Split a concatenation of `k` equal parts back.
pub(crate) fn uncat(x: &ArithShare, k: usize) -> Result<Vec<ArithShare>> {
    if k == 0 || !x.len().is_multiple_of(k) {
        return Err(Error::InvalidArgument("uncat: length not a multiple"));
    }
    let n = x.len() / k;
    let (a, b) = x.components();
    (0..k)
        .map(|i| ArithShare::from_components(a[i * n..(i + 1) * n].to_vec(), b[i * n..(i + 1) * n].to_vec()))
        .collect()
}

/// A public constant vector as a sharing.
pub(crate) fn constant(me: crate::PartyId, c: u64, n: usize) -> ArithShare {
    ArithShare::public(me, &vec![c; n])
}

/// `x * 2^s` for a signed public shift: a local multiplication when
/// `s >= 0`, an exact truncation (`floor`) of a value below `2^(bits-1)`
/// otherwise.
pub(crate) fn shift<E: Engine>(e: &mut E, x: &ArithShare, s: i64, bits: u32) -> Result<ArithShare> {
    match s {
        0 => Ok(x.clone()),
        s if s > 0 => Ok(x.scale(1u64 << s)),
        s => trunc(e, x, bits, (-s) as u32),
    }
}

/// `x * y * 2^s` (see [`shift`]).
pub(crate) fn mul_shift<E: Engine>(e: &mut E, x: &ArithShare, y: &ArithShare, s: i64, bits: u32) -> Result<ArithShare> {
    let p = e.mul(x, y)?;
    shift(e, &p, s, bits)
}

/// `x * y * 2^s` for `|x| < 2^x_bits`, `|y| < 2^y_bits`, `s <= 0`, when the
/// product may be too wide for one truncation (`x_bits + y_bits > 61`): `x`
/// is split as `x_hi 2^t + x_lo` (`x_hi = floor(x / 2^t)`, `0 <= x_lo < 2^t`)
/// and the two partial products, computed in one round, are truncated
/// separately (exactly). Error in `(-2, 0]` (one floor per truncation).
/// Needs `x_bits + 2 y_bits <= 120`.
pub(crate) fn mul_wide<E: Engine>(
    e: &mut E,
    x: &ArithShare,
    x_bits: u32,
    y: &ArithShare,
    y_bits: u32,
    s: i64,
) -> Result<ArithShare> {
    if x_bits + y_bits < TRUNC_MAX_BITS || s >= 0 {
        return mul_shift(e, x, y, s, (x_bits + y_bits + 1).min(TRUNC_MAX_BITS));
    }
    // (x_hi, x_lo) bits: (x_bits - t + 1, t + 1); each product needs bits + y_bits + 1 <= 62.
    let t = (x_bits + y_bits).saturating_sub(60).max(1);
    if t + y_bits > 60 || t >= x_bits {
        return Err(Error::InvalidArgument("product too wide even when split"));
    }
    let hi = trunc(e, x, x_bits + 1, t)?;
    let lo = x.sub(&hi.scale(1u64 << t))?;
    let prod = uncat(&e.mul(&cat(&[&hi, &lo])?, &cat(&[y, y])?)?, 2)?;
    let hi = shift(e, &prod[0], s + t as i64, x_bits - t + y_bits + 2)?;
    let lo = shift(e, &prod[1], s, t + y_bits + 2)?;
    hi.add(&lo)
}

/// Real constant `c` at scale `2^bits`, rounded.
pub(crate) fn real_const(c: f64, bits: u32) -> u64 {
    (c * (bits as f64).exp2()).round() as u64
}
