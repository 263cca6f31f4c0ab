//! `exec`: run a new process in a container; exits with that process's status.

use std::path::{Path, PathBuf};

use berth_runtime::error::Error;
use berth_runtime::process::exec::{exec as exec_process, ExecOptions};
use berth_runtime::process::wait;
use berth_runtime::state::{State, Status};
use oci_spec::runtime::Process;

#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    pub id: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
    /// A process.json describing the process (instead of a command)
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Set an environment variable (NAME=value)
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// uid[:gid] to run as
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional gids
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Detach from the process
    #[arg(short, long)]
    pub detach: bool,
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Set no_new_privs for the process
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Add a capability to the process's sets
    #[arg(short, long = "cap")]
    pub cap: Vec<String>,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Accepted for runc compatibility; ignored
    #[arg(long = "process-label", hide = true)]
    pub process_label: Option<String>,
    #[arg(long = "apparmor", hide = true)]
    pub apparmor: Option<String>,
}

fn build_process(st: &State, a: &ExecArgs) -> Result<Process, Error> {
    if let Some(path) = &a.process {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Usage(format!("--process {}: {e}", path.display())))?;
        let de = &mut serde_json::Deserializer::from_str(&text);
        return serde_path_to_error::deserialize(de).map_err(|e| {
            Error::config(format!("{}: {}: {}", path.display(), e.path(), e.inner()))
        });
    }
    if a.command.is_empty() {
        return Err(Error::Usage("exec needs a command or --process".into()));
    }
    let mut p = st.config.process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    let mut env = p.env().clone().unwrap_or_default();
    for e in &a.env {
        let key = e.split('=').next().unwrap_or_default();
        env.retain(|old| old.split('=').next() != Some(key));
        env.push(e.clone());
    }
    p.set_env(Some(env));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let parse = |s: &str, what: &str| {
            s.parse::<u32>()
                .map_err(|_| Error::Usage(format!("--user {u:?}: {what} must be a number")))
        };
        p.user_mut().set_uid(parse(uid, "uid")?);
        if let Some(g) = gid {
            p.user_mut().set_gid(parse(g, "gid")?);
        }
    }
    if !a.additional_gids.is_empty() {
        p.user_mut()
            .set_additional_gids(Some(a.additional_gids.clone()));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for c in &a.cap {
            let name = if c.starts_with("CAP_") {
                c.clone()
            } else {
                format!("CAP_{c}")
            };
            let cap: oci_spec::runtime::Capability =
                serde_json::from_value(serde_json::Value::String(name.clone()))
                    .map_err(|_| Error::Usage(format!("--cap: unknown capability {name}")))?;
            let add = |s: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = s.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
        }
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}

pub fn exec(root: &Path, a: ExecArgs) -> Result<u8, Error> {
    let st = State::load(root, &a.id)?;
    let status = st.current_status();
    if !status.can_exec() {
        return Err(Error::WrongState {
            op: "exec in",
            id: a.id.clone(),
            status,
        });
    }
    if status == Status::Paused {
        return Err(Error::WrongState {
            op: "exec in",
            id: a.id.clone(),
            status,
        });
    }
    let process = build_process(&st, &a)?;
    if !a.detach {
        wait::prepare();
    }
    // `exec -t` in the foreground with no socket: berth-runc holds the pty itself.
    let mut master_end = None;
    let mut console = None;
    if a.tty && !a.detach && a.console_socket.is_none() {
        let (theirs, ours) = berth_runtime::console::local_pair()?;
        console = Some(std::cell::Cell::new(Some(theirs)));
        master_end = Some(ours);
    }
    let pid = exec_process(
        &st,
        &ExecOptions {
            process,
            console_socket: a.console_socket.clone(),
            console,
            pid_file: a.pid_file.clone(),
            preserve_fds: a.preserve_fds,
            state_root: Some(root.to_path_buf()),
        },
    )?;
    if a.detach {
        return Ok(0);
    }
    let code = match master_end {
        Some(sock) => {
            let master = berth_runtime::console::recv_fd(std::os::fd::AsFd::as_fd(&sock))?;
            berth_runtime::process::tty::copy_window_size(&master);
            berth_runtime::process::tty::proxy_and_wait(pid, master)
        }
        None => wait::wait_forwarding(pid),
    };
    Ok(code.clamp(0, 255) as u8)
}
