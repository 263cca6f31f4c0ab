//! `berth ps`: list containers with Docker's columns, truncation and `--format` fields.
//!
//! Each container becomes a JSON object with the field names of Docker's container
//! formatter (`.ID .Image .Command .CreatedAt .RunningFor .Ports .Status .Names .Labels
//! .Label "k" .Size .State .Mounts .Networks`), which the template engine then renders;
//! the default table is just the template
//! `table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}`.

use crate::client::{status_err, Ctx};
use crate::format::{self, Port};
use crate::opts::parse_filters;
use anyhow::Result;
use bollard::models::ContainerSummary;
use bollard::query_parameters::ListContainersOptions;
use clap::{ArgAction, Args};
use serde_json::{json, Map, Value};

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", action = ArgAction::Append)]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_hyphen_values = true)]
    pub last: i32,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
}

pub const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

pub async fn run(ctx: &Ctx, args: PsArgs) -> Result<u8> {
    let filters = parse_filters(&args.filter).map_err(|e| status_err(1, e))?;
    let limit = if args.latest { 1 } else { args.last };
    let fmt = match args.format.as_deref() {
        Some("table") => {
            if args.size {
                format!("{DEFAULT_TABLE}\t{{{{.Size}}}}")
            } else {
                DEFAULT_TABLE.into()
            }
        }
        Some("json") => "{{json .}}".to_string(),
        Some(f) => f.to_string(),
        None if args.quiet => "{{.ID}}".to_string(),
        None if args.size => format!("{DEFAULT_TABLE}\t{{{{.Size}}}}"),
        None => DEFAULT_TABLE.to_string(),
    };
    let fmt = if args.quiet && args.format.is_none() {
        "{{.ID}}".to_string()
    } else {
        fmt
    };
    // Size is expensive for the daemon: only ask when it will be shown.
    let want_size = args.size || fmt.contains(".Size");
    let list = ctx
        .docker
        .list_containers(Some(ListContainersOptions {
            all: args.all || limit > 0,
            limit: (limit > 0).then_some(limit),
            size: want_size,
            filters: (!filters.is_empty()).then_some(filters),
        }))
        .await?;
    let mut rows: Vec<Value> = list.iter().map(|c| context(c, !args.no_trunc)).collect();
    if fmt == "{{json .}}" {
        // `Label` is a method in Docker's formatter, not a field; `Platform` is a field.
        for r in rows.iter_mut() {
            if let Some(o) = r.as_object_mut() {
                o.remove("Label");
                o.insert("Platform".into(), Value::Null);
            }
        }
    }
    render_list(&fmt, &rows, &headers())?;
    Ok(0)
}

/// The header row of a table: each field's column title.
pub fn headers() -> Value {
    json!({
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
        "RunningFor": "CREATED", "Ports": "PORTS", "Status": "STATUS", "Names": "NAMES",
        "Labels": "LABELS", "Label": {}, "Size": "SIZE", "State": "STATE", "Mounts": "MOUNTS",
        "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES", "Platform": "PLATFORM",
    })
}

/// Render rows with a `--format` template; a `table` prefix adds a header row and
/// aligns columns with Docker's tabwriter settings.
pub fn render_list(fmt: &str, rows: &[Value], headers: &Value) -> Result<()> {
    let (table, body) = match fmt.strip_prefix("table") {
        Some(rest) => (true, rest.trim_start().to_string()),
        None => (false, fmt.to_string()),
    };
    let body = body.replace("\\t", "\t").replace("\\n", "\n");
    let t = crate::template::Template::parse(&body)
        .map_err(|e| status_err(1, format!("template parsing error: {e}")))?;
    let mut out = Vec::new();
    if table {
        // Header cells: every field name renders as its title (a `.Label "k"` as "k").
        let mut headers = headers.clone();
        if let Some(o) = headers.as_object_mut() {
            let mut labels = Map::new();
            for part in body.split(".Label \"").skip(1) {
                if let Some(end) = part.find('"') {
                    let k = &part[..end];
                    labels.insert(k.to_string(), json!(k));
                }
            }
            o.insert("Label".into(), Value::Object(labels));
        }
        let h = t.execute(&headers).unwrap_or_default();
        let h = h.replace("<no value>", "");
        out.push(h);
    }
    for r in rows {
        out.push(t.execute(r).map_err(|e| status_err(1, e.to_string()))?);
    }
    if table {
        format::print_table(&out)?;
    } else {
        use std::io::Write;
        let mut so = std::io::stdout().lock();
        for l in out {
            writeln!(so, "{l}")?;
        }
    }
    Ok(())
}

/// The formatter object of one container.
pub fn context(c: &ContainerSummary, trunc: bool) -> Value {
    let id = c.id.clone().unwrap_or_default();
    let mut image = c.image.clone().unwrap_or_default();
    if trunc && image.starts_with("sha256:") {
        image = format::short_id(&image);
    }
    let command = c.command.clone().unwrap_or_default();
    let command = if trunc {
        format::ellipsis(&command, 20)
    } else {
        command
    };
    let created = c.created.unwrap_or(0);
    let ports: Vec<Port> = c
        .ports
        .iter()
        .flatten()
        .map(|p| Port {
            ip: p.ip.clone().unwrap_or_default(),
            private: p.private_port,
            public: p.public_port,
            proto: p
                .typ
                .map(|t| t.to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "tcp".into()),
        })
        .collect();
    let labels = serde_json::to_value(c.labels.clone().unwrap_or_default()).unwrap_or(Value::Null);
    let mut size = format::human_size(c.size_rw.unwrap_or(0) as f64);
    if let Some(root) = c.size_root_fs.filter(|r| *r > 0) {
        size = format!("{size} (virtual {})", format::human_size(root as f64));
    }
    let networks: Vec<String> = c
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .map(|n| {
            let mut v: Vec<String> = n.keys().cloned().collect();
            v.sort();
            v
        })
        .unwrap_or_default();
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .flatten()
        .map(|m| {
            let name = m
                .name
                .clone()
                .filter(|s| !s.is_empty())
                .or(m.source.clone())
                .unwrap_or_default();
            if trunc {
                format::ellipsis(&name, 15)
            } else {
                name
            }
        })
        .collect();
    let mut o = Map::new();
    o.insert(
        "ID".into(),
        json!(if trunc { format::short_id(&id) } else { id }),
    );
    o.insert("Image".into(), json!(image));
    o.insert(
        "Command".into(),
        json!(serde_json::to_string(&command).unwrap_or_default()),
    );
    o.insert("CreatedAt".into(), json!(format::created_at(created)));
    o.insert("RunningFor".into(), json!(format::since_unix(created)));
    o.insert("Ports".into(), json!(format::display_ports(&ports)));
    o.insert("Status".into(), json!(c.status.clone().unwrap_or_default()));
    o.insert(
        "State".into(),
        json!(c.state.map(|s| s.to_string()).unwrap_or_default()),
    );
    o.insert(
        "Names".into(),
        json!(format::container_names(c.names.as_deref().unwrap_or(&[]))),
    );
    o.insert("Labels".into(), json!(format::labels_string(&labels)));
    o.insert("Label".into(), labels);
    o.insert("Size".into(), json!(size));
    o.insert("Mounts".into(), json!(mounts.join(",")));
    o.insert("Networks".into(), json!(networks.join(",")));
    o.insert(
        "LocalVolumes".into(),
        json!(c
            .mounts
            .iter()
            .flatten()
            .filter(|m| m.driver.as_deref() == Some("local"))
            .count()
            .to_string()),
    );
    Value::Object(o)
}
