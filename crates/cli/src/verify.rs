//! `triad verify`: checks a published result's threshold signature with the network's public
//! key alone (`docs/protocols/signing.md` §2-3).

use anyhow::{Context, Result};
use std::path::PathBuf;
use triad_signing::{Expectation, NetworkKey, ResultColumn, ResultStatement, verify};

#[derive(clap::Args)]
pub struct Args {
    /// The result, JSON: `network_id`, `dataset_id`, `snapshot`, `query`, `columns` (a list of
    /// `{name, value}`) and `signature` (128 hex digits, `r || s`), as `triad query --save`
    /// writes it. Or `--query-id` to read it from a projector.
    #[arg(required_unless_present = "query_id")]
    file: Option<PathBuf>,
    /// The query whose published result to check, read from `--projector` (hex id).
    #[arg(long, conflicts_with = "file")]
    query_id: Option<String>,
    /// The projector's gRPC endpoint, with `--query-id`.
    #[arg(long, default_value = "http://127.0.0.1:50052")]
    projector: String,
    /// The network's key: compressed public key then chain code, 130 hex digits. Also read
    /// from TRIAD_NETWORK_KEY.
    #[arg(long, env = "TRIAD_NETWORK_KEY")]
    network_key: String,
    /// The network the result must be of (default: the one it names).
    #[arg(long)]
    network: Option<String>,
    /// The dataset the result must be of (default: the one it names).
    #[arg(long)]
    dataset: Option<String>,
    /// The oldest snapshot accepted.
    #[arg(long, default_value_t = 0)]
    min_snapshot: u64,
}

/// The file's shape.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedResult {
    network_id: String,
    dataset_id: String,
    snapshot: u64,
    query: String,
    columns: Vec<ResultColumn>,
    signature: String,
}

pub async fn run(args: Args) -> Result<()> {
    let key = NetworkKey::from_hex(&args.network_key).context("--network-key")?;
    let (signed, source): (SignedResult, String) = match (&args.file, &args.query_id) {
        (Some(file), _) => {
            let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            let signed =
                serde_json::from_str(&text).with_context(|| format!("{} is not a signed result", file.display()))?;
            (signed, file.display().to_string())
        }
        (None, Some(id)) => {
            let query_id = hex::decode(id.trim()).context("--query-id is not hex")?;
            let published = crate::client::published(&args.projector, &query_id).await?;
            let signed = serde_json::from_value(crate::client::signed_json(&published))
                .context("the projector's result in the signed form")?;
            (signed, format!("the result of query {id}"))
        }
        (None, None) => anyhow::bail!("name a result: a file, or --query-id with --projector"),
    };
    let signature = hex::decode(signed.signature.trim()).context("the signature is not hex")?;
    let result = ResultStatement {
        network_id: signed.network_id,
        dataset_id: signed.dataset_id,
        snapshot: signed.snapshot,
        query: signed.query,
        columns: signed.columns,
    };
    let expected = Expectation {
        network_id: args.network.unwrap_or_else(|| result.network_id.clone()),
        dataset_id: args.dataset.unwrap_or_else(|| result.dataset_id.clone()),
        min_snapshot: args.min_snapshot,
    };
    verify(&key, &result, &signature, &expected).with_context(|| format!("{source} does not verify"))?;
    let dataset_key = key.dataset_key(&result.dataset_id)?;
    println!(
        "{}",
        serde_json::json!({
            "verified": true,
            "network_id": result.network_id,
            "dataset_id": result.dataset_id,
            "snapshot": result.snapshot,
            "dataset_key": hex::encode(dataset_key.public_key),
        })
    );
    Ok(())
}
