//! `triad provider keygen | share | open` on the upstream fixture with a
//! hidden value (notary/fixtures).

mod common;

use std::path::{Path, PathBuf};

use common::{NOTARY, fixture, triad};

const CID: &str = "00112233445566778899aabbccddeeff";

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Three keypairs: the secret key files and the public keys' hex.
fn keygen(dir: &Path) -> Vec<(PathBuf, String)> {
    (0..3)
        .map(|i| {
            let sk = dir.join(format!("p{i}.secret"));
            let (ok, out, err) = triad(&["provider", "keygen", "--secret-out", s(&sk)]);
            assert!(ok, "keygen: {err}");
            let pk = out.trim().to_owned();
            assert_eq!(pk.len(), 64, "a public key is 64 hex digits: {pk:?}");
            (sk, pk)
        })
        .collect()
}

fn share(dir: &Path, keys: &[(PathBuf, String)], extra: &[&str]) -> (bool, String, String) {
    share_with(dir, keys, NOTARY, extra)
}

fn share_with(dir: &Path, keys: &[(PathBuf, String)], notary: &str, extra: &[&str]) -> (bool, String, String) {
    let out = dir.join("bundles");
    let specs: Vec<String> = keys.iter().enumerate().map(|(i, (_, pk))| format!("{i}={pk}")).collect();
    let presentation = fixture("hidden/presentation.bin");
    let secret = fixture("hidden/secret.json");
    let mut args = vec![
        "provider",
        "share",
        "--presentation",
        s(&presentation),
        "--secret",
        s(&secret),
        "--dataset",
        "fixture-ds",
        "--notary-key",
        notary,
        "--out",
        s(&out),
        "--contribution-id",
        CID,
    ];
    for spec in &specs {
        args.extend(["--party-key", spec.as_str()]);
    }
    args.extend_from_slice(extra);
    triad(&args)
}

#[test]
fn keygen_share_and_open_round_trip_on_the_fixture() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = keygen(dir.path());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&keys[0].0).expect("secret file").permissions().mode();
        assert_eq!(mode & 0o077, 0, "the secret key file is private");
    }

    let (ok, out, err) = share(dir.path(), &keys, &[]);
    assert!(ok, "share: {err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let secret: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("hidden/secret.json")).expect("secret.json")).expect("JSON");
    assert_eq!(report["commitment"]["hash"], secret["commitment_hex"]);
    assert_eq!(report["commitment"]["range"], serde_json::json!([122, 125]));
    assert_eq!(report["contribution_id"], CID);
    let bundles = report["bundles"].as_array().expect("bundles");
    assert_eq!(bundles.len(), 3);
    let commitments = PathBuf::from(report["share_commitments_file"].as_str().expect("commitments file"));
    let public: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&commitments).expect("commitments.json")).expect("JSON");
    assert_eq!(public, report["share_commitments"]);
    assert_eq!(public["components"].as_array().expect("components").len(), 3);
    // The same commitments with c_1 changed, and with another verifying key.
    let mut changed = public.clone();
    changed["components"][1] = serde_json::json!("00".repeat(32));
    let changed_path = dir.path().join("changed.json");
    std::fs::write(&changed_path, changed.to_string()).expect("write");
    // Another verifying key and a changed c_1: a copy of component 1 that does not open it
    // needs the provider's signature, which the other key refuses. (Under another key alone
    // every copy opens its commitment and needs no signature: input-check.md.)
    let mut rekeyed = changed.clone();
    rekeyed["verifying_key"] = public["components"][0].clone();
    let rekeyed_path = dir.path().join("rekeyed.json");
    std::fs::write(&rekeyed_path, rekeyed.to_string()).expect("write");

    for (i, b) in bundles.iter().enumerate() {
        let file = PathBuf::from(b["file"].as_str().expect("file"));
        let bytes = std::fs::read(&file).expect("bundle file");
        let open_with = |commitments: &Path| {
            triad(&[
                "provider",
                "open",
                "--bundle",
                s(&file),
                "--key",
                s(&keys[i].0),
                "--dataset",
                "fixture-ds",
                "--contribution-id",
                CID,
                "--party",
                &i.to_string(),
                "--commitments",
                s(commitments),
            ])
        };
        let (ok, out, err) = open_with(&commitments);
        assert!(ok, "open bundle {i}: {err}");
        let opened: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        assert_eq!(opened["components_checked"], true);
        // Party i holds components i and i+1: parties 0 and 1 hold c_1.
        let (ok, _, err) = open_with(&changed_path);
        assert_eq!(ok, i == 2, "bundle {i} against a changed c_1: {err}");
        if i != 2 {
            assert!(err.contains("equivocated") && err.contains("component 1"), "{err}");
        }
        let (ok, _, err) = open_with(&rekeyed_path);
        if i == 2 {
            assert!(ok, "bundle 2 holds no copy of c_1: {err}");
        } else {
            assert!(!ok && err.contains("signature"), "bundle {i} against another key: {err}");
        }
        assert_eq!(opened["values"].as_array().map(Vec::len), Some(1), "one value");
        assert_eq!(opened["values"][0]["value_len"], 3, "the hidden value \"123\" is 3 bytes");
        assert_eq!(opened["values"][0]["commitment"]["hash"], secret["commitment_hex"]);
        assert_eq!(opened["sha256"], b["sha256"]);
        assert_eq!(b["sha256"].as_str().expect("hex").len(), 64);
        assert!(!out.contains("value_first") && bytes.len() > 100, "no share is printed");

        // Another party's key, or the right key for another party or dataset, does not open it.
        let other = (i + 1) % 3;
        for (key, party, dataset) in [(other, i, "fixture-ds"), (i, other, "fixture-ds"), (i, i, "other-ds")] {
            let (ok, _, err) = triad(&[
                "provider",
                "open",
                "--bundle",
                s(&file),
                "--key",
                s(&keys[key].0),
                "--dataset",
                dataset,
                "--contribution-id",
                CID,
                "--party",
                &party.to_string(),
            ]);
            assert!(!ok, "bundle {i} opened with key {key} as party {party} for {dataset}");
            assert!(err.contains("does not open"), "{err}");
        }
    }

    // Sharing again into the same directory refuses to overwrite without --force.
    let (ok, _, err) = share(dir.path(), &keys, &[]);
    assert!(!ok);
    assert!(err.contains("--force"), "{err}");
    let (ok, _, err) = share(dir.path(), &keys, &["--force"]);
    assert!(ok, "{err}");
}

#[test]
fn bad_input_gets_an_error_that_says_what_to_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = keygen(dir.path());

    // keygen never overwrites a secret key.
    let (ok, _, err) = triad(&["provider", "keygen", "--secret-out", s(&keys[0].0)]);
    assert!(!ok);
    assert!(err.contains("must not exist yet"), "{err}");

    // A missing party key is named.
    let (ok, _, err) = share(dir.path(), &keys[..2], &[]);
    assert!(!ok);
    assert!(err.contains("missing party 2"), "{err}");

    // A value that does not fit the dataset's format ("123" has 3 integer digits).
    let (ok, _, err) = share(dir.path(), &keys, &["--max-integer-digits", "2"]);
    assert!(!ok);
    assert!(err.contains("making the share bundles"), "{err}");
    assert!(!dir.path().join("bundles/bundle-0.bin").exists(), "nothing is written on failure");

    // A notary the presentation was not signed by.
    let wrong = "secp256k1:0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
    let (ok, _, err) = share_with(dir.path(), &keys, wrong, &[]);
    assert!(!ok);
    assert!(err.contains("does not verify"), "{err}");
}
