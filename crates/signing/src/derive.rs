//! Per-dataset keys: BIP32 non-hardened derivation (CKDpub / CKDpriv with public tweaks)
//! along a path fixed by the dataset id (`docs/protocols/signing.md` §3); request keys (an
//! operator's general signing requests) the same way along a path under another domain, so
//! no request path is a dataset path and an operator's request never yields a signature under
//! a dataset's key.
//!
//! The path is eight non-hardened indices, the SHA-256 of `"triad/dataset-key/v1" ||
//! dataset id` read as eight big-endian `u32` with the top bit cleared (248 bits, so two
//! datasets share a key only on a hash collision). Step `i` from `(K, c)`:
//! `I = HMAC-SHA512(key = c, data = SEC1-compressed(K) || index_i as u32 big-endian)`,
//! `K' = K + I_L * G`, `c' = I_R`, exactly BIP32's public derivation, so any BIP32 library
//! reproduces it from the network's public key and chain code.

use k256::elliptic_curve::PrimeField as _;
use k256::elliptic_curve::sec1::ToEncodedPoint as _;
use sha2::{Digest as _, Sha256};

use crate::{DeriveError, KeyError};

/// Domain of the dataset path.
const PATH_DOMAIN: &[u8] = b"triad/dataset-key/v1";
/// Domain of the request path.
const REQUEST_PATH_DOMAIN: &[u8] = b"triad/request-key/v1";
/// Indices in a dataset's (or a request key's) path.
pub const PATH_LEN: usize = 8;

/// The derivation path of `dataset`'s key.
pub fn dataset_path(dataset: &str) -> [u32; PATH_LEN] {
    hashed_path(PATH_DOMAIN, dataset)
}

/// The derivation path of the request key named `path` (an operator's signing requests):
/// [`dataset_path`]'s construction under the domain `"triad/request-key/v1"`, so request and
/// dataset keys are apart (they meet only on a SHA-256 collision).
pub fn request_path(path: &str) -> [u32; PATH_LEN] {
    hashed_path(REQUEST_PATH_DOMAIN, path)
}

/// SHA-256 of `domain || name` as eight big-endian `u32` with the top bit cleared.
fn hashed_path(domain: &[u8], name: &str) -> [u32; PATH_LEN] {
    let digest = Sha256::new().chain_update(domain).chain_update(name.as_bytes()).finalize();
    let mut path = [0u32; PATH_LEN];
    for (index, word) in path.iter_mut().zip(digest.chunks_exact(4)) {
        *index = u32::from_be_bytes([word[0], word[1], word[2], word[3]]) & 0x7fff_ffff;
    }
    path
}

/// The network's public key and BIP32 chain code: all a consumer needs to check any dataset's
/// results. Bytes: the 33-byte compressed point, then the 32-byte chain code (65 bytes, 130
/// hex digits).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NetworkKey {
    /// SEC1 compressed secp256k1 point.
    pub public_key: [u8; 33],
    /// BIP32 chain code.
    pub chain_code: [u8; 32],
}

impl std::fmt::Debug for NetworkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NetworkKey({})", self.to_hex())
    }
}

impl NetworkKey {
    /// The 65 bytes.
    pub fn to_bytes(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[..33].copy_from_slice(&self.public_key);
        out[33..].copy_from_slice(&self.chain_code);
        out
    }

    /// From the 65 bytes; the point must be on the curve.
    pub fn from_bytes(bytes: &[u8]) -> Result<NetworkKey, KeyError> {
        if bytes.len() != 65 {
            return Err(KeyError::MalformedPublicKey("a network key is 65 bytes"));
        }
        let mut key = NetworkKey { public_key: [0; 33], chain_code: [0; 32] };
        key.public_key.copy_from_slice(&bytes[..33]);
        key.chain_code.copy_from_slice(&bytes[33..]);
        parse_point(&key.public_key)?;
        Ok(key)
    }

    /// 130 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.to_bytes())
    }

    /// From 130 hex digits.
    pub fn from_hex(text: &str) -> Result<NetworkKey, KeyError> {
        let bytes = hex::decode(text.trim()).map_err(|_| KeyError::MalformedPublicKey("not hex"))?;
        NetworkKey::from_bytes(&bytes)
    }

    /// `dataset`'s public key, derived from this key alone.
    pub fn dataset_key(&self, dataset: &str) -> Result<DatasetKey, DeriveError> {
        self.derive_path(dataset_path(dataset))
    }

    /// The public key of the request key named `path` (along [`request_path`]), derived from
    /// this key alone: what an operator's signature for `path` verifies under. Never a
    /// dataset's key.
    pub fn request_key(&self, path: &str) -> Result<DatasetKey, DeriveError> {
        self.derive_path(request_path(path))
    }

    /// The public child along `path`.
    fn derive_path(&self, path: [u32; PATH_LEN]) -> Result<DatasetKey, DeriveError> {
        let mut key = *self;
        for (step, index) in path.into_iter().enumerate() {
            key = key.child(index).map_err(|_| DeriveError::InvalidChild { step })?;
        }
        Ok(DatasetKey { public_key: key.public_key })
    }

    /// BIP32 CKDpub: the non-hardened child `index` (below 2^31).
    pub fn child(&self, index: u32) -> Result<NetworkKey, DeriveError> {
        let invalid = DeriveError::InvalidChild { step: 0 };
        if index >= 1 << 31 {
            return Err(invalid);
        }
        let point = parse_point(&self.public_key).map_err(|_| invalid.clone())?;
        let hmac_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA512, &self.chain_code);
        let mut data = [0u8; 37];
        data[..33].copy_from_slice(&self.public_key);
        data[33..].copy_from_slice(&index.to_be_bytes());
        let tag = ring::hmac::sign(&hmac_key, &data);
        let (left, right) = tag.as_ref().split_at(32);
        let mut tweak = k256::FieldBytes::default();
        tweak.copy_from_slice(left);
        let tweak = Option::<k256::Scalar>::from(k256::Scalar::from_repr(tweak)).ok_or(invalid.clone())?;
        let child = k256::ProjectivePoint::GENERATOR * tweak + point.to_projective();
        let child = k256::PublicKey::from_affine(child.into()).map_err(|_| invalid)?;
        let mut key = NetworkKey { public_key: [0; 33], chain_code: [0; 32] };
        key.public_key.copy_from_slice(child.to_encoded_point(true).as_bytes());
        key.chain_code.copy_from_slice(right);
        Ok(key)
    }
}

/// One dataset's public key (SEC1 compressed), the key its results are signed under; also
/// the type of a request key ([`NetworkKey::request_key`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DatasetKey {
    /// SEC1 compressed secp256k1 point.
    pub public_key: [u8; 33],
}

impl std::fmt::Debug for DatasetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatasetKey({})", hex::encode(self.public_key))
    }
}

impl DatasetKey {
    /// From 33 bytes; the point must be on the curve.
    pub fn from_bytes(bytes: &[u8]) -> Result<DatasetKey, KeyError> {
        let public_key: [u8; 33] =
            bytes.try_into().map_err(|_| KeyError::MalformedPublicKey("a dataset key is 33 bytes"))?;
        parse_point(&public_key)?;
        Ok(DatasetKey { public_key })
    }

    /// The k256 verifying key.
    pub(crate) fn verifying_key(&self) -> Result<k256::ecdsa::VerifyingKey, KeyError> {
        k256::ecdsa::VerifyingKey::from_sec1_bytes(&self.public_key)
            .map_err(|_| KeyError::MalformedPublicKey("not a point on secp256k1"))
    }
}

fn parse_point(bytes: &[u8; 33]) -> Result<k256::PublicKey, KeyError> {
    k256::PublicKey::from_sec1_bytes(bytes).map_err(|_| KeyError::MalformedPublicKey("not a point on secp256k1"))
}
