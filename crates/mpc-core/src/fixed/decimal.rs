//! Conversion of client values, base-10 fixed-point integers
//! `N = value * 10^d` (`proto/triad/provider/v1/bundle.proto`), to the
//! binary format: `X = N 2^f / 10^d`.
//!
//! Multiplication by the public real `c = 2^f / 10^d` is local once `c` is an
//! integer at scale `2^G`; the difficulty is range, since `N c 2^G` needs
//! `n_bits + log2 X + G` bits. So the constant is split into limbs of `s`
//! bits, `c 2^G = sum_j c_j 2^(s j)`, with `s = 61 - n_bits` so that every
//! `N c_j` fits a truncation: `X = sum_j N c_j 2^(s j - G)`. Limbs with
//! `s j >= G` are exact local shifts (their sum is correct modulo 2^64 and
//! `X` fits); the others are truncated by `G - s j` with TruncPr (error
//! below one ulp each), or dropped when they are below half an ulp.
//! With `G = n_bits + 2`, the rounding of `c` adds below 1/8 ulp.

use crate::circuits::{Engine, trunc_pr};
use crate::fixed::FixedFormat;
use crate::{ArithShare, Error, Result};

/// Largest supported number of decimals (10^18 < 2^60).
const MAX_DECIMALS: u32 = 18;

struct Plan {
    /// `round(2^(f+G) / 10^d)`.
    c: u128,
    /// Fractional bits of `c`.
    g: u32,
    /// Limb width.
    s: u32,
}

fn plan(fmt: FixedFormat, decimals: u32, n_bits: u32) -> Result<Plan> {
    let f = fmt.frac_bits();
    // X < 2^(n_bits + f - 3.32 d) must fit the signed ring with headroom.
    let x_bits = (n_bits + f) as f64 - decimals as f64 * 10f64.log2();
    if decimals > MAX_DECIMALS || !(1..=50).contains(&n_bits) || x_bits > 61.0 {
        return Err(Error::InvalidArgument("from_decimal: need decimals <= 18, 1 <= n_bits <= 50 and the value to fit 61 bits"));
    }
    let g = n_bits + 2;
    let den = 10u128.pow(decimals);
    let num = 1u128 << (f + g);
    Ok(Plan { c: (num + den / 2) / den, g, s: 61 - n_bits })
}

/// Number of limbs of `c` below the binary point (each costs one TruncPr).
fn truncated_limbs(p: &Plan) -> u32 {
    p.g.div_ceil(p.s)
}

/// Bound (in ulps) on `|X - N 2^f / 10^d|` for [`from_decimal`]: one per
/// truncated limb plus 1/8 for the rounding of the constant.
pub fn decimal_error_bound(fmt: FixedFormat, decimals: u32, n_bits: u32) -> Result<f64> {
    if decimals == 0 {
        return Ok(0.0);
    }
    Ok(truncated_limbs(&plan(fmt, decimals, n_bits)?) as f64 + 0.125)
}

/// `X ≈ N 2^f / 10^d` for client values `|N| < 2^n_bits` with `d = decimals`
/// (signed). Exact (local) for `d = 0`; otherwise one TruncPr per limb below
/// the binary point (`ceil((n_bits + 2) / (61 - n_bits))`: 1 for
/// `n_bits <= 29`, 2 up to 39, 4 for 48), all local multiplications, error
/// [`decimal_error_bound`].
pub fn from_decimal<E: Engine>(e: &mut E, fmt: FixedFormat, n: &ArithShare, decimals: u32, n_bits: u32) -> Result<ArithShare> {
    let f = fmt.frac_bits();
    if decimals == 0 {
        if n_bits + f > 61 {
            return Err(Error::InvalidArgument("from_decimal: value does not fit 61 bits"));
        }
        return Ok(n.scale(1u64 << f));
    }
    let p = plan(fmt, decimals, n_bits)?;
    let k = n_bits + p.s + 1;
    let me = e.session().me();
    let mut acc = ArithShare::public(me, &vec![0u64; n.len()]);
    let mut j = 0u32;
    while p.s * j < 128 && (p.c >> (p.s * j)) != 0 {
        let limb = ((p.c >> (p.s * j)) & ((1u128 << p.s) - 1)) as u64;
        let pos = p.s * j;
        j += 1;
        if limb == 0 {
            continue;
        }
        let term = n.scale(limb);
        let term = if pos >= p.g {
            // Exact; bits shifted past 2^64 cancel since X fits.
            let sh = pos - p.g;
            if sh >= 64 {
                continue;
            }
            term.scale(1u64 << sh)
        } else if p.g - pos < k {
            trunc_pr(e, &term, k, p.g - pos)?
        } else {
            continue; // below half an ulp
        };
        acc = acc.add(&term)?;
    }
    Ok(acc)
}
