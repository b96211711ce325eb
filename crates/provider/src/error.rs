//! Why a bundle could not be made or opened.

use crate::decimal::{DecimalError, FormatError};

/// Why a bundle could not be made or opened. Variants say what to fix.
///
/// Wrapped errors are part of the message, not a `source`, so a report
/// that prints the chain does not repeat them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The committed value is not a well-formed decimal of the dataset's format.
    #[error("the committed value is not a decimal of the dataset's format: {0}")]
    Value(DecimalError),
    /// The dataset's value format is unusable.
    #[error("the dataset's value format is unusable: {0}")]
    Format(FormatError),
    /// The commitment is not a single range of the received transcript.
    #[error("the commitment must cover one range of the received transcript, found {0}")]
    CommitmentShape(String),
    /// The secret does not open the commitment (wrong secret.json for this presentation?).
    #[error("the secret does not open the presentation's commitment: {0}")]
    SecretDoesNotOpen(triad_notary::VerifyError),
    /// The dataset id is empty or too long.
    #[error("the dataset id must be 1 to {max} bytes, found {found}")]
    DatasetId {
        /// Its length.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// A key is malformed.
    #[error("bad key: {0}")]
    BadKey(&'static str),
    /// The bundle's bytes do not decode.
    #[error("malformed bundle: {0}")]
    Malformed(String),
    /// A format version this code does not read.
    #[error("unsupported bundle version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// The bundle's version.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// An HPKE suite other than X25519/HKDF-SHA256/ChaCha20Poly1305.
    #[error("unsupported HPKE suite kem={kem:#06x} kdf={kdf:#06x} aead={aead:#06x}")]
    UnsupportedSuite {
        /// KEM id.
        kem: u32,
        /// KDF id.
        kdf: u32,
        /// AEAD id.
        aead: u32,
    },
    /// Sealed for another party.
    #[error("the bundle is for party {found}, not party {expected}")]
    WrongParty {
        /// The party opening it.
        expected: u32,
        /// The party it names.
        found: u32,
    },
    /// Sealed for another dataset.
    #[error("the bundle is for dataset {found:?}, not {expected:?}")]
    WrongDataset {
        /// The dataset expected.
        expected: String,
        /// The dataset it names.
        found: String,
    },
    /// Sealed for another contribution.
    #[error("the bundle is for contribution {found}, not {expected}")]
    WrongContribution {
        /// Expected id, hex.
        expected: String,
        /// The id it names, hex.
        found: String,
    },
    /// HPKE open failed: the wrong secret key, or the bundle was altered
    /// (its ciphertext, key or clear fields) after sealing.
    #[error("the bundle does not decrypt: wrong party key, or it was altered after sealing")]
    DecryptionFailed,
    /// HPKE seal failed (not expected with valid keys).
    #[error("sealing failed: {0}")]
    Seal(String),
    /// The bundle does not match the `ContributionSubmitted` event or the dataset.
    #[error("the bundle is not what was submitted: {0}")]
    NotAsSubmitted(String),
    /// The provider's signature over one of the party's components does not
    /// verify under its published key: the bundle is unusable, like one that
    /// does not decrypt (and, like that, the party cannot prove it).
    #[error("the provider's signature over component {component} of value {column} does not verify: {reason}")]
    BadSignature {
        /// The value (column index).
        column: usize,
        /// The component (0, 1 or 2).
        component: usize,
        /// Why.
        reason: String,
    },
    /// A contribution must carry 1 to `max` values.
    #[error("a contribution carries 1 to {max} values, found {found}")]
    ColumnCount {
        /// Values given.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// The decrypted shares contradict the envelope or their own shape.
    #[error("inconsistent bundle: {0}")]
    Inconsistent(String),
}

impl From<DecimalError> for ProviderError {
    fn from(e: DecimalError) -> Self {
        Self::Value(e)
    }
}

impl From<FormatError> for ProviderError {
    fn from(e: FormatError) -> Self {
        Self::Format(e)
    }
}
