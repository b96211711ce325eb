//! Making the three sealed bundles, and opening one.

use std::ops::Range;

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::rand_core::CryptoRng;
use hpke::{OpModeS, Serializable as _};
use prost::Message as _;
use sha2::{Digest as _, Sha256};
use triad_mpc_core::PartyId;
use triad_mpc_core::input::{InputBundle, share_bit_inputs_with_seed, share_inputs_with_seed};
use triad_notary::{Direction, ProverSecret, UnopenedCommitment, check_commitment};
use triad_proto::events::v1::{ContributionSubmitted, PlaintextCommitment, ValueFormat};
use triad_proto::provider::v1::{ColumnShares, SealedShareBundle, ShareBundle};

use crate::attribution::{
    ComponentOpening, ComponentSigner, EquivocationProof, MAX_COLUMNS, SALT_LEN, SIGNATURE_LEN, ShareCommitments,
};
use crate::keys::{Kem, PublicKey, SecretKey};
use crate::{BUNDLE_VERSION, DecimalFormat, ProviderError};

/// RFC 9180 ids of the one suite we seal with, as the envelope carries them.
const SUITE: (u32, u32, u32) = (crate::open::KEM_ID as u32, crate::open::KDF_ID as u32, crate::open::AEAD_ID as u32);
const INFO_DOMAIN: &[u8] = b"triad/provider/share-bundle/v1";
/// Words of the bit-sliced 16-byte blinder.
const BLINDER_WORDS: usize = 2;
/// Largest dataset id we seal (a bound for the info string and decoders).
const MAX_DATASET_ID: usize = 256;

/// Where a bundle belongs: the dataset, the contribution and the party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleContext {
    /// The dataset id.
    pub dataset_id: String,
    /// The contribution id (16 bytes, as in `ContributionSubmitted`).
    pub contribution_id: [u8; 16],
    /// The receiving party.
    pub party: PartyId,
}

impl BundleContext {
    /// The context of `party`'s bundle of a contribution.
    pub fn new(dataset_id: &str, contribution_id: [u8; 16], party: PartyId) -> Self {
        Self { dataset_id: dataset_id.to_owned(), contribution_id, party }
    }

    /// HPKE `info` (also the AAD): domain, length-prefixed dataset id,
    /// contribution id, party index. The recipient key is bound by the KEM.
    fn info(&self) -> Vec<u8> {
        let mut info = Vec::with_capacity(INFO_DOMAIN.len() + 4 + self.dataset_id.len() + 17);
        info.extend_from_slice(INFO_DOMAIN);
        info.extend_from_slice(&(self.dataset_id.len() as u32).to_be_bytes());
        info.extend_from_slice(self.dataset_id.as_bytes());
        info.extend_from_slice(&self.contribution_id);
        info.push(self.party.index() as u8);
        info
    }

    fn party_u32(&self) -> u32 {
        self.party.index() as u32
    }
}

/// One party's sealed bundle: the encoded `SealedShareBundle` (the bytes a
/// provider submits and the party receives).
#[derive(Clone, PartialEq, Eq)]
pub struct SealedBundle {
    party: PartyId,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for SealedBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedBundle(party={}, {} bytes)", self.party.index(), self.bytes.len())
    }
}

impl SealedBundle {
    /// The party it is sealed to.
    pub fn party(&self) -> PartyId {
        self.party
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The encoded bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// SHA-256 of the encoded bytes: `ContributionSubmitted.bundle_hashes[party]`.
    pub fn sha256(&self) -> [u8; 32] {
        sha256(&self.bytes)
    }
}

/// SHA-256 of a sealed bundle's bytes as received (what the party compares
/// with `ContributionSubmitted.bundle_hashes[i]`).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// What a party gets out of its bundle: one [`OpenedColumn`] per value of
/// the contribution. `Debug` shows no share.
#[derive(Clone, PartialEq, Eq)]
pub struct OpenedBundle {
    /// Where it belongs (checked against what the party expected).
    pub context: BundleContext,
    /// The values, in the dataset's column order.
    pub columns: Vec<OpenedColumn>,
}

/// One value of a contribution, as this party holds it. `Debug` shows no share.
#[derive(Clone, PartialEq, Eq)]
pub struct OpenedColumn {
    /// The format the value was parsed with; compare with the column's.
    pub format: ValueFormat,
    /// Arithmetic sharing of `N = value * 10^max_decimals`: one element,
    /// `(x_i, x_{i+1})`.
    pub value: InputBundle,
    /// Public length of the committed value bytes.
    pub value_len: usize,
    /// Padded length of the value bytes.
    pub value_max_len: usize,
    /// Boolean sharing of the padded value bytes, `ceil(value_max_len/8)` words.
    pub value_bytes: InputBundle,
    /// Boolean sharing of the blinder, 2 words.
    pub blinder: InputBundle,
    /// The commitment the shares must open; compare with the column's entry
    /// of `ContributionSubmitted.commitments`.
    pub commitment: PlaintextCommitment,
    /// The salts of components `i` and `i+1` (secret: with a component they
    /// open its public commitment).
    pub salts: [[u8; SALT_LEN]; 2],
    /// The provider's signatures over the openings of this party's copies
    /// of components `i` and `i+1`.
    pub signatures: [[u8; SIGNATURE_LEN]; 2],
}

impl std::fmt::Debug for OpenedColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedColumn")
            .field("format", &self.format)
            .field("value_len", &self.value_len)
            .field("commitment", &self.commitment)
            .finish_non_exhaustive()
    }
}

impl OpenedColumn {
    /// This party's (`party`) copies of components `i` and `i+1` of column `column`, as
    /// openings.
    pub fn openings(&self, party: PartyId, column: usize) -> [ComponentOpening; 2] {
        let i = party.index();
        [
            (i, &self.value.first, &self.value_bytes.first, &self.blinder.first, self.salts[0]),
            ((i + 1) % 3, &self.value.second, &self.value_bytes.second, &self.blinder.second, self.salts[1]),
        ]
        .map(|(component, value, value_bytes, blinder, salt)| ComponentOpening {
            column,
            component,
            // `open_bundle` checked one element; a hand-built bundle without
            // one gets 0, which its signature will not cover.
            value: value.first().copied().unwrap_or_default(),
            value_bytes: value_bytes.clone(),
            blinder: blinder.clone(),
            salt,
        })
    }
}

impl OpenedBundle {
    /// This party's copies of components `i` and `i+1` of column `column`
    /// (none past the last column).
    pub fn openings(&self, column: usize) -> Option<[ComponentOpening; 2]> {
        self.columns.get(column).map(|c| c.openings(self.context.party, column))
    }

    /// Checks this party's two components of every column against the
    /// provider's public commitments (step 1 of the attributable intake).
    ///
    /// Returns a proof for each component whose copy does not open its
    /// commitment (empty for an honest provider). Such a copy's signature must
    /// verify under the published key, or the bundle is unusable
    /// ([`ProviderError::BadSignature`]) exactly like one that does not
    /// decrypt: refuse it when it is admitted. A bundle with another number
    /// of columns than the public commitments is unusable too.
    ///
    /// A copy that opens its commitment needs no signature check: its
    /// consistency with the other holder's copy follows from the commitment
    /// alone, and the signature only serves as evidence against the provider,
    /// which such a copy never is. Skipping it saves two Ed25519
    /// verifications per honest value and party (the costliest step of
    /// the intake's local part).
    pub fn check_components(&self, public: &ShareCommitments) -> Result<Vec<EquivocationProof>, ProviderError> {
        let (dataset, cid) = (&self.context.dataset_id, &self.context.contribution_id);
        if public.components.len() != self.columns.len() {
            return Err(ProviderError::Inconsistent(format!(
                "{} values in the bundle but component commitments for {}",
                self.columns.len(),
                public.components.len()
            )));
        }
        let mut proofs = Vec::new();
        for (column, c) in self.columns.iter().enumerate() {
            for (opening, signature) in c.openings(self.context.party, column).into_iter().zip(c.signatures) {
                if public.opens(dataset, cid, &opening) {
                    continue;
                }
                public.verify_signature(dataset, cid, &opening, &signature).map_err(|e| {
                    ProviderError::BadSignature { column, component: opening.component, reason: e.to_string() }
                })?;
                proofs.push(EquivocationProof { opening, signature });
            }
        }
        Ok(proofs)
    }
}

impl std::fmt::Debug for OpenedBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedBundle").field("context", &self.context).field("columns", &self.columns).finish()
    }
}

/// The three sealed bundles of a contribution and what is published beside
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedContribution {
    /// One sealed bundle per party, in party order.
    pub bundles: [SealedBundle; 3],
    /// The public component commitments and the provider's verifying key
    /// (for `ContributionSubmitted`; every party checks its bundle against them).
    pub commitments: ShareCommitments,
}

/// Little-endian packing of bytes into 64-bit words (lane `8k + j` = bit
/// `j` of byte `k`), zero-padded to `words` words.
fn pack(bytes: &[u8], words: usize) -> Vec<u64> {
    let mut out = vec![0u64; words];
    for (k, b) in bytes.iter().enumerate() {
        out[k / 8] |= u64::from(*b) << (8 * (k % 8));
    }
    out
}

fn commitment_range(c: &UnopenedCommitment) -> Result<Range<usize>, ProviderError> {
    if c.direction != Direction::Received {
        return Err(ProviderError::CommitmentShape("a commitment to the sent transcript".into()));
    }
    match c.ranges.as_slice() {
        [r] => Ok(r.clone()),
        rs => Err(ProviderError::CommitmentShape(format!("{} ranges", rs.len()))),
    }
}

fn seed(rng: &mut impl CryptoRng) -> [u8; 16] {
    let mut s = [0u8; 16];
    rng.fill_bytes(&mut s);
    s
}

/// One proven value of a contribution: the prover's secret, the
/// presentation's commitment it opens, and the column's format.
#[derive(Debug, Clone, Copy)]
pub struct ProvenValue<'a> {
    /// The hidden bytes and blinder.
    pub secret: &'a ProverSecret,
    /// The presentation's commitment to them.
    pub commitment: &'a UnopenedCommitment,
    /// The dataset's format for this column.
    pub format: &'a DecimalFormat,
}

/// Splits the provider's proven values (one per column of the dataset, in
/// order) into the three parties' bundles and seals each to its party's key;
/// also returns the public component commitments (see [`ShareCommitments`]).
///
/// Checks first that each secret opens its commitment (one range of the
/// received transcript) and that each value is a decimal of its format; `N =
/// value * 10^max_decimals` is shared arithmetically, the padded value bytes
/// and the blinder boolean (see `proto/triad/provider/v1/bundle.proto`).
pub fn make_bundles(
    values: &[ProvenValue<'_>],
    dataset_id: &str,
    contribution_id: [u8; 16],
    party_keys: &[PublicKey; 3],
    rng: &mut impl CryptoRng,
) -> Result<SealedContribution, ProviderError> {
    let plain = values
        .iter()
        .map(|v| {
            let range = commitment_range(v.commitment)?;
            check_commitment(v.commitment, v.secret).map_err(ProviderError::SecretDoesNotOpen)?;
            Ok(PlainValue {
                value: v.format.parse(&v.secret.value)?,
                value_bytes: v.secret.value.clone(),
                blinder: v.secret.blinder.0,
                commitment: PlaintextCommitment {
                    algorithm: v.commitment.alg.name().to_owned(),
                    hash: v.commitment.hash.to_vec(),
                    start: range.start as u64,
                    end: range.end as u64,
                },
                format: *v.format,
            })
        })
        .collect::<Result<Vec<_>, ProviderError>>()?;
    seal_contribution(&plain, dataset_id, contribution_id, party_keys, rng, |_| {})
}

/// One value a provider shares, before any check: the number `N`, the
/// committed bytes, the blinder, the commitment they claim to open and the
/// column's format.
///
/// [`make_bundles`] builds it only from a secret that opens its commitment
/// and parses; [`seal_contribution`] takes it as it is, which is what a
/// dishonest provider can always do. Tests of the parties' checks use it.
#[derive(Clone)]
pub struct PlainValue {
    /// `N = value * 10^max_decimals`, shared arithmetically.
    pub value: u64,
    /// The committed value bytes (at most the format's `max_len`).
    pub value_bytes: Vec<u8>,
    /// The 16-byte blinder.
    pub blinder: [u8; 16],
    /// The commitment the shares claim to open.
    pub commitment: PlaintextCommitment,
    /// The column's format.
    pub format: DecimalFormat,
}

impl std::fmt::Debug for PlainValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainValue")
            .field("value_len", &self.value_bytes.len())
            .field("commitment", &self.commitment)
            .finish_non_exhaustive()
    }
}

/// Splits and seals `values` (one per column) as given, without
/// [`make_bundles`]' checks; `tweak` may edit each party's [`ShareBundle`]
/// before it is signed and sealed (a test's way of making inconsistent
/// replicated shares: the public commitments are those of the untweaked
/// shares, while each signature covers the party's copy as tweaked, as a
/// dishonest provider would sign).
///
/// Only the shape is checked (the dataset id, 1 to [`MAX_COLUMNS`] values,
/// each value's bytes fitting its format's padded length), so the bundles
/// always open.
pub fn seal_contribution(
    values: &[PlainValue],
    dataset_id: &str,
    contribution_id: [u8; 16],
    party_keys: &[PublicKey; 3],
    rng: &mut impl CryptoRng,
    mut tweak: impl FnMut(&mut ShareBundle),
) -> Result<SealedContribution, ProviderError> {
    if dataset_id.is_empty() || dataset_id.len() > MAX_DATASET_ID {
        return Err(ProviderError::DatasetId { found: dataset_id.len(), max: MAX_DATASET_ID });
    }
    if values.is_empty() || values.len() > MAX_COLUMNS {
        return Err(ProviderError::ColumnCount { found: values.len(), max: MAX_COLUMNS });
    }
    // A fresh signing key for the contribution; per column the shares, salts
    // and the public commitments of the honest components (component j is
    // party j's first).
    let mut key_seed = [0u8; 32];
    rng.fill_bytes(&mut key_seed);
    let signer = ComponentSigner::from_seed(&key_seed)?;
    key_seed.fill(0);
    let mut dealt = Vec::with_capacity(values.len());
    let mut components = Vec::with_capacity(values.len());
    for (column, plain) in values.iter().enumerate() {
        let max_len = plain.format.max_len();
        if plain.value_bytes.len() > max_len {
            return Err(ProviderError::CommitmentShape(format!(
                "value {column}: {} value bytes, the format allows {max_len}",
                plain.value_bytes.len()
            )));
        }
        let value_words = max_len.div_ceil(8);
        let value = share_inputs_with_seed(&[plain.value], seed(rng));
        let bytes = share_bit_inputs_with_seed(&pack(&plain.value_bytes, value_words), seed(rng));
        let blinder = share_bit_inputs_with_seed(&pack(&plain.blinder, BLINDER_WORDS), seed(rng));
        let salts: [[u8; SALT_LEN]; 3] = [seed(rng), seed(rng), seed(rng)];
        let openings: [ComponentOpening; 3] = [0usize, 1, 2].map(|j| ComponentOpening {
            column,
            component: j,
            value: value[j].first[0],
            value_bytes: bytes[j].first.clone(),
            blinder: blinder[j].first.clone(),
            salt: salts[j],
        });
        components.push(openings.each_ref().map(|o| o.commitment(dataset_id, &contribution_id)));
        dealt.push((value, bytes, blinder, salts));
    }
    let commitments = ShareCommitments { verifying_key: signer.verifying_key()?, components };

    let mut out = Vec::with_capacity(3);
    for party in PartyId::ALL {
        let i = party.index();
        let ctx = BundleContext::new(dataset_id, contribution_id, party);
        let columns = values
            .iter()
            .zip(&dealt)
            .map(|(plain, (value, bytes, blinder, salts))| ColumnShares {
                format: Some(plain.format.to_proto()),
                value_first: value[i].first[0],
                value_second: value[i].second[0],
                value_len: plain.value_bytes.len() as u32,
                value_max_len: plain.format.max_len() as u32,
                value_bytes_first: bytes[i].first.clone(),
                value_bytes_second: bytes[i].second.clone(),
                blinder_first: blinder[i].first.clone(),
                blinder_second: blinder[i].second.clone(),
                commitment: Some(plain.commitment.clone()),
                salt_first: salts[i].to_vec(),
                salt_second: salts[(i + 1) % 3].to_vec(),
                signature_first: Vec::new(),
                signature_second: Vec::new(),
            })
            .collect();
        let mut bundle = ShareBundle {
            version: BUNDLE_VERSION,
            dataset_id: dataset_id.to_owned(),
            contribution_id: contribution_id.to_vec(),
            party_index: ctx.party_u32(),
            columns,
        };
        tweak(&mut bundle);
        // Sign the copies as they will be sealed (a salt the tweak made
        // malformed leaves its signature empty: the bundle will not open).
        let sign = |column, component, value, value_bytes: &[u64], blinder: &[u64], salt: &[u8]| {
            let Ok(salt) = <[u8; SALT_LEN]>::try_from(salt) else {
                return Vec::new();
            };
            let opening = ComponentOpening {
                column,
                component,
                value,
                value_bytes: value_bytes.to_vec(),
                blinder: blinder.to_vec(),
                salt,
            };
            signer.sign(dataset_id, &contribution_id, &opening)
        };
        for (column, c) in bundle.columns.iter_mut().enumerate() {
            c.signature_first = sign(column, i, c.value_first, &c.value_bytes_first, &c.blinder_first, &c.salt_first);
            c.signature_second =
                sign(column, (i + 1) % 3, c.value_second, &c.value_bytes_second, &c.blinder_second, &c.salt_second);
        }
        let plaintext = bundle.encode_to_vec();
        let info = ctx.info();
        let (enc, ciphertext) = hpke::single_shot_seal_with_rng::<ChaCha20Poly1305, HkdfSha256, Kem>(
            &OpModeS::Base,
            &party_keys[i].0,
            &info,
            &plaintext,
            &info,
            rng,
        )
        .map_err(|e| ProviderError::Seal(e.to_string()))?;
        let sealed = SealedShareBundle {
            version: BUNDLE_VERSION,
            kem_id: SUITE.0,
            kdf_id: SUITE.1,
            aead_id: SUITE.2,
            dataset_id: dataset_id.to_owned(),
            contribution_id: contribution_id.to_vec(),
            party_index: ctx.party_u32(),
            encapped_key: enc.to_bytes().to_vec(),
            ciphertext,
        };
        out.push(SealedBundle { party, bytes: sealed.encode_to_vec() });
    }
    let bundles = out.try_into().map_err(|_| ProviderError::Seal("three bundles".into()))?;
    Ok(SealedContribution { bundles, commitments })
}

/// Opens a sealed bundle as party `expected.party` with its secret key.
///
/// Checks the envelope names the expected dataset, contribution and party
/// (specific errors), decrypts with the expected context (any mismatch or
/// alteration is [`ProviderError::DecryptionFailed`]), then checks the
/// shares' shape. The caller still compares `format` and `commitment` with
/// the dataset and `ContributionSubmitted`, and the bytes' SHA-256 with
/// `bundle_hashes`.
pub fn open_bundle(
    sealed: &[u8],
    secret_key: &SecretKey,
    expected: &BundleContext,
) -> Result<OpenedBundle, ProviderError> {
    open_bundles(&[(sealed, expected)], secret_key)
        .pop()
        .unwrap_or_else(|| Err(ProviderError::Malformed("no bundle".into())))
}

/// [`open_bundle`] of each `(sealed, expected)`, in order, as one party: what a party does with
/// an intake session's bundles. The same results as one at a time, for a third less of the
/// decryptions' field arithmetic (`open.rs`: the key agreements finish together).
pub fn open_bundles(
    items: &[(&[u8], &BundleContext)],
    secret_key: &SecretKey,
) -> Vec<Result<OpenedBundle, ProviderError>> {
    let envelopes: Vec<Result<Envelope, ProviderError>> =
        items.iter().map(|(sealed, expected)| envelope(sealed, expected)).collect();
    // Our own open of the same suite (`open.rs`: the crate's is twice as slow).
    let plaintexts = {
        let sealed: Vec<crate::open::Sealed<'_>> = envelopes
            .iter()
            .filter_map(|e| e.as_ref().ok())
            .map(|e| crate::open::Sealed { enc: &e.enc, info: &e.info, aad: &e.info, ciphertext: &e.sealed.ciphertext })
            .collect();
        secret_key.opener.open_many(&sealed)
    };
    let mut plaintexts = plaintexts.into_iter();
    envelopes
        .into_iter()
        .zip(items)
        .map(|(e, (_, expected))| {
            e?;
            let plaintext = plaintexts.next().flatten().ok_or(ProviderError::DecryptionFailed)?;
            unwrap_bundle(&plaintext, expected)
        })
        .collect()
}

/// A sealed bundle whose envelope passed its checks, ready to open.
struct Envelope {
    /// The encapsulated key.
    enc: [u8; 32],
    /// The HPKE `info`, also the AAD: the expected context.
    info: Vec<u8>,
    sealed: SealedShareBundle,
}

/// The envelope's checks (version, suite, context, key length).
fn envelope(sealed: &[u8], expected: &BundleContext) -> Result<Envelope, ProviderError> {
    let env = SealedShareBundle::decode(sealed)
        .map_err(|e| ProviderError::Malformed(format!("not a SealedShareBundle: {e}")))?;
    if env.version != BUNDLE_VERSION {
        return Err(ProviderError::UnsupportedVersion { found: env.version, supported: BUNDLE_VERSION });
    }
    if (env.kem_id, env.kdf_id, env.aead_id) != SUITE {
        return Err(ProviderError::UnsupportedSuite { kem: env.kem_id, kdf: env.kdf_id, aead: env.aead_id });
    }
    check_context(&env.dataset_id, &env.contribution_id, env.party_index, expected)?;
    let enc: [u8; 32] = env
        .encapped_key
        .as_slice()
        .try_into()
        .map_err(|_| ProviderError::Malformed("the encapsulated key is not 32 bytes".into()))?;
    Ok(Envelope { enc, info: expected.info(), sealed: env })
}

/// The decrypted bundle's checks.
fn unwrap_bundle(plaintext: &[u8], expected: &BundleContext) -> Result<OpenedBundle, ProviderError> {
    let b = ShareBundle::decode(plaintext)
        .map_err(|e| ProviderError::Malformed(format!("the decrypted ShareBundle does not decode: {e}")))?;
    if b.version != BUNDLE_VERSION {
        return Err(ProviderError::UnsupportedVersion { found: b.version, supported: BUNDLE_VERSION });
    }
    // Authenticated by the AEAD, so a mismatch is the provider's own doing.
    check_context(&b.dataset_id, &b.contribution_id, b.party_index, expected)
        .map_err(|e| ProviderError::Inconsistent(format!("sealed shares disagree with their envelope: {e}")))?;
    if b.columns.is_empty() || b.columns.len() > MAX_COLUMNS {
        return Err(ProviderError::Inconsistent(format!(
            "{} values; a contribution carries 1 to {MAX_COLUMNS}",
            b.columns.len()
        )));
    }
    let columns = b
        .columns
        .into_iter()
        .enumerate()
        .map(|(k, c)| open_column(c).map_err(|m| ProviderError::Inconsistent(format!("value {k}: {m}"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(OpenedBundle { context: expected.clone(), columns })
}

/// The shape checks of one value's shares.
fn open_column(c: ColumnShares) -> Result<OpenedColumn, String> {
    let Some(format) = c.format else {
        return Err("no value format".into());
    };
    let decimal = DecimalFormat::from_proto(&format).map_err(|e| e.to_string())?;
    let value_max_len = c.value_max_len as usize;
    if value_max_len != decimal.max_len() {
        return Err(format!("value_max_len {value_max_len} is not the format's {}", decimal.max_len()));
    }
    let value_len = c.value_len as usize;
    if value_len == 0 || value_len > value_max_len {
        return Err(format!("value_len {value_len} is not in 1..={value_max_len}"));
    }
    let Some(commitment) = c.commitment else {
        return Err("no commitment".into());
    };
    if commitment.end.checked_sub(commitment.start) != Some(value_len as u64) {
        return Err(format!(
            "the commitment range {}..{} does not have value_len {value_len} bytes",
            commitment.start, commitment.end
        ));
    }
    let salts = [&c.salt_first, &c.salt_second].map(|s| <[u8; SALT_LEN]>::try_from(s.as_slice()));
    let [Ok(salt_first), Ok(salt_second)] = salts else {
        return Err(format!("a salt is not {SALT_LEN} bytes"));
    };
    let signatures = [&c.signature_first, &c.signature_second].map(|s| <[u8; SIGNATURE_LEN]>::try_from(s.as_slice()));
    let [Ok(signature_first), Ok(signature_second)] = signatures else {
        return Err(format!("a signature is not {SIGNATURE_LEN} bytes"));
    };
    let words = value_max_len.div_ceil(8);
    if c.value_bytes_first.len() != words || c.value_bytes_second.len() != words {
        return Err(format!("the value bytes' sharing must have {words} words per component"));
    }
    if c.blinder_first.len() != BLINDER_WORDS || c.blinder_second.len() != BLINDER_WORDS {
        return Err(format!("the blinder's sharing must have {BLINDER_WORDS} words per component"));
    }
    Ok(OpenedColumn {
        format,
        value: InputBundle { first: vec![c.value_first], second: vec![c.value_second] },
        value_len,
        value_max_len,
        value_bytes: InputBundle { first: c.value_bytes_first, second: c.value_bytes_second },
        blinder: InputBundle { first: c.blinder_first, second: c.blinder_second },
        commitment,
        salts: [salt_first, salt_second],
        signatures: [signature_first, signature_second],
    })
}

/// Checks an opened bundle against what the log says: the sealed bytes'
/// SHA-256 is `submitted.bundle_hashes[party]`, the ids match, and per
/// column the commitment is `submitted.commitments`' and the value format
/// the dataset's (`column_formats`, one per column). A party runs this
/// before feeding the shares to the MPC input check; a failure is the
/// provider's (or the coordinator's) fault.
pub fn check_submitted(
    opened: &OpenedBundle,
    sealed: &[u8],
    submitted: &ContributionSubmitted,
    column_formats: &[ValueFormat],
) -> Result<(), ProviderError> {
    let bad = |m: String| Err(ProviderError::NotAsSubmitted(m));
    let ctx = &opened.context;
    if submitted.dataset_id != ctx.dataset_id || submitted.contribution_id != ctx.contribution_id {
        return bad("the submission is for another dataset or contribution".into());
    }
    match submitted.bundle_hashes.get(ctx.party.index()) {
        Some(h) if h.as_slice() == sha256(sealed) => {}
        Some(_) => {
            return bad(format!("bundle_hashes[{}] is not the SHA-256 of this bundle", ctx.party.index()));
        }
        None => {
            return bad(format!("bundle_hashes has no entry for party {}", ctx.party.index()));
        }
    }
    if opened.columns.len() != column_formats.len() || submitted.commitments.len() != column_formats.len() {
        return bad(format!(
            "the dataset has {} columns; the bundle carries {} values and the submission {} commitments",
            column_formats.len(),
            opened.columns.len(),
            submitted.commitments.len()
        ));
    }
    for (k, ((c, submitted), format)) in
        opened.columns.iter().zip(&submitted.commitments).zip(column_formats).enumerate()
    {
        if &c.commitment != submitted {
            return bad(format!("value {k}: the bundle's commitment is not the submitted one"));
        }
        if &c.format != format {
            return bad(format!("value {k}: the bundle's value format is not the column's"));
        }
    }
    Ok(())
}

fn check_context(
    dataset_id: &str,
    contribution_id: &[u8],
    party_index: u32,
    expected: &BundleContext,
) -> Result<(), ProviderError> {
    if party_index != expected.party_u32() {
        return Err(ProviderError::WrongParty { expected: expected.party_u32(), found: party_index });
    }
    if dataset_id != expected.dataset_id {
        return Err(ProviderError::WrongDataset {
            expected: expected.dataset_id.clone(),
            found: dataset_id.to_owned(),
        });
    }
    if contribution_id != expected.contribution_id {
        return Err(ProviderError::WrongContribution {
            expected: hex::encode(expected.contribution_id),
            found: hex::encode(contribution_id),
        });
    }
    Ok(())
}
