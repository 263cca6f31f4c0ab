//! `berth history`: an image's layers, newest first, with Docker's columns and truncation.

use crate::client::Ctx;
use crate::format;
use anyhow::Result;
use clap::Args;
use serde_json::json;

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

const DEFAULT: &str = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

pub async fn run(ctx: &Ctx, args: HistoryArgs) -> Result<u8> {
    let hist = ctx.docker.image_history(&args.image).await?;
    let trunc = !args.no_trunc;
    let rows: Vec<_> = hist
        .iter()
        .map(|h| {
            let id = if h.id == "<missing>" || !trunc {
                h.id.clone()
            } else {
                format::short_id(&h.id)
            };
            let created_by = h.created_by.replace('\t', " ");
            let created_by = if trunc {
                format::ellipsis(&created_by, 45)
            } else {
                created_by
            };
            json!({
                "ID": id,
                "CreatedSince": if args.human { format::since_unix(h.created) } else { format::created_at(h.created) },
                "CreatedAt": format::created_at(h.created),
                "CreatedBy": created_by,
                "Size": if args.human { format::human_size(h.size as f64) } else { h.size.to_string() },
                "Comment": h.comment,
                "Tags": h.tags.join(", "),
            })
        })
        .collect();
    let fmt = match args.format.as_deref() {
        _ if args.quiet => "{{.ID}}".to_string(),
        Some("table") | None => DEFAULT.to_string(),
        Some("json") => "{{json .}}".into(),
        Some(f) => f.to_string(),
    };
    let headers = json!({
        "ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
        "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT", "Tags": "TAGS",
    });
    super::ps::render_list(&fmt, &rows, &headers)?;
    Ok(0)
}
