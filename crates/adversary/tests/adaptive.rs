//! Adversarial runs: three `triad-adversary` processes over localhost TLS, one deviating.
//! Every test asserts what the honest parties end with: the right values, or an abort that
//! names the step (and, when it names a party, the cheater); never a wrong value.

use std::collections::BTreeSet;
use std::path::Path;

use triad_adversary::{Cheat, Ending, How, Plan, Program, Report, run};

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_triad-adversary"))
}

fn go(program: Program, n: usize, cheat: Option<Cheat>) -> [Report; 3] {
    let plan = Plan::new(program, n, cheat.clone()).unwrap_or_else(|e| panic!("planning {program:?}: {e:#}"));
    run(exe(), &plan).unwrap_or_else(|e| panic!("running {program:?} n={n} with {cheat:?}: {e:#}"))
}

/// No honest party outputs a wrong value or blames an honest party; returns how many
/// aborted naming a step.
fn honest_are_safe(program: Program, n: usize, reports: &[Report; 3], cheater: u8, what: &str) -> usize {
    let mut aborts = 0;
    for r in reports.iter().filter(|r| r.party != cheater) {
        match &r.ending {
            Ending::Output(out) => {
                if let Err(e) = program.check(n, out) {
                    panic!("{what}: honest P{} output a wrong value: {e}", r.party)
                }
            }
            Ending::Abort { step, blamed, reason } => {
                assert!(!step.is_empty(), "{what}: an abort must name its step");
                assert!(
                    blamed.is_none_or(|b| b == cheater),
                    "{what}: honest P{} blamed honest P{blamed:?} at {step} ({reason})",
                    r.party
                );
                aborts += 1;
            }
            Ending::Failed(_) => {}
        }
    }
    aborts
}

fn outputs(reports: &[Report; 3]) -> usize {
    reports.iter().filter(|r| matches!(r.ending, Ending::Output(_))).count()
}

#[test]
fn honest_runs_output_the_right_values() {
    for (program, n) in [
        (Program::Mult, 256),
        (Program::Ltz, 70),
        (Program::Sort, 24),
        (Program::Median, 25),
        (Program::Shuffle, 4),
        (Program::Intake, 3),
    ] {
        let reports = go(program, n, None);
        for r in &reports {
            match &r.ending {
                Ending::Output(out) => program.check(n, out).unwrap_or_else(|e| panic!("P{}: {e}", r.party)),
                other => panic!("{program:?}: P{} ended with {other:?}", r.party),
            }
        }
    }
}

/// Security review, finding 1: the cheater holds back its last multiplication message until
/// it has the next party's `ProofSeed`; with `chi` it would add 2^63 to gates whose check
/// rows cancel. `chi`'s missing term now comes from the receiver of its gate messages, after
/// them: the attack learns nothing and its blind cheat is caught by the proof.
#[test]
fn adaptive_chi_attack_is_caught() {
    let n = 256;
    for cheater in [0u8, 1, 2] {
        let reports = go(Program::Mult, n, Some(Cheat { party: cheater, how: How::Chi }));
        let attack = reports[cheater as usize].attack.expect("the attack reports");
        assert!(attack.cheated, "P{cheater}: the attack must have sent its altered message");
        assert!(!attack.learned, "P{cheater} learned chi before its last multiplication message went out");
        let aborts = honest_are_safe(Program::Mult, n, &reports, cheater, "chi attack");
        assert_eq!(outputs(&reports), 0, "nobody may output after a cheat");
        assert!(aborts >= 1, "no honest party aborted: {reports:?}");
        for r in reports.iter().filter(|r| r.party != cheater) {
            if let Ending::Abort { step, .. } = &r.ending {
                assert!(step.starts_with("Proof"), "caught at {step}, not by the proof");
            }
        }
    }
}

/// Security review, finding 2: `P_1` holds back `B2` until it has read `P_2`'s next two
/// messages; if the second were `P_2`'s part of the tag key, it would add an offset that
/// passes the tag check. The acknowledgement round keeps the key back until `B2` arrived.
#[test]
fn adaptive_shuffle_key_attack_is_caught() {
    let n = 4;
    let reports = go(Program::Shuffle, n, Some(Cheat { party: 1, how: How::ShuffleKey }));
    let attack = reports[1].attack.expect("the attack reports");
    assert!(attack.cheated, "the attack must have sent its altered B2");
    assert!(!attack.learned, "P1 learned the tag key before it sent B2");
    let aborts = honest_are_safe(Program::Shuffle, n, &reports, 1, "shuffle key attack");
    assert_eq!(outputs(&reports), 0, "nobody may output after a cheat");
    assert!(aborts >= 1, "no honest party aborted: {reports:?}");
}

/// One message of each kind, altered (one bit), in a real run of each program (mult, LTZ,
/// sort, median, intake): an honest party aborts naming the step; no honest party outputs a
/// wrong value or blames an honest party.
/// The exception is `ShuffleAck`, whose timing is what counts (its hash binds it to the
/// messages received, for the record): altered, the run completes with the right values.
#[test]
fn adaptive_sweep_every_message_kind_altered_aborts() {
    for (program, n, cheater) in [
        (Program::Mult, 64, 0u8),
        (Program::Ltz, 8, 1),
        (Program::Sort, 8, 2),
        (Program::Median, 9, 0),
        (Program::Intake, 2, 1),
    ] {
        let recorded = go(program, n, Some(Cheat { party: cheater, how: How::Record }));
        assert_eq!(outputs(&recorded), 3, "{program:?}: the recording run must succeed: {recorded:?}");
        // One step of each kind (all fold rounds are one kind: take round 0's).
        let kinds: BTreeSet<String> = recorded[cheater as usize]
            .sent
            .iter()
            .filter(|s| !s.contains('(') || s.ends_with("(0)"))
            .cloned()
            .collect();
        assert!(kinds.len() >= 5, "{program:?}: too few message kinds recorded: {kinds:?}");
        for step in kinds {
            let what = format!("{program:?}, P{cheater} alters its first {step}");
            let reports =
                go(program, n, Some(Cheat { party: cheater, how: How::Tamper { step: step.clone(), nth: 0 } }));
            let aborts = honest_are_safe(program, n, &reports, cheater, &what);
            if step == "ShuffleAck" {
                assert_eq!(outputs(&reports), 3, "{what}: the run must complete: {reports:?}");
                continue;
            }
            // Security with abort, not unanimous abort: an altered open value reaches one
            // neighbour, which aborts, while the other may finish with the right values (the
            // service publishes only what all three parties computed).
            assert!(aborts >= 1, "{what}: no honest party aborted naming a step: {reports:?}");
        }
    }
}

/// Withholding a message ends the run for the honest parties (a timeout or an abort), with
/// no output; delaying one until its recipient waits for it changes nothing; reordering two
/// sends never yields a wrong value.
#[test]
fn adaptive_withheld_delayed_and_reordered_messages() {
    let n = 32;
    let withheld =
        go(Program::Mult, n, Some(Cheat { party: 2, how: How::Withhold { step: "ProofCarry".into(), nth: 0 } }));
    honest_are_safe(Program::Mult, n, &withheld, 2, "withheld ProofCarry");
    assert!(withheld.iter().filter(|r| r.party != 2).all(|r| !matches!(r.ending, Ending::Output(_))));

    let delayed = go(Program::Mult, n, Some(Cheat { party: 1, how: How::Delay { step: "Mul".into(), nth: 0 } }));
    for r in &delayed {
        match &r.ending {
            Ending::Output(out) => Program::Mult.check(n, out).unwrap_or_else(|e| panic!("P{}: {e}", r.party)),
            other => panic!("a delayed (not altered) message must not fail the run: P{} {other:?}", r.party),
        }
    }

    let reordered =
        go(Program::Mult, n, Some(Cheat { party: 0, how: How::Reorder { step: "ProofSeed".into(), nth: 0 } }));
    honest_are_safe(Program::Mult, n, &reordered, 0, "reordered ProofSeed");
}
