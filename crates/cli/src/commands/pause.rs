//! `berth pause`: freeze all processes of containers.

use crate::client::Ctx;
use crate::commands::multi::for_each;
use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct PauseArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: PauseArgs) -> Result<u8> {
    for_each(&args.containers, |c| async move {
        ctx.docker.pause_container(&c).await?;
        Ok(Some(c))
    })
    .await
}
