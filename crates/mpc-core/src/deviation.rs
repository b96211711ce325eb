//! Test-only adversarial hooks: a [`Deviation`] sits between a party's
//! session and its transport and may delay, reorder, alter or withhold any
//! message, and read what arrives before the session does. Drivers call it
//! when the cargo feature `deviation` is on; the feature is for tests and is
//! refused in release builds (`lib.rs`), so no shipped binary carries it.
//!
//! Besides the hook, this module holds the adaptive attacks that need the
//! engine's internals (PRF keys, the gate log, the proof's draws):
//! [`ChiAttack`] and [`ShuffleKeyAttack`]. Generic deviations (flip a bit of
//! the k-th message of a step, withhold a message) are written against the
//! hook alone, outside this crate.
//!
//! The threat model: a corrupt party controls the timing of its own
//! messages. It may hold back any send until it has read everything the
//! honest parties send without it; a challenge, key or mask must therefore
//! reach it only after every message it binds was received by a party that
//! checks it (`docs/protocols/message-order.md`).

use std::sync::{Arc, Mutex};

use crate::{Message, PartyId, Payload, Session, Step};

/// What a driver does before it blocks on a receive.
#[derive(Debug)]
pub enum BeforeRecv {
    /// Send these messages (possibly none), then receive as planned.
    Release(Vec<Message>),
    /// First receive one message from this party (it passes through
    /// [`Deviation::on_recv`] and is kept for the session's later receive
    /// from that party), then ask again.
    ReadFirst(PartyId),
}

/// A party's deviation from the protocol, called by the driver.
pub trait Deviation: Send {
    /// A message the session wants sent. Returns what goes on the wire now,
    /// in order: the message, an altered one, nothing (withheld: it may be
    /// returned by a later call), or earlier withheld ones as well.
    fn on_send(&mut self, s: &mut Session, m: Message) -> Vec<Message> {
        let _ = s;
        vec![m]
    }

    /// The driver is about to block on a receive from `from`.
    fn before_recv(&mut self, s: &mut Session, from: PartyId) -> BeforeRecv {
        let _ = (s, from);
        BeforeRecv::Release(Vec::new())
    }

    /// A message arrived; it may be rewritten before the session sees it.
    /// Returns messages to send now.
    fn on_recv(&mut self, s: &mut Session, m: &mut Message) -> Vec<Message> {
        let _ = (s, m);
        Vec::new()
    }
}

/// What an adaptive attack learned, for the test to report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttackLog {
    /// The attack learned the draw or key it waited for before its last
    /// binding message went out (the flaw it probes is present).
    pub learned: bool,
    /// The attack sent its altered message.
    pub cheated: bool,
    /// `(index, delta)`: what the cheater added to its own component of the
    /// attacked output, so that it opens consistently with the altered
    /// message (a real attacker keeps its shares consistent).
    pub corrections: Vec<(usize, u64)>,
}

/// The adaptive attack on the product proof's `chi` (security review,
/// finding 1): hold back the last multiplication message before a
/// verification (it goes to the previous party, which then waits), read the
/// next party's `ProofSeed`, and if it carries our missing `chi` term,
/// compute `chi` and add `2^63` to a set of gates whose `chi` rows XOR to
/// zero: every check row then sums the error to a multiple of `2^64`, the
/// carries absorb it, and the proof passes. Without the term it cheats the
/// same way on a guessed set, which the proof must catch.
pub struct ChiAttack {
    held: Option<Message>,
    /// Later messages to the same party, queued behind the held one (a
    /// link delivers in order).
    queued: Vec<Message>,
    /// Relations logged when the held layer was started (it is the last
    /// `n` of them).
    total: usize,
    /// Receives from the next party allowed while holding: the gate's own
    /// reply, then the next party's `ProofSeed`.
    allowance: u8,
    chi: Option<[u8; 16]>,
    /// Carry corrections for our next `ProofCarry`.
    carry_fix: Option<Vec<i64>>,
    log: Arc<Mutex<AttackLog>>,
}

impl ChiAttack {
    /// The attack and a handle on what it learns.
    pub fn new() -> (ChiAttack, Arc<Mutex<AttackLog>>) {
        let log = Arc::new(Mutex::new(AttackLog::default()));
        let a = ChiAttack {
            held: None,
            queued: Vec::new(),
            total: 0,
            allowance: 0,
            chi: None,
            carry_fix: None,
            log: log.clone(),
        };
        (a, log)
    }

    fn release(&mut self, s: &mut Session) -> Vec<Message> {
        let mut out = self.altered(s);
        out.append(&mut self.queued);
        out
    }

    fn altered(&mut self, s: &mut Session) -> Vec<Message> {
        let Some(mut m) = self.held.take() else { return Vec::new() };
        self.allowance = 0;
        let Payload::Words(z) = &mut m.payload else { return vec![m] };
        let (n, total) = (z.len(), self.total);
        if n < 2 || total < n {
            return vec![m];
        }
        let at = total - n;
        let set = match self.chi {
            Some(seed) => crate::dzkp::cancelling_set(&s.id, &seed, total, at),
            None => vec![0, 1],
        };
        if set.is_empty() {
            return vec![m];
        }
        if let Some(seed) = self.chi.take() {
            self.carry_fix = Some(crate::dzkp::carry_shifts(&s.id, &seed, total, at, &set, z));
        }
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        for &j in &set {
            z[j] = z[j].wrapping_add(1 << 63);
            log.corrections.push((j, 1 << 63));
        }
        log.cheated = true;
        vec![m]
    }
}

impl Deviation for ChiAttack {
    fn on_send(&mut self, s: &mut Session, mut m: Message) -> Vec<Message> {
        match m.step {
            Step::Mul => {
                // Hold the newest layer; an older one goes out unaltered.
                let mut older: Vec<Message> = self.held.take().into_iter().collect();
                older.append(&mut self.queued);
                self.held = Some(m);
                self.total = s.arith_log.relations();
                self.allowance = 1;
                return older;
            }
            _ if self.held.as_ref().is_some_and(|h| h.to == m.to) => {
                if m.step == Step::ProofSeed {
                    // Our verification starts: we may wait for the next party's seed.
                    self.allowance = 1;
                }
                self.queued.push(m);
                return Vec::new();
            }
            _ => {}
        }
        match m.step {
            Step::ProofSeed if self.held.is_some() => {
                self.allowance = 1;
                vec![m]
            }
            Step::ProofCarry => {
                if let Some(k) = self.carry_fix.take() {
                    crate::dzkp::shift_carries(s.config.arith_ring, &mut m, &k);
                }
                vec![m]
            }
            _ => vec![m],
        }
    }

    fn before_recv(&mut self, s: &mut Session, from: PartyId) -> BeforeRecv {
        if self.held.is_some() && from == s.me().next() && self.allowance > 0 {
            self.allowance -= 1;
            return BeforeRecv::Release(Vec::new());
        }
        BeforeRecv::Release(self.release(s))
    }

    fn on_recv(&mut self, s: &mut Session, m: &mut Message) -> Vec<Message> {
        if self.held.is_some()
            && m.step == Step::ProofSeed
            && m.from == s.me().next()
            && let Payload::Bytes(b) = &m.payload
            && let Ok(t) = <[u8; 16]>::try_from(b.as_slice())
        {
            self.chi = Some(crate::dzkp::chi_seed_with_term(s, m.seq, &t));
            self.log.lock().unwrap_or_else(|e| e.into_inner()).learned = true;
        }
        Vec::new()
    }
}

/// The adaptive attack on the shuffle's tag key `kappa` (security review,
/// finding 2), played by `P_1`: hold back `B2` (to `P_0`, which then waits),
/// read `P_2`'s next two messages (its round-2 output share, then whatever
/// it sends next without needing `B2`), and if the second is its part of
/// the `kappa` open, add to one row of `B2` an offset `(Delta, .., kappa_0
/// Delta)` that passes the tag check. Without `kappa` it adds the offset
/// for a guessed key, which the check must catch.
pub struct ShuffleKeyAttack {
    held: Option<Message>,
    kappa_ctr: Option<u64>,
    kappa: Option<Vec<u64>>,
    reads: u8,
    log: Arc<Mutex<AttackLog>>,
}

impl ShuffleKeyAttack {
    /// The attack (for party 1) and a handle on what it learns.
    pub fn new() -> (ShuffleKeyAttack, Arc<Mutex<AttackLog>>) {
        let log = Arc::new(Mutex::new(AttackLog::default()));
        (ShuffleKeyAttack { held: None, kappa_ctr: None, kappa: None, reads: 0, log: log.clone() }, log)
    }

    fn release(&mut self) -> Vec<Message> {
        let Some(mut m) = self.held.take() else { return Vec::new() };
        let kappa = self.kappa.clone().unwrap_or_else(|| vec![0x9e37_79b9_7f4a_7c15]);
        let Payload::Words(rows) = &mut m.payload else { return vec![m] };
        let w = kappa.len() + 1;
        if rows.len() < w || rows.len() % w != 0 {
            return vec![m];
        }
        let delta = 1u64;
        rows[0] ^= delta;
        rows[w - 1] ^= crate::gf64::mul(kappa[0], delta);
        self.log.lock().unwrap_or_else(|e| e.into_inner()).cheated = true;
        vec![m]
    }
}

impl Deviation for ShuffleKeyAttack {
    fn on_send(&mut self, s: &mut Session, m: Message) -> Vec<Message> {
        match m.step {
            // The key is the random sharing drawn just before the tags.
            Step::ShuffleTag => self.kappa_ctr = m.seq.checked_sub(1),
            Step::Shuffle1 if s.me().index() == 1 => {
                self.held = Some(m);
                self.reads = 0;
                return Vec::new();
            }
            _ => {}
        }
        vec![m]
    }

    fn before_recv(&mut self, s: &mut Session, from: PartyId) -> BeforeRecv {
        let next = s.me().next();
        if self.held.is_some() && from != next && self.reads < 2 {
            self.reads += 1;
            return BeforeRecv::ReadFirst(next);
        }
        BeforeRecv::Release(self.release())
    }

    fn on_recv(&mut self, s: &mut Session, m: &mut Message) -> Vec<Message> {
        if self.held.is_some()
            && m.step == Step::Open
            && m.from == s.me().next()
            && let (Payload::Words(k0), Some(ctr)) = (&m.payload, self.kappa_ctr)
        {
            // `P_2` sent its second component `kappa_0`; we hold `kappa_1, kappa_2`.
            let (k1, k2) = (
                s.prf_prev.words(crate::prf::Purpose::Random, ctr, k0.len()),
                s.prf_next.words(crate::prf::Purpose::Random, ctr, k0.len()),
            );
            self.kappa = Some(k0.iter().zip(&k1).zip(&k2).map(|((a, b), c)| a ^ b ^ c).collect());
            self.log.lock().unwrap_or_else(|e| e.into_inner()).learned = true;
        }
        Vec::new()
    }
}
