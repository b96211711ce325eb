//! Party keys for sealing share bundles: X25519 (HPKE's DHKEM(X25519,
//! HKDF-SHA256)). A party publishes its public key; providers seal to it.

use hpke::kem::X25519HkdfSha256;
use hpke::rand_core::CryptoRng;
use hpke::{Deserializable as _, Kem as _, Serializable as _};

use crate::ProviderError;
use crate::open::Opener;

pub(crate) type Kem = X25519HkdfSha256;

/// A party's public key (32 bytes, X25519).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(pub(crate) <Kem as hpke::Kem>::PublicKey);

/// A party's secret key, with what opening needs derived once. `Debug` is opaque; the key and
/// the derived scalar are wiped when dropped.
#[derive(Clone)]
pub struct SecretKey {
    key: <Kem as hpke::Kem>::PrivateKey,
    pub(crate) opener: Opener,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// A fresh party keypair from `rng`.
pub fn generate_keypair(rng: &mut impl CryptoRng) -> (SecretKey, PublicKey) {
    let (sk, pk) = Kem::gen_keypair_with_rng(rng);
    (SecretKey::new(sk), PublicKey(pk))
}

impl PublicKey {
    /// The 32 raw bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.0.to_bytes());
        out
    }

    /// From 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProviderError> {
        <Kem as hpke::Kem>::PublicKey::from_bytes(bytes)
            .map(Self)
            .map_err(|_| ProviderError::BadKey("a public key is 32 bytes (X25519)"))
    }

    /// 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.to_bytes())
    }

    /// From 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, ProviderError> {
        let bytes = hex::decode(text.trim()).map_err(|_| ProviderError::BadKey("a public key is 64 hex digits"))?;
        Self::from_bytes(&bytes)
    }
}

impl SecretKey {
    fn new(key: <Kem as hpke::Kem>::PrivateKey) -> SecretKey {
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&key.to_bytes());
        SecretKey { opener: Opener::new(&bytes), key }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(Kem::sk_to_pk(&self.key))
    }

    /// The 32 raw bytes (a secret: wiped when dropped).
    pub fn to_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        let mut out = zeroize::Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&self.key.to_bytes());
        out
    }

    /// 64 lower-case hex digits (a secret: write it only to a private file).
    pub fn to_hex(&self) -> String {
        hex::encode(self.key.to_bytes())
    }

    /// From 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, ProviderError> {
        let bytes = hex::decode(text.trim()).map_err(|_| ProviderError::BadKey("a secret key is 64 hex digits"))?;
        <Kem as hpke::Kem>::PrivateKey::from_bytes(&bytes)
            .map(Self::new)
            .map_err(|_| ProviderError::BadKey("a secret key is 32 bytes (X25519)"))
    }
}
