//! `berth rmi`: remove images, printing "Untagged: …" / "Deleted: …" lines.

use crate::client::{error_text, status_err, Ctx};
use anyhow::Result;
use bollard::query_parameters::RemoveImageOptions;
use clap::Args;

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: RmiArgs) -> Result<u8> {
    let mut errors = Vec::new();
    for i in &args.images {
        let res = ctx
            .docker
            .remove_image(
                i,
                Some(RemoveImageOptions {
                    force: args.force,
                    noprune: args.no_prune,
                    ..Default::default()
                }),
                None,
            )
            .await;
        match res {
            Ok(items) => {
                for it in items {
                    if let Some(u) = it.untagged {
                        println!("Untagged: {u}");
                    }
                    if let Some(d) = it.deleted {
                        println!("Deleted: {d}");
                    }
                }
            }
            Err(e) if args.force && super::rm::is_not_found(&e) => {
                eprintln!("{}", error_text(&e.into()))
            }
            Err(e) => errors.push(error_text(&e.into())),
        }
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(status_err(1, errors.join("\n")))
    }
}
