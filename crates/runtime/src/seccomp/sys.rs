//! The `seccomp(2)` system call: the only `unsafe` of the seccomp module.

/// The kernel's limit on a classic BPF program's length (linux/bpf_common.h).
pub const BPF_MAXINSNS: usize = 4096;

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`: installs `program` on the calling
/// thread (and, with SECCOMP_FILTER_FLAG_TSYNC, on every thread of the process).
pub fn set_mode_filter(flags: u32, program: &[libc::sock_filter]) -> std::io::Result<()> {
    let len = u16::try_from(program.len())
        .ok()
        .filter(|&n| n > 0 && usize::from(n) <= BPF_MAXINSNS)
        .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let prog = libc::sock_fprog {
        len,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points to `len` live instructions borrowed from `program`; the kernel
    // only reads them, and copies them before the call returns.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(flags),
            &prog as *const libc::sock_fprog,
        )
    };
    match r {
        0 => Ok(()),
        -1 => Err(std::io::Error::last_os_error()),
        // With TSYNC, a positive result is the id of a thread that could not follow.
        tid => Err(std::io::Error::other(format!(
            "thread {tid} cannot be synchronized (SECCOMP_FILTER_FLAG_TSYNC)"
        ))),
    }
}

/// Whether this kernel knows a `SECCOMP_FILTER_FLAG_*` bit. The kernel checks the flags
/// before it reads the program, so a null program gives EFAULT for a known flag and
/// EINVAL for an unknown one; nothing is installed either way (runc probes the same way).
pub fn flag_supported(flag: u32) -> bool {
    // SAFETY: a null program pointer is rejected by the kernel (EFAULT) without being
    // dereferenced in user space; no filter is installed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(flag),
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}
