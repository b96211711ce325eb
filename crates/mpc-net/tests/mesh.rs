//! Behaviour every transport must show, written once and run over TCP and in memory.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{config, payload, tcp_meshes};
use triad_mpc_net::{BlockingMesh, Mesh, NetConfig, NetError, PartyId};

const P0: PartyId = PartyId::ALL[0];
const P1: PartyId = PartyId::ALL[1];
const P2: PartyId = PartyId::ALL[2];

/// `behaviour::$name(meshes)` over TCP and in memory, as `$name::over_tcp` and
/// `$name::in_memory`.
macro_rules! on_both_transports {
    ($($name:ident => $config:expr;)*) => {$(
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn over_tcp() {
                let config: NetConfig = $config;
                behaviour::$name(tcp_meshes(config.clone()).await, config).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn in_memory() {
                let config: NetConfig = $config;
                behaviour::$name(Mesh::in_memory(&config), config).await;
            }
        }
    )*};
}

on_both_transports! {
    messages_arrive_in_order_in_all_directions => config();
    a_100_mb_message_makes_a_round_trip => config();
    concurrent_large_sends_both_ways_complete_under_a_small_budget => NetConfig {
        send_buffer_bytes: 1 << 20,
        recv_buffer_bytes: 1 << 20,
        ..config()
    };
    a_slow_receiver_stops_the_sender => NetConfig {
        send_buffer_bytes: 1 << 20,
        recv_buffer_bytes: 1 << 20,
        ..config()
    };
    recv_timeout_names_the_silent_peer => config();
    a_send_blocked_by_a_peer_that_stopped_reading_times_out_naming_it => NetConfig {
        send_buffer_bytes: 1 << 20,
        recv_buffer_bytes: 1 << 20,
        send_timeout: Duration::from_millis(200),
        ..config()
    };
    an_oversize_message_is_refused_and_the_link_survives => NetConfig {
        max_frame_len: 1 << 20,
        ..config()
    };
    closing_delivers_queued_messages_then_disconnects => config();
    counters_match_on_both_ends => config();
    sending_to_oneself_is_refused => config();
    the_blocking_facade_ping_pongs_from_plain_threads => config();
    empty_messages_are_delivered => config();
    dropping_a_mesh_still_delivers_what_it_queued => config();
}

mod behaviour {
    use super::*;

    /// Every party sends 200 numbered messages of varying size to each peer while receiving.
    pub async fn messages_arrive_in_order_in_all_directions(m: [Mesh; 3], _: NetConfig) {
        const N: u64 = 200;
        async fn party(mesh: &Mesh) {
            let me = mesh.party();
            let send = async {
                for seq in 0..N {
                    for to in me.others() {
                        let len = 8 + (seq as usize * 37) % 5000;
                        mesh.send(to, payload(me, seq, len)).await.expect("send");
                    }
                }
            };
            let recv = async {
                for from in me.others() {
                    for seq in 0..N {
                        let msg = mesh.recv(from).await.expect("recv");
                        let len = 8 + (seq as usize * 37) % 5000;
                        assert_eq!(msg, payload(from, seq, len), "{me} from {from} #{seq}");
                    }
                }
            };
            tokio::join!(send, recv);
        }
        tokio::join!(party(&m[0]), party(&m[1]), party(&m[2]));
    }

    pub async fn a_100_mb_message_makes_a_round_trip(m: [Mesh; 3], _: NetConfig) {
        let big = payload(P0, 7, 100 << 20);
        let echo = async {
            let got = m[1].recv(P0).await.expect("P1 receives");
            m[1].send(P0, got).await.expect("P1 echoes");
        };
        let (sent, ()) = tokio::join!(m[0].send(P1, big.clone()), echo);
        sent.expect("P0 sends");
        let back = m[0].recv(P1).await.expect("P0 receives the echo");
        assert_eq!(back.len(), big.len());
        assert!(back == big, "the echo differs from the original");
    }

    /// Both ends push 40 MB at each other through 1 MB budgets at the same time.
    pub async fn concurrent_large_sends_both_ways_complete_under_a_small_budget(m: [Mesh; 3], _: NetConfig) {
        const N: u64 = 20;
        const LEN: usize = 2 << 20;
        async fn side(mesh: &Mesh, peer: PartyId) {
            let me = mesh.party();
            let send = async {
                for seq in 0..N {
                    mesh.send(peer, payload(me, seq, LEN)).await.expect("send");
                }
            };
            let recv = async {
                for seq in 0..N {
                    let msg = mesh.recv(peer).await.expect("recv");
                    assert!(msg == payload(peer, seq, LEN), "{me} from {peer} #{seq} differs");
                }
            };
            tokio::join!(send, recv);
        }
        tokio::join!(side(&m[0], P1), side(&m[1], P0), side(&m[2], P0), side(&m[0], P2));
    }

    /// With nobody receiving, the sender runs out of budget after a bounded number of bytes;
    /// once the receiver drains, everything arrives in order.
    pub async fn a_slow_receiver_stops_the_sender(m: [Mesh; 3], config: NetConfig) {
        const LEN: usize = 256 << 10;
        // Budgets on both ends plus what kernel socket buffers and TLS/IO buffers can hold.
        let bound = config.send_buffer_bytes + config.recv_buffer_bytes + (24 << 20);
        let mut sent = 0u64;
        let mut refused_in_a_row = 0;
        // Stop once the budget stayed full while the link's tasks had 200 chances to drain it.
        while refused_in_a_row < 200 {
            if m[0].try_send(P1, payload(P0, sent, LEN)).expect("try_send").is_none() {
                sent += 1;
                refused_in_a_row = 0;
            } else {
                refused_in_a_row += 1;
            }
            assert!(
                (sent as usize) * LEN <= bound,
                "sent {sent} messages of {LEN} bytes to a receiver that reads nothing"
            );
            tokio::task::yield_now().await;
        }
        assert!((sent as usize) * LEN >= config.send_buffer_bytes, "only {sent} messages went out");
        // The blocked sender resumes once the receiver catches up.
        let more = m[0].send(P1, payload(P0, sent, LEN));
        let drain = async {
            for seq in 0..=sent {
                let msg = m[1].recv(P0).await.expect("recv");
                assert!(msg == payload(P0, seq, LEN), "#{seq} differs");
            }
        };
        let (r, ()) = tokio::join!(more, drain);
        r.expect("send after drain");
    }

    pub async fn recv_timeout_names_the_silent_peer(m: [Mesh; 3], _: NetConfig) {
        let err = m[0].recv_timeout(P2, Duration::from_millis(50)).await.expect_err("silence");
        assert!(matches!(err, NetError::RecvTimeout { peer, .. } if peer == P2), "unexpected error: {err}");
        assert!(err.to_string().contains("P2"), "error does not name the peer: {err}");
        // The link still works after a timeout.
        m[2].send(P0, Bytes::from_static(b"late")).await.expect("send");
        assert_eq!(m[0].recv(P2).await.expect("recv"), Bytes::from_static(b"late"));
    }

    pub async fn a_send_blocked_by_a_peer_that_stopped_reading_times_out_naming_it(m: [Mesh; 3], config: NetConfig) {
        const LEN: usize = 256 << 10;
        let bound = config.send_buffer_bytes + config.recv_buffer_bytes + (24 << 20);
        let mut sent = 0u64;
        let err = loop {
            match m[2].send(P0, payload(P2, sent, LEN)).await {
                Ok(()) => sent += 1,
                Err(e) => break e,
            }
            assert!((sent as usize) * LEN <= bound, "sent {sent} messages to a silent receiver");
        };
        assert!(
            matches!(err, NetError::SendTimeout { peer, after } if peer == P0 && after == config.send_timeout),
            "unexpected error: {err}"
        );
        // Nothing was lost: the receiver gets every message that was accepted.
        for seq in 0..sent {
            assert!(m[0].recv(P2).await.expect("recv") == payload(P2, seq, LEN), "#{seq}");
        }
    }

    pub async fn an_oversize_message_is_refused_and_the_link_survives(m: [Mesh; 3], c: NetConfig) {
        let too_big = Bytes::from(vec![0u8; c.max_frame_len as usize + 1]);
        let err = m[0].send(P1, too_big).await.expect_err("oversize");
        assert!(
            matches!(err, NetError::FrameTooLarge { peer, len, max }
                if peer == P1 && len == c.max_frame_len as u64 + 1 && max == c.max_frame_len),
            "unexpected error: {err}"
        );
        let max = payload(P0, 1, c.max_frame_len as usize);
        m[0].send(P1, max.clone()).await.expect("a message of exactly the maximum");
        assert!(m[1].recv(P0).await.expect("recv") == max);
    }

    pub async fn closing_delivers_queued_messages_then_disconnects(m: [Mesh; 3], _: NetConfig) {
        let [m0, m1, m2] = m;
        for seq in 0..3 {
            m0.send(P1, payload(P0, seq, 100_000)).await.expect("send");
        }
        m0.close().await.expect("P0 closes cleanly");
        for seq in 0..3 {
            assert!(m1.recv(P0).await.expect("queued message") == payload(P0, seq, 100_000));
        }
        let err = m1.recv(P0).await.expect_err("link is closed");
        assert!(matches!(&err, NetError::Disconnected { peer, .. } if *peer == P0), "unexpected error: {err}");
        // And again, without waiting.
        assert!(matches!(m1.recv(P0).await, Err(NetError::Disconnected { .. })));
        let err = m2.recv(P0).await.expect_err("P2's link to P0 is closed too");
        assert!(matches!(err, NetError::Disconnected { .. }), "unexpected error: {err}");
        // Links that do not involve P0 keep working.
        m1.send(P2, Bytes::from_static(b"still here")).await.expect("send");
        assert_eq!(m2.recv(P1).await.expect("recv"), Bytes::from_static(b"still here"));
        m1.close().await.expect("P1 closes cleanly");
        m2.close().await.expect("P2 closes cleanly");
    }

    pub async fn counters_match_on_both_ends(m: [Mesh; 3], _: NetConfig) {
        for (len, seq) in [(10usize, 0u64), (70_000, 1), (3, 2)] {
            m[0].send(P2, payload(P0, seq, len)).await.expect("send");
        }
        m[0].mark_round();
        m[0].mark_round();
        for _ in 0..3 {
            m[2].recv(P0).await.expect("recv");
        }
        let s0 = m[0].stats();
        let s2 = m[2].stats();
        assert_eq!(s0.rounds, 2);
        assert_eq!(s0.peer(P2).messages_sent, 3);
        assert_eq!(s0.peer(P2).bytes_sent, 70_013);
        assert_eq!(s2.peer(P0).messages_received, 3);
        assert_eq!(s2.peer(P0).bytes_received, 70_013);
        assert_eq!(s0.peer(P1).bytes_sent, 0);
        assert!(s0.peers[0].is_none(), "no link to oneself");
        assert!(s2.peer(P0).wire_bytes_received >= 70_013 + 12, "{s2:?}");
        assert_eq!(s0.bytes_sent(), 70_013);
    }

    pub async fn sending_to_oneself_is_refused(m: [Mesh; 3], _: NetConfig) {
        let err = m[1].send(P1, Bytes::new()).await.expect_err("self");
        assert!(matches!(err, NetError::NotAPeer { party } if party == P1), "{err}");
    }

    pub async fn dropping_a_mesh_still_delivers_what_it_queued(m: [Mesh; 3], _: NetConfig) {
        let [m0, m1, _m2] = m;
        for seq in 0..3 {
            m0.send(P1, payload(P0, seq, 300_000)).await.expect("send");
        }
        drop(m0);
        for seq in 0..3 {
            assert!(m1.recv(P0).await.expect("queued message") == payload(P0, seq, 300_000));
        }
        let err = m1.recv(P0).await.expect_err("link is gone");
        assert!(matches!(err, NetError::Disconnected { peer, .. } if peer == P0), "{err}");
    }

    pub async fn empty_messages_are_delivered(m: [Mesh; 3], _: NetConfig) {
        m[2].send(P1, Bytes::new()).await.expect("send");
        m[2].send(P1, Bytes::from_static(b"x")).await.expect("send");
        assert_eq!(m[1].recv(P2).await.expect("recv"), Bytes::new());
        assert_eq!(m[1].recv(P2).await.expect("recv"), Bytes::from_static(b"x"));
    }

    pub async fn the_blocking_facade_ping_pongs_from_plain_threads(m: [Mesh; 3], _: NetConfig) {
        let handle = tokio::runtime::Handle::current();
        let [m0, m1, _m2] = m;
        let b0 = BlockingMesh::new(m0, handle.clone());
        let b1 = BlockingMesh::new(m1, handle);
        // From inside the runtime the facade refuses instead of stalling a worker.
        assert!(matches!(b0.recv(P1), Err(NetError::BlockingInAsync)));
        let t0 = std::thread::spawn(move || {
            let err = b0.recv_timeout(P2, Duration::from_millis(20)).expect_err("silence");
            assert!(matches!(err, NetError::RecvTimeout { peer, .. } if peer == P2), "{err}");
            for i in 0u64..500 {
                b0.send(P1, Bytes::copy_from_slice(&i.to_le_bytes())).expect("send");
                let back = b0.recv(P1).expect("recv");
                assert_eq!(back.as_ref(), &(i + 1).to_le_bytes());
            }
            b0
        });
        let t1 = std::thread::spawn(move || {
            for _ in 0u64..500 {
                let msg = b1.recv(P0).expect("recv");
                let i = u64::from_le_bytes(msg.as_ref().try_into().expect("8 bytes"));
                b1.send(P0, Bytes::copy_from_slice(&(i + 1).to_le_bytes())).expect("send");
            }
            b1
        });
        let b1 = tokio::task::spawn_blocking(move || t1.join().expect("P1 thread")).await.expect("join");
        let b0 = tokio::task::spawn_blocking(move || t0.join().expect("P0 thread")).await.expect("join");
        assert_eq!(b0.stats().peer(P1).messages_sent, 500);
        assert_eq!(b1.stats().peer(P0).messages_received, 500);
    }
}
