//! `berth top`: the container's processes as the daemon's `ps` reports them.

use crate::client::Ctx;
use anyhow::Result;
use bollard::query_parameters::TopOptions;
use clap::Args;
use std::io::Write;

#[derive(Args, Debug)]
pub struct TopArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// ps options
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: TopArgs) -> Result<u8> {
    let opts = (!args.ps_args.is_empty()).then(|| TopOptions {
        ps_args: args.ps_args.join(" "),
    });
    let top = ctx.docker.top_processes(&args.container, opts).await?;
    // Docker: tabwriter.NewWriter(out, 20, 1, 3, ' ', 0)
    let mut tw = tabwriter::TabWriter::new(Vec::new())
        .minwidth(20 - 3)
        .padding(3);
    writeln!(tw, "{}", top.titles.unwrap_or_default().join("\t"))?;
    for p in top.processes.unwrap_or_default() {
        writeln!(tw, "{}", p.join("\t"))?;
    }
    tw.flush()?;
    let buf = tw
        .into_inner()
        .map_err(|e| anyhow::anyhow!(e.to_string()))?;
    std::io::stdout().write_all(&buf)?;
    Ok(0)
}
