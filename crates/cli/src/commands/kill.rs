//! `berth kill`: send a signal (SIGKILL unless `-s`).

use crate::client::Ctx;
use crate::commands::multi::for_each;
use anyhow::Result;
use bollard::query_parameters::KillContainerOptions;
use clap::Args;

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: KillArgs) -> Result<u8> {
    for_each(&args.containers, |c| {
        let signal = args.signal.clone();
        async move {
            ctx.docker
                .kill_container(&c, Some(KillContainerOptions { signal }))
                .await?;
            Ok(Some(c))
        }
    })
    .await
}
