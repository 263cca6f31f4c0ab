//! OCI bundles whose rootfs is the host's static busybox.
//!
//! The rootfs is built once per process into a cache directory keyed by the busybox
//! binary's size and mtime (so a busybox upgrade gives a new template), then copied into
//! each bundle. The copy is a real copy, not hardlinks: tests write into their rootfs and
//! must not be able to change the template or each other's busybox.
//!
//! Templates are built under a temporary name and renamed into place, so concurrent test
//! binaries racing to build the same template each end up with a complete one.
//!
//! `config.json` starts as runc's `runc spec` output (kept by the runtime crate as
//! `default-spec.json`) with `process.terminal` set to false.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;
use tempfile::TempDir;

use crate::error::{io, Error};

/// runc's default spec, as `runc spec` writes it.
const DEFAULT_SPEC: &str = include_str!("../../runtime/src/default-spec.json");

/// The host binary copied into every rootfs.
pub const HOST_BUSYBOX: &str = "/bin/busybox";

/// Bumped whenever the template layout changes, so stale caches are not reused.
const TEMPLATE_VERSION: u32 = 1;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
berth:x:1000:1000:berth:/home/berth:/bin/sh\n";

const GROUP: &str = "root:x:0:\ntty:x:5:\nnogroup:x:65534:\nberth:x:1000:\n";

/// An OCI bundle in a temporary directory (`/tmp/berth-test-*`), removed on drop.
///
/// Config edits are written to `config.json` immediately, so the bundle on disk always
/// matches [`Bundle::config`].
pub struct Bundle {
    /// The bundle directory; holds `config.json` and `rootfs/`.
    pub dir: TempDir,
    config: Value,
}

impl Bundle {
    /// A busybox bundle; panics if the host cannot provide one (see [`Bundle::try_busybox`]).
    pub fn busybox() -> Bundle {
        Self::try_busybox()
            .unwrap_or_else(|e| panic!("cannot build a busybox bundle: {}", chain(&e)))
    }

    /// A bundle whose rootfs holds busybox with every applet linked, `/etc/passwd`,
    /// `/etc/group` and the usual empty mount points, and whose `config.json` is runc's
    /// default spec with `process.terminal` false.
    pub fn try_busybox() -> Result<Bundle, Error> {
        let template = template()?;
        let dir = tempfile::Builder::new()
            .prefix("berth-test-")
            .tempdir_in(std::env::temp_dir())
            .map_err(io("create", std::env::temp_dir()))?;
        copy_tree(template, &dir.path().join("rootfs"))?;
        let mut config: Value = serde_json::from_str(DEFAULT_SPEC)?;
        config["process"]["terminal"] = Value::Bool(false);
        let bundle = Bundle { dir, config };
        bundle.write_config()?;
        Ok(bundle)
    }

    /// The bundle directory (what `--bundle` takes).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The rootfs directory inside the bundle.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// The path of `config.json`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }

    /// The current config.
    pub fn config(&self) -> &Value {
        &self.config
    }

    /// Edits the config and writes it back to `config.json`.
    pub fn config_mut(&mut self, edit: impl FnOnce(&mut Value)) -> &mut Self {
        edit(&mut self.config);
        self.write_config()
            .unwrap_or_else(|e| panic!("cannot write config.json: {}", chain(&e)));
        self
    }

    /// Sets `process.args`.
    pub fn set_args(&mut self, args: &[&str]) -> &mut Self {
        self.config_mut(|c| c["process"]["args"] = args.iter().map(|a| Value::from(*a)).collect())
    }

    /// Sets `process.terminal`.
    pub fn set_terminal(&mut self, terminal: bool) -> &mut Self {
        self.config_mut(|c| c["process"]["terminal"] = Value::Bool(terminal))
    }

    /// Sets `root.readonly`.
    pub fn set_readonly(&mut self, readonly: bool) -> &mut Self {
        self.config_mut(|c| c["root"]["readonly"] = Value::Bool(readonly))
    }

    fn write_config(&self) -> Result<(), Error> {
        let path = self.config_path();
        let text = serde_json::to_string_pretty(&self.config)?;
        fs::write(&path, text).map_err(io("write", path))
    }
}

/// Formats an error with its chain of causes, for panic messages.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// The rootfs template for this process, built on first use.
fn template() -> Result<&'static Path, Error> {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    if let Some(p) = TEMPLATE.get() {
        return Ok(p);
    }
    // Two threads may both build; the rename makes that harmless and the loser's
    // result is simply dropped.
    let built = build_template()?;
    Ok(TEMPLATE.get_or_init(|| built))
}

fn build_template() -> Result<PathBuf, Error> {
    use std::os::unix::fs::MetadataExt;

    let meta = fs::metadata(HOST_BUSYBOX).map_err(io("stat", HOST_BUSYBOX))?;
    let cache = std::env::temp_dir().join("berth-testkit-cache");
    fs::create_dir_all(&cache).map_err(io("create", &cache))?;
    let name = format!(
        "rootfs-v{TEMPLATE_VERSION}-{}-{}.{}",
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec()
    );
    let target = cache.join(name);
    if target.join("bin/busybox").exists() {
        return Ok(target);
    }

    let staging = tempfile::Builder::new()
        .prefix(".build-")
        .tempdir_in(&cache)
        .map_err(io("create", &cache))?;
    populate(staging.path())?;
    let staging = staging.keep();
    match fs::rename(&staging, &target) {
        Ok(()) => Ok(target),
        // Someone else finished first (ENOTEMPTY/EEXIST): use theirs.
        Err(_) if target.join("bin/busybox").exists() => {
            let _ = fs::remove_dir_all(&staging);
            Ok(target)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            Err(io("rename template to", target)(e))
        }
    }
}

/// Lays out the rootfs under `root`.
fn populate(root: &Path) -> Result<(), Error> {
    for d in [
        "bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "root", "etc", "tmp",
    ] {
        let p = root.join(d);
        fs::create_dir_all(&p).map_err(io("create", &p))?;
    }
    let tmp = root.join("tmp");
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777)).map_err(io("chmod", &tmp))?;

    let busybox = root.join("bin/busybox");
    fs::copy(HOST_BUSYBOX, &busybox).map_err(io("copy busybox to", &busybox))?;

    let out = Command::new(HOST_BUSYBOX)
        .arg("--list-full")
        .output()
        .map_err(|source| Error::BusyboxList {
            path: HOST_BUSYBOX.into(),
            source,
        })?;
    if !out.status.success() {
        return Err(Error::BusyboxList {
            path: HOST_BUSYBOX.into(),
            source: std::io::Error::other(format!("exited with {}", out.status)),
        });
    }
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        let applet = applet.trim().trim_start_matches('/');
        if applet.is_empty() || applet == "bin/busybox" {
            continue;
        }
        let link = root.join(applet);
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent).map_err(io("create", parent))?;
        }
        match symlink("/bin/busybox", &link) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io("symlink", link)(e)),
        }
    }

    write_file(&root.join("etc/passwd"), PASSWD)?;
    write_file(&root.join("etc/group"), GROUP)?;
    Ok(())
}

fn write_file(path: &Path, text: &str) -> Result<(), Error> {
    let mut f = fs::File::create(path).map_err(io("create", path))?;
    f.write_all(text.as_bytes()).map_err(io("write", path))
}

/// Copies a tree of directories, regular files and symlinks, keeping modes.
fn copy_tree(src: &Path, dst: &Path) -> Result<(), Error> {
    let meta = fs::symlink_metadata(src).map_err(io("stat", src))?;
    fs::create_dir(dst).map_err(io("create", dst))?;
    for entry in fs::read_dir(src).map_err(io("read", src))? {
        let entry = entry.map_err(io("read", src))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let ty = entry.file_type().map_err(io("stat", &from))?;
        if ty.is_dir() {
            copy_tree(&from, &to)?;
        } else if ty.is_symlink() {
            let target = fs::read_link(&from).map_err(io("read link", &from))?;
            symlink(target, &to).map_err(io("symlink", &to))?;
        } else {
            fs::copy(&from, &to).map_err(io("copy to", &to))?;
        }
    }
    // After the children, and explicitly: mkdir's mode is filtered by the umask.
    fs::set_permissions(dst, meta.permissions()).map_err(io("chmod", dst))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn busybox_bundle_has_the_documented_layout() {
        let b = Bundle::busybox();
        let r = b.rootfs();
        assert!(b
            .path()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("berth-test-"));
        assert!(fs::metadata(r.join("bin/busybox")).unwrap().is_file());
        assert_eq!(
            fs::read_link(r.join("bin/sh")).unwrap(),
            Path::new("/bin/busybox")
        );
        assert_eq!(
            fs::read_link(r.join("usr/bin/env")).unwrap(),
            Path::new("/bin/busybox")
        );
        for d in ["proc", "sys", "dev", "tmp", "root", "etc"] {
            assert!(r.join(d).is_dir(), "{d}");
        }
        assert_eq!(fs::metadata(r.join("tmp")).unwrap().mode() & 0o7777, 0o1777);
        let passwd = fs::read_to_string(r.join("etc/passwd")).unwrap();
        assert!(passwd.starts_with("root:x:0:0:root:/root:/bin/sh\n"));
        assert!(passwd.contains("\nberth:x:1000:1000:"));
        assert!(passwd.contains("\nnobody:x:65534:65534:"));
        let group = fs::read_to_string(r.join("etc/group")).unwrap();
        assert!(group.contains("tty:x:5:\n") && group.contains("berth:x:1000:\n"));
    }

    #[test]
    fn config_edits_are_written_to_disk() {
        let mut b = Bundle::busybox();
        assert_eq!(b.config()["process"]["terminal"], Value::Bool(false));
        b.set_args(&["echo", "hi"])
            .set_terminal(true)
            .set_readonly(false);
        let on_disk: Value =
            serde_json::from_str(&fs::read_to_string(b.config_path()).unwrap()).unwrap();
        assert_eq!(
            on_disk["process"]["args"],
            serde_json::json!(["echo", "hi"])
        );
        assert_eq!(on_disk["process"]["terminal"], Value::Bool(true));
        assert_eq!(on_disk["root"]["readonly"], Value::Bool(false));
        assert_eq!(on_disk["root"]["path"], Value::from("rootfs"));
    }

    #[test]
    fn bundles_do_not_share_the_busybox_binary() {
        let a = Bundle::busybox();
        let b = Bundle::busybox();
        let ia = fs::metadata(a.rootfs().join("bin/busybox")).unwrap().ino();
        let ib = fs::metadata(b.rootfs().join("bin/busybox")).unwrap().ino();
        let it = fs::metadata(template().unwrap().join("bin/busybox"))
            .unwrap()
            .ino();
        assert_ne!(ia, ib);
        assert_ne!(ia, it);
    }

    #[test]
    fn bundle_directory_is_removed_on_drop() {
        let b = Bundle::busybox();
        let p = b.path().to_path_buf();
        drop(b);
        assert!(!p.exists());
    }
}
