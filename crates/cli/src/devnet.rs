//! `triad devnet`: the main job. A whole network in this process on the embedded default (a
//! SQLite store per service, the in-process bus; no servers): the coordinator and the projector
//! served over gRPC on loopback, three parties with their own keys, stores and TLS data plane,
//! and a development notary with a mock exchange. Providers prove their balances, share them
//! to the parties and submit over gRPC; a few cheat (they share more than they proved) and the
//! parties' check inside MPC rejects them; then the consumer's queries run in MPC and their
//! published results are printed beside the plaintext reference over the accepted balances.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use indicatif::{ProgressBar, ProgressStyle};
use triad_dev_notary::Account;
use triad_localnet::{Backend, DatasetSpec, LocalNet, Provider, heavy_tailed_balances};
use triad_proto::api::v1 as api;
use triad_provider::DecimalFormat;
use triad_stats::exec::Answer;
use triad_stats::{Decimal, Schema};

/// The dataset the devnet creates.
const DATASET: &str = "eth_balance";

/// The consumer's default queries.
const DEFAULT_QUERIES: &[&str] = &[
    "SELECT count(*), avg(balance), min(balance), max(balance) FROM eth_balance",
    "SELECT median(balance), percentile_cont(0.9) WITHIN GROUP (ORDER BY balance) AS p90 FROM eth_balance",
    "SELECT stddev(balance), sum(balance) FROM eth_balance",
    "SELECT count(*), avg(balance) FROM eth_balance WHERE balance >= 1",
    // Too few whales: the parties refuse to open an answer over fewer than min_cohort rows.
    "SELECT count(*) FROM eth_balance WHERE balance >= 5000",
];

#[derive(clap::Args)]
pub struct Args {
    /// Where the services keep their stores and keys (a fresh temporary directory, removed at
    /// the end, if unset).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Honest providers.
    #[arg(long, default_value_t = 100)]
    providers: usize,
    /// Dishonest providers: each shares ten times the balance it proved.
    #[arg(long, default_value_t = 3)]
    cheaters: usize,
    /// A query to run (repeatable); the default is a set of statistics over `eth_balance`
    /// (column `balance`).
    #[arg(long = "sql")]
    sql: Vec<String>,
    /// One JSON object per query on stdout (`sql`, `columns`, `rows`, `reference`,
    /// `difference`); progress goes to stderr.
    #[arg(long)]
    json: bool,
    /// The smallest cohort a query may open.
    #[arg(long, default_value_t = 10)]
    min_cohort: u64,
    /// Where the services' stores and bus live: `embedded` (SQLite files in --dir and the
    /// in-process bus) or `distributed` (a PostgreSQL database per service and NATS
    /// JetStream; both are made fresh for the run and removed after it unless --keep).
    #[arg(long, value_enum, default_value_t = BackendArg::Embedded)]
    backend: BackendArg,
    /// Distributed: a PostgreSQL URL whose user may create databases.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// Distributed: the NATS server (with JetStream).
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// Distributed: keep the run's databases and streams (their names are printed).
    #[arg(long)]
    keep: bool,
    /// How long the intake and each query may take, seconds.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BackendArg {
    Embedded,
    Distributed,
}

pub async fn run(args: Args) -> Result<()> {
    ensure!(args.providers + args.cheaters > 0, "--providers and --cheaters are both 0: nobody contributes");
    let temp = match &args.dir {
        Some(_) => None,
        None => {
            Some(tempfile::Builder::new().prefix("triad-devnet-").tempdir().context("making a temporary directory")?)
        }
    };
    let dir = match (&args.dir, &temp) {
        (Some(d), _) => d.clone(),
        (None, Some(t)) => t.path().to_owned(),
        (None, None) => bail!("no directory"),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let say = Say { json: args.json };
    say.line(format!("triad devnet: a whole network in this process, working in {}", dir.display()));

    let balances = heavy_tailed_balances(args.providers + args.cheaters, 0x7472_6961_6464_6576);
    let providers: Vec<(Account, Provider)> = balances
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let behaviour = if i < args.providers { Provider::Honest } else { Provider::InflatesTenfold };
            Ok((Account::new(&format!("token-{i:05}"), &format!("u-{i:05}"), b, "ETH")?, behaviour))
        })
        .collect::<Result<_>>()?;
    let backend = match args.backend {
        BackendArg::Embedded => Backend::Embedded,
        BackendArg::Distributed => {
            Backend::Distributed { database_url: args.database_url.clone(), nats_url: args.nats_url.clone() }
        }
    };
    let started = Instant::now();
    let net = LocalNet::start(&dir, backend, providers.iter().map(|(a, _)| a.clone()).collect()).await?;
    say.line(format!(
        "  started in {:.1} s: coordinator {}, projector {}, parties {}",
        started.elapsed().as_secs_f64(),
        net.coordinator_addr,
        net.projector_addr,
        net.party_addresses().join(", ")
    ));
    say.line(format!("  event log: {}", net.describe()));
    let outcome = walk(&net, &args, &say, &providers).await;
    net.stop(args.keep).await;
    let (published, refused) = outcome?;
    if args.dir.is_some() && args.backend == BackendArg::Embedded {
        say.line(format!(
            "the services' event logs are in {}; read one with: triad events dump --service coordinator --sqlite {}",
            dir.display(),
            dir.join("coordinator.sqlite").display()
        ));
    }
    say.line(format!("done: {published} queries published, {refused} refused"));
    Ok(())
}

/// The flow: dataset, contributions, intake, queries. Returns the numbers of queries
/// published and refused.
async fn walk(net: &LocalNet, args: &Args, say: &Say, providers: &[(Account, Provider)]) -> Result<(usize, usize)> {
    let mut client = net.client.clone();
    let network = net.wait_up(Duration::from_secs(60)).await?;
    say.line("three parties joined and are up");
    let keys = LocalNet::share_keys(&network)?;

    // The operator creates the dataset.
    let spec = DatasetSpec {
        id: DATASET.into(),
        format: DecimalFormat::new(6, 2, 16).context("the dataset's value format")?,
        min_cohort: args.min_cohort,
    };
    net.create_dataset(&spec).await?;
    say.line(format!("dataset {DATASET}: one column `balance`, 0 to 999999.99, min_cohort {}", args.min_cohort));

    // The providers: prove, share, seal, submit.
    let bar = if args.json { ProgressBar::hidden() } else { say.bar(providers.len() as u64, "providers submitted") };
    let started = Instant::now();
    let mut refused_at_door = 0usize;
    for (k, (account, behaviour)) in providers.iter().enumerate() {
        let submit = net.submission(&account.token, &spec, &keys, *behaviour).await?;
        client.submit_contribution(submit).await.map_err(grpc_error("submitting a contribution"))?;
        // The first provider also tries to contribute twice (a new proof and contribution
        // id, the same account): the coordinator's Sybil guard refuses it at the door.
        if k == 0 {
            let again = net.submission(&account.token, &spec, &keys, *behaviour).await?;
            match client.submit_contribution(again).await {
                Err(e) if e.code() == tonic::Code::AlreadyExists => refused_at_door += 1,
                Err(e) => bail!("a second contribution of one account: expected ALREADY_EXISTS, got {e}"),
                Ok(_) => bail!("a second contribution of one account was accepted"),
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    say.line(format!(
        "{} contributions submitted in {:.1} s ({} honest, {} cheating); {} duplicate account refused at the door",
        providers.len(),
        started.elapsed().as_secs_f64(),
        args.providers,
        args.cheaters,
        refused_at_door
    ));

    // The parties' intake: bundles opened and cross-checked, the commitments checked in MPC.
    let started = Instant::now();
    let bar = if args.json { ProgressBar::hidden() } else { say.bar(providers.len() as u64, "contributions decided") };
    let status = net
        .wait_decided(DATASET, providers.len() as u64, Duration::from_secs(args.timeout_secs), |n| bar.set_position(n))
        .await?;
    bar.finish_and_clear();
    say.line(format!(
        "intake in MPC: {} accepted, {} rejected in {:.1} s",
        status.accepted,
        status.rejected,
        started.elapsed().as_secs_f64()
    ));
    let rejections = net.rejections().await?;
    for (uid, reason) in &rejections {
        say.line(format!("  rejected {uid}: {reason}"));
    }
    ensure!(
        status.accepted as usize == args.providers && rejections.len() == args.cheaters,
        "expected {} accepted and {} rejected, found {} and {}",
        args.providers,
        args.cheaters,
        status.accepted,
        rejections.len()
    );

    // The consumer's queries, with the plaintext reference over the accepted balances.
    let dataset = status.dataset.clone().ok_or_else(|| anyhow!("the coordinator reports no dataset"))?;
    let schema = triad_network::schema(&dataset)?;
    let honest: Vec<Vec<Decimal>> = providers
        .iter()
        .filter(|(_, b)| *b == Provider::Honest)
        .map(|(a, _)| Decimal::parse(&a.balance).map(|d| vec![d]).map_err(|e| anyhow!("{e}")))
        .collect::<Result<_>>()?;
    let queries: Vec<String> =
        if args.sql.is_empty() { DEFAULT_QUERIES.iter().map(|s| (*s).to_owned()).collect() } else { args.sql.clone() };
    let (mut published, mut refused) = (0, 0);
    for sql in &queries {
        let reference = reference(&schema, &honest, sql)?;
        let started = Instant::now();
        let submitted = client
            .submit_query(api::SubmitQueryRequest { sql: sql.clone(), requested_by: "devnet".into() })
            .await
            .map_err(grpc_error(&format!("submitting {sql:?}")))?
            .into_inner();
        let waited = net.projector.wait_query(&submitted.query_id, Duration::from_secs(args.timeout_secs)).await;
        let result = match waited {
            Ok(r) => r,
            Err(triad_projector::ProjectorError::Aborted { reason, .. }) => {
                if args.json {
                    println!("{}", serde_json::json!({ "sql": sql, "aborted": reason }));
                } else {
                    println!("\n{sql}\n  refused by the parties: {reason}");
                }
                refused += 1;
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("query {sql:?}")),
        };
        let answer = triad_network::answer_of(&result.values);
        if args.json {
            let mut o = crate::stats::json(&answer, Some(&reference));
            o["sql"] = serde_json::json!(sql);
            o["rows_in_snapshot"] = serde_json::json!(result.rows);
            println!("{o}");
        } else {
            println!(
                "\n{sql}\n  published in {:.1} s over {} contributions (snapshot at coordinator position {})",
                started.elapsed().as_secs_f64(),
                result.rows,
                result.snapshot
            );
            print!("{}", show(&answer, &reference));
        }
        published += 1;
    }
    Ok((published, refused))
}

/// Progress and tables go to stdout, or to stderr under `--json`.
struct Say {
    json: bool,
}

impl Say {
    fn line(&self, s: impl AsRef<str>) {
        if self.json {
            eprintln!("{}", s.as_ref());
        } else {
            println!("{}", s.as_ref());
        }
    }

    fn bar(&self, len: u64, what: &str) -> ProgressBar {
        let bar = ProgressBar::new(len);
        if let Ok(style) = ProgressStyle::with_template("  {msg:<24} [{bar:30}] {pos}/{len} {elapsed}") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_owned());
        bar
    }
}

/// A one-row answer as a line per statistic beside the plaintext; more rows as a table.
fn show(answer: &Answer, reference: &Answer) -> String {
    use triad_stats::format::{difference, number};
    let [row] = answer.rows.as_slice() else { return triad_stats::format::table(answer, Some(reference)) };
    let width = answer.columns.iter().map(String::len).max().unwrap_or(0);
    let mut out = String::new();
    for (k, (name, v)) in answer.columns.iter().zip(row).enumerate() {
        let r = reference.rows.first().and_then(|r| r.get(k)).copied().flatten();
        out.push_str(&format!(
            "  {name:<width$}  {:>14}   plaintext {:>14}   difference {}\n",
            number(*v),
            number(r),
            number(difference(*v, r))
        ));
    }
    out
}

fn grpc_error(what: &str) -> impl Fn(tonic::Status) -> anyhow::Error + '_ {
    move |s| anyhow!("{what}: {} ({:?})", s.message(), s.code())
}

/// The plaintext answer over the honest providers' balances.
fn reference(schema: &Schema, rows: &[Vec<Decimal>], sql: &str) -> Result<Answer> {
    let query = triad_stats::plan(schema, sql).with_context(|| format!("planning {sql:?}"))?;
    let data = triad_stats::Dataset::from_decimals(schema.clone(), rows)?;
    Ok(Answer::of_reference(&triad_stats::evaluate(&query, &data)?))
}
