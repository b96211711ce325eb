//! `triad bench signing`: threshold ECDSA (`triad-signing`, DKLs23 2-of-3): `dkg` (three
//! parties), `sign` (two), `refresh` (three), one operation after another, `n` operations
//! per case. Backends:
//! - `embedded`: the parties' sessions run in memory in one thread (`triad_signing::local`,
//!   the computation alone);
//! - `bus`: each party a task of this process with its own NATS connection, every message
//!   sealed and carried by JetStream (`triad-signing-bus`): the transport alone;
//! - `distributed`: the network as it runs: the coordinator and three `triad-party`
//!   processes on PostgreSQL + JetStream (the itests harness; build the services first), an
//!   operation timed from the operator's request (`Sign`, `RefreshKey`) to its outcome in the
//!   coordinator's log as `GetSignature` / `GetNetwork` serve it; `dkg` once (n = 1), from
//!   the three parties up to the network key.
//!
//! Each signature is checked with k256 after the clock; a refresh must keep the public key.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use triad_signing::sign::Signature;
use triad_signing::{KeyShare, Message, PartyId, Rounds, Session, SessionId, dkg, local, refresh, sign};
use triad_signing_bus::{BusConfig, PartyKeys, SigningBus, generate_keypair};

use crate::{Host, Report, Row};

/// Where the parties run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// In memory, one thread.
    Embedded,
    /// Tasks of this process over JetStream (the transport alone).
    Bus,
    /// The services as processes on PostgreSQL + JetStream.
    Distributed,
    /// `embedded` and `distributed`.
    Both,
    /// All three.
    All,
}

#[derive(clap::Args)]
pub struct Args {
    /// Backends to measure.
    #[arg(long, value_enum, default_value = "both")]
    backend: Backend,
    /// Operations per case.
    #[arg(long, default_value_t = 20)]
    n: u64,
    /// Run only these cases (comma-separated): dkg, sign, refresh.
    #[arg(long)]
    only: Option<String>,
    /// NATS server.
    #[arg(long, env = "TRIAD_BENCH_NATS", default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

/// Where the messages go.
enum Transport {
    Embedded,
    Distributed(Box<Parties>),
}

/// The three parties' connections and keys, and the stream to delete after.
struct Parties {
    buses: Vec<SigningBus>,
    keys: Vec<Arc<PartyKeys>>,
    stream: String,
    client: async_nats::Client,
}

pub async fn run(args: Args) -> Result<()> {
    let mut report = Report::new(args.json);
    let cases: Vec<&str> = match &args.only {
        Some(list) => list.split(',').map(str::trim).collect(),
        None => vec!["dkg", "sign", "refresh"],
    };
    if let Some(bad) = cases.iter().find(|c| !["dkg", "sign", "refresh"].contains(c)) {
        bail!("unknown case {bad}: dkg, sign, refresh");
    }
    let backends = match args.backend {
        Backend::Both => vec![Backend::Embedded, Backend::Distributed],
        Backend::All => vec![Backend::Embedded, Backend::Bus, Backend::Distributed],
        one => vec![one],
    };
    for which in &backends {
        let (name, transport) = match which {
            Backend::Embedded => ("embedded", Transport::Embedded),
            Backend::Bus => ("bus", distributed(&args.nats).await?),
            _ => {
                services(&args, &cases, &mut report).await?;
                continue;
            }
        };
        let mut shares = keygen(&transport, session("setup", 0)).await?;
        for case in &cases {
            let mut latencies = hdrhistogram::Histogram::<u64>::new(3)?;
            let mut bytes = 0u64;
            let started = Instant::now();
            for i in 0..args.n {
                let id = session(case, i);
                let t = Instant::now();
                match *case {
                    "dkg" => {
                        keygen(&transport, id).await?;
                    }
                    "sign" => {
                        let digest = session("digest", i).0;
                        let signature = sign_once(&transport, &shares, id, digest).await?;
                        latencies.record(t.elapsed().as_micros() as u64)?;
                        ensure!(
                            verifies(&shares[0].public_key(), &digest, &signature),
                            "signature {i} does not verify"
                        );
                        continue;
                    }
                    _ => {
                        let old = shares[0].public_key();
                        shares = refreshed(&transport, &shares, id).await?;
                        latencies.record(t.elapsed().as_micros() as u64)?;
                        ensure!(shares.iter().all(|s| s.public_key() == old), "refresh changed the public key");
                        continue;
                    }
                }
                latencies.record(t.elapsed().as_micros() as u64)?;
            }
            let secs = started.elapsed().as_secs_f64();
            if matches!(transport, Transport::Embedded) {
                bytes = bytes_per_party(case, &shares)?;
            }
            report.row(&Row {
                suite: "signing",
                case: (*case).to_owned(),
                backend: name.to_owned(),
                n: args.n,
                secs,
                per_sec: Some(args.n as f64 / secs),
                p50_ms: Some(latencies.value_at_quantile(0.5) as f64 / 1e3),
                p99_ms: Some(latencies.value_at_quantile(0.99) as f64 / 1e3),
                bytes_per_party: (bytes > 0).then_some(bytes),
                rounds: Some(3),
                checked: Some(*case != "dkg"),
                host: Host::current(),
            })?;
        }
        if let Transport::Distributed(parties) = transport {
            let _ = async_nats::jetstream::new(parties.client).delete_stream(&parties.stream).await;
        }
    }
    Ok(())
}

/// The `distributed` rows: the services as processes.
async fn services(args: &Args, cases: &[&str], report: &mut Report) -> Result<()> {
    use triad_itests::network::{Network, Tuning};
    use triad_proto::api::v1 as api;

    eprintln!("starting the coordinator, three parties and the projector as processes on PostgreSQL + JetStream");
    let mut net = Network::start(Vec::new(), &Tuning::default()).await?;
    net.wait_up(Duration::from_secs(60)).await?;
    let up = Instant::now();
    let key = net.wait_key(0, Duration::from_secs(120)).await?;
    let dkg_secs = up.elapsed().as_secs_f64();
    let network_key = triad_network::network_key(&key).context("a malformed network key")?;
    let row = |case: &str, n: u64, secs: f64, latencies: Option<&hdrhistogram::Histogram<u64>>, checked: bool| Row {
        suite: "signing",
        case: case.to_owned(),
        backend: "distributed".to_owned(),
        n,
        secs,
        per_sec: Some(n as f64 / secs),
        p50_ms: Some(latencies.map_or(secs * 1e3, |l| l.value_at_quantile(0.5) as f64 / 1e3)),
        p99_ms: Some(latencies.map_or(secs * 1e3, |l| l.value_at_quantile(0.99) as f64 / 1e3)),
        bytes_per_party: None,
        rounds: Some(3),
        checked: Some(checked),
        host: Host::current(),
    };
    if cases.contains(&"dkg") {
        report.row(&row("dkg", 1, dkg_secs, None, false))?;
    }
    let mut epoch = key.epoch;
    for case in cases.iter().filter(|c| **c != "dkg") {
        let mut latencies = hdrhistogram::Histogram::<u64>::new(3)?;
        let mut signed = Vec::new();
        let started = Instant::now();
        for i in 0..args.n {
            let t = Instant::now();
            if *case == "sign" {
                let payload = session("payload", i).0;
                let request =
                    net.operator_request(api::SignRequest { payload: payload.to_vec(), path: "bench".into() });
                let id = net.client.sign(request).await.context("Sign")?.into_inner().request_id;
                let status = loop {
                    let s = net.client.get_signature(api::GetSignatureRequest { request_id: id.clone() }).await?;
                    let s = s.into_inner();
                    if s.state != "requested" {
                        break s;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                };
                latencies.record(t.elapsed().as_micros() as u64)?;
                ensure!(status.state == "signed", "signature {i}: {} ({})", status.state, status.reason);
                signed.push((payload, status.signature));
            } else {
                net.client.refresh_key(net.operator_request(api::RefreshKeyRequest {})).await.context("RefreshKey")?;
                let refreshed = net.wait_key(epoch + 1, Duration::from_secs(120)).await?;
                latencies.record(t.elapsed().as_micros() as u64)?;
                ensure!(refreshed.public_key == key.public_key, "refresh {i} changed the public key");
                epoch = refreshed.epoch;
            }
        }
        let secs = started.elapsed().as_secs_f64();
        // Outside the clock: every signature verifies under the request key.
        let request_key = network_key.request_key("bench")?;
        for (i, (payload, signature)) in signed.iter().enumerate() {
            ensure!(verifies(&request_key.public_key, payload, signature), "signature {i} does not verify");
        }
        report.row(&row(case, args.n, secs, Some(&latencies), true))?;
    }
    Ok(())
}

async fn distributed(url: &str) -> Result<Transport> {
    let prefix = format!("triadbench.sign{}", uuid::Uuid::new_v4().simple());
    let mut config = BusConfig::new(&prefix);
    config.round_timeout = Duration::from_secs(30);
    let pairs: Vec<_> = (0..3).map(|_| generate_keypair()).collect();
    let publics = [pairs[0].1.clone(), pairs[1].1.clone(), pairs[2].1.clone()];
    let mut buses = Vec::new();
    let mut keys = Vec::new();
    let mut first = None;
    for (party, (secret, _)) in PartyId::ALL.into_iter().zip(&pairs) {
        let client = async_nats::connect(url).await.with_context(|| format!("NATS at {url}"))?;
        first.get_or_insert_with(|| client.clone());
        buses.push(SigningBus::new(client, config.clone()).await?);
        keys.push(Arc::new(PartyKeys::new(party, secret, publics.clone())?));
    }
    let client = first.context("three parties")?;
    Ok(Transport::Distributed(Box::new(Parties { buses, keys, stream: config.stream, client })))
}

/// Runs the started sessions to their outputs.
async fn drive<P>(transport: &Transport, parties: Vec<(Session<P>, Vec<Message>)>) -> Result<Vec<P::Output>>
where
    P: Rounds + Send + 'static,
    P::Output: Send + 'static,
{
    match transport {
        Transport::Embedded => Ok(local::run(parties).into_iter().collect::<Result<Vec<_>, _>>()?),
        Transport::Distributed(net) => {
            let Parties { buses, keys, .. } = net.as_ref();
            let tasks: Vec<_> = parties
                .into_iter()
                .map(|(session, first)| {
                    let i = session.me().index();
                    let (bus, keys) = (buses[i].clone(), keys[i].clone());
                    tokio::spawn(async move { bus.run(&keys, session, first).await })
                })
                .collect();
            let mut out = Vec::with_capacity(tasks.len());
            for task in tasks {
                out.push(task.await??);
            }
            Ok(out)
        }
    }
}

async fn keygen(transport: &Transport, id: SessionId) -> Result<Vec<KeyShare>> {
    drive(transport, PartyId::ALL.into_iter().map(|p| dkg::start(p, id)).collect()).await
}

async fn sign_once(transport: &Transport, shares: &[KeyShare], id: SessionId, digest: [u8; 32]) -> Result<Signature> {
    let signers = [shares[0].party_id(), shares[1].party_id()];
    let parties = vec![sign::start(&shares[0], id, signers, digest)?, sign::start(&shares[1], id, signers, digest)?];
    let out = drive(transport, parties).await?;
    out.into_iter().next().context("a signature")
}

async fn refreshed(transport: &Transport, shares: &[KeyShare], id: SessionId) -> Result<Vec<KeyShare>> {
    let parties = shares.iter().map(|s| refresh::start(s, id)).collect::<Result<Vec<_>, _>>()?;
    drive(transport, parties).await
}

/// Body bytes sent by the busiest party in one more run of `case`, in memory.
fn bytes_per_party(case: &str, shares: &[KeyShare]) -> Result<u64> {
    let mut sent = [0u64; 3];
    let mut count = |m: &mut Message| sent[m.from.index()] += m.encode().len() as u64;
    let id = session("bytes", 0);
    match case {
        "dkg" => {
            local::run_with(PartyId::ALL.into_iter().map(|p| dkg::start(p, id)).collect(), &mut count);
        }
        "sign" => {
            let signers = [shares[0].party_id(), shares[1].party_id()];
            let parties =
                vec![sign::start(&shares[0], id, signers, [1; 32])?, sign::start(&shares[1], id, signers, [1; 32])?];
            local::run_with(parties, &mut count);
        }
        _ => {
            let parties = shares.iter().map(|s| refresh::start(s, id)).collect::<Result<Vec<_>, _>>()?;
            local::run_with(parties, &mut count);
        }
    }
    Ok(sent.into_iter().max().unwrap_or(0))
}

fn session(label: &str, i: u64) -> SessionId {
    let mut id = [0u8; 32];
    id[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let label = label.as_bytes();
    let n = label.len().min(8);
    id[16..16 + n].copy_from_slice(&label[..n]);
    id[24..].copy_from_slice(&i.to_be_bytes());
    SessionId(id)
}

fn verifies(public_key: &[u8], digest: &[u8; 32], signature: &[u8]) -> bool {
    use k256::ecdsa::signature::hazmat::PrehashVerifier as _;
    let (Ok(key), Ok(signature)) =
        (k256::ecdsa::VerifyingKey::from_sec1_bytes(public_key), k256::ecdsa::Signature::from_slice(signature))
    else {
        return false;
    };
    key.verify_prehash(digest, &signature).is_ok()
}
