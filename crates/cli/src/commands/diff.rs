//! `berth diff`: changed paths of a container's filesystem, "C /etc", "A /tmp/x", "D /y".

use crate::client::Ctx;
use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct DiffArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub async fn run(ctx: &Ctx, args: DiffArgs) -> Result<u8> {
    let changes = ctx.docker.container_changes(&args.container).await?;
    for c in changes.unwrap_or_default() {
        let kind = match c.kind as i64 {
            0 => "C",
            1 => "A",
            2 => "D",
            _ => "?",
        };
        println!("{kind} {}", c.path);
    }
    Ok(0)
}
