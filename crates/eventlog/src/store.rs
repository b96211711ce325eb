//! The event store contract shared by the PostgreSQL and the embedded backend.

use async_trait::async_trait;
use tokio::sync::watch;

use crate::error::StoreError;
use crate::model::{Append, Appended, RecordedEvent};

/// Identifies one delivered event for idempotent handling: `consumer` has
/// handled the event at `position` of `source`'s store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The durable consumer (the handler) name.
    pub consumer: String,
    /// The service whose event is handled.
    pub source: String,
    /// The event's position in the source store.
    pub position: u64,
}

/// What became of an idempotent handling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handled {
    /// Effects committed with the checkpoint.
    Applied(Vec<Appended>),
    /// The checkpoint was recorded before: nothing was done again.
    AlreadyHandled,
}

/// One service's append-only event log.
///
/// Invariants every backend keeps (and the conformance suite checks):
/// - an append is atomic over all its streams, and each stream's expected
///   version is checked under the same transaction;
/// - positions are 1-based, gapless and in commit order, so reading "all after
///   position p" never skips an event that commits later;
/// - the store, not the bus, is the authority on what was appended.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// The service that owns this store (its bus stream and subject token).
    fn service(&self) -> &str;

    /// Appends to one or more streams atomically. Fails with
    /// [`StoreError::Conflict`] if any stream is not at its expected version.
    async fn append(&self, batch: Vec<Append>) -> Result<Vec<Appended>, StoreError>;

    /// Events of `stream` with version > `after_version`, in order.
    async fn load(&self, stream: &str, after_version: u64) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Up to `limit` events with position > `after`, in position order.
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The last position appended (0 if empty).
    async fn head(&self) -> Result<u64, StoreError>;

    /// A receiver of the head position after each local append, so that the
    /// outbox relay wakes without polling.
    fn watch_head(&self) -> watch::Receiver<u64>;

    /// Runs `publish` on the events after the outbox cursor (at most `limit`)
    /// while holding the cursor exclusively; if it returns the last position
    /// confirmed stored, the cursor moves there. Returns `None` when another
    /// relay holds the cursor.
    async fn relay_batch(
        &self,
        limit: usize,
        publish: &mut (dyn for<'a> FnMut(&'a [RecordedEvent]) -> futures::future::BoxFuture<'a, Option<u64>> + Send),
    ) -> Result<Option<RelayProgress>, StoreError>;

    /// The outbox cursor: every event up to it is confirmed stored on the bus.
    async fn published(&self) -> Result<u64, StoreError>;

    /// Records `checkpoint` and appends `effects` in one transaction, unless
    /// the checkpoint was recorded before.
    async fn apply_once(&self, checkpoint: &Checkpoint, effects: Vec<Append>) -> Result<Handled, StoreError>;

    /// [`EventStore::apply_once`] for many deliveries in one transaction: the
    /// effects of the items not handled before are appended in item order.
    /// All or nothing: on an error (say, one item's version conflict) nothing
    /// is recorded, and the caller retries item by item.
    async fn apply_batch_once(&self, items: Vec<(Checkpoint, Vec<Append>)>) -> Result<Vec<bool>, StoreError> {
        let mut fresh = Vec::with_capacity(items.len());
        for (checkpoint, effects) in items {
            fresh.push(matches!(self.apply_once(&checkpoint, effects).await?, Handled::Applied(_)));
        }
        Ok(fresh)
    }

    /// The highest source position `consumer` has handled of `source`.
    async fn last_handled(&self, consumer: &str, source: &str) -> Result<u64, StoreError>;
}

/// Pins a closure to the higher-ranked signature [`EventStore::relay_batch`]
/// takes (closure signatures are not inferred higher-ranked on their own).
pub fn publisher<F>(f: F) -> F
where
    F: for<'a> FnMut(&'a [RecordedEvent]) -> futures::future::BoxFuture<'a, Option<u64>> + Send,
{
    f
}

/// What one call of [`EventStore::relay_batch`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelayProgress {
    /// Events handed to the publisher.
    pub offered: usize,
    /// The cursor after the call.
    pub cursor: u64,
}

/// Moves a head watch forward to `last` (never back), waking its receivers.
pub(crate) fn advance(head: &watch::Sender<u64>, last: u64) {
    head.send_if_modified(|h| {
        let moved = last > *h;
        if moved {
            *h = last;
        }
        moved
    });
}

/// Turns a batch's freshness flags and the appends of the fresh items' effects
/// (`counts[k]` appends for the k-th fresh item, in order) into per-item results.
pub(crate) fn split_handled(fresh: &[bool], counts: &[usize], appended: Vec<Appended>) -> Vec<Handled> {
    let mut appended = appended.into_iter();
    let mut counts = counts.iter();
    fresh
        .iter()
        .map(|&new| {
            if new {
                let n = counts.next().copied().unwrap_or(0);
                Handled::Applied(appended.by_ref().take(n).collect())
            } else {
                Handled::AlreadyHandled
            }
        })
        .collect()
}
