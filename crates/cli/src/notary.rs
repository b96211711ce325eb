//! `triad notary`: what a TLSNotary presentation proves.

use anyhow::{Context, Result};
use clap::Subcommand;
use std::path::PathBuf;
use triad_notary::{NotaryKey, TrustAnchors, VerifierConfig, verify};

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
    /// A DER root certificate to trust for the server's chain instead of
    /// Mozilla's roots (the development notary writes its test CA as ca.der);
    /// repeat for several.
    #[arg(long = "trust-anchor")]
    trust_anchors: Vec<PathBuf>,
}

pub fn run(cmd: Command) -> Result<()> {
    match cmd {
        Command::Verify(args) => {
            let keys = args
                .notary_keys
                .iter()
                .map(|k| {
                    NotaryKey::parse(k)
                        .with_context(|| format!("--notary-key {k:?}: expected secp256k1:<hex> or p256:<hex>"))
                })
                .collect::<Result<Vec<_>>>()?;
            let bytes = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
            let mut config = VerifierConfig::new(keys);
            if !args.trust_anchors.is_empty() {
                let roots = args
                    .trust_anchors
                    .iter()
                    .map(|p| std::fs::read(p).with_context(|| format!("reading trust anchor {}", p.display())))
                    .collect::<Result<Vec<_>>>()?;
                config.trust_anchors = TrustAnchors::from_der_certs(roots.iter().map(Vec::as_slice))
                    .context("--trust-anchor must be a DER certificate")?;
            }
            let verified =
                verify(&bytes, &config).with_context(|| format!("{} does not verify", args.file.display()))?;
            println!("{}", serde_json::to_string_pretty(&verified.to_json())?);
            Ok(())
        }
    }
}
