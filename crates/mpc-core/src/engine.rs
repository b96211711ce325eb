//! The driver interface: [`Engine`]. A driver supplies the session and one
//! transport primitive, [`Engine::exchange`] (send, then receive one message
//! from each awaited party); the gates, the proof of the logged gates and the
//! opens are provided on top of it, so the in-memory harness
//! ([`crate::harness`]) and a networked driver (`triad-mpc`'s `NetParty`)
//! run the same loops and send the same messages. A driver may override a
//! provided method to add its own policy around the same steps (`NetParty`
//! cuts large layers and proves every so many gates), and counts one round
//! per exchange.
//!
//! The circuits ([`crate::circuits`], [`crate::fixed`], [`crate::masked`],
//! [`crate::shuffle`], ...) are written against this trait.

use crate::dzkp::Progress;
use crate::{ArithShare, BoolShare, Error, Message, OpenPending, PartyId, Result, Session, Step};

/// What the circuits need from a driver: the session and one exchange of
/// messages; gates, proofs and opens are provided on top of the exchange.
pub trait Engine {
    /// The party's session.
    fn session(&mut self) -> &mut Session;

    /// Send `messages`, then receive one message from each party in
    /// `await_from`, returned in that order: the driver's only transport
    /// step (one round), used by every provided method and by protocols with
    /// their own state machines (the shuffle, [`crate::shuffle`]).
    fn exchange(&mut self, messages: Vec<Message>, await_from: &[PartyId]) -> Result<Vec<Message>>;

    /// Elementwise product (one round): [`mul_gate`].
    fn mul(&mut self, x: &ArithShare, y: &ArithShare) -> Result<ArithShare> {
        mul_gate(self, x, y)
    }

    /// Elementwise AND (one round): [`and_gate`].
    fn and(&mut self, x: &BoolShare, y: &BoolShare) -> Result<BoolShare> {
        and_gate(self, x, y)
    }

    /// Prove every gate logged so far (a no-op when none is pending): the
    /// DZKP's steps, one exchange each ([`Session::verify_start`], then
    /// [`crate::Verify::step`] until [`Progress::Done`]).
    fn verify(&mut self) -> Result<()> {
        let (mut v, mut p) = self.session().verify_start()?;
        loop {
            match p {
                Progress::Done => return Ok(()),
                Progress::Continue(o) => {
                    let msgs = self.exchange(o.messages, &o.await_from)?;
                    p = v.step(self.session(), msgs)?;
                }
            }
        }
    }

    /// Verify every pending gate, then open `x` to all parties (compare-view,
    /// one round).
    fn open(&mut self, x: &ArithShare) -> Result<Vec<u64>> {
        self.verify()?;
        let (pending, msgs) = self.session().open_start(x)?;
        finish_open(self, pending, msgs)
    }

    /// Verify every pending gate, then open the bit-sliced `x` (one bit per lane).
    fn open_bits(&mut self, x: &BoolShare) -> Result<Vec<u64>> {
        self.verify()?;
        let (pending, msgs) = self.session().open_bits_start(x)?;
        finish_open(self, pending, msgs)
    }
}

/// The replies of an exchange as an array (an exchange returns one message
/// per awaited party; anything else is reported as a missing message).
fn replies<const N: usize>(msgs: Vec<Message>, step: Step) -> Result<[Message; N]> {
    <[Message; N]>::try_from(msgs).map_err(|_| Error::abort(step, None, "awaited message missing"))
}

/// One multiplication layer, `x * y` elementwise: send `z_i` to the previous
/// party, receive `z_{i+1}` from the next (one exchange, no chunking and no
/// proof: the driver's policy is the caller's).
pub fn mul_gate<E: Engine + ?Sized>(e: &mut E, x: &ArithShare, y: &ArithShare) -> Result<ArithShare> {
    let (pending, m) = e.session().mul_start(x, y)?;
    let next = e.session().me().next();
    let [r] = replies(e.exchange(vec![m], &[next])?, Step::Mul)?;
    pending.finish(e.session(), r)
}

/// The dot product `sum_j x_j y_j` as one gate (one element sent, one
/// exchange).
pub fn dot_gate<E: Engine + ?Sized>(e: &mut E, x: &ArithShare, y: &ArithShare) -> Result<ArithShare> {
    let (pending, m) = e.session().dot_start(x, y)?;
    let next = e.session().me().next();
    let [r] = replies(e.exchange(vec![m], &[next])?, Step::Mul)?;
    pending.finish(e.session(), r)
}

/// Several dot products in one gate layer (`k` elements sent, one exchange):
/// element `t` of the result is `sum_j x_t[j] y_t[j]`.
pub fn dots_gate<E: Engine + ?Sized>(e: &mut E, pairs: &[(&ArithShare, &ArithShare)]) -> Result<ArithShare> {
    let (pending, m) = e.session().dots_start(pairs)?;
    let next = e.session().me().next();
    let [r] = replies(e.exchange(vec![m], &[next])?, Step::Mul)?;
    pending.finish(e.session(), r)
}

/// One AND layer, `x & y` elementwise (one exchange, as [`mul_gate`]).
pub fn and_gate<E: Engine + ?Sized>(e: &mut E, x: &BoolShare, y: &BoolShare) -> Result<BoolShare> {
    let (pending, m) = e.session().and_start(x, y)?;
    let next = e.session().me().next();
    let [r] = replies(e.exchange(vec![m], &[next])?, Step::And)?;
    pending.finish(e.session(), r)
}

/// The second half of an open: send both messages, receive from the next
/// party, then from the previous one (one exchange).
fn finish_open<E: Engine + ?Sized>(e: &mut E, pending: OpenPending, msgs: [Message; 2]) -> Result<Vec<u64>> {
    let me = e.session().me();
    let [from_next, from_prev] = replies(e.exchange(msgs.into(), &[me.next(), me.prev()])?, Step::Open)?;
    pending.finish(e.session(), from_next, from_prev)
}
