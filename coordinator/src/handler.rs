//! The parties' events: membership (copied into the coordinator's `member-<i>` stream) and
//! liveness (in memory only), and their session reports, each
//! copied into the coordinator's own `session-<hex>` stream under `ExpectedVersion::Exact` (so
//! the three parties' handlers, and the scheduler's timeout, cannot lose or double a verdict: a
//! conflict is retried), with the session's verdict in the same atomic append when the report
//! completes it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use tracing::{debug, info, warn};
use triad_eventlog::{Append, EventData, ExpectedVersion, Handler, HandlerError, RecordedEvent};
use triad_network::{event, streams};
use triad_proto::events::v1::{self as ev, event::Kind};

use crate::Inner;
use crate::state::{Report, Session, Standing, State};

pub(crate) struct PartyHandler {
    inner: Arc<Inner>,
    party: u32,
}

impl PartyHandler {
    pub fn new(inner: Arc<Inner>, service: &str) -> Self {
        Self { inner, party: triad_network::party_index(service).unwrap_or(u32::MAX) }
    }

    fn set_party(&self, f: impl FnOnce(&mut crate::PartyLive)) {
        let Ok(i) = usize::try_from(self.party) else { return };
        let mut parties = self.inner.parties.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(p) = parties.get_mut(i) {
            f(p);
        }
    }
}

/// The session a report is about, and the reporting party.
fn report_of(kind: &Kind) -> Option<(&[u8], Option<u32>)> {
    Some(match kind {
        Kind::SharesAccepted(r) => (r.session_id.as_slice(), Some(r.party)),
        Kind::SessionAborted(r) => (r.session_id.as_slice(), Some(r.party)),
        Kind::QueryStarted(r) => (r.session_id.as_slice(), Some(r.party)),
        Kind::ResultComputed(r) => (r.session_id.as_slice(), Some(r.party)),
        Kind::QueryAborted(r) => (r.session_id.as_slice(), r.party),
        _ => return None,
    })
}

#[async_trait]
impl Handler for PartyHandler {
    async fn handle(&self, e: &RecordedEvent) -> Result<Vec<Append>, HandlerError> {
        let kind = match triad_network::decode(e) {
            Ok(Some(k)) => k,
            Ok(None) => return Ok(Vec::new()),
            Err(err) => return Err(HandlerError::Permanent(err.to_string())),
        };
        match kind {
            Kind::PartyJoined(j) => {
                if j.party != self.party {
                    warn!(service = %e.service, claimed = j.party, "PartyJoined for another party index; ignored");
                    return Ok(Vec::new());
                }
                info!(party = j.party, operator = %j.operator_name, "party joined");
                // Recorded in the coordinator's own log (with this event's checkpoint), so a
                // restarted coordinator knows its members without waiting for them to rejoin.
                let record = Append::new(
                    streams::member(j.party),
                    ExpectedVersion::Any,
                    vec![event(Kind::PartyJoined(j.clone()))],
                );
                let applied =
                    self.inner.caught_up().await.map_err(|err| HandlerError::Transient(err.to_string()))?.applied;
                self.set_party(|p| {
                    p.joined = Some(j);
                    p.joined_at = applied;
                });
                self.inner.wake.notify_one();
                Ok(vec![record])
            }
            Kind::PartyHeartbeat(h) => {
                if h.party == self.party {
                    self.set_party(|p| {
                        p.last_heartbeat_unix = Some(p.last_heartbeat_unix.map_or(h.at_unix, |t| t.max(h.at_unix)));
                        p.folded_position = h.coordinator_position;
                    });
                    self.inner.wake.notify_one();
                }
                Ok(Vec::new())
            }
            kind @ (Kind::KeyGenerated(_) | Kind::KeyRefreshed(_) | Kind::Signed(_) | Kind::SigningAborted(_)) => {
                let reporter = match &kind {
                    Kind::KeyGenerated(k) => k.party,
                    Kind::KeyRefreshed(r) => r.party,
                    Kind::Signed(x) => x.party,
                    Kind::SigningAborted(a) => a.party,
                    _ => None,
                };
                if reporter != Some(self.party) {
                    warn!(service = %e.service, "a signing report naming another party; ignored");
                    return Ok(Vec::new());
                }
                let st = self.inner.caught_up().await.map_err(|err| HandlerError::Transient(err.to_string()))?;
                let effects = crate::signing::record_report(&st, &self.inner.config.network_id, self.party, kind);
                drop(st);
                if !effects.is_empty() {
                    self.inner.wake.notify_one();
                }
                Ok(effects)
            }
            kind => {
                let Some((session_id, party)) = report_of(&kind) else { return Ok(Vec::new()) };
                if party != Some(self.party) {
                    warn!(service = %e.service, "a report naming another party; ignored");
                    return Ok(Vec::new());
                }
                let session_id = session_id.to_vec();
                let st = self.inner.caught_up().await.map_err(|err| HandlerError::Transient(err.to_string()))?;
                let effects = record_report(&st, &self.inner.config, &session_id, self.party, kind);
                drop(st);
                if !effects.is_empty() {
                    self.inner.wake.notify_one();
                }
                Ok(effects)
            }
        }
    }
}

/// The appends that record `report` of `party` for `session_id` (nothing for an unknown or
/// closed session, or a party's second report), with the verdict if it completes the session.
pub(crate) fn record_report(
    st: &State,
    config: &crate::CoordinatorConfig,
    session_id: &[u8],
    party: u32,
    report: Kind,
) -> Vec<Append> {
    let Some(s) = st.sessions.get(session_id) else {
        debug!(session = %hex::encode(session_id), "a report for an unknown session; ignored");
        return Vec::new();
    };
    if s.closed {
        debug!(session = %hex::encode(session_id), "a report for a closed session; ignored");
        return Vec::new();
    }
    let Ok(i) = usize::try_from(party) else { return Vec::new() };
    if i >= 3 {
        return Vec::new();
    }
    let fits = match &report {
        Kind::SharesAccepted(_) | Kind::SessionAborted(_) => !s.is_query(),
        Kind::QueryStarted(_) | Kind::ResultComputed(_) | Kind::QueryAborted(_) => s.is_query(),
        _ => false,
    };
    if !fits {
        warn!(session = %hex::encode(session_id), event = report.type_name(), "a report of the wrong kind for the session; ignored");
        return Vec::new();
    }
    // Copy the report, then see where the session stands with it.
    let mut reports = s.reports.clone();
    let mut started = s.started.clone();
    match &report {
        Kind::QueryStarted(q) => {
            if started[i].is_some() {
                return Vec::new();
            }
            started[i] = Some(q.clone());
        }
        _ if reports[i].is_some() => return Vec::new(),
        Kind::SharesAccepted(r) => reports[i] = Some(Report::Accepted(r.clone())),
        Kind::ResultComputed(r) => reports[i] = Some(Report::Computed(r.clone())),
        Kind::SessionAborted(r) => {
            reports[i] =
                Some(Report::Aborted { reason: r.reason.clone(), blamed_party: r.blamed_party, step: r.step.clone() })
        }
        Kind::QueryAborted(r) => {
            reports[i] =
                Some(Report::Aborted { reason: r.reason.clone(), blamed_party: r.blamed_party, step: r.step.clone() })
        }
        _ => return Vec::new(),
    }
    let mut session_events = vec![event(report)];
    let mut others = Vec::new();
    if let Some(verdict) = verdict(st, config, s, &reports, party) {
        session_events.extend(verdict.session_events);
        others = verdict.others;
    }
    let mut appends =
        vec![Append::new(streams::session(session_id), ExpectedVersion::Exact(s.version), session_events)];
    appends.extend(others);
    appends
}

/// What closing a session appends: to its stream (after the report that closed it) and to
/// others (contributions, the query).
pub(crate) struct Closing {
    pub session_events: Vec<EventData>,
    pub others: Vec<Append>,
}

fn closed(session_id: &[u8], succeeded: bool, reason: &str, detail: String) -> EventData {
    metrics::counter!("triad_coordinator_sessions_closed_total", "outcome" => if succeeded { "succeeded".to_owned() } else { reason.to_owned() })
        .increment(1);
    event(Kind::SessionClosed(ev::SessionClosed {
        session_id: session_id.to_vec(),
        succeeded,
        reason: reason.to_owned(),
        detail,
    }))
}

/// A party's abort reason when the query's cohort is below the dataset's `min_cohort`.
const REFUSED: &str = "below_min_cohort";

/// A party's abort reason when the declared ranges are too wide for exact evaluation over the
/// query's rows (public facts: every honest party refuses alike); the explanation follows.
const REFUSED_BOUNDS: &str = "exactness_bound";

/// A refusal by policy (not a failure): final when all three parties refuse.
fn is_refusal(reason: &str) -> bool {
    reason == REFUSED || reason.starts_with(REFUSED_BOUNDS)
}

/// The verdict if the reports decide the session: any abort fails it; three reports decide it.
fn verdict(
    st: &State,
    config: &crate::CoordinatorConfig,
    s: &Session,
    reports: &[Option<Report>; 3],
    reporter: u32,
) -> Option<Closing> {
    if let Some(Report::Aborted { reason, blamed_party, step }) =
        usize::try_from(reporter).ok().and_then(|i| reports.get(i)).and_then(Option::as_ref)
    {
        // A refusal ends the query for good only when all three parties refused (they open
        // the same cohort bit): one party's refusal alone is an ordinary failure, retried.
        if is_refusal(reason) {
            let refused = |r: &Option<Report>| matches!(r, Some(Report::Aborted { reason, .. }) if is_refusal(reason));
            if !reports.iter().all(refused) {
                if reports.iter().all(Option::is_some) {
                    let detail = "not every party refused below min_cohort".to_owned();
                    return Some(failed(st, config, s, "reports_disagree", detail, None));
                }
                return None;
            }
        }
        let detail = format!("party {reporter} aborted at {step:?}: {reason}");
        return Some(failed(
            st,
            config,
            s,
            "party_aborted",
            detail,
            Some((reason.as_str(), *blamed_party, step.as_str())),
        ));
    }
    let [Some(a), Some(b), Some(c)] = reports else { return None };
    let session_id = s.opened.session_id.as_slice();
    if s.is_query() {
        let (Report::Computed(a), Report::Computed(b), Report::Computed(c)) = (a, b, c) else {
            return Some(failed(st, config, s, "reports_disagree", "not three results".into(), None));
        };
        if a.values != b.values || a.values != c.values {
            return Some(failed(
                st,
                config,
                s,
                "reports_disagree",
                "the parties computed different values".into(),
                None,
            ));
        }
        if a.signed_message != b.signed_message || a.signed_message != c.signed_message {
            return Some(failed(
                st,
                config,
                s,
                "reports_disagree",
                "the parties would sign different statements".into(),
                None,
            ));
        }
        // Agreed: the result is published once two parties have signed it (`signing`).
        info!(query = %hex::encode(&s.opened.query_id), "result agreed; to be signed");
        return Some(Closing { session_events: vec![closed(session_id, true, "", String::new())], others: Vec::new() });
    }
    let (Report::Accepted(a), Report::Accepted(b), Report::Accepted(c)) = (a, b, c) else {
        return Some(failed(st, config, s, "reports_disagree", "not three SharesAccepted".into(), None));
    };
    let outcome = |r: &ev::SharesAccepted| {
        let accepted: BTreeSet<Vec<u8>> = r.contribution_ids.iter().cloned().collect();
        let mut rejected: BTreeMap<Vec<u8>, (String, String)> =
            r.rejections.iter().map(|x| (x.contribution_id.clone(), (x.reason.clone(), x.detail.clone()))).collect();
        for id in &r.rejected_ids {
            rejected.entry(id.clone()).or_insert_with(|| ("rejected".into(), String::new()));
        }
        (accepted, rejected)
    };
    let (acc_a, rej_a) = outcome(a);
    let agree = [b, c].iter().all(|r| {
        let (acc, rej) = outcome(r);
        acc == acc_a && rej.keys().eq(rej_a.keys())
    });
    let all: BTreeSet<Vec<u8>> = s.opened.contribution_ids.iter().cloned().collect();
    let covered = acc_a.is_disjoint(&rej_a.keys().cloned().collect())
        && acc_a.len() + rej_a.len() == all.len()
        && acc_a.iter().chain(rej_a.keys()).all(|id| all.contains(id));
    if !agree || !covered {
        let detail = if agree {
            "the reports do not decide exactly the session's contributions".to_owned()
        } else {
            "the parties accepted different contributions".to_owned()
        };
        return Some(failed(st, config, s, "reports_disagree", detail, None));
    }
    // The accepted ones in one event of the session's stream (its version check makes the
    // verdict once-only); each rejection, rare and with its reason, in the contribution's stream.
    let mut accepted = Vec::new();
    let mut others = Vec::new();
    for cid in &s.opened.contribution_ids {
        let Some(contribution) = st.contributions.get(cid) else { continue };
        if contribution.standing != Standing::Pending {
            continue;
        }
        if acc_a.contains(cid) {
            accepted.push(cid.clone());
            continue;
        }
        let (reason, detail) = rej_a.get(cid).cloned().unwrap_or_default();
        metrics::counter!("triad_coordinator_contributions_decided_total", "verdict" => "rejected").increment(1);
        let verdict = Kind::ContributionRejected(ev::ContributionRejected {
            dataset_id: contribution.dataset_id.clone(),
            contribution_id: cid.clone(),
            reason,
            detail,
        });
        others.push(Append::new(streams::contribution(cid), ExpectedVersion::Exact(1), vec![event(verdict)]));
    }
    info!(session = %hex::encode(session_id), accepted = acc_a.len(), rejected = rej_a.len(), "input check decided");
    let mut session_events = vec![closed(session_id, true, "", String::new())];
    if !accepted.is_empty() {
        metrics::counter!("triad_coordinator_contributions_decided_total", "verdict" => "accepted")
            .increment(accepted.len() as u64);
        session_events.push(event(Kind::ContributionsAccepted(ev::ContributionsAccepted {
            dataset_id: s.opened.dataset_id.clone(),
            session_id: session_id.to_vec(),
            contribution_ids: accepted,
        })));
    }
    Some(Closing { session_events, others })
}

/// A failed session's closing: for a query, a final `QueryAborted` when it was a refusal
/// (`below_min_cohort`) or the last attempt.
pub(crate) fn failed(
    st: &State,
    config: &crate::CoordinatorConfig,
    s: &Session,
    reason: &str,
    detail: String,
    abort: Option<(&str, Option<u32>, &str)>,
) -> Closing {
    let session_id = s.opened.session_id.as_slice();
    warn!(session = %hex::encode(session_id), reason, detail = %detail, "session failed");
    let mut others = Vec::new();
    if s.is_query() {
        let failures = st.queries.get(&s.opened.query_id).map_or(0, |q| q.failures) + 1;
        let (last_reason, blamed_party, step) = abort.unwrap_or((reason, None, ""));
        let final_reason = if is_refusal(last_reason) {
            Some(last_reason.to_owned())
        } else if failures >= config.max_query_attempts {
            Some(format!("gave up after {failures} attempts: {last_reason}"))
        } else {
            None
        };
        if let Some(final_reason) = final_reason {
            others.push(Append::new(
                streams::query(&s.opened.query_id),
                ExpectedVersion::Exact(1),
                vec![event(Kind::QueryAborted(ev::QueryAborted {
                    query_id: s.opened.query_id.clone(),
                    reason: final_reason,
                    blamed_party,
                    step: step.to_owned(),
                    party: None,
                    session_id: session_id.to_vec(),
                    r#final: true,
                }))],
            ));
        }
    }
    Closing { session_events: vec![closed(session_id, false, reason, detail)], others }
}
