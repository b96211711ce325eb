//! The message bus contract: the outbox publishes recorded events; handlers
//! receive them through durable consumers with explicit acks.

use async_trait::async_trait;
use std::time::Duration;

use crate::error::BusError;
use crate::model::{RecordedEvent, snake_case, validate_token};

/// How events map to subjects and streams. Tests use a unique prefix each so
/// that they can share one NATS server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusNames {
    /// First subject token, `triad` by default.
    pub subject_prefix: String,
    /// Prefix of JetStream stream names, `TRIAD` by default.
    pub stream_prefix: String,
}

impl Default for BusNames {
    fn default() -> Self {
        Self { subject_prefix: "triad".into(), stream_prefix: "TRIAD".into() }
    }
}

impl BusNames {
    /// Names under a prefix of `[a-z0-9_]` (used by tests: one per test).
    pub fn prefixed(prefix: &str) -> Self {
        Self { subject_prefix: prefix.to_owned(), stream_prefix: prefix.to_ascii_uppercase() }
    }

    /// `<prefix>.<service>.<category>.<event_type>`, e.g.
    /// `triad.coordinator.contribution.contribution_submitted`.
    pub fn subject(&self, e: &RecordedEvent) -> String {
        format!("{}.{}.{}.{}", self.subject_prefix, e.service, e.category(), snake_case(&e.data.event_type))
    }

    /// The JetStream stream holding `service`'s events, e.g. `TRIAD_COORDINATOR`.
    pub fn stream(&self, service: &str) -> String {
        format!("{}_{}", self.stream_prefix, service.to_ascii_uppercase())
    }

    /// All subjects of `service`: `<prefix>.<service>.>`.
    pub fn service_subjects(&self, service: &str) -> String {
        format!("{}.{}.>", self.subject_prefix, service)
    }

    /// The full filter subject of a consumer.
    pub fn filter(&self, spec: &ConsumerSpec) -> String {
        format!("{}.{}.{}", self.subject_prefix, spec.source, spec.filter.as_deref().unwrap_or(">"))
    }
}

/// A durable consumer of one service's events.
#[derive(Clone, Debug)]
pub struct ConsumerSpec {
    /// Durable name (`[a-z0-9_]`), also the handler's checkpoint name.
    pub durable: String,
    /// The service whose events to receive.
    pub source: String,
    /// Subject tail after `<prefix>.<source>.`, NATS wildcards allowed,
    /// e.g. `contribution.*`; `None` for everything.
    pub filter: Option<String>,
    /// Redelivery after this long without an ack.
    pub ack_wait: Duration,
    /// Deliveries before an event is given up on (bounded redelivery).
    pub max_deliver: u32,
    /// Unacked events in flight at most.
    pub max_ack_pending: u32,
}

impl ConsumerSpec {
    /// A consumer named `durable` of all of `source`'s events, with defaults:
    /// ack wait 30 s, 10 deliveries, 1,000 in flight.
    pub fn new(durable: &str, source: &str) -> Self {
        Self {
            durable: durable.to_owned(),
            source: source.to_owned(),
            filter: None,
            ack_wait: Duration::from_secs(30),
            max_deliver: 10,
            max_ack_pending: 1_000,
        }
    }

    /// Receives only subjects matching `filter` (a subject tail).
    pub fn with_filter(mut self, filter: &str) -> Self {
        self.filter = Some(filter.to_owned());
        self
    }

    /// Checks names before they reach the bus.
    pub fn validate(&self) -> Result<(), BusError> {
        validate_token("consumer", &self.durable).map_err(|e| BusError::Unsupported(e.to_string()))?;
        validate_token("service", &self.source).map_err(|e| BusError::Unsupported(e.to_string()))?;
        Ok(())
    }
}

/// Whether `subject` matches the NATS pattern `pattern` (`*` one token, `>` the rest).
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Settles one delivery.
#[async_trait]
pub trait AckHandle: Send {
    /// Done: never deliver again.
    async fn ack(self: Box<Self>) -> Result<(), BusError>;
    /// Failed: deliver again after `delay`.
    async fn nak(self: Box<Self>, delay: Duration) -> Result<(), BusError>;
    /// Poison: never deliver again, it was not handled.
    async fn term(self: Box<Self>) -> Result<(), BusError>;
}

/// One event delivered to a consumer.
pub struct Delivery {
    /// The event.
    pub event: RecordedEvent,
    /// 1 on first delivery, 2 on the first redelivery, ...
    pub attempt: u64,
    acker: Box<dyn AckHandle>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery").field("position", &self.event.position).field("attempt", &self.attempt).finish()
    }
}

impl Delivery {
    /// Wraps an event and the way to settle it.
    pub fn new(event: RecordedEvent, attempt: u64, acker: Box<dyn AckHandle>) -> Self {
        Self { event, attempt, acker }
    }

    /// Acknowledges: handled.
    pub async fn ack(self) -> Result<(), BusError> {
        self.acker.ack().await
    }

    /// Asks for redelivery after `delay`.
    pub async fn nak(self, delay: Duration) -> Result<(), BusError> {
        self.acker.nak(delay).await
    }

    /// Gives up on the event.
    pub async fn term(self) -> Result<(), BusError> {
        self.acker.term().await
    }
}

/// A stream of deliveries from one durable consumer.
#[async_trait]
pub trait Subscription: Send {
    /// Up to `max` deliveries, in stream order; waits at most `wait` for the
    /// first one and returns an empty batch if none came.
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError>;
}

/// Up to `max` deliveries: waits at most `wait` for the first, then at most `linger` for more
/// to join it, so that a consumer fed a trickle (a few events a millisecond) handles and
/// commits them together instead of one transaction each. A zero `linger` is
/// [`Subscription::next_batch`]. A failure after the first deliveries returns those (it comes
/// back on the next call), so nothing delivered waits out a redelivery.
pub async fn next_batch_lingering(
    sub: &mut dyn Subscription,
    max: usize,
    wait: Duration,
    linger: Duration,
) -> Result<Vec<Delivery>, BusError> {
    let mut batch = sub.next_batch(max, wait).await?;
    if batch.is_empty() || linger.is_zero() {
        return Ok(batch);
    }
    let deadline = tokio::time::Instant::now() + linger;
    while batch.len() < max {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            break;
        }
        match sub.next_batch(max - batch.len(), left).await {
            Ok(more) if more.is_empty() => break,
            Ok(more) => batch.extend(more),
            Err(_) => break,
        }
    }
    Ok(batch)
}

/// Carries recorded events from stores to consumers.
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Declares `service`'s stream (idempotent).
    async fn ensure_stream(&self, service: &str) -> Result<(), BusError>;

    /// Publishes `events` (one service's, in position order) and returns once
    /// all are confirmed stored. On failure, [`BusError::PublishFailed`] names
    /// the first position not confirmed; all before it are stored.
    async fn publish(&self, events: &[RecordedEvent]) -> Result<(), BusError>;

    /// Opens (creating if needed) a durable consumer.
    async fn subscribe(&self, spec: &ConsumerSpec) -> Result<Box<dyn Subscription>, BusError>;
}
