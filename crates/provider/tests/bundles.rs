//! Provider → parties: bundles made by `make_bundles`, opened by each party.

use proptest::prelude::*;
use triad_mpc_core::PartyId;
use triad_notary::{Blinder, Direction, HashAlg, ProverSecret, UnopenedCommitment, plaintext_hash};
use triad_provider::{
    BundleContext, DecimalError, DecimalFormat, OpenedBundle, OpenedColumn, ProvenValue, ProviderError, PublicKey,
    SealedBundle, SealedContribution, SecretKey, generate_keypair, make_bundles, open_bundle, open_bundles, os_rng,
};

const DATASET: &str = "eth-balances";
const CID: [u8; 16] = [0xc1; 16];

struct Fixture {
    secret: ProverSecret,
    commitment: UnopenedCommitment,
    format: DecimalFormat,
    sks: [SecretKey; 3],
    pks: [PublicKey; 3],
}

fn fixture(value: &[u8], alg: HashAlg) -> Fixture {
    let mut rng = os_rng();
    let mut blinder = [0u8; 16];
    hpke::rand_core::Rng::fill_bytes(&mut rng, &mut blinder);
    let blinder = Blinder(blinder);
    let commitment = UnopenedCommitment {
        field_id: 6,
        direction: Direction::Received,
        ranges: std::iter::once(100..100 + value.len()).collect(),
        alg,
        hash: plaintext_hash(alg, value, &blinder),
    };
    let keys = [0, 1, 2].map(|_| generate_keypair(&mut rng));
    Fixture {
        secret: ProverSecret { value: value.to_vec(), blinder },
        commitment,
        format: DecimalFormat::new(12, 6, 16).expect("format"),
        pks: keys.each_ref().map(|k| k.1.clone()),
        sks: keys.map(|k| k.0),
    }
}

impl Fixture {
    fn seal(&self) -> Result<[SealedBundle; 3], ProviderError> {
        self.seal_all().map(|s| s.bundles)
    }

    fn seal_all(&self) -> Result<SealedContribution, ProviderError> {
        make_bundles(&[self.value()], DATASET, CID, &self.pks, &mut os_rng())
    }

    fn value(&self) -> ProvenValue<'_> {
        ProvenValue { secret: &self.secret, commitment: &self.commitment, format: &self.format }
    }

    fn open_bundles(&self, sealed: &[SealedBundle; 3]) -> [OpenedBundle; 3] {
        PartyId::ALL.map(|p| open_bundle(sealed[p.index()].as_bytes(), &self.sks[p.index()], &ctx(p)).expect("opens"))
    }

    /// The one value of each party's bundle.
    fn open_all(&self, sealed: &[SealedBundle; 3]) -> [OpenedColumn; 3] {
        self.open_bundles(sealed).map(|b| {
            assert_eq!(b.columns.len(), 1);
            b.columns.into_iter().next().expect("one value")
        })
    }
}

fn ctx(p: PartyId) -> BundleContext {
    BundleContext::new(DATASET, CID, p)
}

fn party(i: u8) -> PartyId {
    PartyId::new(i).expect("party index below 3")
}

/// Reconstructs (value, bytes words, blinder words) and checks that
/// replicated components agree: party i's second is party i+1's first.
fn reconstruct(opened: &[OpenedColumn; 3]) -> (u64, Vec<u64>, Vec<u64>) {
    for i in 0..3 {
        let j = (i + 1) % 3;
        assert_eq!(opened[i].value.second, opened[j].value.first, "replicated value component");
        assert_eq!(opened[i].value_bytes.second, opened[j].value_bytes.first, "replicated byte component");
        assert_eq!(opened[i].blinder.second, opened[j].blinder.first, "replicated blinder component");
    }
    let value = opened.iter().fold(0u64, |a, o| a.wrapping_add(o.value.first[0]));
    let xor = |f: fn(&OpenedColumn) -> &Vec<u64>| -> Vec<u64> {
        let n = f(&opened[0]).len();
        (0..n).map(|k| opened.iter().fold(0u64, |a, o| a ^ f(o)[k])).collect()
    };
    (value, xor(|o| &o.value_bytes.first), xor(|o| &o.blinder.first))
}

fn unpack(words: &[u64], len: usize) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).take(len).collect()
}

#[test]
fn three_parties_reconstruct_the_value_its_bytes_and_the_blinder() {
    for alg in [HashAlg::Blake3, HashAlg::Sha256] {
        let f = fixture(b"12.345", alg);
        let sealed = f.seal().expect("bundles");
        let opened = f.open_all(&sealed);
        let (value, bytes, blinder) = reconstruct(&opened);
        assert_eq!(value, 12_345_000, "12.345 at 10^6");
        assert_eq!(opened[0].value_len, 6);
        assert_eq!(opened[0].value_max_len, 19);
        assert_eq!(bytes.len(), 3);
        assert_eq!(unpack(&bytes, 24), b"12.345\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec());
        assert_eq!(unpack(&blinder, 16), f.secret.blinder.0.to_vec());
        assert_eq!(opened[1].commitment.hash, f.commitment.hash.to_vec());
        assert_eq!(opened[1].commitment.algorithm, alg.name());
        assert_eq!((opened[2].commitment.start, opened[2].commitment.end), (100, 106));
        assert_eq!(opened[2].format, f.format.to_proto());
    }
}

#[test]
fn bundle_hashes_are_sha256_of_the_sealed_bytes_and_differ_per_party() {
    let f = fixture(b"7", HashAlg::Blake3);
    let sealed = f.seal().expect("bundles");
    let hashes = sealed.each_ref().map(SealedBundle::sha256);
    assert_eq!(hashes[0], triad_provider::sha256(sealed[0].as_bytes()));
    assert_ne!(hashes[0], hashes[1]);
    assert_ne!(hashes[1], hashes[2]);
}

#[test]
fn debug_shows_no_share_or_key() {
    let f = fixture(b"12.345", HashAlg::Blake3);
    let opened = f.open_all(&f.seal().expect("bundles"));
    let text = format!("{:?} {:?}", opened[0], f.sks[0]);
    assert!(!text.contains(&opened[0].value.first[0].to_string()), "{text}");
    assert!(!text.contains(&f.sks[0].to_hex()), "{text}");
}

#[test]
fn opening_with_another_partys_key_fails_to_decrypt() {
    let f = fixture(b"12.345", HashAlg::Blake3);
    let sealed = f.seal().expect("bundles");
    let err = open_bundle(sealed[0].as_bytes(), &f.sks[1], &ctx(party(0))).expect_err("wrong key");
    assert!(matches!(err, ProviderError::DecryptionFailed), "{err}");
}

/// A party opens an intake session's bundles together: each result is what opening it alone
/// gives, failures included, whatever sits beside it.
#[test]
fn bundles_opened_together_open_as_each_alone() {
    let f = fixture(b"12.345", HashAlg::Blake3);
    let g = fixture(b"7", HashAlg::Blake3);
    let (a, b, other) = (f.seal().expect("bundles"), f.seal().expect("bundles"), g.seal().expect("bundles"));
    let other_cid = BundleContext::new(DATASET, [0xc2; 16], party(0));
    let (c0, c1) = (ctx(party(0)), ctx(party(1)));
    let items: Vec<(&[u8], &BundleContext)> = vec![
        (a[0].as_bytes(), &c0),
        (b"not a bundle", &c0),
        (other[0].as_bytes(), &c0), // sealed to another key
        (b[0].as_bytes(), &c0),
        (a[0].as_bytes(), &other_cid),
        (a[1].as_bytes(), &c1), // party 1's, opened with party 0's key
        (b[0].as_bytes(), &c0),
    ];
    let together = open_bundles(&items, &f.sks[0]);
    assert_eq!(together.len(), items.len());
    for (i, ((sealed, c), got)) in items.iter().zip(&together).enumerate() {
        match (open_bundle(sealed, &f.sks[0], c), got) {
            (Ok(want), Ok(got)) => assert!(want == *got, "item {i}"),
            (Err(want), Err(got)) => assert_eq!(want.to_string(), got.to_string(), "item {i}"),
            (want, got) => panic!("item {i}: alone {:?}, together {:?}", want.err(), got.as_ref().err()),
        }
    }
    let opened: Vec<bool> = together.iter().map(Result::is_ok).collect();
    assert_eq!(opened, [true, false, false, true, false, false, true]);
    assert!(open_bundles(&[], &f.sks[0]).is_empty());
}

#[test]
fn opening_as_another_party_fails_with_wrong_party() {
    let f = fixture(b"12.345", HashAlg::Blake3);
    let sealed = f.seal().expect("bundles");
    let err = open_bundle(sealed[0].as_bytes(), &f.sks[1], &ctx(party(1))).expect_err("wrong party");
    assert!(matches!(err, ProviderError::WrongParty { expected: 1, found: 0 }), "{err}");
}

#[test]
fn opening_for_another_contribution_or_dataset_fails_with_its_error() {
    let f = fixture(b"12.345", HashAlg::Blake3);
    let sealed = f.seal().expect("bundles");
    let other_cid = BundleContext::new(DATASET, [0xc2; 16], party(0));
    let err = open_bundle(sealed[0].as_bytes(), &f.sks[0], &other_cid).expect_err("wrong contribution");
    assert!(matches!(err, ProviderError::WrongContribution { .. }), "{err}");
    let other_ds = BundleContext::new("other", CID, party(0));
    let err = open_bundle(sealed[0].as_bytes(), &f.sks[0], &other_ds).expect_err("wrong dataset");
    assert!(matches!(err, ProviderError::WrongDataset { .. }), "{err}");
}

/// Relabelling the clear envelope does not help: the context is in the
/// HPKE key schedule, so the relabelled bundle does not decrypt.
#[test]
fn a_bundle_relabelled_for_another_party_or_contribution_does_not_decrypt() {
    use prost::Message as _;
    use triad_proto::provider::v1::SealedShareBundle;
    let f = fixture(b"12.345", HashAlg::Blake3);
    let sealed = f.seal().expect("bundles");
    let mut env = SealedShareBundle::decode(sealed[0].as_bytes()).expect("decodes");
    env.contribution_id = vec![0xc2; 16];
    let other = BundleContext::new(DATASET, [0xc2; 16], party(0));
    let err = open_bundle(&env.encode_to_vec(), &f.sks[0], &other).expect_err("relabelled");
    assert!(matches!(err, ProviderError::DecryptionFailed), "{err}");

    let mut env = SealedShareBundle::decode(sealed[0].as_bytes()).expect("decodes");
    env.party_index = 1;
    let err = open_bundle(&env.encode_to_vec(), &f.sks[0], &ctx(party(1))).expect_err("relabelled");
    assert!(matches!(err, ProviderError::DecryptionFailed), "{err}");
}

#[test]
fn a_tampered_ciphertext_or_key_fails_to_decrypt() {
    use prost::Message as _;
    use triad_proto::provider::v1::SealedShareBundle;
    let f = fixture(b"12.345", HashAlg::Blake3);
    let sealed = f.seal().expect("bundles");
    let env = SealedShareBundle::decode(sealed[2].as_bytes()).expect("decodes");
    for k in 0..env.ciphertext.len() {
        let mut t = env.clone();
        t.ciphertext[k] ^= 0x01;
        let err = open_bundle(&t.encode_to_vec(), &f.sks[2], &ctx(party(2))).expect_err("tampered");
        assert!(matches!(err, ProviderError::DecryptionFailed), "byte {k}: {err}");
    }
    let mut t = env.clone();
    t.encapped_key[0] ^= 0x80;
    let err = open_bundle(&t.encode_to_vec(), &f.sks[2], &ctx(party(2))).expect_err("tampered");
    assert!(matches!(err, ProviderError::DecryptionFailed), "{err}");
    let mut t = env;
    t.ciphertext.truncate(10);
    let err = open_bundle(&t.encode_to_vec(), &f.sks[2], &ctx(party(2))).expect_err("truncated");
    assert!(matches!(err, ProviderError::DecryptionFailed), "{err}");
}

#[test]
fn garbage_is_malformed_and_other_versions_are_refused() {
    use prost::Message as _;
    use triad_proto::provider::v1::SealedShareBundle;
    let f = fixture(b"1", HashAlg::Blake3);
    let err = open_bundle(&[0xff, 0xff, 0xff], &f.sks[0], &ctx(party(0))).expect_err("garbage");
    assert!(matches!(err, ProviderError::Malformed(_)), "{err}");
    let sealed = f.seal().expect("bundles");
    let mut env = SealedShareBundle::decode(sealed[0].as_bytes()).expect("decodes");
    for old_or_new in [2, 4] {
        env.version = old_or_new;
        let err = open_bundle(&env.encode_to_vec(), &f.sks[0], &ctx(party(0))).expect_err("version");
        assert!(
            matches!(
                err,
                ProviderError::UnsupportedVersion { found, supported: 3 } if found == old_or_new
            ),
            "{err}"
        );
    }
    env.version = triad_provider::BUNDLE_VERSION;
    env.aead_id = 0x0001;
    let err = open_bundle(&env.encode_to_vec(), &f.sks[0], &ctx(party(0))).expect_err("suite");
    assert!(matches!(err, ProviderError::UnsupportedSuite { .. }), "{err}");
}

#[test]
fn a_secret_that_does_not_open_the_commitment_is_refused() {
    let mut f = fixture(b"12.345", HashAlg::Blake3);
    f.secret.blinder.0[0] ^= 1;
    let err = f.seal().expect_err("wrong blinder");
    assert!(matches!(err, ProviderError::SecretDoesNotOpen(_)), "{err}");
}

fn malformed(value: &[u8]) -> DecimalError {
    let f = fixture(value, HashAlg::Blake3);
    match f.seal() {
        Err(ProviderError::Value(e)) => e,
        other => panic!("{:?}: expected a value error, got {other:?}", String::from_utf8_lossy(value)),
    }
}

#[test]
fn malformed_decimals_are_rejected_with_the_reason() {
    assert_eq!(malformed(b"1.2.3"), DecimalError::SecondPoint { pos: 3 });
    assert_eq!(malformed(b"-"), DecimalError::UnexpectedByte { pos: 0, byte: b'-' });
    assert_eq!(malformed(b"-1.5"), DecimalError::UnexpectedByte { pos: 0, byte: b'-' });
    assert_eq!(malformed(b""), DecimalError::Empty);
    assert_eq!(malformed(b"1e5"), DecimalError::UnexpectedByte { pos: 1, byte: b'e' });
    assert_eq!(malformed(b"+1"), DecimalError::UnexpectedByte { pos: 0, byte: b'+' });
    assert_eq!(malformed(b"1.1234567"), DecimalError::TooManyDecimals { found: 7, max: 6 });
    assert_eq!(malformed(b"1234567890123"), DecimalError::TooManyIntegerDigits { found: 13, max: 12 });
    assert_eq!(malformed(b".5"), DecimalError::NoIntegerDigits);
    assert_eq!(malformed(b"5."), DecimalError::NoFractionDigits);
    assert_eq!(malformed(b" 5"), DecimalError::UnexpectedByte { pos: 0, byte: b' ' });
    assert_eq!(malformed(b"1,000"), DecimalError::UnexpectedByte { pos: 1, byte: b',' });
    let msg = ProviderError::Value(malformed(b"+1")).to_string();
    assert!(msg.contains("'+'") && msg.contains("no sign"), "{msg}");
    let msg = ProviderError::Value(malformed(b"1.1234567")).to_string();
    assert!(msg.contains("7 digits after the point") && msg.contains("at most 6"), "{msg}");
}

fn decimal() -> impl Strategy<Value = (String, u64)> {
    // Up to 12 integer digits and 6 decimals (the fixture's format).
    ("[0-9]{1,12}", proptest::option::of("[0-9]{1,6}")).prop_map(|(int, frac)| {
        let mut scaled = format!("{int}{}", frac.as_deref().unwrap_or(""));
        scaled.extend(std::iter::repeat_n('0', 6 - frac.as_ref().map_or(0, String::len)));
        let n: u64 = scaled.parse().expect("at most 18 digits");
        let text = match frac {
            Some(f) => format!("{int}.{f}"),
            None => int,
        };
        (text, n)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_decimals_of_the_format_round_trip((text, n) in decimal()) {
        let f = fixture(text.as_bytes(), HashAlg::Blake3);
        let opened = f.open_all(&f.seal().expect("bundles"));
        let (value, bytes, blinder) = reconstruct(&opened);
        prop_assert_eq!(value, n);
        let mut padded = text.as_bytes().to_vec();
        padded.resize(24, 0);
        prop_assert_eq!(unpack(&bytes, 24), padded);
        prop_assert_eq!(unpack(&blinder, 16), f.secret.blinder.0.to_vec());
        prop_assert_eq!(opened[0].value_len, text.len());
    }
}

#[test]
fn an_opened_bundle_is_checked_against_its_submission_event() {
    use triad_proto::events::v1::{ContributionSubmitted, PlaintextCommitment};
    let f = fixture(b"12.345", HashAlg::Blake3);
    let sealed = f.seal().expect("bundles");
    let opened = f.open_bundles(&sealed);
    let mut submitted = ContributionSubmitted {
        dataset_id: DATASET.to_owned(),
        contribution_id: CID.to_vec(),
        commitments: vec![PlaintextCommitment {
            algorithm: "blake3".to_owned(),
            hash: f.commitment.hash.to_vec(),
            start: 100,
            end: 106,
        }],
        bundle_hashes: sealed.iter().map(|b| b.sha256().to_vec()).collect(),
        ..Default::default()
    };
    let format = [f.format.to_proto()];
    for i in 0..3 {
        triad_provider::check_submitted(&opened[i], sealed[i].as_bytes(), &submitted, &format).expect("as submitted");
    }
    let err = triad_provider::check_submitted(&opened[0], sealed[1].as_bytes(), &submitted, &format)
        .expect_err("another party's bytes");
    assert!(matches!(err, ProviderError::NotAsSubmitted(_)), "{err}");
    let mut other_format = format;
    other_format[0].max_decimals = 2;
    let err = triad_provider::check_submitted(&opened[0], sealed[0].as_bytes(), &submitted, &other_format)
        .expect_err("format");
    assert!(matches!(err, ProviderError::NotAsSubmitted(_)), "{err}");
    // A dataset with another number of columns than the bundle's values.
    let two = [format[0], format[0]];
    let err = triad_provider::check_submitted(&opened[0], sealed[0].as_bytes(), &submitted, &two).expect_err("columns");
    assert!(err.to_string().contains("2 columns"), "{err}");
    submitted.commitments[0].end = 107;
    let err =
        triad_provider::check_submitted(&opened[0], sealed[0].as_bytes(), &submitted, &format).expect_err("commitment");
    assert!(matches!(err, ProviderError::NotAsSubmitted(_)), "{err}");
}

#[test]
fn an_empty_dataset_id_is_refused() {
    let f = fixture(b"1", HashAlg::Blake3);
    let err = make_bundles(&[f.value()], "", CID, &f.pks, &mut os_rng()).expect_err("empty dataset id");
    assert!(matches!(err, ProviderError::DatasetId { found: 0, .. }), "{err}");
}
