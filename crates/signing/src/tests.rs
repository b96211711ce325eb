//! Tests that reach inside: tampered messages and the blame they get, redelivery and
//! equivocation, and `Debug` output without secrets.

use dkls23::protocols::signing::{Broadcast3to4, TransmitPhase2to3};
use k256_dkls::elliptic_curve::PrimeField as _;

use crate::session::{decode, encode};
use crate::{Curve, KeyShare, Message, PartyId, Protocol, SessionId, SigningError, dkg, local, refresh, sign};

fn p(i: u8) -> PartyId {
    PartyId::new(i).expect("party")
}

fn sid(label: &str) -> SessionId {
    use sha2::Digest as _;
    SessionId(sha2::Sha256::digest(label).into())
}

fn keygen(label: &str) -> Vec<KeyShare> {
    let parties = PartyId::ALL.into_iter().map(|me| dkg::start(me, sid(label))).collect();
    local::run(parties).into_iter().map(|r| r.expect("dkg")).collect()
}

fn signing(shares: &[KeyShare], a: usize, b: usize, label: &str) -> Vec<(crate::Session<sign::Signing>, Vec<Message>)> {
    let signers = [p(a as u8), p(b as u8)];
    [a, b].iter().map(|&i| sign::start(&shares[i], sid(label), signers, [7; 32]).expect("start")).collect()
}

#[test]
fn a_tampered_signature_share_aborts_naming_its_sender() {
    let shares = keygen("tamper-share");
    let out = local::run_with(signing(&shares, 0, 2, "tamper-share-sign"), |m| {
        if m.protocol == Protocol::Sign && m.round == 3 && m.from == p(2) {
            let mut share: Broadcast3to4<Curve> = decode(&m.body, m.from, 3).expect("decode");
            share.w += k256_dkls::Scalar::ONE;
            m.body = encode(&share);
        }
    });
    match &out[0] {
        Err(e @ SigningError::Aborted { round: 3, .. }) => assert_eq!(e.blamed(), Some(p(2)), "{e}"),
        other => panic!("P0 must abort in round 3: {other:?}"),
    }
    assert!(out[1].is_ok(), "P2 received an honest share: {:?}", out[1]);
}

#[test]
fn a_tampered_multiplication_message_aborts_naming_its_sender() {
    let shares = keygen("tamper-mul");
    let out = local::run_with(signing(&shares, 1, 2, "tamper-mul-sign"), |m| {
        if m.round == 2 && m.from == p(1) {
            let mut message: TransmitPhase2to3<Curve> = decode(&m.body, m.from, 2).expect("decode");
            message.psi += k256_dkls::Scalar::ONE;
            m.body = encode(&message);
        }
    });
    let error = out[1].as_ref().expect_err("P2 must abort");
    assert_eq!(error.blamed(), Some(p(1)), "{error}");
}

#[test]
fn a_body_that_does_not_decode_is_blamed_on_its_sender() {
    let out = local::run_with(PartyId::ALL.into_iter().map(|me| dkg::start(me, sid("garbled"))).collect(), |m| {
        if m.round == 2 && m.from == p(0) && m.to == p(1) {
            m.body.truncate(m.body.len() / 2);
        }
    });
    assert_eq!(out[1].as_ref().err(), Some(&SigningError::Malformed { from: p(0), round: 2 }));
}

#[test]
fn a_broadcast_told_differently_to_two_parties_stops_the_dkg() {
    // P0 sends P2 another chain-code commitment than P1 gets: the round-3 echoes differ.
    let out = local::run_with(PartyId::ALL.into_iter().map(|me| dkg::start(me, sid("equivocal"))).collect(), |m| {
        if m.round == 2 && m.from == p(0) && m.to == p(2) {
            let mut body: crate::dkg::DkgRound2 = decode(&m.body, m.from, 2).expect("decode");
            body.chain_code.cc_commitment[0] ^= 1;
            m.body = encode(&body);
        }
    });
    assert!(out.iter().all(|r| r.is_err()), "{out:?}");
    assert!(out.iter().any(|r| matches!(r, Err(SigningError::Aborted { round: 3, .. }))), "{out:?}");
}

#[test]
fn redelivery_is_ignored_and_equivocation_refused() {
    let parties: Vec<_> = PartyId::ALL.into_iter().map(|me| dkg::start(me, sid("redeliver"))).collect();
    let mut sessions = Vec::new();
    let mut first = Vec::new();
    for (s, m) in parties {
        sessions.push(s);
        first.extend(m);
    }
    let to_p1: Vec<Message> = first.iter().filter(|m| m.to == p(1)).cloned().collect();
    let progress = sessions[1].receive(to_p1[0].clone()).expect("first");
    assert!(progress.send.is_empty() && progress.output.is_none());
    assert_eq!(sessions[1].waiting_for(), vec![to_p1[1].from]);
    let again = sessions[1].receive(to_p1[0].clone()).expect("a redelivery is no error");
    assert!(again.send.is_empty());
    let mut other = to_p1[0].clone();
    other.body[0] ^= 1;
    assert_eq!(sessions[1].receive(other).err(), Some(SigningError::Equivocation { from: to_p1[0].from, round: 1 }));
    assert_eq!(sessions[1].receive(to_p1[1].clone()).err(), Some(SigningError::Finished));
}

#[test]
fn misrouted_messages_leave_the_session_running() {
    let (mut session, _) = dkg::start(p(0), sid("misrouted"));
    let (_, from_p1) = dkg::start(p(1), sid("misrouted"));
    let mut to_p2 = from_p1.iter().find(|m| m.to == p(2)).cloned().expect("to P2");
    assert_eq!(session.receive(to_p2.clone()).err(), Some(SigningError::Misrouted("another recipient")));
    to_p2.to = p(0);
    to_p2.session = sid("another");
    assert_eq!(session.receive(to_p2.clone()).err(), Some(SigningError::Misrouted("another session")));
    let to_p0 = from_p1.into_iter().find(|m| m.to == p(0)).expect("to P0");
    assert!(session.receive(to_p0).is_ok());
}

#[test]
fn signing_refuses_a_bad_signer_set_and_refresh_a_derived_share() {
    let shares = keygen("setup");
    assert!(matches!(sign::start(&shares[0], sid("s"), [p(1), p(2)], [0; 32]), Err(SigningError::Setup(_))));
    assert!(matches!(sign::start(&shares[0], sid("s"), [p(0), p(0)], [0; 32]), Err(SigningError::Setup(_))));
    let derived = shares[0].derive("d").expect("derive");
    assert!(matches!(refresh::start(&derived, sid("r")), Err(SigningError::Setup(_))));
    assert!(derived.derive("e").is_err(), "derive from the network key only");
}

#[test]
fn debug_output_shows_no_secret() {
    let shares = keygen("debug");
    for share in shares.iter().chain([&shares[0].derive("d").expect("derive")]) {
        let secret = share.party.poly_point;
        let secret_hex = hex::encode(secret.to_repr());
        let shown = format!("{share:?} {share:#?}");
        assert!(!shown.contains(&secret_hex), "{shown}");
        assert!(!shown.to_lowercase().contains(&secret_hex[..16]), "{shown}");
        // The library's own Debug does print it: the marker is real.
        let library = format!("{:?}", share.party).to_lowercase();
        assert!(library.contains(&secret_hex[..16]) || library.contains(&format!("{secret:?}").to_lowercase()));
        assert!(shown.contains(&hex::encode(share.public_key())));
    }
    let (session, messages) = dkg::start(p(0), sid("debug-msg"));
    let fragment_hex = hex::encode(&messages[0].body);
    let shown = format!("{session:?} {:?}", messages[0]);
    assert!(!shown.contains(&fragment_hex[..fragment_hex.len().min(32)]), "{shown}");
    assert!(shown.contains("body_len"));
}
