//! The coordinator's state: a fold of its own log. [`State::apply`] is the one function that
//! turns a recorded event into state, at start (replaying from position 0) and live (after each
//! append commits), so a restarted coordinator is the one that stopped.

use std::collections::{BTreeMap, HashMap};

use tracing::warn;
use triad_eventlog::RecordedEvent;
use triad_notary::{NotaryKey, ProofTemplate};
use triad_proto::events::v1::{self as ev, event::Kind};
use triad_stats::Schema;

/// A contribution's standing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Standing {
    /// Submitted, not decided.
    Pending,
    /// `ContributionAccepted`.
    Accepted,
    /// `ContributionRejected`.
    Rejected,
}

/// A dataset as created, with what the coordinator derived from it.
pub(crate) struct Dataset {
    pub created: ev::DatasetCreated,
    /// `None` if the recorded template no longer parses (then submissions are refused).
    pub template: Option<ProofTemplate>,
    pub schema: Option<Schema>,
    pub submitted: u64,
    pub accepted: u64,
    pub rejected: u64,
}

pub(crate) struct Contribution {
    pub dataset_id: String,
    pub standing: Standing,
    /// The open session it is in.
    pub session: Option<Vec<u8>>,
    /// Sessions it was put in so far.
    pub attempts: u32,
    /// Failed sessions it was in.
    pub failures: u32,
    /// The largest batch it may be put in next (`usize::MAX`: any). A batch that fails twice is
    /// split: its contributions go into batches of half its size, so a contribution that makes
    /// every batch fail (one no honest party can process, or a fault nobody can attribute)
    /// ends up alone and the others get through.
    pub batch_cap: usize,
    /// Not before (µs since the epoch): a contribution that failed alone waits 2^k seconds
    /// (at most `MAX_BACKOFF_SECS`) so it cannot take every session. It is never rejected for
    /// failing: only a verdict that names it rejects it.
    pub retry_after_micros: i64,
    /// When it was submitted (µs since the epoch).
    pub submitted_at_micros: i64,
}

/// The longest a contribution that keeps failing alone waits between its sessions.
pub(crate) const MAX_BACKOFF_SECS: i64 = 300;

pub(crate) struct Query {
    pub dataset_id: String,
    pub sql: String,
    /// Failed sessions so far.
    pub failures: u32,
    /// Published or finally aborted.
    pub done: bool,
    /// The session whose three results agreed: the result waits for its signature.
    pub computed: Option<Vec<u8>>,
}

/// The network's threshold key as the three parties reported it (stream `network-key`).
#[derive(Clone, Debug)]
pub(crate) struct NetworkKey {
    pub public_key: Vec<u8>,
    pub chain_code: Vec<u8>,
    /// The epoch of the parties' current shares (0 after the DKG, +1 per refresh).
    pub epoch: u64,
    /// When the shares were made (µs since the epoch): the refresh schedule's start.
    pub since_micros: i64,
}

/// A party's report on a signing attempt.
#[derive(Clone, Debug)]
pub(crate) enum SigningReport {
    KeyGenerated(ev::KeyGenerated),
    Refreshed(ev::KeyRefreshed),
    Signed,
    Aborted(ev::SigningAborted),
}

/// A signing request (stream `signing-<id>`): its newest attempt and that attempt's reports.
pub(crate) struct Signing {
    pub attempt: ev::SigningRequested,
    pub version: u64,
    pub attempt_at_micros: i64,
    pub reports: [Option<SigningReport>; 3],
    /// Signed (the coordinator recorded a signature that verifies), made the key, or finally
    /// aborted.
    pub done: bool,
    pub signed: Option<ev::Signed>,
    pub final_reason: Option<String>,
}

/// A party's report recorded in a session's stream.
#[derive(Clone, Debug)]
pub(crate) enum Report {
    Accepted(ev::SharesAccepted),
    Aborted { reason: String, blamed_party: Option<u32>, step: String },
    Computed(ev::ResultComputed),
}

pub(crate) struct Session {
    pub opened: ev::SessionOpened,
    /// The coordinator's session stream version.
    pub version: u64,
    pub opened_at_micros: i64,
    pub closed: bool,
    pub reports: [Option<Report>; 3],
    pub started: [Option<ev::QueryStarted>; 3],
}

impl Session {
    pub fn is_query(&self) -> bool {
        self.opened.purpose == triad_network::PURPOSE_QUERY
    }
}

#[derive(Default)]
pub(crate) struct State {
    /// The last position folded.
    pub applied: u64,
    /// The position of the newest failed session's `SessionClosed` (0: none). The next session
    /// waits until every party's heartbeat reports it folded, so that a party that has just
    /// died, or is catching up after a restart, does not burn a query's attempts.
    pub last_failure_position: u64,
    pub datasets: BTreeMap<String, Dataset>,
    pub contributions: HashMap<Vec<u8>, Contribution>,
    /// Pending contributions not in a session, by submission position.
    pub pending: BTreeMap<u64, Vec<u8>>,
    /// Contributions whose standing is `Pending`, in a session or not (kept beside
    /// `contributions` so that the gauge read on every scheduler step is not a scan).
    pub pending_total: usize,
    /// Where each contribution was submitted (its key in `pending`).
    pub submitted_at: HashMap<Vec<u8>, u64>,
    pub queries: HashMap<Vec<u8>, Query>,
    /// Queries waiting for a session, by request position.
    pub query_queue: BTreeMap<u64, Vec<u8>>,
    pub requested_at: HashMap<Vec<u8>, u64>,
    /// Each party's newest `PartyJoined`, as recorded in `member-<i>`.
    pub members: [Option<ev::PartyJoined>; 3],
    pub sessions: HashMap<Vec<u8>, Session>,
    /// The sessions opened and not closed, oldest first: the one the parties run and at most
    /// [`crate::scheduler::PIPELINE`]` - 1` queued behind it (the parties run them in log order).
    pub open_sessions: Vec<Vec<u8>>,
    pub network_key: Option<NetworkKey>,
    pub signings: HashMap<Vec<u8>, Signing>,
}

/// The template a `DatasetCreated` declares, parsed, with one hidden value per proven column
/// (`triad_network::proven_columns`).
pub(crate) fn parse_template(d: &ev::DatasetCreated) -> Result<ProofTemplate, String> {
    let t = d.template.as_ref().ok_or("no template")?;
    let keys = t
        .notary_keys
        .iter()
        .map(|k| NotaryKey::parse(k).map_err(|e| format!("notary key {k:?}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let columns = triad_network::proven_columns(d).map_err(|e| e.to_string())?;
    let paths: Vec<&str> = columns.iter().map(|c| c.json_path.as_str()).collect();
    ProofTemplate::new(
        &t.server_name,
        &t.request_method,
        &t.request_path,
        &paths,
        &t.uid_json_path,
        t.freshness_secs,
        keys,
    )
    .map_err(|e| e.to_string())
}

impl State {
    /// Pending contributions, not in any session.
    pub fn pending_count(&self) -> usize {
        self.pending_total
    }

    /// Folds one event of the coordinator's own log.
    pub fn apply(&mut self, e: &RecordedEvent) {
        if e.position <= self.applied {
            return;
        }
        self.applied = e.position;
        let kind = match triad_network::decode(e) {
            Ok(Some(k)) => k,
            Ok(None) => return,
            Err(err) => {
                warn!(error = %err, "skipping an undecodable event of the coordinator's log");
                return;
            }
        };
        match (e.category(), kind) {
            ("dataset", Kind::DatasetCreated(d)) => self.dataset_created(d),
            // `uid-<h>`: the Sybil guard's marker event in logs written before claims (now a claim,
            // no event). Nothing to fold.
            ("uid", _) => {}
            ("contribution", Kind::ContributionSubmitted(c)) => self.submitted(c, e),
            ("contribution", Kind::ContributionAccepted(c)) => self.decided(&c.contribution_id, Standing::Accepted),
            ("contribution", Kind::ContributionRejected(c)) => self.decided(&c.contribution_id, Standing::Rejected),
            ("query", Kind::QueryRequested(q)) => {
                self.requested_at.insert(q.query_id.clone(), e.position);
                self.query_queue.insert(e.position, q.query_id.clone());
                self.queries.insert(
                    q.query_id,
                    Query { dataset_id: q.dataset_id, sql: q.sql, failures: 0, done: false, computed: None },
                );
            }
            ("query", Kind::ResultPublished(r)) => self.query_done(&r.query_id),
            ("query", Kind::QueryAborted(a)) if a.r#final => self.query_done(&a.query_id),
            ("session", kind) => self.session_event(kind, e),
            ("signing", kind) => self.signing_event(kind, e),
            ("network", Kind::KeyGenerated(k)) => {
                if let Some(s) = self.signings.get_mut(&k.request_id) {
                    s.done = true;
                }
                self.network_key = Some(NetworkKey {
                    public_key: k.public_key,
                    chain_code: k.chain_code,
                    epoch: 0,
                    since_micros: e.data.occurred_at,
                });
            }
            ("network", Kind::KeyRefreshed(r)) => {
                if let Some(s) = self.signings.get_mut(&r.request_id) {
                    s.done = true;
                }
                if let Some(key) = self.network_key.as_mut()
                    && r.epoch > key.epoch
                {
                    key.epoch = r.epoch;
                    key.since_micros = e.data.occurred_at;
                }
            }
            ("member", Kind::PartyJoined(j)) => {
                if let Some(m) = usize::try_from(j.party).ok().and_then(|i| self.members.get_mut(i)) {
                    *m = Some(j);
                }
            }
            (category, kind) => {
                warn!(category, event = kind.type_name(), "an event the coordinator does not fold");
            }
        }
    }

    fn dataset_created(&mut self, d: ev::DatasetCreated) {
        let template = parse_template(&d).ok();
        let schema = triad_network::schema(&d).ok();
        self.datasets.insert(
            d.dataset_id.clone(),
            Dataset { created: d, template, schema, submitted: 0, accepted: 0, rejected: 0 },
        );
    }

    fn submitted(&mut self, c: ev::ContributionSubmitted, e: &RecordedEvent) {
        if self.contributions.contains_key(&c.contribution_id) {
            return;
        }
        if let Some(d) = self.datasets.get_mut(&c.dataset_id) {
            d.submitted += 1;
        }
        self.pending.insert(e.position, c.contribution_id.clone());
        self.pending_total += 1;
        self.submitted_at.insert(c.contribution_id.clone(), e.position);
        self.contributions.insert(
            c.contribution_id,
            Contribution {
                dataset_id: c.dataset_id,
                standing: Standing::Pending,
                session: None,
                attempts: 0,
                failures: 0,
                batch_cap: usize::MAX,
                retry_after_micros: 0,
                submitted_at_micros: e.data.occurred_at,
            },
        );
    }

    fn decided(&mut self, id: &[u8], standing: Standing) {
        let Some(c) = self.contributions.get_mut(id) else { return };
        if c.standing != Standing::Pending {
            return;
        }
        c.standing = standing;
        self.pending_total = self.pending_total.saturating_sub(1);
        if let Some(d) = self.datasets.get_mut(&c.dataset_id) {
            match standing {
                Standing::Accepted => d.accepted += 1,
                Standing::Rejected => d.rejected += 1,
                Standing::Pending => {}
            }
        }
        if let Some(p) = self.submitted_at.get(id) {
            self.pending.remove(p);
        }
    }

    fn query_done(&mut self, id: &[u8]) {
        if let Some(q) = self.queries.get_mut(id) {
            q.done = true;
        }
        if let Some(p) = self.requested_at.get(id) {
            self.query_queue.remove(p);
        }
    }

    fn session_event(&mut self, kind: Kind, e: &RecordedEvent) {
        if let Kind::SessionOpened(o) = kind {
            self.session_opened(o, e);
            return;
        }
        let Some(id) = e.stream.strip_prefix("session-").and_then(|h| hex::decode(h).ok()) else { return };
        if let Kind::ContributionsAccepted(a) = &kind
            && self.sessions.contains_key(&id)
        {
            for cid in &a.contribution_ids {
                self.decided(cid, Standing::Accepted);
            }
        }
        let Some(s) = self.sessions.get_mut(&id) else { return };
        s.version = e.version;
        let slot = |p: u32| usize::try_from(p).ok().filter(|&i| i < 3);
        match kind {
            Kind::SharesAccepted(r) => {
                if let Some(i) = slot(r.party) {
                    s.reports[i] = Some(Report::Accepted(r));
                }
            }
            Kind::SessionAborted(r) => {
                if let Some(i) = slot(r.party) {
                    s.reports[i] =
                        Some(Report::Aborted { reason: r.reason, blamed_party: r.blamed_party, step: r.step });
                }
            }
            Kind::ResultComputed(r) => {
                if let Some(i) = slot(r.party) {
                    s.reports[i] = Some(Report::Computed(r));
                }
            }
            Kind::QueryAborted(r) => {
                if let Some(i) = r.party.and_then(slot) {
                    s.reports[i] =
                        Some(Report::Aborted { reason: r.reason, blamed_party: r.blamed_party, step: r.step });
                }
            }
            Kind::QueryStarted(r) => {
                if let Some(i) = slot(r.party) {
                    s.started[i] = Some(r);
                }
            }
            Kind::SessionClosed(c) => self.session_closed(&id, &c, e.position, e.data.occurred_at),
            // Decided above (the contributions are not the session's to borrow).
            Kind::ContributionsAccepted(_) => {}
            other => warn!(event = other.type_name(), "an event the coordinator does not fold in a session"),
        }
    }

    fn signing_event(&mut self, kind: Kind, e: &RecordedEvent) {
        let Some(id) = e.stream.strip_prefix("signing-").and_then(|h| hex::decode(h).ok()) else { return };
        if let Kind::SigningRequested(r) = kind {
            let entry = self.signings.entry(id).or_insert_with(|| Signing {
                attempt: r.clone(),
                version: 0,
                attempt_at_micros: 0,
                reports: Default::default(),
                done: false,
                signed: None,
                final_reason: None,
            });
            entry.attempt = r;
            entry.version = e.version;
            entry.attempt_at_micros = e.data.occurred_at;
            entry.reports = Default::default();
            return;
        }
        let Some(s) = self.signings.get_mut(&id) else { return };
        s.version = e.version;
        let slot = |p: Option<u32>| p.and_then(|p| usize::try_from(p).ok()).filter(|&i| i < 3);
        let current = |session: &[u8]| session == s.attempt.session_id.as_slice();
        match kind {
            Kind::KeyGenerated(k) => {
                if current(&k.key_id)
                    && let Some(i) = slot(k.party)
                {
                    s.reports[i] = Some(SigningReport::KeyGenerated(k));
                }
            }
            Kind::KeyRefreshed(r) => {
                if current(&r.session_id)
                    && let Some(i) = slot(r.party)
                {
                    s.reports[i] = Some(SigningReport::Refreshed(r));
                }
            }
            Kind::Signed(x) => {
                if x.party.is_none() {
                    // The coordinator's record of the signature that verified.
                    s.done = true;
                    s.signed = Some(x);
                } else if current(&x.session_id)
                    && let Some(i) = slot(x.party)
                {
                    s.reports[i] = Some(SigningReport::Signed);
                }
            }
            Kind::SigningAborted(a) => {
                if a.r#final {
                    s.done = true;
                    s.final_reason = Some(a.reason);
                } else if current(&a.session_id)
                    && let Some(i) = slot(a.party)
                {
                    s.reports[i] = Some(SigningReport::Aborted(a));
                }
            }
            Kind::ResultPublished(_) => s.done = true,
            other => warn!(event = other.type_name(), "an event the coordinator does not fold in a signing"),
        }
    }

    fn session_opened(&mut self, o: ev::SessionOpened, e: &RecordedEvent) {
        if o.purpose == triad_network::PURPOSE_QUERY {
            if let Some(p) = self.requested_at.get(&o.query_id) {
                self.query_queue.remove(p);
            }
        } else {
            for cid in &o.contribution_ids {
                if let Some(c) = self.contributions.get_mut(cid) {
                    c.session = Some(o.session_id.clone());
                    c.attempts += 1;
                }
                if let Some(p) = self.submitted_at.get(cid) {
                    self.pending.remove(p);
                }
            }
        }
        if !self.open_sessions.contains(&o.session_id) {
            self.open_sessions.push(o.session_id.clone());
        }
        self.sessions.insert(
            o.session_id.clone(),
            Session {
                opened: o,
                version: e.version,
                opened_at_micros: e.data.occurred_at,
                closed: false,
                reports: Default::default(),
                started: Default::default(),
            },
        );
    }

    fn session_closed(&mut self, id: &[u8], c: &ev::SessionClosed, position: u64, at_micros: i64) {
        let Some(s) = self.sessions.get_mut(id) else { return };
        if s.closed {
            return;
        }
        s.closed = true;
        if !c.succeeded {
            self.last_failure_position = self.last_failure_position.max(position);
        }
        self.open_sessions.retain(|open| open != id);
        if s.is_query() {
            let qid = s.opened.query_id.clone();
            if let Some(q) = self.queries.get_mut(&qid) {
                if c.succeeded {
                    // Agreed: the result waits for its signature, not for another session.
                    q.computed = Some(id.to_vec());
                } else {
                    q.failures += 1;
                }
                if !q.done
                    && q.computed.is_none()
                    && let Some(p) = self.requested_at.get(&qid)
                {
                    self.query_queue.insert(*p, qid);
                }
            }
        } else {
            let size = s.opened.contribution_ids.len();
            for cid in &s.opened.contribution_ids {
                let Some(contribution) = self.contributions.get_mut(cid) else { continue };
                if contribution.session.as_deref() == Some(id) {
                    contribution.session = None;
                }
                if !c.succeeded && contribution.standing == Standing::Pending {
                    // A first failure may be a party's crash: the batch is tried again whole.
                    // From the second on it is halved; alone, the contribution backs off.
                    contribution.failures += 1;
                    if contribution.failures >= 2 {
                        contribution.batch_cap = contribution.batch_cap.min((size / 2).max(1));
                    }
                    if size == 1 && contribution.failures >= 2 {
                        let exponent = (contribution.failures - 2).min(9);
                        let wait = (1i64 << exponent).min(MAX_BACKOFF_SECS);
                        contribution.retry_after_micros = at_micros.saturating_add(wait.saturating_mul(1_000_000));
                    }
                }
                if contribution.standing == Standing::Pending
                    && contribution.session.is_none()
                    && let Some(p) = self.submitted_at.get(cid)
                {
                    self.pending.insert(*p, cid.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use triad_network::streams;

    fn recorded(position: u64, stream: String, kind: Kind) -> RecordedEvent {
        RecordedEvent { service: "coordinator".into(), stream, version: 1, position, data: triad_network::event(kind) }
    }

    fn scan(st: &State) -> usize {
        st.contributions.values().filter(|c| c.standing == Standing::Pending).count()
    }

    /// The pending count kept beside the contributions equals a scan of them at every step:
    /// submitted, in a session, decided either way, decided twice, and back from a failed session.
    #[test]
    fn pending_count_follows_every_standing_change() {
        let mut st = State::default();
        let ids: Vec<Vec<u8>> = (0u8..4).map(|i| vec![i; 16]).collect();
        let mut position = 0;
        let mut fold = |st: &mut State, stream: String, kind: Kind| {
            position += 1;
            st.apply(&recorded(position, stream, kind));
            assert_eq!(st.pending_count(), scan(st));
        };
        for id in &ids {
            let submitted =
                ev::ContributionSubmitted { dataset_id: "d".into(), contribution_id: id.clone(), ..Default::default() };
            fold(&mut st, streams::contribution(id), Kind::ContributionSubmitted(submitted.clone()));
            // A submission folded twice counts once.
            fold(&mut st, streams::contribution(id), Kind::ContributionSubmitted(submitted));
        }
        assert_eq!(st.pending_count(), 4);
        let session = vec![9u8; 16];
        let opened = ev::SessionOpened {
            session_id: session.clone(),
            dataset_id: "d".into(),
            purpose: triad_network::PURPOSE_INPUT_CHECK.into(),
            contribution_ids: ids.clone(),
            ..Default::default()
        };
        fold(&mut st, streams::session(&session), Kind::SessionOpened(opened));
        assert_eq!(st.pending_count(), 4, "in a session is still pending");
        let accepted = |id: &Vec<u8>| {
            Kind::ContributionAccepted(ev::ContributionAccepted {
                dataset_id: "d".into(),
                contribution_id: id.clone(),
                session_id: session.clone(),
            })
        };
        let batch = ev::ContributionsAccepted {
            dataset_id: "d".into(),
            session_id: session.clone(),
            contribution_ids: vec![ids[0].clone()],
        };
        fold(&mut st, streams::session(&session), Kind::ContributionsAccepted(batch));
        assert_eq!(st.pending_count(), 3);
        // A per-contribution verdict (as logs before ContributionsAccepted hold) decides once.
        fold(&mut st, streams::contribution(&ids[0]), accepted(&ids[0]));
        let rejected = ev::ContributionRejected {
            dataset_id: "d".into(),
            contribution_id: ids[1].clone(),
            reason: "commitment_mismatch".into(),
            detail: String::new(),
        };
        fold(&mut st, streams::contribution(&ids[1]), Kind::ContributionRejected(rejected));
        let closed = ev::SessionClosed { session_id: session.clone(), succeeded: false, ..Default::default() };
        fold(&mut st, streams::session(&session), Kind::SessionClosed(closed));
        assert_eq!(st.pending_count(), 2);
        assert_eq!(st.pending.len(), 2, "the undecided two are back in the queue");
    }
}
