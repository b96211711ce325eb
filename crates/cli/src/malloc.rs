//! Allocator tuning for a party process.
//!
//! glibc's malloc hands blocks above a (dynamic) threshold straight back to the kernel and
//! trims the heap top, so each batch's multi-megabyte share vectors, logs and messages come
//! back as fresh pages the kernel must fault in and zero: 10-15% of a party's CPU on 10^6
//! proven multiplications (`docs/BENCHMARKS.md`). A party reuses the same sizes batch after
//! batch, so it keeps freed memory instead: blocks up to 32 MiB (the largest threshold glibc
//! accepts) come from the heap, and the heap is not trimmed below 1 GiB.

/// Keep freed memory for reuse (glibc only; other allocators are left alone).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn keep_freed_memory() {
    // SAFETY: `mallopt` only sets allocator parameters, under the allocator's own lock (it is
    // thread-safe); the arguments are valid parameter numbers and values.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}

/// Keep freed memory for reuse (glibc only; other allocators are left alone).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn keep_freed_memory() {}
