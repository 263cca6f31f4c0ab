//! `berth exec`: GET the container (Docker's name resolution, and a clear error if it is
//! not running) → create the exec → start it hijacked (or detached with `-d`) → resize
//! with a TTY → pump → GET the exec for its exit code, which becomes ours.

use crate::client::{status_err, Ctx};
use crate::commands::common::{self, ResizeTarget};
use crate::opts::{expand_env, parse_env_file};
use crate::stream::{pump, PumpEnd};
use anyhow::Result;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use clap::{ArgAction, Args};

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env", action = ArgAction::Append)]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", action = ArgAction::Append)]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(
        value_name = "COMMAND",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: ExecArgs) -> Result<u8> {
    let mut env = Vec::new();
    for f in &args.env_file {
        let content = std::fs::read_to_string(f).map_err(|e| {
            status_err(
                1,
                format!("open {f}: {}", super::container_opts::io_msg(&e)),
            )
        })?;
        env.extend(parse_env_file(&content, f).map_err(|e| status_err(1, e))?);
    }
    env.extend(args.env.iter().map(|e| expand_env(e)));
    if args.tty && args.interactive && !crate::tty::stdin_is_tty() {
        return Err(status_err(1, "the input device is not a TTY"));
    }

    let info = ctx.docker.inspect_container(&args.container, None).await?;
    let id = info.id.clone().unwrap_or(args.container.clone());
    let exec = ctx
        .docker
        .create_exec(
            &id,
            CreateExecOptions {
                attach_stdin: Some(args.interactive && !args.detach),
                attach_stdout: Some(!args.detach),
                attach_stderr: Some(!args.detach),
                tty: Some(args.tty),
                env: (!env.is_empty()).then_some(env),
                cmd: Some(args.command.clone()),
                privileged: Some(args.privileged),
                user: args.user.clone(),
                working_dir: args.workdir.clone(),
                detach_keys: None,
            },
        )
        .await?;
    let exec_id = exec.id;
    let raw = if args.tty && args.interactive && !args.detach {
        crate::tty::RawGuard::enter()
    } else {
        None
    };
    let started = ctx
        .docker
        .start_exec(
            &exec_id,
            Some(StartExecOptions {
                detach: args.detach,
                tty: args.tty,
                output_capacity: None,
            }),
        )
        .await;
    let started = match started {
        Ok(s) => s,
        Err(e) => {
            drop(raw);
            let code = crate::client::daemon_message(&e)
                .map(crate::client::start_failure_code)
                .map(|c| if c == 125 { 1 } else { c })
                .unwrap_or(1);
            return Err(status_err(code, crate::client::error_text(&e.into())));
        }
    };
    let StartExecResults::Attached { output, input } = started else {
        return Ok(0);
    };
    let resizer = args
        .tty
        .then(|| common::spawn_resizer(ctx, ResizeTarget::Exec(exec_id.clone())));
    let end = pump(output, input, args.interactive, args.tty).await;
    drop(raw);
    if let Some(r) = resizer {
        r.abort();
    }
    if end? == PumpEnd::Detached {
        return Ok(0);
    }
    let inspect = ctx.docker.inspect_exec(&exec_id).await?;
    if inspect.running == Some(true) {
        return Ok(0);
    }
    Ok(common::exit_byte(inspect.exit_code.unwrap_or(0)))
}
