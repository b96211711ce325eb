//! Sealing a message to its recipient, authenticated as its sender's: HPKE (RFC 9180) auth
//! mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305, the suite of
//! `triad-provider`'s bundles.
//!
//! Wire: `from (1) || to (1) || encapsulated key (32) || ciphertext`; `info` =
//! `"triad/signing/v1" || session || from || to`. The recipient opens with the public key of
//! the sender the header names, so a message opens only if that party sealed it.

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable as _, Kem as _, OpModeR, OpModeS, Serializable as _};
use triad_signing::{Message, PartyId, SessionId};
use zeroize::Zeroizing;

type Kem = X25519HkdfSha256;
const INFO_DOMAIN: &[u8] = b"triad/signing/v1";
const HEADER_LEN: usize = 2 + 32;

/// A party's X25519 public key (32 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(<Kem as hpke::Kem>::PublicKey);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.to_bytes()))
    }
}

impl PublicKey {
    /// From 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<PublicKey, SealError> {
        <Kem as hpke::Kem>::PublicKey::from_bytes(bytes).map(PublicKey).map_err(|_| SealError::BadKey)
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.0.to_bytes());
        out
    }
}

/// Why a message does not seal or open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// A key is not 32 bytes of X25519.
    #[error("not an X25519 key")]
    BadKey,
    /// Shorter than the header, or for another recipient.
    #[error("not a sealed message for this party")]
    NotForUs,
    /// The ciphertext does not open under the named sender's key.
    #[error("does not open as a message from {0}")]
    Unauthentic(PartyId),
    /// Opened, but the envelope inside disagrees with the header or the session.
    #[error("the sealed envelope disagrees with its header")]
    Mismatch,
    /// HPKE refused to seal.
    #[error("sealing failed")]
    Seal,
}

/// This party's secret key and the three parties' public keys. `Debug` shows no secret.
pub struct PartyKeys {
    me: PartyId,
    secret: <Kem as hpke::Kem>::PrivateKey,
    own_public: <Kem as hpke::Kem>::PublicKey,
    publics: [PublicKey; 3],
}

impl std::fmt::Debug for PartyKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartyKeys").field("me", &self.me).field("publics", &self.publics).finish_non_exhaustive()
    }
}

/// A fresh X25519 keypair: the 32 secret bytes (keep them private; wiped on drop) and the
/// public key.
pub fn generate_keypair() -> (Zeroizing<Vec<u8>>, PublicKey) {
    let mut rng = hpke::rand_core::UnwrapErr(getrandom::SysRng);
    let (secret, public) = Kem::gen_keypair_with_rng(&mut rng);
    (Zeroizing::new(secret.to_bytes().to_vec()), PublicKey(public))
}

impl PartyKeys {
    /// `me`'s keys: its 32-byte X25519 secret and the parties' public keys in party order.
    pub fn new(me: PartyId, secret: &[u8], publics: [PublicKey; 3]) -> Result<PartyKeys, SealError> {
        let secret = <Kem as hpke::Kem>::PrivateKey::from_bytes(secret).map_err(|_| SealError::BadKey)?;
        let own_public = Kem::sk_to_pk(&secret);
        if own_public != publics[me.index()].0 {
            return Err(SealError::BadKey);
        }
        Ok(PartyKeys { me, secret, own_public, publics })
    }

    /// This party.
    pub fn me(&self) -> PartyId {
        self.me
    }

    /// `party`'s public key.
    pub fn public_key(&self, party: PartyId) -> &PublicKey {
        &self.publics[party.index()]
    }

    /// Seals `message` (from this party) to its recipient.
    pub fn seal(&self, message: &Message) -> Result<Vec<u8>, SealError> {
        if message.from != self.me {
            return Err(SealError::Mismatch);
        }
        let mut rng = hpke::rand_core::UnwrapErr(getrandom::SysRng);
        let mode = OpModeS::Auth((self.secret.clone(), self.own_public.clone()));
        let info = info(message.session, message.from, message.to);
        let plaintext = Zeroizing::new(message.encode());
        let (enc, ciphertext) = hpke::single_shot_seal_with_rng::<ChaCha20Poly1305, HkdfSha256, Kem>(
            &mode,
            &self.publics[message.to.index()].0,
            &info,
            &plaintext,
            &[],
            &mut rng,
        )
        .map_err(|_| SealError::Seal)?;
        let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        out.push(message.from.index() as u8);
        out.push(message.to.index() as u8);
        out.extend_from_slice(&enc.to_bytes());
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Opens a sealed message of `session` addressed to this party.
    pub fn open(&self, session: SessionId, sealed: &[u8]) -> Result<Message, SealError> {
        let header = sealed.get(..HEADER_LEN).ok_or(SealError::NotForUs)?;
        let from = PartyId::new(header[0]).ok_or(SealError::NotForUs)?;
        if header[1] as usize != self.me.index() || from == self.me {
            return Err(SealError::NotForUs);
        }
        let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&header[2..]).map_err(|_| SealError::NotForUs)?;
        let mode = OpModeR::Auth(self.publics[from.index()].0.clone());
        let plaintext = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(
            &mode,
            &self.secret,
            &enc,
            &info(session, from, self.me),
            &sealed[HEADER_LEN..],
            &[],
        )
        .map_err(|_| SealError::Unauthentic(from))?;
        let plaintext = Zeroizing::new(plaintext);
        let message = Message::decode(&plaintext).map_err(|_| SealError::Mismatch)?;
        if message.from != from || message.to != self.me || message.session != session {
            return Err(SealError::Mismatch);
        }
        Ok(message)
    }
}

fn info(session: SessionId, from: PartyId, to: PartyId) -> Vec<u8> {
    let mut info = Vec::with_capacity(INFO_DOMAIN.len() + 34);
    info.extend_from_slice(INFO_DOMAIN);
    info.extend_from_slice(&session.0);
    info.push(from.index() as u8);
    info.push(to.index() as u8);
    info
}
