//! A synchronous in-memory three-party harness: three threads connected by
//! `std::sync::mpsc` channels carrying encoded messages. Used by the tests
//! and the bench; the real transport lives in `triad-mpc`. Every run deals
//! fresh pair keys and a fresh session id from the OS random source
//! ([`fresh_parties`]): no fixed key is reachable from here.
//!
//! ```
//! use triad_mpc_core::harness::run3;
//! let out = run3(None, |p| {
//!     let x = p.share_public_input(&[3, 5])?;   // test-only: a known sharing
//!     let y = p.share_public_input(&[7, 11])?;
//!     let z = p.mul(&x, &y)?;                  // 8 B to prev, one round
//!     p.verify()?;                             // DZKP of every logged gate
//!     p.open(&z)                               // compare-view open
//! });
//! for r in out { assert_eq!(r.unwrap(), vec![21, 55]); }
//! ```

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::Duration;

use crate::engine::Engine;
use crate::input::InputBundle;
use crate::{
    ArithShare, BoolShare, Config, Error, Message, PairKeys, PartyId, Result, Session, SessionId, TransportKind,
};

/// Rewrites a party's outgoing messages (a deviating test double).
pub type Tamper = Box<dyn FnMut(&mut Message) + Send>;

/// Counters of what a party sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes on the wire, headers included.
    pub bytes: u64,
    /// Number of messages.
    pub messages: u64,
}

/// One party's end of the in-memory network.
pub struct Net {
    me: PartyId,
    tx: Vec<Option<Sender<Vec<u8>>>>,
    rx: Vec<Option<Receiver<Vec<u8>>>>,
    tamper: Option<Tamper>,
    timeout: Duration,
    /// What this party sent.
    pub stats: Stats,
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Net({}, {:?})", self.me, self.stats)
    }
}

impl Net {
    /// Send a message to `m.to`.
    pub fn send(&mut self, mut m: Message) -> Result<()> {
        if let Some(t) = self.tamper.as_mut() {
            t(&mut m);
        }
        let bytes = m.encode();
        self.stats.bytes += bytes.len() as u64;
        self.stats.messages += 1;
        let tx = self.tx[m.to.index()].as_ref().ok_or(Error::InvalidArgument("no link to that party"))?;
        tx.send(bytes).map_err(|_| Error::transport(TransportKind::Link, "peer hung up"))
    }

    /// Receive the next message from `from`.
    pub fn recv(&mut self, from: PartyId) -> Result<Message> {
        let rx = self.rx[from.index()].as_ref().ok_or(Error::InvalidArgument("no link to that party"))?;
        let bytes = rx.recv_timeout(self.timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => Error::transport(TransportKind::Timeout, "no message in time"),
            RecvTimeoutError::Disconnected => Error::transport(TransportKind::Link, "peer hung up"),
        })?;
        Message::decode(&bytes, from)
    }
}

/// A party in the harness: its session and network end.
#[derive(Debug)]
pub struct Party {
    /// The protocol state.
    pub session: Session,
    /// The links.
    pub net: Net,
    /// A per-run seed known to all three parties (fresh OS randomness):
    /// the components of [`Party::share_public_input`]. Not a key: what it
    /// expands into are sharings of public values.
    public_seed: [u8; 16],
}

impl Party {
    /// This party.
    pub fn me(&self) -> PartyId {
        self.session.me()
    }

    /// Test helper: the RSS of a vector known to everyone, with component
    /// `x_0 = v - x_1 - x_2` and `x_1, x_2` from a stream all three parties
    /// can compute (the run's `public_seed`; no communication). The value is
    /// public: the sharing protects nothing, it only makes the components
    /// non-trivial.
    pub fn share_public_input(&mut self, v: &[u64]) -> Result<ArithShare> {
        let n = v.len();
        let [x1, x2] = self.public_stream(n);
        let x0: Vec<u64> = (0..n).map(|j| v[j].wrapping_sub(x1[j]).wrapping_sub(x2[j])).collect();
        let comps = [x0, x1, x2];
        let i = self.me().index();
        ArithShare::from_components(comps[i].clone(), comps[(i + 1) % 3].clone())
    }

    /// Test helper: boolean version of [`Party::share_public_input`].
    pub fn share_public_bits(&mut self, words: &[u64], lanes: usize) -> Result<BoolShare> {
        let n = words.len();
        let [x1, x2] = self.public_stream(n);
        let x0: Vec<u64> = (0..n).map(|j| words[j] ^ x1[j] ^ x2[j]).collect();
        let comps = [x0, x1, x2];
        let i = self.me().index();
        BoolShare::from_components(comps[i].clone(), comps[(i + 1) % 3].clone(), lanes)
    }

    /// Two vectors of `n` words known to all three parties (each call takes
    /// a fresh counter, so calls never share a stream).
    fn public_stream(&mut self, n: usize) -> [Vec<u64>; 2] {
        let c = self.session.next_seq();
        let prf = crate::prf::Prf::new(&self.public_seed, &self.session.id());
        [prf.words(crate::prf::Purpose::Test, c << 1, n), prf.words(crate::prf::Purpose::Test, (c << 1) | 1, n)]
    }

    /// `x * y` elementwise ([`Engine::mul`]: one exchange).
    pub fn mul(&mut self, x: &ArithShare, y: &ArithShare) -> Result<ArithShare> {
        Engine::mul(self, x, y)
    }

    /// `sum_j x_j y_j` ([`crate::engine::dot_gate`]).
    pub fn dot(&mut self, x: &ArithShare, y: &ArithShare) -> Result<ArithShare> {
        crate::engine::dot_gate(self, x, y)
    }

    /// `x & y` ([`Engine::and`]).
    pub fn and(&mut self, x: &BoolShare, y: &BoolShare) -> Result<BoolShare> {
        Engine::and(self, x, y)
    }

    /// Bit injection ([`crate::circuits::b2a`]).
    pub fn b2a(&mut self, x: &BoolShare) -> Result<ArithShare> {
        crate::circuits::b2a(self, x)
    }

    /// Verify all logged gates ([`Engine::verify`]).
    pub fn verify(&mut self) -> Result<()> {
        Engine::verify(self)
    }

    /// Verify pending gates, then open `x` to everyone ([`Engine::open`]).
    pub fn open(&mut self, x: &ArithShare) -> Result<Vec<u64>> {
        Engine::open(self, x)
    }

    /// Verify pending gates, then open bit-sliced `x` ([`Engine::open_bits`]).
    pub fn open_bits(&mut self, x: &BoolShare) -> Result<Vec<u64>> {
        Engine::open_bits(self, x)
    }

    /// Check a client's bundle with the neighbours ([`crate::input::check_bundle`]).
    pub fn input(&mut self, bundle: InputBundle) -> Result<(ArithShare, Vec<usize>)> {
        crate::input::check_bundle(self, bundle)
    }
}

/// The transport of the in-memory network; the gates, proofs and opens are
/// the trait's provided methods.
impl Engine for Party {
    fn session(&mut self) -> &mut Session {
        &mut self.session
    }
    fn exchange(&mut self, messages: Vec<Message>, await_from: &[PartyId]) -> Result<Vec<Message>> {
        for m in messages {
            self.net.send(m)?;
        }
        await_from.iter().map(|f| self.net.recv(*f)).collect()
    }
}

fn os_random(out: &mut [u8]) -> Result<()> {
    getrandom::fill(out).map_err(|_| Error::NoRandomness)
}

/// The three parties' sessions with fresh pair keys and a fresh session id
/// from the OS random source (all three live in this process, so this is a
/// trusted dealer: for tests and benchmarks only).
pub fn fresh_parties(config: Config) -> Result<[(Session, PartyId); 3]> {
    let mut k = zeroize::Zeroizing::new([[0u8; 16]; 3]);
    for key in k.iter_mut() {
        os_random(key)?;
    }
    let mut sid = [0u8; 16];
    os_random(&mut sid)?;
    let keys = PairKeys::deal(*k);
    Ok(PartyId::ALL.map(|p| (Session::with_config(SessionId(sid), p, &keys[p.index()], config), p)))
}

/// Run `f` at the three parties on three threads. `tamper` makes one party
/// deviate by rewriting its outgoing messages. Returns each party's result
/// and what it sent.
pub fn run3_stats<T, F>(tamper: Option<(PartyId, Tamper)>, f: F) -> [(Result<T>, Stats); 3]
where
    T: Send,
    F: Fn(&mut Party) -> Result<T> + Sync,
{
    run3_with(Config::default(), tamper, f)
}

/// [`run3_stats`] with explicit session parameters.
pub fn run3_with<T, F>(config: Config, tamper: Option<(PartyId, Tamper)>, f: F) -> [(Result<T>, Stats); 3]
where
    T: Send,
    F: Fn(&mut Party) -> Result<T> + Sync,
{
    // Channel (a -> b) for every ordered pair.
    let mut tx: Vec<Vec<Option<Sender<Vec<u8>>>>> = (0..3).map(|_| vec![None, None, None]).collect();
    let mut rx: Vec<Vec<Option<Receiver<Vec<u8>>>>> = (0..3).map(|_| vec![None, None, None]).collect();
    for a in 0..3 {
        for b in 0..3 {
            if a != b {
                let (t, r) = channel();
                tx[a][b] = Some(t);
                rx[b][a] = Some(r);
            }
        }
    }
    let mut tamper = tamper;
    let mut parties: Vec<Party> = Vec::new();
    let mut public_seed = [0u8; 16];
    let sessions = match fresh_parties(config).and_then(|s| os_random(&mut public_seed).map(|()| s)) {
        Ok(s) => s,
        Err(e) => return [0, 1, 2].map(|_| (Err(e.clone()), Stats::default())),
    };
    for ((session, me), (t, r)) in sessions.into_iter().zip(tx.into_iter().zip(rx)) {
        let tp = match &tamper {
            Some((p, _)) if *p == me => tamper.take().map(|(_, t)| t),
            _ => None,
        };
        parties.push(Party {
            session,
            net: Net { me, tx: t, rx: r, tamper: tp, timeout: Duration::from_secs(120), stats: Stats::default() },
            public_seed,
        });
    }
    let f = &f;
    let mut results: Vec<(Result<T>, Stats)> = std::thread::scope(|sc| {
        let hs: Vec<_> = parties
            .into_iter()
            .map(|mut p| {
                sc.spawn(move || {
                    let r = f(&mut p);
                    let st = p.net.stats;
                    drop(p);
                    (r, st)
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| {
                h.join().unwrap_or((
                    Err(Error::transport(TransportKind::Thread, "party thread panicked")),
                    Stats::default(),
                ))
            })
            .collect()
    });
    let c = results
        .pop()
        .unwrap_or((Err(Error::transport(TransportKind::Thread, "party result missing")), Stats::default()));
    let b = results
        .pop()
        .unwrap_or((Err(Error::transport(TransportKind::Thread, "party result missing")), Stats::default()));
    let a = results
        .pop()
        .unwrap_or((Err(Error::transport(TransportKind::Thread, "party result missing")), Stats::default()));
    [a, b, c]
}

/// [`run3_stats`] without the counters.
pub fn run3<T, F>(tamper: Option<(PartyId, Tamper)>, f: F) -> [Result<T>; 3]
where
    T: Send,
    F: Fn(&mut Party) -> Result<T> + Sync,
{
    run3_stats(tamper, f).map(|(r, _)| r)
}
