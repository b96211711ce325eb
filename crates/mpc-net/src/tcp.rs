//! Building a mesh over TCP: deterministic dialing (lower id dials higher), pinned-key mutual
//! TLS 1.3, the hello, then one writer and one reader task per link.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use rustls::{ClientConfig, ServerConfig};
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter, ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::{LazyConfigAcceptor, TlsConnector, TlsStream};
use tracing::{debug, info, warn};

use crate::frame::{read_body, read_header};
use crate::handshake::exchange_hello;
use crate::mesh::{Budget, Carrier, Link, Packet, Tasks};
use crate::stats::{Counted, LinkCounters};
use crate::tls::{client_config, parse_sni, server_config, sni};
use crate::{Mesh, NetConfig, NetError, PartyId, PartyIdentity, PinnedKey, SessionId};

/// Decrypted bytes are read through this buffer, so that headers and small messages do not
/// each cost a poll of the TLS stream; payloads at least this large bypass it.
const PLAINTEXT_READ_BUF: usize = 64 << 10;
/// Small messages are coalesced here until the queue runs dry, then flushed together.
const WRITE_BUF: usize = 64 << 10;

/// No read buffer under rustls: measured with 8 MiB messages, a 64 KiB `BufReader` cost as much
/// CPU as it saved in syscalls and a 256 KiB one cut throughput by a third (cache misses).
type Io = Counted<TcpStream>;
pub(crate) type Stream = TlsStream<Io>;
pub(crate) type Established = (Stream, Arc<LinkCounters>);

/// A bound listening socket. Bind first (port 0 is fine), share [`MeshListener::local_addr`]
/// with the other parties, then pass it to [`Mesh::connect`]. It is a plain socket until then,
/// so it can be bound on any thread and used by any runtime.
#[derive(Debug)]
pub struct MeshListener {
    inner: std::net::TcpListener,
}

impl MeshListener {
    /// Bind `addr`.
    pub fn bind(addr: SocketAddr) -> Result<Self, NetError> {
        let err = |source| NetError::Listen { addr: addr.to_string(), source };
        let inner = std::net::TcpListener::bind(addr).map_err(err)?;
        inner.set_nonblocking(true).map_err(err)?;
        Ok(MeshListener { inner })
    }

    /// Use a listener bound elsewhere.
    pub fn from_std(listener: std::net::TcpListener) -> Result<Self, NetError> {
        listener.set_nonblocking(true).map_err(|source| NetError::Listen { addr: "(std listener)".into(), source })?;
        Ok(MeshListener { inner: listener })
    }

    /// The address actually bound (with the real port when bound to port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, NetError> {
        self.inner.local_addr().map_err(|source| NetError::Listen { addr: "(bound listener)".into(), source })
    }
}

/// Where a peer listens and the key pinned for it.
#[derive(Clone, Debug)]
pub struct PeerAddr {
    /// The peer's id.
    pub party: PartyId,
    /// Its listening address (only dialed if its id is higher than ours).
    pub addr: SocketAddr,
    /// Its pinned public key.
    pub key: PinnedKey,
}

/// Everything [`Mesh::connect`] needs.
#[derive(Debug)]
pub struct TcpSetup {
    /// Our id and long-term key.
    pub identity: PartyIdentity,
    /// Our bound listener (peers with lower ids dial it).
    pub listener: MeshListener,
    /// The peers to link to: usually the two others, any subset works (e.g. 2-of-3 signing).
    pub peers: Vec<PeerAddr>,
    /// Timeouts, limits and the session id.
    pub config: NetConfig,
}

impl Mesh {
    /// Establish the links of `setup.identity`'s party: dial every peer with a higher id (TCP
    /// connect retried with backoff until [`NetConfig::connect_timeout`]), accept every peer
    /// with a lower id, authenticate both ends against the pinned keys with TLS 1.3, then check
    /// the hello (party id, session, version).
    ///
    /// Waits for every link to succeed or fail (so all parties see a failure, not only the
    /// first), then returns the error of the lowest peer id that failed. Authentication
    /// failures are fatal at once: a connection that claims to be peer `p` but fails the
    /// pinned-key check yields [`NetError::KeyMismatch`] naming `p` here and
    /// [`NetError::RejectedByPeer`] at the dialer (an attacker on the network can deny service
    /// either way, and failing fast gives clear diagnostics).
    pub async fn connect(setup: TcpSetup) -> Result<Mesh, NetError> {
        let TcpSetup { identity, listener, peers, config } = setup;
        let me = identity.party();
        let mut seen = [false; 3];
        for p in &peers {
            if p.party == me {
                return Err(NetError::Config(format!("{me} is listed as its own peer")));
            }
            if std::mem::replace(&mut seen[p.party.index()], true) {
                return Err(NetError::Config(format!("{} is listed twice", p.party)));
            }
        }
        let deadline = Instant::now() + config.connect_timeout;
        let mut setups: JoinSet<Vec<(PartyId, Result<Established, NetError>)>> = JoinSet::new();
        let mut server_configs: [Option<Arc<ServerConfig>>; 3] = Default::default();
        for peer in &peers {
            if peer.party > me {
                let cc = client_config(&identity, &peer.key)?;
                let (peer, config) = (peer.clone(), config.clone());
                setups.spawn(async move {
                    let party = peer.party;
                    vec![(party, dial(me, peer, cc, &config, deadline).await)]
                });
            } else {
                server_configs[peer.party.index()] = Some(server_config(&identity, &peer.key)?);
            }
        }
        let session = config.session;
        let after = config.connect_timeout;
        setups.spawn(accept_all(listener, me, server_configs, session, deadline, after));

        let mut outcomes: [Option<Result<Established, NetError>>; 3] = Default::default();
        while let Some(done) = setups.join_next().await {
            let done = done.map_err(|e| NetError::Config(format!("link setup task failed: {e}")))?;
            for (party, res) in done {
                outcomes[party.index()] = Some(res);
            }
        }
        let mut established: [Option<Established>; 3] = Default::default();
        for party in PartyId::ALL {
            match outcomes[party.index()].take() {
                Some(Ok(est)) => established[party.index()] = Some(est),
                Some(Err(e)) => {
                    warn!(%me, peer = %party, error = %e, "link setup failed");
                    return Err(e);
                }
                None if seen[party.index()] => {
                    return Err(NetError::Config(format!("no setup outcome for {party}")));
                }
                None => {}
            }
        }

        let mut links: [Option<Link>; 3] = Default::default();
        let mut tasks = Tasks { handle: tokio::runtime::Handle::try_current().ok(), ..Tasks::default() };
        for party in PartyId::ALL {
            let Some((tls, counters)) = established[party.index()].take() else {
                continue;
            };
            let (r, w) = tokio::io::split(tls);
            let (out_tx, out_rx) = mpsc::unbounded_channel();
            let (in_tx, in_rx) = mpsc::unbounded_channel();
            let failure = Arc::new(OnceLock::new());
            let (written_tx, written_rx) = watch::channel(0u64);
            let writer = tokio::spawn(write_loop(party, w, out_rx, failure.clone(), written_tx));
            let recv_budget = Budget::new(config.recv_buffer_bytes);
            let reader = tokio::spawn(read_loop(party, r, in_tx, recv_budget, config.max_frame_len));
            tasks.writers.push((party, writer));
            tasks.readers.push(reader);
            links[party.index()] = Some(Link::new(
                party,
                (out_tx, Budget::new(config.send_buffer_bytes)),
                in_rx,
                counters,
                Carrier::Tcp { failure, written: written_rx },
            ));
        }
        info!(%me, "mesh connected");
        Ok(Mesh::from_links(me, links, &config, tasks))
    }
}

/// Dial `peer` until the deadline, then authenticate it and exchange hellos. A peer still in
/// another session (a shared listener serves one session after another, so a late or early
/// peer answers with the wrong session id) is dialled again until the deadline.
pub(crate) async fn dial(
    me: PartyId,
    peer: PeerAddr,
    cc: Arc<ClientConfig>,
    config: &NetConfig,
    deadline: Instant,
) -> Result<Established, NetError> {
    let mut backoff = Duration::from_millis(20);
    loop {
        match dial_once(me, peer.clone(), cc.clone(), config, deadline).await {
            // In another session, or gone before authenticating (busy elsewhere, restarting):
            // the peer may be ready for this session before the deadline.
            Err(e @ (NetError::SessionMismatch { .. } | NetError::Io { .. })) => {
                if Instant::now() + backoff >= deadline {
                    return Err(NetError::ConnectTimeout {
                        peer: peer.party,
                        after: config.connect_timeout,
                        last_error: e.to_string(),
                    });
                }
                debug!(%me, peer = %peer.party, error = %e, ?backoff, "peer not ready for this session, dialling again");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(500));
            }
            other => return other,
        }
    }
}

async fn dial_once(
    me: PartyId,
    peer: PeerAddr,
    cc: Arc<ClientConfig>,
    config: &NetConfig,
    deadline: Instant,
) -> Result<Established, NetError> {
    let party = peer.party;
    let timeout = |what: &str| NetError::ConnectTimeout {
        peer: party,
        after: config.connect_timeout,
        last_error: what.to_string(),
    };
    let mut backoff = Duration::from_millis(5);
    let tcp = loop {
        let last = match timeout_at(deadline, TcpStream::connect(peer.addr)).await {
            Ok(Ok(s)) => break s,
            Ok(Err(e)) => e.to_string(),
            Err(_) => "TCP connect did not finish".to_string(),
        };
        if Instant::now() + backoff >= deadline {
            return Err(timeout(&last));
        }
        debug!(%me, peer = %party, addr = %peer.addr, error = %last, ?backoff, "connect failed, retrying");
        // Retry backoff against a peer that is not listening yet (not test synchronisation).
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_millis(500));
    };
    tcp.set_nodelay(true).map_err(|e| NetError::from_io(party, e))?;
    let counters = Arc::new(LinkCounters::default());
    let io = Counted::new(tcp, counters.clone());
    let connector = TlsConnector::from(cc);
    let tls = match timeout_at(deadline, connector.connect(sni(me, party)?, io)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return Err(NetError::from_io(party, e)),
        Err(_) => return Err(timeout("TLS handshake did not finish")),
    };
    let mut tls = TlsStream::Client(tls);
    match timeout_at(deadline, exchange_hello(&mut tls, me, party, &config.session)).await {
        Ok(Ok(())) => Ok((tls, counters)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(timeout("no hello before the deadline")),
    }
}

/// Accept until every expected peer has succeeded or failed, or the deadline passes.
async fn accept_all(
    listener: MeshListener,
    me: PartyId,
    configs: [Option<Arc<ServerConfig>>; 3],
    session: SessionId,
    deadline: Instant,
    after: Duration,
) -> Vec<(PartyId, Result<Established, NetError>)> {
    let mut pending: Vec<PartyId> = PartyId::ALL.into_iter().filter(|p| configs[p.index()].is_some()).collect();
    if pending.is_empty() {
        return Vec::new();
    }
    // Registered with the runtime that runs this task (the one `connect` runs on).
    let listener = match TcpListener::from_std(listener.inner) {
        Ok(l) => l,
        Err(source) => {
            let reason = format!("cannot listen: {source}");
            warn!(%me, error = %reason, "accepting failed");
            return pending
                .into_iter()
                .map(|p| {
                    let last_error = reason.clone();
                    (p, Err(NetError::ConnectTimeout { peer: p, after, last_error }))
                })
                .collect();
        }
    };
    let mut outcomes = Vec::new();
    let mut last_errors: [Option<String>; 3] = Default::default();
    let configs = Arc::new(configs);
    let mut handshakes = JoinSet::new();
    while !pending.is_empty() {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, remote)) => {
                    let configs = configs.clone();
                    handshakes.spawn(async move {
                        timeout_at(deadline, accept_one(tcp, remote, me, &configs, session))
                            .await
                            .ok()
                            .flatten()
                    });
                }
                Err(e) => warn!(%me, error = %e, "accept failed"),
            },
            Some(done) = handshakes.join_next(), if !handshakes.is_empty() => {
                if let Ok(Some((party, res))) = done {
                    if let Err(e @ (NetError::SessionMismatch { .. } | NetError::Io { .. })) = &res {
                        // A connection left over from (or early for) another session of this
                        // listener, or one its dialer dropped before the hellos (it gave up on
                        // a session we are already past, or is restarting): it decides nothing
                        // about this session, so drop it and keep waiting for this session's.
                        // A dialer treats the same errors the same way.
                        debug!(%me, peer = %party, error = %e, "dropped a connection that is not this session's");
                        last_errors[party.index()] = Some(e.to_string());
                    } else if let Some(i) = pending.iter().position(|p| *p == party) {
                        pending.swap_remove(i);
                        outcomes.push((party, res));
                    } else {
                        warn!(%me, peer = %party, "duplicate connection dropped");
                    }
                }
            }
            () = tokio::time::sleep_until(deadline) => break,
        }
    }
    for party in pending {
        let last_error = match last_errors[party.index()].take() {
            Some(e) => format!("no connection for this session arrived (last: {e})"),
            None => "no authenticated connection arrived".into(),
        };
        outcomes.push((party, Err(NetError::ConnectTimeout { peer: party, after, last_error })));
    }
    outcomes
}

/// One incoming connection: read the ClientHello, pick the pinned key of the party its SNI
/// claims, complete TLS and the hello. `None` for connections that are not a peer's at all.
async fn accept_one(
    tcp: TcpStream,
    remote: SocketAddr,
    me: PartyId,
    configs: &[Option<Arc<ServerConfig>>; 3],
    session: SessionId,
) -> Option<(PartyId, Result<Established, NetError>)> {
    if let Err(e) = tcp.set_nodelay(true) {
        warn!(%me, %remote, error = %e, "set_nodelay failed");
    }
    let counters = Arc::new(LinkCounters::default());
    let io = Counted::new(tcp, counters.clone());
    let start = match LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io).await {
        Ok(start) => start,
        Err(e) => {
            warn!(%me, %remote, error = %e, "dropped a connection without a valid ClientHello");
            return None;
        }
    };
    let claimed = start.client_hello().server_name().and_then(parse_sni);
    let from = match claimed {
        Some((from, to)) if to == me && configs[from.index()].is_some() => from,
        _ => {
            warn!(%me, %remote, "dropped a connection that does not claim to be a peer dialing us");
            return None;
        }
    };
    let config = configs[from.index()].clone()?;
    let res = async {
        let tls = start.into_stream(config).await.map_err(|e| NetError::from_io(from, e))?;
        let mut tls = TlsStream::Server(tls);
        exchange_hello(&mut tls, me, from, &session).await?;
        Ok((tls, counters))
    }
    .await;
    Some((from, res))
}

/// Write queued messages; flush whenever the queue runs dry, so a burst of small messages
/// leaves in few TLS records and syscalls while a lone message is not delayed.
async fn write_loop(
    peer: PartyId,
    w: WriteHalf<Stream>,
    mut rx: mpsc::UnboundedReceiver<Packet>,
    failure: Arc<OnceLock<String>>,
    written: watch::Sender<u64>,
) -> Result<(), NetError> {
    let mut w = BufWriter::with_capacity(WRITE_BUF, w);
    let res = write_packets(&mut w, &mut rx, &written).await.map_err(|e| NetError::from_io(peer, e));
    if let Err(e) = &res {
        warn!(%peer, error = %e, "write failed; link down");
        let _ = failure.set(e.to_string());
    }
    res
}

async fn write_packets<W: AsyncWrite + Unpin>(
    w: &mut W,
    rx: &mut mpsc::UnboundedReceiver<Packet>,
    written: &watch::Sender<u64>,
) -> std::io::Result<()> {
    let mut count = 0u64;
    loop {
        let packet = match rx.try_recv() {
            Ok(p) => p,
            Err(mpsc::error::TryRecvError::Disconnected) => Packet::Close,
            Err(mpsc::error::TryRecvError::Empty) => {
                w.flush().await?;
                // Everything so far is with the kernel: release `Mesh::flush` waiters.
                written.send_replace(count);
                match rx.recv().await {
                    Some(p) => p,
                    // The mesh was dropped without close: finish cleanly (Drop bounds our time).
                    None => Packet::Close,
                }
            }
        };
        match packet {
            Packet::Msg(msg, permit) => {
                write_frame(w, &msg).await?;
                drop(permit);
                count += 1;
            }
            Packet::Close => {
                w.flush().await?;
                written.send_replace(count);
                // Sends TLS close_notify, then shuts the TCP write side.
                w.shutdown().await?;
                return Ok(());
            }
            Packet::Failed(_) => {}
        }
    }
}

async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, msg: &Bytes) -> std::io::Result<()> {
    // Lengths were checked against max_frame_len (<= u32::MAX) by Mesh::send.
    let len = u32::try_from(msg.len())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "frame too large"))?;
    w.write_all(&len.to_be_bytes()).await?;
    w.write_all(msg).await
}

/// Read frames into the inbound queue, taking each payload's share of the receive budget
/// before reading it: when the application falls behind, reading stops and TCP flow control
/// pushes back on the sender.
async fn read_loop(
    peer: PartyId,
    r: ReadHalf<Stream>,
    tx: mpsc::UnboundedSender<Packet>,
    budget: Budget,
    max_frame_len: u32,
) {
    let mut r = tokio::io::BufReader::with_capacity(PLAINTEXT_READ_BUF, r);
    loop {
        let len = match read_header(&mut r, peer, max_frame_len).await {
            Ok(Some(len)) => len,
            Ok(None) => {
                debug!(%peer, "peer closed the link");
                let _ = tx.send(Packet::Close);
                return;
            }
            Err(e) => {
                warn!(%peer, error = %e, "read failed; link down");
                let _ = tx.send(Packet::Failed(e));
                return;
            }
        };
        let permit = budget.acquire(len as usize).await;
        match read_body(&mut r, peer, len).await {
            Ok(body) => {
                if tx.send(Packet::Msg(body.freeze(), permit)).is_err() {
                    return; // The mesh is gone.
                }
            }
            Err(e) => {
                warn!(%peer, error = %e, "read failed; link down");
                let _ = tx.send(Packet::Failed(e));
                return;
            }
        }
    }
}
