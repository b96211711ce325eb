//! Gate counts of a check: an [`Engine`] wrapper that counts what passes through.

use triad_mpc_core::circuits::Engine;
use triad_mpc_core::{ArithShare, BoolShare, Result, Session};

/// The gates a batch used (totals over the batch; divide by the batch size for per
/// contribution figures).
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
}

/// Prove the logged gates once this many are pending: the AND proof is cheapest per gate
/// around 10^6 gates, and the log stays small (as `triad-mpc`'s `NetParty` does by itself;
/// the in-memory harness does not). The counts are public, so all parties prove at the
/// same point.
const VERIFY_AFTER: u64 = 1 << 20;

/// Counts the gates of the engine it wraps, and proves them in batches of [`VERIFY_AFTER`].
pub(crate) struct Counting<'a, E> {
    inner: &'a mut E,
    cost: Cost,
    pending: u64,
}

impl<'a, E: Engine> Counting<'a, E> {
    pub(crate) fn new(inner: &'a mut E) -> Self {
        Self { inner, cost: Cost::default(), pending: 0 }
    }

    pub(crate) fn cost(&self) -> Cost {
        self.cost
    }

    fn logged(&mut self, gates: usize) -> Result<()> {
        self.pending += gates as u64;
        if self.pending >= VERIFY_AFTER {
            self.pending = 0;
            self.inner.verify()?;
        }
        Ok(())
    }
}

impl<E: Engine> Engine for Counting<'_, E> {
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
        self.inner.open(x)
    }
    fn open_bits(&mut self, x: &BoolShare) -> Result<Vec<u64>> {
        self.inner.open_bits(x)
    }
    fn verify(&mut self) -> Result<()> {
        self.inner.verify()
    }
    fn exchange(&mut self, messages: Vec<triad_mpc_core::Message>, await_from: &[triad_mpc_core::PartyId]) -> Result<Vec<triad_mpc_core::Message>> {
        self.inner.exchange(messages, await_from)
    }
}
