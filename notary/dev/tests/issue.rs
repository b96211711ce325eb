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
    assert_eq!(t.received.hidden(), std::slice::from_ref(&issued.secret.range));

    assert_eq!(v.unopened_commitments.len(), 1);
    let c = &v.unopened_commitments[0];
    assert_eq!(c.direction, Direction::Received);
    assert_eq!(c.ranges, vec![issued.secret.range.clone()]);
    assert_eq!(c.alg, HashAlg::Blake3);
    assert_eq!(c.hash.to_vec(), issued.secret.commitment);

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
        assert_eq!(m.value_range, issued.secret.range);
        assert_eq!(m.commitment.hash.to_vec(), issued.secret.commitment);
        assert_eq!(issued.secret.value, balance.as_bytes());
        assert_eq!(check_commitment(&m.commitment, &issued.secret.prover_secret()), Ok(()));
    }
}

#[tokio::test]
async fn the_commitment_check_rejects_any_changed_byte_of_value_or_blinder() {
    let notary = start().await;
    let issued = notary.issue("alice-token").await.expect("issues");
    let v = verify(&issued.presentation, &notary.verifier_config().expect("config")).expect("verifies");
    let c = &v.unopened_commitments[0];
    let secret = issued.secret.prover_secret();
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
    assert_eq!(m.commitment.alg, HashAlg::Sha256);
    assert_eq!(issued.secret.alg, HashAlg::Sha256);
    assert_eq!(check_commitment(&m.commitment, &issued.secret.prover_secret()), Ok(()));
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
    assert_eq!(issued.secret.value, b"-0.001");
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
    for spec in ["t:u:12,5", "t:u:1e5", "t:u:.5", "t:u:01", "t:u:", ":u:1", "t:u", "t:u:1:ETH:x"] {
        assert!(matches!(Account::parse(spec), Err(DevNotaryError::Config(_))), "{spec}");
    }
    assert!(Account::parse("t:u:0.50").is_ok());
}

#[tokio::test]
async fn the_secret_round_trips_through_json_and_stays_out_of_debug() {
    let notary = start().await;
    let issued = notary.issue("alice-token").await.expect("issues");
    let json = issued.secret.to_json();
    let parsed = IssuedSecret::from_json(&json).expect("parses");
    assert_eq!(parsed, issued.secret);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["direction"], "received");
    assert_eq!(v["value_utf8"], "12.345");
    assert_eq!(v["alg"], "blake3");
    assert_eq!(v["notary_key"], notary.notary_key().to_string());
    let debug = format!("{:?}", issued);
    assert!(!debug.contains(&hex::encode(issued.secret.blinder.0)));
    assert!(!debug.contains("12.345"));
}
