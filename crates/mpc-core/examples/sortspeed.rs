use std::time::Instant;
use triad_mpc_core::harness::run3_stats;
use triad_mpc_core::sort::{median, sort};

fn cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok().and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok())).map_or(0.0, |ns| ns as f64 * 1e-9)
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10000);
    let what = std::env::args().nth(2).unwrap_or("sort".into());
    let t = Instant::now();
    let out = run3_stats(None, |p| {
        let x = p.session.random(n);
        let c0 = cpu();
        if what == "sort" { let s = sort(p, &x, &[])?; drop(s); } else { let m = median(p, &x)?; drop(m); }
        p.verify()?;
        Ok(cpu() - c0)
    });
    for (r, st) in out { println!("{:?} bytes/elem {:.1}", r, st.bytes as f64 / n as f64); }
    println!("{what} n={n}: {:.2} s wall", t.elapsed().as_secs_f64());
}
