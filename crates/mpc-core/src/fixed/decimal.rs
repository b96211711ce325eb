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
//! `X` fits); the others are truncated by `G - s j` with exact truncation
//! (`floor`, error below one ulp each), or dropped when they are below half
//! an ulp. With `G = n_bits + 2`, the rounding of `c` adds below 1/8 ulp.
//! Values wider than 40 bits are first split by an exact truncation into
//! `N = N_hi 2^h + N_lo` (`N_hi = floor(N / 2^h)`), each half converted so.
//!
//! No TruncPr: a converted input is often opened (directly, or through a
//! statistic), so the result must be a deterministic function of `N` (see
//! `crate::fixed`).

use crate::engine::Engine;
use crate::fixed::FixedFormat;
use crate::masked::trunc;
use crate::{ArithShare, Error, Result};

/// Largest supported number of decimals (10^18 < 2^60).
const MAX_DECIMALS: u32 = 18;

/// Largest supported `n_bits` (`N < 10^18 < 2^60` in a bundle).
const MAX_N_BITS: u32 = 60;

/// Wider values are first split into two halves (one TruncPr), so that each
/// half's limbs are wide enough.
const SPLIT_BITS: u32 = 40;

/// One term `N_part 2^num_exp / 10^d` of the conversion, `|N_part| < 2^n_bits`.
struct Part {
    n_bits: u32,
    num_exp: u32,
}

/// The constant of a part and its limbs.
struct Plan {
    /// `round(2^(num_exp + G) / 10^d)`.
    c: u128,
    /// Fractional bits of `c`: `G = n_bits + 2`.
    g: u32,
    /// Limb width `61 - n_bits`.
    s: u32,
}

impl Part {
    fn plan(&self, decimals: u32) -> Plan {
        let g = self.n_bits + 2;
        let den = 10u128.pow(decimals);
        let num = 1u128 << (self.num_exp + g);
        Plan { c: (num + den / 2) / den, g, s: 61 - self.n_bits }
    }
}

/// The parts of `N 2^f / 10^d`: `N` itself, or `N_hi 2^h + N_lo` with
/// `|N_hi| <= 2^(n_bits - h)`, `0 <= N_lo < 2^h`.
fn parts(fmt: FixedFormat, decimals: u32, n_bits: u32) -> Result<Vec<Part>> {
    let f = fmt.frac_bits();
    // X < 2^(n_bits + f - 3.32 d) must fit the signed ring with headroom.
    let x_bits = (n_bits + f) as f64 - decimals as f64 * 10f64.log2();
    if decimals > MAX_DECIMALS || !(1..=MAX_N_BITS).contains(&n_bits) || x_bits > 61.0 {
        return Err(Error::InvalidArgument(
            "from_decimal: need decimals <= 18, 1 <= n_bits <= 60 and the value to fit 61 bits",
        ));
    }
    if n_bits <= SPLIT_BITS {
        return Ok(vec![Part { n_bits, num_exp: f }]);
    }
    let h = n_bits / 2;
    Ok(vec![Part { n_bits: n_bits - h + 1, num_exp: f + h }, Part { n_bits: h + 1, num_exp: f }])
}

/// Bound (in ulps) on `|X - N 2^f / 10^d|` for [`from_decimal`]: one per
/// limb below the binary point plus 1/8 for the rounding of each constant.
pub fn decimal_error_bound(fmt: FixedFormat, decimals: u32, n_bits: u32) -> Result<f64> {
    if decimals == 0 {
        return Ok(0.0);
    }
    Ok(parts(fmt, decimals, n_bits)?
        .iter()
        .map(|p| {
            let plan = p.plan(decimals);
            plan.g.div_ceil(plan.s) as f64 + 0.125
        })
        .sum())
}

/// `X ≈ N 2^f / 10^d` for client values `|N| < 2^n_bits` with `d = decimals`
/// (signed), `n_bits <= 60`. Exact (local) for `d = 0`; otherwise all
/// multiplications are by public constants (local) and the cost is one
/// exact truncation per limb below the binary point (`ceil((n_bits + 2) /
/// (61 - n_bits))`: 1 for `n_bits <= 29`, 2 up to 40), plus for
/// `n_bits > 40` one splitting `N` and 1–2 limbs per half (at most 5
/// truncations); error [`decimal_error_bound`] (at most 4.25 ulps). The
/// result is a deterministic function of `N` (exact truncations only), so
/// it may be opened.
pub fn from_decimal<E: Engine>(
    e: &mut E,
    fmt: FixedFormat,
    n: &ArithShare,
    decimals: u32,
    n_bits: u32,
) -> Result<ArithShare> {
    let f = fmt.frac_bits();
    if decimals == 0 {
        if n_bits + f > 61 {
            return Err(Error::InvalidArgument("from_decimal: value does not fit 61 bits"));
        }
        return Ok(n.scale(1u64 << f));
    }
    let parts = parts(fmt, decimals, n_bits)?;
    let values = if parts.len() == 1 {
        vec![n.clone()]
    } else {
        let h = n_bits / 2;
        let hi = trunc(e, n, n_bits + 1, h)?;
        let lo = n.sub(&hi.scale(1u64 << h))?;
        vec![hi, lo]
    };
    let me = e.session().me();
    let mut acc = ArithShare::public(me, &vec![0u64; n.len()]);
    for (part, v) in parts.iter().zip(&values) {
        acc = acc.add(&times_constant(e, v, part.n_bits, &part.plan(decimals))?)?;
    }
    Ok(acc)
}

/// `v c / 2^G` by limbs of `c` (see the module comment).
fn times_constant<E: Engine>(e: &mut E, v: &ArithShare, n_bits: u32, p: &Plan) -> Result<ArithShare> {
    let k = n_bits + p.s + 1;
    let me = e.session().me();
    let mut acc = ArithShare::public(me, &vec![0u64; v.len()]);
    let mut j = 0u32;
    while p.s * j < 128 && (p.c >> (p.s * j)) != 0 {
        let limb = ((p.c >> (p.s * j)) & ((1u128 << p.s) - 1)) as u64;
        let pos = p.s * j;
        j += 1;
        if limb == 0 {
            continue;
        }
        let term = v.scale(limb);
        let term = if pos >= p.g {
            // Exact; bits shifted past 2^64 cancel since X fits.
            let sh = pos - p.g;
            if sh >= 64 {
                continue;
            }
            term.scale(1u64 << sh)
        } else if p.g - pos < k {
            trunc(e, &term, k, p.g - pos)?
        } else {
            continue; // below half an ulp
        };
        acc = acc.add(&term)?;
    }
    Ok(acc)
}
