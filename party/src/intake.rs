//! Share intake: what a batch of contributions of one dataset goes through
//! after each party opened its sealed bundles and before the shares count.
//!
//! 1. [`accuse`] (local): each party checks its copies of its two components
//!    of every contribution against the provider's public component
//!    commitments ([`ShareCommitments`], published beside the sealed
//!    bundles). For a copy that does not open its commitment it holds the
//!    provider's signature over that copy: an [`Accusation`] carrying an
//!    [`EquivocationProof`] anyone can check. The parties publish their
//!    accusation lists (in the service through the event log, which every
//!    party reads identically; in tests, a channel).
//! 2. [`judge`] (local, deterministic): given the three parties' lists, every
//!    accusation must carry a valid proof. Then the accused contributions are
//!    rejected for [`Reason::InconsistentShares`], provably the provider's
//!    fault; otherwise the batch aborts with
//!    [`IntakeError::FalseAccusation`] naming the accuser. A party can no
//!    longer censor an honest contribution by reporting it.
//! 3. [`check_commitments`]: on the rest, inside MPC, the commitment
//!    `H(value bytes || blinder)` is recomputed on boolean shares and compared
//!    with the public one, the bytes are checked to be a decimal of the
//!    dataset's format, and the parsed number is compared with the arithmetic
//!    share (`triad-input-check`). Only one verdict per contribution is
//!    revealed.
//!
//! Why no digest exchange is needed: both holders of component `j` check
//! their copies against the same public `c_j`; two copies that open it are
//! equal (collision resistance of SHA-256 over the whole opening). A corrupt
//! party that then computes with another component than the one it holds
//! deviates from the MPC protocol, which the verification of its messages
//! (DZKP) and the compare-view openings catch before any output. The
//! argument is written out in `docs/protocols/input-check.md`, "Attributable
//! intake". `triad-mpc-core`'s `Session::input_check_start` (digests, then
//! lists) is not used: its rejections cannot be attributed.
//!
//! A rejected contribution never disturbs the others of its batch.

use std::collections::BTreeSet;

use triad_input_check::{CheckError, ContributionShares, HashAlg, ValueShape, Verdict, check_batch};
use triad_mpc::NetParty;
use triad_mpc_core::PartyId;
use triad_provider::{EquivocationProof, OpenedBundle, OpenedColumn, ProofError, ProviderError, ShareCommitments};

/// Why a contribution was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The provider signed a copy of a component that does not open its
    /// public commitment: it shared inconsistently, proven by an
    /// [`EquivocationProof`] that [`judge`] verified.
    InconsistentShares,
    /// The shared bytes and blinder do not hash to the proven commitment.
    CommitmentMismatch,
    /// The committed bytes are not a decimal of the dataset's format.
    MalformedDecimal,
    /// The arithmetic share is not the number the committed bytes spell.
    ValueMismatch,
}

impl Reason {
    /// A stable snake_case name (events, logs, JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InconsistentShares => "inconsistent_shares",
            Self::CommitmentMismatch => "commitment_mismatch",
            Self::MalformedDecimal => "malformed_decimal",
            Self::ValueMismatch => "value_mismatch",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict on one contribution of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Its shares count.
    Accepted,
    /// Dropped, with the reason.
    Rejected(Reason),
}

/// Why a batch could not be checked: no contribution of it gets a verdict.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The batch mixes datasets, formats or algorithms, or a bundle is
    /// malformed for its format; the caller grouped it wrongly.
    #[error("batch: {0}")]
    Batch(String),
    /// The MPC session failed (network, or a party deviated: abort).
    #[error(transparent)]
    Mpc(#[from] triad_mpc::Error),
    /// The commitment check refused the batch.
    #[error(transparent)]
    Check(#[from] triad_input_check::CheckError),
    /// A party published an accusation without a valid proof: it is named,
    /// and the batch aborts (nothing of it is accepted or rejected).
    #[error("party {party} accused contribution {contribution} falsely: {fault}")]
    FalseAccusation {
        /// The accuser.
        party: PartyId,
        /// The contribution it accused (an index into the batch, as it sent it).
        contribution: usize,
        /// What is wrong with its accusation.
        fault: AccusationFault,
    },
    /// This party's own bundle of a contribution is unusable (a provider
    /// signature does not verify). Admission (`OpenedBundle::check_components`
    /// when the bundle is opened) refuses such bundles, so a batch that
    /// reaches intake has none.
    #[error("contribution {contribution}: {source}")]
    Unusable {
        /// The contribution.
        contribution: usize,
        /// Why.
        source: ProviderError,
    },
}

/// Why an accusation is false.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccusationFault {
    /// The accused index is not in the batch.
    #[error("there is no such contribution in the batch")]
    NoSuchContribution,
    /// The proof does not verify.
    #[error(transparent)]
    Proof(#[from] ProofError),
}

/// A party's claim that the provider of one contribution equivocated, with
/// the proof. `Debug` shows no share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accusation {
    /// The contribution's index in the batch.
    pub contribution: usize,
    /// The provider's signature over a copy that does not open its commitment.
    pub proof: EquivocationProof,
}

/// The shape every bundle of a batch must share, per value (column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ColumnShape {
    words: usize,
    shape: ValueShape,
    alg: HashAlg,
}

/// The shapes of the batch's values (one per column; empty for an empty batch), checked
/// alike in every bundle.
fn batch_shape(batch: &[OpenedBundle]) -> Result<Vec<ColumnShape>, IntakeError> {
    let Some(first) = batch.first() else {
        return Ok(Vec::new());
    };
    let shape_of = |c: &OpenedColumn| -> Result<ColumnShape, IntakeError> {
        let alg = HashAlg::from_name(&c.commitment.algorithm).ok_or_else(|| {
            IntakeError::Batch(format!("unsupported commitment algorithm {:?}", c.commitment.algorithm))
        })?;
        Ok(ColumnShape {
            words: c.value_max_len.div_ceil(8),
            shape: ValueShape { max_integer_digits: c.format.max_integer_digits, max_decimals: c.format.max_decimals },
            alg,
        })
    };
    let want = first.columns.iter().map(shape_of).collect::<Result<Vec<_>, _>>()?;
    for (i, b) in batch.iter().enumerate() {
        if b.columns.len() != want.len() || b.context.dataset_id != first.context.dataset_id {
            return Err(IntakeError::Batch(format!(
                "contribution {i} has another dataset or number of values than contribution 0"
            )));
        }
        for (k, (c, want)) in b.columns.iter().zip(&want).enumerate() {
            if shape_of(c)? != *want {
                return Err(IntakeError::Batch(format!(
                    "contribution {i}, value {k}: another format or algorithm than contribution 0's"
                )));
            }
            let n = [&c.value_bytes.first, &c.value_bytes.second].map(Vec::len);
            let m = [&c.blinder.first, &c.blinder.second].map(Vec::len);
            if n != [want.words; 2] || m != [2; 2] || c.value.first.len() != 1 || c.value.second.len() != 1 {
                return Err(IntakeError::Batch(format!(
                    "contribution {i}, value {k}: share lengths do not fit its format"
                )));
            }
        }
    }
    Ok(want)
}

/// Step 1, local: check this party's copies of its two components of every
/// contribution against the public commitments (`public[k]` for `batch[k]`).
/// Returns an accusation, with its proof, for every copy that does not open
/// its commitment; the party publishes the list (empty when every provider
/// was honest) and passes the three parties' lists to [`judge`].
pub fn accuse(batch: &[OpenedBundle], public: &[ShareCommitments]) -> Result<Vec<Accusation>, IntakeError> {
    batch_shape(batch)?;
    if public.len() != batch.len() {
        return Err(IntakeError::Batch(format!(
            "{} contributions but {} sets of component commitments",
            batch.len(),
            public.len()
        )));
    }
    let mut out = Vec::new();
    for (contribution, (b, p)) in batch.iter().zip(public).enumerate() {
        let proofs = b.check_components(p).map_err(|source| IntakeError::Unusable { contribution, source })?;
        out.extend(proofs.into_iter().map(|proof| Accusation { contribution, proof }));
    }
    Ok(out)
}

/// Step 2, local and deterministic: judge the three parties' published
/// accusation lists (`accusations[i]` is party i's). Every accusation must
/// carry a valid proof against the accused contribution's provider (whoever
/// presents it: a valid proof convicts the provider); the accused
/// contributions are returned, to be rejected for
/// [`Reason::InconsistentShares`]. The first accusation without one (in
/// party order, then list order) fails the batch with
/// [`IntakeError::FalseAccusation`] naming its party. Every honest party
/// gets the same answer from the same lists.
pub fn judge(
    batch: &[OpenedBundle],
    public: &[ShareCommitments],
    accusations: &[Vec<Accusation>; 3],
) -> Result<BTreeSet<usize>, IntakeError> {
    if public.len() != batch.len() {
        return Err(IntakeError::Batch(format!(
            "{} contributions but {} sets of component commitments",
            batch.len(),
            public.len()
        )));
    }
    let mut rejected = BTreeSet::new();
    for (party, list) in PartyId::ALL.into_iter().zip(accusations) {
        for a in list {
            let false_accusation =
                |fault: AccusationFault| IntakeError::FalseAccusation { party, contribution: a.contribution, fault };
            let (Some(b), Some(p)) = (batch.get(a.contribution), public.get(a.contribution)) else {
                return Err(false_accusation(AccusationFault::NoSuchContribution));
            };
            p.verify_equivocation(&b.context.dataset_id, &b.context.contribution_id, &a.proof)
                .map_err(|e| false_accusation(e.into()))?;
            rejected.insert(a.contribution);
        }
    }
    Ok(rejected)
}

/// Step 3: the commitment check in MPC on every contribution not in
/// `rejected` (from [`judge`], identical at all parties).
/// Returns one outcome per contribution of `batch`, in order.
pub fn check_commitments(
    party: &mut NetParty,
    batch: &[OpenedBundle],
    rejected: &BTreeSet<usize>,
) -> Result<Vec<Outcome>, IntakeError> {
    let shapes = batch_shape(batch)?;
    let kept: Vec<usize> = (0..batch.len()).filter(|i| !rejected.contains(i)).collect();
    // One batch check per value (column): each has its own format, so its own circuit.
    let mut per_column = Vec::with_capacity(shapes.len());
    for (k, shape) in shapes.iter().enumerate() {
        let mut shares = Vec::with_capacity(kept.len());
        for &i in &kept {
            let c = &batch[i].columns[k];
            let commitment: [u8; 32] = c.commitment.hash.as_slice().try_into().map_err(|_| {
                IntakeError::Batch(format!(
                    "contribution {i}, value {k}: the commitment is {} bytes, not 32",
                    c.commitment.hash.len()
                ))
            })?;
            shares.push(ContributionShares {
                value: (c.value.first[0], c.value.second[0]),
                value_len: c.value_len,
                value_bytes: (c.value_bytes.first.clone(), c.value_bytes.second.clone()),
                blinder: ([c.blinder.first[0], c.blinder.first[1]], [c.blinder.second[0], c.blinder.second[1]]),
                commitment,
            });
        }
        shape.shape.check(shape.alg)?;
        per_column.push((*shape, shares));
    }
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    if per_column.is_empty() {
        return Err(IntakeError::Batch("the bundles carry no values".into()));
    }
    if kept.is_empty() {
        // Every party judged the same lists, so all skip the MPC alike.
        return Ok(vec![Outcome::Rejected(Reason::InconsistentShares); batch.len()]);
    }
    // The shapes are checked and the layout was checked by `batch_shape`, so
    // only the engine can fail inside; `circuit` keeps a network failure's cause.
    let verdicts = party.circuit(|p| {
        per_column
            .iter()
            .map(|(shape, shares)| {
                check_batch(p, shape.shape, shape.alg, shares).map_err(|e| match e {
                    CheckError::Mpc(e) => e,
                    _ => triad_mpc_core::Error::InvalidArgument("the commitment check refused a checked batch"),
                })
            })
            .collect::<Result<Vec<_>, _>>()
    })?;
    let mut out = vec![Outcome::Rejected(Reason::InconsistentShares); batch.len()];
    let outcome = |v: Option<&Verdict>| match v {
        Some(Verdict::Accepted) => Outcome::Accepted,
        // `check_batch` gives one verdict per contribution; a missing one is never accepted.
        None | Some(Verdict::CommitmentMismatch) => Outcome::Rejected(Reason::CommitmentMismatch),
        Some(Verdict::MalformedDecimal) => Outcome::Rejected(Reason::MalformedDecimal),
        Some(Verdict::ValueMismatch) => Outcome::Rejected(Reason::ValueMismatch),
    };
    for (slot, i) in kept.into_iter().enumerate() {
        // Accepted only if every value is; otherwise the first failing value's reason.
        out[i] = verdicts
            .iter()
            .map(|column| outcome(column.get(slot)))
            .find(|o| *o != Outcome::Accepted)
            .unwrap_or(Outcome::Accepted);
    }
    Ok(out)
}
