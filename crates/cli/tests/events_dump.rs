//! `triad events dump` prints a service's events as JSON lines, from its
//! store and from its JetStream stream (the real nats-server on 127.0.0.1).

use std::process::Command;
use std::sync::Arc;
use triad_eventlog::{
    Append, BusNames, EventBus, EventData, EventStore, ExpectedVersion, JetStreamBus, JetStreamConfig, Relay,
    SqliteEventStore,
};

fn triad(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_triad")).args(args).output().expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn lines(out: &str) -> Vec<serde_json::Value> {
    out.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect()
}

#[test]
fn the_demo_runs_and_its_store_dumps_with_decoded_payloads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf-8");
    let (ok, out, err) = triad(&["demo", "--dir", d, "--contributions", "20"]);
    assert!(ok, "demo failed: {err}");
    assert!(out.contains("replay from position 0 reproduces"), "{out}");

    let store = dir.path().join("coordinator.sqlite");
    let (ok, out, err) =
        triad(&["events", "dump", "--service", "coordinator", "--sqlite", store.to_str().expect("utf-8")]);
    assert!(ok, "{err}");
    let events = lines(&out);
    assert_eq!(events.len(), 22, "1 dataset + 20 contributions + 1 query");
    let positions: Vec<u64> = events.iter().map(|e| e["position"].as_u64().expect("position")).collect();
    assert_eq!(positions, (1..=22).collect::<Vec<_>>());
    assert_eq!(events[0]["event_type"], "DatasetCreated");
    assert_eq!(events[0]["payload"]["datasetCreated"]["datasetId"], "eth_balance", "{}", events[0]);
    assert_eq!(events[21]["payload"]["queryRequested"]["sql"], "SELECT count(*) FROM eth_balance");

    let (ok, out, _) = triad(&[
        "events",
        "dump",
        "--service",
        "coordinator",
        "--after",
        "20",
        "--sqlite",
        store.to_str().expect("utf-8"),
    ]);
    assert!(ok);
    assert_eq!(lines(&out).len(), 2, "--after skips what was read");
}

#[test]
fn dump_without_a_source_says_what_to_pass() {
    let (ok, _, err) = triad(&["events", "dump", "--service", "coordinator"]);
    assert!(!ok);
    assert!(err.contains("--database-url") && err.contains("--sqlite") && err.contains("--nats"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jetstream_stream_dumps_every_event_once_in_order() -> anyhow::Result<()> {
    let prefix = format!("t{}", uuid::Uuid::new_v4().simple());
    let url = std::env::var("TRIAD_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let bus = JetStreamBus::connect(JetStreamConfig {
        url: url.clone(),
        names: BusNames::prefixed(&prefix),
        ..Default::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn EventStore> = Arc::new(SqliteEventStore::open(&dir.path().join("s.sqlite"), "audited").await?);
    bus.ensure_stream("audited").await?;
    for i in 0..5u8 {
        store
            .append(vec![Append::new("thing-1", ExpectedVersion::Any, vec![EventData::new("Happened", vec![i])])])
            .await?;
    }
    let cleanup = bus.clone();
    let bus: Arc<dyn EventBus> = Arc::new(bus);
    Relay::new(store.clone(), bus.clone()).publish_pending().await?;

    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        triad(&["events", "dump", "--service", "audited", "--nats", &url, "--prefix", &prefix])
    })
    .await?;
    assert!(ok, "{err}");
    let events = lines(&out);
    assert_eq!(
        events.iter().map(|e| e["position"].as_u64().expect("position")).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(events[4]["payload"]["hex"], "04", "a payload that is not a Triad event is shown as hex");
    cleanup.delete_stream("audited").await?;
    Ok(())
}
