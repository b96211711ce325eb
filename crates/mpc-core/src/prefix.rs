//! Log-depth carry computation (parallel prefix) for the adders and comparisons of short vectors.
//!
//! A carry chain `c_{j+1} = g_j ^ (p_j & c_j)`, `c_0 = 0`, rippled costs one AND per bit and as
//! many rounds. Over a few lanes (the scalars a statistic ends with) every round is a network
//! round trip and the ANDs are nearly free, so there the carries come from the prefix of the
//! associative operator `(G, P) o (G', P') = (G ^ (P & G'), P & P')` (`(G, P)` the higher
//! segment): Sklansky's tree for every carry, `ceil(log2 w)` rounds and about `w log2 w` ANDs
//! per lane, or a plain tree for the last carry only, the same rounds and `2 w` ANDs. Over many
//! lanes the ripple stays (throughput-bound: fewer ANDs win). The outputs are the same bits
//! either way.

use crate::circuits::{concat, split};
use crate::engine::Engine;
use crate::{BoolShare, Error, PartyId, Result};

/// Lanes up to which the adders and comparisons take the log-depth circuits. A round trip on
/// localhost costs about 0.1 ms, an AND lane (gate, proof, a bit on the wire) about 10 ns: the
/// full prefix's extra `w log2 w` ANDs per lane pay for its `w - log2 w` saved rounds up to a
/// few thousand lanes.
pub(crate) const LOG_DEPTH_LANES: usize = 2048;

/// Lanes up to which a chain whose last carry alone is wanted (a comparison, a borrow) takes the
/// tree: it costs about one AND per bit more than the ripple, not `log2 w`.
pub(crate) const LAST_CARRY_LANES: usize = 8192;

/// How a carry chain is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Depth {
    /// One AND per bit, one round per bit.
    Ripple,
    /// A parallel prefix: logarithmically many rounds.
    Log,
}

impl Depth {
    /// For an adder (every carry) over `n` lanes.
    pub(crate) fn adder(n: usize) -> Depth {
        if n <= LOG_DEPTH_LANES { Depth::Log } else { Depth::Ripple }
    }

    /// For a comparison (the last carry) whose generate bits cost an AND round, over `n` lanes.
    pub(crate) fn comparison(n: usize) -> Depth {
        Depth::adder(n)
    }

    /// For a borrow against a public operand (local generate bits), over `n` lanes.
    pub(crate) fn borrow(n: usize) -> Depth {
        if n <= LAST_CARRY_LANES { Depth::Log } else { Depth::Ripple }
    }
}

/// Every carry `c_1 ..= c_w` of the chain with generate bits `g` and propagate bits `p` (`w`
/// each, `n` lanes), `c_0 = 0`: Sklansky's prefix, `ceil(log2 w)` rounds.
pub(crate) fn all_carries<E: Engine>(
    e: &mut E,
    mut g: Vec<BoolShare>,
    mut p: Vec<BoolShare>,
    n: usize,
) -> Result<Vec<BoolShare>> {
    let w = g.len();
    let mut d = 1;
    while d < w {
        // Position j in the upper half of its block of 2d takes the top of the lower half, l.
        let pairs: Vec<(usize, usize)> =
            (0..w).filter(|j| j & d != 0).map(|j| (j, (j & !(2 * d - 1)) + d - 1)).collect();
        // P of a segment that starts at bit 0 is never read again.
        let need_p: Vec<bool> = pairs.iter().map(|&(j, _)| j & !(2 * d - 1) != 0).collect();
        let mut left: Vec<&BoolShare> = pairs.iter().map(|&(j, _)| &p[j]).collect();
        let mut right: Vec<&BoolShare> = pairs.iter().map(|&(_, l)| &g[l]).collect();
        for (&(j, l), &np) in pairs.iter().zip(&need_p) {
            if np {
                left.push(&p[j]);
                right.push(&p[l]);
            }
        }
        let k = left.len();
        let prod = split(&e.and(&concat(&left)?, &concat(&right)?)?, k, n)?;
        let mut rest = prod[pairs.len()..].iter();
        for (i, (&(j, _), &np)) in pairs.iter().zip(&need_p).enumerate() {
            g[j] = g[j].xor(&prod[i])?;
            if np && let Some(pp) = rest.next() {
                p[j] = pp.clone();
            }
        }
        d *= 2;
    }
    Ok(g)
}

/// The last carry `c_w` of the chain with generate bits `g` and propagate bits `p` (`w >= 1`
/// each, `n` lanes), `c_0 = 0`: a tree of the prefix operator, `ceil(log2 w)` rounds.
pub(crate) fn last_carry<E: Engine>(
    e: &mut E,
    mut g: Vec<BoolShare>,
    mut p: Vec<BoolShare>,
    n: usize,
) -> Result<BoolShare> {
    if g.is_empty() || g.len() != p.len() {
        return Err(Error::InvalidArgument("last_carry: needs as many generate as propagate bits, at least one"));
    }
    // Segments, lowest first; the lowest one's P is never needed (a copy stands in for it).
    while g.len() > 1 {
        let pairs = g.len() / 2;
        let mut left: Vec<&BoolShare> = Vec::with_capacity(2 * pairs);
        let mut right: Vec<&BoolShare> = Vec::with_capacity(2 * pairs);
        for i in 0..pairs {
            // (lo, hi) = (2i, 2i + 1): G = G_hi ^ (P_hi & G_lo), P = P_hi & P_lo.
            left.push(&p[2 * i + 1]);
            right.push(&g[2 * i]);
        }
        for i in 1..pairs {
            left.push(&p[2 * i + 1]);
            right.push(&p[2 * i]);
        }
        let k = left.len();
        let prod = split(&e.and(&concat(&left)?, &concat(&right)?)?, k, n)?;
        let mut next_g = Vec::with_capacity(g.len().div_ceil(2));
        let mut next_p = Vec::with_capacity(g.len().div_ceil(2));
        for i in 0..pairs {
            next_g.push(g[2 * i + 1].xor(&prod[i])?);
            next_p.push(if i == 0 { p[1].clone() } else { prod[pairs + i - 1].clone() });
        }
        if g.len() % 2 == 1
            && let (Some(lg), Some(lp)) = (g.last(), p.last())
        {
            next_g.push(lg.clone());
            next_p.push(lp.clone());
        }
        g = next_g;
        p = next_p;
    }
    Ok(g.swap_remove(0))
}

/// The bits of `s + 2 t` over `w = s.len()` bits (`t` has at least `w - 1` planes; what it has
/// above them is shifted out), `n` lanes, and with `carry_out` the carry out of bit `w - 1`.
/// The carry into bit `j + 1` is `maj(s_j, t_{j-1}, c_j)`: rippled, one AND per bit from bit 1
/// on and as many rounds; with [`Depth::Log`] one AND round for the generate bits and
/// [`all_carries`].
pub(crate) fn add_doubled<E: Engine>(
    e: &mut E,
    me: PartyId,
    s: &[BoolShare],
    t: &[BoolShare],
    n: usize,
    carry_out: bool,
    depth: Depth,
) -> Result<(Vec<BoolShare>, Option<BoolShare>)> {
    let w = s.len();
    if w == 0 || t.len() + 1 < w {
        return Err(Error::InvalidArgument("add_doubled: needs w >= 1 sum planes and w - 1 carry planes"));
    }
    let zero = BoolShare::public(me, &vec![0u64; n.div_ceil(64)], n)?;
    let mut out = Vec::with_capacity(w);
    out.push(s[0].clone());
    // Positions 1..=last produce the carries c_2..=c_{last + 1}.
    let last = if carry_out { w - 1 } else { w.saturating_sub(2) };
    if depth == Depth::Ripple {
        let mut carry = zero;
        for j in 1..w {
            let tb = &t[j - 1];
            out.push(s[j].xor(tb)?.xor(&carry)?);
            if j <= last {
                let x = s[j].xor(&carry)?;
                let y = tb.xor(&carry)?;
                carry = e.and(&x, &y)?.xor(&carry)?;
            }
        }
        return Ok((out, carry_out.then_some(carry)));
    }
    let positions = 1..=last;
    let mut carries = if last >= 1 {
        let left: Vec<&BoolShare> = positions.clone().map(|j| &s[j]).collect();
        let right: Vec<&BoolShare> = positions.clone().map(|j| &t[j - 1]).collect();
        let g = split(&e.and(&concat(&left)?, &concat(&right)?)?, left.len(), n)?;
        let p = positions.map(|j| s[j].xor(&t[j - 1])).collect::<Result<Vec<_>>>()?;
        all_carries(e, g, p, n)?
    } else {
        Vec::new()
    };
    // carries[i] = c_{i + 2}; c_1 = 0.
    for j in 1..w {
        let sum = s[j].xor(&t[j - 1])?;
        out.push(if j >= 2 { sum.xor(&carries[j - 2])? } else { sum });
    }
    let carry = if carry_out { Some(carries.pop().unwrap_or(zero)) } else { None };
    Ok((out, carry))
}

/// The bits of `a + b mod 2^w` (`w = a.len() = b.len()` planes, `n` lanes): rippled, the carry
/// into bit `j + 1` is `maj(a_j, b_j, c_j)`, one AND per bit from bit 0 to `w - 2`; with
/// [`Depth::Log`] one AND round for the generate bits `a_j & b_j` and [`all_carries`].
pub(crate) fn add<E: Engine>(
    e: &mut E,
    me: PartyId,
    a: &[BoolShare],
    b: &[BoolShare],
    n: usize,
    depth: Depth,
) -> Result<Vec<BoolShare>> {
    let w = a.len();
    if w == 0 || b.len() != w {
        return Err(Error::InvalidArgument("add: needs two operands of w >= 1 planes"));
    }
    let p = a.iter().zip(b).map(|(x, y)| x.xor(y)).collect::<Result<Vec<_>>>()?;
    if w == 1 {
        return Ok(p);
    }
    let mut out = Vec::with_capacity(w);
    out.push(p[0].clone());
    if depth == Depth::Ripple {
        let mut carry = BoolShare::public(me, &vec![0u64; n.div_ceil(64)], n)?;
        for j in 0..w - 1 {
            let x = a[j].xor(&carry)?;
            let y = b[j].xor(&carry)?;
            carry = e.and(&x, &y)?.xor(&carry)?;
            out.push(p[j + 1].xor(&carry)?);
        }
        return Ok(out);
    }
    let left: Vec<&BoolShare> = a[..w - 1].iter().collect();
    let right: Vec<&BoolShare> = b[..w - 1].iter().collect();
    let g = split(&e.and(&concat(&left)?, &concat(&right)?)?, w - 1, n)?;
    // carries[j] = c_{j + 1}
    let carries = all_carries(e, g, p[..w - 1].to_vec(), n)?;
    for j in 1..w {
        out.push(p[j].xor(&carries[j - 1])?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::{Party, run3};

    /// Deterministic pseudo-random words.
    fn words(seed: u64, n: usize) -> Vec<u64> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            })
            .collect()
    }

    /// Plane `k` (bit `k` of every value) as a public sharing of `n` lanes.
    fn planes(pt: &mut Party, vals: &[u64], w: usize) -> Result<Vec<BoolShare>> {
        (0..w)
            .map(|k| {
                let mut plane = vec![0u64; vals.len().div_ceil(64)];
                for (l, v) in vals.iter().enumerate() {
                    plane[l / 64] |= ((v >> k) & 1) << (l % 64);
                }
                pt.share_public_bits(&plane, vals.len())
            })
            .collect()
    }

    fn lane_values(pt: &mut Party, planes: &[BoolShare], n: usize) -> Result<Vec<u64>> {
        let mut out = vec![0u64; n];
        for (k, p) in planes.iter().enumerate() {
            let bits = pt.open_bits(p)?;
            for (l, o) in out.iter_mut().enumerate() {
                *o |= ((bits[l / 64] >> (l % 64)) & 1) << k;
            }
        }
        Ok(out)
    }

    #[test]
    fn both_depths_add_like_plaintext_at_every_width() {
        let n = 70;
        for w in [1usize, 2, 3, 7, 8, 31, 64] {
            let mask = if w == 64 { u64::MAX } else { (1u64 << w) - 1 };
            let (s, t) = (words(w as u64, n), words(100 + w as u64, n));
            for carry_out in [false, true] {
                for depth in [Depth::Ripple, Depth::Log] {
                    let (s2, t2) = (s.clone(), t.clone());
                    let [a, b, c] = run3(None, move |pt| {
                        let me = pt.me();
                        let sp = planes(pt, &s2, w)?;
                        let tp = planes(pt, &t2, w.saturating_sub(1))?;
                        let (sum, carry) = add_doubled(pt, me, &sp, &tp, n, carry_out, depth)?;
                        let carry = match carry {
                            Some(c) => lane_values(pt, &[c], n)?,
                            None => Vec::new(),
                        };
                        Ok((lane_values(pt, &sum, n)?, carry))
                    });
                    let (sum, carry) = a.expect("party 0");
                    assert_eq!(b.expect("party 1"), (sum.clone(), carry.clone()));
                    assert_eq!(c.expect("party 2"), (sum.clone(), carry.clone()));
                    for l in 0..n {
                        let (sv, tv) = (s[l] & mask, t[l] & (mask >> 1));
                        let exact = u128::from(sv) + 2 * u128::from(tv);
                        assert_eq!(u128::from(sum[l]), exact & u128::from(mask), "w={w} {depth:?} lane {l}");
                        if carry_out {
                            assert_eq!(u128::from(carry[l]), exact >> w, "w={w} {depth:?} lane {l} carry");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn both_depths_add_two_operands_like_plaintext() {
        let n = 90;
        for w in [1usize, 2, 5, 21, 64] {
            let mask = if w == 64 { u64::MAX } else { (1u64 << w) - 1 };
            let (a, b) = (words(3 * w as u64, n), words(5 * w as u64 + 2, n));
            for depth in [Depth::Ripple, Depth::Log] {
                let (a2, b2) = (a.clone(), b.clone());
                let [r, _, _] = run3(None, move |pt| {
                    let me = pt.me();
                    let ap = planes(pt, &a2, w)?;
                    let bp = planes(pt, &b2, w)?;
                    let sum = add(pt, me, &ap, &bp, n, depth)?;
                    lane_values(pt, &sum, n)
                });
                let got = r.expect("party 0");
                for l in 0..n {
                    assert_eq!(got[l], a[l].wrapping_add(b[l]) & mask, "w={w} {depth:?} lane {l}");
                }
            }
        }
    }

    #[test]
    fn the_last_carry_tree_equals_the_chain() {
        let n = 130;
        for w in [1usize, 2, 3, 5, 16, 33] {
            let (a, b) = (words(7 * w as u64, n), words(11 * w as u64 + 1, n));
            let (a2, b2) = (a.clone(), b.clone());
            let [r, _, _] = run3(None, move |pt| {
                let ap = planes(pt, &a2, w)?;
                let bp = planes(pt, &b2, w)?;
                // Generate a & b, propagate a ^ b: the carry out of a + b.
                let g = (0..w).map(|k| pt.and(&ap[k], &bp[k])).collect::<Result<Vec<_>>>()?;
                let p = (0..w).map(|k| ap[k].xor(&bp[k])).collect::<Result<Vec<_>>>()?;
                let c = last_carry(pt, g, p, n)?;
                lane_values(pt, &[c], n)
            });
            let got = r.expect("party 0");
            let mask = (1u128 << w) - 1;
            for l in 0..n {
                let sum = (u128::from(a[l]) & mask) + (u128::from(b[l]) & mask);
                assert_eq!(u128::from(got[l]), sum >> w, "w={w} lane {l}");
            }
        }
    }
}
