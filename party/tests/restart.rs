//! The party as a service among the real coordinator and projector (embedded stores, one
//! in-process bus, gRPC on loopback, TLS between the parties): a query submitted while a party
//! is stopped waits (or fails an attempt) and completes once that party restarts from its data
//! directory with its keys, state and shares; the published result equals the plaintext.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message as _;
use sha2::{Digest as _, Sha256};
use tokio::sync::watch;
use triad_coordinator::{Coordinator, CoordinatorConfig};
use triad_dev_notary::{Account, DevNotary, DevNotaryConfig};
use triad_eventlog::{BackendKind, EventLogConfig, EventStore, InProcessBus};
use triad_party::{Party, PartySettings};
use triad_projector::{Projector, ProjectorConfig};
use triad_proto::api::v1::{self as api, coordinator_client::CoordinatorClient};
use triad_proto::events::v1 as ev;
use triad_provider::{DecimalFormat, PublicKey, make_bundles, os_rng};

const TOKEN: &str = "operator-token";
const N: usize = 12;

fn balance(i: usize) -> String {
    format!("{}.{:02}", 3 * i + 1, (7 * i) % 100)
}

fn settings(dir: &std::path::Path, i: u32) -> PartySettings {
    PartySettings {
        index: i,
        data_dir: dir.join(format!("party{i}")),
        connect_timeout_secs: 3,
        recv_timeout_secs: 10,
        ..PartySettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_query_completes_after_a_stopped_party_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let bus = InProcessBus::new();
    let shared: Arc<dyn triad_eventlog::EventBus> = Arc::new(bus.clone());
    let log = EventLogConfig { backend: BackendKind::Embedded, data_dir: dir.path().to_owned(), ..Default::default() };
    let accounts: Vec<Account> =
        (0..N).map(|i| Account::new(&format!("t{i}"), &format!("u{i}"), &balance(i), "ETH").unwrap()).collect();
    let notary = DevNotary::start(DevNotaryConfig { accounts, ..Default::default() }).await.unwrap();

    let config = CoordinatorConfig {
        operator_token_sha256: hex::encode(Sha256::digest(TOKEN.as_bytes())),
        session_timeout_secs: 30,
        ..CoordinatorConfig::default()
    };
    let store = log.open_store(triad_network::COORDINATOR, &bus).await.unwrap();
    let coordinator =
        Coordinator::start(config, vec![notary.ca_cert_der().to_vec()], store, shared.clone()).await.unwrap();
    let (stop, _) = watch::channel(false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (c, mut rx) = (coordinator.clone(), stop.subscribe());
    tokio::spawn(async move {
        c.serve(listener, async move {
            let _ = rx.wait_for(|s| *s).await;
        })
        .await
        .unwrap();
    });
    let mut stores: Vec<Arc<dyn EventStore>> = Vec::new();
    let mut parties = Vec::new();
    for i in 0..3u32 {
        let s = log.open_store(triad_network::PARTIES[i as usize], &bus).await.unwrap();
        parties.push(Party::start(settings(dir.path(), i), s.clone(), shared.clone()).await.unwrap());
        stores.push(s);
    }
    let projector = Projector::start(
        ProjectorConfig {
            database_url: format!("sqlite://{}", dir.path().join("projector.sqlite").display()),
            consumer_suffix: String::new(),
        },
        shared.clone(),
    )
    .await
    .unwrap();
    let mut client = CoordinatorClient::connect(format!("http://{addr}")).await.unwrap();

    // All three up; the dataset; N honest contributions, accepted.
    let network = poll("three parties up", || {
        let mut client = client.clone();
        async move {
            let n = client.get_network(api::GetNetworkRequest {}).await.unwrap().into_inner();
            (n.parties.iter().filter(|p| p.up).count() == 3).then_some(n)
        }
    })
    .await;
    let keys: [PublicKey; 3] =
        std::array::from_fn(|i| PublicKey::from_bytes(&network.parties[i].share_public_key).unwrap());
    let format = DecimalFormat::new(6, 2, 16).unwrap();
    let t = notary.template(3600);
    let mut create = tonic::Request::new(api::CreateDatasetRequest {
        dataset_id: "balances".into(),
        description: String::new(),
        template: Some(ev::ProofTemplate {
            server_name: t.server_name.clone(),
            request_method: t.method.clone(),
            request_path: t.path.clone(),
            value_json_path: t.value_field.to_string(),
            uid_json_path: t.uid_field.to_string(),
            freshness_secs: t.freshness_secs,
            notary_keys: t.notary_keys.iter().map(ToString::to_string).collect(),
        }),
        format: Some(format.to_proto()),
        min_cohort: 3,
        columns: Vec::new(),
    });
    create.metadata_mut().insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    client.create_dataset(create).await.unwrap();
    let verifier = notary.verifier_config().unwrap();
    for i in 0..N {
        let issued = notary.issue(&format!("t{i}")).await.unwrap();
        let verified = triad_notary::verify(&issued.presentation, &verifier).unwrap();
        let sealed = make_bundles(
            &issued.secret.prover_secret(),
            &verified.unopened_commitments[0],
            "balances",
            [i as u8 + 1; 16],
            &format,
            &keys,
            &mut os_rng(),
        )
        .unwrap();
        client
            .submit_contribution(api::SubmitContributionRequest {
                dataset_id: "balances".into(),
                presentation: issued.presentation,
                bundles: sealed.bundles.iter().map(|b| b.as_bytes().to_vec()).collect(),
                share_commitments: sealed.commitments.to_proto().encode_to_vec(),
            })
            .await
            .unwrap();
    }
    poll("every contribution accepted", || {
        let mut client = client.clone();
        async move {
            let n = client.get_network(api::GetNetworkRequest {}).await.unwrap().into_inner();
            (n.datasets.first().map(|d| d.accepted) == Some(N as u64)).then_some(())
        }
    })
    .await;

    // Party 2 stops; a query is submitted; it cannot be published while party 2 is away.
    parties[2].shutdown().await;
    let query = client
        .submit_query(api::SubmitQueryRequest {
            sql: "SELECT count(*), sum(balance), median(balance) FROM balances".into(),
            requested_by: "test".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let early = projector.wait_query(&query.query_id, Duration::from_secs(2)).await;
    assert!(matches!(early, Err(triad_projector::ProjectorError::Timeout { .. })), "{early:?}");

    // Party 2 restarts from its data directory and store: the query completes.
    parties[2] = Party::start(settings(dir.path(), 2), stores[2].clone(), shared.clone()).await.unwrap();
    let published = projector.wait_query(&query.query_id, Duration::from_secs(120)).await.unwrap();
    let answer = triad_network::answer_of(&published.values);
    let values: Vec<f64> = (0..N).map(|i| balance(i).parse().unwrap()).collect();
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    let median = (sorted[N / 2 - 1] + sorted[N / 2]) / 2.0;
    assert_eq!(published.rows, N as u64);
    assert_eq!(answer.rows[0][0], Some(N as f64));
    assert!((answer.rows[0][1].unwrap() - values.iter().sum::<f64>()).abs() < 1e-6, "{answer:?}");
    assert!((answer.rows[0][2].unwrap() - median).abs() < 1e-6, "{answer:?}");

    stop.send_replace(true);
    projector.shutdown().await;
    for p in &parties {
        p.shutdown().await;
    }
    coordinator.shutdown().await;
    notary.stop();
}

/// Polls `f` until it returns `Some`, failing after 60 s.
async fn poll<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
