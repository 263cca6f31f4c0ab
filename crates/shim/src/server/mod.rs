//! `berth-shim start <bundle>`: daemonize, `runtime create`, report, then serve.
//!
//! Order matters:
//! 1. Close every inherited fd (berthd's), read `shim.json`, bind the socket — all
//!    while single-threaded, in the process berthd started.
//! 2. Fork (before any thread exists). The parent only relays the child's
//!    [`StartReport`] to stdout and exits, so berthd's child is gone at once and the
//!    shim, reparented away from berthd, survives berthd.
//! 3. The child: `setsid`, child subreaper, stdio on /dev/null, cwd `/`, then the
//!    reaper thread, then `runtime create` with the container's stdio (pipes the
//!    runtime passes on to the init, or a console socket for a pty).
//! 4. On success the child reports `{shim_pid, pid}` and serves; on failure it
//!    reports the runtime's message after `runtime delete --force` and removing the
//!    socket, so nothing is left behind.

mod console;
mod container;
mod exec;
mod hub;
mod idle;
mod jsonlog;
mod reaper;
mod runtime;
mod sys;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rustix::pipe::{pipe_with, PipeFlags};

use crate::protocol::{ShimConfig, StartReport};
use console::ConsoleSocket;
use container::Shim;
use hub::{Hub, Stream};
use jsonlog::JsonLog;
use reaper::{Reaper, Ticket};
use runtime::Runtime;

/// Runs `berth-shim start <bundle>`; returns in the parent (the child never returns).
pub fn start(bundle: &Path) -> ExitCode {
    sys::close_inherited_fds();
    sys::limit_malloc_arenas();
    let (cfg, listener) = match prepare(bundle) {
        Ok(v) => v,
        Err(e) => return report_and_fail(e),
    };
    let (rd, wr) = match pipe_with(PipeFlags::CLOEXEC) {
        Ok(p) => p,
        Err(e) => {
            let _ = std::fs::remove_file(&cfg.socket);
            return report_and_fail(format!("failed to create a pipe: {e}"));
        }
    };
    match sys::fork() {
        Err(e) => {
            let _ = std::fs::remove_file(&cfg.socket);
            report_and_fail(format!("failed to fork: {e}"))
        }
        Ok(sys::Fork::Parent) => {
            drop(wr);
            drop(listener);
            relay(&cfg, rd)
        }
        Ok(sys::Fork::Child) => {
            drop(rd);
            child(cfg, listener, File::from(wr))
        }
    }
}

fn prepare(bundle: &Path) -> Result<(ShimConfig, UnixListener), String> {
    let bundle =
        std::fs::canonicalize(bundle).map_err(|e| format!("bundle {}: {e}", bundle.display()))?;
    let path = bundle.join("shim.json");
    let text =
        std::fs::read(&path).map_err(|e| format!("failed to read {}: {e}", path.display()))?;
    let mut cfg: ShimConfig =
        serde_json::from_slice(&text).map_err(|e| format!("invalid {}: {e}", path.display()))?;
    cfg.bundle = bundle;
    let _ = std::fs::remove_file(&cfg.socket);
    let listener = UnixListener::bind(&cfg.socket)
        .map_err(|e| format!("failed to listen on {}: {e}", cfg.socket.display()))?;
    Ok((cfg, listener))
}

fn report_and_fail(error: String) -> ExitCode {
    print_report(&StartReport::Failed { error });
    ExitCode::FAILURE
}

fn print_report(r: &StartReport) {
    let line = serde_json::to_string(r).unwrap_or_default();
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// The parent: passes on the child's report.
fn relay(cfg: &ShimConfig, rd: OwnedFd) -> ExitCode {
    let mut text = String::new();
    let _ = File::from(rd).read_to_string(&mut text);
    match serde_json::from_str::<StartReport>(text.trim()) {
        Ok(r @ StartReport::Ready { .. }) => {
            print_report(&r);
            ExitCode::SUCCESS
        }
        Ok(r @ StartReport::Failed { .. }) => {
            print_report(&r);
            ExitCode::FAILURE
        }
        Err(_) => {
            let _ = std::fs::remove_file(&cfg.socket);
            report_and_fail("the shim exited before it was ready".into())
        }
    }
}

/// The shim proper.
fn child(cfg: ShimConfig, listener: UnixListener, mut report: File) -> ExitCode {
    if let Err(e) = detach() {
        let _ = std::fs::remove_file(&cfg.socket);
        let _ = writeln!(report, "{}", failed(format!("failed to daemonize: {e}")));
        return ExitCode::FAILURE;
    }
    let reaper = match Reaper::start() {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&cfg.socket);
            let _ = writeln!(
                report,
                "{}",
                failed(format!("failed to start a thread: {e}"))
            );
            return ExitCode::FAILURE;
        }
    };
    let rt = Runtime {
        bin: cfg.runtime.clone(),
        root: cfg.runtime_root.clone(),
        args: cfg.runtime_args.clone(),
        id: cfg.id.clone(),
        reaper: reaper.clone(),
    };
    let created = match create(&cfg, &rt) {
        Ok(c) => c,
        Err(e) => {
            let _ = rt.run("delete", &["--force"], &[], None);
            let _ = std::fs::remove_file(&cfg.socket);
            let _ = writeln!(report, "{}", failed(e));
            return ExitCode::FAILURE;
        }
    };
    let ready = StartReport::Ready {
        shim_pid: std::process::id(),
        pid: created.pid,
    };
    let _ = writeln!(
        report,
        "{}",
        serde_json::to_string(&ready).unwrap_or_default()
    );
    drop(report);
    let shim = Shim::new(cfg, rt, created);
    container::serve(shim, listener)
}

fn failed(error: String) -> String {
    serde_json::to_string(&StartReport::Failed { error }).unwrap_or_default()
}

/// New session, child subreaper, stdio on /dev/null, cwd `/`.
fn detach() -> std::io::Result<()> {
    rustix::process::setsid()?;
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
    let null = File::options().read(true).write(true).open("/dev/null")?;
    rustix::stdio::dup2_stdin(&null)?;
    rustix::stdio::dup2_stdout(&null)?;
    rustix::stdio::dup2_stderr(&null)?;
    rustix::process::chdir("/")?;
    Ok(())
}

/// What `runtime create` left the shim holding.
pub struct Created {
    pub pid: u32,
    pub ticket: Ticket,
    /// Where the container's stdin is written: the pipe, or the pty master.
    pub stdin: Option<File>,
    pub master: Option<File>,
    pub hub: Arc<Hub>,
    pub outputs: Vec<(File, Stream)>,
}

/// The stdio handed to a runtime command that starts a process, and the shim's ends.
pub struct ProcessIo {
    pub console: Option<ConsoleSocket>,
    pub stdin: Option<File>,
    pub outputs: Vec<(File, Stream)>,
    /// Where the runtime's own error message ends up (stderr pipe).
    pub errors: File,
}

impl ProcessIo {
    /// Sets up `cmd`'s stdio for a process with a pty (`tty`) or pipes.
    pub fn new(
        cfg: &ShimConfig,
        tag: &str,
        tty: bool,
        stdin: bool,
        cmd: &mut std::process::Command,
    ) -> Result<ProcessIo, String> {
        let pipe = || -> Result<(File, File), String> {
            let (r, w) = pipe_with(PipeFlags::CLOEXEC)
                .map_err(|e| format!("failed to create a pipe: {e}"))?;
            Ok((File::from(r), File::from(w)))
        };
        if tty {
            let console = ConsoleSocket::bind(cfg, tag)
                .map_err(|e| format!("failed to create a console socket: {e}"))?;
            cmd.arg("--console-socket").arg(console.path());
            let (err_r, err_w) = pipe()?;
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(err_w));
            return Ok(ProcessIo {
                console: Some(console),
                stdin: None,
                outputs: Vec::new(),
                errors: err_r,
            });
        }
        let mut shim_stdin = None;
        if stdin {
            let (r, w) = pipe()?;
            cmd.stdin(Stdio::from(r));
            shim_stdin = Some(w);
        } else {
            cmd.stdin(Stdio::null());
        }
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let errors = err_r
            .try_clone()
            .map_err(|e| format!("failed to dup a pipe: {e}"))?;
        cmd.stdout(Stdio::from(out_w)).stderr(Stdio::from(err_w));
        Ok(ProcessIo {
            console: None,
            stdin: shim_stdin,
            outputs: vec![(out_r, Stream::Stdout), (err_r, Stream::Stderr)],
            errors,
        })
    }
}

/// Reads what is in `f` now, without waiting for writers that might linger.
pub fn read_available(f: &File) -> Vec<u8> {
    let _ = rustix::io::ioctl_fionbio(f, true);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let mut f = f;
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 || out.len() > 64 * 1024 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let _ = rustix::io::ioctl_fionbio(f, false);
    out
}

/// Reads a runtime's `--pid-file`.
pub fn read_pid(path: &PathBuf) -> Result<u32, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("failed to read {}: {e}", path.display()))?;
    text.trim()
        .parse()
        .map_err(|_| format!("invalid pid file {}: {text:?}", path.display()))
}

fn create(cfg: &ShimConfig, rt: &Runtime) -> Result<Created, String> {
    let pid_file = cfg.bundle.join("init.pid");
    let _ = std::fs::remove_file(&pid_file);
    let _ = std::fs::remove_file(cfg.bundle.join("exit.json"));
    let log = match &cfg.log_path {
        Some(p) => Some(
            JsonLog::open(p, cfg.log_max_size, cfg.log_max_file)
                .map_err(|e| format!("failed to open the log {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let mut cmd = rt.command("create");
    cmd.arg("--bundle")
        .arg(&cfg.bundle)
        .arg("--pid-file")
        .arg(&pid_file);
    let io = ProcessIo::new(cfg, "console", cfg.tty, cfg.stdin, &mut cmd)?;
    cmd.arg(&cfg.id);
    let (child, ticket) = rt.spawn(&mut cmd)?;
    // The Command holds the container's ends of the pipes: close them now.
    drop(cmd);
    let code = rt.reaper.wait(child.id() as i32, ticket);
    if code != 0 {
        return Err(runtime::failure(
            "create",
            code,
            &read_available(&io.errors),
        ));
    }
    let pid = read_pid(&pid_file)?;
    let (master, stdin, outputs) = match &io.console {
        Some(console) => {
            let master = console
                .receive(Duration::from_secs(10))
                .map_err(|e| format!("failed to receive the container's terminal: {e}"))?;
            let reader = master
                .try_clone()
                .map_err(|e| format!("failed to dup the pty master: {e}"))?;
            let writer = master
                .try_clone()
                .map_err(|e| format!("failed to dup the pty master: {e}"))?;
            (Some(master), Some(writer), vec![(reader, Stream::Stdout)])
        }
        None => (None, io.stdin, io.outputs),
    };
    let hub = Hub::new(cfg.tty, outputs.len() as u8, log);
    Ok(Created {
        pid,
        ticket,
        stdin,
        master,
        hub,
        outputs,
    })
}

/// Appends an error to `<bundle>/shim.log` (the shim's stderr is /dev/null).
pub fn log_error(bundle: &Path, msg: &str) {
    if let Ok(mut f) = File::options()
        .create(true)
        .append(true)
        .open(bundle.join("shim.log"))
    {
        let now = humantime::format_rfc3339_nanos(std::time::SystemTime::now());
        let _ = writeln!(f, "{now} {msg}");
    }
}
