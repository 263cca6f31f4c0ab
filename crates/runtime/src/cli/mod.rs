//! runc's command line: the same commands, flags, output and exit codes.
//!
//! Flags parse into plain clap structs; each subcommand's file resolves them into the
//! library's option types and calls it. Flags may come after the container id, as
//! runc allows (`create <id> --bundle B`).

mod events;
mod exec;
mod features;
mod list;
mod ps;
mod run;
mod spec;
mod update;

use std::path::PathBuf;
use std::process::ExitCode;

use berth_runtime::error::Error;
use berth_runtime::{logging, ops};
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "berth-runc",
    disable_version_flag = true,
    about = "berth's OCI runtime, with runc's command line"
)]
pub struct Cli {
    /// Root directory for container state (default: /run/berth-runc, or
    /// $XDG_RUNTIME_DIR/berth-runc when rootless)
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    /// Log file (default: stderr)
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format: text or json
    #[arg(long = "log-format", global = true, default_value = "text")]
    log_format: String,
    /// Log debug messages
    #[arg(long, global = true)]
    debug: bool,
    /// Use systemd for cgroups (not supported)
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Accepted for runc compatibility; ignored
    #[arg(long, global = true, hide = true)]
    criu: Option<String>,
    /// Print the version
    #[arg(short = 'v', long = "version")]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a container
    Create(run::CreateArgs),
    /// Start a created container
    Start { id: String },
    /// Create and run a container
    Run(run::RunArgs),
    /// Output the state of a container
    State { id: String },
    /// Send a signal to the container's init process
    Kill {
        id: String,
        signal: Option<String>,
        /// Send the signal to all processes in the container
        #[arg(short, long)]
        all: bool,
    },
    /// Delete a container
    Delete {
        id: String,
        /// Kill the container first if it is running
        #[arg(short, long)]
        force: bool,
    },
    /// List containers
    List(list::ListArgs),
    /// Processes running inside a container
    Ps(ps::PsArgs),
    /// Execute a new process inside a container
    Exec(exec::ExecArgs),
    /// Create a new specification file
    Spec(spec::SpecArgs),
    /// Suspend all processes in a container
    Pause { id: String },
    /// Resume a paused container
    Resume { id: String },
    /// Update a container's resource limits
    Update(update::UpdateArgs),
    /// Show what this runtime supports
    Features,
    /// Display container events and statistics
    Events(events::EventsArgs),
}

/// runc's three-line `--version`; the commit comes from scripts/build-env.sh (git).
fn version_text() -> String {
    format!(
        "berth-runc version {}\ncommit: {}\nspec: 1.2.0",
        env!("CARGO_PKG_VERSION"),
        option_env!("BERTH_COMMIT").unwrap_or("unknown")
    )
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if cli.version {
        println!("{}", version_text());
        return ExitCode::SUCCESS;
    }
    let format = match cli.log_format.as_str() {
        "text" => logging::Format::Text,
        "json" => logging::Format::Json,
        other => {
            eprintln!("berth-runc: unknown --log-format {other:?}: use text or json");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = logging::init(cli.log.as_deref(), format, cli.debug) {
        eprintln!("berth-runc: cannot open the log file: {e}");
        return ExitCode::from(1);
    }
    let Some(command) = cli.command else {
        eprintln!("berth-runc: no command given; see --help");
        return ExitCode::from(1);
    };
    let is_exec = matches!(command, Command::Exec(_));
    let result = if cli.systemd_cgroup {
        Err(Error::Unsupported(
            "--systemd-cgroup (berth-runc manages cgroupfs directly)".into(),
        ))
    } else {
        dispatch(&state_root(cli.root), command)
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            logging::error(&e.to_string());
            // exec reserves every code below 255 for the process's own status.
            ExitCode::from(if is_exec { 255 } else { 1 })
        }
    }
}

/// The state root: `--root`, else runc's choice of default: the user's runtime dir
/// when rootless (a non-root user cannot write /run), else /run/berth-runc.
fn state_root(flag: Option<PathBuf>) -> PathBuf {
    if let Some(root) = flag {
        return root;
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) if berth_runtime::userns::is_rootless() => PathBuf::from(dir).join("berth-runc"),
        _ => PathBuf::from("/run/berth-runc"),
    }
}

fn dispatch(root: &std::path::Path, command: Command) -> Result<u8, Error> {
    match command {
        Command::Create(a) => run::create(root, a).map(|_| 0),
        Command::Start { id } => ops::start(root, &id).map(|_| 0),
        Command::Run(a) => run::run(root, a),
        Command::State { id } => {
            let st = berth_runtime::state::State::load(root, &id)?;
            let v = st.oci_json(st.current_status());
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            Ok(0)
        }
        Command::Kill { id, signal, all } => {
            let sig = ops::parse_signal(signal.as_deref().unwrap_or("SIGTERM"))?;
            ops::kill(root, &id, sig, all).map(|_| 0)
        }
        Command::Delete { id, force } => ops::delete(root, &id, force).map(|_| 0),
        Command::List(a) => list::list(root, a),
        Command::Ps(a) => ps::ps(root, a),
        Command::Exec(a) => exec::exec(root, a),
        Command::Spec(a) => spec::spec(a),
        Command::Pause { id } => ops::pause(root, &id).map(|_| 0),
        Command::Resume { id } => ops::resume(root, &id).map(|_| 0),
        Command::Update(a) => update::update(root, a),
        Command::Features => features::features(),
        Command::Events(a) => events::events(root, a),
    }
}
