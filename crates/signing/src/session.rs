//! The round driver shared by the three protocols: checks each message's envelope, buffers
//! early rounds, drops exact duplicates (a bus redelivers), refuses equivocation, and calls
//! the protocol when a round is complete.

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};

use crate::{Message, PartyId, Protocol, SessionId, SigningError};

mod sealed {
    pub trait Sealed {}
}
pub(crate) use sealed::Sealed;

/// What a protocol does with a complete round.
#[doc(hidden)]
pub enum Advance<T> {
    /// The next round's bodies, one per recipient.
    Send(Vec<(PartyId, Vec<u8>)>),
    /// The protocol's output.
    Done(T),
}

/// A protocol as rounds of messages among a fixed set of parties: implemented by
/// [`crate::dkg::KeyGen`], [`crate::sign::Signing`] and [`crate::refresh::Refresh`] only.
pub trait Rounds: Sealed {
    /// What a party gets at the end.
    type Output;
    /// The protocol byte in the envelope.
    const PROTOCOL: Protocol;
    /// Rounds of messages; after the last the party computes its output.
    const ROUNDS: u8;
    /// Processes round `round`, one body per peer.
    #[doc(hidden)]
    fn advance(
        &mut self,
        round: u8,
        received: BTreeMap<PartyId, Vec<u8>>,
    ) -> Result<Advance<Self::Output>, SigningError>;
}

/// What one received message did.
#[derive(Debug)]
pub struct Progress<T> {
    /// Messages to send now (the next rounds this message completed).
    pub send: Vec<Message>,
    /// The output, once the last round is processed.
    pub output: Option<T>,
}

/// One party's run of a protocol. Feed it every message addressed to this party, in any
/// order and with duplicates; send what it returns.
pub struct Session<P: Rounds> {
    id: SessionId,
    me: PartyId,
    /// The other participants; each sends one message per round to this party.
    peers: Vec<PartyId>,
    protocol: P,
    /// The round whose messages we wait for; `ROUNDS + 1` once done.
    awaiting: u8,
    inbox: BTreeMap<u8, BTreeMap<PartyId, Vec<u8>>>,
    /// SHA-256 of every body received, to tell a redelivery from equivocation.
    seen: BTreeMap<(u8, PartyId), [u8; 32]>,
    finished: bool,
}

impl<P: Rounds> std::fmt::Debug for Session<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("protocol", &P::PROTOCOL)
            .field("me", &self.me)
            .field("awaiting", &self.awaiting)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<P: Rounds> Session<P> {
    /// `me`'s session with `peers`, whose round-1 bodies are `first`; returns it with the
    /// messages to send.
    pub(crate) fn start(
        id: SessionId,
        me: PartyId,
        peers: Vec<PartyId>,
        protocol: P,
        first: Vec<(PartyId, Vec<u8>)>,
    ) -> (Self, Vec<Message>) {
        let session = Session {
            id,
            me,
            peers,
            protocol,
            awaiting: 1,
            inbox: BTreeMap::new(),
            seen: BTreeMap::new(),
            finished: false,
        };
        let messages = session.envelope(1, first);
        (session, messages)
    }

    /// The session id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// This party.
    pub fn me(&self) -> PartyId {
        self.me
    }

    /// The other participants.
    pub fn peers(&self) -> &[PartyId] {
        &self.peers
    }

    /// The round being waited for.
    pub fn round(&self) -> u8 {
        self.awaiting
    }

    /// Whether it finished (with an output or an error).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The peers whose message of the current round has not arrived (for a timeout's report).
    pub fn waiting_for(&self) -> Vec<PartyId> {
        let got = self.inbox.get(&self.awaiting);
        self.peers.iter().copied().filter(|p| got.is_none_or(|m| !m.contains_key(p))).collect()
    }

    /// Takes one message addressed to this party.
    ///
    /// [`SigningError::Misrouted`] and [`SigningError::NotAParticipant`] leave the session
    /// running (the message is dropped); every other error finishes it.
    pub fn receive(&mut self, mut message: Message) -> Result<Progress<P::Output>, SigningError> {
        if self.finished {
            return Err(SigningError::Finished);
        }
        if message.session != self.id {
            return Err(SigningError::Misrouted("another session"));
        }
        if message.protocol != P::PROTOCOL {
            return Err(SigningError::Misrouted("another protocol"));
        }
        if message.to != self.me {
            return Err(SigningError::Misrouted("another recipient"));
        }
        if !(1..=P::ROUNDS).contains(&message.round) {
            return Err(SigningError::Misrouted("no such round"));
        }
        let (round, from) = (message.round, message.from);
        if !self.peers.contains(&from) {
            return Err(SigningError::NotAParticipant(from));
        }
        let digest: [u8; 32] = Sha256::digest(&message.body).into();
        match self.seen.get(&(round, from)) {
            Some(d) if *d == digest => return Ok(Progress { send: Vec::new(), output: None }),
            Some(_) => return self.fail(SigningError::Equivocation { from, round }),
            None => {}
        }
        self.seen.insert((round, from), digest);
        self.inbox.entry(round).or_default().insert(from, std::mem::take(&mut message.body));

        let mut send = Vec::new();
        while self.round_complete() {
            let received = self.inbox.remove(&self.awaiting).unwrap_or_default();
            match self.protocol.advance(self.awaiting, received) {
                Ok(Advance::Send(bodies)) => {
                    self.awaiting += 1;
                    send.extend(self.envelope(self.awaiting, bodies));
                }
                Ok(Advance::Done(output)) => {
                    self.awaiting = P::ROUNDS + 1;
                    self.finished = true;
                    self.inbox.clear();
                    return Ok(Progress { send, output: Some(output) });
                }
                Err(e) => return self.fail(e),
            }
        }
        Ok(Progress { send, output: None })
    }

    fn round_complete(&self) -> bool {
        self.awaiting <= P::ROUNDS
            && self.inbox.get(&self.awaiting).is_some_and(|m| self.peers.iter().all(|p| m.contains_key(p)))
    }

    fn fail(&mut self, error: SigningError) -> Result<Progress<P::Output>, SigningError> {
        self.finished = true;
        self.inbox.clear();
        Err(error)
    }

    fn envelope(&self, round: u8, bodies: Vec<(PartyId, Vec<u8>)>) -> Vec<Message> {
        let from = self.me;
        bodies
            .into_iter()
            .map(|(to, body)| Message { session: self.id, protocol: P::PROTOCOL, round, from, to, body })
            .collect()
    }
}

/// Postcard encoding of a round body.
pub(crate) fn encode<T: serde::Serialize>(body: &T) -> Vec<u8> {
    // Postcard fails only on a writer that runs out of room or a type it cannot express
    // (none here: structs of byte arrays, scalars and points).
    postcard::to_allocvec(body).unwrap_or_default()
}

/// Postcard decoding of `from`'s round-`round` body; the whole body must be used.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(body: &[u8], from: PartyId, round: u8) -> Result<T, SigningError> {
    match postcard::take_from_bytes::<T>(body) {
        Ok((value, [])) => Ok(value),
        _ => Err(SigningError::Malformed { from, round }),
    }
}
