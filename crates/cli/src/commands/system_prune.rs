//! `berth system prune`: stopped containers, then dangling (or all unused) images.
//! Networks and build cache are left to the daemon's own endpoints when berthd has them.

use crate::client::Ctx;
use crate::format::human_size;
use anyhow::Result;
use clap::{ArgAction, Args};

#[derive(Args, Debug)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long = "filter", action = ArgAction::Append)]
    pub filter: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: SystemPruneArgs) -> Result<u8> {
    let mut warn = String::from("WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n");
    if args.volumes {
        warn.push_str("  - all anonymous volumes not used by at least one container\n");
    }
    if args.all {
        warn.push_str("  - all images without at least one container associated to them\n");
    } else {
        warn.push_str("  - all dangling images\n");
    }
    warn.push_str("  - unused build cache\n");
    if !args.force && !super::prompt::confirm(&warn) {
        return Ok(0);
    }
    let (ctrs, s1) = super::container_prune::prune(ctx, &args.filter).await?;
    if !ctrs.is_empty() {
        println!("Deleted Containers:");
        for c in &ctrs {
            println!("{c}");
        }
        println!();
    }
    let (imgs, s2) = super::image_prune::prune(ctx, args.all, &args.filter).await?;
    if !imgs.is_empty() {
        println!("Deleted Images:");
        for l in &imgs {
            println!("{l}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size((s1 + s2) as f64));
    Ok(0)
}
