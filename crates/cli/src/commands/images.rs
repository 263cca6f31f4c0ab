//! `berth images`: one row per repository tag (untagged images as `<none>`), Docker's
//! columns `REPOSITORY TAG IMAGE ID CREATED SIZE`, sizes in decimal units, and the image
//! formatter's fields for `--format` (`.Repository .Tag .ID .Digest .CreatedSince
//! .CreatedAt .Size .Containers .VirtualSize .SharedSize .UniqueSize`).

use crate::client::{status_err, Ctx};
use crate::format;
use crate::opts::parse_filters;
use anyhow::Result;
use bollard::query_parameters::ListImagesOptions;
use clap::{ArgAction, Args};
use serde_json::json;

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", action = ArgAction::Append)]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// [REPOSITORY[:TAG]]
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

const DEFAULT: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const DEFAULT_DIGESTS: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

pub async fn run(ctx: &Ctx, args: ImagesArgs) -> Result<u8> {
    let mut filters = parse_filters(&args.filter).map_err(|e| status_err(1, e))?;
    if let Some(r) = &args.reference {
        filters
            .entry("reference".into())
            .or_default()
            .push(r.clone());
    }
    let list = ctx
        .docker
        .list_images(Some(ListImagesOptions {
            all: args.all,
            filters: (!filters.is_empty()).then_some(filters),
            ..Default::default()
        }))
        .await?;
    let trunc = !args.no_trunc;
    let mut rows = Vec::new();
    let mut seen_ids = std::collections::HashSet::new();
    for img in &list {
        let id = if trunc {
            format::short_id(&img.id)
        } else {
            img.id.clone()
        };
        let mut pairs: Vec<(String, String, String)> = Vec::new();
        let digests: Vec<String> = img.repo_digests.clone();
        for t in &img.repo_tags {
            if t == "<none>:<none>" {
                continue;
            }
            let (repo, tag) = match t.rsplit_once(':') {
                Some((r, tg)) if !tg.contains('/') => (r.to_string(), tg.to_string()),
                _ => (t.clone(), "<none>".to_string()),
            };
            let digest = digests
                .iter()
                .find(|d| d.split('@').next() == Some(repo.as_str()))
                .and_then(|d| d.split_once('@').map(|x| x.1.to_string()))
                .unwrap_or_else(|| "<none>".into());
            pairs.push((repo, tag, digest));
        }
        if pairs.is_empty() {
            match digests.first() {
                Some(d) => {
                    let (repo, dg) = d.split_once('@').unwrap_or((d, "<none>"));
                    pairs.push((repo.to_string(), "<none>".into(), dg.to_string()));
                }
                None => pairs.push(("<none>".into(), "<none>".into(), "<none>".into())),
            }
        }
        for (repo, tag, digest) in pairs {
            if args.quiet && !seen_ids.insert(id.clone()) {
                continue;
            }
            rows.push(json!({
                "Repository": repo,
                "Tag": tag,
                "ID": id,
                "Digest": digest,
                "CreatedSince": format::since_unix(img.created),
                "CreatedAt": format::created_at(img.created),
                "Size": format::human_size(img.size as f64),
                "VirtualSize": format::human_size4(img.size as f64),
                "SharedSize": if img.shared_size < 0 { "N/A".to_string() } else { format::human_size(img.shared_size as f64) },
                "UniqueSize": if img.shared_size < 0 { "N/A".to_string() } else { format::human_size((img.size - img.shared_size) as f64) },
                "Containers": if img.containers < 0 { "N/A".to_string() } else { img.containers.to_string() },
            }));
        }
    }
    let fmt = match args.format.as_deref() {
        _ if args.quiet => "{{.ID}}".to_string(),
        Some("table") | None => {
            if args.digests {
                DEFAULT_DIGESTS.into()
            } else {
                DEFAULT.into()
            }
        }
        Some("json") => "{{json .}}".into(),
        Some(f) => f.to_string(),
    };
    let headers = json!({
        "Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Digest": "DIGEST",
        "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
        "VirtualSize": "VIRTUAL SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
        "Containers": "CONTAINERS",
    });
    super::ps::render_list(&fmt, &rows, &headers)?;
    Ok(0)
}
