//! Carry-less multiplication of 64-bit polynomials over GF(2), the core of
//! GF(2^64) arithmetic (`crate::gf64`) and of the AND proof.
//!
//! The x86-64 instruction `pclmulqdq` computes it in one instruction; the
//! portable fallback takes about 40. A hot loop is written once, generic over
//! [`Clmul`], as a [`Task`]; [`run`] compiles and runs it with `pclmulqdq`
//! enabled when the CPU has it (detected at run time), else with [`Soft`].
//! This is the crate's only `unsafe` code: calling the instruction, and
//! calling a function compiled for it, after the detection said it exists.
#![allow(unsafe_code)]

/// A carry-less multiplier. Values of a hardware backend exist only once the
/// CPU feature was detected, so holding one proves the instruction exists.
pub(crate) trait Clmul: Copy {
    /// A running XOR of products, kept where the backend adds them fastest (a vector register
    /// for `pclmulqdq`: no move to general registers per product).
    type Acc: Copy;
    /// The 127-bit carry-less product of `a` and `b`.
    fn clmul(self, a: u64, b: u64) -> u128;
    /// The empty sum.
    fn zero(self) -> Self::Acc;
    /// `acc ^ clmul(a, b)`.
    fn mul_add(self, acc: Self::Acc, a: u64, b: u64) -> Self::Acc;
    /// The sum as a 127-bit polynomial.
    fn sum(self, acc: Self::Acc) -> u128;
}

/// Portable carry-less multiplication (4-bit windows).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Soft;

impl Clmul for Soft {
    type Acc = u128;
    #[inline(always)]
    fn zero(self) -> u128 {
        0
    }
    #[inline(always)]
    fn mul_add(self, acc: u128, a: u64, b: u64) -> u128 {
        acc ^ self.clmul(a, b)
    }
    #[inline(always)]
    fn sum(self, acc: u128) -> u128 {
        acc
    }
    #[inline(always)]
    fn clmul(self, a: u64, b: u64) -> u128 {
        let mut table = [0u128; 16];
        for i in 1..16usize {
            let low = i & (i - 1);
            table[i] = table[low] ^ ((a as u128) << (i ^ low).trailing_zeros());
        }
        let mut acc = 0u128;
        for k in (0..16).rev() {
            acc = (acc << 4) ^ table[((b >> (4 * k)) & 0xf) as usize];
        }
        acc
    }
}

/// `pclmulqdq` (and SSE4.1): only constructed by [`Pclmul::detect`].
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pclmul(());

#[cfg(target_arch = "x86_64")]
impl Pclmul {
    fn detect() -> Option<Pclmul> {
        // `pextrq` (reading the product's high half) is SSE4.1.
        (std::arch::is_x86_feature_detected!("pclmulqdq") && std::arch::is_x86_feature_detected!("sse4.1"))
            .then_some(Pclmul(()))
    }
}

#[cfg(target_arch = "x86_64")]
impl Clmul for Pclmul {
    type Acc = std::arch::x86_64::__m128i;
    #[inline(always)]
    fn clmul(self, a: u64, b: u64) -> u128 {
        self.sum(self.mul_add(self.zero(), a, b))
    }
    #[inline(always)]
    fn zero(self) -> Self::Acc {
        // SAFETY: SSE2 is part of x86-64.
        unsafe { std::arch::x86_64::_mm_setzero_si128() }
    }
    #[inline(always)]
    fn mul_add(self, acc: Self::Acc, a: u64, b: u64) -> Self::Acc {
        use std::arch::x86_64::{_mm_clmulepi64_si128, _mm_cvtsi64_si128, _mm_xor_si128};
        // SAFETY: a `Pclmul` exists only after `is_x86_feature_detected!`
        // found `pclmulqdq` and SSE4.1 (SSE2 is part of x86-64).
        unsafe { _mm_xor_si128(acc, _mm_clmulepi64_si128(_mm_cvtsi64_si128(a as i64), _mm_cvtsi64_si128(b as i64), 0)) }
    }
    #[inline(always)]
    fn sum(self, acc: Self::Acc) -> u128 {
        use std::arch::x86_64::{_mm_cvtsi128_si64, _mm_extract_epi64};
        // SAFETY: as in `mul_add`.
        unsafe {
            let lo = _mm_cvtsi128_si64(acc) as u64;
            let hi = _mm_extract_epi64(acc, 1) as u64;
            ((hi as u128) << 64) | lo as u128
        }
    }
}

/// A hot loop generic over the multiplier; [`run`] picks the fastest.
pub(crate) trait Task {
    type Out;
    /// Mark implementations `#[inline(always)]`, so that they are compiled
    /// inside [`run`]'s `pclmulqdq`-enabled function.
    fn run<C: Clmul>(self, c: C) -> Self::Out;
}

/// Run `task` with `pclmulqdq` where the CPU has it, and with AVX2 too where it has that (the
/// tasks' lane-wise loops, such as [`crate::gf64::mul_xpow_lanes`], then take 4 lanes an
/// instruction).
pub(crate) fn run<T: Task>(task: T) -> T::Out {
    #[cfg(target_arch = "x86_64")]
    if let Some(p) = Pclmul::detect() {
        if std::arch::is_x86_feature_detected!("avx2") {
            #[target_feature(enable = "pclmulqdq,sse4.1,avx2")]
            fn with_pclmul_avx2<T: Task>(task: T, p: Pclmul) -> T::Out {
                task.run(p)
            }
            // SAFETY: `p` proves the CPU has `pclmulqdq` and SSE4.1, and the detection just
            // found AVX2.
            return unsafe { with_pclmul_avx2(task, p) };
        }
        #[target_feature(enable = "pclmulqdq,sse4.1")]
        fn with_pclmul<T: Task>(task: T, p: Pclmul) -> T::Out {
            task.run(p)
        }
        // SAFETY: `p` proves the CPU has `pclmulqdq` and SSE4.1.
        return unsafe { with_pclmul(task, p) };
    }
    task.run(Soft)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit-by-bit reference.
    fn reference(a: u64, b: u64) -> u128 {
        (0..64).filter(|k| (b >> k) & 1 == 1).fold(0u128, |acc, k| acc ^ ((a as u128) << k))
    }

    struct Products(Vec<(u64, u64)>);

    impl Task for Products {
        type Out = Vec<u128>;
        #[inline(always)]
        fn run<C: Clmul>(self, c: C) -> Vec<u128> {
            self.0.iter().map(|&(a, b)| c.clmul(a, b)).collect()
        }
    }

    /// The XOR of all the products, through the backend's accumulator.
    struct Sum(Vec<(u64, u64)>);

    impl Task for Sum {
        type Out = u128;
        #[inline(always)]
        fn run<C: Clmul>(self, c: C) -> u128 {
            c.sum(self.0.iter().fold(c.zero(), |acc, &(a, b)| c.mul_add(acc, a, b)))
        }
    }

    #[test]
    fn accumulated_products_are_the_xor_of_the_products() {
        let pairs: Vec<(u64, u64)> = (1..200u64)
            .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15), !i.wrapping_mul(0xc2b2_ae3d_27d4_eb4f)))
            .collect();
        let want = pairs.iter().fold(0u128, |acc, &(a, b)| acc ^ reference(a, b));
        assert_ne!(want, 0);
        assert_eq!(Sum(pairs.clone()).run(Soft), want);
        assert_eq!(run(Sum(pairs)), want);
    }

    #[test]
    fn both_backends_match_the_reference() {
        let vals = [0u64, 1, 2, 3, u64::MAX, 1 << 63, 0x9e37_79b9_7f4a_7c15, 0xc2b2_ae3d_27d4_eb4f];
        let pairs: Vec<(u64, u64)> = vals.iter().flat_map(|&a| vals.iter().map(move |&b| (a, b))).collect();
        let want: Vec<u128> = pairs.iter().map(|&(a, b)| reference(a, b)).collect();
        assert_eq!(Products(pairs.clone()).run(Soft), want);
        assert_eq!(run(Products(pairs)), want);
    }
}
