//! Private inputs for the three children: the parent, acting as the data providers, deals fresh
//! random replicated sharings of its columns and writes each party's two components to a file
//! only that party reads (in a directory of the parent's own, mode 0700, files 0600, removed when
//! the [`Inputs`] is dropped). The plan, which every child reads, carries only the directory.
//!
//! File format: `columns × 2 × n` little-endian `u64`: for each column, component `x_i` of the `n`
//! rows, then `x_{i+1}` (party `i`'s components of `x = x_0 + x_1 + x_2 mod 2^64`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use triad_mpc::core::ArithShare;

/// A private directory of per-party input files.
pub struct Inputs {
    dir: PathBuf,
}

impl Inputs {
    /// A fresh private directory in the system's temporary directory.
    pub fn new(label: &str) -> Result<Inputs> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("triad-{label}-inputs-{}-{nanos}", std::process::id()));
        let mut b = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Inputs { dir })
    }

    /// The directory (for the plan).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Deals `columns` (each `n` values, the same `n`) into fresh random sharings and writes
    /// party `i`'s components to `<name>.p<i>` (see the module's format).
    pub fn deal(&self, name: &str, columns: &[Vec<u64>]) -> Result<()> {
        let n = columns.first().map_or(0, Vec::len);
        ensure!(columns.iter().all(|c| c.len() == n), "columns of different lengths");
        let mut files: [Vec<u8>; 3] = Default::default();
        for f in &mut files {
            f.reserve(columns.len() * 2 * n * 8);
        }
        for col in columns {
            let [x0, x1, x2] = share(col)?;
            let comps = [&x0, &x1, &x2];
            for (i, f) in files.iter_mut().enumerate() {
                for c in [comps[i], comps[(i + 1) % 3]] {
                    f.extend(c.iter().flat_map(|v| v.to_le_bytes()));
                }
            }
        }
        for (i, f) in files.iter().enumerate() {
            crate::write_secret(&self.dir.join(format!("{name}.p{i}")), f)?;
        }
        Ok(())
    }
}

impl Drop for Inputs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh random sharing of `values`: `x_0`, `x_1` from the OS's generator, `x_2 = x − x_0 − x_1`.
fn share(values: &[u64]) -> Result<[Vec<u64>; 3]> {
    let mut bytes = vec![0u8; values.len() * 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("the OS random generator failed: {e}"))?;
    let words = le_words(&bytes);
    let (x0, x1) = words.split_at(values.len());
    let x2 = values.iter().zip(x0).zip(x1).map(|((v, a), b)| v.wrapping_sub(*a).wrapping_sub(*b)).collect();
    Ok([x0.to_vec(), x1.to_vec(), x2])
}

/// A child's side: reads party `party`'s file `<name>.p<party>` in `dir` as `columns` sharings of
/// `n` elements each.
pub fn read(dir: &Path, name: &str, party: usize, columns: usize, n: usize) -> Result<Vec<ArithShare>> {
    let path = dir.join(format!("{name}.p{party}"));
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(
        bytes.len() == columns * 2 * n * 8,
        "{}: {} bytes, expected {} ({columns} columns of {n} rows)",
        path.display(),
        bytes.len(),
        columns * 2 * n * 8
    );
    if n == 0 {
        return Ok(vec![ArithShare::from_components(Vec::new(), Vec::new())?; columns]);
    }
    let words = le_words(&bytes);
    words
        .chunks_exact(2 * n)
        .map(|c| {
            let (a, b) = c.split_at(n);
            ArithShare::from_components(a.to_vec(), b.to_vec()).context("a column's components")
        })
        .collect()
}

fn le_words(bytes: &[u8]) -> Vec<u64> {
    bytes.chunks_exact(8).map(|c| c.iter().rev().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_files_reconstruct_the_columns_and_each_holds_two_components() {
        let inputs = Inputs::new("deal-test").expect("a directory");
        let cols = vec![vec![1u64, 2, u64::MAX], vec![7, 0, 1 << 63]];
        inputs.deal("d", &cols).expect("deals");
        let parts: Vec<Vec<ArithShare>> =
            (0..3usize).map(|p| read(inputs.dir(), "d", p, 2, 3).expect("reads")).collect();
        for (c, col) in cols.iter().enumerate() {
            let x: Vec<(Vec<u64>, Vec<u64>)> = parts
                .iter()
                .map(|p| {
                    let (a, b) = p[c].components();
                    (a.to_vec(), b.to_vec())
                })
                .collect();
            for i in 0..3 {
                // Party i's second component is party i+1's first.
                assert_eq!(x[i].1, x[(i + 1) % 3].0);
            }
            let sum: Vec<u64> = (0..3).map(|r| x[0].0[r].wrapping_add(x[1].0[r]).wrapping_add(x[2].0[r])).collect();
            assert_eq!(&sum, col);
            assert_ne!(x[0].0, *col, "components are random");
        }
        assert!(read(inputs.dir(), "d", 0, 2, 4).is_err(), "a wrong length is refused");
        let dir = inputs.dir().to_path_buf();
        drop(inputs);
        assert!(!dir.exists(), "removed on drop");
    }
}
