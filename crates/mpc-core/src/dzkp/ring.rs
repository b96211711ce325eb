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
    /// Map 128 uniform bits to a (close to) uniform element.
    fn from_random(r: u128) -> Self;
    fn to_wire(self) -> u128;
    /// `None` for a non-canonical encoding.
    fn from_wire(w: u128) -> Option<Self>;

    /// All `k*k` cross inner products `<u^a, v^b>` of the `k` blocks of
    /// length `m` (entries past the slices' ends are zero), row-major.
    fn cross(u: &[Self], v: &[Self], k: usize, m: usize) -> Vec<Self> {
        let mut acc = vec![Self::ZERO; k * k];
        let mut ua = vec![Self::ZERO; k];
        let mut vb = vec![Self::ZERO; k];
        for j in 0..m {
            for a in 0..k {
                ua[a] = u.get(a * m + j).copied().unwrap_or(Self::ZERO);
                vb[a] = v.get(a * m + j).copied().unwrap_or(Self::ZERO);
            }
            for a in 0..k {
                for b in 0..k {
                    acc[a * k + b] = acc[a * k + b].add(ua[a].mul(vb[b]));
                }
            }
        }
        acc
    }
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
    fn from_random(r: u128) -> Self {
        Z128(r)
    }
    fn to_wire(self) -> u128 {
        self.0
    }
    fn from_wire(w: u128) -> Option<Self> {
        Some(Z128(w))
    }

    fn cross(u: &[Self], v: &[Self], k: usize, m: usize) -> Vec<Self> {
        // Fast path for the common fold factor: fixed-size accumulators.
        if k != super::K || u.len() < k * m || v.len() < k * m {
            return generic_cross(u, v, k, m);
        }
        let mut acc = [[0u128; super::K]; super::K];
        for j in 0..m {
            let mut ua = [0u128; super::K];
            let mut vb = [0u128; super::K];
            for a in 0..super::K {
                ua[a] = u[a * m + j].0;
                vb[a] = v[a * m + j].0;
            }
            for a in 0..super::K {
                for b in 0..super::K {
                    acc[a][b] = acc[a][b].wrapping_add(ua[a].wrapping_mul(vb[b]));
                }
            }
        }
        acc.iter().flat_map(|r| r.iter().map(|x| Z128(*x))).collect()
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

/// The Mersenne prime 2^61 - 1.
pub(crate) const P61: u64 = (1 << 61) - 1;

/// F_p, p = 2^61 - 1, canonical representative in `[0, p)`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct Fp(pub u64);

#[inline(always)]
fn reduce128(x: u128) -> u64 {
    // x = lo + 2^61 h1 + 2^122 h2 and 2^61 = 1 mod p.
    let lo = (x as u64) & P61;
    let hi = x >> 61;
    let s = ((hi as u64) & P61) + ((hi >> 61) as u64) + lo;
    let s = (s & P61) + (s >> 61);
    if s >= P61 { s - P61 } else { s }
}

impl Fp {
    #[inline(always)]
    pub(crate) fn neg(self) -> Fp {
        if self.0 == 0 { self } else { Fp(P61 - self.0) }
    }
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
    fn from_random(r: u128) -> Self {
        // 61 uniform bits; the value p itself maps to 0 (bias 2^-61).
        let x = (r as u64) & P61;
        Fp(if x == P61 { 0 } else { x })
    }
    fn to_wire(self) -> u128 {
        self.0 as u128
    }
    fn from_wire(w: u128) -> Option<Self> {
        (w < P61 as u128).then_some(Fp(w as u64))
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
    fn fast_cross_matches_generic() {
        let k = super::super::K;
        let m = 70;
        let u: Vec<Fp> = (0..k * m).map(|i| Fp((i as u64 * 0x9e3779b97f4a7c15) & P61 % P61)).collect();
        let v: Vec<Fp> = (0..k * m).map(|i| Fp((i as u64 * 0xc2b2ae3d27d4eb4f) % P61)).collect();
        assert_eq!(Fp::cross(&u, &v, k, m), generic_cross(&u, &v, k, m));
        let u: Vec<Z128> = (0..k * m).map(|i| Z128((i as u128) * 0x9e3779b97f4a7c15_1234567)).collect();
        let v: Vec<Z128> = (0..k * m).map(|i| Z128((i as u128) << 70 | 77)).collect();
        assert_eq!(Z128::cross(&u, &v, k, m), generic_cross(&u, &v, k, m));
    }
}
