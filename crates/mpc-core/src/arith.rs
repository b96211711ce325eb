//! Semi-honest gates of Araki, Furukawa, Lindell, Nof, Ohara (CCS'16, ePrint
//! 2016/768, Sec. 2.2), logged for batched verification.
//!
//! Party `i` computes `z_i = x_i y_i + x_i y_{i+1} + x_{i+1} y_i + alpha_i`
//! with `alpha_i = r_i - r_{i+1}` from the pair PRFs, sends `z_i` to party
//! `i-1` and receives `z_{i+1}` from party `i+1`: one element per party, one
//! round. For GF(2) the same with XOR/AND on 64-lane words.

use crate::message::Expect;
use crate::{ArithShare, BoolShare, Error, Message, Payload, Result, Session, Step};

/// A multiplication (or dot product) awaiting `z_{i+1}` from the next party.
/// The gate is logged when started; every started gate must be finished
/// before [`Session::verify_start`], which refuses to start otherwise.
#[derive(Debug)]
#[must_use = "finish the multiplication with the next party's message"]
pub struct MulPending {
    seq: u64,
    /// First relation index in the log.
    at: usize,
    n: usize,
}

fn check_len(a: usize, b: usize) -> Result<()> {
    if a == b { Ok(()) } else { Err(Error::InvalidArgument("operand lengths differ")) }
}

impl Session {
    fn to_prev(&self, step: Step, seq: u64, payload: Payload) -> Message {
        Message { session: self.id, step, seq, from: self.me, to: self.me.prev(), payload }
    }

    pub(crate) fn expect_from_next(&self, step: Step, seq: u64) -> Expect {
        Expect { session: self.id, step, seq, from: self.me.next(), to: self.me }
    }

    pub(crate) fn expect_from_prev(&self, step: Step, seq: u64) -> Expect {
        Expect { session: self.id, step, seq, from: self.me.prev(), to: self.me }
    }

    /// Start `x * y` elementwise. Returns the continuation and the message
    /// for the previous party. Araki et al. CCS'16, Sec. 2.2: party `i` sends
    /// `z_i = x_i y_i + x_i y_{i+1} + x_{i+1} y_i + r_i - r_{i+1}`.
    pub fn mul_start(&mut self, x: &ArithShare, y: &ArithShare) -> Result<(MulPending, Message)> {
        self.live(Step::Mul)?;
        check_len(x.len(), y.len())?;
        let n = x.len();
        let seq = self.next_seq();
        let log = &mut self.arith_log;
        let at = log.z0.len();
        let t0 = log.x0.len();
        if !log.terms.is_empty() {
            log.terms.extend(std::iter::repeat_n(1, n));
        }
        log.x0.extend_from_slice(&x.s0);
        log.x1.extend_from_slice(&x.s1);
        log.y0.extend_from_slice(&y.s0);
        log.y1.extend_from_slice(&y.s1);
        self.prf_prev.words_into(crate::prf::Purpose::Zero, seq, n, &mut log.r0);
        self.prf_next.words_into(crate::prf::Purpose::Zero, seq, n, &mut log.r1);
        // z_i straight into the (recycled) log; the message gets a copy.
        let (a0, a1, b0, b1) = (&log.x0[t0..], &log.x1[t0..], &log.y0[t0..], &log.y1[t0..]);
        let (r0, r1) = (&log.r0[at..], &log.r1[at..]);
        let z0 =
            a0.iter().zip(a1).zip(b0.iter().zip(b1)).zip(r0.iter().zip(r1)).map(|(((a0, a1), (b0, b1)), (r0, r1))| {
                a0.wrapping_mul(*b0)
                    .wrapping_add(a0.wrapping_mul(*b1))
                    .wrapping_add(a1.wrapping_mul(*b0))
                    .wrapping_add(*r0)
                    .wrapping_sub(*r1)
            });
        log.z0.extend(z0);
        let payload = Payload::Words(log.z0[at..].to_vec());
        let msg = self.to_prev(Step::Mul, seq, payload);
        self.unfinished += 1;
        Ok((MulPending { seq, at, n }, msg))
    }

    /// Start the dot product `sum_j x_j y_j` (one sharing): one element sent,
    /// however long the vectors.
    pub fn dot_start(&mut self, x: &ArithShare, y: &ArithShare) -> Result<(MulPending, Message)> {
        self.dots_start(&[(x, y)])
    }

    /// Start several dot products at once (one sharing of `k` elements, one
    /// message of `k` elements): element `t` is `sum_j x_t[j] y_t[j]`. Each is
    /// logged as its own gate with its own term count, as [`Self::dot_start`].
    pub fn dots_start(&mut self, pairs: &[(&ArithShare, &ArithShare)]) -> Result<(MulPending, Message)> {
        self.live(Step::Mul)?;
        for (x, y) in pairs {
            check_len(x.len(), y.len())?;
        }
        let k = pairs.len();
        let seq = self.next_seq();
        let (r0, r1) = self.zero_parts(seq, k);
        let log = &mut self.arith_log;
        let at = log.z0.len();
        if log.terms.is_empty() {
            log.terms = vec![1; at];
        }
        for (t, (x, y)) in pairs.iter().enumerate() {
            let mut acc = r0[t].wrapping_sub(r1[t]);
            for j in 0..x.len() {
                let (a0, a1, b0, b1) = (x.s0[j], x.s1[j], y.s0[j], y.s1[j]);
                acc = acc
                    .wrapping_add(a0.wrapping_mul(b0))
                    .wrapping_add(a0.wrapping_mul(b1))
                    .wrapping_add(a1.wrapping_mul(b0));
            }
            log.terms.push(x.len() as u32);
            log.x0.extend_from_slice(&x.s0);
            log.x1.extend_from_slice(&x.s1);
            log.y0.extend_from_slice(&y.s0);
            log.y1.extend_from_slice(&y.s1);
            log.r0.push(r0[t]);
            log.r1.push(r1[t]);
            log.z0.push(acc);
        }
        let words = log.z0[at..].to_vec();
        let msg = self.to_prev(Step::Mul, seq, Payload::Words(words));
        self.unfinished += 1;
        Ok((MulPending { seq, at, n: k }, msg))
    }

    /// Start `x & y` on bit-sliced words. Araki et al. CCS'16, Sec. 2.2 over
    /// GF(2).
    pub fn and_start(&mut self, x: &BoolShare, y: &BoolShare) -> Result<(AndPending, Message)> {
        self.live(Step::And)?;
        check_len(x.lanes, y.lanes)?;
        let n = x.words();
        let seq = self.next_seq();
        let log = &mut self.bool_log;
        let at = log.z0.len();
        log.x0.extend_from_slice(&x.s0);
        log.x1.extend_from_slice(&x.s1);
        log.y0.extend_from_slice(&y.s0);
        log.y1.extend_from_slice(&y.s1);
        self.prf_prev.words_into(crate::prf::Purpose::Zero, seq, n, &mut log.r0);
        self.prf_next.words_into(crate::prf::Purpose::Zero, seq, n, &mut log.r1);
        let (a0, a1, b0, b1) = (&log.x0[at..], &log.x1[at..], &log.y0[at..], &log.y1[at..]);
        let (r0, r1) = (&log.r0[at..], &log.r1[at..]);
        let z0: Vec<u64> =
            (0..n).map(|j| (a0[j] & b0[j]) ^ (a0[j] & b1[j]) ^ (a1[j] & b0[j]) ^ r0[j] ^ r1[j]).collect();
        log.z0.extend_from_slice(&z0);
        log.z1.resize(at + n, 0);
        let msg = self.to_prev(Step::And, seq, Payload::Words(z0));
        self.unfinished += 1;
        Ok((AndPending { seq, at, n, lanes: x.lanes }, msg))
    }
}

impl MulPending {
    /// Consume `z_{i+1}` from the next party; returns the product sharing.
    pub fn finish(self, s: &mut Session, from_next: Message) -> Result<ArithShare> {
        let z1 = s.poison_on_abort(s.expect_from_next(Step::Mul, self.seq).words(from_next, self.n))?;
        s.unfinished = s.unfinished.saturating_sub(1);
        let log = &mut s.arith_log;
        let range = self.at..self.at + self.n;
        log.put_z1(self.at, &z1);
        let z0 = log.z0[range].to_vec();
        Ok(ArithShare { s0: z0, s1: z1 })
    }
}

/// An AND awaiting `z_{i+1}` from the next party (logged when started).
#[derive(Debug)]
#[must_use = "finish the AND with the next party's message"]
pub struct AndPending {
    seq: u64,
    at: usize,
    n: usize,
    lanes: usize,
}

impl AndPending {
    /// Consume `z_{i+1}` from the next party.
    pub fn finish(self, s: &mut Session, from_next: Message) -> Result<BoolShare> {
        let z1 = s.poison_on_abort(s.expect_from_next(Step::And, self.seq).words(from_next, self.n))?;
        s.unfinished = s.unfinished.saturating_sub(1);
        let log = &mut s.bool_log;
        let range = self.at..self.at + self.n;
        log.z1[range.clone()].copy_from_slice(&z1);
        let z0 = log.z0[range].to_vec();
        Ok(BoolShare { s0: z0, s1: z1, lanes: self.lanes })
    }
}

#[cfg(test)]
mod tests {
    //! A prover that deviates *consistently*: the harness's tamper alters the
    //! gate message it sends (what its verifiers see), and the prover logs
    //! the altered value and keeps it in its output share, then runs the
    //! proof honestly on that log (the strongest simple strategy). The DZKP
    //! must still catch it.
    use crate::harness::{Tamper, run3, run3_with};
    use crate::{ArithProofRing, Config, Error, Message, PartyId, Payload, Step};

    fn caught<T: std::fmt::Debug>(out: [crate::Result<T>; 3], cheater: usize) {
        let mut aborts = 0;
        for (i, r) in out.into_iter().enumerate() {
            if i == cheater {
                continue;
            }
            match r {
                Err(Error::Abort { step: Step::ProofFinal, blamed: None, .. }) => aborts += 1,
                Err(Error::Transport(_)) => {}
                other => panic!("party {i}: {other:?}"),
            }
        }
        assert!(aborts >= 1);
    }

    /// Rewrite word `j` of every sent message of `step` (the tests send one).
    fn alter(step: Step, j: usize, f: impl Fn(u64) -> u64 + Send + 'static) -> Tamper {
        Box::new(move |m: &mut Message| {
            if m.step == step
                && let Payload::Words(w) = &mut m.payload
                && let Some(x) = w.get_mut(j)
            {
                *x = f(*x);
            }
        })
    }

    #[test]
    fn a_consistently_wrong_product_is_caught() {
        for delta in [1u64, 2, 1 << 32, 1 << 63, u64::MAX] {
            for target in [0usize, 500, 999] {
                let tamper = alter(Step::Mul, target, move |w| w.wrapping_add(delta));
                let out = run3(Some((PartyId(1), tamper)), move |p| {
                    let x = p.share_public_input(&vec![7; 1000])?;
                    let y = p.share_public_input(&vec![9; 1000])?;
                    let at = p.session.arith_log.relations();
                    let mut z = p.mul(&x, &y)?;
                    if p.me() == PartyId(1) {
                        let logged = &mut p.session.arith_log.z0[at + target];
                        *logged = logged.wrapping_add(delta);
                        z.s0[target] = z.s0[target].wrapping_add(delta);
                    }
                    p.open(&z)
                });
                caught(out, 1);
            }
        }
    }

    #[test]
    fn the_fast_z2_128_proof_also_catches_a_wrong_product() {
        let config = Config { arith_ring: ArithProofRing::Z2_128 };
        for delta in [1u64, 1 << 63] {
            let tamper = alter(Step::Mul, 17, move |w| w.wrapping_add(delta));
            let out = run3_with(config, Some((PartyId(1), tamper)), move |p| {
                let x = p.share_public_input(&[7; 300])?;
                let at = p.session.arith_log.relations();
                let mut z = p.mul(&x, &x)?;
                if p.me() == PartyId(1) {
                    let logged = &mut p.session.arith_log.z0[at + 17];
                    *logged = logged.wrapping_add(delta);
                    z.s0[17] = z.s0[17].wrapping_add(delta);
                }
                p.open(&z)
            });
            caught(out.map(|(r, _)| r), 1);
        }
        // and the honest run passes
        let out = run3_with(config, None, |p| {
            let x = p.share_public_input(&[u64::MAX; 300])?;
            let z = p.mul(&x, &x)?;
            p.open(&z)
        });
        for (r, _) in out {
            assert_eq!(r, Ok(vec![1; 300]));
        }
    }

    #[test]
    fn a_consistently_wrong_dot_product_is_caught() {
        let tamper = alter(Step::Mul, 0, |w| w.wrapping_add(1 << 63));
        let out = run3(Some((PartyId(2), tamper)), |p| {
            let x = p.share_public_input(&vec![3; 300])?;
            let at = p.session.arith_log.relations();
            let mut z = p.dot(&x, &x)?;
            if p.me() == PartyId(2) {
                let logged = &mut p.session.arith_log.z0[at];
                *logged = logged.wrapping_add(1 << 63);
                z.s0[0] = z.s0[0].wrapping_add(1 << 63);
            }
            p.open(&z)
        });
        caught(out, 2);
    }

    #[test]
    fn a_consistently_wrong_and_is_caught() {
        // Single flips, and several flips in one word and across words
        // (errors that a plain per-word sum could cancel).
        for (word, mask) in [(0usize, 1u64), (3, 1 << 63), (7, 1 << 31), (3, 0b11 << 5), (5, u64::MAX)] {
            let tamper = alter(Step::And, word, move |w| w ^ mask);
            let out = run3(Some((PartyId(0), tamper)), move |p| {
                let x = p.share_public_bits(&[u64::MAX; 8], 512)?;
                let y = p.share_public_bits(&[0x5555; 8], 512)?;
                let at = p.session.bool_log.words();
                let mut z = p.and(&x, &y)?;
                if p.me() == PartyId(0) {
                    p.session.bool_log.z0[at + word] ^= mask;
                    z.s0[word] ^= mask;
                }
                p.open_bits(&z)
            });
            caught(out, 0);
        }
    }
}
