//! `berth rm`: delete containers (`-f` kills running ones, `-v` removes anonymous volumes).

use crate::client::Ctx;
use crate::commands::multi::for_each;
use anyhow::Result;
use bollard::query_parameters::RemoveContainerOptions;
use clap::Args;

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    pub link: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: RmArgs) -> Result<u8> {
    let opts = RemoveContainerOptions {
        v: args.volumes,
        force: args.force,
        link: args.link,
    };
    let force = args.force;
    for_each(&args.containers, |c| {
        let opts = opts.clone();
        async move {
            match ctx.docker.remove_container(&c, Some(opts)).await {
                Ok(()) => Ok(Some(c)),
                // With -f a missing container is reported but is not a failure.
                Err(e) if force && is_not_found(&e) => {
                    eprintln!("{}", crate::client::error_text(&e.into()));
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        }
    })
    .await
}

/// Whether the daemon answered 404.
pub fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}
