//! The projector over the embedded backend: SQLite stores, the in-process bus, a SQLite read
//! model.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{World, scenario, snapshot};
use triad_eventlog::{BackendKind, EventLogConfig, InProcessBus};
use triad_projector::{Projector, ProjectorConfig};

fn sqlite_url(dir: &std::path::Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn folds_the_four_streams_and_serves_them_and_a_rebuild_answers_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = InProcessBus::new();
    let config = |_: &str| EventLogConfig {
        backend: BackendKind::Embedded,
        data_dir: dir.path().join("stores"),
        ..Default::default()
    };
    let world = World::open(config, &shared).await;
    let projector = Projector::start(
        ProjectorConfig { database_url: sqlite_url(dir.path(), "projector.sqlite"), consumer_suffix: String::new() },
        world.bus.clone(),
    )
    .await
    .expect("projector");
    scenario(&world, &projector).await;
    world.caught_up(&projector).await;
    let before = snapshot(&projector).await;
    assert_eq!(before.0.len(), 1);
    assert_eq!(before.1.len(), 2);

    // A fresh read model with fresh consumers folds the same streams from position 0.
    let fresh = common::rebuilt(&world, sqlite_url(dir.path(), "rebuilt.sqlite"), "rebuild1").await;
    assert_eq!(snapshot(&fresh).await, before);
    fresh.shutdown().await;

    // Restarted on its own read model and consumers, the first projector resumes after its
    // checkpoints: nothing counted twice.
    projector.shutdown().await;
    let restarted = Projector::start(
        ProjectorConfig { database_url: sqlite_url(dir.path(), "projector.sqlite"), consumer_suffix: String::new() },
        world.bus.clone(),
    )
    .await
    .expect("restarted");
    world.caught_up(&restarted).await;
    assert_eq!(snapshot(&restarted).await, before);

    // Wiped in place, it rebuilds under a new suffix.
    restarted.shutdown().await;
    Projector::wipe(&sqlite_url(dir.path(), "projector.sqlite")).await.expect("wipe");
    let again = common::rebuilt(&world, sqlite_url(dir.path(), "projector.sqlite"), "rebuild2").await;
    assert_eq!(snapshot(&again).await, before);
    again.shutdown().await;

    // Started again with the old settings, it keeps the consumers it was rebuilt with.
    let kept = Projector::start(
        ProjectorConfig { database_url: sqlite_url(dir.path(), "projector.sqlite"), consumer_suffix: String::new() },
        world.bus.clone(),
    )
    .await
    .expect("kept");
    let q4 = b"query-four";
    world
        .append(
            triad_network::COORDINATOR,
            triad_network::streams::query(q4),
            vec![triad_proto::events::v1::event::Kind::QueryRequested(triad_proto::events::v1::QueryRequested {
                query_id: q4.to_vec(),
                dataset_id: common::DATASET.into(),
                sql: "SELECT count(*) FROM eth_balance".into(),
                requested_by: "test".into(),
            })],
        )
        .await;
    world.caught_up(&kept).await;
    let after = snapshot(&kept).await;
    assert_eq!((after.0, after.1), (before.0, before.1));
    kept.shutdown().await;
    world.stop().await;
}
