use triad_mpc::core::{ArithShare, SessionId, circuits, masked, sort};
use triad_mpc::net::{BlockingMesh, NetConfig};
use triad_mpc::{Error, NetParty, PartyConfig, net_session_id};

use crate::{assert_products, multiply_and_open, run3};

fn sid(tag: u8) -> SessionId {
    SessionId([tag; 16])
}

#[test]
fn a_verified_multiplication_over_the_in_memory_mesh_opens_the_product() {
    let parties = NetParty::in_memory(sid(1), PartyConfig::default()).expect("parties");
    assert_products(run3(parties, |p| multiply_and_open(p, 1000)));
}

#[test]
fn large_layers_are_cut_into_chunks_and_verified_between_them() {
    let config = PartyConfig { max_gate_elements: 64, verify_after_mults: 100, ..PartyConfig::default() };
    let parties = NetParty::in_memory(sid(2), config).expect("parties");
    let out = run3(parties, |p| {
        let before = p.stats();
        let r = multiply_and_open(p, 300)?;
        Ok((r, p.stats().since(before)))
    });
    let mut products = Vec::new();
    for r in out {
        let (prod, stats) = r.expect("party");
        // 5 chunks of at most 64 products (one round each), 3 verifications (after 128, 256
        // and before the first open) and 3 opens: more rounds than one layer would need.
        assert!(stats.rounds > 5 + 3, "rounds {}", stats.rounds);
        products.push(Ok(prod));
    }
    let [a, b, c]: [_; 3] = products.try_into().expect("three");
    assert_products([a, b, c]);
}

#[test]
fn comparisons_and_truncation_run_unchanged_over_the_mesh() {
    let parties = NetParty::in_memory(sid(3), PartyConfig::default()).expect("parties");
    let out = run3(parties, |p| {
        let x = p.random(100);
        let neg = p.circuit(|e| circuits::ltz(e, &x))?;
        let values: Vec<u64> = vec![0, 1 << 16, 5 << 20, (-(3i64 << 20)) as u64, 123_456_789];
        let v = ArithShare::public(p.me(), &values);
        let t = p.circuit(|e| masked::trunc_pr(e, &v, 40, 16))?;
        let xs = p.open(&x)?;
        let bits = p.open_bits(&neg)?;
        let t = p.open(&t)?;
        Ok((xs, bits, values, t))
    });
    for r in out {
        let (xs, bits, values, t) = r.expect("party");
        for (v, t) in values.iter().zip(&t) {
            let floor = (*v as i64) >> 16;
            let d = (*t as i64).wrapping_sub(floor);
            assert!(d == 0 || d == 1, "TruncPr({v}) = {t}, floor {floor}");
        }
        for (j, x) in xs.iter().enumerate() {
            let bit = (bits[j / 64] >> (j % 64)) & 1;
            assert_eq!(bit == 1, (*x as i64) < 0, "element {j}: {x}");
        }
    }
}

#[test]
fn sorting_and_the_median_run_over_the_mesh() {
    // Small verification batches, so proofs also run inside the comparisons.
    let config = PartyConfig { verify_after_ands: 4096, ..PartyConfig::default() };
    let parties = NetParty::in_memory(sid(4), config).expect("parties");
    let out = run3(parties, |p| {
        let x = p.random(300);
        let sorted = p.circuit(|e| sort::sort(e, &x, &[]))?;
        let m = p.circuit(|e| sort::median(e, &x))?;
        Ok((p.open(&x)?, p.open_bits(&sorted.keys)?, p.open(&m)?))
    });
    for r in out {
        let (xs, sorted, m) = r.expect("party");
        let mut want: Vec<i64> = xs.iter().map(|&v| v as i64).collect();
        want.sort();
        assert_eq!(sorted, want.iter().map(|&v| v as u64).collect::<Vec<_>>());
        assert_eq!(m, vec![want[149] as u64]);
    }
}

#[test]
fn a_peer_sending_a_malformed_key_contribution_is_named() {
    let [m0, m1, m2] = BlockingMesh::in_memory(&NetConfig::new(net_session_id(sid(4)))).expect("meshes");
    let [r0, r2] = std::thread::scope(|s| {
        let h0 = s.spawn(move || NetParty::new(m0, sid(4), PartyConfig::default()).map(drop));
        let h2 = s.spawn(move || NetParty::new(m2, sid(4), PartyConfig::default()).map(drop));
        // P1 deviates: a 3-byte contribution to both peers.
        let p0 = triad_mpc::net::PartyId::ALL[0];
        let p2 = triad_mpc::net::PartyId::ALL[2];
        m1.send(p0, bytes_of(b"bad")).expect("send");
        m1.send(p2, bytes_of(b"bad")).expect("send");
        [h0.join().expect("P0"), h2.join().expect("P2")]
    });
    for r in [r0, r2] {
        match r {
            Err(Error::KeyAgreement { peer, .. }) => assert_eq!(peer.index(), 1),
            other => panic!("expected a key-agreement error naming P1, got {other:?}"),
        }
    }
}

fn bytes_of(b: &'static [u8]) -> bytes::Bytes {
    bytes::Bytes::from_static(b)
}

#[test]
fn comparisons_and_truncations_take_their_masks_from_the_stock() {
    use triad_mpc::core::stock::StockKind;
    let parties = NetParty::in_memory(sid(9), PartyConfig::default()).expect("parties");
    let values: Vec<u64> = vec![0, 1 << 16, 5 << 20, (-(3i64 << 20)) as u64, u64::MAX];
    let out = run3(parties, |p| {
        p.stock_mut().set_target(StockKind::EdaBits64, 8)?;
        p.stock_mut().set_target(StockKind::Trunc { k: 40, m: 16 }, 8)?;
        let made = p.refill_stock()?;
        let v = ArithShare::public(p.me(), &values);
        let neg = p.with_stock(|s, e| s.ltz(e, &v))?;
        let t = p.with_stock(|s, e| s.trunc(e, &v, 40, 16))?;
        let levels =
            (p.stock().stats(StockKind::EdaBits64).level, p.stock().stats(StockKind::Trunc { k: 40, m: 16 }).level);
        Ok((made, levels, p.open_bits(&neg)?[0] & 0b11111, p.open(&t)?))
    });
    for r in out {
        let (made, levels, neg, t) = r.expect("party");
        assert_eq!(made, 16);
        assert_eq!(levels, (3, 3));
        assert_eq!(neg, 0b11000);
        let want: Vec<u64> = values.iter().map(|v| ((*v as i64) >> 16) as u64).collect();
        assert_eq!(t, want);
    }
}

/// A peer that goes away shows as the engine's transport error, with the mesh's error (naming
/// the peer) as its source: nothing is kept on the side.
#[test]
fn a_lost_peer_is_a_transport_error_carrying_the_mesh_error() {
    use triad_mpc::core::{Error as CoreError, TransportKind};
    use triad_mpc::net::NetError;
    let [mut p0, p1, p2] = NetParty::in_memory(sid(9), PartyConfig::default()).expect("parties");
    drop(p2);
    let x = p0.random(4);
    let err = p0.mul(&x, &x).and_then(|_| p0.verify()).expect_err("the next party is gone");
    drop(p1);
    let triad_mpc::Error::Engine(CoreError::Transport(t)) = &err else { panic!("not a transport error: {err:?}") };
    assert!(matches!(t.kind(), TransportKind::Link | TransportKind::Timeout), "{t:?}");
    let source = t.source_as::<NetError>().unwrap_or_else(|| panic!("no mesh error as source: {t:?}"));
    assert!(source.to_string().contains("P2"), "the mesh error names the peer: {source}");
}
