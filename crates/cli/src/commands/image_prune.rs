//! `berth image prune`: remove dangling images (all unused ones with `-a`).

use crate::client::{status_err, Ctx};
use crate::format::human_size;
use crate::opts::parse_filters;
use anyhow::Result;
use bollard::query_parameters::PruneImagesOptions;
use clap::{ArgAction, Args};

#[derive(Args, Debug)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", action = ArgAction::Append)]
    pub filter: Vec<String>,
}

/// Prune and print what went; returns reclaimed bytes.
pub async fn prune(ctx: &Ctx, all: bool, filter: &[String]) -> Result<(Vec<String>, i64)> {
    let mut filters = parse_filters(filter).map_err(|e| status_err(1, e))?;
    filters.insert(
        "dangling".into(),
        vec![if all { "false" } else { "true" }.into()],
    );
    let r = ctx
        .docker
        .prune_images(Some(PruneImagesOptions {
            filters: Some(filters),
        }))
        .await?;
    let mut lines = Vec::new();
    for d in r.images_deleted.unwrap_or_default() {
        if let Some(u) = d.untagged {
            lines.push(format!("untagged: {u}"));
        }
        if let Some(x) = d.deleted {
            lines.push(format!("deleted: {x}"));
        }
    }
    Ok((lines, r.space_reclaimed.unwrap_or(0)))
}

pub async fn run(ctx: &Ctx, args: ImagePruneArgs) -> Result<u8> {
    let warning = if args.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !args.force && !super::prompt::confirm(warning) {
        return Ok(0);
    }
    let (lines, space) = prune(ctx, args.all, &args.filter).await?;
    if !lines.is_empty() {
        println!("Deleted Images:");
        for l in &lines {
            println!("{l}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(space as f64));
    Ok(0)
}
