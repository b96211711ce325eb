//! Issue 5, end to end: the development notary issues presentations, the
//! parties verify them against the dataset template, providers (honest and
//! dishonest) share, and three parties over real TCP (TLS 1.3, pinned keys)
//! run the intake: the honest contributions are accepted and each dishonest
//! one is rejected with its reason, without disturbing the rest of the batch.

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use triad_dev_notary::{Account, CommitmentAlg, DevNotary, DevNotaryConfig, Issued};
use triad_mpc::net::{MeshListener, NetConfig, PartyId, PartyIdentity, PeerAddr, TcpSetup};
use triad_mpc::{NetParty, PartyConfig};
use triad_mpc_core::SessionId;
use triad_notary::UnopenedCommitment;
use triad_party::{Outcome, Reason, check_commitments, cross_check};
use triad_proto::events::v1::PlaintextCommitment;
use triad_provider::{
    BundleContext, DecimalFormat, PlainContribution, PublicKey, SealedBundle, SecretKey, generate_keypair,
    make_bundles, open_bundle, os_rng, seal_contribution,
};

const DATASET: &str = "eth-balances";

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

/// One contribution as a provider made it, and what the parties must decide.
struct Case {
    name: &'static str,
    sealed: [SealedBundle; 3],
    expected: Outcome,
}

fn plain(issued: &Issued, c: &UnopenedCommitment, value: u64) -> PlainContribution {
    let r = &issued.secret.range;
    PlainContribution {
        value,
        value_bytes: issued.secret.value.clone(),
        blinder: issued.secret.blinder.0,
        commitment: PlaintextCommitment {
            algorithm: c.alg.name().to_owned(),
            hash: c.hash.to_vec(),
            start: r.start as u64,
            end: r.end as u64,
        },
    }
}

/// Issue and verify a presentation for `token`: what a party checks before
/// the contribution is admitted to a batch.
async fn issue(notary: &DevNotary, token: &str) -> (Issued, UnopenedCommitment) {
    let issued = notary.issue(token).await.expect("issue");
    let verified = triad_notary::verify(&issued.presentation, &notary.verifier_config().expect("config"))
        .expect("the presentation verifies");
    let matched = notary.template(600).apply(&verified, now()).expect("the template matches");
    assert_eq!(matched.value_range, issued.secret.range);
    (issued, matched.commitment)
}

/// Run the intake at the three parties over localhost TCP. The union of
/// the cross-check rejections travels through the test (the event log's job
/// in the service).
fn run_parties(keys: [SecretKey; 3], batch: Vec<[SealedBundle; 3]>) -> Vec<Outcome> {
    let ids = PartyId::ALL.map(|p| PartyIdentity::generate(p).expect("identity"));
    let listeners = PartyId::ALL.map(|_| MeshListener::bind(([127, 0, 0, 1], 0).into()).expect("bind"));
    let addrs = listeners.each_ref().map(|l| l.local_addr().expect("addr"));
    let pins = ids.each_ref().map(|i| i.pinned_key());
    let sid = SessionId(*b"intake-e2e-sess1");
    let (to_test, from_parties) = mpsc::channel::<BTreeSet<usize>>();
    let mut union_tx = Vec::new();
    let mut handles = Vec::new();
    for ((identity, listener), sk) in ids.into_iter().zip(listeners).zip(keys) {
        let me = identity.party();
        let peers = me
            .others()
            .into_iter()
            .map(|p| PeerAddr { party: p, addr: addrs[p.index()], key: pins[p.index()].clone() })
            .collect();
        let setup = TcpSetup { identity, listener, peers, config: NetConfig::new(triad_mpc::net_session_id(sid)) };
        let mine: Vec<Vec<u8>> = batch.iter().map(|b| b[me.index()].as_bytes().to_vec()).collect();
        let to_test = to_test.clone();
        let (tx, union_rx) = mpsc::channel::<BTreeSet<usize>>();
        union_tx.push(tx);
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
            let seen = cross_check(&mut party, &opened).expect("cross-check");
            to_test.send(seen).expect("send");
            let union = union_rx.recv().expect("the union");
            let outcomes = check_commitments(&mut party, &opened, &union).expect("commitment check");
            party.close().expect("close");
            outcomes
        }));
    }
    let mut union = BTreeSet::new();
    for _ in 0..3 {
        union.extend(from_parties.recv().expect("a party's rejections"));
    }
    for tx in &union_tx {
        tx.send(union.clone()).expect("send the union");
    }
    let results: Vec<Vec<Outcome>> = handles.into_iter().map(|h| h.join().expect("party thread")).collect();
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
    let notary = DevNotary::start(DevNotaryConfig { accounts, commitment_alg: alg, ..DevNotaryConfig::default() }).await.expect("notary");
    let format = DecimalFormat::new(12, 4, 16).expect("format");
    let mut rng = os_rng();
    let (sks, pks): (Vec<SecretKey>, Vec<PublicKey>) = (0..3).map(|_| generate_keypair(&mut rng)).unzip();
    let pks: [PublicKey; 3] = pks.try_into().expect("three keys");
    let sks: [SecretKey; 3] = sks.try_into().expect("three keys");

    let mut cases: Vec<Case> = Vec::new();
    let mut seal = |name, p: &PlainContribution, tweak: &dyn Fn(&mut triad_proto::provider::v1::ShareBundle), expected| {
        let cid = [cases.len() as u8; 16];
        let sealed = seal_contribution(p, DATASET, cid, &format, &pks, &mut os_rng(), tweak).expect("seal");
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
    // (d) inconsistent replicated shares: P0's copy of x_1 differs from P1's.
    seal(
        "carol inconsistent",
        &plain(&carol, &carol_c, 10_000_000),
        &|b| {
            if b.party_index == 0 {
                b.value_second = b.value_second.wrapping_add(1);
            }
        },
        Outcome::Rejected(Reason::InconsistentShares),
    );
    // Carol honest through the checked provider path, after the bad ones.
    let honest = make_bundles(&carol.secret.prover_secret(), &carol_c, DATASET, [cases.len() as u8; 16], &format, &pks, &mut rng)
        .expect("make_bundles accepts an honest secret");
    cases.push(Case { name: "carol honest", sealed: honest, expected: Outcome::Accepted });
    // The checked path refuses what the dishonest providers above bypassed.
    assert!(make_bundles(&dave.secret.prover_secret(), &dave_c, DATASET, [99; 16], &format, &pks, &mut rng).is_err());

    assert_eq!(alice_c.alg.name(), alg.hash_alg().name(), "the notary commits with the configured algorithm");
    let expected: Vec<(&str, Outcome)> = cases.iter().map(|c| (c.name, c.expected)).collect();
    let batch: Vec<[SealedBundle; 3]> = cases.into_iter().map(|c| c.sealed).collect();
    let outcomes = tokio::task::spawn_blocking(move || run_parties(sks, batch)).await.expect("parties");
    let got: Vec<(&str, Outcome)> = expected.iter().map(|(n, _)| *n).zip(outcomes).collect();
    assert_eq!(got, expected);
}
