//! A coordinator on real stores (SQLite, the in-process bus), served over gRPC on loopback,
//! the development notary, honest submissions, and fake parties written as real stores.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message;
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tokio::sync::watch;
use tonic::transport::Channel;
use triad_coordinator::{Coordinator, CoordinatorConfig};
use triad_dev_notary::{Account, DevNotary, DevNotaryConfig};
use triad_eventlog::{Append, BackendKind, EventLogConfig, EventStore, ExpectedVersion, InProcessBus, Relay};
use triad_network::{event, streams};
use triad_proto::api::v1::{self as api, coordinator_client::CoordinatorClient};
use triad_proto::events::v1::{self as ev, event::Kind};
use triad_provider::{DecimalFormat, ProvenValue, PublicKey, SecretKey, generate_keypair, make_bundles, os_rng};

pub const OPERATOR_TOKEN: &str = "operator-secret-token";
pub const DATASET: &str = "eth_balance";

pub fn config() -> CoordinatorConfig {
    CoordinatorConfig {
        operator_token_sha256: hex::encode(Sha256::digest(OPERATOR_TOKEN.as_bytes())),
        ..CoordinatorConfig::default()
    }
}

pub struct Net {
    pub dir: TempDir,
    pub bus: InProcessBus,
    pub store: Arc<dyn EventStore>,
    pub coordinator: Coordinator,
    pub client: CoordinatorClient<Channel>,
    pub notary: DevNotary,
    pub party_keys: Vec<(SecretKey, PublicKey)>,
    stop: watch::Sender<bool>,
}

pub fn accounts() -> Vec<Account> {
    let mut a = Account::demo();
    a.push(Account::new("dave-token", "u-dave", "7.25", "ETH").unwrap());
    a.push(Account::new("erin-token", "u-erin", "3", "ETH").unwrap());
    a
}

impl Net {
    pub async fn start(config: CoordinatorConfig) -> Net {
        let dir = tempfile::tempdir().unwrap();
        let bus = InProcessBus::new();
        let log =
            EventLogConfig { backend: BackendKind::Embedded, data_dir: dir.path().to_owned(), ..Default::default() };
        let store = log.open_store(triad_network::COORDINATOR, &bus).await.unwrap();
        let notary = DevNotary::start(DevNotaryConfig { accounts: accounts(), ..Default::default() }).await.unwrap();
        let coordinator =
            Coordinator::start(config, vec![notary.ca_cert_der().to_vec()], store.clone(), Arc::new(bus.clone()))
                .await
                .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, rx) = watch::channel(false);
        let serving = coordinator.clone();
        tokio::spawn(async move {
            let mut rx = rx;
            serving
                .serve(listener, async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await
                .unwrap();
        });
        let client = connect(addr).await;
        let party_keys = (0..3).map(|_| generate_keypair(&mut os_rng())).collect();
        Net { dir, bus, store, coordinator, client, notary, party_keys, stop }
    }

    /// Shuts the coordinator down and starts a new one on the same store and bus (served on a
    /// new port; `client` follows it).
    pub async fn restart(&mut self, config: CoordinatorConfig) {
        self.coordinator.shutdown().await;
        self.coordinator = Coordinator::start(
            config,
            vec![self.notary.ca_cert_der().to_vec()],
            self.store.clone(),
            Arc::new(self.bus.clone()),
        )
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (serving, mut rx) = (self.coordinator.clone(), self.stopper());
        tokio::spawn(async move {
            serving
                .serve(listener, async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await
                .unwrap();
        });
        self.client = connect(addr).await;
    }

    pub fn stopper(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    pub async fn stop(self) {
        self.stop.send_replace(true);
        self.coordinator.shutdown().await;
    }

    pub fn create_request(&self) -> api::CreateDatasetRequest {
        let t = self.notary.template(3600);
        api::CreateDatasetRequest {
            dataset_id: DATASET.into(),
            description: "ETH balances".into(),
            template: Some(ev::ProofTemplate {
                server_name: t.server_name.clone(),
                request_method: t.method.clone(),
                request_path: t.path.clone(),
                value_json_path: t.value_fields.first().map(ToString::to_string).unwrap_or_default(),
                uid_json_path: t.uid_field.to_string(),
                freshness_secs: t.freshness_secs,
                notary_keys: t.notary_keys.iter().map(ToString::to_string).collect(),
            }),
            format: Some(format().to_proto()),
            min_cohort: 1,
            columns: Vec::new(),
        }
    }

    pub async fn create_dataset(&mut self) {
        let req = with_token(self.create_request(), OPERATOR_TOKEN);
        self.client.create_dataset(req).await.unwrap();
    }

    /// An honest submission of the account with bearer `token`, contribution id `cid`.
    pub async fn submission(&self, token: &str, cid: [u8; 16]) -> api::SubmitContributionRequest {
        let issued = self.notary.issue(token).await.unwrap();
        let verified = triad_notary::verify(&issued.presentation, &self.notary.verifier_config().unwrap()).unwrap();
        let keys: [PublicKey; 3] = std::array::from_fn(|i| self.party_keys[i].1.clone());
        let secret = issued.secrets[0].prover_secret();
        let format = format();
        let value = ProvenValue { secret: &secret, commitment: &verified.unopened_commitments[0], format: &format };
        let sealed = make_bundles(&[value], DATASET, cid, &keys, &mut os_rng()).unwrap();
        api::SubmitContributionRequest {
            dataset_id: DATASET.into(),
            presentation: issued.presentation,
            bundles: sealed.bundles.iter().map(|b| b.as_bytes().to_vec()).collect(),
            share_commitments: sealed.commitments.to_proto().encode_to_vec(),
        }
    }

    /// Every event of the coordinator's log, decoded, with its stream.
    pub async fn events(&self) -> Vec<(String, u64, Kind)> {
        events_of(self.store.as_ref()).await
    }

    /// Starts the three fake parties (their own stores and relays on the same bus).
    pub async fn parties(&self) -> FakeParties {
        let log = EventLogConfig {
            backend: BackendKind::Embedded,
            data_dir: self.dir.path().to_owned(),
            ..Default::default()
        };
        let (mut stores, mut joins) = (Vec::new(), Vec::new());
        for (i, name) in triad_network::PARTIES.iter().enumerate() {
            let store = log.open_store(name, &self.bus).await.unwrap();
            let rx = self.stopper();
            tokio::spawn(Relay::new(store.clone(), Arc::new(self.bus.clone())).run(async move {
                let mut rx = rx;
                let _ = rx.wait_for(|s| *s).await;
            }));
            let joined = Kind::PartyJoined(ev::PartyJoined {
                party: i as u32,
                operator_name: format!("operator {i}"),
                data_plane_address: format!("127.0.0.1:{}", 7000 + i),
                transport_public_key: vec![i as u8; 32],
                share_public_key: self.party_keys[i].1.to_bytes().to_vec(),
            });
            append(store.as_ref(), &streams::party(i as u32), joined.clone()).await;
            stores.push(store);
            joins.push(joined);
        }
        FakeParties { stores, joins, coordinator: self.store.clone() }
    }
}

pub struct FakeParties {
    pub stores: Vec<Arc<dyn EventStore>>,
    /// Each party's `PartyJoined`, for joining again as a restarted party does.
    joins: Vec<Kind>,
    /// Heartbeats report the coordinator's head as folded, as a caught-up party does.
    coordinator: Arc<dyn EventStore>,
}

impl FakeParties {
    pub async fn heartbeat(&self, party: usize, at_unix: i64) {
        self.heartbeat_folded(party, at_unix, self.coordinator.head().await.unwrap()).await;
    }

    /// Party `party` joins again, as a restarted party does.
    pub async fn rejoin(&self, party: usize) {
        append(self.stores[party].as_ref(), &streams::party(party as u32), self.joins[party].clone()).await;
    }

    /// A heartbeat of a party that has folded the coordinator's log up to `folded` only.
    pub async fn heartbeat_folded(&self, party: usize, at_unix: i64, folded: u64) {
        append(
            self.stores[party].as_ref(),
            &streams::party(party as u32),
            Kind::PartyHeartbeat(ev::PartyHeartbeat { party: party as u32, at_unix, coordinator_position: folded }),
        )
        .await;
    }

    /// Keeps `parties` beating every second (as a party does every 2 s) until `stop`.
    pub fn keep_beating(&self, parties: &[usize], stop: watch::Receiver<bool>) {
        for &p in parties {
            let store = self.stores[p].clone();
            let coordinator = self.coordinator.clone();
            let mut stop = stop.clone();
            tokio::spawn(async move {
                loop {
                    append(
                        store.as_ref(),
                        &streams::party(p as u32),
                        Kind::PartyHeartbeat(ev::PartyHeartbeat {
                            party: p as u32,
                            at_unix: now_unix(),
                            coordinator_position: coordinator.head().await.unwrap(),
                        }),
                    )
                    .await;
                    tokio::select! {
                        _ = stop.wait_for(|s| *s) => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            });
        }
    }

    /// Appends a party's report to its `session-<hex>` (or `query-<hex>`) stream.
    pub async fn report(&self, party: usize, stream: &str, kind: Kind) {
        append(self.stores[party].as_ref(), stream, kind).await;
    }
}

/// The coordinator's `n`-th `SigningRequested` of `purpose` (0-based), once it exists.
pub async fn signing_requested(net: &Net, purpose: &str, n: usize) -> ev::SigningRequested {
    eventually(&format!("a {purpose} request"), || async move {
        net.events()
            .await
            .into_iter()
            .filter_map(|(_, _, k)| match k {
                Kind::SigningRequested(r) if r.purpose == purpose => Some(r),
                _ => None,
            })
            .nth(n)
    })
    .await
}

/// Runs the coordinator's key generation as the three parties would (a real DKG in memory),
/// reports it, and waits for the coordinator's record; returns the shares.
pub async fn keygen(net: &Net, parties: &FakeParties) -> Vec<triad_signing::KeyShare> {
    let r = signing_requested(net, triad_network::SIGN_KEYGEN, 0).await;
    let session = triad_signing::SessionId(r.session_id.as_slice().try_into().unwrap());
    let runs = triad_signing::PartyId::ALL.iter().map(|&p| triad_signing::dkg::start(p, session)).collect();
    let shares: Vec<triad_signing::KeyShare> =
        triad_signing::local::run(runs).into_iter().map(|s| s.unwrap()).collect();
    for (i, share) in shares.iter().enumerate() {
        let k = ev::KeyGenerated {
            key_id: r.session_id.clone(),
            public_key: share.public_key().to_vec(),
            threshold: 2,
            chain_code: share.chain_code().to_vec(),
            party: Some(i as u32),
            request_id: r.request_id.clone(),
        };
        parties.report(i, &streams::signing(&r.request_id), Kind::KeyGenerated(k)).await;
    }
    eventually("the network key", || async move {
        net.events().await.into_iter().find_map(|(s, _, k)| match k {
            Kind::KeyGenerated(k) if s == streams::NETWORK_KEY => Some(k),
            _ => None,
        })
    })
    .await;
    shares
}

/// The two signers of `r` sign its digest (a real signing session in memory, under the
/// request's derived key) unless `tamper`; the first signer reports it.
pub async fn sign(parties: &FakeParties, shares: &[triad_signing::KeyShare], r: &ev::SigningRequested, tamper: bool) {
    let session = triad_signing::SessionId(r.session_id.as_slice().try_into().unwrap());
    let digest: [u8; 32] = r.digest.as_slice().try_into().unwrap();
    let signers: [triad_signing::PartyId; 2] =
        [0, 1].map(|k| triad_signing::PartyId::new(r.participants[k] as u8).unwrap());
    let derived: Vec<triad_signing::KeyShare> = signers
        .iter()
        .map(|p| {
            let share = &shares[p.index()];
            if r.dataset_id.is_empty() { share.derive_request(&r.path) } else { share.derive(&r.dataset_id) }.unwrap()
        })
        .collect();
    let runs = derived.iter().map(|d| triad_signing::sign::start(d, session, signers, digest).unwrap()).collect();
    let mut signature = triad_signing::local::run(runs).remove(0).unwrap();
    if tamper {
        signature[40] ^= 1;
    }
    let signer = signers[0].index();
    let x = ev::Signed {
        request_id: r.request_id.clone(),
        session_id: r.session_id.clone(),
        party: Some(signer as u32),
        signature: signature.to_vec(),
        public_key: derived[0].public_key().to_vec(),
        digest: digest.to_vec(),
    };
    parties.report(signer, &streams::signing(&r.request_id), Kind::Signed(x)).await;
}

pub async fn append(store: &dyn EventStore, stream: &str, kind: Kind) {
    store.append(vec![Append::new(stream, ExpectedVersion::Any, vec![event(kind)])]).await.unwrap();
}

pub async fn events_of(store: &dyn EventStore) -> Vec<(String, u64, Kind)> {
    store
        .read_all(0, 1_000_000)
        .await
        .unwrap()
        .iter()
        .filter_map(|e| triad_network::decode(e).unwrap().map(|k| (e.stream.clone(), e.position, k)))
        .collect()
}

pub fn format() -> DecimalFormat {
    DecimalFormat::new(12, 4, 16).unwrap()
}

pub fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

async fn connect(addr: std::net::SocketAddr) -> CoordinatorClient<Channel> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match CoordinatorClient::connect(format!("http://{addr}")).await {
            Ok(c) => return c.max_decoding_message_size(64 << 20).max_encoding_message_size(64 << 20),
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::task::yield_now().await;
            }
            Err(e) => panic!("cannot connect to the coordinator: {e}"),
        }
    }
}

/// Polls `f` until it returns `Some`, failing after 30 s.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
