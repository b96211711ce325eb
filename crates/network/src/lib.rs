//! The network's shared vocabulary, used by the coordinator, the parties, the projector and the
//! CLI alike (`docs/protocols/network.md`): who writes which stream, how a domain event becomes
//! an event-log record and back, the dataset schema a `DatasetCreated` declares, and a query's
//! answer as `ResultValue`s.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::time::Duration;

use prost::Message;
use triad_eventlog::{EventData, RecordedEvent};
use triad_proto::events::v1::{self as ev, event::Kind};
use triad_stats::{Column, Decimal, Schema, SchemaError};

/// The coordinator's service name (its store, its bus stream).
pub const COORDINATOR: &str = "coordinator";

/// The three parties' service names, by party index.
pub const PARTIES: [&str; 3] = ["party0", "party1", "party2"];

/// A party sends a `PartyHeartbeat` this often.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);

/// A party whose last heartbeat is older than this is down: the coordinator starts no session.
pub const PARTY_DOWN_AFTER: Duration = Duration::from_secs(7);

/// `SessionOpened.purpose` of a batch of contributions' input check.
pub const PURPOSE_INPUT_CHECK: &str = "input_check";

/// `SessionOpened.purpose` of a query.
pub const PURPOSE_QUERY: &str = "query";

/// The stream names of the services' stores (`<category>-<id>`).
pub mod streams {
    use sha2::{Digest, Sha256};

    /// A dataset's stream (coordinator): `DatasetCreated`.
    pub fn dataset(dataset_id: &str) -> String {
        format!("dataset-{dataset_id}")
    }

    /// A contribution's stream (coordinator): submitted, then accepted or rejected. Opened with
    /// `ExpectedVersion::NoStream`, so a replayed submission conflicts.
    pub fn contribution(contribution_id: &[u8]) -> String {
        format!("contribution-{}", hex::encode(contribution_id))
    }

    /// The Sybil guard (coordinator): the key the contribution's append claims
    /// (`Append::claiming`), one per (dataset, disclosed uid), so of two concurrent submissions
    /// with one uid exactly one wins. The uid is hashed (it may hold any character). Logs
    /// written before claims existed hold a marker event in a stream of this name.
    pub fn uid(dataset_id: &str, uid: &str) -> String {
        let h = Sha256::digest([dataset_id.as_bytes(), b"\0", uid.as_bytes()].concat());
        format!("uid-{}", hex::encode(&h[..16]))
    }

    /// A session's stream (coordinator: opened, and the parties' reports it recorded; a party:
    /// its own reports).
    pub fn session(session_id: &[u8]) -> String {
        format!("session-{}", hex::encode(session_id))
    }

    /// A query's stream (coordinator: requested, published or finally aborted; a party:
    /// started, computed, aborted).
    pub fn query(query_id: &[u8]) -> String {
        format!("query-{}", hex::encode(query_id))
    }

    /// The coordinator's record of party `index`'s membership: copies of its `PartyJoined`.
    pub fn member(index: u32) -> String {
        format!("member-{index}")
    }

    /// A signing request's stream (coordinator: `SigningRequested` per attempt, the parties'
    /// reports it recorded, the final `SigningAborted`; a party: its own reports).
    pub fn signing(request_id: &[u8]) -> String {
        format!("signing-{}", hex::encode(request_id))
    }

    /// The coordinator's record of the network key: `KeyGenerated` when all three parties
    /// reported the same key, then one `KeyRefreshed` per refresh all three reported.
    pub const NETWORK_KEY: &str = "network-key";

    /// A party's membership stream (its own store): `PartyJoined`, heartbeats.
    pub fn party(index: u32) -> String {
        format!("party-{index}")
    }
}

/// An event that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The payload is not a `triad.events.v1.Event`.
    #[error("event at {service} position {position} ({event_type}) does not decode: {source}")]
    Payload {
        /// The writing service.
        service: String,
        /// Its position there.
        position: u64,
        /// The recorded type name.
        event_type: String,
        /// Why.
        source: prost::DecodeError,
    },
}

/// A domain event as an event-log record (type name and protobuf payload).
pub fn event(kind: Kind) -> EventData {
    EventData::new(kind.type_name(), ev::Event { kind: Some(kind) }.encode_to_vec())
}

/// The domain event of a record (`None` for an event of a kind this build does not know).
pub fn decode(e: &RecordedEvent) -> Result<Option<Kind>, DecodeError> {
    ev::Event::decode(e.data.payload.as_ref()).map(|d| d.kind).map_err(|source| DecodeError::Payload {
        service: e.service.clone(),
        position: e.position,
        event_type: e.data.event_type.clone(),
        source,
    })
}

/// The party index of a party service name (`party1` → 1).
pub fn party_index(service: &str) -> Option<u32> {
    PARTIES.iter().position(|p| *p == service).map(|i| i as u32)
}

/// Why a `DatasetCreated` does not declare a usable schema.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A bound is not a decimal.
    #[error("column `{column}`: {which} {value:?} is not a decimal")]
    Bound {
        /// The column.
        column: String,
        /// `min` or `max`.
        which: &'static str,
        /// The text.
        value: String,
    },
    /// The schema's own rules (names, ranges, precision).
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// No columns and no value format to derive one from.
    #[error("dataset `{0}` declares neither columns nor a value format")]
    NoColumns(String),
    /// A column cannot be proven as a hidden decimal of a presentation.
    #[error("column `{column}`: {reason}")]
    NotProvable {
        /// The column.
        column: String,
        /// Why, and what to declare instead.
        reason: String,
    },
}

/// Fraction bits recorded in a proven column's `ValueFormat` (the statistics work on the
/// decimal units `value * 10^decimals`; the field is kept for the bundle format).
pub const PROVEN_FRACTION_BITS: u32 = 16;

/// Most digits of a proven value (before and after the point together): `10^18 < 2^63`.
pub const MAX_PROVEN_DIGITS: u32 = 18;

/// One value a contribution to a dataset proves: the column it fills, where the value sits in
/// the provider's JSON response, and how its digits are written (the bundle's `ValueFormat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenColumn {
    /// The column's name.
    pub name: String,
    /// Dotted JSON path of the hidden value in the response.
    pub json_path: String,
    /// Digits before and after the point.
    pub format: ev::ValueFormat,
}

/// The values a contribution to `d` carries, in column order: each declared column with its
/// JSON path, or, for a single-value dataset without columns, the template's value path with
/// the dataset's `format`.
///
/// A proven value is an unsigned decimal (the MPC input check parses digits; it proves no sign
/// and no range beyond the digit count), so a declared column must admit every such decimal
/// and no more than the planner assumes: `min` at most 0 and `max` exactly `10^D - 10^-decimals`
/// for its `D` integer digits (`999.99` for 3 digits and 2 decimals). Anything else is refused
/// with a message that says so.
pub fn proven_columns(d: &ev::DatasetCreated) -> Result<Vec<ProvenColumn>, DatasetError> {
    if d.columns.is_empty() {
        let format = d.format.ok_or_else(|| DatasetError::NoColumns(d.dataset_id.clone()))?;
        let column = implied_column(d)?;
        let json_path = d.template.as_ref().map(|t| t.value_json_path.clone()).unwrap_or_default();
        return Ok(vec![ProvenColumn { name: column.name, json_path, format }]);
    }
    let schema = schema(d)?;
    d.columns
        .iter()
        .zip(&schema.columns)
        .map(|(declared, column)| {
            let refuse = |reason: String| DatasetError::NotProvable { column: column.name.clone(), reason };
            if declared.json_path.is_empty() {
                return Err(refuse("no json_path: say where the value sits in the proven response".into()));
            }
            if column.min_units().is_none_or(|m| m > 0) {
                return Err(refuse(format!(
                    "min {} is above 0, but a proven value is an unsigned decimal that may be 0: declare min 0",
                    declared.min
                )));
            }
            let units = column.max_units().unwrap_or(-1);
            let digits = (1..=MAX_PROVEN_DIGITS).find(|t| 10i128.pow(*t) - 1 == units);
            let integer_digits = digits.and_then(|t| t.checked_sub(column.decimals)).filter(|d| *d >= 1);
            let Some(max_integer_digits) = integer_digits else {
                let example = digit_bound(3, column.decimals);
                return Err(refuse(format!(
                    "max {} is not of the form 10^D - 10^-{}: a proven value is bounded by its digit count, so \
                     declare max as D nines and {} decimal nines (e.g. {example}), with at most {MAX_PROVEN_DIGITS} \
                     digits in all",
                    declared.max, column.decimals, column.decimals
                )));
            };
            Ok(ProvenColumn {
                name: column.name.clone(),
                json_path: declared.json_path.clone(),
                format: ev::ValueFormat {
                    fraction_bits: PROVEN_FRACTION_BITS,
                    max_decimals: column.decimals,
                    max_integer_digits,
                },
            })
        })
        .collect()
}

/// The column a proven value of `max_integer_digits` digits and `decimals` decimals fills:
/// `min` 0, `max` `10^D - 10^-decimals` (what [`proven_columns`] accepts).
pub fn proven_column_schema(name: &str, json_path: &str, max_integer_digits: u32, decimals: u32) -> ev::ColumnSchema {
    let max = digit_bound(max_integer_digits, decimals);
    ev::ColumnSchema { name: name.to_owned(), min: "0".into(), max, decimals, json_path: json_path.to_owned() }
}

/// `10^D - 10^-decimals` as a decimal: `D` nines (at least one), then `decimals` nines after
/// the point.
fn digit_bound(integer_digits: u32, decimals: u32) -> String {
    let digits = "9".repeat(integer_digits.max(1) as usize);
    if decimals == 0 { digits } else { format!("{digits}.{}", "9".repeat(decimals as usize)) }
}

/// The statistics schema a dataset declares: its `columns`, or, for a single-value dataset
/// that predates them, one column named after the template's value path with the range its
/// `ValueFormat` admits (`0 ..= 10^max_integer_digits - 10^-max_decimals`).
pub fn schema(d: &ev::DatasetCreated) -> Result<Schema, DatasetError> {
    let columns = if d.columns.is_empty() {
        vec![implied_column(d)?]
    } else {
        d.columns
            .iter()
            .map(|c| {
                let bound = |which, value: &str| {
                    Decimal::parse(value).map_err(|_| DatasetError::Bound {
                        column: c.name.clone(),
                        which,
                        value: value.to_owned(),
                    })
                };
                Ok(Column::new(c.name.clone(), bound("min", &c.min)?, bound("max", &c.max)?, c.decimals))
            })
            .collect::<Result<Vec<_>, DatasetError>>()?
    };
    let min_cohort = if d.min_cohort == 0 { triad_stats::DEFAULT_MIN_COHORT } else { d.min_cohort };
    Ok(Schema::new(d.dataset_id.clone(), columns)?.with_min_cohort(min_cohort)?)
}

fn implied_column(d: &ev::DatasetCreated) -> Result<Column, DatasetError> {
    let f = d.format.as_ref().ok_or_else(|| DatasetError::NoColumns(d.dataset_id.clone()))?;
    let path = d.template.as_ref().map(|t| t.value_json_path.as_str()).unwrap_or("value");
    let name: String = path
        .rsplit('.')
        .next()
        .unwrap_or(path)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .collect();
    let name =
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) { format!("v_{name}") } else { name };
    let digits = "9".repeat(f.max_integer_digits.max(1) as usize);
    let max = if f.max_decimals == 0 { digits } else { format!("{digits}.{}", "9".repeat(f.max_decimals as usize)) };
    let bound = |value: &str, which| {
        Decimal::parse(value).map_err(|_| DatasetError::Bound { column: name.clone(), which, value: value.to_owned() })
    };
    Ok(Column::new(name.clone(), bound("0", "min")?, bound(&max, "max")?, f.max_decimals))
}

/// An answer as the values of `ResultComputed` / `ResultPublished`: row-major, one per output
/// column per row; a value is the shortest decimal that reads back as the same `f64`.
pub fn result_values(answer: &triad_stats::exec::Answer) -> Vec<ev::ResultValue> {
    let mut out = Vec::new();
    for (row, values) in answer.rows.iter().enumerate() {
        for (name, v) in answer.columns.iter().zip(values) {
            out.push(ev::ResultValue {
                name: name.clone(),
                value: v.map(|x| format!("{x:?}")).unwrap_or_default(),
                row: row as u32,
                null: v.is_none(),
            });
        }
    }
    out
}

/// What the parties sign for a result (`docs/protocols/signing.md` §2): the values in their
/// row-major order, each as (name, decimal), `null` for SQL NULL (a decimal is never `null`;
/// every row has the query's columns in one order, so the rows are fixed by the query text).
pub fn result_statement(
    network_id: &str,
    dataset_id: &str,
    snapshot: u64,
    sql: &str,
    values: &[ev::ResultValue],
) -> triad_signing::ResultStatement {
    triad_signing::ResultStatement {
        network_id: network_id.to_owned(),
        dataset_id: dataset_id.to_owned(),
        snapshot,
        query: sql.to_owned(),
        columns: values
            .iter()
            .map(|v| triad_signing::ResultColumn {
                name: v.name.clone(),
                value: if v.null { "null".to_owned() } else { v.value.clone() },
            })
            .collect(),
    }
}

/// The network key as the coordinator serves it (`Network.key`), or `None` if malformed.
pub fn network_key(key: &triad_proto::api::v1::NetworkKey) -> Option<triad_signing::NetworkKey> {
    Some(triad_signing::NetworkKey {
        public_key: key.public_key.as_slice().try_into().ok()?,
        chain_code: key.chain_code.as_slice().try_into().ok()?,
    })
}

/// Checks a published result's signature under its dataset's key derived from `key` (the
/// consumer's check, with the network key alone), against the network and dataset it names.
pub fn verify_result(
    key: &triad_signing::NetworkKey,
    r: &ev::ResultPublished,
) -> Result<(), triad_signing::VerifyError> {
    let statement = result_statement(&r.network_id, &r.dataset_id, r.snapshot, &r.sql, &r.values);
    let expected = triad_signing::Expectation {
        network_id: r.network_id.clone(),
        dataset_id: r.dataset_id.clone(),
        min_snapshot: 0,
    };
    triad_signing::verify(key, &statement, &r.signature, &expected)
}

/// `SigningRequested.purpose` of the key generation.
pub const SIGN_KEYGEN: &str = "keygen";
/// `SigningRequested.purpose` of a signature.
pub const SIGN_SIGN: &str = "sign";
/// `SigningRequested.purpose` of a key refresh.
pub const SIGN_REFRESH: &str = "refresh";

/// The answer `result_values` encoded (rows in order, columns in first-row order).
pub fn answer_of(values: &[ev::ResultValue]) -> triad_stats::exec::Answer {
    let mut columns: Vec<String> = Vec::new();
    let mut rows: Vec<Vec<Option<f64>>> = Vec::new();
    for v in values {
        if v.row == 0 && !columns.contains(&v.name) {
            columns.push(v.name.clone());
        }
        let row = v.row as usize;
        if rows.len() <= row {
            rows.resize_with(row + 1, Vec::new);
        }
        rows[row].push(if v.null { None } else { v.value.parse::<f64>().ok() });
    }
    triad_stats::exec::Answer { columns, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implied_schema_of_a_single_value_dataset() {
        let d = ev::DatasetCreated {
            dataset_id: "eth_balance".into(),
            template: Some(ev::ProofTemplate { value_json_path: "data.balance".into(), ..Default::default() }),
            format: Some(ev::ValueFormat { fraction_bits: 16, max_decimals: 4, max_integer_digits: 12 }),
            ..Default::default()
        };
        let s = schema(&d).expect("schema");
        assert_eq!(s.columns.len(), 1);
        assert_eq!(s.columns[0].name, "balance");
        assert_eq!(s.columns[0].max_units(), Some(9_999_999_999_999_999));
        assert_eq!(s.min_cohort, triad_stats::DEFAULT_MIN_COHORT);
    }

    #[test]
    fn declared_columns_win_and_bad_bounds_are_named() {
        let mut d = ev::DatasetCreated {
            dataset_id: "t".into(),
            min_cohort: 3,
            columns: vec![ev::ColumnSchema {
                name: "x".into(),
                min: "-5".into(),
                max: "5.5".into(),
                decimals: 1,
                json_path: "x".into(),
            }],
            ..Default::default()
        };
        let s = schema(&d).expect("schema");
        assert_eq!((s.columns[0].min_units(), s.min_cohort), (Some(-50), 3));
        d.columns[0].max = "five".into();
        let e = schema(&d).expect_err("a bad bound");
        assert!(e.to_string().contains("column `x`: max \"five\""), "{e}");
    }

    #[test]
    fn proven_columns_need_unsigned_digit_bounds() {
        let mut d = ev::DatasetCreated {
            dataset_id: "t".into(),
            columns: vec![
                proven_column_schema("balance", "balance", 6, 2),
                proven_column_schema("trades", "stats.trades", 4, 0),
            ],
            ..Default::default()
        };
        let p = proven_columns(&d).expect("provable");
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].format.max_integer_digits, p[0].format.max_decimals), (6, 2));
        assert_eq!(
            (p[1].json_path.as_str(), p[1].format.max_integer_digits, p[1].format.max_decimals),
            ("stats.trades", 4, 0)
        );
        d.columns[1].max = "1000".into();
        let e = proven_columns(&d).expect_err("not a digit bound");
        assert!(e.to_string().contains("column `trades`: max 1000 is not of the form"), "{e}");
        d.columns[1].max = "9999".into();
        d.columns[1].min = "1".into();
        let e = proven_columns(&d).expect_err("positive min");
        assert!(e.to_string().contains("declare min 0"), "{e}");
        d.columns[1].min = "-5".into();
        assert!(proven_columns(&d).is_ok(), "a lower min only widens the bound");
        d.columns[1].json_path.clear();
        let e = proven_columns(&d).expect_err("no path");
        assert!(e.to_string().contains("no json_path"), "{e}");
        // A single-value dataset: the template's path and the dataset's format.
        let single = ev::DatasetCreated {
            dataset_id: "s".into(),
            template: Some(ev::ProofTemplate { value_json_path: "data.balance".into(), ..Default::default() }),
            format: Some(ev::ValueFormat { fraction_bits: 16, max_decimals: 4, max_integer_digits: 12 }),
            ..Default::default()
        };
        let p = proven_columns(&single).expect("single");
        assert_eq!(
            (p[0].name.as_str(), p[0].json_path.as_str(), p[0].format.max_decimals),
            ("balance", "data.balance", 4)
        );
    }

    #[test]
    fn values_round_trip() {
        let a = triad_stats::exec::Answer {
            columns: vec!["n".into(), "m".into()],
            rows: vec![vec![Some(3.0), None], vec![Some(0.1), Some(-2.5)]],
        };
        assert_eq!(answer_of(&result_values(&a)), a);
    }

    #[test]
    fn uid_streams_are_per_dataset() {
        assert_ne!(streams::uid("a", "u1"), streams::uid("b", "u1"));
        assert_eq!(streams::uid("a", "u1"), streams::uid("a", "u1"));
        assert_eq!(party_index("party2"), Some(2));
    }
}
