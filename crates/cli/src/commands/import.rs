//! `berth import`: create an image from a filesystem tarball (a file, or `-` for stdin)
//! and print its ID.

use crate::client::{status_err, Ctx};
use anyhow::Result;
use bollard::query_parameters::CreateImageOptions;
use clap::{ArgAction, Args};
use futures_util::StreamExt;
use std::io::Read;

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", action = ArgAction::Append)]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    #[arg(value_name = "file|URL|-")]
    pub source: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

pub async fn run(ctx: &Ctx, args: ImportArgs) -> Result<u8> {
    let (repo, tag) = match &args.reference {
        Some(r) => {
            let (n, t) = super::common::split_ref(r);
            (Some(n), Some(t))
        }
        None => (None, None),
    };
    let (from_src, body) = if args.source == "-" {
        let mut v = Vec::new();
        std::io::stdin().lock().read_to_end(&mut v)?;
        ("-".to_string(), Some(v))
    } else if args.source.starts_with("http://") || args.source.starts_with("https://") {
        (args.source.clone(), None)
    } else {
        let v = std::fs::read(&args.source).map_err(|e| {
            status_err(
                1,
                format!(
                    "open {}: {}",
                    args.source,
                    super::container_opts::io_msg(&e)
                ),
            )
        })?;
        ("-".to_string(), Some(v))
    };
    let opts = CreateImageOptions {
        from_src: Some(from_src),
        repo,
        tag,
        message: args.message.clone(),
        changes: args.change.clone(),
        platform: args.platform.clone().unwrap_or_default(),
        ..Default::default()
    };
    let mut s =
        ctx.docker
            .create_image(Some(opts), body.map(|b| bollard::body_full(b.into())), None);
    while let Some(item) = s.next().await {
        let info = item?;
        if let Some(e) = info.error_detail.and_then(|d| d.message) {
            return Err(status_err(1, e));
        }
        if let Some(st) = info.status {
            println!("{st}");
        }
    }
    Ok(0)
}
