//! The upstream fixtures verify, and what they prove is what was recorded.
#![allow(clippy::single_range_in_vec_init)] // ranges, not a vec of their items

mod common;

use common::*;
use triad_notary::{Blinder, Direction, HashAlg, ProverSecret, VerifyError, check_commitment, verify, wire};

#[test]
fn fixture_round_trips_byte_for_byte() {
    for bytes in [full(), hidden()] {
        assert_eq!(wire::encode(&decode(&bytes)), bytes);
    }
}

#[test]
fn full_fixture_verifies_and_discloses_the_recorded_transcript() {
    let v = verify(&full(), &config()).expect("fixture verifies");
    assert_eq!(v.server_name.as_deref(), Some("tlsnotary.org"));
    assert_eq!(v.time, 1_671_637_529);
    assert_eq!(v.notary_key, notary_key());
    let t = v.transcript.as_ref().expect("transcript");
    assert_eq!(t.sent.redacted(b'X'), read("request_get_with_header"));
    assert_eq!(t.received.redacted(b'X'), read("response_json"));
    assert_eq!(t.sent.disclosed(), &[0..35]);
    assert_eq!(t.received.disclosed(), &[0..145]);
    assert!(t.sent.hidden().is_empty() && t.received.hidden().is_empty());
    assert!(v.unopened_commitments.is_empty());
}

#[test]
fn hidden_fixture_reports_the_hidden_range_and_its_commitment() {
    let v = verify(&hidden(), &config()).expect("hidden fixture verifies");
    assert_eq!(v.server_name.as_deref(), Some("tlsnotary.org"));
    let t = v.transcript.as_ref().expect("transcript");
    assert_eq!(t.sent.redacted(b'X'), read("hidden/sent.txt"));
    assert_eq!(t.received.redacted(b'X'), read("hidden/received_redacted.txt"));
    assert_eq!(t.received.disclosed(), &[0..122, 125..145]);
    assert_eq!(t.received.hidden(), &[122..125]);
    assert_eq!(t.received.get(122..125), None);
    assert_eq!(t.received.get(0..4), Some(&b"HTTP"[..]));

    let secret = String::from_utf8(read("hidden/secret.json")).expect("utf8");
    assert_eq!(v.unopened_commitments.len(), 1);
    let c = &v.unopened_commitments[0];
    assert_eq!(c.direction, Direction::Received);
    assert_eq!(c.ranges, vec![122..125]);
    assert_eq!(c.alg, HashAlg::Blake3);
    assert_eq!(hex::encode(c.hash), json_str(&secret, "commitment_hex"));
}

fn prover_secret() -> ProverSecret {
    let json = String::from_utf8(read("hidden/secret.json")).expect("utf8");
    let value = hex::decode(json_str(&json, "value_hex")).expect("hex");
    let blinder: [u8; 16] = hex::decode(json_str(&json, "blinder_hex")).expect("hex").try_into().expect("16 bytes");
    ProverSecret { value, blinder: Blinder(blinder) }
}

#[test]
fn commitment_check_accepts_the_prover_secret() {
    let v = verify(&hidden(), &config()).expect("verifies");
    let secret = prover_secret();
    assert_eq!(secret.value, b"123");
    assert_eq!(check_commitment(&v.unopened_commitments[0], &secret), Ok(()));
}

#[test]
fn commitment_check_rejects_any_changed_byte_of_value_or_blinder() {
    let v = verify(&hidden(), &config()).expect("verifies");
    let c = &v.unopened_commitments[0];
    let good = prover_secret();
    for i in 0..good.value.len() {
        for bit in 0..8 {
            let mut s = good.clone();
            s.value[i] ^= 1 << bit;
            assert_eq!(check_commitment(c, &s), Err(VerifyError::CommitmentMismatch));
        }
    }
    for i in 0..16 {
        for bit in 0..8 {
            let mut s = good.clone();
            s.blinder.0[i] ^= 1 << bit;
            assert_eq!(check_commitment(c, &s), Err(VerifyError::CommitmentMismatch));
        }
    }
    let mut longer = good.clone();
    longer.value.push(b'4');
    assert_eq!(check_commitment(c, &longer), Err(VerifyError::SecretLength { found: 4, expected: 3 }));
}

#[test]
fn json_report_has_name_time_transcript_and_commitments() {
    let v = verify(&hidden(), &config()).expect("verifies");
    let j = v.to_json();
    assert_eq!(j["server_name"], "tlsnotary.org");
    assert_eq!(j["time"], 1_671_637_529u64);
    assert_eq!(j["transcript"]["received"]["hidden_ranges"], serde_json::json!([[122, 125]]));
    assert_eq!(
        j["transcript"]["received"]["redacted_utf8"],
        String::from_utf8(read("hidden/received_redacted.txt")).expect("utf8")
    );
    let c = &j["unopened_commitments"][0];
    assert_eq!(c["direction"], "received");
    assert_eq!(c["ranges"], serde_json::json!([[122, 125]]));
    assert_eq!(c["alg"], "blake3");
    assert_eq!(c["hash"], "cb5c0ce1d0274deb43426d12970ee5aabae7deffbe50d3ee76818c95a23829c6");
    assert_eq!(j["notary_key"], "secp256k1:035be5e9478209674a96e60f1f037f6176540fd001fa1d64694770c56a7709c42c");
}
