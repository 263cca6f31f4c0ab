//! Docker's command tree (clap), the dispatch to `commands/`, and the translation of
//! errors into Docker's messages and exit codes (see the crate docs).

use crate::{client, commands};
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    about = "A self-sufficient runtime for containers",
    version,
    disable_version_flag = true,
    subcommand_required = true
)]
struct Cli {
    /// Daemon socket to connect to (unix:///path)
    #[arg(short = 'H', long = "host", global = false)]
    host: Option<String>,
    /// Enable debug mode (accepted for compatibility)
    #[arg(short = 'D', long)]
    debug: bool,
    /// Set the logging level (accepted for compatibility)
    #[arg(short = 'l', long = "log-level")]
    log_level: Option<String>,
    /// Print version information and quit
    #[arg(short = 'v', long = "version", action = clap::ArgAction::Version)]
    version: Option<bool>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create and run a new container from an image
    Run(commands::run::RunArgs),
    /// Create a new container
    Create(commands::create::CreateArgs),
    /// Start one or more stopped containers
    Start(commands::start::StartArgs),
    /// Stop one or more running containers
    Stop(commands::stop::StopArgs),
    /// Kill one or more running containers
    Kill(commands::kill::KillArgs),
    /// Restart one or more containers
    Restart(commands::restart::RestartArgs),
    /// Remove one or more containers
    Rm(commands::rm::RmArgs),
    /// List containers
    Ps(commands::ps::PsArgs),
    /// Fetch the logs of a container
    Logs(commands::logs::LogsArgs),
    /// Execute a command in a running container
    Exec(commands::exec::ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(commands::attach::AttachArgs),
    /// Return low-level information on Docker objects
    Inspect(commands::inspect::InspectArgs),
    /// Display the running processes of a container
    Top(commands::top::TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(commands::stats::StatsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(commands::wait::WaitArgs),
    /// Rename a container
    Rename(commands::rename::RenameArgs),
    /// Pause all processes within one or more containers
    Pause(commands::pause::PauseArgs),
    /// Unpause all processes within one or more containers
    Unpause(commands::unpause::UnpauseArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(commands::cp::CpArgs),
    /// Export a container's filesystem as a tar archive
    Export(commands::export::ExportArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(commands::diff::DiffArgs),
    /// Create a new image from a container's changes
    Commit(commands::commit::CommitArgs),
    /// List port mappings or a specific mapping for the container
    Port(commands::port::PortArgs),
    /// List images
    Images(commands::images::ImagesArgs),
    /// Remove one or more images
    Rmi(commands::rmi::RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(commands::tag::TagArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(commands::save::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(commands::load::LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(commands::import::ImportArgs),
    /// Show the history of an image
    History(commands::history::HistoryArgs),
    /// Get real time events from the server
    Events(commands::events::EventsArgs),
    /// Display system-wide information
    Info(commands::info::InfoArgs),
    /// Show the Docker version information
    Version(commands::version::VersionArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCmd),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCmd),
    /// Manage Docker
    #[command(subcommand)]
    System(SystemCmd),
    /// Manage volumes
    #[command(subcommand)]
    Volume(commands::volume::VolumeCmd),
    /// Manage networks
    #[command(subcommand)]
    Network(commands::network::NetworkCmd),
}

#[derive(Subcommand, Debug)]
enum ContainerCmd {
    /// Create and run a new container from an image
    Run(commands::run::RunArgs),
    /// Create a new container
    Create(commands::create::CreateArgs),
    /// Start one or more stopped containers
    Start(commands::start::StartArgs),
    /// Stop one or more running containers
    Stop(commands::stop::StopArgs),
    /// Kill one or more running containers
    Kill(commands::kill::KillArgs),
    /// Restart one or more containers
    Restart(commands::restart::RestartArgs),
    /// Remove one or more containers
    #[command(alias = "remove")]
    Rm(commands::rm::RmArgs),
    /// List containers
    #[command(visible_alias = "ps", alias = "list")]
    Ls(commands::ps::PsArgs),
    /// Fetch the logs of a container
    Logs(commands::logs::LogsArgs),
    /// Execute a command in a running container
    Exec(commands::exec::ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(commands::attach::AttachArgs),
    /// Display detailed information on one or more containers
    Inspect(commands::inspect::TypedInspectArgs),
    /// Display the running processes of a container
    Top(commands::top::TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(commands::stats::StatsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(commands::wait::WaitArgs),
    /// Rename a container
    Rename(commands::rename::RenameArgs),
    /// Pause all processes within one or more containers
    Pause(commands::pause::PauseArgs),
    /// Unpause all processes within one or more containers
    Unpause(commands::unpause::UnpauseArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(commands::cp::CpArgs),
    /// Export a container's filesystem as a tar archive
    Export(commands::export::ExportArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(commands::diff::DiffArgs),
    /// Create a new image from a container's changes
    Commit(commands::commit::CommitArgs),
    /// List port mappings or a specific mapping for the container
    Port(commands::port::PortArgs),
    /// Remove all stopped containers
    Prune(commands::container_prune::ContainerPruneArgs),
}

#[derive(Subcommand, Debug)]
enum ImageCmd {
    /// List images
    #[command(alias = "list")]
    Ls(commands::images::ImagesArgs),
    /// Display detailed information on one or more images
    Inspect(commands::inspect::TypedInspectArgs),
    /// Remove one or more images
    #[command(alias = "remove")]
    Rm(commands::rmi::RmiArgs),
    /// Remove unused images
    Prune(commands::image_prune::ImagePruneArgs),
    /// Show the history of an image
    History(commands::history::HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(commands::tag::TagArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(commands::save::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(commands::load::LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(commands::import::ImportArgs),
}

#[derive(Subcommand, Debug)]
enum SystemCmd {
    /// Show docker disk usage
    Df(commands::system_df::DfArgs),
    /// Remove unused data
    Prune(commands::system_prune::SystemPruneArgs),
    /// Display system-wide information
    Info(commands::info::InfoArgs),
    /// Get real time events from the server
    Events(commands::events::EventsArgs),
}

/// Which flavour of error reporting a command uses: `run`/`create` prefix "berth: " and
/// exit 125, the rest print the bare message and exit 1.
fn is_run_like(cmd: &Cmd) -> bool {
    matches!(
        cmd,
        Cmd::Run(_)
            | Cmd::Create(_)
            | Cmd::Container(ContainerCmd::Run(_))
            | Cmd::Container(ContainerCmd::Create(_))
    )
}

async fn dispatch(ctx: &client::Ctx, cmd: Cmd) -> anyhow::Result<u8> {
    use commands as c;
    match cmd {
        Cmd::Run(a) | Cmd::Container(ContainerCmd::Run(a)) => c::run::run(ctx, a).await,
        Cmd::Create(a) | Cmd::Container(ContainerCmd::Create(a)) => c::create::run(ctx, a).await,
        Cmd::Start(a) | Cmd::Container(ContainerCmd::Start(a)) => c::start::run(ctx, a).await,
        Cmd::Stop(a) | Cmd::Container(ContainerCmd::Stop(a)) => c::stop::run(ctx, a).await,
        Cmd::Kill(a) | Cmd::Container(ContainerCmd::Kill(a)) => c::kill::run(ctx, a).await,
        Cmd::Restart(a) | Cmd::Container(ContainerCmd::Restart(a)) => c::restart::run(ctx, a).await,
        Cmd::Rm(a) | Cmd::Container(ContainerCmd::Rm(a)) => c::rm::run(ctx, a).await,
        Cmd::Ps(a) | Cmd::Container(ContainerCmd::Ls(a)) => c::ps::run(ctx, a).await,
        Cmd::Logs(a) | Cmd::Container(ContainerCmd::Logs(a)) => c::logs::run(ctx, a).await,
        Cmd::Exec(a) | Cmd::Container(ContainerCmd::Exec(a)) => c::exec::run(ctx, a).await,
        Cmd::Attach(a) | Cmd::Container(ContainerCmd::Attach(a)) => c::attach::run(ctx, a).await,
        Cmd::Inspect(a) => c::inspect::run(ctx, a).await,
        Cmd::Container(ContainerCmd::Inspect(a)) => {
            c::inspect::run(ctx, a.with_type("container")).await
        }
        Cmd::Image(ImageCmd::Inspect(a)) => c::inspect::run(ctx, a.with_type("image")).await,
        Cmd::Top(a) | Cmd::Container(ContainerCmd::Top(a)) => c::top::run(ctx, a).await,
        Cmd::Stats(a) | Cmd::Container(ContainerCmd::Stats(a)) => c::stats::run(ctx, a).await,
        Cmd::Wait(a) | Cmd::Container(ContainerCmd::Wait(a)) => c::wait::run(ctx, a).await,
        Cmd::Rename(a) | Cmd::Container(ContainerCmd::Rename(a)) => c::rename::run(ctx, a).await,
        Cmd::Pause(a) | Cmd::Container(ContainerCmd::Pause(a)) => c::pause::run(ctx, a).await,
        Cmd::Unpause(a) | Cmd::Container(ContainerCmd::Unpause(a)) => c::unpause::run(ctx, a).await,
        Cmd::Cp(a) | Cmd::Container(ContainerCmd::Cp(a)) => c::cp::run(ctx, a).await,
        Cmd::Export(a) | Cmd::Container(ContainerCmd::Export(a)) => c::export::run(ctx, a).await,
        Cmd::Diff(a) | Cmd::Container(ContainerCmd::Diff(a)) => c::diff::run(ctx, a).await,
        Cmd::Commit(a) | Cmd::Container(ContainerCmd::Commit(a)) => c::commit::run(ctx, a).await,
        Cmd::Port(a) | Cmd::Container(ContainerCmd::Port(a)) => c::port::run(ctx, a).await,
        Cmd::Container(ContainerCmd::Prune(a)) => c::container_prune::run(ctx, a).await,
        Cmd::Images(a) | Cmd::Image(ImageCmd::Ls(a)) => c::images::run(ctx, a).await,
        Cmd::Rmi(a) | Cmd::Image(ImageCmd::Rm(a)) => c::rmi::run(ctx, a).await,
        Cmd::Image(ImageCmd::Prune(a)) => c::image_prune::run(ctx, a).await,
        Cmd::Tag(a) | Cmd::Image(ImageCmd::Tag(a)) => c::tag::run(ctx, a).await,
        Cmd::Save(a) | Cmd::Image(ImageCmd::Save(a)) => c::save::run(ctx, a).await,
        Cmd::Load(a) | Cmd::Image(ImageCmd::Load(a)) => c::load::run(ctx, a).await,
        Cmd::Import(a) | Cmd::Image(ImageCmd::Import(a)) => c::import::run(ctx, a).await,
        Cmd::History(a) | Cmd::Image(ImageCmd::History(a)) => c::history::run(ctx, a).await,
        Cmd::Events(a) | Cmd::System(SystemCmd::Events(a)) => c::events::run(ctx, a).await,
        Cmd::Info(a) | Cmd::System(SystemCmd::Info(a)) => c::info::run(ctx, a).await,
        Cmd::Version(a) => c::version::run(ctx, a).await,
        Cmd::System(SystemCmd::Df(a)) => c::system_df::run(ctx, a).await,
        Cmd::System(SystemCmd::Prune(a)) => c::system_prune::run(ctx, a).await,
        Cmd::Volume(v) => c::volume::run(ctx, v).await,
        Cmd::Network(n) => c::network::run(ctx, n).await,
    }
}

/// The subcommand path in argv ("run", "container ls"), for usage messages.
fn command_path(args: &[String]) -> String {
    let mut words = Vec::new();
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        if a == "-H" || a == "--host" || a == "-l" || a == "--log-level" {
            it.next();
            continue;
        }
        if a.starts_with('-') {
            continue;
        }
        words.push(a.clone());
        if !matches!(
            a.as_str(),
            "container" | "image" | "system" | "volume" | "network"
        ) {
            break;
        }
    }
    words.join(" ")
}

/// Report a parse error the way cobra does: the message, the usage, a hint; exit 125
/// for flag errors and 1 for a missing argument.
fn parse_error(e: clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let argv: Vec<String> = std::env::args().collect();
    let cmd = command_path(&argv);
    let ctx_str = |k: ContextKind| match e.get(k) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => v.first().cloned(),
        _ => None,
    };
    match e.kind() {
        ErrorKind::MissingRequiredArgument | ErrorKind::MissingSubcommand if !cmd.is_empty() => {
            eprintln!("berth: 'berth {cmd}' requires at least 1 argument\n");
            eprintln!("Usage:  {}\n", client::usage_line(&cmd));
            eprintln!("See 'berth {cmd} --help' for more information");
            ExitCode::from(1)
        }
        ErrorKind::UnknownArgument => {
            let arg = ctx_str(ContextKind::InvalidArg).unwrap_or_default();
            let arg = arg.split('=').next().unwrap_or_default().to_string();
            let msg = if arg.starts_with("--") || !arg.starts_with('-') {
                if arg.starts_with('-') {
                    format!("unknown flag: {arg}")
                } else {
                    format!("unknown command: {arg}")
                }
            } else {
                format!(
                    "unknown shorthand flag: '{}' in {arg}",
                    arg.trim_start_matches('-').chars().next().unwrap_or(' ')
                )
            };
            print_usage_error(&msg, &cmd);
            ExitCode::from(125)
        }
        ErrorKind::InvalidSubcommand => {
            let sub = ctx_str(ContextKind::InvalidSubcommand).unwrap_or_default();
            eprintln!(
                "berth: unknown command: berth {sub}\n\nRun 'berth --help' for more information"
            );
            ExitCode::from(1)
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            let arg = ctx_str(ContextKind::InvalidArg).unwrap_or_default();
            let val = ctx_str(ContextKind::InvalidValue).unwrap_or_default();
            let flag = arg
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            let msg = format!(
                "invalid argument \"{val}\" for \"{flag}\" flag: {}",
                first_line(&e)
            );
            print_usage_error(&msg, &cmd);
            ExitCode::from(125)
        }
        _ => {
            print_usage_error(&first_line(&e), &cmd);
            ExitCode::from(125)
        }
    }
}

fn first_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let line = text.lines().next().unwrap_or_default();
    line.trim_start_matches("error: ").to_string()
}

fn print_usage_error(msg: &str, cmd: &str) {
    eprintln!("{msg}\n");
    if cmd.is_empty() {
        eprintln!("Run 'berth --help' for more information");
    } else {
        eprintln!("Usage:  {}\n", client::usage_line(cmd));
        eprintln!("Run 'berth {cmd} --help' for more information");
    }
}

/// Docker stops parsing flags at the first positional of `run`/`create`/`exec` (the
/// image or container), so `berth run busybox -c x` gives `-c` to the command. Clap would
/// take a known flag there; we insert `--` after that positional to say the same.
fn protect_command_args(mut argv: Vec<String>) -> Vec<String> {
    use clap::CommandFactory;
    let root = Cli::command();
    let mut cmd = &root;
    let mut i = 1;
    // Walk global flags and the subcommand path.
    while i < argv.len() {
        let a = &argv[i];
        if a == "-H" || a == "--host" || a == "-l" || a == "--log-level" {
            i += 2;
            continue;
        }
        if a.starts_with('-') {
            i += 1;
            continue;
        }
        match cmd.find_subcommand(a) {
            Some(sub) => {
                cmd = sub;
                i += 1;
                if sub.get_subcommands().next().is_none() {
                    break;
                }
            }
            None => return argv,
        }
    }
    if !matches!(cmd.get_name(), "run" | "create" | "exec") {
        return argv;
    }
    let takes_value = |long: Option<&str>, short: Option<char>| {
        cmd.get_arguments().any(|arg| {
            let hit = match (long, short) {
                (Some(l), _) => {
                    arg.get_long() == Some(l)
                        || arg.get_all_aliases().is_some_and(|a| a.contains(&l))
                }
                (_, Some(c)) => arg.get_short() == Some(c),
                _ => false,
            };
            hit && arg.get_action().takes_values()
        })
    };
    while i < argv.len() {
        let a = argv[i].clone();
        if a == "--" {
            return argv;
        }
        if let Some(long) = a.strip_prefix("--") {
            if !long.contains('=') && takes_value(Some(long), None) {
                i += 1;
            }
        } else if a.len() > 1 && a.starts_with('-') {
            let chars: Vec<char> = a[1..].chars().collect();
            for (k, c) in chars.iter().enumerate() {
                if takes_value(None, Some(*c)) {
                    if k == chars.len() - 1 {
                        i += 1;
                    }
                    break;
                }
            }
        } else {
            argv.insert(i + 1, "--".to_string());
            return argv;
        }
        i += 1;
    }
    argv
}

/// The program: parse, connect, dispatch, map errors to Docker's messages and codes.
pub fn main() -> ExitCode {
    // Like Docker (a Go program), die quietly when stdout is a closed pipe
    // (`berth ps | head -1`) instead of panicking in println!.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread exists;
    // `signal` with SIG_DFL has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let argv = protect_command_args(std::env::args().collect());
    let cli = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => return parse_error(e),
    };
    let _ = (cli.debug, &cli.log_level, cli.version);
    let run_like = is_run_like(&cli.cmd);
    let host = client::resolve_host(cli.host.as_deref());
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("failed to start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    // Resolve flags before touching the daemon, as Docker rejects bad values offline.
    if let Err(e) = validate(&cli.cmd) {
        return report(e, run_like);
    }
    let result = rt.block_on(async {
        let ctx = match cli.cmd {
            // `version` prints the client half even without a daemon.
            Cmd::Version(ref a) => match client::connect(&host).await {
                Ok(ctx) => ctx,
                Err(e) => return commands::version::client_only(a, &e),
            },
            _ => client::connect(&host).await?,
        };
        dispatch(&ctx, cli.cmd).await
    });
    // Abandon blocked stdin readers instead of waiting for them.
    rt.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => report(e, run_like),
    }
}

/// The checks of parse → resolve that need no daemon.
fn validate(cmd: &Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Run(a) | Cmd::Container(ContainerCmd::Run(a)) => {
            a.opts.resolve("run", !a.detach).map(|_| ())
        }
        Cmd::Create(a) | Cmd::Container(ContainerCmd::Create(a)) => {
            a.opts.resolve("create", false).map(|_| ())
        }
        _ => Ok(()),
    }
}

/// Print an error as Docker does and pick the exit code.
fn report(e: anyhow::Error, run_like: bool) -> ExitCode {
    if let Some(u) = client::as_usage(&e) {
        print_usage_error(&u.message, &u.cmd);
        return ExitCode::from(125);
    }
    let text = client::error_text(&e);
    let mut code = client::exit_code(&e);
    if run_like {
        if !text.is_empty() {
            let path = command_path(&std::env::args().collect::<Vec<_>>());
            let cmd = path.rsplit(' ').next().unwrap_or("run");
            eprintln!("berth: {text}");
            eprintln!();
            eprintln!("Run 'berth {cmd} --help' for more information");
        }
        if code == 1 {
            code = 125;
        }
    } else if !text.is_empty() {
        eprintln!("{text}");
    }
    ExitCode::from(code)
}
