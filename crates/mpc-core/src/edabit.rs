//! Preprocessed random masks in both domains: edaBits and truncation masks.
//!
//! An *edaBit* (Escudero, Ghosh, Keller, Rachuri, Scholl, CRYPTO'20, ePrint
//! 2020/338) is a random `r` in `[0, 2^w)` together with its arithmetic
//! sharing `[r]` and the boolean sharings `[r_0]_B .. [r_{w-1}]_B` of its
//! bits. EGKRS20 Sec. 4 sum the parties' random inputs with a binary adder
//! and check the inputs by cut-and-choose. Here nobody inputs anything:
//!
//! 1. `a, b, c` are the three components of a free random sharing (PRF per
//!    pair, `Session::random`), each reduced to `w` bits. Each is known to
//!    exactly two parties, so it is at once a trivial arithmetic sharing and a
//!    trivial boolean sharing of its bits: the two sharings cannot disagree.
//!    Every party misses one component, which is uniform on `[0, 2^w)`, so
//!    `r = (a + b + c) mod 2^w` is uniform and unknown to each party.
//! 2. The bits of `a + b + c` come from the local-conversion adder
//!    (`docs/protocols/mpc-core.md` §6, A2B): a carry-save layer (`w` ANDs) and a ripple-carry
//!    chain (`w - 1` ANDs). Every AND is logged and proven by the DZKP, which
//!    replaces EGKRS's cut-and-choose (an additive attack on an AND is caught
//!    with overwhelming probability).
//! 3. For `w < 64` the arithmetic sum must drop the overflow
//!    `o = floor((a + b + c) / 2^w)` in `{0, 1, 2}`: `o = t_{w-1} + c_w`, the
//!    top carry-save bit plus the ripple carry out, both boolean; their bit
//!    injections (two verified multiplications each) give
//!    `[r] = [a] + [b] + [c] - 2^w ([t_{w-1}] + [c_w])` (EGKRS20 Sec. 4.1
//!    converts the same extra carry bits with daBits). For `w = 64` the
//!    overflow vanishes mod 2^64 and the construction is exactly A2B of a
//!    random sharing ([`crate::circuits::bit_decompose`], 125 ANDs).
//!
//! Production ends with a verification of every logged gate, so a stocked
//! edaBit is proven when made (`docs/protocols/mpc-core.md` §6.1).
//!
//! A *truncation mask* for `TruncPr(x, k, m)` (Dalskov, Escudero, Keller,
//! ePrint 2019/131, Sec. 4; `docs/protocols/mpc-core.md` §6.1) is a uniform
//! `r` in `[0, 2^(k+1))` shared as `[r]`, `[r_hi] = [floor(r / 2^m)]` and the top bit
//! `[r_k]`, all arithmetic. It is made from two independent edaBits,
//! `lo` of `m` bits and `hi` of `k + 1 - m` bits: `r = 2^m hi + lo` is uniform
//! on `[0, 2^(k+1))` because `lo` and `hi` are uniform and independent,
//! `r_hi = hi`, and `r_k` is the injection of `hi`'s top bit. The boolean bits
//! of `lo` are kept for exact truncation ([`crate::masked::trunc`]). Cost per
//! element: `2k` ANDs and 5 bit injections (10 multiplications), against
//! `k + 1` injections (`2k + 2` multiplications) for the same mask from
//! random bits.

use crate::circuits::{b2a, bit_decompose, carry_save, component_planes, concat};
use crate::engine::Engine;
use crate::prefix::{Depth, add_doubled};
use crate::{ArithShare, BoolShare, Error, PartyId, Result};

/// Random values in both domains: `[r]` and the bits of `r`, one lane per
/// element.
#[derive(Clone, Debug)]
pub struct EdaBits {
    pub(crate) arith: ArithShare,
    /// `width` planes, least significant first.
    pub(crate) bits: Vec<BoolShare>,
}

impl EdaBits {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.arith.len()
    }

    /// True if there are no elements.
    pub fn is_empty(&self) -> bool {
        self.arith.is_empty()
    }

    /// Bits per element.
    pub fn width(&self) -> u32 {
        self.bits.len() as u32
    }

    /// The arithmetic sharing `[r]`.
    pub fn arith(&self) -> &ArithShare {
        &self.arith
    }

    /// The boolean sharings of the bits of `r`, least significant first.
    pub fn bits(&self) -> &[BoolShare] {
        &self.bits
    }
}

/// The mask of `TruncPr(x, k, m)`: `r` uniform in `[0, 2^(k+1))`, shared as
/// `[r]`, `[floor(r / 2^m)]`, `[r_k]`, and the bits of `r mod 2^m`.
#[derive(Clone, Debug)]
pub struct TruncMask {
    pub(crate) k: u32,
    pub(crate) m: u32,
    pub(crate) r: ArithShare,
    pub(crate) r_hi: ArithShare,
    pub(crate) r_top: ArithShare,
    /// `m` planes: the bits of `r mod 2^m`.
    pub(crate) lo_bits: Vec<BoolShare>,
}

impl TruncMask {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.r.len()
    }

    /// True if there are no elements.
    pub fn is_empty(&self) -> bool {
        self.r.is_empty()
    }

    /// The parameters `(k, m)` the mask is for.
    pub fn params(&self) -> (u32, u32) {
        (self.k, self.m)
    }

    /// `[r]`, `r` uniform on `[0, 2^(k+1))`.
    pub fn r(&self) -> &ArithShare {
        &self.r
    }

    /// `[floor(r / 2^m)]`.
    pub fn r_hi(&self) -> &ArithShare {
        &self.r_hi
    }

    /// `[r_k]`, the top bit of `r`.
    pub fn r_top(&self) -> &ArithShare {
        &self.r_top
    }

    /// The bits of `r mod 2^m`, least significant first.
    pub fn lo_bits(&self) -> &[BoolShare] {
        &self.lo_bits
    }
}

/// Check `0 < m < k <= 62`, the range of [`trunc_masks`] and the truncations.
pub(crate) fn check_trunc_params(k: u32, m: u32) -> Result<()> {
    if 0 < m && m < k && k <= 62 { Ok(()) } else { Err(Error::InvalidArgument("truncation needs 0 < m < k <= 62")) }
}

/// `n` edaBits of `width` bits (`1..=64`), proven before they are returned.
/// Costs per element: `2 width - 1` ANDs and, below 64 bits, two bit
/// injections (4 multiplications); 64 bits: 125 ANDs.
pub fn edabits<E: Engine>(e: &mut E, n: usize, width: u32) -> Result<EdaBits> {
    let out = edabits_unverified(e, n, width)?;
    e.verify()?;
    Ok(out)
}

/// `n` truncation masks for `TruncPr(x, k, m)`, proven before they are
/// returned. Needs `0 < m < k <= 62`.
pub fn trunc_masks<E: Engine>(e: &mut E, n: usize, k: u32, m: u32) -> Result<TruncMask> {
    check_trunc_params(k, m)?;
    let lo = edabits_unverified(e, n, m)?;
    let hi = edabits_unverified(e, n, k + 1 - m)?;
    let top_bit = hi.bits.last().ok_or(Error::InvalidArgument("empty edaBit"))?;
    let r_top = b2a(e, top_bit)?;
    e.verify()?;
    Ok(TruncMask { k, m, r: hi.arith.scale(1u64 << m).add(&lo.arith)?, r_hi: hi.arith, r_top, lo_bits: lo.bits })
}

/// [`edabits`] without the final verification (the caller verifies).
fn edabits_unverified<E: Engine>(e: &mut E, n: usize, width: u32) -> Result<EdaBits> {
    if !(1..=64).contains(&width) {
        return Err(Error::InvalidArgument("edaBit width must be 1..=64"));
    }
    let random = e.session().random(n);
    if width == 64 {
        let bits = bit_decompose(e, &random)?.planes;
        return Ok(EdaBits { arith: random, bits });
    }
    let me = e.session().me();
    let w = width as usize;
    let low = (1u64 << width) - 1;
    let (c0, c1) = random.components();
    let sum = ArithShare::from_components(c0.iter().map(|v| v & low).collect(), c1.iter().map(|v| v & low).collect())?;
    let [a, b, c] = component_planes(me, &sum, w)?;
    let (bits, top, carry) = add3(e, me, &a, &b, &c, n)?;
    // Overflow o = top + carry, injected in one call (2n lanes, word-aligned halves).
    let words = n.div_ceil(64);
    let both = b2a(e, &concat(&[&top, &carry])?)?;
    let (b0, b1) = both.components();
    let half = 64 * words;
    let overflow = ArithShare::from_components(b0[..n].to_vec(), b1[..n].to_vec())?
        .add(&ArithShare::from_components(b0[half..half + n].to_vec(), b1[half..half + n].to_vec())?)?;
    Ok(EdaBits { arith: sum.sub(&overflow.scale(1u64 << width))?, bits })
}

/// `a + b + c` for three `w`-bit operands given as bit planes: the `w` sum
/// bits, the top carry-save bit `t_{w-1}` and the ripple carry out `c_w`
/// (`floor((a + b + c) / 2^w) = t_{w-1} + c_w`).
///
/// Carry-save (ABY3, ePrint 2018/403, Sec. 5.3): `s = a ^ b ^ c`,
/// `t = maj(a, b, c) = ((a ^ c) & (b ^ c)) ^ c`, `w` ANDs in one round. Then
/// `s + 2t` by ripple carry: the carry into bit `j + 1` is
/// `maj(s_j, t_{j-1}, c_j)`, `w - 1` ANDs in `w - 1` rounds (over few
/// lanes, a parallel prefix: `crate::prefix::add_doubled`).
fn add3<E: Engine>(
    e: &mut E,
    me: PartyId,
    a: &[BoolShare],
    b: &[BoolShare],
    c: &[BoolShare],
    n: usize,
) -> Result<(Vec<BoolShare>, BoolShare, BoolShare)> {
    let (s, t) = carry_save(e, a, b, c, n, true)?;
    let (sum, carry) = add_doubled(e, me, &s, &t, n, true, Depth::adder(n))?;
    let carry = carry.ok_or(Error::InvalidArgument("no carry out"))?;
    let top = t.last().cloned().ok_or(Error::InvalidArgument("empty edaBit"))?;
    Ok((sum, top, carry))
}
