//! `berth inspect`: low-level JSON of containers and images. Each name is tried as a
//! container first, then as an image (unless `--type` says which), and the results print
//! as one JSON array indented with four spaces as Docker prints it, or through `-f`.
//!
//! The objects are the daemon's own JSON, re-indented without reordering (see `raw`), so
//! what berthd sends is exactly what is shown, nulls included.

use crate::client::{status_err, Ctx};
use crate::raw;
use anyhow::Result;
use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Return JSON for specified type
    #[arg(long = "type")]
    pub typ: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    pub size: bool,
    #[arg(required = true, value_name = "NAME|ID")]
    pub names: Vec<String>,
}

/// `container inspect` / `image inspect`: the same flags without `--type`.
#[derive(Args, Debug, Clone)]
pub struct TypedInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
    #[arg(required = true, value_name = "NAME|ID")]
    pub names: Vec<String>,
}

impl TypedInspectArgs {
    pub fn with_type(self, typ: &str) -> InspectArgs {
        InspectArgs {
            format: self.format,
            typ: Some(typ.to_string()),
            size: self.size,
            names: self.names,
        }
    }
}

pub async fn run(ctx: &Ctx, args: InspectArgs) -> Result<u8> {
    let typ = args.typ.as_deref().unwrap_or("");
    if !matches!(typ, "" | "container" | "image") {
        return Err(status_err(
            1,
            format!("\"{typ}\" is not a valid value for --type"),
        ));
    }
    let template = parse_format(args.format.as_deref())?;
    let mut objs: Vec<String> = Vec::new();
    let mut errors = Vec::new();
    for name in &args.names {
        match find(ctx, name, typ, args.size).await {
            Ok(Some(o)) => objs.push(o),
            Ok(None) => errors.push(match typ {
                "container" => format!("Error: No such container: {name}"),
                "image" => format!("Error: No such image: {name}"),
                _ => format!("Error: No such object: {name}"),
            }),
            Err(e) => errors.push(crate::client::error_text(&e)),
        }
    }
    print_objects(&objs, template.as_ref(), errors)
}

/// `--format` of the inspect commands: none, `json`, or a Go template.
pub fn parse_format(format: Option<&str>) -> Result<Option<crate::template::Template>> {
    Ok(match format {
        None | Some("") => None,
        Some("json") => Some(crate::template::Template::parse("{{json .}}")?),
        Some(f) => Some(
            crate::template::Template::parse(f)
                .map_err(|e| status_err(1, format!("template parsing error: {e}")))?,
        ),
    })
}

/// Prints inspected objects as Docker does (an indented JSON array, or the template
/// once per object), then the errors: exit status 1 if there were any.
pub fn print_objects(
    objs: &[String],
    template: Option<&crate::template::Template>,
    errors: Vec<String>,
) -> Result<u8> {
    match template {
        None => {
            if objs.is_empty() {
                println!("[]");
            } else {
                let body: Vec<String> = objs
                    .iter()
                    .map(|o| format!("    {}", raw::indent(o, "    ", 1)))
                    .collect();
                println!("[\n{}\n]", body.join(",\n"));
            }
        }
        Some(t) => {
            for o in objs {
                let v: serde_json::Value = serde_json::from_str(o)?;
                let out = t.execute(&v).map_err(|e| status_err(1, e.to_string()))?;
                println!("{out}");
            }
        }
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(status_err(1, errors.join("\n")))
    }
}

fn is_not_found(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<bollard::errors::Error>(),
            Some(bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                ..
            })
        )
    })
}

/// The raw JSON of a container or image named `name`.
async fn find(ctx: &Ctx, name: &str, typ: &str, size: bool) -> Result<Option<String>> {
    if typ != "image" {
        let q = if size { "?size=1" } else { "" };
        match raw::get_json(ctx, &format!("/containers/{}/json{q}", raw::escape(name))).await {
            Ok(c) => return Ok(Some(c)),
            Err(e) if is_not_found(&e) && typ.is_empty() => {}
            Err(e) => return Err(e),
        }
    }
    if typ != "container" {
        match raw::get_json(ctx, &format!("/images/{}/json", raw::escape(name))).await {
            Ok(i) => return Ok(Some(i)),
            Err(e) if is_not_found(&e) && typ.is_empty() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}
