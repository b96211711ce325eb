//! A party's long-term keys, kept in its data directory (files readable only by it): the TLS
//! identity of its data plane (its public key is pinned by the other parties through
//! `PartyJoined`) and the HPKE key pair providers seal its share bundles to.

use std::path::Path;

use triad_mpc::net::{PartyId, PartyIdentity, PinnedKey};
use triad_provider::{PublicKey, SecretKey, generate_keypair, os_rng};

use crate::service::PartyError;

/// The keys of one party.
pub struct Keys {
    party: PartyId,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
    share_secret: SecretKey,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("party", &self.party)
            .field("share_public", &self.share_public().to_hex())
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// Loads the keys from `dir`, making them on first start.
    pub fn load_or_create(dir: &Path, party: PartyId) -> Result<Keys, PartyError> {
        let io = |what: &str, e: std::io::Error| PartyError::Keys(format!("{what} in {}: {e}", dir.display()));
        create_private_dir(dir).map_err(|e| io("creating the data directory", e))?;
        let (cert, key, share) = (dir.join("transport.cert.der"), dir.join("transport.key.der"), dir.join("share.key"));
        if !cert.exists() || !key.exists() {
            let id =
                PartyIdentity::generate(party).map_err(|e| PartyError::Keys(format!("generating the TLS key: {e}")))?;
            write_private(&key, id.private_key_der()).map_err(|e| io("writing the TLS key", e))?;
            write_private(&cert, id.cert_der()).map_err(|e| io("writing the TLS certificate", e))?;
        }
        if !share.exists() {
            let (secret, _) = generate_keypair(&mut os_rng());
            write_private(&share, secret.to_hex().as_bytes()).map_err(|e| io("writing the share key", e))?;
        }
        let cert_der = std::fs::read(&cert).map_err(|e| io("reading the TLS certificate", e))?;
        let key_der = std::fs::read(&key).map_err(|e| io("reading the TLS key", e))?;
        let text = std::fs::read_to_string(&share).map_err(|e| io("reading the share key", e))?;
        let share_secret =
            SecretKey::from_hex(text.trim()).map_err(|e| PartyError::Keys(format!("{}: {e}", share.display())))?;
        let keys = Keys { party, cert_der, key_der, share_secret };
        keys.identity()?;
        Ok(keys)
    }

    /// A fresh handle on the TLS identity (one per session's mesh).
    pub fn identity(&self) -> Result<PartyIdentity, PartyError> {
        PartyIdentity::from_der(self.party, self.cert_der.clone(), self.key_der.clone())
            .map_err(|e| PartyError::Keys(format!("the TLS identity does not load: {e}")))
    }

    /// The data plane's public key (SPKI DER) the other parties pin.
    pub fn pinned_key(&self) -> Result<PinnedKey, PartyError> {
        Ok(self.identity()?.pinned_key())
    }

    /// The HPKE secret key that opens this party's bundles.
    pub fn share_secret(&self) -> &SecretKey {
        &self.share_secret
    }

    /// The HPKE public key providers seal to.
    pub fn share_public(&self) -> PublicKey {
        self.share_secret.public_key()
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)?.write_all(bytes)
}
