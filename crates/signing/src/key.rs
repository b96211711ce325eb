//! A party's key share: the library's party state (its Shamir point of the secret key, the
//! zero-share seeds and the pairwise OT state signing reuses), with the public key.

use k256_dkls::elliptic_curve::group::GroupEncoding as _;
use zeroize::Zeroizing;

use crate::derive::{NetworkKey, dataset_path};
use crate::{DeriveError, KeyError, LibParty, PartyId};

/// Version byte of [`KeyShare::to_bytes`].
const SHARE_VERSION: u8 = 1;

/// One party's share of the network key (or of a dataset's derived key). Secret: `Debug`
/// shows the party and public key only; the library zeroizes the state on drop. Store it
/// encrypted at rest ([`KeyShare::to_bytes`] is the plaintext to encrypt).
#[derive(Clone)]
pub struct KeyShare {
    pub(crate) party: LibParty,
    /// The dataset this share was derived for; `None` for the network key.
    pub(crate) dataset: Option<String>,
}

impl std::fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyShare")
            .field("party", &self.party_id())
            .field("public_key", &hex::encode(self.public_key()))
            .field("dataset", &self.dataset)
            .finish_non_exhaustive()
    }
}

impl KeyShare {
    pub(crate) fn new(party: LibParty) -> KeyShare {
        KeyShare { party, dataset: None }
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

    /// The dataset this share was derived for; `None` for the network key.
    pub fn dataset(&self) -> Option<&str> {
        self.dataset.as_deref()
    }

    /// This party's share of `dataset`'s key: BIP32 non-hardened derivation along
    /// [`dataset_path`] (`docs/protocols/signing.md` §3). Every party shifts its share by the
    /// same public tweaks, so the derived shares sign under [`NetworkKey::dataset_key`].
    pub fn derive(&self, dataset: &str) -> Result<KeyShare, DeriveError> {
        if self.dataset.is_some() {
            return Err(DeriveError::Library("derive from the network key, not from a derived key".into()));
        }
        let mut party = self.party.clone();
        for index in dataset_path(dataset) {
            party = party.derive_child(index, |_| String::new()).map_err(|e| DeriveError::Library(e.description))?;
        }
        Ok(KeyShare { party, dataset: Some(dataset.to_owned()) })
    }

    /// The share as bytes to encrypt at rest: a version byte, the dataset it was derived for
    /// (`u32` big-endian length then UTF-8; length 0 for the network key), then the library's
    /// postcard encoding. Secret.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let dataset = self.dataset.as_deref().unwrap_or_default();
        let mut out = Zeroizing::new(Vec::with_capacity(8 + dataset.len()));
        out.push(SHARE_VERSION);
        out.extend_from_slice(&(dataset.len() as u32).to_be_bytes());
        out.extend_from_slice(dataset.as_bytes());
        // Postcard cannot fail on this type (see `session::encode`); an empty body would
        // be refused by `from_bytes`, never read as another key.
        if let Ok(body) = postcard::to_allocvec(&self.party).map(Zeroizing::new) {
            out.extend_from_slice(&body);
        }
        out
    }

    /// From [`KeyShare::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<KeyShare, KeyError> {
        let (&version, rest) = bytes.split_first().ok_or(KeyError::MalformedShare)?;
        if version != SHARE_VERSION || rest.len() < 4 {
            return Err(KeyError::MalformedShare);
        }
        let (len, rest) = rest.split_at(4);
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if rest.len() < len {
            return Err(KeyError::MalformedShare);
        }
        let (dataset, body) = rest.split_at(len);
        let dataset = match std::str::from_utf8(dataset) {
            Ok("") => None,
            Ok(name) => Some(name.to_owned()),
            Err(_) => return Err(KeyError::MalformedShare),
        };
        match postcard::take_from_bytes::<LibParty>(body) {
            Ok((party, []))
                if PartyId::from_lib(party.party_index).is_some()
                    && (party.parameters.threshold, party.parameters.share_count) == (2, 3) =>
            {
                Ok(KeyShare { party, dataset })
            }
            _ => Err(KeyError::MalformedShare),
        }
    }
}
