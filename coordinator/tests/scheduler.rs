//! Sessions with fake parties written as real stores: each party's store is registered on the
//! same in-process bus with its own relay; the test appends its membership, heartbeats and
//! reports there, as a party would, and reads the coordinator's verdicts from its store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use triad_network::streams;
use triad_proto::api::v1 as api;
use triad_proto::events::v1::{self as ev, event::Kind};

/// Submits `sql` as requester "t"; the coordinator must take it.
async fn submit_query(net: &Net, sql: &str) -> api::SubmitQueryResponse {
    net.client
        .clone()
        .submit_query(api::SubmitQueryRequest { sql: sql.into(), requested_by: "t".into() })
        .await
        .unwrap()
        .into_inner()
}

/// The `n`-th `SessionOpened` of the coordinator's log (0-based), once it exists.
async fn opened(net: &Net, n: usize) -> ev::SessionOpened {
    eventually("a session to open", || async move {
        net.events()
            .await
            .into_iter()
            .filter_map(|(_, _, k)| match k {
                Kind::SessionOpened(o) => Some(o),
                _ => None,
            })
            .nth(n)
    })
    .await
}

async fn closed(net: &Net, session_id: &[u8]) -> ev::SessionClosed {
    eventually("the session to close", || async move {
        net.events().await.into_iter().find_map(|(_, _, k)| match k {
            Kind::SessionClosed(c) if c.session_id == session_id => Some(c),
            _ => None,
        })
    })
    .await
}

fn shares_accepted(party: usize, session: &ev::SessionOpened, accepted: &[Vec<u8>], rejected: &[Vec<u8>]) -> Kind {
    Kind::SharesAccepted(ev::SharesAccepted {
        session_id: session.session_id.clone(),
        party: party as u32,
        contribution_ids: accepted.to_vec(),
        rejected_ids: Vec::new(),
        rejections: rejected
            .iter()
            .map(|id| ev::Rejection {
                contribution_id: id.clone(),
                reason: "commitment_mismatch".into(),
                detail: "the value does not open the commitment".into(),
            })
            .collect(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_verdicts_retries_and_queries() {
    let mut cfg = config();
    cfg.batch_max = 2;
    cfg.batch_linger_ms = 60_000;
    let mut net = Net::start(cfg).await;
    let parties = net.parties().await;
    parties.keep_beating(&[0, 1, 2], net.stopper());
    net.create_dataset().await;
    let a = net.submission("alice-token", [0xa; 16]).await;
    let b = net.submission("bob-token", [0xb; 16]).await;
    net.client.submit_contribution(a).await.unwrap();
    net.client.submit_contribution(b).await.unwrap();
    let (ida, idb) = (vec![0xa; 16], vec![0xb; 16]);

    // A full batch opens; party 1 aborts it: the session fails and the batch reopens.
    let first = opened(&net, 0).await;
    assert_eq!(first.purpose, triad_network::PURPOSE_INPUT_CHECK);
    assert_eq!((first.contribution_ids.clone(), first.attempt), (vec![ida.clone(), idb.clone()], 1));
    parties
        .report(
            1,
            &streams::session(&first.session_id),
            Kind::SessionAborted(ev::SessionAborted {
                session_id: first.session_id.clone(),
                party: 1,
                reason: "peer_lost".into(),
                blamed_party: Some(2),
                step: "connect".into(),
            }),
        )
        .await;
    let c = closed(&net, &first.session_id).await;
    assert!(!c.succeeded);
    assert_eq!(c.reason, "party_aborted");

    let second = opened(&net, 1).await;
    assert_eq!((second.contribution_ids.clone(), second.attempt), (vec![ida.clone(), idb.clone()], 2));
    // A late report for the closed session changes nothing.
    parties
        .report(0, &streams::session(&first.session_id), shares_accepted(0, &first, std::slice::from_ref(&ida), &[]))
        .await;

    // Three agreeing reports: a accepted, b rejected.
    for p in 0..3 {
        let report = shares_accepted(p, &second, std::slice::from_ref(&ida), std::slice::from_ref(&idb));
        parties.report(p, &streams::session(&second.session_id), report).await;
    }
    let c = closed(&net, &second.session_id).await;
    assert!(c.succeeded, "{c:?}");
    let events = net.events().await;
    let accepted: Vec<_> = events
        .iter()
        .filter_map(|(stream, _, k)| match k {
            Kind::ContributionsAccepted(x) => Some((stream.clone(), x.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].0, streams::session(&second.session_id), "in the session's stream");
    assert_eq!(
        (accepted[0].1.contribution_ids.clone(), accepted[0].1.session_id.clone()),
        (vec![ida.clone()], second.session_id.clone())
    );
    assert!(!events.iter().any(|(_, _, k)| matches!(k, Kind::ContributionAccepted(_))), "no verdict per contribution");
    let rejected: Vec<_> = events
        .iter()
        .filter_map(|(_, _, k)| match k {
            Kind::ContributionRejected(x) => Some(x.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(
        (rejected[0].contribution_id.clone(), rejected[0].reason.as_str()),
        (idb.clone(), "commitment_mismatch")
    );
    let late = events
        .iter()
        .filter(|(s, _, k)| s == &streams::session(&first.session_id) && matches!(k, Kind::SharesAccepted(_)))
        .count();
    assert_eq!(late, 0, "a report for a closed session is not recorded");

    // A query: three equal results are published.
    let q = submit_query(&net, "SELECT count(*) FROM eth_balance").await;
    let third = opened(&net, 2).await;
    assert_eq!((third.purpose.as_str(), third.query_id.clone(), third.attempt), ("query", q.query_id.clone(), 1));
    let values = vec![ev::ResultValue { name: "count".into(), value: "1.0".into(), row: 0, null: false }];
    for p in 0..3 {
        let stream = streams::query(&q.query_id);
        parties
            .report(
                p,
                &stream,
                Kind::QueryStarted(ev::QueryStarted {
                    query_id: q.query_id.clone(),
                    session_id: third.session_id.clone(),
                    snapshot: third.snapshot,
                    cohort: 1,
                    party: p as u32,
                }),
            )
            .await;
        parties
            .report(
                p,
                &stream,
                Kind::ResultComputed(ev::ResultComputed {
                    query_id: q.query_id.clone(),
                    party: p as u32,
                    values: values.clone(),
                    network_id: "triad-devnet".into(),
                    session_id: third.session_id.clone(),
                    ..Default::default()
                }),
            )
            .await;
    }
    // Agreed: the result waits for its signature. The parties make the network key, then the
    // requested pair signs; a signature that does not verify is blamed on its signer and the
    // request goes to the next pair.
    let shares = keygen(&net, &parties).await;
    let request = signing_requested(&net, triad_network::SIGN_SIGN, 0).await;
    assert_eq!((request.request_id.as_slice(), request.dataset_id.as_str()), (q.query_id.as_slice(), "eth_balance"));
    assert_eq!(request.participants, vec![0, 1]);
    let statement = triad_network::result_statement(
        "triad-devnet",
        "eth_balance",
        third.snapshot,
        "SELECT count(*) FROM eth_balance",
        &values,
    );
    assert_eq!(request.digest, statement.digest().to_vec());
    sign(&parties, &shares, &request, true).await;
    let retry = signing_requested(&net, triad_network::SIGN_SIGN, 1).await;
    assert_eq!((retry.attempt, retry.participants.clone()), (2, vec![1, 2]));
    assert_ne!(retry.session_id, request.session_id);
    let blamed = net.events().await.into_iter().find_map(|(_, _, k)| match k {
        Kind::SigningAborted(a) => Some(a),
        _ => None,
    });
    assert_eq!(blamed.map(|a| a.blamed_party), Some(Some(0)));
    sign(&parties, &shares, &retry, false).await;
    let query_stream = streams::query(&q.query_id);
    let (netr, stream) = (&net, &query_stream);
    let published = eventually("the result", || async move {
        netr.events().await.into_iter().find_map(|(s, _, k)| match k {
            Kind::ResultPublished(r) if &s == stream => Some(r),
            _ => None,
        })
    })
    .await;
    assert_eq!(published.values, values);
    assert_eq!(
        (published.rows, published.snapshot, published.sql.as_str()),
        (1, third.snapshot, "SELECT count(*) FROM eth_balance")
    );
    let network_key = shares[0].network_key();
    let expected = triad_signing::Expectation {
        network_id: "triad-devnet".into(),
        dataset_id: "eth_balance".into(),
        min_snapshot: 0,
    };
    triad_signing::verify(&network_key, &statement, &published.signature, &expected).unwrap();
    assert_eq!(published.public_key, network_key.dataset_key("eth_balance").unwrap().public_key.to_vec());
    assert!(closed(&net, &third.session_id).await.succeeded);

    let network = net.client.get_network(api::GetNetworkRequest {}).await.unwrap().into_inner();
    assert!(network.parties.iter().all(|p| p.up), "{:?}", network.parties);
    assert_eq!(network.parties[2].operator_name, "operator 2");
    let d = &network.datasets[0];
    assert_eq!((d.submitted, d.accepted, d.rejected, d.pending), (2, 1, 1, 0));
    assert_eq!(network.queries_queued, 0);

    // A restarted coordinator folds the same state from its log.
    net.coordinator.shutdown().await;
    let restarted = triad_coordinator::Coordinator::start(
        config(),
        Vec::new(),
        net.store.clone(),
        std::sync::Arc::new(net.bus.clone()),
    )
    .await
    .unwrap();
    assert_eq!(restarted.applied_position().await.unwrap(), net.store.head().await.unwrap());
    restarted.shutdown().await;
    net.stop().await;
}

/// The tokens of the four accounts the notary serves.
const TOKENS: [&str; 4] = ["alice-token", "bob-token", "dave-token", "erin-token"];

/// A coordinator whose batches hold at most `batch_max` contributions and never open for the
/// linger alone, its three parties beating, the dataset created.
async fn batching_net(batch_max: usize) -> (Net, FakeParties) {
    let mut cfg = config();
    cfg.batch_max = batch_max;
    cfg.batch_linger_ms = 60_000;
    let mut net = Net::start(cfg).await;
    let parties = net.parties().await;
    parties.keep_beating(&[0, 1, 2], net.stopper());
    net.create_dataset().await;
    (net, parties)
}

/// The position of the event `pick` selects, once it exists.
async fn position_of(net: &Net, what: &str, pick: impl Fn(&str, &Kind) -> bool + Copy) -> u64 {
    eventually(what, || async move { net.events().await.into_iter().find(|(s, _, k)| pick(s, k)).map(|(_, p, _)| p) })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_queues_behind_the_running_one_and_a_third_waits_for_a_verdict() {
    let (net, parties) = batching_net(2).await;
    let ids: Vec<Vec<u8>> = (0..4u8).map(|i| vec![0xa0 + i; 16]).collect();
    let submit = |i: usize| {
        let net = &net;
        async move {
            let s = net.submission(TOKENS[i], [0xa0 + i as u8; 16]).await;
            net.client.clone().submit_contribution(s).await.unwrap();
        }
    };
    submit(0).await;
    submit(1).await;
    let first = opened(&net, 0).await;
    assert_eq!(first.contribution_ids, ids[..2].to_vec());

    // One more, not a full batch and smaller than the running one: queued behind it once
    // submissions pause, while the first is still open (no verdict yet).
    submit(2).await;
    let second = opened(&net, 1).await;
    assert_eq!(second.contribution_ids, ids[2..3].to_vec());
    let first_stream = streams::session(&first.session_id);
    assert!(
        !net.events()
            .await
            .iter()
            .any(|(_, _, k)| matches!(k, Kind::SessionClosed(c) if c.session_id == first.session_id)),
        "the second opened behind the first, not after it"
    );

    // Two are open: the fourth waits for a verdict, then opens behind the second.
    submit(3).await;
    for p in 0..3 {
        parties.report(p, &first_stream, shares_accepted(p, &first, &first.contribution_ids, &[])).await;
    }
    assert!(closed(&net, &first.session_id).await.succeeded);
    let third = opened(&net, 2).await;
    assert_eq!(third.contribution_ids, ids[3..].to_vec());
    let first_closed = position_of(
        &net,
        "the first's closure",
        |_, k| matches!(k, Kind::SessionClosed(c) if c.session_id == first.session_id),
    )
    .await;
    let third_opened = position_of(
        &net,
        "the third's opening",
        |_, k| matches!(k, Kind::SessionOpened(o) if o.session_id == third.session_id),
    )
    .await;
    assert!(third_opened > first_closed, "at most two sessions open at once");
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn query_aborts_are_retried_then_final() {
    let mut cfg = config();
    cfg.max_query_attempts = 2;
    let mut net = Net::start(cfg).await;
    let parties = net.parties().await;
    parties.keep_beating(&[0, 1, 2], net.stopper());
    net.create_dataset().await;
    let q = submit_query(&net, "SELECT count(*) FROM eth_balance").await;
    let abort = |s: &ev::SessionOpened, reason: &str| {
        Kind::QueryAborted(ev::QueryAborted {
            query_id: q.query_id.clone(),
            reason: reason.into(),
            blamed_party: None,
            step: "mpc".into(),
            party: Some(0),
            session_id: s.session_id.clone(),
            r#final: false,
        })
    };
    let first = opened(&net, 0).await;
    parties.report(0, &streams::query(&q.query_id), abort(&first, "mac_check_failed")).await;
    assert!(!closed(&net, &first.session_id).await.succeeded);
    let second = opened(&net, 1).await;
    assert_eq!((second.query_id.clone(), second.attempt), (q.query_id.clone(), 2));
    parties.report(0, &streams::query(&q.query_id), abort(&second, "mac_check_failed")).await;
    let query_stream = streams::query(&q.query_id);
    let (netr, stream) = (&net, &query_stream);
    let aborted = eventually("the final abort", || async move {
        netr.events().await.into_iter().find_map(|(s, _, k)| match k {
            Kind::QueryAborted(a) if a.r#final && &s == stream => Some(a),
            _ => None,
        })
    })
    .await;
    assert_eq!(aborted.reason, "gave up after 2 attempts: mac_check_failed");
    let network = net.client.get_network(api::GetNetworkRequest {}).await.unwrap().into_inner();
    assert_eq!(network.queries_queued, 0);
    net.stop().await;
}

/// Several scheduler ticks (100 ms) pass without a session, because party 2 is `why`; then party
/// 2 beats, caught up, and the one submitted contribution's batch opens.
async fn party_2_holds_the_batch_until_it_beats(net: Net, parties: &FakeParties, why: &str) {
    tokio::time::sleep(Duration::from_millis(600)).await;
    let opened_any = net.events().await.iter().any(|(_, _, k)| matches!(k, Kind::SessionOpened(_)));
    assert!(!opened_any, "a session opened while party 2 was {why}");
    parties.heartbeat(2, now_unix()).await;
    let s = opened(&net, 0).await;
    assert_eq!(s.contribution_ids, vec![vec![0xa; 16]]);
    net.stop().await;
}

/// A coordinator batching each contribution alone, with parties 0 and 1 beating and party 2
/// left to the test.
async fn parties_0_and_1_beating() -> (Net, FakeParties) {
    let mut cfg = config();
    cfg.batch_max = 1;
    let net = Net::start(cfg).await;
    let parties = net.parties().await;
    parties.keep_beating(&[0, 1], net.stopper());
    (net, parties)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_session_while_a_party_is_down() {
    let (mut net, parties) = parties_0_and_1_beating().await;
    parties.heartbeat(2, now_unix() - 60).await;
    net.create_dataset().await;
    let a = net.submission("alice-token", [0xa; 16]).await;
    net.client.submit_contribution(a).await.unwrap();

    // The coordinator has heard all three: two up, party 2 down.
    let client = net.client.clone();
    eventually("party 2 to be seen down", || {
        let mut client = client.clone();
        async move {
            let n = client.get_network(api::GetNetworkRequest {}).await.unwrap().into_inner();
            let seen = n.parties.iter().all(|p| p.last_heartbeat_unix > 0);
            (seen && n.parties[0].up && n.parties[1].up && !n.parties[2].up).then_some(())
        }
    })
    .await;
    party_2_holds_the_batch_until_it_beats(net, &parties, "down").await;
}

/// A restarted party joins again and then folds the coordinator's log from where its killed
/// process stopped (what it never acknowledged comes back only after `ack_wait`). Until its
/// heartbeats report it folded up to its join, no session opens: it would miss the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_session_until_a_rejoined_party_has_caught_up() {
    let (mut net, parties) = parties_0_and_1_beating().await;
    net.create_dataset().await;
    // Party 2 restarts: up (a fresh heartbeat) but stuck at the start of the log.
    parties.heartbeat_folded(2, now_unix(), 0).await;
    parties.rejoin(2).await;
    eventually("the coordinator to record party 2's second join", || async {
        let joins =
            net.events().await.iter().filter(|(_, _, k)| matches!(k, Kind::PartyJoined(j) if j.party == 2)).count();
        (joins == 2).then_some(())
    })
    .await;
    let a = net.submission("alice-token", [0xa; 16]).await;
    net.client.submit_contribution(a).await.unwrap();
    party_2_holds_the_batch_until_it_beats(net, &parties, "still catching up").await;
}

/// Membership is part of the coordinator's log: restarted, it knows the parties (their share
/// keys) without their joining again, and it records each `PartyJoined` once per delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_coordinator_remembers_its_members() {
    let mut net = Net::start(config()).await;
    let _parties = net.parties().await;
    let members = |n: &Net| {
        let mut client = n.client.clone();
        async move {
            let network = client.get_network(api::GetNetworkRequest {}).await.unwrap().into_inner();
            network.parties.iter().filter(|p| !p.share_public_key.is_empty()).count()
        }
    };
    eventually("three members", || async { (members(&net).await == 3).then_some(()) }).await;
    let recorded = |events: &[(String, u64, Kind)]| {
        events.iter().filter(|(s, _, k)| s.starts_with("member-") && matches!(k, Kind::PartyJoined(_))).count()
    };
    // The members are known in memory when a `PartyJoined` is handled; its record commits with
    // the subscriber's checkpoint right after.
    eventually("three members recorded", || async { (recorded(&net.events().await) == 3).then_some(()) }).await;

    net.restart(config()).await;
    assert_eq!(members(&net).await, 3, "members forgotten by a restarted coordinator");
    let network = net.client.get_network(api::GetNetworkRequest {}).await.unwrap().into_inner();
    for (i, p) in network.parties.iter().enumerate() {
        assert_eq!(p.share_public_key, net.party_keys[i].1.to_bytes().to_vec());
    }
    assert_eq!(recorded(&net.events().await), 3);
    net.stop().await;
}

/// A refusal below `min_cohort` ends a query only when all three parties refuse: one party's
/// refusal (a corrupt party's, say) beside two results is a failed attempt, retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refusal_is_final_only_when_all_three_refuse() {
    let mut net = Net::start(config()).await;
    let parties = net.parties().await;
    parties.keep_beating(&[0, 1, 2], net.stopper());
    net.create_dataset().await;
    let q = submit_query(&net, "SELECT count(*) FROM eth_balance").await;
    let stream = streams::query(&q.query_id);
    let refuse = |s: &ev::SessionOpened, p: u32| {
        Kind::QueryAborted(ev::QueryAborted {
            query_id: q.query_id.clone(),
            reason: "below_min_cohort".into(),
            step: "min_cohort 10".into(),
            party: Some(p),
            session_id: s.session_id.clone(),
            ..Default::default()
        })
    };
    let computed = |s: &ev::SessionOpened, p: u32| {
        Kind::ResultComputed(ev::ResultComputed {
            query_id: q.query_id.clone(),
            party: p,
            session_id: s.session_id.clone(),
            values: vec![ev::ResultValue { name: "count".into(), value: "12.0".into(), row: 0, null: false }],
            ..Default::default()
        })
    };
    let first = opened(&net, 0).await;
    parties.report(0, &stream, refuse(&first, 0)).await;
    parties.report(1, &stream, computed(&first, 1)).await;
    parties.report(2, &stream, computed(&first, 2)).await;
    let c = closed(&net, &first.session_id).await;
    assert!(!c.succeeded);
    assert_eq!(c.reason, "reports_disagree", "{c:?}");
    let second = opened(&net, 1).await;
    assert_eq!((second.query_id.clone(), second.attempt), (q.query_id.clone(), 2));
    assert!(
        !net.events().await.iter().any(|(_, _, k)| matches!(k, Kind::QueryAborted(a) if a.r#final)),
        "one refusal must not end the query"
    );

    for p in 0..3 {
        parties.report(p as usize, &stream, refuse(&second, p)).await;
    }
    let (netr, s) = (&net, &stream);
    let aborted = eventually("the final refusal", || async move {
        netr.events().await.into_iter().find_map(|(st, _, k)| match k {
            Kind::QueryAborted(a) if a.r#final && &st == s => Some(a),
            _ => None,
        })
    })
    .await;
    assert_eq!(aborted.reason, "below_min_cohort");

    // Declared ranges too wide for exact evaluation: all three refuse at once, final too.
    let q2 = submit_query(&net, "SELECT stddev(balance) FROM eth_balance").await;
    let stream2 = streams::query(&q2.query_id);
    let third = opened(&net, 2).await;
    assert_eq!(third.query_id, q2.query_id);
    let reason = "exactness_bound: second moments over 996 rows need the declared half-ranges to satisfy ...";
    for p in 0..3u32 {
        let refusal = Kind::QueryAborted(ev::QueryAborted {
            query_id: q2.query_id.clone(),
            reason: reason.into(),
            step: "plan".into(),
            party: Some(p),
            session_id: third.session_id.clone(),
            ..Default::default()
        });
        parties.report(p as usize, &stream2, refusal).await;
    }
    let (netr, s2) = (&net, &stream2);
    let aborted = eventually("the final exactness refusal", || async move {
        netr.events().await.into_iter().find_map(|(st, _, k)| match k {
            Kind::QueryAborted(a) if a.r#final && &st == s2 => Some(a),
            _ => None,
        })
    })
    .await;
    assert_eq!(aborted.reason, reason);
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn key_generation_then_scheduled_refreshes_and_operator_signatures() {
    let mut cfg = config();
    cfg.key_refresh_secs = 1;
    let mut net = Net::start(cfg).await;
    let parties = net.parties().await;
    // No key generation while a party is missing.
    parties.keep_beating(&[0, 1], net.stopper());
    let sign_request = |token: Option<&str>| {
        let request = api::SignRequest { payload: vec![5; 32], path: "ops/1".into() };
        match token {
            Some(t) => with_token(request, t),
            None => tonic::Request::new(request),
        }
    };
    let early = net.client.sign(sign_request(Some(OPERATOR_TOKEN))).await.unwrap_err();
    assert_eq!(early.code(), tonic::Code::FailedPrecondition, "{early:?}");
    parties.keep_beating(&[2], net.stopper());
    let shares = keygen(&net, &parties).await;
    let network = net.client.get_network(api::GetNetworkRequest {}).await.unwrap().into_inner();
    let key = network.key.expect("the key");
    assert_eq!(
        (key.public_key, key.chain_code, key.epoch),
        (shares[0].public_key().to_vec(), shares[0].chain_code().to_vec(), 0)
    );

    // An operator's payload: signed under the request key of its path.
    let refused = net.client.sign(sign_request(None)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    let bad = net
        .client
        .sign(with_token(api::SignRequest { payload: vec![5; 31], path: "ops/1".into() }, OPERATOR_TOKEN))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument, "{bad:?}");
    let id = net.client.sign(sign_request(Some(OPERATOR_TOKEN))).await.unwrap().into_inner().request_id;
    let request = signing_requested(&net, triad_network::SIGN_SIGN, 0).await;
    assert_eq!(
        (request.request_id.clone(), request.path.as_str(), request.digest.clone()),
        (id.clone(), "ops/1", vec![5; 32])
    );
    sign(&parties, &shares, &request, false).await;
    let client = net.client.clone();
    let status = eventually("the signature", || {
        let (mut client, id) = (client.clone(), id.clone());
        async move {
            let s = client.get_signature(api::GetSignatureRequest { request_id: id }).await.unwrap().into_inner();
            (s.state == "signed").then_some(s)
        }
    })
    .await;
    let request_key = shares[0].network_key().request_key("ops/1").unwrap();
    assert_eq!(status.public_key, request_key.public_key.to_vec());
    triad_signing::verify_digest(&request_key.public_key, &[5; 32], &status.signature).unwrap();

    // The schedule (every second here) asks for a refresh to epoch 1; the coordinator records
    // it once all three report the same public key at that epoch.
    let refresh = signing_requested(&net, triad_network::SIGN_REFRESH, 0).await;
    assert_eq!((refresh.epoch, refresh.participants.clone()), (1, vec![0, 1, 2]));
    let session = triad_signing::SessionId(refresh.session_id.as_slice().try_into().unwrap());
    let runs = shares.iter().map(|s| triad_signing::refresh::start(s, session).unwrap()).collect();
    let fresh: Vec<triad_signing::KeyShare> = triad_signing::local::run(runs).into_iter().map(|s| s.unwrap()).collect();
    for (i, share) in fresh.iter().enumerate() {
        let r = ev::KeyRefreshed {
            key_id: Vec::new(),
            epoch: 1,
            party: Some(i as u32),
            public_key: share.public_key().to_vec(),
            request_id: refresh.request_id.clone(),
            session_id: refresh.session_id.clone(),
        };
        parties.report(i, &streams::signing(&refresh.request_id), Kind::KeyRefreshed(r)).await;
    }
    let client = net.client.clone();
    let key = eventually("epoch 1", || {
        let mut client = client.clone();
        async move {
            let n = client.get_network(api::GetNetworkRequest {}).await.unwrap().into_inner();
            n.key.filter(|k| k.epoch == 1)
        }
    })
    .await;
    assert_eq!(key.public_key, shares[0].public_key().to_vec());
    net.stop().await;
}

/// A batch that keeps failing is split until the contribution that fails it is alone; that one
/// backs off and is tried again later, never rejected for failing; the others get through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_that_keeps_failing_is_bisected_and_a_lone_failure_backs_off() {
    let (mut net, parties) = batching_net(4).await;
    let ids: Vec<Vec<u8>> = (0..4u8).map(|i| vec![0xc0 + i; 16]).collect();
    for (token, id) in TOKENS.iter().zip(&ids) {
        let s = net.submission(token, id.as_slice().try_into().unwrap()).await;
        net.client.submit_contribution(s).await.unwrap();
    }
    let fail = |s: &ev::SessionOpened| {
        Kind::SessionAborted(ev::SessionAborted {
            session_id: s.session_id.clone(),
            party: 1,
            reason: "input_check_failed".into(),
            blamed_party: None,
            step: "commitment".into(),
        })
    };
    let accept = |p: usize, s: &ev::SessionOpened| shares_accepted(p, s, &s.contribution_ids, &[]);
    let mut n = 0;
    // Twice the whole batch, then halves.
    for _ in 0..2 {
        let s = expect_session(&net, &mut n, &ids, &[0, 1, 2, 3]).await;
        parties.report(1, &streams::session(&s.session_id), fail(&s)).await;
        assert!(!closed(&net, &s.session_id).await.succeeded);
    }
    let s = expect_session(&net, &mut n, &ids, &[0, 1]).await;
    for p in 0..3 {
        parties.report(p, &streams::session(&s.session_id), accept(p, &s)).await;
    }
    assert!(closed(&net, &s.session_id).await.succeeded);
    let s = expect_session(&net, &mut n, &ids, &[2, 3]).await;
    parties.report(1, &streams::session(&s.session_id), fail(&s)).await;
    assert!(!closed(&net, &s.session_id).await.succeeded);
    // Alone: contribution 2 fails and backs off; contribution 3 goes ahead of it.
    let s = expect_session(&net, &mut n, &ids, &[2]).await;
    parties.report(1, &streams::session(&s.session_id), fail(&s)).await;
    assert!(!closed(&net, &s.session_id).await.succeeded);
    let s = expect_session(&net, &mut n, &ids, &[3]).await;
    for p in 0..3 {
        parties.report(p, &streams::session(&s.session_id), accept(p, &s)).await;
    }
    assert!(closed(&net, &s.session_id).await.succeeded);
    // After its back-off it is tried again (not rejected) and accepted.
    let s = expect_session(&net, &mut n, &ids, &[2]).await;
    assert!(s.attempt >= 5, "{s:?}");
    for p in 0..3 {
        parties.report(p, &streams::session(&s.session_id), accept(p, &s)).await;
    }
    assert!(closed(&net, &s.session_id).await.succeeded);
    let rejected = net.events().await.iter().filter(|(_, _, k)| matches!(k, Kind::ContributionRejected(_))).count();
    assert_eq!(rejected, 0);
    net.stop().await;
}

/// The next session (the `n`-th), which must hold exactly contributions `expected` of `ids`.
async fn expect_session(net: &Net, n: &mut usize, ids: &[Vec<u8>], expected: &[usize]) -> ev::SessionOpened {
    let s = opened(net, *n).await;
    let want: Vec<Vec<u8>> = expected.iter().map(|&i| ids[i].clone()).collect();
    assert_eq!(s.contribution_ids, want, "session {n}");
    *n += 1;
    s
}
