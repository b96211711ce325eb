//! The verification rings: Z_2^{64+s} (s = 128 by default, s = 64 for
//! experiments; ePrint 2024/700) for arithmetic gates and GF(2^64) for AND
//! gates.

use crate::clmul::{self, Clmul};
use crate::gf64;

/// A commutative ring in which the folding proof runs.
pub(crate) trait VRing: Copy + Default + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    const ZERO: Self;
    const ONE: Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    /// Number of 128-bit words of the wire encoding (and of randomness
    /// consumed by [`VRing::from_random`]).
    const WIRE: usize;
    /// Map `WIRE` uniform 128-bit words to a (close to) uniform element.
    fn from_random(r: &[u128]) -> Self;
    fn to_wire(self, out: &mut Vec<u128>);
    /// `None` for a non-canonical encoding; `w.len() == WIRE`.
    fn from_wire(w: &[u128]) -> Option<Self>;

    /// `x[j] += sum_{a>=1} r[a] x[a m + j]` for `j < m`; `x` has `k m`
    /// elements, `r` has `k` (`r[0]` is 1 and unused).
    fn fold_blocks(x: &mut [Self], m: usize, r: &[Self]) {
        let (head, tail) = x.split_at_mut(m);
        for (a, block) in tail.chunks_exact(m).enumerate() {
            let ra = r[a + 1];
            for (h, t) in head.iter_mut().zip(block) {
                *h = h.add(ra.mul(*t));
            }
        }
    }

    /// All `k*k` cross inner products `<u^a, v^b>` of the `k` blocks of
    /// length `m`, row-major. `u` and `v` hold at least `k m` elements.
    fn cross(u: &[Self], v: &[Self], k: usize, m: usize) -> Vec<Self> {
        if k != super::K || u.len() < k * m || v.len() < k * m {
            return generic_cross(u, v, k, m);
        }
        let mut acc = [[Self::ZERO; super::K]; super::K];
        for j in 0..m {
            let mut ua = [Self::ZERO; super::K];
            let mut vb = [Self::ZERO; super::K];
            for a in 0..super::K {
                ua[a] = u[a * m + j];
                vb[a] = v[a * m + j];
            }
            for a in 0..super::K {
                for b in 0..super::K {
                    acc[a][b] = acc[a][b].add(ua[a].mul(vb[b]));
                }
            }
        }
        acc.iter().flat_map(|r| r.iter().copied()).collect()
    }
}

/// The extra operations the ring proof (ePrint 2024/700) needs of Z_2^{64+s}.
pub(crate) trait ArithRing: VRing + super::inst::Pooled {
    /// Lazy multiply-accumulator (carries resolved once, in `total`).
    type Acc: Accumulator<Self>;
    fn from_u64(x: u64) -> Self;
    /// Multiplication by 2^64.
    fn shl64(self) -> Self;
    /// The element `x mod 2^(64+s)` for `x < 2^128`.
    fn from_u128(x: u128) -> Self;
    /// `self * (lo + 2^64 bit)`, `bit` in {0, 1}: a product by a 65-bit
    /// value such as `x_i + x_{i+1}`.
    #[inline(always)]
    fn mul65(self, lo: u64, bit: u64) -> Self {
        let mut acc = Self::Acc::default();
        acc.mac65(self, lo, bit);
        acc.total()
    }
}

/// A sum of products in a ring, with the carries resolved only at the end.
pub(crate) trait Accumulator<R>: Copy + Default {
    /// `+= a * b`.
    fn mac(&mut self, a: R, b: R);
    /// `+= a * (lo + 2^64 bit)`, `bit` in {0, 1}.
    fn mac65(&mut self, a: R, lo: u64, bit: u64);
    /// `+= a * q` for a 128-bit `q`.
    fn mac128(&mut self, a: R, q: u128);
    /// `+= a`.
    fn add(&mut self, a: R);
    /// `+= q` for a 128-bit `q`.
    fn add128(&mut self, q: u128);
    /// `+= (xl + 2^64 xb)(yl + 2^64 yb)`, `xb, yb` in {0, 1}: the product
    /// of two 65-bit integers, with no ring factor (a dot product's terms
    /// summed before its one `rho` multiplies them).
    fn mac_int65(&mut self, xl: u64, xb: u64, yl: u64, yb: u64);
    fn total(self) -> R;
}

/// Z_2^128 with wrapping arithmetic.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct Z128(pub u128);

impl VRing for Z128 {
    const ZERO: Self = Z128(0);
    const ONE: Self = Z128(1);
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Z128(self.0.wrapping_add(o.0))
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        Z128(self.0.wrapping_sub(o.0))
    }
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        Z128(self.0.wrapping_mul(o.0))
    }
    const WIRE: usize = 1;
    fn from_random(r: &[u128]) -> Self {
        Z128(r[0])
    }
    fn to_wire(self, out: &mut Vec<u128>) {
        out.push(self.0)
    }
    fn from_wire(w: &[u128]) -> Option<Self> {
        Some(Z128(w[0]))
    }
}

impl ArithRing for Z128 {
    type Acc = Acc128;
    fn from_u64(x: u64) -> Self {
        Z128(x as u128)
    }
    fn shl64(self) -> Self {
        Z128(self.0 << 64)
    }
    fn from_u128(x: u128) -> Self {
        Z128(x)
    }
}

/// Z_2^128 products wrap: the accumulator is the element itself.
#[derive(Clone, Copy, Default)]
pub(crate) struct Acc128(u128);

impl Accumulator<Z128> for Acc128 {
    #[inline(always)]
    fn mac(&mut self, a: Z128, b: Z128) {
        self.0 = self.0.wrapping_add(a.0.wrapping_mul(b.0));
    }
    #[inline(always)]
    fn mac65(&mut self, a: Z128, lo: u64, bit: u64) {
        let hi = (a.0 << 64) & (0u128.wrapping_sub(bit as u128));
        self.0 = self.0.wrapping_add(a.0.wrapping_mul(lo as u128)).wrapping_add(hi);
    }
    #[inline(always)]
    fn mac128(&mut self, a: Z128, q: u128) {
        self.0 = self.0.wrapping_add(a.0.wrapping_mul(q));
    }
    #[inline(always)]
    fn add(&mut self, a: Z128) {
        self.0 = self.0.wrapping_add(a.0);
    }
    #[inline(always)]
    fn add128(&mut self, q: u128) {
        self.0 = self.0.wrapping_add(q);
    }
    #[inline(always)]
    fn mac_int65(&mut self, xl: u64, xb: u64, yl: u64, yb: u64) {
        // The 2^128 term vanishes mod 2^128.
        let mid = (yl & 0u64.wrapping_sub(xb)) as u128 + (xl & 0u64.wrapping_sub(yb)) as u128;
        self.0 = self.0.wrapping_add(xl as u128 * yl as u128).wrapping_add(mid << 64);
    }
    fn total(self) -> Z128 {
        Z128(self.0)
    }
}

/// Z_2^192 (`s = 128`), little-endian 64-bit limbs.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct Z192(pub [u64; 3]);

impl VRing for Z192 {
    const ZERO: Self = Z192([0; 3]);
    const ONE: Self = Z192([1, 0, 0]);
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        let (a, b) = (self.0, o.0);
        let (r0, c0) = a[0].overflowing_add(b[0]);
        let lo = a[1] as u128 + b[1] as u128 + c0 as u128;
        let r2 = a[2].wrapping_add(b[2]).wrapping_add((lo >> 64) as u64);
        Z192([r0, lo as u64, r2])
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        let (a, b) = (self.0, o.0);
        let (r0, c0) = a[0].overflowing_sub(b[0]);
        let (t1, c1) = a[1].overflowing_sub(b[1]);
        let (r1, c2) = t1.overflowing_sub(c0 as u64);
        let r2 = a[2].wrapping_sub(b[2]).wrapping_sub(c1 as u64 + c2 as u64);
        Z192([r0, r1, r2])
    }
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        let (a, b) = (self.0, o.0);
        let p00 = a[0] as u128 * b[0] as u128;
        let p01 = a[0] as u128 * b[1] as u128;
        let p10 = a[1] as u128 * b[0] as u128;
        let mid = (p00 >> 64) + (p01 as u64 as u128) + (p10 as u64 as u128);
        let top = ((mid >> 64) as u64)
            .wrapping_add((p01 >> 64) as u64)
            .wrapping_add((p10 >> 64) as u64)
            .wrapping_add(a[0].wrapping_mul(b[2]))
            .wrapping_add(a[1].wrapping_mul(b[1]))
            .wrapping_add(a[2].wrapping_mul(b[0]));
        Z192([p00 as u64, mid as u64, top])
    }
    const WIRE: usize = 2;
    fn from_random(r: &[u128]) -> Self {
        Z192([r[0] as u64, (r[0] >> 64) as u64, r[1] as u64])
    }

    fn fold_blocks(x: &mut [Self], m: usize, r: &[Self]) {
        let (head, tail) = x.split_at_mut(m);
        for (j, h) in head.iter_mut().enumerate() {
            let mut acc = Acc192::default();
            acc.add(*h);
            for (a, ra) in r.iter().enumerate().skip(1) {
                acc.mac(*ra, tail[(a - 1) * m + j]);
            }
            *h = acc.total();
        }
    }

    fn cross(u: &[Self], v: &[Self], k: usize, m: usize) -> Vec<Self> {
        if u.len() < k * m || v.len() < k * m {
            return generic_cross(u, v, k, m);
        }
        // Each (a, b) pair runs with its accumulator in registers.
        let mut out = Vec::with_capacity(k * k);
        for a in 0..k {
            let ua = &u[a * m..(a + 1) * m];
            for b in 0..k {
                let mut acc = Acc192::default();
                for (x, y) in ua.iter().zip(&v[b * m..(b + 1) * m]) {
                    acc.mac(*x, *y);
                }
                out.push(acc.total());
            }
        }
        out
    }
    fn to_wire(self, out: &mut Vec<u128>) {
        out.push(self.0[0] as u128 | (self.0[1] as u128) << 64);
        out.push(self.0[2] as u128);
    }
    fn from_wire(w: &[u128]) -> Option<Self> {
        (w[1] >> 64 == 0).then_some(Z192([w[0] as u64, (w[0] >> 64) as u64, w[1] as u64]))
    }
}

impl ArithRing for Z192 {
    type Acc = Acc192;
    fn from_u64(x: u64) -> Self {
        Z192([x, 0, 0])
    }
    fn shl64(self) -> Self {
        Z192([0, self.0[0], self.0[1]])
    }
    fn from_u128(x: u128) -> Self {
        Z192([x as u64, (x >> 64) as u64, 0])
    }
}

/// Lazy sum of products in Z_2^192 by 64-bit columns: `c0` collects the
/// low words, `c1` the words of weight 2^64 (each a `u128`, so 2^62 terms
/// cannot overflow), `c2` the words of weight 2^128 (wrapping: mod 2^192).
/// A product is three `mul` instructions and no carry chain.
#[derive(Clone, Copy, Default)]
pub(crate) struct Acc192 {
    c0: u128,
    c1: u128,
    c2: u64,
}

impl Accumulator<Z192> for Acc192 {
    #[inline(always)]
    fn mac(&mut self, a: Z192, b: Z192) {
        let (a, b) = (a.0, b.0);
        let p00 = a[0] as u128 * b[0] as u128;
        let p01 = a[0] as u128 * b[1] as u128;
        let p10 = a[1] as u128 * b[0] as u128;
        self.c0 += p00 as u64 as u128;
        self.c1 += (p00 >> 64) + (p01 as u64 as u128) + (p10 as u64 as u128);
        self.c2 = self
            .c2
            .wrapping_add((p01 >> 64) as u64)
            .wrapping_add((p10 >> 64) as u64)
            .wrapping_add(a[0].wrapping_mul(b[2]))
            .wrapping_add(a[1].wrapping_mul(b[1]))
            .wrapping_add(a[2].wrapping_mul(b[0]));
    }

    #[inline(always)]
    fn mac65(&mut self, a: Z192, lo: u64, bit: u64) {
        // a lo + 2^64 bit (a0 + 2^64 a1), branch-free (bit is data).
        let a = a.0;
        let mask = 0u64.wrapping_sub(bit);
        let p0 = a[0] as u128 * lo as u128;
        let p1 = a[1] as u128 * lo as u128;
        self.c0 += p0 as u64 as u128;
        self.c1 += (p0 >> 64) + (p1 as u64 as u128) + ((a[0] & mask) as u128);
        self.c2 = self.c2.wrapping_add((p1 >> 64) as u64).wrapping_add(a[2].wrapping_mul(lo)).wrapping_add(a[1] & mask);
    }

    #[inline(always)]
    fn mac128(&mut self, a: Z192, q: u128) {
        // a (q0 + 2^64 q1): five products, by 64-bit columns.
        let (a, q0, q1) = (a.0, q as u64, (q >> 64) as u64);
        let p00 = a[0] as u128 * q0 as u128;
        let p10 = a[1] as u128 * q0 as u128;
        let p01 = a[0] as u128 * q1 as u128;
        self.c0 += p00 as u64 as u128;
        self.c1 += (p00 >> 64) + (p10 as u64 as u128) + (p01 as u64 as u128);
        self.c2 = self
            .c2
            .wrapping_add((p10 >> 64) as u64)
            .wrapping_add((p01 >> 64) as u64)
            .wrapping_add(a[2].wrapping_mul(q0))
            .wrapping_add(a[1].wrapping_mul(q1));
    }

    #[inline(always)]
    fn add(&mut self, a: Z192) {
        self.c0 += a.0[0] as u128;
        self.c1 += a.0[1] as u128;
        self.c2 = self.c2.wrapping_add(a.0[2]);
    }

    #[inline(always)]
    fn add128(&mut self, q: u128) {
        self.c0 += q as u64 as u128;
        self.c1 += q >> 64;
    }

    #[inline(always)]
    fn mac_int65(&mut self, xl: u64, xb: u64, yl: u64, yb: u64) {
        // One `mul`: the 65th bits select words, at weights 2^64 and 2^128.
        let p = xl as u128 * yl as u128;
        self.c0 += p as u64 as u128;
        self.c1 += (p >> 64) + (yl & 0u64.wrapping_sub(xb)) as u128 + (xl & 0u64.wrapping_sub(yb)) as u128;
        self.c2 = self.c2.wrapping_add(xb & yb);
    }

    #[inline(always)]
    fn total(self) -> Z192 {
        let t = (self.c0 >> 64) + (self.c1 as u64 as u128);
        let top = self.c2.wrapping_add((self.c1 >> 64) as u64).wrapping_add((t >> 64) as u64);
        Z192([self.c0 as u64, t as u64, top])
    }
}

fn generic_cross<R: VRing>(u: &[R], v: &[R], k: usize, m: usize) -> Vec<R> {
    let mut acc = vec![R::ZERO; k * k];
    for j in 0..m {
        for a in 0..k {
            let x = u.get(a * m + j).copied().unwrap_or(R::ZERO);
            for b in 0..k {
                let y = v.get(b * m + j).copied().unwrap_or(R::ZERO);
                acc[a * k + b] = acc[a * k + b].add(x.mul(y));
            }
        }
    }
    acc
}

/// GF(2^64) (the polynomial of `crate::gf64`): the AND proof's field.
/// Addition is XOR; products are carry-less (`crate::clmul`), summed
/// unreduced (XOR never carries) and reduced once per result.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct G64(pub u64);

/// One product (the few outside the hot loops).
struct Product(u64, u64);

impl clmul::Task for Product {
    type Out = u64;
    #[inline(always)]
    fn run<C: Clmul>(self, c: C) -> u64 {
        gf64::reduce(c.clmul(self.0, self.1))
    }
}

/// [`VRing::fold_blocks`] for G64.
struct FoldG64<'a> {
    x: &'a mut [G64],
    m: usize,
    r: &'a [G64],
}

impl clmul::Task for FoldG64<'_> {
    type Out = ();
    #[inline(always)]
    fn run<C: Clmul>(self, c: C) {
        let (head, tail) = self.x.split_at_mut(self.m);
        for (j, h) in head.iter_mut().enumerate() {
            let mut acc = c.zero();
            for (a, ra) in self.r.iter().enumerate().skip(1) {
                acc = c.mul_add(acc, ra.0, tail[(a - 1) * self.m + j].0);
            }
            *h = G64(gf64::reduce(c.sum(acc) ^ h.0 as u128));
        }
    }
}

/// [`VRing::cross`] for G64 with `k = K`.
struct CrossG64<'a> {
    u: &'a [G64],
    v: &'a [G64],
    m: usize,
}

impl clmul::Task for CrossG64<'_> {
    type Out = Vec<G64>;
    #[inline(always)]
    fn run<C: Clmul>(self, c: C) -> Vec<G64> {
        const K: usize = super::K;
        let (u, v, m) = (self.u, self.v, self.m);
        let mut acc = [[c.zero(); K]; K];
        for j in 0..m {
            let ua: [u64; K] = std::array::from_fn(|a| u[a * m + j].0);
            let vb: [u64; K] = std::array::from_fn(|b| v[b * m + j].0);
            for a in 0..K {
                for b in 0..K {
                    acc[a][b] = c.mul_add(acc[a][b], ua[a], vb[b]);
                }
            }
        }
        acc.iter().flat_map(|row| row.iter().map(|x| G64(gf64::reduce(c.sum(*x))))).collect()
    }
}

impl VRing for G64 {
    const ZERO: Self = G64(0);
    const ONE: Self = G64(1);
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        G64(self.0 ^ o.0)
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        G64(self.0 ^ o.0)
    }
    fn mul(self, o: Self) -> Self {
        G64(clmul::run(Product(self.0, o.0)))
    }
    const WIRE: usize = 1;
    fn from_random(r: &[u128]) -> Self {
        G64(r[0] as u64)
    }
    fn to_wire(self, out: &mut Vec<u128>) {
        out.push(self.0 as u128)
    }
    fn from_wire(w: &[u128]) -> Option<Self> {
        (w[0] >> 64 == 0).then_some(G64(w[0] as u64))
    }

    fn fold_blocks(x: &mut [Self], m: usize, r: &[Self]) {
        clmul::run(FoldG64 { x, m, r })
    }

    fn cross(u: &[Self], v: &[Self], k: usize, m: usize) -> Vec<Self> {
        if k != super::K || u.len() < k * m || v.len() < k * m {
            return generic_cross(u, v, k, m);
        }
        clmul::run(CrossG64 { u, v, m })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g64_products_match_the_bitwise_reference() {
        let vals = [0u64, 1, 2, u64::MAX, 1 << 63, 0x9e37_79b9_7f4a_7c15];
        for a in vals {
            for b in vals {
                assert_eq!(G64(a).mul(G64(b)).0, crate::gf64::mul(a, b));
                assert_eq!(G64(a).add(G64(b)).sub(G64(b)), G64(a));
            }
        }
        let mut w = Vec::new();
        G64(vals[5]).to_wire(&mut w);
        assert_eq!(G64::from_wire(&w), Some(G64(vals[5])));
        assert_eq!(G64::from_wire(&[1u128 << 64]), None, "non-canonical");
    }

    #[test]
    fn z192_matches_a_schoolbook_reference() {
        // Reference: 4-limb schoolbook with u128, truncated to 3 limbs.
        fn reference(a: [u64; 3], b: [u64; 3]) -> [u64; 3] {
            let mut r = [0u64; 3];
            for i in 0..3 {
                let mut carry = 0u128;
                for j in 0..3 - i {
                    let t = a[i] as u128 * b[j] as u128 + r[i + j] as u128 + carry;
                    r[i + j] = t as u64;
                    carry = t >> 64;
                }
            }
            r
        }
        let vals =
            [[u64::MAX; 3], [1, 0, 0], [0, u64::MAX, 1], [0x9e3779b97f4a7c15, 0xc2b2ae3d27d4eb4f, 7], [0, 0, 1 << 63]];
        for a in vals {
            for b in vals {
                assert_eq!(Z192(a).mul(Z192(b)).0, reference(a, b));
                let s = Z192(a).add(Z192(b));
                assert_eq!(s.sub(Z192(b)), Z192(a));
                assert_eq!(Z192(a).sub(Z192(a)), Z192::ZERO);
            }
        }
        assert_eq!(Z192([u64::MAX; 3]).add(Z192::ONE), Z192::ZERO);
        // The lazy accumulator against sums of plain products, with enough
        // terms of all-ones limbs to carry through every column.
        for b in vals {
            let (mut acc, mut want) = (Acc192::default(), Z192::ZERO);
            let (mut acc65, mut want65) = (Acc192::default(), Z192::ZERO);
            for _ in 0..100 {
                for a in vals {
                    acc.mac(Z192(a), Z192(b));
                    want = want.add(Z192(a).mul(Z192(b)));
                    for bit in [0u64, 1] {
                        acc65.mac65(Z192(a), b[0], bit);
                        want65 = want65.add(Z192(a).mul(Z192([b[0], bit, 0])));
                        assert_eq!(Z192(a).mul65(b[0], bit), Z192(a).mul(Z192([b[0], bit, 0])));
                        assert_eq!(Z128(a[0] as u128 | (a[1] as u128) << 64).mul65(b[0], bit).0, {
                            let x = a[0] as u128 | (a[1] as u128) << 64;
                            x.wrapping_mul(b[0] as u128 | (bit as u128) << 64)
                        });
                    }
                }
            }
            assert_eq!(acc.total(), want);
            assert_eq!(acc65.total(), want65);
        }
        let mut w = Vec::new();
        Z192(vals[3]).to_wire(&mut w);
        assert_eq!(Z192::from_wire(&w), Some(Z192(vals[3])));
    }

    #[test]
    fn fast_cross_matches_generic() {
        let k = super::super::K;
        let m = 70;
        let u: Vec<G64> = (0..k * m).map(|i| G64((i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))).collect();
        let v: Vec<G64> = (0..k * m).map(|i| G64((i as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f) | 1 << 63)).collect();
        assert_eq!(G64::cross(&u, &v, k, m), generic_cross(&u, &v, k, m));
        let r: Vec<G64> = (0..k).map(|a| G64(u64::MAX - a as u64)).collect();
        let mut x = u.clone();
        G64::fold_blocks(&mut x, m, &r);
        for j in 0..m {
            let want = (1..k).fold(u[j], |acc, a| acc.add(r[a].mul(u[a * m + j])));
            assert_eq!(x[j], want);
        }
        let u: Vec<Z128> =
            (0..k * m).map(|i| Z128((i as u128).wrapping_mul(0x09e3_779b_97f4_a7c1_5123_4567))).collect();
        let v: Vec<Z128> = (0..k * m).map(|i| Z128((i as u128) << 70 | 77)).collect();
        assert_eq!(Z128::cross(&u, &v, k, m), generic_cross(&u, &v, k, m));
        let u: Vec<Z192> = (0..k * m)
            .map(|i| Z192([u64::MAX - i as u64, (i as u64).wrapping_mul(0x9e37_79b9), !(i as u64)]))
            .collect();
        let full: Vec<Z192> = (0..k * m).map(|i| Z192([i as u64, u64::MAX - 5 * i as u64, 1 << 63])).collect();
        assert_eq!(Z192::cross(&u, &full, k, m), generic_cross(&u, &full, k, m));
        // The lazy fold against the plain one.
        let r: Vec<Z192> = (0..k).map(|a| Z192([u64::MAX - a as u64, a as u64 * 77, !0])).collect();
        let mut x = u.clone();
        Z192::fold_blocks(&mut x, m, &r);
        for j in 0..m {
            let want = (1..k).fold(u[j], |acc, a| acc.add(r[a].mul(u[a * m + j])));
            assert_eq!(x[j], want);
        }
    }

    fn z192_vec(n: usize, seed: u64) -> Vec<Z192> {
        let mut w = seed;
        (0..n)
            .map(|_| {
                let mut limb = || {
                    w ^= w << 13;
                    w ^= w >> 7;
                    w ^= w << 17;
                    w
                };
                Z192([limb(), limb(), limb()])
            })
            .collect()
    }

    #[test]
    fn z192_cross_products_match_the_generic_ones() {
        for m in [1, 5, 128, 131] {
            let (u, v) = (z192_vec(4 * m, 1), z192_vec(4 * m, 2));
            assert_eq!(Z192::cross(&u, &v, 4, m), generic_cross(&u, &v, 4, m), "m = {m}");
        }
    }
}
