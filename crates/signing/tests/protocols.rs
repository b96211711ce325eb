//! DKG, signing, refresh and derived keys among three in-memory parties, checked with k256.

mod common;

use common::{k256_verifies, keygen, refreshed, session, sign_with};
use triad_signing::derive::{dataset_path, request_path};
use triad_signing::{Derivation, KeyShare, NetworkKey, PartyId, VerifyError, verify_digest};

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

#[test]
fn a_request_key_signature_verifies_under_the_request_key_and_not_under_a_dataset_key() {
    let shares = keygen("request");
    let network = shares[0].network_key();
    let derived: Vec<_> = shares.iter().map(|s| s.derive_request("ops/payload").expect("derive")).collect();
    let request_key = network.request_key("ops/payload").expect("derive public");
    let dataset_key = network.dataset_key("ops/payload").expect("derive public");
    assert!(derived.iter().all(|d| d.public_key() == request_key.public_key));
    assert_ne!(request_key, dataset_key, "a request path is not the dataset path of the same name");
    assert_ne!(request_path("ops/payload"), dataset_path("ops/payload"));
    assert_eq!(derived[0].derivation(), &Derivation::Request("ops/payload".into()));
    assert_eq!(derived[0].dataset(), None);

    let digest = session("request-message", 0).0;
    let out = sign_with(&derived[1], &derived[2], session("request-sign", 0), digest);
    let signature = out[0].as_ref().expect("request shares sign");
    assert_eq!(verify_digest(&request_key.public_key, &digest, signature), Ok(()));
    assert!(k256_verifies(&request_key.public_key, &digest, signature));
    assert_eq!(verify_digest(&dataset_key.public_key, &digest, signature), Err(VerifyError::Forged));
    assert_eq!(verify_digest(&network.public_key, &digest, signature), Err(VerifyError::Forged));
    let mut other = digest;
    other[31] ^= 1;
    assert_eq!(verify_digest(&request_key.public_key, &other, signature), Err(VerifyError::Forged));
    assert!(matches!(
        verify_digest(&request_key.public_key, &digest, &signature[..63]),
        Err(VerifyError::Malformed(_))
    ));
    let mut off_curve = [0xff; 33];
    off_curve[0] = 0x02; // x = 2^256 - 1 is no field element
    assert!(matches!(verify_digest(&off_curve, &digest, signature), Err(VerifyError::Malformed(_))));

    // Derived keys derive no further, and refresh only the network key's shares.
    assert!(derived[0].derive_request("ops/payload").is_err());
    assert!(derived[0].derive("ops/payload").is_err());
    assert!(shares[0].derive("d").expect("derive").derive_request("ops/payload").is_err());
    assert!(triad_signing::refresh::start(&derived[0], session("request-refresh", 0)).is_err());
}

#[test]
fn a_request_derived_share_round_trips_through_bytes() {
    let shares = keygen("request-store");
    let derived = shares[0].derive_request("ops/payload").expect("derive");
    let loaded = KeyShare::from_bytes(&derived.to_bytes()).expect("load");
    assert_eq!(loaded.derivation(), &Derivation::Request("ops/payload".into()));
    assert_eq!(loaded.public_key(), derived.public_key());
    assert_eq!(loaded.to_bytes(), derived.to_bytes());

    // A dataset whose name looks like a request path stays a dataset share, with another key.
    let lookalike = shares[0].derive("request:ops/payload").expect("derive");
    let lookalike = KeyShare::from_bytes(&lookalike.to_bytes()).expect("load");
    assert_eq!(lookalike.derivation(), &Derivation::Dataset("request:ops/payload".into()));
    assert_ne!(lookalike.public_key(), loaded.public_key());
    // So does a dataset with the empty name (version 1 could not tell it from the network key).
    let empty = KeyShare::from_bytes(&shares[0].derive("").expect("derive").to_bytes()).expect("load");
    assert_eq!(empty.derivation(), &Derivation::Dataset(String::new()));

    // The loaded share signs with another party's.
    let other = shares[1].derive_request("ops/payload").expect("derive");
    let digest = session("request-store-message", 0).0;
    let out = sign_with(&loaded, &other, session("request-store-sign", 0), digest);
    let request_key = shares[0].network_key().request_key("ops/payload").expect("derive public");
    assert_eq!(verify_digest(&request_key.public_key, &digest, out[0].as_ref().expect("signs")), Ok(()));

    // A wrong kind, or a name given to the network key, does not load.
    let bytes = derived.to_bytes();
    for (at, value) in [(1, 3u8), (1, 0)] {
        let mut bad = bytes.to_vec();
        bad[at] = value;
        assert!(KeyShare::from_bytes(&bad).is_err(), "kind {value}");
    }
}

#[test]
fn version_1_shares_still_load() {
    let shares = keygen("store-v1");
    // Version 1: `1 || u32 name length || name || body`, no kind byte.
    let v1 = |share: &KeyShare| {
        let bytes = share.to_bytes();
        assert_eq!(bytes[0], 2, "written as version 2");
        let mut old = vec![1u8];
        old.extend_from_slice(&bytes[2..]);
        old
    };
    let network = KeyShare::from_bytes(&v1(&shares[0])).expect("load network share");
    assert_eq!(network.derivation(), &Derivation::Network);
    assert_eq!(network.to_bytes(), shares[0].to_bytes());
    let dataset = shares[0].derive("balances").expect("derive");
    let loaded = KeyShare::from_bytes(&v1(&dataset)).expect("load dataset share");
    assert_eq!(loaded.derivation(), &Derivation::Dataset("balances".into()));
    assert_eq!(loaded.public_key(), dataset.public_key());
    assert!(KeyShare::from_bytes(&[3]).is_err());
}

fn hex_array<const N: usize>(text: &str) -> [u8; N] {
    hex::decode(text).expect("hex").try_into().expect("length")
}
