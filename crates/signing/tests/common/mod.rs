//! Helpers of the integration tests: a DKG and signing among in-memory parties.

#![allow(dead_code)]

use triad_signing::sign::Signature;
use triad_signing::{KeyShare, PartyId, SessionId, SigningError, dkg, local, refresh, sign};

/// A session id unique to `label` and `n`.
pub fn session(label: &str, n: u64) -> SessionId {
    use sha2::Digest as _;
    SessionId(sha2::Sha256::new().chain_update(label).chain_update(n.to_be_bytes()).finalize().into())
}

/// The three shares of a fresh key.
pub fn keygen(label: &str) -> [KeyShare; 3] {
    let id = session(label, 0);
    let parties = PartyId::ALL.into_iter().map(|p| dkg::start(p, id)).collect();
    let shares: Vec<KeyShare> = local::run(parties).into_iter().map(|r| r.expect("dkg")).collect();
    shares.try_into().expect("three shares")
}

/// Both signers' outputs for `digest`.
pub fn sign_with(a: &KeyShare, b: &KeyShare, id: SessionId, digest: [u8; 32]) -> Vec<Result<Signature, SigningError>> {
    let signers = [a.party_id(), b.party_id()];
    let parties =
        vec![sign::start(a, id, signers, digest).expect("start"), sign::start(b, id, signers, digest).expect("start")];
    local::run(parties)
}

/// The refreshed shares.
pub fn refreshed(shares: &[KeyShare; 3], id: SessionId) -> [KeyShare; 3] {
    let parties = shares.iter().map(|s| refresh::start(s, id).expect("start")).collect();
    let out: Vec<KeyShare> = local::run(parties).into_iter().map(|r| r.expect("refresh")).collect();
    out.try_into().expect("three shares")
}

/// k256 (0.13) verification of a prehash signature.
pub fn k256_verifies(public_key: &[u8], digest: &[u8; 32], signature: &Signature) -> bool {
    use k256::ecdsa::signature::hazmat::PrehashVerifier as _;
    let Ok(key) = k256::ecdsa::VerifyingKey::from_sec1_bytes(public_key) else { return false };
    let Ok(signature) = k256::ecdsa::Signature::from_slice(signature) else { return false };
    key.verify_prehash(digest, &signature).is_ok()
}
