//! Small helpers over shares: concatenation, public vectors, bit lengths.

use triad_mpc_core::circuits::{b2a, eqz, ltz};
use triad_mpc_core::engine::Engine;
use triad_mpc_core::{ArithShare, BoolShare, PartyId};

use super::ExecError;

/// Concatenates sharings (to batch independent gates in one round).
pub(crate) fn cat(parts: &[&ArithShare]) -> Result<ArithShare, ExecError> {
    let (mut s0, mut s1) = (Vec::new(), Vec::new());
    for p in parts {
        let (a, b) = p.components();
        s0.extend_from_slice(a);
        s1.extend_from_slice(b);
    }
    Ok(ArithShare::from_components(s0, s1)?)
}

/// Splits a concatenation into parts of the given lengths.
pub(crate) fn split(x: &ArithShare, lens: &[usize]) -> Result<Vec<ArithShare>, ExecError> {
    if lens.iter().sum::<usize>() != x.len() {
        return Err(ExecError::Input("internal: split lengths differ from the sharing".into()));
    }
    let (a, b) = x.components();
    let mut at = 0;
    let mut out = Vec::with_capacity(lens.len());
    for &l in lens {
        out.push(ArithShare::from_components(a[at..at + l].to_vec(), b[at..at + l].to_vec())?);
        at += l;
    }
    Ok(out)
}

/// Splits into `k` equal parts.
pub(crate) fn split_even(x: &ArithShare, k: usize) -> Result<Vec<ArithShare>, ExecError> {
    if k == 0 || !x.len().is_multiple_of(k) {
        return Err(ExecError::Input("internal: uneven split".into()));
    }
    split(x, &vec![x.len() / k; k])
}

/// Element `i` as a sharing of length 1.
pub(crate) fn at(x: &ArithShare, i: usize) -> Result<ArithShare, ExecError> {
    let (a, b) = x.components();
    match (a.get(i), b.get(i)) {
        (Some(a), Some(b)) => Ok(ArithShare::from_components(vec![*a], vec![*b])?),
        _ => Err(ExecError::Input("internal: element out of range".into())),
    }
}

/// A public constant repeated `n` times, as a sharing (two's complement for negatives).
pub(crate) fn constant(me: PartyId, c: i128, n: usize) -> ArithShare {
    ArithShare::public(me, &vec![c as i64 as u64; n])
}

/// `x + c` for a public signed constant.
pub(crate) fn add_const(me: PartyId, x: &ArithShare, c: i128) -> Result<ArithShare, ExecError> {
    Ok(x.add_public(me, &vec![c as i64 as u64; x.len()])?)
}

/// `x * c` for a public signed constant (local, modulo 2^64).
pub(crate) fn mul_const(x: &ArithShare, c: i128) -> ArithShare {
    x.scale(c as i64 as u64)
}

/// `1 - x` for arithmetic bits.
pub(crate) fn one_minus(me: PartyId, x: &ArithShare) -> Result<ArithShare, ExecError> {
    Ok(constant(me, 1, x.len()).sub(x)?)
}

/// Boolean bits (one lane per element) as arithmetic 0/1.
pub(crate) fn arith_bits<E: Engine>(e: &mut E, b: &BoolShare) -> Result<ArithShare, ExecError> {
    Ok(b2a(e, b)?)
}

/// The number of bits of `v`: the least `b` with `v < 2^b`.
pub(crate) fn bits(v: u128) -> u32 {
    128 - v.leading_zeros()
}

/// A sharing repeated `k` times (to pair with a concatenation).
pub(crate) fn tile(x: &ArithShare, k: usize) -> Result<ArithShare, ExecError> {
    let parts: Vec<&ArithShare> = std::iter::repeat_n(x, k).collect();
    cat(&parts)
}

/// `[x < 0]` as arithmetic 0/1.
pub(crate) fn ltz_bits<E: Engine>(e: &mut E, x: &ArithShare) -> Result<ArithShare, ExecError> {
    let b = ltz(e, x)?;
    arith_bits(e, &b)
}

/// `[x = 0]` as arithmetic 0/1.
pub(crate) fn eqz_bits<E: Engine>(e: &mut E, x: &ArithShare) -> Result<ArithShare, ExecError> {
    let b = eqz(e, x)?;
    arith_bits(e, &b)
}
