//! The container's filesystem view: mounts, device nodes, pivot_root.
//!
//! Runs in the container's init, inside its new mount namespace, in this order:
//! propagation of `/` (rslave by default, so nothing leaks back to the host), the
//! rootfs bind-mounted onto itself (pivot_root needs a mount point), `mounts` in the
//! listed order, device nodes (in a user namespace, where mknod is refused, the host's
//! nodes bind-mounted onto empty files, as runc does) and `/dev` links, then — after
//! the createRuntime and createContainer hooks — pivot_root, and last the masked and
//! read-only paths.
//! Mount destinations are resolved inside the rootfs with symlinks clamped to it, so a
//! hostile rootfs cannot redirect a mount onto the host.

use std::ffi::CString;
use std::os::unix::fs::symlink;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};
use rustix::fs::{Mode, OFlags};
use rustix::mount::{MountFlags, UnmountFlags};

use crate::error::{Context, Error, Result};

/// `MS_*` flags as the mount(2) syscall takes them.
type Flags = u64;

const MS_RDONLY: Flags = libc::MS_RDONLY;
const MS_BIND: Flags = libc::MS_BIND;
const MS_REC: Flags = libc::MS_REC;
const MS_REMOUNT: Flags = libc::MS_REMOUNT;

fn raw_mount(
    src: &str,
    target: &Path,
    fstype: &str,
    flags: Flags,
    data: &str,
) -> rustix::io::Result<()> {
    let data = CString::new(data).unwrap_or_default();
    let data = if data.as_bytes().is_empty() {
        None
    } else {
        Some(data.as_c_str())
    };
    rustix::mount::mount(
        src,
        target,
        fstype,
        MountFlags::from_bits_retain(flags as u32),
        data,
    )
}

/// `rootfsPropagation` and the propagation mount options.
pub fn propagation_flag(name: &str) -> Option<Flags> {
    Some(match name {
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | MS_REC,
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | MS_REC,
        _ => return None,
    })
}

/// A mount's options split into flags to set, propagation flags, and fs data.
#[derive(Debug, Default, PartialEq)]
pub struct MountOptions {
    pub flags: Flags,
    pub propagation: Vec<Flags>,
    pub data: Vec<String>,
}

pub fn parse_options(options: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    for opt in options {
        let (set, clear): (Flags, Flags) = match opt.as_str() {
            "ro" => (MS_RDONLY, 0),
            "rw" => (0, MS_RDONLY),
            "nosuid" => (libc::MS_NOSUID, 0),
            "suid" => (0, libc::MS_NOSUID),
            "nodev" => (libc::MS_NODEV, 0),
            "dev" => (0, libc::MS_NODEV),
            "noexec" => (libc::MS_NOEXEC, 0),
            "exec" => (0, libc::MS_NOEXEC),
            "sync" => (libc::MS_SYNCHRONOUS, 0),
            "async" => (0, libc::MS_SYNCHRONOUS),
            "dirsync" => (libc::MS_DIRSYNC, 0),
            "remount" => (MS_REMOUNT, 0),
            "mand" => (libc::MS_MANDLOCK, 0),
            "nomand" => (0, libc::MS_MANDLOCK),
            "atime" => (0, libc::MS_NOATIME),
            "noatime" => (libc::MS_NOATIME, 0),
            "diratime" => (0, libc::MS_NODIRATIME),
            "nodiratime" => (libc::MS_NODIRATIME, 0),
            "relatime" => (libc::MS_RELATIME, 0),
            "norelatime" => (0, libc::MS_RELATIME),
            "strictatime" => (libc::MS_STRICTATIME, 0),
            "nostrictatime" => (0, libc::MS_STRICTATIME),
            "bind" => (MS_BIND, 0),
            "rbind" => (MS_BIND | MS_REC, 0),
            "tmpcopyup" => (0, 0),
            other => {
                if let Some(p) = propagation_flag(other) {
                    o.propagation.push(p);
                } else {
                    o.data.push(other.to_string());
                }
                continue;
            }
        };
        o.flags = (o.flags | set) & !clear;
    }
    o
}

/// Joins `unsafe_path` onto `root`, resolving symlinks as if `root` were `/`: no
/// result lies outside `root`, whatever `..` or absolute links the tree holds.
pub fn secure_join(root: &Path, unsafe_path: &Path) -> Result<PathBuf> {
    let mut resolved = PathBuf::new(); // relative to root
    let mut pending: Vec<std::ffi::OsString> = unsafe_path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&part);
        match std::fs::read_link(root.join(&candidate)) {
            Ok(target) => {
                links += 1;
                if links > 255 {
                    return Err(Error::config(format!(
                        "too many symlinks resolving {} in the rootfs",
                        unsafe_path.display()
                    )));
                }
                if target.is_absolute() {
                    resolved = PathBuf::new();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(n) => pending.push(n.to_os_string()),
                        Component::ParentDir => pending.push("..".into()),
                        _ => {}
                    }
                }
            }
            Err(_) => resolved = candidate,
        }
    }
    Ok(root.join(resolved))
}

/// What the container's cgroup mount needs to know: each hierarchy's host directory.
pub struct CgroupMounts {
    pub v2: bool,
    pub own_cgroupns: bool,
    pub paths: std::collections::BTreeMap<String, PathBuf>,
}

/// Everything before pivot_root.
pub fn prepare(spec: &Spec, rootfs: &Path, cgroups: &CgroupMounts, in_userns: bool) -> Result<()> {
    let linux = spec.linux().clone().unwrap_or_default();
    let prop = linux
        .rootfs_propagation()
        .as_deref()
        .and_then(propagation_flag)
        .unwrap_or(libc::MS_SLAVE | MS_REC);
    raw_mount("", Path::new("/"), "", prop, "").ctx(|| "failed to set the propagation of /")?;
    // pivot_root refuses a shared parent mount: make the rootfs's parent private
    // (the requested propagation of / is applied again after pivot_root).
    if let Some(parent) = mount_point_of(rootfs) {
        raw_mount("", &parent, "", libc::MS_PRIVATE, "")
            .ctx(|| format!("failed to make {} private", parent.display()))?;
    }
    raw_mount(
        rootfs.to_str().unwrap_or_default(),
        rootfs,
        "",
        MS_BIND | MS_REC,
        "",
    )
    .ctx(|| format!("failed to bind-mount the rootfs {}", rootfs.display()))?;

    let has_netns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Network);
    let mut dev_is_bind = false;
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if m.destination() == Path::new("/dev") && is_bind(m) {
            dev_is_bind = true;
        }
        mount_one(m, rootfs, cgroups, has_netns).map_err(|e| {
            Error::Init(format!("mounts[{i}] ({}): {e}", m.destination().display()))
        })?;
    }
    if !dev_is_bind {
        create_devices(
            rootfs,
            linux.devices().as_deref().unwrap_or_default(),
            in_userns,
        )?;
        dev_links(rootfs)?;
    }
    Ok(())
}

fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind")
}

fn mount_one(m: &Mount, rootfs: &Path, cgroups: &CgroupMounts, has_netns: bool) -> Result<()> {
    let opts = parse_options(m.options().as_deref().unwrap_or_default());
    let dest = secure_join(rootfs, m.destination())?;
    let typ = m.typ().as_deref().unwrap_or("");
    let source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| typ.to_string());
    let data = opts.data.join(",");

    if is_bind(m) {
        let src = Path::new(&source);
        let meta =
            std::fs::metadata(src).ctx(|| format!("bind source {} is not there", src.display()))?;
        make_mountpoint(&dest, meta.is_dir())?;
        let bind_flags = opts.flags & (MS_BIND | MS_REC);
        raw_mount(&source, &dest, "", bind_flags | MS_BIND, "")
            .ctx(|| format!("failed to bind {source}"))?;
        let rest = opts.flags & !(MS_BIND | MS_REC | MS_REMOUNT);
        if rest != 0 {
            remount_bind(&dest, rest)?;
        }
    } else if typ == "cgroup" || typ == "cgroup2" {
        make_mountpoint(&dest, true)?;
        mount_cgroup(&dest, &opts, cgroups)?;
    } else if typ == "sysfs" && !has_netns {
        // sysfs cannot be mounted without a network namespace of one's own: bind the
        // host's, as runc does.
        make_mountpoint(&dest, true)?;
        raw_mount("/sys", &dest, "", MS_BIND | MS_REC, "").ctx(|| "failed to bind /sys")?;
        remount_bind(&dest, opts.flags & !(MS_BIND | MS_REC | MS_REMOUNT))?;
    } else {
        make_mountpoint(&dest, true)?;
        let flags = opts.flags & !(MS_BIND | MS_REC);
        match raw_mount(&source, &dest, typ, flags, &data) {
            Ok(()) => {}
            // mqueue and friends refuse flags in some setups; retry plain and remount.
            Err(rustix::io::Errno::PERM) if flags & MS_RDONLY != 0 => {
                raw_mount(&source, &dest, typ, flags & !MS_RDONLY, &data)
                    .ctx(|| format!("failed to mount {typ}"))?;
                remount_bind(&dest, flags)?;
            }
            Err(e) => return Err(e).ctx(|| format!("failed to mount {typ} with data {data:?}")),
        }
    }
    for p in &opts.propagation {
        raw_mount("", &dest, "", *p, "").ctx(|| "failed to set mount propagation")?;
    }
    Ok(())
}

/// Applies flags (ro, nosuid, …) to a bind mount, keeping the locked flags it has.
fn remount_bind(dest: &Path, flags: Flags) -> Result<()> {
    let st = rustix::fs::statvfs(dest).ctx(|| format!("statvfs {}", dest.display()))?;
    let f = st.f_flag;
    let mut keep: Flags = 0;
    for (st_flag, ms) in [
        (rustix::fs::StatVfsMountFlags::NOSUID, libc::MS_NOSUID),
        (rustix::fs::StatVfsMountFlags::NODEV, libc::MS_NODEV),
        (rustix::fs::StatVfsMountFlags::NOEXEC, libc::MS_NOEXEC),
        (rustix::fs::StatVfsMountFlags::NOATIME, libc::MS_NOATIME),
        (
            rustix::fs::StatVfsMountFlags::NODIRATIME,
            libc::MS_NODIRATIME,
        ),
        (rustix::fs::StatVfsMountFlags::RELATIME, libc::MS_RELATIME),
    ] {
        if f.contains(st_flag) {
            keep |= ms;
        }
    }
    raw_mount("", dest, "", MS_BIND | MS_REMOUNT | flags | keep, "")
        .ctx(|| format!("failed to remount {} with flags {flags:#x}", dest.display()))
}

fn mount_cgroup(dest: &Path, opts: &MountOptions, cg: &CgroupMounts) -> Result<()> {
    let flags = opts.flags & !(MS_BIND | MS_REC);
    if cg.v2 && cg.own_cgroupns {
        return raw_mount("cgroup2", dest, "cgroup2", flags, "").ctx(|| "failed to mount cgroup2");
    }
    // A rootless container without a delegated cgroup stays in the caller's cgroups:
    // show it those, as runc does.
    let own;
    let paths = if cg.paths.is_empty() {
        let text = std::fs::read_to_string("/proc/self/cgroup")
            .ctx(|| "failed to read /proc/self/cgroup")?;
        let version = if cg.v2 {
            crate::cgroups::CgroupVersion::V2
        } else {
            crate::cgroups::CgroupVersion::V1
        };
        own = crate::cgroups::own_paths(Path::new(crate::CGROUP_ROOT), version, &text);
        &own
    } else {
        &cg.paths
    };
    if cg.v2 {
        let Some(host) = paths.values().next().cloned() else {
            return Err(Error::Init("no cgroup2 directory to bind".into()));
        };
        raw_mount(host.to_str().unwrap_or_default(), dest, "", MS_BIND, "")
            .ctx(|| "failed to bind the container's cgroup")?;
        return remount_bind(dest, flags);
    }
    // v1: a tmpfs holding one bind mount per hierarchy, each showing the container's
    // own cgroup directory at its root.
    raw_mount("tmpfs", dest, "tmpfs", flags & !MS_RDONLY, "mode=755")
        .ctx(|| "failed to mount the cgroup tmpfs")?;
    for (name, host) in paths {
        if !host.is_dir() {
            continue;
        }
        let sub = dest.join(name.strip_prefix("name=").unwrap_or(name));
        std::fs::create_dir_all(&sub).ctx(|| format!("mkdir {}", sub.display()))?;
        raw_mount(host.to_str().unwrap_or_default(), &sub, "", MS_BIND, "")
            .ctx(|| format!("failed to bind cgroup {name}"))?;
        remount_bind(
            &sub,
            flags | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        )?;
    }
    // The tmpfs itself stays writable, as runc leaves it; the hierarchies are read-only.
    Ok(())
}

fn make_mountpoint(dest: &Path, dir: bool) -> Result<()> {
    if dir {
        std::fs::create_dir_all(dest).ctx(|| format!("mkdir {}", dest.display()))
    } else {
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).ctx(|| format!("mkdir {}", parent.display()))?;
        }
        if !dest.exists() {
            std::fs::File::create(dest).ctx(|| format!("create {}", dest.display()))?;
        }
        Ok(())
    }
}

/// The devices every container gets, as runc creates them.
fn default_devices() -> Vec<(&'static str, u64, u64)> {
    vec![
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
}

fn create_devices(rootfs: &Path, devices: &[LinuxDevice], in_userns: bool) -> Result<()> {
    let old = rustix::process::umask(Mode::empty());
    let r = (|| {
        for (path, major, minor) in default_devices() {
            if devices.iter().any(|d| d.path() == Path::new(path)) {
                continue;
            }
            make_device(
                rootfs,
                Path::new(path),
                'c',
                major,
                minor,
                0o666,
                0,
                0,
                in_userns,
            )?;
        }
        for d in devices {
            let kind = match d.typ() {
                LinuxDeviceType::C | LinuxDeviceType::U => 'c',
                LinuxDeviceType::B => 'b',
                LinuxDeviceType::P => 'p',
                LinuxDeviceType::A => {
                    return Err(Error::config(format!(
                        "linux.devices: {} has type \"a\", which only cgroup rules take",
                        d.path().display()
                    )))
                }
            };
            make_device(
                rootfs,
                d.path(),
                kind,
                d.major() as u64,
                d.minor() as u64,
                d.file_mode().unwrap_or(0o666),
                d.uid().unwrap_or(0),
                d.gid().unwrap_or(0),
                in_userns,
            )?;
        }
        Ok(())
    })();
    rustix::process::umask(old);
    r
}

#[allow(clippy::too_many_arguments)]
fn make_device(
    rootfs: &Path,
    path: &Path,
    kind: char,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    in_userns: bool,
) -> Result<()> {
    let dest = secure_join(rootfs, path)?;
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).ctx(|| format!("mkdir {}", parent.display()))?;
    }
    if in_userns {
        // No mknod in a user namespace: bind the host's node instead.
        make_mountpoint(&dest, false)?;
        return raw_mount(path.to_str().unwrap_or_default(), &dest, "", MS_BIND, "")
            .ctx(|| format!("failed to bind device {}", path.display()));
    }
    let ftype = match kind {
        'b' => rustix::fs::FileType::BlockDevice,
        'p' => rustix::fs::FileType::Fifo,
        _ => rustix::fs::FileType::CharacterDevice,
    };
    let _ = std::fs::remove_file(&dest);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &dest,
        ftype,
        Mode::from_raw_mode(mode & 0o7777),
        rustix::fs::makedev(major as u32, minor as u32),
    )
    .ctx(|| format!("mknod {} failed", path.display()))?;
    rustix::fs::chown(
        &dest,
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
    )
    .ctx(|| format!("chown {}", path.display()))?;
    Ok(())
}

fn dev_links(rootfs: &Path) -> Result<()> {
    let dev = rootfs.join("dev");
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
        ("pts/ptmx", "ptmx"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        let p = dev.join(name);
        if name == "ptmx" {
            let _ = std::fs::remove_file(&p);
        }
        match symlink(target, &p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).ctx(|| format!("symlink {}", p.display())),
        }
    }
    Ok(())
}

/// Makes `rootfs` the root: pivot_root(2), then detach the old root.
pub fn pivot(rootfs: &Path) -> Result<()> {
    let old = rustix::fs::open(
        "/",
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "open /")?;
    let new = rustix::fs::open(
        rootfs,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("open {}", rootfs.display()))?;
    rustix::process::fchdir(&new).ctx(|| "fchdir to the rootfs")?;
    rustix::process::pivot_root(".", ".")
        .ctx(|| format!("pivot_root into {}", rootfs.display()))?;
    rustix::process::fchdir(&old).ctx(|| "fchdir to the old root")?;
    raw_mount("", Path::new("."), "", libc::MS_SLAVE | MS_REC, "")
        .ctx(|| "make the old root rslave")?;
    rustix::mount::unmount(".", UnmountFlags::DETACH).ctx(|| "detach the old root")?;
    rustix::process::chdir("/").ctx(|| "chdir /")?;
    Ok(())
}

/// `--no-pivot`: move the rootfs over `/` and chroot into it.
pub fn chroot(rootfs: &Path) -> Result<()> {
    rustix::process::chdir(rootfs).ctx(|| format!("chdir {}", rootfs.display()))?;
    raw_mount(
        rootfs.to_str().unwrap_or_default(),
        Path::new("/"),
        "",
        libc::MS_MOVE,
        "",
    )
    .ctx(|| "move the rootfs onto /")?;
    rustix::process::chroot(".").ctx(|| "chroot")?;
    rustix::process::chdir("/").ctx(|| "chdir /")?;
    Ok(())
}

/// The mount point that holds `path`, from /proc/self/mountinfo.
fn mount_point_of(path: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(m.replace("\\040", " ")))
        .filter(|m| path.starts_with(m))
        .max_by_key(|m| m.as_os_str().len())
}

/// After pivot_root: the root's own propagation, read-only paths, masked paths, a
/// read-only root.
pub fn finish(spec: &Spec) -> Result<()> {
    let linux = spec.linux().clone().unwrap_or_default();
    if let Some(p) = linux
        .rootfs_propagation()
        .as_deref()
        .and_then(propagation_flag)
    {
        raw_mount("", Path::new("/"), "", p, "")
            .ctx(|| "linux.rootfsPropagation: cannot apply it to /")?;
    }
    for p in linux.readonly_paths().iter().flatten() {
        let path = Path::new(p);
        match raw_mount(p, path, "", MS_BIND | MS_REC, "") {
            Ok(()) => remount_bind(path, MS_RDONLY | MS_REC)?,
            Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(e).ctx(|| format!("linux.readonlyPaths: {p}")),
        }
    }
    for p in linux.masked_paths().iter().flatten() {
        let path = Path::new(p);
        let r = match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => raw_mount("tmpfs", path, "tmpfs", MS_RDONLY, ""),
            Ok(_) => raw_mount("/dev/null", path, "", MS_BIND, ""),
            Err(_) => continue,
        };
        r.ctx(|| format!("linux.maskedPaths: {p}"))?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        remount_bind(Path::new("/"), MS_RDONLY)?;
    }
    Ok(())
}

/// Writes `linux.sysctl` entries through /proc/sys.
pub fn sysctl(spec: &Spec) -> Result<()> {
    let Some(map) = spec.linux().as_ref().and_then(|l| l.sysctl().clone()) else {
        return Ok(());
    };
    for (k, v) in map {
        let path = Path::new("/proc/sys").join(k.replace('.', "/"));
        std::fs::write(&path, v.as_bytes()).ctx(|| format!("linux.sysctl: cannot set {k}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_and_data() {
        let o = parse_options(&[
            "nosuid".into(),
            "mode=755".into(),
            "ro".into(),
            "rslave".into(),
            "size=64k".into(),
        ]);
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_RDONLY);
        assert_eq!(o.propagation, vec![libc::MS_SLAVE | libc::MS_REC]);
        assert_eq!(o.data, vec!["mode=755", "size=64k"]);
    }

    #[test]
    fn secure_join_clamps_to_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a")).unwrap();
        symlink("/etc", root.join("a/abs")).unwrap();
        symlink("../../../../..", root.join("a/up")).unwrap();
        assert_eq!(
            secure_join(root, Path::new("/a/abs/passwd")).unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(
            secure_join(root, Path::new("/a/up/etc")).unwrap(),
            root.join("etc")
        );
        assert_eq!(
            secure_join(root, Path::new("/../../x")).unwrap(),
            root.join("x")
        );
    }
}
