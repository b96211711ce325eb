//! Bit-sliced wires across contributions, and batched AND layers.
//!
//! One lane per contribution: a wire is a [`BoolShare`] of `n` lanes, or `None` when it is
//! the constant 0 in every lane. Whether a wire is `None` depends only on public data (the
//! shape, the public lengths), so the three parties build the same gates. All the ANDs of
//! one layer go out packed tightly (`k` wires of `n` lanes as `k * n` lanes) in ONE
//! [`Engine::and`] call: one round, and no padding lanes to prove.

use triad_mpc_core::engine::Engine;
use triad_mpc_core::{BoolShare, PartyId, Result};

/// A wire: `None` is the public constant 0 in every lane.
pub(crate) type Bit = Option<BoolShare>;

/// What every wire of a batch shares: the party and the number of lanes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lanes {
    pub(crate) me: PartyId,
    pub(crate) n: usize,
}

impl Lanes {
    /// Words per wire.
    pub(crate) fn words(&self) -> usize {
        self.n.div_ceil(64)
    }

    /// A public wire with bit `f(lane)` in each lane; `None` when it is 0 everywhere.
    pub(crate) fn public(&self, f: impl Fn(usize) -> bool) -> Result<Bit> {
        let mask = self.mask(f);
        if mask.iter().all(|&w| w == 0) {
            return Ok(None);
        }
        BoolShare::public(self.me, &mask, self.n).map(Some)
    }

    /// The public bit-sliced mask with bit `f(lane)` in each lane (padding lanes 0).
    pub(crate) fn mask(&self, f: impl Fn(usize) -> bool) -> Vec<u64> {
        let mut m = vec![0u64; self.words()];
        for l in 0..self.n {
            if f(l) {
                m[l / 64] |= 1 << (l % 64);
            }
        }
        m
    }

    /// `!x`.
    pub(crate) fn not(&self, x: &Bit) -> Result<Bit> {
        match x {
            Some(x) => Ok(Some(x.not(self.me))),
            None => self.public(|_| true),
        }
    }
}

/// `a ^ b`.
pub(crate) fn xor(a: &Bit, b: &Bit) -> Result<Bit> {
    Ok(match (a, b) {
        (Some(a), Some(b)) => Some(a.xor(b)?),
        (Some(x), None) | (None, Some(x)) => Some(x.clone()),
        (None, None) => None,
    })
}

/// `x & mask` for a public mask (local).
pub(crate) fn and_public(x: &Bit, mask: &[u64]) -> Result<Bit> {
    match x {
        Some(x) if mask.iter().any(|&w| w != 0) => Ok(Some(x.and_public(mask)?)),
        _ => Ok(None),
    }
}

/// Writes `n` bits of `src` at bit offset `at` of `dst` (which is zero there).
fn put_bits(dst: &mut [u64], at: usize, src: &[u64], n: usize) {
    let (base, off) = (at / 64, at % 64);
    for (i, &w) in src.iter().enumerate().take(n.div_ceil(64)) {
        let valid = (n - 64 * i).min(64);
        let w = if valid < 64 { w & ((1u64 << valid) - 1) } else { w };
        dst[base + i] |= w << off;
        if off != 0 && base + i + 1 < dst.len() {
            dst[base + i + 1] |= w >> (64 - off);
        }
    }
}

/// Reads `n` bits of `src` from bit offset `at`.
fn get_bits(src: &[u64], at: usize, n: usize) -> Vec<u64> {
    (0..n.div_ceil(64))
        .map(|i| {
            let pos = at + 64 * i;
            let (w, off) = (pos / 64, pos % 64);
            let mut v = src[w] >> off;
            if off != 0 && w + 1 < src.len() {
                v |= src[w + 1] << (64 - off);
            }
            let valid = (n - 64 * i).min(64);
            if valid < 64 { v & ((1u64 << valid) - 1) } else { v }
        })
        .collect()
}

/// `parts` (each of `n` lanes) as one sharing of `parts.len() * n` lanes.
pub(crate) fn pack(parts: &[&BoolShare], n: usize) -> Result<BoolShare> {
    let total = parts.len() * n;
    let mut s0 = vec![0u64; total.div_ceil(64)];
    let mut s1 = vec![0u64; total.div_ceil(64)];
    for (i, p) in parts.iter().enumerate() {
        let (a, b) = p.components();
        put_bits(&mut s0, i * n, a, n);
        put_bits(&mut s1, i * n, b, n);
    }
    BoolShare::from_components(s0, s1, total)
}

/// The inverse of [`pack`]: `k` sharings of `n` lanes.
pub(crate) fn unpack(x: &BoolShare, k: usize, n: usize) -> Result<Vec<BoolShare>> {
    let (a, b) = x.components();
    (0..k).map(|i| BoolShare::from_components(get_bits(a, i * n, n), get_bits(b, i * n, n), n)).collect()
}

/// The ANDs of one circuit layer, sent together.
#[derive(Default)]
pub(crate) struct Layer {
    xs: Vec<BoolShare>,
    ys: Vec<BoolShare>,
}

/// A wire whose value is known after the layer runs: `gate ^ post`, or a known wire.
pub(crate) enum Pending {
    /// No AND was needed.
    Known(Bit),
    /// `out[index] ^ post`.
    Gate(usize, Bit),
}

impl Layer {
    /// Schedule `x & y`.
    pub(crate) fn and(&mut self, x: &Bit, y: &Bit) -> Pending {
        match (x, y) {
            (Some(x), Some(y)) => Pending::Gate(self.push(x.clone(), y.clone()), None),
            _ => Pending::Known(None),
        }
    }

    /// Schedule the majority of three wires: one AND, or none when one input is 0.
    /// `maj(a, b, c) = ((a ^ c) & (b ^ c)) ^ c`; `maj(a, b, 0) = a & b`.
    pub(crate) fn maj(&mut self, a: &Bit, b: &Bit, c: &Bit) -> Result<Pending> {
        Ok(match (a, b, c) {
            (Some(a), Some(b), Some(c)) => Pending::Gate(self.push(a.xor(c)?, b.xor(c)?), Some(c.clone())),
            (Some(x), Some(y), None) | (Some(x), None, Some(y)) | (None, Some(x), Some(y)) => {
                Pending::Gate(self.push(x.clone(), y.clone()), None)
            }
            _ => Pending::Known(None),
        })
    }

    fn push(&mut self, x: BoolShare, y: BoolShare) -> usize {
        self.xs.push(x);
        self.ys.push(y);
        self.xs.len() - 1
    }

    /// Run the layer: one [`Engine::and`] of all scheduled pairs (nothing when empty).
    pub(crate) fn run<E: Engine>(self, e: &mut E, n: usize) -> Result<Done> {
        if self.xs.is_empty() {
            return Ok(Done(Vec::new()));
        }
        let k = self.xs.len();
        let x = pack(&self.xs.iter().collect::<Vec<_>>(), n)?;
        let y = pack(&self.ys.iter().collect::<Vec<_>>(), n)?;
        let z = e.and(&x, &y)?;
        Ok(Done(unpack(&z, k, n)?))
    }
}

/// The outputs of a layer.
pub(crate) struct Done(Vec<BoolShare>);

impl Done {
    /// The value of a pending wire.
    pub(crate) fn get(&self, p: Pending) -> Result<Bit> {
        match p {
            Pending::Known(b) => Ok(b),
            Pending::Gate(i, post) => xor(&self.0.get(i).cloned(), &post),
        }
    }
}

/// A `width`-bit word per lane, least significant bit first.
#[derive(Clone, Debug)]
pub(crate) struct Word(pub(crate) Vec<Bit>);

impl Word {
    /// The public word `v(lane)` in every lane (bits `>= width` dropped).
    pub(crate) fn public(lanes: &Lanes, width: usize, v: impl Fn(usize) -> u64) -> Result<Word> {
        (0..width).map(|b| lanes.public(|l| (v(l) >> b) & 1 == 1)).collect::<Result<_>>().map(Word)
    }

    /// True if every bit is the constant 0.
    pub(crate) fn is_zero(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    /// `a ^ b`.
    pub(crate) fn xor(&self, o: &Word) -> Result<Word> {
        self.0.iter().zip(&o.0).map(|(a, b)| xor(a, b)).collect::<Result<_>>().map(Word)
    }

    /// Rotate right by `r`.
    pub(crate) fn rotr(&self, r: usize) -> Word {
        let w = self.0.len();
        Word((0..w).map(|i| self.0[(i + r) % w].clone()).collect())
    }

    /// Shift right by `r` (zeros in).
    pub(crate) fn shr(&self, r: usize) -> Word {
        let w = self.0.len();
        Word((0..w).map(|i| if i + r < w { self.0[i + r].clone() } else { None }).collect())
    }
}

/// The sums (mod `2^width`) of several groups of words, computed together: carry-save
/// layers (one AND per bit, one round) until every group has at most two operands, then
/// one ripple-carry adder per group, all groups advancing one bit per round (Wallace-tree
/// reduction; e.g. ABY3, ePrint 2018/403, Sec. 5.3). Operands that are the constant 0 are
/// dropped, and a majority with a constant-0 input needs no AND (`a + b + 0` is a
/// two-operand add; the carry-save carry word has a 0 low bit). A 3-operand 32-bit sum
/// costs 31 + 30 ANDs, a 2-operand one 31, and `width - 1` rounds of ripple.
pub(crate) fn add_many<E: Engine>(e: &mut E, lanes: &Lanes, groups: Vec<Vec<Word>>, width: usize) -> Result<Vec<Word>> {
    let mut groups: Vec<Vec<Word>> =
        groups.into_iter().map(|g| g.into_iter().filter(|w| !w.is_zero()).collect()).collect();
    // Carry-save layers.
    while groups.iter().any(|g| g.len() > 2) {
        let mut layer = Layer::default();
        let mut plans = Vec::new();
        for (gi, g) in groups.iter_mut().enumerate() {
            if g.len() < 3 {
                continue;
            }
            let (c, b, a) = (pop(g)?, pop(g)?, pop(g)?);
            let mut sum = Vec::with_capacity(width);
            let mut carry = Vec::with_capacity(width);
            for k in 0..width {
                sum.push(xor(&xor(&a.0[k], &b.0[k])?, &c.0[k])?);
                if k + 1 < width {
                    carry.push(layer.maj(&a.0[k], &b.0[k], &c.0[k])?);
                }
            }
            plans.push((gi, sum, carry));
        }
        let done = layer.run(e, lanes.n)?;
        for (gi, sum, carry) in plans {
            let mut shifted = vec![None];
            for p in carry {
                shifted.push(done.get(p)?);
            }
            groups[gi].push(Word(sum));
            groups[gi].push(Word(shifted));
        }
    }
    // Ripple-carry, all groups in step.
    let mut out: Vec<Word> = Vec::with_capacity(groups.len());
    let mut carries: Vec<Bit> = vec![None; groups.len()];
    let mut sums: Vec<Vec<Bit>> = vec![Vec::with_capacity(width); groups.len()];
    for k in 0..width {
        let mut layer = Layer::default();
        let mut plans = Vec::new();
        for (gi, g) in groups.iter().enumerate() {
            let (a, b) = operands(g, k);
            sums[gi].push(xor(&xor(&a, &b)?, &carries[gi])?);
            if k + 1 < width {
                plans.push(layer.maj(&a, &b, &carries[gi])?);
            }
        }
        if k + 1 < width {
            let done = layer.run(e, lanes.n)?;
            for (gi, p) in plans.into_iter().enumerate() {
                carries[gi] = done.get(p)?;
            }
        }
    }
    for s in sums {
        out.push(Word(s));
    }
    Ok(out)
}

fn pop(g: &mut Vec<Word>) -> Result<Word> {
    g.pop().ok_or(triad_mpc_core::Error::InvalidArgument("carry-save layer without operands"))
}

/// Bit `k` of the (at most two) operands of a group; missing operands are 0.
fn operands(g: &[Word], k: usize) -> (Bit, Bit) {
    let bit = |i: usize| g.get(i).and_then(|w| w.0[k].clone());
    (bit(0), bit(1))
}

/// The AND of all `bits` per lane: a balanced tree, `len - 1` ANDs in `ceil(log2 len)`
/// rounds. A constant-0 input makes the result the constant 0.
pub(crate) fn and_all<E: Engine>(e: &mut E, lanes: &Lanes, bits: Vec<Bit>) -> Result<Bit> {
    if bits.iter().any(Option::is_none) {
        return Ok(None);
    }
    let mut level = bits;
    if level.is_empty() {
        return lanes.public(|_| true);
    }
    while level.len() > 1 {
        let half = level.len() / 2;
        let mut layer = Layer::default();
        let plans: Vec<Pending> = (0..half).map(|i| layer.and(&level[i], &level[half + i])).collect();
        let done = layer.run(e, lanes.n)?;
        let mut next = plans.into_iter().map(|p| done.get(p)).collect::<Result<Vec<_>>>()?;
        if level.len() % 2 == 1 {
            next.push(level[level.len() - 1].clone());
        }
        level = next;
    }
    Ok(level.pop().flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_and_unpack_are_inverse_at_every_offset() {
        for n in [1usize, 3, 63, 64, 65, 130] {
            let parts: Vec<BoolShare> = (0..5u64)
                .map(|i| {
                    let w: Vec<u64> =
                        (0..n.div_ceil(64) as u64).map(|j| (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ j).collect();
                    let v: Vec<u64> = w.iter().map(|x| x.rotate_left(7)).collect();
                    BoolShare::from_components(get_bits(&w, 0, n), get_bits(&v, 0, n), n).expect("share")
                })
                .collect();
            let packed = pack(&parts.iter().collect::<Vec<_>>(), n).expect("pack");
            assert_eq!(packed.lanes(), 5 * n);
            assert_eq!(unpack(&packed, 5, n).expect("unpack"), parts);
        }
    }
}
