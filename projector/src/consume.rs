//! One durable consumer per source stream: a batch of deliveries is folded in one transaction
//! with the source's checkpoint, then acknowledged.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{debug, warn};
use triad_eventlog::bus::next_batch_lingering;
use triad_eventlog::{ConsumerSpec, Delivery, EventBus, Subscription};

use crate::{Inner, fold};

/// Deliveries folded per transaction at most.
const BATCH: usize = 256;
/// How long one poll of the bus waits.
const POLL: Duration = Duration::from_secs(1);
/// How long a batch waits for more events after its first: at ingest the coordinator's
/// stream brings a few events a millisecond, and each batch is one read-model transaction.
const LINGER: Duration = Duration::from_millis(10);
/// An event delivered ahead of its predecessor comes back after this long.
const GAP_DELAY: Duration = Duration::from_millis(500);
/// The projector never gives up on an event (a skipped one would stall its source: the fold
/// is strictly in position order); the bus's bound is set out of reach.
const MAX_DELIVER: u32 = 1_000_000;

/// The durable consumer's name for `source`.
pub(crate) fn durable(source: &str, suffix: &str) -> String {
    if suffix.is_empty() { format!("projector_{source}") } else { format!("projector_{source}_{suffix}") }
}

/// Resolves once `stop` is set (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Sleeps `d`; false if `stop` came first.
async fn pause(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        () = stopped(stop) => false,
        () = tokio::time::sleep(d) => true,
    }
}

/// Runs until `stop`: subscribes (retrying until the source's stream exists) and folds.
pub(crate) async fn run(
    inner: Arc<Inner>,
    bus: Arc<dyn EventBus>,
    source: String,
    durable: String,
    mut stop: watch::Receiver<bool>,
) {
    let spec = ConsumerSpec { max_deliver: MAX_DELIVER, ..ConsumerSpec::new(&durable, &source) };
    let mut backoff = Duration::from_millis(100);
    let mut sub: Option<Box<dyn Subscription>> = None;
    loop {
        let s = match sub.as_mut() {
            Some(s) => s,
            None => {
                let opened = match bus.subscribe(&spec).await {
                    Ok(s) => Ok(s),
                    // The stream may not be declared yet (the source's relay has not run).
                    Err(_) => match bus.ensure_stream(&source).await {
                        Ok(()) => bus.subscribe(&spec).await,
                        Err(e) => Err(e),
                    },
                };
                match opened {
                    Ok(s) => {
                        debug!(%source, %durable, "subscribed");
                        backoff = Duration::from_millis(100);
                        sub.insert(s)
                    }
                    Err(e) => {
                        warn!(%source, %durable, error = %e, "cannot subscribe yet; retrying");
                        if !pause(&mut stop, backoff).await {
                            return;
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        continue;
                    }
                }
            }
        };
        let batch = tokio::select! {
            () = stopped(&mut stop) => return,
            b = next_batch_lingering(s.as_mut(), BATCH, POLL, LINGER) => b,
        };
        match batch {
            Ok(deliveries) if deliveries.is_empty() => {}
            Ok(deliveries) => {
                if !fold_batch(&inner, &source, deliveries, &mut stop).await {
                    return;
                }
            }
            Err(e) => {
                warn!(%source, error = %e, "bus poll failed; resubscribing");
                sub = None;
                if !pause(&mut stop, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Folds one batch, retrying the transaction until it commits; false if stopped first (the
/// deliveries are then left unacknowledged: the bus delivers them again).
async fn fold_batch(inner: &Inner, source: &str, deliveries: Vec<Delivery>, stop: &mut watch::Receiver<bool>) -> bool {
    let mut items: Vec<(u64, Vec<fold::Op>)> =
        deliveries.iter().map(|d| (d.event.position, fold::ops(&d.event))).collect();
    items.sort_by_key(|(p, _)| *p);
    items.dedup_by_key(|(p, _)| *p);
    let mut backoff = Duration::from_millis(100);
    let committed = loop {
        match inner.db.commit(source, &items).await {
            Ok(c) => break c,
            Err(e) => {
                warn!(%source, error = %e, "read model transaction failed; retrying");
                if !pause(stop, backoff).await {
                    return false;
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    };
    for r in committed.published {
        // No receiver is no error: nobody streams results right now.
        let _ = inner.results.send(r);
    }
    inner.progress.send_modify(|n| *n += 1);
    let ahead: Vec<u64> = deliveries.iter().map(|d| d.event.position).filter(|p| *p > committed.checkpoint).collect();
    if let Some(first) = ahead.iter().min() {
        warn!(
            %source,
            first,
            count = ahead.len(),
            expected = committed.checkpoint + 1,
            "events delivered ahead of their predecessor; asking for them again (if this persists, the durable \
             consumer has moved past this read model: rebuild with a fresh consumer suffix)"
        );
    }
    for d in deliveries {
        let position = d.event.position;
        let settled = if position <= committed.checkpoint { d.ack().await } else { d.nak(GAP_DELAY).await };
        if let Err(e) = settled {
            // The event comes again; its checkpoint makes it a no-op.
            warn!(%source, position, error = %e, "cannot settle a delivery");
        }
    }
    true
}
