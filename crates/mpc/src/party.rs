//! [`NetParty`]: one party's session driven over its mesh.

use bytes::Bytes;
use triad_mpc_core::engine::{self, Engine};
use triad_mpc_core::input::InputBundle;
use triad_mpc_core::stock::Stockpile;
use triad_mpc_core::{self as core, ArithShare, BoolShare, Message, Session, SessionId};
use triad_mpc_net::{BlockingMesh, NetConfig, NetError, TcpSetup};

use crate::ids::{net_party, net_session_id};
use crate::{Error, Result, keys};

/// How a party cuts and verifies its work; all three parties must use the same values (they
/// decide where verifications happen, which every party must do at the same point).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartyConfig {
    /// The engine's parameters (verification ring).
    pub engine: core::Config,
    /// Largest multiplication layer sent as one message, in elements (8 B each); larger
    /// layers go as several messages, one round each. Default 2^20 (8 MiB).
    pub max_gate_elements: usize,
    /// Verify once this many multiplications are logged. Default 2^20.
    pub verify_after_mults: usize,
    /// Verify once this many ANDs are logged; also caps an AND message at this many gates.
    /// Default 2^20: the AND proof is cheapest per gate around 10^6 gates per batch
    /// (`docs/protocols/mpc-core.md`, "Batch size").
    pub verify_after_ands: usize,
}

impl Default for PartyConfig {
    fn default() -> Self {
        PartyConfig {
            engine: core::Config::default(),
            max_gate_elements: 1 << 20,
            verify_after_mults: 1 << 20,
            verify_after_ands: 1 << 20,
        }
    }
}

/// What a party has sent since its mesh was built (key agreement included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PartyStats {
    /// Payload bytes handed to the mesh: the engine's encoded messages, headers included.
    pub bytes_sent: u64,
    /// Bytes written to sockets (TLS records, framing and handshakes included).
    pub wire_bytes_sent: u64,
    /// Messages sent.
    pub messages_sent: u64,
    /// Message exchanges: one per gate layer (or chunk), verification step, open, and the key
    /// agreement.
    pub rounds: u64,
}

impl PartyStats {
    /// Counters accumulated since `earlier`.
    pub fn since(self, earlier: PartyStats) -> PartyStats {
        PartyStats {
            bytes_sent: self.bytes_sent.saturating_sub(earlier.bytes_sent),
            wire_bytes_sent: self.wire_bytes_sent.saturating_sub(earlier.wire_bytes_sent),
            messages_sent: self.messages_sent.saturating_sub(earlier.messages_sent),
            rounds: self.rounds.saturating_sub(earlier.rounds),
        }
    }
}

/// One party of a session, over its mesh.
///
/// Methods returning [`Result`] verify as [`PartyConfig`] says; [`NetParty::open`] verifies
/// every pending gate first, so nothing depending on an unproven gate is revealed. Circuits
/// of [`triad_mpc_core::circuits`] run through [`NetParty::circuit`]. After an error the
/// session is unusable (the core's rule after an abort): drop the party.
pub struct NetParty {
    session: Session,
    mesh: BlockingMesh,
    config: PartyConfig,
    /// Preprocessed masks (edaBits, truncation masks); targets 0 until the driver sets them.
    stock: Stockpile,
    /// Test-only: a deviation from the protocol, and the messages it read ahead.
    #[cfg(feature = "deviation")]
    deviation: Option<Box<dyn core::deviation::Deviation>>,
    #[cfg(feature = "deviation")]
    read_ahead: [std::collections::VecDeque<Message>; 3],
}

impl std::fmt::Debug for NetParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetParty").field("me", &self.session.me()).field("mesh", &self.mesh).finish()
    }
}

impl NetParty {
    /// A party over an established mesh: agrees the pair keys with both peers (one round), then
    /// starts the session. The mesh should have been built with
    /// `NetConfig::new(net_session_id(sid))` so that its links are bound to this session.
    pub fn new(mesh: BlockingMesh, sid: SessionId, config: PartyConfig) -> Result<NetParty> {
        let keys = keys::agree(&mesh, sid)?;
        let me = crate::core_party(mesh.party());
        let session = Session::with_config(sid, me, &keys, config.engine);
        Ok(NetParty {
            session,
            mesh,
            config,
            stock: Stockpile::default(),
            #[cfg(feature = "deviation")]
            deviation: None,
            #[cfg(feature = "deviation")]
            read_ahead: Default::default(),
        })
    }

    /// Connect over TCP with pinned keys ([`BlockingMesh::connect`]: a private current-thread
    /// runtime, lowest latency) and start the session. The mesh's session id is set to
    /// [`net_session_id`]`(sid)`, overriding `setup.config.session`.
    pub fn connect(mut setup: TcpSetup, sid: SessionId, config: PartyConfig) -> Result<NetParty> {
        setup.config.session = net_session_id(sid);
        let mesh = BlockingMesh::connect(setup)?;
        NetParty::new(mesh, sid, config)
    }

    /// Three parties over the in-memory mesh (key agreement on three threads).
    pub fn in_memory(sid: SessionId, config: PartyConfig) -> Result<[NetParty; 3]> {
        Self::in_memory_with(&NetConfig::new(net_session_id(sid)), sid, config)
    }

    /// [`NetParty::in_memory`] with explicit mesh settings (timeouts, budgets).
    pub fn in_memory_with(net: &NetConfig, sid: SessionId, config: PartyConfig) -> Result<[NetParty; 3]> {
        let [m0, m1, m2] = BlockingMesh::in_memory(net)?;
        let [a, b, c] = std::thread::scope(|s| {
            let hs = [m0, m1, m2].map(|m| s.spawn(move || NetParty::new(m, sid, config)));
            hs.map(|h| {
                h.join().unwrap_or(Err(Error::Engine(core::Error::transport(
                    core::TransportKind::Thread,
                    "key agreement thread panicked",
                ))))
            })
        });
        Ok([a?, b?, c?])
    }

    /// This party.
    pub fn me(&self) -> core::PartyId {
        self.session.me()
    }

    /// The engine session (for local operations: shares, random sharings).
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// The settings.
    pub fn config(&self) -> PartyConfig {
        self.config
    }

    /// A fresh random sharing (free).
    pub fn random(&mut self, n: usize) -> ArithShare {
        self.session.random(n)
    }

    /// A fresh random boolean sharing of `lanes` bits (free).
    pub fn random_bits(&mut self, lanes: usize) -> BoolShare {
        self.session.random_bits(lanes)
    }

    /// Counters from the mesh.
    pub fn stats(&self) -> PartyStats {
        let s = self.mesh.stats();
        PartyStats {
            bytes_sent: s.bytes_sent(),
            wire_bytes_sent: s.wire_bytes_sent(),
            messages_sent: s.messages_sent(),
            rounds: s.rounds,
        }
    }

    /// `x * y` elementwise (one round per [`PartyConfig::max_gate_elements`]).
    pub fn mul(&mut self, x: &ArithShare, y: &ArithShare) -> Result<ArithShare> {
        Ok(self.mul_chunked(x, y)?)
    }

    /// `sum_j x_j y_j` (one element sent, one round).
    pub fn dot(&mut self, x: &ArithShare, y: &ArithShare) -> Result<ArithShare> {
        Ok(engine::dot_gate(self, x, y).and_then(|z| self.maybe_verify().map(|()| z))?)
    }

    /// `x & y` elementwise.
    pub fn and(&mut self, x: &BoolShare, y: &BoolShare) -> Result<BoolShare> {
        Ok(self.and_chunked(x, y)?)
    }

    /// Verify every logged gate now.
    pub fn verify(&mut self) -> Result<()> {
        Ok(Engine::verify(self)?)
    }

    /// Verify every logged gate, then open `x` to all parties (compare-view).
    pub fn open(&mut self, x: &ArithShare) -> Result<Vec<u64>> {
        Ok(Engine::open(self, x)?)
    }

    /// Verify every logged gate, then open bit-sliced `x`.
    pub fn open_bits(&mut self, x: &BoolShare) -> Result<Vec<u64>> {
        Ok(Engine::open_bits(self, x)?)
    }

    /// Check a client's input bundle with the neighbours: the accepted sharing and the
    /// indices this party saw rejected.
    pub fn input(&mut self, bundle: InputBundle) -> Result<(ArithShare, Vec<usize>)> {
        Ok(core::input::check_bundle(self, bundle)?)
    }

    /// Run a circuit of [`triad_mpc_core::circuits`] (or any code written against
    /// [`Engine`]) and report a mesh failure as the engine's transport error, with the mesh's [`NetError`] as its source.
    pub fn circuit<T>(&mut self, f: impl FnOnce(&mut NetParty) -> core::Result<T>) -> Result<T> {
        Ok(f(self)?)
    }

    /// The stockpile of preprocessed masks (levels, counters).
    pub fn stock(&self) -> &Stockpile {
        &self.stock
    }

    /// The stockpile, to set its targets ([`Stockpile::set_target`]); all three parties must
    /// set the same.
    pub fn stock_mut(&mut self) -> &mut Stockpile {
        &mut self.stock
    }

    /// Produce every stock up to its target (edaBits, truncation masks; proven when made).
    /// Call it at the same point of the program at all three parties, e.g. between queries:
    /// the amount produced depends only on the levels, which are the same everywhere.
    /// Returns the number of elements made.
    pub fn refill_stock(&mut self) -> Result<usize> {
        self.with_stock(|stock, p| stock.refill(p))
    }

    /// Run `f` with the stockpile and the party as [`Engine`], e.g.
    /// `p.with_stock(|s, e| s.ltz(e, &x))`: takes come from stock, the shortfall is made on
    /// demand.
    pub fn with_stock<T>(&mut self, f: impl FnOnce(&mut Stockpile, &mut NetParty) -> core::Result<T>) -> Result<T> {
        let mut stock = std::mem::take(&mut self.stock);
        let r = f(&mut stock, self);
        self.stock = stock;
        Ok(r?)
    }

    /// Close the mesh, flushing what is queued.
    pub fn close(self) -> Result<()> {
        Ok(self.mesh.close()?)
    }

    // --- driving -------------------------------------------------------------------------

    /// A mesh failure as the engine's transport error, the mesh's error kept as its source.
    fn link_failed(e: NetError) -> core::Error {
        let kind = match e {
            NetError::RecvTimeout { .. } | NetError::SendTimeout { .. } => core::TransportKind::Timeout,
            _ => core::TransportKind::Link,
        };
        core::Error::Transport(core::TransportError::with_source(kind, "mesh link failed", e))
    }

    /// Test-only: from now on this party deviates as `d` says (feature `deviation`, which a
    /// release build refuses).
    #[cfg(feature = "deviation")]
    pub fn set_deviation(&mut self, d: Box<dyn core::deviation::Deviation>) {
        self.deviation = Some(d);
    }

    fn send(&mut self, m: Message) -> core::Result<()> {
        #[cfg(feature = "deviation")]
        if let Some(mut d) = self.deviation.take() {
            let out = d.on_send(&mut self.session, m);
            self.deviation = Some(d);
            return out.into_iter().try_for_each(|m| self.send_raw(m));
        }
        self.send_raw(m)
    }

    fn recv(&mut self, from: core::PartyId) -> core::Result<Message> {
        #[cfg(feature = "deviation")]
        if let Some(mut d) = self.deviation.take() {
            let r = self.recv_deviating(&mut *d, from);
            self.deviation = Some(d);
            return r;
        }
        self.recv_raw(from)
    }

    /// A receive with the deviation's hooks: it may first release withheld messages, or read
    /// ahead from another party; every message passes its `on_recv` once.
    #[cfg(feature = "deviation")]
    fn recv_deviating(&mut self, d: &mut dyn core::deviation::Deviation, from: core::PartyId) -> core::Result<Message> {
        use core::deviation::BeforeRecv;
        loop {
            match d.before_recv(&mut self.session, from) {
                BeforeRecv::Release(out) => {
                    out.into_iter().try_for_each(|m| self.send_raw(m))?;
                    break;
                }
                BeforeRecv::ReadFirst(p) => {
                    let mut m = self.recv_raw(p)?;
                    let out = d.on_recv(&mut self.session, &mut m);
                    out.into_iter().try_for_each(|m| self.send_raw(m))?;
                    self.read_ahead[p.index()].push_back(m);
                }
            }
        }
        if let Some(m) = self.read_ahead[from.index()].pop_front() {
            return Ok(m);
        }
        let mut m = self.recv_raw(from)?;
        let out = d.on_recv(&mut self.session, &mut m);
        out.into_iter().try_for_each(|m| self.send_raw(m))?;
        Ok(m)
    }

    fn send_raw(&mut self, m: Message) -> core::Result<()> {
        let to = net_party(m.to);
        let bytes = Bytes::from(m.encode());
        self.mesh.send(to, bytes).map_err(Self::link_failed)
    }

    fn recv_raw(&mut self, from: core::PartyId) -> core::Result<Message> {
        let bytes = self.mesh.recv(net_party(from)).map_err(Self::link_failed)?;
        // The mesh authenticated the link, so `from` is the real sender; `decode` blames it
        // for a header that says otherwise.
        Message::decode(&bytes, from)
    }

    /// Verify if the log reached a threshold. Deterministic in the program, so all three
    /// parties verify at the same point.
    fn maybe_verify(&mut self) -> core::Result<()> {
        let (mults, and_words) = self.session.pending();
        if mults >= self.config.verify_after_mults || and_words.saturating_mul(64) >= self.config.verify_after_ands {
            Engine::verify(self)?;
        }
        Ok(())
    }

    fn mul_chunked(&mut self, x: &ArithShare, y: &ArithShare) -> core::Result<ArithShare> {
        let n = x.len();
        let chunk = self.config.max_gate_elements.min(self.config.verify_after_mults).max(1);
        if n <= chunk || y.len() != n {
            let z = engine::mul_gate(self, x, y)?;
            self.maybe_verify()?;
            return Ok(z);
        }
        let ((x0, x1), (y0, y1)) = (x.components(), y.components());
        let (mut z0, mut z1) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for start in (0..n).step_by(chunk) {
            let end = (start + chunk).min(n);
            let xs = ArithShare::from_components(x0[start..end].to_vec(), x1[start..end].to_vec())?;
            let ys = ArithShare::from_components(y0[start..end].to_vec(), y1[start..end].to_vec())?;
            let z = engine::mul_gate(self, &xs, &ys)?;
            let (a, b) = z.components();
            z0.extend_from_slice(a);
            z1.extend_from_slice(b);
            self.maybe_verify()?;
        }
        ArithShare::from_components(z0, z1)
    }

    fn and_chunked(&mut self, x: &BoolShare, y: &BoolShare) -> core::Result<BoolShare> {
        let words = x.words();
        let chunk = (self.config.verify_after_ands / 64).min(self.config.max_gate_elements).max(1);
        if words <= chunk || y.words() != words || y.lanes() != x.lanes() {
            let z = engine::and_gate(self, x, y)?;
            self.maybe_verify()?;
            return Ok(z);
        }
        let ((x0, x1), (y0, y1)) = (x.components(), y.components());
        let (mut z0, mut z1) = (Vec::with_capacity(words), Vec::with_capacity(words));
        for start in (0..words).step_by(chunk) {
            let end = (start + chunk).min(words);
            let lanes = (64 * end).min(x.lanes()) - 64 * start;
            let xs = BoolShare::from_components(x0[start..end].to_vec(), x1[start..end].to_vec(), lanes)?;
            let ys = BoolShare::from_components(y0[start..end].to_vec(), y1[start..end].to_vec(), lanes)?;
            let z = engine::and_gate(self, &xs, &ys)?;
            let (a, b) = z.components();
            z0.extend_from_slice(a);
            z1.extend_from_slice(b);
            self.maybe_verify()?;
        }
        BoolShare::from_components(z0, z1, x.lanes())
    }
}

/// The circuits' view of a party: the same gates, chunked and verified as configured; proofs
/// and opens are the trait's provided methods over [`Engine::exchange`], which counts one
/// round per exchange.
impl Engine for NetParty {
    fn session(&mut self) -> &mut Session {
        &mut self.session
    }
    fn exchange(&mut self, messages: Vec<Message>, await_from: &[core::PartyId]) -> core::Result<Vec<Message>> {
        for m in messages {
            self.send(m)?;
        }
        let got = await_from.iter().map(|f| self.recv(*f)).collect::<core::Result<Vec<_>>>()?;
        self.mesh.mark_round();
        Ok(got)
    }
    fn mul(&mut self, x: &ArithShare, y: &ArithShare) -> core::Result<ArithShare> {
        self.mul_chunked(x, y)
    }
    fn and(&mut self, x: &BoolShare, y: &BoolShare) -> core::Result<BoolShare> {
        self.and_chunked(x, y)
    }
}
