//! The test PKI: a root CA and a server certificate for the mock exchange,
//! made fresh at every start.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

use crate::DevNotaryError;

/// The test CA and the exchange's certificate and key (ECDSA P-256).
pub(crate) struct TestPki {
    /// The root certificate, DER: the only trust anchor for the exchange.
    pub(crate) ca_der: Vec<u8>,
    /// The exchange's end-entity certificate, DER.
    pub(crate) server_der: Vec<u8>,
    /// The exchange's key: serves TLS and signs the synthesised handshake.
    pub(crate) server_key: KeyPair,
}

fn pki_err(e: rcgen::Error) -> DevNotaryError {
    DevNotaryError::Certificate(e.to_string())
}

impl TestPki {
    /// A CA named "Triad development CA (DO NOT TRUST)" and a server
    /// certificate for `server_name` signed by it.
    pub(crate) fn generate(server_name: &str) -> Result<Self, DevNotaryError> {
        let ca_key = KeyPair::generate().map_err(pki_err)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(pki_err)?;
        ca_params.distinguished_name.push(DnType::CommonName, "Triad development CA (DO NOT TRUST)");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).map_err(pki_err)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().map_err(pki_err)?;
        let mut params = CertificateParams::new(vec![server_name.to_owned()]).map_err(pki_err)?;
        params.distinguished_name.push(DnType::CommonName, server_name);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = params.signed_by(&server_key, &issuer).map_err(pki_err)?;

        Ok(Self { ca_der: ca_cert.der().to_vec(), server_der: server_cert.der().to_vec(), server_key })
    }
}
