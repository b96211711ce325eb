//! The Triad network as separate OS processes (`triad-coordinator`, three `triad-party`,
//! `triad-projector`) on PostgreSQL and NATS JetStream: honest and malicious providers, the
//! intake in MPC, queries published with the plaintext's values, and parties killed with
//! SIGKILL and restarted from their data directory and database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use tonic::Code;
use triad_dev_notary::Account;
use triad_itests::network::{Behaviour, Network, PrivateNats, Tuning};
use triad_localnet::DatasetSpec;
use triad_proto::api::v1 as api;
use triad_proto::events::v1::{self as ev, event::Kind};

const DATASET: &str = "balances";

/// One column, `balance`: 6 integer digits, 2 decimals.
fn spec() -> DatasetSpec {
    DatasetSpec::balances(DATASET, 6, 2, 5)
}

/// The rows of a one-column dataset.
fn single(balances: &[String]) -> Vec<Vec<String>> {
    balances.iter().map(|b| vec![b.clone()]).collect()
}

/// Distinct balances with 0 to 4 integer digits and two decimals.
fn balance(i: usize) -> String {
    format!("{}.{:02}", (i * 7919 + 13) % 9000, (i * 37 + 5) % 100)
}

/// Distinct trade counts, 0 to 4 digits.
fn trades(i: usize) -> String {
    ((i * 613 + 29) % 9973).to_string()
}

/// The plaintext answer of `sql` over `rows` (one decimal per column), as the parties' schema
/// reads the dataset.
async fn reference(net: &mut Network, rows: &[Vec<String>], sql: &str) -> Vec<Vec<Option<f64>>> {
    let network = net.network().await.unwrap();
    let created = network.datasets.iter().find_map(|d| d.dataset.clone().filter(|d| d.dataset_id == DATASET)).unwrap();
    let schema = triad_network::schema(&created).unwrap();
    let rows: Vec<Vec<triad_stats::Decimal>> =
        rows.iter().map(|r| r.iter().map(|v| triad_stats::Decimal::parse(v).unwrap()).collect()).collect();
    let query = triad_stats::plan(&schema, sql).unwrap();
    let data = triad_stats::Dataset::from_decimals(schema, &rows).unwrap();
    triad_stats::exec::Answer::of_reference(&triad_stats::evaluate(&query, &data).unwrap()).rows
}

/// Asserts a published result equals the plaintext over `rows` (`tolerance[k]`: the
/// difference allowed in column `k`, relative to the plaintext's magnitude (at least 1): fixed
/// point leaves sums a few ulps off, a square root or a gini a little more).
async fn assert_result(net: &mut Network, result: &ev::ResultPublished, rows: &[Vec<String>], tolerance: &[f64]) {
    // Signed by two of the three parties under the dataset's key, derived from the network key
    // the coordinator serves (the parties' DKG).
    let key = net.network().await.unwrap().key.expect("the network key");
    let network_key = triad_network::network_key(&key).expect("a well-formed network key");
    triad_network::verify_result(&network_key, result)
        .unwrap_or_else(|e| panic!("the signature of {:?}: {e}", result.sql));
    let expected = reference(net, rows, &result.sql).await;
    let got = triad_network::answer_of(&result.values).rows;
    assert_eq!(result.rows, rows.len() as u64, "rows of {:?}", result.sql);
    assert_eq!(got.len(), expected.len(), "{:?}: {got:?} vs {expected:?}", result.sql);
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g.len(), tolerance.len(), "{:?}: {got:?}", result.sql);
        for ((g, e), t) in g.iter().zip(e).zip(tolerance) {
            let (g, e) = (g.unwrap(), e.unwrap());
            assert!(
                (g - e).abs() <= t * e.abs().max(1.0),
                "{:?}: published {got:?}, plaintext {expected:?}",
                result.sql
            );
        }
    }
}

/// The projector's (submitted, accepted, rejected) of the dataset, once it serves them.
async fn projector_counts(net: &mut Network) -> Option<(u64, u64, u64)> {
    let d = net.query_api.get_dataset(api::GetDatasetRequest { dataset_id: DATASET.into() }).await.ok()?;
    let d = d.into_inner();
    Some((d.contributions_submitted, d.contributions_accepted, d.contributions_rejected))
}

/// Per uid: the verdicts the coordinator recorded (`accepted`, or the rejection's reason and
/// detail).
fn verdicts(log: &[(String, Kind)]) -> HashMap<String, Vec<String>> {
    let mut uid_of = HashMap::new();
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for (stream, kind) in log {
        match kind {
            Kind::ContributionSubmitted(s) if stream.starts_with("contribution-") => {
                uid_of.insert(s.contribution_id.clone(), s.uid.clone());
                out.entry(s.uid.clone()).or_default();
            }
            Kind::ContributionsAccepted(a) => {
                for id in &a.contribution_ids {
                    out.entry(uid_of[id].clone()).or_default().push("accepted".into());
                }
            }
            Kind::ContributionRejected(r) => {
                out.entry(uid_of[&r.contribution_id].clone()).or_default().push(format!("{}: {}", r.reason, r.detail));
            }
            _ => {}
        }
    }
    out
}

/// The coordinator's sessions for `query_id`: (attempt, closed as succeeded, reason).
fn query_sessions(log: &[(String, Kind)], query_id: &[u8]) -> Vec<(u32, Option<(bool, String)>)> {
    let mut opened: Vec<(Vec<u8>, u32)> = Vec::new();
    let mut closed: HashMap<Vec<u8>, (bool, String)> = HashMap::new();
    for (_, kind) in log {
        match kind {
            Kind::SessionOpened(s) if s.query_id == query_id => opened.push((s.session_id.clone(), s.attempt)),
            Kind::SessionClosed(c) => {
                closed.insert(c.session_id.clone(), (c.succeeded, format!("{} {}", c.reason, c.detail)));
            }
            _ => {}
        }
    }
    opened.into_iter().map(|(id, attempt)| (attempt, closed.remove(&id))).collect()
}

/// Waits until `party` reports (in a heartbeat, in its own store) that it folded every event
/// of the coordinator's log so far: the kill then interrupts a caught-up party, and the timings
/// the test prints measure recovery alone. Killing it with events delivered and unacknowledged
/// is `a_party_killed_with_unacknowledged_events_recovers`.
async fn caught_up(net: &Network, party: u32, timeout: Duration) {
    use triad_eventlog::EventStore as _;
    let coordinator =
        triad_eventlog::PgEventStore::connect(&net.database_url("coordinator"), "coordinator").await.unwrap();
    let head = coordinator.head().await.unwrap();
    let service = format!("party{party}");
    let store = triad_eventlog::PgEventStore::connect(&net.database_url(&service), &service).await.unwrap();
    let deadline = Instant::now() + timeout;
    loop {
        let folded = store
            .load(&triad_network::streams::party(party), 0)
            .await
            .unwrap()
            .iter()
            .filter_map(|e| match triad_network::decode(e) {
                Ok(Some(Kind::PartyHeartbeat(h))) => Some(h.coordinator_position),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        if folded >= head {
            break;
        }
        assert!(Instant::now() < deadline, "{service} folded {folded} of the coordinator's {head} events");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_processes_ingest_and_answer() {
    // 1,000 providers: 996 honest, four with accounts of their own that cheat (one is refused
    // at the door), and two more attempts at the door (a reused uid, a replayed submission).
    const HONEST: usize = 996;
    let started = Instant::now();
    // Two values per contribution: a balance and a trade count, each hidden behind its own
    // commitment in the presentation and checked on its own in the intake.
    let account = |token: &str, uid: &str, i: usize| {
        Account::new(token, uid, &balance(i), "ETH").unwrap().with_value("trades", &trades(i)).unwrap()
    };
    let mut accounts: Vec<Account> = (0..HONEST).map(|i| account(&format!("h{i}"), &format!("u-h{i}"), i)).collect();
    for (k, name) in ["forged", "inflated", "inconsistent", "wrongkeys"].iter().enumerate() {
        accounts.push(account(&format!("{name}-token"), &format!("u-{name}"), 100 + k));
    }
    let mut net = Network::start(accounts, &Tuning::default()).await.unwrap();
    let network = net.wait_up(Duration::from_secs(30)).await.unwrap();
    let keys = Network::share_keys(&network).unwrap();
    let up = started.elapsed();
    // Four integer digits: the second moments of 996 rows stay exact in the ring (stats.md §5.1).
    let spec = DatasetSpec::new(DATASET, &[("balance", 4, 2), ("trades", 4, 0)], 5);
    net.create_dataset(&spec).await.unwrap();

    // The honest providers, 16 at a time.
    let honest_requests: Vec<api::SubmitContributionRequest> = {
        let (net, spec, keys) = (&net, &spec, &keys);
        futures::stream::iter(0..HONEST)
            .map(|i| async move {
                let s = net.submission(&format!("h{i}"), spec, keys, Behaviour::Honest).await.unwrap();
                net.client.clone().submit_contribution(s.clone()).await.unwrap();
                s
            })
            .buffered(16)
            .collect()
            .await
    };

    // Refused at the door, nothing appended.
    // A forged presentation (one byte flipped).
    let mut forged = net.submission("forged-token", &spec, &keys, Behaviour::Honest).await.unwrap();
    let n = forged.presentation.len();
    forged.presentation[n / 2] ^= 0x01;
    let e = net.client.submit_contribution(forged).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().starts_with("presentation: "), "{}", e.message());
    // A second contribution of one account (a reused uid).
    let again = net.submission("h0", &spec, &keys, Behaviour::Honest).await.unwrap();
    let e = net.client.submit_contribution(again).await.unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");
    assert!(e.message().contains("uid u-h0 already contributed"), "{}", e.message());
    // A replayed submission.
    let e = net.client.submit_contribution(honest_requests[1].clone()).await.unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");
    assert!(e.message().contains("already submitted"), "{}", e.message());

    // Admitted at the door (the coordinator cannot see the shares), rejected in the intake.
    for (token, behaviour) in [
        ("inflated-token", Behaviour::InflatesTenfold),
        ("inconsistent-token", Behaviour::InconsistentShares),
        // The bundles' clear fields are in order; only the parties find they cannot open them.
        ("wrongkeys-token", Behaviour::SealedToWrongParties),
    ] {
        let s = net.submission(token, &spec, &keys, behaviour).await.unwrap();
        net.client.submit_contribution(s).await.unwrap_or_else(|e| panic!("{behaviour:?} at the door: {e:?}"));
    }
    let submitted = started.elapsed();

    // The intake: every admitted contribution decided, exactly the honest ones accepted.
    let total = HONEST as u64 + 3;
    let status = net.wait_decided(DATASET, total, Duration::from_secs(300)).await.unwrap();
    assert_eq!((status.submitted, status.accepted, status.rejected), (total, HONEST as u64, 3), "{status:?}");
    let decided = started.elapsed();
    let log = net.coordinator_log().await.unwrap();
    let verdicts = verdicts(&log);
    assert_eq!(verdicts.len(), HONEST + 3, "one ContributionSubmitted per admitted contribution: {verdicts:?}");
    for i in 0..HONEST {
        assert_eq!(verdicts[&format!("u-h{i}")], ["accepted"], "u-h{i}");
    }
    assert!(!verdicts.contains_key("u-forged"), "a refused presentation leaves nothing in the log");
    let only = |uid: &str| -> String {
        let v = &verdicts[uid];
        assert_eq!(v.len(), 1, "{uid}: {v:?}");
        v[0].clone()
    };
    let inflated = only("u-inflated");
    assert!(inflated.starts_with("value_mismatch"), "{inflated}");
    let inconsistent = only("u-inconsistent");
    assert!(inconsistent.starts_with("inconsistent_shares"), "{inconsistent}");
    assert!(inconsistent.contains("signed by the provider that does not open"), "no detail: {inconsistent}");
    let wrong = only("u-wrongkeys");
    assert!(wrong.starts_with("bundle_unusable"), "{wrong}");
    eprintln!("rejected: {inflated}; {inconsistent}; {wrong}");

    // The projector's counts follow.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let counts = projector_counts(&mut net).await;
        if counts == Some((total, HONEST as u64, 3)) {
            break;
        }
        assert!(Instant::now() < deadline, "projector's counts: {counts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A query over exactly the honest contributions.
    let sql = format!(
        "SELECT count(*), sum(balance), median(balance), sum(trades), max(trades), corr(balance, trades) FROM {DATASET}"
    );
    let query_id = net.submit_query(&sql).await.unwrap();
    let result = net.wait_published(&query_id, Duration::from_secs(30)).await.unwrap();
    let rows: Vec<Vec<String>> = (0..HONEST).map(|i| vec![balance(i), trades(i)]).collect();
    assert_result(&mut net, &result, &rows, &[0.0, 1e-12, 1e-12, 1e-12, 0.0, 1e-6]).await;

    // The projector wiped and rebuilt from position 0 answers the same: the counts, the
    // result with its signature, and the list of results.
    let before = net.query_api.list_results(api::ListResultsRequest { dataset_id: DATASET.into() }).await.unwrap();
    let before = before.into_inner().results;
    net.rebuild_projector().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let counts = projector_counts(&mut net).await;
        let results = net.query_api.list_results(api::ListResultsRequest { dataset_id: DATASET.into() }).await;
        let results = results.ok().map(|r| r.into_inner().results);
        if counts == Some((total, HONEST as u64, 3)) && results.as_ref() == Some(&before) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rebuilt projector: {counts:?}, {} results",
            results.map_or(0, |r| r.len())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rebuilt = net.query_api.get_result(api::GetResultRequest { query_id: query_id.clone() }).await.unwrap();
    assert_eq!(rebuilt.into_inner(), result);
    eprintln!(
        "up {:.1} s, {} submitted at {:.1} s, decided at {:.1} s, published at {:.1} s",
        up.as_secs_f64(),
        total + 3,
        submitted.as_secs_f64(),
        decided.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// The network as processes, `n` accounts, the dataset, and one honest submission per
/// account (submitted, not yet decided).
async fn honest_network(n: usize, tuning: &Tuning) -> Network {
    let accounts: Vec<Account> =
        (0..n).map(|i| Account::new(&format!("t{i}"), &format!("u{i}"), &balance(i), "ETH").unwrap()).collect();
    let mut net = Network::start(accounts, tuning).await.unwrap();
    let network = net.wait_up(Duration::from_secs(30)).await.unwrap();
    let keys = Network::share_keys(&network).unwrap();
    let spec = spec();
    net.create_dataset(&spec).await.unwrap();
    for i in 0..n {
        let s = net.submission(&format!("t{i}"), &spec, &keys, Behaviour::Honest).await.unwrap();
        net.client.submit_contribution(s).await.unwrap();
    }
    net
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_killed_mid_run_recovers() {
    const N: usize = 15;
    let started = Instant::now();
    let mut net = honest_network(N, &Tuning::default()).await;
    let status = net.wait_decided(DATASET, N as u64, Duration::from_secs(30)).await.unwrap();
    assert_eq!(status.accepted, N as u64);
    let balances: Vec<String> = (0..N).map(balance).collect();

    // Party 1 is killed after the intake (once it has folded the coordinator's log so far: see
    // `caught_up`); a query comes; nothing is published while the coordinator sees party 1
    // down.
    caught_up(&net, 1, Duration::from_secs(10)).await;
    net.kill_party(1);
    let killed = Instant::now();
    let sql = format!("SELECT count(*), sum(balance), median(balance) FROM {DATASET}");
    let first = net.submit_query(&sql).await.unwrap();
    net.wait_party(1, false, Duration::from_secs(15)).await.unwrap();
    let state = net.query_status(&first).await.map(|s| s.state);
    assert!(matches!(state.as_deref(), None | Some("requested" | "running")), "{state:?} without party 1");
    let noticed = killed.elapsed();

    // Party 1 restarts from the same data directory and database: the query is published.
    net.start_party(1).unwrap();
    let restarted = Instant::now();
    let result = net.wait_published(&first, Duration::from_secs(40)).await.unwrap();
    assert_result(&mut net, &result, &single(&balances), &[0.0, 1e-12, 1e-12]).await;
    let recovered = restarted.elapsed();

    // Party 2 is killed while a heavier query runs and restarted at once: the coordinator
    // retries and publishes the right values. The projector reports the query running from
    // the coordinator's SessionOpened, before the parties have connected their mesh; the kill
    // waits until each party has also recorded QueryStarted (in its own log), so it lands in
    // the computation (about 2 s here), not in the connection.
    let sql = format!("SELECT count(*), sum(balance), median(balance), stddev(balance), gini(balance) FROM {DATASET}");
    let second = net.submit_query(&sql).await.unwrap();
    net.wait_status(&second, Duration::from_secs(20), |s| s.state == "running").await.unwrap();
    let mut session = Vec::new();
    for party in triad_network::PARTIES {
        let (_, started) = net
            .wait_logged(
                party,
                Duration::from_secs(20),
                |_, k| matches!(k, Kind::QueryStarted(q) if q.query_id == second),
            )
            .await
            .unwrap();
        let Kind::QueryStarted(started) = started else { unreachable!() };
        session = started.session_id;
    }
    net.kill_party(2);
    net.start_party(2).unwrap();
    let restarted = Instant::now();
    let result = net.wait_published(&second, Duration::from_secs(40)).await.unwrap();
    // The square root and the gini are approximated in fixed point.
    assert_result(&mut net, &result, &single(&balances), &[0.0, 1e-12, 1e-12, 1e-6, 1e-3]).await;
    let log = net.coordinator_log().await.unwrap();
    let sessions = query_sessions(&log, &second);
    let first_attempt = sessions.iter().find(|(attempt, _)| *attempt == 1);
    assert!(
        matches!(first_attempt, Some((_, Some((false, reason)))) if reason.starts_with("party_aborted")),
        "the session party 2 was killed in failed: {sessions:?}"
    );
    assert!(
        matches!(sessions.last(), Some((attempt, Some((true, _)))) if *attempt >= 2),
        "a retry published it: {sessions:?}"
    );
    // Restarted, party 2 found the session it was running and aborted it.
    let party2 = net.service_log("party2").await.unwrap();
    assert!(
        party2
            .iter()
            .any(|(_, k)| matches!(k, Kind::QueryAborted(a) if a.session_id == session && a.reason == "restarted")),
        "party 2 aborts the interrupted session as restarted"
    );
    eprintln!(
        "party 1: down noticed {:.1} s after the kill, published {:.1} s after its restart; party 2: published {:.1} \
         s after its restart; {:.1} s in all; sessions of the second query: {sessions:?}",
        noticed.as_secs_f64(),
        recovered.as_secs_f64(),
        restarted.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// Party 2 freezes (SIGSTOP) just before a query's session opens, while the coordinator still
/// counts it up: parties 0 and 1 reach its port, but no TLS handshake ever completes, and their
/// `connect_timeout` is ten minutes. When the coordinator times the session out, both must give
/// up connecting at once (reporting the cancellation), not after ten minutes; party 2, killed
/// and restarted, then takes part in the retry that publishes the result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parties_stop_connecting_when_the_coordinator_closes_the_session() {
    const N: usize = 8;
    let tuning = Tuning { connect_timeout_secs: 600, session_timeout_secs: 4, ..Tuning::default() };
    let mut net = honest_network(N, &tuning).await;
    let status = net.wait_decided(DATASET, N as u64, Duration::from_secs(30)).await.unwrap();
    assert_eq!(status.accepted, N as u64);

    net.freeze_party(2).unwrap();
    let sql = format!("SELECT count(*), sum(balance) FROM {DATASET}");
    let query = net.submit_query(&sql).await.unwrap();
    let cancelled = |k: &Kind| matches!(k, Kind::QueryAborted(a) if a.query_id == query && a.reason.contains("connecting was cancelled"));
    for party in ["party0", "party1"] {
        net.wait_logged(party, Duration::from_secs(60), |_, k| cancelled(k))
            .await
            .unwrap_or_else(|e| panic!("{party} did not give up connecting: {e}"));
    }
    net.kill_party(2);
    net.start_party(2).unwrap();
    let result = net.wait_published(&query, Duration::from_secs(60)).await.unwrap();
    let balances: Vec<String> = (0..N).map(balance).collect();
    assert_result(&mut net, &result, &single(&balances), &[0.0, 1e-12]).await;
}

/// Party 1 is frozen (SIGSTOP) right after it reported the intake, so JetStream delivers it the
/// coordinator's `ContributionsAccepted` event that it never acknowledges; it is killed and
/// restarted; a query comes. The restarted party is handed newer events (the query's
/// `SessionOpened`) before those, which come back only after the consumer's `ack_wait`: it
/// must fold them in order (a party that ran the query on the rows it had folded would make it
/// fail, as it did before the party refused events after a gap).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_killed_with_unacknowledged_events_recovers() {
    const N: usize = 8;
    let mut net = honest_network(N, &Tuning::default()).await;
    // Party 1's report is on the bus: freeze it before the verdicts reach it.
    let party1 = triad_eventlog::PgEventStore::connect(&net.database_url("party1"), "party1").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut reported = None;
    loop {
        use triad_eventlog::EventStore as _;
        if reported.is_none() {
            // The report that completes the intake (a batch may hold only some of the N).
            let mut accepted = 0;
            for e in party1.read_all(0, usize::MAX).await.unwrap() {
                if let Ok(Some(Kind::SharesAccepted(r))) = triad_network::decode(&e) {
                    accepted += r.contribution_ids.len();
                    if accepted >= N {
                        reported = Some(e.position);
                    }
                }
            }
        }
        if let Some(p) = reported
            && party1.published().await.unwrap() >= p
        {
            break;
        }
        assert!(Instant::now() < deadline, "party 1 never reported the intake");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    net.freeze_party(1).unwrap();
    let status = net.wait_decided(DATASET, N as u64, Duration::from_secs(30)).await.unwrap();
    assert_eq!(status.accepted, N as u64);
    // The verdicts are delivered to the frozen process and stay unacknowledged.
    let head = {
        use triad_eventlog::EventStore as _;
        triad_eventlog::PgEventStore::connect(&net.database_url("coordinator"), "coordinator")
            .await
            .unwrap()
            .head()
            .await
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (delivered, pending) = net.consumer_state("coordinator", "party1").await.unwrap();
        if delivered >= head && pending > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "delivered {delivered} of {head}, {pending} unacknowledged");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    net.kill_party(1);
    net.start_party(1).unwrap();
    net.wait_party(1, true, Duration::from_secs(15)).await.unwrap();
    let query = net.submit_query(&format!("SELECT count(*), sum(balance) FROM {DATASET}")).await.unwrap();
    // Well inside the consumer's ack_wait (30 s).
    let result = net.wait_published(&query, Duration::from_secs(20)).await.unwrap();
    let balances: Vec<String> = (0..N).map(balance).collect();
    assert_result(&mut net, &result, &single(&balances), &[0.0, 1e-12]).await;
}

/// The bus crashes (SIGKILL) mid-run and stays down until the parties' heartbeats lapse, then
/// comes back on the same store. The coordinator keeps taking submissions while it is down (its own store decides; the outbox holds the events),
/// every service reconnects, the intake finishes and a query is published with the plaintext's
/// values. The network runs on a nats-server of this test's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_survives_a_nats_crash() {
    const N: usize = 24;
    let mut nats = PrivateNats::start().await.unwrap();
    let accounts: Vec<Account> =
        (0..N).map(|i| Account::new(&format!("t{i}"), &format!("u{i}"), &balance(i), "ETH").unwrap()).collect();
    let mut net = Network::start_on(accounts, &Tuning::default(), nats.url()).await.unwrap();
    let network = net.wait_up(Duration::from_secs(30)).await.unwrap();
    let keys = Network::share_keys(&network).unwrap();
    let spec = spec();
    net.create_dataset(&spec).await.unwrap();
    let mut submissions = Vec::new();
    for i in 0..N {
        submissions.push(net.submission(&format!("t{i}"), &spec, &keys, Behaviour::Honest).await.unwrap());
    }
    let second_half = submissions.split_off(N / 2);
    for s in submissions {
        net.client.submit_contribution(s).await.unwrap();
    }
    let status = net.wait_decided(DATASET, (N / 2) as u64, Duration::from_secs(30)).await.unwrap();
    assert_eq!(status.accepted, (N / 2) as u64);

    nats.kill().unwrap();
    let crashed = Instant::now();
    for s in second_half {
        net.client.submit_contribution(s).await.expect("the coordinator takes submissions while the bus is down");
    }
    // Down long enough for the heartbeats to lapse: the coordinator sees the parties down (and
    // the clients' connections and pulls time out), not a blip the clients ride out.
    for i in 0..3 {
        net.wait_party(i, false, Duration::from_secs(30)).await.unwrap();
    }
    nats.restart().await.unwrap();
    let restarted = Instant::now();

    let status = net.wait_decided(DATASET, N as u64, Duration::from_secs(60)).await.unwrap();
    assert_eq!((status.accepted, status.rejected), (N as u64, 0));
    let verified = restarted.elapsed();
    let sql = format!("SELECT count(*), sum(balance), median(balance) FROM {DATASET}");
    let query = net.submit_query(&sql).await.unwrap();
    let result = net.wait_published(&query, Duration::from_secs(60)).await.unwrap();
    let balances: Vec<String> = (0..N).map(balance).collect();
    assert_result(&mut net, &result, &single(&balances), &[0.0, 1e-12, 1e-12]).await;
    net.check_alive().unwrap();
    eprintln!(
        "bus down {:.1} s; the second half verified {:.1} s after it came back",
        restarted.duration_since(crashed).as_secs_f64(),
        verified.as_secs_f64()
    );
}

/// Takes `services`' databases away (no new connections, every open one terminated) or gives
/// them back: to those services, PostgreSQL is down, while the other tests' databases on the
/// shared server are untouched.
async fn databases_reachable(net: &Network, services: &[&str], reachable: bool) {
    let admin = sqlx::PgPool::connect(&triad_itests::pg_admin_url()).await.unwrap();
    for service in services {
        let url = net.database_url(service);
        let db = url.rsplit('/').next().unwrap().to_owned();
        sqlx::query(sqlx::AssertSqlSafe(format!("ALTER DATABASE \"{db}\" WITH ALLOW_CONNECTIONS {reachable}")))
            .execute(&admin)
            .await
            .unwrap();
        if !reachable {
            sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
                .bind(&db)
                .execute(&admin)
                .await
                .unwrap();
        }
    }
    admin.close().await;
}

/// PostgreSQL goes away under a running network and comes back, twice. First the parties' and
/// the projector's databases, until the coordinator sees all three parties down (their
/// heartbeats are events of their own stores). Then the coordinator's: a submission is
/// refused with `UNAVAILABLE` and a message that says to retry, and nothing of it is kept;
/// once the database is back the same submission is accepted. The intake finishes and a query
/// is published with the plaintext's values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_survives_postgres_going_away() {
    const N: usize = 20;
    let accounts: Vec<Account> =
        (0..N).map(|i| Account::new(&format!("t{i}"), &format!("u{i}"), &balance(i), "ETH").unwrap()).collect();
    let mut net = Network::start(accounts, &Tuning::default()).await.unwrap();
    let network = net.wait_up(Duration::from_secs(30)).await.unwrap();
    let keys = Network::share_keys(&network).unwrap();
    let spec = spec();
    net.create_dataset(&spec).await.unwrap();
    let mut submissions = Vec::new();
    for i in 0..N {
        submissions.push(net.submission(&format!("t{i}"), &spec, &keys, Behaviour::Honest).await.unwrap());
    }
    let mut second_half = submissions.split_off(N / 2);
    for s in submissions {
        net.client.submit_contribution(s).await.unwrap();
    }
    net.wait_decided(DATASET, (N / 2) as u64, Duration::from_secs(30)).await.unwrap();

    // The parties' and the projector's stores away, with submissions coming in.
    let others = ["party0", "party1", "party2", "projector"];
    databases_reachable(&net, &others, false).await;
    let down = Instant::now();
    let last = second_half.pop().unwrap();
    for s in second_half {
        net.client.submit_contribution(s).await.unwrap();
    }
    for i in 0..3 {
        net.wait_party(i, false, Duration::from_secs(30)).await.unwrap();
    }
    databases_reachable(&net, &others, true).await;
    let parties_outage = down.elapsed();
    let back = Instant::now();
    net.wait_decided(DATASET, (N - 1) as u64, Duration::from_secs(60)).await.unwrap();
    let parties_recovered = back.elapsed();
    // A report the parties could not append while their stores were away is retried, not
    // dropped: no session waited for the coordinator's timeout.
    let log = net.coordinator_log().await.unwrap();
    let timed_out: Vec<_> =
        log.iter().filter(|(_, k)| matches!(k, Kind::SessionClosed(c) if c.reason == "timeout")).collect();
    assert!(timed_out.is_empty(), "sessions closed by the timeout: {timed_out:?}");

    // The coordinator's store away: the submission is refused, and kept nowhere.
    databases_reachable(&net, &["coordinator"], false).await;
    let refused = net.client.submit_contribution(last.clone()).await.expect_err("no store, no acceptance");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("retry later"), "{}", refused.message());
    databases_reachable(&net, &["coordinator"], true).await;
    // Its pool reconnects on the next call; one may still meet a connection that died.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match net.client.submit_contribution(last.clone()).await {
            Ok(_) => break,
            Err(e) if e.code() == Code::Unavailable && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the submission after the outage: {e:?}"),
        }
    }

    let status = net.wait_decided(DATASET, N as u64, Duration::from_secs(60)).await.unwrap();
    assert_eq!((status.accepted, status.rejected), (N as u64, 0));
    let sql = format!("SELECT count(*), sum(balance), median(balance) FROM {DATASET}");
    let query = net.submit_query(&sql).await.unwrap();
    let result = net.wait_published(&query, Duration::from_secs(60)).await.unwrap();
    let balances: Vec<String> = (0..N).map(balance).collect();
    assert_result(&mut net, &result, &single(&balances), &[0.0, 1e-12, 1e-12]).await;
    net.check_alive().unwrap();
    eprintln!(
        "the parties' databases away {:.1} s, their intake done {:.1} s after they came back",
        parties_outage.as_secs_f64(),
        parties_recovered.as_secs_f64()
    );
}
