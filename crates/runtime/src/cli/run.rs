//! `create` and `run`.

use std::path::{Path, PathBuf};

use berth_runtime::error::Error;
use berth_runtime::ops;
use berth_runtime::process::create::{create as create_container, CreateOptions};
use berth_runtime::process::wait;
use berth_runtime::state::State;

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    pub id: String,
    /// Path to the bundle directory (default: the current directory)
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket to send the pty master to
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// File to write the init's pid to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Use chroot instead of pivot_root
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring (accepted, no effect)
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass this many extra fds (from 3) to the container
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Detach from the container's process
    #[arg(short, long)]
    pub detach: bool,
    /// Keep the container after it exits (accepted, as runc)
    #[arg(long = "keep")]
    pub keep: bool,
}

fn options(root: &Path, a: CreateArgs) -> CreateOptions {
    CreateOptions {
        id: a.id,
        bundle: a.bundle,
        root: root.to_path_buf(),
        pid_file: a.pid_file,
        console_socket: a.console_socket,
        hold_terminal: false,
        no_pivot: a.no_pivot,
        preserve_fds: a.preserve_fds,
    }
}

pub fn create(root: &Path, a: CreateArgs) -> Result<State, Error> {
    create_container(&options(root, a)).map(|(st, _)| st)
}

/// create + start, then (without `--detach`) wait, forward signals, and delete.
pub fn run(root: &Path, a: RunArgs) -> Result<u8, Error> {
    if !a.detach {
        wait::prepare();
    }
    let mut opts = options(root, a.create);
    // A terminal with no socket to send it to: berth-runc holds the master itself.
    opts.hold_terminal = !a.detach;
    let (st, master_end) = create_container(&opts)?;
    let master = match &master_end {
        Some(sock) => match berth_runtime::console::recv_fd(std::os::fd::AsFd::as_fd(sock)) {
            Ok(m) => Some(m),
            Err(e) => {
                let _ = ops::delete(root, &st.id, true);
                return Err(e);
            }
        },
        None => None,
    };
    if let Some(m) = &master {
        berth_runtime::process::tty::copy_window_size(m);
    }
    if let Err(e) = ops::start(root, &st.id) {
        let _ = ops::delete(root, &st.id, true);
        return Err(e);
    }
    if a.detach {
        return Ok(0);
    }
    let code = match master {
        Some(m) => berth_runtime::process::tty::proxy_and_wait(st.pid, m),
        None => wait::wait_forwarding(st.pid),
    };
    if !a.keep {
        ops::delete(root, &st.id, true)?;
    }
    Ok(code.clamp(0, 255) as u8)
}
