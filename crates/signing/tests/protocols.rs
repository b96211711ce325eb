//! DKG, signing, refresh and derived keys among three in-memory parties, checked with k256.

mod common;

use common::{k256_verifies, keygen, refreshed, session, sign_with};
use triad_signing::{NetworkKey, PartyId};

#[test]
fn dkg_then_100_signatures_verify_with_k256() {
    let shares = keygen("dkg-100");
    let public_key = shares[0].public_key();
    assert!(shares.iter().all(|s| s.public_key() == public_key && s.chain_code() == shares[0].chain_code()));
    let pairs = [(0, 1), (1, 2), (2, 0)];
    for n in 0..100u64 {
        let (a, b) = pairs[(n % 3) as usize];
        let digest = session("message", n).0;
        let out = sign_with(&shares[a], &shares[b], session("dkg-100-sign", n), digest);
        let first = out[0].as_ref().expect("signer a");
        assert_eq!(Some(first), out[1].as_ref().ok(), "both signers output the same signature");
        assert!(k256_verifies(&public_key, &digest, first), "signature {n} by P{a}, P{b} verifies");
        let mut other = digest;
        other[0] ^= 1;
        assert!(!k256_verifies(&public_key, &other, first), "signature {n} does not verify another digest");
    }
}

#[test]
fn refresh_keeps_the_public_key_and_old_shares_stop_working() {
    let old = keygen("refresh");
    let new = refreshed(&old, session("refresh-1", 0));
    for (o, n) in old.iter().zip(&new) {
        assert_eq!(o.public_key(), n.public_key());
        assert_eq!(o.chain_code(), n.chain_code());
        assert_ne!(o.to_bytes(), n.to_bytes(), "the share moved");
    }
    let digest = session("refresh-message", 0).0;
    let out = sign_with(&new[0], &new[2], session("refresh-sign", 0), digest);
    assert!(k256_verifies(&old[0].public_key(), &digest, out[0].as_ref().expect("new shares sign")));

    for (n, (a, b)) in [(&old[0], &new[1]), (&new[0], &old[1]), (&old[2], &new[0])].into_iter().enumerate() {
        let out = sign_with(a, b, session("refresh-mixed", n as u64), digest);
        assert!(out.iter().all(|r| r.is_err()), "an old share with a new one makes no signature: {out:?}");
    }
}

#[test]
fn a_dataset_key_derived_from_the_public_key_alone_verifies_the_parties_signatures() {
    let shares = keygen("derive");
    let network = shares[1].network_key();
    let derived: Vec<_> = shares.iter().map(|s| s.derive("exchange-balances").expect("derive")).collect();
    let consumer = network.dataset_key("exchange-balances").expect("derive public");
    assert!(derived.iter().all(|d| d.public_key() == consumer.public_key));
    assert_ne!(consumer.public_key, network.public_key);
    assert_ne!(consumer, network.dataset_key("exchange-balances-2").expect("derive public"));

    let digest = session("derive-message", 0).0;
    let out = sign_with(&derived[2], &derived[0], session("derive-sign", 0), digest);
    let signature = out[0].as_ref().expect("derived shares sign");
    assert!(k256_verifies(&consumer.public_key, &digest, signature));
    assert!(!k256_verifies(&network.public_key, &digest, signature), "not under the network key itself");
}

#[test]
fn public_derivation_matches_bip32_test_vector_2() {
    // BIP32 test vector 2: m and m/0 (non-hardened).
    let m = NetworkKey {
        public_key: hex_array("03cbcaa9c98c877a26977d00825c956a238e8dddfbd322cce4f74b0b5bd6ace4a7"),
        chain_code: hex_array("60499f801b896d83179a4374aeb7822aaeaceaa0db1f85ee3e904c4defbd9689"),
    };
    let child = m.child(0).expect("m/0");
    assert_eq!(hex::encode(child.public_key), "02fc9e5af0ac8d9b3cecfe2a888e2117ba3d089d8585886c9c826b6b22a98d12ea");
    assert_eq!(hex::encode(child.chain_code), "f0909affaa7ee7abe5dd4e100598d4dc53cd709d5a5c2cac40e7412f232f7c9c");
}

#[test]
fn a_stored_share_loads_and_signs() {
    let shares = keygen("store");
    let loaded = triad_signing::KeyShare::from_bytes(&shares[0].to_bytes()).expect("load");
    assert_eq!(loaded.party_id(), PartyId::new(0).expect("P0"));
    let digest = session("store-message", 0).0;
    let out = sign_with(&loaded, &shares[1], session("store-sign", 0), digest);
    assert!(k256_verifies(&shares[0].public_key(), &digest, out[0].as_ref().expect("signs")));
    assert!(triad_signing::KeyShare::from_bytes(&shares[0].to_bytes()[..100]).is_err());
    assert_eq!(loaded.dataset(), None);
    let derived = shares[0].derive("balances").expect("derive");
    let reloaded = triad_signing::KeyShare::from_bytes(&derived.to_bytes()).expect("load derived");
    assert_eq!(reloaded.dataset(), Some("balances"));
    assert_eq!(reloaded.public_key(), derived.public_key());
}

fn hex_array<const N: usize>(text: &str) -> [u8; N] {
    hex::decode(text).expect("hex").try_into().expect("length")
}
