//! `berth logs`: resolve the container (GET json, as Docker does, which also tells us
//! whether it has a TTY), then stream its logs to our stdout/stderr. The logs are a raw
//! GET (see `raw`) so `--since`/`--until` keep their fraction of a second; without a TTY
//! the body is Docker's multiplexed framing, with one it is the raw bytes.

use crate::client::{status_err, Ctx};
use crate::opts::parse_time_arg;
use crate::raw;
use crate::stream::{write_output, Demux};
use anyhow::Result;
use bollard::container::LogOutput;
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

/// A `--since`/`--until` value as Docker sends it: seconds with a nanosecond fraction.
fn time_arg(v: &Option<String>) -> Result<Option<String>> {
    v.as_deref()
        .map(|s| parse_time_arg(s, SystemTime::now()).map_err(|e| status_err(1, e)))
        .transpose()
}

pub async fn run(ctx: &Ctx, args: LogsArgs) -> Result<u8> {
    let since = time_arg(&args.since)?;
    let until = time_arg(&args.until)?;
    let info = ctx.docker.inspect_container(&args.container, None).await?;
    let tty = info.config.as_ref().and_then(|c| c.tty).unwrap_or(false);
    let id = info.id.unwrap_or(args.container);
    // Built as Docker's CLI builds it; bollard's `LogsOptions` would cut the times to
    // whole seconds.
    let mut query = String::from("stdout=1&stderr=1");
    for (key, value) in [("since", since), ("until", until)] {
        if let Some(v) = value {
            query.push_str(&format!("&{key}={}", raw::escape(&v)));
        }
    }
    if args.timestamps {
        query.push_str("&timestamps=1");
    }
    if args.follow {
        query.push_str("&follow=1");
    }
    query.push_str(&format!("&tail={}", raw::escape(&args.tail)));
    let path = format!("/containers/{}/logs?{query}", raw::escape(&id));
    let mut body = raw::get_stream(ctx, &path).await?;
    let mut demux = Demux::default();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if tty {
            write_output(LogOutput::Console { message: chunk })?;
            continue;
        }
        demux.push(&chunk);
        while let Some(frame) = demux.next_frame()? {
            write_output(frame)?;
        }
    }
    Ok(0)
}
