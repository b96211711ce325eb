//! Client input bundles and the parties' cross-check.

use triad_mpc_core::harness::run3;
use triad_mpc_core::input::{InputBundle, share_bit_inputs, share_inputs, share_inputs_with_seed};

#[test]
fn consistent_bundles_are_accepted_and_reconstruct() {
    let values: Vec<u64> = vec![0, 1, u64::MAX, 1 << 63, 42];
    let bundles = share_inputs(&values).expect("randomness");
    let out = run3(None, move |p| {
        let (share, rejected) = p.input(bundles[p.me().index()].clone())?;
        Ok((rejected, p.open(&share)?))
    });
    for r in out {
        let (rejected, v) = r.expect("party");
        assert!(rejected.is_empty());
        assert_eq!(v, values);
    }
}

fn corrupt(bundles: &mut [InputBundle; 3], party: usize, first: bool, index: usize) {
    let b = &mut bundles[party];
    if first {
        b.first[index] ^= 1;
    } else {
        b.second[index] = b.second[index].wrapping_add(1 << 40);
    }
}

#[test]
fn an_inconsistent_input_is_rejected_by_index_and_others_are_accepted() {
    let values: Vec<u64> = (0..50).map(|i| i * 1000 + 7).collect();
    // Component x_2 given to P1 (as its second) differs from the one given to
    // P2 (as its first) for input 13; component x_0 differs for input 40.
    let mut bundles = share_inputs_with_seed(&values, [9; 16]);
    corrupt(&mut bundles, 1, false, 13);
    corrupt(&mut bundles, 0, true, 40);
    let out = run3(None, move |p| {
        let (share, rejected) = p.input(bundles[p.me().index()].clone())?;
        // The union of the three parties' reports, agreed through the event
        // log in production, is dropped by everyone before use.
        Ok((rejected, p.open(&share.without(&[13, 40]))?))
    });
    let [a, b, c] = out;
    let (ra, va) = a.expect("P0");
    let (rb, vb) = b.expect("P1");
    let (rc, vc) = c.expect("P2");
    // P0 shares x_0 with P2 and x_1 with P1.
    assert_eq!(ra, vec![40]);
    // P1 shares x_1 with P0 and x_2 with P2.
    assert_eq!(rb, vec![13]);
    // P2 shares x_2 with P1 and x_0 with P0.
    assert_eq!(rc, vec![13, 40]);
    let kept: Vec<u64> = values.iter().enumerate().filter(|(j, _)| *j != 13 && *j != 40).map(|(_, v)| *v).collect();
    for v in [va, vb, vc] {
        assert_eq!(v, kept);
    }
}

#[test]
fn boolean_inputs_are_xor_shared_and_checked_the_same_way() {
    let blinder: Vec<u64> = vec![0x0123_4567_89ab_cdef, u64::MAX];
    let bundles = share_bit_inputs(&blinder).expect("randomness");
    let out = run3(None, move |p| {
        let (share, rejected) = p.input(bundles[p.me().index()].clone())?;
        let bits = share.into_bool(128)?;
        Ok((rejected, p.open_bits(&bits)?))
    });
    for r in out {
        let (rejected, v) = r.expect("party");
        assert!(rejected.is_empty());
        assert_eq!(v, blinder);
    }
}
