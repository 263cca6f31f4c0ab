//! How to invoke an OCI runtime binary, for differential tests.
//!
//! Each [`Runtime`] owns a fresh `--root` state directory, so runtimes (and tests) never
//! see each other's containers. [`Runtime::cmd`] returns a `Command` whose argv is
//! `argv_prefix` followed by the subcommand; the caller sets the working directory,
//! `--bundle` and stdio.
//!
//! crun 1.8 refuses to run on a hybrid cgroup host (cgroup v1 controllers plus a cgroup2
//! mount at `/sys/fs/cgroup/unified`). On such a host [`Runtime::crun`] runs every
//! invocation in a private mount namespace where a tmpfs hides that mount. The state
//! directory is on the real filesystem, so `create`, `exec` and `delete` made through
//! separate wrappers still see the same container.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

/// The cgroup2 mount of a hybrid cgroup layout.
const HYBRID_UNIFIED: &str = "/sys/fs/cgroup/unified";

/// A runtime binary plus the state directory it uses.
pub struct Runtime {
    /// Short name for messages and tables: "runc", "crun", "berth-runc".
    pub name: String,
    /// Everything before the subcommand, `--root <root>` included.
    pub argv_prefix: Vec<String>,
    /// The `--root` state directory, removed on drop.
    pub root: TempDir,
}

impl Runtime {
    /// runc from `$PATH` (or `/usr/sbin/runc`).
    pub fn runc() -> Runtime {
        let bin = find_in_path("runc").unwrap_or_else(|| PathBuf::from("/usr/sbin/runc"));
        Self::plain("runc", &bin)
    }

    /// crun from `$PATH`, wrapped in a mount namespace that hides the cgroup2 mount on
    /// hybrid hosts (see the module docs).
    pub fn crun() -> Runtime {
        let bin = find_in_path("crun").unwrap_or_else(|| PathBuf::from("/usr/bin/crun"));
        if !is_hybrid_cgroup_host() {
            return Self::plain("crun", &bin);
        }
        let root = state_dir("crun");
        let script = format!(
            "mount --make-rprivate / && mount -t tmpfs none {HYBRID_UNIFIED} && exec {} --root {} \"$@\"",
            shell_quote(&bin.to_string_lossy()),
            shell_quote(&root.path().to_string_lossy()),
        );
        let argv_prefix = ["unshare", "-m", "sh", "-c", &script, "sh"]
            .map(String::from)
            .to_vec();
        Runtime {
            name: "crun".into(),
            argv_prefix,
            root,
        }
    }

    /// berth's own `berth-runc` at `bin`.
    pub fn berth(bin: impl AsRef<Path>) -> Runtime {
        Self::plain("berth-runc", bin.as_ref())
    }

    fn plain(name: &str, bin: &Path) -> Runtime {
        let root = state_dir(name);
        let argv_prefix = vec![
            bin.to_string_lossy().into_owned(),
            "--root".into(),
            root.path().to_string_lossy().into_owned(),
        ];
        Runtime {
            name: name.into(),
            argv_prefix,
            root,
        }
    }

    /// A command running this runtime with `args` after the global options.
    pub fn cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new(&self.argv_prefix[0]);
        cmd.args(&self.argv_prefix[1..]).args(args);
        cmd
    }

    /// Whether `--version` runs and succeeds through the whole wrapper.
    pub fn available(&self) -> bool {
        self.cmd(&["--version"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// `state <id>` parsed as JSON.
    pub fn state(&self, id: &str) -> std::io::Result<serde_json::Value> {
        let out = self.cmd(&["state", id]).stdin(Stdio::null()).output()?;
        if !out.status.success() {
            return Err(std::io::Error::other(format!(
                "{} state {id}: {}: {}",
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        serde_json::from_slice(&out.stdout).map_err(std::io::Error::other)
    }

    /// `delete -f <id>`, ignoring the outcome: for cleanup paths.
    pub fn force_delete(&self, id: &str) {
        let _ = self
            .cmd(&["delete", "-f", id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("name", &self.name)
            .field("argv_prefix", &self.argv_prefix)
            .finish()
    }
}

fn state_dir(name: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("berth-test-root-{name}-"))
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a state directory: {e}"))
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Whether `/sys/fs/cgroup/unified` is a cgroup2 mount (the hybrid layout).
fn is_hybrid_cgroup_host() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| mountinfo_has_cgroup2_at(&m, HYBRID_UNIFIED))
        .unwrap_or(false)
}

/// Whether a mountinfo table (proc(5)) has a cgroup2 mount at `target`.
fn mountinfo_has_cgroup2_at(mountinfo: &str, target: &str) -> bool {
    mountinfo.lines().any(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let mount_point = fields.get(4).copied();
        // The filesystem type is the first field after the " - " separator.
        let fstype = fields
            .iter()
            .position(|f| *f == "-")
            .and_then(|i| fields.get(i + 1).copied());
        mount_point == Some(target) && fstype == Some("cgroup2")
    })
}

/// Single-quotes `s` for `sh`.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_hybrid_layout_from_mountinfo() {
        let hybrid = "35 24 0:30 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n\
36 35 0:31 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw\n";
        let unified = "35 24 0:30 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw\n";
        assert!(mountinfo_has_cgroup2_at(hybrid, HYBRID_UNIFIED));
        assert!(!mountinfo_has_cgroup2_at(unified, HYBRID_UNIFIED));
    }

    #[test]
    fn quotes_for_sh() {
        assert_eq!(shell_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn command_puts_root_before_the_subcommand() {
        let rt = Runtime::berth("/nonexistent/berth-runc");
        let cmd = rt.cmd(&["state", "x"]);
        let args: Vec<_> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(cmd.get_program(), "/nonexistent/berth-runc");
        assert_eq!(
            args,
            ["--root", &*rt.root.path().to_string_lossy(), "state", "x"]
        );
        assert!(!rt.available());
    }
}
