//! Two of the three parties sign a 32-byte digest (DKLs23 Protocol 3.6, through the
//! library's `sign_phase1..4`, which keep no borrowed state between rounds).
//!
//! Rounds (point to point between the two signers; `docs/protocols/signing.md` §1):
//! 1. `TransmitPhase1to2`: commitment to the instance point, the OT-extension message.
//! 2. `TransmitPhase2to3`: the multiplication's answers, the instance point and its opening.
//! 3. `Broadcast3to4`: the signature share `(u, w)`.
//!
//! Then each signer adds the shares, `s = (w_1 + w_2) / (u_1 + u_2)`, normalises to low `s`
//! and checks the signature under the public key. With two signers a signature that does not
//! verify is the other signer's fault (ours is computed locally), so it is blamed.

use std::collections::BTreeMap;

use dkls23::protocols::signing::{
    Broadcast3to4, KeepPhase1to2, KeepPhase2to3, SignData, TransmitPhase1to2, TransmitPhase2to3, UniqueKeep1to2,
    UniqueKeep2to3,
};
use dkls23::protocols::{PartiesMessage, PartyIndex};

use crate::session::{Advance, Rounds, Sealed, decode, encode};
use crate::{Curve, KeyShare, LibParty, Message, PartyId, Protocol, Session, SessionId, SigningError};

/// A signature: `r || s` (64 bytes, low `s`), over the digest, under the share's public key.
pub type Signature = [u8; 64];

/// What a signer keeps from phase 1 to phase 2 (single use, zeroized on drop by the library).
type Kept1 = (UniqueKeep1to2<Curve>, BTreeMap<PartyIndex, KeepPhase1to2<Curve>>);
/// What a signer keeps from phase 2 to phase 3.
type Kept2 = (UniqueKeep2to3<Curve>, BTreeMap<PartyIndex, KeepPhase2to3<Curve>>);

/// One signer's run ([`Rounds`]); start it with [`start`].
pub struct Signing {
    me: PartyId,
    peer: PartyId,
    party: LibParty,
    data: SignData,
    kept1: Option<Kept1>,
    kept2: Option<Kept2>,
    x_coord: Option<String>,
    own_share: Option<Broadcast3to4<Curve>>,
}

/// Starts signing `digest` with `share` in `session` by `signers` (two distinct parties, one
/// of them the share's holder); returns it with the round-1 message.
pub fn start(
    share: &KeyShare,
    session: SessionId,
    signers: [PartyId; 2],
    digest: [u8; 32],
) -> Result<(Session<Signing>, Vec<Message>), SigningError> {
    let me = share.party_id();
    let peer = match signers {
        [a, b] if a == b => return Err(SigningError::Setup("the two signers must differ")),
        [a, b] if a == me => b,
        [a, b] if b == me => a,
        _ => return Err(SigningError::Setup("this party is not a signer")),
    };
    let data = SignData { sign_id: session.0.to_vec(), counterparties: vec![peer.lib()], message_hash: digest };
    let party = share.party.clone();
    let (unique, kept, transmit) = party.sign_phase1(&data).map_err(|e| SigningError::from_abort(e, 0, None))?;
    let first =
        transmit.iter().filter_map(|m| Some((PartyId::from_lib(m.parties.receiver)?, encode(m)))).collect::<Vec<_>>();
    let signing =
        Signing { me, peer, party, data, kept1: Some((unique, kept)), kept2: None, x_coord: None, own_share: None };
    Ok(Session::start(session, me, vec![peer], signing, first))
}

impl Sealed for Signing {}

impl Rounds for Signing {
    type Output = Signature;
    const PROTOCOL: Protocol = Protocol::Sign;
    const ROUNDS: u8 = 3;

    fn advance(&mut self, round: u8, received: BTreeMap<PartyId, Vec<u8>>) -> Result<Advance<Signature>, SigningError> {
        let (me, peer) = (self.me, self.peer);
        let body = received.get(&peer).ok_or(SigningError::Misrouted("incomplete round"))?;
        let abort = |e| SigningError::from_abort(e, round, Some(peer));
        let routed = |p: &PartiesMessage| p.sender == peer.lib() && p.receiver == me.lib();
        match round {
            1 => {
                let message: TransmitPhase1to2 = decode(body, peer, round)?;
                if !routed(&message.parties) {
                    return Err(SigningError::Malformed { from: peer, round });
                }
                let (unique, kept) = self.kept1.take().ok_or(SigningError::Finished)?;
                let (unique, kept, transmit) =
                    self.party.sign_phase2(&self.data, unique, kept, &[message]).map_err(abort)?;
                self.kept2 = Some((unique, kept));
                Ok(Advance::Send(bodies(&transmit, |m| m.parties.receiver)))
            }
            2 => {
                let message: TransmitPhase2to3<Curve> = decode(body, peer, round)?;
                if !routed(&message.parties) {
                    return Err(SigningError::Malformed { from: peer, round });
                }
                let (unique, kept) = self.kept2.take().ok_or(SigningError::Finished)?;
                let (x_coord, share) = self.party.sign_phase3(&self.data, unique, kept, &[message]).map_err(abort)?;
                self.x_coord = Some(x_coord);
                let out = vec![(peer, encode(&share))];
                self.own_share = Some(share);
                Ok(Advance::Send(out))
            }
            _ => {
                let theirs: Broadcast3to4<Curve> = decode(body, peer, round)?;
                let ours = self.own_share.take().ok_or(SigningError::Finished)?;
                let x_coord = self.x_coord.take().ok_or(SigningError::Finished)?;
                let (s_hex, _recovery) =
                    self.party.sign_phase4(&self.data, &x_coord, &[ours, theirs], true).map_err(abort)?;
                let mut signature = [0u8; 64];
                hex::decode_to_slice(&x_coord, &mut signature[..32])
                    .and_then(|()| hex::decode_to_slice(&s_hex, &mut signature[32..]))
                    .map_err(|_| SigningError::Aborted {
                        round,
                        blamed: None,
                        ban: false,
                        reason: "the library returned a signature that is not 64 hex bytes".into(),
                    })?;
                Ok(Advance::Done(signature))
            }
        }
    }
}

fn bodies<T: serde::Serialize>(messages: &[T], to: impl Fn(&T) -> PartyIndex) -> Vec<(PartyId, Vec<u8>)> {
    messages.iter().filter_map(|m| Some((PartyId::from_lib(to(m))?, encode(m)))).collect()
}
