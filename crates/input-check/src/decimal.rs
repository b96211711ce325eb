//! The value grammar `DIGIT{1,I} ("." DIGIT{1,D})?` (normative in
//! `proto/triad/provider/v1/bundle.proto`, the parser is `triad_provider::decimal`) as a
//! boolean formula over the first `value_len` bytes.
//!
//! With the length public, the candidate positions of the point are public per lane: `p`
//! with `1 <= p <= len - 2`, `p <= I` and `len - 1 - p <= D`. A value is well formed iff
//! exactly one of these selectors is 1 (they are mutually exclusive, so their XOR is the
//! verdict, and they are also the weights of the parse):
//!
//! * `sel_p`: byte `p` is '.', every other byte is a digit (`p` a candidate);
//! * `sel_none`: every byte is a digit and `1 <= len <= I`.
//!
//! Per byte, `is_digit` and `is_dot` take 11 ANDs in 4 rounds; "every byte but `p` is a
//! digit" is a prefix AND times a suffix AND (bytes past `len` count as digits).

use triad_mpc_core::engine::Engine;
use triad_mpc_core::{BoolShare, Result};

use crate::ValueShape;
use crate::gates::{Bit, Lanes, Layer, Pending, and_public, xor};

/// True if byte `p` may hold the point of a `len`-byte value.
pub(crate) fn dot_candidate(shape: &ValueShape, len: usize, p: usize) -> bool {
    shape.max_decimals > 0
        && p >= 1
        && p + 2 <= len
        && p <= shape.max_integer_digits as usize
        && len - 1 - p <= shape.max_decimals as usize
}

/// True if a `len`-byte value may be all digits.
pub(crate) fn no_dot_allowed(shape: &ValueShape, len: usize) -> bool {
    len >= 1 && len <= shape.max_integer_digits as usize
}

/// The plaintext parser: `value * 10^D`, or `None` if `bytes` is not a well-formed decimal
/// of the shape. Accepts exactly what `triad_provider::decimal::DecimalFormat::parse` does.
pub fn parse_plain(shape: &ValueShape, bytes: &[u8]) -> Option<u64> {
    let len = bytes.len();
    let digits = |r: std::ops::Range<usize>| bytes[r].iter().all(u8::is_ascii_digit);
    let value = |skip: Option<usize>| {
        let mut n: u64 = 0;
        for (k, &b) in bytes.iter().enumerate() {
            if Some(k) != skip {
                n = n * 10 + u64::from(b - b'0');
            }
        }
        let frac = skip.map_or(0, |p| len - 1 - p);
        (frac..shape.max_decimals as usize).fold(n, |n, _| n * 10)
    };
    if no_dot_allowed(shape, len) && digits(0..len) {
        return Some(value(None));
    }
    let p = bytes.iter().position(|&b| b == b'.')?;
    (dot_candidate(shape, len, p) && digits(0..p) && digits(p + 1..len)).then(|| value(Some(p)))
}

/// The selectors of a batch: `sel[p]` for `p < value_max_len` (the constant 0 where no lane
/// has a candidate point), then `sel_none`.
pub(crate) struct Selectors {
    pub(crate) dot: Vec<Bit>,
    pub(crate) none: Bit,
}

impl Selectors {
    /// Well formed: the XOR of the (mutually exclusive) selectors.
    pub(crate) fn well_formed(&self) -> Result<Bit> {
        self.dot.iter().try_fold(self.none.clone(), |acc, s| xor(&acc, s))
    }
}

/// `is_digit` (0x30..=0x39) and `is_dot` (0x2e) of one byte given as 8 bit planes.
fn classify<E: Engine>(e: &mut E, lanes: &Lanes, bytes: &[[BoolShare; 8]]) -> Result<Vec<(Bit, Bit)>> {
    let b: Vec<[Bit; 8]> = bytes.iter().map(|p| std::array::from_fn(|j| Some(p[j].clone()))).collect();
    let not = |x: &Bit| lanes.not(x);
    // Round 1: a = !b7 & !b6, c = !b2 & !b1, x = b3 & b2, y = b1 & !b0.
    let mut layer = Layer::default();
    let mut r1 = Vec::new();
    for v in &b {
        r1.push([
            layer.and(&not(&v[7])?, &not(&v[6])?),
            layer.and(&not(&v[2])?, &not(&v[1])?),
            layer.and(&v[3], &v[2]),
            layer.and(&v[1], &not(&v[0])?),
        ]);
    }
    let done = layer.run(e, lanes.n)?;
    let r1: Vec<[Bit; 4]> = r1.into_iter().map(|ps| take4(&done, ps)).collect::<Result<_>>()?;
    // Round 2: hi = a & b5 (0b001x_xxxx), g = b3 & (b2 | b1) (low nibble > 9), xy = x & y.
    let mut layer = Layer::default();
    let mut r2 = Vec::new();
    for (v, [a, c, x, y]) in b.iter().zip(&r1) {
        r2.push([layer.and(a, &v[5]), layer.and(&v[3], &not(c)?), layer.and(x, y)]);
    }
    let done = layer.run(e, lanes.n)?;
    let r2: Vec<[Bit; 3]> =
        r2.into_iter().map(|[p, q, r]| Ok([done.get(p)?, done.get(q)?, done.get(r)?])).collect::<Result<_>>()?;
    // Round 3: hi & b4, hi & !b4.
    let mut layer = Layer::default();
    let mut r3 = Vec::new();
    for (v, [hi, _, _]) in b.iter().zip(&r2) {
        r3.push([layer.and(hi, &v[4]), layer.and(hi, &not(&v[4])?)]);
    }
    let done = layer.run(e, lanes.n)?;
    let r3: Vec<[Bit; 2]> = r3.into_iter().map(|[p, q]| Ok([done.get(p)?, done.get(q)?])).collect::<Result<_>>()?;
    // Round 4: digit = hi & b4 & !g, dot = hi & !b4 & b3 & b2 & b1 & !b0.
    let mut layer = Layer::default();
    let mut r4 = Vec::new();
    for ([_, g, xy], [hi4, hin4]) in r2.iter().zip(&r3) {
        r4.push([layer.and(hi4, &not(g)?), layer.and(hin4, xy)]);
    }
    let done = layer.run(e, lanes.n)?;
    r4.into_iter().map(|[p, q]| Ok((done.get(p)?, done.get(q)?))).collect()
}

fn take4(done: &crate::gates::Done, ps: [Pending; 4]) -> Result<[Bit; 4]> {
    let [a, b, c, d] = ps;
    Ok([done.get(a)?, done.get(b)?, done.get(c)?, done.get(d)?])
}

/// The selectors for the value byte planes `bytes` (`value_max_len` bytes) and the public
/// lengths.
pub(crate) fn selectors<E: Engine>(
    e: &mut E,
    lanes: &Lanes,
    shape: &ValueShape,
    bytes: &[[BoolShare; 8]],
    lens: &[usize],
) -> Result<Selectors> {
    let m = bytes.len();
    let classes = classify(e, lanes, bytes)?;
    // Past the length: a digit, not a point; a point only at a candidate position.
    let mut digit = Vec::with_capacity(m);
    let mut dot = Vec::with_capacity(m);
    for (k, (d, p)) in classes.into_iter().enumerate() {
        let inside = lanes.mask(|l| k < lens[l]);
        digit.push(xor(&and_public(&d, &inside)?, &lanes.public(|l| k >= lens[l])?)?);
        dot.push(and_public(&p, &lanes.mask(|l| dot_candidate(shape, lens[l], k)))?);
    }
    // prefix[k] = digit[0] & .. & digit[k-1] (k >= 1); suffix[k] = digit[k+1] & .. & digit[m-1]
    // (k <= m-2); one layer advances both.
    let mut prefix: Vec<Bit> = vec![None; m + 1];
    let mut suffix: Vec<Bit> = vec![None; m];
    if m >= 1 {
        prefix[1] = digit[0].clone();
    }
    if m >= 2 {
        suffix[m - 2] = digit[m - 1].clone();
    }
    for t in 1..m {
        let mut layer = Layer::default();
        let p = layer.and(&prefix[t], &digit[t]);
        let s = (t + 2 < m).then(|| layer.and(&suffix[m - 1 - t], &digit[m - 1 - t]));
        let done = layer.run(e, lanes.n)?;
        prefix[t + 1] = done.get(p)?;
        if let Some(s) = s {
            suffix[m - 2 - t] = done.get(s)?;
        }
    }
    // sel_p = dot[p] & prefix[p] & suffix[p], for the positions where some lane has a candidate.
    let positions: Vec<usize> = (1..m.saturating_sub(1)).filter(|&p| dot[p].is_some()).collect();
    let mut layer = Layer::default();
    let around: Vec<Pending> = positions.iter().map(|&p| layer.and(&prefix[p], &suffix[p])).collect();
    let done = layer.run(e, lanes.n)?;
    let around: Vec<Bit> = around.into_iter().map(|p| done.get(p)).collect::<Result<_>>()?;
    let mut layer = Layer::default();
    let sel: Vec<Pending> = positions.iter().zip(&around).map(|(&p, a)| layer.and(&dot[p], a)).collect();
    let done = layer.run(e, lanes.n)?;
    let mut sels: Vec<Bit> = vec![None; m];
    for (&p, s) in positions.iter().zip(sel) {
        sels[p] = done.get(s)?;
    }
    let none = and_public(&prefix[m], &lanes.mask(|l| no_dot_allowed(shape, lens[l])))?;
    Ok(Selectors { dot: sels, none })
}
