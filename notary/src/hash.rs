//! Hash algorithms of the format, and the domain separation of body fields.

use serde::{Serialize, Serializer};
use sha2::Digest as _;

use crate::error::VerifyError;

/// Every supported algorithm yields 32 bytes.
pub const HASH_LEN: usize = 32;

/// A hash algorithm of the format (`HashAlgId` upstream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// SHA-256, id 1.
    Sha256,
    /// BLAKE3, id 2 (the default for attestations and commitments).
    Blake3,
    /// Keccak-256 (the pre-SHA-3 padding, as Ethereum uses), id 3.
    Keccak256,
}

impl HashAlg {
    /// The algorithm with the given wire id.
    pub fn from_id(id: u8) -> Result<Self, VerifyError> {
        match id {
            1 => Ok(Self::Sha256),
            2 => Ok(Self::Blake3),
            3 => Ok(Self::Keccak256),
            other => Err(VerifyError::UnsupportedHashAlgorithm(other)),
        }
    }

    /// The wire id.
    pub fn id(self) -> u8 {
        match self {
            Self::Sha256 => 1,
            Self::Blake3 => 2,
            Self::Keccak256 => 3,
        }
    }

    /// Lower-case name, as in the JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Blake3 => "blake3",
            Self::Keccak256 => "keccak256",
        }
    }

    /// Hashes the concatenation of `parts`.
    pub fn hash_parts(self, parts: &[&[u8]]) -> [u8; HASH_LEN] {
        match self {
            Self::Sha256 => {
                let mut h = sha2::Sha256::new();
                for p in parts {
                    h.update(p);
                }
                h.finalize().into()
            }
            Self::Blake3 => {
                let mut h = blake3::Hasher::new();
                for p in parts {
                    h.update(p);
                }
                h.finalize().into()
            }
            Self::Keccak256 => {
                let mut h = sha3::Keccak256::new();
                for p in parts {
                    h.update(p);
                }
                h.finalize().into()
            }
        }
    }

    /// Hashes `data`.
    pub fn hash(self, data: &[u8]) -> [u8; HASH_LEN] {
        self.hash_parts(&[data])
    }

    /// Checks that `value` has this algorithm's length and returns it as an array.
    pub fn check_len(self, value: &[u8]) -> Result<[u8; HASH_LEN], VerifyError> {
        <[u8; HASH_LEN]>::try_from(value)
            .map_err(|_| VerifyError::BadHashLength { len: value.len(), expected: HASH_LEN })
    }
}

impl std::fmt::Display for HashAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for HashAlg {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Canonical encoding of a value before hashing or signing: BCS, as upstream.
pub(crate) fn canonical<T: Serialize>(value: &T) -> Vec<u8> {
    // BCS fails only on sequences longer than 2^31 - 1 or nesting deeper
    // than 500; decoded presentations are far below both (the input is
    // capped at MAX_PRESENTATION_SIZE and the types do not nest).
    bcs::to_bytes(value).unwrap_or_default()
}

/// The domain separator upstream derives from a type's name: the first 16
/// bytes of BLAKE3 over the type path exactly as written in the
/// `impl_domain_separator!` invocation (`stringify!` of the type).
pub(crate) fn domain(type_path: &str) -> [u8; 16] {
    let full = blake3::hash(type_path.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&full.as_bytes()[..16]);
    out
}

/// Type paths whose names seed the domain separators of hashed values, as
/// upstream writes them (alpha.15: the attestation crate names tlsn-core
/// types by full path and its own types by bare name).
pub(crate) mod domains {
    pub(crate) const VERIFYING_KEY: &str = "VerifyingKey";
    pub(crate) const CONNECTION_INFO: &str = "tlsn_core::connection::ConnectionInfo";
    pub(crate) const SERVER_EPHEM_KEY: &str = "tlsn_core::connection::ServerEphemKey";
    pub(crate) const SERVER_CERT_COMMITMENT: &str = "ServerCertCommitment";
    pub(crate) const SERVER_CERT_OPENING: &str = "ServerCertOpening";
    pub(crate) const EXTENSION: &str = "Extension";
    pub(crate) const TRANSCRIPT_COMMITMENT: &str = "tlsn_core::transcript::TranscriptCommitment";
}

/// `H(domain(type) || BCS(value))`: how upstream hashes attestation fields
/// and the server certificate opening.
pub(crate) fn hash_separated<T: Serialize>(alg: HashAlg, type_path: &str, value: &T) -> [u8; HASH_LEN] {
    alg.hash_parts(&[&domain(type_path), &canonical(value)])
}
