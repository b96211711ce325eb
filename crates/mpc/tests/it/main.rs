//! Three parties over the in-memory mesh and over real TCP with pinned keys.

mod memory;
mod tcp;

use triad_mpc::{NetParty, Result};

/// Run `f` at the three parties on three threads.
pub fn run3<T: Send>(parties: [NetParty; 3], f: impl Fn(&mut NetParty) -> Result<T> + Sync) -> [Result<T>; 3] {
    let f = &f;
    std::thread::scope(|s| {
        let hs = parties.map(|mut p| s.spawn(move || f(&mut p)));
        hs.map(|h| h.join().expect("party thread"))
    })
}

/// Opened `(x, y, x * y)`.
pub type Opened = (Vec<u64>, Vec<u64>, Vec<u64>);

/// A verified product of two random vectors, opened: checks `z = x * y` from the openings.
pub fn multiply_and_open(p: &mut NetParty, n: usize) -> Result<Opened> {
    let x = p.random(n);
    let y = p.random(n);
    let z = p.mul(&x, &y)?;
    let z = p.open(&z)?; // verifies every logged gate first
    Ok((p.open(&x)?, p.open(&y)?, z))
}

pub fn assert_products(out: [Result<Opened>; 3]) {
    let mut first = None;
    for r in out {
        let (x, y, z) = r.expect("party succeeds");
        for j in 0..x.len() {
            assert_eq!(z[j], x[j].wrapping_mul(y[j]), "element {j}");
        }
        match &first {
            None => first = Some(z),
            Some(f) => assert_eq!(f, &z, "all parties open the same product"),
        }
    }
}
