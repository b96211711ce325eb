//! A from-scratch verifier of TLSNotary presentations in the upstream
//! v0.1.0-alpha.15 format.
//!
//! A presentation proves what a TLS server sent to a prover, as witnessed by
//! a notary: the notary signs a header whose Merkle root commits to the
//! attestation body (its own key, the connection time, the server's
//! ephemeral key, a commitment to the server's certificate chain, and
//! plaintext hash commitments to transcript ranges). The prover discloses
//! some ranges and opens their commitments; ranges whose commitments stay
//! unopened are hidden, yet bound to `H(bytes || blinder)`.
//!
//! ```no_run
//! use triad_notary::{NotaryKey, VerifierConfig, verify};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = NotaryKey::parse("secp256k1:035be5e9478209674a96e60f1f037f6176540fd001fa1d64694770c56a7709c42c")?;
//! let bytes = std::fs::read("presentation.bin")?;
//! let verified = verify(&bytes, &VerifierConfig::new(vec![key]))?;
//! println!("{}", verified.to_json());
//! # Ok(()) }
//! ```
//!
//! Code map: [`wire`] is the byte format (decode/encode, nothing verified);
//! `merkle` the rs_merkle-style multi-proof; [`attestation`] the body root,
//! key pinning and notary signature; [`identity`] the certificate chain and
//! server signature (webpki); [`transcript`] the openings, disclosed and
//! hidden ranges, and the prover-secret check; [`presentation`] ties them.
//!
//! Architecture invariant: this crate does no IO and holds no secret but a
//! blinder the caller hands to [`check_commitment`].

#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod attestation;
pub mod error;
pub mod fuzz;
pub mod hash;
pub mod identity;
mod merkle;
pub mod presentation;
pub mod template;
pub mod transcript;
pub mod wire;

pub use attestation::{KeyAlg, NotaryKey, NotarySigner, reseal};
pub use error::VerifyError;
pub use hash::HashAlg;
pub use identity::TrustAnchors;
pub use presentation::{TlsVersion, VerifiedPresentation, VerifierConfig, verify, verify_decoded};
pub use template::{HiddenValue, JsonPath, ProofTemplate, TemplateError, TemplateMatch, TemplateSpec};
pub use transcript::{
    Blinder, DisclosedData, DisclosedTranscript, ProverSecret, UnopenedCommitment, check_commitment, plaintext_hash,
};
pub use wire::{Direction, MAX_PRESENTATION_SIZE};
