//! The raw syscalls std and rustix do not wrap for us: `fork`, `close_range` and
//! `mallopt`. All of the shim's `unsafe` lives here.
//!
//! `fork` is only sound while the process has one thread: `start` forks before it
//! spawns any thread (house rule 5); everything after the fork in the child may
//! spawn threads freely, and later children are made by `std::process::Command`,
//! which only execs.

use std::io;

/// Which side of a [`fork`] we are on.
pub enum Fork {
    Parent,
    Child,
}

/// `fork(2)`. The caller must not have spawned any thread yet.
pub fn fork() -> io::Result<Fork> {
    // SAFETY: called from `start` before any thread exists, so the child gets a
    // consistent copy of the whole process (no lock can be held by a vanished thread).
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Fork::Child),
        _ => Ok(Fork::Parent),
    }
}

/// Closes every fd from 3 up that the shim inherited from whoever started it
/// (berthd must not find its sockets or files kept open by a long-lived shim).
/// Called first thing, before the shim opens anything of its own.
pub fn close_inherited_fds() {
    // SAFETY: close_range only closes descriptors; at this point no Rust object owns
    // any descriptor >= 3 (std opens none at startup), so nothing is closed twice.
    unsafe {
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
    }
}

/// One malloc arena for all threads: every thread would otherwise get its own arena
/// (up to 8 × cores), each costing resident pages, and the shim's threads allocate
/// little.
pub fn limit_malloc_arenas() {
    // SAFETY: mallopt only changes allocator tuning; it is called before any thread
    // exists, so no allocation races with the change.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Unmaps the resident pages of the shim's own code and read-only data, so an idle
/// shim does not keep in its RSS the code it ran while starting. The pages stay in
/// the page cache (every shim shares them) and fault back in when code runs again.
/// Only mappings of the executable that are not writable and hold no anonymous
/// (copied-on-write) page are touched — not the RELRO data the static-pie loader
/// relocated — so `MADV_DONTNEED` loses nothing: the file pages are unchanged.
pub fn drop_code_pages() {
    // The ranges are found first and every string freed before the first madvise,
    // so that as little code as possible runs (and faults pages back) after it.
    let mut ranges = [(0usize, 0usize); 8];
    let mut count = 0;
    if let (Ok(exe), Ok(smaps)) = (
        std::fs::read_link("/proc/self/exe"),
        std::fs::read_to_string("/proc/self/smaps"),
    ) {
        let mut current: Option<(usize, usize)> = None;
        for line in smaps.lines() {
            if let Some(anon) = line.strip_prefix("Anonymous:") {
                if let Some(r) = current.take() {
                    if anon.trim() == "0 kB" && count < ranges.len() {
                        ranges[count] = r;
                        count += 1;
                    }
                }
                continue;
            }
            let mut f = line.split_ascii_whitespace();
            let (Some(range), Some(perms)) = (f.next(), f.next()) else {
                continue;
            };
            let Some((a, b)) = range.split_once('-') else {
                continue;
            };
            let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
            else {
                continue;
            };
            let path = f.nth(3).unwrap_or("");
            current = (!perms.contains('w') && std::path::Path::new(path) == exe).then_some((a, b));
        }
    }
    for &(a, b) in &ranges[..count] {
        // SAFETY: the range is a whole read-only, file-backed private mapping of our
        // own executable without any anonymous page (from /proc/self/smaps);
        // MADV_DONTNEED only drops its page table entries, and the unchanged file
        // pages fault back in on the next access.
        unsafe {
            libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_DONTNEED);
        }
    }
}
