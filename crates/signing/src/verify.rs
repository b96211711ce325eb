//! Checking a result's signature with public data only.

use k256::ecdsa::Signature;
use k256::ecdsa::signature::hazmat::PrehashVerifier as _;

use crate::{DatasetKey, NetworkKey, ResultStatement};

/// What the consumer expects of a result: which network, which dataset, and the oldest
/// snapshot it accepts (the latest it knows of, to refuse a replayed old result).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// The network id.
    pub network_id: String,
    /// The dataset id.
    pub dataset_id: String,
    /// The smallest acceptable snapshot.
    pub min_snapshot: u64,
}

/// Why a result does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The signature or key is not well formed (not 64 bytes `r || s` with both in range,
    /// a high `s`, a key not on the curve, ...).
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// The signature does not verify over this result under the dataset's key (for
    /// [`verify_digest`]: over the digest under the given key): the signed data or the
    /// signature was altered, or someone without a quorum of shares made it.
    #[error("forged: the signature does not match the result under the dataset's key")]
    Forged,
    /// A genuine result of another network.
    #[error("wrong network: expected {expected:?}, the result is of {found:?}")]
    WrongNetwork {
        /// Expected network id.
        expected: String,
        /// The result's.
        found: String,
    },
    /// A genuine result of another dataset.
    #[error("wrong dataset: expected {expected:?}, the result is of {found:?}")]
    WrongDataset {
        /// Expected dataset id.
        expected: String,
        /// The result's.
        found: String,
    },
    /// A genuine result of an older snapshot than the consumer accepts.
    #[error("stale snapshot: the result is of snapshot {found}, at least {minimum} is expected")]
    StaleSnapshot {
        /// The smallest acceptable.
        minimum: u64,
        /// The result's.
        found: u64,
    },
}

/// Checks `signature` (64 bytes `r || s`, low `s`) over `result` under the key of the
/// result's dataset derived from `key`, then the result against `expected`. The signature is
/// checked first, so `WrongDataset` and `StaleSnapshot` speak of genuine results.
pub fn verify(
    key: &NetworkKey,
    result: &ResultStatement,
    signature: &[u8],
    expected: &Expectation,
) -> Result<(), VerifyError> {
    let signature = parse_signature(signature)?;
    let dataset_key =
        key.dataset_key(&result.dataset_id).map_err(|_| VerifyError::Malformed("the dataset key cannot be derived"))?;
    check_signature(&dataset_key, result, &signature)?;
    check_claims(result, expected)
}

/// As [`verify`], with one dataset's pinned key: a result of another dataset is refused
/// before its signature is looked at (it cannot verify under this key).
pub fn verify_with_dataset_key(
    key: &DatasetKey,
    result: &ResultStatement,
    signature: &[u8],
    expected: &Expectation,
) -> Result<(), VerifyError> {
    let signature = parse_signature(signature)?;
    if result.dataset_id != expected.dataset_id {
        return Err(wrong_dataset(result, expected));
    }
    check_signature(key, result, &signature)?;
    check_claims(result, expected)
}

/// Checks `signature` (64 bytes `r || s`, low `s`, as the network signs) over the 32-byte
/// prehash `digest` under `public_key` (SEC1 compressed), e.g. a request key
/// ([`NetworkKey::request_key`]) or a dataset key: `Malformed` for a signature or key that is
/// not well formed, `Forged` for one that does not verify.
pub fn verify_digest(public_key: &[u8; 33], digest: &[u8; 32], signature: &[u8]) -> Result<(), VerifyError> {
    let signature = parse_signature(signature)?;
    check_prehash(&DatasetKey { public_key: *public_key }, digest, &signature)
}

fn parse_signature(bytes: &[u8]) -> Result<Signature, VerifyError> {
    if bytes.len() != 64 {
        return Err(VerifyError::Malformed("a signature is 64 bytes"));
    }
    let signature = Signature::from_slice(bytes).map_err(|_| VerifyError::Malformed("r or s out of range"))?;
    if signature.normalize_s().is_some() {
        return Err(VerifyError::Malformed("high s (the network signs with low s)"));
    }
    Ok(signature)
}

fn check_signature(key: &DatasetKey, result: &ResultStatement, signature: &Signature) -> Result<(), VerifyError> {
    check_prehash(key, &result.digest(), signature)
}

fn check_prehash(key: &DatasetKey, digest: &[u8; 32], signature: &Signature) -> Result<(), VerifyError> {
    let verifying_key = key.verifying_key().map_err(|_| VerifyError::Malformed("the key is not a curve point"))?;
    verifying_key.verify_prehash(digest, signature).map_err(|_| VerifyError::Forged)
}

fn check_claims(result: &ResultStatement, expected: &Expectation) -> Result<(), VerifyError> {
    if result.network_id != expected.network_id {
        return Err(VerifyError::WrongNetwork {
            expected: expected.network_id.clone(),
            found: result.network_id.clone(),
        });
    }
    if result.dataset_id != expected.dataset_id {
        return Err(wrong_dataset(result, expected));
    }
    if result.snapshot < expected.min_snapshot {
        return Err(VerifyError::StaleSnapshot { minimum: expected.min_snapshot, found: result.snapshot });
    }
    Ok(())
}

fn wrong_dataset(result: &ResultStatement, expected: &Expectation) -> VerifyError {
    VerifyError::WrongDataset { expected: expected.dataset_id.clone(), found: result.dataset_id.clone() }
}
