//! `berth version`: client and server versions in Docker's layout; the client half is
//! printed even when the daemon cannot be reached (and the command then fails).

use crate::client::{status_err, Ctx};
use anyhow::Result;
use clap::Args;
use serde_json::{json, Value};

#[derive(Args, Debug)]
pub struct VersionArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

fn client_value(api: &str) -> Value {
    json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": api,
        "DefaultAPIVersion": bollard::API_DEFAULT_VERSION.to_string(),
        "Os": std::env::consts::OS,
        "Arch": match std::env::consts::ARCH { "x86_64" => "amd64", "aarch64" => "arm64", a => a },
        "Context": "default",
    })
}

fn print_client(c: &Value) {
    let s = |k: &str| c.get(k).map(crate::template::go_fmt).unwrap_or_default();
    println!("Client:");
    println!(" Version:           {}", s("Version"));
    println!(" API version:       {}", s("ApiVersion"));
    println!(" OS/Arch:           {}/{}", s("Os"), s("Arch"));
    println!(" Context:           {}", s("Context"));
}

/// Without a daemon: print the client half, then fail with the connection error.
pub fn client_only(args: &VersionArgs, e: &anyhow::Error) -> Result<u8> {
    let c = client_value(&bollard::API_DEFAULT_VERSION.to_string());
    match &args.format {
        Some(f) => {
            if let Ok(out) = crate::template::render(f, &json!({"Client": c, "Server": null})) {
                println!("{out}");
            }
        }
        None => print_client(&c),
    }
    Err(status_err(1, crate::client::error_text(e)))
}

pub async fn run(ctx: &Ctx, args: VersionArgs) -> Result<u8> {
    let v = ctx.docker.version().await?;
    let sv = serde_json::to_value(&v)?;
    let api = ctx.docker.client_version().to_string();
    let default = bollard::API_DEFAULT_VERSION.to_string();
    let shown = if api != default {
        format!("{api} (downgraded from {default})")
    } else {
        api.clone()
    };
    let mut c = client_value(&api);
    if args.format.is_none() {
        c["ApiVersion"] = json!(shown);
    }
    if let Some(f) = &args.format {
        let f = if f == "json" {
            "{{json .}}"
        } else {
            f.as_str()
        };
        let out = crate::template::render(f, &json!({"Client": c, "Server": sv}))
            .map_err(|e| status_err(1, e.to_string()))?;
        println!("{out}");
        return Ok(0);
    }
    print_client(&c);
    let s = |p: &str| {
        sv.pointer(p)
            .map(crate::template::go_fmt)
            .unwrap_or_default()
    };
    println!();
    let platform = s("/Platform/Name");
    if platform.is_empty() {
        println!("Server:");
    } else {
        println!("Server: {platform}");
    }
    println!(" Engine:");
    println!("  Version:          {}", s("/Version"));
    println!(
        "  API version:      {} (minimum version {})",
        s("/ApiVersion"),
        s("/MinAPIVersion")
    );
    println!("  Go version:       {}", s("/GoVersion"));
    println!("  Git commit:       {}", s("/GitCommit"));
    println!("  Built:            {}", ansic(&s("/BuildTime")));
    println!("  OS/Arch:          {}/{}", s("/Os"), s("/Arch"));
    println!(
        "  Experimental:     {}",
        if s("/Experimental") == "true" {
            "true"
        } else {
            "false"
        }
    );
    if let Some(comps) = sv.get("Components").and_then(Value::as_array) {
        for comp in comps {
            let name = comp
                .get("Name")
                .map(crate::template::go_fmt)
                .unwrap_or_default();
            if name == "Engine" {
                continue;
            }
            println!(" {name}:");
            println!(
                "  Version:          {}",
                comp.get("Version")
                    .map(crate::template::go_fmt)
                    .unwrap_or_default()
            );
            if let Some(d) = comp.get("Details").and_then(Value::as_object) {
                if let Some(gc) = d.get("GitCommit") {
                    println!("  GitCommit:        {}", crate::template::go_fmt(gc));
                }
            }
        }
    }
    Ok(0)
}

/// RFC 3339 to Go's `time.ANSIC` ("Thu May  7 21:09:36 2026"), as Docker prints build
/// times; anything unparsable is shown as it came.
pub fn ansic(t: &str) -> String {
    let Some(head) = t.get(..19) else {
        return t.to_string();
    };
    let Ok(st) = humantime::parse_rfc3339_weak(head) else {
        return t.to_string();
    };
    let days = st
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86400)
        .unwrap_or(0);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month: usize = head[5..7].parse().unwrap_or(1);
    let day: u32 = head[8..10].parse().unwrap_or(1);
    format!(
        "{} {} {:>2} {} {}",
        WD[(days % 7) as usize],
        MON[month.clamp(1, 12) - 1],
        day,
        &head[11..19],
        &head[..4]
    )
}
