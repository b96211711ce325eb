//! Public per-component commitments and signed openings: what makes a
//! rejection for inconsistent shares provable (docs/protocols/input-check.md,
//! "Attributable intake").
//!
//! For each component `j` of a contribution (the `j`-th additive component
//! of the value, of the value bytes and of the blinder) the provider
//! publishes `c_j = SHA-256(opening message of j)` (the message includes a
//! 16-byte salt, so `c_j` hides the component), and the verifying key of a
//! fresh Ed25519 key ([`ShareCommitments`]). Each holder of component `j`
//! gets the salt and the provider's signature over the opening message of
//! *its own copy*. A holder whose copy does not open `c_j` presents the
//! opening and the signature ([`EquivocationProof`]): anyone can check that
//! the provider signed something that does not open its own public
//! commitment. An honest provider never signs such an opening, so no proof
//! against it exists, and an honest contribution is never exposed.

use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use sha2::{Digest as _, Sha256};

const OPENING_DOMAIN: &[u8] = b"triad/provider/component-opening/v2";

/// Most values (columns) one contribution carries.
pub const MAX_COLUMNS: usize = 16;

/// Bytes of a component salt.
pub const SALT_LEN: usize = 16;
/// Bytes of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// What the provider publishes beside the sealed bundles (in the clear; the
/// coordinator puts it in `ContributionSubmitted`): the verifying key of its
/// per-contribution Ed25519 key and three component commitments per column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareCommitments {
    /// Ed25519 verifying key (32 bytes).
    pub verifying_key: [u8; 32],
    /// Per column `c`: `c_{c,j} = SHA-256(opening message of component j of
    /// column c)`, for j = 0, 1, 2.
    pub components: Vec<[[u8; 32]; 3]>,
}

/// Component `j` of one value (column) of a contribution, with its salt:
/// what `c_{c,j}` commits to. `Debug` shows the indices and lengths only.
#[derive(Clone, PartialEq, Eq)]
pub struct ComponentOpening {
    /// Which value of the contribution (the dataset's column index).
    pub column: usize,
    /// Which component: 0, 1 or 2.
    pub component: usize,
    /// `x_j`, the component of the arithmetic value.
    pub value: u64,
    /// The component of the bit-sliced value bytes.
    pub value_bytes: Vec<u64>,
    /// The component of the bit-sliced blinder.
    pub blinder: Vec<u64>,
    /// The salt.
    pub salt: [u8; SALT_LEN],
}

impl std::fmt::Debug for ComponentOpening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ComponentOpening(column={}, component={}, value_bytes={} words, blinder={} words)",
            self.column,
            self.component,
            self.value_bytes.len(),
            self.blinder.len()
        )
    }
}

impl ComponentOpening {
    /// The opening message of `proto/triad/provider/v1/bundle.proto`
    /// ("Component openings") for the contribution `(dataset_id,
    /// contribution_id)`: signed by the provider, hashed into `c_j`.
    pub fn message(&self, dataset_id: &str, contribution_id: &[u8; 16]) -> Vec<u8> {
        let mut m = Vec::with_capacity(
            OPENING_DOMAIN.len()
                + 4
                + dataset_id.len()
                + 16
                + 4
                + 1
                + 8
                + 8
                + 8 * (self.value_bytes.len() + self.blinder.len())
                + SALT_LEN,
        );
        m.extend_from_slice(OPENING_DOMAIN);
        m.extend_from_slice(&(dataset_id.len() as u32).to_be_bytes());
        m.extend_from_slice(dataset_id.as_bytes());
        m.extend_from_slice(contribution_id);
        m.extend_from_slice(&u32::try_from(self.column).unwrap_or(u32::MAX).to_be_bytes());
        // Only 0..3 is meaningful; a larger index is encoded saturated, and
        // every check refuses it before it matters.
        m.push(u8::try_from(self.component).unwrap_or(u8::MAX));
        m.extend_from_slice(&self.value.to_le_bytes());
        for words in [&self.value_bytes, &self.blinder] {
            m.extend_from_slice(&(words.len() as u32).to_be_bytes());
            for w in words.iter() {
                m.extend_from_slice(&w.to_le_bytes());
            }
        }
        m.extend_from_slice(&self.salt);
        m
    }

    /// `SHA-256(message)`: the commitment this opening opens.
    pub fn commitment(&self, dataset_id: &str, contribution_id: &[u8; 16]) -> [u8; 32] {
        Sha256::digest(self.message(dataset_id, contribution_id)).into()
    }
}

/// A provider's signature on an opening that does not open its public
/// commitment: proof that the provider dealt inconsistent shares. Revealing
/// it reveals component `j` of a contribution that is rejected. `Debug`
/// shows the component index only.
#[derive(Clone, PartialEq, Eq)]
pub struct EquivocationProof {
    /// The opening as this party received it.
    pub opening: ComponentOpening,
    /// The provider's Ed25519 signature over its opening message.
    pub signature: [u8; SIGNATURE_LEN],
}

impl std::fmt::Debug for EquivocationProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EquivocationProof(column={}, component={})", self.opening.column, self.opening.component)
    }
}

/// Why an [`EquivocationProof`] (or a received signature) does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The component index is not 0, 1 or 2.
    #[error("component {0} does not exist (0, 1 or 2)")]
    NoSuchComponent(usize),
    /// The contribution has no such column.
    #[error("column {0} does not exist in this contribution")]
    NoSuchColumn(usize),
    /// The signature does not verify under the provider's published key.
    #[error("the signature does not verify under the provider's published key")]
    BadSignature,
    /// The opening opens the public commitment: nothing is inconsistent.
    #[error("the opening matches the public commitment: the provider did not equivocate")]
    Opens,
}

impl ShareCommitments {
    /// The wire form (`triad.provider.v1.ShareCommitments`).
    pub fn to_proto(&self) -> triad_proto::provider::v1::ShareCommitments {
        triad_proto::provider::v1::ShareCommitments {
            verifying_key: self.verifying_key.to_vec(),
            components: self.components.iter().flatten().map(|c| c.to_vec()).collect(),
        }
    }

    /// From the wire form: a 32-byte key and three 32-byte commitments per
    /// column (1 to [`MAX_COLUMNS`] columns).
    pub fn from_proto(p: &triad_proto::provider::v1::ShareCommitments) -> Result<Self, crate::ProviderError> {
        let bad = |m: &str| crate::ProviderError::Malformed(format!("share commitments: {m}"));
        let verifying_key =
            p.verifying_key.as_slice().try_into().map_err(|_| bad("the verifying key is not 32 bytes"))?;
        let components: Vec<[u8; 32]> = p
            .components
            .iter()
            .map(|c| c.as_slice().try_into().map_err(|_| bad("a component commitment is not 32 bytes")))
            .collect::<Result<_, _>>()?;
        if components.is_empty() || !components.len().is_multiple_of(3) || components.len() > 3 * MAX_COLUMNS {
            return Err(bad(&format!(
                "{} component commitments; there must be three per column, for 1 to {MAX_COLUMNS} columns",
                components.len()
            )));
        }
        let components = components.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
        Ok(Self { verifying_key, components })
    }

    /// Whether `opening` opens this contribution's commitment to its component.
    pub fn opens(&self, dataset_id: &str, contribution_id: &[u8; 16], opening: &ComponentOpening) -> bool {
        self.components
            .get(opening.column)
            .and_then(|c| c.get(opening.component))
            .is_some_and(|c| *c == opening.commitment(dataset_id, contribution_id))
    }

    /// Whether `signature` is the provider's over `opening`.
    pub fn verify_signature(
        &self,
        dataset_id: &str,
        contribution_id: &[u8; 16],
        opening: &ComponentOpening,
        signature: &[u8],
    ) -> Result<(), ProofError> {
        if opening.component >= 3 {
            return Err(ProofError::NoSuchComponent(opening.component));
        }
        if opening.column >= self.components.len() {
            return Err(ProofError::NoSuchColumn(opening.column));
        }
        UnparsedPublicKey::new(&ED25519, &self.verifying_key)
            .verify(&opening.message(dataset_id, contribution_id), signature)
            .map_err(|_| ProofError::BadSignature)
    }

    /// Checks a proof that the provider equivocated on contribution
    /// `(dataset_id, contribution_id)`: the signature verifies and the
    /// opening does not open the public commitment.
    pub fn verify_equivocation(
        &self,
        dataset_id: &str,
        contribution_id: &[u8; 16],
        proof: &EquivocationProof,
    ) -> Result<(), ProofError> {
        self.verify_signature(dataset_id, contribution_id, &proof.opening, &proof.signature)?;
        if self.opens(dataset_id, contribution_id, &proof.opening) {
            return Err(ProofError::Opens);
        }
        Ok(())
    }
}

/// The provider's per-contribution signing key. `Debug` shows the public key only.
pub(crate) struct ComponentSigner {
    key: Ed25519KeyPair,
}

impl std::fmt::Debug for ComponentSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ComponentSigner(verifying_key={})", hex::encode(self.key.public_key().as_ref()))
    }
}

impl ComponentSigner {
    /// A key from 32 uniformly random bytes.
    pub(crate) fn from_seed(seed: &[u8; 32]) -> Result<Self, crate::ProviderError> {
        Ed25519KeyPair::from_seed_unchecked(seed)
            .map(|key| Self { key })
            .map_err(|_| crate::ProviderError::Seal("the Ed25519 seed was refused".into()))
    }

    pub(crate) fn verifying_key(&self) -> Result<[u8; 32], crate::ProviderError> {
        self.key
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| crate::ProviderError::Seal("an Ed25519 key is not 32 bytes".into()))
    }

    pub(crate) fn sign(&self, dataset_id: &str, contribution_id: &[u8; 16], opening: &ComponentOpening) -> Vec<u8> {
        self.key.sign(&opening.message(dataset_id, contribution_id)).as_ref().to_vec()
    }
}
