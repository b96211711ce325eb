//! `triad-dev-notary`: DEVELOPMENT ONLY. Starts the mock exchange and the
//! trusted development notary in-process, issues a presentation for one
//! account and writes it out. See the crate docs for what it does not prove.

#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use triad_dev_notary::{Account, BANNER, CommitmentAlg, DevNotary, DevNotaryConfig, NotarySecret};

#[derive(Parser)]
#[command(version, about = "DEVELOPMENT ONLY: a trusted notary that sees the plaintext")]
struct Cli {
    /// DNS name of the mock exchange (its certificate and the presentations).
    #[arg(long, default_value = triad_dev_notary::DEFAULT_SERVER_NAME)]
    server_name: String,
    /// The notary's secp256k1 secret key, 64 hex digits; fresh when absent.
    #[arg(long, env = "TRIAD_DEV_NOTARY_SECRET", hide_env_values = true)]
    notary_secret: Option<String>,
    /// Commitment algorithm: blake3 or sha256.
    #[arg(long, default_value = "blake3")]
    alg: CommitmentAlg,
    /// An account TOKEN:UID:BALANCE[:ASSET]; repeatable. Default: the demo
    /// accounts alice-token, bob-token, carol-token.
    #[arg(long = "account")]
    accounts: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Issue a presentation for the account with TOKEN and write
    /// presentation.bin, secret.json, ca.der and notary_key.txt into DIR.
    Issue {
        /// The account's bearer token.
        #[arg(long)]
        token: String,
        /// Output directory (created if missing).
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Verify DIR/presentation.bin (pinning DIR/notary_key.txt, trusting
    /// DIR/ca.der), apply the mock exchange's template, check
    /// DIR/secret.json against the commitment, and print the result.
    Check {
        /// Directory written by `issue`.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Freshness window of the template, seconds.
        #[arg(long, default_value_t = 3600)]
        max_age: u64,
    },
    /// List the accounts (uid and balance; tokens included: demo data).
    Accounts,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    eprintln!("{BANNER}\n");

    let accounts = if cli.accounts.is_empty() {
        Account::demo()
    } else {
        cli.accounts.iter().map(|a| Account::parse(a)).collect::<Result<_, _>>().context("parsing --account")?
    };
    let notary_secret =
        cli.notary_secret.as_deref().map(NotarySecret::from_hex).transpose().context("parsing the notary secret")?;
    let config = DevNotaryConfig {
        server_name: cli.server_name,
        notary_secret,
        commitment_alg: cli.alg,
        accounts: accounts.clone(),
        ..DevNotaryConfig::default()
    };

    match cli.command {
        Command::Check { dir, max_age } => check(&dir, &config.server_name, max_age)?,
        Command::Accounts => {
            for a in accounts {
                println!("{}\t{}\t{} {}", a.token, a.uid, a.balance, a.asset);
            }
        }
        Command::Issue { token, out } => {
            let notary = DevNotary::start(config).await.context("starting the mock exchange")?;
            eprintln!(
                "mock exchange https://{} at {}\nnotary key {}",
                notary.server_name(),
                notary.exchange_addr(),
                notary.notary_key()
            );
            let issued = notary.issue(&token).await.context("issuing the presentation")?;
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let write = |name: &str, bytes: &[u8]| {
                let path = out.join(name);
                std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
            };
            write("presentation.bin", &issued.presentation)?;
            write("secret.json", issued.secret.to_json().as_bytes())?;
            write("ca.der", notary.ca_cert_der())?;
            write("notary_key.txt", format!("{}\n", notary.notary_key()).as_bytes())?;
            println!(
                "{}",
                serde_json::json!({
                    "dir": out.display().to_string(),
                    "server_name": notary.server_name(),
                    "notary_key": notary.notary_key().to_string(),
                    "presentation_bytes": issued.presentation.len(),
                    "hidden_range": [issued.secret.range.start, issued.secret.range.end],
                    "alg": issued.secret.alg.name(),
                    "check": format!("triad-dev-notary check --dir {}", out.display()),
                })
            );
        }
    }
    Ok(())
}

/// `check`: everything a coordinator would check, from the files `issue` wrote.
fn check(dir: &std::path::Path, server_name: &str, max_age: u64) -> anyhow::Result<()> {
    use triad_notary::{NotaryKey, ProofTemplate, TrustAnchors, VerifierConfig};
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
    };
    let key_text = String::from_utf8(read("notary_key.txt")?).context("notary_key.txt")?;
    let key = NotaryKey::parse(key_text.trim()).context("notary_key.txt")?;
    let mut config = VerifierConfig::new(vec![key.clone()]);
    config.trust_anchors = TrustAnchors::from_der_certs([read("ca.der")?.as_slice()]).context("ca.der")?;
    let verified =
        triad_notary::verify(&read("presentation.bin")?, &config).context("presentation.bin does not verify")?;
    let template = ProofTemplate::new(
        server_name,
        "GET",
        triad_dev_notary::BALANCE_PATH,
        triad_dev_notary::VALUE_FIELD,
        triad_dev_notary::UID_FIELD,
        max_age,
        vec![key],
    )?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).context("clock")?.as_secs();
    let m = template.apply(&verified, now).context("the presentation does not fit the template")?;
    let secret_text = String::from_utf8(read("secret.json")?).context("secret.json")?;
    let secret = triad_dev_notary::IssuedSecret::from_json(&secret_text)?;
    triad_notary::check_commitment(&m.commitment, &secret.prover_secret())
        .context("secret.json does not open the commitment")?;
    println!(
        "{}",
        serde_json::json!({
            "uid": m.uid,
            "server_name": m.server_name,
            "time": m.time,
            "notary_key": m.notary_key.to_string(),
            "commitment": m.commitment,
            "secret_opens_commitment": true,
        })
    );
    Ok(())
}
