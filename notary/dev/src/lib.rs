//! # DEVELOPMENT ONLY: a trusted notary that sees the plaintext
//!
//! The development notary runs a mock exchange over real HTTPS on loopback
//! and issues TLSNotary presentations in the upstream v0.1.0-alpha.15
//! format for its accounts: the digits of each configured value field
//! (`balance` by default) stay hidden behind their own plaintext hash
//! commitment (`H(value || 16-byte blinder)`, BLAKE3 by default) whose
//! blinder goes to the provider, and everything else in the transcript is
//! disclosed except the provider's bearer token.
//!
//! **Trust.** A real TLSNotary notary runs MPC-TLS with the prover and
//! never sees the plaintext. This one makes the HTTPS request itself on
//! the provider's behalf, so it sees the hidden values, and it holds the mock
//! exchange's certificate key, with which it synthesises the TLS 1.2 ECDHE
//! handshake parameters of the identity proof (the real connection is TLS
//! 1.3 and its handshake is not what the proof shows). A presentation from
//! it proves only that this process said so. It exists for tests and the
//! demo; production uses an unmodified upstream notary.
//!
//! ```no_run
//! use triad_dev_notary::{DevNotary, DevNotaryConfig};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let notary = DevNotary::start(DevNotaryConfig::default()).await?;
//! let issued = notary.issue("alice-token").await?;
//! let verified = triad_notary::verify(&issued.presentation, &notary.verifier_config()?)?;
//! triad_notary::check_commitment(&verified.unopened_commitments[0], &issued.secrets[0].prover_secret())?;
//! # Ok(()) }
//! ```

#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

mod config;
mod exchange;
mod pki;
mod present;
mod secret;

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::rand::SystemRandom;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use triad_notary::template::ProofTemplate;
use triad_notary::{NotaryKey, NotarySigner, TrustAnchors, VerifierConfig, VerifyError};

pub use config::{Account, CommitmentAlg, DEFAULT_SERVER_NAME, DevNotaryConfig, NotarySecret};
pub use exchange::BALANCE_PATH;
pub use secret::IssuedSecret;

/// The banner every entry point shows.
pub const BANNER: &str = "\
triad-dev-notary: DEVELOPMENT ONLY. This notary makes the HTTPS request itself and SEES \
THE PLAINTEXT it attests (including the hidden values), and it holds the mock exchange's \
certificate key. Its presentations prove nothing to anyone who does not trust this \
process. Never use it for real data.";

/// The JSON field of the exchange's response hidden by default (the
/// balance); see [`DevNotaryConfig::value_fields`].
pub const VALUE_FIELD: &str = "balance";
/// The JSON field of the exchange's response that is the Sybil uid.
pub const UID_FIELD: &str = "uid";
/// Largest response the notary records.
const MAX_RESPONSE: u64 = 64 * 1024;
/// Time the exchange has to answer.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the development notary failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevNotaryError {
    /// Bad configuration (account, value fields, key, algorithm).
    #[error("configuration: {0}")]
    Config(String),
    /// Making the test PKI or signing with the exchange's key failed.
    #[error("certificate: {0}")]
    Certificate(String),
    /// TLS setup failed.
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
    /// Socket IO with the exchange failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The exchange did not answer in time.
    #[error("the exchange did not answer within {0:?}")]
    Timeout(Duration),
    /// The exchange answered with something other than 200 (for example
    /// 401 for an unknown token).
    #[error("the exchange answered {0:?}")]
    ExchangeStatus(String),
    /// The exchange's response has no number for this value field.
    #[error("the exchange's response has no {0} value")]
    NoValue(String),
    /// The system random generator failed.
    #[error("system random generator failed")]
    Random,
    /// The notary library refused (bad key).
    #[error("notary: {0}")]
    Notary(#[from] VerifyError),
    /// A bug: an invariant of this crate did not hold.
    #[error("internal: {0}")]
    Internal(String),
}

/// A presentation and the provider's secrets for its hidden values.
#[derive(Clone)]
pub struct Issued {
    /// The presentation, bincode as upstream writes it.
    pub presentation: Vec<u8>,
    /// The provider's secrets (value, blinder, range, algorithm,
    /// commitment), one per value field in the template's order
    /// ([`DevNotary::value_fields`]).
    pub secrets: Vec<IssuedSecret>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `IssuedSecret`'s Debug leaves out value and blinder.
        f.debug_struct("Issued")
            .field("presentation_len", &self.presentation.len())
            .field("secrets", &self.secrets)
            .finish()
    }
}

/// Options of one issuance.
#[derive(Debug, Clone, Copy, Default)]
pub struct IssueOptions {
    /// The attested connection time (UNIX seconds); the clock when `None`.
    /// For tests of freshness checks.
    pub time: Option<u64>,
}

/// A running development notary and its mock exchange.
///
/// Dropping it stops the exchange.
pub struct DevNotary {
    server_name: String,
    exchange_addr: SocketAddr,
    pki: pki::TestPki,
    signer: NotarySigner,
    notary_key: NotaryKey,
    alg: CommitmentAlg,
    value_fields: Vec<String>,
    /// The template, checked at start; `template` sets its freshness.
    template: ProofTemplate,
    connector: TlsConnector,
    rng: SystemRandom,
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for DevNotary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevNotary")
            .field("server_name", &self.server_name)
            .field("exchange_addr", &self.exchange_addr)
            .field("notary_key", &self.notary_key.to_string())
            .finish_non_exhaustive()
    }
}

impl DevNotary {
    /// Makes the test PKI, binds the mock exchange and starts serving it.
    pub async fn start(config: DevNotaryConfig) -> Result<Self, DevNotaryError> {
        config.validate()?;
        let rng = SystemRandom::new();
        let secret = match config.notary_secret {
            Some(s) => s,
            None => fresh_secret(&rng)?,
        };
        let signer = NotarySigner::Secp256k1(secret.0);
        let notary_key = NotaryKey::from_wire(&signer.verifying_key()?)?;
        let fields: Vec<&str> = config.value_fields.iter().map(String::as_str).collect();
        let template = ProofTemplate::new(
            &config.server_name,
            "GET",
            BALANCE_PATH,
            &fields,
            UID_FIELD,
            0,
            vec![notary_key.clone()],
        )
        .map_err(|e| DevNotaryError::Config(format!("template: {e}")))?;

        let pki = pki::TestPki::generate(&config.server_name)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server_config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(pki.server_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key.serialize_der())),
            )?;
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from(pki.ca_der.clone()))?;
        let client_config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();

        let listener = TcpListener::bind(config.exchange_addr).await?;
        let exchange_addr = listener.local_addr()?;
        let accounts = config.accounts.into_iter().map(|a| (a.token.clone(), a)).collect();
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(exchange::serve(
            listener,
            TlsAcceptor::from(Arc::new(server_config)),
            Arc::new(accounts),
            stopped,
        ));

        Ok(Self {
            server_name: config.server_name,
            exchange_addr,
            pki,
            signer,
            notary_key,
            alg: config.commitment_alg,
            value_fields: config.value_fields,
            template,
            connector: TlsConnector::from(Arc::new(client_config)),
            rng,
            stop,
        })
    }

    /// Where the mock exchange listens.
    pub fn exchange_addr(&self) -> SocketAddr {
        self.exchange_addr
    }

    /// The exchange's DNS name (in its certificate and the presentations).
    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    /// The test CA's root certificate, DER.
    pub fn ca_cert_der(&self) -> &[u8] {
        &self.pki.ca_der
    }

    /// The notary's public key (`secp256k1:<hex>` when displayed).
    pub fn notary_key(&self) -> &NotaryKey {
        &self.notary_key
    }

    /// Trust anchors holding only the test CA.
    pub fn trust_anchors(&self) -> Result<TrustAnchors, DevNotaryError> {
        Ok(TrustAnchors::from_der_certs([self.ca_cert_der()])?)
    }

    /// A verifier configuration pinning this notary and trusting its CA.
    pub fn verifier_config(&self) -> Result<VerifierConfig, DevNotaryError> {
        let mut config = VerifierConfig::new(vec![self.notary_key.clone()]);
        config.trust_anchors = self.trust_anchors()?;
        Ok(config)
    }

    /// The value fields hidden in every presentation, in the template's order.
    pub fn value_fields(&self) -> &[String] {
        &self.value_fields
    }

    /// The dataset template this notary's presentations fit:
    /// `GET /api/v1/balance`, the configured value fields, uid `uid`.
    pub fn template(&self, freshness_secs: u64) -> ProofTemplate {
        ProofTemplate { freshness_secs, ..self.template.clone() }
    }

    /// Fetches the account with bearer `token` from the exchange over HTTPS
    /// and issues a presentation of the response with every value field
    /// hidden behind its own commitment.
    pub async fn issue(&self, token: &str) -> Result<Issued, DevNotaryError> {
        self.issue_with(token, IssueOptions::default()).await
    }

    /// [`DevNotary::issue`] with options.
    pub async fn issue_with(&self, token: &str, options: IssueOptions) -> Result<Issued, DevNotaryError> {
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(DevNotaryError::Config("a token is non-empty printable ASCII".into()));
        }
        let time = match options.time {
            Some(t) => t,
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_err(|_| DevNotaryError::Internal("clock before 1970".into()))?
                .as_secs(),
        };
        let prefix = format!("GET {BALANCE_PATH} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer ", self.server_name);
        let sent = format!("{prefix}{token}\r\nConnection: close\r\n\r\n").into_bytes();
        let token_range = prefix.len()..prefix.len() + token.len();

        let received = tokio::time::timeout(EXCHANGE_TIMEOUT, self.fetch(&sent))
            .await
            .map_err(|_| DevNotaryError::Timeout(EXCHANGE_TIMEOUT))??;
        let status = received.split(|&b| b == b'\r').next().unwrap_or_default();
        if !status.starts_with(b"HTTP/1.1 200 ") {
            return Err(DevNotaryError::ExchangeStatus(String::from_utf8_lossy(status).into_owned()));
        }
        let values = self
            .value_fields
            .iter()
            .map(|f| locate_value(&received, f).ok_or_else(|| DevNotaryError::NoValue(f.clone())))
            .collect::<Result<_, _>>()?;

        let recorded =
            present::Recorded { time, sent: &sent, received: &received, sent_withheld: vec![token_range], values };
        let chain = [self.pki.server_der.clone()];
        let server = present::ServerIdentity { name: &self.server_name, cert_chain: &chain, key: &self.pki.server_key };
        let (presentation, secrets) = present::build(&recorded, &server, &self.signer, self.alg.hash_alg(), &self.rng)?;
        Ok(Issued { presentation, secrets })
    }

    /// One HTTPS exchange with the mock exchange: sends `request`, returns
    /// everything the server sent until it closed the connection.
    async fn fetch(&self, request: &[u8]) -> Result<Vec<u8>, DevNotaryError> {
        let tcp = TcpStream::connect(self.exchange_addr).await?;
        let name = ServerName::try_from(self.server_name.clone())
            .map_err(|e| DevNotaryError::Config(format!("server name: {e}")))?;
        let mut tls = self.connector.connect(name, tcp).await?;
        tls.write_all(request).await?;
        tls.flush().await?;
        let mut received = Vec::new();
        (&mut tls).take(MAX_RESPONSE).read_to_end(&mut received).await?;
        Ok(received)
    }

    /// Stops the mock exchange (also done on drop).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for DevNotary {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A fresh valid secp256k1 secret key.
fn fresh_secret(rng: &SystemRandom) -> Result<NotarySecret, DevNotaryError> {
    // A random 32-byte string is a valid key except with probability ~2^-128.
    for _ in 0..8 {
        let secret = NotarySecret(present::random(rng)?);
        if NotarySigner::Secp256k1(secret.0).verifying_key().is_ok() {
            return Ok(secret);
        }
    }
    Err(DevNotaryError::Random)
}

/// The range of the JSON number after `"field":` in the response body.
fn locate_value(response: &[u8], field: &str) -> Option<Range<usize>> {
    let body = find(response, b"\r\n\r\n")? + 4;
    let key = format!("\"{field}\":");
    let at = body + find(response.get(body..)?, key.as_bytes())? + key.len();
    let start = at + response.get(at..)?.iter().position(|b| !b.is_ascii_whitespace())?;
    let len = response.get(start..)?.iter().position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'.'))?;
    (len > 0).then_some(start..start + len)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
