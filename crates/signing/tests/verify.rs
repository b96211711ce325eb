//! `verify` on genuine, forged, stale, wrong-dataset and malformed results.

mod common;

use common::{keygen, session, sign_with};
use triad_signing::{Expectation, KeyShare, NetworkKey, ResultColumn, ResultStatement, VerifyError, verify};

fn statement(dataset: &str, snapshot: u64) -> ResultStatement {
    ResultStatement {
        network_id: "triad-test".into(),
        dataset_id: dataset.into(),
        snapshot,
        query: "SELECT avg(balance), count(*) FROM balances".into(),
        columns: vec![
            ResultColumn { name: "avg".into(), value: "1234.5".into() },
            ResultColumn { name: "count".into(), value: "42".into() },
        ],
    }
}

fn expect(dataset: &str, min_snapshot: u64) -> Expectation {
    Expectation { network_id: "triad-test".into(), dataset_id: dataset.into(), min_snapshot }
}

/// The parties' signature over `result` under its dataset's derived key.
fn signed(shares: &[KeyShare; 3], result: &ResultStatement, n: u64) -> [u8; 64] {
    let a = shares[0].derive(&result.dataset_id).expect("derive");
    let b = shares[2].derive(&result.dataset_id).expect("derive");
    let out = sign_with(&a, &b, session("verify-sign", n), result.digest());
    *out[0].as_ref().expect("signature")
}

struct Fixture {
    key: NetworkKey,
    result: ResultStatement,
    signature: [u8; 64],
    old_result: ResultStatement,
    old_signature: [u8; 64],
    other_dataset: ResultStatement,
    other_signature: [u8; 64],
}

fn fixture(label: &str) -> Fixture {
    let shares = keygen(label);
    let result = statement("balances", 10);
    let old_result = statement("balances", 7);
    let other_dataset = statement("salaries", 10);
    Fixture {
        key: shares[0].network_key(),
        signature: signed(&shares, &result, 0),
        old_signature: signed(&shares, &old_result, 1),
        other_signature: signed(&shares, &other_dataset, 2),
        result,
        old_result,
        other_dataset,
    }
}

#[test]
fn results_fail_verify_with_the_reason() {
    let f = fixture("verify");
    let wanted = expect("balances", 10);
    assert_eq!(verify(&f.key, &f.result, &f.signature, &wanted), Ok(()));

    // Forged: an altered value, an altered signature, the network key's own signature.
    let mut altered = f.result.clone();
    altered.columns[1].value = "43".into();
    assert_eq!(verify(&f.key, &altered, &f.signature, &wanted), Err(VerifyError::Forged));
    let mut flipped = f.signature;
    flipped[40] ^= 0x01;
    assert!(matches!(
        verify(&f.key, &f.result, &flipped, &wanted),
        Err(VerifyError::Forged | VerifyError::Malformed(_))
    ));
    let mut relabelled = f.other_dataset.clone();
    relabelled.dataset_id = "balances".into();
    assert_eq!(verify(&f.key, &relabelled, &f.other_signature, &wanted), Err(VerifyError::Forged));
    let mut later = f.old_result.clone();
    later.snapshot = 10;
    assert_eq!(verify(&f.key, &later, &f.old_signature, &wanted), Err(VerifyError::Forged), "a snapshot bumped");

    // Genuine but not what the consumer asked for.
    assert_eq!(
        verify(&f.key, &f.old_result, &f.old_signature, &wanted),
        Err(VerifyError::StaleSnapshot { minimum: 10, found: 7 })
    );
    assert_eq!(verify(&f.key, &f.old_result, &f.old_signature, &expect("balances", 7)), Ok(()));
    assert_eq!(
        verify(&f.key, &f.other_dataset, &f.other_signature, &wanted),
        Err(VerifyError::WrongDataset { expected: "balances".into(), found: "salaries".into() })
    );
    let mut other_network = wanted.clone();
    other_network.network_id = "triad-prod".into();
    assert!(matches!(verify(&f.key, &f.result, &f.signature, &other_network), Err(VerifyError::WrongNetwork { .. })));

    // Another network's key.
    let stranger = keygen("verify-stranger")[0].network_key();
    assert_eq!(verify(&stranger, &f.result, &f.signature, &wanted), Err(VerifyError::Forged));
}

#[test]
fn malformed_signatures_are_named() {
    let f = fixture("verify-malformed");
    let wanted = expect("balances", 0);
    assert!(matches!(verify(&f.key, &f.result, &f.signature[..63], &wanted), Err(VerifyError::Malformed(_))));
    assert!(matches!(verify(&f.key, &f.result, &[0u8; 64], &wanted), Err(VerifyError::Malformed(_))));
    // The same signature with high s: valid ECDSA, refused as not canonical.
    let signature = k256::ecdsa::Signature::from_slice(&f.signature).expect("parse");
    let (r, s) = signature.split_scalars();
    let high = k256::ecdsa::Signature::from_scalars(r, -*s).expect("high s");
    assert!(matches!(verify(&f.key, &f.result, &high.to_bytes(), &wanted), Err(VerifyError::Malformed(_))));
}

#[test]
fn the_encoding_is_length_prefixed_and_fixed() {
    let result = statement("balances", 10);
    let encoded = result.encode();
    let mut expected = Vec::new();
    for part in ["triad/result/v1", "triad-test", "balances"] {
        expected.extend_from_slice(&(part.len() as u32).to_be_bytes());
        expected.extend_from_slice(part.as_bytes());
    }
    expected.extend_from_slice(&10u64.to_be_bytes());
    assert_eq!(&encoded[..expected.len()], &expected[..]);
    assert_eq!(hex::encode(&encoded[..4]), "0000000f");

    // Moving a byte between adjacent fields changes the encoding.
    let mut a = result.clone();
    a.columns[0].name = "av".into();
    a.columns[0].value = "g1234.5".into();
    assert_ne!(a.encode(), encoded);
    assert_ne!(a.digest(), result.digest());
}
