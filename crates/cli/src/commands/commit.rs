//! `berth commit`: a new image from a container's changes; prints the image ID.

use crate::client::Ctx;
use anyhow::Result;
use bollard::models::ContainerConfig;
use bollard::query_parameters::CommitContainerOptions;
use clap::{ArgAction, Args};

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", action = ArgAction::Append)]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, default_value_t = true, action = ArgAction::Set)]
    pub pause: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

pub async fn run(ctx: &Ctx, args: CommitArgs) -> Result<u8> {
    let (repo, tag) = match &args.reference {
        Some(r) => {
            let (n, t) = super::common::split_ref(r);
            (Some(n), Some(t))
        }
        None => (None, None),
    };
    let opts = CommitContainerOptions {
        container: Some(args.container.clone()),
        repo,
        tag,
        comment: args.message.clone(),
        author: args.author.clone(),
        pause: args.pause,
        changes: (!args.change.is_empty()).then(|| args.change.join("\n")),
    };
    let res = ctx
        .docker
        .commit_container(opts, ContainerConfig::default())
        .await?;
    println!("{}", res.id);
    Ok(0)
}
