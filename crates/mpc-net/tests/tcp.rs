//! What only the TCP transport does: pinned-key authentication, identity binding, session
//! checks, connect deadlines.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{config, connect, identities, pins};
use triad_mpc_net::{Mesh, MeshListener, NetConfig, NetError, PartyId, PartyIdentity, PeerAddr, SessionId, TcpSetup};

const P0: PartyId = PartyId::ALL[0];
const P1: PartyId = PartyId::ALL[1];
const P2: PartyId = PartyId::ALL[2];

fn short(config: NetConfig) -> NetConfig {
    NetConfig { connect_timeout: Duration::from_secs(10), ..config }
}

fn configs() -> [NetConfig; 3] {
    [short(config()), short(config()), short(config())]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_with_a_key_nobody_pinned_is_rejected_on_both_sides() {
    let ids = identities();
    let pinned = pins(&ids);
    // P1 runs with a fresh key; the others still pin the real one.
    let [id0, _, id2] = ids;
    let impostor = PartyIdentity::generate(P1).expect("key");
    let [r0, r1, r2] = connect([id0, impostor, id2], pinned, configs()).await;

    // P0 dialed P1 and saw the wrong key.
    let e0 = r0.expect_err("P0 must refuse P1");
    assert!(matches!(e0, NetError::KeyMismatch { peer } if peer == P1), "P0: {e0}");
    // P2 was dialed by "P1" and saw the wrong key.
    let e2 = r2.expect_err("P2 must refuse P1");
    assert!(matches!(e2, NetError::KeyMismatch { peer } if peer == P1), "P2: {e2}");
    // P1 is told by its peers that they refuse it (the lowest peer id is reported).
    let e1 = r1.expect_err("P1 must be refused");
    assert!(matches!(&e1, NetError::RejectedByPeer { peer, .. } if *peer == P0), "P1: {e1}");
    assert!(e0.to_string().contains("not the key pinned for P1"), "{e0}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_cannot_claim_another_id_with_its_own_key() {
    let ids = identities();
    let pinned = pins(&ids);
    // Whoever runs as "P1" holds P2's genuine key: a valid key, but not P1's.
    let [id0, _, id2] = ids;
    let claims_p1 =
        PartyIdentity::from_der(P1, id2.cert_der().to_vec(), id2.private_key_der().to_vec()).expect("identity");
    let [r0, r1, r2] = connect([id0, claims_p1, id2], pinned, configs()).await;
    let e0 = r0.expect_err("P0 must refuse");
    assert!(matches!(e0, NetError::KeyMismatch { peer } if peer == P1), "P0: {e0}");
    let e2 = r2.expect_err("P2 must refuse");
    assert!(matches!(e2, NetError::KeyMismatch { peer } if peer == P1), "P2: {e2}");
    assert!(matches!(r1, Err(NetError::RejectedByPeer { .. })), "P1: {r1:?}");
}

/// A peer in another session is never connected: a dialler tries again until its deadline
/// (the peer may still be finishing the previous session on its shared listener) and an
/// acceptor drops the connection and waits for this session's; all fail at the deadline and
/// a dialler of the odd party names the mismatch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parties_in_different_sessions_never_connect() {
    let ids = identities();
    let pinned = pins(&ids);
    let other = NetConfig { session: SessionId::from_label("another network"), ..short(config()) };
    let results = connect(ids, pinned, [short(config()), short(config()), other]).await;
    let errors: Vec<NetError> = results.into_iter().map(|r| r.expect_err("no mesh across sessions")).collect();
    for e in &errors {
        assert!(matches!(e, NetError::ConnectTimeout { .. }), "{e}");
    }
    assert!(errors.iter().any(|e| e.to_string().contains("is in session")), "{errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_a_party_that_never_listens_times_out_naming_it() {
    let ids = identities();
    let [id0, id1, _] = ids.clone();
    let listener = MeshListener::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    // A port that was bound and released: nobody listens there.
    let dead = {
        let l = MeshListener::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        l.local_addr().expect("addr")
    };
    let p1_addr = MeshListener::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let config = NetConfig { connect_timeout: Duration::from_millis(300), ..config() };
    let peers = vec![
        PeerAddr { party: P1, addr: p1_addr.local_addr().expect("addr"), key: id1.pinned_key() },
        PeerAddr { party: P2, addr: dead, key: ids[2].pinned_key() },
    ];
    drop(id1);
    // P1 never runs either: its port accepts TCP but nobody speaks TLS. P0 reports the first
    // failing peer by id.
    let err = Mesh::connect(TcpSetup { identity: id0, listener, peers, config }).await.expect_err("nobody is there");
    assert!(matches!(err, NetError::ConnectTimeout { peer, .. } if peer == P1), "{err}");
    drop(p1_addr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialer_retries_until_the_peer_starts_listening() {
    let ids = identities();
    let [id0, id1, _] = ids;
    let l0 = MeshListener::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    // Reserve an address for P1, release it, and start P0 dialing before P1 binds it again.
    let p1_addr = {
        let l = MeshListener::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        l.local_addr().expect("addr")
    };
    let config = short(config());
    let peers0 = vec![PeerAddr { party: P1, addr: p1_addr, key: id1.pinned_key() }];
    let peers1 = vec![PeerAddr { party: P0, addr: l0.local_addr().expect("addr"), key: id0.pinned_key() }];
    let c0 = config.clone();
    let p0 = tokio::spawn(Mesh::connect(TcpSetup { identity: id0, listener: l0, peers: peers0, config: c0 }));
    // P0 may already be failing to connect and backing off; P1 comes up.
    let l1 = MeshListener::bind(p1_addr).expect("rebind P1's port");
    let m1 = Mesh::connect(TcpSetup { identity: id1, listener: l1, peers: peers1, config }).await.expect("P1 connects");
    let m0 = p0.await.expect("task").expect("P0 connects after retrying");
    // A two-party mesh (as 2-of-3 signing uses) works like the full one.
    m0.send(P1, Bytes::from_static(b"hello")).await.expect("send");
    assert_eq!(m1.recv(P0).await.expect("recv"), Bytes::from_static(b"hello"));
    assert!(matches!(m0.send(P2, Bytes::new()).await, Err(NetError::NotAPeer { party }) if party == P2));
    assert_eq!(m0.peers(), vec![P1]);
}
