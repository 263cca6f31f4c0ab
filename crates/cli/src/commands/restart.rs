//! `berth restart`: stop (with the grace period) and start again.

use crate::client::Ctx;
use crate::commands::multi::for_each;
use anyhow::Result;
use bollard::query_parameters::RestartContainerOptions;
use clap::Args;

#[derive(Args, Debug)]
pub struct RestartArgs {
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "timeout",
        alias = "time",
        allow_hyphen_values = true
    )]
    pub time: Option<i32>,
    /// Signal to send to the container
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: RestartArgs) -> Result<u8> {
    let opts = RestartContainerOptions {
        signal: args.signal.clone(),
        t: args.time,
    };
    for_each(&args.containers, |c| {
        let opts = opts.clone();
        async move {
            ctx.docker.restart_container(&c, Some(opts)).await?;
            Ok(Some(c))
        }
    })
    .await
}
