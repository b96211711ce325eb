//! Server identity: the opening of the certificate commitment, the
//! certificate chain at the connection time, the server name, and the
//! server's signature binding the attested ephemeral key to the certificate.

use std::time::Duration;

use rustls_pki_types::{CertificateDer, DnsName, ServerName, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, KeyUsage, ring as alg};

use crate::error::VerifyError;
use crate::hash::{HashAlg, domains, hash_separated};
use crate::wire;

/// Trust anchors for server certificates.
#[derive(Debug, Clone)]
pub struct TrustAnchors {
    anchors: Vec<TrustAnchor<'static>>,
}

impl TrustAnchors {
    /// Mozilla's root store as shipped by the `webpki-roots` crate.
    pub fn mozilla() -> Self {
        Self { anchors: webpki_roots::TLS_SERVER_ROOTS.to_vec() }
    }

    /// Anchors made from DER root certificates (a test CA, a private PKI).
    pub fn from_der_certs<'a>(certs: impl IntoIterator<Item = &'a [u8]>) -> Result<Self, VerifyError> {
        let anchors = certs
            .into_iter()
            .map(|der| {
                webpki::anchor_from_trusted_cert(&CertificateDer::from(der))
                    .map(|a| a.to_owned())
                    .map_err(|e| VerifyError::UntrustedCertificateChain(format!("bad root: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { anchors })
    }
}

impl Default for TrustAnchors {
    fn default() -> Self {
        Self::mozilla()
    }
}

/// TLS named group secp256r1.
const NAMED_GROUP_SECP256R1: u16 = 0x0017;
/// ECCurveType `named_curve`.
const CURVE_TYPE_NAMED: u8 = 3;

/// `ServerECDHParams` as TLS 1.2 encodes it: curve type, named group, and
/// the point as an opaque vector with a one-byte length.
fn kx_params(key: &wire::ServerEphemKey) -> Result<Vec<u8>, VerifyError> {
    let group = match key.typ {
        wire::KeyType::Secp256r1 => NAMED_GROUP_SECP256R1,
    };
    let len = u8::try_from(key.key.len()).map_err(|_| VerifyError::EphemeralKeyMismatch)?;
    let mut out = Vec::with_capacity(4 + key.key.len());
    out.push(CURVE_TYPE_NAMED);
    out.extend_from_slice(&group.to_be_bytes());
    out.push(len);
    out.extend_from_slice(&key.key);
    Ok(out)
}

/// Verifies the identity proof against the attested connection time,
/// ephemeral key and certificate commitment. Returns the server name.
pub(crate) fn verify_identity(
    proof: &wire::ServerIdentityProof,
    anchors: &TrustAnchors,
    time: u64,
    attested_key: &wire::ServerEphemKey,
    commitment: &wire::TypedHash,
) -> Result<String, VerifyError> {
    let wire::ServerName::Dns(name) = &proof.name;
    // DNS names match case-insensitively, so the name is not bound by the certificate's
    // case: only the lower-case spelling is accepted, so that one presentation has one
    // encoding (its hash is recorded) and one name for the template to match.
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(VerifyError::InvalidServerName(name.clone()));
    }
    let dns = DnsName::try_from(name.as_str()).map_err(|_| VerifyError::InvalidServerName(name.clone()))?.to_owned();

    // The opening must hash to the attested commitment.
    let alg = HashAlg::from_id(commitment.alg)?;
    let expected = alg.check_len(&commitment.value.0)?;
    if hash_separated(alg, domains::SERVER_CERT_OPENING, &proof.opening) != expected {
        return Err(VerifyError::CertCommitmentMismatch);
    }

    let data = &proof.opening.data;
    let wire::CertBinding::V1_2(binding) = &data.binding;
    if &binding.server_ephemeral_key != attested_key {
        return Err(VerifyError::EphemeralKeyMismatch);
    }

    let (ee_der, intermediates) = data.certs.split_first().ok_or(VerifyError::MissingCertificates)?;
    let ee_der = CertificateDer::from(ee_der.as_slice());
    let ee = EndEntityCert::try_from(&ee_der).map_err(|e| VerifyError::MalformedCertificate(e.to_string()))?;
    let intermediates: Vec<CertificateDer<'_>> =
        intermediates.iter().map(|c| CertificateDer::from(c.as_slice())).collect();
    let at = UnixTime::since_unix_epoch(Duration::from_secs(time));
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors.anchors,
        &intermediates,
        at,
        KeyUsage::server_auth(),
        None,
        None,
    )
    .map_err(|e| match e {
        webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. } => {
            VerifyError::CertificateNotValidAtTime { time, reason: e.to_string() }
        }
        other => VerifyError::UntrustedCertificateChain(other.to_string()),
    })?;
    ee.verify_is_valid_for_subject_name(&ServerName::DnsName(dns))
        .map_err(|_| VerifyError::ServerNameMismatch(name.clone()))?;

    // The server signed client_random || server_random || ServerECDHParams.
    let mut message = Vec::with_capacity(64 + 4 + binding.server_ephemeral_key.key.len());
    message.extend_from_slice(&binding.client_random);
    message.extend_from_slice(&binding.server_random);
    message.extend_from_slice(&kx_params(&binding.server_ephemeral_key)?);
    use wire::ServerSignatureAlg as S;
    let sig_alg: &dyn rustls_pki_types::SignatureVerificationAlgorithm = match data.sig.alg {
        S::ECDSA_NISTP256_SHA256 => alg::ECDSA_P256_SHA256,
        S::ECDSA_NISTP256_SHA384 => alg::ECDSA_P256_SHA384,
        S::ECDSA_NISTP384_SHA256 => alg::ECDSA_P384_SHA256,
        S::ECDSA_NISTP384_SHA384 => alg::ECDSA_P384_SHA384,
        S::ED25519 => alg::ED25519,
        S::RSA_PKCS1_2048_8192_SHA256 => alg::RSA_PKCS1_2048_8192_SHA256,
        S::RSA_PKCS1_2048_8192_SHA384 => alg::RSA_PKCS1_2048_8192_SHA384,
        S::RSA_PKCS1_2048_8192_SHA512 => alg::RSA_PKCS1_2048_8192_SHA512,
        S::RSA_PSS_2048_8192_SHA256_LEGACY_KEY => alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        S::RSA_PSS_2048_8192_SHA384_LEGACY_KEY => alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
        S::RSA_PSS_2048_8192_SHA512_LEGACY_KEY => alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
    };
    ee.verify_signature(sig_alg, &message, &data.sig.sig).map_err(|_| VerifyError::InvalidServerSignature)?;

    Ok(name.clone())
}

/// The commitment upstream puts in the body for an opening:
/// `H(domain("ServerCertOpening") || BCS(opening))`. For the development
/// notary and for tests.
pub fn cert_commitment(alg: HashAlg, opening: &wire::ServerCertOpening) -> wire::TypedHash {
    wire::TypedHash {
        alg: alg.id(),
        value: wire::HashValue(hash_separated(alg, domains::SERVER_CERT_OPENING, opening).to_vec()),
    }
}
