//! The Triad network as separate OS processes: the `triad-coordinator`, three `triad-party`
//! and the `triad-projector` binaries of this workspace, each with its own TOML file and its
//! own PostgreSQL database, over NATS JetStream with this test's subject prefix; the
//! development notary runs in the test's process. Dropping the [`Network`] kills the processes
//! and removes the databases and streams, also when a test panics; a panicking test prints the
//! tail of each process's log first.
//!
//! The binaries are not built here: `cargo test --workspace` builds every package's binaries
//! before the tests run, `cargo test -p triad-itests` does not (see [`binary`]).

use std::fs::File;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail, ensure};
use sha2::{Digest as _, Sha256};
use tonic::transport::{Channel, Endpoint};
use triad_dev_notary::{Account, DevNotary, DevNotaryConfig};
use triad_eventlog::{BusNames, EventBus as _, EventStore as _, JetStreamBus, JetStreamConfig, PgEventStore};
use triad_localnet::DatasetSpec;
use triad_proto::api::v1::{self as api, coordinator_client::CoordinatorClient, query_api_client::QueryApiClient};
use triad_proto::events::v1::{self as ev, event::Kind};
use triad_provider::PublicKey;

use crate::{Cleanup, database_name, database_url, nats_url, pg_admin_url};

/// The services' binaries, as cargo names them.
pub const BINARIES: [&str; 3] = ["triad-coordinator", "triad-party", "triad-projector"];

/// The network's id in every service's settings.
const NETWORK_ID: &str = "triad-itest";

/// Lines of each process's log printed when a test fails.
const LOG_TAIL: usize = 40;

/// The path of the workspace binary `name`, next to this test executable's directory
/// (`target/<profile>/deps/it-<hash>` → `target/<profile>/<name>`).
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the test executable")?;
    let mut dir = exe.parent().ok_or_else(|| anyhow!("{} has no directory", exe.display()))?;
    if dir.ends_with("deps") {
        dir = dir.parent().ok_or_else(|| anyhow!("{} has no parent", dir.display()))?;
    }
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    ensure!(
        path.is_file(),
        "{} is missing: build the services first with `cargo build -p triad-coordinator -p triad-party -p \
         triad-projector` (`cargo test --workspace` builds them; `cargo test -p triad-itests` does not)",
        path.display()
    );
    Ok(path)
}

/// Timeouts of the services, short enough for tests.
#[derive(Clone, Debug)]
pub struct Tuning {
    /// `[party] connect_timeout_secs`.
    pub connect_timeout_secs: u64,
    /// `[party] recv_timeout_secs`.
    pub recv_timeout_secs: u64,
    /// `[coordinator] session_timeout_secs`.
    pub session_timeout_secs: u64,
    /// `[coordinator] batch_linger_ms`.
    pub batch_linger_ms: u64,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning { connect_timeout_secs: 3, recv_timeout_secs: 20, session_timeout_secs: 60, batch_linger_ms: 200 }
    }
}

/// How a simulated provider behaves (the network's tests and the in-process network share it).
pub use triad_localnet::Provider as Behaviour;

/// One service process: its settings file, its log, and the child while it runs.
struct Proc {
    name: String,
    binary: PathBuf,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Proc {
    fn new(dir: &Path, name: &str, binary: PathBuf) -> Proc {
        Proc {
            name: name.to_owned(),
            binary,
            config: dir.join(format!("{name}.toml")),
            log: dir.join(format!("{name}.log")),
            child: None,
        }
    }

    /// Starts the process (its log is appended to, across restarts).
    fn spawn(&mut self) -> anyhow::Result<()> {
        self.spawn_with(&[])
    }

    /// Starts the process with `extra` arguments after its settings.
    fn spawn_with(&mut self, extra: &[&str]) -> anyhow::Result<()> {
        ensure!(self.child.is_none(), "{} is already running", self.name);
        let log = File::options().create(true).append(true).open(&self.log).context("opening a log")?;
        let mut command = Command::new(&self.binary);
        command
            .arg("--config")
            .arg(&self.config)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("opening a log")?)
            .stderr(log);
        // `TRIAD_*` variables would override the file (and the tests' own `TRIAD_TEST_*`
        // are unknown keys to the services).
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("TRIAD_") {
                command.env_remove(key);
            }
        }
        command.env("NO_COLOR", "1");
        let child = command.spawn().with_context(|| format!("starting {}", self.binary.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL, and reaps it.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` (a name such as `STOP` or `CONT`) with kill(1).
    fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let child = self.child.as_ref().ok_or_else(|| anyhow!("{} is not running", self.name))?;
        let status = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status()?;
        ensure!(status.success(), "kill -{signal} {}: {status}", self.name);
        Ok(())
    }

    /// An error if the process should be running and has exited.
    fn check(&mut self) -> anyhow::Result<()> {
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait().context("polling a child")?
        {
            self.child = None;
            bail!("{} exited ({status}); its log ends with:\n{}", self.name, self.tail());
        }
        Ok(())
    }

    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n")
    }
}

/// The network's processes, the notary, and what was created for them.
pub struct Network {
    /// This network's subject and stream prefix (its databases are `triad_<prefix>_<service>`).
    pub prefix: String,
    /// The development notary (its accounts are the providers').
    pub notary: DevNotary,
    /// Where the coordinator serves.
    pub coordinator_addr: SocketAddr,
    /// Where the projector serves.
    pub projector_addr: SocketAddr,
    /// A gRPC client of the coordinator.
    pub client: CoordinatorClient<Channel>,
    /// A gRPC client of the projector's `QueryApi`.
    pub query_api: QueryApiClient<Channel>,
    /// The NATS server the services use.
    pub nats: String,
    /// The PostgreSQL URL the databases are made with.
    admin: String,
    operator_token: String,
    coordinator: Proc,
    parties: [Proc; 3],
    projector: Proc,
    cleanup: Cleanup,
    dir: tempfile::TempDir,
}

impl Network {
    /// Starts the notary with `accounts`, makes the databases and streams, and starts the
    /// coordinator, the three parties and the projector as processes (see
    /// [`Network::wait_up`]).
    pub async fn start(accounts: Vec<Account>, tuning: &Tuning) -> anyhow::Result<Network> {
        Self::start_on(accounts, tuning, nats_url()).await
    }

    /// [`Network::start`] with the services on the NATS server at `nats` (a test's own
    /// [`PrivateNats`], to stop and restart).
    pub async fn start_on(accounts: Vec<Account>, tuning: &Tuning, nats: String) -> anyhow::Result<Network> {
        Self::start_with(accounts, tuning, nats, pg_admin_url()).await
    }

    /// [`Network::start_on`] with the databases made through the PostgreSQL URL `admin` (its
    /// user may create databases).
    pub async fn start_with(
        accounts: Vec<Account>,
        tuning: &Tuning,
        nats: String,
        admin: String,
    ) -> anyhow::Result<Network> {
        let binaries = BINARIES.map(binary);
        let [coordinator_bin, party_bin, projector_bin] = binaries;
        let (coordinator_bin, party_bin, projector_bin) = (coordinator_bin?, party_bin?, projector_bin?);
        let value_fields = triad_localnet::value_fields(&accounts);
        let notary = DevNotary::start(DevNotaryConfig { accounts, value_fields, ..Default::default() })
            .await
            .context("starting the development notary")?;
        let prefix = format!("t{}", uuid::Uuid::new_v4().simple());
        let dir = tempfile::Builder::new().prefix("triad-itest-").tempdir().context("a temporary directory")?;
        let operator_token = uuid::Uuid::new_v4().simple().to_string();
        let coordinator_addr = free_port()?;
        let projector_addr = free_port()?;
        let client = CoordinatorClient::new(lazy_channel(coordinator_addr)?)
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20);
        let query_api = QueryApiClient::new(lazy_channel(projector_addr)?).max_decoding_message_size(64 << 20);
        let path = dir.path();
        let net = Network {
            cleanup: Cleanup {
                prefix: prefix.clone(),
                admin: admin.clone(),
                nats: nats.clone(),
                databases: Mutex::default(),
                streams: Mutex::default(),
            },
            coordinator: Proc::new(path, triad_network::COORDINATOR, coordinator_bin),
            parties: [0, 1, 2].map(|i| Proc::new(path, triad_network::PARTIES[i], party_bin.clone())),
            projector: Proc::new(path, "projector", projector_bin),
            prefix,
            notary,
            coordinator_addr,
            projector_addr,
            client,
            query_api,
            nats,
            admin,
            operator_token,
            dir,
        };
        // From here on, a failure drops `net`, which removes whatever was made.
        let mut net = net;
        net.prepare(tuning).await?;
        net.coordinator.spawn()?;
        for p in &mut net.parties {
            p.spawn()?;
        }
        net.projector.spawn()?;
        Ok(net)
    }

    /// The databases, the streams and the settings files.
    async fn prepare(&self, tuning: &Tuning) -> anyhow::Result<()> {
        let admin = self.admin.clone();
        let services = [triad_network::COORDINATOR, "party0", "party1", "party2", "projector"];
        for service in services {
            let db = database_name(&self.prefix, service);
            // Noted first: a create that fails half-way is still dropped.
            Cleanup::note(&self.cleanup.databases, &db);
            PgEventStore::create_database(&admin, &db)
                .await
                .with_context(|| format!("creating database {db} (is PostgreSQL running at {admin}?)"))?;
        }
        let bus = JetStreamBus::connect(JetStreamConfig {
            url: self.nats.clone(),
            names: BusNames::prefixed(&self.prefix),
            ..Default::default()
        })
        .await
        .with_context(|| format!("connecting to NATS at {} (is nats-server -js running?)", self.nats))?;
        for service in [triad_network::COORDINATOR, "party0", "party1", "party2"] {
            Cleanup::note(&self.cleanup.streams, service);
            bus.ensure_stream(service).await.with_context(|| format!("declaring {service}'s stream"))?;
        }

        let ca = self.dir.path().join("notary-ca.der");
        std::fs::write(&ca, self.notary.ca_cert_der()).context("writing the notary's CA certificate")?;
        let token_hash = hex::encode(Sha256::digest(self.operator_token.as_bytes()));
        write(
            &self.coordinator.config,
            &format!(
                "listen = {listen}\n\n[coordinator]\nnetwork_id = {network}\noperator_token_sha256 = {token_hash:?}\n\
                 trust_anchor_files = [{ca}]\nsession_timeout_secs = {session}\nbatch_linger_ms = {linger}\n\n{log}",
                listen = toml_str(&self.coordinator_addr.to_string()),
                network = toml_str(NETWORK_ID),
                ca = toml_str(&ca.display().to_string()),
                session = tuning.session_timeout_secs,
                linger = tuning.batch_linger_ms,
                log = self.eventlog_section(triad_network::COORDINATOR),
            ),
        )?;
        for (i, party) in self.parties.iter().enumerate() {
            write(
                &party.config,
                &format!(
                    "[party]\nindex = {i}\noperator_name = \"itest operator {i}\"\ndata_dir = {data}\n\
                     listen = \"127.0.0.1:0\"\nnetwork_id = {network}\nconnect_timeout_secs = {connect}\n\
                     recv_timeout_secs = {recv}\n\n{log}",
                    data = toml_str(&self.dir.path().join(&party.name).display().to_string()),
                    network = toml_str(NETWORK_ID),
                    connect = tuning.connect_timeout_secs,
                    recv = tuning.recv_timeout_secs,
                    log = self.eventlog_section(&party.name),
                ),
            )?;
        }
        write(
            &self.projector.config,
            &format!(
                "listen = {listen}\n\n[projector]\ndatabase_url = {db}\n\n{log}",
                listen = toml_str(&self.projector_addr.to_string()),
                db = toml_str(&database_url(&admin, &database_name(&self.prefix, "projector"))),
                log = self.eventlog_section("projector"),
            ),
        )?;
        Ok(())
    }

    /// `[eventlog]` (distributed, `service`'s database) and `[telemetry]` (no metrics).
    fn eventlog_section(&self, service: &str) -> String {
        format!(
            "[eventlog]\nbackend = \"distributed\"\ndatabase_url = {db}\nnats_url = {nats}\nsubject_prefix = {prefix}\n\n\
             [telemetry]\nlog_filter = \"info\"\n",
            db = toml_str(&self.database_url(service)),
            nats = toml_str(&self.nats),
            prefix = toml_str(&self.prefix),
        )
    }

    /// The PostgreSQL URL of `service`'s database.
    pub fn database_url(&self, service: &str) -> String {
        database_url(&self.admin, &database_name(&self.prefix, service))
    }

    /// An error naming the first service process that died (with its log).
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        self.coordinator.check()?;
        for p in &mut self.parties {
            p.check()?;
        }
        self.projector.check()
    }

    /// SIGKILLs party `i` (its data directory and database stay).
    pub fn kill_party(&mut self, i: usize) {
        self.parties[i].kill();
    }

    /// Freezes party `i`'s process (SIGSTOP): it holds its connections and reads nothing.
    pub fn freeze_party(&mut self, i: usize) -> anyhow::Result<()> {
        self.parties[i].signal("STOP")
    }

    /// Starts party `i`'s process again with the same settings.
    pub fn start_party(&mut self, i: usize) -> anyhow::Result<()> {
        self.parties[i].spawn()
    }

    /// Kills the projector and starts it again with `--rebuild`: its read model dropped and
    /// folded again from position 0 with fresh consumers.
    pub fn rebuild_projector(&mut self) -> anyhow::Result<()> {
        self.projector.kill();
        self.projector.spawn_with(&["--rebuild"])
    }

    /// The coordinator's view of the network.
    pub async fn network(&mut self) -> anyhow::Result<api::Network> {
        Ok(self.client.get_network(api::GetNetworkRequest {}).await.context("GetNetwork")?.into_inner())
    }

    /// Waits until the coordinator reports party `i` up (`true`) or down (`false`).
    pub async fn wait_party(&mut self, i: u32, up: bool, timeout: Duration) -> anyhow::Result<api::Network> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive()?;
            if let Ok(network) = self.network().await
                && network.parties.iter().any(|p| p.party == i && p.up == up && !p.share_public_key.is_empty())
            {
                return Ok(network);
            }
            ensure!(Instant::now() < deadline, "party {i} not reported up = {up} within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the coordinator serves and sees the three parties up; returns the network.
    pub async fn wait_up(&mut self, timeout: Duration) -> anyhow::Result<api::Network> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive()?;
            let seen = match self.network().await {
                Ok(network) => {
                    let up = network.parties.iter().filter(|p| p.up && !p.share_public_key.is_empty()).count();
                    if up == 3 {
                        return Ok(network);
                    }
                    format!("{up} parties up")
                }
                Err(e) => format!("{e:#}"),
            };
            ensure!(Instant::now() < deadline, "the network is not up within {timeout:?}: {seen}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A request carrying the operator's bearer token.
    pub fn operator_request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Ok(value) = format!("Bearer {}", self.operator_token).parse() {
            request.metadata_mut().insert("authorization", value);
        }
        request
    }

    /// Waits until the network key's shares are at `epoch` or later (the parties' key
    /// generation, then refreshes).
    pub async fn wait_key(&mut self, epoch: u64, timeout: Duration) -> anyhow::Result<api::NetworkKey> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive()?;
            if let Ok(network) = self.network().await
                && let Some(key) = network.key.filter(|k| k.epoch >= epoch)
            {
                return Ok(key);
            }
            ensure!(Instant::now() < deadline, "no network key at epoch {epoch} within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// The parties' share keys, as providers read them from the network.
    pub fn share_keys(network: &api::Network) -> anyhow::Result<[PublicKey; 3]> {
        Ok(triad_localnet::provider::share_keys(network)?)
    }

    /// The operator creates `spec` with the notary's template (one hidden value per column).
    pub async fn create_dataset(&mut self, spec: &DatasetSpec) -> anyhow::Result<()> {
        let create = api::CreateDatasetRequest {
            dataset_id: spec.id.clone(),
            description: "values on the development notary's mock exchange".into(),
            template: Some(triad_localnet::provider::template(&self.notary, 3600)),
            format: None,
            min_cohort: spec.min_cohort,
            columns: spec.columns.clone(),
        };
        let request = self.operator_request(create);
        self.client.create_dataset(request).await.context("CreateDataset")?;
        Ok(())
    }

    /// A provider's client side against this network's notary
    /// ([`triad_localnet::provider::submission`]).
    pub async fn submission(
        &self,
        token: &str,
        spec: &DatasetSpec,
        keys: &[PublicKey; 3],
        behaviour: Behaviour,
    ) -> anyhow::Result<api::SubmitContributionRequest> {
        let formats = spec.formats()?;
        Ok(triad_localnet::provider::submission(&self.notary, token, &spec.id, &formats, keys, behaviour).await?)
    }

    /// Waits until the coordinator reports `total` contributions of `dataset` decided
    /// (accepted or rejected) and none pending.
    pub async fn wait_decided(
        &mut self,
        dataset: &str,
        total: u64,
        timeout: Duration,
    ) -> anyhow::Result<api::DatasetStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive()?;
            let network = self.network().await?;
            let status =
                network.datasets.into_iter().find(|d| d.dataset.as_ref().is_some_and(|d| d.dataset_id == dataset));
            if let Some(d) = &status
                && d.accepted + d.rejected >= total
                && d.pending == 0
            {
                return Ok(d.clone());
            }
            ensure!(
                Instant::now() < deadline,
                "the intake of {total} contributions did not finish within {timeout:?}: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Submits `sql`; returns the query's id.
    pub async fn submit_query(&mut self, sql: &str) -> anyhow::Result<Vec<u8>> {
        let request = api::SubmitQueryRequest { sql: sql.to_owned(), requested_by: "itests".into() };
        Ok(self
            .client
            .submit_query(request)
            .await
            .with_context(|| format!("SubmitQuery {sql:?}"))?
            .into_inner()
            .query_id)
    }

    /// The query's state at the projector (`None` before the projector has seen it).
    pub async fn query_status(&mut self, query_id: &[u8]) -> Option<api::QueryStatus> {
        let request = api::GetQueryStatusRequest { query_id: query_id.to_vec() };
        self.query_api.get_query_status(request).await.ok().map(tonic::Response::into_inner)
    }

    /// Polls the projector until `pred` holds for the query's status; returns that status.
    pub async fn wait_status(
        &mut self,
        query_id: &[u8],
        timeout: Duration,
        pred: impl Fn(&api::QueryStatus) -> bool,
    ) -> anyhow::Result<api::QueryStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive()?;
            let status = self.query_status(query_id).await;
            if let Some(s) = status.as_ref().filter(|s| pred(s)) {
                return Ok(s.clone());
            }
            ensure!(Instant::now() < deadline, "query {}: still {status:?} after {timeout:?}", hex::encode(query_id));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits at the projector until the query is published (an error if it is aborted);
    /// returns its result.
    pub async fn wait_published(&mut self, query_id: &[u8], timeout: Duration) -> anyhow::Result<ev::ResultPublished> {
        let status = self.wait_status(query_id, timeout, |s| s.state == "published" || s.state == "aborted").await?;
        ensure!(status.state == "published", "query {:?} aborted: {}", status.sql, status.reason);
        let request = api::GetResultRequest { query_id: query_id.to_vec() };
        Ok(self.query_api.get_result(request).await.context("GetResult")?.into_inner())
    }

    /// The coordinator's log, decoded, in position order (its store, as an auditor reads it).
    pub async fn coordinator_log(&self) -> anyhow::Result<Vec<(String, Kind)>> {
        self.service_log(triad_network::COORDINATOR).await
    }

    /// `service`'s log, decoded: (stream, event) in position order.
    pub async fn service_log(&self, service: &str) -> anyhow::Result<Vec<(String, Kind)>> {
        let store = PgEventStore::connect(&self.database_url(service), service).await?;
        let events = store.read_all(0, usize::MAX).await?;
        let mut out = Vec::with_capacity(events.len());
        for e in &events {
            if let Some(kind) = triad_network::decode(e)? {
                out.push((e.stream.clone(), kind));
            }
        }
        Ok(out)
    }
}

impl Network {
    /// Polls `service`'s log until some event satisfies `pred`; returns its stream and event.
    pub async fn wait_logged(
        &mut self,
        service: &str,
        timeout: Duration,
        pred: impl Fn(&str, &Kind) -> bool,
    ) -> anyhow::Result<(String, Kind)> {
        let deadline = Instant::now() + timeout;
        let store = PgEventStore::connect(&self.database_url(service), service).await?;
        let mut after = 0;
        loop {
            self.check_alive()?;
            for e in store.read_all(after, 1024).await? {
                after = e.position;
                if let Some(kind) = triad_network::decode(&e)?
                    && pred(&e.stream, &kind)
                {
                    return Ok((e.stream, kind));
                }
            }
            ensure!(Instant::now() < deadline, "no such event in {service}'s log within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Network {
    /// (delivered stream sequence, unacknowledged deliveries) of the durable JetStream
    /// consumer `durable` on `source`'s stream.
    pub async fn consumer_state(&self, source: &str, durable: &str) -> anyhow::Result<(u64, usize)> {
        let bus = JetStreamBus::connect(JetStreamConfig {
            url: self.nats.clone(),
            names: BusNames::prefixed(&self.prefix),
            ..Default::default()
        })
        .await?;
        let stream = bus.context().get_stream(bus.names().stream(source)).await?;
        let info = stream.consumer_info(durable).await?;
        Ok((info.delivered.stream_sequence, info.num_ack_pending))
    }

    /// The outbox cursor of `service`'s store: the last position its relay published.
    pub async fn published(&self, service: &str) -> anyhow::Result<u64> {
        let store = PgEventStore::connect(&self.database_url(service), service).await?;
        Ok(store.published().await?)
    }
}

impl Drop for Network {
    /// Kills the processes before the databases and streams go (a running relay would
    /// declare its stream again); a failing test gets the tail of each log.
    fn drop(&mut self) {
        self.coordinator.kill();
        for p in &mut self.parties {
            p.kill();
        }
        self.projector.kill();
        if std::thread::panicking() {
            // The logs outlive the temporary directory.
            let kept = std::env::temp_dir().join(format!("triad-itest-{}-logs", self.prefix));
            let kept = std::fs::create_dir_all(&kept).map(|()| kept);
            let procs = std::iter::once(&self.coordinator).chain(&self.parties).chain([&self.projector]);
            for p in procs {
                let log = match &kept {
                    Ok(dir) => {
                        let to = dir.join(format!("{}.log", p.name));
                        std::fs::copy(&p.log, &to).map_or_else(|_| p.log.clone(), |_| to)
                    }
                    Err(_) => p.log.clone(),
                };
                eprintln!("---- {} ({}), last {LOG_TAIL} lines ----\n{}", p.name, log.display(), p.tail());
            }
        }
    }
}

/// A port free right now on 127.0.0.1 (bound, read, released), for a service to bind.
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}

fn lazy_channel(addr: SocketAddr) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(format!("http://{addr}"))?.connect_timeout(Duration::from_secs(2)).connect_lazy())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = File::create(path).with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A nats-server of a test's own, on a free port with its JetStream store in a temporary
/// directory, for tests that stop and restart the bus under a running network (the shared
/// server at [`nats_url`] serves every other test in parallel). Killed on drop.
pub struct PrivateNats {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl PrivateNats {
    /// Starts `nats-server -js` (`TRIAD_TEST_NATS_SERVER`, else `/usr/sbin/nats-server`) and
    /// waits until it accepts connections.
    pub async fn start() -> anyhow::Result<PrivateNats> {
        let port = free_port()?.port();
        let dir = tempfile::Builder::new().prefix("triad-itest-nats-").tempdir().context("a temporary directory")?;
        let mut nats = PrivateNats { port, dir, child: None };
        nats.restart().await?;
        Ok(nats)
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL: a crash, not a shutdown) and waits for it to exit.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().context("killing nats-server")?;
            child.wait().context("waiting for nats-server")?;
        }
        Ok(())
    }

    /// Starts the server again on the same port and store, and waits until it accepts
    /// connections.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill()?;
        let exe = std::env::var("TRIAD_TEST_NATS_SERVER").unwrap_or_else(|_| "/usr/sbin/nats-server".into());
        let log = std::fs::File::create(self.dir.path().join("nats.log")).context("nats-server's log")?;
        let child = std::process::Command::new(&exe)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(self.dir.path().join("store"))
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {exe} (set TRIAD_TEST_NATS_SERVER to another nats-server)"))?;
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            // JetStream answers once the server has recovered its store.
            let last = match async_nats::connect(self.url()).await {
                // (A stream lookup: this client's account query does not parse a 2.9 reply.)
                Ok(client) => match async_nats::jetstream::new(client).get_stream("TRIAD_ITEST_PROBE").await {
                    Err(e) if e.to_string().contains("stream not found") => return Ok(()),
                    Ok(_) => return Ok(()),
                    Err(e) => e.to_string(),
                },
                Err(e) => e.to_string(),
            };
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "nats-server on port {} did not come up: {last} (its log: {})",
                self.port,
                self.dir.path().join("nats.log").display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}
