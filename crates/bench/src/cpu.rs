//! CPU time, the one reader for every suite (and for whatever else measures CPU in a
//! benchmark). Linux only, from `/proc`; `None` elsewhere, or where the file is missing or
//! unreadable (a figure that could not be taken, never a made-up 0).
//!
//! - [`thread_secs`]: the calling thread, from `/proc/thread-self/schedstat` (nanoseconds
//!   on the CPU). A party that drives its own sockets on its thread (`BlockingMesh::connect`,
//!   as `NetParty` does) has all its work here.
//! - [`process_secs`]: the whole process, user + system, from `/proc/self/stat` (fields 14
//!   and 15, in clock ticks of `USER_HZ` = 1/100 s, the kernel's fixed unit for `/proc`): all
//!   threads, those that have exited included; resolution 10 ms.
//! - [`machine_busy_secs`]: every CPU of the machine, the time not idle, from `/proc/stat`
//!   (the same ticks): with the services and the databases on one host, what a run costs in
//!   all, its idle waits left out.
//! - [`handoff_micros`]: not a CPU time but the machine's state as one number, the round trip
//!   of a byte between two threads over pipes (as `perf bench sched pipe`): two wake-ups and
//!   two context switches: a reading of the host's state to set beside figures of different
//!   hours (the same 2-core VM has read 2 to 8 µs within an hour; it is a reading, not a
//!   predictor of a run's speed).

/// CPU seconds the calling thread has run (`None` where unknown).
pub fn thread_secs() -> Option<f64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok().as_deref().and_then(parse_schedstat)
}

/// User + system CPU seconds of this process, all its threads (`None` where unknown).
pub fn process_secs() -> Option<f64> {
    std::fs::read_to_string("/proc/self/stat").ok().as_deref().and_then(parse_stat)
}

/// CPU seconds every CPU of the machine has spent not idle since boot: user, nice, system,
/// irq, softirq and steal (`None` where unknown). Differences measure a span.
pub fn machine_busy_secs() -> Option<f64> {
    std::fs::read_to_string("/proc/stat").ok().as_deref().and_then(parse_proc_stat)
}

/// Microseconds per round trip of one byte between this thread and another over two pipes,
/// the mean of `round_trips` (`None` if a pipe or the thread fails).
pub fn handoff_micros(round_trips: u32) -> Option<f64> {
    use std::io::{Read as _, Write as _};
    let (mut from_echo, mut to_main) = std::io::pipe().ok()?;
    let (mut from_main, mut to_echo) = std::io::pipe().ok()?;
    let echo = std::thread::spawn(move || {
        let mut b = [0u8; 1];
        // Ends when the main side closes its end (a read of 0 bytes or an error).
        while matches!(from_main.read(&mut b), Ok(1)) {
            if to_main.write_all(&b).is_err() {
                break;
            }
        }
    });
    let started = std::time::Instant::now();
    let mut b = [0u8; 1];
    let mut ok = true;
    for _ in 0..round_trips {
        if to_echo.write_all(&b).is_err() || from_echo.read_exact(&mut b).is_err() {
            ok = false;
            break;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    drop(to_echo);
    ok &= echo.join().is_ok();
    (ok && round_trips > 0).then(|| secs * 1e6 / f64::from(round_trips))
}

/// Clock ticks per second of `/proc/*/stat` (`USER_HZ`).
const USER_HZ: f64 = 100.0;

/// `schedstat`: "<ns on cpu> <ns waiting> <timeslices>".
fn parse_schedstat(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse::<u64>().ok().map(|ns| ns as f64 * 1e-9)
}

/// `stat`: "pid (comm) state ppid ..."; the command may hold spaces and parentheses, so the
/// fields are counted after the last ')': utime and stime are the 12th and 13th there.
fn parse_stat(text: &str) -> Option<f64> {
    let (_, rest) = text.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// `/proc/stat`'s first line, "cpu user nice system idle iowait irq softirq steal ...": the
/// ticks of all but idle and iowait (guest time is already inside user).
fn parse_proc_stat(text: &str) -> Option<f64> {
    let line = text.lines().next()?;
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let ticks: Vec<u64> = fields.take(8).map(|f| f.parse().ok()).collect::<Option<_>>()?;
    let [user, nice, system, _idle, _iowait, irq, softirq, steal] = ticks.try_into().ok()?;
    Some((user + nice + system + irq + softirq + steal) as f64 / USER_HZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_schedstat() {
        assert_eq!(parse_schedstat("1500000000 2000 30\n"), Some(1.5));
        assert_eq!(parse_schedstat(""), None);
        assert_eq!(parse_schedstat("x 1 2"), None);
    }

    #[test]
    fn parses_stat_after_the_command_name() {
        // A command name with spaces and a ')' must not shift the fields.
        let line = "4242 (a b) c) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 75 0 0 20 0 3 0 1 2 3";
        assert_eq!(parse_stat(line), Some(3.25));
        assert_eq!(parse_stat("4242 (x) S 1 2"), None, "too few fields");
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[test]
    fn parses_the_machine_line_of_proc_stat() {
        let text = "cpu  406861 5 54247 120431 1985 7 4108 1366 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        assert_eq!(parse_proc_stat(text), Some((406861 + 5 + 54247 + 7 + 4108 + 1366) as f64 / 100.0));
        assert_eq!(parse_proc_stat("cpu0 1 2 3 4 5 6 7 8\n"), None, "not the machine's line");
        assert_eq!(parse_proc_stat("cpu 1 2 3\n"), None, "too few fields");
    }

    #[test]
    fn a_handoff_takes_time_and_comes_back() {
        let us = handoff_micros(200).expect("pipes and a thread");
        assert!(us > 0.0 && us.is_finite(), "{us} µs");
        assert_eq!(handoff_micros(0), None, "no round trip, no figure");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn both_clocks_advance_with_work() {
        let (t0, p0) = (thread_secs().expect("thread CPU on Linux"), process_secs().expect("process CPU on Linux"));
        // Spin until this thread has run 50 ms more (bounded in wall time).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut x = 0u64;
        while thread_secs().is_some_and(|t| t - t0 < 0.05) {
            assert!(std::time::Instant::now() < deadline, "the thread clock did not advance");
            for i in 0..10_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
        }
        let p1 = process_secs().expect("process CPU on Linux");
        assert!(p1 - p0 >= 0.01, "process CPU {p0} -> {p1} after 50 ms of this thread's work");
        assert!(machine_busy_secs().is_some(), "the machine's CPU on Linux");
    }
}
