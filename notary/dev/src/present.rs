//! Building an alpha.15 presentation from a recorded transcript.
//!
//! A real notary attests a TLS connection it took part in through MPC-TLS
//! and never sees the plaintext. This one is trusted: it made the
//! connection itself, holds the whole transcript, and holds the exchange's
//! certificate key, with which it synthesises the TLS 1.2 ECDHE handshake
//! parameters (random values, an ephemeral P-256 key, the server's
//! signature over them) that the format's identity proof expects. The
//! bytes of the transcript are the ones the exchange really served over
//! HTTPS; the handshake in the identity proof is not the one on the wire.

use std::ops::Range;

use rcgen::{KeyPair, SigningKey as _};
use ring::rand::{SecureRandom, SystemRandom};
use triad_notary::wire::{self, Direction};
use triad_notary::{Blinder, HashAlg, NotarySigner, identity, plaintext_hash, reseal};

use crate::DevNotaryError;
use crate::secret::IssuedSecret;

/// What the notary recorded and decided to hide.
pub(crate) struct Recorded<'a> {
    pub(crate) time: u64,
    pub(crate) sent: &'a [u8],
    pub(crate) received: &'a [u8],
    /// Sent bytes withheld without a commitment (the bearer token).
    pub(crate) sent_withheld: Vec<Range<usize>>,
    /// The received ranges each behind its own unopened commitment (the
    /// value fields' numbers), in the template's order.
    pub(crate) values: Vec<Range<usize>>,
}

/// The server side the notary impersonates for the identity proof.
pub(crate) struct ServerIdentity<'a> {
    pub(crate) name: &'a str,
    pub(crate) cert_chain: &'a [Vec<u8>],
    pub(crate) key: &'a KeyPair,
}

pub(crate) fn random<const N: usize>(rng: &SystemRandom) -> Result<[u8; N], DevNotaryError> {
    let mut out = [0u8; N];
    rng.fill(&mut out).map_err(|_| DevNotaryError::Random)?;
    Ok(out)
}

fn range_set(ranges: &[Range<usize>]) -> wire::RangeSet {
    wire::RangeSet { ranges: ranges.iter().map(|r| wire::Range { start: r.start as u64, end: r.end as u64 }).collect() }
}

/// `0..total` minus `set` (sorted, disjoint).
fn complement(set: &[Range<usize>], total: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut at = 0;
    for r in set {
        if r.start > at {
            out.push(at..r.start);
        }
        at = at.max(r.end);
    }
    if at < total {
        out.push(at..total);
    }
    out
}

fn gather(data: &[u8], ranges: &[Range<usize>]) -> Result<Vec<u8>, DevNotaryError> {
    let mut out = Vec::new();
    for r in ranges {
        out.extend_from_slice(
            data.get(r.clone()).ok_or_else(|| DevNotaryError::Internal("range beyond the transcript".into()))?,
        );
    }
    Ok(out)
}

/// Builds and signs the presentation; returns its bytes and the prover's
/// secrets for the hidden values, in the order of `recorded.values`.
pub(crate) fn build(
    recorded: &Recorded<'_>,
    server: &ServerIdentity<'_>,
    signer: &NotarySigner,
    alg: HashAlg,
    rng: &SystemRandom,
) -> Result<(Vec<u8>, Vec<IssuedSecret>), DevNotaryError> {
    let internal = |m: &str| DevNotaryError::Internal(m.to_owned());
    let len32 = |n: usize| u32::try_from(n).map_err(|_| internal("transcript too long"));
    let mut hidden = recorded.values.clone();
    hidden.sort_by_key(|r| r.start);
    // Touching ranges would read as one hidden range, fitting no template.
    if hidden.windows(2).any(|w| matches!(w, [a, b] if a.end >= b.start)) {
        return Err(internal("hidden values overlap or touch"));
    }
    let sent_disclosed = complement(&recorded.sent_withheld, recorded.sent.len());
    let recv_disclosed = complement(&hidden, recorded.received.len());
    if sent_disclosed.is_empty()
        || recv_disclosed.is_empty()
        || hidden.is_empty()
        || hidden.iter().any(|r| r.is_empty())
    {
        return Err(internal("nothing to disclose or nothing to hide"));
    }

    // Plaintext hash commitments: the disclosed data of each direction
    // (opened below) and each value (left unopened), each with a fresh
    // blinder.
    let mut commitments = Vec::new();
    let mut openings = Vec::new();
    for (direction, data, ranges) in
        [(Direction::Sent, recorded.sent, &sent_disclosed), (Direction::Received, recorded.received, &recv_disclosed)]
    {
        let blinder = Blinder(random(rng)?);
        commitments.push(commit(alg, direction, &gather(data, ranges)?, ranges, &blinder));
        openings.push(wire::PlaintextHashSecret {
            direction,
            idx: range_set(ranges),
            alg: alg.id(),
            blinder: blinder.0,
        });
    }
    let notary_key = triad_notary::NotaryKey::from_wire(&signer.verifying_key()?)?.to_string();
    let mut secrets = Vec::with_capacity(recorded.values.len());
    for range in &recorded.values {
        let ranges = std::slice::from_ref(range);
        let value = gather(recorded.received, ranges)?;
        let blinder = Blinder(random(rng)?);
        let commitment = commit(alg, Direction::Received, &value, ranges, &blinder);
        secrets.push(IssuedSecret {
            direction: Direction::Received,
            range: range.clone(),
            value,
            blinder,
            alg,
            commitment: commitment.hash.value.0.clone(),
            server_name: server.name.to_owned(),
            notary_key: notary_key.clone(),
        });
        commitments.push(commitment);
    }

    // The synthesised TLS 1.2 ECDHE handshake: the exchange's key signs
    // client_random || server_random || ServerECDHParams.
    let ephemeral = ring::agreement::EphemeralPrivateKey::generate(&ring::agreement::ECDH_P256, rng)
        .and_then(|k| k.compute_public_key())
        .map_err(|_| DevNotaryError::Random)?;
    let server_ephemeral_key = wire::ServerEphemKey { typ: wire::KeyType::Secp256r1, key: ephemeral.as_ref().to_vec() };
    let client_random: [u8; 32] = random(rng)?;
    let server_random: [u8; 32] = random(rng)?;
    let point_len = u8::try_from(server_ephemeral_key.key.len()).map_err(|_| internal("ephemeral key"))?;
    let mut signed = Vec::with_capacity(64 + 4 + server_ephemeral_key.key.len());
    signed.extend_from_slice(&client_random);
    signed.extend_from_slice(&server_random);
    signed.extend_from_slice(&[3, 0x00, 0x17, point_len]); // named_curve secp256r1
    signed.extend_from_slice(&server_ephemeral_key.key);
    let sig = server.key.sign(&signed).map_err(|e| DevNotaryError::Certificate(e.to_string()))?;
    let opening = wire::ServerCertOpening {
        data: wire::HandshakeData {
            certs: server.cert_chain.to_vec(),
            sig: wire::ServerSignature { alg: wire::ServerSignatureAlg::ECDSA_NISTP256_SHA256, sig },
            binding: wire::CertBinding::V1_2(wire::CertBindingV1_2 {
                client_random,
                server_random,
                server_ephemeral_key: server_ephemeral_key.clone(),
            }),
        },
        blinder: random(rng)?,
    };

    // The body, fields numbered 0..n as upstream does; the attestation's
    // own hashes are BLAKE3 whatever the commitments use.
    let transcript_commitments = commitments
        .into_iter()
        .zip(4u32..)
        .map(|(c, id)| wire::Field { id, data: wire::TranscriptCommitment::Hash(c) })
        .collect();
    let body = wire::Body {
        verifying_key: wire::Field { id: 0, data: signer.verifying_key()? },
        connection_info: wire::Field {
            id: 1,
            data: wire::ConnectionInfo {
                time: recorded.time,
                version: wire::TlsVersion::V1_2,
                transcript_length: wire::TranscriptLength {
                    sent: len32(recorded.sent.len())?,
                    received: len32(recorded.received.len())?,
                },
            },
        },
        server_ephemeral_key: wire::Field { id: 2, data: server_ephemeral_key },
        cert_commitment: wire::Field { id: 3, data: identity::cert_commitment(HashAlg::Blake3, &opening) },
        extensions: Vec::new(),
        transcript_commitments,
    };
    let mut attestation = wire::AttestationProof {
        signature: wire::Signature { alg: 1, data: Vec::new() },
        header: wire::Header {
            id: random(rng)?,
            version: 0,
            root: wire::TypedHash { alg: HashAlg::Blake3.id(), value: wire::HashValue(Vec::new()) },
        },
        body: wire::BodyProof {
            body,
            proof: wire::MerkleProof { alg: HashAlg::Blake3.id(), tree_len: 0, proof_hashes: Vec::new() },
        },
    };
    reseal(&mut attestation, signer)?;

    let presentation = wire::Presentation {
        attestation,
        identity: Some(wire::ServerIdentityProof { name: wire::ServerName::Dns(server.name.to_owned()), opening }),
        transcript: Some(wire::TranscriptProof {
            transcript: wire::CompressedPartialTranscript {
                sent_authed: gather(recorded.sent, &sent_disclosed)?,
                received_authed: gather(recorded.received, &recv_disclosed)?,
                sent_idx: range_set(&sent_disclosed),
                recv_idx: range_set(&recv_disclosed),
                sent_total: recorded.sent.len() as u64,
                recv_total: recorded.received.len() as u64,
            },
            hash_secrets: openings,
        }),
    };
    Ok((wire::encode(&presentation), secrets))
}

fn commit(
    alg: HashAlg,
    direction: Direction,
    bytes: &[u8],
    ranges: &[Range<usize>],
    blinder: &Blinder,
) -> wire::PlaintextHash {
    wire::PlaintextHash {
        direction,
        idx: range_set(ranges),
        hash: wire::TypedHash { alg: alg.id(), value: wire::HashValue(plaintext_hash(alg, bytes, blinder).to_vec()) },
    }
}
