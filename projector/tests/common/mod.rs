//! The scenario every backend runs: hand-written events in the services' real stores, their
//! relays to a real bus, and the projector's gRPC API through a real server.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use triad_eventlog::{Append, EventBus, EventLogConfig, EventStore, ExpectedVersion, InProcessBus, Relay};
use triad_network::{COORDINATOR, PARTIES, event, streams};
use triad_projector::{Projector, ProjectorConfig, ProjectorError};
use triad_proto::api::v1::query_api_client::QueryApiClient;
use triad_proto::api::v1::{
    GetDatasetRequest, GetQueryStatusRequest, GetResultRequest, ListDatasetsRequest, ListResultsRequest,
    StreamResultsRequest,
};
use triad_proto::events::v1::{self as ev, event::Kind};

pub const DEADLINE: Duration = Duration::from_secs(30);
pub const DATASET: &str = "eth_balance";

/// The four services' stores, each with its relay to the bus.
pub struct World {
    pub stores: BTreeMap<&'static str, Arc<dyn EventStore>>,
    pub bus: Arc<dyn EventBus>,
    stop: watch::Sender<bool>,
    relays: Vec<JoinHandle<()>>,
}

impl World {
    /// Opens the four stores with `config` (registered on `shared` when embedded) and runs
    /// their relays.
    pub async fn open(config: impl Fn(&str) -> EventLogConfig, shared: &InProcessBus) -> Self {
        let bus = config(COORDINATOR).open_bus(shared).await.expect("bus");
        let (stop, _) = watch::channel(false);
        let mut stores = BTreeMap::new();
        let mut relays = Vec::new();
        for service in std::iter::once(COORDINATOR).chain(PARTIES) {
            let store = config(service).open_store(service, shared).await.expect("store");
            bus.ensure_stream(service).await.expect("stream");
            let mut rx = stop.subscribe();
            let relay = Relay::new(store.clone(), bus.clone()).poll_interval(Duration::from_millis(50));
            relays.push(tokio::spawn(relay.run(async move {
                let _ = rx.wait_for(|s| *s).await;
            })));
            stores.insert(service, store);
        }
        Self { stores, bus, stop, relays }
    }

    pub async fn append(&self, service: &str, stream: String, kinds: Vec<Kind>) {
        let events = kinds.into_iter().map(event).collect();
        self.stores[service].append(vec![Append::new(stream, ExpectedVersion::Any, events)]).await.expect("append");
    }

    /// Waits until `projector` has folded everything the stores hold.
    pub async fn caught_up(&self, projector: &Projector) {
        let deadline = Instant::now() + DEADLINE;
        for (service, store) in &self.stores {
            let head = store.head().await.expect("head");
            loop {
                let at = projector.position(service).await.expect("position");
                if at >= head {
                    break;
                }
                assert!(Instant::now() < deadline, "{service}: projected {at} of {head}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    pub async fn stop(self) {
        self.stop.send_replace(true);
        for r in self.relays {
            r.await.expect("relay");
        }
    }
}

/// The projector served on 127.0.0.1:0, with a client.
pub struct Served {
    pub client: QueryApiClient<Channel>,
    stop: watch::Sender<bool>,
    server: JoinHandle<Result<(), ProjectorError>>,
}

impl Served {
    pub async fn start(projector: &Projector) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, mut rx) = watch::channel(false);
        let p = projector.clone();
        let server = tokio::spawn(async move {
            p.serve(listener, async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .await
        });
        let client = QueryApiClient::connect(format!("http://{addr}")).await.expect("connect");
        Self { client, stop, server }
    }

    pub async fn stop(self) {
        drop(self.client);
        self.stop.send_replace(true);
        self.server.await.expect("server task").expect("server");
    }
}

fn dataset_created() -> Kind {
    Kind::DatasetCreated(ev::DatasetCreated {
        dataset_id: DATASET.into(),
        description: "ETH balances".into(),
        min_cohort: 3,
        template: Some(ev::ProofTemplate {
            server_name: "api.exchange.test".into(),
            value_json_path: "balance".into(),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn submitted(id: u8) -> Kind {
    Kind::ContributionSubmitted(ev::ContributionSubmitted {
        dataset_id: DATASET.into(),
        contribution_id: vec![id],
        uid: format!("user{id}"),
        ..Default::default()
    })
}

fn published(query_id: &[u8], median: &str) -> ev::ResultPublished {
    ev::ResultPublished {
        query_id: query_id.to_vec(),
        dataset_id: DATASET.into(),
        snapshot: 9,
        sql: "SELECT median(balance) FROM eth_balance".into(),
        values: vec![ev::ResultValue { name: "median".into(), value: median.into(), row: 0, null: false }],
        signature: vec![7; 64],
        rows: 3,
        ..Default::default()
    }
}

fn requested(query_id: &[u8]) -> Kind {
    Kind::QueryRequested(ev::QueryRequested {
        query_id: query_id.to_vec(),
        dataset_id: DATASET.into(),
        sql: "SELECT median(balance) FROM eth_balance".into(),
        requested_by: "test".into(),
    })
}

fn session_opened(session: u8, query_id: &[u8]) -> Kind {
    Kind::SessionOpened(ev::SessionOpened {
        session_id: vec![session],
        dataset_id: DATASET.into(),
        purpose: triad_network::PURPOSE_QUERY.into(),
        query_id: query_id.to_vec(),
        snapshot: 9,
        attempt: 1,
        ..Default::default()
    })
}

pub const Q1: &[u8] = b"query-one";
pub const Q2: &[u8] = b"query-two";
pub const Q3: &[u8] = b"query-three";

/// The scenario: a dataset with counts, a published query, a finally aborted one, a result
/// streamed live; every answer through gRPC.
pub async fn scenario(world: &World, projector: &Projector) {
    let c = COORDINATOR;
    world.append(c, streams::dataset(DATASET), vec![dataset_created()]).await;
    for id in 1..=5u8 {
        world.append(c, streams::contribution(&[id]), vec![submitted(id)]).await;
    }
    // The Sybil guard's marker, as logs written before claims hold it: not a contribution.
    world.append(c, streams::uid(DATASET, "user1"), vec![submitted(1)]).await;
    // Two accepted by a session at once, one as older logs record it.
    let k = Kind::ContributionsAccepted(ev::ContributionsAccepted {
        dataset_id: DATASET.into(),
        session_id: vec![100],
        contribution_ids: vec![vec![1], vec![2]],
    });
    world.append(c, streams::session(&[100]), vec![k]).await;
    let k = Kind::ContributionAccepted(ev::ContributionAccepted {
        dataset_id: DATASET.into(),
        contribution_id: vec![3],
        session_id: vec![99],
    });
    world.append(c, streams::contribution(&[3]), vec![k]).await;
    let rejected = Kind::ContributionRejected(ev::ContributionRejected {
        dataset_id: DATASET.into(),
        contribution_id: vec![4],
        reason: "commitment_mismatch".into(),
        detail: String::new(),
    });
    world.append(c, streams::contribution(&[4]), vec![rejected]).await;

    // Query 1: requested, then running.
    world.append(c, streams::query(Q1), vec![requested(Q1)]).await;
    world.caught_up(projector).await;
    let served = Served::start(projector).await;
    let mut client = served.client.clone();
    let status = |client: &mut QueryApiClient<Channel>, q: &'static [u8]| {
        let mut client = client.clone();
        async move {
            client.get_query_status(GetQueryStatusRequest { query_id: q.to_vec() }).await.expect("status").into_inner()
        }
    };
    assert_eq!(status(&mut client, Q1).await.state, "requested");
    let e = client.get_result(GetResultRequest { query_id: Q1.to_vec() }).await.expect_err("not yet published");
    assert_eq!((e.code(), e.message()), (tonic::Code::FailedPrecondition, "query is requested"));

    world.append(c, streams::session(&[1]), vec![session_opened(1, Q1)]).await;
    let started = Kind::QueryStarted(ev::QueryStarted {
        query_id: Q1.to_vec(),
        session_id: vec![1],
        snapshot: 9,
        cohort: 3,
        party: 0,
    });
    world.append(PARTIES[0], streams::query(Q1), vec![started]).await;
    world.caught_up(projector).await;
    let s = status(&mut client, Q1).await;
    assert_eq!(
        (s.state.as_str(), s.dataset_id.as_str(), s.sql.as_str()),
        ("running", DATASET, "SELECT median(balance) FROM eth_balance")
    );

    world.append(c, streams::query(Q1), vec![Kind::ResultPublished(published(Q1, "12.5"))]).await;
    let r = projector.wait_query(Q1, DEADLINE).await.expect("q1 published");
    assert_eq!(r, published(Q1, "12.5"));

    // Datasets and counts: 5 submitted (the uid marker not counted), 3 accepted, 1 rejected.
    let d = client.get_dataset(GetDatasetRequest { dataset_id: DATASET.into() }).await.expect("dataset").into_inner();
    assert_eq!(
        (d.contributions_submitted, d.contributions_accepted, d.contributions_rejected, d.min_cohort),
        (5, 3, 1, 3)
    );
    assert_eq!(d.description, "ETH balances");
    assert_eq!(d.template.expect("template").server_name, "api.exchange.test");
    let all = client.list_datasets(ListDatasetsRequest {}).await.expect("list").into_inner().datasets;
    assert_eq!(all.len(), 1);
    let e = client.get_dataset(GetDatasetRequest { dataset_id: "nope".into() }).await.expect_err("unknown dataset");
    assert_eq!(e.code(), tonic::Code::NotFound);
    assert!(e.message().contains("nope"), "{}", e.message());

    let s = status(&mut client, Q1).await;
    assert_eq!((s.state.as_str(), s.reason.as_str()), ("published", ""));
    let got = client.get_result(GetResultRequest { query_id: Q1.to_vec() }).await.expect("result").into_inner();
    assert_eq!(got, published(Q1, "12.5"));
    let e = client.get_result(GetResultRequest { query_id: b"unknown".to_vec() }).await.expect_err("unknown query");
    assert_eq!(e.code(), tonic::Code::NotFound);
    let e = client
        .get_query_status(GetQueryStatusRequest { query_id: b"unknown".to_vec() })
        .await
        .expect_err("unknown query");
    assert_eq!(e.code(), tonic::Code::NotFound);

    // Query 2: a party aborts (retrying), then the coordinator gives up.
    world.append(c, streams::query(Q2), vec![requested(Q2)]).await;
    world.append(c, streams::session(&[2]), vec![session_opened(2, Q2)]).await;
    let party_abort = Kind::QueryAborted(ev::QueryAborted {
        query_id: Q2.to_vec(),
        reason: "lost peer".into(),
        party: Some(1),
        session_id: vec![2],
        ..Default::default()
    });
    world.append(PARTIES[1], streams::query(Q2), vec![party_abort]).await;
    world.caught_up(projector).await;
    let s = status(&mut client, Q2).await;
    assert_eq!((s.state.as_str(), s.reason.as_str()), ("running", "retrying: lost peer"));
    let final_abort = Kind::QueryAborted(ev::QueryAborted {
        query_id: Q2.to_vec(),
        reason: "cohort below min_cohort".into(),
        r#final: true,
        ..Default::default()
    });
    world.append(c, streams::query(Q2), vec![final_abort]).await;
    match projector.wait_query(Q2, DEADLINE).await {
        Err(ProjectorError::Aborted { reason, .. }) => assert_eq!(reason, "cohort below min_cohort"),
        other => panic!("expected an abort, got {other:?}"),
    }
    let e = client.get_result(GetResultRequest { query_id: Q2.to_vec() }).await.expect_err("aborted");
    assert_eq!((e.code(), e.message()), (tonic::Code::FailedPrecondition, "query is aborted: cohort below min_cohort"));

    // StreamResults: only what is published after the call.
    let mut stream =
        client.stream_results(StreamResultsRequest { dataset_id: DATASET.into() }).await.expect("stream").into_inner();
    world.append(c, streams::query(Q3), vec![requested(Q3)]).await;
    world.append(c, streams::query(Q3), vec![Kind::ResultPublished(published(Q3, "40"))]).await;
    let next = tokio::time::timeout(DEADLINE, stream.message()).await.expect("in time").expect("status");
    assert_eq!(next, Some(published(Q3, "40")));

    let results = client.list_results(ListResultsRequest { dataset_id: DATASET.into() }).await.expect("results");
    assert_eq!(results.into_inner().results, vec![published(Q1, "12.5"), published(Q3, "40")]);
    let other = client.list_results(ListResultsRequest { dataset_id: "other".into() }).await.expect("results");
    assert!(other.into_inner().results.is_empty());

    // Shutting the server down ends the open stream with UNAVAILABLE.
    drop(client);
    let stopping = tokio::spawn(served.stop());
    let end = tokio::time::timeout(DEADLINE, stream.message()).await.expect("the stream ends");
    assert_eq!(end.expect_err("ended by shutdown").code(), tonic::Code::Unavailable);
    stopping.await.expect("server stopped");
}

/// What a client reads: datasets and results, for comparing two read models.
pub async fn snapshot(
    projector: &Projector,
) -> (Vec<triad_proto::api::v1::Dataset>, Vec<ev::ResultPublished>, Vec<String>) {
    let served = Served::start(projector).await;
    let mut client = served.client.clone();
    let datasets = client.list_datasets(ListDatasetsRequest {}).await.expect("datasets").into_inner().datasets;
    let results = client.list_results(ListResultsRequest { dataset_id: String::new() }).await.expect("results");
    let mut states = Vec::new();
    for q in [Q1, Q2, Q3] {
        let s = client.get_query_status(GetQueryStatusRequest { query_id: q.to_vec() }).await.expect("status");
        let s = s.into_inner();
        states.push(format!("{}:{}:{}", s.state, s.reason, s.sql));
    }
    drop(client);
    served.stop().await;
    (datasets, results.into_inner().results, states)
}

/// A fresh projector of the same streams into `database_url`, with fresh consumers.
pub async fn rebuilt(world: &World, database_url: String, suffix: &str) -> Projector {
    let p = Projector::start(ProjectorConfig { database_url, consumer_suffix: suffix.into() }, world.bus.clone())
        .await
        .expect("rebuilt projector");
    world.caught_up(&p).await;
    p
}
