//! The running shim: the container's state and the request handlers.
//!
//! Every connection gets a short-lived thread with a small stack. The state is one
//! [`ContainerState`] behind a mutex, checked at the top of each operation
//! (`can_start`, `can_kill`, …) and changed only after the runtime command
//! succeeded; the init's exit (from the reaper) always wins: an operation that
//! raced it never turns `Stopped` back into something else.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use rustix::event::{poll, PollFd, PollFlags, Timespec};

use super::exec::Exec;
use super::hub::Hub;
use super::reaper::lock;
use super::runtime::Runtime;
use super::{log_error, Created};
use crate::protocol::{
    ErrorKind, Exit, Request, Response, ShimConfig, StateInfo, Status, PROTOCOL_VERSION,
};

/// Longest request line accepted (an exec's process JSON included).
const MAX_REQUEST: u64 = 4 << 20;

pub struct ContainerState {
    pub status: Status,
    pub started_at: Option<String>,
    pub exit: Option<Exit>,
}

impl ContainerState {
    fn can_start(&self) -> Result<(), Response> {
        match self.status {
            Status::Created => Ok(()),
            Status::Stopped => Err(conflict("container has already exited")),
            _ => Err(conflict("container is already running")),
        }
    }
    fn can_kill(&self) -> Result<(), Response> {
        match self.status {
            Status::Stopped => Err(conflict("container is not running")),
            _ => Ok(()),
        }
    }
    fn can_pause(&self) -> Result<(), Response> {
        match self.status {
            Status::Running => Ok(()),
            Status::Paused => Err(conflict("container is already paused")),
            _ => Err(conflict("container is not running")),
        }
    }
    fn can_resume(&self) -> Result<(), Response> {
        match self.status {
            Status::Paused => Ok(()),
            _ => Err(conflict("container is not paused")),
        }
    }
    pub fn can_exec(&self, id: &str) -> Result<(), Response> {
        match self.status {
            Status::Running => Ok(()),
            Status::Paused => Err(conflict(&format!(
                "container {id} is paused, unpause the container before exec"
            ))),
            _ => Err(conflict(&format!("container {id} is not running"))),
        }
    }
}

pub struct Shim {
    pub cfg: ShimConfig,
    pub rt: Runtime,
    pub pid: u32,
    pub state: Mutex<ContainerState>,
    pub exited: Condvar,
    /// The container's stdin (pipe or pty master); `None` once closed.
    pub stdin: Mutex<Option<Arc<File>>>,
    pub master: Option<File>,
    pub hub: Arc<Hub>,
    pub execs: Mutex<HashMap<String, Arc<Exec>>>,
    /// Activity seen by the idle trimmer (`None` if its thread could not start).
    pub idle: Option<Arc<super::idle::Idle>>,
}

impl Shim {
    pub fn new(cfg: ShimConfig, rt: Runtime, created: Created) -> Arc<Shim> {
        let shim = Arc::new(Shim {
            cfg,
            pid: created.pid,
            state: Mutex::new(ContainerState {
                status: Status::Created,
                started_at: None,
                exit: None,
            }),
            exited: Condvar::new(),
            stdin: Mutex::new(created.stdin.map(Arc::new)),
            master: created.master,
            hub: created.hub,
            execs: Mutex::new(HashMap::new()),
            idle: super::idle::Idle::start().ok(),
            rt,
        });
        for (src, stream) in created.outputs {
            if let Err(e) = shim.hub.spawn_reader(src, stream) {
                log_error(
                    &shim.cfg.bundle,
                    &format!("failed to start an output reader: {e}"),
                );
            }
        }
        let s = shim.clone();
        shim.rt.reaper.on_exit(
            created.pid as i32,
            created.ticket,
            Box::new(move |code| s.init_exited(code)),
        );
        shim
    }

    fn init_exited(&self, code: i32) {
        let exit = Exit { code, at: now() };
        if let Err(e) = write_atomic(&self.cfg.bundle.join("exit.json"), &exit) {
            log_error(&self.cfg.bundle, &format!("failed to write exit.json: {e}"));
        }
        let mut st = lock(&self.state);
        st.status = Status::Stopped;
        st.exit = Some(exit);
        self.exited.notify_all();
    }

    fn state_info(&self) -> StateInfo {
        let st = lock(&self.state);
        StateInfo {
            protocol: PROTOCOL_VERSION,
            shim_pid: std::process::id(),
            pid: self.pid,
            status: st.status,
            started_at: st.started_at.clone(),
            exit: st.exit.clone(),
        }
    }

    fn start(&self) -> Response {
        if let Err(r) = lock(&self.state).can_start() {
            return r;
        }
        if let Err(e) = self.rt.run("start", &[], &[], None) {
            return internal(e);
        }
        let mut st = lock(&self.state);
        if st.status == Status::Created {
            st.status = Status::Running;
        }
        st.started_at = Some(now());
        Response::Ok
    }

    fn kill(&self, signal: i32, all: bool) -> Response {
        if let Err(r) = lock(&self.state).can_kill() {
            return r;
        }
        let before: &[&str] = if all { &["--all"] } else { &[] };
        match self.rt.run("kill", before, &[&signal.to_string()], None) {
            Ok(()) => Response::Ok,
            Err(e) => self.after_failure(e),
        }
    }

    /// A runtime command failed: a Conflict if the container exited meanwhile.
    fn after_failure(&self, e: String) -> Response {
        if lock(&self.state).status == Status::Stopped {
            conflict("container is not running")
        } else {
            internal(e)
        }
    }

    fn pause(&self, pause: bool) -> Response {
        {
            let st = lock(&self.state);
            let check = if pause {
                st.can_pause()
            } else {
                st.can_resume()
            };
            if let Err(r) = check {
                return r;
            }
        }
        let sub = if pause { "pause" } else { "resume" };
        if let Err(e) = self.rt.run(sub, &[], &[], None) {
            return self.after_failure(e);
        }
        let mut st = lock(&self.state);
        if st.status != Status::Stopped {
            st.status = if pause {
                Status::Paused
            } else {
                Status::Running
            };
        }
        Response::Ok
    }

    fn resize(&self, width: u16, height: u16) -> Response {
        match &self.master {
            Some(m) => resize(m, width, height),
            None => conflict("the container has no terminal"),
        }
    }

    fn update(&self, resources: &serde_json::Value) -> Response {
        let input = resources.to_string();
        match self
            .rt
            .run("update", &["--resources", "-"], &[], Some(input.as_bytes()))
        {
            Ok(()) => Response::Ok,
            Err(e) => self.after_failure(e),
        }
    }

    /// Blocks until the init has exited (or the client has gone: `None`).
    pub fn wait_exit(&self, conn: &UnixStream, timeout: Option<Duration>) -> Option<Exit> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        let mut st = lock(&self.state);
        loop {
            if let Some(exit) = &st.exit {
                return Some(exit.clone());
            }
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return None;
            }
            st = self
                .exited
                .wait_timeout(st, Duration::from_millis(500))
                .unwrap_or_else(|e| e.into_inner())
                .0;
            if peer_gone(conn) {
                return None;
            }
        }
    }

    /// Returns only on failure (answered on `conn`); on success the process exits.
    fn shutdown(&self, conn: &UnixStream, force: bool) -> Response {
        let status = lock(&self.state).status;
        if matches!(status, Status::Running | Status::Paused) && !force {
            return conflict("container is running: stop it first, or force the removal");
        }
        if force && status != Status::Stopped {
            if status == Status::Paused {
                let _ = self.rt.run("resume", &[], &[], None);
            }
            let _ = self.rt.run("kill", &["--all"], &["9"], None);
            self.wait_exit(conn, Some(Duration::from_secs(10)));
        }
        let args: &[&str] = if force { &["--force"] } else { &[] };
        if let Err(e) = self.rt.run("delete", args, &[], None) {
            return internal(e);
        }
        // A created container's init is killed by delete: collect its status.
        self.wait_exit(conn, Some(Duration::from_secs(2)));
        self.hub.wait_ended(Duration::from_secs(2));
        // The socket goes first: a client that has read Ok finds it gone.
        let _ = std::fs::remove_file(&self.cfg.socket);
        let _ = respond(conn, &Response::Ok);
        std::process::exit(0);
    }
}

/// Accepts connections forever.
pub fn serve(shim: Arc<Shim>, listener: UnixListener) -> ! {
    loop {
        match listener.accept() {
            Ok((conn, _)) => {
                let s = shim.clone();
                let spawned = std::thread::Builder::new()
                    .stack_size(128 * 1024)
                    .spawn(move || handle(&s, conn));
                if let Err(e) = spawned {
                    log_error(&shim.cfg.bundle, &format!("failed to start a thread: {e}"));
                }
            }
            Err(e) => {
                log_error(&shim.cfg.bundle, &format!("accept: {e}"));
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Serves one connection; the idle trimmer (`super::idle`) hears of it.
fn handle(shim: &Shim, conn: UnixStream) {
    if let Some(i) = &shim.idle {
        i.touch();
    }
    serve_request(shim, conn);
    if let Some(i) = &shim.idle {
        i.touch();
    }
}

fn serve_request(shim: &Shim, conn: UnixStream) {
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::with_capacity(4096, read_half);
    let mut line = Vec::new();
    if (&mut reader)
        .take(MAX_REQUEST)
        .read_until(b'\n', &mut line)
        .is_err()
        || line.is_empty()
    {
        return;
    }
    let req: Request = match serde_json::from_slice(&line) {
        Ok(r) => r,
        Err(e) => {
            let _ = respond(
                &conn,
                &error(ErrorKind::InvalidArgument, &format!("invalid request: {e}")),
            );
            return;
        }
    };
    let resp = match req {
        Request::State => Response::State(shim.state_info()),
        Request::Start => shim.start(),
        Request::Kill { signal, all } => shim.kill(signal, all),
        Request::Pause => shim.pause(true),
        Request::Resume => shim.pause(false),
        Request::Resize { width, height } => shim.resize(width, height),
        Request::Update { resources } => shim.update(&resources),
        Request::Wait => match shim.wait_exit(&conn, None) {
            Some(exit) => Response::Exited(exit),
            None => return,
        },
        Request::Shutdown { force } => shim.shutdown(&conn, force),
        Request::Attach {
            stdin,
            stdout,
            stderr,
        } => return attach(shim, conn, reader, stdin, stdout, stderr),
        Request::Exec {
            exec_id,
            process,
            stdin,
            detach,
        } => return super::exec::exec(shim, conn, reader, &exec_id, process, stdin, detach),
        Request::ExecResize {
            exec_id,
            width,
            height,
        } => match super::exec::find(shim, &exec_id) {
            Ok(e) => e.resize(width, height),
            Err(r) => r,
        },
        Request::ExecWait { exec_id } => match super::exec::find(shim, &exec_id) {
            Ok(e) => match e.wait(&conn) {
                Some(exit) => Response::Exited(exit),
                None => return,
            },
            Err(r) => r,
        },
    };
    let _ = respond(&conn, &resp);
}

fn attach(
    shim: &Shim,
    conn: UnixStream,
    reader: BufReader<UnixStream>,
    stdin: bool,
    stdout: bool,
    stderr: bool,
) {
    if respond(&conn, &Response::Ok).is_err() {
        return;
    }
    let Ok(out) = conn.try_clone() else {
        return;
    };
    shim.hub.attach(out, stdout, stderr);
    if stdin && shim.cfg.stdin {
        forward_stdin(reader, &shim.stdin);
        // Closing a pty's master would hang the terminal up: only pipes are closed.
        if shim.cfg.stdin_once && !shim.cfg.tty {
            lock(&shim.stdin).take();
        }
    }
}

/// Copies the client's bytes (those already buffered first) to `target` until EOF.
pub fn forward_stdin(mut reader: BufReader<UnixStream>, target: &Mutex<Option<Arc<File>>>) {
    let mut buf = [0u8; 4096];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let Some(dst) = lock(target).clone() else {
            return;
        };
        if (&*dst).write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

pub fn respond(conn: &UnixStream, resp: &Response) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(resp).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut c = conn;
    c.write_all(&line)
}

/// Whether the client has closed its connection.
pub fn peer_gone(conn: &UnixStream) -> bool {
    let mut fds = [PollFd::new(conn, PollFlags::IN)];
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match poll(&mut fds, Some(&zero)) {
        Ok(_) => fds[0].revents().intersects(PollFlags::HUP | PollFlags::ERR),
        Err(_) => false,
    }
}

pub fn resize(master: &File, width: u16, height: u16) -> Response {
    let ws = rustix::termios::Winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    match rustix::termios::tcsetwinsize(master, ws) {
        Ok(()) => Response::Ok,
        Err(e) => internal(format!("failed to resize the terminal: {e}")),
    }
}

pub fn now() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

pub fn conflict(msg: &str) -> Response {
    error(ErrorKind::Conflict, msg)
}

pub fn internal(msg: String) -> Response {
    Response::Error {
        kind: ErrorKind::Internal,
        message: msg,
    }
}

pub fn error(kind: ErrorKind, msg: &str) -> Response {
    Response::Error {
        kind,
        message: msg.to_string(),
    }
}

/// Writes JSON to a temp file and renames it over `path`: atomic against a crash
/// of any process. Not fsynced: exit statuses matter only until the next reboot.
pub fn write_atomic<T: serde::Serialize>(path: &std::path::Path, value: &T) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(value).map_err(std::io::Error::other)?)?;
    std::fs::rename(&tmp, path)
}
