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
    /// An account TOKEN:UID:BALANCE[:ASSET][,FIELD=DECIMAL...]; repeatable.
    /// Default: the demo accounts alice-token, bob-token, carol-token.
    #[arg(long = "account")]
    accounts: Vec<String>,
    /// A response field to hide behind its own commitment (`balance` or a
    /// FIELD of the accounts), in the template's order; repeatable.
    /// Default: balance.
    #[arg(long = "value-field")]
    value_fields: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Issue a presentation for the account with TOKEN and write
    /// presentation.bin, the secrets (secret.json for one value field,
    /// secret-FIELD.json each for several), ca.der and notary_key.txt into
    /// DIR.
    Issue {
        /// The account's bearer token.
        #[arg(long)]
        token: String,
        /// Output directory (created if missing).
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Verify DIR/presentation.bin (pinning DIR/notary_key.txt, trusting
    /// DIR/ca.der), apply the mock exchange's template with the value
    /// fields, check each secret file against its commitment, and print
    /// the result.
    Check {
        /// Directory written by `issue`.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Freshness window of the template, seconds.
        #[arg(long, default_value_t = 3600)]
        max_age: u64,
    },
    /// List the accounts (uid, balance and values; tokens included: demo data).
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
    let defaults = DevNotaryConfig::default();
    let config = DevNotaryConfig {
        server_name: cli.server_name,
        notary_secret,
        commitment_alg: cli.alg,
        value_fields: if cli.value_fields.is_empty() { defaults.value_fields.clone() } else { cli.value_fields },
        accounts: accounts.clone(),
        ..defaults
    };

    match cli.command {
        Command::Check { dir, max_age } => {
            // `check` reads files: only the value fields matter, not the accounts.
            DevNotaryConfig { accounts: Vec::new(), ..config.clone() }.validate()?;
            check(&dir, &config.server_name, &config.value_fields, max_age)?
        }
        Command::Accounts => {
            config.validate()?;
            for a in accounts {
                let values: String = a.values.iter().map(|(name, v)| format!("\t{name}={v}")).collect();
                println!("{}\t{}\t{} {}{values}", a.token, a.uid, a.balance, a.asset);
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
            let fields = notary.value_fields();
            let mut values = Vec::new();
            for (field, secret) in fields.iter().zip(&issued.secrets) {
                let file = secret_file(fields, field);
                write(&file, secret.to_json().as_bytes())?;
                values.push(serde_json::json!({
                    "field": field,
                    "range": [secret.range.start, secret.range.end],
                    "secret": file,
                }));
            }
            write("ca.der", notary.ca_cert_der())?;
            write("notary_key.txt", format!("{}\n", notary.notary_key()).as_bytes())?;
            let field_flags: String = fields.iter().map(|f| format!("--value-field {f} ")).collect();
            println!(
                "{}",
                serde_json::json!({
                    "dir": out.display().to_string(),
                    "server_name": notary.server_name(),
                    "notary_key": notary.notary_key().to_string(),
                    "presentation_bytes": issued.presentation.len(),
                    "values": values,
                    "alg": commitment_alg_name(&issued),
                    "check": format!("triad-dev-notary {field_flags}check --dir {}", out.display()),
                })
            );
        }
    }
    Ok(())
}

/// The file a value field's secret goes to: `secret.json` for a single value
/// field (the upstream fixture's name), `secret-FIELD.json` for several.
/// Field names are validated ASCII letters, digits, `_` and `-`.
fn secret_file(fields: &[String], field: &str) -> String {
    if fields.len() == 1 { "secret.json".to_owned() } else { format!("secret-{field}.json") }
}

/// The commitment algorithm's name (every secret of an issuance has the same).
fn commitment_alg_name(issued: &triad_dev_notary::Issued) -> &'static str {
    issued.secrets.first().map_or("none", |s| s.alg.name())
}

/// `check`: everything a coordinator would check, from the files `issue` wrote.
fn check(dir: &std::path::Path, server_name: &str, fields: &[String], max_age: u64) -> anyhow::Result<()> {
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
    let field_names: Vec<&str> = fields.iter().map(String::as_str).collect();
    let template = ProofTemplate::new(
        server_name,
        "GET",
        triad_dev_notary::BALANCE_PATH,
        &field_names,
        triad_dev_notary::UID_FIELD,
        max_age,
        vec![key],
    )?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).context("clock")?.as_secs();
    let m = template.apply(&verified, now).context("the presentation does not fit the template")?;
    let mut values = Vec::new();
    for value in &m.values {
        let file = secret_file(fields, &value.field.to_string());
        let secret_text = String::from_utf8(read(&file)?).with_context(|| file.clone())?;
        let secret = triad_dev_notary::IssuedSecret::from_json(&secret_text)?;
        triad_notary::check_commitment(&value.commitment, &secret.prover_secret())
            .with_context(|| format!("{file} does not open the commitment of {}", value.field))?;
        values.push(serde_json::json!({
            "field": value.field.to_string(),
            "range": [value.range.start, value.range.end],
            "commitment": value.commitment,
        }));
    }
    println!(
        "{}",
        serde_json::json!({
            "uid": m.uid,
            "server_name": m.server_name,
            "time": m.time,
            "notary_key": m.notary_key.to_string(),
            "values": values,
            "secret_opens_commitment": true,
        })
    );
    Ok(())
}
