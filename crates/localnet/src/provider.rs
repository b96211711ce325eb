//! The provider's client side and the operator's dataset template, as free functions: the
//! in-process network and the process-level itests build their requests the same way.

use prost::Message as _;
use triad_dev_notary::DevNotary;
use triad_proto::api::v1 as api;
use triad_proto::events::v1 as ev;
use triad_provider::{DecimalFormat, PlainContribution, PublicKey, make_bundles, os_rng, seal_contribution};

use crate::{Context as _, LocalNetError};

/// How a simulated provider behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    /// Shares exactly the balance it proved.
    Honest,
    /// Shares ten times the balance it proved, with the real value bytes and blinder: only
    /// the parties' check inside MPC can tell (`value_mismatch`).
    InflatesTenfold,
    /// Gives party 0 a copy of component x_1 that differs from party 1's (and from the public
    /// commitment), signed: party 0 proves it (`inconsistent_shares`).
    InconsistentShares,
    /// Seals party 0's bundle to party 1's key and party 1's to party 0's: neither can open
    /// its bundle (`bundle_unusable`).
    SealedToWrongParties,
}

/// The notary's template as a dataset's `ProofTemplate`.
pub fn template(notary: &DevNotary, freshness_secs: u64) -> ev::ProofTemplate {
    let t = notary.template(freshness_secs);
    ev::ProofTemplate {
        server_name: t.server_name.clone(),
        request_method: t.method.clone(),
        request_path: t.path.clone(),
        value_json_path: t.value_field.to_string(),
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

/// A provider's whole client side: prove the balance of the account with bearer `token` at
/// `notary`, split and seal it to the parties' `keys` as `behaviour` says, and build the
/// submission to `dataset` (a fresh random contribution id).
pub async fn submission(
    notary: &DevNotary,
    token: &str,
    dataset: &str,
    format: &DecimalFormat,
    keys: &[PublicKey; 3],
    behaviour: Provider,
) -> Result<api::SubmitContributionRequest, LocalNetError> {
    let issued = notary.issue(token).await.step("proving a balance at the notary")?;
    let verifier = notary.verifier_config().step("the notary's verifier configuration")?;
    let verified = triad_notary::verify(&issued.presentation, &verifier).step("checking a fresh presentation")?;
    let commitment = verified.unopened_commitments.first().ok_or_else(|| LocalNetError::Step {
        step: "reading the presentation".into(),
        reason: "it hides no value".into(),
    })?;
    let mut cid = [0u8; 16];
    getrandom::fill(&mut cid).step("operating-system randomness")?;
    let secret = issued.secret.prover_secret();
    // What a dishonest provider seals as it likes, with the real bytes, blinder and commitment.
    let plain = |value: u64| -> Result<PlainContribution, LocalNetError> {
        let range = commitment
            .ranges
            .first()
            .ok_or_else(|| LocalNetError::Step { step: "reading the commitment".into(), reason: "no range".into() })?;
        Ok(PlainContribution {
            value,
            value_bytes: secret.value.clone(),
            blinder: secret.blinder.0,
            commitment: ev::PlaintextCommitment {
                algorithm: commitment.alg.name().to_owned(),
                hash: commitment.hash.to_vec(),
                start: range.start as u64,
                end: range.end as u64,
            },
        })
    };
    let honest = || format.parse(&secret.value).step("the proven balance");
    let sealed = match behaviour {
        Provider::Honest => make_bundles(&secret, commitment, dataset, cid, format, keys, &mut os_rng()),
        Provider::InflatesTenfold => {
            seal_contribution(&plain(honest()?.saturating_mul(10))?, dataset, cid, format, keys, &mut os_rng(), |_| {})
        }
        Provider::InconsistentShares => {
            seal_contribution(&plain(honest()?)?, dataset, cid, format, keys, &mut os_rng(), |b| {
                if b.party_index == 0 {
                    b.value_second = b.value_second.wrapping_add(1);
                }
            })
        }
        Provider::SealedToWrongParties => {
            let swapped = [keys[1].clone(), keys[0].clone(), keys[2].clone()];
            make_bundles(&secret, commitment, dataset, cid, format, &swapped, &mut os_rng())
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
