//! `triad devnet`: the main job. A whole network in this process on the embedded default (a
//! SQLite store per service, the in-process bus; no servers): the coordinator and the projector
//! served over gRPC on loopback, three parties with their own keys, stores and TLS data plane,
//! and a development notary with a mock exchange. Providers prove two values of their account
//! (the balance and the number of trades, each hidden behind its own commitment in one
//! presentation), share them to the parties and submit over gRPC; a few cheat (they share more
//! trades than they proved) and the parties' check inside MPC rejects them; then the
//! consumer's queries run in MPC and their published results are printed beside the plaintext
//! reference over the accepted rows.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use indicatif::{ProgressBar, ProgressStyle};
use triad_dev_notary::Account;
use triad_dev_notary::DevNotaryConfig;
use triad_localnet::{Backend, DatasetSpec, LocalNet, Provider, Tuning, heavy_tailed_balances};

use crate::devnet_net::{DevNet, Outcome};
use triad_proto::api::v1 as api;
use triad_stats::exec::Answer;
use triad_stats::{Decimal, Schema};

/// The dataset the devnet creates from simulated providers.
const DATASET: &str = "eth_balance";

/// The consumer's default queries.
const DEFAULT_QUERIES: &[&str] = &[
    "SELECT count(*), avg(balance), min(balance), max(balance) FROM eth_balance",
    "SELECT median(balance), percentile_cont(0.9) WITHIN GROUP (ORDER BY balance) AS p90 FROM eth_balance",
    "SELECT stddev(balance), sum(balance) FROM eth_balance",
    "SELECT count(*), avg(balance) FROM eth_balance WHERE balance >= 1",
    "SELECT avg(trades), corr(balance, trades), regr_slope(trades, balance) FROM eth_balance",
    // Too few whales: the parties refuse to open an answer over fewer than min_cohort rows.
    "SELECT count(*) FROM eth_balance WHERE balance >= 5000",
];

#[derive(clap::Args)]
pub struct Args {
    /// Where the services keep their stores and keys (a fresh temporary directory, removed at
    /// the end, if unset).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Honest providers (simulated: heavy-tailed balances and a trade count each).
    #[arg(long, default_value_t = 1000, conflicts_with = "data")]
    providers: usize,
    /// Providers from a CSV file instead of simulated ones: a header row naming the dataset's
    /// columns, then one provider per row, each value an unsigned decimal (it is proven as a
    /// hidden JSON number of the provider's response). The dataset is named after the file's
    /// stem (`FROM incomes` reads `incomes.csv`); its columns' digits and decimals are the
    /// data's, so the schema reveals only their number of digits.
    #[arg(long, value_name = "FILE.csv")]
    data: Option<PathBuf>,
    /// Dishonest providers: each shares ten times the last value it proved (its trade count;
    /// with --data, copies of the first rows under accounts of their own).
    #[arg(long, default_value_t = 3)]
    cheaters: usize,
    /// A query to run (repeatable); the default is a set of statistics over `eth_balance`
    /// (columns `balance` and `trades`).
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
    /// One OS process per service (`triad-coordinator`, three `triad-party`,
    /// `triad-projector`, found next to this binary: build them first with `cargo build
    /// --release -p triad-coordinator -p triad-party -p triad-projector`), on PostgreSQL +
    /// JetStream (implies `--backend distributed`; the databases and streams are removed after).
    #[arg(long, conflicts_with = "keep")]
    processes: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BackendArg {
    Embedded,
    Distributed,
}

pub async fn run(args: Args) -> Result<()> {
    let data = match &args.data {
        Some(path) => Data::from_csv(path)?,
        None => Data::simulated(args.providers),
    };
    ensure!(data.rows.len() + args.cheaters > 0, "--providers and --cheaters are both 0: nobody contributes");
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
    if !args.processes {
        say.line(format!("triad devnet: a whole network in this process, working in {}", dir.display()));
    }

    let honest = data.rows.len();
    let providers: Vec<(Account, Provider)> = (0..honest + args.cheaters)
        .map(|i| {
            // A cheater proves the values of an honest row (under its own account) and lies.
            let row = data.rows.get(if i < honest { i } else { (i - honest) % honest.max(1) });
            let behaviour = if i < honest { Provider::Honest } else { Provider::InflatesTenfold };
            Ok((data.account(i, row.map_or(&[][..], Vec::as_slice))?, behaviour))
        })
        .collect::<Result<_>>()?;
    let backend = match args.backend {
        BackendArg::Embedded => Backend::Embedded,
        BackendArg::Distributed => {
            Backend::Distributed { database_url: args.database_url.clone(), nats_url: args.nats_url.clone() }
        }
    };
    let started = Instant::now();
    if args.processes {
        say.line("triad devnet: one process per service on PostgreSQL + JetStream");
        let accounts: Vec<Account> = providers.iter().map(|(a, _)| a.clone()).collect();
        let tuning = triad_itests::network::Tuning::default();
        let mut net = triad_itests::network::Network::start_with(
            accounts,
            &tuning,
            args.nats_url.clone(),
            args.database_url.clone(),
        )
        .await?;
        say.line(format!(
            "  processes started in {:.1} s: coordinator {}, projector {} (databases and streams of prefix {})",
            started.elapsed().as_secs_f64(),
            net.coordinator_addr,
            net.projector_addr,
            net.prefix
        ));
        let (published, refused) = walk(&mut net, &args, &say, &data, &providers).await?;
        drop(net);
        say.line(format!("done: {published} queries published, {refused} refused"));
        return Ok(());
    }
    let notary = DevNotaryConfig {
        accounts: providers.iter().map(|(a, _)| a.clone()).collect(),
        value_fields: data.columns.iter().map(|c| c.0.clone()).collect(),
        ..Default::default()
    };
    let mut net = LocalNet::start_with_notary(&dir, backend, notary, Tuning::default()).await?;
    say.line(format!(
        "  started in {:.1} s: coordinator {}, projector {}, parties {}",
        started.elapsed().as_secs_f64(),
        net.coordinator_addr,
        net.projector_addr,
        net.party_addresses().join(", ")
    ));
    say.line(format!("  event log: {}", net.describe()));
    let outcome = walk(&mut net, &args, &say, &data, &providers).await;
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
async fn walk<N: DevNet>(
    net: &mut N,
    args: &Args,
    say: &Say,
    data: &Data,
    providers: &[(Account, Provider)],
) -> Result<(usize, usize)> {
    let mut client = net.client();
    let network = net.wait_up(Duration::from_secs(60)).await?;
    say.line("three parties joined and are up");
    let keys = LocalNet::share_keys(&network)?;

    // The operator creates the dataset.
    let columns: Vec<(&str, u32, u32)> = data.columns.iter().map(|(n, d, p)| (n.as_str(), *d, *p)).collect();
    let spec = DatasetSpec::new(&data.dataset, &columns, args.min_cohort);
    net.create_dataset(&spec).await?;
    let described: Vec<String> = spec.columns.iter().map(|c| format!("`{}` (0 to {})", c.name, c.max)).collect();
    say.line(format!(
        "dataset {}: {} {}, each a hidden value of the provider's presentation; min_cohort {}",
        data.dataset,
        if described.len() == 1 { "column" } else { "columns" },
        described.join(", "),
        args.min_cohort
    ));
    let dataset_id = data.dataset.as_str();

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
        data.rows.len(),
        args.cheaters,
        refused_at_door
    ));

    // The parties' intake: bundles opened and cross-checked, the commitments checked in MPC.
    let started = Instant::now();
    let bar = if args.json { ProgressBar::hidden() } else { say.bar(providers.len() as u64, "contributions decided") };
    let status = net
        .wait_decided(dataset_id, providers.len() as u64, Duration::from_secs(args.timeout_secs), |n| {
            bar.set_position(n)
        })
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
        status.accepted as usize == data.rows.len() && rejections.len() == args.cheaters,
        "expected {} accepted and {} rejected, found {} and {}",
        data.rows.len(),
        args.cheaters,
        status.accepted,
        rejections.len()
    );

    // The parties' threshold key (generated once all three were up): results are signed under
    // per-dataset keys derived from it, which a consumer checks with the network key alone.
    let key = net.wait_key(Duration::from_secs(args.timeout_secs)).await?;
    let network_key =
        triad_network::network_key(&key).ok_or_else(|| anyhow!("the coordinator serves a malformed network key"))?;
    say.line(format!(
        "network key made by the parties' DKG (DKLs23 2-of-3, secp256k1; public key and chain code, what a \
         consumer pins for `triad verify`): {}",
        network_key.to_hex()
    ));

    // The consumer's queries, with the plaintext reference over the accepted balances.
    let dataset = status.dataset.clone().ok_or_else(|| anyhow!("the coordinator reports no dataset"))?;
    let schema = triad_network::schema(&dataset)?;
    let honest: Vec<Vec<Decimal>> = data
        .rows
        .iter()
        .map(|row| row.iter().map(|v| Decimal::parse(v).map_err(|e| anyhow!("{e}"))).collect())
        .collect::<Result<_>>()?;
    let queries: Vec<String> = if !args.sql.is_empty() {
        args.sql.clone()
    } else if args.data.is_some() {
        data.default_queries()
    } else {
        DEFAULT_QUERIES.iter().map(|s| (*s).to_owned()).collect()
    };
    let (mut published, mut refused) = (0, 0);
    for sql in &queries {
        let reference = reference(&schema, &honest, sql)?;
        let started = Instant::now();
        let submitted = client
            .submit_query(api::SubmitQueryRequest { sql: sql.clone(), requested_by: "devnet".into() })
            .await
            .map_err(grpc_error(&format!("submitting {sql:?}")))?
            .into_inner();
        let waited = net
            .wait_query(&submitted.query_id, Duration::from_secs(args.timeout_secs))
            .await
            .with_context(|| format!("query {sql:?}"))?;
        let result = match waited {
            Outcome::Published(r) => *r,
            Outcome::Refused(reason) => {
                if args.json {
                    println!("{}", serde_json::json!({ "sql": sql, "aborted": reason }));
                } else {
                    println!("\n{sql}\n  refused by the parties: {reason}");
                }
                refused += 1;
                continue;
            }
        };
        let answer = triad_network::answer_of(&result.values);
        // The consumer's check: the signature holds under the dataset's key, derived from the
        // network key alone.
        ensure!(result.dataset_id == dataset_id, "a result of dataset {} for {sql:?}", result.dataset_id);
        triad_network::verify_result(&network_key, &result).with_context(|| format!("the signature of {sql:?}"))?;
        if args.json {
            let mut o = crate::stats::json(&answer, Some(&reference));
            o["sql"] = serde_json::json!(sql);
            o["rows_in_snapshot"] = serde_json::json!(result.rows);
            o["signature"] = serde_json::json!(hex::encode(&result.signature));
            o["dataset_key"] = serde_json::json!(hex::encode(&result.public_key));
            println!("{o}");
        } else {
            println!(
                "\n{sql}\n  published in {:.1} s over {} contributions (snapshot at coordinator position {}); \
                 signed by two parties, verified under dataset key {}",
                started.elapsed().as_secs_f64(),
                result.rows,
                result.snapshot,
                hex::encode(&result.public_key)
            );
            print!("{}", show(&answer, &reference));
        }
        published += 1;
    }
    Ok((published, refused))
}

/// The providers' data: the dataset, its columns `(name, integer digits, decimals)` in order
/// (each a value the notary hides) and the honest providers' rows of decimal texts.
struct Data {
    dataset: String,
    columns: Vec<(String, u32, u32)>,
    rows: Vec<Vec<String>>,
}

impl Data {
    /// `n` simulated providers of `eth_balance`: a heavy-tailed balance and a trade count each.
    fn simulated(n: usize) -> Data {
        let balances = heavy_tailed_balances(n, 0x7472_6961_6464_6576);
        let rows = balances.iter().enumerate().map(|(i, b)| vec![b.clone(), trades(i, b)]).collect();
        // Five integer digits (the simulated balances stay below 100,000): the declared range
        // bounds the exact second moments (stats.md §5.1), 2^15 rows at this width.
        Data { dataset: DATASET.into(), columns: vec![("balance".into(), 5, 2), ("trades".into(), 4, 0)], rows }
    }

    /// One provider per row of a CSV file (header: the column names).
    fn from_csv(path: &std::path::Path) -> Result<Data> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let dataset = crate::stats::dataset_name(path)?;
        let loaded = triad_stats::csv::infer(&text, &dataset).with_context(|| format!("{}", path.display()))?;
        ensure!(
            loaded.schema.columns.len() <= triad_provider::MAX_COLUMNS,
            "{}: {} columns; a contribution proves at most {}",
            path.display(),
            loaded.schema.columns.len(),
            triad_provider::MAX_COLUMNS
        );
        let mut columns = Vec::new();
        for (c, col) in loaded.schema.columns.iter().enumerate() {
            ensure!(
                !["uid", "asset"].contains(&col.name.as_str()),
                "{}: column `{}`: the mock exchange discloses that field; rename the column",
                path.display(),
                col.name
            );
            if let Some((r, row)) = loaded.rows.iter().enumerate().find(|(_, row)| row[c].units < 0) {
                bail!(
                    "{}: row {} (line {}), column `{}`: {} is negative, but a proven value is an unsigned decimal \
                     (shift the column, e.g. add a constant, before contributing it)",
                    path.display(),
                    r + 1,
                    r + 2,
                    col.name,
                    row[c]
                );
            }
            let whole = |v: Decimal| v.units.unsigned_abs() / 10u128.checked_pow(v.scale).unwrap_or(u128::MAX);
            let widest = loaded.rows.iter().map(|row| whole(row[c])).max().unwrap_or(0);
            let digits = widest.checked_ilog10().map_or(1, |d| d + 1);
            ensure!(
                digits + col.decimals <= triad_network::MAX_PROVEN_DIGITS,
                "{}: column `{}` needs {digits} digits and {} decimals; a proven value has at most {} digits",
                path.display(),
                col.name,
                col.decimals,
                triad_network::MAX_PROVEN_DIGITS
            );
            columns.push((col.name.clone(), digits, col.decimals));
        }
        // Each value as the provider's JSON writes it: every digit, no exponent, no sign.
        let rows = loaded
            .rows
            .iter()
            .map(|row| row.iter().zip(&columns).map(|(v, (_, _, decimals))| plain_decimal(*v, *decimals)).collect())
            .collect();
        Ok(Data { dataset, columns, rows })
    }

    /// Provider `i`'s account proving `row` (its `balance` column, if any, is the balance; the
    /// balance of a dataset without one is disclosed, not proven).
    fn account(&self, i: usize, row: &[String]) -> Result<Account> {
        let value = |name: &str| self.columns.iter().position(|c| c.0 == name).and_then(|k| row.get(k));
        let balance = value("balance").map_or("0", String::as_str);
        let mut account = Account::new(&format!("token-{i:05}"), &format!("u-{i:05}"), balance, "ETH")?;
        for ((name, _, _), v) in self.columns.iter().zip(row) {
            if name != "balance" {
                account = account.with_value(name, v)?;
            }
        }
        Ok(account)
    }

    /// A few statistics of each column (up to four), and the correlation of the first two.
    fn default_queries(&self) -> Vec<String> {
        let ds = &self.dataset;
        let mut out: Vec<String> = self
            .columns
            .iter()
            .take(4)
            .map(|(c, _, _)| {
                format!("SELECT count(*), avg({c}), min({c}), max({c}), median({c}), stddev({c}) FROM {ds}")
            })
            .collect();
        if let [(a, _, _), (b, _, _), ..] = self.columns.as_slice() {
            out.push(format!("SELECT corr({a}, {b}), regr_slope({b}, {a}) FROM {ds}"));
        }
        out
    }
}

/// `v` written with exactly `decimals` digits after the point (none for 0), as an exchange's
/// JSON number would carry it.
fn plain_decimal(v: Decimal, decimals: u32) -> String {
    let units = v.units_at(decimals).unwrap_or(0).unsigned_abs();
    if decimals == 0 {
        return units.to_string();
    }
    let scale = 10u128.pow(decimals);
    format!("{}.{:0width$}", units / scale, units % scale, width = decimals as usize)
}

/// A provider's trade count: more for larger balances (a log-like climb), with a spread of its
/// own, so `corr(balance, trades)` has something to find.
fn trades(i: usize, balance: &str) -> String {
    let whole = balance.split('.').next().unwrap_or("0");
    let digits = whole.trim_start_matches('0').len() as u64;
    let spread = (i as u64).wrapping_mul(2_654_435_761) % 40;
    (digits * 25 + spread).to_string()
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
