//! `triad bench eventlog`: append throughput (single events and batches) and
//! the time from append to a handler's receipt through the outbox relay and
//! the bus, on the embedded backend and on PostgreSQL + NATS JetStream.

use anyhow::{Context, Result};
use clap::ValueEnum;
use futures::FutureExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use triad_eventlog::model::now_micros;
use triad_eventlog::{
    Append, BusNames, ConsumerSpec, EventBus, EventData, EventStore, ExpectedVersion, InProcessBus, JetStreamBus,
    JetStreamConfig, PgEventStore, Relay, SqliteEventStore, Subscriber,
};

use crate::{Host, Report, Row};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Which {
    Embedded,
    Distributed,
    Both,
}

#[derive(clap::Args)]
pub struct Args {
    /// Backends to measure.
    #[arg(long, value_enum, default_value = "both")]
    backend: Which,
    /// Events for the batched cases.
    #[arg(long, default_value_t = 100_000)]
    n: u64,
    /// Events appended one per transaction.
    #[arg(long, default_value_t = 2_000)]
    n_single: u64,
    /// Events for the latency case, appended one at a time at --rate.
    #[arg(long, default_value_t = 5_000)]
    n_latency: u64,
    /// Appends per second in the latency case.
    #[arg(long, default_value_t = 2_000)]
    rate: u64,
    /// Payload bytes per event.
    #[arg(long, default_value_t = 200)]
    payload: usize,
    /// PostgreSQL server (a scratch database is created and dropped).
    #[arg(long, env = "TRIAD_BENCH_PG", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pg: String,
    /// NATS server.
    #[arg(long, env = "TRIAD_BENCH_NATS", default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

/// A scratch world for one backend: stores made on demand, cleaned up after.
struct World {
    name: &'static str,
    bus: Arc<dyn EventBus>,
    embedded: Option<InProcessBus>,
    dir: std::path::PathBuf,
    prefix: String,
    pg: String,
    jetstream: Option<JetStreamBus>,
    databases: Vec<String>,
}

impl World {
    async fn new(which: Which, args: &Args) -> Result<Self> {
        let prefix = format!("bench{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let dir = std::env::temp_dir().join(&prefix);
        std::fs::create_dir_all(&dir)?;
        Ok(match which {
            Which::Embedded | Which::Both => {
                let bus = InProcessBus::new();
                Self {
                    name: "embedded",
                    bus: Arc::new(bus.clone()),
                    embedded: Some(bus),
                    dir,
                    prefix,
                    pg: args.pg.clone(),
                    jetstream: None,
                    databases: vec![],
                }
            }
            Which::Distributed => {
                let js = JetStreamBus::connect(JetStreamConfig {
                    url: args.nats.clone(),
                    names: BusNames::prefixed(&prefix),
                    ..Default::default()
                })
                .await
                .with_context(|| format!("is nats-server with JetStream running at {}?", args.nats))?;
                Self {
                    name: "distributed",
                    bus: Arc::new(js.clone()),
                    embedded: None,
                    dir,
                    prefix,
                    pg: args.pg.clone(),
                    jetstream: Some(js),
                    databases: vec![],
                }
            }
        })
    }

    async fn store(&mut self, service: &str) -> Result<Arc<dyn EventStore>> {
        let store: Arc<dyn EventStore> = match &self.embedded {
            Some(bus) => {
                let s = SqliteEventStore::open(&self.dir.join(format!("{service}.sqlite")), service).await?;
                bus.register(s.clone()).await?;
                Arc::new(s)
            }
            None => {
                let db = format!("{}_{service}", self.prefix);
                PgEventStore::create_database(&self.pg, &db)
                    .await
                    .with_context(|| format!("is PostgreSQL running at {}?", self.pg))?;
                self.databases.push(db.clone());
                let url = match self.pg.rsplit_once('/') {
                    Some((base, _)) => format!("{base}/{db}"),
                    None => format!("{}/{db}", self.pg),
                };
                Arc::new(PgEventStore::connect(&url, service).await?)
            }
        };
        self.bus.ensure_stream(service).await?;
        Ok(store)
    }

    async fn cleanup(self) {
        for db in &self.databases {
            let _ = PgEventStore::drop_database(&self.pg, db).await;
            if let Some(js) = &self.jetstream
                && let Some(service) = db.strip_prefix(&format!("{}_", self.prefix))
            {
                let _ = js.delete_stream(service).await;
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn event(payload: usize) -> EventData {
    EventData::new("Measured", vec![0x5a; payload])
}

pub async fn run(args: Args) -> Result<()> {
    let mut report = Report::new(args.json);
    let which: &[Which] = match args.backend {
        Which::Both => &[Which::Embedded, Which::Distributed],
        Which::Embedded => &[Which::Embedded],
        Which::Distributed => &[Which::Distributed],
    };
    for &w in which {
        let mut world = World::new(w, &args).await?;
        let result = measure(&mut world, &args, &mut report).await;
        world.cleanup().await;
        result?;
    }
    Ok(())
}

async fn measure(world: &mut World, args: &Args, report: &mut Report) -> Result<()> {
    let backend = world.name.to_owned();
    let row = |case: &str, n: u64, secs: f64| Row {
        suite: "eventlog",
        case: case.to_owned(),
        backend: backend.clone(),
        n,
        secs,
        per_sec: Some(n as f64 / secs.max(1e-9)),
        p50_ms: None,
        p99_ms: None,
        bytes_per_party: None,
        rounds: None,
        checked: None,
        host: Host::current(),
    };

    // Appends, one event per transaction.
    let store = world.store("single").await?;
    let t = Instant::now();
    for i in 0..args.n_single {
        store
            .append(vec![Append::new(format!("s-{}", i % 16), ExpectedVersion::Any, vec![event(args.payload)])])
            .await?;
    }
    report.row(&row("append_single", args.n_single, t.elapsed().as_secs_f64()))?;

    // Appends in batches.
    for batch in [100u64, 1_000] {
        let store = world.store(&format!("batch{batch}")).await?;
        let t = Instant::now();
        for i in 0..args.n / batch {
            let events = (0..batch).map(|_| event(args.payload)).collect();
            store.append(vec![Append::new(format!("s-{}", i % 16), ExpectedVersion::Any, events)]).await?;
        }
        report.row(&row(&format!("append_batch_{batch}"), args.n / batch * batch, t.elapsed().as_secs_f64()))?;
    }

    // Appended in batches of 100, relayed and delivered to a handler.
    let store = world.store("pipeline").await?;
    let (delivered, secs, _) = pipeline(world.bus.clone(), store, args.n, 100, args.payload, None).await?;
    report.row(&row("append_to_handler_batch_100", delivered, secs))?;

    // Latency at a steady rate, one event per append.
    let store = world.store("latency").await?;
    let (delivered, secs, lat) =
        pipeline(world.bus.clone(), store, args.n_latency, 1, args.payload, Some(args.rate)).await?;
    let mut r = row("latency_append_to_handler", delivered, secs);
    r.p50_ms = Some(lat.value_at_quantile(0.50) as f64 / 1000.0);
    r.p99_ms = Some(lat.value_at_quantile(0.99) as f64 / 1000.0);
    report.row(&r)?;

    // Through the idempotent subscriber: each handling commits its checkpoint.
    let store = world.store("idem_source").await?;
    let sink = world.store("idem_sink").await?;
    let n = (args.n / 5).max(1_000);
    for i in 0..n / 100 {
        let events = (0..100).map(|_| event(args.payload)).collect();
        store.append(vec![Append::new(format!("s-{}", i % 16), ExpectedVersion::Any, events)]).await?;
    }
    let t = Instant::now();
    Relay::new(store.clone(), world.bus.clone()).publish_pending().await?;
    let mut sub = Subscriber::new(world.bus.as_ref(), ConsumerSpec::new("bench", "idem_source"), sink.clone()).await?;
    let mut handled = 0u64;
    let handler = NoEffects;
    while handled < n {
        let step = sub.step(&handler, Duration::from_secs(5)).await?;
        anyhow::ensure!(step.seen() > 0, "the idempotent subscriber stalled at {handled} of {n}");
        handled += step.applied as u64;
    }
    report.row(&row("relay_and_idempotent_handler", n, t.elapsed().as_secs_f64()))?;
    Ok(())
}

struct NoEffects;

#[async_trait::async_trait]
impl triad_eventlog::Handler for NoEffects {
    async fn handle(&self, _: &triad_eventlog::RecordedEvent) -> Result<Vec<Append>, triad_eventlog::HandlerError> {
        Ok(Vec::new())
    }
}

/// Appends `n` events in batches of `batch` (paced at `rate` appends/s if
/// given) with a relay running, and a raw handler that acks each delivery.
/// Returns the events delivered, the seconds from the first append to the
/// last delivery, and the append-to-handler latency histogram (µs).
async fn pipeline(
    bus: Arc<dyn EventBus>,
    store: Arc<dyn EventStore>,
    n: u64,
    batch: u64,
    payload: usize,
    rate: Option<u64>,
) -> Result<(u64, f64, hdrhistogram::Histogram<u64>)> {
    let service = store.service().to_owned();
    let mut sub =
        bus.subscribe(&ConsumerSpec { max_ack_pending: 10_000, ..ConsumerSpec::new("bench", &service) }).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relay = tokio::spawn(
        Relay::new(store.clone(), bus.clone()).poll_interval(Duration::from_millis(50)).run(stopped.map(|_| ())),
    );
    let handler = tokio::spawn(async move {
        let mut hist = hdrhistogram::Histogram::<u64>::new(3)?;
        let mut got = 0u64;
        while got < n {
            let deliveries = sub.next_batch(1_000, Duration::from_secs(10)).await?;
            anyhow::ensure!(!deliveries.is_empty(), "no delivery for 10 s after {got} of {n}");
            let now = now_micros();
            for d in deliveries {
                hist.record(u64::try_from(now - d.event.data.occurred_at).unwrap_or(0))?;
                d.ack().await?;
                got += 1;
            }
        }
        Ok::<_, anyhow::Error>((got, Instant::now(), hist))
    });
    let start = Instant::now();
    let pace = rate.map(|r| Duration::from_secs_f64(batch as f64 / r as f64));
    for i in 0..n / batch {
        if let Some(p) = pace {
            tokio::time::sleep_until((start + p * i as u32).into()).await;
        }
        let events = (0..batch).map(|_| event(payload)).collect();
        store.append(vec![Append::new(format!("s-{}", i % 16), ExpectedVersion::Any, events)]).await?;
    }
    let (got, end, hist) = handler.await??;
    let _ = stop.send(());
    relay.await?;
    Ok((got, (end - start).as_secs_f64(), hist))
}
