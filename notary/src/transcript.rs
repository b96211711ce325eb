//! Transcript proof: the disclosed bytes, the openings of plaintext hash
//! commitments that authenticate them, and the commitments left unopened
//! (the hidden values a prover secret-shares).

use std::ops::Range;

use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::error::VerifyError;
use crate::hash::{HASH_LEN, HashAlg};
use crate::wire::{self, Direction};

/// Longest transcript (per direction) this verifier materialises.
pub const MAX_TRANSCRIPT_LEN: u64 = 64 * 1024 * 1024;

/// A canonical set of ranges: non-empty, sorted, neither overlapping nor
/// touching, within `0..total`.
pub(crate) fn ranges_from_wire(
    set: &wire::RangeSet,
    total: u64,
    direction: Direction,
) -> Result<Vec<Range<usize>>, VerifyError> {
    let invalid = |reason| VerifyError::InvalidRanges { direction, reason };
    let mut out: Vec<Range<usize>> = Vec::with_capacity(set.ranges.len());
    for r in &set.ranges {
        if r.start >= r.end {
            return Err(invalid("empty or reversed range"));
        }
        if r.end > total {
            return Err(invalid("range beyond the transcript"));
        }
        if let Some(prev) = out.last() {
            if (r.start as usize) <= prev.end {
                return Err(invalid("ranges not sorted and separated"));
            }
        }
        // total <= MAX_TRANSCRIPT_LEN, so these fit in usize.
        out.push(r.start as usize..r.end as usize);
    }
    Ok(out)
}

fn covered(ranges: &[Range<usize>]) -> usize {
    ranges.iter().map(|r| r.len()).sum()
}

/// Whether every byte of `inner` lies in `outer` (both canonical).
fn is_subset(inner: &[Range<usize>], outer: &[Range<usize>]) -> bool {
    inner.iter().all(|r| outer.iter().any(|o| o.start <= r.start && r.end <= o.end))
}

/// Canonical union of canonical sets.
fn union(a: &[Range<usize>], b: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut all: Vec<Range<usize>> = a.iter().chain(b).cloned().collect();
    all.sort_by_key(|r| r.start);
    let mut out: Vec<Range<usize>> = Vec::with_capacity(all.len());
    for r in all {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// `0..total` minus a canonical set.
fn complement(set: &[Range<usize>], total: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut at = 0;
    for r in set {
        if r.start > at {
            out.push(at..r.start);
        }
        at = r.end;
    }
    if at < total {
        out.push(at..total);
    }
    out
}

/// One direction of the transcript as the presentation discloses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisclosedData {
    bytes: Vec<u8>,
    disclosed: Vec<Range<usize>>,
    hidden: Vec<Range<usize>>,
}

impl DisclosedData {
    /// Total length (disclosed and hidden).
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the transcript is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Disclosed (authenticated) ranges.
    pub fn disclosed(&self) -> &[Range<usize>] {
        &self.disclosed
    }

    /// Hidden ranges: the complement of the disclosed ones.
    pub fn hidden(&self) -> &[Range<usize>] {
        &self.hidden
    }

    /// The disclosed bytes of `range`, or `None` unless all of it is
    /// disclosed.
    pub fn get(&self, range: Range<usize>) -> Option<&[u8]> {
        let inside = self.disclosed.iter().any(|d| d.start <= range.start && range.end <= d.end);
        if inside && range.start < range.end { self.bytes.get(range) } else { None }
    }

    /// The whole transcript with every hidden byte replaced by `fill`.
    pub fn redacted(&self, fill: u8) -> Vec<u8> {
        let mut out = self.bytes.clone();
        for r in &self.hidden {
            if let Some(part) = out.get_mut(r.clone()) {
                part.fill(fill);
            }
        }
        out
    }
}

impl Serialize for DisclosedData {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("DisclosedData", 5)?;
        st.serialize_field("length", &self.len())?;
        st.serialize_field("disclosed_ranges", &RangesJson(&self.disclosed))?;
        st.serialize_field("hidden_ranges", &RangesJson(&self.hidden))?;
        st.serialize_field("redacted_utf8", &String::from_utf8_lossy(&self.redacted(b'X')))?;
        let segments: Vec<Segment> = self
            .disclosed
            .iter()
            .map(|r| Segment {
                start: r.start,
                end: r.end,
                hex: hex::encode(self.bytes.get(r.clone()).unwrap_or_default()),
            })
            .collect();
        st.serialize_field("disclosed", &segments)?;
        st.end()
    }
}

#[derive(Serialize)]
struct Segment {
    start: usize,
    end: usize,
    hex: String,
}

/// Ranges as JSON `[[start, end], …]`.
struct RangesJson<'a>(&'a [Range<usize>]);

impl Serialize for RangesJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for r in self.0 {
            seq.serialize_element(&[r.start, r.end])?;
        }
        seq.end()
    }
}

/// Both directions of the disclosed transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisclosedTranscript {
    /// Prover to server.
    pub sent: DisclosedData,
    /// Server to prover.
    pub received: DisclosedData,
}

impl DisclosedTranscript {
    /// One direction.
    pub fn direction(&self, direction: Direction) -> &DisclosedData {
        match direction {
            Direction::Sent => &self.sent,
            Direction::Received => &self.received,
        }
    }
}

/// A plaintext hash commitment of the attestation that the presentation
/// does not open: `hash = H(bytes over ranges, concatenated || blinder)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnopenedCommitment {
    /// Body field id of the commitment.
    pub field_id: u32,
    /// Which transcript.
    pub direction: Direction,
    /// Committed ranges (canonical, within the transcript).
    pub ranges: Vec<Range<usize>>,
    /// Hash algorithm.
    pub alg: HashAlg,
    /// The committed hash.
    pub hash: [u8; HASH_LEN],
}

impl UnopenedCommitment {
    /// Number of committed bytes.
    pub fn len(&self) -> usize {
        covered(&self.ranges)
    }

    /// Whether the commitment covers no byte (never true once verified).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Serialize for UnopenedCommitment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("UnopenedCommitment", 5)?;
        st.serialize_field("field_id", &self.field_id)?;
        st.serialize_field("direction", &self.direction)?;
        st.serialize_field("ranges", &RangesJson(&self.ranges))?;
        st.serialize_field("alg", &self.alg)?;
        st.serialize_field("hash", &hex::encode(self.hash))?;
        st.end()
    }
}

/// A 16-byte blinder. Its `Debug` is opaque so it stays out of logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Blinder(pub [u8; 16]);

impl std::fmt::Debug for Blinder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Blinder(..)")
    }
}

/// What the prover keeps for a hidden value: its bytes and the blinder.
#[derive(Clone, PartialEq, Eq)]
pub struct ProverSecret {
    /// The committed bytes (ranges concatenated in order).
    pub value: Vec<u8>,
    /// The blinder.
    pub blinder: Blinder,
}

impl std::fmt::Debug for ProverSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProverSecret(..)")
    }
}

/// `H(value || blinder)`: the plaintext hash commitment (no domain
/// separation, no length prefix).
pub fn plaintext_hash(alg: HashAlg, value: &[u8], blinder: &Blinder) -> [u8; HASH_LEN] {
    alg.hash_parts(&[value, &blinder.0])
}

/// Checks that `secret` opens `commitment`.
pub fn check_commitment(commitment: &UnopenedCommitment, secret: &ProverSecret) -> Result<(), VerifyError> {
    let expected = commitment.len();
    if secret.value.len() != expected {
        return Err(VerifyError::SecretLength { found: secret.value.len(), expected });
    }
    if plaintext_hash(commitment.alg, &secret.value, &secret.blinder) != commitment.hash {
        return Err(VerifyError::CommitmentMismatch);
    }
    Ok(())
}

/// Rebuilds one direction from the compressed form.
fn expand(
    direction: Direction,
    authed: &[u8],
    idx: &wire::RangeSet,
    total: u64,
    attested: u32,
) -> Result<(Vec<u8>, Vec<Range<usize>>), VerifyError> {
    if total != u64::from(attested) {
        return Err(VerifyError::TranscriptLengthMismatch { direction, found: total, attested: u64::from(attested) });
    }
    if total > MAX_TRANSCRIPT_LEN {
        return Err(VerifyError::InvalidRanges { direction, reason: "transcript longer than this verifier accepts" });
    }
    let ranges = ranges_from_wire(idx, total, direction)?;
    let expected = covered(&ranges);
    if authed.len() != expected {
        return Err(VerifyError::DisclosedDataLength { direction, found: authed.len(), expected });
    }
    let mut bytes = vec![0u8; total as usize];
    let mut rest = authed;
    for r in &ranges {
        // Lengths were checked above; `get` keeps this panic-free regardless.
        let (part, tail) = rest.split_at_checked(r.len()).ok_or(VerifyError::DisclosedDataLength {
            direction,
            found: authed.len(),
            expected,
        })?;
        let dst = bytes
            .get_mut(r.clone())
            .ok_or(VerifyError::InvalidRanges { direction, reason: "range beyond the transcript" })?;
        dst.copy_from_slice(part);
        rest = tail;
    }
    Ok((bytes, ranges))
}

/// Verifies the transcript proof against the attested lengths and
/// commitments. Returns the disclosed transcript and the commitments the
/// proof leaves unopened.
pub(crate) fn verify_transcript(
    proof: &wire::TranscriptProof,
    length: &wire::TranscriptLength,
    commitments: &[wire::Field<wire::TranscriptCommitment>],
) -> Result<(DisclosedTranscript, Vec<UnopenedCommitment>), VerifyError> {
    let t = &proof.transcript;
    let (sent, sent_disclosed) = expand(Direction::Sent, &t.sent_authed, &t.sent_idx, t.sent_total, length.sent)?;
    let (received, recv_disclosed) =
        expand(Direction::Received, &t.received_authed, &t.recv_idx, t.recv_total, length.received)?;

    let mut opened = vec![false; commitments.len()];
    let mut auth_sent: Vec<Range<usize>> = Vec::new();
    let mut auth_recv: Vec<Range<usize>> = Vec::new();
    let mut buffer = Vec::new();
    for secret in &proof.hash_secrets {
        let direction = secret.direction;
        let alg = HashAlg::from_id(secret.alg)?;
        let (data, disclosed, auth) = match direction {
            Direction::Sent => (&sent, &sent_disclosed, &mut auth_sent),
            Direction::Received => (&received, &recv_disclosed, &mut auth_recv),
        };
        let ranges = ranges_from_wire(&secret.idx, data.len() as u64, direction)?;
        if ranges.is_empty() || !is_subset(&ranges, disclosed) {
            return Err(VerifyError::OpeningNotDisclosed { direction });
        }
        buffer.clear();
        for r in &ranges {
            let part = data
                .get(r.clone())
                .ok_or(VerifyError::InvalidRanges { direction, reason: "range beyond the transcript" })?;
            buffer.extend_from_slice(part);
        }
        let expected = wire::PlaintextHash {
            direction,
            idx: secret.idx.clone(),
            hash: wire::TypedHash {
                alg: alg.id(),
                value: wire::HashValue(plaintext_hash(alg, &buffer, &Blinder(secret.blinder)).to_vec()),
            },
        };
        let mut matched = false;
        for (field, is_opened) in commitments.iter().zip(opened.iter_mut()) {
            let wire::TranscriptCommitment::Hash(c) = &field.data;
            if *c == expected {
                *is_opened = true;
                matched = true;
            }
        }
        if !matched {
            return Err(VerifyError::OpeningMismatch { direction });
        }
        *auth = union(auth, &ranges);
    }
    if auth_sent != sent_disclosed {
        return Err(VerifyError::UnauthenticatedData { direction: Direction::Sent });
    }
    if auth_recv != recv_disclosed {
        return Err(VerifyError::UnauthenticatedData { direction: Direction::Received });
    }

    let unopened = unopened_commitments(commitments, &opened, sent.len(), received.len())?;

    let sent_hidden = complement(&sent_disclosed, sent.len());
    let recv_hidden = complement(&recv_disclosed, received.len());
    Ok((
        DisclosedTranscript {
            sent: DisclosedData { bytes: sent, disclosed: sent_disclosed, hidden: sent_hidden },
            received: DisclosedData { bytes: received, disclosed: recv_disclosed, hidden: recv_hidden },
        },
        unopened,
    ))
}

/// The commitments not marked in `opened`, checked and typed.
pub(crate) fn unopened_commitments(
    commitments: &[wire::Field<wire::TranscriptCommitment>],
    opened: &[bool],
    sent_len: usize,
    recv_len: usize,
) -> Result<Vec<UnopenedCommitment>, VerifyError> {
    let mut unopened = Vec::new();
    for (i, field) in commitments.iter().enumerate() {
        if opened.get(i).copied().unwrap_or(false) {
            continue;
        }
        let wire::TranscriptCommitment::Hash(c) = &field.data;
        let total = match c.direction {
            Direction::Sent => sent_len,
            Direction::Received => recv_len,
        };
        let ranges = ranges_from_wire(&c.idx, total as u64, c.direction)?;
        if ranges.is_empty() {
            return Err(VerifyError::InvalidRanges { direction: c.direction, reason: "commitment covers no byte" });
        }
        let alg = HashAlg::from_id(c.hash.alg)?;
        unopened.push(UnopenedCommitment {
            field_id: field.id,
            direction: c.direction,
            ranges,
            alg,
            hash: alg.check_len(&c.hash.value.0)?,
        });
    }
    Ok(unopened)
}
