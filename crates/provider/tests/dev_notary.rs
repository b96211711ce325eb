//! The development notary issues a presentation; the provider makes bundles
//! from its secret; the parties reconstruct the balance.

use triad_dev_notary::{DevNotary, DevNotaryConfig};
use triad_mpc_core::PartyId;
use triad_provider::{BundleContext, DecimalFormat, generate_keypair, make_bundles, open_bundle, os_rng};

#[tokio::test]
async fn bundles_from_a_dev_notary_presentation_reconstruct_the_balance() {
    let notary = DevNotary::start(DevNotaryConfig::default()).await.expect("dev notary starts");
    let issued = notary.issue("alice-token").await.expect("issues");
    let verified =
        triad_notary::verify(&issued.presentation, &notary.verifier_config().expect("config")).expect("verifies");
    let matched = notary.template(300).apply(&verified, verified.time).expect("fits the template");
    notary.stop();

    let mut rng = os_rng();
    let keys = [0, 1, 2].map(|_| generate_keypair(&mut rng));
    let pks = keys.each_ref().map(|k| k.1.clone());
    let format = DecimalFormat::new(12, 6, 16).expect("format");
    let cid = [9u8; 16];
    let sealed =
        make_bundles(&issued.secret.prover_secret(), &matched.commitment, "dev-balances", cid, &format, &pks, &mut rng)
            .expect("bundles")
            .bundles;
    let opened = PartyId::ALL.map(|p| {
        open_bundle(sealed[p.index()].as_bytes(), &keys[p.index()].0, &BundleContext::new("dev-balances", cid, p))
            .expect("opens")
    });
    let value = opened.iter().fold(0u64, |a, o| a.wrapping_add(o.value.first[0]));
    assert_eq!(value, 12_345_000, "alice's 12.345 ETH at 10^6");
    assert_eq!(opened[0].commitment.hash, issued.secret.commitment);
    assert_eq!(
        (opened[0].commitment.start, opened[0].commitment.end),
        (issued.secret.range.start as u64, issued.secret.range.end as u64)
    );
}
