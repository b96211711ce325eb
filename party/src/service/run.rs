//! A session's work on the data plane, on a thread of its own (the MPC engine is blocking and a
//! run outlasts the bus's ack window, so the event handlers only record sessions and the runner
//! hands them here).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use bytes::Bytes;
use prost::Message as _;
use sha2::{Digest as _, Sha256};
use triad_mpc::core::SessionId;
use triad_mpc::net::{BlockingMesh, MeshListener, NetConfig, PartyId, PeerAddr, PinnedKey, TcpSetup};
use triad_mpc::{NetParty, PartyConfig, core_party, net_session_id};
use triad_proto::events::v1::{ContributionSubmitted, DatasetCreated, Rejection};
use triad_provider::{BundleContext, OpenedBundle, SecretKey, ShareCommitments, check_submitted, open_bundles};
use triad_stats::exec::{Answer, ExecError};

use super::lists::IntakeList;
use crate::intake::{Accusation, IntakeError, Outcome, check_commitments, judge};
use crate::state::{AcceptedShares, ColumnShares};

/// Why a session produced no report but an abort.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub(crate) reason: String,
    pub(crate) blamed: Option<u32>,
    pub(crate) step: String,
}

impl Failure {
    fn new(step: &str, reason: impl Into<String>) -> Failure {
        Failure { reason: reason.into(), blamed: None, step: step.to_owned() }
    }
}

fn mpc_failure(e: triad_mpc::Error) -> Failure {
    match e {
        triad_mpc::Error::Engine(triad_mpc::core::Error::Abort { step, blamed, reason }) => Failure {
            reason: format!("aborted: {reason}"),
            blamed: blamed.map(|p| p.index() as u32),
            step: format!("{step:?}"),
        },
        triad_mpc::Error::KeyAgreement { peer, reason } => Failure {
            reason: format!("pair-key agreement: {reason}"),
            blamed: Some(peer.index() as u32),
            step: "key_agreement".into(),
        },
        other => Failure::new("network", other.to_string()),
    }
}

/// Where a session's mesh comes from: this party's identity and listener, the peers.
pub(crate) struct Link {
    pub(crate) me: PartyId,
    pub(crate) identity: triad_mpc::net::PartyIdentity,
    pub(crate) listener: std::net::TcpListener,
    pub(crate) peers: Vec<(u32, String, Vec<u8>)>,
    pub(crate) connect_timeout: Duration,
    pub(crate) recv_timeout: Duration,
    /// Completes (with the reason) when connecting should be given up.
    pub(crate) cancel: Option<std::pin::Pin<Box<dyn Future<Output = String> + Send>>>,
}

impl Link {
    fn connect(self, sid: SessionId) -> Result<BlockingMesh, Failure> {
        let listener = MeshListener::from_std(self.listener).map_err(|e| Failure::new("connect", e.to_string()))?;
        let mut peers = Vec::new();
        for p in self.me.others() {
            let Some((_, addr, key)) = self.peers.iter().find(|(i, _, _)| *i as usize == p.index()) else {
                return Err(Failure::new("connect", format!("{p} has not joined (no PartyJoined seen)")));
            };
            let addr =
                addr.parse().map_err(|_| Failure::new("connect", format!("{p}'s address {addr:?} does not parse")))?;
            peers.push(PeerAddr { party: p, addr, key: PinnedKey::from_spki_der(key.clone()) });
        }
        let mut config = NetConfig::new(net_session_id(sid));
        config.connect_timeout = self.connect_timeout;
        config.recv_timeout = self.recv_timeout;
        let setup = TcpSetup { identity: self.identity, listener, peers, config };
        match self.cancel {
            Some(cancel) => BlockingMesh::connect_unless(setup, cancel),
            None => BlockingMesh::connect(setup),
        }
        .map_err(|e| Failure::new("connect", e.to_string()))
    }
}

/// One contribution of an intake session.
pub(crate) struct Item {
    pub(crate) submitted: ContributionSubmitted,
    pub(crate) sealed: Vec<u8>,
}

/// What an intake session decided (the same at the three parties).
pub(crate) struct IntakeReport {
    /// Accepted contributions with this party's two components of each value.
    pub(crate) accepted: Vec<AcceptedShares>,
    pub(crate) rejections: Vec<Rejection>,
}

/// Runs an intake session: open and check this party's bundles, exchange the lists, judge,
/// check the commitments in MPC.
pub(crate) fn intake(
    link: Link,
    sid: SessionId,
    secret: &SecretKey,
    dataset: &DatasetCreated,
    items: &[Item],
) -> Result<IntakeReport, Failure> {
    let me = link.me;
    let n = items.len();
    let formats: Vec<_> = triad_network::proven_columns(dataset)
        .map_err(|e| Failure::new("schema", e.to_string()))?
        .into_iter()
        .map(|c| c.format)
        .collect();
    let started = std::time::Instant::now();
    // Step 0, local: open and check each bundle against the submission.
    let mut mine = IntakeList::default();
    let mut opened: Vec<Option<(OpenedBundle, ShareCommitments)>> = Vec::with_capacity(n);
    let mut unusable_why: HashMap<usize, String> = HashMap::new();
    // The bundles' contexts, then all of them opened at once (their key agreements finish
    // together: `triad_provider::open_bundles`).
    let contexts: Vec<Result<BundleContext, String>> = items
        .iter()
        .map(|item| {
            let cid: [u8; 16] = item
                .submitted
                .contribution_id
                .as_slice()
                .try_into()
                .map_err(|_| "the contribution id is not 16 bytes".to_owned())?;
            Ok(BundleContext::new(&dataset.dataset_id, cid, core_party(me)))
        })
        .collect();
    let to_open: Vec<(&[u8], &BundleContext)> = items
        .iter()
        .zip(&contexts)
        .filter_map(|(item, ctx)| Some((item.sealed.as_slice(), ctx.as_ref().ok()?)))
        .collect();
    let mut bundles = open_bundles(&to_open, secret).into_iter();
    for (k, (item, ctx)) in items.iter().zip(contexts).enumerate() {
        let checked = (|| {
            ctx?;
            let b = bundles.next().ok_or_else(|| "no bundle opened".to_owned())?.map_err(|e| e.to_string())?;
            check_submitted(&b, &item.sealed, &item.submitted, &formats).map_err(|e| e.to_string())?;
            let public =
                triad_proto::provider::v1::ShareCommitments::decode(item.submitted.share_commitments.as_slice())
                    .map_err(|e| format!("share commitments: {e}"))?;
            let public = ShareCommitments::from_proto(&public).map_err(|e| e.to_string())?;
            let proofs = b.check_components(&public).map_err(|e| e.to_string())?;
            Ok::<_, String>((b, public, proofs))
        })();
        match checked {
            Ok((b, public, proofs)) => {
                mine.accusations.extend(proofs.into_iter().map(|p| (k as u32, p)));
                opened.push(Some((b, public)));
            }
            Err(why) => {
                mine.unusable.push(k as u32);
                unusable_why.insert(k, why);
                opened.push(None);
            }
        }
    }

    let opened_secs = started.elapsed().as_secs_f64();
    // Step 1, the lists over the mesh, with an echo of their hash.
    let mesh = link.connect(sid)?;
    let lists = exchange_lists(&mesh, me, &mine, n)?;
    let listed_secs = started.elapsed().as_secs_f64();

    // Step 2: judge the accusations on the contributions every party could use.
    let all_unusable: BTreeSet<usize> = lists.iter().flat_map(|l| l.unusable.iter().map(|&i| i as usize)).collect();
    let kept: Vec<usize> = (0..n).filter(|k| !all_unusable.contains(k)).collect();
    let position: HashMap<usize, usize> = kept.iter().enumerate().map(|(j, &k)| (k, j)).collect();
    let mut batch = Vec::with_capacity(kept.len());
    let mut public = Vec::with_capacity(kept.len());
    for &k in &kept {
        let Some((b, p)) = opened[k].clone() else {
            return Err(Failure::new("intake", format!("contribution {k} is unusable here but missing from my list")));
        };
        batch.push(b);
        public.push(p);
    }
    let accusations: [Vec<Accusation>; 3] = lists.clone().map(|l| {
        l.accusations
            .into_iter()
            .filter_map(|(i, proof)| {
                position.get(&(i as usize)).map(|&contribution| Accusation { contribution, proof })
            })
            .collect()
    });
    let rejected = judge(&batch, &public, &accusations).map_err(|e| match e {
        IntakeError::FalseAccusation { party, .. } => {
            Failure { reason: e.to_string(), blamed: Some(party.index() as u32), step: "judge".into() }
        }
        other => Failure::new("judge", other.to_string()),
    })?;

    // Step 3: the commitment check in MPC.
    let mut party = NetParty::new(mesh, sid, PartyConfig::default()).map_err(mpc_failure)?;
    let outcomes = check_commitments(&mut party, &batch, &rejected).map_err(|e| match e {
        IntakeError::Mpc(e) => mpc_failure(e),
        other => Failure::new("commitment_check", other.to_string()),
    })?;
    if let Err(e) = party.close() {
        tracing::debug!(error = %e, "closing the intake mesh");
    }
    tracing::debug!(
        contributions = n,
        opened_secs,
        listed_secs,
        checked_secs = started.elapsed().as_secs_f64(),
        "intake steps (cumulative)"
    );

    let mut report = IntakeReport { accepted: Vec::new(), rejections: Vec::new() };
    for (k, item) in items.iter().enumerate() {
        let id = item.submitted.contribution_id.clone();
        if all_unusable.contains(&k) {
            let detail = match unusable_why.get(&k) {
                Some(why) => format!("party {} could not use its bundle: {why}", me.index()),
                None => "another party could not use its bundle".into(),
            };
            report.rejections.push(Rejection { contribution_id: id, reason: "bundle_unusable".into(), detail });
            continue;
        }
        let j = position[&k];
        match outcomes.get(j) {
            Some(Outcome::Accepted) => {
                let values = batch[j]
                    .columns
                    .iter()
                    .map(|c| match (c.value.first.first(), c.value.second.first()) {
                        (Some(a), Some(b)) => Ok((*a, *b)),
                        _ => Err(Failure::new("intake", "a bundle value without shares")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                report.accepted.push((id, values));
            }
            Some(Outcome::Rejected(r)) => {
                // For an equivocation: what was proven, and by whom (the proof itself, a copy
                // of a component with the provider's signature, stays with the parties).
                let detail = accusations
                    .iter()
                    .enumerate()
                    .find_map(|(party, list)| {
                        list.iter().find(|a| a.contribution == j).map(|a| {
                            format!(
                                "party {party} holds a copy of column {} component {} signed by the provider that \
                                 does not open the provider's public commitment; all three parties verified the \
                                 signature",
                                a.proof.opening.column, a.proof.opening.component
                            )
                        })
                    })
                    .unwrap_or_default();
                report.rejections.push(Rejection { contribution_id: id, reason: r.as_str().into(), detail })
            }
            None => return Err(Failure::new("commitment_check", "fewer verdicts than contributions")),
        }
    }
    Ok(report)
}

/// Sends this party's list to both others, receives theirs, then echoes the hash of the three.
fn exchange_lists(mesh: &BlockingMesh, me: PartyId, mine: &IntakeList, n: usize) -> Result<[IntakeList; 3], Failure> {
    let net = |e: triad_mpc::net::NetError| Failure::new("intake_lists", e.to_string());
    let bytes = Bytes::from(mine.encode());
    for p in me.others() {
        mesh.send(p, bytes.clone()).map_err(net)?;
        mesh.flush(p).map_err(net)?;
    }
    let mut lists: [IntakeList; 3] = Default::default();
    lists[me.index()] = mine.clone();
    for p in me.others() {
        let m = mesh.recv(p).map_err(net)?;
        lists[p.index()] = IntakeList::decode(&m, n).map_err(|e| Failure {
            reason: format!("{p}'s intake list does not decode: {e}"),
            blamed: Some(p.index() as u32),
            step: "intake_lists".into(),
        })?;
    }
    let mut h = Sha256::new();
    for l in &lists {
        let e = l.encode();
        h.update((e.len() as u64).to_le_bytes());
        h.update(&e);
    }
    let digest = Bytes::copy_from_slice(&h.finalize());
    for p in me.others() {
        mesh.send(p, digest.clone()).map_err(net)?;
        mesh.flush(p).map_err(net)?;
    }
    for p in me.others() {
        let theirs = mesh.recv(p).map_err(net)?;
        if theirs != digest {
            return Err(Failure::new(
                "intake_lists",
                format!("{p} holds other intake lists than this party (a party sent different lists to its peers)"),
            ));
        }
    }
    Ok(lists)
}

/// Runs a query over this party's components of the snapshot's rows.
pub(crate) fn query(
    link: Link,
    sid: SessionId,
    schema: &triad_stats::Schema,
    sql: &str,
    columns: Vec<ColumnShares>,
) -> Result<Answer, Failure> {
    let plan = triad_stats::plan(schema, sql).map_err(|e| Failure::new("plan", e.to_string()))?;
    if columns.len() != schema.columns.len() {
        return Err(Failure::new(
            "input",
            format!("{} columns of shares for a schema of {}", columns.len(), schema.columns.len()),
        ));
    }
    let columns = columns
        .into_iter()
        .map(|c| triad_mpc::core::ArithShare::from_components(c.first, c.second))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::new("input", e.to_string()))?;
    let mesh = link.connect(sid)?;
    let mut party = NetParty::new(mesh, sid, PartyConfig::default()).map_err(mpc_failure)?;
    let answer = triad_stats::exec::execute(&mut party, schema, &plan, &columns).map_err(|e| match e {
        ExecError::BelowCohort { min_cohort } => {
            Failure { reason: "below_min_cohort".into(), blamed: None, step: format!("min_cohort {min_cohort}") }
        }
        // Public facts (the row count, the declared ranges): every party refuses alike, and the
        // coordinator ends the query at once (`exactness_bound`), as for `below_min_cohort`.
        ExecError::Bounds(why) => {
            Failure { reason: format!("exactness_bound: {why}"), blamed: None, step: "plan".into() }
        }
        ExecError::Mpc(e) => mpc_failure(triad_mpc::Error::Engine(e)),
        other => Failure::new("execute", other.to_string()),
    })?;
    if let Err(e) = party.close() {
        tracing::debug!(error = %e, "closing the query mesh");
    }
    Ok(answer)
}
