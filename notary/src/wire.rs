//! The wire format: a presentation as upstream TLSNotary v0.1.0-alpha.15
//! encodes it (bincode 1, fixed-width integers, little endian).
//!
//! These types carry no meaning by themselves: nothing in them is verified.
//! [`crate::verify`] turns them into a [`crate::VerifiedPresentation`].
//! They are public so that tests can tamper with single fields and the
//! development notary can issue presentations in the same format.
//!
//! Field order and enum variant order are the format: bincode and BCS
//! encode neither names nor tags other than the variant's index, so the
//! structs below reproduce upstream's serde data model, not its Rust types.
//! `usize` upstream is `u64` here (both encodings write usize as u64).

use bincode::Options as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::VerifyError;

/// Largest presentation accepted by [`decode`] (the fixtures are ~5.5 KB).
pub const MAX_PRESENTATION_SIZE: usize = 16 * 1024 * 1024;

/// A presentation: a proof of the notary's attestation, and optional
/// server identity and transcript proofs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presentation {
    /// The signed header and the whole body with its Merkle proof.
    pub attestation: AttestationProof,
    /// Opening of the server certificate commitment.
    pub identity: Option<ServerIdentityProof>,
    /// Disclosed transcript and openings of plaintext hash commitments.
    pub transcript: Option<TranscriptProof>,
}

/// Signature, header and body proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationProof {
    /// The notary's signature over `BCS(header)`.
    pub signature: Signature,
    /// The signed header.
    pub header: Header,
    /// The body with a Merkle proof of its fields against `header.root`.
    pub body: BodyProof,
}

/// A notary signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// 1 = secp256k1 (SHA-256), 2 = secp256r1 (SHA-256), 3 = secp256k1 with
    /// Keccak-256 (Ethereum style, `r || s || v`).
    pub alg: u8,
    /// `r || s` (64 bytes), or `r || s || v` (65) for alg 3.
    pub data: Vec<u8>,
}

/// The header: what the notary signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Attestation id.
    pub id: [u8; 16],
    /// Attestation version (0).
    pub version: u32,
    /// Merkle root of the body fields.
    pub root: TypedHash,
}

/// A hash with its algorithm id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TypedHash {
    /// Hash algorithm id (1 SHA-256, 2 BLAKE3, 3 Keccak-256).
    pub alg: u8,
    /// The hash value.
    pub value: HashValue,
}

/// A hash value: a length-prefixed byte string of at most 64 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HashValue(pub Vec<u8>);

/// Upstream's `Hash` holds at most this many bytes.
const MAX_HASH_LEN: usize = 64;

impl Serialize for HashValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Same data model as upstream: a sequence of u8.
        s.collect_seq(self.0.iter())
    }
}

impl<'de> Deserialize<'de> for HashValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = Vec::<u8>::deserialize(d)?;
        if bytes.len() > MAX_HASH_LEN {
            return Err(serde::de::Error::invalid_length(bytes.len(), &"a hash of at most 64 bytes"));
        }
        Ok(Self(bytes))
    }
}

/// The body and a Merkle proof of its fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyProof {
    /// All fields of the attestation body.
    pub body: Body,
    /// Merkle proof of the fields against the header's root.
    pub proof: MerkleProof,
}

/// The attestation body. Each field is a Merkle leaf at its field id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    /// The notary's verifying key.
    pub verifying_key: Field<VerifyingKey>,
    /// Connection time, TLS version, transcript lengths.
    pub connection_info: Field<ConnectionInfo>,
    /// The server's ephemeral ECDH key.
    pub server_ephemeral_key: Field<ServerEphemKey>,
    /// Commitment to the server's handshake data (`ServerCertCommitment`).
    pub cert_commitment: Field<TypedHash>,
    /// Application-defined extensions.
    pub extensions: Vec<Field<Extension>>,
    /// Commitments to transcript data.
    pub transcript_commitments: Vec<Field<TranscriptCommitment>>,
}

/// A body field with its id (its Merkle leaf index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field<T> {
    /// Field id.
    pub id: u32,
    /// Field data.
    pub data: T,
}

/// A notary verifying key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyingKey {
    /// 1 = secp256k1 (k256), 2 = P-256.
    pub alg: u8,
    /// SEC1-encoded public key.
    pub data: Vec<u8>,
}

/// Connection information.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionInfo {
    /// UNIX time (seconds) when the TLS connection started.
    pub time: u64,
    /// TLS version.
    pub version: TlsVersion,
    /// Transcript lengths.
    pub transcript_length: TranscriptLength,
}

/// TLS version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TlsVersion {
    /// TLS 1.2.
    V1_2,
    /// TLS 1.3.
    V1_3,
}

/// Transcript lengths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptLength {
    /// Bytes sent by the prover.
    pub sent: u32,
    /// Bytes received by the prover.
    pub received: u32,
}

/// The server's ephemeral public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerEphemKey {
    /// Key type.
    pub typ: KeyType,
    /// Uncompressed SEC1 point.
    pub key: Vec<u8>,
}

/// Ephemeral key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyType {
    /// secp256r1 (TLS named group 0x0017).
    Secp256r1,
}

/// An attestation extension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    /// Extension id.
    pub id: Vec<u8>,
    /// Extension value.
    pub value: Vec<u8>,
}

/// A transcript commitment. In alpha.15 the only kind is the plaintext hash
/// (encoding commitments were removed from the attestation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TranscriptCommitment {
    /// `H(plaintext over idx || blinder)`.
    Hash(PlaintextHash),
}

/// A plaintext hash commitment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PlaintextHash {
    /// Which transcript.
    pub direction: Direction,
    /// Committed byte ranges.
    pub idx: RangeSet,
    /// The hash.
    pub hash: TypedHash,
}

/// Transcript direction.
///
/// (`rename_all` affects only self-describing formats such as JSON; bincode
/// and BCS encode the variant index.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Prover to server.
    Sent,
    /// Server to prover.
    Received,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Sent => "sent",
            Direction::Received => "received",
        })
    }
}

/// A set of byte ranges (`rangeset::RangeSet<usize>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RangeSet {
    /// Ranges, `start..end`.
    pub ranges: Vec<Range>,
}

/// A half-open range (`std::ops::Range<usize>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Range {
    /// Inclusive start.
    pub start: u64,
    /// Exclusive end.
    pub end: u64,
}

/// A Merkle multi-proof (rs_merkle style).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerkleProof {
    /// Hash algorithm id.
    pub alg: u8,
    /// Number of leaves in the tree.
    pub tree_len: u64,
    /// Sibling hashes, layer by layer from the leaves, by index within a layer.
    pub proof_hashes: Vec<HashValue>,
}

/// Server identity proof: the server name and the opening of the
/// certificate commitment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerIdentityProof {
    /// The server name.
    pub name: ServerName,
    /// Handshake data and blinder (`ServerCertOpening(Blinded<HandshakeData>)`).
    pub opening: ServerCertOpening,
}

/// Server name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerName {
    /// A DNS name.
    Dns(String),
}

/// Opening of the certificate commitment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerCertOpening {
    /// The handshake data.
    pub data: HandshakeData,
    /// The blinder.
    pub blinder: [u8; 16],
}

/// TLS handshake data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandshakeData {
    /// DER certificates, end entity first.
    pub certs: Vec<Vec<u8>>,
    /// The server's signature over the certificate binding.
    pub sig: ServerSignature,
    /// What the server signed.
    pub binding: CertBinding,
}

/// The server's signature over the key exchange parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerSignature {
    /// Signature scheme.
    pub alg: ServerSignatureAlg,
    /// Signature bytes.
    pub sig: Vec<u8>,
}

/// Signature schemes of the server signature (variant order is the format).
#[allow(non_camel_case_types, missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerSignatureAlg {
    ECDSA_NISTP256_SHA256,
    ECDSA_NISTP256_SHA384,
    ECDSA_NISTP384_SHA256,
    ECDSA_NISTP384_SHA384,
    ED25519,
    RSA_PKCS1_2048_8192_SHA256,
    RSA_PKCS1_2048_8192_SHA384,
    RSA_PKCS1_2048_8192_SHA512,
    RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
}

/// What the server's certificate key signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CertBinding {
    /// TLS 1.2: `client_random || server_random || ServerECDHParams`.
    V1_2(CertBindingV1_2),
}

/// TLS 1.2 certificate binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertBindingV1_2 {
    /// Client random.
    pub client_random: [u8; 32],
    /// Server random.
    pub server_random: [u8; 32],
    /// Server's ephemeral key.
    pub server_ephemeral_key: ServerEphemKey,
}

/// Transcript proof: the disclosed data and openings of hash commitments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptProof {
    /// The disclosed data (`PartialTranscript`, serialised compressed).
    pub transcript: CompressedPartialTranscript,
    /// Openings of plaintext hash commitments.
    pub hash_secrets: Vec<PlaintextHashSecret>,
}

/// Disclosed transcript data: the bytes of the disclosed ranges, concatenated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompressedPartialTranscript {
    /// Sent bytes in `sent_idx`, concatenated.
    pub sent_authed: Vec<u8>,
    /// Received bytes in `recv_idx`, concatenated.
    pub received_authed: Vec<u8>,
    /// Disclosed sent ranges.
    pub sent_idx: RangeSet,
    /// Disclosed received ranges.
    pub recv_idx: RangeSet,
    /// Total sent length.
    pub sent_total: u64,
    /// Total received length.
    pub recv_total: u64,
}

/// Opening of one plaintext hash commitment.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaintextHashSecret {
    /// Which transcript.
    pub direction: Direction,
    /// Committed ranges.
    pub idx: RangeSet,
    /// Hash algorithm id.
    pub alg: u8,
    /// The blinder.
    pub blinder: [u8; 16],
}

impl std::fmt::Debug for PlaintextHashSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The blinder stays out of logs.
        f.debug_struct("PlaintextHashSecret")
            .field("direction", &self.direction)
            .field("idx", &self.idx)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn options(limit: u64) -> impl bincode::Options {
    // Upstream writes with `bincode::serialize`: fixed-width integers,
    // little endian. The limit (the input's own length) makes any length
    // prefix larger than the input fail before allocating.
    bincode::DefaultOptions::new().with_fixint_encoding().with_little_endian().with_limit(limit).reject_trailing_bytes()
}

/// Decodes a presentation. Never panics; trailing bytes are an error.
pub fn decode(bytes: &[u8]) -> Result<Presentation, VerifyError> {
    if bytes.len() > MAX_PRESENTATION_SIZE {
        return Err(VerifyError::TooLarge { size: bytes.len(), limit: MAX_PRESENTATION_SIZE });
    }
    options(bytes.len() as u64).deserialize(bytes).map_err(|e| VerifyError::Decode(e.to_string()))
}

/// Encodes a presentation exactly as upstream does.
pub fn encode(presentation: &Presentation) -> Vec<u8> {
    // Serialising these types cannot fail: no maps, no unsized sequences.
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .serialize(presentation)
        .unwrap_or_default()
}
