//! A process setting for programs that run parties (the party service, `triad`).

/// Turns transparent huge pages off for this process (Linux: the flag is on the address space,
/// so it holds for every thread; elsewhere a no-op).
///
/// The allocator (mimalloc) asks for huge pages for its arenas. Every session runs on a thread
/// of its own and allocates its multi-megabyte gate vectors afresh, so the kernel faulted in and
/// zeroed a 2 MiB page for each new region: `clear_page` was 3.3% of the machine's CPU during
/// `triad bench network` ingest, 0.4% with huge pages off (docs/BENCHMARKS.md, session 14).
pub fn without_transparent_huge_pages() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    rustix::thread::disable_transparent_huge_pages(true)?;
    Ok(())
}
