//! A party deviating in preprocessing (edaBit and mask production) or in the
//! online comparisons and truncations on stock is caught: the honest parties
//! abort naming the step, and nobody outputs a wrong value.

use triad_mpc_core::harness::{Party, Tamper, run3};
use triad_mpc_core::stock::{StockKind, Stockpile};
use triad_mpc_core::{Error, Message, PartyId, Payload, Result, Step};

fn p(i: u8) -> PartyId {
    PartyId::new(i).expect("party id")
}

const K: u32 = 40;
const M: u32 = 8;

fn inputs() -> Vec<u64> {
    let mut v: Vec<i64> = vec![0, -1, 1, (1 << 39) - 1, -(1 << 39), 255, 256, -256, -257];
    v.extend((0..61).map(|i| (i * 7919 - 200_000) << 5));
    v.into_iter().map(|x| x as u64).collect()
}

/// Refill the stock, then LTZ, EQZ and exact truncation on it; returns the
/// opened results.
fn program(pt: &mut Party) -> Result<Vec<u64>> {
    let xs = inputs();
    let n = xs.len();
    let mut stock = Stockpile::default();
    stock.set_target(StockKind::EdaBits64, 2 * n)?;
    stock.set_target(StockKind::Trunc { k: K, m: M }, n)?;
    stock.refill(pt)?;
    let x = pt.share_public_input(&xs)?;
    let l = stock.ltz(pt, &x)?;
    let z = stock.eqz(pt, &x)?;
    let t = stock.trunc(pt, &x, K, M)?;
    // Lanes past n in the last word are meaningless: clear them.
    let live = |mut w: Vec<u64>| {
        if let Some(last) = w.last_mut()
            && !n.is_multiple_of(64)
        {
            *last &= (1u64 << (n % 64)) - 1;
        }
        w
    };
    let mut out = live(pt.open_bits(&l)?);
    out.extend(live(pt.open_bits(&z)?));
    out.extend(pt.open(&t)?);
    Ok(out)
}

fn expected() -> Vec<u64> {
    let xs = inputs();
    let pack = |f: &dyn Fn(u64) -> u64| {
        let mut w = vec![0u64; xs.len().div_ceil(64)];
        for (i, x) in xs.iter().enumerate() {
            w[i / 64] |= f(*x) << (i % 64);
        }
        w
    };
    let mut out = pack(&|x| x >> 63);
    out.extend(pack(&|x| (x == 0) as u64));
    out.extend(xs.iter().map(|x| ((*x as i64) >> M) as u64));
    out
}

/// Flip a bit of the first word of the `nth` message of `step` (counting from
/// 1), but only once `armed` says the program reached the phase under attack.
fn flip_nth(step: Step, nth: usize, online_only: bool) -> Tamper {
    let (mut count, mut online) = (0, false);
    Box::new(move |m: &mut Message| {
        if m.step == Step::Open {
            online = true;
        }
        if m.step == step && (online || !online_only) {
            count += 1;
            if count == nth {
                match &mut m.payload {
                    Payload::Words(w) => w[0] ^= 1 << 11,
                    Payload::Wide(w) => w[0] ^= 1 << 11,
                    Payload::Bytes(b) => b[0] ^= 1,
                }
            }
        }
    })
}

fn assert_caught(cheater: PartyId, tamper: Tamper, step: Step) {
    let out = run3(Some((cheater, tamper)), program);
    let mut honest_aborts = 0;
    for (i, r) in out.into_iter().enumerate() {
        let honest = PartyId::ALL[i] != cheater;
        match r {
            Ok(v) => {
                assert_eq!(v, expected(), "party {i} output a wrong value");
                assert!(!honest, "honest party {i} finished despite cheating");
            }
            Err(Error::Abort { step: s, .. }) if honest => {
                assert_eq!(s, step, "party {i} aborted at the wrong step");
                honest_aborts += 1;
            }
            Err(Error::Transport(_)) => {}
            Err(_) if !honest => {}
            Err(e) => panic!("party {i}: unexpected error {e:?}"),
        }
    }
    assert!(honest_aborts >= 1, "no honest party detected the deviation");
}

#[test]
fn the_honest_program_gives_the_plaintext_results() {
    for r in run3(None, program) {
        assert_eq!(r.expect("honest run"), expected());
    }
}

#[test]
fn a_wrong_and_while_making_edabits_is_caught_by_the_proof() {
    // 70 elements take the log-depth adders. 1st: the carry-save layer; 6th:
    // in the prefix of a 64-bit edaBit (8 AND messages); 15th: in the adders
    // of the truncation masks.
    for nth in [1, 6, 15] {
        assert_caught(p(1), flip_nth(Step::And, nth, false), Step::ProofFinal);
    }
}

#[test]
fn a_wrong_injection_while_making_truncation_masks_is_caught_by_the_proof() {
    for nth in [1, 2, 5] {
        assert_caught(p(2), flip_nth(Step::Mul, nth, false), Step::ProofFinal);
    }
}

#[test]
fn a_wrong_opening_of_a_masked_input_aborts_the_open() {
    // 1st open: LTZ's x + r; 2nd: EQZ's; 3rd: the truncation's.
    for nth in [1, 2, 3] {
        assert_caught(p(0), flip_nth(Step::Open, nth, false), Step::Open);
    }
}

#[test]
fn a_wrong_and_in_an_online_comparison_is_caught_before_any_result_is_opened() {
    // ANDs after the first open (70 elements: log-depth trees): LTZ's borrow
    // (1..6), EQZ's tree (7..12), exact truncation's borrow (13..15).
    for nth in [1, 3, 6, 7, 12, 13, 15] {
        assert_caught(p(1), flip_nth(Step::And, nth, true), Step::ProofFinal);
    }
}

#[test]
fn a_wrong_injection_in_exact_truncation_is_caught_before_the_result_is_opened() {
    for nth in [1, 2] {
        assert_caught(p(0), flip_nth(Step::Mul, nth, true), Step::ProofFinal);
    }
}
