//! `triad devnet`: the main job. A whole network in this process on the embedded default (a
//! SQLite store per service, the in-process bus; no servers): the coordinator and the projector
//! served over gRPC on loopback, three parties with their own keys, stores and TLS data plane,
//! and a development notary with a mock exchange. Providers prove their balances, share them
//! to the parties and submit over gRPC; a few cheat (they share more than they proved) and the
//! parties' check inside MPC rejects them; then the consumer's queries run in MPC and their
//! published results are printed beside the plaintext reference over the accepted balances.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use indicatif::{ProgressBar, ProgressStyle};
use prost::Message as _;
use sha2::{Digest as _, Sha256};
use tokio::sync::watch;
use tonic::transport::Channel;
use triad_coordinator::{Coordinator, CoordinatorConfig};
use triad_dev_notary::{Account, DevNotary, DevNotaryConfig};
use triad_eventlog::{
    BackendKind, BusNames, EventBus, EventLogConfig, EventStore, InProcessBus, JetStreamBus, JetStreamConfig,
    PgEventStore,
};
use triad_party::{Party, PartySettings};
use triad_projector::{Projector, ProjectorConfig};
use triad_proto::api::v1::{self as api, coordinator_client::CoordinatorClient};
use triad_proto::events::v1::{self as ev, event::Kind};
use triad_provider::{DecimalFormat, PlainContribution, PublicKey, make_bundles, os_rng, seal_contribution};
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
    #[arg(long, value_enum, default_value_t = Backend::Embedded)]
    backend: Backend,
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
enum Backend {
    Embedded,
    Distributed,
}

/// The services' stores and their bus, for one run.
enum Log {
    Embedded { dir: PathBuf, bus: InProcessBus },
    Distributed { admin_url: String, prefix: String, bus: Arc<JetStreamBus>, databases: Vec<String> },
}

impl Log {
    async fn open(args: &Args, dir: &std::path::Path) -> Result<Log> {
        Ok(match args.backend {
            Backend::Embedded => Log::Embedded { dir: dir.to_owned(), bus: InProcessBus::new() },
            Backend::Distributed => {
                let mut run = [0u8; 4];
                getrandom::fill(&mut run).map_err(|e| anyhow!("no operating-system randomness: {e}"))?;
                let prefix = format!("devnet{}", hex::encode(run));
                let bus = JetStreamBus::connect(JetStreamConfig {
                    url: args.nats_url.clone(),
                    names: BusNames::prefixed(&prefix),
                    duplicate_window: Duration::from_secs(600),
                    replicas: 1,
                })
                .await
                .with_context(|| format!("connecting to NATS at {} (is nats-server -js running?)", args.nats_url))?;
                Log::Distributed {
                    admin_url: args.database_url.clone(),
                    prefix,
                    bus: Arc::new(bus),
                    databases: Vec::new(),
                }
            }
        })
    }

    fn bus(&self) -> Arc<dyn EventBus> {
        match self {
            Log::Embedded { bus, .. } => Arc::new(bus.clone()),
            Log::Distributed { bus, .. } => bus.clone(),
        }
    }

    /// A fresh database of the run (distributed): its URL.
    async fn database(&mut self, service: &str) -> Result<String> {
        let Log::Distributed { admin_url, prefix, databases, .. } = self else {
            bail!("no databases on the embedded backend")
        };
        let name = format!("{prefix}_{service}");
        PgEventStore::create_database(admin_url, &name)
            .await
            .with_context(|| format!("creating database {name} (is PostgreSQL running at {admin_url}?)"))?;
        databases.push(name.clone());
        Ok(match admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => format!("{admin_url}/{name}"),
        })
    }

    async fn store(&mut self, service: &str) -> Result<Arc<dyn EventStore>> {
        let store: Arc<dyn EventStore> = match self {
            Log::Embedded { dir, bus } => {
                let log =
                    EventLogConfig { backend: BackendKind::Embedded, data_dir: dir.clone(), ..Default::default() };
                log.open_store(service, bus).await?
            }
            Log::Distributed { .. } => {
                let url = self.database(service).await?;
                Arc::new(PgEventStore::connect(&url, service).await?)
            }
        };
        self.bus().ensure_stream(service).await?;
        Ok(store)
    }

    async fn projector_url(&mut self) -> Result<String> {
        match self {
            Log::Embedded { dir, .. } => Ok(format!("sqlite://{}", dir.join("projector.sqlite").display())),
            Log::Distributed { .. } => self.database("projector").await,
        }
    }

    fn describe(&self) -> String {
        match self {
            Log::Embedded { dir, .. } => format!("embedded: SQLite stores in {}, the in-process bus", dir.display()),
            Log::Distributed { prefix, .. } => {
                format!("distributed: PostgreSQL databases {prefix}_<service>, JetStream streams of prefix {prefix}")
            }
        }
    }

    async fn cleanup(&self, keep: bool) {
        let Log::Distributed { admin_url, bus, databases, prefix } = self else { return };
        if keep {
            eprintln!("kept the databases and streams of prefix {prefix}");
            return;
        }
        for db in databases {
            if let Err(e) = PgEventStore::drop_database(admin_url, db).await {
                eprintln!("could not drop database {db}: {e}");
            }
        }
        for service in triad_network::PARTIES.iter().chain([&triad_network::COORDINATOR]) {
            if let Err(e) = bus.delete_stream(service).await {
                eprintln!("could not delete the stream of {service}: {e}");
            }
        }
    }
}

/// One provider: its exchange account and whether it cheats.
struct Provider {
    account: Account,
    cheats: bool,
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
    say.line(format!("triad devnet: an embedded network in {}", dir.display()));
    let net = Devnet::start(&dir, &args, &say).await?;
    let outcome = net.walk(&args, &say).await;
    let log = net.stop().await;
    log.cleanup(args.keep).await;
    let (published, refused) = outcome?;
    if args.dir.is_some() && args.backend == Backend::Embedded {
        say.line(format!(
            "the services' event logs are in {}; read one with: triad events dump --service coordinator --sqlite {}",
            dir.display(),
            dir.join("coordinator.sqlite").display()
        ));
    }
    say.line(format!("done: {published} queries published, {refused} refused"));
    Ok(())
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

struct Devnet {
    log: Log,
    coordinator_store: Arc<dyn EventStore>,
    coordinator: Coordinator,
    client: CoordinatorClient<Channel>,
    parties: Vec<Party>,
    projector: Projector,
    notary: DevNotary,
    providers: Vec<Provider>,
    operator_token: String,
    stop: watch::Sender<bool>,
}

impl Devnet {
    async fn start(dir: &std::path::Path, args: &Args, say: &Say) -> Result<Devnet> {
        let started = Instant::now();
        let providers = providers(args.providers, args.cheaters)?;
        let notary = DevNotary::start(DevNotaryConfig {
            accounts: providers.iter().map(|p| p.account.clone()).collect(),
            ..Default::default()
        })
        .await
        .context("starting the development notary and its mock exchange")?;

        let mut log = Log::open(args, dir).await?;
        say.line(format!("  event log: {}", log.describe()));
        let shared = log.bus();
        let (stop, _) = watch::channel(false);

        // The operator's token: fresh each run, only its hash is configured.
        let mut token = [0u8; 24];
        getrandom::fill(&mut token).map_err(|e| anyhow!("no operating-system randomness: {e}"))?;
        let operator_token = hex::encode(token);
        let config = CoordinatorConfig {
            network_id: "triad-devnet".into(),
            operator_token_sha256: hex::encode(Sha256::digest(operator_token.as_bytes())),
            ..CoordinatorConfig::default()
        };
        let coordinator_store = log.store(triad_network::COORDINATOR).await.context("the coordinator's store")?;
        let coordinator =
            Coordinator::start(config, vec![notary.ca_cert_der().to_vec()], coordinator_store.clone(), shared.clone())
                .await
                .context("starting the coordinator")?;
        let coordinator_addr = serve(&stop, "coordinator", {
            let c = coordinator.clone();
            move |listener, shutdown| async move { c.serve(listener, shutdown).await.map_err(anyhow::Error::from) }
        })
        .await?;

        let mut parties = Vec::new();
        for i in 0..3u32 {
            let name = triad_network::PARTIES[i as usize];
            let store = log.store(name).await.with_context(|| format!("{name}'s store"))?;
            let settings = PartySettings {
                index: i,
                operator_name: format!("devnet operator {i}"),
                data_dir: dir.join(name),
                network_id: "triad-devnet".into(),
                ..PartySettings::default()
            };
            parties
                .push(Party::start(settings, store, shared.clone()).await.with_context(|| format!("starting {name}"))?);
        }

        let projector = Projector::start(
            ProjectorConfig { database_url: log.projector_url().await?, consumer_suffix: String::new() },
            shared.clone(),
        )
        .await
        .context("starting the projector")?;
        let projector_addr = serve(&stop, "projector", {
            let p = projector.clone();
            move |listener, shutdown| async move { p.serve(listener, shutdown).await.map_err(anyhow::Error::from) }
        })
        .await?;

        let client = CoordinatorClient::connect(format!("http://{coordinator_addr}"))
            .await
            .context("connecting to the coordinator")?
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20);
        say.line(format!(
            "  started in {:.1} s: coordinator {coordinator_addr}, projector {projector_addr}, parties {}",
            started.elapsed().as_secs_f64(),
            parties.iter().map(Party::address).collect::<Vec<_>>().join(", ")
        ));
        Ok(Devnet {
            log,
            coordinator_store,
            coordinator,
            client,
            parties,
            projector,
            notary,
            providers,
            operator_token,
            stop,
        })
    }

    /// The flow: dataset, contributions, intake, queries. Returns the numbers of queries
    /// published and refused.
    async fn walk(&self, args: &Args, say: &Say) -> Result<(usize, usize)> {
        let mut client = self.client.clone();
        let network = self.wait_for_parties(say).await?;
        let keys = share_keys(&network)?;

        // The operator creates the dataset.
        let format = DecimalFormat::new(6, 2, 16).context("the dataset's value format")?;
        let t = self.notary.template(3600);
        let create = api::CreateDatasetRequest {
            dataset_id: DATASET.into(),
            description: "ETH balances on the devnet's mock exchange".into(),
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
            min_cohort: args.min_cohort,
            columns: Vec::new(),
        };
        let mut request = tonic::Request::new(create);
        let bearer = format!("Bearer {}", self.operator_token).parse().context("the operator token as a header")?;
        request.metadata_mut().insert("authorization", bearer);
        client.create_dataset(request).await.map_err(grpc_error("creating the dataset"))?;
        say.line(format!("dataset {DATASET}: one column `balance`, 0 to 999999.99, min_cohort {}", args.min_cohort));

        // The providers: prove, share, seal, submit.
        let bar =
            if args.json { ProgressBar::hidden() } else { say.bar(self.providers.len() as u64, "providers submitted") };
        let started = Instant::now();
        let verifier = self.notary.verifier_config().context("the notary's verifier configuration")?;
        let mut refused_at_door = 0usize;
        for (k, p) in self.providers.iter().enumerate() {
            let issued =
                self.notary.issue(&p.account.token).await.with_context(|| format!("proving {}", p.account.uid))?;
            let verified =
                triad_notary::verify(&issued.presentation, &verifier).context("checking a fresh presentation")?;
            let commitment =
                verified.unopened_commitments.first().ok_or_else(|| anyhow!("the presentation hides no value"))?;
            let mut cid = [0u8; 16];
            getrandom::fill(&mut cid).map_err(|e| anyhow!("no operating-system randomness: {e}"))?;
            let secret = issued.secret.prover_secret();
            let sealed = if p.cheats {
                // Shares ten times the proven balance, with the real value bytes and blinder:
                // only the parties' check inside MPC can tell.
                let honest = format.parse(&secret.value).context("a cheater's balance")?;
                let range = commitment.ranges.first().ok_or_else(|| anyhow!("a commitment without a range"))?;
                let plain = PlainContribution {
                    value: honest.saturating_mul(10),
                    value_bytes: secret.value.clone(),
                    blinder: secret.blinder.0,
                    commitment: ev::PlaintextCommitment {
                        algorithm: commitment.alg.name().to_owned(),
                        hash: commitment.hash.to_vec(),
                        start: range.start as u64,
                        end: range.end as u64,
                    },
                };
                seal_contribution(&plain, DATASET, cid, &format, &keys, &mut os_rng(), |_| {})?
            } else {
                make_bundles(&secret, commitment, DATASET, cid, &format, &keys, &mut os_rng())?
            };
            let submit = api::SubmitContributionRequest {
                dataset_id: DATASET.into(),
                presentation: issued.presentation,
                bundles: sealed.bundles.iter().map(|b| b.as_bytes().to_vec()).collect(),
                share_commitments: sealed.commitments.to_proto().encode_to_vec(),
            };
            client.submit_contribution(submit.clone()).await.map_err(grpc_error("submitting a contribution"))?;
            // The first honest provider also tries to contribute twice (a new contribution id,
            // the same account): the coordinator's Sybil guard refuses it at the door.
            if k == 0 && !p.cheats {
                let mut again = submit;
                let issued = self.notary.issue(&p.account.token).await?;
                again.presentation = issued.presentation;
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
            self.providers.len(),
            started.elapsed().as_secs_f64(),
            args.providers,
            args.cheaters,
            refused_at_door
        ));

        // The parties' intake: bundles opened and cross-checked, the commitments checked in MPC.
        let started = Instant::now();
        let status = self.wait_for_intake(args, say).await?;
        say.line(format!(
            "intake in MPC: {} accepted, {} rejected in {:.1} s",
            status.accepted,
            status.rejected,
            started.elapsed().as_secs_f64()
        ));
        for (uid, reason) in self.rejections().await? {
            say.line(format!("  rejected {uid}: {reason}"));
        }
        let cheaters_rejected = self.rejections().await?.len();
        ensure!(
            status.accepted as usize == args.providers && cheaters_rejected == args.cheaters,
            "expected {} accepted and {} rejected, found {} and {}",
            args.providers,
            args.cheaters,
            status.accepted,
            cheaters_rejected
        );

        // The consumer's queries, with the plaintext reference over the accepted balances.
        let dataset = status.dataset.clone().ok_or_else(|| anyhow!("the coordinator reports no dataset"))?;
        let schema = triad_network::schema(&dataset)?;
        let honest: Vec<Vec<Decimal>> = self
            .providers
            .iter()
            .filter(|p| !p.cheats)
            .map(|p| Decimal::parse(&p.account.balance).map(|d| vec![d]).map_err(|e| anyhow!("{e}")))
            .collect::<Result<_>>()?;
        let queries: Vec<String> = if args.sql.is_empty() {
            DEFAULT_QUERIES.iter().map(|s| (*s).to_owned()).collect()
        } else {
            args.sql.clone()
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
            let waited = self.projector.wait_query(&submitted.query_id, Duration::from_secs(args.timeout_secs)).await;
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

    async fn wait_for_parties(&self, say: &Say) -> Result<api::Network> {
        let mut client = self.client.clone();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let network =
                client.get_network(api::GetNetworkRequest {}).await.map_err(grpc_error("reading the network"))?;
            let network = network.into_inner();
            let up = network.parties.iter().filter(|p| p.up && !p.share_public_key.is_empty()).count();
            if up == 3 {
                say.line("three parties joined and are up");
                return Ok(network);
            }
            ensure!(Instant::now() < deadline, "only {up} of 3 parties came up within 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every submitted contribution is accepted or rejected.
    async fn wait_for_intake(&self, args: &Args, say: &Say) -> Result<api::DatasetStatus> {
        let mut client = self.client.clone();
        let total = (args.providers + args.cheaters) as u64;
        let bar = if args.json { ProgressBar::hidden() } else { say.bar(total, "contributions decided") };
        let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
        loop {
            let network =
                client.get_network(api::GetNetworkRequest {}).await.map_err(grpc_error("reading the network"))?;
            let dataset = network
                .into_inner()
                .datasets
                .into_iter()
                .find(|d| d.dataset.as_ref().is_some_and(|d| d.dataset_id == DATASET));
            if let Some(d) = dataset {
                bar.set_position(d.accepted + d.rejected);
                if d.accepted + d.rejected >= total {
                    bar.finish_and_clear();
                    return Ok(d);
                }
            }
            if Instant::now() > deadline {
                bar.abandon();
                bail!(
                    "the intake did not finish within {} s (see the parties' SessionAborted events)",
                    args.timeout_secs
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The rejected contributions' uids and reasons, from the coordinator's log.
    async fn rejections(&self) -> Result<Vec<(String, String)>> {
        let events = self.coordinator_store.read_all(0, usize::MAX).await?;
        let mut uids = std::collections::HashMap::new();
        let mut out = Vec::new();
        for e in &events {
            match triad_network::decode(e)? {
                Some(Kind::ContributionSubmitted(s)) => {
                    uids.insert(s.contribution_id.clone(), s.uid.clone());
                }
                Some(Kind::ContributionRejected(r)) => {
                    let uid = uids.get(&r.contribution_id).cloned().unwrap_or_else(|| hex::encode(&r.contribution_id));
                    let detail = if r.detail.is_empty() { String::new() } else { format!(" ({})", r.detail) };
                    out.push((uid, format!("{}{detail}", r.reason)));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    async fn stop(self) -> Log {
        self.stop.send_replace(true);
        self.projector.shutdown().await;
        for p in &self.parties {
            p.shutdown().await;
        }
        self.coordinator.shutdown().await;
        self.notary.stop();
        self.log
    }
}

/// Binds a loopback port and serves on it until the devnet stops.
async fn serve<F, Fut>(stop: &watch::Sender<bool>, what: &'static str, f: F) -> Result<SocketAddr>
where
    F: FnOnce(tokio::net::TcpListener, std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) -> Fut,
    Fut: std::future::Future<Output = Result<()>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.with_context(|| format!("binding the {what}"))?;
    let addr = listener.local_addr()?;
    let mut rx = stop.subscribe();
    let shutdown = Box::pin(async move {
        let _ = rx.wait_for(|s| *s).await;
    });
    let served = f(listener, shutdown);
    tokio::spawn(async move {
        if let Err(e) = served.await {
            eprintln!("the {what} stopped serving: {e:#}");
        }
    });
    Ok(addr)
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

fn share_keys(network: &api::Network) -> Result<[PublicKey; 3]> {
    let key = |i: u32| -> Result<PublicKey> {
        let p =
            network.parties.iter().find(|p| p.party == i).ok_or_else(|| anyhow!("party {i} is not in the network"))?;
        PublicKey::from_bytes(&p.share_public_key).map_err(|e| anyhow!("party {i}'s share key: {e}"))
    };
    Ok([key(0)?, key(1)?, key(2)?])
}

/// The plaintext answer over the honest providers' balances.
fn reference(schema: &Schema, rows: &[Vec<Decimal>], sql: &str) -> Result<Answer> {
    let query = triad_stats::plan(schema, sql).with_context(|| format!("planning {sql:?}"))?;
    let data = triad_stats::Dataset::from_decimals(schema.clone(), rows)?;
    Ok(Answer::of_reference(&triad_stats::evaluate(&query, &data)?))
}

/// The exchange's accounts: heavy-tailed balances (log-normal, median about 3 ETH, a few
/// whales), two decimals, deterministic; the last `cheaters` cheat.
fn providers(honest: usize, cheaters: usize) -> Result<Vec<Provider>> {
    let mut rng = SplitMix(0x7472_6961_6464_6576);
    (0..honest + cheaters)
        .map(|i| {
            let z = rng.normal();
            let balance = (3.0 * (1.6 * z).exp()).min(99_999.0);
            let balance = format!("{balance:.2}");
            let account = Account::new(&format!("token-{i:05}"), &format!("u-{i:05}"), &balance, "ETH")?;
            Ok(Provider { account, cheats: i >= honest })
        })
        .collect()
}

/// A small deterministic generator for the demo balances (not for secrets).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balances_are_heavy_tailed_and_fit_the_format() {
        let ps = providers(500, 3).unwrap();
        assert_eq!(ps.iter().filter(|p| p.cheats).count(), 3);
        let format = DecimalFormat::new(6, 2, 16).unwrap();
        let mut v: Vec<f64> = ps.iter().map(|p| p.account.balance.parse::<f64>().unwrap()).collect();
        for p in &ps {
            format.parse(p.account.balance.as_bytes()).unwrap();
        }
        v.sort_by(f64::total_cmp);
        let (median, max) = (v[v.len() / 2], v[v.len() - 1]);
        assert!((1.5..6.0).contains(&median), "median {median}");
        assert!(max > 50.0 * median, "a heavy tail: max {max}, median {median}");
    }
}
