//! Sessions over [`SigningBus::memory`]: the NATS tests of `tests/bus.rs` without NATS. Three
//! parties as tasks of one process on clones of one bus; one of them late; timeouts.

use std::sync::Arc;
use std::time::Duration;

use triad_signing::{KeyShare, PartyId, SessionId, dkg, sign};

use crate::{BusConfig, BusError, Inbox, PartyKeys, SigningBus, generate_keypair};

struct Net {
    bus: SigningBus,
    keys: Vec<Arc<PartyKeys>>,
}

impl Net {
    fn new(round_timeout: Duration) -> Net {
        let mut config = BusConfig::new("triadtest.sign");
        config.round_timeout = round_timeout;
        let bus = SigningBus::memory(config);
        let pairs: Vec<_> = (0..3).map(|_| generate_keypair()).collect();
        let publics = [pairs[0].1.clone(), pairs[1].1.clone(), pairs[2].1.clone()];
        let keys = PartyId::ALL
            .into_iter()
            .zip(&pairs)
            .map(|(p, (secret, _))| Arc::new(PartyKeys::new(p, secret, publics.clone()).expect("keys")))
            .collect();
        Net { bus, keys }
    }

    /// A reader of what is published to `to` in `session` (from the start).
    async fn watch(&self, session: SessionId, to: PartyId) -> Inbox {
        self.bus.inbox(self.bus.config().subject(session, to)).await.expect("inbox")
    }
}

fn sid(label: &str) -> SessionId {
    let mut id = [0u8; 32];
    id[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    id[16..16 + label.len().min(16)].copy_from_slice(&label.as_bytes()[..label.len().min(16)]);
    SessionId(id)
}

fn p(i: u8) -> PartyId {
    PartyId::new(i).expect("party")
}

async fn run_dkg(net: &Net, session: SessionId, party: PartyId) -> Result<KeyShare, BusError> {
    let (s, first) = dkg::start(party, session);
    // Each party on its own clone of the bus, as the parties of one process are.
    net.bus.clone().run(&net.keys[party.index()], s, first).await
}

async fn run_sign(
    net: &Net,
    share: &KeyShare,
    session: SessionId,
    signers: [PartyId; 2],
    digest: [u8; 32],
) -> Result<[u8; 64], BusError> {
    let (s, first) = sign::start(share, session, signers, digest).expect("start");
    net.bus.clone().run(&net.keys[share.party_id().index()], s, first).await
}

fn k256_verifies(public_key: &[u8], digest: &[u8; 32], signature: &[u8; 64]) -> bool {
    use k256::ecdsa::signature::hazmat::PrehashVerifier as _;
    let key = k256::ecdsa::VerifyingKey::from_sec1_bytes(public_key).expect("key");
    let signature = k256::ecdsa::Signature::from_slice(signature).expect("signature");
    key.verify_prehash(digest, &signature).is_ok()
}

async fn dkg_all(net: &Arc<Net>) -> Vec<KeyShare> {
    let session = sid("dkg");
    let tasks: Vec<_> = PartyId::ALL
        .into_iter()
        .map(|party| {
            let net = net.clone();
            tokio::spawn(async move { run_dkg(&net, session, party).await })
        })
        .collect();
    let mut shares = vec![];
    for task in tasks {
        shares.push(task.await.expect("task").expect("DKG"));
    }
    shares
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_dkg_of_three_then_signatures_by_each_pair_verify_with_k256() {
    let net = Arc::new(Net::new(Duration::from_secs(20)));
    let shares = dkg_all(&net).await;
    assert!(
        shares.iter().all(|s| s.public_key() == shares[0].public_key() && s.chain_code() == shares[0].chain_code())
    );

    // The three pairs sign at once, each pair in its own session on the one broker.
    let digest = [42u8; 32];
    let mut tasks = vec![];
    for (a, b) in [(0u8, 1u8), (1, 2), (2, 0)] {
        let session = sid("sign");
        for signer in [a, b] {
            let (net, share) = (net.clone(), shares[usize::from(signer)].clone());
            tasks.push(tokio::spawn(async move { run_sign(&net, &share, session, [p(a), p(b)], digest).await }));
        }
    }
    let mut signatures = vec![];
    for task in tasks {
        signatures.push(task.await.expect("task").expect("signature"));
    }
    for pair in signatures.chunks(2) {
        assert_eq!(pair[0], pair[1], "both signers output the same signature");
        assert!(k256_verifies(&shares[0].public_key(), &digest, &pair[0]));
    }
    let mut other = digest;
    other[0] ^= 1;
    assert!(!k256_verifies(&shares[0].public_key(), &other, &signatures[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_a_party_that_starts_late_catches_up_in_dkg_and_signing() {
    let net = Arc::new(Net::new(Duration::from_secs(20)));

    // DKG: P0 and P1 start; P2 starts only after both round-1 messages to it are on the bus.
    let session = sid("dkg");
    let mut to_p2 = net.watch(session, p(2)).await;
    let early: Vec<_> = [p(0), p(1)]
        .into_iter()
        .map(|party| {
            let net = net.clone();
            tokio::spawn(async move { run_dkg(&net, session, party).await })
        })
        .collect();
    for _ in 0..2 {
        let seen = tokio::time::timeout(Duration::from_secs(20), to_p2.next()).await.expect("round 1 to P2");
        assert!(seen.is_some());
    }
    assert!(early.iter().all(|t| !t.is_finished()), "P0 and P1 wait for P2");
    let late = run_dkg(&net, session, p(2)).await.expect("P2's DKG");
    let mut shares = vec![];
    for task in early {
        shares.push(task.await.expect("task").expect("DKG"));
    }
    shares.push(late);
    assert!(shares.iter().all(|s| s.public_key() == shares[0].public_key()));

    // Signing: P2 is offline during the first round; P0's round-1 message waits for it.
    let session = sid("sign");
    let digest = [42u8; 32];
    let mut to_p2 = net.watch(session, p(2)).await;
    let share0 = shares[0].clone();
    let early = {
        let net = net.clone();
        tokio::spawn(async move { run_sign(&net, &share0, session, [p(0), p(2)], digest).await })
    };
    tokio::time::timeout(Duration::from_secs(20), to_p2.next())
        .await
        .expect("round 1 to P2")
        .expect("message")
        .expect("payload");
    assert!(!early.is_finished(), "P0 waits for P2");
    let late = run_sign(&net, &shares[2], session, [p(0), p(2)], digest).await.expect("P2 signs");
    let early = early.await.expect("task").expect("P0 signs");
    assert_eq!(early, late);
    assert!(k256_verifies(&shares[0].public_key(), &digest, &late));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_a_session_whose_peer_never_comes_times_out_naming_it() {
    let net = Net::new(Duration::from_millis(300));
    let error = run_dkg(&net, sid("alone"), p(1)).await.expect_err("nobody else runs");
    match error {
        BusError::Timeout { round: 1, waiting_for } => assert_eq!(waiting_for, vec![p(0), p(2)]),
        other => panic!("expected a round-1 timeout, got {other:?}"),
    }

    // Signing: P2 comes, P0 never does; P2 names it.
    let shares = dkg_all(&Arc::new(Net::new(Duration::from_secs(20)))).await;
    let error = run_sign(&net, &shares[2], sid("sign-alone"), [p(0), p(2)], [7; 32]).await.expect_err("P0 never signs");
    match error {
        BusError::Timeout { round: 1, waiting_for } => assert_eq!(waiting_for, vec![p(0)]),
        other => panic!("expected a round-1 timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn memory_buses_are_apart_and_clones_share_one() {
    let net = Net::new(Duration::from_secs(1));
    let other = SigningBus::memory(net.bus.config().clone());
    let session = sid("apart");
    let (s, first) = dkg::start(p(0), session);
    drop(s);
    net.bus.publish_all(&net.keys[0], &first).await.expect("publish");
    // Published twice (a retry): stored once.
    net.bus.clone().publish_all(&net.keys[0], &first).await.expect("publish");
    let mut to_p1 = net.bus.clone().inbox(net.bus.config().subject(session, p(1))).await.expect("inbox");
    let sealed = to_p1.next().await.expect("message").expect("payload");
    let opened = net.keys[1].open(session, &sealed).expect("sealed to P1 by P0");
    assert_eq!(opened.from, p(0));
    let to_p1_elsewhere = other.inbox(net.bus.config().subject(session, p(1))).await.expect("inbox");
    let (Inbox::Memory(mut here), Inbox::Memory(mut elsewhere)) = (to_p1, to_p1_elsewhere) else {
        panic!("memory inboxes")
    };
    assert!(here.try_next().is_none(), "one copy of the retried publish");
    assert!(elsewhere.try_next().is_none(), "another bus sees nothing");
}
