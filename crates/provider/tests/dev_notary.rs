//! The development notary issues a presentation hiding two values of an account; the provider
//! makes bundles from its secrets; the parties reconstruct both values.

use triad_dev_notary::{Account, DevNotary, DevNotaryConfig};
use triad_mpc_core::PartyId;
use triad_provider::{
    BundleContext, DecimalFormat, ProvenValue, ProviderError, generate_keypair, make_bundles, open_bundle, os_rng,
};

#[tokio::test]
async fn bundles_from_a_dev_notary_presentation_reconstruct_each_value() {
    let alice = Account::new("alice-token", "u-alice", "12.345", "ETH")
        .expect("account")
        .with_value("trades", "17")
        .expect("trades");
    let config = DevNotaryConfig {
        accounts: vec![alice],
        value_fields: vec!["balance".into(), "trades".into()],
        ..Default::default()
    };
    let notary = DevNotary::start(config).await.expect("dev notary starts");
    let issued = notary.issue("alice-token").await.expect("issues");
    let verified =
        triad_notary::verify(&issued.presentation, &notary.verifier_config().expect("config")).expect("verifies");
    let matched = notary.template(300).apply(&verified, verified.time).expect("fits the template");
    notary.stop();
    assert_eq!((matched.values.len(), issued.secrets.len()), (2, 2));

    let mut rng = os_rng();
    let keys = [0, 1, 2].map(|_| generate_keypair(&mut rng));
    let pks = keys.each_ref().map(|k| k.1.clone());
    let formats = [DecimalFormat::new(12, 6, 16).expect("format"), DecimalFormat::new(4, 0, 16).expect("format")];
    let secrets: Vec<_> = issued.secrets.iter().map(|s| s.prover_secret()).collect();
    let values: Vec<ProvenValue<'_>> = secrets
        .iter()
        .zip(&matched.values)
        .zip(&formats)
        .map(|((secret, v), format)| ProvenValue { secret, commitment: &v.commitment, format })
        .collect();
    let cid = [9u8; 16];
    let sealed = make_bundles(&values, "dev-balances", cid, &pks, &mut rng).expect("bundles").bundles;
    let opened = PartyId::ALL.map(|p| {
        open_bundle(sealed[p.index()].as_bytes(), &keys[p.index()].0, &BundleContext::new("dev-balances", cid, p))
            .expect("opens")
    });
    for (k, expected) in [(0, 12_345_000u64), (1, 17)] {
        let value = opened.iter().fold(0u64, |a, o| a.wrapping_add(o.columns[k].value.first[0]));
        assert_eq!(value, expected, "value {k}");
        let c = &opened[0].columns[k].commitment;
        assert_eq!(c.hash, issued.secrets[k].commitment);
        let range = &issued.secrets[k].range;
        assert_eq!((c.start, c.end), (range.start as u64, range.end as u64));
    }
    // A secret paired with another value's commitment is refused before anything is dealt:
    // it does not open that commitment.
    let crossed = [
        ProvenValue { commitment: values[1].commitment, ..values[0] },
        ProvenValue { commitment: values[0].commitment, ..values[1] },
    ];
    let r = make_bundles(&crossed, "dev-balances", cid, &pks, &mut rng).map(|_| ());
    assert!(matches!(r, Err(ProviderError::SecretDoesNotOpen(_))), "{r:?}");
}
