//! The development notary's presentations verify with the from-scratch
//! verifier, fit the dataset template, and open with the provider's secret.

use std::time::{SystemTime, UNIX_EPOCH};

use triad_dev_notary::{
    Account, CommitmentAlg, DevNotary, DevNotaryConfig, DevNotaryError, IssueOptions, IssuedSecret, NotarySecret,
};
use triad_notary::template::TemplateError;
use triad_notary::{Blinder, Direction, HashAlg, ProverSecret, VerifyError, check_commitment, verify};

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

async fn start() -> DevNotary {
    DevNotary::start(DevNotaryConfig::default()).await.expect("dev notary starts")
}

#[tokio::test]
async fn an_issued_presentation_verifies_with_the_pinned_key_and_the_test_ca() {
    let notary = start().await;
    assert!(notary.exchange_addr().ip().is_loopback());
    assert_ne!(notary.exchange_addr().port(), 0);
    let issued = notary.issue("alice-token").await.expect("issues");
    let v = verify(&issued.presentation, &notary.verifier_config().expect("config")).expect("verifies");

    assert_eq!(v.server_name.as_deref(), Some("exchange.triad.test"));
    assert_eq!(&v.notary_key, notary.notary_key());
    assert!(v.time.abs_diff(now()) < 60);
    let t = v.transcript.as_ref().expect("transcript");
    let sent = String::from_utf8(t.sent.redacted(b'X')).expect("utf8");
    assert_eq!(
        sent,
        "GET /api/v1/balance HTTP/1.1\r\nHost: exchange.triad.test\r\n\
         Authorization: Bearer XXXXXXXXXXX\r\nConnection: close\r\n\r\n",
        "everything but the bearer token is disclosed"
    );
    let received = String::from_utf8(t.received.redacted(b'X')).expect("utf8");
    assert!(received.ends_with(r#"{"uid":"u-alice","balance":XXXXXX,"asset":"ETH"}"#), "{received}");
    let [secret] = issued.secrets.as_slice() else { panic!("one secret") };
    assert_eq!(t.received.hidden(), std::slice::from_ref(&secret.range));

    assert_eq!(v.unopened_commitments.len(), 1);
    let c = &v.unopened_commitments[0];
    assert_eq!(c.direction, Direction::Received);
    assert_eq!(c.ranges, vec![secret.range.clone()]);
    assert_eq!(c.alg, HashAlg::Blake3);
    assert_eq!(c.hash.to_vec(), secret.commitment);

    // Upstream's layout: canonical bincode, fields 0..7, one Merkle leaf each.
    let decoded = triad_notary::wire::decode(&issued.presentation).expect("decodes");
    assert_eq!(triad_notary::wire::encode(&decoded), issued.presentation);
    assert_eq!(decoded.attestation.body.proof.tree_len, 7);
    assert_eq!(c.field_id, 6);
}

#[tokio::test]
async fn the_template_applies_and_yields_the_uid_and_the_commitment() {
    let notary = start().await;
    for (token, uid, balance) in
        [("alice-token", "u-alice", "12.345"), ("bob-token", "u-bob", "0.5"), ("carol-token", "u-carol", "1000")]
    {
        let issued = notary.issue(token).await.expect("issues");
        let v = verify(&issued.presentation, &notary.verifier_config().expect("config")).expect("verifies");
        let m = notary.template(3600).apply(&v, now()).expect("fits the template");
        assert_eq!(m.uid, uid);
        assert_eq!(m.server_name, "exchange.triad.test");
        let ([value], [secret]) = (m.values.as_slice(), issued.secrets.as_slice()) else { panic!("one value") };
        assert_eq!(value.field.to_string(), "balance");
        assert_eq!(value.range, secret.range);
        assert_eq!(value.commitment.hash.to_vec(), secret.commitment);
        assert_eq!(secret.value, balance.as_bytes());
        assert_eq!(check_commitment(&value.commitment, &secret.prover_secret()), Ok(()));
    }
}

#[tokio::test]
async fn the_commitment_check_rejects_any_changed_byte_of_value_or_blinder() {
    let notary = start().await;
    let issued = notary.issue("alice-token").await.expect("issues");
    let v = verify(&issued.presentation, &notary.verifier_config().expect("config")).expect("verifies");
    let c = &v.unopened_commitments[0];
    let secret = issued.secrets[0].prover_secret();
    for i in 0..secret.value.len() {
        let mut s = secret.clone();
        s.value[i] ^= 1;
        assert_eq!(check_commitment(c, &s), Err(VerifyError::CommitmentMismatch));
    }
    for i in 0..16 {
        let mut s = secret.clone();
        s.blinder.0[i] ^= 0x80;
        assert_eq!(check_commitment(c, &s), Err(VerifyError::CommitmentMismatch));
    }
    let longer = ProverSecret { value: b"12.3456".to_vec(), blinder: Blinder(secret.blinder.0) };
    assert!(matches!(check_commitment(c, &longer), Err(VerifyError::SecretLength { .. })));
}

#[tokio::test]
async fn sha256_commitments_are_available() {
    let notary =
        DevNotary::start(DevNotaryConfig { commitment_alg: CommitmentAlg::Sha256, ..DevNotaryConfig::default() })
            .await
            .expect("starts");
    let issued = notary.issue("bob-token").await.expect("issues");
    let v = verify(&issued.presentation, &notary.verifier_config().expect("config")).expect("verifies");
    let m = notary.template(60).apply(&v, now()).expect("fits");
    assert_eq!(m.values[0].commitment.alg, HashAlg::Sha256);
    assert_eq!(issued.secrets[0].alg, HashAlg::Sha256);
    assert_eq!(check_commitment(&m.values[0].commitment, &issued.secrets[0].prover_secret()), Ok(()));
}

#[tokio::test]
async fn a_presentation_for_another_server_name_fails_the_template() {
    let expected = start().await;
    let other =
        DevNotary::start(DevNotaryConfig { server_name: "other.triad.test".into(), ..DevNotaryConfig::default() })
            .await
            .expect("starts");
    let issued = other.issue("alice-token").await.expect("issues");
    let v = verify(&issued.presentation, &other.verifier_config().expect("config")).expect("verifies for its own name");
    let mut template = expected.template(3600);
    template.notary_keys.push(other.notary_key().clone());
    assert_eq!(
        template.apply(&v, now()),
        Err(TemplateError::WrongServer { expected: "exchange.triad.test".into(), found: "other.triad.test".into() })
    );
}

#[tokio::test]
async fn stale_and_future_presentations_fail_the_template() {
    let notary = start().await;
    let now = now();
    let template = notary.template(3600);
    let at = |time| IssueOptions { time: Some(time) };

    let stale = notary.issue_with("alice-token", at(now - 7200)).await.expect("issues");
    let v = verify(&stale.presentation, &notary.verifier_config().expect("config"))
        .expect("verifies: the certificate was valid then");
    assert_eq!(template.apply(&v, now), Err(TemplateError::Stale { time: now - 7200, now, window: 3600 }));

    let future = notary.issue_with("alice-token", at(now + 3600)).await.expect("issues");
    let v = verify(&future.presentation, &notary.verifier_config().expect("config")).expect("verifies");
    assert!(matches!(template.apply(&v, now), Err(TemplateError::FromTheFuture { .. })));
}

#[tokio::test]
async fn presentations_verify_only_against_this_notarys_key_and_ca() {
    let a = start().await;
    let b = start().await;
    let issued = a.issue("alice-token").await.expect("issues");
    // Another notary's key is not pinned.
    assert!(matches!(
        verify(&issued.presentation, &b.verifier_config().expect("config")),
        Err(VerifyError::UntrustedNotaryKey { .. })
    ));
    // The right key, but another test CA (or Mozilla's roots).
    let mut config = a.verifier_config().expect("config");
    config.trust_anchors = b.trust_anchors().expect("anchors");
    assert!(matches!(verify(&issued.presentation, &config), Err(VerifyError::UntrustedCertificateChain(_))));
    config.trust_anchors = triad_notary::TrustAnchors::mozilla();
    assert!(matches!(verify(&issued.presentation, &config), Err(VerifyError::UntrustedCertificateChain(_))));
}

#[tokio::test]
async fn a_configured_notary_secret_gives_its_key() {
    let notary = DevNotary::start(DevNotaryConfig {
        notary_secret: Some(NotarySecret([0x2a; 32])),
        ..DevNotaryConfig::default()
    })
    .await
    .expect("starts");
    // The upstream fixtures' notary key (secret: 32 bytes of 0x2a).
    assert_eq!(
        notary.notary_key().to_string(),
        "secp256k1:035be5e9478209674a96e60f1f037f6176540fd001fa1d64694770c56a7709c42c"
    );
    assert_eq!(format!("{:?}", NotarySecret([0x2a; 32])), "NotarySecret(..)");
}

#[tokio::test]
async fn configured_accounts_are_served_and_unknown_tokens_refused() {
    let notary = DevNotary::start(DevNotaryConfig {
        accounts: vec![Account::parse("t0k3n:u-123:-0.001:BTC").expect("account")],
        ..DevNotaryConfig::default()
    })
    .await
    .expect("starts");
    let issued = notary.issue("t0k3n").await.expect("issues");
    assert_eq!(issued.secrets[0].value, b"-0.001");
    let v = verify(&issued.presentation, &notary.verifier_config().expect("config")).expect("verifies");
    assert_eq!(notary.template(60).apply(&v, now()).expect("fits").uid, "u-123");

    match notary.issue("alice-token").await {
        Err(DevNotaryError::ExchangeStatus(status)) => {
            assert_eq!(status, "HTTP/1.1 401 Unauthorized")
        }
        other => panic!("expected a 401, got {other:?}"),
    }
}

#[test]
fn bad_accounts_are_refused() {
    for spec in [
        "t:u:12,5",
        "t:u:1e5",
        "t:u:.5",
        "t:u:01",
        "t:u:",
        ":u:1",
        "t:u",
        "t:u:1:ETH:x",
        "t:u:1,trades",
        "t:u:1,trades=",
        "t:u:1,trades=1e3",
        "t:u:1,=1",
        "t:u:1,tr.ades=1",
        "t:u:1,balance=1",
        "t:u:1,uid=1",
        "t:u:1,asset=1",
        "t:u:1,trades=1,trades=2",
    ] {
        assert!(matches!(Account::parse(spec), Err(DevNotaryError::Config(_))), "{spec}");
    }
    assert!(Account::parse("t:u:0.50").is_ok());
    let a = Account::parse("t:u:0.50:BTC,trades=17,fee_rate-x=0.001").expect("valid");
    assert_eq!((a.balance.as_str(), a.asset.as_str()), ("0.50", "BTC"));
    assert_eq!(a.values, vec![("trades".into(), "17".into()), ("fee_rate-x".into(), "0.001".into())]);
    assert_eq!(
        a,
        Account::new("t", "u", "0.50", "BTC")
            .and_then(|a| a.with_value("trades", "17"))
            .and_then(|a| a.with_value("fee_rate-x", "0.001"))
            .expect("valid")
    );
}

#[tokio::test]
async fn the_secret_round_trips_through_json_and_stays_out_of_debug() {
    let notary = start().await;
    let issued = notary.issue("alice-token").await.expect("issues");
    let json = issued.secrets[0].to_json();
    let parsed = IssuedSecret::from_json(&json).expect("parses");
    assert_eq!(parsed, issued.secrets[0]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["direction"], "received");
    assert_eq!(v["value_utf8"], "12.345");
    assert_eq!(v["alg"], "blake3");
    assert_eq!(v["notary_key"], notary.notary_key().to_string());
    let debug = format!("{:?}", issued);
    assert!(!debug.contains(&hex::encode(issued.secrets[0].blinder.0)));
    assert!(!debug.contains("12.345"));
}

// --- several value fields -----------------------------------------------------

fn two_field_config() -> DevNotaryConfig {
    DevNotaryConfig {
        value_fields: vec!["trades".into(), "balance".into()],
        accounts: vec![
            Account::parse("alice-token:u-alice:12.345:ETH,trades=17").expect("account"),
            Account::parse("bob-token:u-bob:0.5,fees=1,trades=-3.25").expect("account"),
        ],
        ..DevNotaryConfig::default()
    }
}

#[tokio::test]
async fn a_two_field_presentation_verifies_and_yields_both_values_in_template_order() {
    let notary = DevNotary::start(two_field_config()).await.expect("starts");
    assert_eq!(notary.value_fields(), ["trades", "balance"]);
    for (token, uid, trades, balance) in
        [("alice-token", "u-alice", "17", "12.345"), ("bob-token", "u-bob", "-3.25", "0.5")]
    {
        let issued = notary.issue(token).await.expect("issues");
        let v = verify(&issued.presentation, &notary.verifier_config().expect("config")).expect("verifies");
        let received =
            String::from_utf8(v.transcript.as_ref().expect("transcript").received.redacted(b'X')).expect("utf8");
        let x = |s: &str| "X".repeat(s.len());
        assert!(received.contains(&format!(r#""balance":{},"#, x(balance))), "{received}");
        assert!(received.contains(&format!(r#""trades":{}"#, x(trades))), "{received}");
        assert_eq!(v.unopened_commitments.len(), 2);

        let template = notary.template(3600);
        let fields: Vec<String> = template.value_fields.iter().map(ToString::to_string).collect();
        assert_eq!(fields, ["trades", "balance"]);
        let m = template.apply(&v, now()).expect("fits the template");
        assert_eq!(m.uid, uid);
        assert_eq!(m.values.len(), 2);
        assert_eq!(issued.secrets.len(), 2);
        for ((value, secret), (field, digits)) in
            m.values.iter().zip(&issued.secrets).zip([("trades", trades), ("balance", balance)])
        {
            assert_eq!(value.field.to_string(), field);
            assert_eq!(value.range, secret.range);
            assert_eq!(secret.value, digits.as_bytes());
            assert_eq!(value.commitment.hash.to_vec(), secret.commitment);
            assert_eq!(check_commitment(&value.commitment, &secret.prover_secret()), Ok(()), "{field}");
        }
        // Each value has its own blinder; a secret does not open the other commitment.
        assert_ne!(issued.secrets[0].blinder, issued.secrets[1].blinder);
        assert!(check_commitment(&m.values[0].commitment, &issued.secrets[1].prover_secret()).is_err());
        // Secret-free Debug.
        let debug = format!("{issued:?}");
        for s in &issued.secrets {
            assert!(!debug.contains(&hex::encode(s.blinder.0)));
        }
        assert!(!debug.contains(balance), "{debug}");

        // A template asking for the balance alone does not fit: two values are hidden.
        let mut one = notary.template(3600);
        one.value_fields.remove(0);
        assert_eq!(one.apply(&v, now()), Err(TemplateError::HiddenValueCount { expected: 1, found: 2 }));
    }
}

#[tokio::test]
async fn every_account_needs_every_value_field_and_fields_are_checked() {
    let start_err = |config: DevNotaryConfig| async move {
        match DevNotary::start(config).await {
            Err(DevNotaryError::Config(m)) => m,
            other => panic!("expected a configuration error, got {other:?}"),
        }
    };
    // The demo accounts have a balance only.
    let m = start_err(DevNotaryConfig {
        value_fields: vec!["balance".into(), "trades".into()],
        ..DevNotaryConfig::default()
    })
    .await;
    assert!(m.contains("account u-alice has no value trades"), "{m}");
    for (fields, says) in [
        (vec![], "not 0"),
        (vec!["balance", "balance"], "named twice"),
        (vec!["uid"], "discloses"),
        (vec!["asset"], "discloses"),
        (vec!["data.balance"], "top-level key"),
    ] {
        let value_fields = fields.into_iter().map(String::from).collect();
        let m = start_err(DevNotaryConfig { value_fields, ..DevNotaryConfig::default() }).await;
        assert!(m.contains(says), "{m}");
    }
    assert!(two_field_config().validate().is_ok());
}
