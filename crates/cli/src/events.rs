//! `triad events`: dump a service's events as JSON lines for audit, from its
//! store or from its JetStream stream.

use anyhow::{Context, Result};
use async_nats::jetstream::consumer::{DeliverPolicy, OrderedPullConsumer};
use clap::Subcommand;
use futures::StreamExt;
use prost_reflect::DynamicMessage;
use serde_json::{Value, json};
use std::path::PathBuf;
use triad_eventlog::{BusNames, EventStore, PgEventStore, RecordedEvent, SqliteEventStore, codec};
use uuid::Uuid;

#[derive(Subcommand)]
pub enum Command {
    /// Prints every event of a service from a position on, one JSON object per line.
    Dump(DumpArgs),
}

#[derive(clap::Args)]
pub struct DumpArgs {
    /// The service whose events to dump (e.g. coordinator).
    #[arg(long)]
    service: String,
    /// Start after this position (0 = from the beginning).
    #[arg(long, default_value_t = 0)]
    after: u64,
    /// Read the service's PostgreSQL store.
    #[arg(long, conflicts_with_all = ["sqlite", "nats"])]
    database_url: Option<String>,
    /// Read the service's embedded SQLite store.
    #[arg(long, conflicts_with = "nats")]
    sqlite: Option<PathBuf>,
    /// Read the service's JetStream stream on this NATS server.
    #[arg(long)]
    nats: Option<String>,
    /// Subject prefix of the network (JetStream only).
    #[arg(long, default_value = "triad")]
    prefix: String,
}

pub async fn run(cmd: Command) -> Result<()> {
    match cmd {
        Command::Dump(args) => dump(args).await,
    }
}

async fn dump(args: DumpArgs) -> Result<()> {
    let store: Box<dyn EventStore> = if let Some(url) = &args.database_url {
        Box::new(
            PgEventStore::connect(url, &args.service).await.with_context(|| format!("opening the store at {url}"))?,
        )
    } else if let Some(path) = &args.sqlite {
        anyhow::ensure!(path.exists(), "no SQLite store at {}", path.display());
        Box::new(SqliteEventStore::open(path, &args.service).await?)
    } else if let Some(url) = &args.nats {
        return dump_stream(url, &args).await;
    } else {
        anyhow::bail!("say where to read: --database-url URL, --sqlite FILE or --nats URL");
    };
    let mut after = args.after;
    loop {
        let page = store.read_all(after, 1_000).await?;
        let Some(last) = page.last() else { return Ok(()) };
        after = last.position;
        for e in &page {
            println!("{}", event_json(e));
        }
    }
}

async fn dump_stream(url: &str, args: &DumpArgs) -> Result<()> {
    let client = async_nats::connect(url).await.with_context(|| format!("connecting to NATS at {url}"))?;
    let js = async_nats::jetstream::new(client);
    let name = BusNames::prefixed(&args.prefix).stream(&args.service);
    let mut stream = js.get_stream(&name).await.with_context(|| format!("no stream {name}"))?;
    let last = stream.info().await?.state.last_sequence;
    if last == 0 {
        return Ok(());
    }
    let consumer: OrderedPullConsumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    while let Some(msg) = messages.next().await {
        let msg = msg?;
        let seq = msg.info().map(|i| i.stream_sequence).unwrap_or(last);
        match codec::decode(&msg.payload) {
            Ok(e) if e.position > args.after => println!("{}", event_json(&e)),
            Ok(_) => {}
            Err(why) => println!("{}", json!({ "stream_sequence": seq, "undecodable": why })),
        }
        if seq >= last {
            break;
        }
    }
    Ok(())
}

/// An event as one JSON object; the payload decoded when it is a Triad event.
pub fn event_json(e: &RecordedEvent) -> Value {
    let id = |u: Option<Uuid>| u.map(|u| u.to_string());
    json!({
        "service": e.service,
        "position": e.position,
        "stream": e.stream,
        "version": e.version,
        "event_id": e.data.id.to_string(),
        "event_type": e.data.event_type,
        "schema_version": e.data.schema_version,
        "causation_id": id(e.data.causation_id),
        "correlation_id": id(e.data.correlation_id),
        "occurred_at_unix_micros": e.data.occurred_at,
        "payload": payload_json(e),
    })
}

fn payload_json(e: &RecordedEvent) -> Value {
    let pool = triad_proto::descriptor_pool();
    if let Some(desc) = pool.get_message_by_name("triad.events.v1.Event")
        && let Ok(msg) = DynamicMessage::decode(desc, e.data.payload.as_ref())
        && let Ok(v) = serde_json::to_value(&msg)
        && v.as_object().is_some_and(|o| o.len() == 1)
    {
        return v;
    }
    json!({ "hex": e.data.payload.iter().map(|b| format!("{b:02x}")).collect::<String>() })
}
