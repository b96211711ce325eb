//! The event log's own types. They know nothing of Triad's domain events: a
//! payload is opaque bytes with a type name and a schema version.

use bytes::Bytes;
use uuid::Uuid;

use crate::error::StoreError;

/// An event to append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventData {
    /// Unique id; the bus de-duplicates on it (`Nats-Msg-Id`).
    pub id: Uuid,
    /// The payload's type name, e.g. `ContributionSubmitted`.
    pub event_type: String,
    /// Version of the payload's schema.
    pub schema_version: u32,
    /// The event or command that caused this one.
    pub causation_id: Option<Uuid>,
    /// Groups the events of one flow.
    pub correlation_id: Option<Uuid>,
    /// When it happened, microseconds since the Unix epoch.
    pub occurred_at: i64,
    /// The encoded payload.
    pub payload: Bytes,
}

impl EventData {
    /// A new event with a fresh time-ordered id, stamped now, schema version 1.
    pub fn new(event_type: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Self {
            id: Uuid::now_v7(),
            event_type: event_type.into(),
            schema_version: 1,
            causation_id: None,
            correlation_id: None,
            occurred_at: now_micros(),
            payload: payload.into(),
        }
    }

    /// Records what caused this event.
    pub fn caused_by(mut self, causation: Uuid) -> Self {
        self.causation_id = Some(causation);
        self
    }

    /// Records the flow this event belongs to.
    pub fn correlated_with(mut self, correlation: Uuid) -> Self {
        self.correlation_id = Some(correlation);
        self
    }
}

/// An event as the store recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedEvent {
    /// The service whose store recorded it.
    pub service: String,
    /// The aggregate stream, `<category>-<id>`.
    pub stream: String,
    /// 1-based version inside the stream.
    pub version: u64,
    /// 1-based, gapless position in the service's store, in commit order.
    pub position: u64,
    /// What was appended.
    pub data: EventData,
}

impl RecordedEvent {
    /// The stream's category: the part of its name before the first `-`.
    pub fn category(&self) -> &str {
        stream_category(&self.stream)
    }
}

/// What an append expects the stream's current version to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must be at exactly this version (0 = does not exist).
    Exact(u64),
}

impl ExpectedVersion {
    /// The version a stream must be at, if the expectation pins one.
    pub fn pinned(self) -> Option<u64> {
        match self {
            Self::Any => None,
            Self::NoStream => Some(0),
            Self::Exact(v) => Some(v),
        }
    }
}

/// Events to append to one stream, under an expectation.
#[derive(Clone, Debug)]
pub struct Append {
    /// The stream, `<category>-<id>`; the category names the bus subject.
    pub stream: String,
    /// The optimistic concurrency check.
    pub expected: ExpectedVersion,
    /// The events, in order.
    pub events: Vec<EventData>,
    /// Keys claimed with the append, each for good: the append fails ([`StoreError::Claimed`])
    /// if any of them was claimed before. A claim is a uniqueness guard without an event (no
    /// stream, no position, nothing published): the coordinator's one contribution per `uid`
    /// and dataset.
    pub claims: Vec<String>,
}

impl Append {
    /// Appends `events` to `stream` if it is at `expected`.
    pub fn new(stream: impl Into<String>, expected: ExpectedVersion, events: Vec<EventData>) -> Self {
        Self { stream: stream.into(), expected, events, claims: Vec::new() }
    }

    /// The same append, also claiming `key` (see [`Append::claims`]).
    #[must_use]
    pub fn claiming(mut self, key: impl Into<String>) -> Self {
        self.claims.push(key.into());
        self
    }
}

/// Where one append landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// The stream's version after the append.
    pub version: u64,
    /// Position of the append's first event.
    pub first_position: u64,
    /// Position of the append's last event.
    pub last_position: u64,
}

/// The stream category: the part before the first `-`.
pub fn stream_category(stream: &str) -> &str {
    stream.split_once('-').map_or(stream, |(c, _)| c)
}

/// Checks a stream name: `<category>-<id>`, the category a bus subject token
/// (`[a-z0-9_]+`), the id non-empty and free of whitespace and control characters.
pub fn validate_stream(stream: &str) -> Result<(), StoreError> {
    let bad = |why: &str| StoreError::InvalidStream { stream: stream.to_owned(), reason: why.to_owned() };
    let Some((category, id)) = stream.split_once('-') else {
        return Err(bad("expected <category>-<id>"));
    };
    if category.is_empty() || !category.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        return Err(bad("the category must match [a-z0-9_]+"));
    }
    if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("the id must be non-empty, without whitespace"));
    }
    if stream.len() > 200 {
        return Err(bad("longer than 200 bytes"));
    }
    Ok(())
}

/// Checks a service or consumer name: a bus subject token, `[a-z0-9_]+`.
pub fn validate_token(kind: &'static str, name: &str) -> Result<(), StoreError> {
    if name.is_empty()
        || name.len() > 64
        || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(StoreError::InvalidName { kind, name: name.to_owned() });
    }
    Ok(())
}

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Checks a batch before it touches a database: at least one append, each
/// with events and a valid stream name. A stream may appear several times:
/// its appends apply in order, each checked against the version the previous
/// one left.
pub fn validate_batch(batch: &[Append]) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Err(StoreError::InvalidAppend("a batch needs at least one append".into()));
    }
    for a in batch {
        validate_stream(&a.stream)?;
        if a.events.is_empty() {
            return Err(StoreError::InvalidAppend(format!("no events for stream {}", a.stream)));
        }
        if let Some(key) = a.claims.iter().find(|k| !valid_claim(k)) {
            return Err(StoreError::InvalidAppend(format!(
                "claim {key:?} must be 1 to 200 bytes without whitespace or control characters"
            )));
        }
        if let Some(e) = a.events.iter().find(|e| !valid_event_type(&e.event_type)) {
            return Err(StoreError::InvalidAppend(format!(
                "event type {:?} must match [A-Za-z0-9_]{{1,64}}",
                e.event_type
            )));
        }
    }
    Ok(())
}

fn valid_claim(key: &str) -> bool {
    !key.is_empty() && key.len() <= 200 && !key.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Every key a batch claims, sorted (claims are taken in key order, as streams are locked in
/// name order, so that concurrent appends cannot deadlock), or the first key claimed twice.
pub(crate) fn batch_claims(batch: &[Append]) -> Result<Vec<&str>, StoreError> {
    let mut keys: Vec<&str> = batch.iter().flat_map(|a| a.claims.iter().map(String::as_str)).collect();
    keys.sort_unstable();
    if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
        return Err(StoreError::Claimed { key: w[0].to_owned() });
    }
    Ok(keys)
}

fn valid_event_type(t: &str) -> bool {
    !t.is_empty() && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `ContributionSubmitted` -> `contribution_submitted`, the subject token.
pub fn snake_case(event_type: &str) -> String {
    let mut out = String::with_capacity(event_type.len() + 4);
    for (i, c) in event_type.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
