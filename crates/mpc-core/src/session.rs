//! Per-party session state: identity, PRF keys, operation counter and the
//! log of unverified gates.
//!
//! What is wiped from memory (`zeroize`) and what is not:
//! * wiped: the pair keys ([`PairKeys`] on drop), the AES key schedules of
//!   every PRF (the `aes` crate's `zeroize` feature, on drop: a session's
//!   two PRFs, a verification's copies, the shuffle's pair PRFs), the
//!   intermediate per-session key in `Prf::new`, client
//!   [`crate::input::InputBundle`]s on drop, and the key-agreement secrets of
//!   `triad-mpc`;
//! * not wiped: share vectors ([`ArithShare`], [`BoolShare`]), the gate logs
//!   and the proof vectors. They are the engine's working data, recycled
//!   between batches (`clear` keeps the allocation) and rewritten at every
//!   gate; wiping them per batch would add a pass over hundreds of
//!   megabytes to the hot path, and a memory disclosure of a live party
//!   reveals its current shares anyway. A share is one of three components
//!   and reveals nothing on its own.

use crate::prf::{Prf, Purpose};
use crate::share::words_for;
use crate::{ArithShare, BoolShare, PartyId, SessionId};

/// The two long-term pair keys of one party: `prev` = `k_i` (shared with
/// party `i-1`), `next` = `k_{i+1}` (shared with party `i+1`). Agreeing on
/// them (e.g. by a key exchange over the authenticated links) is the
/// transport's business.
#[derive(Clone)]
pub struct PairKeys {
    /// Key shared with the previous party.
    pub(crate) prev: [u8; 16],
    /// Key shared with the next party.
    pub(crate) next: [u8; 16],
}

impl std::fmt::Debug for PairKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PairKeys(..)")
    }
}

impl Drop for PairKeys {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.prev.zeroize();
        self.next.zeroize();
    }
}

impl PairKeys {
    /// Trusted dealing of the three pairs' keys from three secrets
    /// `k_0, k_1, k_2` (for tests and single-operator setups): party `i`
    /// gets `(k_i, k_{i+1})`.
    pub fn deal(k: [[u8; 16]; 3]) -> [PairKeys; 3] {
        [0usize, 1, 2].map(|i| PairKeys { prev: k[i], next: k[(i + 1) % 3] })
    }
}

/// Logged arithmetic relations awaiting verification. Party `i` stores, per
/// term, `x_i, x_{i+1}, y_i, y_{i+1}` and per relation (a multiplication or
/// a whole dot product) its own message `z_i`, the received `z_{i+1}` and the
/// zero-sharing components `r_i`, `r_{i+1}` (`alpha_i = r_i - r_{i+1}`).
/// `Debug` prints only the counts (the log holds shares).
#[derive(Default)]
pub(crate) struct ArithLog {
    pub(crate) x0: Vec<u64>,
    pub(crate) x1: Vec<u64>,
    pub(crate) y0: Vec<u64>,
    pub(crate) y1: Vec<u64>,
    pub(crate) z0: Vec<u64>,
    pub(crate) z1: Vec<u64>,
    pub(crate) r0: Vec<u64>,
    pub(crate) r1: Vec<u64>,
    /// Terms per relation; empty while every relation has one term.
    pub(crate) terms: Vec<u32>,
}

impl std::fmt::Debug for ArithLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ArithLog(relations={}, terms={})", self.relations(), self.x0.len())
    }
}

impl ArithLog {
    pub(crate) fn relations(&self) -> usize {
        self.z0.len()
    }

    /// Log the received `z_{i+1}` of relations `at..`. `z1` grows as gates
    /// finish (no zero-filling at the start).
    pub(crate) fn put_z1(&mut self, at: usize, z1: &[u64]) {
        if self.z1.len() == at {
            self.z1.extend_from_slice(z1);
            return;
        }
        if self.z1.len() < at + z1.len() {
            self.z1.resize(at + z1.len(), 0);
        }
        self.z1[at..at + z1.len()].copy_from_slice(z1);
    }

    /// Before a proof: every relation has its `z_{i+1}` slot (a no-op, as
    /// [`crate::Session::verify_start`] refuses while a gate is unfinished;
    /// kept so that a missed slot can only fail the proof, never panic).
    pub(crate) fn seal(&mut self) {
        self.z1.resize(self.z0.len(), 0);
    }
    /// Empty, keeping the allocations.
    pub(crate) fn clear(&mut self) {
        for v in [
            &mut self.x0,
            &mut self.x1,
            &mut self.y0,
            &mut self.y1,
            &mut self.z0,
            &mut self.z1,
            &mut self.r0,
            &mut self.r1,
        ] {
            v.clear();
        }
        self.terms.clear();
    }
}

/// Logged AND words (64 gates each), same layout as [`ArithLog`] with one term
/// per relation. `Debug` prints only the count.
#[derive(Default)]
pub(crate) struct BoolLog {
    pub(crate) x0: Vec<u64>,
    pub(crate) x1: Vec<u64>,
    pub(crate) y0: Vec<u64>,
    pub(crate) y1: Vec<u64>,
    pub(crate) z0: Vec<u64>,
    pub(crate) z1: Vec<u64>,
    pub(crate) r0: Vec<u64>,
    pub(crate) r1: Vec<u64>,
}

impl std::fmt::Debug for BoolLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BoolLog(words={})", self.words())
    }
}

impl BoolLog {
    pub(crate) fn words(&self) -> usize {
        self.z0.len()
    }
    /// Empty, keeping the allocations.
    pub(crate) fn clear(&mut self) {
        for v in [
            &mut self.x0,
            &mut self.x1,
            &mut self.y0,
            &mut self.y1,
            &mut self.z0,
            &mut self.z1,
            &mut self.r0,
            &mut self.r1,
        ] {
            v.clear();
        }
    }
}

/// One party's session: its id, the session id, the PRFs of its two pair
/// keys, the operation counter (every operation advances it identically at
/// all three parties) and the log of unverified gates.
///
/// After any [`crate::Error::Abort`] the session must be dropped. It also
/// protects itself: an abort of a verification, an open, a gate or an input
/// check *poisons* it, and every later operation that would send or open
/// (gates, opens, input checks, shuffles, verifications) is refused with an
/// abort ([`Session::is_poisoned`]).
///
/// `Debug` prints the party, the counter and the log sizes only: never
/// shares, keys or PRF state.
pub struct Session {
    pub(crate) id: SessionId,
    pub(crate) me: PartyId,
    /// PRF under `k_i`, shared with the previous party.
    pub(crate) prf_prev: Prf,
    /// PRF under `k_{i+1}`, shared with the next party.
    pub(crate) prf_next: Prf,
    pub(crate) counter: u64,
    pub(crate) arith_log: ArithLog,
    pub(crate) bool_log: BoolLog,
    pub(crate) verify_batches: u64,
    /// The proof code's vectors, recycled between verification batches (no
    /// fresh pages, hence no page faults, in steady state); owned by `dzkp`.
    pub(crate) proof_buffers: crate::dzkp::Buffers,
    pub(crate) config: crate::Config,
    /// Gates handed to a verification that has not completed yet (opens
    /// stay refused until it does, even if the [`crate::Verify`] is dropped).
    pub(crate) in_flight: u64,
    /// Gates started and not finished (their `z_{i+1}` not received).
    /// Verification refuses to start while any is: its first message
    /// releases the `chi` term of the next party's proof, which must follow
    /// every gate message that party sent us.
    pub(crate) unfinished: u64,
    /// Shuffles whose acknowledgements are not in yet: opens refuse until
    /// they are, as the tag key must not be released before every shuffle
    /// message reached its honest recipient (`shuffle` module).
    pub(crate) unacked_shuffles: u64,
    /// Set by the first abort (see [`Session::is_poisoned`]).
    pub(crate) poisoned: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("me", &self.me)
            .field("counter", &self.counter)
            .field("arith_log", &self.arith_log)
            .field("bool_log", &self.bool_log)
            .field("verify_batches", &self.verify_batches)
            .field("in_flight", &self.in_flight)
            .field("unfinished", &self.unfinished)
            .field("unacked_shuffles", &self.unacked_shuffles)
            .field("poisoned", &self.poisoned)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session for party `me`.
    pub fn new(id: SessionId, me: PartyId, keys: &PairKeys) -> Session {
        Session {
            id,
            me,
            prf_prev: Prf::new(&keys.prev, &id),
            prf_next: Prf::new(&keys.next, &id),
            counter: 0,
            arith_log: ArithLog::default(),
            bool_log: BoolLog::default(),
            verify_batches: 0,
            proof_buffers: Default::default(),
            config: crate::Config::default(),
            in_flight: 0,
            unfinished: 0,
            unacked_shuffles: 0,
            poisoned: false,
        }
    }

    /// A session with explicit parameters (all three parties must agree).
    pub fn with_config(id: SessionId, me: PartyId, keys: &PairKeys, config: crate::Config) -> Session {
        Session { config, ..Session::new(id, me, keys) }
    }

    /// The parameters.
    pub fn config(&self) -> crate::Config {
        self.config
    }

    /// This party.
    pub fn me(&self) -> PartyId {
        self.me
    }

    /// The session id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// Multiplications (relations) and AND words logged and not yet verified.
    pub fn pending(&self) -> (usize, usize) {
        (self.arith_log.relations(), self.bool_log.words())
    }

    /// True once an operation of this session aborted: it then refuses
    /// every operation that sends or opens.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Refuse an operation at `step` once the session is poisoned (one
    /// branch per operation, not per element).
    #[inline]
    pub(crate) fn live(&self, step: crate::Step) -> crate::Result<()> {
        if self.poisoned {
            Err(crate::Error::abort(step, None, "the session aborted earlier; drop it"))
        } else {
            Ok(())
        }
    }

    /// Poison the session if `r` is an abort; pass `r` on.
    pub(crate) fn poison_on_abort<T>(&mut self, r: crate::Result<T>) -> crate::Result<T> {
        if matches!(r, Err(crate::Error::Abort { .. })) {
            self.poisoned = true;
        }
        r
    }

    pub(crate) fn has_pending(&self) -> bool {
        self.arith_log.relations() > 0 || self.bool_log.words() > 0 || self.in_flight > 0
    }

    pub(crate) fn next_seq(&mut self) -> u64 {
        let c = self.counter;
        self.counter += 1;
        c
    }

    /// A fresh random sharing of `n` elements: component `j` is
    /// `F_{k_j}(ctr)`, so no communication (Araki et al. CCS'16, Sec. 2.2).
    pub fn random(&mut self, n: usize) -> ArithShare {
        let c = self.next_seq();
        ArithShare { s0: self.prf_prev.words(Purpose::Random, c, n), s1: self.prf_next.words(Purpose::Random, c, n) }
    }

    /// A fresh random boolean sharing of `lanes` bits (free).
    pub fn random_bits(&mut self, lanes: usize) -> BoolShare {
        let c = self.next_seq();
        let w = words_for(lanes);
        BoolShare {
            s0: self.prf_prev.words(Purpose::Random, c, w),
            s1: self.prf_next.words(Purpose::Random, c, w),
            lanes,
        }
    }

    /// Zero-sharing components `(r_i, r_{i+1})` for counter `c`:
    /// `alpha_i = r_i - r_{i+1}` sums to zero over the three parties.
    pub(crate) fn zero_parts(&self, c: u64, n: usize) -> (Vec<u64>, Vec<u64>) {
        (self.prf_prev.words(Purpose::Zero, c, n), self.prf_next.words(Purpose::Zero, c, n))
    }
}
