//! Fixed-point operations against f64 references, within their documented
//! error bounds, including edge values.

use proptest::prelude::*;
use triad_mpc_core::Error;
use triad_mpc_core::fixed::{self, DivBounds, FixedFormat};
use triad_mpc_core::harness::{Party, run3};

const F: u32 = fixed::DEFAULT_FRAC_BITS;

fn all_equal<T: PartialEq + std::fmt::Debug>(r: [Result<T, Error>; 3]) -> T {
    let [a, b, c] = r;
    let (a, b, c) = (a.expect("party 0"), b.expect("party 1"), c.expect("party 2"));
    assert_eq!(a, b);
    assert_eq!(b, c);
    a
}

/// Run `op` on the sharings of `inputs` and open its output.
fn eval(
    inputs: Vec<Vec<u64>>,
    op: impl Fn(&mut Party, &[triad_mpc_core::ArithShare]) -> Result<triad_mpc_core::ArithShare, Error> + Sync,
) -> Vec<u64> {
    all_equal(run3(None, |p| {
        let shares = inputs.iter().map(|v| p.share_public_input(v)).collect::<Result<Vec<_>, _>>()?;
        let out = op(p, &shares)?;
        p.open(&out)
    }))
}

/// A ring integer of bit length up to `bits` (log-uniform magnitude), signed
/// or not; edge values included.
fn int(bits: u32, signed: bool) -> impl Strategy<Value = i64> {
    let max = (1i64 << bits) - 1;
    let mag = prop_oneof![
        Just(1i64),
        Just(max),
        Just(1i64 << (bits - 1)),
        (1u32..=bits).prop_flat_map(|b| (1i64 << (b - 1))..=((1i64 << b) - 1))
    ];
    (mag, any::<bool>()).prop_map(move |(m, neg)| if signed && neg { -m } else { m })
}

fn ulps(got: u64, want_real: f64, fmt: FixedFormat) -> f64 {
    (fmt.decode(got) - want_real).abs() / fmt.ulp()
}

/// Documented bound of `fixed::div` (ulps).
fn div_bound(q_ulps: f64, b: i64, den_frac_bits: u32) -> f64 {
    3.0 + (den_frac_bits as f64 + 1.0).exp2() / (b.unsigned_abs() as f64) + q_ulps.abs() * 2f64.powi(-25)
}

/// Documented bound of `fixed::sqrt` and `fixed::inv_sqrt` (ulps) for the
/// result `y`.
fn root_bound(y: f64) -> f64 {
    2.0 + y / FixedFormat::default().ulp() * 2f64.powi(-25)
}

/// `(sqrt x, 1 / sqrt x)` in MPC for `X < 2^46`, default format.
fn roots(x: Vec<u64>) -> (Vec<u64>, Vec<u64>) {
    let fmt = FixedFormat::default();
    let n = x.len();
    let mut out = all_equal(run3(None, |p| {
        let a = p.share_public_input(&x)?;
        let s = fixed::sqrt(p, fmt, &a, 46)?;
        let r = fixed::inv_sqrt(p, fmt, &a, 46)?;
        let mut o = p.open(&s)?;
        o.extend(p.open(&r)?);
        Ok(o)
    }));
    let inv = out.split_off(n);
    (out, inv)
}

#[test]
fn encoding_round_trips_and_decimal_output_is_exact() {
    let fmt = FixedFormat::default();
    for x in [0.0, 1.0, -1.0, 0.5, -2.75, 12345.125, -1e9] {
        let v = fmt.encode(x).expect("in range");
        assert_eq!(fmt.decode(v), x);
    }
    assert_eq!(fmt.encode(2f64.powi(45)), None);
    assert!(fmt.encode(f64::NAN).is_none());
    assert_eq!(fmt.to_decimal(fmt.encode(-2.75).expect("fits"), 2), Some(-275));
    assert_eq!(fmt.to_decimal(1, 6), Some(15)); // 2^-16 = 0.0000152..
    assert_eq!(fmt.to_decimal(u64::MAX, 6), Some(-15));
    assert!(FixedFormat::new(0).is_err() && FixedFormat::new(31).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn fixed_product_is_exactly_the_floor(
        xy in prop::collection::vec((int(40, true), int(21, true)), 1..40),
    ) {
        // |X Y| < 2^61: 40 + 21 bits. Exact truncation: floor(X Y / 2^f),
        // a deterministic function of the inputs (error in (-1, 0] ulp).
        let fmt = FixedFormat::default();
        let xs: Vec<u64> = xy.iter().map(|(x, _)| *x as u64).collect();
        let ys: Vec<u64> = xy.iter().map(|(_, y)| *y as u64).collect();
        let out = eval(vec![xs, ys], |p, s| fixed::mul(p, fmt, &s[0], &s[1]));
        for ((x, y), o) in xy.iter().zip(out) {
            let floor = ((*x as i128 * *y as i128) >> fmt.frac_bits()) as i64;
            prop_assert_eq!(o as i64, floor, "{} * {}", x, y);
        }
    }

    #[test]
    fn select_picks_by_arithmetic_and_boolean_bits(
        rows in prop::collection::vec((any::<bool>(), any::<u64>(), any::<u64>()), 1..70),
    ) {
        let c: Vec<u64> = rows.iter().map(|r| r.0 as u64).collect();
        let a: Vec<u64> = rows.iter().map(|r| r.1).collect();
        let b: Vec<u64> = rows.iter().map(|r| r.2).collect();
        let n = rows.len();
        let mut words = vec![0u64; n.div_ceil(64)];
        for (i, r) in rows.iter().enumerate() {
            words[i / 64] |= (r.0 as u64) << (i % 64);
        }
        let out = all_equal(run3(None, |p| {
            let cs = p.share_public_input(&c)?;
            let cb = p.share_public_bits(&words, n)?;
            let x = p.share_public_input(&a)?;
            let y = p.share_public_input(&b)?;
            let s1 = fixed::select(p, &cs, &x, &y)?;
            let s2 = fixed::select_bit(p, &cb, &x, &y)?;
            let mut o = p.open(&s1)?;
            o.extend(p.open(&s2)?);
            Ok(o)
        }));
        let want: Vec<u64> = rows.iter().map(|r| if r.0 { r.1 } else { r.2 }).collect();
        prop_assert_eq!(&out[..n], &want[..]);
        prop_assert_eq!(&out[n..], &want[..]);
    }

    #[test]
    fn decimal_inputs_convert_within_the_bound(
        (n_bits, decimals, ns) in prop_oneof![
            (Just(20u32), 0u32..10),
            (Just(44u32), prop_oneof![Just(1u32), Just(2), Just(6), 0u32..10]),
            (Just(60u32), 5u32..=18),
        ].prop_flat_map(|(b, d)| (Just(b), Just(d), prop::collection::vec(int(b, true), 1..30))),
    ) {
        let fmt = FixedFormat::default();
        let bound = fixed::decimal_error_bound(fmt, decimals, n_bits).expect("supported");
        let v: Vec<u64> = ns.iter().map(|n| *n as u64).collect();
        let out = eval(vec![v], |p, s| fixed::from_decimal(p, fmt, &s[0], decimals, n_bits));
        let pow10 = 10i128.pow(decimals);
        for (n, o) in ns.iter().zip(out) {
            // Exact: |X 10^d - N 2^f| / 10^d, in ulps (f64 has too few bits for N near 2^60).
            let err = ((o as i64 as i128) * pow10 - (*n as i128) * (1i128 << F)).abs() as f64 / pow10 as f64;
            prop_assert!(err <= bound, "N={} d={} got {} error {} bound {}", n, decimals, fmt.decode(o), err, bound);
        }
    }

    #[test]
    fn division_is_within_the_documented_bound(
        ab in prop::collection::vec((int(44, true), int(30, true)), 1..24),
        signed in any::<bool>(),
    ) {
        let fmt = FixedFormat::default();
        let bounds = DivBounds { num_bits: 44, den_bits: 30, den_frac_bits: F, signed_den: signed };
        let ab: Vec<(i64, i64)> = ab.into_iter().map(|(a, b)| (a, if signed { b } else { b.abs() })).collect();
        let a: Vec<u64> = ab.iter().map(|x| x.0 as u64).collect();
        let b: Vec<u64> = ab.iter().map(|x| x.1 as u64).collect();
        let out = eval(vec![a, b], |p, s| fixed::div(p, &s[0], &s[1], bounds));
        for ((a, b), o) in ab.iter().zip(out) {
            let q = *a as f64 / *b as f64; // real quotient
            let bound = div_bound(q * 2f64.powi(F as i32), *b, F);
            prop_assert!(ulps(o, q, fmt) <= bound, "{}/{} got {} want {} bound {}", a, b, fmt.decode(o), q, bound);
        }
    }

    #[test]
    fn square_roots_are_within_the_documented_bound(
        xs in prop::collection::vec(int(46, false), 1..24),
    ) {
        let fmt = FixedFormat::default();
        let (sq, inv) = roots(xs.iter().map(|x| *x as u64).collect());
        for (i, x) in xs.iter().enumerate() {
            let real = fmt.decode(*x as u64);
            let (s, r) = (real.sqrt(), 1.0 / real.sqrt());
            prop_assert!(ulps(sq[i], s, fmt) <= root_bound(s), "sqrt {} got {}", real, fmt.decode(sq[i]));
            prop_assert!(ulps(inv[i], r, fmt) <= root_bound(r), "1/sqrt {} got {}", real, fmt.decode(inv[i]));
        }
    }
}

#[test]
fn edge_values_of_reciprocal_division_and_roots() {
    let fmt = FixedFormat::default();
    let one = 1u64 << F;
    let max20 = (1u64 << 20) - 1;
    // Reciprocal of 0, 1 ulp, 1, -1, 0.5, the largest 20-bit value and its negation.
    let b: Vec<u64> = vec![0, 1, one, one.wrapping_neg(), one / 2, max20, max20.wrapping_neg()];
    let out = eval(vec![b.clone()], |p, s| fixed::reciprocal(p, fmt, &s[0], 20, true));
    assert_eq!(out[0], 0, "1/0 is defined as 0");
    // 1 / 2^-16 = 2^16, at scale 2^16: 2^32 (bound: 2 + 2^16 ulps, the input's own resolution).
    assert!(ulps(out[1], 65536.0, fmt) <= 2.0 + 65536.0 + 2.0);
    assert!(ulps(out[2], 1.0, fmt) <= 3.0, "1/1 = {}", fmt.decode(out[2]));
    assert!(ulps(out[3], -1.0, fmt) <= 3.0, "1/-1 = {}", fmt.decode(out[3]));
    assert!(ulps(out[4], 2.0, fmt) <= 4.0, "1/0.5 = {}", fmt.decode(out[4]));
    let m = fmt.decode(max20);
    assert!(ulps(out[5], 1.0 / m, fmt) <= 3.0 && ulps(out[6], -1.0 / m, fmt) <= 3.0);

    // Integer divisor (a count): mean of a sum at scale f.
    let sums: Vec<u64> =
        vec![0, 1, (1u64 << 56) - 1, ((1i64 << 56) - 1).wrapping_neg() as u64, 7 << F, (1u64 << 56) - 1];
    let counts: Vec<u64> = vec![3, 1, 1, (1 << 16) - 1, 0, (1 << 30) - 1];
    let bounds = DivBounds { num_bits: 56, den_bits: 30, den_frac_bits: 0, signed_den: false };
    let out = eval(vec![sums.clone(), counts.clone()], |p, s| fixed::div(p, &s[0], &s[1], bounds));
    for ((s, c), o) in sums.iter().zip(&counts).zip(&out) {
        if *c == 0 {
            assert_eq!(*o, 0, "x / 0 is defined as 0");
            continue;
        }
        let q = fmt.decode(*s) / *c as f64;
        let bound = div_bound(q / fmt.ulp(), *c as i64, 0);
        assert!(ulps(*o, q, fmt) <= bound, "{} / {} got {} want {q}", fmt.decode(*s), c, fmt.decode(*o));
    }

    // Roots of 0, 1 ulp, 1, 2, and the largest 46-bit value.
    let x: Vec<u64> = vec![0, 1, one, 2 * one, (1 << 46) - 1];
    let (sq, inv) = roots(x.clone());
    assert_eq!(sq[0], 0, "sqrt 0 = 0");
    assert_eq!(inv[0], 0, "1/sqrt 0 is defined as 0");
    for i in 1..x.len() {
        let real = fmt.decode(x[i]);
        let (s, r) = (real.sqrt(), 1.0 / real.sqrt());
        assert!(ulps(sq[i], s, fmt) <= root_bound(s), "sqrt {real} got {}", fmt.decode(sq[i]));
        assert!(ulps(inv[i], r, fmt) <= root_bound(r), "1/sqrt {real} got {}", fmt.decode(inv[i]));
    }
}

#[test]
fn out_of_range_parameters_are_refused() {
    let out = run3(None, |p| {
        let x = p.share_public_input(&[1, 2])?;
        let big = DivBounds { num_bits: 50, den_bits: 34, den_frac_bits: 16, signed_den: false };
        let r1 = fixed::div(p, &x, &x, big).err();
        let r2 = fixed::sqrt(p, FixedFormat::default(), &x, 63).err();
        let r3 = fixed::from_decimal(p, FixedFormat::default(), &x, 19, 40).err();
        Ok([r1, r2, r3].iter().all(|e| matches!(e, Some(Error::InvalidArgument(_)))))
    });
    for r in out {
        assert_eq!(r, Ok(true));
    }
}

/// Random inputs, log-uniform magnitudes: `n` values of up to `bits` bits.
fn sample(seed: u64, n: usize, bits: u32, signed: bool) -> Vec<i64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let b = 1 + (s >> 58) as u32 % bits;
            let m = ((s >> 7) & ((1u64 << b) - 1)) | (1u64 << (b - 1));
            if signed && s & 1 == 1 { -(m as i64) } else { m as i64 }
        })
        .collect()
}

/// Errors over 500 random inputs per operation stay within the documented
/// bounds; the maxima are printed (`--nocapture`) for the docs.
#[test]
fn measured_errors_stay_within_the_documented_bounds() {
    let fmt = FixedFormat::default();
    let n = 150;
    let a = sample(1, n, 44, true);
    let b = sample(2, n, 30, true);
    let c = sample(3, n, 30, false);
    let x = sample(4, n, 46, false);
    let bounds = DivBounds { num_bits: 44, den_bits: 30, den_frac_bits: F, signed_den: true };
    let count_bounds = DivBounds { num_bits: 56, den_bits: 30, den_frac_bits: 0, signed_den: false };
    let small = DivBounds { num_bits: 30, den_bits: 30, den_frac_bits: F, signed_den: true };
    let u = |v: &[i64]| v.iter().map(|x| *x as u64).collect::<Vec<u64>>();
    let a56: Vec<i64> = a.iter().map(|v| v << 12).collect();
    let a30: Vec<i64> = a.iter().map(|v| v >> 14).collect();
    let out = all_equal(run3(None, |p| {
        let (sa, sb, sc, sx) = (
            p.share_public_input(&u(&a))?,
            p.share_public_input(&u(&b))?,
            p.share_public_input(&u(&c))?,
            p.share_public_input(&u(&x))?,
        );
        let (sa56, sa30) = (p.share_public_input(&u(&a56))?, p.share_public_input(&u(&a30))?);
        let outs = [
            fixed::div(p, &sa, &sb, bounds)?,
            fixed::div(p, &sa56, &sc, count_bounds)?,
            fixed::div(p, &sa30, &sb, small)?,
            fixed::sqrt(p, fmt, &sx, 46)?,
            fixed::inv_sqrt(p, fmt, &sx, 46)?,
        ];
        let mut o = Vec::new();
        for s in &outs {
            o.push(p.open(s)?);
        }
        Ok(o)
    }));
    // (error, bound, exact result), all in ulps; the bounds are
    // `absolute + |result| 2^-25`.
    let report = |name: &str, errs: Vec<(f64, f64, f64)>| {
        let worst = errs.iter().map(|(e, b, _)| e / b).fold(0.0, f64::max);
        let max = errs.iter().map(|(e, _, _)| *e).fold(0.0, f64::max);
        let mean = errs.iter().map(|(e, _, _)| *e).sum::<f64>() / errs.len() as f64;
        // The error beyond the absolute part of the bound, relative to the result.
        let rel =
            errs.iter().map(|(e, b, w)| (e - (b - w.abs() * 2f64.powi(-25))).max(0.0) / w.abs()).fold(0.0, f64::max);
        println!(
            "{name}: max error {max:.2} ulps, mean {mean:.3} ulps, max error/bound {worst:.3}, relative part {rel:.1e}"
        );
        assert!(worst <= 1.0, "{name} exceeds its bound");
    };
    let div_errs = |num: &[i64], den: &[i64], o: &[u64], fb: u32| -> Vec<(f64, f64, f64)> {
        num.iter()
            .zip(den)
            .zip(o)
            .map(|((a, b), o)| {
                let q = fmt.decode(*a as u64) / (*b as f64 / (fb as f64).exp2());
                (ulps(*o, q, fmt), div_bound(q / fmt.ulp(), *b, fb), q / fmt.ulp())
            })
            .collect()
    };
    report("div a/b (|A| < 2^44, |B| < 2^30)", div_errs(&a, &b, &out[0], F));
    report("div sum/count (|A| < 2^56, count < 2^30)", div_errs(&a56, &c, &out[1], 0));
    report("div a/b (|A| < 2^30, |B| < 2^30)", div_errs(&a30, &b, &out[2], F));
    let big_b: Vec<(f64, f64, f64)> = div_errs(&a30, &b, &out[2], F)
        .into_iter()
        .zip(&b)
        .filter(|(_, b)| b.unsigned_abs() >= 1 << F)
        .map(|(e, _)| e)
        .collect();
    report("div a/b, |A| < 2^30, |b| >= 1", big_b);
    let root = |o: &[u64], inv: bool| -> Vec<(f64, f64, f64)> {
        x.iter()
            .zip(o)
            .map(|(x, o)| {
                let r = fmt.decode(*x as u64).sqrt();
                let want = if inv { 1.0 / r } else { r };
                (ulps(*o, want, fmt), root_bound(want), want / fmt.ulp())
            })
            .collect()
    };
    report("sqrt (X < 2^46)", root(&out[3], false));
    report("inv_sqrt (X < 2^46)", root(&out[4], true));
}

/// Flip a bit of the first element of the `nth` message of `step` only.
fn flip_nth(step: triad_mpc_core::Step, nth: usize) -> triad_mpc_core::harness::Tamper {
    use triad_mpc_core::{Message, Payload};
    let mut seen = 0;
    Box::new(move |m: &mut Message| {
        if m.step == step {
            seen += 1;
            if seen == nth {
                match &mut m.payload {
                    Payload::Words(w) => w[0] ^= 1 << 7,
                    Payload::Wide(w) => w[0] ^= 1 << 7,
                    Payload::Bytes(b) => b[0] ^= 1 << 7,
                }
            }
        }
    })
}

/// The division circuit sends only `Mul`, `And` and `Open` messages; a
/// deviation in any of them, deep inside the circuit, aborts the honest
/// parties at the proof or the open, and no honest party outputs a value.
#[test]
fn a_deviation_inside_a_division_aborts_and_never_gives_a_wrong_quotient() {
    use triad_mpc_core::{PartyId, Step};
    let a: Vec<u64> = vec![5 << F, (-7i64 << F) as u64, 1, 0];
    let b: Vec<u64> = vec![3 << F, 1 << F, 7, 0];
    let bounds = DivBounds { num_bits: 30, den_bits: 30, den_frac_bits: F, signed_den: true };
    let program = |p: &mut Party| {
        let x = p.share_public_input(&a)?;
        let y = p.share_public_input(&b)?;
        let q = fixed::div(p, &x, &y, bounds)?;
        p.open(&q)
    };
    let honest = all_equal(run3(None, program));
    // The 40th AND is in the sign's A2B; the 100th in the divisor's suffix OR;
    // the 5th Mul in the bit injections, the 30th in Goldschmidt; the 3rd Open
    // is a TruncPr inside Goldschmidt.
    for (step, nth, abort) in [
        (Step::And, 40, Step::ProofFinal),
        (Step::And, 100, Step::ProofFinal),
        (Step::Mul, 5, Step::ProofFinal),
        (Step::Mul, 30, Step::ProofFinal),
        (Step::Open, 3, Step::Open),
    ] {
        let cheater = PartyId::new(1).expect("party");
        let out = run3(Some((cheater, flip_nth(step, nth))), program);
        let mut honest_aborts = 0;
        for (i, r) in out.into_iter().enumerate() {
            match r {
                Ok(v) => {
                    assert_eq!(i, 1, "an honest party finished despite a deviation at {step:?} #{nth}");
                    assert_eq!(v, honest);
                }
                Err(Error::Abort { step: s, .. }) if i != 1 => {
                    assert_eq!(s, abort, "deviation at {step:?} #{nth}");
                    honest_aborts += 1;
                }
                Err(_) => {} // the cheater's own view, or a hung-up neighbour
            }
        }
        assert!(honest_aborts >= 1, "no honest party caught {step:?} #{nth}");
    }
}

/// Every result of `fixed` is a deterministic function of its inputs (exact
/// truncations only, `docs/protocols/mpc-core.md` §6.2): the same input in
/// 64 lanes (independent masks) gives 64 equal outputs. With TruncPr the
/// lanes would round differently.
#[test]
fn results_that_may_be_opened_are_deterministic_functions_of_the_inputs() {
    let fmt = FixedFormat::default();
    let n = 64;
    // Values whose truncations drop non-zero bits.
    let (x, y, d) = (fmt.encode(1234.5678).unwrap_or(0), fmt.encode(3.3333).unwrap_or(0), 12_345_678_901u64);
    let outs = eval(vec![vec![x; n], vec![y; n], vec![d; n]], |p, s| {
        let prod = fixed::mul(p, fmt, &s[0], &s[1])?;
        let dec = fixed::from_decimal(p, fmt, &s[2], 4, 34)?;
        let q =
            fixed::div(p, &s[0], &s[1], DivBounds { num_bits: 40, den_bits: 20, den_frac_bits: F, signed_den: false })?;
        let r = fixed::sqrt(p, fmt, &s[0], 46)?;
        let parts = [prod, dec, q, r];
        let refs: Vec<&triad_mpc_core::ArithShare> = parts.iter().collect();
        let mut s0 = Vec::new();
        let mut s1 = Vec::new();
        for part in refs {
            let (a, b) = part.components();
            s0.extend_from_slice(a);
            s1.extend_from_slice(b);
        }
        triad_mpc_core::ArithShare::from_components(s0, s1)
    });
    for (k, chunk) in outs.chunks(n).enumerate() {
        assert!(chunk.iter().all(|v| *v == chunk[0]), "operation {k}: lanes differ: {chunk:?}");
    }
    assert_eq!(outs.len(), 4 * n);
}

#[test]
fn log2_and_exp2_are_within_their_bounds() {
    let xs: Vec<u64> = vec![1, 2, 3, 7, 10, 1000, 65_535, 1 << 20, 999_999_937];
    let out = run3(None, |p| {
        let x = p.share_public_input(&xs)?;
        let l = triad_mpc_core::fixed::log2_int(p, &x, 31)?;
        let back = triad_mpc_core::fixed::exp2_fixed(p, &l, 31)?;
        Ok((p.open(&l)?, p.open(&back)?))
    });
    let w = (28f64).exp2();
    for r in out {
        let (l, back) = r.expect("party");
        for (i, &x) in xs.iter().enumerate() {
            let got = l[i] as i64 as f64 / w;
            assert!((got - (x as f64).log2()).abs() < 4e-7, "log2 {x}: {got}");
            let b = back[i] as i64 as f64 / w;
            assert!((b - x as f64).abs() <= 3e-7 * x as f64, "exp2(log2 {x}) = {b}");
        }
    }
}
