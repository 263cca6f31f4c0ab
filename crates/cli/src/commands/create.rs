//! `berth create`: resolve the shared container flags and post the create request,
//! printing the new container's ID.

use crate::client::Ctx;
use crate::commands::common;
use crate::commands::container_opts::ContainerOpts;
use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub opts: ContainerOpts,
}

pub async fn run(ctx: &Ctx, args: CreateArgs) -> Result<u8> {
    let resolved = args.opts.resolve("create", false)?;
    let id = common::create(ctx, &resolved).await?;
    println!("{id}");
    Ok(0)
}
