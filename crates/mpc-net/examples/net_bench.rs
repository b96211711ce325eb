//! Throughput and latency of the data plane, printed as a table.
//!
//! `cargo run --release --example net_bench [-- --quick]`
//!
//! Three parties in one process, each on its own single-worker tokio runtime (as three
//! processes would be), over 127.0.0.1 with pinned-key TLS 1.3 (AES-128-GCM), and the in-memory
//! transport for comparison. Besides wall-clock figures it reports the CPU time of the sending
//! and the receiving party (Linux, from /proc): with other work on the machine, the "ceiling"
//! (payload / CPU time of the busier side) shows what one stream reaches when each party has a
//! core to itself. `NET_BENCH_ONLY=<bytes>` runs one throughput case (for profiling).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::runtime::Runtime;
use triad_mpc_net::{
    BlockingMesh, Mesh, MeshListener, NetConfig, NetError, PartyId, PartyIdentity, PeerAddr,
    SessionId, TcpSetup,
};

const P0: PartyId = PartyId::ALL[0];
const P1: PartyId = PartyId::ALL[1];

fn fail(what: impl std::fmt::Display) -> NetError {
    NetError::Config(what.to_string())
}

/// One single-worker runtime per party; its threads are named `party<i>`.
fn runtimes() -> Result<[Runtime; 3], NetError> {
    let make = |i: usize| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(format!("party{i}"))
            .enable_all()
            .build()
            .map_err(fail)
    };
    Ok([make(0)?, make(1)?, make(2)?])
}

/// CPU seconds (user + system) of the threads named `party<i>` (0 where /proc is missing).
fn party_cpu(i: usize) -> f64 {
    let name = format!("party{i}");
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let mut total = 0.0;
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |k: usize| f.get(k).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
        // utime and stime (fields 14 and 15 of stat), in clock ticks of 1/100 s.
        total += (ticks(11) + ticks(12)) / 100.0;
    }
    total
}

/// The whole setup a deployment does: a key per party, pins exchanged out of band, listeners
/// bound first, then every party connects (each on its own runtime).
fn tcp_mesh(rts: &[Runtime; 3], config: &NetConfig) -> Result<[Arc<Mesh>; 3], NetError> {
    let mut ids = Vec::new();
    let mut listeners = Vec::new();
    let mut addrs = Vec::new();
    for p in PartyId::ALL {
        ids.push(PartyIdentity::generate(p)?);
        let l = MeshListener::bind(([127, 0, 0, 1], 0).into())?;
        addrs.push(l.local_addr()?);
        listeners.push(l);
    }
    let pins: Vec<_> = ids.iter().map(PartyIdentity::pinned_key).collect();
    let mut tasks = Vec::new();
    for ((identity, listener), rt) in ids.into_iter().zip(listeners).zip(rts) {
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
        tasks.push(rt.spawn(Mesh::connect(TcpSetup {
            identity,
            listener,
            peers,
            config,
        })));
    }
    let mut meshes = Vec::new();
    for (t, rt) in tasks.into_iter().zip(rts) {
        meshes.push(Arc::new(rt.block_on(t).map_err(fail)??));
    }
    meshes.try_into().map_err(|_| fail("three meshes"))
}

struct Throughput {
    mb_s: f64,
    msgs_s: f64,
    sender_cpu_per_gb: f64,
    receiver_cpu_per_gb: f64,
}

/// P0 sends `total` bytes in `len`-byte messages to P1; each loop runs on its party's runtime.
fn throughput(
    rts: &[Runtime; 3],
    m: &[Arc<Mesh>; 3],
    len: usize,
    total: usize,
) -> Result<Throughput, NetError> {
    let count = (total / len).max(1);
    let msg = Bytes::from(vec![0x5au8; len]);
    let (c0, c1) = (party_cpu(0), party_cpu(1));
    let start = Instant::now();
    let sender = m[0].clone();
    let send = rts[0].spawn(async move {
        for _ in 0..count {
            sender.send(P1, msg.clone()).await?;
        }
        Ok::<_, NetError>(())
    });
    let receiver = m[1].clone();
    let recv = rts[1].spawn(async move {
        for _ in 0..count {
            receiver.recv(P0).await?;
        }
        Ok::<_, NetError>(())
    });
    rts[0].block_on(send).map_err(fail)??;
    rts[1].block_on(recv).map_err(fail)??;
    let secs = start.elapsed().as_secs_f64();
    let gb = (count * len) as f64 / 1e9;
    Ok(Throughput {
        mb_s: gb * 1e3 / secs,
        msgs_s: count as f64 / secs,
        sender_cpu_per_gb: (party_cpu(0) - c0) / gb,
        receiver_cpu_per_gb: (party_cpu(1) - c1) / gb,
    })
}

/// All six directions at once: every party sends `len`-byte messages to both peers.
fn all_to_all(
    rts: &[Runtime; 3],
    m: &[Arc<Mesh>; 3],
    len: usize,
    per_link: usize,
) -> Result<f64, NetError> {
    let count = (per_link / len).max(1);
    let msg = Bytes::from(vec![0xa5u8; len]);
    let start = Instant::now();
    let mut handles = Vec::new();
    for (mesh, rt) in m.iter().zip(rts) {
        let (mesh, msg) = (mesh.clone(), msg.clone());
        handles.push(rt.spawn(async move {
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
        }));
    }
    for (h, rt) in handles.into_iter().zip(rts) {
        rt.block_on(h).map_err(fail)??;
    }
    Ok((6 * count * len) as f64 / start.elapsed().as_secs_f64() / 1e6)
}

fn percentiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    (us(v[v.len() / 2]), us(v[(v.len() * 99) / 100]))
}

/// P0's task sends 64 bytes to P1's task, which echoes them.
fn ping_pong_async(
    rts: &[Runtime; 3],
    m: &[Arc<Mesh>; 3],
    rounds: usize,
) -> Result<(f64, f64), NetError> {
    let echo_mesh = m[1].clone();
    let echo = rts[1].spawn(async move {
        for _ in 0..rounds {
            let x = echo_mesh.recv(P0).await?;
            echo_mesh.send(P0, x).await?;
        }
        Ok::<_, NetError>(())
    });
    let ping_mesh = m[0].clone();
    let ping = rts[0].spawn(async move {
        let msg = Bytes::from(vec![1u8; 64]);
        let mut lat = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t = Instant::now();
            ping_mesh.send(P1, msg.clone()).await?;
            ping_mesh.recv(P1).await?;
            lat.push(t.elapsed());
        }
        Ok::<_, NetError>(lat)
    });
    let lat = rts[0].block_on(ping).map_err(fail)??;
    rts[1].block_on(echo).map_err(fail)??;
    Ok(percentiles(lat))
}

/// The same from two plain threads through [`BlockingMesh`], as the MPC core's compute
/// threads would call it.
fn ping_pong_blocking(m: &[BlockingMesh; 3], rounds: usize) -> Result<(f64, f64), NetError> {
    std::thread::scope(|scope| {
        let echo = scope.spawn(|| {
            for _ in 0..rounds {
                let x = m[1].recv(P0)?;
                m[1].send(P0, x)?;
            }
            Ok::<_, NetError>(())
        });
        let msg = Bytes::from(vec![1u8; 64]);
        let mut lat = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t = Instant::now();
            m[0].send(P1, msg.clone())?;
            m[0].recv(P1)?;
            lat.push(t.elapsed());
        }
        echo.join().map_err(|_| fail("echo thread panicked"))??;
        Ok(percentiles(lat))
    })
}

/// MPC-style rounds on three plain threads: each round every party sends `len` bytes to both
/// peers, then receives theirs. Returns microseconds per round.
fn mpc_rounds(m: &[BlockingMesh; 3], len: usize, rounds: usize) -> Result<f64, NetError> {
    let msg = Bytes::from(vec![7u8; len]);
    let start = Instant::now();
    std::thread::scope(|scope| {
        let parties: Vec<_> = m
            .iter()
            .map(|mesh| {
                let msg = msg.clone();
                scope.spawn(move || {
                    let [a, b] = mesh.party().others();
                    for _ in 0..rounds {
                        mesh.send(a, msg.clone())?;
                        mesh.send(b, msg.clone())?;
                        mesh.mark_round();
                        mesh.recv(a)?;
                        mesh.recv(b)?;
                    }
                    Ok::<_, NetError>(())
                })
            })
            .collect();
        for p in parties {
            p.join().map_err(|_| fail("party thread panicked"))??;
        }
        Ok::<_, NetError>(())
    })?;
    Ok(start.elapsed().as_secs_f64() * 1e6 / rounds as f64)
}

fn blocking_report(
    transport: &str,
    mode: &str,
    m: [BlockingMesh; 3],
    scale: usize,
) -> Result<(), NetError> {
    let (p50, p99) = ping_pong_blocking(&m, 20_000 / scale)?;
    println!("| {transport} | {mode}: ping-pong 64 B p50 {p50:.1} us, p99 {p99:.1} us | | | | | |");
    for (label, len, rounds) in [
        ("8 B", 8, 20_000 / scale),
        ("1 MiB", 1 << 20, 400 / scale),
        ("8 MiB", 8 << 20, 80 / scale),
    ] {
        let us = mpc_rounds(&m, len, rounds)?;
        let mb_s = 6.0 * len as f64 / us;
        println!(
            "| {transport} | {mode}: 3-party round, {label} to each peer: {us:.1} us/round | {mb_s:.0} | | | | |"
        );
    }
    for mesh in m {
        mesh.close()?;
    }
    Ok(())
}

/// Three parties connected by [`BlockingMesh::connect`], each on its own thread (each mesh
/// on a private current-thread runtime that only its caller drives).
fn blocking_tcp(config: &NetConfig) -> Result<[BlockingMesh; 3], NetError> {
    let mut ids = Vec::new();
    let mut listeners = Vec::new();
    let mut addrs = Vec::new();
    for p in PartyId::ALL {
        ids.push(PartyIdentity::generate(p)?);
        let l = MeshListener::bind(([127, 0, 0, 1], 0).into())?;
        addrs.push(l.local_addr()?);
        listeners.push(l);
    }
    let pins: Vec<_> = ids.iter().map(PartyIdentity::pinned_key).collect();
    let mut threads = Vec::new();
    for (identity, listener) in ids.into_iter().zip(listeners) {
        let peers: Vec<PeerAddr> = identity
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
        threads.push(std::thread::spawn(move || {
            BlockingMesh::connect(TcpSetup {
                identity,
                listener,
                peers,
                config,
            })
        }));
    }
    let mut out = Vec::new();
    for t in threads {
        out.push(t.join().map_err(|_| fail("connect thread panicked"))??);
    }
    out.try_into().map_err(|_| fail("three meshes"))
}

fn main() -> Result<(), NetError> {
    let quick = std::env::args().any(|a| a == "--quick");
    let only: Option<usize> = std::env::var("NET_BENCH_ONLY")
        .ok()
        .and_then(|v| v.parse().ok());
    let scale = if quick { 8 } else { 1 };
    let rts = runtimes()?;
    let config = NetConfig::new(SessionId::from_label("net_bench"));

    println!(
        "| transport | case | MB/s | msgs/s | sender CPU-s/GB | receiver CPU-s/GB | ceiling MB/s |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for transport in ["tls", "memory"] {
        let m = match transport {
            "tls" => tcp_mesh(&rts, &config)?,
            _ => Mesh::in_memory(&config).map(Arc::new),
        };
        for (label, len, total) in [
            ("1 KiB one way", 1 << 10, (256 << 20) / scale),
            ("64 KiB one way", 64 << 10, (2 << 30) / scale),
            ("8 MiB one way", 8 << 20, (4 << 30) / scale),
        ] {
            if only.is_some_and(|o| o != len) {
                continue;
            }
            throughput(&rts, &m, len, total / 8)?; // warm-up
            let t = throughput(&rts, &m, len, total)?;
            let busier = t.sender_cpu_per_gb.max(t.receiver_cpu_per_gb);
            let ceiling = if busier > 0.0 {
                format!("{:.0}", 1e3 / busier)
            } else {
                "-".into()
            };
            println!(
                "| {transport} | {label} | {:.0} | {:.0} | {:.2} | {:.2} | {ceiling} |",
                t.mb_s, t.msgs_s, t.sender_cpu_per_gb, t.receiver_cpu_per_gb
            );
        }
        if only.is_some() {
            break;
        }
        let agg = all_to_all(&rts, &m, 1 << 20, (512 << 20) / scale)?;
        println!(
            "| {transport} | 1 MiB, all 6 directions at once (aggregate) | {agg:.0} | | | | |"
        );
        let s = m[0].stats().peer(P1);
        println!(
            "| {transport} | P0->P1 payload {} MB, wire {} MB | | | | | |",
            s.bytes_sent / 1_000_000,
            s.wire_bytes_sent / 1_000_000
        );
        let rounds = 20_000 / scale;
        let (p50, p99) = ping_pong_async(&rts, &m, rounds)?;
        println!(
            "| {transport} | ping-pong 64 B, async tasks: p50 {p50:.1} us, p99 {p99:.1} us | | | | | |"
        );
        let unwrap = |m: Arc<Mesh>| Arc::try_unwrap(m).map_err(|_| fail("mesh still shared"));
        let [m0, m1, m2] = m;
        let shared = [
            BlockingMesh::new(unwrap(m0)?, rts[0].handle().clone()),
            BlockingMesh::new(unwrap(m1)?, rts[1].handle().clone()),
            BlockingMesh::new(unwrap(m2)?, rts[2].handle().clone()),
        ];
        blocking_report(
            transport,
            "BlockingMesh::new on the party runtimes",
            shared,
            scale,
        )?;
        let own = match transport {
            "tls" => blocking_tcp(&config)?,
            _ => BlockingMesh::in_memory(&config)?,
        };
        blocking_report(
            transport,
            "BlockingMesh with its own current-thread runtime",
            own,
            scale,
        )?;
    }
    Ok(())
}
