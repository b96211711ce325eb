//! The in-process bus of the single-process default.
//!
//! It keeps no copy of events: a service's published events are already in
//! its SQLite store, so a subscription reads the source store up to the
//! outbox cursor ("published"), exactly what JetStream would hold. Durable
//! consumers keep their acked floor in the source store, so they resume
//! after a restart; redelivery after `ack_wait`, naks and `max_deliver`
//! behave as on JetStream.

use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;
use tokio::sync::{Mutex, watch};
use tokio::time::Instant;
use tracing::warn;

use crate::bus::{AckHandle, BusNames, ConsumerSpec, Delivery, EventBus, Subscription, subject_matches};
use crate::error::BusError;
use crate::model::RecordedEvent;
use crate::sqlite::SqliteEventStore;
use crate::store::EventStore;

struct Source {
    store: SqliteEventStore,
    published: watch::Sender<u64>,
}

/// Delivers events between services of one process.
#[derive(Clone, Default)]
pub struct InProcessBus {
    names: BusNames,
    sources: Arc<StdMutex<HashMap<String, Arc<Source>>>>,
    consumers: Arc<StdMutex<HashMap<String, Arc<Mutex<ConsumerState>>>>>,
}

impl InProcessBus {
    /// An empty bus; register each service's store before use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `store`'s published events available to subscribers.
    pub async fn register(&self, store: SqliteEventStore) -> Result<(), BusError> {
        let published = store.published().await?;
        let service = store.service().to_owned();
        let source = Arc::new(Source { store, published: watch::channel(published).0 });
        self.lock_sources().insert(service, source);
        Ok(())
    }

    fn lock_sources(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Source>>> {
        self.sources.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn source(&self, service: &str) -> Result<Arc<Source>, BusError> {
        self.lock_sources()
            .get(service)
            .cloned()
            .ok_or_else(|| BusError::Unavailable(format!("no store registered for service {service}")))
    }
}

#[derive(Default)]
struct ConsumerState {
    /// Everything up to here is settled (acked, termed or filtered out).
    floor: u64,
    /// Next position never delivered.
    next: u64,
    /// Settled positions above the floor.
    settled: BTreeSet<u64>,
    /// In flight: position -> (redeliver at, deliveries so far).
    pending: BTreeMap<u64, (Instant, u64)>,
    /// Floor last written to the store.
    persisted: u64,
}

/// Acks between writes of a consumer's floor. The floor is also written at
/// every poll; after a crash at most this many acked events are redelivered,
/// which idempotent handlers absorb.
const PERSIST_EVERY: u64 = 1_000;

impl ConsumerState {
    /// The floor to write now, if it moved at least `every` since the last write.
    fn floor_to_persist(&mut self, every: u64) -> Option<u64> {
        if self.floor >= self.persisted + every.max(1) {
            self.persisted = self.floor;
            Some(self.floor)
        } else {
            None
        }
    }

    fn settle(&mut self, position: u64) {
        self.pending.remove(&position);
        if position > self.floor {
            self.settled.insert(position);
        }
        while self.settled.remove(&(self.floor + 1)) {
            self.floor += 1;
        }
    }
}

#[async_trait]
impl EventBus for InProcessBus {
    async fn ensure_stream(&self, service: &str) -> Result<(), BusError> {
        self.source(service).map(|_| ())
    }

    async fn publish(&self, events: &[RecordedEvent]) -> Result<(), BusError> {
        let Some(last) = events.last() else {
            return Ok(());
        };
        let source = self.source(&last.service)?;
        crate::store::advance(&source.published, last.position);
        Ok(())
    }

    async fn subscribe(&self, spec: &ConsumerSpec) -> Result<Box<dyn Subscription>, BusError> {
        spec.validate()?;
        let source = self.source(&spec.source)?;
        let key = format!("{}/{}", spec.source, spec.durable);
        let existing = self.consumers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key).cloned();
        let state = match existing {
            Some(s) => s,
            None => {
                let floor = source.store.consumer_floor(&spec.durable).await?;
                let s = Arc::new(Mutex::new(ConsumerState {
                    floor,
                    next: floor + 1,
                    persisted: floor,
                    ..Default::default()
                }));
                self.consumers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(key).or_insert(s).clone()
            }
        };
        Ok(Box::new(InProcessSubscription {
            filter: self.names.filter(spec),
            names: self.names.clone(),
            published: source.published.subscribe(),
            source,
            spec: spec.clone(),
            state,
        }))
    }
}

struct InProcessSubscription {
    source: Arc<Source>,
    names: BusNames,
    filter: String,
    published: watch::Receiver<u64>,
    spec: ConsumerSpec,
    state: Arc<Mutex<ConsumerState>>,
}

impl InProcessSubscription {
    fn acker(&self, position: u64) -> Box<dyn AckHandle> {
        Box::new(InProcessAck {
            state: self.state.clone(),
            source: self.source.clone(),
            durable: self.spec.durable.clone(),
            position,
        })
    }

    /// One attempt to fill a batch without waiting.
    async fn poll(&mut self, max: usize) -> Result<(Vec<Delivery>, Option<Instant>), BusError> {
        let now = Instant::now();
        let published = *self.published.borrow();
        let floor = self.state.lock().await.floor_to_persist(1);
        if let Some(f) = floor {
            self.source.store.set_consumer_floor(&self.spec.durable, f).await?;
        }
        let mut st = self.state.lock().await;
        let mut out = Vec::new();

        // Redeliveries first, in position order.
        let due: Vec<(u64, u64)> =
            st.pending.iter().filter(|(_, (at, _))| *at <= now).map(|(p, (_, n))| (*p, *n)).take(max).collect();
        for (p, n) in due {
            if n >= u64::from(self.spec.max_deliver) {
                warn!(consumer = %self.spec.durable, position = p, "giving up after {n} deliveries");
                metrics::counter!("triad_eventlog_redelivery_exhausted_total").increment(1);
                st.settle(p);
                continue;
            }
            if let Some(e) = self.source.store.read_all(p - 1, 1).await?.into_iter().next() {
                st.pending.insert(p, (now + self.spec.ack_wait, n + 1));
                out.push(Delivery::new(e, n + 1, self.acker(p)));
            }
        }

        // Then fresh events, while in-flight room remains.
        let room =
            (self.spec.max_ack_pending as usize).saturating_sub(st.pending.len()).min(max.saturating_sub(out.len()));
        if room > 0 && st.next <= published {
            let take = room.min((published - st.next + 1) as usize);
            let events = self.source.store.read_all(st.next - 1, take).await?;
            for e in events {
                st.next = e.position + 1;
                if subject_matches(&self.filter, &self.names.subject(&e)) {
                    st.pending.insert(e.position, (now + self.spec.ack_wait, 1));
                    let acker = self.acker(e.position);
                    out.push(Delivery::new(e, 1, acker));
                } else {
                    st.settle(e.position);
                }
            }
        }
        let next_due = st.pending.values().map(|(at, _)| *at).min();
        Ok((out, next_due))
    }
}

#[async_trait]
impl Subscription for InProcessSubscription {
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        let deadline = Instant::now() + wait;
        loop {
            self.published.borrow_and_update();
            let (batch, next_due) = self.poll(max.max(1)).await?;
            if !batch.is_empty() {
                return Ok(batch);
            }
            let wake = next_due.map_or(deadline, |d| d.min(deadline));
            tokio::select! {
                changed = self.published.changed() => {
                    if changed.is_err() {
                        return Ok(Vec::new());
                    }
                }
                () = tokio::time::sleep_until(wake) => {
                    if Instant::now() >= deadline {
                        return Ok(Vec::new());
                    }
                }
            }
        }
    }
}

struct InProcessAck {
    state: Arc<Mutex<ConsumerState>>,
    source: Arc<Source>,
    durable: String,
    position: u64,
}

impl InProcessAck {
    async fn settle(self) -> Result<(), BusError> {
        let floor = {
            let mut st = self.state.lock().await;
            st.settle(self.position);
            st.floor_to_persist(PERSIST_EVERY)
        };
        if let Some(f) = floor {
            self.source.store.set_consumer_floor(&self.durable, f).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl AckHandle for InProcessAck {
    async fn ack(self: Box<Self>) -> Result<(), BusError> {
        (*self).settle().await
    }

    async fn nak(self: Box<Self>, delay: Duration) -> Result<(), BusError> {
        let mut st = self.state.lock().await;
        if let Some((at, _)) = st.pending.get_mut(&self.position) {
            *at = Instant::now() + delay;
        }
        Ok(())
    }

    async fn term(self: Box<Self>) -> Result<(), BusError> {
        (*self).settle().await
    }
}
