//! The RPCs of `triad.api.v1.Coordinator`: each checks its request, decides the events, appends
//! them (the store decides conflicts), folds them, and maps what went wrong to a status that
//! says what to do about it.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use prost::Message;
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};
use tracing::{info, warn};
use triad_eventlog::{Append, ExpectedVersion, StoreError};
use triad_network::{event, streams};
use triad_notary::{ProofTemplate, TemplateMatch, VerifyError};
use triad_proto::api::v1::{self as api, coordinator_server::Coordinator as CoordinatorApi};
use triad_proto::events::v1::{self as ev, event::Kind};
use triad_proto::provider::v1 as pv;

use crate::state::{Standing, parse_template};
use crate::{CoordinatorConfig, Inner, now_unix, random_id};

/// Largest sealed share bundle accepted.
pub(crate) const MAX_BUNDLE_BYTES: usize = 64 << 10;
/// Largest encoded `ShareCommitments` accepted.
pub(crate) const MAX_COMMITMENTS_BYTES: usize = 8 << 10;

/// Longest `requested_by`.
const MAX_LABEL_BYTES: usize = 256;
/// Longest dataset description.
const MAX_DESCRIPTION_BYTES: usize = 4096;

/// The per-client and global request rates.
pub(crate) struct Limits {
    per_client: Option<DefaultKeyedRateLimiter<String>>,
    global: Option<DefaultDirectRateLimiter>,
    clock: DefaultClock,
}

impl Limits {
    pub fn new(config: &CoordinatorConfig) -> Self {
        Self {
            per_client: NonZeroU32::new(config.rate_per_client_per_sec)
                .map(|n| RateLimiter::keyed(Quota::per_second(n))),
            global: NonZeroU32::new(config.rate_global_per_sec).map(|n| RateLimiter::direct(Quota::per_second(n))),
            clock: DefaultClock::default(),
        }
    }

    /// `Err(ms)`: retry after that long.
    fn check(&self, client: &str) -> Result<(), u128> {
        if let Some(l) = &self.per_client
            && let Err(until) = l.check_key(&client.to_owned())
        {
            return Err(until.wait_time_from(self.clock.now()).as_millis().max(1));
        }
        if let Some(l) = &self.global
            && let Err(until) = l.check()
        {
            return Err(until.wait_time_from(self.clock.now()).as_millis().max(1));
        }
        Ok(())
    }

    /// Forgets clients that are back to a full allowance.
    pub fn retain_recent(&self) {
        if let Some(l) = &self.per_client {
            l.retain_recent();
        }
    }
}

/// The gRPC service (serve it with [`crate::Coordinator::service`]).
#[derive(Clone)]
pub struct CoordinatorService {
    inner: Arc<Inner>,
}

impl CoordinatorService {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self { inner }
    }
}

fn store_status(e: StoreError) -> Status {
    warn!(error = %e, "the event store failed");
    Status::unavailable(format!("the coordinator's event store failed ({e}); retry later"))
}

fn refused(reason: &'static str) {
    metrics::counter!("triad_coordinator_submissions_total", "outcome" => "refused", "reason" => reason).increment(1);
}

/// Whether `authorization: Bearer <token>` names the operator's token.
fn check_operator<T>(inner: &Inner, request: &Request<T>) -> Result<(), Status> {
    let Some(expected) = inner.operator_digest else {
        return Err(Status::permission_denied("no operator token is configured"));
    };
    let Some(header) = request.metadata().get("authorization") else {
        return Err(Status::unauthenticated(
            "an operator call: send the metadata `authorization: Bearer <operator token>`",
        ));
    };
    let token = header.to_str().ok().and_then(|h| h.strip_prefix("Bearer ")).map(str::trim);
    let Some(token) = token else {
        return Err(Status::unauthenticated("the authorization metadata must be `Bearer <operator token>`"));
    };
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    // Constant time: every byte is compared whatever the first difference.
    let diff = digest.iter().zip(expected.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if diff != 0 {
        return Err(Status::unauthenticated(
            "the operator token is wrong: send `authorization: Bearer <operator token>`",
        ));
    }
    Ok(())
}

/// The rate-limit key: the `x-client-id` metadata, else the peer's IP.
fn client_of<T>(request: &Request<T>) -> String {
    if let Some(id) = request.metadata().get("x-client-id").and_then(|v| v.to_str().ok()) {
        return format!("id:{}", id.chars().take(128).collect::<String>());
    }
    request.remote_addr().map(|a| a.ip()).map_or_else(|| "unknown".to_owned(), |ip: IpAddr| ip.to_string())
}

fn rate_limit<T>(inner: &Inner, request: &Request<T>) -> Result<(), Status> {
    match inner.limits.check(&client_of(request)) {
        Ok(()) => Ok(()),
        Err(ms) => {
            let mut status = Status::resource_exhausted(format!("rate limit exceeded: retry after {ms} ms"));
            if let Ok(v) = ms.to_string().parse() {
                status.metadata_mut().insert("retry-after-ms", v);
            }
            Err(status)
        }
    }
}

fn valid_dataset_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Verifies with the extra anchors (if any) and, if the chain is not theirs, with Mozilla's
/// roots. Both are made once, so each remembers the chains it verified.
fn verify_presentation(
    inner: &Inner,
    template: &ProofTemplate,
    presentation: &[u8],
) -> Result<triad_notary::VerifiedPresentation, VerifyError> {
    let mozilla = || triad_notary::verify(presentation, &template.verifier_config(inner.mozilla_anchors.clone()));
    match &inner.extra_anchors {
        Some(extra) => match triad_notary::verify(presentation, &template.verifier_config(extra.clone())) {
            Err(VerifyError::UntrustedCertificateChain(_)) => mozilla(),
            other => other,
        },
        None => mozilla(),
    }
}

/// What a submission's checks established.
struct Checked {
    contribution_id: Vec<u8>,
    matched: TemplateMatch,
}

fn check_submission(
    inner: &Inner,
    template: &ProofTemplate,
    r: &api::SubmitContributionRequest,
) -> Result<Checked, Status> {
    let verified = verify_presentation(inner, template, &r.presentation).map_err(|e| {
        refused("presentation");
        Status::invalid_argument(format!("presentation: {e}"))
    })?;
    let now = u64::try_from(now_unix()).unwrap_or(0);
    let matched = template.apply(&verified, now).map_err(|e| {
        refused("presentation");
        Status::invalid_argument(format!("presentation: {e}"))
    })?;
    let mut contribution_id: Option<Vec<u8>> = None;
    for (i, bytes) in r.bundles.iter().enumerate() {
        let bad = |m: String| {
            refused("bundle");
            Status::invalid_argument(format!("bundles[{i}]: {m}"))
        };
        let b = pv::SealedShareBundle::decode(bytes.as_slice())
            .map_err(|e| bad(format!("not a triad.provider.v1.SealedShareBundle: {e}")))?;
        if b.dataset_id != r.dataset_id {
            return Err(bad(format!("is for dataset {:?}, not {:?}", b.dataset_id, r.dataset_id)));
        }
        if usize::try_from(b.party_index).ok() != Some(i) {
            return Err(bad(format!("is sealed for party {}; bundles must be in party order 0, 1, 2", b.party_index)));
        }
        if b.contribution_id.len() != 16 {
            return Err(bad(format!("the contribution id is {} bytes, not 16", b.contribution_id.len())));
        }
        match &contribution_id {
            None => contribution_id = Some(b.contribution_id),
            Some(id) if *id != b.contribution_id => {
                return Err(bad(format!(
                    "names contribution {}, bundles[0] names {}: the three must agree",
                    hex::encode(&b.contribution_id),
                    hex::encode(id)
                )));
            }
            Some(_) => {}
        }
    }
    let contribution_id = contribution_id.ok_or_else(|| Status::invalid_argument("bundles: three are required"))?;
    let commitments = pv::ShareCommitments::decode(r.share_commitments.as_slice()).map_err(|e| {
        refused("share_commitments");
        Status::invalid_argument(format!("share_commitments: not a triad.provider.v1.ShareCommitments: {e}"))
    })?;
    let commitments = triad_provider::ShareCommitments::from_proto(&commitments).map_err(|e| {
        refused("share_commitments");
        Status::invalid_argument(format!("share_commitments: {e}"))
    })?;
    if commitments.components.len() != matched.values.len() {
        refused("share_commitments");
        return Err(Status::invalid_argument(format!(
            "share_commitments: component commitments for {} values, but the dataset has {} columns",
            commitments.components.len(),
            matched.values.len()
        )));
    }
    Ok(Checked { contribution_id, matched })
}

#[tonic::async_trait]
impl CoordinatorApi for CoordinatorService {
    async fn create_dataset(
        &self,
        request: Request<api::CreateDatasetRequest>,
    ) -> Result<Response<api::CreateDatasetResponse>, Status> {
        check_operator(&self.inner, &request)?;
        let r = request.into_inner();
        if !valid_dataset_id(&r.dataset_id) {
            return Err(Status::invalid_argument(format!("dataset_id {:?}: use 1 to 64 of [a-z0-9_]", r.dataset_id)));
        }
        if r.description.len() > MAX_DESCRIPTION_BYTES {
            return Err(Status::invalid_argument(format!("description: at most {MAX_DESCRIPTION_BYTES} bytes")));
        }
        let template = r.template.clone().ok_or_else(|| Status::invalid_argument("template: required"))?;
        if let Some(f) = &r.format {
            triad_provider::DecimalFormat::from_proto(f)
                .map_err(|e| Status::invalid_argument(format!("format: {e}")))?;
        }
        let created = ev::DatasetCreated {
            dataset_id: r.dataset_id.clone(),
            description: r.description,
            template: Some(template),
            format: r.format,
            min_cohort: r.min_cohort,
            columns: r.columns,
        };
        triad_network::schema(&created).map_err(|e| Status::invalid_argument(format!("columns: {e}")))?;
        for c in
            triad_network::proven_columns(&created).map_err(|e| Status::invalid_argument(format!("columns: {e}")))?
        {
            triad_provider::DecimalFormat::from_proto(&c.format)
                .map_err(|e| Status::invalid_argument(format!("columns: column `{}`: {e}", c.name)))?;
        }
        parse_template(&created).map_err(|e| Status::invalid_argument(format!("template: {e}")))?;
        let append = Append::new(
            streams::dataset(&r.dataset_id),
            ExpectedVersion::NoStream,
            vec![event(Kind::DatasetCreated(created))],
        );
        match self.inner.store.append(vec![append]).await {
            Ok(_) => {}
            Err(e) if e.is_conflict() => {
                return Err(Status::already_exists(format!("dataset {} already exists", r.dataset_id)));
            }
            Err(e) => return Err(store_status(e)),
        }
        self.inner.catch_up().await.map_err(store_status)?;
        info!(dataset = %r.dataset_id, "dataset created");
        Ok(Response::new(api::CreateDatasetResponse { dataset_id: r.dataset_id }))
    }

    async fn submit_contribution(
        &self,
        request: Request<api::SubmitContributionRequest>,
    ) -> Result<Response<api::SubmitContributionResponse>, Status> {
        let config = &self.inner.config;
        {
            let r = request.get_ref();
            if r.presentation.len() > config.max_presentation_bytes {
                refused("too_large");
                return Err(Status::resource_exhausted(format!(
                    "presentation: {} bytes, at most {} accepted",
                    r.presentation.len(),
                    config.max_presentation_bytes
                )));
            }
            if r.bundles.len() != 3 {
                refused("bundle");
                return Err(Status::invalid_argument(format!(
                    "bundles: exactly 3 are required (one per party, in party order), got {}",
                    r.bundles.len()
                )));
            }
            if let Some((i, b)) = r.bundles.iter().enumerate().find(|(_, b)| b.len() > MAX_BUNDLE_BYTES) {
                refused("too_large");
                return Err(Status::resource_exhausted(format!(
                    "bundles[{i}]: {} bytes, at most {MAX_BUNDLE_BYTES} accepted",
                    b.len()
                )));
            }
            if r.share_commitments.len() > MAX_COMMITMENTS_BYTES {
                refused("too_large");
                return Err(Status::resource_exhausted(format!(
                    "share_commitments: {} bytes, at most {MAX_COMMITMENTS_BYTES} accepted",
                    r.share_commitments.len()
                )));
            }
        }
        rate_limit(&self.inner, &request).inspect_err(|_| refused("rate_limited"))?;
        let r = request.into_inner();
        let template = {
            // Datasets are folded when created (and at start): the state as it is knows them, so
            // a submission reads the store only for a dataset it does not know yet.
            let mut st = self.inner.state.lock().await;
            if !st.datasets.contains_key(&r.dataset_id) {
                drop(st);
                st = self.inner.caught_up().await.map_err(store_status)?;
            }
            let Some(d) = st.datasets.get(&r.dataset_id) else {
                refused("unknown_dataset");
                return Err(Status::not_found(format!("dataset {:?} does not exist", r.dataset_id)));
            };
            d.template.clone().ok_or_else(|| {
                Status::failed_precondition(format!("dataset {}'s template does not parse", r.dataset_id))
            })?
        };
        // Verification is CPU work (signatures, hashing: ~0.2 ms) done on the runtime's worker:
        // a hand-off to the blocking pool and back cost two thread wake-ups per submission.
        let Checked { contribution_id, matched } = check_submission(&self.inner, &template, &r)?;

        let commitments = matched
            .values
            .iter()
            .map(|v| ev::PlaintextCommitment {
                algorithm: v.commitment.alg.name().to_owned(),
                hash: v.commitment.hash.to_vec(),
                start: v.range.start as u64,
                end: v.range.end as u64,
            })
            .collect();
        let submitted = ev::ContributionSubmitted {
            dataset_id: r.dataset_id.clone(),
            contribution_id: contribution_id.clone(),
            uid: matched.uid.clone(),
            server_name: matched.server_name.clone(),
            connection_time_unix: i64::try_from(matched.time).unwrap_or(i64::MAX),
            commitments,
            presentation_sha256: Sha256::digest(&r.presentation).to_vec(),
            bundle_hashes: r.bundles.iter().map(|b| Sha256::digest(b).to_vec()).collect(),
            sealed_bundles: r.bundles,
            share_commitments: r.share_commitments,
        };
        // The Sybil guard: the append claims `uid-<h>` (one key per dataset and uid), so the
        // store decides atomically which of two concurrent submissions of one uid wins. A claim
        // is not an event: nothing to publish, fold or skip.
        let batch = vec![
            Append::new(
                streams::contribution(&contribution_id),
                ExpectedVersion::NoStream,
                vec![event(Kind::ContributionSubmitted(submitted))],
            )
            .claiming(streams::uid(&r.dataset_id, &matched.uid)),
        ];
        let appended = match self.inner.submissions.append(batch).await {
            Ok(a) => a,
            Err(e) if e.is_conflict() => {
                let replay = !self
                    .inner
                    .store
                    .load(&streams::contribution(&contribution_id), 0)
                    .await
                    .map_err(store_status)?
                    .is_empty();
                if replay {
                    refused("replay");
                    return Err(Status::already_exists(format!(
                        "contribution {} was already submitted",
                        hex::encode(&contribution_id)
                    )));
                }
                refused("uid_reused");
                return Err(Status::already_exists(format!(
                    "uid {} already contributed to dataset {}",
                    matched.uid, r.dataset_id
                )));
            }
            Err(e) => return Err(store_status(e)),
        };
        let position = appended.first().map_or(0, |a| a.first_position);
        // The scheduler folds it (one read for every submission since its last).
        self.inner.wake.notify_one();
        metrics::counter!("triad_coordinator_submissions_total", "outcome" => "accepted", "reason" => "").increment(1);
        info!(dataset = %r.dataset_id, contribution = %hex::encode(&contribution_id), position, "contribution submitted");
        Ok(Response::new(api::SubmitContributionResponse { contribution_id, position }))
    }

    async fn submit_query(
        &self,
        request: Request<api::SubmitQueryRequest>,
    ) -> Result<Response<api::SubmitQueryResponse>, Status> {
        rate_limit(&self.inner, &request)?;
        let r = request.into_inner();
        if r.sql.trim_start().get(..7).is_some_and(|w| w.eq_ignore_ascii_case("explain")) {
            return Err(Status::invalid_argument(
                "EXPLAIN is answered locally by `triad stats` (the plan needs no data); submit the SELECT alone",
            ));
        }
        if r.requested_by.len() > MAX_LABEL_BYTES {
            return Err(Status::invalid_argument(format!("requested_by: at most {MAX_LABEL_BYTES} bytes")));
        }
        let dataset_id = dataset_of(&r.sql)?;
        let schema = {
            let st = self.inner.caught_up().await.map_err(store_status)?;
            let Some(d) = st.datasets.get(&dataset_id) else {
                return Err(Status::not_found(format!("dataset {dataset_id:?} does not exist")));
            };
            d.schema
                .clone()
                .ok_or_else(|| Status::failed_precondition(format!("dataset {dataset_id}'s schema does not parse")))?
        };
        triad_stats::plan(&schema, &r.sql).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let query_id = random_id().map_err(|e| Status::internal(format!("no randomness: {e}")))?;
        let requested = ev::QueryRequested {
            query_id: query_id.clone(),
            dataset_id: dataset_id.clone(),
            sql: r.sql,
            requested_by: r.requested_by,
        };
        self.inner
            .store
            .append(vec![Append::new(
                streams::query(&query_id),
                ExpectedVersion::NoStream,
                vec![event(Kind::QueryRequested(requested))],
            )])
            .await
            .map_err(store_status)?;
        self.inner.catch_up().await.map_err(store_status)?;
        self.inner.wake.notify_one();
        metrics::counter!("triad_coordinator_queries_requested_total").increment(1);
        info!(dataset = %dataset_id, query = %hex::encode(&query_id), "query requested");
        Ok(Response::new(api::SubmitQueryResponse { query_id, dataset_id }))
    }

    async fn get_network(&self, _request: Request<api::GetNetworkRequest>) -> Result<Response<api::Network>, Status> {
        let now = now_unix();
        let parties = self
            .inner
            .parties()
            .iter()
            .enumerate()
            .map(|(i, p)| api::PartyStatus {
                party: i as u32,
                operator_name: p.joined.as_ref().map(|j| j.operator_name.clone()).unwrap_or_default(),
                share_public_key: p.joined.as_ref().map(|j| j.share_public_key.clone()).unwrap_or_default(),
                last_heartbeat_unix: p.last_heartbeat_unix.unwrap_or(0),
                up: p.up(now),
            })
            .collect();
        let st = self.inner.caught_up().await.map_err(store_status)?;
        let datasets = st
            .datasets
            .values()
            .map(|d| {
                let pending = st
                    .contributions
                    .values()
                    .filter(|c| c.dataset_id == d.created.dataset_id && c.standing == Standing::Pending)
                    .count() as u64;
                api::DatasetStatus {
                    dataset: Some(d.created.clone()),
                    submitted: d.submitted,
                    accepted: d.accepted,
                    rejected: d.rejected,
                    pending,
                }
            })
            .collect();
        let queries_queued = st.queries.values().filter(|q| !q.done).count() as u64;
        let key = st.network_key.as_ref().map(|k| api::NetworkKey {
            public_key: k.public_key.clone(),
            chain_code: k.chain_code.clone(),
            epoch: k.epoch,
        });
        Ok(Response::new(api::Network {
            network_id: self.inner.config.network_id.clone(),
            parties,
            datasets,
            queries_queued,
            key,
        }))
    }

    async fn sign(&self, request: Request<api::SignRequest>) -> Result<Response<api::SignResponse>, Status> {
        check_operator(&self.inner, &request)?;
        let r = request.into_inner();
        if r.payload.len() != 32 {
            return Err(Status::invalid_argument(format!(
                "payload: 32 bytes (a digest) are signed, not {}",
                r.payload.len()
            )));
        }
        if r.path.is_empty() || r.path.len() > MAX_LABEL_BYTES {
            return Err(Status::invalid_argument(format!(
                "path: 1 to {MAX_LABEL_BYTES} bytes naming the request key, e.g. \"ops/1\""
            )));
        }
        let now = now_unix();
        let up = self.inner.parties().map(|p| p.up(now));
        let st = self.inner.caught_up().await.map_err(store_status)?;
        let Some(key) = st.network_key.as_ref() else {
            return Err(Status::failed_precondition(
                "the network has no key yet: wait for the parties' key generation",
            ));
        };
        let Some(participants) = crate::signing::signers(up, 1) else {
            return Err(Status::unavailable("fewer than two parties are up; retry when they are"));
        };
        let request_id = random_id().map_err(|e| Status::internal(format!("no randomness: {e}")))?;
        let session_id = crate::signing::session_id().map_err(|e| Status::internal(format!("no randomness: {e}")))?;
        let requested = ev::SigningRequested {
            request_id: request_id.clone(),
            purpose: triad_network::SIGN_SIGN.into(),
            session_id,
            participants,
            attempt: 1,
            digest: r.payload,
            path: r.path,
            epoch: key.epoch,
            requested_by: "operator".into(),
            ..Default::default()
        };
        drop(st);
        let append = Append::new(
            streams::signing(&request_id),
            ExpectedVersion::NoStream,
            vec![event(Kind::SigningRequested(requested))],
        );
        self.inner.store.append(vec![append]).await.map_err(store_status)?;
        self.inner.catch_up().await.map_err(store_status)?;
        info!(request = %hex::encode(&request_id), "signature requested");
        Ok(Response::new(api::SignResponse { request_id }))
    }

    async fn get_signature(
        &self,
        request: Request<api::GetSignatureRequest>,
    ) -> Result<Response<api::SignatureStatus>, Status> {
        let r = request.into_inner();
        let st = self.inner.caught_up().await.map_err(store_status)?;
        let Some(s) = st.signings.get(&r.request_id) else {
            return Err(Status::not_found(format!("no signing request {}", hex::encode(&r.request_id))));
        };
        let (state, signature, public_key) = match (&s.signed, &s.final_reason) {
            (Some(x), _) => ("signed", x.signature.clone(), x.public_key.clone()),
            (None, Some(_)) => ("aborted", Vec::new(), Vec::new()),
            (None, None) if s.done => ("done", Vec::new(), Vec::new()),
            (None, None) => ("requested", Vec::new(), Vec::new()),
        };
        Ok(Response::new(api::SignatureStatus {
            request_id: r.request_id,
            state: state.into(),
            signature,
            public_key,
            reason: s.final_reason.clone().unwrap_or_default(),
        }))
    }

    async fn refresh_key(
        &self,
        request: Request<api::RefreshKeyRequest>,
    ) -> Result<Response<api::RefreshKeyResponse>, Status> {
        check_operator(&self.inner, &request)?;
        let st = self.inner.caught_up().await.map_err(store_status)?;
        let Some(key) = st.network_key.as_ref() else {
            return Err(Status::failed_precondition(
                "the network has no key yet: wait for the parties' key generation",
            ));
        };
        if st.signings.values().any(|s| s.attempt.purpose == triad_network::SIGN_REFRESH && !s.done) {
            return Err(Status::already_exists("a refresh is already running"));
        }
        let append = crate::signing::refresh_request(key.epoch + 1, "operator")
            .map_err(|e| Status::internal(format!("no randomness: {e}")))?;
        drop(st);
        let request_id = append.stream.strip_prefix("signing-").and_then(|h| hex::decode(h).ok()).unwrap_or_default();
        self.inner.store.append(vec![append]).await.map_err(store_status)?;
        self.inner.catch_up().await.map_err(store_status)?;
        Ok(Response::new(api::RefreshKeyResponse { request_id }))
    }
}

/// The dataset a query's `FROM` names (`triad_stats::dataset_of`): an error in the statement's
/// form or its `FROM` is the planner's, as `INVALID_ARGUMENT`.
fn dataset_of(sql: &str) -> Result<String, Status> {
    triad_stats::dataset_of(sql).map_err(|e| Status::invalid_argument(e.to_string()))
}
