//! The attestation: body fields against the Merkle root, the notary key
//! against the pinned keys, the notary's signature over the header.

use k256::ecdsa::signature::Verifier as _;
use serde::{Serialize, Serializer};

use crate::error::VerifyError;
use crate::hash::{HASH_LEN, HashAlg, canonical, domains, hash_separated};
use crate::merkle;
use crate::wire;

/// The only attestation version upstream has issued.
pub const ATTESTATION_VERSION: u32 = 0;

/// Key algorithm of a notary key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlg {
    /// secp256k1 (wire id 1).
    Secp256k1,
    /// NIST P-256 (wire id 2).
    P256,
}

impl KeyAlg {
    fn from_id(id: u8) -> Result<Self, VerifyError> {
        match id {
            1 => Ok(Self::Secp256k1),
            2 => Ok(Self::P256),
            other => Err(VerifyError::MalformedNotaryKey(format!("unknown key algorithm id {other}"))),
        }
    }

    /// Wire id.
    pub fn id(self) -> u8 {
        match self {
            Self::Secp256k1 => 1,
            Self::P256 => 2,
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Secp256k1 => "secp256k1",
            Self::P256 => "p256",
        }
    }
}

/// A notary's public key: an algorithm and a point on its curve.
///
/// Two encodings of one point (compressed and uncompressed SEC1) are the
/// same key: comparison is on the compressed encoding.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NotaryKey {
    alg: KeyAlg,
    /// Compressed SEC1 encoding (33 bytes).
    compressed: Vec<u8>,
}

impl NotaryKey {
    /// A secp256k1 key from its SEC1 encoding (compressed or not).
    pub fn secp256k1(sec1: &[u8]) -> Result<Self, VerifyError> {
        let key = k256::ecdsa::VerifyingKey::from_sec1_bytes(sec1)
            .map_err(|_| VerifyError::MalformedNotaryKey("not a secp256k1 point".into()))?;
        Ok(Self { alg: KeyAlg::Secp256k1, compressed: key.to_encoded_point(true).as_bytes().to_vec() })
    }

    /// A P-256 key from its SEC1 encoding (compressed or not).
    pub fn p256(sec1: &[u8]) -> Result<Self, VerifyError> {
        let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(sec1)
            .map_err(|_| VerifyError::MalformedNotaryKey("not a P-256 point".into()))?;
        Ok(Self { alg: KeyAlg::P256, compressed: key.to_encoded_point(true).as_bytes().to_vec() })
    }

    /// The public key of a secp256k1 secret key (for tests and the
    /// development notary).
    pub fn secp256k1_from_secret(secret: &[u8; 32]) -> Result<Self, VerifyError> {
        let sk = k256::ecdsa::SigningKey::from_slice(secret)
            .map_err(|_| VerifyError::MalformedNotaryKey("invalid secp256k1 secret".into()))?;
        Self::secp256k1(sk.verifying_key().to_encoded_point(true).as_bytes())
    }

    /// Parses a key from `alg:hex` (`secp256k1:02ab…` or `p256:03cd…`), the
    /// form pinned keys take in configuration.
    pub fn parse(text: &str) -> Result<Self, VerifyError> {
        let (alg, hex_key) =
            text.split_once(':').ok_or_else(|| VerifyError::MalformedNotaryKey("expected ALG:HEX".into()))?;
        let bytes =
            hex::decode(hex_key.trim()).map_err(|_| VerifyError::MalformedNotaryKey("key is not hex".into()))?;
        match alg.trim() {
            "secp256k1" | "k256" => Self::secp256k1(&bytes),
            "p256" | "secp256r1" => Self::p256(&bytes),
            other => Err(VerifyError::MalformedNotaryKey(format!("unknown algorithm {other:?}"))),
        }
    }

    /// From the key in an attestation body.
    pub fn from_wire(key: &wire::VerifyingKey) -> Result<Self, VerifyError> {
        match KeyAlg::from_id(key.alg)? {
            KeyAlg::Secp256k1 => Self::secp256k1(&key.data),
            KeyAlg::P256 => Self::p256(&key.data),
        }
    }

    /// Key algorithm.
    pub fn alg(&self) -> KeyAlg {
        self.alg
    }

    /// Compressed SEC1 encoding.
    pub fn sec1_compressed(&self) -> &[u8] {
        &self.compressed
    }
}

impl std::fmt::Display for NotaryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.alg.name(), hex::encode(&self.compressed))
    }
}

impl Serialize for NotaryKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Hashes of the body fields with their ids (the Merkle leaves), in
/// field-id order, each `H(domain || BCS(data))`.
pub fn body_leaves(body: &wire::Body, alg: HashAlg) -> Vec<(u32, [u8; HASH_LEN])> {
    let wire::Body {
        verifying_key,
        connection_info,
        server_ephemeral_key,
        cert_commitment,
        extensions,
        transcript_commitments,
    } = body;
    let mut leaves = vec![
        (verifying_key.id, hash_separated(alg, domains::VERIFYING_KEY, &verifying_key.data)),
        (connection_info.id, hash_separated(alg, domains::CONNECTION_INFO, &connection_info.data)),
        (server_ephemeral_key.id, hash_separated(alg, domains::SERVER_EPHEM_KEY, &server_ephemeral_key.data)),
        (cert_commitment.id, hash_separated(alg, domains::SERVER_CERT_COMMITMENT, &cert_commitment.data)),
    ];
    for f in extensions {
        leaves.push((f.id, hash_separated(alg, domains::EXTENSION, &f.data)));
    }
    for f in transcript_commitments {
        leaves.push((f.id, hash_separated(alg, domains::TRANSCRIPT_COMMITMENT, &f.data)));
    }
    leaves.sort_by_key(|(id, _)| *id);
    leaves
}

/// Bytes the notary signs: `BCS(header)`.
pub fn header_signing_bytes(header: &wire::Header) -> Vec<u8> {
    canonical(header)
}

/// Checks the body against the header's root, then the key against the
/// pinned keys, then the signature. Returns the notary key.
pub(crate) fn verify_attestation(
    proof: &wire::AttestationProof,
    pinned: &[NotaryKey],
) -> Result<NotaryKey, VerifyError> {
    let header = &proof.header;
    if header.version != ATTESTATION_VERSION {
        return Err(VerifyError::UnsupportedVersion(header.version));
    }
    let alg = HashAlg::from_id(header.root.alg)?;
    let root = alg.check_len(&header.root.value.0)?;

    // Body fields against the signed root.
    let merkle_proof = &proof.body.proof;
    if merkle_proof.alg != header.root.alg {
        return Err(VerifyError::MalformedMerkleProof("proof algorithm differs from the header's"));
    }
    let leaves = body_leaves(&proof.body.body, alg);
    let duplicate = leaves.windows(2).find_map(|w| match w {
        [a, b] if a.0 == b.0 => Some(a.0),
        _ => None,
    });
    if let Some(id) = duplicate {
        return Err(VerifyError::DuplicateFieldId(id));
    }
    let leaves: Vec<(u64, [u8; HASH_LEN])> = leaves.into_iter().map(|(id, h)| (u64::from(id), h)).collect();
    let siblings = merkle_proof.proof_hashes.iter().map(|h| alg.check_len(&h.0)).collect::<Result<Vec<_>, _>>()?;
    let computed = merkle::root_from_proof(alg, merkle_proof.tree_len, &leaves, &siblings)?;
    if computed != root {
        return Err(VerifyError::MerkleRootMismatch);
    }

    // The key must be pinned before its signature means anything.
    let wire_key = &proof.body.body.verifying_key.data;
    // A key sent in its pinned (compressed) encoding is that key: no point to decode again.
    let same_encoding = pinned.iter().find(|k| k.alg.id() == wire_key.alg && k.compressed == wire_key.data);
    let key = match same_encoding {
        Some(k) => k.clone(),
        None => NotaryKey::from_wire(wire_key)?,
    };
    if !pinned.contains(&key) {
        return Err(VerifyError::UntrustedNotaryKey {
            alg: key.alg.name().to_string(),
            key_hex: hex::encode(&wire_key.data),
        });
    }

    verify_signature(&proof.signature, &key, &header_signing_bytes(header))?;
    Ok(key)
}

fn verify_signature(sig: &wire::Signature, key: &NotaryKey, msg: &[u8]) -> Result<(), VerifyError> {
    let mismatch = || VerifyError::SignatureKeyMismatch { sig_alg: sig.alg, key_alg: key.alg.id() };
    let malformed = |what: &str| VerifyError::MalformedSignature(what.to_string());
    match sig.alg {
        // secp256k1, SHA-256 of the message.
        1 => {
            if key.alg != KeyAlg::Secp256k1 {
                return Err(mismatch());
            }
            let s = <[u8; 64]>::try_from(sig.data.as_slice())
                .map_err(|_| malformed("not a 64-byte secp256k1 signature"))?;
            verify_secp256k1(key, HashAlg::Sha256.hash(msg), &s)
        }
        // P-256, SHA-256 of the message.
        2 => {
            if key.alg != KeyAlg::P256 {
                return Err(mismatch());
            }
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&key.compressed)
                .map_err(|_| VerifyError::MalformedNotaryKey("not a P-256 point".into()))?;
            let s = p256::ecdsa::Signature::from_slice(&sig.data)
                .map_err(|_| malformed("not a 64-byte P-256 signature"))?;
            vk.verify(msg, &s).map_err(|_| VerifyError::InvalidSignature)
        }
        // secp256k1 over Keccak-256 of the message, `r || s || v`; `v` only
        // serves key recovery and is not checked (as upstream).
        3 => {
            if key.alg != KeyAlg::Secp256k1 {
                return Err(mismatch());
            }
            let rs = match sig.data.as_slice() {
                [rs @ .., _v] if rs.len() == 64 => rs,
                _ => return Err(malformed("ethereum signature must be 65 bytes")),
            };
            let s = <[u8; 64]>::try_from(rs).map_err(|_| malformed("not a secp256k1 signature"))?;
            verify_secp256k1(key, HashAlg::Keccak256.hash(msg), &s)
        }
        other => Err(VerifyError::UnsupportedSignatureAlgorithm(other)),
    }
}

/// ECDSA over secp256k1 of a 32-byte digest, `r || s`, by libsecp256k1. It accepts what k256
/// accepted: `r` and `s` in `[1, n)` (parsing refuses them otherwise) and `s` low (verification
/// refuses a high `s`, the malleable twin).
fn verify_secp256k1(key: &NotaryKey, digest: [u8; 32], rs: &[u8; 64]) -> Result<(), VerifyError> {
    let pk = secp256k1::PublicKey::from_slice(&key.compressed)
        .map_err(|_| VerifyError::MalformedNotaryKey("not a secp256k1 point".into()))?;
    let sig = secp256k1::ecdsa::Signature::from_compact(rs)
        .map_err(|_| VerifyError::MalformedSignature("not a secp256k1 signature".into()))?;
    secp256k1::ecdsa::verify(&sig, secp256k1::Message::from_digest(digest), &pk)
        .map_err(|_| VerifyError::InvalidSignature)
}

/// A notary signing key, for [`reseal`].
#[derive(Clone)]
pub enum NotarySigner {
    /// secp256k1, SHA-256 (signature algorithm 1), from a 32-byte secret.
    Secp256k1([u8; 32]),
    /// P-256, SHA-256 (signature algorithm 2), from a 32-byte secret.
    P256([u8; 32]),
    /// secp256k1 over Keccak-256, `r || s || v` (signature algorithm 3).
    Secp256k1Eth([u8; 32]),
}

impl std::fmt::Debug for NotarySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NotarySigner(..)")
    }
}

impl NotarySigner {
    /// The signer's public key as it goes into the attestation body.
    pub fn verifying_key(&self) -> Result<wire::VerifyingKey, VerifyError> {
        let bad = || VerifyError::MalformedNotaryKey("invalid secret key".into());
        Ok(match self {
            Self::Secp256k1(s) | Self::Secp256k1Eth(s) => wire::VerifyingKey {
                alg: KeyAlg::Secp256k1.id(),
                data: k256::ecdsa::SigningKey::from_slice(s)
                    .map_err(|_| bad())?
                    .verifying_key()
                    .to_encoded_point(true)
                    .as_bytes()
                    .to_vec(),
            },
            Self::P256(s) => wire::VerifyingKey {
                alg: KeyAlg::P256.id(),
                data: p256::ecdsa::SigningKey::from_slice(s)
                    .map_err(|_| bad())?
                    .verifying_key()
                    .to_encoded_point(true)
                    .as_bytes()
                    .to_vec(),
            },
        })
    }

    fn sign(&self, msg: &[u8]) -> Result<wire::Signature, VerifyError> {
        use k256::ecdsa::signature::Signer as _;
        let bad = || VerifyError::MalformedNotaryKey("invalid secret key".into());
        Ok(match self {
            Self::Secp256k1(s) => {
                let sk = k256::ecdsa::SigningKey::from_slice(s).map_err(|_| bad())?;
                let sig: k256::ecdsa::Signature = sk.sign(msg);
                wire::Signature { alg: 1, data: sig.to_bytes().to_vec() }
            }
            Self::P256(s) => {
                let sk = p256::ecdsa::SigningKey::from_slice(s).map_err(|_| bad())?;
                let sig: p256::ecdsa::Signature = sk.sign(msg);
                wire::Signature { alg: 2, data: sig.to_bytes().to_vec() }
            }
            Self::Secp256k1Eth(s) => {
                let sk = k256::ecdsa::SigningKey::from_slice(s).map_err(|_| bad())?;
                let digest = HashAlg::Keccak256.hash(msg);
                let (sig, recid) = sk
                    .sign_prehash_recoverable(&digest)
                    .map_err(|_| VerifyError::MalformedSignature("signing failed".into()))?;
                let mut data = sig.to_bytes().to_vec();
                data.push(27 + recid.to_byte());
                wire::Signature { alg: 3, data }
            }
        })
    }
}

/// Acts as an upstream notary on `proof`: puts the signer's key in the
/// body, rebuilds the Merkle proof (all fields, no sibling hashes) and the
/// header root, and signs the header.
///
/// For the development notary and for tests that build a presentation
/// which is validly signed but wrong in a deeper way. Assumes upstream's
/// field numbering (ids 0..n, one leaf per field).
pub fn reseal(proof: &mut wire::AttestationProof, signer: &NotarySigner) -> Result<(), VerifyError> {
    let key = signer.verifying_key()?;
    reseal_with_key_encoding(proof, signer, key.data)
}

/// [`reseal`] with the signer's key in the body encoded as `sec1` (another SEC1 encoding of
/// the same key, or another key altogether).
pub fn reseal_with_key_encoding(
    proof: &mut wire::AttestationProof,
    signer: &NotarySigner,
    sec1: Vec<u8>,
) -> Result<(), VerifyError> {
    let mut key = signer.verifying_key()?;
    key.data = sec1;
    proof.body.body.verifying_key.data = key;
    let alg = HashAlg::from_id(proof.header.root.alg)?;
    let hashes: Vec<[u8; HASH_LEN]> = body_leaves(&proof.body.body, alg).iter().map(|(_, h)| *h).collect();
    let root = merkle::root_of(alg, &hashes).ok_or(VerifyError::MalformedMerkleProof("no leaves"))?;
    proof.body.proof = wire::MerkleProof { alg: alg.id(), tree_len: hashes.len() as u64, proof_hashes: Vec::new() };
    proof.header.root = wire::TypedHash { alg: alg.id(), value: wire::HashValue(root.to_vec()) };
    proof.signature = signer.sign(&header_signing_bytes(&proof.header))?;
    Ok(())
}

/// [`reseal`] with a secp256k1 secret (signature algorithm 1, as the fixtures).
pub fn reseal_secp256k1(proof: &mut wire::AttestationProof, secret: &[u8; 32]) -> Result<(), VerifyError> {
    reseal(proof, &NotarySigner::Secp256k1(*secret))
}
