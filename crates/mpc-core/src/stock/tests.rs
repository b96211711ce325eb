//! Cutting and gluing bit-sliced batches.

use super::{bool_join, bool_split};
use crate::BoolShare;

fn lane(w: &[u64], i: usize) -> u64 {
    (w[i / 64] >> (i % 64)) & 1
}

fn share(words: Vec<u64>, lanes: usize) -> BoolShare {
    let other: Vec<u64> = words.iter().map(|w| w.rotate_left(7) ^ 0x5555).collect();
    BoolShare { s0: words, s1: other, lanes }
}

#[test]
fn splitting_and_joining_lanes_preserves_every_lane() {
    let words: Vec<u64> = (0..5u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xdead_beef).collect();
    for lanes in [1usize, 63, 64, 65, 130, 300, 320] {
        let x = share(words[..lanes.div_ceil(64)].to_vec(), lanes);
        for n in [0usize, 1, 17, 63, 64, 65, 129, lanes] {
            if n > lanes {
                continue;
            }
            let (a, b) = bool_split(&x, n);
            assert_eq!((a.lanes, b.lanes), (n, lanes - n));
            let y = bool_join(&[&a, &b]);
            assert_eq!(y.lanes, lanes);
            for i in 0..lanes {
                assert_eq!(lane(&y.s0, i), lane(&x.s0, i), "lanes {lanes} cut {n} lane {i}");
                assert_eq!(lane(&y.s1, i), lane(&x.s1, i), "lanes {lanes} cut {n} lane {i}");
            }
            for i in 0..n {
                assert_eq!(lane(&a.s0, i), lane(&x.s0, i));
            }
            for i in 0..lanes - n {
                assert_eq!(lane(&b.s1, i), lane(&x.s1, n + i));
            }
        }
    }
}
