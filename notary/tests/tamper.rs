//! Every meaningful change to a presentation is rejected, each with its own
//! error. Two kinds of tampering:
//! - decode, change one field, re-encode: the first check on the path
//!   catches it (mostly the Merkle root or the signature);
//! - change a field and then re-commit and re-sign with the fixtures'
//!   notary key (`reseal`): the attestation is valid, so the deeper check
//!   (certificate chain, time, server signature, ...) must catch it.

mod common;

use common::*;
use triad_notary::attestation::reseal_secp256k1;
use triad_notary::identity::cert_commitment;
use triad_notary::{HashAlg, NotaryKey, VerifierConfig, VerifyError, verify, verify_decoded, wire};

fn check(p: &wire::Presentation) -> Result<(), VerifyError> {
    // Through the bytes, as a caller would see it.
    verify(&wire::encode(p), &config()).map(|_| ())
}

fn tampered(bytes: &[u8], f: impl FnOnce(&mut wire::Presentation)) -> Result<(), VerifyError> {
    let mut p = decode(bytes);
    f(&mut p);
    check(&p)
}

/// Applies `f`, re-commits the certificate opening, rebuilds the Merkle
/// proof and re-signs the header with the fixtures' notary key.
fn resealed(bytes: &[u8], f: impl FnOnce(&mut wire::Presentation)) -> Result<(), VerifyError> {
    check(&reseal(bytes, f))
}

fn reseal(bytes: &[u8], f: impl FnOnce(&mut wire::Presentation)) -> wire::Presentation {
    let mut p = decode(bytes);
    f(&mut p);
    if let Some(identity) = &p.identity {
        p.attestation.body.body.cert_commitment.data = cert_commitment(HashAlg::Blake3, &identity.opening);
    }
    reseal_secp256k1(&mut p.attestation, &NOTARY_SECRET).expect("reseal");
    p
}

fn identity(p: &mut wire::Presentation) -> &mut wire::ServerIdentityProof {
    p.identity.as_mut().expect("fixture has an identity proof")
}

fn transcript(p: &mut wire::Presentation) -> &mut wire::TranscriptProof {
    p.transcript.as_mut().expect("fixture has a transcript proof")
}

fn binding(p: &mut wire::Presentation) -> &mut wire::CertBindingV1_2 {
    let wire::CertBinding::V1_2(b) = &mut identity(p).opening.data.binding;
    b
}

// --- sanity: resealing alone changes nothing -------------------------------

#[test]
fn resealing_an_unchanged_presentation_still_verifies() {
    assert_eq!(resealed(&full(), |_| {}), Ok(()));
    assert_eq!(resealed(&hidden(), |_| {}), Ok(()));
}

// --- signature ----------------------------------------------------------

#[test]
fn a_flipped_signature_bit_is_an_invalid_signature() {
    for i in [0, 17, 31, 32, 50, 63] {
        let r = tampered(&full(), |p| p.attestation.signature.data[i] ^= 0x04);
        assert!(
            matches!(r, Err(VerifyError::InvalidSignature | VerifyError::MalformedSignature(_))),
            "byte {i}: {r:?}"
        );
    }
    assert_eq!(tampered(&full(), |p| p.attestation.signature.data[40] ^= 0x01), Err(VerifyError::InvalidSignature));
}

#[test]
fn a_high_s_twin_of_the_signature_is_rejected() {
    let r = tampered(&full(), |p| {
        let sig = k256::ecdsa::Signature::from_slice(&p.attestation.signature.data).expect("sig");
        let (r, s) = sig.split_scalars();
        let high = k256::ecdsa::Signature::from_scalars(r, -*s).expect("high-s");
        p.attestation.signature.data = high.to_bytes().to_vec();
    });
    assert_eq!(r, Err(VerifyError::InvalidSignature));
}

#[test]
fn signature_algorithm_and_length_changes_are_rejected() {
    assert_eq!(
        tampered(&full(), |p| p.attestation.signature.alg = 2),
        Err(VerifyError::SignatureKeyMismatch { sig_alg: 2, key_alg: 1 })
    );
    assert!(matches!(tampered(&full(), |p| p.attestation.signature.alg = 3), Err(VerifyError::MalformedSignature(_))));
    assert_eq!(
        tampered(&full(), |p| p.attestation.signature.alg = 9),
        Err(VerifyError::UnsupportedSignatureAlgorithm(9))
    );
    assert!(matches!(
        tampered(&full(), |p| {
            p.attestation.signature.data.pop();
        }),
        Err(VerifyError::MalformedSignature(_))
    ));
}

// --- header -------------------------------------------------------------

#[test]
fn header_changes_are_rejected() {
    assert_eq!(tampered(&full(), |p| p.attestation.header.id[3] ^= 1), Err(VerifyError::InvalidSignature));
    assert_eq!(tampered(&full(), |p| p.attestation.header.version = 1), Err(VerifyError::UnsupportedVersion(1)));
    assert_eq!(tampered(&full(), |p| p.attestation.header.root.value.0[0] ^= 1), Err(VerifyError::MerkleRootMismatch));
    assert_eq!(tampered(&full(), |p| p.attestation.header.root.alg = 7), Err(VerifyError::UnsupportedHashAlgorithm(7)));
    assert!(matches!(
        tampered(&full(), |p| p.attestation.header.root.alg = 1),
        Err(VerifyError::MalformedMerkleProof(_))
    ));
    assert_eq!(
        tampered(&full(), |p| {
            p.attestation.header.root.value.0.pop();
        }),
        Err(VerifyError::BadHashLength { len: 31, expected: 32 })
    );
}

// --- each body field ----------------------------------------------------

#[test]
fn every_body_field_change_breaks_the_merkle_root() {
    type Edit = fn(&mut wire::Body);
    let edits: &[(&str, Edit)] = &[
        ("verifying key", |b| {
            b.verifying_key.data.data =
                NotaryKey::secp256k1_from_secret(&[0x2b; 32]).expect("key").sec1_compressed().to_vec()
        }),
        ("connection time", |b| b.connection_info.data.time += 1),
        ("tls version", |b| b.connection_info.data.version = wire::TlsVersion::V1_3),
        ("sent length", |b| b.connection_info.data.transcript_length.sent += 1),
        ("received length", |b| b.connection_info.data.transcript_length.received -= 1),
        ("ephemeral key", |b| b.server_ephemeral_key.data.key[10] ^= 1),
        ("cert commitment", |b| b.cert_commitment.data.value.0[0] ^= 1),
        ("commitment hash", |b| {
            let wire::TranscriptCommitment::Hash(h) = &mut b.transcript_commitments[0].data;
            h.hash.value.0[5] ^= 1;
        }),
        ("commitment range", |b| {
            let wire::TranscriptCommitment::Hash(h) = &mut b.transcript_commitments[1].data;
            h.idx.ranges[0].end -= 1;
        }),
        ("commitment direction", |b| {
            let wire::TranscriptCommitment::Hash(h) = &mut b.transcript_commitments[0].data;
            h.direction = wire::Direction::Received;
        }),
        ("commitment alg", |b| {
            let wire::TranscriptCommitment::Hash(h) = &mut b.transcript_commitments[0].data;
            h.hash.alg = 1;
        }),
        ("swapped field ids", |b| {
            let (x, y) = (b.transcript_commitments[0].id, b.transcript_commitments[1].id);
            b.transcript_commitments[0].id = y;
            b.transcript_commitments[1].id = x;
        }),
    ];
    for (name, edit) in edits {
        for bytes in [full(), hidden()] {
            let r = tampered(&bytes, |p| edit(&mut p.attestation.body.body));
            assert_eq!(r, Err(VerifyError::MerkleRootMismatch), "{name}");
        }
    }
}

#[test]
fn added_removed_or_renumbered_body_fields_are_rejected() {
    assert!(matches!(
        tampered(&full(), |p| p
            .attestation
            .body
            .body
            .extensions
            .push(wire::Field { id: 6, data: wire::Extension { id: b"x".to_vec(), value: b"y".to_vec() } })),
        Err(VerifyError::MalformedMerkleProof(_))
    ));
    assert!(matches!(
        tampered(&full(), |p| {
            p.attestation.body.body.transcript_commitments.pop();
        }),
        Err(VerifyError::MalformedMerkleProof(_))
    ));
    assert_eq!(
        tampered(&full(), |p| p.attestation.body.body.transcript_commitments[0].id = 3),
        Err(VerifyError::DuplicateFieldId(3))
    );
}

// --- merkle proof -------------------------------------------------------

#[test]
fn merkle_proof_changes_are_rejected() {
    for len in [0u64, 1, 5, 7, 8, 12, u64::MAX] {
        let r = tampered(&full(), |p| p.attestation.body.proof.tree_len = len);
        assert!(
            matches!(r, Err(VerifyError::MalformedMerkleProof(_) | VerifyError::MerkleRootMismatch)),
            "tree_len {len}: {r:?}"
        );
    }
    assert_eq!(
        tampered(&full(), |p| p.attestation.body.proof.tree_len = 8),
        Err(VerifyError::MalformedMerkleProof("missing sibling hash"))
    );
    // A well-formed proof for a different tree.
    assert_eq!(
        tampered(&full(), |p| {
            p.attestation.body.proof.tree_len = 8;
            p.attestation.body.proof.proof_hashes.push(wire::HashValue(vec![0; 32]));
        }),
        Err(VerifyError::MerkleRootMismatch)
    );
    assert!(matches!(
        tampered(&full(), |p| p.attestation.body.proof.proof_hashes.push(wire::HashValue(vec![0; 32]))),
        Err(VerifyError::MalformedMerkleProof("unused proof hashes"))
    ));
    assert!(matches!(
        tampered(&full(), |p| p.attestation.body.proof.alg = 1),
        Err(VerifyError::MalformedMerkleProof(_))
    ));
}

// --- pinned key ---------------------------------------------------------

#[test]
fn an_unpinned_notary_key_is_rejected() {
    let other = NotaryKey::secp256k1_from_secret(&[0x2b; 32]).expect("key");
    for bytes in [full(), hidden()] {
        let r = verify(&bytes, &VerifierConfig::new(vec![other.clone()]));
        assert!(matches!(r, Err(VerifyError::UntrustedNotaryKey { .. })), "{r:?}");
        let r = verify(&bytes, &VerifierConfig::new(vec![]));
        assert!(matches!(r, Err(VerifyError::UntrustedNotaryKey { .. })), "{r:?}");
    }
}

#[test]
fn an_attestation_signed_by_another_notary_is_rejected() {
    let mut p = decode(&full());
    let other_secret = [0x2b; 32];
    let other = NotaryKey::secp256k1_from_secret(&other_secret).expect("key");
    reseal_secp256k1(&mut p.attestation, &other_secret).expect("reseal");
    assert!(matches!(check(&p), Err(VerifyError::UntrustedNotaryKey { .. })));
    // The same presentation verifies for whoever pins that notary.
    assert!(verify_decoded(&p, &VerifierConfig::new(vec![other])).is_ok());
}

#[test]
fn a_pinned_key_matches_in_either_sec1_encoding() {
    let sk = k256::ecdsa::SigningKey::from_slice(&NOTARY_SECRET).expect("sk");
    let uncompressed = sk.verifying_key().to_encoded_point(false);
    let pinned = NotaryKey::secp256k1(uncompressed.as_bytes()).expect("key");
    assert!(verify(&full(), &VerifierConfig::new(vec![pinned])).is_ok());
    // The attestation may carry either encoding too (a compressed one is taken as the pinned
    // key without decoding; any other is decoded and compared).
    let mut p = decode(&full());
    let signer = triad_notary::attestation::NotarySigner::Secp256k1(NOTARY_SECRET);
    triad_notary::attestation::reseal_with_key_encoding(&mut p.attestation, &signer, uncompressed.as_bytes().to_vec())
        .expect("reseal");
    assert_eq!(p.attestation.body.body.verifying_key.data.data.len(), 65);
    assert!(verify_decoded(&p, &config()).is_ok());
    // Another key, in either encoding, is not pinned.
    let other = k256::ecdsa::SigningKey::from_slice(&[0x2b; 32]).expect("sk");
    for compress in [true, false] {
        let mut p = decode(&full());
        let other_key = other.verifying_key().to_encoded_point(compress).as_bytes().to_vec();
        triad_notary::attestation::reseal_with_key_encoding(&mut p.attestation, &signer, other_key).expect("reseal");
        assert!(matches!(verify_decoded(&p, &config()), Err(VerifyError::UntrustedNotaryKey { .. })));
    }
}

// --- transcript ---------------------------------------------------------

#[test]
fn a_changed_transcript_byte_is_rejected() {
    for bytes in [full(), hidden()] {
        for i in [0, 7, 34] {
            assert_eq!(
                tampered(&bytes, |p| transcript(p).transcript.sent_authed[i] ^= 1),
                Err(VerifyError::OpeningMismatch { direction: wire::Direction::Sent })
            );
        }
        for i in [0, 60, 121, 140] {
            assert_eq!(
                tampered(&bytes, |p| transcript(p).transcript.received_authed[i] ^= 0x20),
                Err(VerifyError::OpeningMismatch { direction: wire::Direction::Received })
            );
        }
    }
}

#[test]
fn a_changed_blinder_is_rejected() {
    for bytes in [full(), hidden()] {
        for s in 0..2 {
            let r = tampered(&bytes, |p| transcript(p).hash_secrets[s].blinder[15] ^= 1);
            assert!(matches!(r, Err(VerifyError::OpeningMismatch { .. })), "{r:?}");
        }
        assert_eq!(tampered(&bytes, |p| identity(p).opening.blinder[0] ^= 1), Err(VerifyError::CertCommitmentMismatch));
    }
}

#[test]
fn transcript_structure_changes_are_rejected() {
    use wire::Direction::{Received, Sent};
    assert_eq!(
        tampered(&full(), |p| transcript(p).transcript.sent_total += 1),
        Err(VerifyError::TranscriptLengthMismatch { direction: Sent, found: 36, attested: 35 })
    );
    assert_eq!(
        tampered(&full(), |p| transcript(p).transcript.received_authed.push(0)),
        Err(VerifyError::DisclosedDataLength { direction: Received, found: 146, expected: 145 })
    );
    assert_eq!(
        tampered(&full(), |p| {
            transcript(p).hash_secrets.pop();
        }),
        Err(VerifyError::UnauthenticatedData { direction: Received })
    );
    assert_eq!(
        tampered(&full(), |p| transcript(p).hash_secrets.clear()),
        Err(VerifyError::UnauthenticatedData { direction: Sent })
    );
    // An opening over a hidden range.
    assert_eq!(
        tampered(&hidden(), |p| transcript(p).hash_secrets[1].idx.ranges[0].end = 125),
        Err(VerifyError::OpeningNotDisclosed { direction: Received })
    );
    // Disclosing the hidden range with made-up bytes.
    assert_eq!(
        tampered(&hidden(), |p| {
            let t = &mut transcript(p).transcript;
            t.recv_idx.ranges = vec![wire::Range { start: 0, end: 145 }];
            t.received_authed.splice(122..122, *b"999");
        }),
        Err(VerifyError::UnauthenticatedData { direction: Received })
    );
    let r = tampered(&hidden(), |p| {
        transcript(p).transcript.recv_idx.ranges[1].start = 122;
    });
    assert!(matches!(r, Err(VerifyError::InvalidRanges { direction: Received, .. })), "{r:?}");
    let r = tampered(&full(), |p| transcript(p).transcript.sent_idx.ranges[0].end = 40);
    assert!(matches!(r, Err(VerifyError::InvalidRanges { direction: Sent, .. })), "{r:?}");
    assert_eq!(
        tampered(&full(), |p| transcript(p).hash_secrets[0].alg = 9),
        Err(VerifyError::UnsupportedHashAlgorithm(9))
    );
    assert_eq!(
        tampered(&full(), |p| transcript(p).hash_secrets[0].alg = 1),
        Err(VerifyError::OpeningMismatch { direction: Sent })
    );
    assert_eq!(
        tampered(&full(), |p| transcript(p).hash_secrets[0].direction = Received),
        Err(VerifyError::OpeningMismatch { direction: Received })
    );
}

#[test]
fn missing_proofs_are_rejected_unless_allowed() {
    assert_eq!(tampered(&full(), |p| p.identity = None), Err(VerifyError::MissingIdentityProof));
    assert_eq!(tampered(&full(), |p| p.transcript = None), Err(VerifyError::MissingTranscriptProof));
    let mut p = decode(&hidden());
    p.identity = None;
    p.transcript = None;
    let mut lax = config();
    lax.require_identity = false;
    lax.require_transcript = false;
    let v = verify_decoded(&p, &lax).expect("attestation alone verifies");
    assert_eq!(v.server_name, None);
    assert_eq!(v.transcript, None);
    assert_eq!(v.unopened_commitments.len(), 4);
}

// --- server identity ----------------------------------------------------

#[test]
fn a_changed_certificate_byte_breaks_the_cert_commitment() {
    for (cert, at) in [(0, 100), (1, 500), (2, 1000)] {
        assert_eq!(
            tampered(&full(), |p| identity(p).opening.data.certs[cert][at] ^= 1),
            Err(VerifyError::CertCommitmentMismatch)
        );
    }
}

#[test]
fn a_broken_certificate_chain_is_rejected_even_when_committed_and_signed() {
    // Without the intermediate, no path to a root.
    let r = resealed(&full(), |p| {
        identity(p).opening.data.certs.remove(1);
    });
    assert!(matches!(r, Err(VerifyError::UntrustedCertificateChain(_))), "{r:?}");
    // A corrupted signature inside the end-entity certificate.
    let r = resealed(&full(), |p| {
        let ee = &mut identity(p).opening.data.certs[0];
        let n = ee.len();
        ee[n - 10] ^= 1;
    });
    assert!(matches!(r, Err(VerifyError::UntrustedCertificateChain(_))), "{r:?}");
    // Not a certificate at all.
    let r = resealed(&full(), |p| identity(p).opening.data.certs[0] = b"not a certificate".to_vec());
    assert!(matches!(r, Err(VerifyError::MalformedCertificate(_))), "{r:?}");
    assert_eq!(resealed(&full(), |p| identity(p).opening.data.certs.clear()), Err(VerifyError::MissingCertificates));
    // No trusted root at all.
    let p = decode(&full());
    let mut cfg = config();
    cfg.trust_anchors = triad_notary::TrustAnchors::from_der_certs([]).expect("empty");
    assert!(matches!(verify_decoded(&p, &cfg), Err(VerifyError::UntrustedCertificateChain(_))));
}

#[test]
fn a_connection_time_outside_the_certificate_validity_is_rejected() {
    // The end-entity certificate is valid 2022-11-21 .. 2023-02-19.
    for time in [1_600_000_000u64, 1_700_000_000, 0] {
        let r = resealed(&full(), |p| p.attestation.body.body.connection_info.data.time = time);
        assert!(matches!(r, Err(VerifyError::CertificateNotValidAtTime { time: t, .. }) if t == time), "{time}: {r:?}");
    }
    // Inside the validity the resealed presentation still verifies.
    assert_eq!(resealed(&full(), |p| p.attestation.body.body.connection_info.data.time = 1_672_000_000), Ok(()));
}

/// One verifier (one set of anchors) remembers a chain it verified with the chain's validity
/// window: the same chain at another time inside it verifies, outside it is still refused as
/// webpki refuses it, and a changed chain is checked afresh.
#[test]
fn a_remembered_chain_is_refused_outside_its_validity_as_before() {
    let cfg = config();
    let at = |time| reseal(&full(), |p| p.attestation.body.body.connection_info.data.time = time);
    let run = |p: &wire::Presentation| verify_decoded(p, &cfg).map(|_| ());
    assert_eq!(cfg.trust_anchors.verified_chains(), 0);
    assert_eq!(run(&at(1_672_000_000)), Ok(()));
    assert_eq!(cfg.trust_anchors.verified_chains(), 1, "the verified chain is remembered");
    assert_eq!(run(&at(1_672_000_001)), Ok(()));
    assert_eq!(run(&at(1_676_000_000)), Ok(()));
    for time in [1_600_000_000u64, 1_700_000_000, 0, u64::MAX] {
        let r = run(&at(time));
        assert!(matches!(r, Err(VerifyError::CertificateNotValidAtTime { time: t, .. }) if t == time), "{time}: {r:?}");
    }
    let broken = reseal(&full(), |p| {
        p.attestation.body.body.connection_info.data.time = 1_672_000_000;
        let ee = &mut identity(p).opening.data.certs[0];
        let n = ee.len();
        ee[n - 10] ^= 1;
    });
    assert!(matches!(run(&broken), Err(VerifyError::UntrustedCertificateChain(_))));
    let cut = reseal(&full(), |p| {
        p.attestation.body.body.connection_info.data.time = 1_672_000_000;
        identity(p).opening.data.certs.remove(1);
    });
    assert!(matches!(run(&cut), Err(VerifyError::UntrustedCertificateChain(_))));
    assert_eq!(cfg.trust_anchors.verified_chains(), 1, "refused chains are not remembered");
}

#[test]
fn a_wrong_server_name_is_rejected() {
    // The name is not committed: the certificate is what binds it.
    assert_eq!(
        tampered(&full(), |p| identity(p).name = wire::ServerName::Dns("example.com".into())),
        Err(VerifyError::ServerNameMismatch("example.com".into()))
    );
    assert_eq!(
        tampered(&full(), |p| identity(p).name = wire::ServerName::Dns("not a name!".into())),
        Err(VerifyError::InvalidServerName("not a name!".into()))
    );
    // The certificate is valid for every spelling of its name; one spelling (lower case) is
    // accepted, so a presentation cannot be re-encoded into another that also verifies.
    assert_eq!(
        tampered(&full(), |p| identity(p).name = wire::ServerName::Dns("tlsNotary.org".into())),
        Err(VerifyError::InvalidServerName("tlsNotary.org".into()))
    );
}

#[test]
fn a_different_ephemeral_key_is_rejected() {
    // In the opening only (re-committed): no longer the attested key.
    assert_eq!(
        resealed(&full(), |p| binding(p).server_ephemeral_key.key[5] ^= 1),
        Err(VerifyError::EphemeralKeyMismatch)
    );
    // In the attestation only.
    assert_eq!(
        resealed(&full(), |p| p.attestation.body.body.server_ephemeral_key.data.key[5] ^= 1),
        Err(VerifyError::EphemeralKeyMismatch)
    );
    // In both: the server never signed that key.
    assert_eq!(
        resealed(&full(), |p| {
            binding(p).server_ephemeral_key.key[5] ^= 1;
            p.attestation.body.body.server_ephemeral_key.data.key[5] ^= 1;
        }),
        Err(VerifyError::InvalidServerSignature)
    );
}

#[test]
fn a_wrong_server_signature_is_rejected() {
    assert_eq!(
        resealed(&full(), |p| identity(p).opening.data.sig.sig[100] ^= 1),
        Err(VerifyError::InvalidServerSignature)
    );
    assert_eq!(resealed(&full(), |p| binding(p).client_random[0] ^= 1), Err(VerifyError::InvalidServerSignature));
    assert_eq!(resealed(&full(), |p| binding(p).server_random[31] ^= 1), Err(VerifyError::InvalidServerSignature));
    assert_eq!(
        resealed(&full(), |p| identity(p).opening.data.sig.alg = wire::ServerSignatureAlg::RSA_PKCS1_2048_8192_SHA384),
        Err(VerifyError::InvalidServerSignature)
    );
}

// --- raw bytes ----------------------------------------------------------

/// Every single-byte change of either fixture is rejected (never accepted,
/// never a panic). Every byte of the format is either signed, committed, or
/// structure whose change fails decoding or a check.
#[test]
fn every_single_byte_flip_of_the_fixtures_is_rejected() {
    let cfg = config();
    for bytes in [full(), hidden()] {
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            assert!(verify(&b, &cfg).is_err(), "flip of byte {i} accepted");
        }
    }
}

#[test]
fn truncated_and_extended_inputs_are_rejected() {
    let bytes = full();
    for n in [0, 1, 72, 73, 500, bytes.len() - 1] {
        assert!(matches!(verify(&bytes[..n], &config()), Err(VerifyError::Decode(_))), "{n}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(verify(&longer, &config()), Err(VerifyError::Decode(_))));
}

// --- other signature algorithms -----------------------------------------

#[test]
fn p256_and_ethereum_style_notaries_verify_and_reject_tampering() {
    use triad_notary::{NotarySigner, reseal};
    let secret = [0x11; 32];
    for (signer, pinned) in [
        (NotarySigner::P256(secret), NotaryKey::p256(&p256_pub(&secret)).expect("key")),
        (NotarySigner::Secp256k1Eth(secret), NotaryKey::secp256k1_from_secret(&secret).expect("key")),
    ] {
        let mut p = decode(&hidden());
        reseal(&mut p.attestation, &signer).expect("reseal");
        let cfg = VerifierConfig::new(vec![pinned.clone()]);
        let v = verify(&wire::encode(&p), &cfg).expect("verifies");
        assert_eq!(v.notary_key, pinned);
        assert!(matches!(verify(&wire::encode(&p), &config()), Err(VerifyError::UntrustedNotaryKey { .. })));
        let mut bad = p.clone();
        bad.attestation.header.id[0] ^= 1;
        assert_eq!(verify_decoded(&bad, &cfg), Err(VerifyError::InvalidSignature));
        let mut bad = p.clone();
        bad.attestation.signature.alg = 1;
        assert!(verify_decoded(&bad, &cfg).is_err());
    }
}

fn p256_pub(secret: &[u8; 32]) -> Vec<u8> {
    use triad_notary::NotarySigner;
    NotarySigner::P256(*secret).verifying_key().expect("key").data
}

#[test]
fn pinned_keys_parse_from_configuration_text() {
    let k = NotaryKey::parse("secp256k1:035be5e9478209674a96e60f1f037f6176540fd001fa1d64694770c56a7709c42c")
        .expect("parses");
    assert_eq!(k, notary_key());
    assert_eq!(NotaryKey::parse(&k.to_string()), Ok(k));
    assert!(NotaryKey::parse("secp256k1:zz").is_err());
    assert!(NotaryKey::parse("ed25519:00").is_err());
    assert!(NotaryKey::parse("035be5").is_err());
}

// --- trust anchors ------------------------------------------------------

#[test]
fn caller_supplied_roots_replace_the_mozilla_store() {
    let p = decode(&full());
    let certs = p.identity.as_ref().expect("identity").opening.data.certs.clone();
    // The chain's own root (ISRG Root X1), or its intermediate, as the only anchor.
    for anchor in [&certs[2], &certs[1]] {
        let mut cfg = config();
        cfg.trust_anchors = triad_notary::TrustAnchors::from_der_certs([anchor.as_slice()]).expect("anchor");
        assert!(verify_decoded(&p, &cfg).is_ok());
    }
    // A root that does not parse is refused when the anchors are made.
    assert!(triad_notary::TrustAnchors::from_der_certs([b"junk".as_slice()]).is_err());
}
