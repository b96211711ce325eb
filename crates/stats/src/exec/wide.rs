//! Fixed-point helpers for the moments: products wider than one ring element, scaling by a
//! public power of two, and the most significant bit of a secret (to normalise variances).
//!
//! Everything is made of `Engine::mul`, `Engine::and`, bit injection, bit decomposition and exact
//! truncations (`masked::trunc`, which opens only uniformly masked values after the engine has
//! proven every logged gate): no new message kind, and every result is a deterministic function
//! of the inputs (safe to open, see `triad_mpc_core::fixed`).

use triad_mpc_core::circuits::bit_decompose;
use triad_mpc_core::engine::Engine;
use triad_mpc_core::masked::trunc;
use triad_mpc_core::{ArithShare, BoolShare};

use super::ExecError;
use super::util::{arith_bits, cat, split_even};

/// Largest `k` an exact truncation accepts (`|x| < 2^(k - 1)`).
const TRUNC_K: u32 = 62;

/// `x 2^s` for `|x| < 2^bits`: local for `s >= 0`, an exact truncation (`floor`) otherwise.
pub(crate) fn shift<E: Engine>(e: &mut E, x: &ArithShare, bits: u32, s: i64) -> Result<ArithShare, ExecError> {
    if s >= 0 {
        return Ok(x.scale(1u64 << s));
    }
    let m = (-s) as u32;
    let k = (bits + 1).min(TRUNC_K);
    if m >= k {
        return Err(ExecError::Input(format!("internal: truncation of a {bits}-bit value by {m} bits")));
    }
    Ok(trunc(e, x, k, m)?)
}

/// A multiplier: public constants, or a secret one per element.
#[derive(Clone, Copy)]
pub(crate) enum Factor<'a> {
    /// Public `r`: one for every element, or one per element.
    Public(&'a [u64]),
    /// One secret `r` per element.
    Secret(&'a ArithShare),
}

/// `x r` elementwise for public `r` (one, or one per element).
fn scale_public(x: &ArithShare, r: &[u64]) -> Result<ArithShare, ExecError> {
    Ok(match r {
        [one] => x.scale(*one),
        _ => x.mul_public(r)?,
    })
}

/// `floor(x r / 2^k)` (up to two floors and a dropped part below two units: the result is within
/// `(-4, 0]` of `x r / 2^k`) for `|x| < 2^xb`, `0 <= r < 2^rb` (`xb, rb <= 60`, `k >= 0`), when
/// the result is below `2^61`.
///
/// When `x r` does not fit one ring element, both are split at `t` bits (`x = x_h 2^t + x_l`,
/// `0 <= x_l < 2^t`, `max(xb, rb) - 30 <= t <= 30`; one exact truncation, for both when `r` is
/// secret) and the partial products, each below `2^61`, are brought to the result's scale:
/// `x r = x_h r_h 2^(2t) + (x_h r_l + x_l r_h) 2^t + x_l r_l`. With `t = ceil(k / 2)` (when it is
/// in range) the first needs no truncation and the last is below two units of the result, so one
/// more truncation finishes.
pub(crate) fn mul_shift<E: Engine>(
    e: &mut E,
    x: &ArithShare,
    xb: u32,
    r: Factor<'_>,
    rb: u32,
    k: u32,
) -> Result<ArithShare, ExecError> {
    if xb > 60 || rb > 60 {
        return Err(ExecError::Input(format!("internal: a {xb} x {rb}-bit product is too wide")));
    }
    if xb + rb <= 61 {
        let p = match r {
            Factor::Public(r) => scale_public(x, r)?,
            Factor::Secret(r) => e.mul(x, r)?,
        };
        return shift(e, &p, xb + rb, -(k as i64));
    }
    // A public r split at u >= k (free): x r = x r_h 2^u + x r_l, the first already at the result's
    // scale, the second one truncation.
    if let Factor::Public(r) = r {
        let u = k.max((xb + rb).saturating_sub(61));
        if xb + u <= 61 && u < 64 {
            let r_hi: Vec<u64> = r.iter().map(|v| v >> u).collect();
            let r_lo: Vec<u64> = r.iter().map(|v| v & ((1u64 << u) - 1)).collect();
            let hi = scale_public(x, &r_hi)?.scale(1u64 << (u - k));
            return Ok(hi.add(&shift(e, &scale_public(x, &r_lo)?, xb + u, -(k as i64))?)?);
        }
    }
    let t_min = xb.max(rb) - 30;
    let t = if (t_min..=30).contains(&k.div_ceil(2)) { k.div_ceil(2) } else { t_min };
    let (x_hi, r_parts) = match r {
        Factor::Public(_) => (shift(e, x, xb, -(t as i64))?, None),
        Factor::Secret(r) => {
            let both = split_even(&shift(e, &cat(&[x, r])?, xb.max(rb), -(t as i64))?, 2)?;
            let r_hi = both[1].clone();
            let r_lo = r.sub(&r_hi.scale(1u64 << t))?;
            (both[0].clone(), Some((r_hi, r_lo)))
        }
    };
    let x_lo = x.sub(&x_hi.scale(1u64 << t))?;
    // P1 = x_h r_h, M = x_h r_l + x_l r_h, P4 = x_l r_l.
    let (p1, m, p4) = match (r, r_parts) {
        (Factor::Public(r), _) => {
            let r_hi: Vec<u64> = r.iter().map(|v| v >> t).collect();
            let r_lo: Vec<u64> = r.iter().map(|v| v & ((1u64 << t) - 1)).collect();
            (
                scale_public(&x_hi, &r_hi)?,
                scale_public(&x_hi, &r_lo)?.add(&scale_public(&x_lo, &r_hi)?)?,
                scale_public(&x_lo, &r_lo)?,
            )
        }
        (Factor::Secret(_), Some((r_hi, r_lo))) => {
            let p = e.mul(&cat(&[&x_hi, &x_hi, &x_lo, &x_lo])?, &cat(&[&r_hi, &r_lo, &r_hi, &r_lo])?)?;
            let p = split_even(&p, 4)?;
            (p[0].clone(), p[1].add(&p[2])?, p[3].clone())
        }
        (Factor::Secret(_), None) => return Err(ExecError::Input("internal: factor not split".into())),
    };
    let (k, t) = (k as i64, t as i64);
    // Each part at the result's scale; x_l r_l is dropped when below two units of the result.
    let hi = shift(e, &p1, 60, 2 * t - k)?;
    let mid = shift(e, &m, 61, t - k)?;
    let out = hi.add(&mid)?;
    if k + 1 >= 2 * t { Ok(out) } else { Ok(out.add(&shift(e, &p4, 60, -k)?)?) }
}

/// Concatenates boolean sharings word-aligned (padding lanes are garbage, harmless to ANDs).
fn bool_cat(parts: &[&BoolShare]) -> Result<BoolShare, ExecError> {
    let (mut s0, mut s1) = (Vec::new(), Vec::new());
    for p in parts {
        let (a, b) = p.components();
        s0.extend_from_slice(a);
        s1.extend_from_slice(b);
    }
    let lanes = 64 * s0.len();
    Ok(BoolShare::from_components(s0, s1, lanes)?)
}

/// Splits a word-aligned concatenation back into `k` sharings of `lanes` lanes.
fn bool_split(x: &BoolShare, k: usize, lanes: usize) -> Result<Vec<BoolShare>, ExecError> {
    let w = lanes.div_ceil(64);
    let (a, b) = x.components();
    (0..k)
        .map(|i| Ok(BoolShare::from_components(a[i * w..(i + 1) * w].to_vec(), b[i * w..(i + 1) * w].to_vec(), lanes)?))
        .collect()
}

/// Packs several sharings of `lanes` lanes each into one of `k lanes` lanes (no padding).
fn bool_pack(parts: &[BoolShare], lanes: usize) -> Result<BoolShare, ExecError> {
    let total = lanes * parts.len();
    let mut s0 = vec![0u64; total.div_ceil(64)];
    let mut s1 = vec![0u64; total.div_ceil(64)];
    for (j, p) in parts.iter().enumerate() {
        let (a, b) = p.components();
        for l in 0..lanes {
            let pos = j * lanes + l;
            s0[pos / 64] |= ((a[l / 64] >> (l % 64)) & 1) << (pos % 64);
            s1[pos / 64] |= ((b[l / 64] >> (l % 64)) & 1) << (pos % 64);
        }
    }
    Ok(BoolShare::from_components(s0, s1, total)?)
}

/// For `0 <= x < 2^bits` (every element; `2 <= bits <= 62`): `z_i = [msb(x) = i]` for
/// `i < bits` as arithmetic 0/1, all zero where `x = 0`. One bit decomposition, a suffix OR of
/// the top `bits` planes (a Hillis–Steele scan of ANDs of the negated bits, `log2 bits` rounds)
/// and one batched bit injection (Catrina–Saxena's `Norm`, with every one-hot bit injected so
/// that any public function of the msb is a local weighted sum).
pub(crate) fn msb_onehot<E: Engine>(e: &mut E, x: &ArithShare, bits: u32) -> Result<Vec<ArithShare>, ExecError> {
    if !(2..=62).contains(&bits) {
        return Err(ExecError::Input("internal: msb of more than 62 bits".into()));
    }
    let me = e.session().me();
    let (n, l) = (x.len(), bits as usize);
    let planes = bit_decompose(e, x)?.planes;
    // a_i = AND_{j >= i} !x_j (no bit at or above i).
    let mut a: Vec<BoolShare> = planes[..l].iter().map(|p| p.not(me)).collect();
    let mut d = 1;
    while d < l {
        let left: Vec<&BoolShare> = a[..l - d].iter().collect();
        let right: Vec<&BoolShare> = a[d..].iter().collect();
        let prod = e.and(&bool_cat(&left)?, &bool_cat(&right)?)?;
        for (i, p) in bool_split(&prod, l - d, n)?.into_iter().enumerate() {
            a[i] = p;
        }
        d *= 2;
    }
    // z_i = a_{i+1} & !a_i = a_i ^ a_{i+1} (a_l = 1).
    let mut z = Vec::with_capacity(l);
    for i in 0..l {
        z.push(match a.get(i + 1) {
            Some(next) => a[i].xor(next)?,
            None => a[i].not(me),
        });
    }
    let all = arith_bits(e, &bool_pack(&z, n)?)?;
    split_even(&all, l)
}

/// `sum_i z_i w(i)` for one-hot arithmetic bits `z_i` and public weights (local).
pub(crate) fn weighted(z: &[ArithShare], w: impl Fn(usize) -> u64) -> Result<ArithShare, ExecError> {
    let mut acc = z.first().map(|z0| z0.scale(0)).ok_or_else(|| ExecError::Input("internal: no bits".into()))?;
    for (i, zi) in z.iter().enumerate() {
        acc = acc.add(&zi.scale(w(i)))?;
    }
    Ok(acc)
}
