//! What each event does to the read model: a pure function from a recorded event to the
//! operations the store applies (`db.rs`), so the fold is the same on SQLite and PostgreSQL.

use prost::Message;
use tracing::error;
use triad_eventlog::RecordedEvent;
use triad_proto::events::v1::{ResultPublished, event::Kind};

/// A query's states, as `QueryStatus.state` names them.
pub mod state {
    /// Asked for, no session yet.
    pub const REQUESTED: &str = "requested";
    /// A session computes it (possibly a retry).
    pub const RUNNING: &str = "running";
    /// The coordinator gave up (final).
    pub const ABORTED: &str = "aborted";
    /// Its result is published (final).
    pub const PUBLISHED: &str = "published";
}

/// A dataset counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Counter {
    /// `ContributionSubmitted`.
    Submitted,
    /// `ContributionsAccepted` (and `ContributionAccepted` in older logs).
    Accepted,
    /// `ContributionRejected`.
    Rejected,
}

/// One change to the read model.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `DatasetCreated`: the dataset's row (its counters untouched).
    Dataset { dataset_id: String, description: String, min_cohort: u64, template: Option<Vec<u8>> },
    /// `by` more contributions counted.
    Count { dataset_id: String, counter: Counter, by: u64 },
    /// `QueryRequested`: the query's row, state `requested`.
    QueryRequested { query_id: Vec<u8>, dataset_id: String, sql: String },
    /// A session computes the query: `running`, unless it already ended. `create`: the row is
    /// made if missing (the coordinator's events; a party's only update).
    QueryRunning { query_id: Vec<u8>, create: bool },
    /// A non-final abort: `running`, with the reason, unless the query already ended.
    QueryRetrying { query_id: Vec<u8>, reason: String },
    /// The coordinator gave up on the query.
    QueryAborted { query_id: Vec<u8>, reason: String },
    /// The result, and the query `published`.
    Published(Box<ResultPublished>),
}

/// The operations `event` (from `source`'s stream) implies; none for an event the read model
/// does not show or one that does not decode (logged: the projector cannot repair it).
pub fn ops(event: &RecordedEvent) -> Vec<Op> {
    match triad_network::decode(event) {
        Ok(Some(kind)) => fold(&event.service, event.category(), kind),
        Ok(None) => Vec::new(),
        Err(e) => {
            error!(error = %e, "skipping an event that does not decode");
            Vec::new()
        }
    }
}

/// The fold proper: `kind` recorded by `source` in a stream of category `category`.
pub fn fold(source: &str, category: &str, kind: Kind) -> Vec<Op> {
    if source == triad_network::COORDINATOR { coordinator(category, kind) } else { party(kind) }
}

fn coordinator(category: &str, kind: Kind) -> Vec<Op> {
    let op = match kind {
        Kind::DatasetCreated(d) => Op::Dataset {
            template: d.template.map(|t| t.encode_to_vec()),
            dataset_id: d.dataset_id,
            description: d.description,
            min_cohort: d.min_cohort,
        },
        // The Sybil guard's marker (logs written before claims) shares the event type: it is no
        // second contribution.
        Kind::ContributionSubmitted(_) if category == "uid" => return Vec::new(),
        Kind::ContributionSubmitted(c) => Op::Count { dataset_id: c.dataset_id, counter: Counter::Submitted, by: 1 },
        Kind::ContributionAccepted(c) => Op::Count { dataset_id: c.dataset_id, counter: Counter::Accepted, by: 1 },
        Kind::ContributionsAccepted(c) => {
            Op::Count { dataset_id: c.dataset_id, counter: Counter::Accepted, by: c.contribution_ids.len() as u64 }
        }
        Kind::ContributionRejected(c) => Op::Count { dataset_id: c.dataset_id, counter: Counter::Rejected, by: 1 },
        Kind::QueryRequested(q) => Op::QueryRequested { query_id: q.query_id, dataset_id: q.dataset_id, sql: q.sql },
        Kind::SessionOpened(s) if s.purpose == triad_network::PURPOSE_QUERY && !s.query_id.is_empty() => {
            Op::QueryRunning { query_id: s.query_id, create: true }
        }
        Kind::QueryAborted(a) if a.r#final => Op::QueryAborted { query_id: a.query_id, reason: a.reason },
        Kind::QueryAborted(a) => Op::QueryRetrying { query_id: a.query_id, reason: retrying(&a.reason) },
        Kind::ResultPublished(r) => Op::Published(Box::new(r)),
        _ => return Vec::new(),
    };
    vec![op]
}

fn party(kind: Kind) -> Vec<Op> {
    match kind {
        Kind::QueryStarted(q) => vec![Op::QueryRunning { query_id: q.query_id, create: false }],
        // A party's abort is never final; the coordinator decides whether the query ends.
        Kind::QueryAborted(a) => vec![Op::QueryRetrying { query_id: a.query_id, reason: retrying(&a.reason) }],
        _ => Vec::new(),
    }
}

fn retrying(reason: &str) -> String {
    format!("retrying: {reason}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use triad_proto::events::v1 as ev;

    #[test]
    fn the_uid_marker_is_not_a_contribution() {
        let c =
            || Kind::ContributionSubmitted(ev::ContributionSubmitted { dataset_id: "d".into(), ..Default::default() });
        assert!(fold("coordinator", "uid", c()).is_empty());
        assert_eq!(
            fold("coordinator", "contribution", c()),
            vec![Op::Count { dataset_id: "d".into(), counter: Counter::Submitted, by: 1 }]
        );
    }

    #[test]
    fn aborts_are_final_only_from_the_coordinator() {
        let a = |f| {
            Kind::QueryAborted(ev::QueryAborted {
                query_id: vec![1],
                reason: "min_cohort".into(),
                r#final: f,
                ..Default::default()
            })
        };
        assert_eq!(
            fold("coordinator", "query", a(true)),
            vec![Op::QueryAborted { query_id: vec![1], reason: "min_cohort".into() }]
        );
        assert_eq!(
            fold("coordinator", "query", a(false)),
            vec![Op::QueryRetrying { query_id: vec![1], reason: "retrying: min_cohort".into() }]
        );
        assert_eq!(
            fold("party1", "query", a(true)),
            vec![Op::QueryRetrying { query_id: vec![1], reason: "retrying: min_cohort".into() }]
        );
    }

    #[test]
    fn only_query_sessions_start_queries() {
        let s = |purpose: &str| {
            Kind::SessionOpened(ev::SessionOpened { query_id: vec![7], purpose: purpose.into(), ..Default::default() })
        };
        assert!(fold("coordinator", "session", s(triad_network::PURPOSE_INPUT_CHECK)).is_empty());
        assert_eq!(
            fold("coordinator", "session", s(triad_network::PURPOSE_QUERY)),
            vec![Op::QueryRunning { query_id: vec![7], create: true }]
        );
        assert!(fold("party0", "session", s(triad_network::PURPOSE_QUERY)).is_empty());
    }
}
