//! The network's clients over gRPC: `triad provide` (a provider proves, splits, seals and
//! submits a value to the coordinator), `triad query` (a consumer submits SQL to the
//! coordinator and waits for the published result at the projector), `triad watch` (results
//! as the projector publishes them) and `triad status` (parties, datasets, queue).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt as _;
use prost::Message as _;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};
use triad_proto::api::v1::{self as api, coordinator_client::CoordinatorClient, query_api_client::QueryApiClient};
use triad_proto::events::v1::ResultPublished;
use triad_provider::{DecimalFormat, ProvenValue, PublicKey, make_bundles, os_rng};
use triad_signing::NetworkKey;

use crate::provider;

/// The coordinator's default listen address (`coordinator/src/main.rs`).
const DEFAULT_COORDINATOR: &str = "http://127.0.0.1:50051";
/// The projector's default listen address (`projector/src/main.rs`).
const DEFAULT_PROJECTOR: &str = "http://127.0.0.1:50052";
/// Presentations and bundles are larger than gRPC's default 4 MiB limit allows for.
const MAX_MESSAGE_BYTES: usize = 64 << 20;
/// How often `triad query` asks the projector for the query's state.
const POLL: Duration = Duration::from_millis(250);

#[derive(clap::Args)]
pub struct ProvideArgs {
    /// The coordinator's gRPC endpoint.
    #[arg(long, default_value = DEFAULT_COORDINATOR)]
    coordinator: String,
    /// The dataset to contribute to.
    #[arg(long)]
    dataset: String,
    /// The presentation of the proven value (upstream TLSNotary alpha.15 format).
    #[arg(long)]
    presentation: PathBuf,
    /// The prover's secret for a hidden value (secret.json: range, value_hex, blinder_hex,
    /// alg, commitment_hex); repeat it once per column of the dataset, in column order.
    #[arg(long = "secret", required = true)]
    secrets: Vec<PathBuf>,
    /// A DER root certificate to check the server's certificate chain against before
    /// submitting (repeatable; the development notary writes ca.der). Without one the chain is
    /// left to the coordinator, which checks it against the network's roots; the notary's
    /// signature (under the dataset's pinned keys) and the transcript are checked here always.
    #[arg(long = "trust-anchor")]
    trust_anchors: Vec<PathBuf>,
    /// One JSON object on stdout (`dataset_id`, `contribution_id`, `position`).
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct QueryArgs {
    /// The coordinator's gRPC endpoint (the query is submitted there).
    #[arg(long, default_value = DEFAULT_COORDINATOR)]
    coordinator: String,
    /// The projector's gRPC endpoint (the result is read there).
    #[arg(long, default_value = DEFAULT_PROJECTOR)]
    projector: String,
    /// The query, e.g. "SELECT count(*), median(balance) FROM eth_balance".
    #[arg(long)]
    sql: String,
    /// How long to wait for the result, seconds.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
    /// Who asks (recorded in the query's event).
    #[arg(long, default_value = "triad query")]
    requested_by: String,
    /// The network key to check the result's signature with (130 hex digits, as `triad
    /// status` prints it); without it the coordinator's is used, which trusts the coordinator.
    #[arg(long, env = "TRIAD_NETWORK_KEY")]
    network_key: Option<String>,
    /// Also write the signed result to this file, for `triad verify`.
    #[arg(long)]
    save: Option<PathBuf>,
    /// One JSON object on stdout (`columns`, `rows`, `sql`, `query_id`, `dataset_id`,
    /// `snapshot`, `rows_in_snapshot`); progress goes to stderr.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct WatchArgs {
    /// The projector's gRPC endpoint.
    #[arg(long, default_value = DEFAULT_PROJECTOR)]
    projector: String,
    /// Only this dataset's results.
    #[arg(long)]
    dataset: Option<String>,
    /// One JSON object per result and line on stdout (as `triad query --json`).
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct StatusArgs {
    /// The coordinator's gRPC endpoint.
    #[arg(long, default_value = DEFAULT_COORDINATOR)]
    coordinator: String,
    /// Also the projector's view of the datasets, from this gRPC endpoint.
    #[arg(long)]
    projector: Option<String>,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
}

async fn channel(url: &str, what: &str, flag: &str) -> Result<Channel> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .with_context(|| format!("{flag} {url:?} is not a URL: expected http://HOST:PORT"))?
        .connect_timeout(Duration::from_secs(10));
    endpoint.connect().await.with_context(|| format!("cannot reach the {what} at {url}: is it running? (set {flag})"))
}

async fn coordinator(url: &str) -> Result<CoordinatorClient<Channel>> {
    Ok(CoordinatorClient::new(channel(url, "coordinator", "--coordinator").await?)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES))
}

async fn projector(url: &str) -> Result<QueryApiClient<Channel>> {
    Ok(QueryApiClient::new(channel(url, "projector", "--projector").await?)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES))
}

/// A gRPC status as an error of `what`, with its code.
fn grpc(what: &str) -> impl Fn(tonic::Status) -> anyhow::Error + '_ {
    move |s| match s.code() {
        Code::ResourceExhausted => anyhow!("{what}: {} (the service is busy; retry later)", s.message()),
        Code::Unavailable => anyhow!("{what}: the service is unavailable: {}", s.message()),
        code => anyhow!("{what}: {} ({code:?})", s.message()),
    }
}

fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn dataset_id(d: &api::DatasetStatus) -> &str {
    d.dataset.as_ref().map_or("", |d| d.dataset_id.as_str())
}

/// The three parties' share keys from the network; an error names the parties that have not
/// joined yet.
fn share_keys(network: &api::Network) -> Result<[PublicKey; 3]> {
    let key = |i: u32| network.parties.iter().find(|p| p.party == i && !p.share_public_key.is_empty());
    let missing: Vec<String> = (0..3).filter(|&i| key(i).is_none()).map(|i| i.to_string()).collect();
    if !missing.is_empty() {
        bail!(
            "party {} has not joined the network yet, so there is no key to seal its share to; retry once \
             `triad status` shows all three parties",
            missing.join(", ")
        );
    }
    let parse = |i: u32| -> Result<PublicKey> {
        let p = key(i).with_context(|| format!("party {i} has not joined"))?;
        PublicKey::from_bytes(&p.share_public_key).with_context(|| format!("party {i}'s share key is malformed"))
    };
    Ok([parse(0)?, parse(1)?, parse(2)?])
}

/// `triad provide`.
pub async fn provide(args: ProvideArgs) -> Result<()> {
    let mut client = coordinator(&args.coordinator).await?;
    let network =
        client.get_network(api::GetNetworkRequest {}).await.map_err(grpc("reading the network"))?.into_inner();
    let Some(status) = network.datasets.iter().find(|d| dataset_id(d) == args.dataset) else {
        let ids: Vec<&str> = network.datasets.iter().map(dataset_id).collect();
        if ids.is_empty() {
            bail!("dataset {:?} not found: the network at {} has no datasets yet", args.dataset, args.coordinator);
        }
        bail!("dataset {:?} not found; the network has: {} (pass one to --dataset)", args.dataset, ids.join(", "));
    };
    let dataset = status.dataset.as_ref().context("the coordinator reports the dataset without its definition")?;
    let keys = share_keys(&network)?;
    for p in network.parties.iter().filter(|p| !p.up) {
        eprintln!("note: party {} is down; the contribution waits until all three parties are up", p.party);
    }
    let columns = triad_network::proven_columns(dataset)
        .with_context(|| format!("dataset {}'s columns cannot be proven", args.dataset))?;
    let formats = columns
        .iter()
        .map(|c| {
            DecimalFormat::from_proto(&c.format)
                .with_context(|| format!("dataset {}'s column `{}` has no usable format", args.dataset, c.name))
        })
        .collect::<Result<Vec<_>>>()?;
    if args.secrets.len() != columns.len() {
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        bail!(
            "dataset {} has {} columns ({}): pass one --secret per column, in that order (got {})",
            args.dataset,
            columns.len(),
            names.join(", "),
            args.secrets.len()
        );
    }
    let pinned = dataset.template.as_ref().map(|t| t.notary_keys.clone()).unwrap_or_default();
    let anchors = provider::trust_anchors(&args.trust_anchors)?;
    let presentation =
        std::fs::read(&args.presentation).with_context(|| format!("reading {}", args.presentation.display()))?;
    let secrets = args.secrets.iter().map(|path| provider::read_secret(path)).collect::<Result<Vec<_>>>()?;
    // One presentation (one notary) hides every value: verify it once, under the first
    // secret's notary key when the dataset pins none.
    let (first_path, (first_json, _)) =
        args.secrets.first().zip(secrets.first()).context("pass --secret, one per column")?;
    let notary_keys = provider::notary_keys(
        &pinned,
        first_json,
        first_path,
        &format!("dataset {} pins no notary key", args.dataset),
    )?;
    let verified = provider::verify_presentation(&args.presentation, &presentation, notary_keys, anchors)?;
    let proven = args
        .secrets
        .iter()
        .zip(secrets)
        .map(|(path, (json, secret))| {
            Ok((secret, provider::find_commitment(&verified, &args.presentation, path, &json)?))
        })
        .collect::<Result<Vec<_>>>()?;
    let values: Vec<ProvenValue<'_>> = proven
        .iter()
        .zip(&formats)
        .map(|((secret, commitment), format)| ProvenValue { secret, commitment, format })
        .collect();
    let contribution_id = provider::random_contribution_id();
    let sealed = make_bundles(&values, &args.dataset, contribution_id, &keys, &mut os_rng())
        .with_context(|| format!("splitting and sealing the values for dataset {}", args.dataset))?;

    let request = api::SubmitContributionRequest {
        dataset_id: args.dataset.clone(),
        presentation,
        bundles: sealed.bundles.iter().map(|b| b.as_bytes().to_vec()).collect(),
        share_commitments: sealed.commitments.to_proto().encode_to_vec(),
    };
    let submitted = client.submit_contribution(request).await.map_err(|s| match s.code() {
        Code::AlreadyExists if s.message().starts_with("uid ") => anyhow!(
            "the coordinator refused the contribution: this account already contributed to dataset {} (one \
             contribution per account and dataset): {}",
            args.dataset,
            s.message()
        ),
        Code::AlreadyExists => anyhow!("the coordinator refused the contribution: {}", s.message()),
        Code::InvalidArgument => anyhow!("the coordinator refused the contribution: {}", s.message()),
        Code::NotFound => anyhow!("{} (list the datasets with `triad status`)", s.message()),
        _ => grpc("submitting the contribution")(s),
    })?;
    let submitted = submitted.into_inner();
    let id = hex::encode(&submitted.contribution_id);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "dataset_id": args.dataset,
                "contribution_id": id,
                "position": submitted.position,
            })
        );
    } else {
        println!(
            "contribution {id} submitted to dataset {} at coordinator position {}; the parties check it next \
             (follow with `triad status`)",
            args.dataset, submitted.position
        );
    }
    Ok(())
}

/// `triad query`.
pub async fn query(args: QueryArgs) -> Result<()> {
    let mut coordinator = coordinator(&args.coordinator).await?;
    let mut projector = projector(&args.projector).await?;
    let submitted = coordinator
        .submit_query(api::SubmitQueryRequest { sql: args.sql.clone(), requested_by: args.requested_by.clone() })
        .await
        .map_err(|s| match s.code() {
            Code::InvalidArgument => anyhow!("the coordinator refused the query: {}", s.message()),
            Code::NotFound => anyhow!("{} (list the datasets with `triad status`)", s.message()),
            _ => grpc("submitting the query")(s),
        })?
        .into_inner();
    let id = hex::encode(&submitted.query_id);
    eprintln!("query {id} submitted (dataset {})", submitted.dataset_id);

    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.timeout_secs);
    let mut state = String::from("submitted");
    loop {
        match projector.get_query_status(api::GetQueryStatusRequest { query_id: submitted.query_id.clone() }).await {
            Ok(s) => {
                let s = s.into_inner();
                if s.state != state {
                    let reason = if s.reason.is_empty() { String::new() } else { format!(": {}", s.reason) };
                    eprintln!("  {:.1} s: {}{reason}", started.elapsed().as_secs_f64(), s.state);
                    state = s.state.clone();
                }
                match s.state.as_str() {
                    "published" => break,
                    "aborted" => {
                        let hint = if s.reason == "below_min_cohort" {
                            " (the parties open no answer over fewer rows than the dataset's min_cohort)"
                        } else {
                            ""
                        };
                        bail!("query {id} was refused by the parties: {}{hint}", s.reason);
                    }
                    _ => {}
                }
            }
            // The projector has not folded the query's request yet.
            Err(s) if s.code() == Code::NotFound => {}
            Err(s) => return Err(grpc("reading the query's state at the projector")(s)),
        }
        if Instant::now() >= deadline {
            bail!(
                "query {id} is still {state} after {} s (--timeout-secs); it stays queued: `triad watch --dataset {}` \
                 prints its result when it is published",
                args.timeout_secs,
                submitted.dataset_id
            );
        }
        tokio::time::sleep(POLL).await;
    }
    let result = projector
        .get_result(api::GetResultRequest { query_id: submitted.query_id.clone() })
        .await
        .map_err(grpc("reading the result at the projector"))?
        .into_inner();
    // The consumer's own check: the projector and the bus are not trusted.
    let (key, pinned) = match &args.network_key {
        Some(hex) => (NetworkKey::from_hex(hex).context("--network-key")?, true),
        None => {
            let network =
                coordinator.get_network(api::GetNetworkRequest {}).await.map_err(grpc("reading the network key"))?;
            let key = network.into_inner().key.ok_or_else(|| anyhow!("the network has no key yet"))?;
            (triad_network::network_key(&key).ok_or_else(|| anyhow!("the coordinator serves a malformed key"))?, false)
        }
    };
    triad_network::verify_result(&key, &result).with_context(|| format!("query {id}: the result's signature"))?;
    if let Some(path) = &args.save {
        std::fs::write(path, signed_json(&result).to_string())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        let mut o = result_json(&result);
        o["verified"] = serde_json::json!(true);
        o["network_key"] = serde_json::json!(key.to_hex());
        println!("{o}");
    } else {
        print!("{}", result_text(&result));
        println!(
            "  signature verified under dataset key {} (network key {})",
            hex::encode(&result.public_key),
            if pinned {
                "pinned with --network-key"
            } else {
                "as the coordinator serves it: pin it with --network-key"
            }
        );
    }
    Ok(())
}

/// A published result in the file format `triad verify` reads.
pub(crate) fn signed_json(r: &ResultPublished) -> serde_json::Value {
    let statement = triad_network::result_statement(&r.network_id, &r.dataset_id, r.snapshot, &r.sql, &r.values);
    serde_json::json!({
        "network_id": statement.network_id,
        "dataset_id": statement.dataset_id,
        "snapshot": statement.snapshot,
        "query": statement.query,
        "columns": statement.columns,
        "signature": hex::encode(&r.signature),
    })
}

/// The published result of `query_id` at the projector `url`.
pub(crate) async fn published(url: &str, query_id: &[u8]) -> Result<ResultPublished> {
    let mut projector = projector(url).await?;
    Ok(projector
        .get_result(api::GetResultRequest { query_id: query_id.to_vec() })
        .await
        .map_err(|s| match s.code() {
            Code::NotFound => anyhow!("no published result of query {} at {url}", hex::encode(query_id)),
            _ => grpc("reading the result at the projector")(s),
        })?
        .into_inner())
}

/// A result as `triad query --json` and `triad watch --json` print it.
fn result_json(r: &ResultPublished) -> serde_json::Value {
    let mut o = crate::stats::json(&triad_network::answer_of(&r.values), None);
    o["sql"] = serde_json::json!(r.sql);
    o["query_id"] = serde_json::json!(hex::encode(&r.query_id));
    o["dataset_id"] = serde_json::json!(r.dataset_id);
    o["snapshot"] = serde_json::json!(r.snapshot);
    o["rows_in_snapshot"] = serde_json::json!(r.rows);
    o["signature"] = serde_json::json!(hex::encode(&r.signature));
    o["dataset_key"] = serde_json::json!(hex::encode(&r.public_key));
    o
}

/// A result as a heading and a table.
fn result_text(r: &ResultPublished) -> String {
    format!(
        "{}\n  query {} over {} contributions of {} (snapshot at coordinator position {})\n{}",
        r.sql,
        hex::encode(&r.query_id),
        r.rows,
        r.dataset_id,
        r.snapshot,
        triad_stats::format::table(&triad_network::answer_of(&r.values), None)
    )
}

/// `triad watch`.
pub async fn watch(args: WatchArgs) -> Result<()> {
    let mut projector = projector(&args.projector).await?;
    let dataset_id = args.dataset.clone().unwrap_or_default();
    let list = |mut p: QueryApiClient<Channel>, dataset_id: String| async move {
        p.list_results(api::ListResultsRequest { dataset_id })
            .await
            .map(|r| r.into_inner().results)
            .map_err(grpc("listing the results at the projector"))
    };
    // What was published before: not printed (it is what ListResults returns).
    let mut seen: HashSet<Vec<u8>> =
        list(projector.clone(), dataset_id.clone()).await?.into_iter().map(|r| r.query_id).collect();
    let show = |r: &ResultPublished| {
        if args.json {
            println!("{}", result_json(r));
        } else {
            println!("{}", result_text(r));
        }
    };
    let mut relist = false;
    loop {
        let mut stream = projector
            .stream_results(api::StreamResultsRequest { dataset_id: dataset_id.clone() })
            .await
            .map_err(grpc("following the results at the projector"))?
            .into_inner();
        if relist {
            // Subscribed again: what was published while this watcher lagged is listed.
            for r in list(projector.clone(), dataset_id.clone()).await? {
                if seen.insert(r.query_id.clone()) {
                    show(&r);
                }
            }
        } else {
            let which = args.dataset.as_deref().map_or_else(|| "all datasets".to_owned(), |d| format!("dataset {d}"));
            eprintln!("watching results of {which} at {} (Ctrl-C to stop)", args.projector);
        }
        loop {
            match stream.next().await {
                Some(Ok(r)) => {
                    if seen.insert(r.query_id.clone()) {
                        show(&r);
                    }
                }
                Some(Err(s)) if s.code() == Code::DataLoss => {
                    eprintln!("the stream lagged ({}); listing the results and following again", s.message());
                    relist = true;
                    break;
                }
                Some(Err(s)) => return Err(grpc("following the results at the projector")(s)),
                None => bail!("the projector at {} ended the stream", args.projector),
            }
        }
    }
}

/// `triad status`.
pub async fn status(args: StatusArgs) -> Result<()> {
    let mut client = coordinator(&args.coordinator).await?;
    let network =
        client.get_network(api::GetNetworkRequest {}).await.map_err(grpc("reading the network"))?.into_inner();
    let projected = match &args.projector {
        Some(url) => Some(
            projector(url)
                .await?
                .list_datasets(api::ListDatasetsRequest {})
                .await
                .map_err(grpc("listing the datasets at the projector"))?
                .into_inner()
                .datasets,
        ),
        None => None,
    };
    let now = now_unix();
    let parties: Vec<serde_json::Value> = (0..3u32)
        .map(|i| match network.parties.iter().find(|p| p.party == i) {
            Some(p) => serde_json::json!({
                "party": i,
                "operator": p.operator_name,
                "joined": !p.share_public_key.is_empty(),
                "up": p.up,
                "last_heartbeat_secs_ago":
                    (p.last_heartbeat_unix > 0).then(|| now.saturating_sub(p.last_heartbeat_unix).max(0)),
            }),
            None => serde_json::json!({
                "party": i, "operator": null, "joined": false, "up": false, "last_heartbeat_secs_ago": null,
            }),
        })
        .collect();
    let datasets: Vec<serde_json::Value> = network
        .datasets
        .iter()
        .map(|d| {
            serde_json::json!({
                "dataset_id": dataset_id(d),
                "min_cohort": d.dataset.as_ref().map(|d| d.min_cohort),
                "submitted": d.submitted,
                "accepted": d.accepted,
                "rejected": d.rejected,
                "pending": d.pending,
            })
        })
        .collect();
    let projector_datasets: Option<Vec<serde_json::Value>> = projected.as_ref().map(|ds| {
        ds.iter()
            .map(|d| {
                serde_json::json!({
                    "dataset_id": d.dataset_id,
                    "min_cohort": d.min_cohort,
                    "submitted": d.contributions_submitted,
                    "accepted": d.contributions_accepted,
                    "rejected": d.contributions_rejected,
                })
            })
            .collect()
    });
    let key = network.key.as_ref().and_then(|k| Some((triad_network::network_key(k)?.to_hex(), k.epoch)));
    if args.json {
        let mut o = serde_json::json!({
            "network_id": network.network_id,
            "parties": parties,
            "datasets": datasets,
            "queries_queued": network.queries_queued,
            "network_key": key.as_ref().map(|(hex, _)| hex),
            "key_epoch": key.as_ref().map(|(_, epoch)| epoch),
        });
        if let Some(p) = projector_datasets {
            o["projector"] = serde_json::json!({ "datasets": p });
        }
        println!("{o}");
        return Ok(());
    }

    println!("network {} (coordinator {})", network.network_id, args.coordinator);
    match &key {
        Some((hex, epoch)) => println!("network key: {hex} (shares of epoch {epoch}; pin it for `triad verify`)"),
        None => println!("network key: not generated yet (the parties make it once all three are up)"),
    }
    println!("parties:");
    for i in 0..3u32 {
        match network.parties.iter().find(|p| p.party == i) {
            Some(p) if !p.share_public_key.is_empty() => {
                let beat = if p.last_heartbeat_unix > 0 {
                    format!("last heartbeat {} s ago", now.saturating_sub(p.last_heartbeat_unix).max(0))
                } else {
                    "no heartbeat yet".to_owned()
                };
                println!("  {i}  {:<24} {:<5} {beat}", p.operator_name, if p.up { "up" } else { "down" });
            }
            _ => println!("  {i}  not joined"),
        }
    }
    if network.datasets.is_empty() {
        println!("datasets: none");
    } else {
        println!("datasets:");
        let width = network.datasets.iter().map(|d| dataset_id(d).len()).max().unwrap_or(0);
        for d in &network.datasets {
            println!(
                "  {:<width$}  submitted {}  accepted {}  rejected {}  pending {}",
                dataset_id(d),
                d.submitted,
                d.accepted,
                d.rejected,
                d.pending
            );
        }
    }
    println!("queries queued: {}", network.queries_queued);
    if let (Some(url), Some(ds)) = (&args.projector, &projected) {
        println!("projector {url}:");
        if ds.is_empty() {
            println!("  no datasets");
        }
        let width = ds.iter().map(|d| d.dataset_id.len()).max().unwrap_or(0);
        for d in ds {
            println!(
                "  {:<width$}  submitted {}  accepted {}  rejected {}",
                d.dataset_id, d.contributions_submitted, d.contributions_accepted, d.contributions_rejected
            );
        }
    }
    Ok(())
}
