use std::net::SocketAddr;
use std::time::Duration;

use triad_mpc::core::SessionId;
use triad_mpc::net::{MeshListener, NetConfig, NetError, PartyId, PartyIdentity, PeerAddr, PinnedKey, TcpSetup};
use triad_mpc::{Error, NetParty, PartyConfig, Result, net_session_id};

use crate::{assert_products, multiply_and_open};

/// Bind three listeners on 127.0.0.1 port 0, then run `f` at three parties connecting on three
/// threads with `identities[i]`, everyone pinning `pins`.
fn over_tcp<T: Send>(
    identities: [PartyIdentity; 3],
    pins: [PinnedKey; 3],
    sid: SessionId,
    f: impl Fn(&mut NetParty) -> Result<T> + Sync,
) -> [Result<T>; 3] {
    let listeners = PartyId::ALL.map(|_| MeshListener::bind(([127, 0, 0, 1], 0).into()).expect("bind"));
    let addrs: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().expect("local addr")).collect();
    let config = NetConfig { connect_timeout: Duration::from_secs(10), ..NetConfig::new(net_session_id(sid)) };
    let f = &f;
    let (addrs, pins) = (&addrs, &pins);
    let jobs: Vec<_> = identities.into_iter().zip(listeners).collect();
    std::thread::scope(|s| {
        let hs: Vec<_> = jobs
            .into_iter()
            .map(|(identity, listener)| {
                let config = config.clone();
                s.spawn(move || {
                    let peers = identity
                        .party()
                        .others()
                        .into_iter()
                        .map(|p| PeerAddr { party: p, addr: addrs[p.index()], key: pins[p.index()].clone() })
                        .collect();
                    let setup = TcpSetup { identity, listener, peers, config };
                    let mut party = NetParty::connect(setup, sid, PartyConfig::default())?;
                    let out = f(&mut party)?;
                    party.close()?;
                    Ok(out)
                })
            })
            .collect();
        let out: Vec<Result<T>> = hs.into_iter().map(|h| h.join().expect("party thread")).collect();
        out.try_into().map_err(|_| "three results").expect("three")
    })
}

fn identities() -> [PartyIdentity; 3] {
    PartyId::ALL.map(|p| PartyIdentity::generate(p).expect("key generation"))
}

#[test]
fn three_parties_over_tcp_with_pinned_keys_multiply_verify_and_open() {
    let ids = identities();
    let pins = [ids[0].pinned_key(), ids[1].pinned_key(), ids[2].pinned_key()];
    let out = over_tcp(ids, pins, SessionId(*b"tcp-mult-session"), |p| {
        let x = p.random(10_000);
        let y = p.random(10_000);
        let before = p.stats();
        let z = p.mul(&x, &y)?;
        p.verify()?;
        let spent = p.stats().since(before);
        // 10^4 products at 8 B (+ a 34 B header) and the proof (about 20 KB per batch).
        assert!(spent.bytes_sent < 8 * 10_000 + 25_000, "{spent:?}");
        assert!(spent.wire_bytes_sent >= spent.bytes_sent, "{spent:?}");
        Ok((p.open(&x)?, p.open(&y)?, p.open(&z)?))
    });
    assert_products(out);
}

#[test]
fn a_party_whose_key_is_not_pinned_is_rejected() {
    let ids = identities();
    let pins = [ids[0].pinned_key(), ids[1].pinned_key(), ids[2].pinned_key()];
    let [id0, _, id2] = ids;
    let impostor = PartyIdentity::generate(PartyId::ALL[1]).expect("key");
    let [r0, r1, r2] =
        over_tcp([id0, impostor, id2], pins, SessionId(*b"tcp-impostor-ses"), |p| multiply_and_open(p, 10));
    for (who, r) in [("P0", r0), ("P2", r2)] {
        match r {
            Err(Error::Net(NetError::KeyMismatch { peer })) => assert_eq!(peer.index(), 1, "{who}"),
            other => panic!("{who}: expected KeyMismatch naming P1, got {other:?}"),
        }
    }
    assert!(matches!(r1, Err(Error::Net(NetError::RejectedByPeer { .. }))), "P1: {r1:?}");
}
