//! Distributed key generation among the three parties, threshold 2 (DKLs23 §9 via the
//! library's `DkgSession`: Protocol 9.1 of ePrint 2023/602 for the key, plus the zero-share,
//! two-party multiplication (OT) and chain-code set-ups).
//!
//! Rounds (every message point to point; `docs/protocols/signing.md` §1):
//! 1. `DkgRound1`: the polynomial fragment for the recipient (secret).
//! 2. `DkgRound2`: the proof-of-knowledge commitment, the zero-share seed commitment and the
//!    chain-code commitment.
//! 3. `DkgRound3`: an echo of round 2's broadcasts, the zero-share seed and salt, the OT base
//!    messages and the chain-code opening.
//!
//! The broadcasts of round 2 travel as one copy per recipient; round 3 carries each party's
//! SHA-256 of every round-2 broadcast it holds, so a party that told the others different
//! things is caught before anyone outputs a key (no culprit: either could be lying).

use std::collections::BTreeMap;

use dkls23::DkgSession;
use dkls23::protocols::Parameters;
use dkls23::protocols::dkg::{
    BroadcastDerivationPhase2to4, BroadcastDerivationPhase3to4, ProofCommitment, TransmitInitMulPhase3to4,
    TransmitInitZeroSharePhase2to4, TransmitInitZeroSharePhase3to4,
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::session::{Advance, Rounds, Sealed, decode, encode};
use crate::{Curve, KeyShare, Message, PartyId, Protocol, Session, SessionId, SigningError};

use crate::fragments::{self, Scalar};

#[derive(Serialize, Deserialize)]
pub(crate) struct DkgRound2 {
    proof: ProofCommitment<Curve>,
    zero: TransmitInitZeroSharePhase2to4,
    pub(crate) chain_code: BroadcastDerivationPhase2to4,
}

#[derive(Serialize, Deserialize)]
struct DkgRound3 {
    echo: [u8; 32],
    zero: TransmitInitZeroSharePhase3to4,
    mul: TransmitInitMulPhase3to4<Curve>,
    chain_code: BroadcastDerivationPhase3to4,
}

/// One party's DKG ([`Rounds`]); start it with [`start`].
pub struct KeyGen {
    me: PartyId,
    session: Option<DkgSession<Curve>>,
    /// The fragment this party keeps of its own polynomial.
    own_fragment: Zeroizing<Scalar>,
    proofs: Vec<ProofCommitment<Curve>>,
    zero_received: Vec<TransmitInitZeroSharePhase2to4>,
    chain_code_commitments: BTreeMap<dkls23::protocols::PartyIndex, BroadcastDerivationPhase2to4>,
    echo: [u8; 32],
    chain_code_openings: Option<BroadcastDerivationPhase3to4>,
}

/// Starts `me`'s DKG in `session`; returns it with the round-1 messages.
pub fn start(me: PartyId, session: SessionId) -> (Session<KeyGen>, Vec<Message>) {
    let parameters = Parameters { threshold: 2, share_count: 3 };
    let dkg = DkgSession::<Curve>::new(parameters, me.lib(), session.0.to_vec());
    let (own_fragment, first) = fragments::split(me, Zeroizing::new(dkg.phase1()));
    let keygen = KeyGen {
        me,
        session: Some(dkg),
        own_fragment,
        proofs: Vec::with_capacity(3),
        zero_received: Vec::with_capacity(2),
        chain_code_commitments: BTreeMap::new(),
        echo: [0; 32],
        chain_code_openings: None,
    };
    Session::start(session, me, others(me), keygen, first)
}

impl Sealed for KeyGen {}

impl Rounds for KeyGen {
    type Output = KeyShare;
    const PROTOCOL: Protocol = Protocol::Dkg;
    const ROUNDS: u8 = 3;

    fn advance(&mut self, round: u8, received: BTreeMap<PartyId, Vec<u8>>) -> Result<Advance<KeyShare>, SigningError> {
        let me = self.me;
        let session = self.session.as_mut().ok_or(SigningError::Finished)?;
        let abort = |e| SigningError::from_abort(e, round, None);
        match round {
            1 => {
                let fragments = fragments::gather(me, &self.own_fragment, &received)?;
                let (proof, zero, chain_code) = session.phase2(&fragments).map_err(abort)?;
                self.proofs.push(proof.clone());
                self.chain_code_commitments.insert(me.lib(), chain_code.clone());
                let bodies = zero
                    .into_iter()
                    .filter_map(|zero| {
                        let to = PartyId::from_lib(zero.parties.receiver)?;
                        Some((to, encode(&DkgRound2 { proof: proof.clone(), zero, chain_code: chain_code.clone() })))
                    })
                    .collect();
                Ok(Advance::Send(bodies))
            }
            2 => {
                for (&from, body) in &received {
                    let message: DkgRound2 = decode(body, from, round)?;
                    let routed = message.zero.parties.sender == from.lib() && message.zero.parties.receiver == me.lib();
                    if !routed || message.proof.index != from.lib() || message.chain_code.sender_index != from.lib() {
                        return Err(SigningError::Malformed { from, round });
                    }
                    self.proofs.push(message.proof);
                    self.zero_received.push(message.zero);
                    self.chain_code_commitments.insert(from.lib(), message.chain_code);
                }
                self.echo = echo(&self.proofs, &self.chain_code_commitments);
                let (zero, mul, chain_code) = session.phase3().map_err(abort)?;
                let mut mul: BTreeMap<_, _> = mul.into_iter().map(|m| (m.parties.receiver, m)).collect();
                let bodies = zero
                    .into_iter()
                    .filter_map(|zero| {
                        let to = PartyId::from_lib(zero.parties.receiver)?;
                        let mul = mul.remove(&zero.parties.receiver)?;
                        Some((to, encode(&DkgRound3 { echo: self.echo, zero, mul, chain_code: chain_code.clone() })))
                    })
                    .collect();
                self.chain_code_openings = Some(chain_code);
                Ok(Advance::Send(bodies))
            }
            _ => {
                let mut zero_received = Vec::with_capacity(2);
                let mut mul_received = Vec::with_capacity(2);
                let mut openings = BTreeMap::new();
                if let Some(own) = self.chain_code_openings.take() {
                    openings.insert(me.lib(), own);
                }
                for (&from, body) in &received {
                    let message: DkgRound3 = decode(body, from, round)?;
                    let routed =
                        |p: &dkls23::protocols::PartiesMessage| p.sender == from.lib() && p.receiver == me.lib();
                    if !routed(&message.zero.parties)
                        || !routed(&message.mul.parties)
                        || message.chain_code.sender_index != from.lib()
                    {
                        return Err(SigningError::Malformed { from, round });
                    }
                    check_echo(&message.echo, &self.echo, from, round)?;
                    zero_received.push(message.zero);
                    mul_received.push(message.mul);
                    openings.insert(from.lib(), message.chain_code);
                }
                let dkg = self.session.take().ok_or(SigningError::Finished)?;
                let (party, _package) = dkg
                    .phase4(
                        &self.proofs,
                        &self.zero_received,
                        &zero_received,
                        &mul_received,
                        &self.chain_code_commitments,
                        &openings,
                        |_| String::new(),
                    )
                    .map_err(abort)?;
                Ok(Advance::Done(KeyShare::new(party)))
            }
        }
    }
}

/// Refuses a peer's round-3 echo that differs from ours: someone told the two of us
/// different round-2 broadcasts (no culprit: either of the others may be lying).
pub(crate) fn check_echo(theirs: &[u8; 32], ours: &[u8; 32], from: PartyId, round: u8) -> Result<(), SigningError> {
    if theirs == ours {
        return Ok(());
    }
    Err(SigningError::Aborted {
        round,
        blamed: None,
        ban: false,
        reason: format!("{from} holds other round-2 broadcasts than this party"),
    })
}

/// The two parties other than `me`.
pub(crate) fn others(me: PartyId) -> Vec<PartyId> {
    PartyId::ALL.into_iter().filter(|p| *p != me).collect()
}

/// SHA-256 over the round-2 broadcasts a party holds, in party order.
pub(crate) fn echo<T: Serialize>(
    proofs: &[ProofCommitment<Curve>],
    extra: &BTreeMap<dkls23::protocols::PartyIndex, T>,
) -> [u8; 32] {
    use sha2::Digest as _;
    let mut sorted: Vec<&ProofCommitment<Curve>> = proofs.iter().collect();
    sorted.sort_by_key(|p| p.index);
    let mut hasher = sha2::Sha256::new();
    for proof in sorted {
        hasher.update(encode(proof));
    }
    for value in extra.values() {
        hasher.update(encode(value));
    }
    hasher.finalize().into()
}
