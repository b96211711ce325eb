//! `triad-procs`: three MPC parties as three OS processes over localhost TLS, the one
//! orchestrator of `triad bench engine`, `triad bench inputs`, `triad bench net` and the
//! adversarial tests (`triad-adversary`).
//!
//! The parent ([`parent`]) generates the three parties' identities into a fresh temporary
//! directory, writes the plan and a session id, and starts a child command three times (for
//! the benches the `triad` executable itself, `triad bench <suite>-party`, with
//! `--party i --dir D` appended). Each child ([`child`], or [`child_mesh`] for work on the
//! bare mesh) binds its own listener on 127.0.0.1 port 0 and writes the port to `p{i}.port`;
//! once the three ports exist the parent writes `go.json` with the addresses; the children
//! connect with pinned keys (`BlockingMesh::connect`, then for [`child`] the session's
//! [`NetParty::new`], as [`NetParty::connect`] does), run the work and write their results to
//! `p{i}.result.json`, which the parent returns. Every file is written to a temporary name
//! and renamed, so a reader never sees half a file; the directory is removed at the end.

pub mod deal;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use triad_mpc::core::SessionId;
use triad_mpc::net::{BlockingMesh, MeshListener, NetConfig, PartyId, PartyIdentity, PeerAddr, PinnedKey, TcpSetup};
use triad_mpc::{NetParty, PartyConfig};

/// The command that runs one party: `program args... --party i --dir D`.
#[derive(Clone, Debug)]
pub struct ChildCommand {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments before `--party i --dir D`.
    pub args: Vec<String>,
}

impl ChildCommand {
    /// The running executable with `args` (a program that is its own party).
    pub fn current_exe(args: &[&str]) -> Result<ChildCommand> {
        let program = std::env::current_exe().context("locating the running executable")?;
        Ok(ChildCommand { program, args: args.iter().map(|a| a.to_string()).collect() })
    }
}

/// How a child runs its party.
#[derive(Clone, Copy, Debug)]
pub struct ChildOptions {
    /// The party's settings (all three must agree).
    pub party: PartyConfig,
    /// How long a party waits for a peer's message before it gives up (the mesh's receive
    /// timeout; 30 s by default). Adversarial runs shorten it: a withheld message must end
    /// the run in bounded time.
    pub recv_timeout: Duration,
}

impl Default for ChildOptions {
    fn default() -> Self {
        ChildOptions { party: PartyConfig::default(), recv_timeout: Duration::from_secs(30) }
    }
}

/// How long the children may take to bind and publish their ports.
const STARTUP: Duration = Duration::from_secs(30);

/// The addresses, written once all three listeners are bound.
#[derive(Serialize, Deserialize)]
struct Go {
    addrs: Vec<SocketAddr>,
}

/// Run `plan` at three child processes (`command ... --party i --dir D`) and return each
/// party's results, in party order. `label` names the temporary directory.
pub fn parent<P: Serialize, M: DeserializeOwned>(
    label: &str,
    command: &ChildCommand,
    plan: &P,
    timeout_secs: u64,
) -> Result<[Vec<M>; 3]> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("triad-{label}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let out = orchestrate(&dir, command, plan, timeout_secs);
    // Keys and results are throwaway: remove them whatever happened.
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn orchestrate<P: Serialize, M: DeserializeOwned>(
    dir: &Path,
    command: &ChildCommand,
    plan: &P,
    timeout_secs: u64,
) -> Result<[Vec<M>; 3]> {
    let mut session = [0u8; 16];
    session[..8].copy_from_slice(&std::process::id().to_le_bytes().repeat(2));
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    session[8..].copy_from_slice(&(nanos as u64).to_le_bytes());
    write_atomic(&dir.join("session.json"), &serde_json::to_vec(&session)?)?;
    write_atomic(&dir.join("plan.json"), &serde_json::to_vec(plan)?)?;
    for p in PartyId::ALL {
        let id = PartyIdentity::generate(p).with_context(|| format!("generating {p}'s key"))?;
        write_atomic(&dir.join(format!("p{}.cert.der", p.get())), id.cert_der())?;
        write_secret(&dir.join(format!("p{}.key.der", p.get())), id.private_key_der())?;
    }
    let mut children = Vec::new();
    for p in PartyId::ALL {
        let child = Process::new(&command.program)
            .args(&command.args)
            .args(["--party", &p.get().to_string(), "--dir"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting party {p}"))?;
        children.push(Some(child));
    }
    let result = supervise(dir, &mut children, timeout_secs);
    for c in children.iter_mut().flatten() {
        // Only after a failure: stop the parties still running.
        let _ = c.kill();
        let _ = c.wait();
    }
    result
}

fn supervise<M: DeserializeOwned>(
    dir: &Path,
    children: &mut [Option<Child>],
    timeout_secs: u64,
) -> Result<[Vec<M>; 3]> {
    // Ports, then the go file.
    let deadline = Instant::now() + STARTUP;
    let mut addrs = Vec::new();
    for p in PartyId::ALL {
        let text = wait_for_file(&dir.join(format!("p{}.port", p.get())), deadline, children)?;
        let port: u16 = text.trim().parse().with_context(|| format!("{p} wrote a bad port {text:?}"))?;
        addrs.push(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    write_atomic(&dir.join("go.json"), &serde_json::to_vec(&Go { addrs })?)?;

    // Wait for the three to finish.
    let deadline = Instant::now() + Duration::from_secs(timeout_secs);
    while children.iter().any(Option::is_some) {
        for (i, slot) in children.iter_mut().enumerate() {
            if let Some(c) = slot {
                match c.try_wait().with_context(|| format!("waiting for P{i}"))? {
                    Some(status) if status.success() => *slot = None,
                    Some(status) => bail!("party P{i} failed ({status})"),
                    None => {}
                }
            }
        }
        ensure!(Instant::now() < deadline, "the parties did not finish within {timeout_secs} s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let read = |p: PartyId| -> Result<Vec<M>> {
        let path = dir.join(format!("p{}.result.json", p.get()));
        let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))
    };
    let [p0, p1, p2] = PartyId::ALL;
    Ok([read(p0)?, read(p1)?, read(p2)?])
}

/// A child process: connect to the other two as party `party` with the keys in `dir`, start
/// the MPC session ([`NetParty::new`] over the mesh of [`child_mesh`]), run `work` on the
/// plan, and leave its results for the parent.
pub fn child<P, M>(
    party: u8,
    dir: PathBuf,
    options: ChildOptions,
    work: fn(&mut NetParty, P) -> Result<Vec<M>>,
) -> Result<()>
where
    P: DeserializeOwned + Send + 'static,
    M: Serialize + Send + 'static,
{
    run_child(party, dir, options, work)
}

/// A child process on the bare data plane: connect to the other two as party `party` with the
/// keys in `dir` (a [`BlockingMesh::connect`] mesh bound to the session, as [`NetParty`]
/// uses), run `work` on the mesh and the plan, and leave its results for the parent. No MPC
/// session is started (no key agreement): for measuring the transport itself.
pub fn child_mesh<P, M>(
    party: u8,
    dir: PathBuf,
    options: ChildOptions,
    work: fn(&mut BlockingMesh, P) -> Result<Vec<M>>,
) -> Result<()>
where
    P: DeserializeOwned + Send + 'static,
    M: Serialize + Send + 'static,
{
    run_child(party, dir, options, work)
}

/// What a child's work runs on, built over the connected mesh and closed after the results
/// are written: the mesh itself, or a party over it.
trait Endpoint: Sized {
    fn open(mesh: BlockingMesh, sid: SessionId, options: &ChildOptions) -> Result<Self>;
    fn close(self) -> Result<()>;
}

impl Endpoint for BlockingMesh {
    fn open(mesh: BlockingMesh, _: SessionId, _: &ChildOptions) -> Result<Self> {
        Ok(mesh)
    }
    fn close(self) -> Result<()> {
        Ok(BlockingMesh::close(self)?)
    }
}

impl Endpoint for NetParty {
    fn open(mesh: BlockingMesh, sid: SessionId, options: &ChildOptions) -> Result<Self> {
        NetParty::new(mesh, sid, options.party).context("starting the session with the other parties")
    }
    fn close(self) -> Result<()> {
        Ok(NetParty::close(self)?)
    }
}

fn run_child<E, P, M>(
    party: u8,
    dir: PathBuf,
    options: ChildOptions,
    work: fn(&mut E, P) -> Result<Vec<M>>,
) -> Result<()>
where
    E: Endpoint + 'static,
    P: DeserializeOwned + Send + 'static,
    M: Serialize + Send + 'static,
{
    // `BlockingMesh` drives its own runtime and refuses to run inside another: use a plain
    // thread.
    let h = std::thread::spawn(move || child_main(party, &dir, options, work));
    h.join().map_err(|_| anyhow::anyhow!("the party thread panicked"))?
}

fn child_main<E: Endpoint, P: DeserializeOwned, M: Serialize>(
    party: u8,
    dir: &Path,
    options: ChildOptions,
    work: fn(&mut E, P) -> Result<Vec<M>>,
) -> Result<()> {
    let me = PartyId::new(party).with_context(|| format!("no party {party}"))?;
    let read = |name: String| std::fs::read(dir.join(&name)).with_context(|| format!("reading {name}"));
    let session: [u8; 16] = serde_json::from_slice(&read("session.json".into())?).context("parsing the session id")?;
    let plan: P = serde_json::from_slice(&read("plan.json".into())?).context("parsing the plan")?;
    let identity =
        PartyIdentity::from_der(me, read(format!("p{}.cert.der", me.get()))?, read(format!("p{}.key.der", me.get()))?)
            .context("loading my identity")?;
    let pins = PartyId::ALL
        .iter()
        .map(|p| {
            PinnedKey::from_cert_der(&read(format!("p{}.cert.der", p.get()))?)
                .with_context(|| format!("{p}'s certificate"))
        })
        .collect::<Result<Vec<_>>>()?;
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
    let sid = SessionId(session);
    let mut config = NetConfig::new(triad_mpc::net_session_id(sid));
    config.recv_timeout = options.recv_timeout;
    let setup = TcpSetup { identity, listener, peers, config };
    let mesh = BlockingMesh::connect(setup).context("connecting to the other parties")?;
    let mut net = E::open(mesh, sid, &options)?;
    let out = work(&mut net, plan)?;
    write_atomic(&dir.join(format!("p{}.result.json", me.get())), &serde_json::to_vec(&out)?)?;
    // Flush what is queued for the others. The results stand either way: a peer that has
    // already gone (it aborted, or finished first and hung up) makes this fail harmlessly.
    if let Err(e) = net.close() {
        eprintln!("P{}: closing the mesh: {e}", me.get());
    }
    Ok(())
}

/// Wait (bounded) for a file another process writes atomically; fail early if a child died.
fn wait_for_file(path: &Path, deadline: Instant, children: &mut [Option<Child>]) -> Result<String> {
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

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}

/// A private key, readable by its owner only.
fn write_secret(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes).with_context(|| format!("writing {}", path.display()))
}
