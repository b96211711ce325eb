//! `triad notary verify` on upstream TLSNotary's fixtures (read from
//! notary/fixtures).

mod common;

use common::{NOTARY, fixture, triad};

#[test]
fn verify_prints_what_the_hidden_fixture_proves() {
    let file = fixture("hidden/presentation.bin");
    let (ok, out, err) = triad(&["notary", "verify", file.to_str().expect("utf-8 path"), "--notary-key", NOTARY]);
    assert!(ok, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(json["server_name"], "tlsnotary.org");
    let hidden = &json["transcript"]["received"]["hidden_ranges"];
    assert_eq!(hidden, &serde_json::json!([[122, 125]]), "{json:#}");
    let commitments = json["unopened_commitments"].as_array().expect("a list");
    assert_eq!(commitments.len(), 1);
    let secret: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("hidden/secret.json")).expect("secret.json")).expect("JSON");
    let hash = commitments[0]["hash"].as_str().expect("hex");
    assert!(secret.to_string().contains(hash), "commitment {hash} is the one in secret.json");
}

#[test]
fn verify_rejects_a_tampered_file_with_the_reason() {
    let mut bytes = std::fs::read(fixture("presentation.bin")).expect("fixture");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tampered.bin");
    std::fs::write(&path, bytes).expect("write");
    let (ok, _, err) = triad(&["notary", "verify", path.to_str().expect("utf-8 path"), "--notary-key", NOTARY]);
    assert!(!ok, "a flipped byte must not verify");
    assert!(err.contains("does not verify"), "{err}");
}

#[test]
fn verify_rejects_an_unpinned_notary() {
    let file = fixture("presentation.bin");
    let other = "secp256k1:02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5";
    let (ok, _, err) = triad(&["notary", "verify", file.to_str().expect("utf-8 path"), "--notary-key", other]);
    assert!(!ok);
    assert!(err.to_lowercase().contains("notary"), "{err}");
}
