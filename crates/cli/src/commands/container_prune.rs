//! `berth container prune`: remove all stopped containers after confirmation.

use crate::client::{status_err, Ctx};
use crate::format::human_size;
use crate::opts::parse_filters;
use anyhow::Result;
use bollard::query_parameters::PruneContainersOptions;
use clap::{ArgAction, Args};

#[derive(Args, Debug)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", action = ArgAction::Append)]
    pub filter: Vec<String>,
}

/// Prune and return (deleted IDs, reclaimed bytes).
pub async fn prune(ctx: &Ctx, filter: &[String]) -> Result<(Vec<String>, i64)> {
    let filters = parse_filters(filter).map_err(|e| status_err(1, e))?;
    let r = ctx
        .docker
        .prune_containers(Some(PruneContainersOptions {
            filters: (!filters.is_empty()).then_some(filters),
        }))
        .await?;
    Ok((
        r.containers_deleted.unwrap_or_default(),
        r.space_reclaimed.unwrap_or(0),
    ))
}

pub async fn run(ctx: &Ctx, args: ContainerPruneArgs) -> Result<u8> {
    if !args.force && !super::prompt::confirm("WARNING! This will remove all stopped containers.") {
        return Ok(0);
    }
    let (deleted, space) = prune(ctx, &args.filter).await?;
    if !deleted.is_empty() {
        println!("Deleted Containers:");
        for d in &deleted {
            println!("{d}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(space as f64));
    Ok(0)
}
