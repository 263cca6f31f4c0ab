//! File helpers shared by the v1 and v2 managers.
//!
//! Writes open the file write-only with `O_TRUNC` but never `O_CREAT`:
//! cgroupfs cannot create files and answers `O_CREAT` on a missing one with a
//! misleading `EACCES`, while a plain open says `ENOENT`. Reads used for
//! statistics treat a missing or unparsable file as zero, because which files
//! exist depends on the kernel's version and configuration.

use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use super::CgroupError;

/// Write `value` to the cgroup file `path` in a single `write(2)`.
pub(super) fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    let err = |source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(err)?;
    file.write_all(value.as_bytes()).map_err(err)
}

/// Read a cgroup file; `Ok(None)` when it does not exist.
pub(super) fn read_opt(path: &Path) -> Result<Option<String>, CgroupError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Read a cgroup file that must exist.
pub(super) fn read(path: &Path) -> Result<String, CgroupError> {
    std::fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Parse a single-number file: "max" (v2) is `u64::MAX`, anything missing or
/// unparsable is 0.
pub(super) fn read_u64(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| parse_u64(s.trim()))
        .unwrap_or(0)
}

pub(super) fn parse_u64(s: &str) -> u64 {
    if s == "max" {
        u64::MAX
    } else {
        s.parse().unwrap_or(0)
    }
}

/// Parse "key value" lines (memory.stat, cpu.stat, cgroup.events, …);
/// missing file → empty.
pub(super) fn read_keyed(path: &Path) -> Vec<(String, u64)> {
    std::fs::read_to_string(path)
        .map(|s| {
            s.lines()
                .filter_map(|l| {
                    let (k, v) = l.split_once(' ')?;
                    Some((k.to_string(), parse_u64(v.trim())))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn keyed(entries: &[(String, u64)], key: &str) -> u64 {
    entries
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| *v)
        .unwrap_or(0)
}

/// Parse `cgroup.procs`: one pid a line; missing file → empty.
pub(super) fn read_pids(path: &Path) -> Result<Vec<i32>, CgroupError> {
    let Some(text) = read_opt(path)? else {
        return Ok(Vec::new());
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.trim().parse().map_err(|_| CgroupError::Parse {
                path: path.to_path_buf(),
                reason: format!("{l:?} is not a pid"),
            })
        })
        .collect()
}

/// `mkdir` that is fine with an existing directory.
pub(super) fn mkdir(path: &Path) -> Result<(), CgroupError> {
    match std::fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(CgroupError::CreateDir {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// `rmdir` a cgroup: missing is fine; `EBUSY` (tasks still exiting) is
/// retried for about a second. Child cgroups are removed first, as runc does.
pub(super) fn remove_cgroup(path: &Path) -> Result<(), CgroupError> {
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup(&entry.path())?;
            }
        }
    }
    let mut delay = Duration::from_millis(5);
    for attempt in 0.. {
        match std::fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 10 => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(200));
            }
            Err(source) => {
                return Err(CgroupError::RemoveDir {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    }
    unreachable!("the retry loop returns")
}

/// Poll `check` every few milliseconds for up to ~5 seconds.
pub(super) fn wait_for(
    path: &Path,
    state: &'static str,
    mut check: impl FnMut(u32) -> Result<bool, CgroupError>,
) -> Result<(), CgroupError> {
    for attempt in 0..1000 {
        if check(attempt)? {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(if attempt < 10 { 1 } else { 5 }));
    }
    Err(CgroupError::Timeout {
        path: path.to_path_buf(),
        state,
    })
}
