//! `berth stop`: SIGTERM, then SIGKILL after the grace period (the daemon's default
//! when `-t` is not given, so we only send `t` when asked).

use crate::client::Ctx;
use crate::commands::multi::for_each;
use anyhow::Result;
use bollard::query_parameters::StopContainerOptions;
use clap::Args;

#[derive(Args, Debug)]
pub struct StopArgs {
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

pub async fn run(ctx: &Ctx, args: StopArgs) -> Result<u8> {
    let opts = StopContainerOptions {
        signal: args.signal.clone(),
        t: args.time,
    };
    for_each(&args.containers, |c| {
        let opts = opts.clone();
        async move {
            ctx.docker.stop_container(&c, Some(opts)).await?;
            Ok(Some(c))
        }
    })
    .await
}
