//! Key refresh among all three parties: the library's fast refresh (DKG with zero constant
//! terms, and the OT state re-randomised by the Beaver trick of ePrint 2019/1328 §8). Same
//! public key and chain code; every share moves, and so does each party's session id, so an
//! old share no longer signs with a new one (the library refuses a session-binding mismatch,
//! and the Shamir points no longer lie on one polynomial).
//!
//! Rounds (`docs/protocols/signing.md` §1):
//! 1. `RefreshRound1`: the fragment of the recipient of a zero-constant polynomial (secret).
//! 2. `RefreshRound2`: the proof-of-knowledge commitment, the zero-share seed commitment.
//! 3. `RefreshRound3`: an echo of round 2's proofs, the seed and salt (secret).

use std::collections::BTreeMap;

use dkls23::protocols::dkg::ProofCommitment;
use dkls23::protocols::refresh::{
    KeepRefreshPhase2to3, KeepRefreshPhase3to4, TransmitRefreshPhase2to4, TransmitRefreshPhase3to4,
};
use dkls23::protocols::{PartiesMessage, PartyIndex};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::dkg::{check_echo, echo, others};
use crate::session::{Advance, Rounds, Sealed, decode, encode};
use crate::{Curve, KeyShare, LibParty, Message, PartyId, Protocol, Session, SessionId, SigningError};

use crate::fragments::{self, Scalar};

#[derive(Serialize, Deserialize)]
struct RefreshRound2 {
    proof: ProofCommitment<Curve>,
    seed_commitment: TransmitRefreshPhase2to4,
}

#[derive(Serialize, Deserialize)]
struct RefreshRound3 {
    echo: [u8; 32],
    seed: TransmitRefreshPhase3to4,
}

/// One party's refresh ([`Rounds`]); start it with [`start`].
pub struct Refresh {
    me: PartyId,
    party: LibParty,
    refresh_id: Vec<u8>,
    own_fragment: Zeroizing<Scalar>,
    correction: Zeroizing<Scalar>,
    proofs: Vec<ProofCommitment<Curve>>,
    kept2: BTreeMap<PartyIndex, KeepRefreshPhase2to3>,
    kept3: BTreeMap<PartyIndex, KeepRefreshPhase3to4>,
    seed_commitments: Vec<TransmitRefreshPhase2to4>,
    echo: [u8; 32],
}

/// Starts refreshing `share` (a network key share, not a derived one) in `session`; returns
/// it with the round-1 messages. The output replaces `share`; delete the old one.
pub fn start(share: &KeyShare, session: SessionId) -> Result<(Session<Refresh>, Vec<Message>), SigningError> {
    if share.derivation != crate::Derivation::Network {
        return Err(SigningError::Setup(
            "refresh the network key share; derive dataset and request keys again afterwards",
        ));
    }
    let me = share.party_id();
    let party = share.party.clone();
    let (own_fragment, first) = fragments::split(me, Zeroizing::new(party.refresh_phase1()));
    let refresh = Refresh {
        me,
        party,
        refresh_id: session.0.to_vec(),
        own_fragment,
        correction: Zeroizing::new(Scalar::ZERO),
        proofs: Vec::with_capacity(3),
        kept2: BTreeMap::new(),
        kept3: BTreeMap::new(),
        seed_commitments: Vec::with_capacity(2),
        echo: [0; 32],
    };
    Ok(Session::start(session, me, others(me), refresh, first))
}

impl Sealed for Refresh {}

impl Rounds for Refresh {
    type Output = KeyShare;
    const PROTOCOL: Protocol = Protocol::Refresh;
    const ROUNDS: u8 = 3;

    fn advance(&mut self, round: u8, received: BTreeMap<PartyId, Vec<u8>>) -> Result<Advance<KeyShare>, SigningError> {
        let me = self.me;
        match round {
            1 => {
                let fragments = fragments::gather(me, &self.own_fragment, &received)?;
                let (correction, proof, kept, transmit) = self.party.refresh_phase2(&self.refresh_id, &fragments);
                *self.correction = correction;
                self.kept2 = kept;
                self.proofs.push(proof.clone());
                let bodies = transmit
                    .into_iter()
                    .filter_map(|seed_commitment| {
                        let to = PartyId::from_lib(seed_commitment.parties.receiver)?;
                        Some((to, encode(&RefreshRound2 { proof: proof.clone(), seed_commitment })))
                    })
                    .collect();
                Ok(Advance::Send(bodies))
            }
            2 => {
                for (&from, body) in &received {
                    let message: RefreshRound2 = decode(body, from, round)?;
                    if !routed(&message.seed_commitment.parties, from, me) || message.proof.index != from.lib() {
                        return Err(SigningError::Malformed { from, round });
                    }
                    self.proofs.push(message.proof);
                    self.seed_commitments.push(message.seed_commitment);
                }
                self.echo = echo::<()>(&self.proofs, &BTreeMap::new());
                let (kept, transmit) = self.party.refresh_phase3(&self.kept2);
                self.kept2.clear();
                self.kept3 = kept;
                let bodies = transmit
                    .into_iter()
                    .filter_map(|seed| {
                        let to = PartyId::from_lib(seed.parties.receiver)?;
                        Some((to, encode(&RefreshRound3 { echo: self.echo, seed })))
                    })
                    .collect();
                Ok(Advance::Send(bodies))
            }
            _ => {
                let mut seeds = Vec::with_capacity(2);
                for (&from, body) in &received {
                    let message: RefreshRound3 = decode(body, from, round)?;
                    if !routed(&message.seed.parties, from, me) {
                        return Err(SigningError::Malformed { from, round });
                    }
                    check_echo(&message.echo, &self.echo, from, round)?;
                    seeds.push(message.seed);
                }
                let party = self
                    .party
                    .refresh_phase4(
                        &self.refresh_id,
                        &self.correction,
                        &self.proofs,
                        &self.kept3,
                        &self.seed_commitments,
                        &seeds,
                    )
                    .map_err(|e| SigningError::from_abort(e, round, None))?;
                Ok(Advance::Done(KeyShare::new(party)))
            }
        }
    }
}

fn routed(parties: &PartiesMessage, from: PartyId, me: PartyId) -> bool {
    parties.sender == from.lib() && parties.receiver == me.lib()
}
