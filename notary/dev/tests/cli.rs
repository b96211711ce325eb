//! The binary: `issue` writes the files, `check` verifies them as a
//! coordinator would.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_triad-dev-notary"))
}

#[test]
fn issue_then_check_round_trips_through_the_files() {
    let dir = std::env::temp_dir().join(format!(
        "triad-dev-notary-cli-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos()
    ));
    let out = bin()
        .args(["--account", "tok:u-42:3.14", "issue", "--token", "tok", "--out"])
        .arg(&dir)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("DEVELOPMENT ONLY"), "banner: {stderr}");
    for f in ["presentation.bin", "secret.json", "ca.der", "notary_key.txt"] {
        assert!(dir.join(f).is_file(), "{f} written");
    }
    let key = std::fs::read_to_string(dir.join("notary_key.txt")).expect("key");
    assert!(key.starts_with("secp256k1:"), "{key}");

    let out = bin().args(["check", "--dir"]).arg(&dir).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["uid"], "u-42");
    assert_eq!(report["secret_opens_commitment"], true);

    // A changed blinder in secret.json no longer opens the commitment.
    let secret = std::fs::read_to_string(dir.join("secret.json")).expect("secret");
    let mut v: serde_json::Value = serde_json::from_str(&secret).expect("json");
    let blinder = v["blinder_hex"].as_str().expect("hex").to_owned();
    let flipped = if blinder.starts_with('0') { "1" } else { "0" };
    v["blinder_hex"] = format!("{flipped}{}", &blinder[1..]).into();
    std::fs::write(dir.join("secret.json"), v.to_string()).expect("write");
    let out = bin().args(["check", "--dir"]).arg(&dir).output().expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not open the commitment"));

    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_notary_secret_is_refused() {
    let out = bin().args(["--notary-secret", "abcd", "issue", "--token", "alice-token"]).output().expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("32 bytes"));
}
