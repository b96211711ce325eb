//! The provider's client side and the operator's dataset template, as free functions: the
//! in-process network and the process-level itests build their requests the same way.

use prost::Message as _;
use triad_dev_notary::DevNotary;
use triad_proto::api::v1 as api;
use triad_proto::events::v1 as ev;
use triad_provider::{DecimalFormat, PlainValue, ProvenValue, PublicKey, make_bundles, os_rng, seal_contribution};

use crate::{Context as _, LocalNetError};

/// How a simulated provider behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    /// Shares exactly the balance it proved.
    Honest,
    /// Shares ten times the value it proved (its last value, for several), with the real value
    /// bytes and blinder: only the parties' check inside MPC can tell (`value_mismatch`).
    InflatesTenfold,
    /// Gives party 0 a copy of component x_1 of its last value that differs from party 1's (and
    /// from the public commitment), signed: party 0 proves it (`inconsistent_shares`).
    InconsistentShares,
    /// Seals party 0's bundle to party 1's key and party 1's to party 0's: neither can open
    /// its bundle (`bundle_unusable`).
    SealedToWrongParties,
}

/// The notary's template as a dataset's `ProofTemplate` (the value paths are the dataset's
/// columns'; a single-value template also names its one path here).
pub fn template(notary: &DevNotary, freshness_secs: u64) -> ev::ProofTemplate {
    let t = notary.template(freshness_secs);
    ev::ProofTemplate {
        server_name: t.server_name.clone(),
        request_method: t.method.clone(),
        request_path: t.path.clone(),
        value_json_path: match t.value_fields.as_slice() {
            [one] => one.to_string(),
            _ => String::new(),
        },
        uid_json_path: t.uid_field.to_string(),
        freshness_secs: t.freshness_secs,
        notary_keys: t.notary_keys.iter().map(ToString::to_string).collect(),
    }
}

/// The parties' share keys, as providers read them from the network.
pub fn share_keys(network: &api::Network) -> Result<[PublicKey; 3], LocalNetError> {
    let key = |i: u32| -> Result<PublicKey, LocalNetError> {
        let p = network.parties.iter().find(|p| p.party == i).ok_or_else(|| LocalNetError::Step {
            step: "reading the share keys".into(),
            reason: format!("party {i} is not in the network"),
        })?;
        PublicKey::from_bytes(&p.share_public_key).step(&format!("party {i}'s share key"))
    };
    Ok([key(0)?, key(1)?, key(2)?])
}

/// A provider's whole client side: prove the values of the account with bearer `token` at
/// `notary` (one per column, `formats` in column order), split and seal them to the parties'
/// `keys` as `behaviour` says, and build the submission to `dataset` (a fresh random
/// contribution id).
pub async fn submission(
    notary: &DevNotary,
    token: &str,
    dataset: &str,
    formats: &[DecimalFormat],
    keys: &[PublicKey; 3],
    behaviour: Provider,
) -> Result<api::SubmitContributionRequest, LocalNetError> {
    let issued = notary.issue(token).await.step("proving the account's values at the notary")?;
    let verifier = notary.verifier_config().step("the notary's verifier configuration")?;
    let verified = triad_notary::verify(&issued.presentation, &verifier).step("checking a fresh presentation")?;
    let matched =
        notary.template(u64::MAX).apply(&verified, verified.time).step("matching the presentation to its template")?;
    if matched.values.len() != formats.len() || issued.secrets.len() != formats.len() {
        return Err(LocalNetError::Step {
            step: "reading the presentation".into(),
            reason: format!("it hides {} values; the dataset has {} columns", matched.values.len(), formats.len()),
        });
    }
    let mut cid = [0u8; 16];
    getrandom::fill(&mut cid).step("operating-system randomness")?;
    let secrets: Vec<_> = issued.secrets.iter().map(|s| s.prover_secret()).collect();
    let proven: Vec<ProvenValue<'_>> = secrets
        .iter()
        .zip(&matched.values)
        .zip(formats)
        .map(|((secret, v), format)| ProvenValue { secret, commitment: &v.commitment, format })
        .collect();
    // What a dishonest provider seals as it likes, with the real bytes, blinders and commitments:
    // every value honest but the last, which is `last(N)`.
    let plain = |last: &dyn Fn(u64) -> u64| -> Result<Vec<PlainValue>, LocalNetError> {
        let count = proven.len();
        proven
            .iter()
            .zip(&matched.values)
            .enumerate()
            .map(|(k, (p, v))| {
                let n = p.format.parse(&p.secret.value).step("the proven value")?;
                Ok(PlainValue {
                    value: if k + 1 == count { last(n) } else { n },
                    value_bytes: p.secret.value.clone(),
                    blinder: p.secret.blinder.0,
                    commitment: ev::PlaintextCommitment {
                        algorithm: v.commitment.alg.name().to_owned(),
                        hash: v.commitment.hash.to_vec(),
                        start: v.range.start as u64,
                        end: v.range.end as u64,
                    },
                    format: *p.format,
                })
            })
            .collect()
    };
    let sealed = match behaviour {
        Provider::Honest => make_bundles(&proven, dataset, cid, keys, &mut os_rng()),
        Provider::InflatesTenfold => {
            seal_contribution(&plain(&|n| n.saturating_mul(10))?, dataset, cid, keys, &mut os_rng(), |_| {})
        }
        Provider::InconsistentShares => seal_contribution(&plain(&|n| n)?, dataset, cid, keys, &mut os_rng(), |b| {
            if let (0, Some(last)) = (b.party_index, b.columns.last_mut()) {
                last.value_second = last.value_second.wrapping_add(1);
            }
        }),
        Provider::SealedToWrongParties => {
            let swapped = [keys[1].clone(), keys[0].clone(), keys[2].clone()];
            make_bundles(&proven, dataset, cid, &swapped, &mut os_rng())
        }
    }
    .step("sealing the bundles")?;
    Ok(api::SubmitContributionRequest {
        dataset_id: dataset.to_owned(),
        presentation: issued.presentation,
        bundles: sealed.bundles.iter().map(|b| b.as_bytes().to_vec()).collect(),
        share_commitments: sealed.commitments.to_proto().encode_to_vec(),
    })
}
