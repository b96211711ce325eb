//! Group commit: appends that arrive while one is being written share the next transaction.
//!
//! A store pays a transaction (and, on PostgreSQL, a WAL flush) per append. A front door that
//! appends once per request (the coordinator's `SubmitContribution`) would be bound by that
//! cost; [`GroupCommit`] queues the appends of concurrent callers and writes every queued one
//! in one [`EventStore::append`]. Each caller still gets its own outcome:
//! - the group commits: each caller gets its own appends' results;
//! - the group fails for a reason that rolls it back for certain and may be one caller's alone
//!   (a version conflict, a key claimed before, an invalid append, a duplicate event id):
//!   each caller's appends are written again on their own, so one conflicting caller costs
//!   nobody else theirs;
//! - any other failure (the database, whose commit outcome may be unknown) is reported to every
//!   caller of the group as [`StoreError::Group`], never retried: retrying an append whose
//!   commit may have happened could write it twice.
//!
//! Atomicity per caller is kept (a caller's appends are in one transaction either way); the
//! group only adds atomicity across callers, which nobody relies on.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::error::StoreError;
use crate::model::{Append, Appended};
use crate::store::EventStore;

/// Appends through one writer task that groups concurrent callers' appends.
#[derive(Clone)]
pub struct GroupCommit {
    jobs: mpsc::UnboundedSender<Job>,
}

struct Job {
    batch: Vec<Append>,
    reply: oneshot::Sender<Result<Vec<Appended>, StoreError>>,
}

impl GroupCommit {
    /// A writer over `store` that puts at most `max_appends` appends in one transaction. It
    /// runs on the current tokio runtime until every clone of the handle is dropped.
    pub fn new(store: Arc<dyn EventStore>, max_appends: usize) -> Self {
        let (jobs, rx) = mpsc::unbounded_channel();
        tokio::spawn(write(store, rx, max_appends.max(1)));
        Self { jobs }
    }

    /// Appends `batch` atomically (as [`EventStore::append`]), possibly in one transaction with
    /// other callers' appends.
    pub async fn append(&self, batch: Vec<Append>) -> Result<Vec<Appended>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { batch, reply })
            .map_err(|_| StoreError::Group("the group-commit writer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Group("the group-commit writer stopped before answering".into()))?
    }
}

/// The writer: takes the first queued job, then every job queued behind it (up to the cap),
/// and writes them together.
async fn write(store: Arc<dyn EventStore>, mut rx: mpsc::UnboundedReceiver<Job>, max_appends: usize) {
    while let Some(first) = rx.recv().await {
        let mut size = first.batch.len();
        let mut jobs = vec![first];
        while size < max_appends {
            match rx.try_recv() {
                Ok(job) => {
                    size += job.batch.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        metrics::histogram!("triad_eventlog_group_commit_callers").record(jobs.len() as f64);
        if jobs.len() == 1 {
            let Job { batch, reply } = jobs.remove(0);
            let _ = reply.send(store.append(batch).await);
            continue;
        }
        let counts: Vec<usize> = jobs.iter().map(|j| j.batch.len()).collect();
        let combined: Vec<Append> = jobs.iter().flat_map(|j| j.batch.iter().cloned()).collect();
        match store.append(combined).await {
            Ok(appended) => {
                let mut appended = appended.into_iter();
                for (job, n) in jobs.into_iter().zip(counts) {
                    let _ = job.reply.send(Ok(appended.by_ref().take(n).collect()));
                }
            }
            Err(e) if rolled_back_for_one(&e) => {
                for job in jobs {
                    let _ = job.reply.send(store.append(job.batch).await);
                }
            }
            Err(e) => {
                let message = e.to_string();
                for job in jobs {
                    let _ = job.reply.send(Err(StoreError::Group(message.clone())));
                }
            }
        }
    }
}

/// Whether a grouped append's failure certainly rolled it back and may be due to one caller
/// (so each is retried alone).
fn rolled_back_for_one(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Conflict { .. }
            | StoreError::Claimed { .. }
            | StoreError::InvalidAppend(_)
            | StoreError::InvalidStream { .. }
            | StoreError::DuplicateEvent(_)
    )
}
