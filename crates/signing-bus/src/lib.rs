//! Carries `triad-signing` sessions over NATS JetStream (`docs/protocols/signing.md` §4), or
//! in one process's memory ([`SigningBus::memory`], the embedded network without NATS).
//!
//! - Subjects `<prefix>.<session hex>.to.<party>`: each party reads only its own subject of a
//!   session, so a session's messages reach exactly its participants.
//! - One JetStream stream (limits retention, a max age) holds them: a party that starts late
//!   or reconnects reads from the start of its subject what it missed.
//! - Every message is sealed to its recipient and authenticated as its sender's with HPKE auth
//!   mode (X25519, the parties' `PartyJoined.share_public_key`): DKG and refresh messages
//!   carry secrets, and nobody else on the bus can inject one.
//! - Publishes are retried a bounded number of times (with `Nats-Msg-Id`, so a retried
//!   publish is stored once); a session that receives nothing within the round timeout fails
//!   with the round and the parties it waited for.
//! - In memory, the same: one list per subject, read from the start, one copy per message
//!   id, the max age, the round timeout, the same sealing.

mod memory;
mod seal;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream};
use futures::StreamExt as _;
use tokio::time::Instant;
use triad_signing::{Message, PartyId, Rounds, Session, SessionId, SigningError};

pub use seal::{PartyKeys, PublicKey, SealError, generate_keypair};

/// Where and how sessions travel.
#[derive(Debug, Clone)]
pub struct BusConfig {
    /// The JetStream stream's name (unused in memory).
    pub stream: String,
    /// The subject prefix, e.g. `triad.sign` (the stream holds `<prefix>.>`).
    pub prefix: String,
    /// How long a session waits for the next message of a round.
    pub round_timeout: Duration,
    /// Attempts per publish before the session fails (a publish in memory does not fail).
    pub publish_attempts: u32,
    /// How long the stream keeps a message (a party offline longer misses the session).
    pub max_age: Duration,
}

impl BusConfig {
    /// Defaults under `prefix`: stream `<PREFIX>_SIGN` (dots as underscores), 10 s rounds,
    /// 5 publish attempts, messages kept 10 minutes.
    pub fn new(prefix: &str) -> BusConfig {
        BusConfig {
            stream: format!("{}_SIGN", prefix.replace('.', "_").to_uppercase()),
            prefix: prefix.to_owned(),
            round_timeout: Duration::from_secs(10),
            publish_attempts: 5,
            max_age: Duration::from_secs(600),
        }
    }

    /// The subject of `session`'s messages to `to`.
    pub fn subject(&self, session: SessionId, to: PartyId) -> String {
        format!("{}.{}.to.{}", self.prefix, session.to_hex(), to.index())
    }
}

/// Why a session over the bus did not finish.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// NATS or JetStream refused or is unreachable.
    #[error("bus unavailable: {0}")]
    Unavailable(String),
    /// A message could not be published after the configured attempts.
    #[error("publish to {subject} failed after {attempts} attempts: {reason}")]
    Publish {
        /// The subject.
        subject: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        reason: String,
    },
    /// Nothing arrived within the round timeout.
    #[error("timed out in round {round} waiting for {waiting_for:?}")]
    Timeout {
        /// The round waited for.
        round: u8,
        /// Who had not sent it.
        waiting_for: Vec<PartyId>,
    },
    /// The protocol failed (with the culprit where it names one).
    #[error(transparent)]
    Protocol(#[from] SigningError),
}

/// The bus sessions travel on: a JetStream context with the signing stream in place, or an
/// in-memory broker shared by the clones of one [`SigningBus::memory`].
#[derive(Clone)]
pub struct SigningBus {
    transport: Transport,
    config: BusConfig,
}

#[derive(Clone)]
enum Transport {
    JetStream(Box<jetstream::Context>),
    Memory(Arc<memory::Memory>),
}

/// A session's reader of its party's subject.
enum Inbox {
    JetStream(Box<pull::Stream>),
    Memory(memory::MemoryInbox),
}

impl Inbox {
    /// The next message's payload; `None` when the inbox ended, `Some(Err)` for an error the
    /// reader recovers from by itself.
    async fn next(&mut self) -> Option<Result<bytes::Bytes, String>> {
        match self {
            Inbox::JetStream(stream) => {
                stream.next().await.map(|delivered| delivered.map(|d| d.message.payload).map_err(|e| e.to_string()))
            }
            Inbox::Memory(inbox) => inbox.next().await.map(Ok),
        }
    }
}

impl std::fmt::Debug for SigningBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let transport = match self.transport {
            Transport::JetStream(_) => "jetstream",
            Transport::Memory(_) => "memory",
        };
        f.debug_struct("SigningBus")
            .field("transport", &transport)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SigningBus {
    /// Over `client`, creating the stream if it does not exist.
    pub async fn new(client: async_nats::Client, config: BusConfig) -> Result<SigningBus, BusError> {
        let js = jetstream::new(client);
        let wanted = stream::Config {
            name: config.stream.clone(),
            subjects: vec![format!("{}.>", config.prefix)],
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            discard: stream::DiscardPolicy::Old,
            max_age: config.max_age,
            ..Default::default()
        };
        js.get_or_create_stream(wanted).await.map_err(|e| BusError::Unavailable(e.to_string()))?;
        Ok(SigningBus { transport: Transport::JetStream(Box::new(js)), config })
    }

    /// In this process's memory, without NATS: a broker shared by the clones of the returned
    /// bus (every party of the process runs its sessions on a clone of one). The same
    /// semantics as JetStream's: a party reads its subject of a session from the start (a
    /// late party catches up), a message id is stored once, messages older than
    /// `config.max_age` are dropped, the round timeout applies, messages are sealed alike.
    pub fn memory(config: BusConfig) -> SigningBus {
        SigningBus { transport: Transport::Memory(Arc::new(memory::Memory::new(config.max_age))), config }
    }

    /// The configuration.
    pub fn config(&self) -> &BusConfig {
        &self.config
    }

    /// Runs `session` (just started; `first` are its round-1 messages) for the party of
    /// `keys` until it outputs, fails or times out.
    pub async fn run<P: Rounds>(
        &self,
        keys: &PartyKeys,
        mut session: Session<P>,
        first: Vec<Message>,
    ) -> Result<P::Output, BusError> {
        let (id, me) = (session.id(), session.me());
        let mut inbox = self.inbox(self.config.subject(id, me)).await?;
        self.publish_all(keys, &first).await?;

        let mut round = session.round();
        let mut deadline = Instant::now() + self.config.round_timeout;
        loop {
            let payload = match tokio::time::timeout_at(deadline, inbox.next()).await {
                Err(_) => return Err(BusError::Timeout { round, waiting_for: session.waiting_for() }),
                Ok(None) => return Err(BusError::Unavailable("the consumer's stream ended".into())),
                Ok(Some(Err(e))) => {
                    // Missed heartbeats and the like: the pull stream recovers by itself.
                    tracing::debug!(error = %e, "signing inbox");
                    continue;
                }
                Ok(Some(Ok(payload))) => payload,
            };
            let message = match keys.open(id, &payload) {
                Ok(message) => message,
                Err(e) => {
                    tracing::warn!(session = %id.to_hex(), error = %e, "dropped a message that does not open");
                    continue;
                }
            };
            match session.receive(message) {
                Ok(progress) => {
                    self.publish_all(keys, &progress.send).await?;
                    if let Some(output) = progress.output {
                        return Ok(output);
                    }
                }
                Err(e @ (SigningError::Misrouted(_) | SigningError::NotAParticipant(_))) => {
                    tracing::warn!(session = %id.to_hex(), error = %e, "dropped a message");
                }
                Err(e) => return Err(e.into()),
            }
            if session.round() != round {
                round = session.round();
                deadline = Instant::now() + self.config.round_timeout;
            }
        }
    }

    /// A reader of `subject` from its start.
    async fn inbox(&self, subject: String) -> Result<Inbox, BusError> {
        let js = match &self.transport {
            Transport::JetStream(js) => js,
            Transport::Memory(memory) => return Ok(Inbox::Memory(memory.inbox(subject))),
        };
        let stream = js.get_stream(&self.config.stream).await.map_err(|e| BusError::Unavailable(e.to_string()))?;
        let consumer = stream
            .create_consumer(pull::Config {
                filter_subject: subject,
                deliver_policy: jetstream::consumer::DeliverPolicy::All,
                ack_policy: jetstream::consumer::AckPolicy::None,
                inactive_threshold: self.config.round_timeout.max(Duration::from_secs(30)),
                ..Default::default()
            })
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        let messages = consumer
            .stream()
            .heartbeat(Duration::from_secs(1))
            .expires(Duration::from_secs(5))
            .messages()
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        Ok(Inbox::JetStream(Box::new(messages)))
    }

    async fn publish_all(&self, keys: &PartyKeys, messages: &[Message]) -> Result<(), BusError> {
        for message in messages {
            let subject = self.config.subject(message.session, message.to);
            let sealed = keys.seal(message).map_err(|e| BusError::Publish {
                subject: subject.clone(),
                attempts: 0,
                reason: e.to_string(),
            })?;
            let id = format!(
                "{}.{:?}.{}.{}.{}",
                message.session.to_hex(),
                message.protocol,
                message.round,
                message.from.index(),
                message.to.index()
            );
            self.publish(&subject, &id, sealed.into()).await?;
        }
        Ok(())
    }

    async fn publish(&self, subject: &str, id: &str, payload: bytes::Bytes) -> Result<(), BusError> {
        let js = match &self.transport {
            Transport::JetStream(js) => js,
            Transport::Memory(memory) => {
                memory.publish(subject, id, payload);
                return Ok(());
            }
        };
        let mut last = String::new();
        for attempt in 1..=self.config.publish_attempts {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(async_nats::header::NATS_MESSAGE_ID, id);
            let sent = match js.publish_with_headers(subject.to_owned(), headers, payload.clone()).await {
                Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match sent {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::debug!(subject, attempt, error = %e, "publish failed");
                    last = e;
                    // Bounded back-off between attempts (not a synchronisation: a retry).
                    tokio::time::sleep(Duration::from_millis(50 << attempt.min(5))).await;
                }
            }
        }
        Err(BusError::Publish { subject: subject.to_owned(), attempts: self.config.publish_attempts, reason: last })
    }
}
