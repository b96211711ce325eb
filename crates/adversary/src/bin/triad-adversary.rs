//! Test-only party process of `triad-adversary`: `triad-adversary party --party I --dir D`
//! (started by [`triad_adversary::run`] through `triad_procs`).

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (party, dir) = match args.as_slice() {
        [cmd, p, party, d, dir] if cmd == "party" && p == "--party" && d == "--dir" => {
            (party.parse::<u8>().with_context(|| format!("--party {party}: expected 0, 1 or 2"))?, dir.into())
        }
        _ => bail!("usage: triad-adversary party --party I --dir D (started by the adversarial tests)"),
    };
    triad_procs::child(party, dir, triad_adversary::child_options(), triad_adversary::child_work)
}
