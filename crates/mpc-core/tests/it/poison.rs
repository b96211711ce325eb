//! A failed verification cannot be completed, a verification completes only
//! into its own session, and a session whose proof aborted refuses to send
//! or open.

use triad_mpc_core::harness::{Party, Tamper, run3};
use triad_mpc_core::{
    ArithShare, Error, Message, PairKeys, PartyId, Payload, Progress, Result, Session, SessionId, Step,
};

fn p(i: u8) -> PartyId {
    PartyId::new(i).expect("party id")
}

/// `P_1` flips a bit of its final proof shares: both neighbours abort.
fn bad_final_shares() -> Option<(PartyId, Tamper)> {
    let t: Tamper = Box::new(|m: &mut Message| {
        if m.step == Step::ProofFinal
            && let Payload::Wide(w) = &mut m.payload
        {
            w[0] ^= 1 << 3;
        }
    });
    Some((p(1), t))
}

/// Drive `v` with `step_detached` until done or the first error.
fn run_detached(pt: &mut Party, v: &mut triad_mpc_core::Verify, mut prog: Progress) -> Result<Option<Error>> {
    loop {
        match prog {
            Progress::Done => return Ok(None),
            Progress::Continue(o) => {
                for m in o.messages {
                    pt.net.send(m)?;
                }
                let mut msgs = Vec::new();
                for f in o.await_from {
                    msgs.push(pt.net.recv(f)?);
                }
                match v.step_detached(msgs) {
                    Ok(p) => prog = p,
                    Err(e) => return Ok(Some(e)),
                }
            }
        }
    }
}

#[test]
fn a_verification_that_failed_cannot_be_completed() {
    let out = run3(bad_final_shares(), |pt| {
        let x = pt.share_public_input(&[3, 4])?;
        let _y = pt.mul(&x, &x)?;
        let (mut v, prog) = pt.session.verify_start()?;
        let Some(e) = run_detached(pt, &mut v, prog)? else { return Ok(None) };
        let again = v.step_detached(Vec::new());
        let completed = v.complete(&mut pt.session);
        let open = pt.session.open_start(&ArithShare::public(pt.me(), &[1])).map(drop);
        Ok(Some((e, again, completed, open, pt.session.is_poisoned())))
    });
    for i in [0, 2] {
        let Ok(Some((e, again, completed, open, poisoned))) = &out[i] else { panic!("P{i}: {:?}", out[i]) };
        assert!(matches!(e, Error::Abort { step: Step::ProofFinal, .. }), "P{i}: {e:?}");
        assert!(matches!(again, Err(Error::Abort { .. })), "P{i}: a failed run must keep failing: {again:?}");
        assert!(matches!(completed, Err(Error::Abort { .. })), "P{i}: completed a failed run: {completed:?}");
        assert!(open.is_err(), "P{i}: opened after a failed verification");
        assert!(*poisoned, "P{i}: the session is not poisoned");
    }
}

#[test]
fn a_session_whose_proof_aborted_refuses_to_open_gate_or_verify() {
    let out = run3(bad_final_shares(), |pt| {
        let x = pt.share_public_input(&[3, 4])?;
        let _y = pt.mul(&x, &x)?;
        let Err(e) = pt.verify() else { return Ok(None) };
        let one = ArithShare::public(pt.me(), &[1]);
        let open = pt.session.open_start(&one).map(drop);
        let mul = pt.session.mul_start(&one, &one).map(drop);
        // Refused before anything is sent.
        let start = pt.session.verify_start().map(drop);
        Ok(Some((e, open, mul, start)))
    });
    for i in [0, 2] {
        let Ok(Some((e, open, mul, start))) = &out[i] else { panic!("P{i}: {:?}", out[i]) };
        assert!(matches!(e, Error::Abort { step: Step::ProofFinal, .. }), "P{i}: {e:?}");
        // Refused as an abort (not merely `Unverified`: nothing is pending).
        assert!(matches!(open, Err(Error::Abort { step: Step::Open, .. })), "P{i}: {open:?}");
        assert!(matches!(mul, Err(Error::Abort { step: Step::Mul, .. })), "P{i}: {mul:?}");
        assert!(matches!(start, Err(Error::Abort { .. })), "P{i}: a poisoned session started a proof: {start:?}");
    }
}

#[test]
fn a_verification_completes_only_into_its_own_session() {
    let out = run3(None, |pt| {
        let x = pt.share_public_input(&[5])?;
        let y = pt.mul(&x, &x)?;
        let (mut v, prog) = pt.session.verify_start()?;
        if let Some(e) = run_detached(pt, &mut v, prog)? {
            return Err(e);
        }
        let me = pt.me();
        let keys = PairKeys::deal([[7; 16]; 3]);
        let mut other = Session::new(SessionId([0x77; 16]), me, &keys[me.index()]);
        let mut other_party = Session::new(pt.session.id(), me.next(), &keys[me.next().index()]);
        let wrong_id = v.complete(&mut other);
        let wrong_party = v.complete(&mut other_party);
        let still_locked = matches!(pt.session.open_start(&y), Err(Error::Unverified(_)));
        v.complete(&mut pt.session)?;
        Ok((wrong_id, wrong_party, still_locked, pt.open(&y)?))
    });
    for r in out {
        let (wrong_id, wrong_party, still_locked, opened) = r.expect("honest run");
        assert!(matches!(wrong_id, Err(Error::InvalidArgument(_))), "{wrong_id:?}");
        assert!(matches!(wrong_party, Err(Error::InvalidArgument(_))), "{wrong_party:?}");
        assert!(still_locked);
        assert_eq!(opened, vec![25]);
    }
}
