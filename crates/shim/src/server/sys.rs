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
