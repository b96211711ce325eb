//! The one error type of this crate.

use crate::wire::Direction;

/// Why a presentation (or a prover secret) was rejected.
///
/// Each variant names one check, so a caller (and a test) can tell which
/// part of the presentation failed. Variants carry only public data: never
/// a blinder or hidden transcript bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    // --- decoding -------------------------------------------------------
    /// The input is larger than [`crate::MAX_PRESENTATION_SIZE`].
    #[error("presentation is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not a bincode-encoded presentation.
    #[error("presentation does not decode: {0}")]
    Decode(String),

    // --- attestation ----------------------------------------------------
    /// The attestation header has a version this verifier does not know.
    #[error("unsupported attestation version {0}")]
    UnsupportedVersion(u32),
    /// A hash algorithm id that is not SHA-256 (1), BLAKE3 (2) or Keccak-256 (3).
    #[error("unsupported hash algorithm id {0}")]
    UnsupportedHashAlgorithm(u8),
    /// A hash value whose length does not fit its algorithm.
    #[error("hash value has length {len}, expected {expected}")]
    BadHashLength {
        /// Length found.
        len: usize,
        /// Length the algorithm produces.
        expected: usize,
    },
    /// Two body fields share one field id.
    #[error("attestation body has duplicate field id {0}")]
    DuplicateFieldId(u32),
    /// The Merkle proof of the body is malformed (wrong algorithm, leaf
    /// count, missing or extra sibling hashes).
    #[error("malformed merkle proof: {0}")]
    MalformedMerkleProof(&'static str),
    /// The body fields do not hash to the root in the signed header: a body
    /// field, the Merkle proof or the header's root was changed.
    #[error("attestation body does not match the merkle root in the header")]
    MerkleRootMismatch,
    /// The attestation's verifying key is not one of the pinned notary keys.
    #[error("notary key {key_hex} ({alg}) is not pinned")]
    UntrustedNotaryKey {
        /// Key algorithm of the attestation's key.
        alg: String,
        /// The key, SEC1 hex as found in the attestation.
        key_hex: String,
    },
    /// The notary key in the body is not a valid key of its algorithm.
    #[error("notary verifying key is malformed: {0}")]
    MalformedNotaryKey(String),
    /// A signature algorithm id this verifier does not know.
    #[error("unsupported signature algorithm id {0}")]
    UnsupportedSignatureAlgorithm(u8),
    /// The signature algorithm does not fit the key algorithm.
    #[error("signature algorithm {sig_alg} does not fit key algorithm {key_alg}")]
    SignatureKeyMismatch {
        /// Signature algorithm id.
        sig_alg: u8,
        /// Key algorithm id.
        key_alg: u8,
    },
    /// The signature bytes do not parse as a signature.
    #[error("notary signature is malformed: {0}")]
    MalformedSignature(String),
    /// The notary's signature over the header does not verify.
    #[error("notary signature over the attestation header does not verify")]
    InvalidSignature,

    // --- server identity ------------------------------------------------
    /// The presentation does not carry a server identity proof, and the
    /// configuration requires one.
    #[error("presentation has no server identity proof")]
    MissingIdentityProof,
    /// The server name is not a valid DNS name in lower case.
    #[error("server name {0:?} is not a valid DNS name in lower case")]
    InvalidServerName(String),
    /// The certificate opening (handshake data and blinder) does not hash to
    /// the commitment in the attestation.
    #[error("server certificate opening does not match the attested commitment")]
    CertCommitmentMismatch,
    /// The ephemeral key in the handshake data is not the attested one.
    #[error("server ephemeral key does not match the attested key")]
    EphemeralKeyMismatch,
    /// The handshake data carries no certificate.
    #[error("server certificate chain is empty")]
    MissingCertificates,
    /// The end-entity certificate does not parse.
    #[error("end-entity certificate is malformed: {0}")]
    MalformedCertificate(String),
    /// The certificate was not valid at the connection time.
    #[error("server certificate is not valid at the connection time {time}: {reason}")]
    CertificateNotValidAtTime {
        /// Connection time (UNIX seconds).
        time: u64,
        /// webpki's reason (expired, not yet valid).
        reason: String,
    },
    /// The chain does not lead to a trusted root (or is otherwise invalid).
    #[error("server certificate chain is not trusted: {0}")]
    UntrustedCertificateChain(String),
    /// The certificate is not valid for the presented server name.
    #[error("server certificate is not valid for {0}")]
    ServerNameMismatch(String),
    /// The server's signature over the key exchange parameters does not
    /// verify with the end-entity certificate.
    #[error("server signature over the handshake does not verify")]
    InvalidServerSignature,

    // --- transcript -----------------------------------------------------
    /// The presentation carries no transcript proof, and the configuration
    /// requires one.
    #[error("presentation has no transcript proof")]
    MissingTranscriptProof,
    /// A range set is not canonical (empty, unsorted, overlapping or
    /// touching ranges) or lies outside the transcript.
    #[error("invalid {direction} range set: {reason}")]
    InvalidRanges {
        /// Which transcript.
        direction: Direction,
        /// What is wrong.
        reason: &'static str,
    },
    /// The partial transcript's lengths differ from the attested ones.
    #[error("{direction} transcript length {found} differs from the attested {attested}")]
    TranscriptLengthMismatch {
        /// Which transcript.
        direction: Direction,
        /// Length in the transcript proof.
        found: u64,
        /// Length in the attestation.
        attested: u64,
    },
    /// The disclosed bytes do not fill the disclosed ranges exactly.
    #[error("{direction} disclosed data has {found} bytes, its ranges cover {expected}")]
    DisclosedDataLength {
        /// Which transcript.
        direction: Direction,
        /// Bytes present.
        found: usize,
        /// Bytes the ranges cover.
        expected: usize,
    },
    /// A plaintext-hash opening covers bytes that are not disclosed.
    #[error("{direction} hash opening covers undisclosed bytes")]
    OpeningNotDisclosed {
        /// Which transcript.
        direction: Direction,
    },
    /// A plaintext-hash opening (disclosed bytes plus blinder) matches no
    /// attested commitment: a disclosed byte or a blinder was changed.
    #[error("{direction} hash opening matches no attested commitment")]
    OpeningMismatch {
        /// Which transcript.
        direction: Direction,
    },
    /// Some disclosed bytes are not covered by any verified opening.
    #[error("{direction} transcript discloses bytes no commitment authenticates")]
    UnauthenticatedData {
        /// Which transcript.
        direction: Direction,
    },

    // --- prover secret --------------------------------------------------
    /// The prover's value has a different length than the committed ranges.
    #[error("secret value has {found} bytes, the commitment covers {expected}")]
    SecretLength {
        /// Length of the value.
        found: usize,
        /// Bytes covered by the commitment's ranges.
        expected: usize,
    },
    /// hash(value || blinder) is not the committed hash.
    #[error("secret does not open the commitment")]
    CommitmentMismatch,
}
