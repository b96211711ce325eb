//! Server identity: the opening of the certificate commitment, the
//! certificate chain at the connection time, the server name, and the
//! server's signature binding the attested ephemeral key to the certificate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustls_pki_types::{CertificateDer, DnsName, ServerName, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, KeyUsage, ring as alg};

use crate::error::VerifyError;
use crate::hash::{HashAlg, domains, hash_separated};
use crate::wire;

/// Trust anchors for server certificates, with the chains already verified against them.
#[derive(Debug, Clone)]
pub struct TrustAnchors {
    /// Shared: a verifier configuration takes its anchors by value, once per presentation.
    anchors: Arc<[TrustAnchor<'static>]>,
    verified: Arc<Mutex<VerifiedChains>>,
}

/// Certificate chains (exactly as presented) that webpki verified against these anchors for
/// server authentication, each with the window in which every one of its certificates is
/// valid. Many providers prove against one website, so most presentations carry a chain seen
/// before, and its signatures were ~2/3 of the server identity check. A chain verified at
/// one time verifies at any other time inside that window: the path webpki built then has
/// only valid certificates then (anchors have no validity), and nothing else it checks
/// depends on the time. Outside the window, or for any other chain, webpki runs again.
#[derive(Debug, Default)]
struct VerifiedChains {
    windows: HashMap<Vec<Vec<u8>>, (u64, u64)>,
}

/// Chains kept at most (then the cache starts over: a bound, not a policy).
const MAX_VERIFIED_CHAINS: usize = 256;

impl TrustAnchors {
    fn new(anchors: Vec<TrustAnchor<'static>>) -> Self {
        Self { anchors: anchors.into(), verified: Arc::default() }
    }

    /// Mozilla's root store as shipped by the `webpki-roots` crate.
    pub fn mozilla() -> Self {
        Self::new(webpki_roots::TLS_SERVER_ROOTS.to_vec())
    }

    /// How many distinct chains are remembered as verified.
    pub fn verified_chains(&self) -> usize {
        self.verified.lock().unwrap_or_else(PoisonError::into_inner).windows.len()
    }

    fn verified_at(&self, certs: &[Vec<u8>], time: u64) -> bool {
        let verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        verified.windows.get(certs).is_some_and(|(from, until)| (*from..=*until).contains(&time))
    }

    fn remember(&self, certs: &[Vec<u8>]) {
        // A certificate that `der` cannot read is simply not cached (webpki read it).
        let Some(window) = validity_window(certs) else { return };
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if verified.windows.len() >= MAX_VERIFIED_CHAINS {
            verified.windows.clear();
        }
        verified.windows.insert(certs.to_vec(), window);
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
        Ok(Self::new(anchors))
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
    if !anchors.verified_at(&data.certs, time) {
        let intermediates: Vec<CertificateDer<'_>> =
            intermediates.iter().map(|c| CertificateDer::from(c.as_slice())).collect();
        webpki_verifies(&ee, anchors, &intermediates, time).map_err(|e| match e {
            webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. } => {
                VerifyError::CertificateNotValidAtTime { time, reason: e.to_string() }
            }
            other => VerifyError::UntrustedCertificateChain(other.to_string()),
        })?;
        anchors.remember(&data.certs);
    }
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

/// webpki's chain check for server authentication at `time` (Unix seconds).
fn webpki_verifies(
    ee: &EndEntityCert<'_>,
    anchors: &TrustAnchors,
    intermediates: &[CertificateDer<'_>],
    time: u64,
) -> Result<(), webpki::Error> {
    let at = UnixTime::since_unix_epoch(Duration::from_secs(time));
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors.anchors,
        intermediates,
        at,
        KeyUsage::server_auth(),
        None,
        None,
    )
    .map(|_| ())
}

/// `[latest notBefore, earliest notAfter]` over `certs`, in Unix seconds (both ends valid, as
/// webpki counts them); `None` if one does not read or the window is empty.
fn validity_window(certs: &[Vec<u8>]) -> Option<(u64, u64)> {
    let mut window = (0u64, u64::MAX);
    for der in certs {
        let (from, until) = validity(der).ok()?;
        window = (window.0.max(from), window.1.min(until));
    }
    (window.0 <= window.1).then_some(window)
}

/// `tbsCertificate.validity` of one DER certificate (RFC 5280 §4.1).
fn validity(der: &[u8]) -> der::Result<(u64, u64)> {
    use der::{Reader as _, SliceReader, Tag, TagNumber};
    fn skip_rest<'a>(r: &mut impl der::Reader<'a>) -> der::Result<()> {
        while !r.is_finished() {
            r.tlv_bytes()?;
        }
        Ok(())
    }
    fn time<'a>(r: &mut impl der::Reader<'a>) -> der::Result<u64> {
        use der::Decode as _;
        use der::asn1::{GeneralizedTime, UtcTime};
        Ok(match r.peek_tag()? {
            Tag::UtcTime => UtcTime::decode(r)?.to_unix_duration().as_secs(),
            _ => GeneralizedTime::decode(r)?.to_unix_duration().as_secs(),
        })
    }
    let mut reader = SliceReader::new(der)?;
    let window = reader.sequence(|certificate| {
        let window = certificate.sequence(|tbs| {
            // [0] version, then serialNumber, signature and issuer.
            if tbs.peek_tag()? == (Tag::ContextSpecific { constructed: true, number: TagNumber::N0 }) {
                tbs.tlv_bytes()?;
            }
            for _ in 0..3 {
                tbs.tlv_bytes()?;
            }
            let window = tbs.sequence(|validity| Ok((time(validity)?, time(validity)?)))?;
            skip_rest(tbs)?;
            Ok(window)
        })?;
        skip_rest(certificate)?;
        Ok(window)
    })?;
    reader.finish(window)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The window read with `der` is webpki's: the fixture's chain verifies at both ends and
    /// not one second outside.
    #[test]
    fn the_validity_window_is_webpkis() -> Result<(), VerifyError> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tlsn/presentation.bin");
        let bytes = std::fs::read(path).map_err(|e| VerifyError::MalformedCertificate(e.to_string()))?;
        let identity = crate::wire::decode(&bytes)?.identity.ok_or(VerifyError::MissingCertificates)?;
        let certs = &identity.opening.data.certs;
        let (from, until) = validity_window(certs).ok_or(VerifyError::MissingCertificates)?;
        assert!(from < until);
        let ee = CertificateDer::from(certs[0].as_slice());
        let ee = EndEntityCert::try_from(&ee).map_err(|e| VerifyError::MalformedCertificate(e.to_string()))?;
        let intermediates: Vec<CertificateDer<'_>> =
            certs[1..].iter().map(|c| CertificateDer::from(c.as_slice())).collect();
        let anchors = TrustAnchors::mozilla();
        let webpki_accepts = |time: u64| webpki_verifies(&ee, &anchors, &intermediates, time).is_ok();
        assert!(webpki_accepts(from) && webpki_accepts(until));
        assert!(!webpki_accepts(from - 1) && !webpki_accepts(until + 1));
        assert_eq!(validity_window(&[b"not a certificate".to_vec()]), None);
        Ok(())
    }
}
