//! The data plane between three OS processes, as deployed: one process per party, each with a
//! compute thread using `BlockingMesh` over a one-worker tokio runtime, TLS 1.3 on 127.0.0.1.
//!
//! `cargo run --release --example net_procs [-- --quick]`
//!
//! The parent generates the three keys, writes them to a temporary directory, starts itself
//! three times as `net_procs --party <i> <dir>`, collects the listening addresses the children
//! print and hands every child all three. P0 prints the table; P1 reports its CPU time to P0
//! over the mesh.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use bytes::Bytes;
use triad_mpc_net::{
    BlockingMesh, Mesh, MeshListener, NetConfig, NetError, PartyId, PartyIdentity, PeerAddr,
    PinnedKey, SessionId, TcpSetup,
};

const P0: PartyId = PartyId::ALL[0];
const P1: PartyId = PartyId::ALL[1];

fn fail(what: impl std::fmt::Display) -> NetError {
    NetError::Config(what.to_string())
}

/// User + system CPU seconds of this process.
fn cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |k: usize| f.get(k).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() -> Result<(), NetError> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    match args.iter().position(|a| a == "--party") {
        Some(i) => {
            let party = args
                .get(i + 1)
                .and_then(|p| p.parse::<u8>().ok())
                .and_then(PartyId::new)
                .ok_or_else(|| fail("--party needs 0, 1 or 2"))?;
            let dir = PathBuf::from(args.get(i + 2).ok_or_else(|| fail("--party needs a dir"))?);
            child(party, &dir, quick)
        }
        None => parent(quick),
    }
}

fn parent(quick: bool) -> Result<(), NetError> {
    let dir = std::env::temp_dir().join(format!("triad-net-procs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(fail)?;
    for p in PartyId::ALL {
        let id = PartyIdentity::generate(p)?;
        std::fs::write(dir.join(format!("cert{}.der", p.get())), id.cert_der()).map_err(fail)?;
        std::fs::write(
            dir.join(format!("key{}.der", p.get())),
            id.private_key_der(),
        )
        .map_err(fail)?;
    }
    let exe = std::env::current_exe().map_err(fail)?;
    let mut children = Vec::new();
    let mut addrs = Vec::new();
    for p in PartyId::ALL {
        let mut cmd = Command::new(&exe);
        cmd.arg("--party").arg(p.get().to_string()).arg(&dir);
        if quick {
            cmd.arg("--quick");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(fail)?;
        let stdout = child.stdout.take().ok_or_else(|| fail("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let first = lines
            .next()
            .ok_or_else(|| fail("child printed nothing"))?
            .map_err(fail)?;
        addrs.push(
            first
                .strip_prefix("ADDR ")
                .ok_or_else(|| fail(&first))?
                .to_string(),
        );
        children.push((child, lines));
    }
    for (child, _) in &mut children {
        let stdin = child.stdin.as_mut().ok_or_else(|| fail("no stdin"))?;
        writeln!(stdin, "{}", addrs.join(" ")).map_err(fail)?;
    }
    for (mut child, lines) in children {
        for line in lines {
            println!("{}", line.map_err(fail)?);
        }
        child.wait().map_err(fail)?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn read(dir: &Path, name: String) -> Result<Vec<u8>, NetError> {
    std::fs::read(dir.join(name)).map_err(fail)
}

fn child(me: PartyId, dir: &Path, quick: bool) -> Result<(), NetError> {
    let identity = PartyIdentity::from_der(
        me,
        read(dir, format!("cert{}.der", me.get()))?,
        read(dir, format!("key{}.der", me.get()))?,
    )?;
    let listener = MeshListener::bind(([127, 0, 0, 1], 0).into())?;
    println!("ADDR {}", listener.local_addr()?);
    std::io::stdout().flush().map_err(fail)?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(fail)?;
    let addrs: Vec<SocketAddr> = line
        .split_whitespace()
        .map(|a| a.parse().map_err(fail))
        .collect::<Result<_, _>>()?;
    let mut peers = Vec::new();
    for p in me.others() {
        let key = PinnedKey::from_cert_der(&read(dir, format!("cert{}.der", p.get()))?)?;
        let addr = *addrs
            .get(p.index())
            .ok_or_else(|| fail("missing address"))?;
        peers.push(PeerAddr {
            party: p,
            addr,
            key,
        });
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(fail)?;
    let config = NetConfig::new(SessionId::from_label("net_procs"));
    let mesh: Mesh = rt.block_on(Mesh::connect(TcpSetup {
        identity,
        listener,
        peers,
        config,
    }))?;
    let m = BlockingMesh::new(mesh, rt.handle().clone());
    let scale = if quick { 8 } else { 1 };

    if me == P0 {
        println!("| case (three processes, BlockingMesh::new, TLS) | result |");
        println!("|---|---|");
    }
    // One way, P0 -> P1; P1 acknowledges the last message and reports its CPU time.
    for (label, len, total) in [
        ("1 KiB", 1usize << 10, (256usize << 20) / scale),
        ("64 KiB", 64 << 10, (2 << 30) / scale),
        ("8 MiB", 8 << 20, (4 << 30) / scale),
    ] {
        let count = total / len;
        let cpu = cpu_secs();
        let start = Instant::now();
        if me == P0 {
            let msg = Bytes::from(vec![0x5a; len]);
            for _ in 0..count {
                m.send(P1, msg.clone())?;
            }
            let ack = m.recv(P1)?;
            let secs = start.elapsed().as_secs_f64();
            let p1_cpu: f64 = String::from_utf8_lossy(&ack).parse().unwrap_or(0.0);
            let gb = (count * len) as f64 / 1e9;
            println!(
                "| one way {label} | {:.0} MB/s, {:.0} msgs/s; CPU-s/GB sender {:.2}, receiver {:.2} |",
                gb * 1e3 / secs,
                count as f64 / secs,
                (cpu_secs() - cpu) / gb,
                p1_cpu / gb
            );
        } else if me == P1 {
            for _ in 0..count {
                m.recv(P0)?;
            }
            let used = format!("{}", cpu_secs() - cpu);
            m.send(P0, Bytes::from(used))?;
        }
    }
    // Ping-pong P0 <-> P1.
    let rounds = 20_000 / scale;
    if me == P0 {
        let msg = Bytes::from(vec![1u8; 64]);
        let mut lat = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t = Instant::now();
            m.send(P1, msg.clone())?;
            m.recv(P1)?;
            lat.push(t.elapsed());
        }
        lat.sort();
        let us = |i: usize| lat[i].as_secs_f64() * 1e6;
        println!(
            "| ping-pong 64 B | p50 {:.1} us, p99 {:.1} us |",
            us(rounds / 2),
            us(rounds * 99 / 100)
        );
    } else if me == P1 {
        for _ in 0..rounds {
            let x = m.recv(P0)?;
            m.send(P0, x)?;
        }
    }
    // MPC-style rounds: everyone sends to both peers, then receives from both.
    for (label, len, rounds) in [
        ("8 B", 8usize, 20_000 / scale),
        ("1 MiB", 1 << 20, 400 / scale),
        ("8 MiB", 8 << 20, 80 / scale),
    ] {
        let msg = Bytes::from(vec![7u8; len]);
        let [a, b] = me.others();
        let start = Instant::now();
        for _ in 0..rounds {
            m.send(a, msg.clone())?;
            m.send(b, msg.clone())?;
            m.mark_round();
            m.recv(a)?;
            m.recv(b)?;
        }
        if me == P0 {
            let us = start.elapsed().as_secs_f64() * 1e6 / rounds as f64;
            println!(
                "| 3-party round, {label} to each peer | {us:.1} us/round, {:.0} MB/s sent+received per party |",
                4.0 * len as f64 / us
            );
        }
    }
    if me == P0 {
        let s = m.stats();
        println!(
            "| P0 totals | {} rounds, {} MB payload sent, {} MB on the wire |",
            s.rounds,
            s.bytes_sent() / 1_000_000,
            s.wire_bytes_sent() / 1_000_000
        );
    }
    m.close()
}
