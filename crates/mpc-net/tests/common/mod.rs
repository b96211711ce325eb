//! Spawning three parties: over TCP on 127.0.0.1 port 0, or in memory.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use triad_mpc_net::{
    Mesh, MeshListener, NetConfig, NetError, PartyId, PartyIdentity, PeerAddr, PinnedKey, SessionId, TcpSetup,
};

pub fn config() -> NetConfig {
    NetConfig::new(SessionId::from_label("triad-mpc-net tests"))
}

pub fn identities() -> [PartyIdentity; 3] {
    PartyId::ALL.map(|p| PartyIdentity::generate(p).expect("key generation"))
}

pub fn pins(ids: &[PartyIdentity; 3]) -> [PinnedKey; 3] {
    [ids[0].pinned_key(), ids[1].pinned_key(), ids[2].pinned_key()]
}

/// Bind three listeners first, then connect the three parties concurrently. `identities[i]` is
/// what party i runs with, `pins[j]` the key everyone pins for party j, `configs[i]` party i's
/// settings.
pub async fn connect(
    identities: [PartyIdentity; 3],
    pins: [PinnedKey; 3],
    configs: [NetConfig; 3],
) -> [Result<Mesh, NetError>; 3] {
    let mut listeners = Vec::new();
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for _ in 0..3 {
        let l = MeshListener::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        addrs.push(l.local_addr().expect("local_addr"));
        listeners.push(l);
    }
    let mut handles = Vec::new();
    for ((identity, listener), config) in identities.into_iter().zip(listeners).zip(configs) {
        let me = identity.party();
        let peers = me
            .others()
            .into_iter()
            .map(|p| PeerAddr { party: p, addr: addrs[p.index()], key: pins[p.index()].clone() })
            .collect();
        handles.push(tokio::spawn(Mesh::connect(TcpSetup { identity, listener, peers, config })));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("connect task"));
    }
    out.try_into().expect("three results")
}

pub async fn tcp_meshes(config: NetConfig) -> [Mesh; 3] {
    let ids = identities();
    let pins = pins(&ids);
    let [a, b, c] = connect(ids, pins, [config.clone(), config.clone(), config]).await;
    [a.expect("P0 connects"), b.expect("P1 connects"), c.expect("P2 connects")]
}

/// A recognisable payload: byte k of message `seq` from `from` is a function of all three.
pub fn payload(from: PartyId, seq: u64, len: usize) -> bytes::Bytes {
    let mut v = vec![0u8; len];
    let mut x = (seq << 8) ^ (from.get() as u64) ^ 0x9e37_79b9_7f4a_7c15;
    for chunk in v.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
    if len >= 8 {
        v[..8].copy_from_slice(&seq.to_le_bytes());
    }
    v.into()
}
