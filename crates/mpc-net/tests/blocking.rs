//! `BlockingMesh` with its own current-thread runtime: three plain threads, one per party,
//! running rounds the way the MPC core does.

mod common;

use common::{config, identities, pins};
use triad_mpc_net::{BlockingMesh, MeshListener, NetConfig, PartyId, PeerAddr, TcpSetup};

fn short(config: NetConfig) -> NetConfig {
    NetConfig { connect_timeout: std::time::Duration::from_secs(10), ..config }
}

/// Each party on its own plain thread, as the MPC core runs: send a round's messages, then
/// receive the peers'. Sizes up to 8 MiB, so sockets fill and writes finish inside `recv`.
fn blocking_round_trips(meshes: [BlockingMesh; 3]) {
    const ROUNDS: u64 = 12;
    // Small rounds, 8 MiB every fourth, and a last round larger than the kernel's socket
    // buffers can hold.
    let len = |round: u64| match round {
        r if r == ROUNDS - 1 => 16 << 20,
        r if r % 4 == 3 => 8 << 20,
        r => 100 + r as usize * 1000,
    };
    // Nobody closes (which would flush) before everyone is done: what a party sent in the
    // last round must reach its peers while it no longer calls into its mesh.
    let all_done = std::sync::Arc::new(std::sync::Barrier::new(3));
    let threads = meshes.map(|mesh| {
        let all_done = all_done.clone();
        std::thread::spawn(move || {
            let me = mesh.party();
            for round in 0..ROUNDS {
                for to in me.others() {
                    mesh.send(to, common::payload(me, round, len(round))).expect("send");
                }
                mesh.mark_round();
                for from in me.others() {
                    let got = mesh.recv(from).expect("recv");
                    assert!(got == common::payload(from, round, len(round)), "{me} <- {from} #{round}");
                }
            }
            assert_eq!(mesh.stats().rounds, ROUNDS);
            all_done.wait();
            mesh.close().expect("close");
        })
    });
    for t in threads {
        t.join().expect("party thread");
    }
}

/// Three parties connected with [`BlockingMesh::connect`], each on its own thread.
fn blocking_tcp() -> [BlockingMesh; 3] {
    let ids = identities();
    let pinned = pins(&ids);
    let listeners = PartyId::ALL.map(|_| MeshListener::bind("127.0.0.1:0".parse().expect("addr")).expect("bind"));
    let addrs: Vec<_> = listeners.iter().map(|l| l.local_addr().expect("addr")).collect();
    let connecting: Vec<_> = ids
        .into_iter()
        .zip(listeners)
        .map(|(identity, listener)| {
            let peers = identity
                .party()
                .others()
                .into_iter()
                .map(|p| PeerAddr { party: p, addr: addrs[p.index()], key: pinned[p.index()].clone() })
                .collect();
            let config = short(config());
            std::thread::spawn(move || BlockingMesh::connect(TcpSetup { identity, listener, peers, config }))
        })
        .collect();
    let meshes: Vec<BlockingMesh> =
        connecting.into_iter().map(|t| t.join().expect("thread").expect("connect")).collect();
    meshes.try_into().expect("three")
}

#[test]
fn blocking_meshes_with_their_own_runtimes_run_rounds_over_tcp() {
    blocking_round_trips(blocking_tcp());
}

#[test]
fn a_message_arrives_even_if_its_sender_stops_calling_right_after_send() {
    // 40 MiB does not fit in the kernel's socket buffers: with a private runtime, nothing
    // would write the rest once P0 stops calling, unless `send` finishes the job.
    let [m0, m1, _m2] = blocking_tcp();
    let big = common::payload(PartyId::ALL[0], 1, 40 << 20);
    let (received_tx, received_rx) = std::sync::mpsc::channel();
    let expected = big.clone();
    let receiver = std::thread::spawn(move || {
        let got = m1.recv(PartyId::ALL[0]).expect("recv");
        assert!(got == expected, "message differs");
        received_tx.send(()).expect("signal");
        m1
    });
    m0.send(PartyId::ALL[1], big).expect("send");
    // P0 now waits without touching its mesh until P1 has the whole message.
    received_rx.recv().expect("P1 received the message");
    receiver.join().expect("receiver").close().expect("close");
    m0.close().expect("close");
}

#[test]
fn blocking_meshes_with_their_own_runtimes_run_rounds_in_memory() {
    blocking_round_trips(BlockingMesh::in_memory(&config()).expect("meshes"));
}

/// A party whose peers never come gives up connecting when told to, long before its
/// `connect_timeout`, with the reason it was given (the party service cancels when the
/// coordinator closes the session). Without the cancel this would wait out ten minutes.
#[test]
fn connecting_gives_up_when_cancelled() {
    let [id0, id1, id2] = identities();
    let listener = MeshListener::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    // Ports that were bound and released: nobody listens there, so P0 dials on and on.
    let dead = || MeshListener::bind("127.0.0.1:0".parse().expect("addr")).expect("bind").local_addr().expect("addr");
    let peers = vec![
        PeerAddr { party: PartyId::ALL[1], addr: dead(), key: id1.pinned_key() },
        PeerAddr { party: PartyId::ALL[2], addr: dead(), key: id2.pinned_key() },
    ];
    let config = NetConfig { connect_timeout: std::time::Duration::from_secs(600), ..config() };
    let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let reason = async move {
            let _ = cancelled.await;
            "the coordinator closed the session".to_owned()
        };
        let _ = done.send(BlockingMesh::connect_unless(TcpSetup { identity: id0, listener, peers, config }, reason));
    });
    cancel.send(()).expect("the connecting thread is waiting");
    let result = outcome.recv_timeout(std::time::Duration::from_secs(60)).expect("connecting stopped when cancelled");
    match result {
        Err(triad_mpc_net::NetError::Cancelled(reason)) => assert_eq!(reason, "the coordinator closed the session"),
        Err(other) => panic!("not a cancellation: {other}"),
        Ok(_) => panic!("connected to peers that do not exist"),
    }
}
