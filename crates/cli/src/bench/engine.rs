//! `triad bench engine`: the MPC engine as three OS processes over localhost TLS.
//!
//! The parent generates the three parties' identities, writes them to a fresh temporary
//! directory and starts itself three times (`triad bench engine-party --party i --dir D`,
//! hidden). Each child binds its own listener on 127.0.0.1 port 0 and writes the port to
//! `p{i}.port`; once the three ports exist the parent writes `go.json` with the addresses;
//! the children connect with pinned keys ([`NetParty::connect`]), run the cases with
//! malicious security (every gate is proven before the clock stops) and write their
//! measurements to `p{i}.result.json`. The parent reports, per case, the wall time of the
//! slowest party and the largest byte and round counts. Every file is written to a temporary
//! name and renamed, so a reader never sees half a file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use triad_mpc::core::{ArithShare, SessionId, circuits};
use triad_mpc::net::{MeshListener, NetConfig, PartyId, PartyIdentity, PeerAddr, PinnedKey, TcpSetup};
use triad_mpc::{NetParty, PartyConfig};

use super::{Report, Row};

/// A benchmarked operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Case {
    /// Multiplications over Z_2^64, then their proof.
    Mult,
    /// ANDs (bit-sliced), then their proof.
    And,
    /// Signed less-than-zero (A2B: 125 ANDs per element, 63 rounds), then the proof.
    Ltz,
    /// Probabilistic truncation TruncPr(x, 40, 16): mask bits by B2A, proof, one open.
    Trunc,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Mult => "mult",
            Case::And => "and",
            Case::Ltz => "ltz",
            Case::Trunc => "trunc",
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// Element counts (gates for mult/and, elements for ltz/trunc).
    #[arg(long, value_delimiter = ',', default_values_t = vec![1_000usize, 10_000, 100_000, 1_000_000])]
    n: Vec<usize>,
    /// Cases to run.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = vec![Case::Mult, Case::And, Case::Ltz, Case::Trunc])]
    cases: Vec<Case>,
    /// Skip ltz and trunc above this n (they cost 125 ANDs / 82 multiplications per element);
    /// 0: no cap.
    #[arg(long, default_value_t = 100_000)]
    max_n_nonlinear: usize,
    /// Runs per case; the fastest is reported (its bytes and rounds are the same every run).
    #[arg(long, default_value_t = 1)]
    reps: usize,
    /// Give up if the parties have not finished after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout_secs: u64,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

/// The hidden child: one party.
#[derive(clap::Args)]
pub struct PartyArgs {
    /// This party's id (0, 1, 2).
    #[arg(long)]
    party: u8,
    /// The directory the parent prepared.
    #[arg(long)]
    dir: PathBuf,
}

/// What the parent tells every child.
#[derive(Serialize, Deserialize)]
struct Plan {
    session: [u8; 16],
    cases: Vec<(Case, usize)>,
    reps: usize,
}

/// The addresses, written once all three listeners are bound.
#[derive(Serialize, Deserialize)]
struct Go {
    addrs: Vec<SocketAddr>,
}

/// One party's measurement of one run of one case.
#[derive(Serialize, Deserialize)]
struct Measured {
    case: Case,
    n: usize,
    rep: usize,
    secs: f64,
    bytes_sent: u64,
    wire_bytes_sent: u64,
    rounds: u64,
    /// CPU time of the party's thread (it also drives its sockets); 0 where unknown.
    cpu_secs: f64,
}

/// One run's figures over the three parties: the slowest party's time, the largest counts.
#[derive(Clone, Copy, Default)]
struct Worst {
    secs: f64,
    bytes: u64,
    rounds: u64,
    cpu: f64,
}

pub(super) const STARTUP: Duration = Duration::from_secs(30);

pub async fn run(args: Args) -> Result<()> {
    ensure!(args.reps >= 1, "--reps must be at least 1");
    let mut cases = Vec::new();
    for &case in &args.cases {
        for &n in &args.n {
            ensure!(n > 0, "--n values must be positive");
            let nonlinear = matches!(case, Case::Ltz | Case::Trunc);
            if nonlinear && args.max_n_nonlinear > 0 && n > args.max_n_nonlinear {
                continue;
            }
            cases.push((case, n));
        }
    }
    let dir = std::env::temp_dir().join(format!(
        "triad-bench-engine-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let out = orchestrate(&dir, cases, &args);
    // Keys and results are throwaway: remove them whatever happened.
    let _ = std::fs::remove_dir_all(&dir);
    let rows = out?;
    let mut report = Report::new(args.json);
    for row in &rows {
        report.row(row)?;
    }
    Ok(())
}

fn orchestrate(dir: &Path, cases: Vec<(Case, usize)>, args: &Args) -> Result<Vec<Row>> {
    let mut session = [0u8; 16];
    session[..8].copy_from_slice(&std::process::id().to_le_bytes().repeat(2));
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    session[8..].copy_from_slice(&(nanos as u64).to_le_bytes());
    let plan = Plan { session, cases, reps: args.reps };
    write_atomic(&dir.join("plan.json"), &serde_json::to_vec(&plan)?)?;
    for p in PartyId::ALL {
        let id = PartyIdentity::generate(p).with_context(|| format!("generating {p}'s key"))?;
        write_atomic(&dir.join(format!("p{}.cert.der", p.get())), id.cert_der())?;
        write_secret(&dir.join(format!("p{}.key.der", p.get())), id.private_key_der())?;
    }

    let exe = std::env::current_exe().context("locating the triad executable")?;
    let mut children = Vec::new();
    for p in PartyId::ALL {
        let child = Process::new(&exe)
            .args(["bench", "engine-party", "--party", &p.get().to_string(), "--dir"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting party {p}"))?;
        children.push(Some(child));
    }
    let result = supervise(dir, &mut children, args);
    for c in children.iter_mut().flatten() {
        // Only after a failure: stop the parties still running.
        let _ = c.kill();
        let _ = c.wait();
    }
    result
}

fn supervise(dir: &Path, children: &mut [Option<Child>], args: &Args) -> Result<Vec<Row>> {
    // Ports, then the go file.
    let deadline = Instant::now() + STARTUP;
    let mut addrs = Vec::new();
    for p in PartyId::ALL {
        let path = dir.join(format!("p{}.port", p.get()));
        let text = wait_for_file(&path, deadline, children)?;
        let port: u16 = text.trim().parse().with_context(|| format!("{p} wrote a bad port {text:?}"))?;
        addrs.push(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    write_atomic(&dir.join("go.json"), &serde_json::to_vec(&Go { addrs })?)?;

    // Wait for the three to finish.
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    loop {
        let mut running = false;
        for (i, slot) in children.iter_mut().enumerate() {
            if let Some(c) = slot {
                match c.try_wait().with_context(|| format!("waiting for P{i}"))? {
                    Some(status) if status.success() => *slot = None,
                    Some(status) => bail!("party P{i} failed ({status})"),
                    None => running = true,
                }
            }
        }
        if !running {
            break;
        }
        ensure!(Instant::now() < deadline, "the parties did not finish within {} s", args.timeout_secs);
        std::thread::sleep(Duration::from_millis(20));
    }

    // Per (case, n): each run's slowest party; the fastest run.
    let mut runs: BTreeMap<(Case, usize, usize), Worst> = BTreeMap::new();
    for p in PartyId::ALL {
        let path = dir.join(format!("p{}.result.json", p.get()));
        let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let ms: Vec<Measured> = serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))?;
        for m in ms {
            let e = runs.entry((m.case, m.n, m.rep)).or_default();
            e.secs = e.secs.max(m.secs);
            e.bytes = e.bytes.max(m.bytes_sent);
            e.rounds = e.rounds.max(m.rounds);
            e.cpu = e.cpu.max(m.cpu_secs);
        }
    }
    let mut best: BTreeMap<(Case, usize), Worst> = BTreeMap::new();
    for ((case, n, _), v) in runs {
        let e = best.entry((case, n)).or_insert(v);
        if v.secs < e.secs {
            *e = v;
        }
    }
    // Wall time on a loaded machine says little; the busiest party's CPU time goes to stderr
    // (the table and the JSON lines keep the common columns).
    for ((case, n), w) in &best {
        eprintln!("engine {} n={n}: wall {:.3} s, busiest party's CPU {:.3} s", case.name(), w.secs, w.cpu);
    }
    Ok(best
        .into_iter()
        .map(|((case, n), Worst { secs, bytes, rounds, .. })| Row {
            suite: "engine",
            case: case.name().to_owned(),
            backend: "tls-3proc".to_owned(),
            n: n as u64,
            secs,
            per_sec: Some(n as f64 / secs.max(1e-9)),
            p50_ms: None,
            p99_ms: None,
            bytes_per_party: Some(bytes),
            rounds: Some(rounds),
        })
        .collect())
}

/// The hidden subcommand: one party's process.
pub async fn party(args: PartyArgs) -> Result<()> {
    // `BlockingMesh` drives its own runtime and refuses to run inside this one: use a plain
    // thread.
    let h = std::thread::spawn(move || party_main(&args));
    h.join().map_err(|_| anyhow::anyhow!("the party thread panicked"))?
}

fn party_main(args: &PartyArgs) -> Result<()> {
    let me = PartyId::new(args.party).with_context(|| format!("no party {}", args.party))?;
    let dir = &args.dir;
    let plan: Plan = serde_json::from_slice(&std::fs::read(dir.join("plan.json")).context("reading the plan")?)
        .context("parsing the plan")?;
    let cert = std::fs::read(dir.join(format!("p{}.cert.der", me.get()))).context("reading my certificate")?;
    let key = std::fs::read(dir.join(format!("p{}.key.der", me.get()))).context("reading my key")?;
    let identity = PartyIdentity::from_der(me, cert, key).context("loading my identity")?;
    let mut pins: Vec<PinnedKey> = Vec::new();
    for p in PartyId::ALL {
        let cert = std::fs::read(dir.join(format!("p{}.cert.der", p.get()))).with_context(|| format!("reading {p}'s certificate"))?;
        pins.push(PinnedKey::from_cert_der(&cert).with_context(|| format!("{p}'s certificate"))?);
    }

    let listener = MeshListener::bind(([127, 0, 0, 1], 0).into()).context("binding")?;
    let port = listener.local_addr().context("local address")?.port();
    write_atomic(&dir.join(format!("p{}.port", me.get())), port.to_string().as_bytes())?;
    let go: Go = serde_json::from_str(&wait_for_file(&dir.join("go.json"), Instant::now() + STARTUP, &mut [])?)
        .context("parsing go.json")?;
    ensure!(go.addrs.len() == 3, "go.json must hold three addresses");

    let peers = me
        .others()
        .into_iter()
        .map(|p| PeerAddr { party: p, addr: go.addrs[p.index()], key: pins[p.index()].clone() })
        .collect();
    let sid = SessionId(plan.session);
    let setup = TcpSetup { identity, listener, peers, config: NetConfig::new(triad_mpc::net_session_id(sid)) };
    let mut party = NetParty::connect(setup, sid, PartyConfig::default()).context("connecting to the other parties")?;

    let mut out = Vec::new();
    for &(case, n) in &plan.cases {
        for rep in 0..plan.reps {
            out.push(measure(&mut party, case, n, rep).with_context(|| format!("{} n={n}", case.name()))?);
        }
    }
    party.close().context("closing the mesh")?;
    write_atomic(&dir.join(format!("p{}.result.json", me.get())), &serde_json::to_vec(&out)?)?;
    Ok(())
}

/// One run of one case. Inputs are random sharings (free, outside the clock); a one-element
/// open first lines the three parties up; the clock stops once every gate is proven.
fn measure(p: &mut NetParty, case: Case, n: usize, rep: usize) -> Result<Measured> {
    let me = p.me();
    let (x, y) = match case {
        Case::Mult => (p.random(n), p.random(n)),
        Case::Ltz => (p.random(n), p.random(0)),
        // The cost does not depend on the values (random here, as in mpc-core's bench).
        Case::Trunc => (p.random(n).scale(1 << 20), p.random(0)),
        Case::And => (p.random(0), p.random(0)),
    };
    let (bx, by) = match case {
        Case::And => (p.random_bits(n), p.random_bits(n)),
        _ => (p.random_bits(0), p.random_bits(0)),
    };
    p.open(&ArithShare::public(me, &[0]))?;
    let before = p.stats();
    let c0 = thread_cpu();
    let t0 = Instant::now();
    match case {
        Case::Mult => drop(p.mul(&x, &y)?),
        Case::And => drop(p.and(&bx, &by)?),
        Case::Ltz => drop(p.circuit(|e| circuits::ltz(e, &x))?),
        Case::Trunc => drop(p.circuit(|e| circuits::trunc_pr(e, &x, 40, 16))?),
    }
    p.verify()?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu_secs = thread_cpu() - c0;
    let spent = p.stats().since(before);
    Ok(Measured {
        case,
        n,
        rep,
        secs,
        bytes_sent: spent.bytes_sent,
        wire_bytes_sent: spent.wire_bytes_sent,
        rounds: spent.rounds,
        cpu_secs,
    })
}

/// CPU time of the calling thread in seconds (Linux schedstat; 0 elsewhere).
pub(super) fn thread_cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
        .map_or(0.0, |ns| ns as f64 * 1e-9)
}

/// Wait (bounded) for a file another process writes atomically; fail early if a child died.
pub(super) fn wait_for_file(path: &Path, deadline: Instant, children: &mut [Option<Child>]) -> Result<String> {
    loop {
        match std::fs::read_to_string(path) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
        for (i, c) in children.iter_mut().enumerate() {
            if let Some(c) = c
                && let Some(status) = c.try_wait()?
            {
                bail!("party P{i} exited during start-up ({status})");
            }
        }
        ensure!(Instant::now() < deadline, "timed out waiting for {}", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}

/// A private key, readable by its owner only.
pub(super) fn write_secret(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes).with_context(|| format!("writing {}", path.display()))
}
