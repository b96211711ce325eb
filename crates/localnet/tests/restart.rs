//! A party stopped and restarted among the real services (coordinator and projector over
//! gRPC, the parties over TLS, the embedded event log): a query submitted while the party is
//! away is not published without it, and completes once it restarts from its data directory
//! with its keys, private state and shares; the result equals the plaintext.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use triad_dev_notary::Account;
use triad_localnet::{Backend, DatasetSpec, LocalNet, Provider, Tuning};
use triad_proto::api::v1 as api;

const N: usize = 12;

fn balance(i: usize) -> String {
    format!("{}.{:02}", 3 * i + 1, (7 * i) % 100)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_query_completes_after_a_stopped_party_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let accounts: Vec<Account> =
        (0..N).map(|i| Account::new(&format!("t{i}"), &format!("u{i}"), &balance(i), "ETH").unwrap()).collect();
    let tuning = Tuning { party_connect_timeout_secs: 3, party_recv_timeout_secs: 10, session_timeout_secs: 30 };
    let mut net = LocalNet::start_tuned(dir.path(), Backend::Embedded, accounts, tuning).await.unwrap();
    let network = net.wait_up(Duration::from_secs(60)).await.unwrap();
    let keys = LocalNet::share_keys(&network).unwrap();
    let spec = DatasetSpec::balances("balances", 6, 2, 3);
    net.create_dataset(&spec).await.unwrap();
    let mut client = net.client.clone();
    for i in 0..N {
        let s = net.submission(&format!("t{i}"), &spec, &keys, Provider::Honest).await.unwrap();
        client.submit_contribution(s).await.unwrap();
    }
    let status = net.wait_decided("balances", N as u64, Duration::from_secs(60), |_| {}).await.unwrap();
    assert_eq!(status.accepted, N as u64);

    // Party 2 stops; a query is submitted; it is not published while party 2 is away.
    net.stop_party(2).await;
    let before_query = net.coordinator_head().await.unwrap();
    let query = client
        .submit_query(api::SubmitQueryRequest {
            sql: "SELECT count(*), sum(balance), median(balance) FROM balances".into(),
            requested_by: "test".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let early = net.projector.wait_query(&query.query_id, Duration::from_secs(2)).await;
    assert!(matches!(early, Err(triad_projector::ProjectorError::Timeout { .. })), "{early:?}");

    // Party 2 restarts from its data directory and store: the query completes.
    let restarted = Instant::now();
    net.restart_party(2).await.unwrap();
    let published = net.projector.wait_query(&query.query_id, Duration::from_secs(120)).await.unwrap();
    eprintln!("published {:.1} s after the restart", restarted.elapsed().as_secs_f64());
    let answer = triad_network::answer_of(&published.values);
    let values: Vec<f64> = (0..N).map(|i| balance(i).parse().unwrap()).collect();
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    let median = (sorted[N / 2 - 1] + sorted[N / 2]) / 2.0;
    assert_eq!(published.rows, N as u64);
    assert_eq!(answer.rows[0][0], Some(N as f64));
    assert!((answer.rows[0][1].unwrap() - values.iter().sum::<f64>()).abs() < 1e-6, "{answer:?}");
    assert!((answer.rows[0][2].unwrap() - median).abs() < 1e-6, "{answer:?}");

    // What the query went through, as the bench prints it for a slow one.
    let timeline = net.timeline_after(before_query).await.unwrap();
    let has = |what: &str| timeline.iter().any(|l| l.contains(what));
    assert!(timeline.first().is_some_and(|l| l.starts_with("+0.000s QueryRequested")), "{timeline:#?}");
    assert!(has("SessionOpened") && has("succeeded=true") && has("ResultPublished"), "{timeline:#?}");
    net.stop(false).await;
}
