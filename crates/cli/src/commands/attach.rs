//! `berth attach`: connect our stdio to a running container's streams (stdin unless
//! `--no-stdin`), with raw mode and resizes when it has a TTY; exit with its status
//! when the stream ends.

use crate::client::{status_err, Ctx};
use crate::commands::common::{self, ResizeTarget};
use crate::stream::{pump, PumpEnd};
use anyhow::Result;
use bollard::query_parameters::{AttachContainerOptions, WaitContainerOptions};
use clap::Args;
use futures_util::StreamExt;

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub async fn run(ctx: &Ctx, args: AttachArgs) -> Result<u8> {
    let info = ctx.docker.inspect_container(&args.container, None).await?;
    let id = info.id.clone().unwrap_or(args.container.clone());
    let state = info.state.clone().unwrap_or_default();
    if state.running != Some(true) {
        return Err(status_err(
            1,
            "You cannot attach to a stopped container, start it first",
        ));
    }
    if state.paused == Some(true) {
        return Err(status_err(
            1,
            "You cannot attach to a paused container, unpause it first",
        ));
    }
    let cfg = info.config.unwrap_or_default();
    let tty = cfg.tty.unwrap_or(false);
    let stdin = !args.no_stdin && cfg.open_stdin.unwrap_or(false);
    let attach = ctx
        .docker
        .attach_container(
            &id,
            Some(AttachContainerOptions {
                stream: true,
                stdin,
                stdout: true,
                stderr: true,
                ..Default::default()
            }),
        )
        .await?;
    let raw = if tty && stdin {
        crate::tty::RawGuard::enter()
    } else {
        None
    };
    let resizer = tty.then(|| common::spawn_resizer(ctx, ResizeTarget::Container(id.clone())));
    let proxy = (args.sig_proxy && !tty).then(|| super::run::spawn_sig_proxy(ctx, &id));
    let end = pump(attach.output, attach.input, stdin, tty).await;
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
    let mut w = ctx.docker.wait_container(
        &id,
        Some(WaitContainerOptions {
            condition: "not-running".into(),
        }),
    );
    let code = common::wait_status(w.next().await).unwrap_or(0);
    Ok(common::exit_byte(code))
}
