//! Dataset proof templates: what a presentation must show to count as a
//! contribution to one dataset.
//!
//! [`crate::verify`] says what a presentation proves; a [`ProofTemplate`]
//! says whether that is the proof a dataset asks for: the right server, a
//! recent connection, the right request, and a response in which exactly
//! the values of the template's JSON fields are hidden (each behind its own
//! plaintext hash commitment) while the Sybil `uid` field is disclosed.
//!
//! ```no_run
//! use triad_notary::{NotaryKey, TrustAnchors, verify};
//! use triad_notary::template::ProofTemplate;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = NotaryKey::parse("secp256k1:035be5e9478209674a96e60f1f037f6176540fd001fa1d64694770c56a7709c42c")?;
//! let template = ProofTemplate::new(
//!     "exchange.triad.test", "GET", "/api/v1/balance", &["balance", "trades"], "uid", 3600, vec![key],
//! )?;
//! let bytes = std::fs::read("presentation.bin")?;
//! let verified = verify(&bytes, &template.verifier_config(TrustAnchors::mozilla()))?;
//! let m = template.apply(&verified, 1_700_000_000)?;
//! for v in &m.values {
//!     println!("uid {} commits to {} at {:?}", m.uid, v.field, v.range);
//! }
//! # Ok(()) }
//! ```
//!
//! How the hidden values are located: their bytes are not disclosed, so the
//! response body is parsed as JSON with the hidden ranges as holes. Each
//! hole must sit exactly at the value position of one of the template's
//! fields (right after `"field":` and optional whitespace) and the
//! disclosed bytes must resume right after it with `,`, `}` or whitespace.
//! Any other hidden byte in the response is an error, so nothing the
//! verifier relies on (status, headers, keys, the uid) can hide behind a
//! hole. Whether the hidden bytes form a well-formed decimal is checked
//! later, inside MPC.
//!
//! This module does no IO.

use std::ops::Range;

use crate::attestation::NotaryKey;
use crate::identity::TrustAnchors;
use crate::presentation::{VerifiedPresentation, VerifierConfig};
use crate::transcript::{DisclosedData, UnopenedCommitment};
use crate::wire::Direction;

/// Default tolerance for a connection time ahead of the verifier's clock.
pub const DEFAULT_MAX_CLOCK_SKEW_SECS: u64 = 60;
/// Default longest hidden value (bytes of the JSON number).
pub const DEFAULT_MAX_VALUE_LEN: usize = 32;
/// Most value fields a template names (each is one commitment to check).
pub const MAX_VALUE_FIELDS: usize = 16;
/// JSON nesting the response parser accepts.
const MAX_JSON_DEPTH: usize = 32;

/// Why a verified presentation does not fit a template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// A JSON path in the template is empty or has an empty segment.
    #[error("invalid JSON path {0:?}: expected field names separated by dots")]
    InvalidJsonPath(String),
    /// The template names no value field, or more than [`MAX_VALUE_FIELDS`].
    #[error("a template names 1 to {MAX_VALUE_FIELDS} value fields, not {0}")]
    ValueFieldCount(usize),
    /// A field is named twice among the template's value and uid fields.
    #[error("field {0} is named more than once in the template")]
    DuplicateTemplateField(String),
    /// One template field lies inside another (`data` and `data.balance`):
    /// the outer value would contain the inner one.
    #[error("template field {outer} encloses template field {inner}")]
    NestedTemplateFields {
        /// The enclosing path.
        outer: String,
        /// The path inside it.
        inner: String,
    },
    /// The template's method or path cannot form a request line.
    #[error("invalid request in template: {0}")]
    InvalidRequest(String),
    /// A notary key in a template spec does not parse.
    #[error("invalid notary key {key:?} in template: {reason}")]
    InvalidNotaryKey {
        /// The key as written.
        key: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The presentation proves no server name (identity proof not required).
    #[error("presentation proves no server name")]
    MissingServerName,
    /// The proven server is not the template's.
    #[error("presentation is for server {found:?}, the template expects {expected:?}")]
    WrongServer {
        /// The template's server name.
        expected: String,
        /// The proven server name.
        found: String,
    },
    /// The attestation was signed by a notary the template does not pin.
    #[error("notary key {0} is not pinned by the template")]
    UntrustedNotary(String),
    /// The connection is older than the freshness window.
    #[error("connection at {time} is older than {window} s at {now}")]
    Stale {
        /// Connection time (UNIX seconds).
        time: u64,
        /// The verifier's clock.
        now: u64,
        /// The freshness window.
        window: u64,
    },
    /// The connection time lies ahead of the verifier's clock by more than
    /// the allowed skew.
    #[error("connection at {time} lies in the future (now {now}, allowed skew {skew} s)")]
    FromTheFuture {
        /// Connection time (UNIX seconds).
        time: u64,
        /// The verifier's clock.
        now: u64,
        /// Allowed skew.
        skew: u64,
    },
    /// The presentation discloses no transcript.
    #[error("presentation discloses no transcript")]
    MissingTranscript,
    /// The disclosed request line is not the template's.
    #[error("request line is {found:?}, the template expects {expected:?}")]
    WrongRequest {
        /// `METHOD PATH HTTP/1.1`.
        expected: String,
        /// The first line of the sent transcript (hidden bytes as `X`).
        found: String,
    },
    /// No unopened commitment in the received direction: nothing is hidden.
    #[error("no hidden value: the presentation has no unopened commitment to received data")]
    NoHiddenValue,
    /// The number of unopened commitments in the received direction is not
    /// the number of the template's value fields.
    #[error("expected {expected} hidden values (unopened commitments to received data), found {found}")]
    HiddenValueCount {
        /// The template's value fields.
        expected: usize,
        /// Unopened commitments to received data.
        found: usize,
    },
    /// The received bytes that are hidden are not exactly the committed
    /// ranges, one range per commitment.
    #[error("hidden received bytes {hidden:?} are not exactly the committed ranges {committed:?}")]
    HiddenBytesNotCommitted {
        /// Hidden ranges of the received transcript.
        hidden: Vec<Range<usize>>,
        /// Ranges of the unopened commitments, sorted.
        committed: Vec<Range<usize>>,
    },
    /// The response is not an HTTP/1.1 response with a `Content-Length`
    /// JSON body this parser understands.
    #[error("malformed response: {0}")]
    MalformedResponse(String),
    /// The response status is not 200.
    #[error("response status line is {0:?}, expected HTTP/1.1 200")]
    UnexpectedStatus(String),
    /// A hidden range is not exactly the bytes of a value field.
    #[error("hidden range is not the value of {field}: {reason}")]
    HiddenRangeIsNotTheValue {
        /// The value field the range sits at, or the template's value
        /// fields (`a or b`) when it sits at none of them.
        field: String,
        /// Where it went wrong.
        reason: String,
    },
    /// The value field is not in the response.
    #[error("value field {0} is not in the response")]
    ValueFieldMissing(String),
    /// The value field is disclosed, not hidden.
    #[error("value field {0} is disclosed, not hidden")]
    ValueDisclosed(String),
    /// A hidden value is longer than the template allows.
    #[error("hidden value of {field} has {len} bytes, more than {max}")]
    ValueTooLong {
        /// The value field.
        field: String,
        /// Hidden bytes.
        len: usize,
        /// The template's limit.
        max: usize,
    },
    /// A field the template names occurs more than once.
    #[error("field {0} occurs more than once in the response")]
    DuplicateField(String),
    /// The uid field is not in the response.
    #[error("uid field {0} is not in the response")]
    UidFieldMissing(String),
    /// The uid field's value is hidden.
    #[error("uid field {0} is not disclosed")]
    UidNotDisclosed(String),
    /// The uid field's value is neither a string nor a number.
    #[error("uid field {0} is neither a string nor a number")]
    UidNotAString(String),
}

/// A dotted path of JSON object keys, such as `balance` or `data.balance`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JsonPath(Vec<String>);

impl JsonPath {
    /// Parses `a.b.c`; every segment must be non-empty.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let segments: Vec<String> = text.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err(TemplateError::InvalidJsonPath(text.to_owned()));
        }
        Ok(Self(segments))
    }

    /// The keys from the outermost object in.
    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// Whether `inner` equals this path or lies inside it.
    fn encloses(&self, inner: &JsonPath) -> bool {
        inner.0.starts_with(&self.0)
    }

    fn matches(&self, stack: &[Option<String>]) -> bool {
        stack.len() == self.0.len() && stack.iter().zip(&self.0).all(|(k, s)| k.as_deref() == Some(s.as_str()))
    }
}

impl std::fmt::Display for JsonPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// What one dataset's presentations must look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofTemplate {
    /// The server's DNS name, proven by its certificate.
    pub server_name: String,
    /// HTTP method of the request (`GET`).
    pub method: String,
    /// Request target (`/api/v1/balance`), compared byte for byte.
    pub path: String,
    /// The response fields whose values are the hidden contribution, in the
    /// order [`TemplateMatch::values`] reports them: 1 to
    /// [`MAX_VALUE_FIELDS`], none equal to or inside another or the uid.
    pub value_fields: Vec<JsonPath>,
    /// The disclosed response field that identifies the account (Sybil key).
    pub uid_field: JsonPath,
    /// How old (seconds) the connection may be.
    pub freshness_secs: u64,
    /// How far (seconds) the connection time may lie ahead of `now`.
    pub max_clock_skew_secs: u64,
    /// Longest hidden value accepted, in bytes.
    pub max_value_len: usize,
    /// Notaries whose attestations count.
    pub notary_keys: Vec<NotaryKey>,
}

/// A template as configuration writes it (for example in a dataset's
/// TOML), turned into a [`ProofTemplate`] with `try_from`.
///
/// ```
/// # use triad_notary::template::{ProofTemplate, TemplateSpec};
/// let spec: TemplateSpec = serde_json::from_str(r#"{
///     "server_name": "exchange.triad.test", "method": "GET", "path": "/api/v1/balance",
///     "value_fields": ["balance", "trades"], "uid_field": "uid", "freshness_secs": 3600,
///     "notary_keys": ["secp256k1:035be5e9478209674a96e60f1f037f6176540fd001fa1d64694770c56a7709c42c"]
/// }"#).unwrap();
/// let template = ProofTemplate::try_from(spec).unwrap();
/// assert_eq!(template.request_line(), "GET /api/v1/balance HTTP/1.1");
/// assert_eq!(template.value_fields.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    /// See [`ProofTemplate::server_name`].
    pub server_name: String,
    /// See [`ProofTemplate::method`].
    pub method: String,
    /// See [`ProofTemplate::path`].
    pub path: String,
    /// Dotted JSON paths of the hidden values, in the template's order.
    pub value_fields: Vec<String>,
    /// Dotted JSON path of the disclosed uid.
    pub uid_field: String,
    /// See [`ProofTemplate::freshness_secs`].
    pub freshness_secs: u64,
    /// Default [`DEFAULT_MAX_CLOCK_SKEW_SECS`].
    #[serde(default)]
    pub max_clock_skew_secs: Option<u64>,
    /// Default [`DEFAULT_MAX_VALUE_LEN`].
    #[serde(default)]
    pub max_value_len: Option<usize>,
    /// Pinned notary keys, `secp256k1:<hex>` or `p256:<hex>`.
    pub notary_keys: Vec<String>,
}

impl TryFrom<TemplateSpec> for ProofTemplate {
    type Error = TemplateError;

    fn try_from(spec: TemplateSpec) -> Result<Self, Self::Error> {
        let keys = spec
            .notary_keys
            .iter()
            .map(|k| {
                NotaryKey::parse(k)
                    .map_err(|e| TemplateError::InvalidNotaryKey { key: k.clone(), reason: e.to_string() })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let value_fields: Vec<&str> = spec.value_fields.iter().map(String::as_str).collect();
        let mut template = ProofTemplate::new(
            &spec.server_name,
            &spec.method,
            &spec.path,
            &value_fields,
            &spec.uid_field,
            spec.freshness_secs,
            keys,
        )?;
        if let Some(skew) = spec.max_clock_skew_secs {
            template.max_clock_skew_secs = skew;
        }
        if let Some(len) = spec.max_value_len {
            template.max_value_len = len;
        }
        Ok(template)
    }
}

/// What a presentation that fits its template contributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateMatch {
    /// The disclosed uid (a JSON string's contents, or a number's text).
    pub uid: String,
    /// The hidden values, one per value field in the template's order (not
    /// the transcript's).
    pub values: Vec<HiddenValue>,
    /// The proven server name.
    pub server_name: String,
    /// Connection time (UNIX seconds).
    pub time: u64,
    /// The notary that signed.
    pub notary_key: NotaryKey,
}

/// One hidden value of a [`TemplateMatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HiddenValue {
    /// The template's value field it is the value of.
    pub field: JsonPath,
    /// Its commitment (received direction, exactly `range`).
    pub commitment: UnopenedCommitment,
    /// Its bytes' range in the received transcript.
    pub range: Range<usize>,
}

impl ProofTemplate {
    /// A template with the default clock skew and value length limit.
    ///
    /// The method must be an upper-case token and the path start with `/`
    /// and hold only printable ASCII without spaces. `value_fields` are 1
    /// to [`MAX_VALUE_FIELDS`] paths, none equal to or inside another or
    /// the uid field.
    pub fn new(
        server_name: &str,
        method: &str,
        path: &str,
        value_fields: &[&str],
        uid_field: &str,
        freshness_secs: u64,
        notary_keys: Vec<NotaryKey>,
    ) -> Result<Self, TemplateError> {
        let token = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_uppercase());
        if !token(method) {
            return Err(TemplateError::InvalidRequest(format!("method {method:?} is not an upper-case token")));
        }
        if !path.starts_with('/') || !path.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TemplateError::InvalidRequest(format!(
                "path {path:?} must start with '/' and hold no spaces or control bytes"
            )));
        }
        let template = Self {
            server_name: server_name.to_owned(),
            method: method.to_owned(),
            path: path.to_owned(),
            value_fields: value_fields.iter().map(|f| JsonPath::parse(f)).collect::<Result<_, _>>()?,
            uid_field: JsonPath::parse(uid_field)?,
            freshness_secs,
            max_clock_skew_secs: DEFAULT_MAX_CLOCK_SKEW_SECS,
            max_value_len: DEFAULT_MAX_VALUE_LEN,
            notary_keys,
        };
        template.check_fields()?;
        Ok(template)
    }

    /// The value fields' count, and no two fields (values and uid) equal or
    /// nested: a hole could otherwise be the value of two fields, or a
    /// disclosed uid hold a hidden value.
    fn check_fields(&self) -> Result<(), TemplateError> {
        let n = self.value_fields.len();
        if n == 0 || n > MAX_VALUE_FIELDS {
            return Err(TemplateError::ValueFieldCount(n));
        }
        let all: Vec<&JsonPath> = self.value_fields.iter().chain([&self.uid_field]).collect();
        for (i, a) in all.iter().enumerate() {
            for b in all.iter().skip(i + 1) {
                if a == b {
                    return Err(TemplateError::DuplicateTemplateField(a.to_string()));
                }
                for (outer, inner) in [(a, b), (b, a)] {
                    if outer.encloses(inner) {
                        return Err(TemplateError::NestedTemplateFields {
                            outer: outer.to_string(),
                            inner: inner.to_string(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// The verifier configuration this template needs: its pinned notary
    /// keys, the given trust anchors, identity and transcript required.
    pub fn verifier_config(&self, trust_anchors: TrustAnchors) -> VerifierConfig {
        let mut config = VerifierConfig::new(self.notary_keys.clone());
        config.trust_anchors = trust_anchors;
        config
    }

    /// The request line the presentation must disclose, without CRLF.
    pub fn request_line(&self) -> String {
        format!("{} {} HTTP/1.1", self.method, self.path)
    }

    /// Checks `v` against the template at time `now_unix` (seconds).
    ///
    /// Order: the template's own fields, notary key, server name,
    /// freshness, request line, the hidden commitments (one per value
    /// field, together exactly the hidden received bytes), the response and
    /// its value fields, the uid, the values' lengths.
    pub fn apply(&self, v: &VerifiedPresentation, now_unix: u64) -> Result<TemplateMatch, TemplateError> {
        // The fields are public: a template built field by field is checked too.
        self.check_fields()?;
        if !self.notary_keys.contains(&v.notary_key) {
            return Err(TemplateError::UntrustedNotary(v.notary_key.to_string()));
        }
        let server_name = v.server_name.as_deref().ok_or(TemplateError::MissingServerName)?;
        if server_name != self.server_name {
            return Err(TemplateError::WrongServer {
                expected: self.server_name.clone(),
                found: server_name.to_owned(),
            });
        }
        self.check_time(v.time, now_unix)?;

        let transcript = v.transcript.as_ref().ok_or(TemplateError::MissingTranscript)?;
        self.check_request(&transcript.sent)?;

        let commitments: Vec<&UnopenedCommitment> =
            v.unopened_commitments.iter().filter(|c| c.direction == Direction::Received).collect();
        if commitments.is_empty() {
            return Err(TemplateError::NoHiddenValue);
        }
        if commitments.len() != self.value_fields.len() {
            return Err(TemplateError::HiddenValueCount {
                expected: self.value_fields.len(),
                found: commitments.len(),
            });
        }
        // The holes in transcript order, each with its commitment. Equal to
        // the (canonical) hidden ranges, they are disjoint and not touching.
        let received = &transcript.received;
        let mut holes: Vec<(Range<usize>, &UnopenedCommitment)> = commitments
            .iter()
            .filter_map(|&c| match c.ranges.as_slice() {
                [r] => Some((r.clone(), c)),
                _ => None,
            })
            .collect();
        holes.sort_by_key(|(r, _)| r.start);
        if holes.len() != commitments.len() || !holes.iter().map(|(r, _)| r).eq(received.hidden()) {
            let mut committed: Vec<Range<usize>> = commitments.iter().flat_map(|c| c.ranges.iter().cloned()).collect();
            committed.sort_by_key(|r| r.start);
            return Err(TemplateError::HiddenBytesNotCommitted { hidden: received.hidden().to_vec(), committed });
        }

        let ranges: Vec<Range<usize>> = holes.iter().map(|(r, _)| r.clone()).collect();
        let (uid, hole_of_field) = self.check_response(received, &ranges)?;
        let mut values = Vec::with_capacity(self.value_fields.len());
        for (field, hole) in self.value_fields.iter().zip(hole_of_field) {
            let (range, commitment) =
                holes.get(hole).ok_or_else(|| TemplateError::ValueFieldMissing(field.to_string()))?;
            if range.len() > self.max_value_len {
                return Err(TemplateError::ValueTooLong {
                    field: field.to_string(),
                    len: range.len(),
                    max: self.max_value_len,
                });
            }
            values.push(HiddenValue { field: field.clone(), commitment: (*commitment).clone(), range: range.clone() });
        }
        Ok(TemplateMatch {
            uid,
            values,
            server_name: server_name.to_owned(),
            time: v.time,
            notary_key: v.notary_key.clone(),
        })
    }

    fn check_time(&self, time: u64, now: u64) -> Result<(), TemplateError> {
        if time > now.saturating_add(self.max_clock_skew_secs) {
            return Err(TemplateError::FromTheFuture { time, now, skew: self.max_clock_skew_secs });
        }
        if now.saturating_sub(time) > self.freshness_secs {
            return Err(TemplateError::Stale { time, now, window: self.freshness_secs });
        }
        Ok(())
    }

    fn check_request(&self, sent: &DisclosedData) -> Result<(), TemplateError> {
        let expected = format!("{}\r\n", self.request_line());
        if sent.get(0..expected.len()) == Some(expected.as_bytes()) {
            return Ok(());
        }
        let redacted = sent.redacted(b'X');
        let first_line = redacted.split(|&b| b == b'\n').next().unwrap_or_default();
        let first_line = first_line.strip_suffix(b"\r").unwrap_or(first_line);
        Err(TemplateError::WrongRequest {
            expected: self.request_line(),
            found: String::from_utf8_lossy(first_line).into_owned(),
        })
    }

    /// Parses the response around the `holes` (hidden ranges, sorted);
    /// returns the uid and, per value field, the index of its hole.
    fn check_response(
        &self,
        received: &DisclosedData,
        holes: &[Range<usize>],
    ) -> Result<(String, Vec<usize>), TemplateError> {
        let malformed = |m: &str| TemplateError::MalformedResponse(m.to_owned());
        let not_the_value = |reason: &str| TemplateError::HiddenRangeIsNotTheValue {
            field: join_fields(&self.value_fields),
            reason: reason.to_owned(),
        };
        // Hidden bytes are zeros here; the parser never reads them (it
        // knows the holes), so the fill value does not matter.
        let bytes = received.redacted(0);
        let first_hole = holes.first().map_or(bytes.len(), |h| h.start);
        let head_end = find(bytes.get(..first_hole).unwrap_or_default(), b"\r\n\r\n").ok_or_else(|| {
            if find(&bytes, b"\r\n\r\n").is_some() {
                not_the_value("hidden bytes in the HTTP status line or headers")
            } else {
                malformed("no end of HTTP headers")
            }
        })?;
        let head = bytes.get(..head_end).unwrap_or_default();
        let mut lines = head.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let status = lines.next().unwrap_or_default();
        if !(status == b"HTTP/1.1 200" || status.starts_with(b"HTTP/1.1 200 ")) {
            return Err(TemplateError::UnexpectedStatus(String::from_utf8_lossy(status).into_owned()));
        }
        let mut content_length = None;
        for line in lines {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return Err(malformed("header line without a colon"));
            };
            let (name, rest) = line.split_at(colon);
            let value_text = rest.get(1..).unwrap_or_default().trim_ascii();
            if name.eq_ignore_ascii_case(b"content-length") {
                let n = std::str::from_utf8(value_text)
                    .ok()
                    .and_then(|t| t.parse::<usize>().ok())
                    .ok_or_else(|| malformed("bad Content-Length"))?;
                if content_length.replace(n).is_some() {
                    return Err(malformed("several Content-Length headers"));
                }
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                return Err(malformed("Transfer-Encoding is not supported"));
            }
        }
        let length = content_length.ok_or_else(|| malformed("no Content-Length"))?;
        let body_start = head_end + 4;
        let body_end = body_start
            .checked_add(length)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| malformed("body shorter than Content-Length"))?;
        if holes.last().is_some_and(|h| h.end > body_end) {
            return Err(not_the_value("hidden bytes after the response body"));
        }
        // After the body only whitespace (upstream's fixture ends in CRLF);
        // nothing after the body is hidden (checked just above).
        if !bytes.get(body_end..).unwrap_or_default().iter().all(u8::is_ascii_whitespace) {
            return Err(malformed("data after the response body"));
        }

        let mut parser = JsonScan {
            bytes: bytes.get(..body_end).unwrap_or_default(),
            pos: body_start,
            holes,
            next_hole: 0,
            value_fields: &self.value_fields,
            uid_field: &self.uid_field,
            stack: Vec::new(),
            hole_of_field: vec![None; self.value_fields.len()],
            uid: None,
        };
        parser.value(0)?;
        parser.skip_ws()?;
        if parser.pos != body_end {
            return Err(malformed("trailing bytes after the JSON body"));
        }
        let mut hole_of_field = Vec::with_capacity(self.value_fields.len());
        for (field, hole) in self.value_fields.iter().zip(&parser.hole_of_field) {
            hole_of_field.push(hole.ok_or_else(|| TemplateError::ValueFieldMissing(field.to_string()))?);
        }
        let uid = parser.uid.ok_or_else(|| TemplateError::UidFieldMissing(self.uid_field.to_string()))?;
        Ok((uid, hole_of_field))
    }
}

/// The value fields for a message: `a` or `a or b`.
fn join_fields(fields: &[JsonPath]) -> String {
    fields.iter().map(JsonPath::to_string).collect::<Vec<_>>().join(" or ")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A JSON scanner over a body with holes (the hidden values).
///
/// Every byte read goes through [`JsonScan::peek`], which fails on a hole;
/// only the value position of one of the template's value fields steps
/// over one. The cursor only moves forward, a byte at a time after a peek
/// or over a whole hole, so the next hole not yet stepped over is the only
/// one it can run into.
struct JsonScan<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Sorted, disjoint, not touching.
    holes: &'a [Range<usize>],
    /// Index of the first hole not yet stepped over.
    next_hole: usize,
    value_fields: &'a [JsonPath],
    uid_field: &'a JsonPath,
    /// Keys from the outermost object in; `None` for an array element.
    stack: Vec<Option<String>>,
    /// Per value field, the hole met at its value position.
    hole_of_field: Vec<Option<usize>>,
    uid: Option<String>,
}

impl JsonScan<'_> {
    fn malformed(&self, what: &str) -> TemplateError {
        TemplateError::MalformedResponse(format!("{what} at received byte {}", self.pos))
    }

    /// A hole that is not at any value field's position.
    fn not_a_value(&self, reason: String) -> TemplateError {
        TemplateError::HiddenRangeIsNotTheValue { field: join_fields(self.value_fields), reason }
    }

    fn field_name(&self, field: usize) -> String {
        self.value_fields.get(field).map(JsonPath::to_string).unwrap_or_default()
    }

    /// The next hole if it starts at the cursor.
    fn hole_here(&self) -> Option<Range<usize>> {
        self.holes.get(self.next_hole).filter(|h| h.start == self.pos).cloned()
    }

    /// The byte at the cursor; `None` at the end; an error in a hole.
    fn peek(&self) -> Result<Option<u8>, TemplateError> {
        // `>=`, not `contains`: the cursor never passes a hole's start
        // without stepping over it, and if it did that would be an error too.
        if self.holes.get(self.next_hole).is_some_and(|h| self.pos >= h.start) {
            return Err(self.not_a_value(format!(
                "hidden byte {} is not at the value position of {}",
                self.pos,
                join_fields(self.value_fields)
            )));
        }
        Ok(self.bytes.get(self.pos).copied())
    }

    fn next(&mut self) -> Result<u8, TemplateError> {
        let b = self.peek()?.ok_or_else(|| self.malformed("unexpected end of JSON"))?;
        self.pos += 1;
        Ok(b)
    }

    fn expect(&mut self, want: u8) -> Result<(), TemplateError> {
        if self.next()? == want { Ok(()) } else { Err(self.malformed(&format!("expected {:?}", want as char))) }
    }

    /// Skips whitespace up to the next token or hole. (Hidden leading
    /// whitespace cannot be told from a digit here; the decimal check in
    /// MPC rejects it.)
    fn skip_ws(&mut self) -> Result<(), TemplateError> {
        while self.hole_here().is_none() {
            let Some(b) = self.peek()? else { break };
            if !matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
                break;
            }
            self.pos += 1;
        }
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<(), TemplateError> {
        if depth > MAX_JSON_DEPTH {
            return Err(self.malformed("JSON nested too deeply"));
        }
        self.skip_ws()?;
        // Template fields are neither equal nor nested: at most one matches.
        let at_value = self.value_fields.iter().position(|f| f.matches(&self.stack));
        let at_uid = self.uid_field.matches(&self.stack);
        if let Some(hole) = self.hole_here() {
            let Some(field) = at_value else {
                if at_uid {
                    return Err(TemplateError::UidNotDisclosed(self.uid_field.to_string()));
                }
                return Err(self.not_a_value(format!(
                    "the hidden bytes {}..{} are not the value of {}",
                    hole.start,
                    hole.end,
                    join_fields(self.value_fields)
                )));
            };
            // A key repeated with both occurrences hidden: which one counts
            // would be ambiguous.
            match self.hole_of_field.get_mut(field) {
                Some(slot @ None) => *slot = Some(self.next_hole),
                _ => return Err(TemplateError::DuplicateField(self.field_name(field))),
            }
            self.next_hole += 1;
            self.pos = hole.end;
            return match self.peek()? {
                Some(b',' | b'}' | b' ' | b'\t' | b'\r' | b'\n') => Ok(()),
                _ => Err(TemplateError::HiddenRangeIsNotTheValue {
                    field: self.field_name(field),
                    reason: "the disclosed bytes after the hidden range do not end the value".into(),
                }),
            };
        }
        let start = self.pos;
        match self.peek()? {
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => {
                let s = self.string()?;
                if at_uid {
                    self.set_uid(s)?;
                }
            }
            Some(b'-' | b'0'..=b'9') => {
                self.number()?;
                if at_uid {
                    let text = self.bytes.get(start..self.pos).unwrap_or_default();
                    self.set_uid(String::from_utf8_lossy(text).into_owned())?;
                }
            }
            Some(b't') => self.literal(b"true")?,
            Some(b'f') => self.literal(b"false")?,
            Some(b'n') => self.literal(b"null")?,
            _ => return Err(self.malformed("expected a JSON value")),
        }
        // A value field that parsed without meeting a hole is disclosed
        // (one that runs into a hole failed in `peek` above).
        if let Some(field) = at_value {
            let name = self.field_name(field);
            return Err(if self.hole_of_field.get(field).is_some_and(Option::is_some) {
                TemplateError::DuplicateField(name)
            } else {
                TemplateError::ValueDisclosed(name)
            });
        }
        if at_uid && !matches!(self.bytes.get(start), Some(b'"' | b'-' | b'0'..=b'9')) {
            return Err(TemplateError::UidNotAString(self.uid_field.to_string()));
        }
        Ok(())
    }

    fn set_uid(&mut self, uid: String) -> Result<(), TemplateError> {
        if self.uid.replace(uid).is_some() {
            return Err(TemplateError::DuplicateField(self.uid_field.to_string()));
        }
        Ok(())
    }

    fn object(&mut self, depth: usize) -> Result<(), TemplateError> {
        self.expect(b'{')?;
        self.skip_ws()?;
        if self.peek()? == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_ws()?;
            if self.peek()? != Some(b'"') {
                return Err(self.malformed("expected an object key"));
            }
            let key = self.string()?;
            self.skip_ws()?;
            self.expect(b':')?;
            self.stack.push(Some(key));
            self.value(depth + 1)?;
            self.stack.pop();
            self.skip_ws()?;
            match self.next()? {
                b',' => continue,
                b'}' => return Ok(()),
                _ => return Err(self.malformed("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), TemplateError> {
        self.expect(b'[')?;
        self.skip_ws()?;
        if self.peek()? == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.stack.push(None);
            self.value(depth + 1)?;
            self.stack.pop();
            self.skip_ws()?;
            match self.next()? {
                b',' => continue,
                b']' => return Ok(()),
                _ => return Err(self.malformed("expected ',' or ']'")),
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), TemplateError> {
        for &w in word {
            if self.next()? != w {
                return Err(self.malformed("bad literal"));
            }
        }
        Ok(())
    }

    fn number(&mut self) -> Result<(), TemplateError> {
        let start = self.pos;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek()? {
            self.pos += 1;
        }
        let text = self.bytes.get(start..self.pos).unwrap_or_default();
        if !text.iter().any(u8::is_ascii_digit) {
            return Err(self.malformed("bad number"));
        }
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, TemplateError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let b = self.next()?;
            let d = (b as char).to_digit(16).ok_or_else(|| self.malformed("bad \\u escape"))?;
            v = v * 16 + d;
        }
        Ok(v)
    }

    fn string(&mut self) -> Result<String, TemplateError> {
        self.expect(b'"')?;
        let mut out: Vec<u8> = Vec::new();
        loop {
            match self.next()? {
                b'"' => break,
                b'\\' => {
                    let c = match self.next()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                self.expect(b'\\')?;
                                self.expect(b'u')?;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.malformed("bad surrogate pair"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            char::from_u32(code).ok_or_else(|| self.malformed("bad \\u escape"))?
                        }
                        _ => return Err(self.malformed("bad escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                b if b < 0x20 => return Err(self.malformed("control byte in a string")),
                b => out.push(b),
            }
        }
        String::from_utf8(out).map_err(|_| self.malformed("string is not UTF-8"))
    }
}
