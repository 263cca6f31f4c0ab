//! `berth load`: post a docker-archive tar (from `-i FILE` or stdin) and print the
//! daemon's "Loaded image: …" messages.

use crate::client::{status_err, Ctx};
use anyhow::Result;
use bollard::query_parameters::ImportImageOptions;
use clap::Args;
use futures_util::StreamExt;
use std::io::Read;

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long)]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

pub async fn run(ctx: &Ctx, args: LoadArgs) -> Result<u8> {
    let data = match &args.input {
        Some(p) => std::fs::read(p).map_err(|e| {
            status_err(
                1,
                format!("open {p}: {}", super::container_opts::io_msg(&e)),
            )
        })?,
        None => {
            if crate::tty::stdin_is_tty() {
                return Err(status_err(
                    1,
                    "requested load from stdin, but stdin is empty",
                ));
            }
            let mut v = Vec::new();
            std::io::stdin().lock().read_to_end(&mut v)?;
            v
        }
    };
    let mut s = ctx.docker.import_image(
        ImportImageOptions {
            quiet: args.quiet,
            ..Default::default()
        },
        bollard::body_full(data.into()),
        None,
    );
    while let Some(item) = s.next().await {
        let info = item?;
        if let Some(e) = info.error_detail.and_then(|d| d.message) {
            return Err(status_err(1, e));
        }
        if let Some(st) = info.stream {
            print!("{st}");
        } else if let Some(st) = info.status {
            if !args.quiet {
                println!("{st}");
            }
        }
    }
    Ok(0)
}
