//! The blocking client berthd uses: write the config, spawn a shim, talk to it.
//!
//! One connection per call, as the protocol wants. Blocking on purpose: berthd
//! calls it from `spawn_blocking`, and `Wait`/attach streams are long-lived
//! connections that are simplest as plain sockets.
//!
//! Responses are read byte by byte up to the `\n`, so that after an attach or exec
//! response the returned [`UnixStream`] still holds every stream byte.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::protocol::{ErrorKind, Exit, Request, Response, ShimConfig, StartReport, StateInfo};

/// The class of a [`ShimError`], for berthd's one `status(kind)` function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShimErrorKind {
    InvalidArgument,
    Conflict,
    NotFound,
    Internal,
    /// The shim's socket cannot be reached (the shim is gone).
    Unavailable,
}

impl From<ErrorKind> for ShimErrorKind {
    fn from(k: ErrorKind) -> Self {
        match k {
            ErrorKind::InvalidArgument => ShimErrorKind::InvalidArgument,
            ErrorKind::Conflict => ShimErrorKind::Conflict,
            ErrorKind::NotFound => ShimErrorKind::NotFound,
            ErrorKind::Internal => ShimErrorKind::Internal,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// The shim answered with an error; `message` is its text, verbatim.
    #[error("{message}")]
    Shim { kind: ErrorKind, message: String },
    /// `berth-shim start` failed; the message is the runtime's (verbatim).
    #[error("{0}")]
    Start(String),
    #[error("shim socket {path} is unavailable")]
    Unavailable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to {what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("unexpected answer from the shim: {0}")]
    Protocol(String),
}

impl ShimError {
    pub fn kind(&self) -> ShimErrorKind {
        match self {
            ShimError::Shim { kind, .. } => (*kind).into(),
            ShimError::Unavailable { .. } => ShimErrorKind::Unavailable,
            ShimError::Start(_) | ShimError::Io { .. } | ShimError::Protocol(_) => {
                ShimErrorKind::Internal
            }
        }
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ShimError {
    let what = what.into();
    move |source| ShimError::Io { what, source }
}

/// Writes `<bundle>/shim.json` atomically (temp file, rename). No fsync: the file
/// only matters while the machine is up (a reboot ends the container anyway).
pub fn write_config(cfg: &ShimConfig) -> Result<(), ShimError> {
    let path = cfg.bundle.join("shim.json");
    let tmp = cfg.bundle.join(".shim.json.tmp");
    let text = serde_json::to_vec_pretty(cfg).map_err(|e| ShimError::Protocol(e.to_string()))?;
    let mut f = std::fs::File::create(&tmp).map_err(io_err(format!("create {}", tmp.display())))?;
    f.write_all(&text)
        .map_err(io_err(format!("write {}", tmp.display())))?;
    std::fs::rename(&tmp, &path).map_err(io_err(format!("rename to {}", path.display())))
}

/// A started shim: the container is created, not yet started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spawned {
    pub shim_pid: u32,
    /// The container init's host pid.
    pub pid: u32,
}

/// Runs `<shim_bin> start <bundle>` (which reads `<bundle>/shim.json`), waits for
/// its first process to exit, and parses its report.
pub fn spawn(shim_bin: &Path, bundle: &Path) -> Result<Spawned, ShimError> {
    let out = Command::new(shim_bin)
        .arg("start")
        .arg(bundle)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(io_err(format!("run {}", shim_bin.display())))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| !l.trim().is_empty());
    match line.map(|l| serde_json::from_str::<StartReport>(l.trim())) {
        Some(Ok(StartReport::Ready { shim_pid, pid })) if out.status.success() => {
            Ok(Spawned { shim_pid, pid })
        }
        Some(Ok(StartReport::Failed { error })) => Err(ShimError::Start(error)),
        _ => Err(ShimError::Start(format!(
            "berth-shim start failed ({}): {}{}",
            out.status,
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
    }
}

/// A handle on one shim's socket.
#[derive(Debug, Clone)]
pub struct ShimClient {
    socket: PathBuf,
}

impl ShimClient {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        ShimClient {
            socket: socket.into(),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Sends `req` on a new connection and reads the response line; the connection
    /// is returned too, positioned right after that line.
    pub fn call_stream(&self, req: &Request) -> Result<(Response, UnixStream), ShimError> {
        let mut conn =
            UnixStream::connect(&self.socket).map_err(|source| ShimError::Unavailable {
                path: self.socket.clone(),
                source,
            })?;
        let mut line = serde_json::to_vec(req).map_err(|e| ShimError::Protocol(e.to_string()))?;
        line.push(b'\n');
        conn.write_all(&line)
            .map_err(io_err("send a request to the shim"))?;
        let mut resp = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            match conn.read(&mut byte) {
                Ok(0) => {
                    return Err(ShimError::Io {
                        what: "read the shim's answer".into(),
                        source: std::io::ErrorKind::UnexpectedEof.into(),
                    })
                }
                Ok(_) if byte[0] == b'\n' => break,
                Ok(_) => resp.push(byte[0]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err("read the shim's answer")(e)),
            }
        }
        let resp: Response = serde_json::from_slice(&resp)
            .map_err(|e| ShimError::Protocol(format!("{e}: {}", String::from_utf8_lossy(&resp))))?;
        match resp {
            Response::Error { kind, message } => Err(ShimError::Shim { kind, message }),
            r => Ok((r, conn)),
        }
    }

    /// One request, one response; an error response becomes [`ShimError::Shim`].
    pub fn call(&self, req: &Request) -> Result<Response, ShimError> {
        self.call_stream(req).map(|(r, _)| r)
    }

    fn ok(&self, req: &Request) -> Result<(), ShimError> {
        match self.call(req)? {
            Response::Ok => Ok(()),
            r => Err(unexpected(&r)),
        }
    }

    pub fn state(&self) -> Result<StateInfo, ShimError> {
        match self.call(&Request::State)? {
            Response::State(s) => Ok(s),
            r => Err(unexpected(&r)),
        }
    }

    pub fn start(&self) -> Result<(), ShimError> {
        self.ok(&Request::Start)
    }

    pub fn pause(&self) -> Result<(), ShimError> {
        self.ok(&Request::Pause)
    }

    pub fn resume(&self) -> Result<(), ShimError> {
        self.ok(&Request::Resume)
    }

    /// `runtime delete` and the shim's exit (`force`: kill first if running).
    pub fn shutdown(&self, force: bool) -> Result<(), ShimError> {
        self.ok(&Request::Shutdown { force })
    }

    pub fn kill(&self, signal: i32, all: bool) -> Result<(), ShimError> {
        self.ok(&Request::Kill { signal, all })
    }

    pub fn resize(&self, width: u16, height: u16) -> Result<(), ShimError> {
        self.ok(&Request::Resize { width, height })
    }

    pub fn update(&self, resources: serde_json::Value) -> Result<(), ShimError> {
        self.ok(&Request::Update { resources })
    }

    /// Blocks until the container's init has exited.
    pub fn wait(&self) -> Result<Exit, ShimError> {
        match self.call(&Request::Wait)? {
            Response::Exited(e) => Ok(e),
            r => Err(unexpected(&r)),
        }
    }

    /// The attach stream (framed without a tty, raw with one); half-close it to end stdin.
    pub fn attach(&self, stdin: bool, stdout: bool, stderr: bool) -> Result<UnixStream, ShimError> {
        match self.call_stream(&Request::Attach {
            stdin,
            stdout,
            stderr,
        })? {
            (Response::Ok, conn) => Ok(conn),
            (r, _) => Err(unexpected(&r)),
        }
    }

    /// Starts an exec; its host pid, and the stream unless `detach`.
    pub fn exec(
        &self,
        exec_id: &str,
        process: serde_json::Value,
        stdin: bool,
        detach: bool,
    ) -> Result<(u32, Option<UnixStream>), ShimError> {
        let req = Request::Exec {
            exec_id: exec_id.to_string(),
            process,
            stdin,
            detach,
        };
        match self.call_stream(&req)? {
            (Response::Started { pid }, conn) => Ok((pid, (!detach).then_some(conn))),
            (r, _) => Err(unexpected(&r)),
        }
    }

    /// Blocks until the exec has exited.
    pub fn exec_wait(&self, exec_id: &str) -> Result<Exit, ShimError> {
        match self.call(&Request::ExecWait {
            exec_id: exec_id.to_string(),
        })? {
            Response::Exited(e) => Ok(e),
            r => Err(unexpected(&r)),
        }
    }

    pub fn exec_resize(&self, exec_id: &str, width: u16, height: u16) -> Result<(), ShimError> {
        self.ok(&Request::ExecResize {
            exec_id: exec_id.to_string(),
            width,
            height,
        })
    }
}

fn unexpected(r: &Response) -> ShimError {
    ShimError::Protocol(format!("{r:?}"))
}
