//! Configuration of the development notary.

use std::net::{Ipv4Addr, SocketAddr};

use triad_notary::HashAlg;

use crate::DevNotaryError;

/// Default DNS name of the mock exchange (never resolved: the notary
/// connects to the exchange's socket address and presents this name).
pub const DEFAULT_SERVER_NAME: &str = "exchange.triad.test";

/// Configuration of [`crate::DevNotary`].
///
/// DEVELOPMENT ONLY: the notary this configures sees every plaintext it
/// attests, including the hidden balance. Never use it for real data.
#[derive(Debug, Clone)]
pub struct DevNotaryConfig {
    /// Name in the exchange's certificate and in the presentations.
    pub server_name: String,
    /// Where the mock exchange listens (`127.0.0.1:0` by default).
    pub exchange_addr: SocketAddr,
    /// The notary's secp256k1 secret key; a fresh one when `None`.
    pub notary_secret: Option<NotarySecret>,
    /// Algorithm of the plaintext hash commitments (BLAKE3 or SHA-256).
    pub commitment_alg: CommitmentAlg,
    /// The exchange's accounts.
    pub accounts: Vec<Account>,
}

impl Default for DevNotaryConfig {
    fn default() -> Self {
        Self {
            server_name: DEFAULT_SERVER_NAME.to_owned(),
            exchange_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            notary_secret: None,
            commitment_alg: CommitmentAlg::Blake3,
            accounts: Account::demo(),
        }
    }
}

/// Plaintext hash commitment algorithms the development notary offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommitmentAlg {
    /// BLAKE3 (upstream's default).
    #[default]
    Blake3,
    /// SHA-256.
    Sha256,
}

impl CommitmentAlg {
    /// The format's hash algorithm.
    pub fn hash_alg(self) -> HashAlg {
        match self {
            Self::Blake3 => HashAlg::Blake3,
            Self::Sha256 => HashAlg::Sha256,
        }
    }
}

impl std::str::FromStr for CommitmentAlg {
    type Err = DevNotaryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "blake3" => Ok(Self::Blake3),
            "sha256" | "sha-256" => Ok(Self::Sha256),
            other => Err(DevNotaryError::Config(format!("unknown commitment algorithm {other:?} (blake3 or sha256)"))),
        }
    }
}

/// A secp256k1 secret key. Its `Debug` is opaque.
#[derive(Clone, PartialEq, Eq)]
pub struct NotarySecret(pub [u8; 32]);

impl NotarySecret {
    /// From 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, DevNotaryError> {
        let bytes = hex::decode(text.trim()).map_err(|_| DevNotaryError::Config("notary secret is not hex".into()))?;
        let secret = <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| DevNotaryError::Config("notary secret must be 32 bytes".into()))?;
        Ok(Self(secret))
    }

    /// 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Debug for NotarySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NotarySecret(..)")
    }
}

/// An account of the mock exchange.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// The bearer token that unlocks it (a credential: kept out of `Debug`).
    pub token: String,
    /// The account's unique id, disclosed in presentations (the Sybil key).
    pub uid: String,
    /// The balance as a decimal (`12.345`), written into the JSON verbatim.
    pub balance: String,
    /// The asset (`ETH`).
    pub asset: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("uid", &self.uid)
            .field("balance", &self.balance)
            .field("asset", &self.asset)
            .finish_non_exhaustive()
    }
}

impl Account {
    /// An account; the balance must be a decimal (`0`, `12.345`, `-1.5`).
    pub fn new(token: &str, uid: &str, balance: &str, asset: &str) -> Result<Self, DevNotaryError> {
        let account =
            Self { token: token.to_owned(), uid: uid.to_owned(), balance: balance.to_owned(), asset: asset.to_owned() };
        account.validate()?;
        Ok(account)
    }

    /// Parses `TOKEN:UID:BALANCE[:ASSET]` (asset `ETH` by default).
    pub fn parse(spec: &str) -> Result<Self, DevNotaryError> {
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.as_slice() {
            [token, uid, balance] => Self::new(token, uid, balance, "ETH"),
            [token, uid, balance, asset] => Self::new(token, uid, balance, asset),
            _ => Err(DevNotaryError::Config("an account is TOKEN:UID:BALANCE[:ASSET]".into())),
        }
    }

    /// Three demo accounts: tokens `alice-token`, `bob-token`, `carol-token`.
    pub fn demo() -> Vec<Self> {
        [("alice-token", "u-alice", "12.345"), ("bob-token", "u-bob", "0.5"), ("carol-token", "u-carol", "1000")]
            .into_iter()
            .map(|(token, uid, balance)| Self {
                token: token.to_owned(),
                uid: uid.to_owned(),
                balance: balance.to_owned(),
                asset: "ETH".to_owned(),
            })
            .collect()
    }

    pub(crate) fn validate(&self) -> Result<(), DevNotaryError> {
        let bad = |what: &str| DevNotaryError::Config(format!("account {}: {what}", self.uid));
        if !is_decimal(&self.balance) {
            return Err(bad("balance must be a decimal such as 12.345"));
        }
        let token_ok = !self.token.is_empty() && self.token.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        if !token_ok {
            return Err(bad("token must be non-empty printable ASCII without ':'"));
        }
        if self.uid.is_empty() || self.uid.chars().any(char::is_control) {
            return Err(bad("uid must be non-empty without control characters"));
        }
        if self.asset.chars().any(char::is_control) {
            return Err(bad("asset must not contain control characters"));
        }
        Ok(())
    }

    /// The exchange's JSON for this account.
    pub(crate) fn json(&self) -> String {
        // uid and asset through serde_json for escaping; the balance is a
        // validated decimal, written as a JSON number.
        format!(
            r#"{{"uid":{},"balance":{},"asset":{}}}"#,
            serde_json::Value::from(self.uid.as_str()),
            self.balance,
            serde_json::Value::from(self.asset.as_str()),
        )
    }
}

/// `-?digits(.digits)?`: a JSON number without exponent.
pub(crate) fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    digits(int) && (int.len() == 1 || !int.starts_with('0')) && frac.is_none_or(digits)
}
