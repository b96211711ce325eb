//! `triad-adversary`: test-only. Runs a small MPC program at three OS processes over
//! localhost TLS ([`triad_procs`]), one of which may deviate from the protocol through the
//! `deviation` hook of `triad-mpc` ([`NetParty::set_deviation`]): the adaptive attacks of
//! `triad_mpc_core::deviation` (they wait for what the honest parties send before they commit
//! their last message), and generic deviations that alter, withhold, delay or reorder the
//! k-th message of a protocol step. The tests in `tests/` assert what the honest parties
//! output: the right values, or an abort that names the step; never a wrong value.
//!
//! The crate depends on the `deviation` feature, which a release build refuses, so it can
//! only ever run in tests.
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use triad_mpc::NetParty;
use triad_mpc::core::deviation::{AttackLog, BeforeRecv, ChiAttack, Deviation, ShuffleKeyAttack};
use triad_mpc::core::{ArithShare, BoolShare, Error as CoreError, Message, PartyId, Payload, Session, circuits, sort};

/// The program the three parties run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Program {
    /// `n` products of random sharings (one layer), proven, then `x`, `y`, `x y` opened.
    Mult,
    /// LTZ of `n` random sharings; `x` and the sign bits opened.
    Ltz,
    /// Sort of `n` random keys; the keys and the sorted keys opened.
    Sort,
    /// Lower median of `n` random keys; the keys and the median opened.
    Median,
    /// Malicious shuffle of `n` rows `1..=n` (public sharings, nothing logged); the rows opened.
    Shuffle,
    /// Share intake of `n` honest contributions (the plan's [`IntakeBatch`]): each party
    /// opens its sealed bundles, checks its copies against the public commitments, and the
    /// commitment check runs in MPC; the verdicts (1 = accepted) are the output.
    Intake,
}

impl Program {
    /// Check the opened output of an honest party against the plaintext (the inputs are
    /// part of the output).
    pub fn check(self, n: usize, out: &[u64]) -> std::result::Result<(), String> {
        let want = |ok: bool, what: &str| if ok { Ok(()) } else { Err(format!("{self:?}: {what}")) };
        match self {
            Program::Mult => {
                want(out.len() == 3 * n, "output length")?;
                let (x, rest) = out.split_at(n);
                let (y, z) = rest.split_at(n);
                let bad = (0..n).find(|&j| z[j] != x[j].wrapping_mul(y[j]));
                want(bad.is_none(), &format!("wrong product at {bad:?}"))
            }
            Program::Ltz => {
                want(out.len() == n + n.div_ceil(64), "output length")?;
                let (x, bits) = out.split_at(n);
                let bad = (0..n).find(|&j| ((bits[j / 64] >> (j % 64)) & 1 == 1) != ((x[j] as i64) < 0));
                want(bad.is_none(), &format!("wrong sign bit at {bad:?}"))
            }
            Program::Sort => {
                want(out.len() == 2 * n, "output length")?;
                let (x, sorted) = out.split_at(n);
                let mut v: Vec<i64> = x.iter().map(|&a| a as i64).collect();
                v.sort_unstable();
                want(v.iter().zip(sorted).all(|(a, b)| *a as u64 == *b), "not the sorted keys")
            }
            Program::Median => {
                want(out.len() == n + 1, "output length")?;
                let mut v: Vec<i64> = out[..n].iter().map(|&a| a as i64).collect();
                v.sort_unstable();
                want(v[(n - 1) / 2] as u64 == out[n], "not the lower median")
            }
            Program::Intake => {
                want(out.len() == n && out.iter().all(|&v| v == 1), "an honest contribution was not accepted")
            }
            Program::Shuffle => {
                let mut v = out.to_vec();
                v.sort_unstable();
                want(v == (1..=n as u64).collect::<Vec<_>>(), "not a permutation of the rows")
            }
        }
    }
}

/// The deviating party and what it does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cheat {
    /// Party 0, 1 or 2.
    pub party: u8,
    /// The deviation.
    pub how: How,
}

/// A deviation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum How {
    /// `triad_mpc_core::deviation::ChiAttack`.
    Chi,
    /// `triad_mpc_core::deviation::ShuffleKeyAttack` (party 1).
    ShuffleKey,
    /// Flip one bit of the `nth` (0-based) message of `step` (as `Step`'s `Display`).
    Tamper { step: String, nth: usize },
    /// Never send the `nth` message of `step`.
    Withhold { step: String, nth: usize },
    /// Send the `nth` message of `step` only when about to wait for its recipient (after
    /// everything else that can go first).
    Delay { step: String, nth: usize },
    /// Send the `nth` message of `step` after the message that follows it.
    Reorder { step: String, nth: usize },
    /// Follow the protocol, recording the steps of the messages sent.
    Record,
}

/// What the parties run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// The program.
    pub program: Program,
    /// Its size.
    pub n: usize,
    /// The deviating party, if any.
    pub cheat: Option<Cheat>,
    /// The contributions of [`Program::Intake`].
    pub intake: Option<IntakeBatch>,
}

impl Plan {
    /// A plan; for [`Program::Intake`] with a fresh batch of `n` honest contributions.
    pub fn new(program: Program, n: usize, cheat: Option<Cheat>) -> Result<Plan> {
        let intake = if program == Program::Intake { Some(IntakeBatch::honest(n)?) } else { None };
        Ok(Plan { program, n, cheat, intake })
    }
}

const DATASET: &str = "adversary";

/// Sealed contributions and, for this test only, the three parties' bundle keys (a test
/// plan is read by all three children).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IntakeBatch {
    /// The parties' HPKE secret keys.
    pub party_keys: [String; 3],
    /// Per contribution: the three sealed bundles.
    pub bundles: Vec<[Vec<u8>; 3]>,
    /// Per contribution: the public share commitments (protobuf).
    pub commitments: Vec<Vec<u8>>,
}

impl IntakeBatch {
    /// `n` honest contributions (decimals with two places, BLAKE3 commitments).
    pub fn honest(n: usize) -> Result<IntakeBatch> {
        use prost::Message as _;
        use triad_provider::{DecimalFormat, PlainValue, generate_keypair, os_rng, seal_contribution};
        let format = DecimalFormat::new(12, 4, 16).context("format")?;
        let mut rng = os_rng();
        let keys: Vec<_> = (0..3).map(|_| generate_keypair(&mut rng)).collect();
        let pks = [keys[0].1.clone(), keys[1].1.clone(), keys[2].1.clone()];
        let mut batch = IntakeBatch {
            party_keys: [0, 1, 2].map(|i| keys[i].0.to_hex()),
            bundles: Vec::new(),
            commitments: Vec::new(),
        };
        for i in 0..n {
            let cents = 100 + 37 * i as u64;
            let value_bytes = format!("{}.{:02}", cents / 100, cents % 100).into_bytes();
            let blinder = [i as u8 ^ 0x5c; 16];
            let mut h = blake3::Hasher::new();
            h.update(&value_bytes);
            h.update(&blinder);
            let plain = PlainValue {
                value: cents * 100,
                value_bytes: value_bytes.clone(),
                blinder,
                commitment: triad_proto::events::v1::PlaintextCommitment {
                    algorithm: "blake3".into(),
                    hash: h.finalize().as_bytes().to_vec(),
                    start: 0,
                    end: value_bytes.len() as u64,
                },
                format,
            };
            let sealed = seal_contribution(&[plain], DATASET, [i as u8; 16], &pks, &mut rng, |_| {})
                .context("sealing a contribution")?;
            let [a, b, c] = &sealed.bundles;
            batch.bundles.push([a.as_bytes().to_vec(), b.as_bytes().to_vec(), c.as_bytes().to_vec()]);
            batch.commitments.push(sealed.commitments.to_proto().encode_to_vec());
        }
        Ok(batch)
    }
}

/// How a party's run ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ending {
    /// The opened outputs (inputs first; see [`Program`]).
    Output(Vec<u64>),
    /// The engine aborted.
    Abort {
        /// The step, as `Step`'s `Display`.
        step: String,
        /// The party blamed, if the protocol could tell.
        blamed: Option<u8>,
        /// The reason.
        reason: String,
    },
    /// Any other failure (a peer hung up, a timeout).
    Failed(String),
}

/// One party's report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// The party.
    pub party: u8,
    /// How its run ended.
    pub ending: Ending,
    /// What the cheater's adaptive attack did, if it ran one.
    pub attack: Option<Attack>,
    /// The steps of the messages it sent, in order (with [`How::Record`]).
    pub sent: Vec<String>,
}

/// What an adaptive attack did (from its `AttackLog`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attack {
    /// It learned the draw or key it waited for before its last binding message.
    pub learned: bool,
    /// It sent its altered message.
    pub cheated: bool,
}

/// Run `plan` with three `triad-adversary` processes (`exe`).
pub fn run(exe: &Path, plan: &Plan) -> Result<[Report; 3]> {
    let command = triad_procs::ChildCommand { program: exe.to_path_buf(), args: vec!["party".into()] };
    let [a, b, c] = triad_procs::parent::<_, Report>("adversary", &command, plan, 600)?;
    let one = |v: Vec<Report>| v.into_iter().next().context("a party reported nothing");
    Ok([one(a)?, one(b)?, one(c)?])
}

/// The child's options: short receive timeouts, as a withheld message must end the run.
pub fn child_options() -> triad_procs::ChildOptions {
    triad_procs::ChildOptions { recv_timeout: std::time::Duration::from_secs(10), ..Default::default() }
}

/// The child: run the plan as one party (the parent writes the plan).
pub fn child_work(p: &mut NetParty, plan: Plan) -> Result<Vec<Report>> {
    let me = p.me().index() as u8;
    let mut attack: Option<Arc<Mutex<AttackLog>>> = None;
    let sent = Arc::new(Mutex::new(Vec::new()));
    if let Some(cheat) = plan.cheat.as_ref().filter(|c| c.party == me) {
        let d: Box<dyn Deviation> = match &cheat.how {
            How::Chi => {
                let (d, log) = ChiAttack::new();
                attack = Some(log);
                Box::new(d)
            }
            How::ShuffleKey => {
                let (d, log) = ShuffleKeyAttack::new();
                attack = Some(log);
                Box::new(d)
            }
            How::Record => Box::new(Generic::new(Action::None, String::new(), 0, sent.clone())),
            How::Tamper { step, nth } => Box::new(Generic::new(Action::Tamper, step.clone(), *nth, sent.clone())),
            How::Withhold { step, nth } => Box::new(Generic::new(Action::Withhold, step.clone(), *nth, sent.clone())),
            How::Delay { step, nth } => Box::new(Generic::new(Action::Delay, step.clone(), *nth, sent.clone())),
            How::Reorder { step, nth } => Box::new(Generic::new(Action::Reorder, step.clone(), *nth, sent.clone())),
        };
        p.set_deviation(d);
    }
    let result = run_program(p, &plan, attack.as_ref());
    let ending = match result {
        Ok(out) => Ending::Output(out),
        Err(triad_mpc::Error::Engine(CoreError::Abort { step, blamed, reason })) => Ending::Abort {
            step: step.to_string(),
            blamed: blamed.map(|b| b.index() as u8),
            reason: reason.to_string(),
        },
        Err(e) => Ending::Failed(e.to_string()),
    };
    let attack = attack.map(|a| {
        let log = a.lock().unwrap_or_else(|e| e.into_inner());
        Attack { learned: log.learned, cheated: log.cheated }
    });
    let sent = sent.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(vec![Report { party: me, ending, attack, sent }])
}

fn run_program(p: &mut NetParty, plan: &Plan, attack: Option<&Arc<Mutex<AttackLog>>>) -> triad_mpc::Result<Vec<u64>> {
    let n = plan.n;
    let mut out = Vec::new();
    match plan.program {
        Program::Mult => {
            let (x, y) = (p.random(n), p.random(n));
            let z = p.mul(&x, &y)?;
            let z = corrected(z, attack);
            p.verify()?;
            for v in [&x, &y, &z] {
                out.extend(p.open(v)?);
            }
        }
        Program::Ltz => {
            let x = p.random(n);
            let bits = p.circuit(|e| circuits::ltz(e, &x))?;
            out.extend(p.open(&x)?);
            out.extend(p.open_bits(&bits)?);
        }
        Program::Sort => {
            let x = p.random(n);
            let sorted = p.circuit(|e| sort::sort(e, &x, &[]))?;
            out.extend(p.open(&x)?);
            out.extend(p.open_bits(&sorted.keys)?);
        }
        Program::Median => {
            let x = p.random(n);
            let m = p.circuit(|e| sort::median(e, &x))?;
            out.extend(p.open(&x)?);
            out.extend(p.open(&m)?);
        }
        Program::Intake => {
            let batch = plan.intake.as_ref().ok_or(triad_mpc::Error::Engine(CoreError::InvalidArgument("no batch")))?;
            out.extend(intake(p, batch).map_err(|e| match e {
                triad_party::IntakeError::Mpc(e) => e,
                _ => triad_mpc::Error::Engine(CoreError::InvalidArgument("the intake refused the batch")),
            })?);
        }
        Program::Shuffle => {
            let me = p.me();
            let rows: Vec<u64> = (1..=n as u64).collect();
            let col = BoolShare::public(me, &rows, 64 * n).map_err(triad_mpc::Error::Engine)?;
            let shuffled = p.circuit(|e| triad_mpc::core::shuffle::shuffle(e, &[col]))?;
            let first = shuffled.first().ok_or(triad_mpc::Error::Engine(CoreError::InvalidArgument("no column")))?;
            out.extend(p.open_bits(first)?);
        }
    }
    Ok(out)
}

/// One party's intake of the batch: open, accuse (honest contributions: nobody does), judge,
/// then the commitment check in MPC. Verdict 1 = accepted.
fn intake(p: &mut NetParty, batch: &IntakeBatch) -> std::result::Result<Vec<u64>, triad_party::IntakeError> {
    use prost::Message as _;
    let bad = |m: String| triad_party::IntakeError::Batch(m);
    let me = p.me();
    let sk = triad_provider::SecretKey::from_hex(&batch.party_keys[me.index()]).map_err(|e| bad(e.to_string()))?;
    let mut opened = Vec::new();
    let mut public = Vec::new();
    for (i, (b, c)) in batch.bundles.iter().zip(&batch.commitments).enumerate() {
        let ctx = triad_provider::BundleContext::new(DATASET, [i as u8; 16], me);
        opened.push(triad_provider::open_bundle(&b[me.index()], &sk, &ctx).map_err(|e| bad(e.to_string()))?);
        let proto =
            triad_proto::provider::v1::ShareCommitments::decode(c.as_slice()).map_err(|e| bad(e.to_string()))?;
        public.push(triad_provider::ShareCommitments::from_proto(&proto).map_err(|e| bad(e.to_string()))?);
    }
    let mine = triad_party::accuse(&opened, &public)?;
    // The event log carries the three lists in the service; with honest providers all are empty.
    let lists = [0, 1, 2].map(|i| if i == me.index() { mine.clone() } else { Vec::new() });
    let rejected = triad_party::judge(&opened, &public, &lists)?;
    let outcomes = triad_party::check_commitments(p, &opened, &rejected)?;
    Ok(outcomes.iter().map(|o| u64::from(*o == triad_party::Outcome::Accepted)).collect())
}

/// The cheater keeps its own share of an attacked product consistent with the message it
/// sent (so that its opens do not give it away).
fn corrected(z: ArithShare, attack: Option<&Arc<Mutex<AttackLog>>>) -> ArithShare {
    let Some(log) = attack else { return z };
    let fixes = log.lock().unwrap_or_else(|e| e.into_inner()).corrections.clone();
    if fixes.is_empty() {
        return z;
    }
    let (s0, s1) = z.components();
    let mut s0 = s0.to_vec();
    for (j, d) in fixes {
        if let Some(w) = s0.get_mut(j) {
            *w = w.wrapping_add(d);
        }
    }
    ArithShare::from_components(s0, s1.to_vec()).unwrap_or(z)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    None,
    Tamper,
    Withhold,
    Delay,
    Reorder,
}

/// A deviation on the `nth` message of one step, written against the hook alone.
struct Generic {
    action: Action,
    step: String,
    nth: usize,
    seen: usize,
    held: Option<Message>,
    /// With `Delay`: later messages to the held message's recipient, queued behind it (a
    /// link delivers in order).
    queued: Vec<Message>,
    sent: Arc<Mutex<Vec<String>>>,
}

impl Generic {
    fn new(action: Action, step: String, nth: usize, sent: Arc<Mutex<Vec<String>>>) -> Generic {
        Generic { action, step, nth, seen: 0, held: None, queued: Vec::new(), sent }
    }

    fn record(&self, out: &[Message]) {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        sent.extend(out.iter().map(|m| m.step.to_string()));
    }
}

/// Flip the lowest bit of the first element of a payload.
fn flip(m: &mut Message) {
    match &mut m.payload {
        Payload::Words(w) => {
            if let Some(x) = w.first_mut() {
                *x ^= 1;
            }
        }
        Payload::Wide(w) => {
            if let Some(x) = w.first_mut() {
                *x ^= 1;
            }
        }
        Payload::Bytes(b) => {
            if let Some(x) = b.first_mut() {
                *x ^= 1;
            }
        }
    }
}

impl Deviation for Generic {
    fn on_send(&mut self, _s: &mut Session, mut m: Message) -> Vec<Message> {
        let mut out = Vec::new();
        let target = self.action != Action::None && m.step.to_string() == self.step && {
            self.seen += 1;
            self.seen == self.nth + 1
        };
        if target {
            match self.action {
                Action::Tamper => {
                    flip(&mut m);
                    out.push(m);
                }
                Action::Withhold | Action::Delay | Action::Reorder => self.held = Some(m),
                Action::None => out.push(m),
            }
        } else if self.action == Action::Delay && self.held.as_ref().is_some_and(|h| h.to == m.to) {
            self.queued.push(m);
        } else {
            out.push(m);
            if self.action == Action::Reorder {
                out.extend(self.held.take());
            }
        }
        self.record(&out);
        out
    }

    fn before_recv(&mut self, _s: &mut Session, from: PartyId) -> BeforeRecv {
        let due = self.action == Action::Delay && self.held.as_ref().is_some_and(|m| m.to == from);
        let mut out: Vec<Message> = if due { self.held.take().into_iter().collect() } else { Vec::new() };
        if due {
            out.append(&mut self.queued);
        }
        self.record(&out);
        BeforeRecv::Release(out)
    }
}
