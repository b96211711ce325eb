//! The instance interface of the folding proof and its vector pool; the
//! relations are in `mult.rs` (products) and `and.rs` (AND gates).
//!
//! Notation for prover `P_i`: its verifiers are `V_prev = P_{i-1}`, which
//! holds `x_i, y_i, z_i, r_i`, and `V_next = P_{i+1}`, which holds `x_{i+1},
//! y_{i+1}, r_{i+1}`. The prover proves, for each logged gate,
//! `z_i = x_i y_i + x_i y_{i+1} + x_{i+1} y_i + r_i - r_{i+1}` (BGIN19,
//! Sec. 4: each party proves the correctness of the message it sent).

use super::mult::ChiRow;
use super::ring::{G64, VRing, Z128, Z192};
use crate::SessionId;

/// The proof code's recycled buffers: one vector [`Pool`] per proof ring and
/// the product proof's subset-byte buffers. The session keeps them between
/// verification batches (one field, `Session::proof_buffers`) so that a
/// steady state allocates no fresh pages; only this module reads them.
#[derive(Default)]
pub(crate) struct Buffers {
    z128: Pool<Z128>,
    z192: Pool<Z192>,
    g64: Pool<G64>,
    /// The product proof's subset-byte (`chi`) buffers.
    pub(crate) chi_rows: Vec<Vec<ChiRow>>,
}

/// Counts only (the buffers still hold old proof data).
impl std::fmt::Debug for Buffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buffers")
            .field("z128", &self.z128)
            .field("z192", &self.z192)
            .field("g64", &self.g64)
            .field("chi_rows", &self.chi_rows.len())
            .finish()
    }
}

impl Buffers {
    /// The vector pool of proof ring `R`.
    pub(crate) fn pool<R: Pooled>(&mut self) -> &mut Pool<R> {
        R::pool_in(self)
    }
}

/// A proof ring with a vector pool in [`Buffers`].
pub(crate) trait Pooled: Sized {
    /// Its pool.
    fn pool_in(b: &mut Buffers) -> &mut Pool<Self>;
}

impl Pooled for Z128 {
    fn pool_in(b: &mut Buffers) -> &mut Pool<Self> {
        &mut b.z128
    }
}

impl Pooled for Z192 {
    fn pool_in(b: &mut Buffers) -> &mut Pool<Self> {
        &mut b.z192
    }
}

impl Pooled for G64 {
    fn pool_in(b: &mut Buffers) -> &mut Pool<Self> {
        &mut b.g64
    }
}

/// Recycled vectors of one ring, kept in [`Buffers`] between batches:
/// fresh multi-megabyte allocations cost page faults (the kernel zeroes
/// every page), measured at 10-20% of a verification.
pub(crate) struct Pool<R>(Vec<Vec<R>>);

/// Counts only: the recycled vectors still hold old proof data.
impl<R> std::fmt::Debug for Pool<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pool(vectors={})", self.0.len())
    }
}

impl<R> Default for Pool<R> {
    fn default() -> Self {
        Pool(Vec::new())
    }
}

impl<R> Pool<R> {
    /// A verification holds six vectors (three roles, `u` and `v`).
    const SLOTS: usize = 6;
    /// Smaller vectors (the pad-only shares) are not worth keeping: handed
    /// out for a large request, they would be reallocated anyway.
    const MIN_KEEP: usize = 1 << 10;

    /// An empty vector with room for `cap` elements: the smallest kept one
    /// that fits, else the largest (grown once).
    pub(crate) fn take(&mut self, cap: usize) -> Vec<R> {
        let fits = (0..self.0.len()).filter(|&i| self.0[i].capacity() >= cap).min_by_key(|&i| self.0[i].capacity());
        let pick = fits.or_else(|| (0..self.0.len()).max_by_key(|&i| self.0[i].capacity()));
        let mut v = pick.map(|i| self.0.swap_remove(i)).unwrap_or_default();
        v.clear();
        v.reserve(cap);
        v
    }

    /// Keep `v` for reuse if it is among the `SLOTS` largest.
    pub(crate) fn put(&mut self, v: Vec<R>) {
        if v.capacity() < Self::MIN_KEEP {
            return;
        }
        if self.0.len() < Self::SLOTS {
            self.0.push(v);
        } else if let Some(i) = (0..self.0.len()).min_by_key(|&i| self.0[i].capacity())
            && self.0[i].capacity() < v.capacity()
        {
            self.0[i] = v;
        }
    }
}

/// Round 0 of a party's three roles: its own proof's vectors (`c` unused)
/// and its shares as `V_prev` (of its next party) and `V_next` (of its
/// previous one).
pub(crate) struct Round0<R> {
    pub(crate) prover: Shares<R>,
    pub(crate) prev: Shares<R>,
    pub(crate) next: Shares<R>,
}

/// Vectors and claim share of one role. For the prover, `c` is unused.
pub(crate) struct Shares<R> {
    pub(crate) u: Vec<R>,
    pub(crate) v: Vec<R>,
    pub(crate) c: R,
}

/// A relation proven by the folding proof. Each instance runs fold round 0
/// on its own layout (the expensive, full-length round); the engine then
/// prepends the pads to the folded vectors (slot 0) and adds the pad
/// product, committed in `ProofCarry` before any coefficient is known, to
/// the claim.
pub(crate) trait Instance: Send {
    type R: VRing + Pooled;
    /// Fold factor of round 0 (later rounds use `K`).
    const K0: usize;
    /// Whether, past the pad slot, the prover's vectors are the sums of the
    /// party's two verifier shares (then later rounds add instead of fold).
    const PROVER_IS_SUM: bool = false;
    /// Length of the vectors after round 0, without the pad slot.
    fn folded_len(&self) -> usize;
    /// Number of public carry values the prover shares before the
    /// combination coefficients are drawn.
    fn n_carries(&self) -> usize;
    /// Hand the (cleared) log back to the session for reuse.
    fn recycle(self, s: &mut crate::Session);
    /// The prover's carries (seed `chi` from `ProofSeed`).
    fn prover_carries(&mut self, sid: &SessionId, chi: &[u8; 16]) -> Vec<Self::R>;
    /// Round 0, prover: the `K0*K0` cross products of the claim's blocks.
    fn prover_cross0(&mut self, sid: &SessionId, chi: &[u8; 16], lambda: &[u8; 16]) -> Vec<Self::R>;
    /// Round 0, prover: the folded vectors, slot 0 left for the pad.
    #[allow(clippy::too_many_arguments)]
    fn prover_fold0(
        &mut self,
        sid: &SessionId,
        chi: &[u8; 16],
        lambda: &[u8; 16],
        r: &[Self::R],
        s: &[Self::R],
        pool: &mut Pool<Self::R>,
    ) -> (Vec<Self::R>, Vec<Self::R>);
    /// Round 0, a verifier (`as_prev`: the prover's previous neighbour):
    /// folded shares (slot 0 left for the pad) and the claim share before
    /// round 0, given its shares of the carries.
    #[allow(clippy::too_many_arguments)]
    fn verifier_fold0(
        &mut self,
        sid: &SessionId,
        chi: &[u8; 16],
        lambda: &[u8; 16],
        carry: &[Self::R],
        as_prev: bool,
        r: &[Self::R],
        s: &[Self::R],
        pool: &mut Pool<Self::R>,
    ) -> Shares<Self::R>;
    /// Round 0 of all three roles, when all three proofs use the same
    /// `chi`, `lambda` and challenges (`carry_prev`, `carry_next`: the
    /// carry shares of the two verifier roles). Instances whose three roles
    /// share work override it.
    #[allow(clippy::too_many_arguments)]
    fn round0_all(
        &mut self,
        sid: &SessionId,
        chi: &[u8; 16],
        lambda: &[u8; 16],
        carry_prev: &[Self::R],
        carry_next: &[Self::R],
        r: &[Self::R],
        s: &[Self::R],
        pool: &mut Pool<Self::R>,
    ) -> Round0<Self::R> {
        let (u, v) = self.prover_fold0(sid, chi, lambda, r, s, pool);
        let prev = self.verifier_fold0(sid, chi, lambda, carry_prev, true, r, s, pool);
        let next = self.verifier_fold0(sid, chi, lambda, carry_next, false, r, s, pool);
        Round0 { prover: Shares { u, v, c: Self::R::ZERO }, prev, next }
    }
}
