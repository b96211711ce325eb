//! TLS 1.3 configurations that accept exactly one pinned peer key, in both directions.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, OtherError, ServerConfig, SignatureScheme,
};

use crate::{NetError, PartyId, PartyIdentity, PinnedKey};

/// The verifier's refusal: the certificate's key is not the pinned one. Carried inside
/// `rustls::Error` and recognised by [`NetError::from_tls`].
#[derive(Debug)]
pub(crate) struct NotPinned;

impl fmt::Display for NotPinned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("certificate key is not the pinned key")
    }
}

impl std::error::Error for NotPinned {}

/// Only TLS 1.3 with AES-128-GCM (AES-NI through ring) and the ring provider's key exchanges.
fn provider() -> Arc<CryptoProvider> {
    let mut p = rustls::crypto::ring::default_provider();
    p.cipher_suites = vec![rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256];
    Arc::new(p)
}

/// Accepts exactly one key; names, issuers and dates are ignored on purpose (self-signed
/// certificates only carry the key). The handshake signature is still verified against it, so
/// the peer proves possession of the private key.
#[derive(Debug)]
struct PinnedVerifier {
    key: PinnedKey,
    algs: WebPkiSupportedAlgorithms,
}

impl PinnedVerifier {
    fn new(key: PinnedKey, provider: &CryptoProvider) -> Self {
        PinnedVerifier { key, algs: provider.signature_verification_algorithms }
    }

    fn check(&self, end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        let cert = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        if cert.subject_public_key_info().as_ref() == self.key.as_der() {
            Ok(())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(NotPinned)))))
        }
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity).map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // The configurations below only enable TLS 1.3.
        Err(rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls13RequiredForQuic))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

impl ClientCertVerifier for PinnedVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity).map(|()| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        ServerCertVerifier::verify_tls12_signature(self, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

fn config_error(e: rustls::Error) -> NetError {
    NetError::Config(format!("TLS configuration: {e}"))
}

/// Client side of a link: we dial `peer_key`'s holder and present `me`.
pub(crate) fn client_config(me: &PartyIdentity, peer_key: &PinnedKey) -> Result<Arc<ClientConfig>, NetError> {
    let provider = provider();
    let verifier = Arc::new(PinnedVerifier::new(peer_key.clone(), &provider));
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(config_error)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(vec![me.cert()], me.key())
        .map_err(config_error)?;
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// Server side of a link: we accept `peer_key`'s holder and present `me`.
pub(crate) fn server_config(me: &PartyIdentity, peer_key: &PinnedKey) -> Result<Arc<ServerConfig>, NetError> {
    let provider = provider();
    let verifier = Arc::new(PinnedVerifier::new(peer_key.clone(), &provider));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(config_error)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![me.cert()], me.key())
        .map_err(config_error)?;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// The SNI a dialer sends: it names the dialer and the party dialed, so that the acceptor can
/// pick the pinned key to check *before* the certificate arrives (and name the peer in errors).
pub(crate) fn sni(from: PartyId, to: PartyId) -> Result<ServerName<'static>, NetError> {
    ServerName::try_from(format!("p{}-to-p{}.triad", from.get(), to.get()))
        .map_err(|e| NetError::Config(format!("server name: {e}")))
}

/// Parse [`sni`]'s name: `(from, to)`.
pub(crate) fn parse_sni(name: &str) -> Option<(PartyId, PartyId)> {
    let rest = name.strip_prefix('p')?.strip_suffix(".triad")?;
    let (from, to) = rest.split_once("-to-p")?;
    Some((PartyId::new(from.parse().ok()?)?, PartyId::new(to.parse().ok()?)?))
}
