//! Public component commitments and signed openings: an honest provider's
//! copies open their commitments; a copy it changed yields a proof anyone can
//! verify; nothing else passes for a proof.

use triad_mpc_core::PartyId;
use triad_notary::{Blinder, HashAlg, plaintext_hash};
use triad_proto::events::v1::PlaintextCommitment;
use triad_proto::provider::v1::ShareBundle;
use triad_provider::{
    BundleContext, DecimalFormat, EquivocationProof, OpenedBundle, PlainValue, ProofError, ProviderError, PublicKey,
    SealedContribution, SecretKey, ShareCommitments, generate_keypair, open_bundle, os_rng, seal_contribution,
};

const DATASET: &str = "eth-balances";

struct Keys {
    sks: [SecretKey; 3],
    pks: [PublicKey; 3],
}

fn keys() -> Keys {
    let mut rng = os_rng();
    let keys = [0, 1, 2].map(|_| generate_keypair(&mut rng));
    Keys { pks: keys.each_ref().map(|k| k.1.clone()), sks: keys.map(|k| k.0) }
}

fn plain() -> PlainValue {
    let blinder = Blinder([0x5a; 16]);
    PlainValue {
        value: 12_345_000,
        value_bytes: b"12.345".to_vec(),
        blinder: blinder.0,
        commitment: PlaintextCommitment {
            algorithm: "blake3".into(),
            hash: plaintext_hash(HashAlg::Blake3, b"12.345", &blinder).to_vec(),
            start: 100,
            end: 106,
        },
        format: DecimalFormat::new(12, 6, 16).expect("format"),
    }
}

fn seal(k: &Keys, cid: [u8; 16], tweak: impl FnMut(&mut ShareBundle)) -> (SealedContribution, [OpenedBundle; 3]) {
    let sealed = seal_contribution(&[plain()], DATASET, cid, &k.pks, &mut os_rng(), tweak).expect("seal");
    let opened = PartyId::ALL.map(|p| {
        open_bundle(sealed.bundles[p.index()].as_bytes(), &k.sks[p.index()], &BundleContext::new(DATASET, cid, p))
            .expect("opens")
    });
    (sealed, opened)
}

#[test]
fn an_honest_providers_copies_open_their_commitments() {
    let k = keys();
    let (sealed, opened) = seal(&k, [1; 16], |_| {});
    for (i, o) in opened.iter().enumerate() {
        assert_eq!(o.check_components(&sealed.commitments).expect("signed"), vec![], "party {i}");
        let [first, second] = o.openings(0).expect("column 0");
        assert_eq!((first.component, second.component), (i, (i + 1) % 3));
        // The other holder of component i+1 has the same opening, salt included.
        assert_eq!(second, opened[(i + 1) % 3].openings(0).expect("column 0")[0]);
    }
    // The three commitments differ (salted, different components).
    let c = sealed.commitments.components[0];
    assert_eq!(sealed.commitments.components.len(), 1);
    assert!(c[0] != c[1] && c[1] != c[2] && c[0] != c[2]);
    // The wire form round-trips and refuses a wrong shape.
    let mut wire = sealed.commitments.to_proto();
    assert_eq!(ShareCommitments::from_proto(&wire).expect("decodes"), sealed.commitments);
    wire.components.pop();
    assert!(matches!(ShareCommitments::from_proto(&wire), Err(ProviderError::Malformed(_))));
}

#[test]
fn a_copy_the_provider_changed_yields_a_proof_anyone_verifies() {
    let k = keys();
    let cid = [2; 16];
    // P0's copy of x_1 is one unit off; P1's copy is the committed one.
    let (sealed, opened) = seal(&k, cid, |b| {
        if b.party_index == 0 {
            b.columns[0].value_second = b.columns[0].value_second.wrapping_add(1);
        }
    });
    let proofs = opened[0].check_components(&sealed.commitments).expect("signed");
    assert_eq!(proofs.len(), 1);
    assert_eq!(proofs[0].opening.component, 1);
    assert_eq!(sealed.commitments.verify_equivocation(DATASET, &cid, &proofs[0]), Ok(()));
    assert_eq!(opened[1].check_components(&sealed.commitments).expect("signed"), vec![], "P1's copy of x_1 opens c_1");
    assert_eq!(opened[2].check_components(&sealed.commitments).expect("signed"), vec![]);
    // Debug shows no share or salt.
    let shown = format!("{:?} {:?}", proofs[0], opened[0]);
    assert!(!shown.contains(&proofs[0].opening.value.to_string()), "{shown}");
    assert!(!shown.contains(&format!("{:?}", proofs[0].opening.salt)), "{shown}");
    assert!(!shown.contains(&format!("{:?}", opened[0].columns[0].signatures[0])), "{shown}");
}

#[test]
fn a_changed_salt_or_blinder_component_is_caught_too() {
    let k = keys();
    let cid = [3; 16];
    let (sealed, opened) = seal(&k, cid, |b| match b.party_index {
        1 => b.columns[0].salt_second[0] ^= 1,
        2 => b.columns[0].blinder_first[1] ^= 1 << 9,
        _ => {}
    });
    for (party, component) in [(1, 2), (2, 2)] {
        let proofs = opened[party].check_components(&sealed.commitments).expect("signed");
        assert_eq!(proofs.len(), 1, "party {party}");
        assert_eq!(proofs[0].opening.component, component);
        assert_eq!(sealed.commitments.verify_equivocation(DATASET, &cid, &proofs[0]), Ok(()));
    }
}

#[test]
fn a_forged_proof_is_refused() {
    let k = keys();
    let cid = [4; 16];
    let (sealed, opened) = seal(&k, cid, |b| {
        if b.party_index == 0 {
            b.columns[0].value_second = b.columns[0].value_second.wrapping_add(1);
        }
    });
    let public = &sealed.commitments;
    let good = opened[0].check_components(public).expect("signed")[0].clone();

    // A copy that opens its commitment, with its valid signature: no equivocation.
    let honest = EquivocationProof {
        opening: opened[1].openings(0).expect("column 0")[0].clone(),
        signature: opened[1].columns[0].signatures[0],
    };
    assert_eq!(public.verify_equivocation(DATASET, &cid, &honest), Err(ProofError::Opens));
    // A changed component under the provider's signature of another one.
    let mut changed = honest.clone();
    changed.opening.value ^= 1;
    assert_eq!(public.verify_equivocation(DATASET, &cid, &changed), Err(ProofError::BadSignature));
    // A flipped signature bit.
    let mut flipped = good.clone();
    flipped.signature[10] ^= 1;
    assert_eq!(public.verify_equivocation(DATASET, &cid, &flipped), Err(ProofError::BadSignature));
    // A valid proof presented against another contribution, or another
    // provider's key, or relabelled to another component.
    assert_eq!(public.verify_equivocation(DATASET, &[5; 16], &good), Err(ProofError::BadSignature));
    let (other, _) = seal(&k, cid, |_| {});
    assert_eq!(other.commitments.verify_equivocation(DATASET, &cid, &good), Err(ProofError::BadSignature));
    let mut relabelled = good.clone();
    relabelled.opening.component = 2;
    assert_eq!(public.verify_equivocation(DATASET, &cid, &relabelled), Err(ProofError::BadSignature));
    relabelled.opening.component = 3;
    assert_eq!(public.verify_equivocation(DATASET, &cid, &relabelled), Err(ProofError::NoSuchComponent(3)));
    // A key that is no Ed25519 point.
    let broken = ShareCommitments { verifying_key: [0xff; 32], ..public.clone() };
    assert_eq!(broken.verify_equivocation(DATASET, &cid, &good), Err(ProofError::BadSignature));
    assert_eq!(public.verify_equivocation(DATASET, &cid, &good), Ok(()));
}

#[test]
fn a_bundle_whose_signature_does_not_verify_is_unusable() {
    let k = keys();
    // A copy that opens its commitment needs no signature: the commitment
    // already binds it, so a broken signature on it changes nothing.
    let (sealed, mut opened) = seal(&k, [6; 16], |_| {});
    opened[2].columns[0].signatures[1][0] ^= 1;
    assert_eq!(opened[2].check_components(&sealed.commitments).expect("opens"), vec![]);
    // A changed copy is only evidence under a valid signature: without one
    // the bundle is unusable (the provider's fault, not P1's).
    let (sealed, mut opened) = seal(&k, [6; 16], |b| {
        if b.party_index == 2 {
            b.columns[0].value_second = b.columns[0].value_second.wrapping_add(1);
        }
    });
    opened[2].columns[0].signatures[1][0] ^= 1;
    let err = opened[2].check_components(&sealed.commitments).expect_err("bad signature");
    assert!(matches!(err, ProviderError::BadSignature { column: 0, component: 0, .. }), "{err}");
    // A malformed salt does not open at all (nor, then, does its signature exist).
    for tweak in [(|b: &mut ShareBundle| b.columns[0].salt_first.truncate(3)) as fn(&mut ShareBundle), |b| {
        b.columns[0].salt_second.push(0)
    }] {
        let bad = seal_contribution(&[plain()], DATASET, [7; 16], &k.pks, &mut os_rng(), tweak).expect("seal");
        let ctx = BundleContext::new(DATASET, [7; 16], PartyId::ALL[0]);
        let err = open_bundle(bad.bundles[0].as_bytes(), &k.sks[0], &ctx).expect_err("malformed");
        assert!(matches!(err, ProviderError::Inconsistent(_)), "{err}");
    }
}

#[test]
fn each_value_of_a_contribution_is_attributed_on_its_own() {
    let k = keys();
    let cid = [8; 16];
    let format = DecimalFormat::new(4, 0, 16).expect("format");
    let second = PlainValue {
        value: 17,
        value_bytes: b"17".to_vec(),
        blinder: [0x11; 16],
        commitment: PlaintextCommitment {
            algorithm: "blake3".into(),
            hash: plaintext_hash(HashAlg::Blake3, b"17", &Blinder([0x11; 16])).to_vec(),
            start: 120,
            end: 122,
        },
        format,
    };
    // P1's copy of component 2 of the second value is off; the first value is honest.
    let sealed = seal_contribution(&[plain(), second], DATASET, cid, &k.pks, &mut os_rng(), |b| {
        if b.party_index == 1 {
            b.columns[1].value_second ^= 4;
        }
    })
    .expect("seal");
    assert_eq!(sealed.commitments.components.len(), 2);
    let opened = PartyId::ALL.map(|p| {
        open_bundle(sealed.bundles[p.index()].as_bytes(), &k.sks[p.index()], &BundleContext::new(DATASET, cid, p))
            .expect("opens")
    });
    assert_eq!(opened[1].columns.len(), 2);
    let proofs = opened[1].check_components(&sealed.commitments).expect("signed");
    assert_eq!(proofs.len(), 1);
    assert_eq!((proofs[0].opening.column, proofs[0].opening.component), (1, 2));
    assert_eq!(sealed.commitments.verify_equivocation(DATASET, &cid, &proofs[0]), Ok(()));
    // The signature covers the column: the same opening claimed for value 0 proves nothing.
    let mut moved = proofs[0].clone();
    moved.opening.column = 0;
    assert_eq!(sealed.commitments.verify_equivocation(DATASET, &cid, &moved), Err(ProofError::BadSignature));
    moved.opening.column = 2;
    assert_eq!(sealed.commitments.verify_equivocation(DATASET, &cid, &moved), Err(ProofError::NoSuchColumn(2)));
    for i in [0, 2] {
        assert_eq!(opened[i].check_components(&sealed.commitments).expect("signed"), vec![], "party {i}");
    }
    // Public commitments for another number of values than the bundle holds: unusable.
    let mut fewer = sealed.commitments.clone();
    fewer.components.pop();
    assert!(matches!(opened[0].check_components(&fewer), Err(ProviderError::Inconsistent(_))));
    // The wire form keeps three commitments per value, and refuses a ragged list.
    let mut wire = sealed.commitments.to_proto();
    assert_eq!(wire.components.len(), 6);
    assert_eq!(ShareCommitments::from_proto(&wire).expect("decodes"), sealed.commitments);
    wire.components.pop();
    assert!(matches!(ShareCommitments::from_proto(&wire), Err(ProviderError::Malformed(_))));
    // No values at all, or too many, are refused before anything is dealt.
    let none = seal_contribution(&[], DATASET, cid, &k.pks, &mut os_rng(), |_| {});
    assert!(matches!(none, Err(ProviderError::ColumnCount { found: 0, .. })));
    let many = vec![plain(); triad_provider::MAX_COLUMNS + 1];
    assert!(matches!(
        seal_contribution(&many, DATASET, cid, &k.pks, &mut os_rng(), |_| {}),
        Err(ProviderError::ColumnCount { .. })
    ));
}
