//! An [`Engine`] adapter that counts the gates and opens a circuit asks for
//! and, optionally, proves the logged gates every so many.

use crate::engine::Engine;
use crate::{ArithShare, BoolShare, Message, PartyId, Result, Session};

/// What a circuit used (totals; divide by a batch size for per-element
/// figures).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// AND gates (lanes of every AND call).
    pub ands: u64,
    /// Multiplications over Z_2^64.
    pub mults: u64,
    /// AND calls (one round each, before any chunking by the driver).
    pub and_layers: u64,
    /// Multiplication calls (one round each).
    pub mul_layers: u64,
    /// Opens (arithmetic or bits), each one round after a proof.
    pub opens: u64,
}

/// Counts what passes through to the engine it wraps. With
/// [`Counted::verify_every`], it also proves the logged gates once that many
/// are pending (the counts are public, so all parties prove at the same
/// point): drivers that do not batch proofs themselves (the in-memory
/// harness) then keep their log, and the proof's batch, near the size where
/// a proof is cheapest per gate.
#[derive(Debug)]
pub struct Counted<'a, E> {
    inner: &'a mut E,
    cost: Cost,
    verify_every: Option<u64>,
    pending: u64,
}

impl<'a, E: Engine> Counted<'a, E> {
    /// Count only.
    pub fn new(inner: &'a mut E) -> Self {
        Counted { inner, cost: Cost::default(), verify_every: None, pending: 0 }
    }

    /// Also prove the logged gates whenever `gates` (multiplications plus
    /// ANDs) are pending.
    pub fn verify_every(mut self, gates: u64) -> Self {
        self.verify_every = Some(gates.max(1));
        self
    }

    /// The counts so far.
    pub fn cost(&self) -> Cost {
        self.cost
    }

    fn logged(&mut self, gates: usize) -> Result<()> {
        self.pending += gates as u64;
        if self.verify_every.is_some_and(|every| self.pending >= every) {
            self.pending = 0;
            self.inner.verify()?;
        }
        Ok(())
    }
}

impl<E: Engine> Engine for Counted<'_, E> {
    fn session(&mut self) -> &mut Session {
        self.inner.session()
    }
    fn mul(&mut self, x: &ArithShare, y: &ArithShare) -> Result<ArithShare> {
        self.cost.mults += x.len() as u64;
        self.cost.mul_layers += 1;
        let z = self.inner.mul(x, y)?;
        self.logged(x.len())?;
        Ok(z)
    }
    fn and(&mut self, x: &BoolShare, y: &BoolShare) -> Result<BoolShare> {
        self.cost.ands += x.lanes() as u64;
        self.cost.and_layers += 1;
        let z = self.inner.and(x, y)?;
        self.logged(x.lanes())?;
        Ok(z)
    }
    fn open(&mut self, x: &ArithShare) -> Result<Vec<u64>> {
        self.cost.opens += 1;
        self.inner.open(x)
    }
    fn open_bits(&mut self, x: &BoolShare) -> Result<Vec<u64>> {
        self.cost.opens += 1;
        self.inner.open_bits(x)
    }
    fn verify(&mut self) -> Result<()> {
        self.pending = 0;
        self.inner.verify()
    }
    fn exchange(&mut self, messages: Vec<Message>, await_from: &[PartyId]) -> Result<Vec<Message>> {
        self.inner.exchange(messages, await_from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::run3_stats;

    #[test]
    fn counts_gates_and_opens_and_proves_every_so_many() {
        let out = run3_stats(None, |p| {
            let x = p.session.random(100);
            let b = p.session.random_bits(130);
            let mut c = Counted::new(p).verify_every(150);
            let y = c.mul(&x, &x)?;
            c.and(&b, &b)?;
            // 230 gates logged: one proof after the AND, nothing pending.
            let logged_after = c.session().pending();
            c.open(&y)?;
            Ok((c.cost(), logged_after))
        });
        for (r, _) in out {
            let (cost, logged) = r.expect("honest run");
            assert_eq!(cost, Cost { ands: 130, mults: 100, and_layers: 1, mul_layers: 1, opens: 1 });
            assert_eq!(logged, (0, 0), "the AND pushed the pending count past 150: proven");
        }
    }
}
