//! `berth rename`: give a container a new name.

use crate::client::{status_err, Ctx};
use anyhow::Result;
use bollard::query_parameters::RenameContainerOptions;
use clap::Args;

#[derive(Args, Debug)]
pub struct RenameArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,
}

pub async fn run(ctx: &Ctx, args: RenameArgs) -> Result<u8> {
    let name = args.new_name.trim();
    if name.is_empty() {
        return Err(status_err(
            1,
            "Error: neither old nor new names may be empty",
        ));
    }
    let res = ctx
        .docker
        .rename_container(
            &args.container,
            RenameContainerOptions {
                name: name.to_string(),
            },
        )
        .await;
    if let Err(e) = res {
        return Err(status_err(
            1,
            format!(
                "{}\nError: failed to rename container named {}",
                crate::client::error_text(&e.into()),
                args.container
            ),
        ));
    }
    Ok(0)
}
