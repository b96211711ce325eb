//! Triad's event log.
//!
//! Every service keeps its state as events in its own store
//! ([`PgEventStore`] in production, [`SqliteEventStore`] embedded), publishes
//! them through the [`outbox::Relay`] to a bus ([`JetStreamBus`] or the
//! [`InProcessBus`]), and reacts to other services' events through
//! [`subscriber::Subscriber`], which commits a handler's effects together
//! with its checkpoint. The store, not the bus, decides what was appended.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bus;
pub mod codec;
pub mod config;
pub mod embedded;
pub mod error;
pub mod group;
pub mod jetstream;
pub mod model;
pub mod outbox;
pub mod postgres;
mod row;
mod sql;
pub mod sqlite;
pub mod store;
pub mod subscriber;

pub use bus::{BusNames, ConsumerSpec, Delivery, EventBus, Subscription};
pub use config::{BackendKind, EventLogConfig};
pub use embedded::InProcessBus;
pub use error::{BusError, StoreError};
pub use group::GroupCommit;
pub use jetstream::{JetStreamBus, JetStreamConfig};
pub use model::{Append, Appended, EventData, ExpectedVersion, RecordedEvent};
pub use outbox::Relay;
pub use postgres::PgEventStore;
pub use sqlite::SqliteEventStore;
pub use store::{Checkpoint, EventStore, Handled};
pub use subscriber::{Handler, HandlerError, Subscriber};

#[cfg(test)]
mod tests;
