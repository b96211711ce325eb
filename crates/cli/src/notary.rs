//! `triad notary`: what a TLSNotary presentation proves.

use anyhow::{Context, Result};
use clap::Subcommand;
use std::path::PathBuf;
use triad_notary::{NotaryKey, VerifierConfig, verify};

#[derive(Subcommand)]
pub enum Command {
    /// Verifies a presentation (upstream TLSNotary alpha.15 format) and prints
    /// what it proves as JSON; exits non-zero with the reason if it does not verify.
    Verify(VerifyArgs),
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The presentation file.
    file: PathBuf,
    /// A trusted notary key, `secp256k1:<hex SEC1>` or `p256:<hex SEC1>`;
    /// repeat for several. Also read from TRIAD_NOTARY_KEYS (comma-separated).
    #[arg(long = "notary-key", env = "TRIAD_NOTARY_KEYS", value_delimiter = ',', required = true)]
    notary_keys: Vec<String>,
}

pub fn run(cmd: Command) -> Result<()> {
    match cmd {
        Command::Verify(args) => {
            let keys = args
                .notary_keys
                .iter()
                .map(|k| NotaryKey::parse(k).with_context(|| format!("--notary-key {k:?}: expected secp256k1:<hex> or p256:<hex>")))
                .collect::<Result<Vec<_>>>()?;
            let bytes = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
            let verified = verify(&bytes, &VerifierConfig::new(keys))
                .with_context(|| format!("{} does not verify", args.file.display()))?;
            println!("{}", serde_json::to_string_pretty(&verified.to_json())?);
            Ok(())
        }
    }
}
