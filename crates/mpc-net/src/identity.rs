use std::fmt;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::{NetError, PartyId};

/// A party's public key as the other parties pin it: the DER `SubjectPublicKeyInfo` of its
/// long-term key. Only a peer holding the matching private key can complete a handshake.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PinnedKey(Vec<u8>);

impl PinnedKey {
    /// A pinned key from DER `SubjectPublicKeyInfo` bytes (as [`PinnedKey::as_der`] returns).
    pub fn from_spki_der(spki: impl Into<Vec<u8>>) -> Self {
        PinnedKey(spki.into())
    }

    /// The public key of a DER certificate.
    pub fn from_cert_der(cert: &[u8]) -> Result<Self, NetError> {
        let der = CertificateDer::from(cert);
        let ee = webpki::EndEntityCert::try_from(&der)
            .map_err(|e| NetError::Config(format!("not a usable certificate: {e}")))?;
        Ok(PinnedKey(ee.subject_public_key_info().as_ref().to_vec()))
    }

    /// The DER `SubjectPublicKeyInfo` bytes.
    pub fn as_der(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for PinnedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The tail of the SPKI is the key itself; 8 bytes are enough to tell keys apart in logs.
        let tail = &self.0[self.0.len().saturating_sub(8)..];
        write!(f, "PinnedKey(..")?;
        for b in tail {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// A party's long-term identity: its id, a self-signed certificate and the private key.
///
/// The certificate only carries the public key to TLS; peers check the key against their pin
/// and ignore names, issuers and validity dates.
pub struct PartyIdentity {
    party: PartyId,
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
    public: PinnedKey,
}

impl PartyIdentity {
    /// A fresh Ed25519 key and self-signed certificate for `party`.
    pub fn generate(party: PartyId) -> Result<Self, NetError> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
            .map_err(|e| NetError::Config(format!("key generation failed: {e}")))?;
        let params = rcgen::CertificateParams::new(vec![format!("party{}.triad", party.get())])
            .map_err(|e| NetError::Config(format!("certificate parameters: {e}")))?;
        let cert = params.self_signed(&key).map_err(|e| NetError::Config(format!("self-signing failed: {e}")))?;
        Self::from_der(party, cert.der().to_vec(), key.serialize_der())
    }

    /// An identity from a DER certificate and a DER PKCS#8 private key (Ed25519 or ECDSA P-256).
    pub fn from_der(party: PartyId, cert_der: Vec<u8>, pkcs8_key_der: Vec<u8>) -> Result<Self, NetError> {
        let public = PinnedKey::from_cert_der(&cert_der)?;
        let key = PrivatePkcs8KeyDer::from(pkcs8_key_der);
        // Check the key is usable and matches the certificate now, not at the first handshake.
        let signing = rustls::crypto::ring::sign::any_supported_type(&PrivateKeyDer::from(key.clone_key()))
            .map_err(|e| NetError::Config(format!("unusable private key: {e}")))?;
        if let Some(spki) = signing.public_key()
            && spki.as_ref() != public.as_der()
        {
            return Err(NetError::Config("private key does not match the certificate".into()));
        }
        Ok(PartyIdentity { party, cert: CertificateDer::from(cert_der), key, public })
    }

    /// The party this identity belongs to.
    pub fn party(&self) -> PartyId {
        self.party
    }

    /// The public key to pin at the other parties.
    pub fn pinned_key(&self) -> PinnedKey {
        self.public.clone()
    }

    /// The DER certificate.
    pub fn cert_der(&self) -> &[u8] {
        self.cert.as_ref()
    }

    /// The DER PKCS#8 private key. Keep it secret.
    pub fn private_key_der(&self) -> &[u8] {
        self.key.secret_pkcs8_der()
    }

    pub(crate) fn cert(&self) -> CertificateDer<'static> {
        self.cert.clone()
    }

    pub(crate) fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from(self.key.clone_key())
    }
}

impl Clone for PartyIdentity {
    fn clone(&self) -> Self {
        PartyIdentity {
            party: self.party,
            cert: self.cert.clone(),
            key: self.key.clone_key(),
            public: self.public.clone(),
        }
    }
}

impl fmt::Debug for PartyIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartyIdentity")
            .field("party", &self.party)
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}
