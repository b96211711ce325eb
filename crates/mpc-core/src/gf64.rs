//! GF(2^64) = GF(2)[x] / (x^64 + x^4 + x^3 + x + 1), the field of the
//! shuffle's MAC tags (`crate::shuffle`). Addition is XOR; products with a
//! fixed element are GF(2)-linear, hence local on XOR shares, and evaluated
//! with byte tables (8 look-ups per product). General products use
//! carry-less multiplication (`crate::clmul`) and [`reduce`].

/// The reduction polynomial without its `x^64` term.
const POLY: u64 = 0b1_1011;

/// `a * x` (a shift with reduction).
#[inline]
fn mul_x(a: u64) -> u64 {
    (a << 1) ^ if a >> 63 == 1 { POLY } else { 0 }
}

/// The element `x mod f` of a 127-bit carry-less product `x`: with
/// `x^64 = x^4 + x^3 + x + 1`, the high half folds in twice (the second time
/// at most 4 bits).
#[inline(always)]
pub(crate) fn reduce(x: u128) -> u64 {
    let (lo, hi) = (x as u64, (x >> 64) as u64);
    let spill = (hi >> 60) ^ (hi >> 61) ^ (hi >> 63);
    lo ^ hi ^ (hi << 1) ^ (hi << 3) ^ (hi << 4) ^ spill ^ (spill << 1) ^ (spill << 3) ^ (spill << 4)
}

/// `a * x^l`, `l < 64`.
#[cfg(test)]
#[inline(always)]
pub(crate) fn mul_xpow(a: u64, l: u32) -> u64 {
    reduce((a as u128) << l)
}

/// `a[l] * x^l` for each of the 64 lanes, in place: [`reduce`] of `a[l] << l` on 64-bit halves
/// (`hi = (a >> 1) >> (63 - l)` has no shift by 64), a loop of lane-wise shifts and XORs that
/// vectorises where AVX2 is enabled (`crate::clmul::run`).
#[inline(always)]
pub(crate) fn mul_xpow_lanes(a: &mut [u64; 64]) {
    for (l, x) in a.iter_mut().enumerate() {
        let l = l as u32;
        let (lo, hi) = (*x << l, (*x >> 1) >> (63 - l));
        let spill = (hi >> 60) ^ (hi >> 61) ^ (hi >> 63);
        *x = lo ^ hi ^ (hi << 1) ^ (hi << 3) ^ (hi << 4) ^ spill ^ (spill << 1) ^ (spill << 3) ^ (spill << 4);
    }
}

/// Bit-by-bit product (reference for the tables; slow).
#[cfg(any(test, feature = "deviation"))]
pub(crate) fn mul(a: u64, b: u64) -> u64 {
    let (mut acc, mut a) = (0u64, a);
    for k in 0..64 {
        if (b >> k) & 1 == 1 {
            acc ^= a;
        }
        a = mul_x(a);
    }
    acc
}

/// Multiplication by a fixed element `c`: `table[q][v] = c * (v x^(8q))`.
pub(crate) struct MulTable {
    table: Box<[[u64; 256]; 8]>,
}

impl MulTable {
    /// Tables for `c`.
    pub(crate) fn new(c: u64) -> MulTable {
        let mut basis = [0u64; 64];
        let mut a = c;
        for b in basis.iter_mut() {
            *b = a;
            a = mul_x(a);
        }
        let mut table = Box::new([[0u64; 256]; 8]);
        for (q, t) in table.iter_mut().enumerate() {
            for v in 1..256usize {
                let low = v & (v - 1);
                t[v] = t[low] ^ basis[8 * q + (v ^ low).trailing_zeros() as usize];
            }
        }
        MulTable { table }
    }

    /// `c * b`.
    #[inline(always)]
    pub(crate) fn mul(&self, b: u64) -> u64 {
        let t = &self.table;
        t[0][(b & 0xff) as usize]
            ^ t[1][((b >> 8) & 0xff) as usize]
            ^ t[2][((b >> 16) & 0xff) as usize]
            ^ t[3][((b >> 24) & 0xff) as usize]
            ^ t[4][((b >> 32) & 0xff) as usize]
            ^ t[5][((b >> 40) & 0xff) as usize]
            ^ t[6][((b >> 48) & 0xff) as usize]
            ^ t[7][(b >> 56) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALS: [u64; 6] = [0, 1, 2, u64::MAX, 1 << 63, 0x9e37_79b9_7f4a_7c15];

    #[test]
    fn reduced_carryless_products_are_field_products() {
        use crate::clmul::{Clmul, Soft};
        for a in VALS {
            for b in VALS {
                assert_eq!(reduce(Soft.clmul(a, b)), mul(a, b), "{a:#x} * {b:#x}");
            }
            for l in 0..64 {
                assert_eq!(mul_xpow(a, l), mul(a, 1 << l));
            }
            let mut lanes = [a; 64];
            mul_xpow_lanes(&mut lanes);
            for (l, x) in lanes.into_iter().enumerate() {
                assert_eq!(x, mul(a, 1 << l), "{a:#x} * x^{l}");
            }
        }
        // Degree 126 (both top bits) exercises the second fold.
        assert_eq!(reduce(Soft.clmul(1 << 63, 1 << 63)), mul(1 << 63, 1 << 63));
    }

    #[test]
    fn tables_match_the_reference_product() {
        for a in VALS {
            let t = MulTable::new(a);
            for b in VALS {
                assert_eq!(t.mul(b), mul(a, b));
                assert_eq!(mul(a, b), mul(b, a));
            }
        }
    }

    /// Remainder of `a` modulo `b` as GF(2) polynomials (`b != 0`).
    fn poly_rem(mut a: u128, b: u128) -> u128 {
        let db = 127 - b.leading_zeros();
        while a != 0 && 127 - a.leading_zeros() >= db {
            a ^= b << (127 - a.leading_zeros() - db);
        }
        a
    }

    #[test]
    fn the_polynomial_is_irreducible() {
        // Rabin's test for degree 64 (only prime factor 2): x^(2^64) = x mod f
        // and gcd(x^(2^32) - x, f) = 1.
        let square = |a: u64, times: u32| (0..times).fold(a, |acc, _| mul(acc, acc));
        assert_eq!(square(2, 64), 2);
        let f: u128 = (1u128 << 64) | POLY as u128;
        let (mut a, mut b) = (f, (square(2, 32) ^ 2) as u128);
        while b != 0 {
            let r = poly_rem(a, b);
            a = b;
            b = r;
        }
        assert_eq!(a, 1);
    }

    #[test]
    fn the_product_is_a_field_product() {
        // x^64 = x^4 + x^3 + x + 1.
        assert_eq!(mul(1 << 63, 2), POLY);
        // Associative and distributive.
        for a in VALS {
            for b in VALS {
                for c in VALS {
                    assert_eq!(mul(mul(a, b), c), mul(a, mul(b, c)));
                    assert_eq!(mul(a, b ^ c), mul(a, b) ^ mul(a, c));
                }
            }
        }
        // No zero divisors: a^(2^64 - 1) = 1 for a != 0 (the multiplicative
        // group has order 2^64 - 1 iff the polynomial is irreducible).
        for a in VALS.into_iter().filter(|a| *a != 0) {
            let (mut acc, mut base, mut e) = (1u64, a, u64::MAX);
            while e > 0 {
                if e & 1 == 1 {
                    acc = mul(acc, base);
                }
                base = mul(base, base);
                e >>= 1;
            }
            assert_eq!(acc, 1, "a = {a:#x}");
        }
    }
}
