//! The bus on NATS JetStream (server 2.9 or later).
//!
//! One stream per service (`<PREFIX>_<SERVICE>`, subjects `<prefix>.<service>.>`),
//! file storage, limits retention with no age or size limit (the store is the
//! record; the stream is the distribution log and the audit copy), and a
//! duplicate window inside which a republished event id is dropped. Features
//! 2.9 lacks are not used: consumers have one filter subject, no metadata.

use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use async_trait::async_trait;
use futures::{FutureExt, StreamExt};
use std::time::Duration;
use tracing::{debug, warn};

use crate::bus::{AckHandle, BusNames, ConsumerSpec, Delivery, EventBus, Subscription};
use crate::codec;
use crate::error::BusError;
use crate::model::RecordedEvent;

/// Un-awaited publish acks at most; the client allows 5,000.
const PUBLISH_WINDOW: usize = 1_000;

/// Settings of the JetStream bus.
#[derive(Clone, Debug)]
pub struct JetStreamConfig {
    /// Server URL, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// Subject and stream names.
    pub names: BusNames,
    /// Window in which JetStream drops a republished event id.
    pub duplicate_window: Duration,
    /// Stream replicas (1 on a single server, 3 on a cluster).
    pub replicas: usize,
}

impl Default for JetStreamConfig {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            names: BusNames::default(),
            duplicate_window: Duration::from_secs(600),
            replicas: 1,
        }
    }
}

/// Events on NATS JetStream.
#[derive(Clone)]
pub struct JetStreamBus {
    js: jetstream::Context,
    config: JetStreamConfig,
}

impl JetStreamBus {
    /// Connects and checks the server is 2.9 or later with JetStream on.
    pub async fn connect(config: JetStreamConfig) -> Result<Self, BusError> {
        let client = async_nats::ConnectOptions::new()
            .name("triad")
            .connect(&config.url)
            .await
            .map_err(|e| BusError::Unavailable(format!("cannot connect to NATS at {}: {e}", config.url)))?;
        let info = client.server_info();
        if !version_at_least(&info.version, (2, 9)) {
            return Err(BusError::Unsupported(format!("nats-server {} is older than 2.9", info.version)));
        }
        let js = jetstream::new(client);
        debug!(server = %info.version, "connected to NATS");
        Ok(Self { js, config })
    }

    /// The JetStream context, for tools (stream dumps).
    pub fn context(&self) -> &jetstream::Context {
        &self.js
    }

    /// The naming scheme.
    pub fn names(&self) -> &BusNames {
        &self.config.names
    }

    /// Deletes `service`'s stream (tests and resets).
    pub async fn delete_stream(&self, service: &str) -> Result<(), BusError> {
        self.js
            .delete_stream(self.config.names.stream(service))
            .await
            .map(|_| ())
            .map_err(|e| BusError::Unavailable(e.to_string()))
    }
}

fn version_at_least(version: &str, (major, minor): (u64, u64)) -> bool {
    let mut parts = version.trim_start_matches('v').split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

#[async_trait]
impl EventBus for JetStreamBus {
    async fn ensure_stream(&self, service: &str) -> Result<(), BusError> {
        let names = &self.config.names;
        let wanted = stream::Config {
            name: names.stream(service),
            subjects: vec![names.service_subjects(service)],
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            discard: stream::DiscardPolicy::Old,
            duplicate_window: self.config.duplicate_window,
            num_replicas: self.config.replicas,
            ..Default::default()
        };
        // get_or_create does not compare configs: check what matters ourselves.
        match self.js.get_stream(&wanted.name).await {
            Ok(mut s) => {
                let have = &s.info().await.map_err(|e| BusError::Unavailable(e.to_string()))?.config;
                if have.subjects != wanted.subjects || have.duplicate_window != wanted.duplicate_window {
                    warn!(stream = %wanted.name, "stream config differs; updating");
                    self.js.update_stream(wanted).await.map_err(|e| BusError::Unavailable(e.to_string()))?;
                }
                Ok(())
            }
            Err(_) => self.js.create_stream(wanted).await.map(|_| ()).map_err(|e| BusError::Unavailable(e.to_string())),
        }
    }

    async fn publish(&self, events: &[RecordedEvent]) -> Result<(), BusError> {
        for chunk in events.chunks(PUBLISH_WINDOW) {
            // Pipelined: send the whole chunk, then await the acks in order.
            let mut acks = Vec::with_capacity(chunk.len());
            for e in chunk {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert(async_nats::header::NATS_MESSAGE_ID, e.data.id.to_string().as_str());
                let sent =
                    self.js.publish_with_headers(self.config.names.subject(e), headers, codec::encode(e).into()).await;
                match sent {
                    Ok(ack) => acks.push((e.position, ack)),
                    Err(err) => {
                        // Wait for the ones already sent, then report this one.
                        for (p, ack) in acks {
                            ack.await
                                .map_err(|err| BusError::PublishFailed { position: p, reason: err.to_string() })?;
                        }
                        return Err(BusError::PublishFailed { position: e.position, reason: err.to_string() });
                    }
                }
            }
            for (p, ack) in acks {
                ack.await.map_err(|err| BusError::PublishFailed { position: p, reason: err.to_string() })?;
            }
        }
        Ok(())
    }

    async fn subscribe(&self, spec: &ConsumerSpec) -> Result<Box<dyn Subscription>, BusError> {
        spec.validate()?;
        let names = &self.config.names;
        let stream = self
            .js
            .get_stream(names.stream(&spec.source))
            .await
            .map_err(|e| BusError::Unavailable(format!("stream of {}: {e}", spec.source)))?;
        let config = pull::Config {
            durable_name: Some(spec.durable.clone()),
            filter_subject: names.filter(spec),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: spec.ack_wait,
            max_deliver: i64::from(spec.max_deliver),
            max_ack_pending: i64::from(spec.max_ack_pending),
            ..Default::default()
        };
        let consumer = stream
            .get_or_create_consumer(&spec.durable, config)
            .await
            .map_err(|e| BusError::Unavailable(format!("consumer {}: {e}", spec.durable)))?;
        let mut sub =
            JetStreamSubscription { consumer, messages: None, batch: spec.max_ack_pending.clamp(1, 500) as usize };
        sub.open().await?;
        Ok(Box::new(sub))
    }
}

struct JetStreamSubscription {
    consumer: jetstream::consumer::Consumer<pull::Config>,
    messages: Option<pull::Stream>,
    batch: usize,
}

impl JetStreamSubscription {
    async fn open(&mut self) -> Result<(), BusError> {
        let messages = self
            .consumer
            .stream()
            .max_messages_per_batch(self.batch)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        self.messages = Some(messages);
        Ok(())
    }

    fn to_delivery(msg: jetstream::Message) -> Result<Delivery, BusError> {
        let attempt = msg.info().map(|i| u64::try_from(i.delivered).unwrap_or(1)).unwrap_or(1);
        let event = codec::decode(&msg.payload)
            .map_err(|reason| BusError::Decode { subject: msg.subject.to_string(), reason })?;
        Ok(Delivery::new(event, attempt, Box::new(NatsAck(msg))))
    }
}

#[async_trait]
impl Subscription for JetStreamSubscription {
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        if self.messages.is_none() {
            self.open().await?;
        }
        let Some(messages) = self.messages.as_mut() else {
            return Ok(Vec::new());
        };
        let first = match tokio::time::timeout(wait, messages.next()).await {
            Err(_) => return Ok(Vec::new()),
            Ok(None) => {
                self.messages = None;
                return Ok(Vec::new());
            }
            Ok(Some(m)) => m,
        };
        let mut out = Vec::new();
        let mut item = Some(first);
        while let Some(m) = item.take() {
            match m {
                Ok(msg) => match Self::to_delivery(msg) {
                    Ok(d) => out.push(d),
                    Err(e) => warn!(error = %e, "dropping undecodable message"),
                },
                Err(e) => {
                    // A missed heartbeat or a closed pull is a reconnect signal.
                    warn!(error = %e, "pull stream interrupted; reopening");
                    self.messages = None;
                    break;
                }
            }
            if out.len() >= max {
                break;
            }
            if let Some(messages) = self.messages.as_mut() {
                item = messages.next().now_or_never().flatten();
            }
        }
        Ok(out)
    }
}

struct NatsAck(jetstream::Message);

#[async_trait]
impl AckHandle for NatsAck {
    async fn ack(self: Box<Self>) -> Result<(), BusError> {
        self.0.ack().await.map_err(|e| BusError::Unavailable(e.to_string()))
    }

    async fn nak(self: Box<Self>, delay: Duration) -> Result<(), BusError> {
        self.0.ack_with(AckKind::Nak(Some(delay))).await.map_err(|e| BusError::Unavailable(e.to_string()))
    }

    async fn term(self: Box<Self>) -> Result<(), BusError> {
        self.0.ack_with(AckKind::Term).await.map_err(|e| BusError::Unavailable(e.to_string()))
    }
}
