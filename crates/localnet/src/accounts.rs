//! Simulated providers' balances.

/// `n` balances, heavy-tailed like real exchange balances (log-normal: median about 3, a few
/// whales up to 99,999), two decimals, deterministic for a `seed`.
pub fn heavy_tailed_balances(n: usize, seed: u64) -> Vec<String> {
    let mut rng = SplitMix(seed);
    (0..n)
        .map(|_| {
            let balance = (3.0 * (1.6 * rng.normal()).exp()).min(99_999.0);
            format!("{balance:.2}")
        })
        .collect()
}

/// A small deterministic generator for simulated balances (never for secrets).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balances_are_heavy_tailed_deterministic_and_two_decimals() {
        let b = heavy_tailed_balances(1000, 7);
        assert_eq!(b, heavy_tailed_balances(1000, 7));
        assert!(b.iter().all(|s| s.split_once('.').is_some_and(|(_, f)| f.len() == 2)), "{b:?}");
        let mut v: Vec<f64> = b.iter().map(|s| s.parse::<f64>().unwrap_or(f64::NAN)).collect();
        v.sort_by(f64::total_cmp);
        let (median, max) = (v[v.len() / 2], v[v.len() - 1]);
        assert!((1.5..6.0).contains(&median), "median {median}");
        assert!(max > 50.0 * median, "a heavy tail: max {max}, median {median}");
    }
}
