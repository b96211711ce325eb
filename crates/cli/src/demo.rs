//! `triad demo`: the main job on the embedded default (no servers needed).
//!
//! Today it runs the event-sourced backbone end to end: the coordinator's
//! store records a dataset, contributions and a query; the outbox relay
//! publishes them to the in-process bus; a projector-style durable consumer
//! builds the read model; then the read model is rebuilt from position 0 and
//! compared, as an auditor would. The MPC parties, the notary and signed
//! results join this flow as their issues land (see docs/ARCHITECTURE.md).

use anyhow::{Context, Result};
use futures::FutureExt;
use prost::Message;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use triad_eventlog::{
    Append, ConsumerSpec, EventData, EventLogConfig, EventStore, ExpectedVersion, InProcessBus, RecordedEvent, Relay,
};
use triad_proto::events::v1::{self as ev, event::Kind};

#[derive(clap::Args)]
pub struct Args {
    /// Where the embedded stores live (a fresh temporary directory if unset).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Contributions to submit.
    #[arg(long, default_value_t = 1_000)]
    contributions: u64,
}

fn event(kind: Kind) -> EventData {
    EventData::new(kind.type_name(), ev::Event { kind: Some(kind) }.encode_to_vec())
}

/// The consumers' view of a dataset, as the projector keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct DatasetView {
    submitted: u64,
    queries: u64,
}

fn project(view: &mut BTreeMap<String, DatasetView>, e: &RecordedEvent) -> Result<()> {
    let decoded =
        ev::Event::decode(e.data.payload.as_ref()).with_context(|| format!("event at position {}", e.position))?;
    match decoded.kind {
        Some(Kind::DatasetCreated(d)) => {
            view.entry(d.dataset_id).or_default();
        }
        Some(Kind::ContributionSubmitted(c)) => view.entry(c.dataset_id).or_default().submitted += 1,
        Some(Kind::QueryRequested(q)) => view.entry(q.dataset_id).or_default().queries += 1,
        _ => {}
    }
    Ok(())
}

pub async fn run(args: Args) -> Result<()> {
    let temp;
    let dir = match args.dir {
        Some(d) => d,
        None => {
            temp = std::env::temp_dir().join(format!("triad-demo-{}", uuid::Uuid::new_v4().simple()));
            temp.clone()
        }
    };
    let config = EventLogConfig { data_dir: dir.clone(), ..Default::default() };
    println!("triad demo: embedded network in {}", dir.display());
    let bus = InProcessBus::new();
    let coordinator = config.open_store("coordinator", &bus).await?;
    let shared_bus = config.open_bus(&bus).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relay = tokio::spawn(Relay::new(coordinator.clone(), shared_bus.clone()).run(stopped.map(|_| ())));
    let mut projector = shared_bus.subscribe(&ConsumerSpec::new("projector", "coordinator")).await?;

    let t = Instant::now();
    let dataset = "eth_balance".to_owned();
    coordinator
        .append(vec![Append::new(
            format!("dataset-{dataset}"),
            ExpectedVersion::NoStream,
            vec![event(Kind::DatasetCreated(ev::DatasetCreated {
                dataset_id: dataset.clone(),
                description: "ETH balance on a (mock) exchange".into(),
                min_cohort: 10,
                ..Default::default()
            }))],
        )])
        .await
        .or_else(|e| if e.is_conflict() { Ok(vec![]) } else { Err(e) })?;
    for chunk in 0..args.contributions.div_ceil(100) {
        let batch: Vec<Append> = (chunk * 100..((chunk + 1) * 100).min(args.contributions))
            .map(|i| {
                let id = uuid::Uuid::now_v7();
                Append::new(
                    format!("contribution-{}", id.simple()),
                    ExpectedVersion::NoStream,
                    vec![event(Kind::ContributionSubmitted(ev::ContributionSubmitted {
                        dataset_id: dataset.clone(),
                        contribution_id: id.as_bytes().to_vec(),
                        uid: format!("user-{i}"),
                        ..Default::default()
                    }))],
                )
            })
            .collect();
        coordinator.append(batch).await?;
    }
    let query = uuid::Uuid::now_v7();
    coordinator
        .append(vec![Append::new(
            format!("query-{}", query.simple()),
            ExpectedVersion::NoStream,
            vec![event(Kind::QueryRequested(ev::QueryRequested {
                query_id: query.as_bytes().to_vec(),
                dataset_id: dataset.clone(),
                sql: format!("SELECT count(*) FROM {dataset}"),
                requested_by: "demo".into(),
            }))],
        )])
        .await?;
    let head = coordinator.head().await?;
    println!("  coordinator recorded {head} events in {:.3} s", t.elapsed().as_secs_f64());

    // The projector: a durable consumer folding events into its view.
    let mut view = BTreeMap::new();
    let mut last = 0;
    while last < head {
        let batch = projector.next_batch(1_000, Duration::from_secs(10)).await?;
        anyhow::ensure!(!batch.is_empty(), "the projector received nothing for 10 s at position {last} of {head}");
        for d in batch {
            if d.event.position > last {
                project(&mut view, &d.event)?;
                last = d.event.position;
            }
            d.ack().await?;
        }
    }
    println!("  projector caught up to position {last} in {:.3} s", t.elapsed().as_secs_f64());
    for (id, v) in &view {
        println!("  dataset {id}: {} contributions submitted, {} queries requested", v.submitted, v.queries);
    }

    // The audit: rebuild the view from position 0 and compare.
    let mut replayed = BTreeMap::new();
    for e in coordinator.read_all(0, usize::MAX).await? {
        project(&mut replayed, &e)?;
    }
    anyhow::ensure!(replayed == view, "the replayed view differs from the live one");
    println!("  replay from position 0 reproduces the projector's view");
    let _ = stop.send(());
    relay.await?;
    let _: Arc<dyn EventStore> = coordinator;
    println!(
        "done. Inspect the events with: triad events dump --service coordinator --sqlite {}",
        dir.join("coordinator.sqlite").display()
    );
    Ok(())
}
