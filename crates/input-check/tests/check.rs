//! The commitment check on three in-memory parties, against the blake3 and sha2 crates and
//! the plaintext reference.

use proptest::prelude::*;
use triad_input_check::deal::{Plain, bench_data_rng, deal};
use triad_input_check::{CheckError, ContributionShares, HashAlg, ValueShape, Verdict, check_batch, check_plain};
use triad_mpc_core::harness::{Tamper, run3};
use triad_mpc_core::{Error, Message, PartyId, Payload, Step};

/// The shape used with the fixture: up to 6 integer digits and 2 decimals ("123" -> 12300).
const SHAPE: ValueShape = ValueShape { max_integer_digits: 6, max_decimals: 2 };

fn hash(alg: HashAlg, value: &[u8], blinder: &[u8; 16]) -> [u8; 32] {
    match alg {
        HashAlg::Blake3 => {
            let mut h = blake3::Hasher::new();
            h.update(value);
            h.update(blinder);
            *h.finalize().as_bytes()
        }
        HashAlg::Sha256 => {
            use sha2::Digest as _;
            let mut h = sha2::Sha256::new();
            h.update(value);
            h.update(blinder);
            h.finalize().into()
        }
    }
}

/// An honest contribution of `text` (commitment from the hash crate, value parsed).
fn honest(shape: &ValueShape, alg: HashAlg, text: &[u8], blinder: [u8; 16]) -> Plain {
    Plain {
        value_bytes: text.to_vec(),
        blinder,
        commitment: hash(alg, text, &blinder),
        value: triad_input_check::parse_plain(shape, text).unwrap_or(0),
    }
}

fn shares(shape: &ValueShape, batch: &[Plain], seed: u64) -> [Vec<ContributionShares>; 3] {
    let mut rand = bench_data_rng(seed);
    let mut out: [Vec<ContributionShares>; 3] = Default::default();
    for c in batch {
        for (i, s) in deal(shape, c, &mut rand).into_iter().enumerate() {
            out[i].push(s);
        }
    }
    out
}

/// Run the check at three parties; they must agree.
fn run(shape: ValueShape, alg: HashAlg, batch: &[Plain]) -> Vec<Verdict> {
    let parts = shares(&shape, batch, 7);
    let out = run3(None, |p| {
        check_batch(p, shape, alg, &parts[p.me().index()]).map_err(|e| match e {
            CheckError::Mpc(e) => e,
            other => panic!("check failed: {other}"),
        })
    });
    let [a, b, c] = out.map(|r| r.expect("an honest run succeeds"));
    assert_eq!(a, b);
    assert_eq!(a, c);
    a
}

fn fixture() -> (Vec<u8>, [u8; 16], [u8; 32], HashAlg) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../notary/fixtures/tlsn/hidden/secret.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the fixture {} is missing ({e}); it is required, not optional", path.display()));
    let j: serde_json::Value = serde_json::from_str(&text).expect("secret.json is JSON");
    let field = |k: &str| j[k].as_str().unwrap_or_else(|| panic!("secret.json lacks {k}")).to_owned();
    let value = hex::decode(field("value_hex")).expect("value_hex");
    assert_eq!(value, field("value_utf8").as_bytes());
    let range = j["range"].as_array().expect("range");
    let (start, end) = (range[0].as_u64().expect("start"), range[1].as_u64().expect("end"));
    assert_eq!((end - start) as usize, value.len(), "the range's length is the value length");
    let blinder: [u8; 16] =
        hex::decode(field("blinder_hex")).expect("blinder_hex").try_into().expect("16-byte blinder");
    let commitment: [u8; 32] =
        hex::decode(field("commitment_hex")).expect("commitment_hex").try_into().expect("32-byte hash");
    let alg = HashAlg::from_name(&field("alg")).expect("a supported algorithm");
    (value, blinder, commitment, alg)
}

#[test]
fn the_fixture_is_accepted_and_every_changed_byte_rejected() {
    let (value, blinder, commitment, alg) = fixture();
    let number = triad_input_check::parse_plain(&SHAPE, &value).expect("the fixture is a decimal of the shape");
    assert_eq!(number, 12300);
    let honest = Plain { value_bytes: value.clone(), blinder, commitment, value: number };
    assert_eq!(check_plain(SHAPE, alg, &value, &blinder, &commitment, number), Verdict::Accepted);
    let mut batch = vec![honest.clone()];
    for k in 0..value.len() {
        // Another digit: still well formed, so only the commitment can reject it.
        let mut c = honest.clone();
        c.value_bytes[k] = if c.value_bytes[k] == b'9' { b'0' } else { c.value_bytes[k] + 1 };
        batch.push(c);
    }
    for i in 0..16 {
        let mut c = honest.clone();
        c.blinder[i] ^= 0x01 << (i % 8);
        batch.push(c);
    }
    batch.push(honest.clone());
    let verdicts = run(SHAPE, alg, &batch);
    assert_eq!(verdicts[0], Verdict::Accepted);
    assert_eq!(verdicts[batch.len() - 1], Verdict::Accepted);
    for (i, v) in verdicts[1..batch.len() - 1].iter().enumerate() {
        assert_eq!(*v, Verdict::CommitmentMismatch, "variant {i}");
    }
}

#[test]
fn hash_circuits_equal_the_crates_for_every_length() {
    // 9 + 1 + 8 = 18 digits: lengths 1..=18 (19 with the point).
    let shape = ValueShape { max_integer_digits: 9, max_decimals: 9 };
    let mut rand = bench_data_rng(3);
    for alg in [HashAlg::Blake3, HashAlg::Sha256] {
        let mut batch = Vec::new();
        let mut want = Vec::new();
        for len in 1..=shape.max_len() {
            let bytes: Vec<u8> = (0..len).map(|_| rand() as u8).collect();
            let blinder: [u8; 16] = std::array::from_fn(|_| rand() as u8);
            // Random bytes: a matching hash shows as MalformedDecimal, a wrong one as a mismatch.
            let right =
                Plain { value_bytes: bytes.clone(), blinder, commitment: hash(alg, &bytes, &blinder), value: 0 };
            let mut wrong = right.clone();
            wrong.commitment[(rand() % 32) as usize] ^= 1 << (rand() % 8);
            let mut digits: Vec<u8> = (0..len).map(|_| b'0' + (rand() % 10) as u8).collect();
            if len > 9 {
                digits[9.min(len - 2)] = b'.';
            }
            let good = honest(&shape, alg, &digits, blinder);
            for c in [right, wrong, good] {
                want.push(check_plain(shape, alg, &c.value_bytes, &c.blinder, &c.commitment, c.value));
                batch.push(c);
            }
        }
        assert!(want.iter().step_by(3).all(|v| *v == Verdict::MalformedDecimal || *v == Verdict::Accepted));
        assert!(want.iter().skip(1).step_by(3).all(|v| *v == Verdict::CommitmentMismatch));
        assert!(want.iter().skip(2).step_by(3).all(|v| *v == Verdict::Accepted));
        assert_eq!(run(shape, alg, &batch), want, "{alg:?}");
    }
}

#[test]
fn malformed_decimals_and_wrong_values_are_rejected_with_their_reason() {
    let blinder = [0x42; 16];
    for alg in [HashAlg::Blake3, HashAlg::Sha256] {
        let mut batch = Vec::new();
        let mut want = Vec::new();
        let bad: [&[u8]; 13] = [
            b"",
            b".",
            b"1.",
            b".5",
            b"1..2",
            b"1a",
            b" 1",
            b"-1",
            b"1234567",
            b"1.234",
            b"12345678.9",
            b"1.2.3",
            b"1e5",
        ];
        for text in bad {
            batch.push(honest(&SHAPE, alg, text, blinder));
            want.push(Verdict::MalformedDecimal);
        }
        for text in [&b"123"[..], b"0.5", b"999999.99", b"000000", b"7", b"12.3"] {
            let good = honest(&SHAPE, alg, text, blinder);
            for delta in [1u64, u64::MAX] {
                let mut c = good.clone();
                c.value = c.value.wrapping_add(delta);
                batch.push(c);
                want.push(Verdict::ValueMismatch);
            }
            batch.push(good);
            want.push(Verdict::Accepted);
        }
        // Malformed and with a wrong commitment: the commitment wins.
        let mut c = honest(&SHAPE, alg, b"1..2", blinder);
        c.commitment[0] ^= 1;
        batch.push(c);
        want.push(Verdict::CommitmentMismatch);
        for (c, w) in batch.iter().zip(&want) {
            assert_eq!(check_plain(SHAPE, alg, &c.value_bytes, &c.blinder, &c.commitment, c.value), *w, "{c:?}");
        }
        assert_eq!(run(SHAPE, alg, &batch), want, "{alg:?}");
    }
}

#[test]
fn unusable_shapes_are_refused() {
    let shape = ValueShape { max_integer_digits: 0, max_decimals: 2 };
    assert!(matches!(shape.check(HashAlg::Blake3), Err(CheckError::Shape { .. })));
    let shape = ValueShape { max_integer_digits: 10, max_decimals: 9 };
    assert!(matches!(shape.check(HashAlg::Sha256), Err(CheckError::Shape { .. })));
    assert!(SHAPE.check(HashAlg::Sha256).is_ok());
}

#[test]
fn a_wrong_layout_is_an_error_not_a_verdict() {
    let out = run3(None, |p| {
        let mut c = shares(&SHAPE, &[honest(&SHAPE, HashAlg::Blake3, b"1", [0; 16])], 1)[p.me().index()].clone();
        c[0].value_bytes.0.push(0);
        Ok(matches!(check_batch(p, SHAPE, HashAlg::Blake3, &c), Err(CheckError::Layout { index: 0, .. })))
    });
    for r in out {
        assert!(r.expect("no MPC ran"));
    }
}

/// Flip one bit of the `nth` message of `step`.
fn flip_nth(step: Step, nth: usize) -> Tamper {
    let mut count = 0;
    Box::new(move |m: &mut Message| {
        if m.step == step {
            count += 1;
            if count == nth
                && let Payload::Words(w) = &mut m.payload
            {
                w[0] ^= 1 << 5;
            }
        }
    })
}

fn assert_aborts(cheater: PartyId, tamper: Tamper, step: Step) {
    let batch = vec![honest(&SHAPE, HashAlg::Blake3, b"12.5", [9; 16]); 3];
    let parts = shares(&SHAPE, &batch, 11);
    let out = run3(Some((cheater, tamper)), |p| match check_batch(p, SHAPE, HashAlg::Blake3, &parts[p.me().index()]) {
        Ok(v) => Ok(v),
        Err(CheckError::Mpc(e)) => Err(e),
        Err(other) => panic!("unexpected {other}"),
    });
    for (i, r) in out.into_iter().enumerate() {
        if PartyId::ALL[i] == cheater {
            continue;
        }
        match r {
            Err(Error::Abort { step: s, .. }) => assert_eq!(s, step, "party {i} aborted at the wrong step"),
            other => panic!("honest party {i} did not abort: {other:?}"),
        }
    }
}

#[test]
fn a_wrong_and_during_the_check_aborts_before_any_verdict() {
    let cheater = PartyId::new(1).expect("party");
    // Early in the hash, and late (the equality tree).
    for nth in [5, 1700] {
        assert_aborts(cheater, flip_nth(Step::And, nth), Step::ProofFinal);
    }
}

#[test]
fn a_wrong_product_in_the_value_check_aborts() {
    assert_aborts(PartyId::new(2).expect("party"), flip_nth(Step::Mul, 1), Step::ProofFinal);
}

fn text() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(prop_oneof![6 => b'0'..=b'9', 2 => Just(b'.'), 1 => any::<u8>()], 0..=10)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    #[test]
    fn mpc_agrees_with_the_plaintext_check(
        cases in proptest::collection::vec((text(), any::<[u8; 16]>(), 0u8..4, any::<u64>()), 1..12),
        sha in any::<bool>(),
    ) {
        let alg = if sha { HashAlg::Sha256 } else { HashAlg::Blake3 };
        let batch: Vec<Plain> = cases
            .iter()
            .map(|(t, blinder, kind, r)| {
                let mut c = honest(&SHAPE, alg, t, *blinder);
                match kind {
                    1 => c.commitment[(*r % 32) as usize] ^= 1,
                    2 => c.value = c.value.wrapping_add(1 + r % 3),
                    3 => c.value = *r,
                    _ => {}
                }
                c
            })
            .collect();
        let want: Vec<Verdict> =
            batch.iter().map(|c| check_plain(SHAPE, alg, &c.value_bytes, &c.blinder, &c.commitment, c.value)).collect();
        prop_assert_eq!(run(SHAPE, alg, &batch), want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// The MPC grammar (its plaintext form) accepts exactly what the provider's parser does.
    #[test]
    fn the_grammar_is_the_providers(t in text(), int in 1u32..10, dec in 0u32..9) {
        let shape = ValueShape { max_integer_digits: int, max_decimals: dec };
        let provider = triad_provider::decimal::DecimalFormat::new(int, dec, 0).expect("a valid format");
        prop_assert_eq!(triad_input_check::parse_plain(&shape, &t), provider.parse(&t).ok());
    }
}

/// Gate counts per contribution (a regression check of the figures in
/// docs/protocols/input-check.md): a batch of 64 values of the longest length.
#[test]
fn gate_counts_per_contribution() {
    for alg in [HashAlg::Blake3, HashAlg::Sha256] {
        let batch: Vec<Plain> = (0..64u8).map(|i| honest(&SHAPE, alg, b"123456.78", [i; 16])).collect();
        let parts = shares(&SHAPE, &batch, 5);
        let out = run3(None, |p| {
            triad_input_check::check_batch_with_cost(p, SHAPE, alg, &parts[p.me().index()]).map_err(|e| match e {
                CheckError::Mpc(e) => e,
                other => panic!("{other}"),
            })
        });
        let (verdicts, cost) = out.into_iter().next().expect("party 0").expect("honest run");
        assert!(verdicts.iter().all(|v| *v == Verdict::Accepted));
        let want = match alg {
            HashAlg::Blake3 => (8924, 1847),
            HashAlg::Sha256 => (21830, 5070),
        };
        assert_eq!((cost.ands / 64, cost.and_layers), want, "{alg:?}: ANDs per contribution, AND layers");
        assert_eq!((cost.mults, cost.mul_layers), (75 * 64, 3), "{alg:?}: multiplications, their layers");
    }
}
