//! Throughput and latency of the data plane, printed as a table.
//!
//! `cargo run --release --example net_bench [-- --quick]`
//!
//! Three parties in one process (one tokio runtime, 2 worker threads) over 127.0.0.1 with
//! pinned-key TLS 1.3 (AES-128-GCM), and the in-memory transport for comparison.

use std::time::{Duration, Instant};

use bytes::Bytes;
use triad_mpc_net::{
    BlockingMesh, Mesh, MeshListener, NetConfig, NetError, PartyId, PartyIdentity, PeerAddr,
    SessionId, TcpSetup,
};

const P0: PartyId = PartyId::ALL[0];
const P1: PartyId = PartyId::ALL[1];

/// The whole setup a deployment does: a key per party, pins exchanged out of band, listeners
/// bound first, then every party connects.
async fn tcp_mesh(config: &NetConfig) -> Result<[Mesh; 3], NetError> {
    let identities = PartyId::ALL.map(PartyIdentity::generate);
    let mut ids = Vec::new();
    for id in identities {
        ids.push(id?);
    }
    let mut listeners = Vec::new();
    let mut addrs = Vec::new();
    for _ in PartyId::ALL {
        let l = MeshListener::bind(([127, 0, 0, 1], 0).into()).await?;
        addrs.push(l.local_addr()?);
        listeners.push(l);
    }
    let pins: Vec<_> = ids.iter().map(PartyIdentity::pinned_key).collect();
    let mut tasks = Vec::new();
    for (identity, listener) in ids.into_iter().zip(listeners) {
        let peers = identity
            .party()
            .others()
            .into_iter()
            .map(|p| PeerAddr {
                party: p,
                addr: addrs[p.index()],
                key: pins[p.index()].clone(),
            })
            .collect();
        let config = config.clone();
        tasks.push(tokio::spawn(Mesh::connect(TcpSetup {
            identity,
            listener,
            peers,
            config,
        })));
    }
    let mut meshes = Vec::new();
    for t in tasks {
        meshes.push(t.await.map_err(|e| NetError::Config(e.to_string()))??);
    }
    meshes
        .try_into()
        .map_err(|_| NetError::Config("three meshes".into()))
}

/// User + system CPU seconds of this process so far (Linux; 0 elsewhere). With other work on
/// the machine, payload per CPU-second is steadier than wall-clock throughput.
fn cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    // Clock ticks are 100 per second on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

async fn throughput(m: &[Mesh; 3], len: usize, total: usize) -> Result<(f64, f64, f64), NetError> {
    let count = (total / len).max(1);
    let msg = Bytes::from(vec![0x5au8; len]);
    let start = Instant::now();
    let cpu = cpu_secs();
    let send = async {
        for _ in 0..count {
            m[0].send(P1, msg.clone()).await?;
        }
        Ok::<_, NetError>(())
    };
    let recv = async {
        for _ in 0..count {
            m[1].recv(P0).await?;
        }
        Ok::<_, NetError>(())
    };
    let (s, r) = tokio::join!(send, recv);
    s?;
    r?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu;
    let bytes = (count * len) as f64;
    Ok((
        bytes / secs / 1e6,
        count as f64 / secs,
        bytes / cpu.max(0.01) / 1e6,
    ))
}

/// All six directions at once: every party sends `len`-byte messages to both peers.
async fn all_to_all(m: &[Mesh; 3], len: usize, total_per_link: usize) -> Result<f64, NetError> {
    let count = (total_per_link / len).max(1);
    let msg = Bytes::from(vec![0xa5u8; len]);
    let start = Instant::now();
    let (a, b, c) = tokio::join!(
        all_to_all_party(&m[0], &msg, count),
        all_to_all_party(&m[1], &msg, count),
        all_to_all_party(&m[2], &msg, count)
    );
    a?;
    b?;
    c?;
    let secs = start.elapsed().as_secs_f64();
    Ok((6 * count * len) as f64 / secs / 1e6)
}

async fn all_to_all_party(mesh: &Mesh, msg: &Bytes, count: usize) -> Result<(), NetError> {
    let [a, b] = mesh.party().others();
    let send = async {
        for _ in 0..count {
            mesh.send(a, msg.clone()).await?;
            mesh.send(b, msg.clone()).await?;
        }
        Ok::<_, NetError>(())
    };
    let recv = async {
        for _ in 0..count {
            mesh.recv(a).await?;
            mesh.recv(b).await?;
        }
        Ok::<_, NetError>(())
    };
    let (s, r) = tokio::join!(send, recv);
    s.and(r)
}

fn percentiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    (us(v[v.len() / 2]), us(v[(v.len() * 99) / 100]))
}

async fn ping_pong_async(m: &[Mesh; 3], rounds: usize) -> Result<(f64, f64), NetError> {
    let msg = Bytes::from(vec![1u8; 64]);
    let echo = async {
        for _ in 0..rounds {
            let x = m[1].recv(P0).await?;
            m[1].send(P0, x).await?;
        }
        Ok::<_, NetError>(())
    };
    let ping = async {
        let mut lat = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t = Instant::now();
            m[0].send(P1, msg.clone()).await?;
            m[0].recv(P1).await?;
            lat.push(t.elapsed());
        }
        Ok::<_, NetError>(lat)
    };
    let (e, lat) = tokio::join!(echo, ping);
    e?;
    Ok(percentiles(lat?))
}

fn ping_pong_blocking(
    m0: BlockingMesh,
    m1: BlockingMesh,
    rounds: usize,
) -> Result<(f64, f64), NetError> {
    let echo = std::thread::spawn(move || {
        for _ in 0..rounds {
            let x = m1.recv(P0)?;
            m1.send(P0, x)?;
        }
        Ok::<_, NetError>(m1)
    });
    let msg = Bytes::from(vec![1u8; 64]);
    let mut lat = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        m0.send(P1, msg.clone())?;
        m0.recv(P1)?;
        lat.push(t.elapsed());
    }
    let m1 = echo
        .join()
        .map_err(|_| NetError::Config("echo thread panicked".into()))??;
    m0.close()?;
    m1.close()?;
    Ok(percentiles(lat))
}

fn main() -> Result<(), NetError> {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 8 } else { 1 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| NetError::Config(e.to_string()))?;
    let config = NetConfig::new(SessionId::from_label("net_bench"));

    println!("| transport | case | MB/s | msgs/s | MB per CPU-second |");
    println!("|---|---|---:|---:|---:|");
    for transport in ["tls", "memory"] {
        let m = rt.block_on(async {
            match transport {
                "tls" => tcp_mesh(&config).await,
                _ => Ok(Mesh::in_memory(&config)),
            }
        })?;
        // NET_BENCH_ONLY=<message bytes>: run just that throughput case (for profiling).
        let only: Option<usize> = std::env::var("NET_BENCH_ONLY")
            .ok()
            .and_then(|v| v.parse().ok());
        for (label, len, total) in [
            ("1 KiB one way", 1 << 10, (256 << 20) / scale),
            ("64 KiB one way", 64 << 10, (2 << 30) / scale),
            ("8 MiB one way", 8 << 20, (4 << 30) / scale),
        ] {
            if only.is_some_and(|o| o != len) {
                continue;
            }
            // Warm-up, then the measurement.
            rt.block_on(throughput(&m, len, total / 8))?;
            let (mbs, mps, per_cpu) = rt.block_on(throughput(&m, len, total))?;
            println!("| {transport} | {label} | {mbs:.0} | {mps:.0} | {per_cpu:.0} |");
        }
        if only.is_some() {
            break;
        }
        let cpu = cpu_secs();
        let agg = rt.block_on(all_to_all(&m, 1 << 20, (512 << 20) / scale))?;
        let cpu = cpu_secs() - cpu;
        let per_cpu = (6 * ((512 << 20) / scale)) as f64 / cpu.max(0.01) / 1e6;
        println!(
            "| {transport} | 1 MiB all 6 directions (aggregate) | {agg:.0} | | {per_cpu:.0} |"
        );
        let s = m[0].stats().peer(P1);
        println!(
            "| {transport} | P0->P1 payload {} MB, wire {} MB | | | |",
            s.bytes_sent / 1_000_000,
            s.wire_bytes_sent / 1_000_000
        );
        let rounds = 20_000 / scale;
        let (p50, p99) = rt.block_on(ping_pong_async(&m, rounds))?;
        println!("| {transport} | ping-pong 64 B async: p50 {p50:.1} us, p99 {p99:.1} us | | | |");
        let [m0, m1, _m2] = m;
        let (p50, p99) = ping_pong_blocking(
            BlockingMesh::new(m0, rt.handle().clone()),
            BlockingMesh::new(m1, rt.handle().clone()),
            rounds,
        )?;
        println!(
            "| {transport} | ping-pong 64 B blocking threads: p50 {p50:.1} us, p99 {p99:.1} us | | | |"
        );
    }
    Ok(())
}
