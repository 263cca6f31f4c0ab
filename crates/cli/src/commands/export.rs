//! `berth export`: the container's filesystem as a tar, to `-o FILE` or stdout (never
//! to a terminal, as Docker refuses too).

use crate::client::{status_err, Ctx};
use anyhow::{Context as _, Result};
use clap::Args;
use futures_util::StreamExt;

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// Where binary output goes: a file, or stdout if it is not a terminal.
pub fn open_output(path: Option<&str>) -> Result<Box<dyn std::io::Write>> {
    match path {
        Some(p) if p != "-" => Ok(Box::new(
            std::fs::File::create(p).with_context(|| format!("failed to export to {p}"))?,
        )),
        _ => {
            if crate::tty::stdout_is_tty() {
                return Err(status_err(
                    1,
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect",
                ));
            }
            Ok(Box::new(std::io::stdout()))
        }
    }
}

pub async fn run(ctx: &Ctx, args: ExportArgs) -> Result<u8> {
    let mut out = open_output(args.output.as_deref())?;
    let mut s = ctx.docker.export_container(&args.container);
    while let Some(chunk) = s.next().await {
        out.write_all(&chunk?)?;
    }
    out.flush()?;
    Ok(0)
}
