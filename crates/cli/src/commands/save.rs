//! `berth save`: images as a docker-archive tar, to `-o FILE` or a non-terminal stdout.

use crate::client::Ctx;
use anyhow::Result;
use clap::Args;
use futures_util::StreamExt;

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: SaveArgs) -> Result<u8> {
    let mut out = super::export::open_output(args.output.as_deref())?;
    let names: Vec<&str> = args.images.iter().map(String::as_str).collect();
    let mut s = ctx.docker.export_images(&names);
    while let Some(chunk) = s.next().await {
        out.write_all(&chunk?)?;
    }
    out.flush()?;
    Ok(0)
}
