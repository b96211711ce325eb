//! Verifying a whole presentation.

use serde::Serialize;

use crate::attestation::{NotaryKey, verify_attestation};
use crate::error::VerifyError;
use crate::identity::{TrustAnchors, verify_identity};
use crate::transcript::{DisclosedTranscript, UnopenedCommitment, unopened_commitments, verify_transcript};
use crate::wire;

/// What the verifier trusts and requires.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// Pinned notary keys: an attestation signed by any other key fails
    /// with [`VerifyError::UntrustedNotaryKey`].
    pub notary_keys: Vec<NotaryKey>,
    /// Roots for the server certificate chain.
    pub trust_anchors: TrustAnchors,
    /// Fail with [`VerifyError::MissingIdentityProof`] when the server
    /// identity is not proven (default: true).
    pub require_identity: bool,
    /// Fail with [`VerifyError::MissingTranscriptProof`] when no transcript
    /// is disclosed (default: true).
    pub require_transcript: bool,
}

impl VerifierConfig {
    /// Pins `notary_keys`, trusts Mozilla's roots, requires identity and
    /// transcript proofs.
    pub fn new(notary_keys: Vec<NotaryKey>) -> Self {
        Self { notary_keys, trust_anchors: TrustAnchors::mozilla(), require_identity: true, require_transcript: true }
    }
}

/// TLS version of the attested connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TlsVersion {
    /// TLS 1.2.
    #[serde(rename = "1.2")]
    V1_2,
    /// TLS 1.3.
    #[serde(rename = "1.3")]
    V1_3,
}

/// What a verified presentation proves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedPresentation {
    /// The server's DNS name, proven by its certificate (`None` only when
    /// the configuration does not require an identity proof).
    pub server_name: Option<String>,
    /// UNIX time (seconds) at which the TLS connection started.
    pub time: u64,
    /// TLS version.
    pub tls_version: TlsVersion,
    /// The notary key that signed the attestation (one of the pinned keys).
    pub notary_key: NotaryKey,
    /// Attestation id, hex.
    #[serde(serialize_with = "hex_bytes")]
    pub attestation_id: [u8; 16],
    /// Disclosed transcript with its hidden ranges (`None` only when the
    /// configuration does not require a transcript proof).
    pub transcript: Option<DisclosedTranscript>,
    /// Plaintext hash commitments left unopened: the hidden values.
    pub unopened_commitments: Vec<UnopenedCommitment>,
    /// Extensions of the attestation body, `(id, value)`.
    #[serde(serialize_with = "hex_pairs")]
    pub extensions: Vec<(Vec<u8>, Vec<u8>)>,
}

impl VerifiedPresentation {
    /// The JSON report `triad notary verify` prints.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

fn hex_bytes<S: serde::Serializer>(b: &[u8; 16], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(b))
}

fn hex_pairs<S: serde::Serializer>(v: &[(Vec<u8>, Vec<u8>)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|(id, value)| serde_json::json!({ "id": hex::encode(id), "value": hex::encode(value) })))
}

/// Decodes and verifies a presentation file's bytes.
pub fn verify(bytes: &[u8], config: &VerifierConfig) -> Result<VerifiedPresentation, VerifyError> {
    let presentation = wire::decode(bytes)?;
    verify_decoded(&presentation, config)
}

/// Verifies a decoded presentation.
///
/// Order: attestation (Merkle root, pinned key, signature), then the server
/// identity at the attested connection time, then the transcript against
/// the attested commitments.
pub fn verify_decoded(
    presentation: &wire::Presentation,
    config: &VerifierConfig,
) -> Result<VerifiedPresentation, VerifyError> {
    let attestation = &presentation.attestation;
    let notary_key = verify_attestation(attestation, &config.notary_keys)?;
    let body = &attestation.body.body;
    let info = &body.connection_info.data;

    let server_name = match &presentation.identity {
        Some(identity) => Some(verify_identity(
            identity,
            &config.trust_anchors,
            info.time,
            &body.server_ephemeral_key.data,
            &body.cert_commitment.data,
        )?),
        None if config.require_identity => return Err(VerifyError::MissingIdentityProof),
        None => None,
    };

    let (transcript, unopened_commitments) = match &presentation.transcript {
        Some(proof) => {
            let (t, u) = verify_transcript(proof, &info.transcript_length, &body.transcript_commitments)?;
            (Some(t), u)
        }
        None if config.require_transcript => return Err(VerifyError::MissingTranscriptProof),
        None => {
            // Nothing opened: every commitment is unopened.
            let len = &info.transcript_length;
            let u = unopened_commitments(&body.transcript_commitments, &[], len.sent as usize, len.received as usize)?;
            (None, u)
        }
    };

    Ok(VerifiedPresentation {
        server_name,
        time: info.time,
        tls_version: match info.version {
            wire::TlsVersion::V1_2 => TlsVersion::V1_2,
            wire::TlsVersion::V1_3 => TlsVersion::V1_3,
        },
        notary_key,
        attestation_id: attestation.header.id,
        transcript,
        unopened_commitments,
        extensions: body.extensions.iter().map(|f| (f.data.id.clone(), f.data.value.clone())).collect(),
    })
}
