//! `berth run`: create → attach (before start, so no output is lost) →
//! wait?condition=next-exit|removed → start → resize (TTY) → pump → exit with the wait's
//! status. This is the order Docker's CLI uses; the wait is registered before start so a
//! fast-exiting container's status cannot be missed, and with `--rm` the `removed`
//! condition makes us return only after the daemon deleted it.
//!
//! Exit codes: the container's status; 125 when the daemon or the CLI fails; 126/127 when
//! the command cannot be invoked / is not found (decided from the start error's text).

use crate::client::{daemon_message, start_failure_code, status_err, Ctx};
use crate::commands::common::{self, exit_byte, ResizeTarget};
use crate::commands::container_opts::ContainerOpts;
use crate::stream::{pump, PumpEnd};
use anyhow::Result;
use bollard::query_parameters::{AttachContainerOptions, WaitContainerOptions};
use clap::Args;
use futures_util::StreamExt;

#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    #[command(flatten)]
    pub opts: ContainerOpts,
}

pub async fn run(ctx: &Ctx, args: RunArgs) -> Result<u8> {
    let resolved = args.opts.resolve("run", !args.detach)?;
    let tty = args.opts.tty;
    let interactive = args.opts.interactive;
    if tty && interactive && !crate::tty::stdin_is_tty() {
        return Err(status_err(125, "the input device is not a TTY"));
    }

    let id = common::create(ctx, &resolved).await?;

    if args.detach {
        start(ctx, &id).await?;
        println!("{id}");
        return Ok(0);
    }

    let attach = ctx
        .docker
        .attach_container(
            &id,
            Some(AttachContainerOptions {
                stream: true,
                stdin: interactive,
                stdout: true,
                stderr: true,
                ..Default::default()
            }),
        )
        .await?;

    let condition = if args.opts.rm { "removed" } else { "next-exit" };
    let mut wait = Box::pin(ctx.docker.wait_container(
        &id,
        Some(WaitContainerOptions {
            condition: condition.into(),
        }),
    ));
    // The wait request must reach the daemon before start: poll it once in a task.
    let (wait_tx, wait_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let first = wait.next().await;
        let _ = wait_tx.send(first);
    });
    // bollard does not tell us when the wait's headers arrived; give the request a
    // moment to reach the daemon (the fallback below covers a lost race).
    tokio::time::sleep(std::time::Duration::from_millis(15)).await;

    let raw = if tty && interactive {
        crate::tty::RawGuard::enter()
    } else {
        None
    };

    if let Err(e) = start(ctx, &id).await {
        drop(raw);
        return Err(e);
    }
    let resizer = tty.then(|| common::spawn_resizer(ctx, ResizeTarget::Container(id.clone())));
    let proxy = (args.sig_proxy && !tty).then(|| spawn_sig_proxy(ctx, &id));

    let end = pump(attach.output, attach.input, interactive, tty).await;
    drop(raw);
    if let Some(r) = resizer {
        r.abort();
    }
    if let Some(p) = proxy {
        p.abort();
    }
    if end? == PumpEnd::Detached {
        return Ok(0);
    }
    let status = wait_or_inspect(ctx, &id, wait_rx).await?;
    Ok(exit_byte(status))
}

/// Start, mapping "command not found"-style failures to 126/127 as Docker does.
async fn start(ctx: &Ctx, id: &str) -> Result<()> {
    match ctx.docker.start_container(id, None).await {
        Ok(()) => Ok(()),
        Err(e) => {
            let code = daemon_message(&e).map(start_failure_code).unwrap_or(125);
            let msg = match daemon_message(&e) {
                Some(m) => format!("Error response from daemon: {m}"),
                None => e.to_string(),
            };
            Err(status_err(code, msg))
        }
    }
}

/// Forward SIGINT/SIGTERM/SIGHUP/SIGQUIT to the container (Docker's `--sig-proxy`).
pub fn spawn_sig_proxy(ctx: &Ctx, id: &str) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let docker = ctx.docker.clone();
    let id = id.to_string();
    tokio::spawn(async move {
        let kinds = [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
            (SignalKind::quit(), "SIGQUIT"),
        ];
        let (tx, mut rx) = tokio::sync::mpsc::channel::<&'static str>(8);
        for (kind, name) in kinds {
            let Ok(mut s) = signal(kind) else { continue };
            let tx = tx.clone();
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    if tx.send(name).await.is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        while let Some(name) = rx.recv().await {
            let _ = docker
                .kill_container(
                    &id,
                    Some(bollard::query_parameters::KillContainerOptions {
                        signal: name.into(),
                    }),
                )
                .await;
        }
    })
}

type WaitItem = Option<Result<bollard::models::ContainerWaitResponse, bollard::errors::Error>>;

/// The wait's answer; if it never comes although the container has exited (the wait
/// reached the daemon after the exit), the exit code from inspect.
async fn wait_or_inspect(
    ctx: &Ctx,
    id: &str,
    mut wait_rx: tokio::sync::oneshot::Receiver<WaitItem>,
) -> Result<i64> {
    let mut exited_polls = 0;
    loop {
        tokio::select! {
            r = &mut wait_rx => return common::wait_status(r.ok().flatten()),
            _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {
                match ctx.docker.inspect_container(id, None).await {
                    Ok(c) => {
                        let st = c.state.unwrap_or_default();
                        if st.running == Some(false) && st.status != Some(bollard::models::ContainerStateStatusEnum::CREATED) {
                            exited_polls += 1;
                            if exited_polls >= 4 {
                                return Ok(st.exit_code.unwrap_or(0));
                            }
                        }
                    }
                    Err(_) => {
                        exited_polls += 1;
                        if exited_polls >= 10 {
                            return Err(status_err(125, format!("Error response from daemon: No such container: {id}")));
                        }
                    }
                }
            }
        }
    }
}
