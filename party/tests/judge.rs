//! Steps 1 and 2 of the intake without the network: every party checks its
//! copies against the provider's public component commitments, the three
//! accusation lists are judged. An equivocating provider is convicted by a
//! proof; a party accusing without one is named; an honest contribution is
//! never dropped by an accusation.

use std::collections::BTreeSet;

use triad_mpc_core::PartyId;
use triad_notary::{Blinder, HashAlg, plaintext_hash};
use triad_party::{Accusation, AccusationFault, IntakeError, accuse, judge};
use triad_proto::events::v1::PlaintextCommitment;
use triad_proto::provider::v1::ShareBundle;
use triad_provider::{
    BundleContext, DecimalFormat, EquivocationProof, OpenedBundle, PlainValue, ProofError, ShareCommitments,
    generate_keypair, open_bundle, os_rng, seal_contribution,
};

const DATASET: &str = "eth-balances";

/// The batch as each party opened it, and the public commitments.
struct Batch {
    opened: [Vec<OpenedBundle>; 3],
    public: Vec<ShareCommitments>,
}

fn plain(value: &[u8], n: u64) -> PlainValue {
    let blinder = Blinder([0x33; 16]);
    PlainValue {
        value: n,
        value_bytes: value.to_vec(),
        blinder: blinder.0,
        commitment: PlaintextCommitment {
            algorithm: "blake3".into(),
            hash: plaintext_hash(HashAlg::Blake3, value, &blinder).to_vec(),
            start: 0,
            end: value.len() as u64,
        },
        format: DecimalFormat::new(12, 4, 16).expect("format"),
    }
}

/// How a provider changes a party's bundle before signing and sealing it.
type Tweak = Box<dyn Fn(&mut ShareBundle)>;

/// Seal one contribution per tweak (contribution id `[k; 16]`) and open
/// every bundle as its party.
fn batch(tweaks: Vec<Tweak>) -> Batch {
    let mut rng = os_rng();
    let keys = [0, 1, 2].map(|_| generate_keypair(&mut rng));
    let pks = keys.each_ref().map(|k| k.1.clone());
    let mut opened: [Vec<OpenedBundle>; 3] = Default::default();
    let mut public = Vec::new();
    for (k, tweak) in tweaks.into_iter().enumerate() {
        let cid = [k as u8; 16];
        let sealed =
            seal_contribution(&[plain(b"12.345", 123_450)], DATASET, cid, &pks, &mut rng, tweak).expect("seal");
        for p in PartyId::ALL {
            let ctx = BundleContext::new(DATASET, cid, p);
            opened[p.index()]
                .push(open_bundle(sealed.bundles[p.index()].as_bytes(), &keys[p.index()].0, &ctx).expect("opens"));
        }
        public.push(sealed.commitments);
    }
    Batch { opened, public }
}

fn honest() -> Tweak {
    Box::new(|_| {})
}

/// The provider gives `party` a copy of its second component off by one.
fn equivocate_to(party: u32) -> Tweak {
    Box::new(move |b| {
        if b.party_index == party {
            b.columns[0].value_second = b.columns[0].value_second.wrapping_add(1);
        }
    })
}

impl Batch {
    /// Every party's own accusation list.
    fn accusations(&self) -> [Vec<Accusation>; 3] {
        [0, 1, 2].map(|i| accuse(&self.opened[i], &self.public).expect("signed bundles"))
    }

    /// Judge at every party; all must agree.
    fn judge(&self, lists: &[Vec<Accusation>; 3]) -> Result<BTreeSet<usize>, IntakeError> {
        let mut verdicts = [0, 1, 2].map(|i| judge(&self.opened[i], &self.public, lists));
        let shown = verdicts.each_ref().map(|v| format!("{v:?}"));
        assert!(shown[0] == shown[1] && shown[1] == shown[2], "parties disagree: {shown:?}");
        std::mem::replace(&mut verdicts[0], Ok(BTreeSet::new()))
    }
}

fn named(r: Result<BTreeSet<usize>, IntakeError>) -> (usize, usize, AccusationFault) {
    match r {
        Err(IntakeError::FalseAccusation { party, contribution, fault }) => (party.index(), contribution, fault),
        other => panic!("expected a false accusation, got {other:?}"),
    }
}

#[test]
fn an_equivocating_provider_is_rejected_with_a_proof_and_the_honest_ones_stay() {
    let b = batch(vec![honest(), equivocate_to(0), honest(), equivocate_to(2)]);
    let lists = b.accusations();
    // P0 holds x_1 of contribution 1 and P2 holds x_0 of contribution 3;
    // their copies are the changed ones. The other holders' copies open.
    assert_eq!(lists[0].iter().map(|a| a.contribution).collect::<Vec<_>>(), vec![1]);
    assert!(lists[1].is_empty());
    assert_eq!(lists[2].iter().map(|a| a.contribution).collect::<Vec<_>>(), vec![3]);
    for a in lists.iter().flatten() {
        let c = &b.opened[0][a.contribution].context;
        assert_eq!(b.public[a.contribution].verify_equivocation(&c.dataset_id, &c.contribution_id, &a.proof), Ok(()));
    }
    assert_eq!(b.judge(&lists).expect("provable"), BTreeSet::from([1, 3]));
}

#[test]
fn an_honest_batch_has_no_accusation() {
    let b = batch(vec![honest(), honest()]);
    let lists = b.accusations();
    assert!(lists.iter().all(Vec::is_empty));
    assert_eq!(b.judge(&lists).expect("nothing to judge"), BTreeSet::new());
}

#[test]
fn a_party_inflating_its_rejections_is_named() {
    let b = batch(vec![honest(), equivocate_to(0), honest()]);
    let mut lists = b.accusations();
    // P1 also reports contribution 2, an honest one, with the best it has:
    // its own copy and the provider's valid signature on it.
    let [first, _] = b.opened[1][2].openings(0).expect("value 0");
    lists[1].push(Accusation {
        contribution: 2,
        proof: EquivocationProof { opening: first, signature: b.opened[1][2].columns[0].signatures[0] },
    });
    assert_eq!(named(b.judge(&lists)), (1, 2, AccusationFault::Proof(ProofError::Opens)));
}

#[test]
fn a_party_forging_a_proof_is_named() {
    let b = batch(vec![honest(), honest()]);
    let genuine = Accusation {
        contribution: 0,
        proof: EquivocationProof {
            opening: b.opened[2][0].openings(0).expect("value 0")[1].clone(),
            signature: b.opened[2][0].columns[0].signatures[1],
        },
    };
    // A changed component under the signature of the real one.
    let mut changed = genuine.clone();
    changed.proof.opening.value ^= 1 << 20;
    // A made-up signature on a changed component.
    let mut made_up = changed.clone();
    made_up.proof.signature = [7; 64];
    // A contribution that is not in the batch.
    let mut missing = genuine.clone();
    missing.contribution = 2;
    for (forged, fault) in [
        (changed, AccusationFault::Proof(ProofError::BadSignature)),
        (made_up, AccusationFault::Proof(ProofError::BadSignature)),
        (missing.clone(), AccusationFault::NoSuchContribution),
    ] {
        let mut lists = b.accusations();
        let contribution = forged.contribution;
        lists[2].push(forged);
        assert_eq!(named(b.judge(&lists)), (2, contribution, fault));
    }
}

#[test]
fn adaptive_a_party_replaying_an_honest_partys_proof_against_another_contribution_is_named() {
    let b = batch(vec![honest(), equivocate_to(1), honest()]);
    let mut lists = b.accusations();
    assert_eq!(lists[1].len(), 1);
    // P0 saw P1's accusation against contribution 1 and publishes it against 2.
    let mut replayed = lists[1][0].clone();
    replayed.contribution = 2;
    lists[0].push(replayed);
    assert_eq!(named(b.judge(&lists)), (0, 2, AccusationFault::Proof(ProofError::BadSignature)));
}

#[test]
fn adaptive_a_party_repeating_a_valid_accusation_changes_nothing() {
    // Repeating a valid proof (against the contribution it proves) is no lie:
    // the provider equivocated, whoever shows it.
    let b = batch(vec![honest(), equivocate_to(1), honest()]);
    let mut lists = b.accusations();
    let copy = lists[1][0].clone();
    lists[2].push(copy);
    assert_eq!(b.judge(&lists).expect("provable"), BTreeSet::from([1]));
}

#[test]
fn a_bundle_whose_signature_does_not_verify_stops_intake_before_any_accusation() {
    // A copy that does not open its commitment under a signature that does not verify: no
    // proof against the provider exists, so the bundle is unusable.
    let mut b = batch(vec![honest(), equivocate_to(1)]);
    b.opened[1][1].columns[0].signatures[1][3] ^= 1;
    match accuse(&b.opened[1], &b.public) {
        Err(IntakeError::Unusable { contribution: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
    match accuse(&b.opened[1], &b.public[..1]) {
        Err(IntakeError::Batch(_)) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_copy_that_opens_its_commitment_needs_no_signature() {
    // Its agreement with the other holder's copy follows from the commitment; the signature is
    // only ever evidence against the provider, which this copy is not.
    let mut b = batch(vec![honest(), honest()]);
    b.opened[0][1].columns[0].signatures[0][3] ^= 1;
    b.opened[0][1].columns[0].signatures[1] = [0; 64];
    assert_eq!(accuse(&b.opened[0], &b.public).expect("usable"), Vec::new());
}
