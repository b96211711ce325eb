//! Sessions over the real NATS JetStream at 127.0.0.1:4222: three parties as tasks, one of
//! them late; sealing; timeouts. Each test has its own stream and subject prefix.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use triad_signing::{KeyShare, Message, PartyId, Protocol, SessionId, dkg, sign};
use triad_signing_bus::{BusConfig, BusError, PartyKeys, SealError, SigningBus, generate_keypair};

const NATS: &str = "127.0.0.1:4222";

struct Net {
    client: async_nats::Client,
    bus: SigningBus,
    keys: Vec<Arc<PartyKeys>>,
}

impl Net {
    async fn new(round_timeout: Duration) -> Net {
        let client = async_nats::connect(NATS).await.expect("NATS at 127.0.0.1:4222");
        let prefix = format!("triadtest.sign{}", uuid::Uuid::new_v4().simple());
        let mut config = BusConfig::new(&prefix);
        config.round_timeout = round_timeout;
        config.max_age = Duration::from_secs(120);
        let bus = SigningBus::new(client.clone(), config).await.expect("stream");
        let pairs: Vec<_> = (0..3).map(|_| generate_keypair()).collect();
        let publics = [pairs[0].1.clone(), pairs[1].1.clone(), pairs[2].1.clone()];
        let keys = PartyId::ALL
            .into_iter()
            .zip(&pairs)
            .map(|(p, (secret, _))| Arc::new(PartyKeys::new(p, secret, publics.clone()).expect("keys")))
            .collect();
        Net { client, bus, keys }
    }

    /// Counts messages published to `to`'s subject of `session` (core NATS sees every
    /// JetStream publish).
    async fn watch(&self, session: SessionId, to: PartyId) -> async_nats::Subscriber {
        let subscriber = self.client.subscribe(self.bus.config().subject(session, to)).await.expect("subscribe");
        self.client.flush().await.expect("flush");
        subscriber
    }

    async fn cleanup(self) {
        let js = async_nats::jetstream::new(self.client);
        let _ = js.delete_stream(&self.bus.config().stream).await;
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
    net.bus.run(&net.keys[party.index()], s, first).await
}

async fn run_sign(
    net: &Net,
    share: &KeyShare,
    session: SessionId,
    signers: [PartyId; 2],
    digest: [u8; 32],
) -> Result<[u8; 64], BusError> {
    let (s, first) = sign::start(share, session, signers, digest).expect("start");
    net.bus.run(&net.keys[share.party_id().index()], s, first).await
}

fn k256_verifies(public_key: &[u8], digest: &[u8; 32], signature: &[u8; 64]) -> bool {
    use k256::ecdsa::signature::hazmat::PrehashVerifier as _;
    let key = k256::ecdsa::VerifyingKey::from_sec1_bytes(public_key).expect("key");
    let signature = k256::ecdsa::Signature::from_slice(signature).expect("signature");
    key.verify_prehash(digest, &signature).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_that_starts_late_catches_up_in_dkg_and_signing() {
    let net = Arc::new(Net::new(Duration::from_secs(20)).await);

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
    tokio::time::timeout(Duration::from_secs(20), to_p2.next()).await.expect("round 1 to P2").expect("message");
    let late = run_sign(&net, &shares[2], session, [p(0), p(2)], digest).await.expect("P2 signs");
    let early = early.await.expect("task").expect("P0 signs");
    assert_eq!(early, late);
    assert!(k256_verifies(&shares[0].public_key(), &digest, &late));

    if let Ok(net) = Arc::try_unwrap(net) {
        net.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_whose_peer_never_comes_times_out_naming_it() {
    let net = Net::new(Duration::from_millis(500)).await;
    let error = run_dkg(&net, sid("alone"), p(1)).await.expect_err("nobody else runs");
    match error {
        BusError::Timeout { round: 1, waiting_for } => assert_eq!(waiting_for, vec![p(0), p(2)]),
        other => panic!("expected a round-1 timeout, got {other:?}"),
    }
    net.cleanup().await;
}

#[tokio::test]
async fn sealed_messages_open_only_for_their_recipient_from_their_sender() {
    let net = Net::new(Duration::from_secs(1)).await;
    let session = sid("seal");
    let message = Message { session, protocol: Protocol::Dkg, round: 1, from: p(0), to: p(1), body: vec![7; 40] };
    let sealed = net.keys[0].seal(&message).expect("seal");
    assert!(!sealed.windows(40).any(|w| w == [7; 40]), "the body is encrypted");
    assert_eq!(net.keys[1].open(session, &sealed), Ok(message.clone()));
    assert_eq!(net.keys[2].open(session, &sealed), Err(SealError::NotForUs));
    assert_eq!(net.keys[1].open(sid("other"), &sealed), Err(SealError::Unauthentic(p(0))));

    // P2 cannot pass its message off as P0's: the header names P0, the seal is P2's.
    let mut forged_message = message.clone();
    forged_message.from = p(2);
    let mut forged = net.keys[2].seal(&forged_message).expect("seal");
    forged[0] = 0;
    assert_eq!(net.keys[1].open(session, &forged), Err(SealError::Unauthentic(p(0))));
    let mut flipped = sealed.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert_eq!(net.keys[1].open(session, &flipped), Err(SealError::Unauthentic(p(0))));
    assert_eq!(net.keys[1].seal(&message), Err(SealError::Mismatch), "a party seals only its own messages");

    // Debug shows the public keys, never the secret.
    let (secret, public) = generate_keypair();
    let publics = [public.clone(), public.clone(), public];
    let keys = PartyKeys::new(p(0), &secret, publics).expect("keys");
    let shown = format!("{keys:?} {keys:#?}");
    assert!(shown.contains(&hex::encode(keys_public(&keys))), "{shown}");
    assert!(!shown.contains(&hex::encode(&secret[..8])), "{shown}");
    net.cleanup().await;
}

fn keys_public(keys: &PartyKeys) -> [u8; 32] {
    keys.public_key(keys.me()).to_bytes()
}
