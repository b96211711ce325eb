//! The two relations proven: Araki multiplications over Z_2^64 lifted to
//! Z_2^128 (ePrint 2024/700) and AND gates lifted to F_p (ePrint 2023/909).
//!
//! Notation for prover `P_i`: its verifiers are `V_prev = P_{i-1}`, which
//! holds `x_i, y_i, z_i, r_i`, and `V_next = P_{i+1}`, which holds `x_{i+1},
//! y_{i+1}, r_{i+1}`. The prover proves, for each logged gate,
//! `z_i = x_i y_i + x_i y_{i+1} + x_{i+1} y_i + r_i - r_{i+1}` (BGIN19,
//! Sec. 4: each party proves the correctness of the message it sent).

use super::ring::{Fp, VRing, Z128};
use crate::SessionId;
use crate::prf::{Prf, Purpose};
use crate::session::{ArithLog, BoolLog};

/// Number of binary subset sums that cancel the carries (ePrint 2024/700:
/// each detects a wrong gate with probability >= 1/2).
pub(crate) const KAPPA: usize = 40;

/// Vectors and claim share of one role. For the prover, `c` is unused.
pub(crate) struct Shares<R> {
    pub u: Vec<R>,
    pub v: Vec<R>,
    pub c: R,
}

pub(crate) trait Instance: Send {
    type R: VRing;
    /// Vector length without the pad slot.
    fn data_len(&self) -> usize;
    /// Number of public carry values the prover shares before the
    /// combination coefficients are drawn.
    fn n_carries(&self) -> usize;
    fn prover_carries(&self, sid: &SessionId, chi: &[u8; 16]) -> Vec<Self::R>;
    /// Prover's full vectors, slot 0 left for the pad.
    fn prover(&self, sid: &SessionId, chi: &[u8; 16], lambda: &[u8; 16]) -> Shares<Self::R>;
    /// This party's shares as the prover's previous neighbour.
    fn vprev(&self, sid: &SessionId, chi: &[u8; 16], lambda: &[u8; 16], carry: &[Self::R]) -> Shares<Self::R>;
    /// This party's shares as the prover's next neighbour.
    fn vnext(&self, sid: &SessionId, chi: &[u8; 16], lambda: &[u8; 16], carry: &[Self::R]) -> Shares<Self::R>;
}

/// Per-relation combination coefficients for the ring proof:
/// `rho_j = sum_t lambda_t chi_{t,j}` (ePrint 2024/700, Sec. 4: binary subset
/// sums with random `lambda_t` in Z_2^{k+s}), evaluated with byte tables.
struct Combiner {
    chi: Vec<u8>,
    tables: Vec<[u128; 256]>,
    lambda: Vec<u128>,
}

impl Combiner {
    fn chi_bytes(sid: &SessionId, chi: &[u8; 16], n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n * KAPPA / 8];
        Prf::new(chi, sid).fill_bytes(Purpose::Challenge, 0, &mut b);
        b
    }

    fn new(sid: &SessionId, chi: &[u8; 16], lambda: &[u8; 16], n: usize) -> Combiner {
        let lambda = Prf::new(lambda, sid).wide(Purpose::Challenge, 0, KAPPA);
        let mut tables = vec![[0u128; 256]; KAPPA / 8];
        for (q, t) in tables.iter_mut().enumerate() {
            for v in 1..256usize {
                let low = v & (v - 1);
                let bit = (v ^ low).trailing_zeros() as usize;
                t[v] = t[low].wrapping_add(lambda[8 * q + bit]);
            }
        }
        Combiner { chi: Self::chi_bytes(sid, chi, n), tables, lambda }
    }

    #[inline(always)]
    fn rho(&self, j: usize) -> u128 {
        let b = &self.chi[j * 5..j * 5 + 5];
        self.tables[0][b[0] as usize]
            .wrapping_add(self.tables[1][b[1] as usize])
            .wrapping_add(self.tables[2][b[2] as usize])
            .wrapping_add(self.tables[3][b[3] as usize])
            .wrapping_add(self.tables[4][b[4] as usize])
    }

    /// `2^64 * sum_t lambda_t C_t` for carry shares `C_t`.
    fn carry_term(&self, carry: &[Z128]) -> u128 {
        let s = self.lambda.iter().zip(carry).fold(0u128, |a, (l, c)| a.wrapping_add(l.wrapping_mul(c.0)));
        s << 64
    }
}

/// Iterate relations with their term ranges.
fn relations(log: &ArithLog) -> impl Iterator<Item = (usize, std::ops::Range<usize>)> + '_ {
    let single = log.terms.is_empty();
    let mut start = 0usize;
    (0..log.relations()).map(move |j| {
        let n = if single { 1 } else { log.terms[j] as usize };
        let r = start..start + n;
        start += n;
        (j, r)
    })
}

impl Instance for ArithLog {
    type R = Z128;

    fn data_len(&self) -> usize {
        2 * self.x0.len()
    }

    fn n_carries(&self) -> usize {
        KAPPA
    }

    fn prover_carries(&self, sid: &SessionId, chi: &[u8; 16]) -> Vec<Z128> {
        // E_j = Q_j - L_j over Z_2^128 is 2^64 c_j for an honest prover;
        // S_t = sum_j chi_{t,j} E_j; C_t = S_t / 2^64 (ePrint 2024/700, Sec. 4).
        let n = self.relations();
        let chi = Combiner::chi_bytes(sid, chi, n);
        let mut buckets = vec![[0u128; 256]; KAPPA / 8];
        for (j, r) in relations(self) {
            let mut e: u128 = 0;
            for m in r {
                let (a0, a1, b0, b1) =
                    (self.x0[m] as u128, self.x1[m] as u128, self.y0[m] as u128, self.y1[m] as u128);
                e = e.wrapping_add(a0.wrapping_mul(b0 + b1)).wrapping_add(a1 * b0);
            }
            let l = (self.z0[j] as u128).wrapping_sub(self.r0[j] as u128).wrapping_add(self.r1[j] as u128);
            let e = e.wrapping_sub(l);
            for q in 0..KAPPA / 8 {
                let b = chi[j * 5 + q] as usize;
                buckets[q][b] = buckets[q][b].wrapping_add(e);
            }
        }
        let mut out = Vec::with_capacity(KAPPA);
        for t in 0..KAPPA {
            let (q, bit) = (t / 8, t % 8);
            let s = (0..256usize)
                .filter(|v| v >> bit & 1 == 1)
                .fold(0u128, |a, v| a.wrapping_add(buckets[q][v]));
            out.push(Z128(s >> 64));
        }
        out
    }

    fn prover(&self, sid: &SessionId, chi: &[u8; 16], lambda: &[u8; 16]) -> Shares<Z128> {
        let comb = Combiner::new(sid, chi, lambda, self.relations());
        let len = 1 + self.data_len();
        let mut u = vec![Z128(0); len];
        let mut v = vec![Z128(0); len];
        for (j, r) in relations(self) {
            let rho = comb.rho(j);
            for m in r {
                let (a0, a1, b0, b1) =
                    (self.x0[m] as u128, self.x1[m] as u128, self.y0[m] as u128, self.y1[m] as u128);
                u[1 + 2 * m] = Z128(rho.wrapping_mul(a0));
                u[2 + 2 * m] = Z128(rho.wrapping_mul(a1));
                v[1 + 2 * m] = Z128(b0 + b1);
                v[2 + 2 * m] = Z128(b0);
            }
        }
        Shares { u, v, c: Z128(0) }
    }

    fn vprev(&self, sid: &SessionId, chi: &[u8; 16], lambda: &[u8; 16], carry: &[Z128]) -> Shares<Z128> {
        // We are P_{i-1}: our second components are the prover's x_i, y_i,
        // z_i, r_i.
        let comb = Combiner::new(sid, chi, lambda, self.relations());
        let len = 1 + self.data_len();
        let mut u = vec![Z128(0); len];
        let mut v = vec![Z128(0); len];
        let mut c: u128 = comb.carry_term(carry);
        for (j, r) in relations(self) {
            let rho = comb.rho(j);
            for m in r {
                u[1 + 2 * m] = Z128(rho.wrapping_mul(self.x1[m] as u128));
                v[1 + 2 * m] = Z128(self.y1[m] as u128);
                v[2 + 2 * m] = Z128(self.y1[m] as u128);
            }
            let l = (self.z1[j] as u128).wrapping_sub(self.r1[j] as u128);
            c = c.wrapping_add(rho.wrapping_mul(l));
        }
        Shares { u, v, c: Z128(c) }
    }

    fn vnext(&self, sid: &SessionId, chi: &[u8; 16], lambda: &[u8; 16], carry: &[Z128]) -> Shares<Z128> {
        // We are P_{i+1}: our first components are x_{i+1}, y_{i+1}, r_{i+1}.
        let comb = Combiner::new(sid, chi, lambda, self.relations());
        let len = 1 + self.data_len();
        let mut u = vec![Z128(0); len];
        let mut v = vec![Z128(0); len];
        let mut c: u128 = comb.carry_term(carry);
        for (j, r) in relations(self) {
            let rho = comb.rho(j);
            for m in r {
                u[2 + 2 * m] = Z128(rho.wrapping_mul(self.x0[m] as u128));
                v[1 + 2 * m] = Z128(self.y0[m] as u128);
            }
            c = c.wrapping_add(rho.wrapping_mul(self.r0[j] as u128));
        }
        Shares { u, v, c: Z128(c) }
    }
}

/// Per-gate random coefficients in F_p for the AND proof.
fn fp_rhos(sid: &SessionId, lambda: &[u8; 16], n: usize) -> Vec<Fp> {
    Prf::new(lambda, sid)
        .words(Purpose::Challenge, 1, n)
        .into_iter()
        .map(|w| Fp::from_random(w as u128))
        .collect()
}

const TWO: Fp = Fp(2);

impl Instance for BoolLog {
    type R = Fp;

    fn data_len(&self) -> usize {
        4 * 64 * self.words()
    }

    fn n_carries(&self) -> usize {
        0
    }

    fn prover_carries(&self, _: &SessionId, _: &[u8; 16]) -> Vec<Fp> {
        Vec::new()
    }

    // ePrint 2023/909, Sec. 4 (lifting to F_p): with a = x_i, b = y_i,
    // c = x_{i+1}, d = y_{i+1}, P = z_i ^ r_i ^ ab (known to V_prev) and
    // Q = r_{i+1} (known to V_next), an honest prover satisfies
    // P ^ Q = ad ^ bc, i.e. over the integers
    //   P + Q - 2PQ - ad - bc + 2(ab)(cd) = 0,
    // a 4-term inner product <(-2P, -a, -b, 2ab), (Q, d, c, cd)> = -(P + Q).
    fn prover(&self, sid: &SessionId, _: &[u8; 16], lambda: &[u8; 16]) -> Shares<Fp> {
        let n = 64 * self.words();
        let rho = fp_rhos(sid, lambda, n);
        let len = 1 + self.data_len();
        let mut u = vec![Fp(0); len];
        let mut v = vec![Fp(0); len];
        for w in 0..self.words() {
            let pw = self.z0[w] ^ self.r0[w] ^ (self.x0[w] & self.y0[w]);
            for l in 0..64 {
                let g = 64 * w + l;
                let bit = |x: u64| (x >> l) & 1;
                let (a, b, c, d, p, q) =
                    (bit(self.x0[w]), bit(self.y0[w]), bit(self.x1[w]), bit(self.y1[w]), bit(pw), bit(self.r1[w]));
                let r = rho[g];
                let o = 1 + 4 * g;
                let sel = |x: u64, f: Fp| if x == 1 { f } else { Fp(0) };
                u[o] = sel(p, r.mul(TWO).neg());
                u[o + 1] = sel(a, r.neg());
                u[o + 2] = sel(b, r.neg());
                u[o + 3] = sel(a & b, r.mul(TWO));
                v[o] = Fp(q);
                v[o + 1] = Fp(d);
                v[o + 2] = Fp(c);
                v[o + 3] = Fp(c & d);
            }
        }
        Shares { u, v, c: Fp(0) }
    }

    fn vprev(&self, sid: &SessionId, _: &[u8; 16], lambda: &[u8; 16], _: &[Fp]) -> Shares<Fp> {
        let n = 64 * self.words();
        let rho = fp_rhos(sid, lambda, n);
        let len = 1 + self.data_len();
        let mut u = vec![Fp(0); len];
        let v = vec![Fp(0); len];
        let mut c = Fp(0);
        for w in 0..self.words() {
            let pw = self.z1[w] ^ self.r1[w] ^ (self.x1[w] & self.y1[w]);
            for l in 0..64 {
                let g = 64 * w + l;
                let bit = |x: u64| (x >> l) & 1;
                let (a, b, p) = (bit(self.x1[w]), bit(self.y1[w]), bit(pw));
                let r = rho[g];
                let o = 1 + 4 * g;
                let sel = |x: u64, f: Fp| if x == 1 { f } else { Fp(0) };
                u[o] = sel(p, r.mul(TWO).neg());
                u[o + 1] = sel(a, r.neg());
                u[o + 2] = sel(b, r.neg());
                u[o + 3] = sel(a & b, r.mul(TWO));
                c = c.sub(sel(p, r));
            }
        }
        Shares { u, v, c }
    }

    fn vnext(&self, sid: &SessionId, _: &[u8; 16], lambda: &[u8; 16], _: &[Fp]) -> Shares<Fp> {
        let n = 64 * self.words();
        let rho = fp_rhos(sid, lambda, n);
        let len = 1 + self.data_len();
        let u = vec![Fp(0); len];
        let mut v = vec![Fp(0); len];
        let mut c = Fp(0);
        for w in 0..self.words() {
            for l in 0..64 {
                let g = 64 * w + l;
                let bit = |x: u64| (x >> l) & 1;
                let (cc, d, q) = (bit(self.x0[w]), bit(self.y0[w]), bit(self.r0[w]));
                let o = 1 + 4 * g;
                v[o] = Fp(q);
                v[o + 1] = Fp(d);
                v[o + 2] = Fp(cc);
                v[o + 3] = Fp(cc & d);
                if q == 1 {
                    c = c.sub(rho[g]);
                }
            }
        }
        Shares { u, v, c }
    }
}
