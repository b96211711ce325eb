//! The two verification rings: Z_2^128 (= Z_2^{64+s}, s = 64, ePrint
//! 2024/700) for arithmetic gates and F_p, p = 2^61 - 1 (ePrint 2023/909) for
//! AND gates.

/// A commutative ring in which the folding proof runs.
pub(crate) trait VRing: Copy + Default + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    const ZERO: Self;
    const ONE: Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    /// `self * o` where `o` is often small (below 2^65); rings with a
    /// cheaper product for that case override it.
    #[inline(always)]
    fn mul_small(self, o: Self) -> Self {
        self.mul(o)
    }
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
pub(crate) trait ArithRing: VRing {
    fn from_u64(x: u64) -> Self;
    /// Floor division by 2^64.
    fn shr64(self) -> Self;
    /// Multiplication by 2^64.
    fn shl64(self) -> Self;
    /// The session's recycled prover buffers for this ring.
    fn bufs(s: &mut crate::Session) -> &mut (Vec<Self>, Vec<Self>);
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
    fn from_u64(x: u64) -> Self {
        Z128(x as u128)
    }
    fn shr64(self) -> Self {
        Z128(self.0 >> 64)
    }
    fn shl64(self) -> Self {
        Z128(self.0 << 64)
    }
    fn bufs(s: &mut crate::Session) -> &mut (Vec<Self>, Vec<Self>) {
        &mut s.bufs_z
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
    #[inline(always)]
    fn mul_small(self, o: Self) -> Self {
        if o.0[2] != 0 || o.0[1] > 1 {
            return self.mul(o);
        }
        // self * o0 + (self << 64) * o1, o1 in {0, 1}.
        let (a, b0) = (self.0, o.0[0]);
        let p0 = a[0] as u128 * b0 as u128;
        let p1 = a[1] as u128 * b0 as u128;
        let mid = (p0 >> 64) + (p1 as u64 as u128);
        let top = ((mid >> 64) as u64).wrapping_add((p1 >> 64) as u64).wrapping_add(a[2].wrapping_mul(b0));
        let r = Z192([p0 as u64, mid as u64, top]);
        if o.0[1] == 1 { r.add(Z192([0, a[0], a[1]])) } else { r }
    }
    const WIRE: usize = 2;
    fn from_random(r: &[u128]) -> Self {
        Z192([r[0] as u64, (r[0] >> 64) as u64, r[1] as u64])
    }

    fn cross(u: &[Self], v: &[Self], k: usize, m: usize) -> Vec<Self> {
        // Round 0 of the product proof has v = y_i + y_{i+1} < 2^65: a cheaper
        // multiply-accumulate with lazy carries applies.
        if k == super::K && u.len() >= k * m && v.len() >= k * m && v.iter().all(|x| x.0[2] == 0 && x.0[1] <= 1) {
            return cross_small_v(u, v, m);
        }
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
    fn to_wire(self, out: &mut Vec<u128>) {
        out.push(self.0[0] as u128 | (self.0[1] as u128) << 64);
        out.push(self.0[2] as u128);
    }
    fn from_wire(w: &[u128]) -> Option<Self> {
        (w[1] >> 64 == 0).then_some(Z192([w[0] as u64, (w[0] >> 64) as u64, w[1] as u64]))
    }
}

impl ArithRing for Z192 {
    fn from_u64(x: u64) -> Self {
        Z192([x, 0, 0])
    }
    fn shr64(self) -> Self {
        Z192([self.0[1], self.0[2], 0])
    }
    fn shl64(self) -> Self {
        Z192([0, self.0[0], self.0[1]])
    }
    fn bufs(s: &mut crate::Session) -> &mut (Vec<Self>, Vec<Self>) {
        &mut s.bufs_y
    }
}

/// Lazy accumulator of `sum a * b` for `a` in Z_2^192 and `b < 2^65`:
/// `sum a0 b0` and `sum a1 b0` as 128-bit sums with carry counts,
/// `sum a2 b0` wrapping, and `sum_{b >= 2^64} a` for the top bit of `b`.
#[derive(Clone, Copy, Default)]
struct SmallAcc {
    s0: u128,
    c0: u64,
    s1: u128,
    c1: u64,
    s2: u64,
    hi: Z192,
}

impl SmallAcc {
    #[inline(always)]
    fn mac(&mut self, a: &Z192, b: &Z192) {
        let b0 = b.0[0];
        let (s, o) = self.s0.overflowing_add(a.0[0] as u128 * b0 as u128);
        self.s0 = s;
        self.c0 += o as u64;
        let (s, o) = self.s1.overflowing_add(a.0[1] as u128 * b0 as u128);
        self.s1 = s;
        self.c1 += o as u64;
        self.s2 = self.s2.wrapping_add(a.0[2].wrapping_mul(b0));
        if b.0[1] != 0 {
            self.hi = self.hi.add(*a);
        }
    }

    fn total(&self) -> Z192 {
        // s0 + c0 2^128 + (s1 + c1 2^128) 2^64 + s2 2^128 + hi 2^64.
        let t0 = Z192([self.s0 as u64, (self.s0 >> 64) as u64, self.c0]);
        let t1 = Z192([0, self.s1 as u64, (self.s1 >> 64) as u64]);
        let t2 = Z192([0, 0, self.s2]);
        t0.add(t1).add(t2).add(self.hi.shl64())
    }
}

fn cross_small_v(u: &[Z192], v: &[Z192], m: usize) -> Vec<Z192> {
    const K: usize = super::K;
    // Blocked over positions so that each (a, b) pair runs with its
    // accumulator in registers over a cache-resident chunk.
    const CHUNK: usize = 512;
    let mut acc = [[Z192::ZERO; K]; K];
    let mut start = 0;
    while start < m {
        let end = (start + CHUNK).min(m);
        for a in 0..K {
            let ua = &u[a * m + start..a * m + end];
            for b in 0..K {
                let vb = &v[b * m + start..b * m + end];
                let mut local = SmallAcc::default();
                for (x, y) in ua.iter().zip(vb) {
                    local.mac(x, y);
                }
                acc[a][b] = acc[a][b].add(local.total());
            }
        }
        start = end;
    }
    acc.iter().flat_map(|r| r.iter().copied()).collect()
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

/// The Mersenne prime 2^61 - 1.
pub(crate) const P61: u64 = (1 << 61) - 1;

/// F_p, p = 2^61 - 1, canonical representative in `[0, p)`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct Fp(pub u64);

#[inline(always)]
pub(crate) fn reduce128(x: u128) -> u64 {
    // x = lo + 2^61 h1 + 2^122 h2 and 2^61 = 1 mod p.
    let lo = (x as u64) & P61;
    let hi = x >> 61;
    let s = ((hi as u64) & P61) + ((hi >> 61) as u64) + lo;
    let s = (s & P61) + (s >> 61);
    if s >= P61 { s - P61 } else { s }
}

impl VRing for Fp {
    const ZERO: Self = Fp(0);
    const ONE: Self = Fp(1);
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        let s = self.0 + o.0;
        Fp(if s >= P61 { s - P61 } else { s })
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        if self.0 >= o.0 { Fp(self.0 - o.0) } else { Fp(self.0 + P61 - o.0) }
    }
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        Fp(reduce128(self.0 as u128 * o.0 as u128))
    }
    const WIRE: usize = 1;
    fn from_random(r: &[u128]) -> Self {
        // 61 uniform bits; the value p itself maps to 0 (bias 2^-61).
        let x = (r[0] as u64) & P61;
        Fp(if x == P61 { 0 } else { x })
    }
    fn to_wire(self, out: &mut Vec<u128>) {
        out.push(self.0 as u128)
    }
    fn from_wire(w: &[u128]) -> Option<Self> {
        (w[0] < P61 as u128).then_some(Fp(w[0] as u64))
    }

    fn fold_blocks(x: &mut [Self], m: usize, r: &[Self]) {
        // Lazy reduction: k - 1 < 8 products < 2^122 each plus one element.
        let (head, tail) = x.split_at_mut(m);
        for (j, h) in head.iter_mut().enumerate() {
            let mut acc = h.0 as u128;
            for (a, ra) in r.iter().enumerate().skip(1) {
                acc += ra.0 as u128 * tail[(a - 1) * m + j].0 as u128;
            }
            *h = Fp(reduce128(acc));
        }
    }

    fn cross(u: &[Self], v: &[Self], k: usize, m: usize) -> Vec<Self> {
        if k != super::K || u.len() < k * m || v.len() < k * m {
            return generic_cross(u, v, k, m);
        }
        // Lazy reduction: each product < 2^122, 32 of them < 2^127.
        let mut acc = [[0u128; super::K]; super::K];
        let mut red = [[0u64; super::K]; super::K];
        let mut j = 0;
        while j < m {
            let end = (j + 32).min(m);
            for jj in j..end {
                let mut ua = [0u64; super::K];
                let mut vb = [0u64; super::K];
                for a in 0..super::K {
                    ua[a] = u[a * m + jj].0;
                    vb[a] = v[a * m + jj].0;
                }
                for a in 0..super::K {
                    for b in 0..super::K {
                        acc[a][b] += ua[a] as u128 * vb[b] as u128;
                    }
                }
            }
            for a in 0..super::K {
                for b in 0..super::K {
                    let r = Fp(reduce128(acc[a][b]));
                    red[a][b] = Fp(red[a][b]).add(r).0;
                    acc[a][b] = 0;
                }
            }
            j = end;
        }
        red.iter().flat_map(|r| r.iter().map(|x| Fp(*x))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fp_arithmetic_matches_u128_reference() {
        let p = P61 as u128;
        for (a, b) in [(0u64, 5u64), (P61 - 1, P61 - 1), (1 << 60, 3), (123456789, 987654321)] {
            assert_eq!(Fp(a).mul(Fp(b)).0 as u128, (a as u128 * b as u128) % p);
            assert_eq!(Fp(a).add(Fp(b)).0 as u128, (a as u128 + b as u128) % p);
            assert_eq!(Fp(a).sub(Fp(b)).0 as u128, (a as u128 + p - b as u128) % p);
        }
        assert_eq!(reduce128(u128::MAX) as u128, u128::MAX % p);
        assert_eq!(reduce128(u128::MAX >> 1) as u128, (u128::MAX >> 1) % p);
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
        let vals = [[u64::MAX; 3], [1, 0, 0], [0, u64::MAX, 1], [0x9e3779b97f4a7c15, 0xc2b2ae3d27d4eb4f, 7], [0, 0, 1 << 63]];
        for a in vals {
            for b in vals {
                assert_eq!(Z192(a).mul(Z192(b)).0, reference(a, b));
                let s = Z192(a).add(Z192(b));
                assert_eq!(s.sub(Z192(b)), Z192(a));
                assert_eq!(Z192(a).sub(Z192(a)), Z192::ZERO);
            }
        }
        assert_eq!(Z192([u64::MAX; 3]).add(Z192::ONE), Z192::ZERO);
        for a in vals {
            for b in [[0u64, 0, 0], [u64::MAX, 1, 0], [5, 0, 0], [u64::MAX, 0, 0], [1, 1, 0], [3, 2, 0], [0, 0, 9]] {
                assert_eq!(Z192(a).mul_small(Z192(b)), Z192(a).mul(Z192(b)));
            }
        }
        let mut w = Vec::new();
        Z192(vals[3]).to_wire(&mut w);
        assert_eq!(Z192::from_wire(&w), Some(Z192(vals[3])));
    }

    #[test]
    fn fast_cross_matches_generic() {
        let k = super::super::K;
        let m = 70;
        let u: Vec<Fp> = (0..k * m).map(|i| Fp((i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) % P61)).collect();
        let v: Vec<Fp> = (0..k * m).map(|i| Fp((i as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f) % P61)).collect();
        assert_eq!(Fp::cross(&u, &v, k, m), generic_cross(&u, &v, k, m));
        let u: Vec<Z128> = (0..k * m).map(|i| Z128((i as u128).wrapping_mul(0x09e3_779b_97f4_a7c1_5123_4567))).collect();
        let v: Vec<Z128> = (0..k * m).map(|i| Z128((i as u128) << 70 | 77)).collect();
        assert_eq!(Z128::cross(&u, &v, k, m), generic_cross(&u, &v, k, m));
        // Z_2^192 with small v (the round-0 fast path) and with full v.
        let u: Vec<Z192> = (0..k * m).map(|i| Z192([u64::MAX - i as u64, (i as u64).wrapping_mul(0x9e37_79b9), !(i as u64)])).collect();
        let small: Vec<Z192> = (0..k * m).map(|i| Z192([u64::MAX - 3 * i as u64, (i % 2) as u64, 0])).collect();
        assert_eq!(Z192::cross(&u, &small, k, m), generic_cross(&u, &small, k, m));
        let full: Vec<Z192> = (0..k * m).map(|i| Z192([i as u64, 5, 1 << 63])).collect();
        assert_eq!(Z192::cross(&u, &full, k, m), generic_cross(&u, &full, k, m));
    }
}
