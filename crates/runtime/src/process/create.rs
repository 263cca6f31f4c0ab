//! `create`: everything up to the init blocking on `exec.fifo`.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use rustix::fs::{Mode, OFlags};

use crate::cgroups::CgroupManager;
use crate::channel::{self, Channel, Message};
use crate::error::{Context, Error, Result};
use crate::rootfs::CgroupMounts;
use crate::state::{self, State, Status};
use crate::userns::IdMapPlan;
use crate::{hooks, logging, sys};

pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub root: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    /// When the spec asks for a terminal and no `console_socket` is given, keep the pty
    /// master here instead of failing (foreground `run`, as runc does): [`create`]
    /// returns the socket the master arrives on.
    pub hold_terminal: bool,
    pub no_pivot: bool,
    pub preserve_fds: u32,
}

/// What has been made so far, undone on drop unless disarmed.
struct Undo {
    dir: Option<PathBuf>,
    cgroup: Option<Box<dyn CgroupManager>>,
    pids: Vec<i32>,
}

impl Drop for Undo {
    fn drop(&mut self) {
        for &pid in &self.pids {
            let _ = sys::kill(pid, libc::SIGKILL);
        }
        for &pid in &self.pids {
            // Our own child (the intermediate) must be reaped; the init is not ours.
            let _ = rustix::process::waitpid(
                rustix::process::Pid::from_raw(pid),
                rustix::process::WaitOptions::NOHANG,
            );
        }
        if let Some(cg) = self.cgroup.take() {
            if let Err(e) = cg.destroy() {
                logging::warn(&format!("cleanup: {e}"));
            }
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Creates the container. The second value is the socket the pty master arrives on,
/// when `hold_terminal` made berth-runc the terminal's holder.
pub fn create(opts: &CreateOptions) -> Result<(State, Option<OwnedFd>)> {
    state::validate_id(&opts.id)?;
    let bundle = std::fs::canonicalize(&opts.bundle)
        .map_err(|e| Error::config(format!("bundle {}: {e}", opts.bundle.display())))?;
    let spec = crate::spec::load(&bundle)?;
    crate::spec::validate(&spec, &bundle)?;
    // Compiled (or read from the cache) before anything is made; the init only makes
    // the final seccomp(2) call.
    let seccomp = crate::seccomp::prepare_spec(&spec, Some(&opts.root))?;
    let rootfs = crate::spec::rootfs(&spec, &bundle)?;
    let linux = spec.linux().clone().unwrap_or_default();
    let namespaces = linux.namespaces().clone().unwrap_or_default();
    if !namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::Mount)
    {
        return Err(Error::config(
            "linux.namespaces: a mount namespace is required (berth-runc will not pivot the host's root)",
        ));
    }
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let hold = terminal && opts.console_socket.is_none() && opts.hold_terminal;
    if terminal && opts.console_socket.is_none() && !hold {
        return Err(Error::config(
            "process.terminal: a terminal needs --console-socket (where the pty master is sent)",
        ));
    }
    if !terminal && opts.console_socket.is_some() {
        return Err(Error::Usage(
            "--console-socket given, but process.terminal is false".into(),
        ));
    }
    let cgroup_path = crate::cgroups::resolve_path(linux.cgroups_path().as_deref(), &opts.id)?;
    let new_userns = namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    let id_maps = rootless_checks(&spec, new_userns)?;

    std::fs::create_dir_all(&opts.root)
        .ctx(|| format!("failed to create the runtime root {}", opts.root.display()))?;
    let dir = State::dir(&opts.root, &opts.id);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::Exists(opts.id.clone()))
        }
        Err(e) => return Err(e).ctx(|| format!("failed to create {}", dir.display())),
    }
    let mut undo = Undo {
        dir: Some(dir.clone()),
        cgroup: None,
        pids: Vec::new(),
    };
    let mut st = State {
        version: state::STATE_VERSION,
        id: opts.id.clone(),
        pid: 0,
        pid_start_time: 0,
        status: Status::Creating,
        bundle: bundle.clone(),
        rootfs: rootfs.clone(),
        created: state::now_rfc3339(),
        owner: String::new(),
        cgroup_path: cgroup_path.clone(),
        config: spec.clone(),
    };
    st.save(&opts.root)?;

    let fifo_path = dir.join("exec.fifo");
    sys::mkfifo(&fifo_path, 0o622)?;
    // The umask trimmed the mode; and the container's root may be another host uid.
    std::fs::set_permissions(
        &fifo_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o622),
    )
    .ctx(|| "failed to chmod exec.fifo")?;
    let host_id = |maps: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        maps.iter()
            .flatten()
            .find(|m| m.container_id() == 0)
            .map(|m| m.host_id())
    };
    if let (Some(uid), Some(gid)) = (host_id(linux.uid_mappings()), host_id(linux.gid_mappings())) {
        // Rootless, the chown may be refused; the fifo's mode lets the init open it anyway.
        if let Err(e) = std::os::unix::fs::chown(&fifo_path, Some(uid), Some(gid)) {
            if !crate::userns::is_rootless() {
                return Err(e).ctx(|| "failed to chown exec.fifo");
            }
        }
    }
    let fifo = rustix::fs::open(&fifo_path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
        .ctx(|| "failed to open exec.fifo")?;
    let mut master_end = None;
    let console = match &opts.console_socket {
        Some(p) => Some(crate::console::connect(p)?),
        None if hold => {
            let (theirs, ours) = crate::console::local_pair()?;
            master_end = Some(ours);
            Some(theirs)
        }
        None => None,
    };

    let manager = crate::cgroup_manager(&cgroup_path);
    let cgroups = CgroupMounts {
        v2: crate::cgroup_version_is_v2(),
        own_cgroupns: namespaces
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::Cgroup && n.path().is_none()),
        paths: manager.paths(),
    };

    // The cgroup is made and configured before the fork; the intermediate joins it
    // itself, which is the fast way on v1 (see `CgroupManager::join_self`).
    undo.cgroup = Some(crate::cgroup_manager(&cgroup_path));
    manager.create()?;
    if let Some(resources) = linux.resources() {
        let resources =
            with_default_devices(resources, linux.devices().as_deref().unwrap_or_default());
        for w in manager.set(&resources)? {
            logging::warn(&w);
        }
    }

    let (parent, child) = channel::pair()?;
    let ipid = match sys::fork()? {
        sys::Fork::Child => {
            drop(parent);
            if let Err(e) = manager.join_self() {
                let _ = child.send(&Message::Failed(e.to_string()));
                sys::exit_now(1);
            }
            let code = match intermediate(
                &spec,
                &rootfs,
                &child,
                &fifo,
                console,
                opts,
                cgroups,
                new_userns,
                seccomp.as_ref(),
            ) {
                Ok(()) => 0,
                Err(e) => {
                    let _ = child.send(&Message::Failed(e.to_string()));
                    1
                }
            };
            sys::exit_now(code);
        }
        sys::Fork::Parent(pid) => pid,
    };
    drop(child);
    drop(console);
    undo.pids.push(ipid);

    parent.send(&Message::Proceed)?;

    let (init_pid, mounts_ready) = wait_init_pid(&parent, || {
        id_maps
            .as_ref()
            .ok_or_else(|| Error::Init("unexpected message UserNsCreated".into()))?
            .write(ipid)?;
        parent.send(&Message::MapsWritten)
    })?;
    undo.pids.push(init_pid);
    let _ = rustix::process::waitpid(
        rustix::process::Pid::from_raw(ipid),
        rustix::process::WaitOptions::empty(),
    );
    undo.pids.retain(|p| *p != ipid);

    st.pid = init_pid;
    st.pid_start_time = state::proc_stat(init_pid).map(|s| s.1).unwrap_or(0);
    st.save(&opts.root)?;

    if !mounts_ready {
        parent.expect("MountsReady", |m| matches!(m, Message::MountsReady))?;
    }
    let state_json = st.oci_json(Status::Creating).to_string();
    let hooks = spec.hooks().clone().unwrap_or_default();
    #[allow(deprecated)]
    hooks::run_all("prestart", hooks.prestart().as_ref(), &state_json)?;
    hooks::run_all(
        "createRuntime",
        hooks.create_runtime().as_ref(),
        &state_json,
    )?;
    parent.send(&Message::Continue { state: state_json })?;
    parent.expect("Ready", |m| matches!(m, Message::Ready))?;

    st.status = Status::Created;
    st.save(&opts.root)?;
    if let Some(p) = &opts.pid_file {
        let p = if p.is_absolute() {
            p.clone()
        } else {
            std::env::current_dir().unwrap_or_default().join(p)
        };
        state::write_atomic(&p, init_pid.to_string().as_bytes())?;
    }
    undo.dir = None;
    undo.cgroup = None;
    undo.pids.clear();
    Ok((st, master_end))
}

/// Reads the intermediate's messages until it reports the init's pid; writes the id
/// maps when asked. The intermediate and the init share the channel, and a fast init
/// can report `MountsReady` before a descheduled intermediate sends `InitPid`: the
/// second value says whether that already happened.
fn wait_init_pid(
    parent: &Channel,
    mut on_userns: impl FnMut() -> Result<()>,
) -> Result<(i32, bool)> {
    let mut mounts_ready = false;
    loop {
        match parent.recv()? {
            Message::UserNsCreated => on_userns()?,
            Message::InitPid(pid) => return Ok((pid, mounts_ready)),
            Message::MountsReady if !mounts_ready => mounts_ready = true,
            Message::Failed(msg) => return Err(Error::Init(msg)),
            other => return Err(Error::Init(format!("unexpected message {other:?}"))),
        }
    }
}

/// What running without real root requires of the spec, checked before anything is
/// made; returns how the id maps of a new user namespace will be written.
fn rootless_checks(spec: &Spec, new_userns: bool) -> Result<Option<IdMapPlan>> {
    let linux = spec.linux().clone().unwrap_or_default();
    let has_userns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::User);
    if !rustix::process::geteuid().is_root() && !has_userns {
        return Err(Error::config(
            "linux.namespaces: berth-runc runs as an unprivileged user, which needs a user namespace (see `berth-runc spec --rootless`)",
        ));
    }
    if !new_userns {
        return Ok(None);
    }
    let plan = IdMapPlan::resolve(&linux)?;
    let extra_gids = spec
        .process()
        .as_ref()
        .and_then(|p| p.user().additional_gids().clone())
        .unwrap_or_default();
    if plan.denies_setgroups() && !extra_gids.is_empty() {
        return Err(Error::config(
            "process.user.additionalGids: an unprivileged user's own gid mapping denies setgroups(2) in the container; use a gid mapping newgidmap writes",
        ));
    }
    Ok(Some(plan))
}

/// The intermediate process: enter or make namespaces, fork the init, report its pid.
#[allow(clippy::too_many_arguments)]
fn intermediate(
    spec: &Spec,
    rootfs: &Path,
    ch: &Channel,
    fifo: &OwnedFd,
    console: Option<OwnedFd>,
    opts: &CreateOptions,
    cgroups: CgroupMounts,
    new_userns: bool,
    seccomp: Option<&crate::seccomp::Filter>,
) -> Result<()> {
    sys::reset_signals();
    ch.expect("Proceed", |m| matches!(m, Message::Proceed))?;
    let linux = spec.linux().clone().unwrap_or_default();
    let namespaces = linux.namespaces().clone().unwrap_or_default();
    // Join existing namespaces, the user namespace first: it decides what the others allow.
    let mut joins: Vec<_> = namespaces.iter().filter(|n| n.path().is_some()).collect();
    joins.sort_by_key(|n| n.typ() != LinuxNamespaceType::User);
    for ns in joins {
        let path = ns.path().as_ref().expect("filtered on path");
        let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .ctx(|| format!("linux.namespaces: cannot open {}", path.display()))?;
        rustix::thread::move_into_link_name_space(std::os::fd::AsFd::as_fd(&fd), None).ctx(
            || {
                format!(
                    "linux.namespaces: cannot join the {} namespace {}",
                    crate::spec::ns_name(ns.typ()),
                    path.display()
                )
            },
        )?;
    }
    if new_userns {
        sys::unshare(libc::CLONE_NEWUSER)?;
        ch.send(&Message::UserNsCreated)?;
        ch.expect("MapsWritten", |m| matches!(m, Message::MapsWritten))?;
        rustix::thread::set_thread_res_gid(
            rustix::fs::Gid::ROOT,
            rustix::fs::Gid::ROOT,
            rustix::fs::Gid::ROOT,
        )
        .ctx(|| "setresgid(0) in the new user namespace")?;
        rustix::thread::set_thread_res_uid(
            rustix::fs::Uid::ROOT,
            rustix::fs::Uid::ROOT,
            rustix::fs::Uid::ROOT,
        )
        .ctx(|| "setresuid(0) in the new user namespace")?;
    }
    let flags = namespaces
        .iter()
        .filter(|n| n.path().is_none() && n.typ() != LinuxNamespaceType::User)
        .fold(0i32, |acc, n| acc | n.typ() as i32);
    sys::unshare(flags)?;
    match sys::fork()? {
        sys::Fork::Child => {
            let args = super::init::InitArgs {
                spec,
                rootfs,
                ch,
                fifo_fd: fifo.as_raw_fd(),
                console,
                no_pivot: opts.no_pivot,
                preserve_fds: opts.preserve_fds,
                cgroups,
                seccomp,
                in_userns: new_userns
                    || crate::userns::in_user_namespace()
                    || namespaces
                        .iter()
                        .any(|n| n.typ() == LinuxNamespaceType::User),
            };
            let err = super::init::run(args);
            let _ = ch.send(&Message::Failed(err.to_string()));
            sys::exit_now(1);
        }
        sys::Fork::Parent(pid) => ch.send(&Message::InitPid(pid)),
    }
}

/// The device cgroup rules a container gets: the spec's, then runc's defaults (the
/// standard nodes, ptys, tun, and mknod of anything), then each `linux.devices` entry.
/// Without them, a spec that denies all (as `runc spec`'s does) could not even create
/// `/dev/null`.
pub fn with_default_devices(
    r: &oci_spec::runtime::LinuxResources,
    devices: &[oci_spec::runtime::LinuxDevice],
) -> oci_spec::runtime::LinuxResources {
    use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
    let mut rules = r.devices().clone().unwrap_or_default();
    if rules.is_empty() {
        return r.clone();
    }
    let rule = |typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut d = LinuxDeviceCgroup::default();
        d.set_allow(true);
        d.set_typ(Some(typ));
        d.set_major(major);
        d.set_minor(minor);
        d.set_access(Some(access.to_string()));
        d
    };
    use LinuxDeviceType::{B, C};
    rules.push(rule(C, None, None, "m"));
    rules.push(rule(B, None, None, "m"));
    for (major, minor) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
        (10, 200),
    ] {
        rules.push(rule(C, Some(major), Some(minor), "rwm"));
    }
    rules.push(rule(C, Some(136), None, "rwm"));
    for d in devices {
        let typ = match d.typ() {
            LinuxDeviceType::B => B,
            _ => C,
        };
        rules.push(rule(typ, Some(d.major()), Some(d.minor()), "rwm"));
    }
    let mut out = r.clone();
    out.set_devices(Some(rules));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_ready_before_init_pid_is_not_an_error() {
        // Seen under load in CI: "berth-runc: unexpected message MountsReady".
        let (parent, child) = channel::pair().unwrap();
        child.send(&Message::MountsReady).unwrap();
        child.send(&Message::InitPid(42)).unwrap();
        assert_eq!(wait_init_pid(&parent, || Ok(())).unwrap(), (42, true));
        child.send(&Message::InitPid(43)).unwrap();
        assert_eq!(wait_init_pid(&parent, || Ok(())).unwrap(), (43, false));
        child.send(&Message::MountsReady).unwrap();
        child.send(&Message::MountsReady).unwrap();
        assert!(
            wait_init_pid(&parent, || Ok(())).is_err(),
            "twice is a protocol error"
        );
    }
}
