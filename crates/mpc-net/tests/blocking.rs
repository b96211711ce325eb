//! `BlockingMesh` with its own current-thread runtime: three plain threads, one per party,
//! running rounds the way the MPC core does.

mod common;

use common::{config, identities, pins};
use triad_mpc_net::{BlockingMesh, MeshListener, NetConfig, PartyId, PeerAddr, TcpSetup};

fn short(config: NetConfig) -> NetConfig {
    NetConfig {
        connect_timeout: std::time::Duration::from_secs(10),
        ..config
    }
}

/// Each party on its own plain thread, as the MPC core runs: send a round's messages, then
/// receive the peers'. Sizes up to 8 MiB, so sockets fill and writes finish inside `recv`.
fn blocking_round_trips(meshes: [BlockingMesh; 3]) {
    const ROUNDS: u64 = 12;
    let len = |round: u64| {
        if round % 4 == 3 {
            8 << 20
        } else {
            100 + round as usize * 1000
        }
    };
    let threads = meshes.map(|mesh| {
        std::thread::spawn(move || {
            let me = mesh.party();
            for round in 0..ROUNDS {
                for to in me.others() {
                    mesh.send(to, common::payload(me, round, len(round)))
                        .expect("send");
                }
                mesh.mark_round();
                for from in me.others() {
                    let got = mesh.recv(from).expect("recv");
                    assert!(
                        got == common::payload(from, round, len(round)),
                        "{me} <- {from} #{round}"
                    );
                }
            }
            assert_eq!(mesh.stats().rounds, ROUNDS);
            mesh.close().expect("close");
        })
    });
    for t in threads {
        t.join().expect("party thread");
    }
}

#[test]
fn blocking_meshes_with_their_own_runtimes_run_rounds_over_tcp() {
    let ids = identities();
    let pinned = pins(&ids);
    let listeners = PartyId::ALL
        .map(|_| MeshListener::bind("127.0.0.1:0".parse().expect("addr")).expect("bind"));
    let addrs: Vec<_> = listeners
        .iter()
        .map(|l| l.local_addr().expect("addr"))
        .collect();
    let connecting: Vec<_> = ids
        .into_iter()
        .zip(listeners)
        .map(|(identity, listener)| {
            let peers = identity
                .party()
                .others()
                .into_iter()
                .map(|p| PeerAddr {
                    party: p,
                    addr: addrs[p.index()],
                    key: pinned[p.index()].clone(),
                })
                .collect();
            let config = short(config());
            std::thread::spawn(move || {
                BlockingMesh::connect(TcpSetup {
                    identity,
                    listener,
                    peers,
                    config,
                })
            })
        })
        .collect();
    let meshes: Vec<BlockingMesh> = connecting
        .into_iter()
        .map(|t| t.join().expect("thread").expect("connect"))
        .collect();
    blocking_round_trips(meshes.try_into().expect("three"));
}

#[test]
fn blocking_meshes_with_their_own_runtimes_run_rounds_in_memory() {
    blocking_round_trips(BlockingMesh::in_memory(&config()).expect("meshes"));
}
