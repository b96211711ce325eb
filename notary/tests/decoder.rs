//! The decoder and verifier never panic, whatever the input: random byte
//! strings, and random mutations of the fixtures (which must also never be
//! accepted).

mod common;

use common::*;
use proptest::prelude::*;
use triad_notary::{VerifyError, verify, wire};

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = wire::decode(&bytes);
        prop_assert!(verify(&bytes, &config()).is_err());
    }

    #[test]
    fn a_random_single_byte_change_of_a_fixture_is_rejected(
        which in 0usize..2,
        pos in any::<prop::sample::Index>(),
        value in any::<u8>(),
    ) {
        let mut bytes = if which == 0 { full() } else { hidden() };
        let i = pos.index(bytes.len());
        prop_assume!(bytes[i] != value);
        bytes[i] = value;
        prop_assert!(verify(&bytes, &config()).is_err());
    }

    #[test]
    fn random_multi_byte_changes_and_cuts_of_a_fixture_are_rejected(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let original = hidden();
        let mut bytes = original.clone();
        for (pos, v) in &edits {
            let i = pos.index(bytes.len());
            bytes[i] = *v;
        }
        if do_cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        prop_assume!(bytes != original);
        prop_assert!(verify(&bytes, &config()).is_err());
    }

    /// Length prefixes set to huge values fail fast without allocating.
    #[test]
    fn huge_length_prefixes_are_rejected(pos in any::<prop::sample::Index>(), len in any::<u64>()) {
        let mut bytes = full();
        let i = pos.index(bytes.len() - 8);
        bytes[i..i + 8].copy_from_slice(&len.to_le_bytes());
        let _ = verify(&bytes, &config());
    }
}

#[test]
fn an_input_over_the_size_limit_is_rejected_before_decoding() {
    let big = vec![0u8; triad_notary::MAX_PRESENTATION_SIZE + 1];
    assert!(matches!(
        verify(&big, &config()),
        Err(VerifyError::TooLarge { .. })
    ));
}

#[test]
fn a_length_prefix_beyond_the_input_is_a_decode_error() {
    // The signature's data length is the u64 at offset 1.
    let mut bytes = full();
    bytes[1..9].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(wire::decode(&bytes), Err(VerifyError::Decode(_))));
    bytes[1..9].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(matches!(wire::decode(&bytes), Err(VerifyError::Decode(_))));
}

fn arb_ranges() -> impl Strategy<Value = wire::RangeSet> {
    proptest::collection::vec(
        prop_oneof![(0u64..200, 0u64..200), (any::<u64>(), any::<u64>())],
        0..4,
    )
    .prop_map(|v| wire::RangeSet {
        ranges: v
            .into_iter()
            .map(|(start, end)| wire::Range { start, end })
            .collect(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The transcript proof is not signed: a prover controls all of it.
    /// Arbitrary ranges, lengths and openings must be rejected, not panic.
    #[test]
    fn arbitrary_transcript_proofs_are_rejected_without_panic(
        sent_idx in arb_ranges(),
        recv_idx in arb_ranges(),
        secret_idx in arb_ranges(),
        sent_total in prop_oneof![Just(35u64), any::<u64>()],
        recv_total in prop_oneof![Just(145u64), any::<u64>()],
        extra in 0usize..300,
        which_secret in 0usize..3,
        alg in 0u8..5,
    ) {
        let mut p = decode(&hidden());
        let t = p.transcript.as_mut().expect("transcript");
        t.transcript.sent_idx = sent_idx;
        t.transcript.recv_idx = recv_idx;
        t.transcript.sent_total = sent_total;
        t.transcript.recv_total = recv_total;
        t.transcript.received_authed.resize(extra, b'a');
        t.hash_secrets[which_secret].idx = secret_idx;
        t.hash_secrets[which_secret].alg = alg;
        prop_assert!(verify(&wire::encode(&p), &config()).is_err());
    }

    /// Even a pinned notary that signs nonsense (commitments over arbitrary
    /// ranges, absurd lengths) does not make the verifier panic.
    #[test]
    fn a_notary_signing_arbitrary_commitments_causes_no_panic(
        idx in arb_ranges(),
        sent in any::<u32>(),
        received in prop_oneof![Just(145u32), any::<u32>()],
        alg in 0u8..5,
        tree_alg in prop_oneof![Just(2u8), 0u8..5],
    ) {
        let mut p = decode(&hidden());
        let body = &mut p.attestation.body.body;
        let wire::TranscriptCommitment::Hash(h) = &mut body.transcript_commitments[2].data;
        h.idx = idx;
        h.hash.alg = alg;
        body.connection_info.data.transcript_length.received = received;
        body.connection_info.data.transcript_length.sent = sent % 64;
        p.attestation.header.root.alg = tree_alg;
        let _ = triad_notary::attestation::reseal_secp256k1(&mut p.attestation, &NOTARY_SECRET);
        let _ = verify(&wire::encode(&p), &config());
        p.transcript = None;
        let mut lax = config();
        lax.require_transcript = false;
        let _ = triad_notary::verify_decoded(&p, &lax);
    }
}
