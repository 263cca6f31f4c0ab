//! `berth volume create|ls|inspect|rm|prune`: Docker's volume commands and output
//! (`ls` columns `DRIVER    VOLUME NAME`, names sorted; `inspect` the daemon's JSON
//! indented as Docker prints it, or through `-f`).

use std::collections::HashMap;

use crate::client::{error_text, status_err, Ctx};
use crate::format::{human_size, labels_string};
use crate::opts::parse_filters;
use crate::raw;
use anyhow::Result;
use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::{ListVolumesOptions, PruneVolumesOptions, RemoveVolumeOptions};
use clap::{ArgAction, Args, Subcommand};
use serde_json::{json, Value};

#[derive(Subcommand, Debug)]
pub enum VolumeCmd {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, default_value = "local")]
    pub driver: String,
    /// Specify volume name
    #[arg(long = "name")]
    pub name_flag: Option<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", action = ArgAction::Append)]
    pub opt: Vec<String>,
    /// Set metadata for a volume
    #[arg(long, action = ArgAction::Append)]
    pub label: Vec<String>,
    #[arg(value_name = "VOLUME")]
    pub name: Option<String>,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Only display volume names
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long = "filter", action = ArgAction::Append)]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true, value_name = "VOLUME")]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true, value_name = "VOLUME")]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter", action = ArgAction::Append)]
    pub filter: Vec<String>,
}

pub async fn run(ctx: &Ctx, cmd: VolumeCmd) -> Result<u8> {
    match cmd {
        VolumeCmd::Create(a) => create(ctx, a).await,
        VolumeCmd::Ls(a) => ls(ctx, a).await,
        VolumeCmd::Inspect(a) => inspect(ctx, a).await,
        VolumeCmd::Rm(a) => rm(ctx, a).await,
        VolumeCmd::Prune(a) => prune(ctx, a).await,
    }
}

fn key_values(items: &[String], what: &str) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for i in items {
        match i.split_once('=') {
            Some((k, v)) => out.insert(k.to_owned(), v.to_owned()),
            None if what == "label" => out.insert(i.clone(), String::new()),
            None => {
                return Err(status_err(
                    125,
                    format!("invalid argument \"{i}\" for \"-o, --opt\" flag: invalid key/value pair format in driver options"),
                ))
            }
        };
    }
    Ok(out)
}

async fn create(ctx: &Ctx, a: CreateArgs) -> Result<u8> {
    if a.name.is_some() && a.name_flag.is_some() {
        return Err(status_err(
            1,
            "conflicting options: either specify --name or provide positional arg, not both",
        ));
    }
    let req = VolumeCreateRequest {
        name: a.name.or(a.name_flag),
        driver: Some(a.driver),
        driver_opts: Some(key_values(&a.opt, "opt")?),
        labels: Some(key_values(&a.label, "label")?),
        ..Default::default()
    };
    let v = ctx.docker.create_volume(req).await?;
    println!("{}", v.name);
    Ok(0)
}

async fn ls(ctx: &Ctx, a: LsArgs) -> Result<u8> {
    let filters = parse_filters(&a.filter).map_err(|e| status_err(1, e))?;
    let r = ctx
        .docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(filters),
        }))
        .await?;
    let mut vols: Vec<Value> = r
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| serde_json::to_value(v).unwrap_or_default())
        .collect();
    vols.sort_by(|x, y| x["Name"].as_str().cmp(&y["Name"].as_str()));
    let rows: Vec<Value> = vols
        .iter()
        .map(|v| {
            json!({
                "Name": v["Name"],
                "Driver": v["Driver"],
                "Scope": v["Scope"],
                "Mountpoint": v["Mountpoint"],
                "Labels": labels_string(&v["Labels"]),
                "CreatedAt": v["CreatedAt"],
                "Links": "N/A",
                "Size": "N/A",
            })
        })
        .collect();
    let fmt = match a.format.as_deref() {
        _ if a.quiet => "{{.Name}}".to_string(),
        Some("table") | None => "table {{.Driver}}\t{{.Name}}".to_string(),
        Some("json") => "{{json .}}".into(),
        Some(f) => f.to_string(),
    };
    let headers = json!({
        "Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
        "Labels": "LABELS", "CreatedAt": "CREATED", "Links": "LINKS", "Size": "SIZE",
    });
    super::ps::render_list(&fmt, &rows, &headers)?;
    Ok(0)
}

async fn inspect(ctx: &Ctx, a: InspectArgs) -> Result<u8> {
    let template = super::inspect::parse_format(a.format.as_deref())?;
    let mut objs = Vec::new();
    let mut errors = Vec::new();
    for name in &a.names {
        match raw::get_json(ctx, &format!("/volumes/{}", raw::escape(name))).await {
            Ok(o) => objs.push(o),
            Err(e) => errors.push(error_text(&e)),
        }
    }
    super::inspect::print_objects(&objs, template.as_ref(), errors)
}

async fn rm(ctx: &Ctx, a: RmArgs) -> Result<u8> {
    let mut errors = Vec::new();
    for name in &a.names {
        let res = ctx
            .docker
            .remove_volume(name, Some(RemoveVolumeOptions { force: a.force }))
            .await;
        match res {
            Ok(()) => println!("{name}"),
            Err(e) => errors.push(error_text(&e.into())),
        }
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(status_err(1, errors.join("\n")))
    }
}

async fn prune(ctx: &Ctx, a: PruneArgs) -> Result<u8> {
    let mut filters = parse_filters(&a.filter).map_err(|e| status_err(1, e))?;
    if a.all {
        filters.insert("all".into(), vec!["true".into()]);
    }
    // berthd speaks API 1.41, where prune removes every unused volume.
    let warning = "WARNING! This will remove all local volumes not used by at least one container.";
    if !a.force && !super::prompt::confirm(warning) {
        return Ok(0);
    }
    let r = ctx
        .docker
        .prune_volumes(Some(PruneVolumesOptions {
            filters: Some(filters),
        }))
        .await?;
    let deleted = r.volumes_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Volumes:");
        for v in &deleted {
            println!("{v}");
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        human_size(r.space_reclaimed.unwrap_or(0) as f64)
    );
    Ok(0)
}
