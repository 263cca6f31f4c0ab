//! Connecting to the daemon and turning its errors into Docker's wording and exit codes.
//!
//! The CLI talks only to the Engine API. The endpoint comes from `-H`, then `BERTH_HOST`,
//! then `DOCKER_HOST`, then the default socket, so that scripts written for Docker work
//! unchanged when `DOCKER_HOST` points at berthd. The API version is negotiated (the
//! daemon may be older than the client's newest version), as Docker's CLI does.
//!
//! Errors carry the exit code they should produce: Docker exits 1 for a failed command,
//! 125 when `run`/`create` fail before the container runs, 126/127 when the container's
//! command cannot be invoked / is not found, and a container's own status otherwise.

use anyhow::{anyhow, Result};
use bollard::Docker;

/// The default endpoint of berthd.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// What every command gets: the connection, and where it goes (for error messages).
pub struct Ctx {
    pub docker: Docker,
    pub host: String,
}

/// An error that ends the program with a given code after printing `message` (if any).
#[derive(Debug)]
pub struct StatusError {
    pub code: u8,
    pub message: String,
}

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StatusError {}

/// A flag error found after parsing (a bad memory size…): printed with the command's
/// usage, exit 125, as cobra prints flag errors.
#[derive(Debug)]
pub struct UsageError {
    pub message: String,
    pub cmd: String,
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UsageError {}

/// The usage line of a command, as Docker's help shows it.
pub fn usage_line(cmd: &str) -> String {
    let last = cmd.rsplit(' ').next().unwrap_or(cmd);
    if let Some(sub) = cmd.strip_prefix("network ") {
        let args = match sub {
            "create" => "[OPTIONS] NETWORK",
            "inspect" => "[OPTIONS] NETWORK [NETWORK...]",
            "rm" | "remove" => "NETWORK [NETWORK...]",
            "connect" | "disconnect" => "[OPTIONS] NETWORK CONTAINER",
            _ => "[OPTIONS]",
        };
        return format!("berth {cmd} {args}");
    }
    let args = match last {
        "run" | "create" => "[OPTIONS] IMAGE [COMMAND] [ARG...]",
        "exec" => "[OPTIONS] CONTAINER COMMAND [ARG...]",
        "start" | "stop" | "kill" | "restart" | "rm" | "pause" | "unpause" | "wait" => {
            "[OPTIONS] CONTAINER [CONTAINER...]"
        }
        "logs" | "attach" | "export" | "diff" | "top" => "[OPTIONS] CONTAINER",
        "inspect" => "[OPTIONS] NAME|ID [NAME|ID...]",
        "rename" => "CONTAINER NEW_NAME",
        "cp" => "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
        "commit" => "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
        "port" => "CONTAINER [PRIVATE_PORT[/PROTO]]",
        "images" => "[OPTIONS] [REPOSITORY[:TAG]]",
        "rmi" => "[OPTIONS] IMAGE [IMAGE...]",
        "tag" => "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
        "save" => "[OPTIONS] IMAGE [IMAGE...]",
        "import" => "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
        "history" => "[OPTIONS] IMAGE",
        "stats" => "[OPTIONS] [CONTAINER...]",
        _ => "[OPTIONS]",
    };
    format!("berth {cmd} {args}")
}

/// Return a [`UsageError`].
pub fn usage_err(cmd: &str, message: impl Into<String>) -> anyhow::Error {
    anyhow!(UsageError {
        message: message.into(),
        cmd: cmd.to_string(),
    })
}

/// Return a [`StatusError`].
pub fn status_err(code: u8, message: impl Into<String>) -> anyhow::Error {
    anyhow!(StatusError {
        code,
        message: message.into()
    })
}

/// Pick the endpoint: flag, then `BERTH_HOST`, then `DOCKER_HOST`, then the default.
pub fn resolve_host(flag: Option<&str>) -> String {
    flag.map(str::to_string)
        .or_else(|| std::env::var("BERTH_HOST").ok().filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| DEFAULT_HOST.to_string())
}

/// Connect and negotiate the API version.
pub async fn connect(host: &str) -> Result<Ctx> {
    let path = host.strip_prefix("unix://").ok_or_else(|| {
        anyhow!("unsupported protocol in host {host:?}: only unix:// is supported")
    })?;
    // Streams (wait, logs -f, events, attach) can last forever: no client-side timeout.
    let docker = Docker::connect_with_unix(path, 60 * 60 * 24 * 365, bollard::API_DEFAULT_VERSION)
        .map_err(|e| map_connect_error(host, e))?;
    let docker = match docker.negotiate_version().await {
        Ok(d) => d,
        Err(e) => return Err(map_connect_error(host, e)),
    };
    Ok(Ctx {
        docker,
        host: host.to_string(),
    })
}

fn map_connect_error(host: &str, e: bollard::errors::Error) -> anyhow::Error {
    match e {
        bollard::errors::Error::DockerResponseServerError { .. } => anyhow!(e),
        _ => anyhow!(StatusError {
            code: 1,
            message: format!(
                "Cannot connect to the berth daemon at {host}. Is the berth daemon running?"
            ),
        }),
    }
}

/// The text Docker prints for an error: daemon errors are "Error response from daemon: …".
pub fn error_text(e: &anyhow::Error) -> String {
    for cause in e.chain() {
        if let Some(u) = cause.downcast_ref::<UsageError>() {
            return u.message.clone();
        }
        if let Some(s) = cause.downcast_ref::<StatusError>() {
            return s.message.clone();
        }
        if let Some(b) = cause.downcast_ref::<bollard::errors::Error>() {
            if let Some(msg) = daemon_message(b) {
                return format!("Error response from daemon: {msg}");
            }
            if let bollard::errors::Error::DockerStreamError { error } = b {
                return error.clone();
            }
        }
    }
    format!("{e:#}")
}

/// The message of a daemon error response, if `e` is one.
pub fn daemon_message(e: &bollard::errors::Error) -> Option<&str> {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => Some(message),
        _ => None,
    }
}

/// The exit code for a failure to start a container's command, as Docker's `run` picks it.
pub fn start_failure_code(message: &str) -> u8 {
    let m = message.to_lowercase();
    if m.contains("executable file not found") || m.contains("no such file or directory") {
        127
    } else if m.contains("permission denied") {
        126
    } else {
        125
    }
}

/// The exit code an error ends the program with (1 unless it says otherwise).
pub fn exit_code(e: &anyhow::Error) -> u8 {
    e.chain()
        .find_map(|c| {
            c.downcast_ref::<StatusError>()
                .map(|s| s.code)
                .or_else(|| c.downcast_ref::<UsageError>().map(|_| 125))
        })
        .unwrap_or(1)
}

/// The usage error in `e`, if it is one.
pub fn as_usage(e: &anyhow::Error) -> Option<&UsageError> {
    e.chain().find_map(|c| c.downcast_ref::<UsageError>())
}
