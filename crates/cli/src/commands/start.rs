//! `berth start`: start containers; with `-a`, attach first and exit with the status,
//! as `run` does (attach → wait → start).

use crate::client::{status_err, Ctx};
use crate::commands::common::{self, exit_byte, ResizeTarget};
use crate::stream::{pump, PumpEnd};
use anyhow::Result;
use bollard::query_parameters::{AttachContainerOptions, WaitContainerOptions};
use clap::Args;
use futures_util::StreamExt;

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: StartArgs) -> Result<u8> {
    if args.attach || args.interactive {
        if args.containers.len() > 1 {
            return Err(status_err(
                1,
                "you cannot start and attach multiple containers at once",
            ));
        }
        return start_attached(ctx, &args.containers[0], args.interactive).await;
    }
    let mut failed = Vec::new();
    for c in &args.containers {
        match ctx.docker.start_container(c, None).await {
            Ok(()) => println!("{c}"),
            Err(e) => failed.push(crate::client::error_text(&e.into())),
        }
    }
    if failed.is_empty() {
        Ok(0)
    } else {
        failed
            .push("Error: failed to start containers: ".to_string() + &args.containers.join(", "));
        Err(status_err(1, failed.join("\n")))
    }
}

async fn start_attached(ctx: &Ctx, name: &str, interactive: bool) -> Result<u8> {
    let info = ctx.docker.inspect_container(name, None).await?;
    let id = info.id.unwrap_or_else(|| name.to_string());
    let tty = info.config.as_ref().and_then(|c| c.tty).unwrap_or(false);
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
    let mut wait = Box::pin(ctx.docker.wait_container(
        &id,
        Some(WaitContainerOptions {
            condition: "next-exit".into(),
        }),
    ));
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let _ = tx.send(wait.next().await);
    });
    tokio::time::sleep(std::time::Duration::from_millis(15)).await;
    let raw = if tty && interactive {
        crate::tty::RawGuard::enter()
    } else {
        None
    };
    ctx.docker.start_container(&id, None).await?;
    let resizer = tty.then(|| common::spawn_resizer(ctx, ResizeTarget::Container(id.clone())));
    let end = pump(attach.output, attach.input, interactive, tty).await;
    drop(raw);
    if let Some(r) = resizer {
        r.abort();
    }
    if end? == PumpEnd::Detached {
        return Ok(0);
    }
    let status = common::wait_status(rx.await.ok().flatten())?;
    Ok(exit_byte(status))
}
