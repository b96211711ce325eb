//! Share intake: what a batch of contributions of one dataset goes through
//! after each party opened its sealed bundles and before the shares count.
//!
//! 1. [`cross_check`]: the replicated components a party holds in common with
//!    each neighbour are compared (digests, then per-contribution words only
//!    on a mismatch; `triad-mpc-core`'s input check) for the value, the value
//!    bytes and the blinder. Each party learns the mismatches on the two
//!    components it holds; the parties publish them and drop the **union**
//!    (in the service, `ShareRejected` events; in tests, a channel).
//! 2. [`check_commitments`]: on the rest, inside MPC, the commitment
//!    `H(value bytes || blinder)` is recomputed on boolean shares and compared
//!    with the public one, the bytes are checked to be a decimal of the
//!    dataset's format, and the parsed number is compared with the arithmetic
//!    share (`triad-input-check`). Only one verdict per contribution is
//!    revealed.
//!
//! A rejected contribution never disturbs the others of its batch.

use std::collections::BTreeSet;

use triad_input_check::{CheckError, ContributionShares, HashAlg, ValueShape, Verdict, check_batch};
use triad_mpc::NetParty;
use triad_mpc_core::input::InputBundle;
use triad_provider::OpenedBundle;

/// Why a contribution was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Two parties hold different copies of a replicated component: the
    /// provider shared inconsistently (or a party lies; both are indistinguishable
    /// to the third, so the contribution is dropped either way).
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

/// Why a batch could not be checked (nothing about any one contribution).
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
}

/// The shape every bundle of a batch must share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchShape {
    words: usize,
    shape: ValueShape,
    alg: HashAlg,
}

fn batch_shape(batch: &[OpenedBundle]) -> Result<Option<BatchShape>, IntakeError> {
    let Some(first) = batch.first() else { return Ok(None) };
    let shape_of = |b: &OpenedBundle| -> Result<BatchShape, IntakeError> {
        let alg = HashAlg::from_name(&b.commitment.algorithm).ok_or_else(|| {
            IntakeError::Batch(format!("unsupported commitment algorithm {:?}", b.commitment.algorithm))
        })?;
        Ok(BatchShape {
            words: b.value_max_len.div_ceil(8),
            shape: ValueShape {
                max_integer_digits: b.format.max_integer_digits,
                max_decimals: b.format.max_decimals,
            },
            alg,
        })
    };
    let want = shape_of(first)?;
    for (i, b) in batch.iter().enumerate() {
        if shape_of(b)? != want || b.context.dataset_id != first.context.dataset_id {
            return Err(IntakeError::Batch(format!(
                "contribution {i} has another dataset, format or algorithm than contribution 0"
            )));
        }
        let n = [&b.value_bytes.first, &b.value_bytes.second].map(Vec::len);
        let m = [&b.blinder.first, &b.blinder.second].map(Vec::len);
        if n != [want.words; 2] || m != [2; 2] || b.value.first.len() != 1 || b.value.second.len() != 1 {
            return Err(IntakeError::Batch(format!("contribution {i}: share lengths do not fit its format")));
        }
    }
    Ok(Some(want))
}

/// Concatenate one component kind of every bundle into one input batch.
fn concat(batch: &[OpenedBundle], pick: impl Fn(&OpenedBundle) -> &InputBundle) -> InputBundle {
    let mut out = InputBundle { first: Vec::new(), second: Vec::new() };
    for b in batch {
        out.first.extend_from_slice(&pick(b).first);
        out.second.extend_from_slice(&pick(b).second);
    }
    out
}

/// Step 1: compare replicated components with the neighbours. Returns the
/// indices (into `batch`) this party saw a mismatch on; the caller publishes
/// them, and every party drops the union of the three sets.
pub fn cross_check(party: &mut NetParty, batch: &[OpenedBundle]) -> Result<BTreeSet<usize>, IntakeError> {
    let Some(shape) = batch_shape(batch)? else { return Ok(BTreeSet::new()) };
    let mut bad = BTreeSet::new();
    let (_, values) = party.input(concat(batch, |b| &b.value))?;
    bad.extend(values);
    let (_, bytes) = party.input(concat(batch, |b| &b.value_bytes))?;
    bad.extend(bytes.into_iter().map(|w| w / shape.words));
    let (_, blinders) = party.input(concat(batch, |b| &b.blinder))?;
    bad.extend(blinders.into_iter().map(|w| w / 2));
    Ok(bad)
}

/// Step 2: the commitment check in MPC on every contribution not in
/// `rejected` (the union from [`cross_check`], identical at all parties).
/// Returns one outcome per contribution of `batch`, in order.
pub fn check_commitments(
    party: &mut NetParty,
    batch: &[OpenedBundle],
    rejected: &BTreeSet<usize>,
) -> Result<Vec<Outcome>, IntakeError> {
    let Some(shape) = batch_shape(batch)? else { return Ok(Vec::new()) };
    let mut kept = Vec::new();
    let mut shares = Vec::new();
    for (i, b) in batch.iter().enumerate() {
        if rejected.contains(&i) {
            continue;
        }
        let commitment: [u8; 32] = b.commitment.hash.as_slice().try_into().map_err(|_| {
            IntakeError::Batch(format!("contribution {i}: the commitment is {} bytes, not 32", b.commitment.hash.len()))
        })?;
        kept.push(i);
        shares.push(ContributionShares {
            value: (b.value.first[0], b.value.second[0]),
            value_len: b.value_len,
            value_bytes: (b.value_bytes.first.clone(), b.value_bytes.second.clone()),
            blinder: ([b.blinder.first[0], b.blinder.first[1]], [b.blinder.second[0], b.blinder.second[1]]),
            commitment,
        });
    }
    shape.shape.check(shape.alg)?;
    // The shape is checked and the layout was checked by `batch_shape`, so
    // only the engine can fail inside; `circuit` keeps a network failure's cause.
    let verdicts = party.circuit(|p| {
        check_batch(p, shape.shape, shape.alg, &shares).map_err(|e| match e {
            CheckError::Mpc(e) => e,
            _ => triad_mpc_core::Error::InvalidArgument("the commitment check refused a checked batch"),
        })
    })?;
    let mut out = vec![Outcome::Rejected(Reason::InconsistentShares); batch.len()];
    for (i, v) in kept.into_iter().zip(verdicts) {
        out[i] = match v {
            Verdict::Accepted => Outcome::Accepted,
            Verdict::CommitmentMismatch => Outcome::Rejected(Reason::CommitmentMismatch),
            Verdict::MalformedDecimal => Outcome::Rejected(Reason::MalformedDecimal),
            Verdict::ValueMismatch => Outcome::Rejected(Reason::ValueMismatch),
        };
    }
    Ok(out)
}
