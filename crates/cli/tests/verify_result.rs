//! `triad verify` on results signed by three in-memory parties.

mod common;

use common::triad;
use triad_signing::{KeyShare, PartyId, ResultColumn, ResultStatement, SessionId, dkg, local, sign};

fn session(n: u8) -> SessionId {
    SessionId([n; 32])
}

fn signed_file(dir: &std::path::Path, name: &str, result: &ResultStatement, signature: &[u8]) -> String {
    let json = serde_json::json!({
        "network_id": result.network_id,
        "dataset_id": result.dataset_id,
        "snapshot": result.snapshot,
        "query": result.query,
        "columns": result.columns,
        "signature": hex::encode(signature),
    });
    let path = dir.join(name);
    std::fs::write(&path, json.to_string()).expect("write");
    path.to_str().expect("utf-8 path").to_owned()
}

#[test]
fn verify_accepts_a_genuine_result_and_names_why_others_fail() {
    let parties = PartyId::ALL.into_iter().map(|p| dkg::start(p, session(1))).collect();
    let shares: Vec<KeyShare> = local::run(parties).into_iter().map(|r| r.expect("dkg")).collect();
    let result = ResultStatement {
        network_id: "triad-test".into(),
        dataset_id: "balances".into(),
        snapshot: 12,
        query: "SELECT median(balance) FROM balances".into(),
        columns: vec![ResultColumn { name: "median".into(), value: "1500.25".into() }],
    };
    let derived: Vec<KeyShare> = shares.iter().map(|s| s.derive("balances").expect("derive")).collect();
    let signers = [PartyId::ALL[0], PartyId::ALL[1]];
    let runs = vec![
        sign::start(&derived[0], session(2), signers, result.digest()).expect("start"),
        sign::start(&derived[1], session(2), signers, result.digest()).expect("start"),
    ];
    let signature = local::run(runs).remove(0).expect("signature");
    let key = shares[0].network_key().to_hex();
    let dir = tempfile::tempdir().expect("tempdir");

    let genuine = signed_file(dir.path(), "genuine.json", &result, &signature);
    let (ok, out, err) = triad(&["verify", &genuine, "--network-key", &key]);
    assert!(ok, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(json["verified"], true);

    let mut altered = result.clone();
    altered.columns[0].value = "1500.26".into();
    let forged = signed_file(dir.path(), "forged.json", &altered, &signature);
    for (args, reason) in [
        (vec!["verify", &forged, "--network-key", &key], "forged"),
        (vec!["verify", &genuine, "--network-key", &key, "--dataset", "salaries"], "wrong dataset"),
        (vec!["verify", &genuine, "--network-key", &key, "--min-snapshot", "13"], "stale snapshot"),
    ] {
        let (ok, _, err) = triad(&args);
        assert!(!ok, "{args:?} must fail");
        assert!(err.contains(reason), "{args:?}: {err}");
    }
    let short = signed_file(dir.path(), "short.json", &result, &signature[..63]);
    let (ok, _, err) = triad(&["verify", &short, "--network-key", &key]);
    assert!(!ok && err.contains("malformed"), "{err}");
    let (ok, _, err) = triad(&["verify", &genuine, "--network-key", "abcd"]);
    assert!(!ok && err.contains("network-key"), "{err}");
}
