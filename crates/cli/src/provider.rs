//! `triad provider`: a data provider's side of client input. `share` splits
//! the value hidden in a TLSNotary presentation into the three parties'
//! sealed share bundles; `keygen` makes a party's bundle keypair.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use clap::Subcommand;
use serde::Deserialize;
use triad_notary::{
    Blinder, NotaryKey, ProverSecret, TrustAnchors, UnopenedCommitment, VerifiedPresentation, VerifierConfig, verify,
    verify_decoded,
};
use triad_provider::{
    BundleContext, DecimalFormat, ProvenValue, PublicKey, SecretKey, ShareCommitments, generate_keypair, make_bundles,
    open_bundle, os_rng,
};

#[derive(Subcommand)]
pub enum Command {
    /// Splits the hidden value of a presentation into three share bundles,
    /// each sealed (HPKE) to one party's public key: writes bundle-0.bin,
    /// bundle-1.bin, bundle-2.bin and the public share commitments
    /// (commitments.json), and prints their SHA-256 and the commitments as JSON.
    Share(ShareArgs),
    /// Makes a party's bundle keypair: the secret key (hex) goes to a new
    /// file readable only by you, the public key (hex) to stdout.
    Keygen(KeygenArgs),
    /// A party's check of a bundle it received: opens it with the party's
    /// secret key for the expected dataset, contribution and party, checks
    /// its two components against the provider's public commitments when
    /// given, and prints what it holds (lengths, format, commitment; never
    /// a share).
    Open(OpenArgs),
}

#[derive(clap::Args)]
pub struct ShareArgs {
    /// The presentation (upstream TLSNotary alpha.15 format).
    #[arg(long)]
    presentation: PathBuf,
    /// The prover's secret for the hidden value (secret.json: range,
    /// value_hex, blinder_hex, alg, commitment_hex).
    #[arg(long)]
    secret: PathBuf,
    /// The dataset the contribution is for.
    #[arg(long)]
    dataset: String,
    /// A party's public key as `INDEX=HEX` (64 hex digits, from `triad
    /// provider keygen`); give all three: 0=.., 1=.., 2=...
    #[arg(long = "party-key", required = true)]
    party_keys: Vec<String>,
    /// Directory for bundle-0.bin .. bundle-2.bin and commitments.json
    /// (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Contribution id, 32 hex digits; a random one when absent.
    #[arg(long)]
    contribution_id: Option<String>,
    /// The dataset's format: digits before the point.
    #[arg(long, default_value_t = 12)]
    max_integer_digits: u32,
    /// The dataset's format: digits after the point (the value is shared
    /// as value * 10^max_decimals).
    #[arg(long, default_value_t = 6)]
    max_decimals: u32,
    /// The dataset's format: binary fraction bits of the computation.
    #[arg(long, default_value_t = 16)]
    fraction_bits: u32,
    /// A trusted notary key, `secp256k1:<hex>` or `p256:<hex>`; repeat for
    /// several. Defaults to secret.json's notary_key when that parses.
    #[arg(long = "notary-key", env = "TRIAD_NOTARY_KEYS", value_delimiter = ',')]
    notary_keys: Vec<String>,
    /// A DER root certificate to trust for the server's chain instead of
    /// Mozilla's roots (the development notary writes ca.der); repeatable.
    #[arg(long = "trust-anchor")]
    trust_anchors: Vec<PathBuf>,
    /// Overwrite existing bundle files in --out.
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args)]
pub struct KeygenArgs {
    /// Where to write the secret key (hex); must not exist yet.
    #[arg(long, default_value = "party-key.secret")]
    secret_out: PathBuf,
}

#[derive(clap::Args)]
pub struct OpenArgs {
    /// The sealed bundle (bundle-I.bin).
    #[arg(long)]
    bundle: PathBuf,
    /// The party's secret key file (from `triad provider keygen`).
    #[arg(long)]
    key: PathBuf,
    /// The dataset the bundle must be for.
    #[arg(long)]
    dataset: String,
    /// The contribution id it must be for, 32 hex digits.
    #[arg(long)]
    contribution_id: String,
    /// The opening party's index: 0, 1 or 2.
    #[arg(long)]
    party: u8,
    /// The provider's public share commitments (commitments.json from
    /// `triad provider share`): check this party's two components against them.
    #[arg(long)]
    commitments: Option<PathBuf>,
}

/// commitments.json: the public share commitments, hex.
#[derive(Deserialize)]
struct CommitmentsJson {
    verifying_key: String,
    components: Vec<String>,
}

fn commitments_json(c: &ShareCommitments) -> serde_json::Value {
    serde_json::json!({
        "verifying_key": hex::encode(c.verifying_key),
        "components": c.components.iter().flatten().map(hex::encode).collect::<Vec<_>>(),
    })
}

fn read_commitments(path: &Path) -> Result<ShareCommitments> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let json: CommitmentsJson = serde_json::from_slice(&text)
        .with_context(|| format!("{}: expected the commitments.json of `triad provider share`", path.display()))?;
    let hex32 = |h: &str, what: &str| -> Result<[u8; 32]> {
        hex::decode(h)
            .ok()
            .and_then(|b| b.try_into().ok())
            .with_context(|| format!("{}: {what} must be 64 hex digits", path.display()))
    };
    let components: Vec<[u8; 32]> =
        json.components.iter().map(|c| hex32(c, "each component commitment")).collect::<Result<_>>()?;
    ensure!(
        !components.is_empty() && components.len().is_multiple_of(3),
        "{}: expected three component commitments per value, found {}",
        path.display(),
        components.len()
    );
    let components = components.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
    Ok(ShareCommitments { verifying_key: hex32(&json.verifying_key, "verifying_key")?, components })
}

/// The fields of secret.json this command reads (the upstream fixture's and
/// the development notary's shape).
#[derive(Deserialize)]
pub(crate) struct SecretJson {
    range: [usize; 2],
    value_hex: String,
    blinder_hex: String,
    alg: String,
    commitment_hex: String,
    #[serde(default)]
    notary_key: Option<String>,
}

pub fn run(cmd: Command) -> Result<()> {
    match cmd {
        Command::Share(args) => share(args),
        Command::Keygen(args) => keygen(&args),
        Command::Open(args) => open(&args),
    }
}

fn parse_party_keys(specs: &[String]) -> Result<[PublicKey; 3]> {
    let mut keys: [Option<PublicKey>; 3] = [None, None, None];
    for spec in specs {
        let (index, hex) = spec
            .split_once('=')
            .with_context(|| format!("--party-key {spec:?}: expected INDEX=HEX, e.g. 0=3b6a..."))?;
        let i: usize = match index.trim() {
            "0" => 0,
            "1" => 1,
            "2" => 2,
            other => bail!("--party-key {spec:?}: the party index must be 0, 1 or 2, not {other:?}"),
        };
        ensure!(keys[i].is_none(), "--party-key: party {i} is given twice");
        keys[i] =
            Some(PublicKey::from_hex(hex).with_context(|| {
                format!("--party-key {i}=...: expected 64 hex digits from `triad provider keygen`")
            })?);
    }
    let missing: Vec<String> = (0..3).filter(|&i| keys[i].is_none()).map(|i| i.to_string()).collect();
    ensure!(missing.is_empty(), "--party-key: missing party {}; give 0=HEX 1=HEX 2=HEX", missing.join(", "));
    let [Some(k0), Some(k1), Some(k2)] = keys else { bail!("--party-key: three keys needed") };
    Ok([k0, k1, k2])
}

pub(crate) fn read_secret(path: &Path) -> Result<(SecretJson, ProverSecret)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let json: SecretJson = serde_json::from_str(&text).with_context(|| {
        format!("{}: expected secret.json with range, value_hex, blinder_hex, alg, commitment_hex", path.display())
    })?;
    let value = hex::decode(&json.value_hex).with_context(|| format!("{}: value_hex is not hex", path.display()))?;
    let blinder: [u8; 16] = hex::decode(&json.blinder_hex)
        .ok()
        .and_then(|b| b.try_into().ok())
        .with_context(|| format!("{}: blinder_hex must be 32 hex digits (16 bytes)", path.display()))?;
    Ok((json, ProverSecret { value, blinder: Blinder(blinder) }))
}

fn share(args: ShareArgs) -> Result<()> {
    let party_keys = parse_party_keys(&args.party_keys)?;
    let format = DecimalFormat::new(args.max_integer_digits, args.max_decimals, args.fraction_bits)
        .context("--max-integer-digits/--max-decimals")?;
    let contribution_id: [u8; 16] = match &args.contribution_id {
        Some(h) => hex::decode(h.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .context("--contribution-id must be 32 hex digits (16 bytes)")?,
        None => random_contribution_id(),
    };
    let (json, secret) = read_secret(&args.secret)?;
    let keys = notary_keys(
        &args.notary_keys,
        &json,
        &args.secret,
        "pass --notary-key secp256k1:<hex> (or set TRIAD_NOTARY_KEYS)",
    )?;
    let anchors = Some(trust_anchors(&args.trust_anchors)?.unwrap_or_else(TrustAnchors::mozilla));
    let bytes =
        std::fs::read(&args.presentation).with_context(|| format!("reading {}", args.presentation.display()))?;
    let verified = verify_presentation(&args.presentation, &bytes, keys, anchors)?;
    let commitment = find_commitment(&verified, &args.presentation, &args.secret, &json)?;
    let [start, end] = json.range;

    let value = ProvenValue { secret: &secret, commitment: &commitment, format: &format };
    let sealed = make_bundles(&[value], &args.dataset, contribution_id, &party_keys, &mut os_rng())
        .context("making the share bundles")?;

    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let commitments_path = args.out.join("commitments.json");
    ensure!(
        args.force || !commitments_path.exists(),
        "{} exists; pass --force to overwrite or choose another --out",
        commitments_path.display()
    );
    let mut files = Vec::new();
    for b in &sealed.bundles {
        let path = args.out.join(format!("bundle-{}.bin", b.party().index()));
        ensure!(
            args.force || !path.exists(),
            "{} exists; pass --force to overwrite or choose another --out",
            path.display()
        );
        std::fs::write(&path, b.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
        files.push(serde_json::json!({
            "party": b.party().index(),
            "file": path.display().to_string(),
            "sha256": hex::encode(b.sha256()),
        }));
    }
    let commitments = commitments_json(&sealed.commitments);
    std::fs::write(&commitments_path, serde_json::to_string_pretty(&commitments)?)
        .with_context(|| format!("writing {}", commitments_path.display()))?;
    let report = serde_json::json!({
        "dataset_id": args.dataset,
        "contribution_id": hex::encode(contribution_id),
        "presentation_sha256": hex::encode(triad_provider::sha256(&bytes)),
        "commitment": { "alg": commitment.alg.name(), "hash": hex::encode(commitment.hash), "range": [start, end] },
        "bundles": files,
        "share_commitments": commitments,
        "share_commitments_file": commitments_path.display().to_string(),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// A fresh contribution id from the operating system's randomness (a version-4 UUID).
pub(crate) fn random_contribution_id() -> [u8; 16] {
    uuid::Uuid::new_v4().into_bytes()
}

/// The notary keys to pin: `specs`, or else secret.json's `notary_key` when that parses;
/// `hint` says how to give some.
pub(crate) fn notary_keys(specs: &[String], json: &SecretJson, secret: &Path, hint: &str) -> Result<Vec<NotaryKey>> {
    let mut key_specs = specs.to_vec();
    if key_specs.is_empty() {
        match json.notary_key.as_deref().filter(|k| NotaryKey::parse(k).is_ok()) {
            Some(k) => key_specs.push(k.to_owned()),
            None => bail!("no notary key: {hint}; {} has none that parses", secret.display()),
        }
    }
    key_specs
        .iter()
        .map(|k| {
            NotaryKey::parse(k).with_context(|| format!("notary key {k:?}: expected secp256k1:<hex> or p256:<hex>"))
        })
        .collect()
}

/// The DER root certificates in `paths` as trust anchors; `None` when there are none.
pub(crate) fn trust_anchors(paths: &[PathBuf]) -> Result<Option<TrustAnchors>> {
    if paths.is_empty() {
        return Ok(None);
    }
    let roots = paths
        .iter()
        .map(|p| std::fs::read(p).with_context(|| format!("reading trust anchor {}", p.display())))
        .collect::<Result<Vec<_>>>()?;
    let anchors = TrustAnchors::from_der_certs(roots.iter().map(Vec::as_slice))
        .context("--trust-anchor must be a DER certificate")?;
    Ok(Some(anchors))
}

/// Verifies the presentation `bytes` (read from `presentation`) under the pinned notary `keys`.
/// The server's certificate chain is checked against `anchors`; with `None` it is not checked
/// here (the coordinator checks it against the network's anchors).
pub(crate) fn verify_presentation(
    presentation: &Path,
    bytes: &[u8],
    keys: Vec<NotaryKey>,
    anchors: Option<TrustAnchors>,
) -> Result<VerifiedPresentation> {
    let mut config = VerifierConfig::new(keys);
    let verified = match anchors {
        Some(anchors) => {
            config.trust_anchors = anchors;
            verify(bytes, &config)
        }
        None => {
            config.require_identity = false;
            triad_notary::wire::decode(bytes).and_then(|mut p| {
                p.identity = None;
                verify_decoded(&p, &config)
            })
        }
    };
    verified.with_context(|| {
        format!("{} does not verify (check the pinned notary key and --trust-anchor)", presentation.display())
    })
}

/// The commitment secret.json (`json`, read from `secret`) opens among the hidden ones of the
/// verified presentation (read from `presentation`).
pub(crate) fn find_commitment(
    verified: &VerifiedPresentation,
    presentation: &Path,
    secret: &Path,
    json: &SecretJson,
) -> Result<UnopenedCommitment> {
    let [start, end] = json.range;
    let want_hash = hex::decode(&json.commitment_hex)
        .with_context(|| format!("{}: commitment_hex is not hex", secret.display()))?;
    verified
        .unopened_commitments
        .iter()
        .find(|c| c.ranges.as_slice() == std::slice::from_ref(&(start..end)) && c.hash.as_slice() == want_hash && c.alg.name() == json.alg)
        .cloned()
        .with_context(|| {
            format!(
                "{}'s commitment ({} over received bytes {start}..{end}) is not among the presentation's unopened commitments: is it the secret of {}?",
                secret.display(),
                json.alg,
                presentation.display()
            )
        })
}

fn keygen(args: &KeygenArgs) -> Result<()> {
    let (sk, pk) = generate_keypair(&mut os_rng());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(&args.secret_out).with_context(|| {
        format!("creating {} (it must not exist yet; choose another --secret-out)", args.secret_out.display())
    })?;
    use std::io::Write as _;
    writeln!(file, "{}", sk.to_hex()).with_context(|| format!("writing {}", args.secret_out.display()))?;
    eprintln!("secret key written to {} (keep it private)", args.secret_out.display());
    println!("{}", pk.to_hex());
    Ok(())
}

fn open(args: &OpenArgs) -> Result<()> {
    let party = triad_mpc_core::PartyId::new(args.party)
        .with_context(|| format!("--party must be 0, 1 or 2, not {}", args.party))?;
    let contribution_id: [u8; 16] = hex::decode(args.contribution_id.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .context("--contribution-id must be 32 hex digits (16 bytes)")?;
    let key_text = std::fs::read_to_string(&args.key).with_context(|| format!("reading {}", args.key.display()))?;
    let key = SecretKey::from_hex(&key_text).with_context(|| {
        format!("{}: expected the 64 hex digits written by `triad provider keygen`", args.key.display())
    })?;
    let bytes = std::fs::read(&args.bundle).with_context(|| format!("reading {}", args.bundle.display()))?;
    let ctx = BundleContext::new(&args.dataset, contribution_id, party);
    let opened = open_bundle(&bytes, &key, &ctx).with_context(|| format!("{} does not open", args.bundle.display()))?;
    let components_checked = match &args.commitments {
        None => false,
        Some(path) => {
            let public = read_commitments(path)?;
            let proofs = opened
                .check_components(&public)
                .with_context(|| format!("{} is unusable against {}", args.bundle.display(), path.display()))?;
            if let Some(p) = proofs.first() {
                bail!(
                    "the provider equivocated: this party's copy of component {} of value {} does not open its public \
                     commitment (the provider's signature on it is a proof)",
                    p.opening.component,
                    p.opening.column
                );
            }
            true
        }
    };
    let values: Vec<serde_json::Value> = opened
        .columns
        .iter()
        .map(|v| {
            let c = &v.commitment;
            serde_json::json!({
                "value_len": v.value_len,
                "value_max_len": v.value_max_len,
                "format": {
                    "max_integer_digits": v.format.max_integer_digits,
                    "max_decimals": v.format.max_decimals,
                    "fraction_bits": v.format.fraction_bits,
                },
                "commitment": { "alg": c.algorithm, "hash": hex::encode(&c.hash), "range": [c.start, c.end] },
            })
        })
        .collect();
    let report = serde_json::json!({
        "dataset_id": ctx.dataset_id,
        "contribution_id": hex::encode(contribution_id),
        "party": party.index(),
        "sha256": hex::encode(triad_provider::sha256(&bytes)),
        "values": values,
        "components_checked": components_checked,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
