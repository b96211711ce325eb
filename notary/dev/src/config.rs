//! Configuration of the development notary.

use std::net::{Ipv4Addr, SocketAddr};

use triad_notary::HashAlg;
use triad_notary::template::MAX_VALUE_FIELDS;

use crate::{DevNotaryError, UID_FIELD, VALUE_FIELD};

/// The exchange's disclosed text field besides the uid.
const ASSET_FIELD: &str = "asset";

/// Default DNS name of the mock exchange (never resolved: the notary
/// connects to the exchange's socket address and presents this name).
pub const DEFAULT_SERVER_NAME: &str = "exchange.triad.test";

/// Configuration of [`crate::DevNotary`].
///
/// DEVELOPMENT ONLY: the notary this configures sees every plaintext it
/// attests, including the hidden values. Never use it for real data.
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
    /// The response fields hidden, each behind its own commitment, in the
    /// template's order: `balance` and names of the accounts' `values`
    /// (1 to [`MAX_VALUE_FIELDS`], distinct). Default: `["balance"]`.
    pub value_fields: Vec<String>,
    /// The exchange's accounts; each must have every value field.
    pub accounts: Vec<Account>,
}

impl DevNotaryConfig {
    /// Checks the accounts and the value fields, and that every account has
    /// every value field ([`crate::DevNotary::start`] does this too).
    pub fn validate(&self) -> Result<(), DevNotaryError> {
        let fields = &self.value_fields;
        if fields.is_empty() || fields.len() > MAX_VALUE_FIELDS {
            return Err(DevNotaryError::Config(format!("1 to {MAX_VALUE_FIELDS} value fields, not {}", fields.len())));
        }
        for (i, field) in fields.iter().enumerate() {
            if field == UID_FIELD || field == ASSET_FIELD {
                return Err(DevNotaryError::Config(format!("value field {field}: the exchange discloses it")));
            }
            if !is_value_name(field) {
                return Err(DevNotaryError::Config(format!(
                    "value field {field:?}: expected ASCII letters, digits, '_' or '-' (a top-level key of the \
                     exchange's JSON)"
                )));
            }
            if fields.iter().skip(i + 1).any(|f| f == field) {
                return Err(DevNotaryError::Config(format!("value field {field} is named twice")));
            }
        }
        for account in &self.accounts {
            account.validate()?;
            if let Some(field) = fields.iter().find(|f| account.value(f).is_none()) {
                return Err(DevNotaryError::Config(format!(
                    "account {} has no value {field} (every account needs every value field: {})",
                    account.uid,
                    fields.join(", ")
                )));
            }
        }
        Ok(())
    }
}

impl Default for DevNotaryConfig {
    fn default() -> Self {
        Self {
            server_name: DEFAULT_SERVER_NAME.to_owned(),
            exchange_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            notary_secret: None,
            commitment_alg: CommitmentAlg::Blake3,
            value_fields: vec![VALUE_FIELD.to_owned()],
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
///
/// Its JSON is `{"uid":…,"balance":…,<values in order>,"asset":…}`, every
/// value a JSON number; `balance` and any of `values` can be hidden.
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
    /// Further named decimals (`("trades", "17")`), written into the JSON
    /// after the balance in this order. Names are ASCII letters, digits,
    /// `_` or `-`, distinct, and not `uid`, `balance` or `asset`.
    pub values: Vec<(String, String)>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("uid", &self.uid)
            .field("balance", &self.balance)
            .field("asset", &self.asset)
            .field("values", &self.values)
            .finish_non_exhaustive()
    }
}

impl Account {
    /// An account without further values; the balance must be a decimal
    /// (`0`, `12.345`, `-1.5`).
    pub fn new(token: &str, uid: &str, balance: &str, asset: &str) -> Result<Self, DevNotaryError> {
        let account = Self {
            token: token.to_owned(),
            uid: uid.to_owned(),
            balance: balance.to_owned(),
            asset: asset.to_owned(),
            values: Vec::new(),
        };
        account.validate()?;
        Ok(account)
    }

    /// The account with a further named decimal value (see [`Account::values`]).
    pub fn with_value(mut self, name: &str, decimal: &str) -> Result<Self, DevNotaryError> {
        self.values.push((name.to_owned(), decimal.to_owned()));
        self.validate()?;
        Ok(self)
    }

    /// The decimal text of value field `field`: the balance or one of `values`.
    pub fn value(&self, field: &str) -> Option<&str> {
        if field == VALUE_FIELD {
            return Some(&self.balance);
        }
        self.values.iter().find(|(name, _)| name == field).map(|(_, v)| v.as_str())
    }

    /// Parses `TOKEN:UID:BALANCE[:ASSET][,FIELD=DECIMAL...]` (asset `ETH` by
    /// default), for example `tok:u-1:12.5:ETH,trades=17,fees=0.25`. Token,
    /// uid and asset cannot hold `,` in this form.
    pub fn parse(spec: &str) -> Result<Self, DevNotaryError> {
        let mut items = spec.split(',');
        let parts: Vec<&str> = items.next().unwrap_or_default().split(':').collect();
        let mut account = match parts.as_slice() {
            [token, uid, balance] => Self::new(token, uid, balance, "ETH"),
            [token, uid, balance, asset] => Self::new(token, uid, balance, asset),
            _ => Err(DevNotaryError::Config("an account is TOKEN:UID:BALANCE[:ASSET][,FIELD=DECIMAL...]".into())),
        }?;
        for item in items {
            let (name, decimal) = item.split_once('=').ok_or_else(|| {
                DevNotaryError::Config(format!("account {}: value {item:?} is not FIELD=DECIMAL", account.uid))
            })?;
            account = account.with_value(name, decimal)?;
        }
        Ok(account)
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
                values: Vec::new(),
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
        for (i, (name, decimal)) in self.values.iter().enumerate() {
            if !is_value_name(name) {
                return Err(bad(&format!("value name {name:?} must be ASCII letters, digits, '_' or '-'")));
            }
            if [UID_FIELD, VALUE_FIELD, ASSET_FIELD].contains(&name.as_str()) {
                return Err(bad(&format!("value name {name} is reserved")));
            }
            if self.values.iter().skip(i + 1).any(|(other, _)| other == name) {
                return Err(bad(&format!("value {name} is given twice")));
            }
            if !is_decimal(decimal) {
                return Err(bad(&format!("value {name} must be a decimal such as 12.345")));
            }
        }
        Ok(())
    }

    /// The exchange's JSON for this account.
    pub(crate) fn json(&self) -> String {
        // Strings and names through serde_json for escaping; the values are
        // validated decimals, written as JSON numbers.
        let text = |t: &str| serde_json::Value::from(t).to_string();
        let mut json = format!(r#"{{"uid":{},"balance":{}"#, text(&self.uid), self.balance);
        for (name, decimal) in &self.values {
            json.push_str(&format!(",{}:{decimal}", text(name)));
        }
        json.push_str(&format!(r#","asset":{}}}"#, text(&self.asset)));
        json
    }
}

/// A value name: a top-level JSON key written verbatim, a one-segment JSON
/// path, and safe in an account spec and a file name.
fn is_value_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
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
