//! The in-process transport ([`crate::SigningBus::memory`]): JetStream's semantics as the bus
//! uses them, in one process's memory.
//!
//! - A publish appends the sealed bytes to its subject's list, once per message id (the
//!   `Nats-Msg-Id` string; a retried or repeated publish is stored once while the first copy
//!   is kept).
//! - An inbox reads its subject from the start of what is kept (a party that starts late
//!   catches up), then waits for new messages: every publish bumps a `watch` generation, and
//!   an inbox marks the generation seen before it looks, so no publish is missed.
//! - Messages older than the max age are dropped on the next publish (and never delivered),
//!   so memory stays bounded by what the last `max_age` published. A max age of zero is no
//!   limit, as in JetStream.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;

/// The broker shared by every clone of one [`crate::SigningBus`].
pub(crate) struct Memory {
    /// `None`: kept for ever (a zero max age, as JetStream reads it).
    max_age: Option<Duration>,
    state: Mutex<State>,
    /// Bumped by every publish that stores a message.
    generation: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    /// Sequence number of the next stored message (global, increasing).
    next_seq: u64,
    /// Each subject's kept messages, in sequence order.
    subjects: HashMap<String, VecDeque<Stored>>,
    /// The ids of the kept messages (deduplication).
    ids: HashSet<String>,
    /// Every kept message in sequence (so age) order: when it was stored, its subject, its id.
    order: VecDeque<(Instant, String, String)>,
}

struct Stored {
    seq: u64,
    at: Instant,
    payload: Bytes,
}

impl Memory {
    pub(crate) fn new(max_age: Duration) -> Memory {
        Memory {
            max_age: (!max_age.is_zero()).then_some(max_age),
            state: Mutex::new(State::default()),
            generation: watch::Sender::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // No code panics while holding the lock; a poisoned lock's state is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores `payload` on `subject` unless a kept message has `id`; `true` if stored.
    pub(crate) fn publish(&self, subject: &str, id: &str, payload: Bytes) -> bool {
        self.publish_at(subject, id, payload, Instant::now())
    }

    fn publish_at(&self, subject: &str, id: &str, payload: Bytes, now: Instant) -> bool {
        {
            let mut state = self.state();
            state.expire(now, self.max_age);
            if !state.ids.insert(id.to_owned()) {
                return false;
            }
            let seq = state.next_seq;
            state.next_seq += 1;
            state.order.push_back((now, subject.to_owned(), id.to_owned()));
            state.subjects.entry(subject.to_owned()).or_default().push_back(Stored { seq, at: now, payload });
        }
        self.generation.send_modify(|generation| *generation = generation.wrapping_add(1));
        true
    }

    /// An inbox reading `subject` from the start of what is kept.
    pub(crate) fn inbox(self: &std::sync::Arc<Self>, subject: String) -> MemoryInbox {
        MemoryInbox {
            generation: self.generation.subscribe(),
            memory: self.clone(),
            subject,
            next_seq: 0,
            pending: VecDeque::new(),
        }
    }

    /// The kept, unexpired messages of `subject` from sequence `from` on, and the sequence
    /// after the last of them.
    fn read(&self, subject: &str, from: u64, now: Instant) -> (VecDeque<Bytes>, u64) {
        let state = self.state();
        let Some(messages) = state.subjects.get(subject) else { return (VecDeque::new(), from) };
        let mut next = from;
        let fresh = messages
            .iter()
            .filter(|m| m.seq >= from)
            .inspect(|m| next = m.seq + 1)
            .filter(|m| !expired(m.at, now, self.max_age))
            .map(|m| m.payload.clone())
            .collect();
        (fresh, next)
    }

    /// How many messages are kept (all subjects).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.state().order.len()
    }
}

impl State {
    /// Drops the messages stored `max_age` or longer before `now`.
    fn expire(&mut self, now: Instant, max_age: Option<Duration>) {
        while let Some((at, _, _)) = self.order.front() {
            if !expired(*at, now, max_age) {
                break;
            }
            let Some((_, subject, id)) = self.order.pop_front() else { break };
            self.ids.remove(&id);
            // Per-subject lists are in the same (sequence) order, so the oldest message of the
            // subject is this one.
            if let Some(messages) = self.subjects.get_mut(&subject) {
                messages.pop_front();
                if messages.is_empty() {
                    self.subjects.remove(&subject);
                }
            }
        }
    }
}

/// Whether a message stored `at` is past `max_age` at `now`.
fn expired(at: Instant, now: Instant, max_age: Option<Duration>) -> bool {
    max_age.is_some_and(|max_age| now.saturating_duration_since(at) >= max_age)
}

/// One session's reader of its party's subject.
pub(crate) struct MemoryInbox {
    memory: std::sync::Arc<Memory>,
    subject: String,
    /// Sequence of the next message to read.
    next_seq: u64,
    /// Read, not yet delivered.
    pending: VecDeque<Bytes>,
    generation: watch::Receiver<u64>,
}

impl MemoryInbox {
    /// The next message of the subject, waiting for one if there is none; `None` only if the
    /// broker is gone (it cannot be while this inbox holds it). Cancel-safe: a message is
    /// taken off `pending` only when it is returned.
    pub(crate) async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(payload) = self.pending.pop_front() {
                return Some(payload);
            }
            // Mark the generation seen before looking: a publish after the look bumps it
            // again, so `changed` returns at once instead of missing it.
            self.generation.borrow_and_update();
            let (fresh, next) = self.memory.read(&self.subject, self.next_seq, Instant::now());
            self.next_seq = next;
            if fresh.is_empty() {
                self.generation.changed().await.ok()?;
            } else {
                self.pending = fresh;
            }
        }
    }

    /// The next message if one is there, without waiting.
    #[cfg(test)]
    pub(crate) fn try_next(&mut self) -> Option<Bytes> {
        if self.pending.is_empty() {
            let (fresh, next) = self.memory.read(&self.subject, self.next_seq, Instant::now());
            self.next_seq = next;
            self.pending = fresh;
        }
        self.pending.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn a_repeated_id_is_stored_once_and_an_inbox_reads_from_the_start() {
        let memory = Arc::new(Memory::new(Duration::from_secs(60)));
        assert!(memory.publish("a", "1", Bytes::from_static(b"one")));
        assert!(!memory.publish("a", "1", Bytes::from_static(b"again")), "same id");
        assert!(memory.publish("b", "2", Bytes::from_static(b"other subject")));
        assert!(memory.publish("a", "3", Bytes::from_static(b"three")));
        let mut inbox = memory.inbox("a".into());
        assert_eq!(inbox.next().await, Some(Bytes::from_static(b"one")));
        assert_eq!(inbox.next().await, Some(Bytes::from_static(b"three")));

        // Nothing more yet: a waiting reader gets the next publish.
        let waiting = tokio::spawn(async move { inbox.next().await });
        tokio::task::yield_now().await;
        assert!(memory.publish("a", "4", Bytes::from_static(b"four")));
        assert_eq!(waiting.await.expect("task"), Some(Bytes::from_static(b"four")));
    }

    #[tokio::test]
    async fn messages_past_the_max_age_are_dropped_on_publish_and_not_delivered() {
        let max_age = Duration::from_secs(60);
        let memory = Arc::new(Memory::new(max_age));
        let start = Instant::now();
        assert!(memory.publish_at("a", "1", Bytes::from_static(b"old"), start));
        assert!(memory.publish_at("b", "2", Bytes::from_static(b"old too"), start + Duration::from_secs(1)));
        assert_eq!(memory.len(), 2);

        // An expired message is not delivered even before a publish drops it.
        let (fresh, _) = memory.read("a", 0, start + max_age);
        assert!(fresh.is_empty());

        // A publish a max age after the first drops it (and frees its id), not the second.
        assert!(memory.publish_at("a", "3", Bytes::from_static(b"new"), start + max_age));
        assert_eq!(memory.len(), 2);
        assert!(memory.publish_at("a", "1", Bytes::from_static(b"id reused"), start + max_age));
        let (fresh, next) = memory.read("a", 0, start + max_age);
        assert_eq!(fresh, [Bytes::from_static(b"new"), Bytes::from_static(b"id reused")]);
        assert_eq!(next, 4);
        assert_eq!(memory.read("b", 0, start + max_age).0, [Bytes::from_static(b"old too")]);

        // Much later, everything goes (and empty subjects with it).
        assert!(memory.publish_at("c", "5", Bytes::from_static(b"last"), start + 3 * max_age));
        assert_eq!(memory.len(), 1);
        assert_eq!(memory.state().subjects.len(), 1);
        assert_eq!(memory.state().ids.len(), 1);
    }

    #[tokio::test]
    async fn a_zero_max_age_keeps_messages_as_jetstream_does() {
        let memory = Arc::new(Memory::new(Duration::ZERO));
        let start = Instant::now();
        assert!(memory.publish_at("a", "1", Bytes::from_static(b"kept"), start));
        let much_later = start + Duration::from_secs(365 * 24 * 3600);
        assert!(memory.publish_at("a", "2", Bytes::from_static(b"also"), much_later));
        assert!(!memory.publish_at("a", "1", Bytes::from_static(b"dup"), much_later));
        assert_eq!(memory.read("a", 0, much_later).0.len(), 2);
    }
}
