//! The RPCs against a real store: operator auth, honest and dishonest submissions, the Sybil
//! guard under concurrency, and query planning.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use tonic::Code;
use triad_proto::api::v1 as api;
use triad_proto::events::v1::event::Kind;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operator_calls_need_the_token() {
    let mut net = Net::start(config()).await;
    let req = net.create_request();

    let e = net.client.create_dataset(req.clone()).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    assert!(e.message().contains("authorization: Bearer"), "{}", e.message());
    let e = net.client.create_dataset(with_token(req.clone(), "wrong")).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");

    let mut bad = req.clone();
    bad.dataset_id = "Bad-Name".into();
    let e = net.client.create_dataset(with_token(bad, OPERATOR_TOKEN)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("dataset_id"), "{}", e.message());

    let mut bad = req.clone();
    bad.template.as_mut().unwrap().notary_keys = vec!["secp256k1:zz".into()];
    let e = net.client.create_dataset(with_token(bad, OPERATOR_TOKEN)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("template"), "{}", e.message());

    net.client.create_dataset(with_token(req.clone(), OPERATOR_TOKEN)).await.unwrap();
    let e = net.client.create_dataset(with_token(req, OPERATOR_TOKEN)).await.unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");

    let created = net.events().await.into_iter().filter(|(_, _, k)| matches!(k, Kind::DatasetCreated(_))).count();
    assert_eq!(created, 1);
    net.stop().await;

    let mut net = Net::start(triad_coordinator::CoordinatorConfig::default()).await;
    let req = net.create_request();
    let e = net.client.create_dataset(with_token(req, OPERATOR_TOKEN)).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("no operator token is configured"));
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn submissions() {
    let mut net = Net::start(config()).await;
    let honest = net.submission("alice-token", [1; 16]).await;

    // No dataset yet.
    let e = net.client.submit_contribution(honest.clone()).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    net.create_dataset().await;

    // Honest: accepted, recorded with its sealed bundles, and the uid claimed.
    let ok = net.client.submit_contribution(honest.clone()).await.unwrap().into_inner();
    assert_eq!(ok.contribution_id, vec![1; 16]);
    let events = net.events().await;
    let (stream, position, submitted) = events
        .iter()
        .find_map(|(s, p, k)| match k {
            Kind::ContributionSubmitted(c) if s.starts_with("contribution-") => Some((s, *p, c)),
            _ => None,
        })
        .unwrap();
    assert_eq!(stream, &format!("contribution-{}", hex::encode([1u8; 16])));
    assert_eq!(position, ok.position);
    assert_eq!(submitted.uid, "u-alice");
    assert_eq!(submitted.sealed_bundles, honest.bundles);
    assert_eq!(submitted.bundle_hashes.len(), 3);
    assert_eq!(submitted.share_commitments, honest.share_commitments);
    assert_eq!(submitted.commitments.len(), 1, "one value");
    let c = &submitted.commitments[0];
    assert!(c.end > c.start && c.hash.len() == 32, "{c:?}");
    assert_eq!(events.iter().filter(|(s, _, _)| s.starts_with("contribution-")).count(), 1);
    assert!(!events.iter().any(|(s, _, _)| s.starts_with("uid-")), "the uid guard is a claim, not an event");

    // A replay.
    let e = net.client.submit_contribution(honest.clone()).await.unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");
    assert!(e.message().contains("already submitted"), "{}", e.message());

    // The same account again, as a new contribution.
    let again = net.submission("alice-token", [2; 16]).await;
    let e = net.client.submit_contribution(again).await.unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");
    assert!(e.message().contains("uid u-alice already contributed"), "{}", e.message());

    // A forged presentation.
    let mut forged = net.submission("bob-token", [3; 16]).await;
    let n = forged.presentation.len();
    forged.presentation[n / 2] ^= 0x01;
    let e = net.client.submit_contribution(forged).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().starts_with("presentation: "), "{}", e.message());

    // Bundles out of party order.
    let mut swapped = net.submission("bob-token", [4; 16]).await;
    swapped.bundles.swap(0, 1);
    let e = net.client.submit_contribution(swapped).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("bundles[0]") && e.message().contains("party 1"), "{}", e.message());

    // Two bundles only; malformed commitments.
    let mut two = net.submission("bob-token", [5; 16]).await;
    two.bundles.pop();
    let e = net.client.submit_contribution(two).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let mut bad = net.submission("bob-token", [6; 16]).await;
    bad.share_commitments = vec![0x0a, 0x02, 1, 2];
    let e = net.client.submit_contribution(bad).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("share_commitments"), "{}", e.message());

    // Two concurrent submissions with one uid: the store lets exactly one through.
    let a = net.submission("bob-token", [7; 16]).await;
    let b = net.submission("bob-token", [8; 16]).await;
    let (mut ca, mut cb) = (net.client.clone(), net.client.clone());
    let (ra, rb) = tokio::join!(ca.submit_contribution(a), cb.submit_contribution(b));
    let oks = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
    assert_eq!(oks, 1, "{ra:?} {rb:?}");
    let err = ra.err().or(rb.err()).unwrap();
    assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");

    let network = net.client.get_network(api::GetNetworkRequest {}).await.unwrap().into_inner();
    assert_eq!(network.datasets.len(), 1);
    assert_eq!((network.datasets[0].submitted, network.datasets[0].pending), (2, 2));
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queries_are_planned() {
    let mut net = Net::start(config()).await;
    net.create_dataset().await;
    let q = |sql: &str| api::SubmitQueryRequest { sql: sql.into(), requested_by: "test".into() };

    let e = net.client.submit_query(q("SELECT avg(nope) FROM eth_balance")).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("unknown column `nope`"), "{}", e.message());

    let e = net.client.submit_query(q("SELECT count(*) FROM other_set")).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    assert!(e.message().contains("other_set"), "{}", e.message());

    let e = net.client.submit_query(q("SELEC count(*) FROM eth_balance")).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let e = net.client.submit_query(q("EXPLAIN SELECT count(*) FROM eth_balance")).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("EXPLAIN"), "{}", e.message());

    let ok = net.client.submit_query(q("SELECT median(balance), count(*) FROM eth_balance")).await.unwrap();
    let ok = ok.into_inner();
    assert_eq!((ok.dataset_id.as_str(), ok.query_id.len()), ("eth_balance", 16));
    let requested = net
        .events()
        .await
        .into_iter()
        .any(|(_, _, k)| matches!(k, Kind::QueryRequested(q) if q.query_id == ok.query_id));
    assert!(requested);
    let network = net.client.get_network(api::GetNetworkRequest {}).await.unwrap().into_inner();
    assert_eq!(network.queries_queued, 1);
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_limited_with_retry_after() {
    let mut cfg = config();
    cfg.rate_per_client_per_sec = 1;
    let mut net = Net::start(cfg).await;
    let q = || api::SubmitQueryRequest { sql: "SELECT count(*) FROM eth_balance".into(), requested_by: String::new() };
    // The first passes the limiter (and fails on the missing dataset); the second is limited.
    let e = net.client.submit_query(q()).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let e = net.client.submit_query(q()).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(e.message().contains("retry after"), "{}", e.message());
    assert!(e.metadata().get("retry-after-ms").is_some());
    net.stop().await;
}
