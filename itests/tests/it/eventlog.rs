//! The event log conformance suite: every test runs against PostgreSQL +
//! NATS JetStream and against the embedded backend (SQLite + in-process bus).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::FutureExt;
use triad_eventlog::bus::next_batch_lingering;
use triad_eventlog::{
    Append, BusError, Checkpoint, ConsumerSpec, Delivery, EventBus, EventData, EventStore, ExpectedVersion,
    GroupCommit, Handled, Handler, HandlerError, RecordedEvent, Relay, StoreError, Subscriber, Subscription, codec,
};
use triad_itests::{Backend, Harness};

/// Runs a conformance test against both backends.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn distributed() {
                super::$name(triad_itests::Backend::Distributed).await.expect("test failed");
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$name(triad_itests::Backend::Embedded).await.expect("test failed");
            }
        }
    )*};
}

conformance!(
    concurrent_appends_to_one_stream_let_exactly_one_win_per_version,
    a_multi_stream_append_is_all_or_nothing,
    ten_thousand_events_are_delivered_in_order_without_loss_or_duplication,
    a_publisher_killed_between_commit_and_publish_loses_nothing,
    an_event_is_redelivered_after_a_handler_crash_and_handled_once,
    replayed_state_equals_live_state,
    a_checkpoint_makes_a_second_handling_a_no_op,
    group_commit_gives_each_caller_its_own_outcome,
    a_key_is_claimed_once_and_a_claim_writes_no_event,
    a_handler_that_checkpoints_itself_is_acked_without_a_checkpoint,
    a_handler_that_loses_a_version_race_decides_again_at_once,
    a_lingering_batch_takes_what_arrives_after_its_first_delivery,
);

fn deposit(amount: u64) -> EventData {
    EventData::new("Deposited", amount.to_le_bytes().to_vec())
}

fn amount(e: &RecordedEvent) -> u64 {
    e.data.payload.get(..8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes)
}

/// Appends 1 event per source event to the sink stream `seen-all`, carrying
/// the source envelope: the sink's contents are exactly the committed
/// handlings, in order.
struct Recorder {
    fail_first_attempt_at: Option<u64>,
    failures: AtomicU32,
}

impl Recorder {
    fn new() -> Self {
        Self { fail_first_attempt_at: None, failures: AtomicU32::new(0) }
    }
}

#[async_trait]
impl Handler for Recorder {
    async fn handle(&self, event: &RecordedEvent) -> Result<Vec<Append>, HandlerError> {
        if Some(event.position) == self.fail_first_attempt_at && self.failures.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(HandlerError::Transient("injected crash".into()));
        }
        let seen = EventData::new("Seen", codec::encode(event)).caused_by(event.data.id);
        Ok(vec![Append::new("seen-all", ExpectedVersion::Any, vec![seen])])
    }
}

/// Source positions the sink recorded, in order.
async fn seen_positions(sink: &dyn EventStore) -> anyhow::Result<Vec<u64>> {
    sink.load("seen-all", 0)
        .await?
        .iter()
        .map(|e| codec::decode(&e.data.payload).map(|src| src.position))
        .collect::<Result<_, _>>()
        .map_err(anyhow::Error::msg)
}

/// Steps `subscriber` until the sink holds `n` handlings or `timeout` passes.
async fn drain(
    subscriber: &mut Subscriber,
    handler: &dyn Handler,
    sink: &dyn EventStore,
    n: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<u64>> {
    let deadline = Instant::now() + timeout;
    loop {
        let seen = seen_positions(sink).await?;
        if seen.len() >= n || Instant::now() >= deadline {
            return Ok(seen);
        }
        subscriber.step(handler, Duration::from_millis(500)).await?;
    }
}

async fn concurrent_appends_to_one_stream_let_exactly_one_win_per_version(b: Backend) -> anyhow::Result<()> {
    let h = Harness::new(b).await?;
    let store = h.store("writer").await?;
    for version in 0..5u64 {
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .append(vec![Append::new("account-1", ExpectedVersion::Exact(version), vec![deposit(i)])])
                        .await
                })
            })
            .collect();
        let mut wins = 0;
        for t in tasks {
            match t.await? {
                Ok(r) => {
                    wins += 1;
                    assert_eq!(r[0].version, version + 1);
                }
                Err(StoreError::Conflict { stream, expected, actual }) => {
                    assert_eq!((stream.as_str(), expected, actual), ("account-1", version, version + 1));
                }
                Err(e) => anyhow::bail!("unexpected error: {e}"),
            }
        }
        assert_eq!(wins, 1, "exactly one append wins version {}", version + 1);
    }
    // `Any` appends never conflict, not even those that create one stream concurrently, in
    // batches that also create or update other streams.
    let tasks: Vec<_> = (0..12u64)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .append(vec![
                        Append::new("account-any", ExpectedVersion::Any, vec![deposit(i)]),
                        Append::new(format!("account-own{i}"), ExpectedVersion::NoStream, vec![deposit(i)]),
                    ])
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    let any = store.load("account-any", 0).await?;
    assert_eq!(any.iter().map(|e| e.version).collect::<Vec<_>>(), (1..=12).collect::<Vec<u64>>());
    let events = store.load("account-1", 0).await?;
    assert_eq!(events.iter().map(|e| e.version).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
    assert_eq!(store.head().await?, 5 + 24, "losers leave no gaps in positions");
    let err = store.append(vec![Append::new("account-1", ExpectedVersion::NoStream, vec![deposit(1)])]).await;
    assert!(matches!(err, Err(StoreError::Conflict { expected: 0, actual: 5, .. })), "{err:?}");
    Ok(())
}

async fn group_commit_gives_each_caller_its_own_outcome(b: Backend) -> anyhow::Result<()> {
    // 40 callers at once, each claiming one of 10 `uid` streams (NoStream) together with its
    // own stream: whatever groups the writer forms, exactly one caller per uid wins, a loser's
    // conflict costs the winners nothing, and every winner's results are its own appends'.
    let h = Harness::new(b).await?;
    let store = h.store("front").await?;
    let group = GroupCommit::new(store.clone(), 64);
    let tasks: Vec<_> = (0..40u64)
        .map(|i| {
            let group = group.clone();
            tokio::spawn(async move {
                let r = group
                    .append(vec![
                        Append::new(format!("uid-{}", i % 10), ExpectedVersion::NoStream, vec![deposit(i)]),
                        Append::new(format!("claim-{i}"), ExpectedVersion::NoStream, vec![deposit(i), deposit(i)]),
                    ])
                    .await;
                (i, r)
            })
        })
        .collect();
    let mut winners = BTreeMap::new();
    for t in tasks {
        let (i, r) = t.await?;
        match r {
            Ok(appended) => {
                assert_eq!(appended.len(), 2);
                assert_eq!((appended[0].version, appended[1].version), (1, 2));
                assert_eq!(appended[1].last_position - appended[1].first_position, 1);
                assert!(winners.insert(i % 10, (i, appended)).is_none(), "two winners for uid-{}", i % 10);
            }
            Err(StoreError::Conflict { stream, .. }) => assert_eq!(stream, format!("uid-{}", i % 10)),
            Err(e) => anyhow::bail!("unexpected error: {e}"),
        }
    }
    assert_eq!(winners.len(), 10, "one winner per uid");
    assert_eq!(store.head().await?, 30, "the losers left nothing behind");
    for (uid, (i, appended)) in &winners {
        let marker = store.load(&format!("uid-{uid}"), 0).await?;
        assert_eq!(marker.iter().map(amount).collect::<Vec<_>>(), vec![*i]);
        assert_eq!(marker[0].position, appended[0].first_position);
        let claim = store.load(&format!("claim-{i}"), 0).await?;
        assert_eq!(
            claim.iter().map(|e| (e.position, amount(e))).collect::<Vec<_>>(),
            vec![(appended[1].first_position, *i), (appended[1].last_position, *i)]
        );
    }
    Ok(())
}

async fn a_key_is_claimed_once_and_a_claim_writes_no_event(b: Backend) -> anyhow::Result<()> {
    // 40 callers at once, each appending to its own stream and claiming one of 10 keys (the
    // coordinator's uid guard): exactly one caller per key wins, whatever groups the writer
    // forms; a loser's append is not written; the claims take no positions.
    let h = Harness::new(b).await?;
    let store = h.store("front").await?;
    let group = GroupCommit::new(store.clone(), 64);
    let tasks: Vec<_> = (0..40u64)
        .map(|i| {
            let group = group.clone();
            tokio::spawn(async move {
                let append = Append::new(format!("entry-{i}"), ExpectedVersion::NoStream, vec![deposit(i)])
                    .claiming(format!("key-{}", i % 10));
                (i, group.append(vec![append]).await)
            })
        })
        .collect();
    let mut winners = BTreeMap::new();
    for t in tasks {
        let (i, r) = t.await?;
        match r {
            Ok(appended) => {
                assert_eq!(appended.len(), 1);
                assert!(winners.insert(i % 10, i).is_none(), "two winners for key-{}", i % 10);
            }
            Err(StoreError::Claimed { key }) => {
                assert_eq!(key, format!("key-{}", i % 10));
                assert!(store.load(&format!("entry-{i}"), 0).await?.is_empty(), "a loser's append was written");
            }
            Err(e) => anyhow::bail!("unexpected error: {e}"),
        }
    }
    assert_eq!(winners.len(), 10, "one winner per key");
    assert_eq!(store.head().await?, 10, "one event per winner, none for the claims");
    assert_eq!(store.read_all(0, 100).await?.len(), 10);

    // A batch that fails for another reason takes none of its claims.
    store.append(vec![Append::new("entry-x", ExpectedVersion::Any, vec![deposit(1)])]).await?;
    let failed = store
        .append(vec![
            Append::new("entry-y", ExpectedVersion::NoStream, vec![deposit(2)]).claiming("key-free"),
            Append::new("entry-x", ExpectedVersion::NoStream, vec![deposit(3)]),
        ])
        .await;
    assert!(matches!(failed, Err(StoreError::Conflict { ref stream, .. }) if stream == "entry-x"), "{failed:?}");
    store
        .append(vec![Append::new("entry-z", ExpectedVersion::NoStream, vec![deposit(4)]).claiming("key-free")])
        .await?;
    // One key twice in a batch, or a malformed key: refused before anything is written.
    let twice = store
        .append(vec![
            Append::new("entry-a", ExpectedVersion::Any, vec![deposit(5)]).claiming("key-twice"),
            Append::new("entry-b", ExpectedVersion::Any, vec![deposit(6)]).claiming("key-twice"),
        ])
        .await;
    assert!(matches!(twice, Err(StoreError::Claimed { ref key }) if key == "key-twice"), "{twice:?}");
    let bad =
        store.append(vec![Append::new("entry-c", ExpectedVersion::Any, vec![deposit(7)]).claiming("a key")]).await;
    assert!(matches!(bad, Err(StoreError::InvalidAppend(_))), "{bad:?}");
    store.append(vec![Append::new("entry-d", ExpectedVersion::Any, vec![deposit(8)]).claiming("key-twice")]).await?;
    assert_eq!(store.head().await?, 13);
    Ok(())
}

async fn a_multi_stream_append_is_all_or_nothing(b: Backend) -> anyhow::Result<()> {
    let h = Harness::new(b).await?;
    let store = h.store("writer").await?;
    store.append(vec![Append::new("account-b", ExpectedVersion::Any, vec![deposit(1)])]).await?;
    let err = store
        .append(vec![
            Append::new("account-a", ExpectedVersion::NoStream, vec![deposit(5)]),
            Append::new("account-b", ExpectedVersion::NoStream, vec![deposit(7)]),
        ])
        .await;
    assert!(matches!(err, Err(StoreError::Conflict { ref stream, .. }) if stream == "account-b"), "{err:?}");
    assert!(store.load("account-a", 0).await?.is_empty(), "the failed batch wrote nothing");
    assert_eq!(store.head().await?, 1);
    let dup = deposit(9);
    store.append(vec![Append::new("account-c", ExpectedVersion::Any, vec![dup.clone()])]).await?;
    let again = store.append(vec![Append::new("account-d", ExpectedVersion::Any, vec![dup])]).await;
    assert!(matches!(again, Err(StoreError::DuplicateEvent(_))), "{again:?}");
    // A stream named twice in a batch takes both appends in order.
    let both = store
        .append(vec![
            Append::new("account-e", ExpectedVersion::NoStream, vec![deposit(1)]),
            Append::new("account-f", ExpectedVersion::Any, vec![deposit(2)]),
            Append::new("account-e", ExpectedVersion::Exact(1), vec![deposit(3), deposit(4)]),
        ])
        .await?;
    assert_eq!(both.iter().map(|a| a.version).collect::<Vec<_>>(), vec![1, 1, 3]);
    assert_eq!(store.load("account-e", 0).await?.iter().map(amount).collect::<Vec<_>>(), vec![1, 3, 4]);
    let bad = store.append(vec![Append::new("no category", ExpectedVersion::Any, vec![deposit(1)])]).await;
    assert!(matches!(bad, Err(StoreError::InvalidStream { .. })), "{bad:?}");
    Ok(())
}

async fn ten_thousand_events_are_delivered_in_order_without_loss_or_duplication(b: Backend) -> anyhow::Result<()> {
    const N: u64 = 10_000;
    let h = Harness::new(b).await?;
    let source = h.store("source").await?;
    let sink = h.store("sink").await?;
    let bus = h.bus();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relay = tokio::spawn(Relay::new(source.clone(), bus.clone()).run(stopped.map(|_| ())));

    let mut subscriber = Subscriber::new(bus.as_ref(), ConsumerSpec::new("recorder", "source"), sink.clone()).await?;
    for chunk in 0..N / 100 {
        let events = (0..100).map(|i| deposit(chunk * 100 + i)).collect();
        source.append(vec![Append::new(format!("account-{}", chunk % 10), ExpectedVersion::Any, events)]).await?;
    }
    let handler = Recorder::new();
    let seen = drain(&mut subscriber, &handler, sink.as_ref(), N as usize, Duration::from_secs(120)).await?;
    assert_eq!(seen.len() as u64, N, "all events handled");
    assert!(seen.iter().copied().eq(1..=N), "in position order, each once");
    assert_eq!(source.published().await?, N);
    let _ = stop.send(());
    relay.await?;
    if let Some(n) = h.bus_message_count("source").await? {
        assert_eq!(n, N, "the bus stored each event once");
    }
    Ok(())
}

async fn a_publisher_killed_between_commit_and_publish_loses_nothing(b: Backend) -> anyhow::Result<()> {
    const N: u64 = 500;
    let h = Harness::new(b).await?;
    let source = h.store("source").await?;
    let sink = h.store("sink").await?;
    let bus = h.bus();
    for i in 0..N {
        source.append(vec![Append::new("account-1", ExpectedVersion::Any, vec![deposit(i)])]).await?;
    }
    // A relay publishes the first 100 of a batch of 300, then dies before it
    // can move the cursor.
    let crashed_bus = bus.clone();
    let mut crash = triad_eventlog::store::publisher(move |events: &[RecordedEvent]| {
        let bus = crashed_bus.clone();
        let part = events[..100].to_vec();
        async move {
            bus.publish(&part).await.ok();
            None
        }
        .boxed()
    });
    let progress = source.relay_batch(300, &mut crash).await?;
    assert_eq!(progress.map(|p| p.cursor), Some(0), "the cursor did not move");
    assert_eq!(source.published().await?, 0);

    // After the restart, a new relay publishes everything, 1..100 again.
    let restarted = h.reopen("source").await?;
    assert_eq!(Relay::new(restarted.clone(), bus.clone()).batch(128).publish_pending().await?, N as usize);
    assert_eq!(restarted.published().await?, N);

    let mut subscriber = Subscriber::new(bus.as_ref(), ConsumerSpec::new("recorder", "source"), sink.clone()).await?;
    let handler = Recorder::new();
    let seen = drain(&mut subscriber, &handler, sink.as_ref(), N as usize, Duration::from_secs(60)).await?;
    // Nothing more arrives: the next step finds no new handling.
    subscriber.step(&handler, Duration::from_millis(300)).await?;
    let seen_after = seen_positions(sink.as_ref()).await?;
    assert_eq!(seen, seen_after);
    assert!(seen.iter().copied().eq(1..=N), "each event handled exactly once, in order");
    if let Some(n) = h.bus_message_count("source").await? {
        assert_eq!(n, N, "the republished 100 were de-duplicated by event id");
    }
    Ok(())
}

async fn an_event_is_redelivered_after_a_handler_crash_and_handled_once(b: Backend) -> anyhow::Result<()> {
    const N: u64 = 20;
    let h = Harness::new(b).await?;
    let source = h.store("source").await?;
    let sink = h.store("sink").await?;
    let bus = h.bus();
    for i in 0..N {
        source.append(vec![Append::new("account-1", ExpectedVersion::Any, vec![deposit(i)])]).await?;
    }
    Relay::new(source.clone(), bus.clone()).publish_pending().await?;
    let mut spec = ConsumerSpec::new("recorder", "source");
    spec.ack_wait = Duration::from_secs(1);

    // 1. A crash after the handler's commit, before the ack: the first
    //    delivery's effects are committed, the ack is lost with the process.
    {
        let mut sub = bus.subscribe(&spec).await?;
        let first = sub.next_batch(1, Duration::from_secs(10)).await?.into_iter().next().expect("a delivery");
        assert_eq!(first.event.position, 1);
        let effects = Recorder::new().handle(&first.event).await?;
        let done = sink
            .apply_once(&Checkpoint { consumer: "recorder".into(), source: "source".into(), position: 1 }, effects)
            .await?;
        assert!(matches!(done, Handled::Applied(_)));
        drop(first); // never acked
    }

    // 2. A handler that fails on its first attempt at position 7.
    let handler = Recorder { fail_first_attempt_at: Some(7), failures: AtomicU32::new(0) };
    let mut subscriber =
        Subscriber::new(bus.as_ref(), spec, sink.clone()).await?.retry_delay(Duration::from_millis(50));
    let seen = drain(&mut subscriber, &handler, sink.as_ref(), N as usize, Duration::from_secs(60)).await?;
    assert!(seen.iter().copied().eq(1..=N), "each event handled once, in order: {seen:?}");
    assert_eq!(handler.failures.load(Ordering::SeqCst), 2, "position 7 was tried twice");
    Ok(())
}

/// A read model: balance per account and number of deposits.
fn fold(events: impl IntoIterator<Item = RecordedEvent>) -> BTreeMap<String, (u64, u64)> {
    let mut state = BTreeMap::new();
    for e in events {
        let entry = state.entry(e.stream.clone()).or_insert((0, 0));
        entry.0 += amount(&e);
        entry.1 += 1;
    }
    state
}

async fn replayed_state_equals_live_state(b: Backend) -> anyhow::Result<()> {
    let h = Harness::new(b).await?;
    let source = h.store("source").await?;
    let sink = h.store("sink").await?;
    let bus = h.bus();
    let relay = Relay::new(source.clone(), bus.clone());
    let mut subscriber = Subscriber::new(bus.as_ref(), ConsumerSpec::new("live", "source"), sink.clone()).await?;
    let handler = Recorder::new();
    let mut total = 0;
    for round in 0..5u64 {
        for k in 0..7u64 {
            let events = (0..=k).map(|i| deposit(round * 100 + k * 10 + i)).collect::<Vec<_>>();
            total += events.len();
            source.append(vec![Append::new(format!("account-{k}"), ExpectedVersion::Any, events)]).await?;
        }
        relay.publish_pending().await?;
        drain(&mut subscriber, &handler, sink.as_ref(), total, Duration::from_secs(60)).await?;
    }
    // Live: what the subscriber committed.
    let live = fold(sink.load("seen-all", 0).await?.iter().map(|e| codec::decode(&e.data.payload).expect("envelope")));
    // Replay 1: the store from position 0.
    let replayed = fold(source.read_all(0, usize::MAX).await?);
    assert_eq!(live, replayed);
    // Replay 2: a new durable consumer from the start of the bus stream.
    let replay_sink = h.store("replay").await?;
    let mut replayer =
        Subscriber::new(bus.as_ref(), ConsumerSpec::new("replayer", "source"), replay_sink.clone()).await?;
    drain(&mut replayer, &handler, replay_sink.as_ref(), total, Duration::from_secs(60)).await?;
    let from_bus =
        fold(replay_sink.load("seen-all", 0).await?.iter().map(|e| codec::decode(&e.data.payload).expect("envelope")));
    assert_eq!(live, from_bus);
    assert_eq!(live.values().map(|v| v.1).sum::<u64>() as usize, total);
    Ok(())
}

async fn a_checkpoint_makes_a_second_handling_a_no_op(b: Backend) -> anyhow::Result<()> {
    let h = Harness::new(b).await?;
    let sink = h.store("sink").await?;
    let cp = Checkpoint { consumer: "c".into(), source: "src".into(), position: 42 };
    let effects = || vec![Append::new("seen-all", ExpectedVersion::Any, vec![deposit(1)])];
    assert!(matches!(sink.apply_once(&cp, effects()).await?, Handled::Applied(_)));
    assert_eq!(sink.apply_once(&cp, effects()).await?, Handled::AlreadyHandled);
    assert_eq!(sink.load("seen-all", 0).await?.len(), 1);
    assert_eq!(sink.last_handled("c", "src").await?, 42);
    // A failed effect leaves no checkpoint behind: the retry can apply.
    let cp2 = Checkpoint { position: 43, ..cp.clone() };
    let conflict = || vec![Append::new("seen-all", ExpectedVersion::Exact(99), vec![deposit(2)])];
    assert!(sink.apply_once(&cp2, conflict()).await.is_err());
    assert!(matches!(sink.apply_once(&cp2, effects()).await?, Handled::Applied(_)));

    // In a batch, handled items are skipped and the rest applied in order.
    let at = |position| Checkpoint { position, ..cp.clone() };
    let fresh = sink.apply_batch_once(vec![(at(42), effects()), (at(44), effects()), (at(45), effects())]).await?;
    assert_eq!(fresh, vec![false, true, true]);
    assert_eq!(sink.load("seen-all", 0).await?.len(), 4);
    // One item's conflict fails the whole batch, checkpoints included.
    assert!(sink.apply_batch_once(vec![(at(46), effects()), (at(47), conflict())]).await.is_err());
    assert_eq!(sink.last_handled("c", "src").await?, 45);
    assert_eq!(sink.load("seen-all", 0).await?.len(), 4);
    Ok(())
}

/// Keeps its own position, as the party's fold does; decides an effect (the [`Recorder`]'s)
/// only at `effect_at`.
struct SelfCheckpointing {
    seen: std::sync::Mutex<Vec<u64>>,
    effect_at: u64,
}

#[async_trait]
impl Handler for SelfCheckpointing {
    async fn handle(&self, event: &RecordedEvent) -> Result<Vec<Append>, HandlerError> {
        {
            let mut seen = self.seen.lock().map_err(|_| HandlerError::Permanent("poisoned".into()))?;
            if seen.last().is_some_and(|&p| p >= event.position) {
                return Ok(Vec::new());
            }
            seen.push(event.position);
        }
        if event.position == self.effect_at {
            return Recorder::new().handle(event).await;
        }
        Ok(Vec::new())
    }

    fn checkpoints_itself(&self) -> bool {
        true
    }
}

async fn a_handler_that_checkpoints_itself_is_acked_without_a_checkpoint(b: Backend) -> anyhow::Result<()> {
    const N: u64 = 30;
    let h = Harness::new(b).await?;
    let source = h.store("source").await?;
    let sink = h.store("sink").await?;
    let bus = h.bus();
    let mut spec = ConsumerSpec::new("self", "source");
    spec.ack_wait = Duration::from_secs(1);
    let mut subscriber = Subscriber::new(bus.as_ref(), spec, sink.clone()).await?;
    let handler = SelfCheckpointing { seen: std::sync::Mutex::new(Vec::new()), effect_at: N + 5 };

    // Batches without effects: handled in order, acked, and no checkpoint in the store.
    for i in 0..N {
        source.append(vec![Append::new("account-1", ExpectedVersion::Any, vec![deposit(i)])]).await?;
    }
    Relay::new(source.clone(), bus.clone()).publish_pending().await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while handler.seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.len() < N as usize && Instant::now() < deadline
    {
        subscriber.step(&handler, Duration::from_millis(500)).await?;
    }
    assert!(handler.seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.iter().copied().eq(1..=N));
    assert_eq!(sink.last_handled("self", "source").await?, 0, "no checkpoint was written");
    // Acked: nothing comes back after the ack window.
    let again = subscriber.step(&handler, Duration::from_secs(3)).await?;
    assert_eq!(again.seen(), 0, "an acked delivery came back: {again:?}");

    // A batch with an effect after all: it commits with its checkpoints, once.
    for i in 0..10 {
        source.append(vec![Append::new("account-1", ExpectedVersion::Any, vec![deposit(100 + i)])]).await?;
    }
    Relay::new(source.clone(), bus.clone()).publish_pending().await?;
    let seen = drain(&mut subscriber, &handler, sink.as_ref(), 1, Duration::from_secs(60)).await?;
    assert_eq!(seen, vec![N + 5]);
    assert!(sink.last_handled("self", "source").await? >= N + 5);
    Ok(())
}

/// Appends to `tally-1` under the version it reads; its first decision loses a race, a
/// concurrent writer (played by the handler itself) appending in between.
struct Racing {
    sink: std::sync::Arc<dyn EventStore>,
    calls: AtomicU32,
}

#[async_trait]
impl Handler for Racing {
    async fn handle(&self, event: &RecordedEvent) -> Result<Vec<Append>, HandlerError> {
        let version =
            self.sink.load("tally-1", 0).await.map_err(|e| HandlerError::Transient(e.to_string()))?.len() as u64;
        let expected = if version == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(version) };
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            self.sink
                .append(vec![Append::new("tally-1", expected, vec![deposit(0)])])
                .await
                .map_err(|e| HandlerError::Transient(e.to_string()))?;
        }
        Ok(vec![Append::new("tally-1", expected, vec![deposit(amount(event))])])
    }
}

async fn a_handler_that_loses_a_version_race_decides_again_at_once(b: Backend) -> anyhow::Result<()> {
    let h = Harness::new(b).await?;
    let source = h.store("source").await?;
    let sink = h.store("sink").await?;
    let bus = h.bus();
    source.append(vec![Append::new("account-1", ExpectedVersion::Any, vec![deposit(7)])]).await?;
    Relay::new(source.clone(), bus.clone()).publish_pending().await?;
    // A redelivery would come only after a minute: the step must not need one.
    let mut subscriber = Subscriber::new(bus.as_ref(), ConsumerSpec::new("racing", "source"), sink.clone())
        .await?
        .retry_delay(Duration::from_secs(60));
    let handler = Racing { sink: sink.clone(), calls: AtomicU32::new(0) };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut step = subscriber.step(&handler, Duration::from_secs(5)).await?;
    while step.seen() == 0 && Instant::now() < deadline {
        step = subscriber.step(&handler, Duration::from_secs(5)).await?;
    }
    assert_eq!((step.applied, step.retried), (1, 0), "{step:?}");
    assert_eq!(handler.calls.load(Ordering::SeqCst), 2, "decided twice: once stale, once on the winner");
    let tally: Vec<u64> = sink.load("tally-1", 0).await?.iter().map(amount).collect();
    assert_eq!(tally, vec![0, 7]);
    assert_eq!(sink.last_handled("racing", "source").await?, 1);
    Ok(())
}

/// A subscription that has two more events published as soon as its first batch is taken:
/// they can join that batch only by lingering for them.
struct PublishesAfterFirst {
    inner: Box<dyn Subscription>,
    source: std::sync::Arc<dyn EventStore>,
    bus: std::sync::Arc<dyn EventBus>,
    published: bool,
}

#[async_trait]
impl Subscription for PublishesAfterFirst {
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        let batch = self.inner.next_batch(max, wait).await?;
        if !batch.is_empty() && !self.published {
            self.published = true;
            let failed = |e: String| BusError::Unavailable(e);
            for i in 0..2 {
                let append = Append::new("account-1", ExpectedVersion::Any, vec![deposit(10 + i)]);
                self.source.append(vec![append]).await.map_err(|e| failed(e.to_string()))?;
            }
            Relay::new(self.source.clone(), self.bus.clone())
                .publish_pending()
                .await
                .map_err(|e| failed(e.to_string()))?;
        }
        Ok(batch)
    }
}

async fn a_lingering_batch_takes_what_arrives_after_its_first_delivery(b: Backend) -> anyhow::Result<()> {
    let h = Harness::new(b).await?;
    let source = h.store("source").await?;
    let bus = h.bus();
    source.append(vec![Append::new("account-1", ExpectedVersion::Any, vec![deposit(1)])]).await?;
    Relay::new(source.clone(), bus.clone()).publish_pending().await?;
    let inner = bus.subscribe(&ConsumerSpec::new("lingering", "source")).await?;
    let mut sub = PublishesAfterFirst { inner, source: source.clone(), bus: bus.clone(), published: false };

    // The first delivery, then the two published after it: one batch (full at three).
    let wait = Duration::from_secs(30);
    let batch = next_batch_lingering(&mut sub, 3, wait, Duration::from_secs(30)).await?;
    let positions: Vec<u64> = batch.iter().map(|d| d.event.position).collect();
    assert_eq!(positions, vec![1, 2, 3], "the batch did not linger for the later deliveries");
    for d in batch {
        d.ack().await?;
    }

    // Not full when the linger ends: what came, in order.
    source.append(vec![Append::new("account-1", ExpectedVersion::Any, vec![deposit(4)])]).await?;
    Relay::new(source.clone(), bus.clone()).publish_pending().await?;
    let batch = next_batch_lingering(&mut sub, 3, wait, Duration::from_millis(200)).await?;
    let positions: Vec<u64> = batch.iter().map(|d| d.event.position).collect();
    assert_eq!(positions, vec![4]);
    for d in batch {
        d.ack().await?;
    }
    Ok(())
}
