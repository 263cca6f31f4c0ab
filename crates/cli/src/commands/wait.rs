//! `berth wait`: block until containers stop and print their exit codes (unconditional
//! wait, as Docker's CLI sends it).

use crate::client::{error_text, status_err, Ctx};
use crate::commands::common;
use anyhow::Result;
use clap::Args;
use futures_util::StreamExt;

#[derive(Args, Debug)]
pub struct WaitArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: WaitArgs) -> Result<u8> {
    let mut errors = Vec::new();
    for c in &args.containers {
        let mut s = ctx.docker.wait_container(c, None);
        match common::wait_status(s.next().await) {
            Ok(code) => println!("{code}"),
            Err(e) => errors.push(error_text(&e)),
        }
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(status_err(1, errors.join("\n")))
    }
}
