//! Threshold-signed results among the real services (embedded event log, the signing
//! transport in memory): the parties generate the network key when they are all up; a
//! query's result is published only with a 2-of-3 signature that verifies under its dataset's
//! key with the network's public key alone; an operator's payload is signed under a request
//! key that is not a dataset's; a refresh keeps the public key, deletes the old shares, and the
//! next result is signed with the new ones.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use triad_dev_notary::Account;
use triad_eventlog::{Append, ExpectedVersion};
use triad_localnet::{Backend, DatasetSpec, LocalNet, Provider, Tuning};
use triad_proto::api::v1 as api;
use triad_proto::events::v1::{self as ev, event::Kind};
use triad_signing::{NetworkKey, VerifyError};

const N: usize = 6;

fn balance(i: usize) -> String {
    format!("{}.{:02}", 5 * i + 2, (13 * i) % 100)
}

async fn query(net: &LocalNet, sql: &str) -> triad_proto::events::v1::ResultPublished {
    let query = net
        .client
        .clone()
        .submit_query(api::SubmitQueryRequest { sql: sql.into(), requested_by: "test".into() })
        .await
        .unwrap()
        .into_inner();
    net.projector.wait_query(&query.query_id, Duration::from_secs(120)).await.unwrap()
}

fn check(key: &NetworkKey, r: &triad_proto::events::v1::ResultPublished) -> Result<(), VerifyError> {
    triad_network::verify_result(key, r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn results_are_threshold_signed_and_refresh_keeps_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let accounts: Vec<Account> =
        (0..N).map(|i| Account::new(&format!("s{i}"), &format!("v{i}"), &balance(i), "ETH").unwrap()).collect();
    let tuning = Tuning { party_connect_timeout_secs: 3, party_recv_timeout_secs: 10, session_timeout_secs: 30 };
    let net = LocalNet::start_tuned(dir.path(), Backend::Embedded, accounts, tuning).await.unwrap();
    let network = net.wait_up(Duration::from_secs(60)).await.unwrap();
    let keys = LocalNet::share_keys(&network).unwrap();
    let spec = DatasetSpec::balances("signed", 6, 2, 3);
    net.create_dataset(&spec).await.unwrap();
    let mut client = net.client.clone();
    for i in 0..N {
        let s = net.submission(&format!("s{i}"), &spec, &keys, Provider::Honest).await.unwrap();
        client.submit_contribution(s).await.unwrap();
    }
    net.wait_decided("signed", N as u64, Duration::from_secs(60), |_| {}).await.unwrap();
    let key = net.wait_key(Duration::from_secs(120)).await.unwrap();
    assert_eq!(key.epoch, 0);
    let pinned = triad_network::network_key(&key).unwrap();

    // A result, signed under its dataset's key.
    let first = query(&net, "SELECT count(*), sum(balance) FROM signed").await;
    assert_eq!(first.signature.len(), 64);
    assert_eq!(first.public_key, pinned.dataset_key("signed").unwrap().public_key.to_vec());
    check(&pinned, &first).unwrap();
    let sum: f64 = (0..N).map(|i| balance(i).parse::<f64>().unwrap()).sum();
    let answer = triad_network::answer_of(&first.values);
    assert_eq!(answer.rows[0][0], Some(N as f64));
    assert!((answer.rows[0][1].unwrap() - sum).abs() < 1e-6, "{answer:?}");
    // Altered values, another dataset, another network: the signature does not hold.
    let mut forged = first.clone();
    forged.values[1].value = "1".into();
    assert!(matches!(check(&pinned, &forged), Err(VerifyError::Forged)), "{:?}", check(&pinned, &forged));
    let mut other = first.clone();
    other.dataset_id = "other".into();
    assert!(check(&pinned, &other).is_err());

    // An operator's payload, under a request key: not a dataset's key, so it cannot pass for
    // a result.
    let payload = [7u8; 32];
    let request = net.operator_request(api::SignRequest { payload: payload.to_vec(), path: "signed".into() });
    let request_id = client.sign(request).await.unwrap().into_inner().request_id;
    let status = loop {
        let s = client.get_signature(api::GetSignatureRequest { request_id: request_id.clone() }).await.unwrap();
        let s = s.into_inner();
        if s.state != "requested" {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.state, "signed", "{}", status.reason);
    let request_key = pinned.request_key("signed").unwrap();
    assert_eq!(status.public_key, request_key.public_key.to_vec());
    assert_ne!(request_key.public_key, pinned.dataset_key("signed").unwrap().public_key);
    triad_signing::verify_digest(&request_key.public_key, &payload, &status.signature).unwrap();
    // Without the operator's token: refused.
    let refused = client.sign(api::SignRequest { payload: payload.to_vec(), path: "x".into() }).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");

    // A refresh: same public key, epoch 1, the parties keep only the new shares.
    client.refresh_key(net.operator_request(api::RefreshKeyRequest {})).await.unwrap();
    let refreshed = net.wait_key_epoch(1, Duration::from_secs(120)).await.unwrap();
    assert_eq!(refreshed.public_key, key.public_key);
    assert_eq!(refreshed.chain_code, key.chain_code);
    let second = query(&net, "SELECT avg(balance) FROM signed").await;
    check(&pinned, &second).unwrap();

    // A coordinator that asks for a statement the parties did not compute (the first query
    // with a doctored value) gets no signature: each signer refuses it.
    let mut doctored = first.values.clone();
    doctored[1].value = "1".into();
    let statement = triad_network::result_statement(&first.network_id, "signed", first.snapshot, &first.sql, &doctored);
    let request_id = vec![0xee; 16];
    let forged = ev::SigningRequested {
        request_id: request_id.clone(),
        purpose: triad_network::SIGN_SIGN.into(),
        session_id: vec![0xdd; 32],
        participants: vec![0, 1],
        attempt: 1,
        digest: statement.digest().to_vec(),
        dataset_id: "signed".into(),
        query_id: first.query_id.clone(),
        epoch: 1,
        ..Default::default()
    };
    let append = Append::new(
        triad_network::streams::signing(&request_id),
        ExpectedVersion::NoStream,
        vec![triad_network::event(Kind::SigningRequested(forged))],
    );
    net.coordinator_store().append(vec![append]).await.unwrap();
    // Every pair is asked in turn and refuses; after the last attempt the request is given up.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let (refusals, given_up) = loop {
        let log = net.coordinator_store().read_all(0, usize::MAX).await.unwrap();
        let (mut refusals, mut given_up) = (Vec::new(), None);
        for e in &log {
            match triad_network::decode(e).unwrap() {
                Some(Kind::SigningAborted(a)) if a.request_id == request_id && a.r#final => given_up = Some(a),
                Some(Kind::SigningAborted(a)) if a.request_id == request_id => refusals.push(a),
                Some(Kind::Signed(x)) if x.request_id == request_id => panic!("a doctored result was signed: {x:?}"),
                _ => {}
            }
        }
        if given_up.is_some() || std::time::Instant::now() > deadline {
            break (refusals, given_up);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let given_up = given_up.expect("the forged request given up");
    assert!(given_up.reason.starts_with("gave up after 5 attempts"), "{given_up:?}");
    // A refusal for each of the five attempts (both signers' when both landed before the next
    // attempt was asked).
    let attempts: std::collections::BTreeSet<&Vec<u8>> = refusals.iter().map(|a| &a.session_id).collect();
    assert_eq!(attempts.len(), 5, "{refusals:?}");
    for a in &refusals {
        assert!(a.reason.contains("not of a statement this party computed"), "{a:?}");
    }
    // The published result stands.
    let again = net.projector.wait_query(&first.query_id, Duration::from_secs(5)).await.unwrap();
    assert_eq!(again, first);
    net.stop(false).await;

    for party in triad_network::PARTIES {
        let state = triad_party::state::State::open(&dir.path().join(party).join("state.sqlite")).await.unwrap();
        assert!(state.key_share(0).await.unwrap().is_none(), "{party} kept its epoch-0 share");
        let sealed = state.key_share(1).await.unwrap().expect("the epoch-1 share");
        assert!(sealed.len() > 1000, "{party}'s sealed share is {} bytes", sealed.len());
        state.close().await;
    }
}
