//! The prover's secret for one hidden value, in the shape of the upstream
//! fixture's `secret.json`.

use std::ops::Range;

use serde::{Deserialize, Serialize};
use triad_notary::{Blinder, Direction, HashAlg, ProverSecret};

use crate::DevNotaryError;

/// What the provider keeps: the hidden value, its blinder and where the
/// commitment is. `Debug` is opaque (value and blinder are secret).
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedSecret {
    /// Direction of the committed bytes (received).
    pub direction: Direction,
    /// The committed range of the transcript.
    pub range: Range<usize>,
    /// The committed bytes: the value's digits as the exchange wrote them.
    pub value: Vec<u8>,
    /// The commitment's blinder.
    pub blinder: Blinder,
    /// The commitment's hash algorithm.
    pub alg: HashAlg,
    /// The commitment: `alg(value || blinder)`.
    pub commitment: Vec<u8>,
    /// The server the value came from.
    pub server_name: String,
    /// The notary that attested it, `secp256k1:<hex>`.
    pub notary_key: String,
}

impl std::fmt::Debug for IssuedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSecret")
            .field("direction", &self.direction)
            .field("range", &self.range)
            .field("alg", &self.alg)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// `secret.json`, as in `notary/fixtures/tlsn/hidden/secret.json`.
#[derive(Serialize, Deserialize)]
struct SecretJson {
    direction: Direction,
    range: [usize; 2],
    value_utf8: String,
    value_hex: String,
    blinder_hex: String,
    alg: String,
    commitment_hex: String,
    server_name: String,
    notary_key: String,
}

impl IssuedSecret {
    /// What `triad_notary::check_commitment` takes.
    pub fn prover_secret(&self) -> ProverSecret {
        ProverSecret { value: self.value.clone(), blinder: self.blinder.clone() }
    }

    /// The secret as pretty JSON (it contains the blinder: keep it private).
    pub fn to_json(&self) -> String {
        let json = SecretJson {
            direction: self.direction,
            range: [self.range.start, self.range.end],
            value_utf8: String::from_utf8_lossy(&self.value).into_owned(),
            value_hex: hex::encode(&self.value),
            blinder_hex: hex::encode(self.blinder.0),
            alg: self.alg.name().to_owned(),
            commitment_hex: hex::encode(&self.commitment),
            server_name: self.server_name.clone(),
            notary_key: self.notary_key.clone(),
        };
        serde_json::to_string_pretty(&json).unwrap_or_default()
    }

    /// Parses [`IssuedSecret::to_json`]'s output.
    pub fn from_json(text: &str) -> Result<Self, DevNotaryError> {
        let bad = |m: &str| DevNotaryError::Config(format!("secret.json: {m}"));
        let j: SecretJson = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
        let blinder = hex::decode(&j.blinder_hex)
            .ok()
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .ok_or_else(|| bad("blinder_hex must be 16 bytes of hex"))?;
        let alg = match j.alg.as_str() {
            "blake3" => HashAlg::Blake3,
            "sha256" => HashAlg::Sha256,
            "keccak256" => HashAlg::Keccak256,
            _ => return Err(bad("unknown alg")),
        };
        let [start, end] = j.range;
        Ok(Self {
            direction: j.direction,
            range: start..end,
            value: hex::decode(&j.value_hex).map_err(|_| bad("value_hex is not hex"))?,
            blinder: Blinder(blinder),
            alg,
            commitment: hex::decode(&j.commitment_hex).map_err(|_| bad("commitment_hex is not hex"))?,
            server_name: j.server_name,
            notary_key: j.notary_key,
        })
    }
}
