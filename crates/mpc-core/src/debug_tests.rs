//! `Debug` output never carries secrets: share components, pair keys, PRF
//! state, proof messages or client inputs print as shapes only.

use crate::engine::Engine;
use crate::harness::run3;
use crate::input::InputBundle;
use crate::{ArithShare, BoolShare, PairKeys, Payload, Session, SessionId};

const SECRET: u64 = 0xDEAD_BEEF_CAFE_F00D;

/// The forms the secret could take in `{:?}` output.
fn leaks(s: &str) -> bool {
    let s = s.to_lowercase();
    ["16045690984503111693", "deadbeef", "cafef00d", "3735928559", "3405705229", "13, 240, 254, 202"]
        .iter()
        .any(|w| s.contains(w))
        || s.contains(&(SECRET as i64).to_string())
}

#[test]
fn the_secret_detector_finds_the_secret() {
    // The assertions below could fail: plain formatting shows the value.
    assert!(leaks(&format!("{:?}", vec![SECRET])));
    assert!(leaks(&format!("{:x?}", [SECRET])));
    assert!(leaks(&format!("{:?}", SECRET as i64)));
}

#[test]
fn debug_output_shows_shapes_not_secrets() {
    let key = SECRET.to_le_bytes().repeat(2).try_into().unwrap_or([0u8; 16]);
    let keys = PairKeys::deal([key; 3]);
    let mut printed = vec![format!("{keys:?}")];
    let mut s = Session::new(SessionId([1; 16]), crate::PartyId::ALL[0], &keys[0]);
    printed.push(format!("{s:?}"));
    let bundle = InputBundle { first: vec![SECRET; 3], second: vec![SECRET; 3] };
    printed.push(format!("{bundle:?}"));
    let x = ArithShare::public(s.me(), &[SECRET, SECRET]);
    printed.push(format!("{x:?}"));
    if let Ok((pending, msgs)) = s.open_start(&x) {
        printed.push(format!("{pending:?}"));
        printed.push(format!("{msgs:?}"));
    } else {
        panic!("open of a fresh session refused");
    }
    printed.push(format!("{:?}", Payload::Words(vec![SECRET])));
    printed.push(format!("{:?}", Payload::Wide(vec![SECRET as u128])));
    printed.push(format!("{:?}", Payload::Bytes(SECRET.to_le_bytes().to_vec())));
    for p in &printed {
        assert!(!leaks(p), "leaks: {p}");
    }

    // Sessions with logged gates, pending operations and proofs in flight.
    let out = run3(None, |p| {
        let me = p.me();
        let x = ArithShare::public(me, &[SECRET; 4]);
        let one = ArithShare::public(me, &[1; 4]);
        let (mp, m) = p.session.mul_start(&x, &one)?;
        let mut seen = vec![format!("{mp:?}"), format!("{m:?}")];
        p.net.send(m)?;
        let r = p.net.recv(me.next())?;
        seen.push(format!("{r:?}"));
        let z = mp.finish(&mut p.session, r)?;
        let b = BoolShare::public(me, &[SECRET], 64)?;
        let (ap, am) = p.session.and_start(&b, &b)?;
        seen.push(format!("{ap:?}"));
        p.net.send(am)?;
        let r = p.net.recv(me.next())?;
        let _ = ap.finish(&mut p.session, r)?;
        seen.push(format!("{p:?}"));
        let (tp, out) = p.session.shuffle_tag_start(std::slice::from_ref(&b), &b)?;
        seen.push(format!("{tp:?}"));
        seen.push(format!("{out:?}"));
        let got = p.exchange(out.messages, &out.await_from)?;
        let _ = tp.finish(&mut p.session, got)?;
        let (v, prog) = p.session.verify_start()?;
        seen.push(format!("{v:?}"));
        seen.push(format!("{prog:?}"));
        seen.push(format!("{:?}", p.session));
        drop(v);
        Ok((seen, z.len()))
    });
    for r in out {
        let (seen, n) = r.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n, 4);
        for p in &seen {
            assert!(!leaks(p), "leaks: {p}");
        }
    }
}
