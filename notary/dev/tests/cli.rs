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
fn two_value_fields_write_a_secret_each_and_check_opens_both() {
    let dir = std::env::temp_dir().join(format!(
        "triad-dev-notary-cli2-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos()
    ));
    let fields = ["--value-field", "balance", "--value-field", "trades"];
    let out = bin()
        .args(["--account", "tok:u-42:3.14,trades=17"])
        .args(fields)
        .args(["issue", "--token", "tok", "--out"])
        .arg(&dir)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let issued: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(issued["values"][0]["field"], "balance");
    assert_eq!(issued["values"][1]["secret"], "secret-trades.json");
    for (file, value) in [("secret-balance.json", "3.14"), ("secret-trades.json", "17")] {
        let secret: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(file)).expect(file)).expect("json");
        assert_eq!(secret["value_utf8"], value);
    }
    assert!(!dir.join("secret.json").exists());

    let out = bin().args(fields).args(["check", "--dir"]).arg(&dir).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["uid"], "u-42");
    assert_eq!(report["values"][1]["field"], "trades");
    assert_eq!(report["secret_opens_commitment"], true);

    // With the balance's secret in the trades' file, trades does not open.
    std::fs::copy(dir.join("secret-balance.json"), dir.join("secret-trades.json")).expect("copy");
    let out = bin().args(fields).args(["check", "--dir"]).arg(&dir).output().expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("secret-trades.json does not open the commitment of trades"), "{stderr}");

    // The default template (balance alone) does not fit a presentation hiding two values.
    let out = bin().args(["check", "--dir"]).arg(&dir).output().expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected 1 hidden values"));

    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_account_without_a_value_field_is_refused() {
    let out = bin().args(["--value-field", "trades", "accounts"]).output().expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("account u-alice has no value trades"));
}

#[test]
fn a_bad_notary_secret_is_refused() {
    let out = bin().args(["--notary-secret", "abcd", "issue", "--token", "alice-token"]).output().expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("32 bytes"));
}
