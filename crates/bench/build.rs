//! Records the git revision `triad-bench` (and so the `triad` binary that links it) is built
//! from, for `triad bench`'s rows (`git_rev`, `Host` in `src/lib.rs`): `TRIAD_GIT_REV` from
//! the environment if set (e.g. a build from a tarball that knows its revision), else
//! `git rev-parse --short HEAD`, else "unknown" (no git metadata or no git). Cargo reruns
//! this when HEAD or the branch it names moves.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).current_dir(env_dir()).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

fn env_dir() -> String {
    std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".to_owned())
}

/// Rerun when `path` (as git names it, relative to the working directory) changes, if it
/// exists (a missing path would rerun the script on every build).
fn watch(git_path: &str) {
    if let Some(p) = git(&["rev-parse", "--git-path", git_path]) {
        let p = Path::new(&env_dir()).join(p);
        if p.exists() {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=TRIAD_GIT_REV");
    let rev = match std::env::var("TRIAD_GIT_REV") {
        Ok(v) if !v.trim().is_empty() => v.trim().to_owned(),
        _ => {
            watch("HEAD");
            watch("packed-refs");
            if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
                watch(&branch);
            }
            git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".to_owned())
        }
    };
    println!("cargo:rustc-env=TRIAD_GIT_REV={rev}");
}
