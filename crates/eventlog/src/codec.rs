//! The wire form of a recorded event: `triad.eventlog.v1.Envelope`.

use prost::Message;
use triad_proto::eventlog::v1::Envelope;
use uuid::Uuid;

use crate::model::{EventData, RecordedEvent};

/// Encodes an event for the bus or an audit dump.
pub fn to_envelope(e: &RecordedEvent) -> Envelope {
    let id = |u: Option<Uuid>| u.map_or_else(Vec::new, |u| u.as_bytes().to_vec());
    Envelope {
        event_id: e.data.id.as_bytes().to_vec(),
        schema_version: e.data.schema_version,
        causation_id: id(e.data.causation_id),
        correlation_id: id(e.data.correlation_id),
        occurred_at_unix_micros: e.data.occurred_at,
        service: e.service.clone(),
        stream: e.stream.clone(),
        stream_version: e.version,
        position: e.position,
        event_type: e.data.event_type.clone(),
        payload: e.data.payload.to_vec(),
    }
}

/// Encodes an event to bytes.
pub fn encode(e: &RecordedEvent) -> Vec<u8> {
    to_envelope(e).encode_to_vec()
}

/// Decodes an envelope's bytes.
pub fn decode(bytes: &[u8]) -> Result<RecordedEvent, String> {
    let env = Envelope::decode(bytes).map_err(|e| e.to_string())?;
    from_envelope(env)
}

/// Turns an envelope back into a recorded event, checking its ids.
pub fn from_envelope(env: Envelope) -> Result<RecordedEvent, String> {
    let uuid = |name: &str, b: &[u8]| -> Result<Option<Uuid>, String> {
        match b.len() {
            0 => Ok(None),
            16 => Ok(Uuid::from_slice(b).ok()),
            n => Err(format!("{name} has {n} bytes, expected 16")),
        }
    };
    let id = uuid("event_id", &env.event_id)?.ok_or("event_id is missing")?;
    if env.position == 0 || env.stream_version == 0 {
        return Err("position and stream_version are 1-based".into());
    }
    Ok(RecordedEvent {
        service: env.service,
        stream: env.stream,
        version: env.stream_version,
        position: env.position,
        data: EventData {
            id,
            event_type: env.event_type,
            schema_version: env.schema_version,
            causation_id: uuid("causation_id", &env.causation_id)?,
            correlation_id: uuid("correlation_id", &env.correlation_id)?,
            occurred_at: env.occurred_at_unix_micros,
            payload: env.payload.into(),
        },
    })
}
