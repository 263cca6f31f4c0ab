//! `berth tag`: add a reference to an image.

use crate::client::Ctx;
use anyhow::Result;
use bollard::query_parameters::TagImageOptions;
use clap::Args;

#[derive(Args, Debug)]
pub struct TagArgs {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

pub async fn run(ctx: &Ctx, args: TagArgs) -> Result<u8> {
    let (repo, tag) = super::common::split_ref(&args.target);
    ctx.docker
        .tag_image(
            &args.source,
            Some(TagImageOptions {
                repo: Some(repo),
                tag: Some(tag),
            }),
        )
        .await?;
    Ok(0)
}
