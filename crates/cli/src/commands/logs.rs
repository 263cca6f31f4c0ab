//! `berth logs`: resolve the container (GET json, as Docker does, which also tells us
//! whether it has a TTY), then stream its logs to our stdout/stderr.

use crate::client::{status_err, Ctx};
use crate::opts::parse_time_arg;
use anyhow::Result;
use bollard::query_parameters::LogsOptions;
use clap::Args;
use futures_util::StreamExt;
use std::time::SystemTime;

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative
    #[arg(long)]
    pub until: Option<String>,
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

fn time_secs(v: &Option<String>) -> Result<i32> {
    match v {
        None => Ok(0),
        Some(s) => {
            let t = parse_time_arg(s, SystemTime::now()).map_err(|e| status_err(1, e))?;
            let secs: f64 = t.parse().unwrap_or(0.0);
            Ok(secs as i32)
        }
    }
}

pub async fn run(ctx: &Ctx, args: LogsArgs) -> Result<u8> {
    let since = time_secs(&args.since)?;
    let until = time_secs(&args.until)?;
    let info = ctx.docker.inspect_container(&args.container, None).await?;
    let id = info.id.unwrap_or(args.container);
    let mut s = ctx.docker.logs(
        &id,
        Some(LogsOptions {
            follow: args.follow,
            stdout: true,
            stderr: true,
            since,
            until,
            timestamps: args.timestamps,
            tail: args.tail,
        }),
    );
    while let Some(item) = s.next().await {
        crate::stream::write_output(item?)?;
    }
    Ok(0)
}
