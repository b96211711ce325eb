//! The decoder fuzz target (`triad_notary::fuzz::decode_verify`, also run by
//! cargo-fuzz in `notary/fuzz`) under a bounded, deterministic mutation run on
//! stable Rust, so CI fuzzes on every run without nightly.
//!
//! Inputs: the two fixtures mutated by a structure-blind mutator in the
//! style of libFuzzer's (bit flips, interesting bytes and little-endian
//! integers at random offsets — which hits the bincode length prefixes —,
//! inserted, deleted and duplicated ranges, truncations, splices of the two
//! fixtures), stacked 1 to 8 deep. `TRIAD_FUZZ_ITERS` (default 4,000) and
//! `TRIAD_FUZZ_SEED` widen a run; a panic prints the seed and the iteration
//! that reproduce it.

mod common;

use common::*;

/// xorshift64*: a deterministic, dependency-free generator (test only).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

const INTERESTING: [u64; 10] = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x7fff_ffff, 0xffff_ffff, u64::MAX];

fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>, other: &[u8]) {
    let len = bytes.len();
    match rng.below(8) {
        0 if len > 0 => {
            let i = rng.below(len);
            bytes[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            bytes[i] = INTERESTING[rng.below(INTERESTING.len())] as u8;
        }
        2 if len >= 8 => {
            // An interesting integer where a u64 length or count may sit.
            let i = rng.below(len - 7);
            let width = [1usize, 2, 4, 8][rng.below(4)];
            let v = INTERESTING[rng.below(INTERESTING.len())].to_le_bytes();
            bytes[i..i + width].copy_from_slice(&v[..width]);
        }
        3 => {
            let i = rng.below(len + 1);
            let n = 1 + rng.below(16);
            let fill: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            bytes.splice(i..i, fill);
        }
        4 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(64));
            bytes.drain(i..i + n);
        }
        5 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(64));
            let chunk = bytes[i..i + n].to_vec();
            let at = rng.below(len + 1);
            bytes.splice(at..at, chunk);
        }
        6 if len > 0 => bytes.truncate(rng.below(len)),
        _ if !other.is_empty() => {
            // Splice: our head, the other fixture's tail.
            let i = rng.below(len + 1);
            let j = rng.below(other.len());
            bytes.truncate(i);
            bytes.extend_from_slice(&other[j..]);
        }
        _ => bytes.push(rng.next() as u8),
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn the_fuzz_target_survives_a_bounded_mutation_run() {
    let seeds = [full(), hidden()];
    let config = config();
    let iters = env_u64("TRIAD_FUZZ_ITERS", 4_000);
    let seed = env_u64("TRIAD_FUZZ_SEED", 0x7472_6961_6466_757a);
    let mut rng = Rng(seed | 1);
    let mut accepted_mutants = 0u64;
    for it in 0..iters {
        let k = rng.below(2);
        let mut bytes = seeds[k].clone();
        for _ in 0..1 + rng.below(8) {
            mutate(&mut rng, &mut bytes, &seeds[1 - k]);
        }
        let r = std::panic::catch_unwind(|| triad_notary::fuzz::decode_verify(&bytes, &config));
        assert!(r.is_ok(), "panic at TRIAD_FUZZ_SEED={seed} iteration {it} ({} bytes)", bytes.len());
        if !seeds.contains(&bytes) && triad_notary::verify(&bytes, &config).is_ok() {
            accepted_mutants += 1;
        }
    }
    // Bytes that differ from a fixture never verify (nothing is malleable).
    assert_eq!(accepted_mutants, 0, "a mutated presentation verified");
}
