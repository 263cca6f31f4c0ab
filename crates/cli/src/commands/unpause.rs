//! `berth unpause`: thaw paused containers.

use crate::client::Ctx;
use crate::commands::multi::for_each;
use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct UnpauseArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: UnpauseArgs) -> Result<u8> {
    for_each(&args.containers, |c| async move {
        ctx.docker.unpause_container(&c).await?;
        Ok(Some(c))
    })
    .await
}
