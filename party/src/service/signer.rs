//! The party's side of threshold signing (`docs/protocols/signing.md` §5): it runs the
//! attempts the coordinator requests (key generation, signatures, refreshes) over the signing
//! transport, keeps its key shares sealed at rest, and reports `KeyGenerated`, `KeyRefreshed`,
//! `Signed` or `SigningAborted` to its own log.
//!
//! What it refuses, whatever the coordinator asks:
//! - a key generation once a key is confirmed (a second key would let a corrupt coordinator
//!   swap the network's key);
//! - a result's signature unless the digest is that of the statement this party computed for
//!   the query and both peers reported the same statement (the network's results are signed
//!   only when all three parties computed them: a non-unanimous abort that left one honest
//!   party with a wrong value never gets signed);
//! - a signature under the network key itself: results are signed under dataset keys and an
//!   operator's payloads under request keys, two derivations that never meet.

use std::time::Duration;

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable as _, OpModeR, OpModeS, Serializable as _};
use sha2::{Digest as _, Sha256};
use tracing::{info, warn};
use triad_network::{SIGN_KEYGEN, SIGN_REFRESH, SIGN_SIGN, streams};
use triad_proto::events::v1::{self as ev, event::Kind};
use triad_signing::{KeyShare, PartyId, SessionId};
use triad_signing_bus::{BusError, PartyKeys, PublicKey};
use zeroize::Zeroizing;

use super::{Party, PartyError};

type Kem = X25519HkdfSha256;
/// HPKE `info` of a key share sealed at rest.
const AT_REST_INFO: &[u8] = b"triad/key-share-at-rest/v1";
/// How long a result's signer waits to have folded both peers' statements.
const PEERS_WAIT: Duration = Duration::from_secs(10);

/// Why an attempt did not finish here: reported as `SigningAborted`.
struct Abort {
    reason: String,
    blamed: Option<u32>,
}

impl Abort {
    fn new(reason: impl Into<String>) -> Abort {
        Abort { reason: reason.into(), blamed: None }
    }
}

impl From<BusError> for Abort {
    fn from(e: BusError) -> Abort {
        let blamed = match &e {
            BusError::Protocol(p) => p.blamed().map(|b| b.index() as u32),
            _ => None,
        };
        Abort { reason: e.to_string(), blamed }
    }
}

impl From<PartyError> for Abort {
    fn from(e: PartyError) -> Abort {
        Abort::new(e.to_string())
    }
}

impl From<crate::state::StateError> for Abort {
    fn from(e: crate::state::StateError) -> Abort {
        Abort::new(e.to_string())
    }
}

impl Party {
    /// Runs the signing attempts this party takes part in, one at a time, until shutdown.
    pub(super) async fn signer(&self) {
        let mut stopped = self.inner.stop.subscribe();
        loop {
            loop {
                match self.inner.state.take_next_signing(self.index()).await {
                    Ok(Some(r)) => {
                        let outcome = self.run_signing(&r).await;
                        if let Err(e) = self.report_signing(&r, outcome).await {
                            warn!(error = %e, "a signing report was not recorded");
                        }
                        if let Err(e) = self.inner.state.set_signing(&r.session_id, "done").await {
                            warn!(error = %e, "signing state not recorded");
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        warn!(error = %e, "reading signing requests");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = stopped.wait_for(|s| *s) => return,
                () = self.inner.signing_wake.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }

    /// An attempt a previous run started and did not finish is reported aborted (the
    /// coordinator tries again with a new session: a restarted party has lost the protocol's
    /// state, and re-running it would send other messages under the same ids).
    pub(super) async fn abort_unfinished_signing(&self) -> Result<(), PartyError> {
        for r in self.inner.state.running_signings().await? {
            warn!(request = %hex::encode(&r.request_id), purpose = %r.purpose, "aborting a signing attempt interrupted by a restart");
            self.report_signing(&r, Err(Abort::new("restarted"))).await?;
            self.inner.state.set_signing(&r.session_id, "done").await?;
        }
        Ok(())
    }

    async fn report_signing(&self, r: &ev::SigningRequested, outcome: Result<Kind, Abort>) -> Result<(), PartyError> {
        let kind = match outcome {
            Ok(kind) => {
                metrics::counter!("triad_party_signing_total", "purpose" => r.purpose.clone(), "outcome" => "done")
                    .increment(1);
                kind
            }
            Err(a) => {
                warn!(request = %hex::encode(&r.request_id), purpose = %r.purpose, reason = %a.reason, blamed = ?a.blamed, "signing attempt aborted");
                metrics::counter!("triad_party_signing_total", "purpose" => r.purpose.clone(), "outcome" => "aborted")
                    .increment(1);
                Kind::SigningAborted(ev::SigningAborted {
                    request_id: r.request_id.clone(),
                    session_id: r.session_id.clone(),
                    party: Some(self.index()),
                    reason: a.reason,
                    blamed_party: a.blamed,
                    r#final: false,
                })
            }
        };
        self.append(streams::signing(&r.request_id), kind).await
    }

    async fn run_signing(&self, r: &ev::SigningRequested) -> Result<Kind, Abort> {
        let session: [u8; 32] = r
            .session_id
            .as_slice()
            .try_into()
            .map_err(|_| Abort::new(format!("a signing session id of {} bytes", r.session_id.len())))?;
        let session = SessionId(session);
        let me = self.signing_id()?;
        let keys = self.signing_keys().await?;
        let started = std::time::Instant::now();
        match r.purpose.as_str() {
            SIGN_KEYGEN => {
                if self.inner.state.confirmed_key().await?.is_some() {
                    return Err(Abort::new("this network already has a key"));
                }
                let (s, first) = triad_signing::dkg::start(me, session);
                let share = self.inner.signing.run(&keys, s, first).await?;
                self.store_share(0, &share).await?;
                info!(key = %hex::encode(share.public_key()), secs = started.elapsed().as_secs_f64(), "key generated");
                Ok(Kind::KeyGenerated(ev::KeyGenerated {
                    key_id: r.session_id.clone(),
                    public_key: share.public_key().to_vec(),
                    threshold: 2,
                    chain_code: share.chain_code().to_vec(),
                    party: Some(self.index()),
                    request_id: r.request_id.clone(),
                }))
            }
            SIGN_REFRESH => {
                let (confirmed, public_key) =
                    self.inner.state.confirmed_key().await?.ok_or_else(|| Abort::new("no key to refresh"))?;
                if r.epoch != confirmed + 1 {
                    return Err(Abort::new(format!("a refresh to epoch {} from confirmed epoch {confirmed}", r.epoch)));
                }
                let share = self.load_share(confirmed).await?;
                let (s, first) =
                    triad_signing::refresh::start(&share, session).map_err(|e| Abort::new(e.to_string()))?;
                let fresh = self.inner.signing.run(&keys, s, first).await?;
                if fresh.public_key().as_slice() != public_key.as_slice() {
                    return Err(Abort::new("the refresh changed the public key"));
                }
                self.store_share(r.epoch, &fresh).await?;
                info!(epoch = r.epoch, secs = started.elapsed().as_secs_f64(), "key shares refreshed");
                Ok(Kind::KeyRefreshed(ev::KeyRefreshed {
                    key_id: Vec::new(),
                    epoch: r.epoch,
                    party: Some(self.index()),
                    public_key,
                    request_id: r.request_id.clone(),
                    session_id: r.session_id.clone(),
                }))
            }
            SIGN_SIGN => {
                let digest: [u8; 32] =
                    r.digest.as_slice().try_into().map_err(|_| Abort::new("the digest to sign is not 32 bytes"))?;
                let share = self.load_share(r.epoch).await?;
                let derived = match (r.dataset_id.is_empty(), r.path.is_empty()) {
                    (false, true) => {
                        self.check_statement(r, &digest).await?;
                        share.derive(&r.dataset_id)
                    }
                    (true, false) => share.derive_request(&r.path),
                    _ => return Err(Abort::new("a signature is under a dataset key or a request key, exactly one")),
                }
                .map_err(|e| Abort::new(e.to_string()))?;
                let signers = match r.participants.as_slice() {
                    [a, b] => [party_id(*a)?, party_id(*b)?],
                    _ => return Err(Abort::new("a signature has two signers")),
                };
                let (s, first) = triad_signing::sign::start(&derived, session, signers, digest)
                    .map_err(|e| Abort::new(e.to_string()))?;
                let signature = self.inner.signing.run(&keys, s, first).await?;
                info!(request = %hex::encode(&r.request_id), secs = started.elapsed().as_secs_f64(), "signed");
                Ok(Kind::Signed(ev::Signed {
                    request_id: r.request_id.clone(),
                    session_id: r.session_id.clone(),
                    party: Some(self.index()),
                    signature: signature.to_vec(),
                    public_key: derived.public_key().to_vec(),
                    digest: digest.to_vec(),
                }))
            }
            other => Err(Abort::new(format!("unknown signing purpose {other:?}"))),
        }
    }

    /// A result is signed only as this party computed it and both peers reported it.
    async fn check_statement(&self, r: &ev::SigningRequested, digest: &[u8; 32]) -> Result<(), Abort> {
        if r.query_id.is_empty() {
            return Err(Abort::new("a dataset-key signature is of a query's result"));
        }
        let deadline = tokio::time::Instant::now() + PEERS_WAIT;
        loop {
            let statements = self.inner.state.statements(&r.query_id).await?;
            let me = self.index();
            let mine: Vec<&(Vec<u8>, u32, Vec<u8>)> = statements
                .iter()
                .filter(|(_, party, statement)| *party == me && Sha256::digest(statement)[..] == digest[..])
                .collect();
            if mine.is_empty() {
                return Err(Abort::new("the digest is not of a statement this party computed for the query"));
            }
            let agreed = mine.iter().any(|(session, _, statement)| {
                let peers = statements.iter().filter(|(s, p, x)| s == session && *p != me && x == statement);
                peers.count() == 2
            });
            if agreed {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Abort::new("the peers have not reported this statement"));
            }
            tokio::select! {
                () = self.inner.signing_wake.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    }

    fn signing_id(&self) -> Result<PartyId, Abort> {
        party_id(self.index())
    }

    /// This party's HPKE keys with the peers' (from their `PartyJoined`).
    async fn signing_keys(&self) -> Result<PartyKeys, Abort> {
        let me = self.signing_id()?;
        let mut publics: [Option<PublicKey>; 3] = Default::default();
        publics[me.index()] = Some(
            PublicKey::from_bytes(&self.inner.keys.share_public().to_bytes()).map_err(|e| Abort::new(e.to_string()))?,
        );
        for (party, key) in self.inner.state.peer_share_keys().await? {
            if let Some(slot) = publics.get_mut(party as usize).filter(|_| party as usize != me.index()) {
                *slot = Some(PublicKey::from_bytes(&key).map_err(|e| Abort::new(format!("party {party}'s key: {e}")))?);
            }
        }
        let [Some(a), Some(b), Some(c)] = publics else {
            return Err(Abort::new("a peer has not joined yet (no share key)"));
        };
        let secret = self.inner.keys.share_secret().to_bytes();
        PartyKeys::new(me, secret.as_slice(), [a, b, c]).map_err(|e| Abort::new(e.to_string()))
    }

    /// Seals `share` to this party's own HPKE key and stores it.
    async fn store_share(&self, epoch: u64, share: &KeyShare) -> Result<(), Abort> {
        let sealed = seal_share(&self.inner.keys.share_public().to_bytes(), epoch, share)
            .ok_or_else(|| Abort::new("sealing the key share failed"))?;
        self.inner.state.put_key_share(epoch, &share.public_key(), &sealed).await?;
        Ok(())
    }

    /// This party's key share of `epoch`, opened.
    async fn load_share(&self, epoch: u64) -> Result<KeyShare, Abort> {
        let sealed = self
            .inner
            .state
            .key_share(epoch)
            .await?
            .ok_or_else(|| Abort::new(format!("no key share of epoch {epoch} (refreshed since, or never made)")))?;
        open_share(&self.inner.keys.share_secret().to_bytes(), epoch, &sealed)
            .ok_or_else(|| Abort::new(format!("the key share of epoch {epoch} does not open")))
    }
}

fn party_id(i: u32) -> Result<PartyId, Abort> {
    u8::try_from(i).ok().and_then(PartyId::new).ok_or_else(|| Abort::new(format!("no party {i}")))
}

fn at_rest_aad(epoch: u64, public_key: &[u8; 33]) -> Vec<u8> {
    let mut aad = epoch.to_be_bytes().to_vec();
    aad.extend_from_slice(public_key);
    aad
}

/// `share` sealed to the X25519 key `public` (HPKE base mode; the AAD binds the epoch and the
/// share's public key): `public key (33) || encapsulated key (32) || ciphertext`.
fn seal_share(public: &[u8; 32], epoch: u64, share: &KeyShare) -> Option<Vec<u8>> {
    let public = <Kem as hpke::Kem>::PublicKey::from_bytes(public).ok()?;
    let aad = at_rest_aad(epoch, &share.public_key());
    let mut rng = hpke::rand_core::UnwrapErr(getrandom::SysRng);
    let plaintext = share.to_bytes();
    let (enc, ciphertext) = hpke::single_shot_seal_with_rng::<ChaCha20Poly1305, HkdfSha256, Kem>(
        &OpModeS::Base,
        &public,
        AT_REST_INFO,
        &plaintext,
        &aad,
        &mut rng,
    )
    .ok()?;
    let mut sealed = Vec::with_capacity(33 + 32 + ciphertext.len());
    sealed.extend_from_slice(&share.public_key());
    sealed.extend_from_slice(&enc.to_bytes());
    sealed.extend_from_slice(&ciphertext);
    Some(sealed)
}

/// Opens a share sealed by `seal_share`: `public key (33) || encapsulated key (32) ||
/// ciphertext`.
fn open_share(secret: &[u8; 32], epoch: u64, sealed: &[u8]) -> Option<KeyShare> {
    let public_key: [u8; 33] = sealed.get(..33)?.try_into().ok()?;
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(sealed.get(33..65)?).ok()?;
    let secret = <Kem as hpke::Kem>::PrivateKey::from_bytes(secret).ok()?;
    let plaintext = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(
        &OpModeR::Base,
        &secret,
        &enc,
        AT_REST_INFO,
        sealed.get(65..)?,
        &at_rest_aad(epoch, &public_key),
    )
    .ok()?;
    let plaintext = Zeroizing::new(plaintext);
    let share = KeyShare::from_bytes(&plaintext).ok()?;
    (share.public_key() == public_key).then_some(share)
}

#[cfg(test)]
mod tests {
    use super::{open_share, seal_share};

    #[test]
    fn a_sealed_share_opens_only_with_its_key_and_epoch() {
        let session = triad_signing::SessionId([9; 32]);
        let runs = triad_signing::PartyId::ALL.iter().map(|&p| triad_signing::dkg::start(p, session)).collect();
        let share = match triad_signing::local::run(runs).remove(0) {
            Ok(share) => share,
            Err(e) => panic!("dkg: {e}"),
        };
        let mut rng = hpke::rand_core::UnwrapErr(getrandom::SysRng);
        let (secret, public) = triad_provider::generate_keypair(&mut rng);
        let (other, _) = triad_provider::generate_keypair(&mut rng);
        let sealed = seal_share(&public.to_bytes(), 3, &share).unwrap_or_default();
        // The plaintext share is not in the sealed bytes.
        let plain = share.to_bytes();
        let middle = &plain[plain.len() / 2..plain.len() / 2 + 32];
        assert!(!sealed.windows(32).any(|w| w == middle));
        let opened = open_share(&secret.to_bytes(), 3, &sealed).map(|s| s.to_bytes().to_vec());
        assert_eq!(opened, Some(plain.to_vec()));
        assert!(open_share(&other.to_bytes(), 3, &sealed).is_none(), "another party's key opened it");
        assert!(open_share(&secret.to_bytes(), 4, &sealed).is_none(), "it opened as another epoch's");
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(open_share(&secret.to_bytes(), 3, &tampered).is_none());
    }
}
