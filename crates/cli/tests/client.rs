//! The network's clients, `triad provide`, `triad status`, `triad query` and `triad watch`, run
//! as the real binary against a whole network started in this process (`triad-localnet`:
//! coordinator and projector over gRPC on loopback, three parties over TLS, the development
//! notary; embedded backend). Providers contribute from presentation and secret files, the
//! counts are reported, a query's published result equals the plaintext, a refused query and a
//! planner error exit non-zero with the reason, an account's second contribution is refused
//! with a message about the account, and a watcher prints a result published while it runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;
use triad_dev_notary::Account;
use triad_localnet::{Backend, DatasetSpec, LocalNet};
use triad_proto::api::v1 as api;

const N: usize = 12;
const DATASET: &str = "balances";

fn balance(i: usize) -> String {
    format!("{}.{:02}", 3 * i + 1, (7 * i) % 100)
}

async fn triad(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_triad")).args(args).kill_on_drop(true).output().await.expect("triad runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "stderr: {}", stderr(out));
    let text = stdout(out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line on stdout: {text}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The presentation and secret of a fresh proof of account `token`'s balance, as files.
async fn prove(net: &LocalNet, dir: &Path, token: &str, n: usize) -> (PathBuf, PathBuf) {
    let issued = net.notary.issue(token).await.unwrap();
    let presentation = dir.join(format!("presentation-{token}-{n}.bin"));
    let secret = dir.join(format!("secret-{token}-{n}.json"));
    std::fs::write(&presentation, &issued.presentation).unwrap();
    std::fs::write(&secret, issued.secrets[0].to_json()).unwrap();
    (presentation, secret)
}

async fn provide(coordinator: &str, dataset: &str, files: &(PathBuf, PathBuf), extra: &[&str]) -> Output {
    let (presentation, secret) = (files.0.to_str().unwrap(), files.1.to_str().unwrap());
    let mut args = vec!["provide", "--coordinator", coordinator, "--dataset", dataset];
    args.extend(["--presentation", presentation, "--secret", secret, "--json"]);
    args.extend(extra);
    triad(&args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_against_a_running_network() {
    let dir = tempfile::tempdir().unwrap();
    let accounts: Vec<Account> =
        (0..N).map(|i| Account::new(&format!("t{i}"), &format!("u{i}"), &balance(i), "ETH").unwrap()).collect();
    let net = LocalNet::start(dir.path(), Backend::Embedded, accounts).await.unwrap();
    net.wait_up(Duration::from_secs(60)).await.unwrap();
    let spec = DatasetSpec::balances(DATASET, 6, 2, 5);
    net.create_dataset(&spec).await.unwrap();
    let coordinator = format!("http://{}", net.coordinator_addr);
    let projector = format!("http://{}", net.projector_addr);
    let ca = dir.path().join("ca.der");
    std::fs::write(&ca, net.notary.ca_cert_der()).unwrap();
    let ca = ca.to_str().unwrap();

    // A dataset that does not exist: the error lists the ones that do.
    let files = prove(&net, dir.path(), "t0", 0).await;
    let out = provide(&coordinator, "nope", &files, &[]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("\"nope\" not found") && stderr(&out).contains(DATASET), "{}", stderr(&out));

    // N providers, half of them checking the server's certificate chain locally too.
    for i in 0..N {
        let files = if i == 0 { files.clone() } else { prove(&net, dir.path(), &format!("t{i}"), 0).await };
        let extra: &[&str] = if i % 2 == 0 { &["--trust-anchor", ca] } else { &[] };
        let o = json(&provide(&coordinator, DATASET, &files, extra).await);
        assert_eq!(o["dataset_id"], DATASET, "{o}");
        assert_eq!(o["contribution_id"].as_str().unwrap().len(), 32, "{o}");
        assert!(o["position"].as_u64().unwrap() > 0, "{o}");
    }

    // An account that already contributed: refused at the door, and the message says so.
    let again = prove(&net, dir.path(), "t3", 1).await;
    let out = provide(&coordinator, DATASET, &again, &[]).await;
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).contains("this account already contributed"), "{}", stderr(&out));
    assert!(stderr(&out).contains("uid u3"), "{}", stderr(&out));

    let decided = net.wait_decided(DATASET, N as u64, Duration::from_secs(180), |_| {}).await.unwrap();
    assert_eq!((decided.accepted, decided.rejected), (N as u64, 0));

    // Status: the parties, the coordinator's counts, and the projector's once it caught up.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let s = json(&triad(&["status", "--coordinator", &coordinator, "--projector", &projector, "--json"]).await);
        if s["projector"]["datasets"][0]["accepted"] == N || Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status["network_id"], "triad-devnet", "{status}");
    let parties = status["parties"].as_array().unwrap();
    assert_eq!(parties.len(), 3, "{status}");
    for (i, p) in parties.iter().enumerate() {
        assert_eq!(p["party"], i, "{status}");
        assert_eq!(p["up"], true, "{status}");
        assert_eq!(p["joined"], true, "{status}");
        assert!(p["last_heartbeat_secs_ago"].as_i64().unwrap() < 30, "{status}");
    }
    let d = &status["datasets"][0];
    assert_eq!(d["dataset_id"], DATASET, "{status}");
    assert_eq!(
        (&d["submitted"], &d["accepted"], &d["rejected"], &d["pending"]),
        (&N.into(), &N.into(), &0.into(), &0.into())
    );
    let p = &status["projector"]["datasets"][0];
    assert_eq!((&p["dataset_id"], &p["accepted"], &p["rejected"]), (&DATASET.into(), &N.into(), &0.into()), "{status}");
    let text = triad(&["status", "--coordinator", &coordinator]).await;
    assert!(text.status.success(), "{}", stderr(&text));
    assert!(stdout(&text).contains("submitted 12  accepted 12  rejected 0  pending 0"), "{}", stdout(&text));

    // A query: the published result equals the plaintext.
    let sql = format!("SELECT count(*), sum(balance) FROM {DATASET}");
    let out =
        triad(&["query", "--coordinator", &coordinator, "--projector", &projector, "--sql", &sql, "--json"]).await;
    let o = json(&out);
    assert!(stderr(&out).contains("published"), "{}", stderr(&out));
    let sum: f64 = (0..N).map(|i| balance(i).parse::<f64>().unwrap()).sum();
    assert_eq!(o["sql"], sql, "{o}");
    assert_eq!(o["columns"].as_array().unwrap().len(), 2, "{o}");
    assert_eq!(o["rows_in_snapshot"], N, "{o}");
    assert_eq!(o["rows"][0][0].as_f64(), Some(N as f64), "{o}");
    assert!((o["rows"][0][1].as_f64().unwrap() - sum).abs() < 1e-6, "{o} vs {sum}");

    // Signed: verified by `triad query` with the key `triad status` prints, and by `triad
    // verify` from the saved file and from the projector; another key refuses it.
    assert_eq!(o["verified"], true, "{o}");
    let status = json(&triad(&["status", "--coordinator", &coordinator, "--json"]).await);
    let key = status["network_key"].as_str().expect("the network key in status").to_owned();
    assert_eq!(o["network_key"], key.as_str(), "{o}");
    let saved = dir.path().join("result.json");
    let saved = saved.to_str().unwrap();
    let out = triad(&[
        "query",
        "--coordinator",
        &coordinator,
        "--projector",
        &projector,
        "--sql",
        &sql,
        "--network-key",
        &key,
        "--save",
        saved,
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with(&sql), "{}", stdout(&out));
    assert!(stdout(&out).contains("over 12 contributions of balances"), "{}", stdout(&out));
    assert!(stdout(&out).contains("signature verified under dataset key"), "{}", stdout(&out));
    let out = triad(&["verify", saved, "--network-key", &key]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["dataset_id"], DATASET);
    let query_id = o["query_id"].as_str().unwrap();
    let out = triad(&["verify", "--query-id", query_id, "--projector", &projector, "--network-key", &key]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let other = triad_signing::NetworkKey {
        public_key: hex::decode(&key[..66]).unwrap().try_into().unwrap(),
        chain_code: [7; 32],
    };
    let out =
        triad(&["verify", "--query-id", query_id, "--projector", &projector, "--network-key", &other.to_hex()]).await;
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).contains("forged"), "{}", stderr(&out));
    let out = triad(&[
        "query",
        "--coordinator",
        &coordinator,
        "--projector",
        &projector,
        "--sql",
        &sql,
        "--network-key",
        &other.to_hex(),
    ])
    .await;
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).contains("signature"), "{}", stderr(&out));

    // Too few rows (two balances are >= 30): the parties refuse; non-zero with the reason.
    let small = format!("SELECT count(*) FROM {DATASET} WHERE balance >= 30");
    let out = triad(&["query", "--coordinator", &coordinator, "--projector", &projector, "--sql", &small]).await;
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert!(stderr(&out).contains("below_min_cohort"), "{}", stderr(&out));

    // A planner error: the coordinator's message.
    let dataset = net.dataset_status(DATASET).await.unwrap().unwrap().dataset.unwrap();
    let schema = triad_network::schema(&dataset).unwrap();
    let bad = format!("SELECT avg(nope) FROM {DATASET}");
    let planned = triad_stats::plan(&schema, &bad).expect_err("an unknown column").to_string();
    let out = triad(&["query", "--coordinator", &coordinator, "--projector", &projector, "--sql", &bad]).await;
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).contains(&planned), "{} lacks {planned}", stderr(&out));

    // A watcher prints a result published while it runs.
    let mut watch = Command::new(env!("CARGO_BIN_EXE_triad"))
        .args(["watch", "--projector", &projector, "--dataset", DATASET, "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut watch_out = BufReader::new(watch.stdout.take().unwrap()).lines();
    let mut watch_err = BufReader::new(watch.stderr.take().unwrap()).lines();
    // It says so once it follows the stream; what is published after that is printed.
    let following = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = watch_err.next_line().await.unwrap() {
            if line.starts_with("watching") {
                return;
            }
        }
        panic!("the watcher ended without following");
    });
    following.await.expect("the watcher follows within 30 s");
    let watched = format!("SELECT count(*), max(balance) FROM {DATASET}");
    let mut client = net.client.clone();
    client.submit_query(api::SubmitQueryRequest { sql: watched.clone(), requested_by: "test".into() }).await.unwrap();
    let line = tokio::time::timeout(Duration::from_secs(180), watch_out.next_line())
        .await
        .expect("a result within 180 s")
        .unwrap()
        .expect("a line");
    watch.start_kill().unwrap();
    let _ = watch.wait().await;
    let o: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(o["sql"], watched, "{o}");
    assert_eq!(o["dataset_id"], DATASET, "{o}");
    assert_eq!(o["rows"][0][0].as_f64(), Some(N as f64), "{o}");
    assert_eq!(o["rows"][0][1].as_f64(), balance(N - 1).parse::<f64>().ok(), "{o}");

    net.stop(false).await;
}
