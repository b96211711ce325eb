//! The outbox relay: publishes every committed event to the bus, in position
//! order, and moves the store's outbox cursor only past events the bus
//! confirmed stored. A crash between commit and publish loses nothing (the
//! cursor did not move, so the events are published on restart), and a crash
//! between publish and cursor update publishes nothing twice in effect (the
//! event id is the `Nats-Msg-Id`; JetStream drops it inside its duplicate
//! window, and handlers are idempotent beyond it).

use futures::FutureExt;
use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::time::Duration;
use tracing::{debug, warn};

use crate::bus::EventBus;
use crate::error::{BusError, StoreError};
use crate::model::RecordedEvent;
use crate::store::EventStore;

/// Why a relay pass stopped.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Reading the store or moving the cursor failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bus did not confirm a publish.
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// Publishes one store's events to the bus.
pub struct Relay {
    store: Arc<dyn EventStore>,
    bus: Arc<dyn EventBus>,
    batch: usize,
    poll: Duration,
}

impl Relay {
    /// A relay of `store` to `bus`, 1,000 events a batch.
    pub fn new(store: Arc<dyn EventStore>, bus: Arc<dyn EventBus>) -> Self {
        Self { store, bus, batch: 1_000, poll: Duration::from_millis(500) }
    }

    /// Events per publish batch.
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// How often to look for events appended by other processes (local
    /// appends wake the relay at once).
    pub fn poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Publishes everything appended so far; returns how many events it
    /// published. Another relay holding the cursor counts as nothing to do.
    pub async fn publish_pending(&self) -> Result<usize, RelayError> {
        let mut total = 0;
        let failure: Arc<StdMutex<Option<BusError>>> = Arc::default();
        loop {
            let bus = self.bus.clone();
            let slot = failure.clone();
            let mut publish = crate::store::publisher(move |events| {
                let bus = bus.clone();
                let slot = slot.clone();
                async move {
                    let (confirmed, err) = publish_confirmed(bus.as_ref(), events).await;
                    if let Some(e) = err {
                        *slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e);
                    }
                    confirmed
                }
                .boxed()
            });
            let progress = self.store.relay_batch(self.batch, &mut publish).await?;
            if let Some(e) = failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
                return Err(e.into());
            }
            let Some(progress) = progress else {
                return Ok(total);
            };
            if progress.offered == 0 {
                return Ok(total);
            }
            total += progress.offered;
            metrics::counter!("triad_eventlog_published_total", "service" => self.store.service().to_owned())
                .increment(progress.offered as u64);
        }
    }

    /// Runs until `shutdown` resolves: publishes whenever the store's head
    /// moves (or every poll interval), retrying failures with backoff.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let mut head = self.store.watch_head();
        let mut backoff = Duration::from_millis(50);
        tokio::pin!(shutdown);
        if let Err(e) = self.bus.ensure_stream(self.store.service()).await {
            warn!(error = %e, "cannot declare the bus stream yet");
        }
        loop {
            head.borrow_and_update();
            let wait = match self.publish_pending().await {
                Ok(n) => {
                    if n > 0 {
                        debug!(published = n, "relay pass");
                    }
                    backoff = Duration::from_millis(50);
                    self.poll
                }
                Err(e) => {
                    warn!(error = %e, "relay pass failed; retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    backoff
                }
            };
            tokio::select! {
                () = &mut shutdown => return,
                _ = head.changed() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// Publishes and returns the last position confirmed, with the error if the
/// bus stopped confirming part-way.
async fn publish_confirmed(bus: &dyn EventBus, events: &[RecordedEvent]) -> (Option<u64>, Option<BusError>) {
    match bus.publish(events).await {
        Ok(()) => (events.last().map(|e| e.position), None),
        Err(BusError::PublishFailed { position, reason }) => {
            let confirmed = events.iter().take_while(|e| e.position < position).last().map(|e| e.position);
            (confirmed, Some(BusError::PublishFailed { position, reason }))
        }
        Err(e) => (None, Some(e)),
    }
}
