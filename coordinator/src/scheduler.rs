//! The scheduler: sessions opened one after another (at most [`PIPELINE`] open: the parties run
//! them in log order, one at a time), only while all three parties have joined and are up (and,
//! after a failed session, have folded its closure). Queries first (FIFO), then a batch of one
//! dataset's pending contributions (oldest first). An open session older than the timeout is
//! closed as failed.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};
use triad_eventlog::{Append, ExpectedVersion, StoreError};
use triad_network::{event, streams};
use triad_proto::events::v1::{self as ev, event::Kind};

use crate::state::State;
use crate::{Inner, handler, now_unix, random_id, signing};

const TICK: Duration = Duration::from_millis(100);
/// Sessions open at once: the one the parties run and one queued behind it, so that a party
/// starts the next batch as soon as it reports the last (the verdict's round trip through the
/// coordinator, ~0.1 s a session, is no longer between two batches).
pub(crate) const PIPELINE: usize = 2;
/// A batch queued behind a running one opens once it holds as many contributions as that one,
/// or once submissions have paused this long (nothing more is coming soon: the last of a burst
/// should not wait for the running session's verdict).
const QUIET_MICROS: i64 = 25_000;
/// The shortest time between two steps. Every submission and every append wakes the
/// scheduler, a thousand times a second at ingest, and each step reads what was appended
/// since the last from the store: one read per few milliseconds serves them all, and a query or
/// a batch waits at most this much longer for its session.
const MIN_STEP_GAP: Duration = Duration::from_millis(5);

pub(crate) async fn run(inner: Arc<Inner>) {
    let mut stop = inner.stop.subscribe();
    let mut head = inner.store.watch_head();
    let mut ticks = 0u64;
    loop {
        let stepped = tokio::time::Instant::now();
        if let Err(e) = step(&inner).await {
            warn!(error = %e, "scheduler step failed; retrying");
        }
        ticks += 1;
        if ticks.is_multiple_of(600) {
            inner.limits.retain_recent();
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            () = inner.wake.notified() => {}
            _ = head.changed() => {}
            () = tokio::time::sleep(TICK) => {}
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep_until(stepped + MIN_STEP_GAP) => {}
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no randomness: {0}")]
    Random(String),
}

/// One look at the state: time out the open session, or open the next one.
async fn step(inner: &Inner) -> Result<(), StepError> {
    let st = inner.caught_up().await?;
    let now_micros = triad_eventlog::model::now_micros();
    // Signing runs beside the MPC sessions (over the signing transport, not the data plane).
    let now = now_unix();
    let up = inner.parties().map(|p| p.up(now));
    let signing = signing::step(&st, &inner.config, up, now_micros).map_err(|e| StepError::Random(e.to_string()))?;
    if !signing.is_empty() {
        // Each request's stream on its own: one conflict must not hold up the others.
        for a in signing {
            match inner.store.append(vec![a]).await {
                Ok(_) => {}
                Err(e) if e.is_conflict() => {}
                Err(e) => return Err(e.into()),
            }
        }
        drop(st);
        inner.catch_up().await?;
        return Ok(());
    }
    // An open session older than the timeout is closed as failed (the oldest first).
    let timeout = i64::try_from(inner.config.session_timeout_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
    let expired = st
        .open_sessions
        .iter()
        .filter_map(|id| st.sessions.get(id))
        .find(|s| now_micros.saturating_sub(s.opened_at_micros) > timeout);
    if let Some(s) = expired {
        let detail = format!("no verdict within {} s", inner.config.session_timeout_secs);
        let closing = handler::failed(&st, &inner.config, s, "timeout", detail, None);
        let mut appends = vec![Append::new(
            streams::session(&s.opened.session_id),
            ExpectedVersion::Exact(s.version),
            closing.session_events,
        )];
        appends.extend(closing.others);
        drop(st);
        return append(inner, appends).await;
    }
    if st.open_sessions.len() >= PIPELINE {
        return Ok(());
    }
    let parties = inner.parties();
    if !parties.iter().all(|p| p.ready(now, st.last_failure_position)) {
        return Ok(());
    }
    let Some(opened) = next_session(&st, inner, now_micros).await? else { return Ok(()) };
    drop(st);
    let session_id = opened.session_id.clone();
    info!(
        session = %hex::encode(&session_id),
        purpose = %opened.purpose,
        dataset = %opened.dataset_id,
        contributions = opened.contribution_ids.len(),
        attempt = opened.attempt,
        "opening a session"
    );
    metrics::counter!("triad_coordinator_sessions_opened_total", "purpose" => opened.purpose.clone()).increment(1);
    append(
        inner,
        vec![Append::new(
            streams::session(&session_id),
            ExpectedVersion::NoStream,
            vec![event(Kind::SessionOpened(opened))],
        )],
    )
    .await
}

/// Appends and folds; a conflict (a verdict landed first) is left to the next step.
async fn append(inner: &Inner, appends: Vec<Append>) -> Result<(), StepError> {
    match inner.store.append(appends).await {
        Ok(_) => {
            inner.catch_up().await?;
            Ok(())
        }
        Err(e) if e.is_conflict() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn next_session(st: &State, inner: &Inner, now_micros: i64) -> Result<Option<ev::SessionOpened>, StepError> {
    let new_id = || random_id().map_err(|e| StepError::Random(e.to_string()));
    if let Some((_, qid)) = st.query_queue.iter().find(|(_, q)| st.queries.get(*q).is_some_and(|q| !q.done)) {
        let Some(q) = st.queries.get(qid) else { return Ok(None) };
        let snapshot = inner.store.head().await?;
        return Ok(Some(ev::SessionOpened {
            session_id: new_id()?,
            dataset_id: q.dataset_id.clone(),
            purpose: triad_network::PURPOSE_QUERY.into(),
            contribution_ids: Vec::new(),
            query_id: qid.clone(),
            snapshot,
            attempt: q.failures + 1,
        }));
    }
    // Pending contributions in submission order, less those backing off.
    let ready = |id: &&Vec<u8>| st.contributions.get(*id).is_some_and(|c| c.retry_after_micros <= now_micros);
    let Some(oldest) = st.pending.values().find(ready) else { return Ok(None) };
    let Some(first) = st.contributions.get(oldest) else { return Ok(None) };
    let dataset = first.dataset_id.clone();
    // The batch: oldest first, at most the smallest `batch_cap` of what it holds (a contribution
    // whose cap is below the batch's size so far waits for a batch of its own size).
    let mut limit = inner.config.batch_max;
    let mut batch: Vec<Vec<u8>> = Vec::new();
    for id in st.pending.values().filter(ready) {
        if batch.len() >= limit {
            break;
        }
        let Some(c) = st.contributions.get(id).filter(|c| c.dataset_id == dataset) else { continue };
        if c.batch_cap <= batch.len() {
            continue;
        }
        limit = limit.min(c.batch_cap);
        batch.push(id.clone());
    }
    let linger = i64::try_from(inner.config.batch_linger_ms.saturating_mul(1_000)).unwrap_or(i64::MAX);
    if batch.len() < limit {
        // Behind a running batch: as large as it, or the last of a burst. Alone (or behind a
        // query): the linger.
        let running = st
            .open_sessions
            .iter()
            .filter_map(|id| st.sessions.get(id))
            .filter(|s| !s.is_query())
            .map(|s| s.opened.contribution_ids.len())
            .max();
        let wait = match running {
            Some(running) => {
                let newest = st.pending.values().next_back().and_then(|id| st.contributions.get(id));
                let quiet = newest.is_some_and(|c| now_micros.saturating_sub(c.submitted_at_micros) >= QUIET_MICROS);
                batch.len() < running && !quiet
            }
            None => now_micros.saturating_sub(first.submitted_at_micros) < linger,
        };
        if wait {
            return Ok(None);
        }
    }
    let attempt = batch.iter().filter_map(|id| st.contributions.get(id)).map(|c| c.attempts).max().unwrap_or(0) + 1;
    Ok(Some(ev::SessionOpened {
        session_id: new_id()?,
        dataset_id: dataset,
        purpose: triad_network::PURPOSE_INPUT_CHECK.into(),
        contribution_ids: batch,
        query_id: Vec::new(),
        snapshot: 0,
        attempt,
    }))
}
