//! Is the arithmetic share the parsed number? `N = sum_p [sel_p] N_p + [sel_none] N_none`,
//! where each `N_p` is a public (per lane) linear combination of the digit values, which are
//! linear in the bit-injected low nibbles of the bytes. Then `N - value == 0` by bit
//! decomposition of the difference (A2B by local conversion and a carry-save plus
//! ripple-carry adder, ABY3 ePrint 2018/403 Sec. 5.3) and an AND tree over the negated bits.
//! Nothing but the final bit is ever opened.
//!
//! Cost per lane: `2 * (4 M + P + 1)` multiplications for the bit injections (`M` value
//! bytes, `P` possible point positions), `P + 1` for the selection, 125 + 63 ANDs.

use triad_mpc_core::circuits::b2a;
use triad_mpc_core::engine::Engine;
use triad_mpc_core::{ArithShare, BoolShare, Result};

use crate::ValueShape;
use crate::decimal::{Selectors, dot_candidate, no_dot_allowed};
use crate::gates::{Bit, Lanes, Word, add_many, and_all, pack};

/// The weight of byte `k` in the number of a `len`-byte value with its point at `point`.
fn weight(shape: &ValueShape, len: usize, point: Option<usize>, k: usize) -> u64 {
    let d = shape.max_decimals as usize;
    let exp = match point {
        None if k < len => Some(len - 1 - k + d),
        Some(p) if k < p => Some(p - 1 - k + d),
        Some(p) if k > p && k < len && k - p <= d => Some(d - (k - p)),
        _ => None,
    };
    exp.map_or(0, |x| 10u64.pow(x as u32))
}

/// Slice element range `i * n .. (i + 1) * n` of `x`.
fn slice(x: &ArithShare, i: usize, n: usize) -> Result<ArithShare> {
    let (a, b) = x.components();
    ArithShare::from_components(a[i * n..(i + 1) * n].to_vec(), b[i * n..(i + 1) * n].to_vec())
}

fn concat(parts: &[ArithShare]) -> Result<ArithShare> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for p in parts {
        let (x, y) = p.components();
        a.extend_from_slice(x);
        b.extend_from_slice(y);
    }
    ArithShare::from_components(a, b)
}

/// `[N == value]` per lane.
pub(crate) fn value_matches<E: Engine>(
    e: &mut E,
    lanes: &Lanes,
    shape: &ValueShape,
    bytes: &[[BoolShare; 8]],
    sel: &Selectors,
    lens: &[usize],
    value: &ArithShare,
) -> Result<Bit> {
    let n = lanes.n;
    let m = bytes.len();
    // Bit injection of the low nibbles and of the selectors, in one call.
    let mut planes: Vec<&BoolShare> = bytes.iter().flat_map(|b| b[..4].iter()).collect();
    let points: Vec<(Option<usize>, &BoolShare)> = sel
        .dot
        .iter()
        .enumerate()
        .filter_map(|(p, s)| s.as_ref().map(|s| (Some(p), s)))
        .chain(sel.none.as_ref().map(|s| (None, s)))
        .collect();
    planes.extend(points.iter().map(|(_, s)| *s));
    let arith = b2a(e, &pack(&planes, n)?)?;
    let zero = ArithShare::public(lanes.me, &vec![0; n]);
    let digits: Vec<ArithShare> = (0..m)
        .map(|k| (0..4).try_fold(zero.clone(), |acc, j| acc.add(&slice(&arith, 4 * k + j, n)?.scale(1 << j))))
        .collect::<Result<_>>()?;
    // N_p for every selector, then one multiplication per selector.
    let mut sels = Vec::new();
    let mut numbers = Vec::new();
    for (i, &(point, _)) in points.iter().enumerate() {
        sels.push(slice(&arith, 4 * m + i, n)?);
        let mut num = zero.clone();
        for (k, d) in digits.iter().enumerate() {
            let w: Vec<u64> = lens
                .iter()
                .map(|&len| {
                    let possible = match point {
                        Some(p) => dot_candidate(shape, len, p),
                        None => no_dot_allowed(shape, len),
                    };
                    if possible { weight(shape, len, point, k) } else { 0 }
                })
                .collect();
            num = num.add(&d.mul_public(&w)?)?;
        }
        numbers.push(num);
    }
    let mut parsed = zero.clone();
    if !points.is_empty() {
        let prod = e.mul(&concat(&sels)?, &concat(&numbers)?)?;
        for i in 0..points.len() {
            parsed = parsed.add(&slice(&prod, i, n)?)?;
        }
    }
    eq_zero(e, lanes, &parsed.sub(value)?)
}

/// `[x == 0]` per lane: the three arithmetic components as trivial boolean sharings, their
/// 64-bit sum (125 ANDs), then the AND of the negated bits (63 ANDs, 6 rounds).
fn eq_zero<E: Engine>(e: &mut E, lanes: &Lanes, x: &ArithShare) -> Result<Bit> {
    let n = lanes.n;
    let i = lanes.me.index();
    let (c0, c1) = x.components();
    let zeros = vec![0u64; lanes.words()];
    let plane = |c: &[u64], b: usize| -> Vec<u64> {
        let mut w = vec![0u64; lanes.words()];
        for (l, v) in c.iter().enumerate() {
            w[l / 64] |= ((v >> b) & 1) << (l % 64);
        }
        w
    };
    let component = |j: usize| -> Result<Word> {
        (0..64)
            .map(|b| {
                let (s0, s1) = if j == i {
                    (plane(c0, b), zeros.clone())
                } else if j == (i + 1) % 3 {
                    (zeros.clone(), plane(c1, b))
                } else {
                    (zeros.clone(), zeros.clone())
                };
                BoolShare::from_components(s0, s1, n).map(Some)
            })
            .collect::<Result<_>>()
            .map(Word)
    };
    let words = vec![component(0)?, component(1)?, component(2)?];
    let mut sum = add_many(e, lanes, vec![words], 64)?;
    let bits = sum.pop().map(|w| w.0).unwrap_or_default();
    let negated = bits.iter().map(|b| lanes.not(b)).collect::<Result<Vec<_>>>()?;
    and_all(e, lanes, negated)
}
