//! Drives a handler from a durable consumer, idempotently: the handler decides
//! what to append, and the store commits those effects in one transaction
//! with the consumer's checkpoint (the source position). A redelivered event
//! whose checkpoint exists is acked without effect, so redelivery and replays
//! are normal, not errors.

use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, warn};

use crate::bus::{ConsumerSpec, Delivery, EventBus, Subscription, next_batch_lingering};
use crate::error::{BusError, StoreError};
use crate::model::{Append, RecordedEvent};
use crate::store::{Checkpoint, EventStore, Handled};

/// A handler's failure.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth retrying (a conflict, a dependency down): the event is redelivered.
    #[error("transient: {0}")]
    Transient(String),
    /// The event can never be handled (bad payload): it is given up on.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// Reacts to events by deciding what to append to its own store.
#[async_trait]
pub trait Handler: Send + Sync {
    /// The effects of `event`. May be called again for the same event (after a
    /// crash before the commit); only one call's effects are ever committed.
    async fn handle(&self, event: &RecordedEvent) -> Result<Vec<Append>, HandlerError>;

    /// The effects of a run of consecutive deliveries, in order, up to the first failure:
    /// `(effects of events[..k], Some(failure of events[k]))`, or every event's effects and
    /// `None`. A handler whose own writes are cheaper together (one transaction for a run)
    /// overrides it; the default handles one event at a time.
    async fn handle_batch(&self, events: &[&RecordedEvent]) -> (Vec<Vec<Append>>, Option<HandlerError>) {
        let mut effects = Vec::with_capacity(events.len());
        for e in events {
            match self.handle(e).await {
                Ok(appends) => effects.push(appends),
                Err(err) => return (effects, Some(err)),
            }
        }
        (effects, None)
    }

    /// True for a handler that never decides effects and keeps its own record of what it
    /// handled, so that handling an event again is harmless (the party folds into its own
    /// database with its position). Its deliveries are then acked without a store
    /// transaction: a checkpoint per event would only repeat that record. Should it return
    /// effects after all, they commit with their checkpoints as for any handler.
    fn checkpoints_itself(&self) -> bool {
        false
    }
}

/// How many times an event whose effects lost a version race is handled again at once before
/// it waits for redelivery.
pub const CONFLICT_REHANDLES: usize = 3;

/// Why a subscriber step failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum SubscriberError {
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one step did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Events whose effects were committed now.
    pub applied: usize,
    /// Redelivered events already handled before.
    pub duplicates: usize,
    /// Events that failed and will be redelivered.
    pub retried: usize,
    /// Events given up on.
    pub dropped: usize,
}

impl Step {
    /// Deliveries seen in this step.
    pub fn seen(&self) -> usize {
        self.applied + self.duplicates + self.retried + self.dropped
    }
}

/// A handler bound to a durable consumer and to the store its effects go to.
pub struct Subscriber {
    spec: ConsumerSpec,
    store: Arc<dyn EventStore>,
    subscription: Box<dyn Subscription>,
    batch: usize,
    retry_delay: Duration,
    linger: Duration,
}

impl Subscriber {
    /// Opens the durable consumer `spec` on `bus`; effects go to `store`.
    pub async fn new(
        bus: &dyn EventBus,
        spec: ConsumerSpec,
        store: Arc<dyn EventStore>,
    ) -> Result<Self, SubscriberError> {
        let subscription = bus.subscribe(&spec).await?;
        Ok(Self {
            spec,
            store,
            subscription,
            batch: 256,
            retry_delay: Duration::from_millis(200),
            linger: Duration::ZERO,
        })
    }

    /// Delay before a failed event is redelivered.
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    /// How long a batch waits for more deliveries after its first (default none): a handler
    /// whose commits cost more than its latency matters handles a trickle in fewer, larger
    /// batches ([`crate::bus::next_batch_lingering`]).
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// Handles one batch, waiting at most `wait` for it. The handler's
    /// effects for the whole batch commit in one transaction; if that fails,
    /// the batch is retried event by event so that only the failing event
    /// waits for redelivery.
    pub async fn step(&mut self, handler: &dyn Handler, wait: Duration) -> Result<Step, SubscriberError> {
        let batch = next_batch_lingering(self.subscription.as_mut(), self.batch, wait, self.linger).await?;
        let mut step = Step::default();
        let (effects, failed) = {
            let events: Vec<&RecordedEvent> = batch.iter().map(|d| &d.event).collect();
            handler.handle_batch(&events).await
        };
        let mut deliveries = batch.into_iter();
        let mut decided: Vec<(Delivery, Vec<Append>)> = Vec::with_capacity(effects.len());
        for e in effects {
            let Some(d) = deliveries.next() else { break };
            decided.push((d, e));
        }
        let mut failure = match failed {
            Some(e) => deliveries.next().map(|d| (d, e)),
            None => None,
        };
        if handler.checkpoints_itself() && decided.iter().all(|(_, effects)| effects.is_empty()) {
            for (d, _) in decided {
                d.ack().await?;
                step.applied += 1;
            }
            return settle(&self.spec, self.retry_delay, failure, deliveries, step).await;
        }
        let items: Vec<(Checkpoint, Vec<Append>)> =
            decided.iter().map(|(d, effects)| (self.checkpoint(&d.event), effects.clone())).collect();
        match self.store.apply_batch_once(items).await {
            Ok(fresh) => {
                for ((d, _), new) in decided.into_iter().zip(fresh) {
                    d.ack().await?;
                    if new {
                        step.applied += 1;
                    } else {
                        step.duplicates += 1;
                    }
                }
            }
            Err(e) => {
                warn!(consumer = %self.spec.durable, error = %e, "batch commit failed; handling one by one");
                for (d, effects) in decided {
                    if failure.is_some() {
                        d.nak(self.retry_delay).await?;
                        step.retried += 1;
                        continue;
                    }
                    match apply_rehandling_conflicts(
                        self.store.as_ref(),
                        self.checkpoint(&d.event),
                        handler,
                        &d.event,
                        effects,
                    )
                    .await
                    {
                        Ok(Handled::Applied(_)) => {
                            d.ack().await?;
                            step.applied += 1;
                        }
                        Ok(Handled::AlreadyHandled) => {
                            d.ack().await?;
                            step.duplicates += 1;
                        }
                        Err(e) => failure = Some((d, e)),
                    }
                }
            }
        }
        settle(&self.spec, self.retry_delay, failure, deliveries, step).await
    }

    fn checkpoint(&self, event: &RecordedEvent) -> Checkpoint {
        Checkpoint { consumer: self.spec.durable.clone(), source: event.service.clone(), position: event.position }
    }

    /// Handles events until `shutdown` resolves.
    pub async fn run(
        mut self,
        handler: &dyn Handler,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), SubscriberError> {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                r = self.step(handler, Duration::from_secs(1)) => {
                    if let Err(e) = r {
                        warn!(consumer = %self.spec.durable, error = %e, "subscriber step failed; retrying");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        }
    }
}

/// Commits `effects` of `event` once. A version conflict means another writer moved a
/// stream the handler read: the handler decides again at once on the state that won (as
/// many times as [`CONFLICT_REHANDLES`]) rather than waiting out a redelivery (the three
/// parties' reports of one session, handled side by side, used to cost a retry delay
/// each). Free functions, as those below, so that [`Subscriber::run`]'s future borrows no
/// `&Subscriber` across an await and stays `Send`.
async fn apply_rehandling_conflicts(
    store: &dyn EventStore,
    checkpoint: Checkpoint,
    handler: &dyn Handler,
    event: &RecordedEvent,
    mut effects: Vec<Append>,
) -> Result<Handled, HandlerError> {
    let mut rehandled = 0;
    loop {
        match store.apply_once(&checkpoint, effects).await {
            Ok(done) => return Ok(done),
            Err(e) if e.is_conflict() && rehandled < CONFLICT_REHANDLES => {
                rehandled += 1;
                effects = handler.handle(event).await?;
            }
            Err(e) => return Err(HandlerError::Transient(e.to_string())),
        }
    }
}

/// The end of a step: the failed delivery settled, and everything after it redelivered.
async fn settle(
    spec: &ConsumerSpec,
    retry_delay: Duration,
    failure: Option<(Delivery, HandlerError)>,
    deliveries: impl Iterator<Item = Delivery> + Send,
    mut step: Step,
) -> Result<Step, SubscriberError> {
    if let Some((d, e)) = failure {
        settle_failure(spec, retry_delay, d, e, &mut step).await?;
        // Keep order: what came after the failure is redelivered after it.
        for later in deliveries {
            later.nak(retry_delay).await?;
            step.retried += 1;
        }
    }
    if step.applied > 0 {
        metrics::counter!("triad_eventlog_handled_total", "consumer" => spec.durable.clone())
            .increment(step.applied as u64);
    }
    Ok(step)
}

/// Drops or schedules the redelivery of a failed event. A free function (not a method) so that
/// [`Subscriber::run`]'s future borrows no `&Subscriber` across an await and stays `Send`.
async fn settle_failure(
    spec: &ConsumerSpec,
    retry_delay: Duration,
    d: Delivery,
    e: HandlerError,
    step: &mut Step,
) -> Result<(), SubscriberError> {
    let give_up = match &e {
        HandlerError::Permanent(_) => true,
        HandlerError::Transient(_) => d.attempt >= u64::from(spec.max_deliver),
    };
    if give_up {
        error!(consumer = %spec.durable, position = d.event.position, attempt = d.attempt, error = %e, "giving up on event");
        metrics::counter!("triad_eventlog_dropped_total", "consumer" => spec.durable.clone()).increment(1);
        d.term().await?;
        step.dropped += 1;
    } else {
        warn!(consumer = %spec.durable, position = d.event.position, attempt = d.attempt, error = %e, "handler failed; will retry");
        d.nak(retry_delay).await?;
        step.retried += 1;
    }
    Ok(())
}
