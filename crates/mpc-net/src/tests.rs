//! Tests that need the crate's insides: a misbehaving peer that speaks raw frames after a
//! genuine handshake, and the hello checks.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use crate::handshake::{HELLO_LEN, check, encode};
use crate::tcp::{Established, dial};
use crate::tls::client_config;
use crate::{
    Mesh, MeshListener, NetConfig, NetError, PROTOCOL_VERSION, PartyId, PartyIdentity, PeerAddr, SessionId, TcpSetup,
};

const P0: PartyId = PartyId::ALL[0];
const P1: PartyId = PartyId::ALL[1];
const P2: PartyId = PartyId::ALL[2];

fn config() -> NetConfig {
    NetConfig {
        max_frame_len: 1 << 20,
        connect_timeout: Duration::from_secs(10),
        ..NetConfig::new(SessionId::from_label("unit"))
    }
}

/// P1 as a real mesh linked only to P0, and P0 as a raw authenticated stream we control.
async fn p1_and_raw_p0() -> (Mesh, Established) {
    let id0 = PartyIdentity::generate(P0).expect("key");
    let id1 = PartyIdentity::generate(P1).expect("key");
    let l1 = MeshListener::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let addr1 = l1.local_addr().expect("addr");
    let peers = vec![PeerAddr { party: P0, addr: addr1, key: id0.pinned_key() }];
    let p1 = tokio::spawn(Mesh::connect(TcpSetup { identity: id1.clone(), listener: l1, peers, config: config() }));
    let cc = client_config(&id0, &id1.pinned_key()).expect("client config");
    let peer = PeerAddr { party: P1, addr: addr1, key: id1.pinned_key() };
    let deadline = Instant::now() + Duration::from_secs(10);
    let raw = dial(P0, peer, cc, &config(), deadline).await.expect("raw P0 dials P1");
    let mesh = p1.await.expect("task").expect("P1 connects");
    (mesh, raw)
}

#[tokio::test]
async fn an_oversize_frame_header_is_rejected() {
    let (m1, (mut raw, _)) = p1_and_raw_p0().await;
    let max = config().max_frame_len;
    raw.write_all(&(max + 1).to_be_bytes()).await.expect("write");
    raw.flush().await.expect("flush");
    let err = m1.recv(P0).await.expect_err("oversize header");
    assert!(
        matches!(err, NetError::FrameTooLarge { peer, len, max: m }
            if peer == P0 && len == u64::from(max) + 1 && m == max),
        "{err}"
    );
    // The link is dead afterwards, and says so without waiting.
    assert!(matches!(m1.recv(P0).await, Err(NetError::Disconnected { .. })));
}

#[tokio::test]
async fn a_peer_closing_cleanly_mid_message_yields_truncated() {
    let (m1, (mut raw, _)) = p1_and_raw_p0().await;
    raw.write_all(&1000u32.to_be_bytes()).await.expect("write");
    raw.write_all(&[7u8; 10]).await.expect("write");
    raw.shutdown().await.expect("close_notify");
    let err = m1.recv(P0).await.expect_err("truncated");
    assert!(matches!(err, NetError::Truncated { peer, expected: 1004, got: 14 } if peer == P0), "{err}");
}

#[tokio::test]
async fn a_peer_vanishing_mid_message_yields_truncated() {
    let (m1, (mut raw, _)) = p1_and_raw_p0().await;
    raw.write_all(&1000u32.to_be_bytes()).await.expect("write");
    raw.write_all(&[7u8; 10]).await.expect("write");
    raw.flush().await.expect("flush");
    drop(raw); // No close_notify: the TCP connection just ends.
    let err = m1.recv(P0).await.expect_err("truncated");
    assert!(matches!(err, NetError::Truncated { peer, .. } if peer == P0), "{err}");
}

#[tokio::test]
async fn a_peer_vanishing_between_messages_is_a_disconnect() {
    let (m1, (mut raw, _)) = p1_and_raw_p0().await;
    raw.write_all(&3u32.to_be_bytes()).await.expect("write");
    raw.write_all(b"abc").await.expect("write");
    raw.flush().await.expect("flush");
    drop(raw);
    assert_eq!(m1.recv(P0).await.expect("the whole message"), &b"abc"[..]);
    let err = m1.recv(P0).await.expect_err("gone");
    assert!(matches!(err, NetError::Disconnected { peer, .. } if peer == P0), "{err}");
}

/// P1 connecting a mesh that waits for P0 alone; the real P0 dials it with [`P1Waiting::dial`].
struct P1Waiting {
    p1: tokio::task::JoinHandle<Result<Mesh, NetError>>,
    addr: std::net::SocketAddr,
    cc: std::sync::Arc<rustls::ClientConfig>,
    key: crate::PinnedKey,
}

impl P1Waiting {
    fn start() -> P1Waiting {
        let id0 = PartyIdentity::generate(P0).expect("key");
        let id1 = PartyIdentity::generate(P1).expect("key");
        let l1 = MeshListener::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let addr = l1.local_addr().expect("addr");
        let peers = vec![PeerAddr { party: P0, addr, key: id0.pinned_key() }];
        let key = id1.pinned_key();
        let p1 = tokio::spawn(Mesh::connect(TcpSetup { identity: id1, listener: l1, peers, config: config() }));
        let cc = client_config(&id0, &key).expect("client config");
        P1Waiting { p1, addr, cc, key }
    }

    /// The real P0 dials; P1 must link with it.
    async fn dial(self, despite: &str) {
        let peer = PeerAddr { party: P1, addr: self.addr, key: self.key };
        let deadline = Instant::now() + Duration::from_secs(10);
        let _raw = dial(P0, peer, self.cc, &config(), deadline).await.expect("P0 dials P1");
        self.p1.await.expect("task").unwrap_or_else(|e| panic!("P1 does not connect despite {despite}: {e}"));
    }
}

#[tokio::test]
async fn a_stray_connection_does_not_disturb_setup() {
    let waiting = P1Waiting::start();
    let mut stray = tokio::net::TcpStream::connect(waiting.addr).await.expect("connect");
    stray.write_all(b"GET / HTTP/1.1\r\n\r\n").await.expect("write");
    waiting.dial("the stray connection").await;
}

/// A dialer that claims P0, sends its ClientHello and vanishes mid-handshake (a peer that gave
/// up on a session we are already past, or is restarting) decides nothing: P1 keeps waiting and
/// links with the real P0 that dials next.
#[tokio::test]
async fn a_dialer_vanishing_mid_handshake_does_not_end_setup() {
    use tokio::io::AsyncReadExt;
    let waiting = P1Waiting::start();
    let sni = crate::tls::sni(P0, P1).expect("sni");
    let mut client = rustls::ClientConnection::new(waiting.cc.clone(), sni).expect("client");
    let mut client_hello = Vec::new();
    client.write_tls(&mut client_hello).expect("ClientHello");
    let mut half = tokio::net::TcpStream::connect(waiting.addr).await.expect("connect");
    half.write_all(&client_hello).await.expect("write");
    // P1 answered, so it took the connection as P0's and is mid-handshake when it ends.
    let mut server_hello = [0u8; 5];
    half.read_exact(&mut server_hello).await.expect("P1 answers the ClientHello");
    drop(half);
    waiting.dial("the abandoned handshake").await;
}

#[test]
fn hello_checks_name_what_is_wrong() {
    let s = SessionId::from_label("s");
    assert!(check(&encode(P1, P0, &s), P0, P1, &s).is_ok());

    let mut bad = encode(P1, P0, &s);
    bad[0] ^= 1;
    assert!(matches!(check(&bad, P0, P1, &s), Err(NetError::BadHello { peer, .. }) if peer == P1));

    let mut bad = encode(P1, P0, &s);
    bad[8..10].copy_from_slice(&(PROTOCOL_VERSION + 1).to_be_bytes());
    assert!(matches!(
        check(&bad, P0, P1, &s),
        Err(NetError::VersionMismatch { peer, ours, theirs })
            if peer == P1 && ours == PROTOCOL_VERSION && theirs == PROTOCOL_VERSION + 1
    ));

    // P1's key, but the hello claims P2.
    let bad = encode(P2, P0, &s);
    assert!(matches!(
        check(&bad, P0, P1, &s),
        Err(NetError::IdentityMismatch { expected, claimed: 2 }) if expected == P1
    ));

    let bad = encode(P1, P2, &s);
    assert!(matches!(check(&bad, P0, P1, &s), Err(NetError::BadHello { .. })));

    let other = SessionId::from_label("t");
    assert!(matches!(
        check(&encode(P1, P0, &other), P0, P1, &s),
        Err(NetError::SessionMismatch { peer, .. }) if peer == P1
    ));
    assert_eq!(HELLO_LEN, 44);
}

#[test]
fn sni_round_trips_and_rejects_garbage() {
    use crate::tls::{parse_sni, sni};
    let name = sni(P0, P2).expect("name");
    let rustls::pki_types::ServerName::DnsName(dns) = name else { panic!("not a DNS name") };
    assert_eq!(parse_sni(dns.as_ref()), Some((P0, P2)));
    assert_eq!(parse_sni("p3-to-p1.triad"), None);
    assert_eq!(parse_sni("example.com"), None);
    assert_eq!(parse_sni("p0-to-p1.triad.evil"), None);
}

#[test]
fn party_ids_outside_0_to_2_are_refused() {
    assert!(PartyId::new(3).is_none());
    assert!(matches!(PartyId::try_from(7usize), Err(NetError::InvalidPartyId(7))));
    assert_eq!(P0.next(), P1);
    assert_eq!(P0.prev(), P2);
    assert_eq!(P1.others(), [P0, P2]);
}

#[test]
fn an_identity_whose_key_does_not_match_its_certificate_is_refused() {
    let a = PartyIdentity::generate(P0).expect("key");
    let b = PartyIdentity::generate(P0).expect("key");
    let err = PartyIdentity::from_der(P0, a.cert_der().to_vec(), b.private_key_der().to_vec()).expect_err("mismatch");
    assert!(matches!(err, NetError::Config(_)), "{err}");
    assert!(!format!("{a:?}").contains("key:"), "Debug must not print the private key");
}
