//! Preprocessing (edaBits, truncation masks, the stockpile) and the online
//! comparisons and truncations on it equal their plaintext counterparts.

use proptest::prelude::*;
use triad_mpc_core::edabit::{edabits, trunc_masks};
use triad_mpc_core::harness::{Party, run3};
use triad_mpc_core::masked::trunc;
use triad_mpc_core::masked::trunc_pr;
use triad_mpc_core::stock::{KindStats, StockKind, Stockpile};
use triad_mpc_core::{BoolShare, Error, Result};

use super::ops::{all_equal, elem};

fn lane(w: &[u64], i: usize) -> u64 {
    (w[i / 64] >> (i % 64)) & 1
}

/// Open bit planes and reassemble one value per lane.
fn open_planes(p: &mut Party, planes: &[BoolShare], n: usize) -> Result<Vec<u64>> {
    let mut v = vec![0u64; n];
    for (j, plane) in planes.iter().enumerate() {
        let w = p.open_bits(plane)?;
        for (i, vi) in v.iter_mut().enumerate() {
            *vi |= lane(&w, i) << j;
        }
    }
    Ok(v)
}

#[test]
fn edabits_open_to_the_same_value_in_both_domains() {
    for width in [1u32, 2, 7, 16, 40, 63, 64] {
        let n = 150;
        let (arith, bits) = all_equal(run3(None, move |p| {
            let r = edabits(p, n, width)?;
            assert_eq!((r.len(), r.width()), (n, width));
            let a = p.open(r.arith())?;
            let b = open_planes(p, r.bits(), n)?;
            Ok((a, b))
        }));
        assert_eq!(arith, bits, "width {width}");
        if width < 64 {
            assert!(arith.iter().all(|v| v >> width == 0), "width {width}: value out of range");
        }
        // Random: for every bit position both values occur among 150 draws.
        for j in 0..width {
            let ones = arith.iter().filter(|v| (*v >> j) & 1 == 1).count();
            assert!(ones > 0 && ones < n, "width {width}: bit {j} is constant");
        }
    }
}

#[test]
fn truncation_masks_are_consistent() {
    for (k, m) in [(40u32, 16u32), (62, 1), (62, 61), (2, 1), (20, 19)] {
        let n = 130;
        let (r, hi, top, lo) = all_equal(run3(None, move |p| {
            let mask = trunc_masks(p, n, k, m)?;
            assert_eq!(mask.params(), (k, m));
            Ok((p.open(mask.r())?, p.open(mask.r_hi())?, p.open(mask.r_top())?, open_planes(p, mask.lo_bits(), n)?))
        }));
        for i in 0..n {
            assert!(r[i] >> (k + 1) == 0, "k={k} m={m}: r out of range");
            assert_eq!(hi[i], r[i] >> m);
            assert_eq!(top[i], (r[i] >> k) & 1);
            assert_eq!(lo[i], r[i] & ((1 << m) - 1));
        }
        assert!(top.contains(&1) && top.contains(&0), "k={k}: top bit constant");
    }
}

fn inputs() -> impl Strategy<Value = Vec<u64>> {
    (1usize..90).prop_flat_map(|n| prop_oneof![prop::collection::vec(elem(), n), elem().prop_map(move |a| vec![a; n])])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn ltz_and_eqz_on_stocked_edabits_equal_plaintext(x in inputs(), target in 0usize..200) {
        let xs = x.clone();
        let n = x.len();
        let (l, z) = all_equal(run3(None, move |p| {
            let mut stock = Stockpile::new(64);
            stock.set_target(StockKind::EdaBits64, target)?;
            stock.refill(p)?;
            let a = p.share_public_input(&xs)?;
            let l = stock.ltz(p, &a)?;
            let z = stock.eqz(p, &a)?;
            Ok((p.open_bits(&l)?, p.open_bits(&z)?))
        }));
        for (i, xi) in x.iter().enumerate() {
            prop_assert_eq!(lane(&l, i), xi >> 63, "ltz of {:#x}", xi);
            prop_assert_eq!(lane(&z, i), (*xi == 0) as u64, "eqz of {:#x}", xi);
        }
        let _ = n;
    }

    #[test]
    fn truncations_on_stocked_masks_equal_plaintext(
        x in prop::collection::vec(prop_oneof![
            Just(0i64), Just(-1), Just(1), Just((1 << 39) - 1), Just(-(1 << 39)), -(1i64 << 39)..(1i64 << 39)
        ], 1..60),
        m in prop_oneof![Just(1u32), Just(16), Just(39), 1u32..40],
    ) {
        let k = 40;
        let xs: Vec<u64> = x.iter().map(|v| *v as u64).collect();
        let (pr, exact, fresh) = all_equal(run3(None, move |p| {
            let mut stock = Stockpile::default();
            stock.set_target(StockKind::Trunc { k, m }, 70)?;
            stock.refill(p)?;
            let a = p.share_public_input(&xs)?;
            let pr = stock.trunc_pr(p, &a, k, m)?;
            let exact = stock.trunc(p, &a, k, m)?;
            let fresh = trunc(p, &a, k, m)?;
            Ok((p.open(&pr)?, p.open(&exact)?, p.open(&fresh)?))
        }));
        for (i, xi) in x.iter().enumerate() {
            let floor = xi >> m;
            let d = (pr[i] as i64).wrapping_sub(floor);
            prop_assert!(d == 0 || d == 1, "TruncPr x={} m={} got {}", xi, m, pr[i] as i64);
            prop_assert_eq!(exact[i] as i64, floor, "Trunc x={} m={}", xi, m);
            prop_assert_eq!(fresh[i] as i64, floor, "Trunc (fresh mask) x={} m={}", xi, m);
        }
    }
}

#[test]
fn exact_truncation_at_the_widest_parameters() {
    // k = 62: inputs up to 2^61 in magnitude.
    let x: Vec<i64> = vec![0, -1, 1, (1 << 61) - 1, -(1 << 61), 12345 << 20, -(12345 << 20) - 7];
    for m in [1u32, 20, 61] {
        let xs: Vec<u64> = x.iter().map(|v| *v as u64).collect();
        let out = all_equal(run3(None, move |p| {
            let a = p.share_public_input(&xs)?;
            let t = trunc(p, &a, 62, m)?;
            let pr = trunc_pr(p, &a, 62, m)?;
            Ok((p.open(&t)?, p.open(&pr)?))
        }));
        for (i, xi) in x.iter().enumerate() {
            assert_eq!(out.0[i] as i64, xi >> m, "x={xi} m={m}");
            let d = (out.1[i] as i64) - (xi >> m);
            assert!(d == 0 || d == 1);
        }
    }
}

#[test]
fn the_stock_is_taken_first_and_refilled_to_its_target() {
    let out = all_equal(run3(None, |p| {
        let mut stock = Stockpile::new(40);
        stock.set_target(StockKind::EdaBits64, 100)?;
        let kind = StockKind::EdaBits64;
        let made = stock.refill(p)?;
        let after_refill = stock.stats(kind);
        let _ = stock.take_edabits(p, 30)?;
        let after_take = stock.stats(kind);
        // 70 in stock, 100 wanted: 30 made on demand.
        let big = stock.take_edabits(p, 100)?;
        let after_short = stock.stats(kind);
        let again = stock.refill(p)?;
        let after_again = stock.stats(kind);
        // Mixed batches still open consistently.
        let a = p.open(big.arith())?;
        let b = open_planes(p, big.bits(), 100)?;
        assert!(after_again.produce_secs > 0.0 && after_again.rate() > 0.0);
        // Wall times differ between parties: compare the counters only.
        let counters = |s: KindStats| KindStats { produce_secs: 0.0, ..s };
        Ok((
            made,
            counters(after_refill),
            counters(after_take),
            counters(after_short),
            again,
            counters(after_again),
            a == b,
        ))
    }));
    let (made, r, t, s, again, a, consistent) = out;
    assert_eq!(made, 100);
    assert_eq!((r.level, r.produced, r.produced_on_demand, r.taken, r.target), (100, 100, 0, 0, 100));
    assert_eq!((t.level, t.taken), (70, 30));
    assert_eq!((s.level, s.produced, s.produced_on_demand, s.taken), (0, 130, 30, 130));
    assert_eq!(again, 100);
    assert_eq!((a.level, a.produced), (100, 230));
    assert!(consistent, "a batch glued from stock and fresh parts opens to the same value in both domains");
}

#[test]
fn an_empty_stock_produces_on_demand_and_zero_elements_are_fine() {
    let out = all_equal(run3(None, |p| {
        let mut stock = Stockpile::default();
        let x = p.share_public_input(&[7, u64::MAX])?;
        let l = stock.ltz(p, &x)?;
        let t = stock.trunc(p, &x.scale(1 << 8), 40, 8)?;
        let empty = p.share_public_input(&[])?;
        let l0 = stock.ltz(p, &empty)?;
        let kinds: Vec<_> = stock.all_stats().into_iter().map(|(k, s)| (k, s.produced_on_demand, s.level)).collect();
        Ok((p.open_bits(&l)?, p.open(&t)?, l0.lanes(), kinds))
    }));
    assert_eq!(out.0, vec![0b10]);
    assert_eq!(out.1, vec![7, u64::MAX]);
    assert_eq!(out.2, 0);
    assert_eq!(out.3, vec![(StockKind::EdaBits64, 2, 0), (StockKind::Trunc { k: 40, m: 8 }, 2, 0)]);
}

#[test]
fn bad_parameters_are_refused() {
    let out = run3(None, |p| {
        let mut stock = Stockpile::default();
        let refused = [
            stock.set_target(StockKind::Trunc { k: 63, m: 1 }, 1),
            stock.set_target(StockKind::Trunc { k: 10, m: 10 }, 1),
            edabits(p, 1, 0).map(|_| ()),
            edabits(p, 1, 65).map(|_| ()),
        ];
        let short = p.share_public_input(&[1, 2])?;
        let r = edabits(p, 3, 64)?;
        let mismatch = triad_mpc_core::masked::ltz_with(p, &short, r).map(|_| ());
        let narrow = edabits(p, 2, 32)?;
        let narrow_refused = triad_mpc_core::masked::eqz_with(p, &short, narrow).map(|_| ());
        p.verify()?;
        Ok(refused.iter().chain([&mismatch, &narrow_refused]).all(|r| matches!(r, Err(Error::InvalidArgument(_)))))
    });
    for r in out {
        assert_eq!(r, Ok(true));
    }
}
