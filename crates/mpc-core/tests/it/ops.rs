//! Every operation equals its plaintext counterpart.

use proptest::prelude::*;
use triad_mpc_core::harness::{run3, run3_stats};
use triad_mpc_core::{ArithShare, Error};

pub(crate) fn elem() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), Just(1u64), Just(u64::MAX), Just(1u64 << 63), Just((1u64 << 63) - 1), any::<u64>(),]
}

fn vecs() -> impl Strategy<Value = (Vec<u64>, Vec<u64>)> {
    (1usize..40).prop_flat_map(|n| {
        prop_oneof![
            (prop::collection::vec(elem(), n), prop::collection::vec(elem(), n)),
            // all-equal vectors, and x == y
            (elem(), elem()).prop_map(move |(a, b)| (vec![a; n], vec![b; n])),
            prop::collection::vec(elem(), n).prop_map(|v| (v.clone(), v)),
        ]
    })
}

pub(crate) fn all_equal<T: PartialEq + std::fmt::Debug + Clone>(r: [Result<T, Error>; 3]) -> T {
    let [a, b, c] = r;
    let (a, b, c) = (a.expect("party 0"), b.expect("party 1"), c.expect("party 2"));
    assert_eq!(a, b);
    assert_eq!(b, c);
    a
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn arithmetic_ops_equal_plaintext((x, y) in vecs(), c in elem()) {
        let n = x.len();
        let (xs, ys) = (x.clone(), y.clone());
        let out = all_equal(run3(None, move |p| {
            let me = p.me();
            let a = p.share_public_input(&xs)?;
            let b = p.share_public_input(&ys)?;
            let prod = p.mul(&a, &b)?;
            let sq = p.mul(&prod, &a)?; // second layer: x*y*x
            let dot = p.dot(&a, &b)?;
            let lin = a.add(&b)?.sub(&a.scale(c))?.add_public(me, &ys)?.neg();
            let cm = a.mul_public(&ys)?;
            let r = p.session.random(n);
            let zero = r.sub(&r)?;
            let mut o = p.open(&prod)?;
            o.extend(p.open(&sq)?);
            o.extend(p.open(&dot)?);
            o.extend(p.open(&lin)?);
            o.extend(p.open(&cm)?);
            o.extend(p.open(&zero)?);
            o.extend(p.open(&a.sum())?);
            Ok(o)
        }));
        let mut want: Vec<u64> = x.iter().zip(&y).map(|(a, b)| a.wrapping_mul(*b)).collect();
        want.extend(x.iter().zip(&y).map(|(a, b)| a.wrapping_mul(*b).wrapping_mul(*a)));
        want.push(x.iter().zip(&y).fold(0u64, |s, (a, b)| s.wrapping_add(a.wrapping_mul(*b))));
        want.extend(x.iter().zip(&y).map(|(a, b)| {
            a.wrapping_add(*b).wrapping_sub(a.wrapping_mul(c)).wrapping_add(*b).wrapping_neg()
        }));
        want.extend(x.iter().zip(&y).map(|(a, b)| a.wrapping_mul(*b)));
        want.extend(std::iter::repeat_n(0, n));
        want.push(x.iter().fold(0u64, |s, a| s.wrapping_add(*a)));
        prop_assert_eq!(out, want);
    }

    #[test]
    fn boolean_ops_equal_plaintext(
        x in prop::collection::vec(prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()], 1..20),
        seed in any::<u64>(),
        lanes_cut in 0usize..64,
    ) {
        let y: Vec<u64> = x.iter().enumerate().map(|(i, v)| v.rotate_left(i as u32) ^ seed).collect();
        let lanes = 64 * x.len() - lanes_cut.min(63);
        let (xs, ys) = (x.clone(), y.clone());
        let out = all_equal(run3(None, move |p| {
            let me = p.me();
            let a = p.share_public_bits(&xs, lanes)?;
            let b = p.share_public_bits(&ys, lanes)?;
            let and = p.and(&a, &b)?;
            let and2 = p.and(&and, &a.not(me))?; // second layer: (x & y) & !x = 0
            let xor = a.xor(&b)?.xor_public(me, &ys)?;
            let r = p.session.random_bits(lanes);
            let masked = r.and_public(&xs)?.xor(&r.and_public(&xs)?)?;
            let mut o = p.open_bits(&and)?;
            o.extend(p.open_bits(&and2)?);
            o.extend(p.open_bits(&xor)?);
            o.extend(p.open_bits(&masked)?);
            Ok(o)
        }));
        let n = x.len();
        // Bit injection of the first word's lanes (up to `lanes`).
        let (xs, l2) = (x.clone(), lanes.min(64));
        let inj = all_equal(run3(None, move |p| {
            let a = p.share_public_bits(&xs[..1], l2)?;
            let b = p.b2a(&a)?;
            p.open(&b)
        }));
        prop_assert_eq!(inj, (0..l2).map(|l| (x[0] >> l) & 1).collect::<Vec<u64>>());
        let mut want: Vec<u64> = x.iter().zip(&y).map(|(a, b)| a & b).collect();
        want.extend(std::iter::repeat_n(0, n));
        want.extend(x.iter().cloned());
        want.extend(std::iter::repeat_n(0, n));
        prop_assert_eq!(out, want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn bit_decomposition_ltz_and_eqz_equal_plaintext(
        x in prop::collection::vec(elem(), 1..70),
    ) {
        use triad_mpc_core::circuits::{bit_decompose, eqz, ltz};
        let xs = x.clone();
        let n = x.len();
        let out = all_equal(run3(None, move |p| {
            let a = p.share_public_input(&xs)?;
            let bits = bit_decompose(p, &a)?;
            let l = ltz(p, &a)?;
            let z = eqz(p, &a)?;
            let mut o = Vec::new();
            for plane in &bits.planes {
                o.extend(p.open_bits(plane)?);
            }
            o.extend(p.open_bits(&l)?);
            o.extend(p.open_bits(&z)?);
            Ok(o)
        }));
        let words = n.div_ceil(64);
        let lane = |v: &[u64], i: usize| (v[i / 64] >> (i % 64)) & 1;
        for k in 0..64 {
            let plane = &out[k * words..(k + 1) * words];
            for (i, xi) in x.iter().enumerate() {
                prop_assert_eq!(lane(plane, i), (xi >> k) & 1);
            }
        }
        let l = &out[64 * words..65 * words];
        let z = &out[65 * words..66 * words];
        for (i, xi) in x.iter().enumerate() {
            prop_assert_eq!(lane(l, i), xi >> 63);
            prop_assert_eq!(lane(z, i), (*xi == 0) as u64);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn probabilistic_truncation_is_floor_plus_at_most_one(
        x in prop::collection::vec(prop_oneof![Just(0i64), Just(-1), Just((1 << 39) - 1), Just(-(1 << 39)), -(1i64 << 39)..(1i64 << 39)], 1..40),
        m in prop_oneof![Just(1u32), Just(16), Just(39), 1u32..40],
    ) {
        use triad_mpc_core::masked::trunc_pr;
        let k = 40;
        let xs: Vec<u64> = x.iter().map(|v| *v as u64).collect();
        let out = all_equal(run3(None, move |p| {
            let a = p.share_public_input(&xs)?;
            let t = trunc_pr(p, &a, k, m)?;
            p.open(&t)
        }));
        for (xi, o) in x.iter().zip(out) {
            let floor = xi >> m; // arithmetic shift: floor division
            let d = (o as i64).wrapping_sub(floor);
            prop_assert!(d == 0 || d == 1, "x={} m={} got {} floor {}", xi, m, o as i64, floor);
        }
    }
}

#[test]
fn truncation_rounds_up_with_probability_given_by_the_dropped_bits() {
    use triad_mpc_core::masked::trunc_pr;
    // x mod 2^m = 3/4 of 2^m: e = 1 with probability 3/4.
    let (k, m, n) = (40u32, 12u32, 4000usize);
    let x: Vec<u64> = (0..n as u64).map(|i| ((i as i64 - 2000) * (1 << 14) + 3 * (1 << 10)) as u64).collect();
    let xs = x.clone();
    let out = all_equal(run3(None, move |p| {
        let a = p.share_public_input(&xs)?;
        let t = trunc_pr(p, &a, k, m)?;
        p.open(&t)
    }));
    let ups = x.iter().zip(&out).filter(|(xi, o)| (**o as i64) - ((**xi as i64) >> m) == 1).count();
    let frac = ups as f64 / n as f64;
    assert!((0.70..0.80).contains(&frac), "fraction rounded up: {frac}");
}

#[test]
fn a_deep_circuit_and_many_batches_verify() {
    let out = all_equal(run3(None, |p| {
        let mut acc = p.share_public_input(&[3; 100])?;
        let x = p.share_public_input(&[5; 100])?;
        for round in 0..20 {
            acc = p.mul(&acc, &x)?;
            if round % 7 == 0 {
                p.verify()?;
            }
        }
        p.open(&acc)
    }));
    assert_eq!(out, vec![3u64.wrapping_mul(5u64.wrapping_pow(20)); 100]);
}

#[test]
fn a_long_dot_product_costs_one_element() {
    let n = 10_000usize;
    let x: Vec<u64> = (0..n as u64).collect();
    let res = run3_stats(None, move |p| {
        let a = p.share_public_input(&x)?;
        let start = p.net.stats.bytes;
        let d = p.dot(&a, &a)?;
        let sent = p.net.stats.bytes - start;
        p.verify()?;
        Ok((p.open(&d)?, sent))
    });
    let want = (0..n as u64).fold(0u64, |s, v| s.wrapping_add(v.wrapping_mul(v)));
    for (r, _) in res {
        let (v, sent) = r.expect("party");
        assert_eq!(v, vec![want]);
        assert_eq!(sent, 34 + 8, "one header and one element");
    }
}

#[test]
fn several_dot_products_share_one_message() {
    let (x, y): (Vec<u64>, Vec<u64>) = ((0..300u64).map(|v| v * 7 + 1).collect(), (0..300u64).rev().collect());
    let res = run3_stats(None, move |p| {
        let a = p.share_public_input(&x)?;
        let b = p.share_public_input(&y)?;
        let short = p.share_public_input(&x[..5])?;
        let start = (p.net.stats.bytes, p.net.stats.messages);
        let d = triad_mpc_core::engine::dots_gate(p, &[(&a, &b), (&a, &a), (&short, &short)])?;
        let sent = (p.net.stats.bytes - start.0, p.net.stats.messages - start.1);
        p.verify()?;
        Ok((p.open(&d)?, sent))
    });
    let dot = |u: &[u64], v: &[u64]| u.iter().zip(v).fold(0u64, |s, (a, b)| s.wrapping_add(a.wrapping_mul(*b)));
    let (x, y): (Vec<u64>, Vec<u64>) = ((0..300u64).map(|v| v * 7 + 1).collect(), (0..300u64).rev().collect());
    for (r, _) in res {
        let (v, sent) = r.expect("party");
        assert_eq!(v, vec![dot(&x, &y), dot(&x, &x), dot(&x[..5], &x[..5])]);
        assert_eq!(sent, (34 + 3 * 8, 1), "one message of three elements");
    }
}

#[test]
fn opening_before_verification_is_refused() {
    let out = run3(None, |p| {
        let a = p.share_public_input(&[1, 2])?;
        let b = p.mul(&a, &a)?;
        match p.session.open_start(&b) {
            Err(Error::Unverified(n)) => Ok(n),
            Err(e) => Err(e),
            Ok(_) => Err(Error::InvalidArgument("open was not refused")),
        }
    });
    for r in out {
        assert_eq!(r, Ok(2));
    }
}

#[test]
fn opening_during_an_unfinished_verification_is_refused() {
    let out = run3(None, |p| {
        let a = p.share_public_input(&[1, 2])?;
        let b = p.mul(&a, &a)?;
        let (v, _first_step) = p.session.verify_start()?;
        drop(v); // abandoned half-way
        match p.session.open_start(&b) {
            Err(Error::Unverified(_)) => Ok(()),
            Err(e) => Err(e),
            Ok(_) => Err(Error::InvalidArgument("open was not refused")),
        }
    });
    for r in out {
        assert_eq!(r, Ok(()));
    }
}

#[test]
fn a_detached_verification_releases_opens_only_when_completed() {
    fn assert_send<T: Send>(_: &T) {}
    use triad_mpc_core::Progress;
    let out = run3(None, |p| {
        let a = p.share_public_input(&[6, 7])?;
        let b = p.mul(&a, &a)?;
        let (mut v, mut prog) = p.session.verify_start()?;
        assert_send(&v);
        // Gates of the next batch may be evaluated meanwhile.
        let c = p.mul(&b, &a)?;
        let handle = std::thread::scope(|sc| {
            let net = &mut p.net;
            sc.spawn(move || -> Result<_, Error> {
                while let Progress::Continue(o) = prog {
                    for m in o.messages {
                        net.send(m)?;
                    }
                    let mut msgs = Vec::new();
                    for f in o.await_from {
                        msgs.push(net.recv(f)?);
                    }
                    prog = v.step_detached(msgs)?;
                }
                Ok(v)
            })
            .join()
        });
        let mut v = handle.map_err(|_| Error::transport(triad_mpc_core::TransportKind::Thread, "thread"))??;
        // Still refused: not completed, and `c` is unverified anyway.
        assert!(matches!(p.session.open_start(&b), Err(Error::Unverified(_))));
        v.complete(&mut p.session)?;
        p.verify()?; // the second batch (c)
        let mut o = p.open(&b)?;
        o.extend(p.open(&c)?);
        Ok(o)
    });
    for r in out {
        assert_eq!(r, Ok(vec![36, 49, 216, 343]));
    }
}

#[test]
fn random_sharings_are_consistent_and_free() {
    let res = run3_stats(None, |p| {
        let r = p.session.random(1000);
        let z = r.sub(&r)?;
        let bytes_before = p.net.stats.bytes;
        let v = p.open(&r)?;
        Ok((v, p.open(&z)?, bytes_before))
    });
    let mut first = None;
    for (r, _) in res {
        let (v, z, bytes_before) = r.expect("party");
        assert_eq!(bytes_before, 0);
        assert!(z.iter().all(|&x| x == 0));
        assert!(v.iter().any(|&x| x != 0));
        if let Some(f) = &first {
            assert_eq!(f, &v);
        }
        first = Some(v);
    }
    let _ = ArithShare::from_components(vec![1], vec![2]);
}

/// A verification's first message releases the previous party's `chi` term, which must
/// follow every gate message that party sent us: with a gate unfinished it is refused.
#[test]
fn verification_is_refused_while_a_gate_is_unfinished() {
    let out = run3(None, |p| {
        let a = p.share_public_input(&[3, 4])?;
        let (pending, msg) = p.session.mul_start(&a, &a)?;
        let refused = matches!(p.session.verify_start(), Err(Error::InvalidArgument(_)));
        // Finish the gate as usual: then verification goes through.
        p.net.send(msg)?;
        let next = p.session.me().next();
        let reply = p.net.recv(next)?;
        let c = pending.finish(&mut p.session, reply)?;
        p.verify()?;
        Ok((refused, p.open(&c)?))
    });
    for r in out {
        assert_eq!(r, Ok((true, vec![9, 16])));
    }
}
