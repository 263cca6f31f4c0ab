//! `linux.seccomp`: the container's system call filter.
//!
//! Three steps, in the crate's parse → resolve → act order:
//!
//! 1. **resolve** ([`plan`]): the spec's `LinuxSeccomp` becomes libseccomp's types
//!    (actions, operators, architectures, kernel flags). Every malformed or unsupported
//!    field fails here, with its JSON path, from `spec::validate`, before anything is
//!    made. Unknown syscall names are not errors: runc skips them with a debug line, so
//!    one profile serves kernels and libseccomp versions old and new.
//! 2. **compile** ([`prepare`]): in `berth-runc` itself, before any fork, libseccomp
//!    turns the plan into a classic BPF program (`seccomp_export_bpf`). The program is
//!    kept in a cache under the state root ([`cache`]), keyed by the SHA-256 of the
//!    canonical seccomp JSON: a later start with the same profile reads a few KiB
//!    instead of compiling. For a Docker-sized profile (366 rules, three x86 ABIs, 1125
//!    BPF instructions) that is 17.5 ms of compiling against 0.05 ms of reading; a whole
//!    `berth-runc run` of `true` takes 26.6 ms instead of 42.7 ms (release build,
//!    median of 20; `tests/seccomp.rs`, `measure_compile_against_cached_load`).
//!    Compiling before the fork also keeps libseccomp (and its allocations) out of the
//!    container's processes, and the host's root is still the root here. `exec`
//!    compiles without the cache: it is not told the state root.
//! 3. **load** ([`Filter::load`]): the container's process installs the ready program
//!    with one `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)` system call.
//!
//! When the load happens (see `process/init.rs` and `process/exec.rs`): as late as
//! possible, so that as few system calls as possible run under the profile.
//!
//! - `process.noNewPrivileges: true`: right before `execve`, after the uid/gid switch,
//!   the capabilities and the startContainer hooks (only `sys::execve`'s own last
//!   checks, `getcwd` and `close_range`, run under it). The kernel lets an unprivileged
//!   process install a filter once no_new_privs is set.
//! - `process.noNewPrivileges: false`: installing a filter then needs CAP_SYS_ADMIN (in
//!   the container's user namespace), which the process loses with its uid switch. So
//!   the filter goes in right before the identity switch, as runc does, and the profile
//!   must allow what follows it: `prctl` (bounding set, keepcaps), `setgroups`,
//!   `setresgid`, `setresuid`, `capget`/`capset`, `umask`, the startContainer hooks'
//!   `clone`/`execve`/`wait4`, `getcwd`, `close_range` and `execve` itself. Docker's
//!   default profile allows all of these.
//!
//! The filter is installed with raw `seccomp(2)`, not `seccomp_load`, so libseccomp
//! never sets no_new_privs behind the spec's back. SCMP_ACT_NOTIFY (a seccomp agent on
//! `listenerPath`) is not supported and is refused. See seccomp(2), seccomp_rule_add(3)
//! and the OCI runtime spec's `config-linux.md#seccomp`.

mod cache;
mod compile;
mod sys;

use std::path::Path;
use std::time::Instant;

use oci_spec::runtime::LinuxSeccomp;

pub use compile::{plan, Plan, ACTIONS, ARCHS, FLAGS, OPERATORS};

/// The environment variable that turns the BPF cache off (`BERTH_SECCOMP_CACHE=off`):
/// every start then compiles, which is how the cache's gain is measured.
pub const CACHE_ENV: &str = "BERTH_SECCOMP_CACHE";

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// A field of `linux.seccomp` is malformed; `field` is its JSON path.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// A field asks for something berth-runc does not do (notify).
    #[error("{0}")]
    Unsupported(String),
    /// libseccomp refused a well-formed field (an architecture or action this build or
    /// kernel does not know).
    #[error("{field}: libseccomp refused it: {source}")]
    Libseccomp {
        field: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The kernel refused the program.
    #[error("cannot load the seccomp filter: {0}")]
    Load(String),
}

impl SeccompError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        SeccompError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| SeccompError::Io { context, source }
    }
}

impl From<SeccompError> for crate::error::Error {
    fn from(e: SeccompError) -> Self {
        use crate::error::Error;
        match e {
            SeccompError::Invalid { .. } | SeccompError::Libseccomp { .. } => {
                Error::Config(e.to_string())
            }
            SeccompError::Unsupported(what) => Error::Unsupported(what),
            SeccompError::Io { context, source } => Error::Io { context, source },
            SeccompError::Load(_) => Error::Init(e.to_string()),
        }
    }
}

/// Checks `linux.seccomp` without compiling it: the `spec::validate` step.
pub fn validate(seccomp: &LinuxSeccomp) -> Result<(), SeccompError> {
    plan(seccomp).map(|_| ())
}

/// A compiled filter, ready for [`Filter::load`] in the container's process.
#[derive(Clone)]
pub struct Filter {
    flags: u32,
    program: Vec<libc::sock_filter>,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("flags", &self.flags)
            .field("instructions", &self.program.len())
            .finish()
    }
}

impl Filter {
    /// The number of BPF instructions.
    pub fn len(&self) -> usize {
        self.program.len()
    }

    pub fn is_empty(&self) -> bool {
        self.program.is_empty()
    }

    /// Installs the filter on the calling thread: one `seccomp(2)` call. Needs
    /// no_new_privs or CAP_SYS_ADMIN.
    pub fn load(&self) -> Result<(), SeccompError> {
        sys::set_mode_filter(self.flags, &self.program).map_err(|e| {
            SeccompError::Load(match e.raw_os_error() {
                Some(libc::EACCES) => {
                    format!("{e} (without process.noNewPrivileges the filter needs CAP_SYS_ADMIN)")
                }
                Some(libc::EINVAL) if self.flags != 0 => {
                    format!("{e} (does this kernel support linux.seccomp.flags?)")
                }
                _ => e.to_string(),
            })
        })
    }

    /// The program as seccomp_export_bpf wrote it.
    #[cfg(test)]
    fn program_bytes(&self) -> Vec<u8> {
        self.program
            .iter()
            .flat_map(|i| {
                let mut b = Vec::with_capacity(8);
                b.extend_from_slice(&i.code.to_ne_bytes());
                b.extend_from_slice(&[i.jt, i.jf]);
                b.extend_from_slice(&i.k.to_ne_bytes());
                b
            })
            .collect()
    }

    /// Decodes an exported BPF program (8-byte `struct sock_filter`s, native endian).
    fn decode(flags: u32, bytes: &[u8]) -> Option<Filter> {
        if bytes.is_empty() || bytes.len() % 8 != 0 || bytes.len() / 8 > sys::BPF_MAXINSNS {
            return None;
        }
        let program = bytes
            .chunks_exact(8)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        Some(Filter { flags, program })
    }
}

/// Resolves, then compiles (or reads from the cache under `state_root`) the filter.
/// Runs in `berth-runc` before it forks. `state_root: None` compiles without a cache.
pub fn prepare(seccomp: &LinuxSeccomp, state_root: Option<&Path>) -> Result<Filter, SeccompError> {
    let plan = plan(seccomp)?;
    // Checked here rather than at load time, where a refusal would come after `start`.
    for (i, f) in seccomp.flags().iter().flatten().enumerate() {
        if compile::flag_bits(&f.to_string()).is_some_and(|bit| !sys::flag_supported(bit)) {
            return Err(SeccompError::Unsupported(format!(
                "linux.seccomp.flags[{i}]: {f} on this kernel"
            )));
        }
    }
    let cache = state_root
        .filter(|_| cache_enabled())
        .map(cache::Cache::new);
    let key = cache::key(seccomp);
    if let Some(c) = &cache {
        let start = Instant::now();
        if let Some(bytes) = c.get(&key) {
            if let Some(f) = Filter::decode(plan.flags, &bytes) {
                crate::logging::debug(&format!(
                    "seccomp: {} BPF instructions read from {} in {} µs",
                    f.len(),
                    c.path(&key).display(),
                    start.elapsed().as_micros()
                ));
                return Ok(f);
            }
        }
    }
    let start = Instant::now();
    let bytes = compile::compile(&plan)?;
    let filter = Filter::decode(plan.flags, &bytes).ok_or_else(|| {
        SeccompError::Load(format!(
            "libseccomp exported a program of {} bytes, not whole instructions or too long",
            bytes.len()
        ))
    })?;
    crate::logging::debug(&format!(
        "seccomp: {} rules compiled into {} BPF instructions in {} µs",
        plan.rule_count(),
        filter.len(),
        start.elapsed().as_micros()
    ));
    if let Some(c) = &cache {
        // The cache only saves time: failing to fill it is not the container's failure.
        if let Err(e) = c.put(&key, &bytes) {
            crate::logging::warn(&format!("seccomp cache: {e}"));
        }
    }
    Ok(filter)
}

/// [`prepare`] for a spec's `linux.seccomp`, if it has one.
pub fn prepare_spec(
    spec: &oci_spec::runtime::Spec,
    state_root: Option<&Path>,
) -> Result<Option<Filter>, SeccompError> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .map(|s| prepare(s, state_root))
        .transpose()
}

/// When the process installs its filter (see the module doc): `BeforeIdentity` while it
/// still holds CAP_SYS_ADMIN, or `BeforeExec` once no_new_privs makes that unnecessary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadPoint {
    BeforeIdentity,
    BeforeExec,
}

impl LoadPoint {
    pub fn of(process: &oci_spec::runtime::Process) -> LoadPoint {
        if process.no_new_privileges().unwrap_or(false) {
            LoadPoint::BeforeExec
        } else {
            LoadPoint::BeforeIdentity
        }
    }
}

/// Installs `filter` if the process's load point is `at`; the init and `exec` call
/// this at both points.
pub fn load_at(
    filter: Option<&Filter>,
    process: &oci_spec::runtime::Process,
    at: LoadPoint,
) -> Result<(), SeccompError> {
    match filter {
        Some(f) if LoadPoint::of(process) == at => f.load(),
        _ => Ok(()),
    }
}

fn cache_enabled() -> bool {
    std::env::var_os(CACHE_ENV).is_none_or(|v| v != "off")
}

/// Turns serde's message for an unknown enum value under `linux.seccomp` into one that
/// says what kind of value it is, e.g. `unknown action "SCMP_ACT_FOO"`. `path` is the
/// JSON path (`linux.seccomp.syscalls[3].action`); `None` for other errors.
pub fn describe_parse_error(path: &str, message: &str) -> Option<String> {
    if !path.starts_with("linux.seccomp") {
        return None;
    }
    let value = message
        .strip_prefix("unknown variant `")?
        .split('`')
        .next()?;
    let last = path.rsplit('.').next().unwrap_or(path);
    let (what, known): (&str, &[&str]) = if last == "action" || last == "defaultAction" {
        ("action", ACTIONS)
    } else if last == "op" {
        ("operator", OPERATORS)
    } else if last.starts_with("architectures") {
        ("architecture", ARCHS)
    } else if last.starts_with("flags") {
        ("flag", FLAGS)
    } else {
        return None;
    };
    Some(format!(
        "{path}: unknown {what} {value:?} (known: {})",
        known.join(", ")
    ))
}

/// `features`' `linux.seccomp` object, in runc's shape: what this build implements
/// (the architectures libseccomp can add to a filter on this host, which excludes the
/// other byte order), and which flags this kernel supports.
pub fn features() -> serde_json::Value {
    let archs: Vec<&str> = ARCHS
        .iter()
        .copied()
        .filter(|a| compile::arch_known_to_libseccomp(a))
        .collect();
    let supported: Vec<&str> = FLAGS
        .iter()
        .copied()
        .filter(|f| compile::flag_bits(f).is_some_and(sys::flag_supported))
        .collect();
    serde_json::json!({
        "enabled": true,
        "actions": ACTIONS,
        "operators": OPERATORS,
        "archs": archs,
        "knownFlags": FLAGS,
        "supportedFlags": supported,
    })
}

#[cfg(test)]
mod tests;
