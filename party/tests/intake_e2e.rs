//! Issue 5, end to end: the development notary issues presentations, the
//! parties verify them against the dataset template, providers (honest and
//! dishonest) share, and three parties over real TCP (TLS 1.3, pinned keys)
//! run the intake: the honest contributions are accepted and each dishonest
//! one is rejected with its reason, without disturbing the rest of the batch;
//! a party that accuses an honest contribution is named and the batch aborts.

use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use triad_dev_notary::{Account, CommitmentAlg, DevNotary, DevNotaryConfig, Issued};
use triad_mpc::net::{MeshListener, NetConfig, PartyId, PartyIdentity, PeerAddr, TcpSetup};
use triad_mpc::{NetParty, PartyConfig};
use triad_mpc_core::SessionId;
use triad_notary::UnopenedCommitment;
use triad_party::{Accusation, AccusationFault, IntakeError, Outcome, Reason, accuse, check_commitments, judge};
use triad_proto::events::v1::PlaintextCommitment;
use triad_provider::{
    BundleContext, DecimalFormat, PlainValue, ProofError, ProvenValue, PublicKey, SealedBundle, SealedContribution,
    SecretKey, ShareCommitments, generate_keypair, make_bundles, open_bundle, os_rng, seal_contribution,
};

const DATASET: &str = "eth-balances";

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

/// One contribution as a provider made it, and what the parties must decide.
struct Case {
    name: &'static str,
    sealed: SealedContribution,
    expected: Outcome,
}

/// The format of the single-value tests' balances.
fn format() -> DecimalFormat {
    DecimalFormat::new(12, 4, 16).expect("format")
}

fn plain(issued: &Issued, c: &UnopenedCommitment, value: u64) -> PlainValue {
    let r = &issued.secrets[0].range;
    PlainValue {
        value,
        value_bytes: issued.secrets[0].value.clone(),
        blinder: issued.secrets[0].blinder.0,
        commitment: PlaintextCommitment {
            algorithm: c.alg.name().to_owned(),
            hash: c.hash.to_vec(),
            start: r.start as u64,
            end: r.end as u64,
        },
        format: format(),
    }
}

/// `make_bundles` of the one value `issued` proves, under `c`.
fn bundles(
    issued: &Issued,
    c: &UnopenedCommitment,
    cid: [u8; 16],
    pks: &[PublicKey; 3],
) -> Result<SealedContribution, triad_provider::ProviderError> {
    let (secret, format) = (issued.secrets[0].prover_secret(), format());
    make_bundles(&[ProvenValue { secret: &secret, commitment: c, format: &format }], DATASET, cid, pks, &mut os_rng())
}

/// Issue and verify a presentation for `token`: what a party checks before
/// the contribution is admitted to a batch.
async fn issue(notary: &DevNotary, token: &str) -> (Issued, UnopenedCommitment) {
    let issued = notary.issue(token).await.expect("issue");
    let verified = triad_notary::verify(&issued.presentation, &notary.verifier_config().expect("config"))
        .expect("the presentation verifies");
    let matched = notary.template(600).apply(&verified, now()).expect("the template matches");
    let value = matched.values.into_iter().next().expect("one hidden value");
    assert_eq!(value.range, issued.secrets[0].range);
    (issued, value.commitment)
}

/// A party whose published accusation list the event log replaces, after
/// it saw the three lists the parties made (an adaptive cheater).
type Cheat = (usize, Box<dyn FnOnce(&[Vec<Accusation>; 3]) -> Vec<Accusation> + Send>);

/// Run the intake at the three parties over localhost TCP. The accusation
/// lists travel through the test (the event log's job in the service), which
/// lets `cheat` replace one party's list after seeing all three. Returns each
/// party's result.
fn run_parties(
    keys: [SecretKey; 3],
    batch: Vec<([SealedBundle; 3], ShareCommitments)>,
    cheat: Option<Cheat>,
) -> Vec<Result<Vec<Outcome>, IntakeError>> {
    let ids = PartyId::ALL.map(|p| PartyIdentity::generate(p).expect("identity"));
    let listeners = PartyId::ALL.map(|_| MeshListener::bind(([127, 0, 0, 1], 0).into()).expect("bind"));
    let addrs = listeners.each_ref().map(|l| l.local_addr().expect("addr"));
    let pins = ids.each_ref().map(|i| i.pinned_key());
    let sid = SessionId(*b"intake-e2e-sess1");
    let public: Vec<ShareCommitments> = batch.iter().map(|(_, p)| p.clone()).collect();
    let (to_log, from_parties) = mpsc::channel::<(usize, Vec<Accusation>)>();
    let mut log_tx = Vec::new();
    let mut handles = Vec::new();
    for ((identity, listener), sk) in ids.into_iter().zip(listeners).zip(keys) {
        let me = identity.party();
        let peers = me
            .others()
            .into_iter()
            .map(|p| PeerAddr { party: p, addr: addrs[p.index()], key: pins[p.index()].clone() })
            .collect();
        let setup = TcpSetup { identity, listener, peers, config: NetConfig::new(triad_mpc::net_session_id(sid)) };
        let mine: Vec<Vec<u8>> = batch.iter().map(|(b, _)| b[me.index()].as_bytes().to_vec()).collect();
        let public = public.clone();
        let to_log = to_log.clone();
        let (tx, lists_rx) = mpsc::channel::<[Vec<Accusation>; 3]>();
        log_tx.push(tx);
        handles.push(std::thread::spawn(move || {
            let opened: Vec<_> = mine
                .iter()
                .enumerate()
                .map(|(i, bytes)| {
                    let ctx = BundleContext::new(DATASET, [i as u8; 16], triad_mpc::core_party(me));
                    open_bundle(bytes, &sk, &ctx).expect("the bundle opens")
                })
                .collect();
            let mut party = NetParty::connect(setup, sid, PartyConfig::default()).expect("connect");
            let accusations = accuse(&opened, &public).expect("every bundle is signed");
            to_log.send((me.index(), accusations)).expect("publish");
            let lists = lists_rx.recv().expect("the published lists");
            let result =
                judge(&opened, &public, &lists).and_then(|rejected| check_commitments(&mut party, &opened, &rejected));
            party.close().expect("close");
            result
        }));
    }
    let mut lists: [Vec<Accusation>; 3] = Default::default();
    for _ in 0..3 {
        let (i, list) = from_parties.recv().expect("a party's accusations");
        lists[i] = list;
    }
    if let Some((cheater, rewrite)) = cheat {
        lists[cheater] = rewrite(&lists);
    }
    for tx in &log_tx {
        tx.send(lists.clone()).expect("deliver the lists");
    }
    handles.into_iter().map(|h| h.join().expect("party thread")).collect()
}

/// [`run_parties`] without a cheater: every party succeeds with the same outcomes.
fn run_honest(keys: [SecretKey; 3], batch: Vec<([SealedBundle; 3], ShareCommitments)>) -> Vec<Outcome> {
    let results: Vec<Vec<Outcome>> =
        run_parties(keys, batch, None).into_iter().map(|r| r.expect("an honest party's intake")).collect();
    assert_eq!(results[0], results[1], "P0 and P1 disagree");
    assert_eq!(results[1], results[2], "P1 and P2 disagree");
    results.into_iter().next().expect("three results")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blake3_honest_contributions_pass_and_each_lie_is_rejected_with_its_reason() {
    honest_pass_lies_rejected(CommitmentAlg::Blake3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sha256_honest_contributions_pass_and_each_lie_is_rejected_with_its_reason() {
    honest_pass_lies_rejected(CommitmentAlg::Sha256).await;
}

async fn honest_pass_lies_rejected(alg: CommitmentAlg) {
    let mut accounts = Account::demo(); // alice 12.345, bob 0.5, carol 1000
    accounts.push(Account::new("dave-token", "u-dave", "-1.5", "ETH").expect("account"));
    accounts.push(Account::new("erin-token", "u-erin", "3.1415926", "ETH").expect("account"));
    let notary = DevNotary::start(DevNotaryConfig { accounts, commitment_alg: alg, ..DevNotaryConfig::default() })
        .await
        .expect("notary");
    let mut rng = os_rng();
    let (sks, pks): (Vec<SecretKey>, Vec<PublicKey>) = (0..3).map(|_| generate_keypair(&mut rng)).unzip();
    let pks: [PublicKey; 3] = pks.try_into().expect("three keys");
    let sks: [SecretKey; 3] = sks.try_into().expect("three keys");

    let mut cases: Vec<Case> = Vec::new();
    let mut seal = |name, p: &PlainValue, tweak: &dyn Fn(&mut triad_proto::provider::v1::ShareBundle), expected| {
        let cid = [cases.len() as u8; 16];
        let sealed =
            seal_contribution(std::slice::from_ref(p), DATASET, cid, &pks, &mut os_rng(), tweak).expect("seal");
        cases.push(Case { name, sealed, expected });
    };
    let (alice, alice_c) = issue(&notary, "alice-token").await;
    let (bob, bob_c) = issue(&notary, "bob-token").await;
    let (carol, carol_c) = issue(&notary, "carol-token").await;
    let (dave, dave_c) = issue(&notary, "dave-token").await;
    let (erin, erin_c) = issue(&notary, "erin-token").await;

    // Honest, as make_bundles would seal them (value x 10^4).
    seal("alice honest", &plain(&alice, &alice_c, 123_450), &|_| {}, Outcome::Accepted);
    seal("bob honest", &plain(&bob, &bob_c, 5_000), &|_| {}, Outcome::Accepted);
    // (a) the arithmetic value one unit off the committed one.
    seal("alice +1", &plain(&alice, &alice_c, 123_451), &|_| {}, Outcome::Rejected(Reason::ValueMismatch));
    // (b) a wrong blinder.
    let mut wrong = plain(&bob, &bob_c, 5_000);
    wrong.blinder[7] ^= 0x10;
    seal("bob wrong blinder", &wrong, &|_| {}, Outcome::Rejected(Reason::CommitmentMismatch));
    // (c) committed bytes that are no decimal of the format: a sign, too many decimals.
    seal("dave -1.5", &plain(&dave, &dave_c, 15_000), &|_| {}, Outcome::Rejected(Reason::MalformedDecimal));
    seal("erin 3.1415926", &plain(&erin, &erin_c, 31_415), &|_| {}, Outcome::Rejected(Reason::MalformedDecimal));
    // (d) inconsistent replicated shares: P0's copy of x_1 differs from P1's
    // (and from the public c_1; the provider signed it): P0 proves it.
    seal(
        "carol inconsistent",
        &plain(&carol, &carol_c, 10_000_000),
        &|b| {
            if b.party_index == 0 {
                b.columns[0].value_second = b.columns[0].value_second.wrapping_add(1);
            }
        },
        Outcome::Rejected(Reason::InconsistentShares),
    );
    // Carol honest through the checked provider path, after the bad ones.
    let honest =
        bundles(&carol, &carol_c, [cases.len() as u8; 16], &pks).expect("make_bundles accepts an honest secret");
    cases.push(Case { name: "carol honest", sealed: honest, expected: Outcome::Accepted });
    // The checked path refuses what the dishonest providers above bypassed.
    assert!(bundles(&dave, &dave_c, [99; 16], &pks).is_err());

    assert_eq!(alice_c.alg.name(), alg.hash_alg().name(), "the notary commits with the configured algorithm");
    let expected: Vec<(&str, Outcome)> = cases.iter().map(|c| (c.name, c.expected)).collect();
    let batch: Vec<_> = cases.into_iter().map(|c| (c.sealed.bundles, c.sealed.commitments)).collect();
    let outcomes = tokio::task::spawn_blocking(move || run_honest(sks, batch)).await.expect("parties");
    let got: Vec<(&str, Outcome)> = expected.iter().map(|(n, _)| *n).zip(outcomes).collect();
    assert_eq!(got, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_a_party_retargeting_a_valid_accusation_to_an_honest_contribution_is_named() {
    let notary = DevNotary::start(DevNotaryConfig::default()).await.expect("notary");
    let mut rng = os_rng();
    let (sks, pks): (Vec<SecretKey>, Vec<PublicKey>) = (0..3).map(|_| generate_keypair(&mut rng)).unzip();
    let pks: [PublicKey; 3] = pks.try_into().expect("three keys");
    let sks: [SecretKey; 3] = sks.try_into().expect("three keys");
    let (alice, alice_c) = issue(&notary, "alice-token").await;
    let (carol, carol_c) = issue(&notary, "carol-token").await;
    // 0: alice, honest; 1: carol, whose provider gives P0 a wrong copy of x_1.
    let honest = bundles(&alice, &alice_c, [0; 16], &pks).expect("alice");
    let equivocating =
        seal_contribution(&[plain(&carol, &carol_c, 10_000_000)], DATASET, [1; 16], &pks, &mut rng, |b| {
            if b.party_index == 0 {
                b.columns[0].value_second = b.columns[0].value_second.wrapping_add(1);
            }
        })
        .expect("carol");
    let batch = vec![(honest.bundles, honest.commitments), (equivocating.bundles, equivocating.commitments)];
    // P2 waits for P0's (valid) accusation against carol and publishes it
    // against alice instead, hoping to have her contribution dropped.
    let cheat: Cheat = (
        2,
        Box::new(|lists: &[Vec<Accusation>; 3]| {
            assert_eq!(lists[0].len(), 1, "P0 accuses carol");
            assert_eq!(lists[0][0].contribution, 1);
            let mut forged = lists[0][0].clone();
            forged.contribution = 0;
            vec![forged]
        }),
    );
    let results = tokio::task::spawn_blocking(move || run_parties(sks, batch, Some(cheat))).await.expect("parties");
    // Every party (the cheater runs the honest judge too) aborts naming P2;
    // no contribution is accepted or dropped.
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Err(IntakeError::FalseAccusation {
                party,
                contribution: 0,
                fault: AccusationFault::Proof(ProofError::BadSignature),
            }) => assert_eq!(party.index(), 2, "party {i} names P2"),
            other => panic!("party {i}: expected an abort naming P2, got {other:?}"),
        }
    }
}

/// Each value of a two-value contribution is checked on its own, with its own format: a lie in
/// either one rejects the contribution with that value's reason; honest ones pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_value_of_a_contribution_is_checked_with_its_own_format() {
    let account = |name: &str, balance: &str, trades: &str| {
        Account::new(&format!("{name}-token"), &format!("u-{name}"), balance, "ETH")
            .expect("account")
            .with_value("trades", trades)
            .expect("trades")
    };
    let accounts = vec![account("alice", "12.345", "17"), account("bob", "0.5", "3"), account("carol", "1000", "250")];
    let notary = DevNotary::start(DevNotaryConfig {
        accounts,
        value_fields: vec!["balance".into(), "trades".into()],
        ..DevNotaryConfig::default()
    })
    .await
    .expect("notary");
    let formats = [format(), DecimalFormat::new(4, 0, 16).expect("trades format")];
    let mut rng = os_rng();
    let (sks, pks): (Vec<SecretKey>, Vec<PublicKey>) = (0..3).map(|_| generate_keypair(&mut rng)).unzip();
    let pks: [PublicKey; 3] = pks.try_into().expect("three keys");
    let sks: [SecretKey; 3] = sks.try_into().expect("three keys");

    // Both values of an account as a provider would share them, `n[k]` the shared numbers.
    let values = |issued: &Issued, matched: &[triad_notary::HiddenValue], n: [u64; 2]| -> Vec<PlainValue> {
        (0..2)
            .map(|k| PlainValue {
                value: n[k],
                value_bytes: issued.secrets[k].value.clone(),
                blinder: issued.secrets[k].blinder.0,
                commitment: PlaintextCommitment {
                    algorithm: matched[k].commitment.alg.name().to_owned(),
                    hash: matched[k].commitment.hash.to_vec(),
                    start: matched[k].range.start as u64,
                    end: matched[k].range.end as u64,
                },
                format: formats[k],
            })
            .collect()
    };
    let mut proven = Vec::new();
    for token in ["alice-token", "bob-token", "carol-token"] {
        let issued = notary.issue(token).await.expect("issue");
        let verified =
            triad_notary::verify(&issued.presentation, &notary.verifier_config().expect("config")).expect("verifies");
        let matched = notary.template(600).apply(&verified, now()).expect("the template matches");
        assert_eq!(matched.values.len(), 2, "two hidden values");
        proven.push((issued, matched.values));
    }
    let [alice, bob, carol] = [&proven[0], &proven[1], &proven[2]];
    let mut cases: Vec<(&str, SealedContribution, Outcome)> = Vec::new();
    let mut seal = |name, v: Vec<PlainValue>, tweak: &dyn Fn(&mut triad_proto::provider::v1::ShareBundle), expected| {
        let cid = [cases.len() as u8; 16];
        cases.push((name, seal_contribution(&v, DATASET, cid, &pks, &mut os_rng(), tweak).expect("seal"), expected));
    };
    seal("alice honest", values(&alice.0, &alice.1, [123_450, 17]), &|_| {}, Outcome::Accepted);
    seal(
        "bob's trades inflated",
        values(&bob.0, &bob.1, [5_000, 30]),
        &|_| {},
        Outcome::Rejected(Reason::ValueMismatch),
    );
    let mut wrong = values(&carol.0, &carol.1, [10_000_000, 250]);
    wrong[0].blinder[3] ^= 1;
    seal("carol's balance blinder", wrong, &|_| {}, Outcome::Rejected(Reason::CommitmentMismatch));
    seal(
        "alice's trades inconsistent",
        values(&alice.0, &alice.1, [123_450, 17]),
        &|b| {
            if b.party_index == 2 {
                b.columns[1].value_first ^= 1;
            }
        },
        Outcome::Rejected(Reason::InconsistentShares),
    );
    seal("carol honest", values(&carol.0, &carol.1, [10_000_000, 250]), &|_| {}, Outcome::Accepted);
    let expected: Vec<(&str, Outcome)> = cases.iter().map(|c| (c.0, c.2)).collect();
    let batch: Vec<_> = cases.into_iter().map(|c| (c.1.bundles, c.1.commitments)).collect();
    let outcomes = tokio::task::spawn_blocking(move || run_honest(sks, batch)).await.expect("parties");
    let got: Vec<(&str, Outcome)> = expected.iter().map(|(n, _)| *n).zip(outcomes).collect();
    assert_eq!(got, expected);
}
