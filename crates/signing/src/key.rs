//! A party's key share: the library's party state (its Shamir point of the secret key, the
//! zero-share seeds and the pairwise OT state signing reuses), with the public key and what
//! the key is ([`Derivation`]).

use k256_dkls::elliptic_curve::group::GroupEncoding as _;
use zeroize::Zeroizing;

use crate::derive::{NetworkKey, PATH_LEN, dataset_path, request_path};
use crate::{DeriveError, KeyError, LibParty, PartyId};

/// Version byte [`KeyShare::to_bytes`] writes. Version 1 (read still) had no kind byte: a
/// name of length 0 was the network key, any other a dataset.
const SHARE_VERSION: u8 = 2;
/// The first version, without [`Derivation`]'s kind byte.
const SHARE_VERSION_1: u8 = 1;

/// Which key a share is a share of: the network key or one of the keys derived from it.
/// Dataset keys sign results; request keys sign an operator's requests. The two are apart
/// (different derivation domains, a different kind in the stored share), so an operator's
/// request never makes a signature under a dataset's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Derivation {
    /// The network key itself (from the DKG or a refresh).
    Network,
    /// The key of the named dataset ([`KeyShare::derive`], [`NetworkKey::dataset_key`]).
    Dataset(String),
    /// The request key of the named path ([`KeyShare::derive_request`],
    /// [`NetworkKey::request_key`]).
    Request(String),
}

impl Derivation {
    /// The kind byte of the stored share and the name (empty for the network key).
    fn encode(&self) -> (u8, &str) {
        match self {
            Derivation::Network => (0, ""),
            Derivation::Dataset(name) => (1, name),
            Derivation::Request(path) => (2, path),
        }
    }

    fn decode(kind: u8, name: &str) -> Option<Derivation> {
        match (kind, name) {
            (0, "") => Some(Derivation::Network),
            (1, name) => Some(Derivation::Dataset(name.to_owned())),
            (2, path) => Some(Derivation::Request(path.to_owned())),
            _ => None,
        }
    }
}

/// One party's share of the network key (or of a key derived from it, [`Derivation`]).
/// Secret: `Debug` shows the party, public key and derivation only; the library zeroizes the
/// state on drop. Store it encrypted at rest ([`KeyShare::to_bytes`] is the plaintext to
/// encrypt).
#[derive(Clone)]
pub struct KeyShare {
    pub(crate) party: LibParty,
    /// What this share is a share of.
    pub(crate) derivation: Derivation,
}

impl std::fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyShare")
            .field("party", &self.party_id())
            .field("public_key", &hex::encode(self.public_key()))
            .field("derivation", &self.derivation)
            .finish_non_exhaustive()
    }
}

impl KeyShare {
    pub(crate) fn new(party: LibParty) -> KeyShare {
        KeyShare { party, derivation: Derivation::Network }
    }

    /// The party holding it.
    pub fn party_id(&self) -> PartyId {
        PartyId::from_lib(self.party.party_index)
            .unwrap_or_else(|| unreachable!("shares are made for parties 1..=3 by this crate"))
    }

    /// The public key, SEC1 compressed (33 bytes).
    pub fn public_key(&self) -> [u8; 33] {
        let mut out = [0u8; 33];
        out.copy_from_slice(&self.party.pk.to_bytes());
        out
    }

    /// The BIP32 chain code agreed in the DKG (public).
    pub fn chain_code(&self) -> [u8; 32] {
        *self.party.chain_code()
    }

    /// The network's public key and chain code, what consumers pin ([`NetworkKey`]).
    pub fn network_key(&self) -> NetworkKey {
        NetworkKey { public_key: self.public_key(), chain_code: self.chain_code() }
    }

    /// What this share is a share of.
    pub fn derivation(&self) -> &Derivation {
        &self.derivation
    }

    /// The dataset this share was derived for; `None` for the network key and request keys.
    pub fn dataset(&self) -> Option<&str> {
        match &self.derivation {
            Derivation::Dataset(name) => Some(name),
            Derivation::Network | Derivation::Request(_) => None,
        }
    }

    /// This party's share of `dataset`'s key: BIP32 non-hardened derivation along
    /// [`dataset_path`] (`docs/protocols/signing.md` §3). Every party shifts its share by the
    /// same public tweaks, so the derived shares sign under [`NetworkKey::dataset_key`].
    pub fn derive(&self, dataset: &str) -> Result<KeyShare, DeriveError> {
        self.derive_along(dataset_path(dataset), Derivation::Dataset(dataset.to_owned()))
    }

    /// This party's share of the request key named `path` (an operator's signing requests):
    /// as [`KeyShare::derive`] along [`request_path`], so the derived shares sign under
    /// [`NetworkKey::request_key`] and never under a dataset's key.
    pub fn derive_request(&self, path: &str) -> Result<KeyShare, DeriveError> {
        self.derive_along(request_path(path), Derivation::Request(path.to_owned()))
    }

    /// The child share along `path`, from the network key's share only.
    fn derive_along(&self, path: [u32; PATH_LEN], derivation: Derivation) -> Result<KeyShare, DeriveError> {
        if self.derivation != Derivation::Network {
            return Err(DeriveError::Library("derive from the network key, not from a derived key".into()));
        }
        let mut party = self.party.clone();
        for index in path {
            party = party.derive_child(index, |_| String::new()).map_err(|e| DeriveError::Library(e.description))?;
        }
        Ok(KeyShare { party, derivation })
    }

    /// The share as bytes to encrypt at rest: a version byte (2), the kind of key (0 the
    /// network key, 1 a dataset's, 2 a request key), its name (`u32` big-endian length then
    /// UTF-8; empty for the network key), then the library's postcard encoding. Secret.
    /// [`KeyShare::from_bytes`] reads version 1 too (no kind byte; an empty name is the
    /// network key, any other a dataset).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let (kind, name) = self.derivation.encode();
        let mut out = Zeroizing::new(Vec::with_capacity(16 + name.len()));
        out.push(SHARE_VERSION);
        out.push(kind);
        out.extend_from_slice(&(name.len() as u32).to_be_bytes());
        out.extend_from_slice(name.as_bytes());
        // Postcard cannot fail on this type (see `session::encode`); an empty body would
        // be refused by `from_bytes`, never read as another key.
        if let Ok(body) = postcard::to_allocvec(&self.party).map(Zeroizing::new) {
            out.extend_from_slice(&body);
        }
        out
    }

    /// From [`KeyShare::to_bytes`] (version 2, or version 1 of earlier releases).
    pub fn from_bytes(bytes: &[u8]) -> Result<KeyShare, KeyError> {
        let (&version, rest) = bytes.split_first().ok_or(KeyError::MalformedShare)?;
        let (kind, rest) = match version {
            SHARE_VERSION => {
                rest.split_first().map(|(&kind, rest)| (Some(kind), rest)).ok_or(KeyError::MalformedShare)?
            }
            SHARE_VERSION_1 => (None, rest),
            _ => return Err(KeyError::MalformedShare),
        };
        if rest.len() < 4 {
            return Err(KeyError::MalformedShare);
        }
        let (len, rest) = rest.split_at(4);
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if rest.len() < len {
            return Err(KeyError::MalformedShare);
        }
        let (name, body) = rest.split_at(len);
        let name = std::str::from_utf8(name).map_err(|_| KeyError::MalformedShare)?;
        let derivation = match kind {
            Some(kind) => Derivation::decode(kind, name),
            None if name.is_empty() => Some(Derivation::Network),
            None => Some(Derivation::Dataset(name.to_owned())),
        }
        .ok_or(KeyError::MalformedShare)?;
        match postcard::take_from_bytes::<LibParty>(body) {
            Ok((party, []))
                if PartyId::from_lib(party.party_index).is_some()
                    && (party.parameters.threshold, party.parameters.share_count) == (2, 3) =>
            {
                Ok(KeyShare { party, derivation })
            }
            _ => Err(KeyError::MalformedShare),
        }
    }
}
