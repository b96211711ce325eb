//! The `events` row, shared by both SQL backends.

use uuid::Uuid;

use crate::error::StoreError;
use crate::model::{EventData, RecordedEvent};
use crate::sql::to_u64;

/// A query over `events` with all columns, `$tail` appended.
macro_rules! select_events {
    ($tail:literal) => {
        concat!(
            "SELECT position, stream, version, event_id, event_type, schema_version, ",
            "causation_id, correlation_id, occurred_at, payload FROM events ",
            $tail
        )
    };
}
pub(crate) use select_events;

/// One row of `events`, as both backends store it.
#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    position: i64,
    stream: String,
    version: i64,
    event_id: Uuid,
    event_type: String,
    schema_version: i32,
    causation_id: Option<Uuid>,
    correlation_id: Option<Uuid>,
    occurred_at: i64,
    payload: Vec<u8>,
}

impl EventRow {
    /// The recorded event, stamped with the store's service.
    pub(crate) fn into_event(self, service: &str) -> Result<RecordedEvent, StoreError> {
        Ok(RecordedEvent {
            service: service.to_owned(),
            stream: self.stream,
            version: to_u64("events.version", self.version)?,
            position: to_u64("events.position", self.position)?,
            data: EventData {
                id: self.event_id,
                event_type: self.event_type,
                schema_version: u32::try_from(self.schema_version).map_err(|_| StoreError::Corrupt {
                    column: "events.schema_version",
                    value: self.schema_version.into(),
                })?,
                causation_id: self.causation_id,
                correlation_id: self.correlation_id,
                occurred_at: self.occurred_at,
                payload: self.payload.into(),
            },
        })
    }
}
