//! `triad bench network`: the whole network in one process (`triad-localnet`: coordinator and
//! projector over gRPC, three parties over TLS), on the embedded backend and on PostgreSQL +
//! NATS JetStream. Case `ingest`: n contributions from the first `SubmitContribution` to all
//! of them verified by the three parties (accepted at the coordinator); the providers' proofs
//! and bundles are made before the clock. Case `query_mean_median`: from `SubmitQuery` to the
//! result in the projector, over the n contributions. Each run checks, outside the clock, that
//! every contribution was accepted and that the mean and median equal the plaintext's.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, ensure};
use futures::StreamExt as _;
use triad_dev_notary::Account;
use triad_localnet::{Backend, DatasetSpec, LocalNet, Provider, heavy_tailed_balances};
use triad_proto::api::v1 as api;

use crate::eventlog::Which;
use crate::{Host, Report, Row};

/// A query slower than this prints what it went through (sessions, attempts, signatures).
const SLOW_QUERY_SECS: f64 = 5.0;

#[derive(clap::Args)]
pub struct Args {
    /// Backends to measure.
    #[arg(long, value_enum, default_value = "both")]
    backend: Which,
    /// Contributions per run (comma-separated for several runs).
    #[arg(long, value_delimiter = ',', default_value = "10000")]
    n: Vec<u64>,
    /// Submissions in flight at once. Providers are independent clients: at 2,000
    /// submissions/s with a 50 ms round trip each, about 100 are in flight (Little's law).
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
    /// PostgreSQL server (a database per service is created and dropped).
    #[arg(long, env = "TRIAD_BENCH_PG", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pg: String,
    /// NATS server.
    #[arg(long, env = "TRIAD_BENCH_NATS", default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// Give up on a run after this long, seconds.
    #[arg(long, default_value_t = 1_800)]
    timeout_secs: u64,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

const DATASET: &str = "bench";

pub async fn run(args: Args) -> Result<()> {
    let mut report = Report::new(args.json);
    let backends: Vec<Which> = match args.backend {
        Which::Both => vec![Which::Embedded, Which::Distributed],
        one => vec![one],
    };
    for &n in &args.n {
        ensure!(n >= 10, "--n {n}: at least 10 contributions (the dataset's min_cohort)");
        for &which in &backends {
            for row in one_run(&args, which, n).await? {
                report.row(&row)?;
            }
        }
    }
    Ok(())
}

async fn one_run(args: &Args, which: Which, n: u64) -> Result<Vec<Row>> {
    let (backend, name) = match which {
        Which::Distributed => {
            (Backend::Distributed { database_url: args.pg.clone(), nats_url: args.nats.clone() }, "distributed")
        }
        _ => (Backend::Embedded, "embedded"),
    };
    let dir = tempfile_dir()?;
    let balances = heavy_tailed_balances(n as usize, n);
    let accounts = balances
        .iter()
        .enumerate()
        .map(|(i, b)| Account::new(&format!("t{i}"), &format!("u{i}"), b, "ETH"))
        .collect::<Result<Vec<_>, _>>()?;
    let net = LocalNet::start(&dir, backend, accounts).await?;
    let outcome = measure(&net, args, name, n, &balances).await;
    net.stop(false).await;
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

async fn measure(net: &LocalNet, args: &Args, backend: &str, n: u64, balances: &[String]) -> Result<Vec<Row>> {
    let network = net.wait_up(Duration::from_secs(60)).await?;
    let keys = LocalNet::share_keys(&network)?;
    let spec = DatasetSpec::balances(DATASET, 6, 2, 10);
    net.create_dataset(&spec).await?;

    // The providers' side, before the clock: proofs at the notary, bundles sealed.
    let prepared = Instant::now();
    let submissions: Vec<api::SubmitContributionRequest> = futures::stream::iter(0..n)
        .map(|i| {
            let (spec, keys) = (&spec, &keys);
            async move { net.submission(&format!("t{i}"), spec, keys, Provider::Honest).await }
        })
        .buffered(args.concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    eprintln!("{backend}: {n} submissions prepared in {:.1} s", prepared.elapsed().as_secs_f64());
    // The network key is made once when a network first comes up, not per query: wait for it
    // before the clock, so that its generation (DKLs23, retried if a round times out on a busy
    // machine) neither competes with the ingest nor holds the query's signature.
    let timeout = Duration::from_secs(args.timeout_secs);
    let key = Instant::now();
    net.wait_key(timeout).await.context("the network key")?;
    eprintln!("{backend}: the network key was ready {:.1} s after the preparation", key.elapsed().as_secs_f64());

    // The host's state, to set beside figures of other hours (its context switches cost
    // several times more when its neighbours are busy).
    if let Some(us) = crate::cpu::handoff_micros(20_000) {
        eprintln!("{backend}: the machine before the clock: a thread hand-off round trip takes {us:.1} µs");
    }

    // ingest: submitted to verified by the three parties.
    let (process_cpu, machine_cpu) = (crate::cpu::process_secs(), crate::cpu::machine_busy_secs());
    let started = Instant::now();
    let results: Vec<Result<_, tonic::Status>> = futures::stream::iter(submissions)
        .map(|s| {
            let mut client = net.client.clone();
            async move { client.submit_contribution(s).await }
        })
        .buffer_unordered(args.concurrency.max(1))
        .collect()
        .await;
    let submitted_secs = started.elapsed().as_secs_f64();
    for r in results {
        r.map_err(|s| anyhow!("a submission was refused: {} ({:?})", s.message(), s.code()))?;
    }
    let status = net.wait_decided(DATASET, n, timeout, |_| {}).await?;
    let ingest_secs = started.elapsed().as_secs_f64();
    ensure!(status.accepted == n, "{} of {n} contributions accepted ({} rejected)", status.accepted, status.rejected);
    eprintln!("{backend}: {n} submitted in {submitted_secs:.2} s, all verified after {ingest_secs:.2} s");
    // What the run cost, its idle waits left out: on two cores the bar (2,000/s) is ~1 ms of
    // the machine's CPU per contribution.
    let spent = |before: Option<f64>, now: Option<f64>| before.zip(now).map(|(b, a)| a - b);
    if let Some(machine) = spent(machine_cpu, crate::cpu::machine_busy_secs()) {
        let process = spent(process_cpu, crate::cpu::process_secs())
            .map_or_else(String::new, |p| format!(" (this process {p:.1} s)"));
        eprintln!(
            "{backend}: the machine's CPU while ingesting: {machine:.1} s{process}, {:.2} ms per contribution",
            machine * 1e3 / n as f64
        );
    }

    // query_mean_median: SubmitQuery to the result in the projector.
    let before_query = net.coordinator_head().await?;
    let started = Instant::now();
    let query = net
        .client
        .clone()
        .submit_query(api::SubmitQueryRequest {
            sql: format!("SELECT avg(balance), median(balance) FROM {DATASET}"),
            requested_by: "bench".into(),
        })
        .await
        .map_err(|s| anyhow!("submitting the query: {}", s.message()))?
        .into_inner();
    let published = net.projector.wait_query(&query.query_id, timeout).await.context("the query")?;
    let query_secs = started.elapsed().as_secs_f64();
    if query_secs > SLOW_QUERY_SECS {
        // Far slower than usual (~0.3 s for 10^4): say what it went through.
        eprintln!("{backend}: the query took {query_secs:.1} s; the coordinator's events since it was asked:");
        for line in net.timeline_after(before_query).await? {
            eprintln!("  {line}");
        }
    }

    // The check, outside the clock.
    let answer = triad_network::answer_of(&published.values);
    let values: Vec<f64> = balances.iter().map(|b| b.parse::<f64>()).collect::<Result<_, _>>()?;
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let mut sorted = values;
    sorted.sort_by(f64::total_cmp);
    let k = sorted.len();
    let median = if k.is_multiple_of(2) { (sorted[k / 2 - 1] + sorted[k / 2]) / 2.0 } else { sorted[k / 2] };
    let row = answer.rows.first().ok_or_else(|| anyhow!("an empty answer"))?;
    let (got_mean, got_median) = match row.as_slice() {
        [Some(m), Some(md)] => (*m, *md),
        other => return Err(anyhow!("unexpected answer {other:?}")),
    };
    ensure!(published.rows == n, "the query covered {} rows, not {n}", published.rows);
    ensure!((got_mean - mean).abs() <= 1e-6 * mean.abs().max(1.0), "mean {got_mean}, plaintext {mean}");
    ensure!((got_median - median).abs() <= 1e-9 * median.abs().max(1.0), "median {got_median}, plaintext {median}");

    let row = |case: &str, secs: f64| Row {
        suite: "network",
        case: case.to_owned(),
        backend: backend.to_owned(),
        n,
        secs,
        per_sec: Some(n as f64 / secs.max(1e-9)),
        p50_ms: None,
        p99_ms: None,
        bytes_per_party: None,
        rounds: None,
        checked: Some(true),
        host: Host::current(),
    };
    Ok(vec![row("ingest", ingest_secs), row("query_mean_median", query_secs)])
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("triad-bench-network-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
