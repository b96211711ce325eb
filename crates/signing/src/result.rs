//! The canonical encoding of a published result, the bytes whose SHA-256 the parties sign
//! (`docs/protocols/signing.md` §2).

use sha2::{Digest as _, Sha256};

/// Domain separation: the first field of every encoding.
pub const RESULT_DOMAIN: &str = "triad/result/v1";

/// One column of a result: its name and the exact value as a decimal string (as
/// `ResultValue` in the events).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResultColumn {
    /// The column's name.
    pub name: String,
    /// The decimal value.
    pub value: String,
}

/// What a result signature covers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResultStatement {
    /// The network that computed it.
    pub network_id: String,
    /// The dataset queried.
    pub dataset_id: String,
    /// The snapshot: the position in the dataset's log the query saw.
    pub snapshot: u64,
    /// The query text, as submitted.
    pub query: String,
    /// The result's columns, in the result's order.
    pub columns: Vec<ResultColumn>,
}

impl ResultStatement {
    /// `str(RESULT_DOMAIN) || str(network_id) || str(dataset_id) || u64(snapshot) ||
    /// str(query) || u32(column count) || (str(name) || str(value))*`, where `str(x)` is the
    /// UTF-8 byte length as `u32` big-endian then the bytes, and integers are big-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        put_str(&mut out, RESULT_DOMAIN);
        put_str(&mut out, &self.network_id);
        put_str(&mut out, &self.dataset_id);
        out.extend_from_slice(&self.snapshot.to_be_bytes());
        put_str(&mut out, &self.query);
        out.extend_from_slice(&(self.columns.len() as u32).to_be_bytes());
        for column in &self.columns {
            put_str(&mut out, &column.name);
            put_str(&mut out, &column.value);
        }
        out
    }

    /// SHA-256 of [`ResultStatement::encode`]: the digest signed (ECDSA's prehash).
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.encode()).into()
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}
