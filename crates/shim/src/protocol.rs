//! The protocol between berthd and a `berth-shim`.
//!
//! One Unix stream socket per shim (path chosen by berthd, passed in
//! [`ShimConfig::socket`]). Every connection starts with exactly one request: a
//! JSON [`Request`] on one line (terminated by `\n`). The shim answers with one
//! JSON [`Response`] on one line. For [`Request::Attach`] and [`Request::Exec`]
//! with a successful response, the connection then carries the raw stream:
//!
//! * shim → client: the container's (or exec's) output. Without a terminal it is
//!   Docker's multiplexed framing — an 8-byte header `[stream, 0, 0, 0, len as
//!   u32 big-endian]` (stream 1 = stdout, 2 = stderr) then `len` bytes; with a
//!   terminal it is the pty's raw bytes. The shim shuts the connection down when
//!   the output has ended (every writer of the pipes/pty has gone).
//! * client → shim: bytes for the process's stdin (only when `stdin` was asked
//!   for and the process has one). EOF from the client (a half-close) closes
//!   the process's stdin when `stdin_once` is set in the shim config (for
//!   attach) or always (for exec); output keeps flowing after it.
//!
//! Requests other than those two are closed by the shim after the response.
//! [`Request::Wait`] and [`Request::ExecWait`] answer only when the process has
//! exited (they block; the client may drop the connection to stop waiting).
//!
//! Versioned by [`PROTOCOL_VERSION`]: a shim reports it in [`StateInfo`], so a
//! berthd that restarts after an upgrade can tell an old shim.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Bumped when a message changes incompatibly.
pub const PROTOCOL_VERSION: u32 = 1;

/// Written by berthd as `<bundle>/shim.json` before it starts
/// `berth-shim start <bundle>`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShimConfig {
    /// The container id (as the runtime knows it).
    pub id: String,
    /// The bundle directory: `config.json`, with `root.path` already mounted.
    pub bundle: PathBuf,
    /// The OCI runtime binary (`berth-runc`, `runc`, `crun`).
    pub runtime: PathBuf,
    /// `--root` for the runtime (its state directory).
    pub runtime_root: PathBuf,
    /// Extra arguments put before the subcommand (e.g. `--log x`).
    #[serde(default)]
    pub runtime_args: Vec<String>,
    /// Where the shim listens. Short: Unix socket paths are limited to 108 bytes.
    pub socket: PathBuf,
    /// The container has a terminal (the process spec says `terminal: true`).
    pub tty: bool,
    /// The container's stdin is kept open (Docker's `OpenStdin`).
    pub stdin: bool,
    /// Close the container's stdin when the first attached client ends its input
    /// (Docker's `StdinOnce`).
    pub stdin_once: bool,
    /// json-file log path; `None` disables logging (Docker's `none` driver).
    pub log_path: Option<PathBuf>,
    /// Rotate when the log file would exceed this many bytes (0 = never).
    #[serde(default)]
    pub log_max_size: u64,
    /// How many log files to keep in all, the live one included (at least 1).
    #[serde(default = "one")]
    pub log_max_file: u32,
}

fn one() -> u32 {
    1
}

/// One request, one line of JSON: `{"op":"start"}`, `{"op":"kill","signal":15,"all":false}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// The container's state.
    State,
    /// `runtime start`: run the user's process.
    Start,
    /// Stream the container's stdio on this connection (see the module doc).
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    /// Answer once the container's init has exited: [`Response::Exited`].
    Wait,
    /// Send a signal to the init (`all`: to every process of the container).
    Kill {
        signal: i32,
        all: bool,
    },
    /// Freeze / thaw the container (`runtime pause` / `resume`).
    Pause,
    Resume,
    /// Set the container's terminal size.
    Resize {
        width: u16,
        height: u16,
    },
    /// `runtime update --resources -`: a JSON `LinuxResources`.
    Update {
        resources: serde_json::Value,
    },
    /// Run another process in the container (`runtime exec --process`).
    /// `process` is an OCI `Process` object. With `detach`, output is discarded
    /// and the connection closes after the response; otherwise it streams.
    Exec {
        exec_id: String,
        process: serde_json::Value,
        stdin: bool,
        detach: bool,
    },
    /// Set an exec's terminal size.
    ExecResize {
        exec_id: String,
        width: u16,
        height: u16,
    },
    /// Answer once the exec has exited: [`Response::Exited`].
    ExecWait {
        exec_id: String,
    },
    /// `runtime delete` (the container must have exited, or `force`), then the
    /// shim removes its socket and exits after answering.
    Shutdown {
        force: bool,
    },
}

/// The status of the container as the shim knows it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

/// The answer to [`Request::State`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StateInfo {
    pub protocol: u32,
    /// The shim's own pid.
    pub shim_pid: u32,
    /// The container init's pid on the host.
    pub pid: u32,
    pub status: Status,
    /// RFC 3339 with nanoseconds, set once started.
    pub started_at: Option<String>,
    /// Set once the init has exited.
    pub exit: Option<Exit>,
}

/// How a process ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Exit {
    /// The exit status, or 128 + signal number when it was killed.
    pub code: i32,
    /// RFC 3339 with nanoseconds.
    pub at: String,
}

/// One response, one line of JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    /// Done; nothing to report.
    Ok,
    State(StateInfo),
    /// A process started (exec): its host pid.
    Started {
        pid: u32,
    },
    Exited(Exit),
    /// The request failed. `kind` lets berthd pick the HTTP status.
    Error {
        kind: ErrorKind,
        message: String,
    },
}

/// The class of a shim error.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Malformed request.
    InvalidArgument,
    /// Not in a state for it (e.g. start of a running container, exec into a stopped one).
    Conflict,
    /// No such exec id.
    NotFound,
    /// The runtime or the system failed.
    Internal,
}

/// What `berth-shim start <bundle>` prints on stdout (one line of JSON) before
/// its first process exits: the container exists (`runtime create` succeeded,
/// the user's process has not started) and the socket is listening. On failure it
/// prints `{"error": "..."}` (the runtime's message) and exits non-zero, having
/// cleaned up everything it made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum StartReport {
    Ready { shim_pid: u32, pid: u32 },
    Failed { error: String },
}
