//! Exec: another process in the running container (`runtime exec --detach`).
//!
//! The runtime forks the process into the container and exits; the process is then
//! reparented to the shim (a subreaper), so its status arrives through the reaper
//! like the init's. Its stdio are fresh pipes (or a pty from the console socket)
//! with their own [`Hub`] without a log: Docker does not log exec output.

use std::fs::File;
use std::io::BufReader;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::container::{
    conflict, error, forward_stdin, internal, now, peer_gone, resize, respond, Shim,
};
use super::hub::{Hub, Stream};
use super::reaper::lock;
use super::{read_available, read_pid, ProcessIo};
use crate::protocol::{ErrorKind, Exit, Response};

pub struct Exec {
    exit: Mutex<Option<Exit>>,
    exited: Condvar,
    master: Option<File>,
    stdin: Mutex<Option<Arc<File>>>,
}

impl Exec {
    pub fn resize(&self, width: u16, height: u16) -> Response {
        match &self.master {
            Some(m) => resize(m, width, height),
            None => conflict("the exec has no terminal"),
        }
    }

    /// Blocks until the process has exited (`None`: the client went away).
    pub fn wait(&self, conn: &UnixStream) -> Option<Exit> {
        let mut exit = lock(&self.exit);
        loop {
            if let Some(e) = &*exit {
                return Some(e.clone());
            }
            exit = self
                .exited
                .wait_timeout(exit, Duration::from_millis(500))
                .unwrap_or_else(|e| e.into_inner())
                .0;
            if peer_gone(conn) {
                return None;
            }
        }
    }
}

pub fn find(shim: &Shim, exec_id: &str) -> Result<Arc<Exec>, Response> {
    lock(&shim.execs).get(exec_id).cloned().ok_or_else(|| {
        error(
            ErrorKind::NotFound,
            &format!("no such exec instance: {exec_id}"),
        )
    })
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !id.starts_with('.')
}

pub fn exec(
    shim: &Shim,
    conn: UnixStream,
    reader: BufReader<UnixStream>,
    exec_id: &str,
    process: serde_json::Value,
    stdin: bool,
    detach: bool,
) {
    let started = match launch(shim, exec_id, &process, stdin && !detach) {
        Ok(s) => s,
        Err(r) => {
            let _ = respond(&conn, &r);
            return;
        }
    };
    let (exec, pid, hub, outputs) = started;
    if respond(&conn, &Response::Started { pid }).is_err() {
        // Nobody to stream to; the output is still drained below.
    }
    if !detach {
        if let Ok(out) = conn.try_clone() {
            hub.attach(out, true, true);
        }
    }
    for (src, stream) in outputs {
        let _ = hub.spawn_reader(src, stream);
    }
    if !detach && stdin {
        forward_stdin(reader, &exec.stdin);
        if exec.master.is_none() {
            lock(&exec.stdin).take();
        }
    }
}

type Launched = (Arc<Exec>, u32, Arc<Hub>, Vec<(File, Stream)>);

fn launch(
    shim: &Shim,
    exec_id: &str,
    process: &serde_json::Value,
    stdin: bool,
) -> Result<Launched, Response> {
    if !valid_id(exec_id) {
        return Err(error(
            ErrorKind::InvalidArgument,
            &format!("invalid exec id {exec_id:?}"),
        ));
    }
    lock(&shim.state).can_exec(&shim.cfg.id)?;
    if lock(&shim.execs).contains_key(exec_id) {
        return Err(conflict(&format!("exec {exec_id} already exists")));
    }
    let tty = process
        .get("terminal")
        .and_then(|t| t.as_bool())
        .unwrap_or(false);
    let bundle = &shim.cfg.bundle;
    let spec = bundle.join(format!("exec-{exec_id}.json"));
    let pid_file = bundle.join(format!("exec-{exec_id}.pid"));
    let cleanup = {
        let (spec, pid_file) = (spec.clone(), pid_file.clone());
        move || {
            let _ = std::fs::remove_file(&spec);
            let _ = std::fs::remove_file(&pid_file);
        }
    };
    let _ = std::fs::remove_file(&pid_file);
    std::fs::write(&spec, process.to_string())
        .map_err(|e| internal(format!("failed to write {}: {e}", spec.display())))?;

    let rt = &shim.rt;
    let mut cmd = rt.command("exec");
    cmd.arg("--process")
        .arg(&spec)
        .arg("--detach")
        .arg("--pid-file")
        .arg(&pid_file);
    let io = ProcessIo::new(&shim.cfg, "exec", tty, stdin, &mut cmd).map_err(|e| {
        cleanup();
        internal(e)
    })?;
    cmd.arg(&shim.cfg.id);
    let (child, ticket) = rt.spawn(&mut cmd).map_err(internal)?;
    drop(cmd);
    let code = rt.reaper.wait(child.id() as i32, ticket);
    if code != 0 {
        cleanup();
        let msg = super::runtime::failure("exec", code, &read_available(&io.errors));
        if lock(&shim.state).status != crate::protocol::Status::Running {
            return Err(conflict(&format!(
                "container {} is not running",
                shim.cfg.id
            )));
        }
        return Err(internal(msg));
    }
    let pid = read_pid(&pid_file).map_err(internal)?;
    let (master, stdin_w, outputs) = match &io.console {
        Some(console) => {
            let master = console
                .receive(Duration::from_secs(10))
                .map_err(|e| internal(format!("failed to receive the exec's terminal: {e}")))?;
            let reader = master
                .try_clone()
                .map_err(|e| internal(format!("failed to dup the pty master: {e}")))?;
            let writer = master
                .try_clone()
                .map_err(|e| internal(format!("failed to dup the pty master: {e}")))?;
            (Some(master), Some(writer), vec![(reader, Stream::Stdout)])
        }
        None => (None, io.stdin, io.outputs),
    };
    let hub = Hub::new(tty, outputs.len() as u8, None);
    let exec = Arc::new(Exec {
        exit: Mutex::new(None),
        exited: Condvar::new(),
        master,
        stdin: Mutex::new(if stdin { stdin_w.map(Arc::new) } else { None }),
    });
    lock(&shim.execs).insert(exec_id.to_string(), exec.clone());
    let e = exec.clone();
    rt.reaper.on_exit(
        pid as i32,
        ticket,
        Box::new(move |code| {
            cleanup();
            *lock(&e.exit) = Some(Exit { code, at: now() });
            e.exited.notify_all();
        }),
    );
    Ok((exec, pid, hub, outputs))
}
