//! `berth system df`: disk usage by images, containers, local volumes and build cache.

use crate::client::Ctx;
use crate::format::human_size4 as human_size;
use anyhow::Result;
use clap::Args;
use serde_json::Value;

#[derive(Args, Debug)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

fn reclaim(total: f64, reclaimable: f64) -> String {
    if total > 0.0 {
        format!(
            "{} ({}%)",
            human_size(reclaimable),
            (reclaimable * 100.0 / total) as i64
        )
    } else {
        human_size(reclaimable)
    }
}

pub async fn run(ctx: &Ctx, args: DfArgs) -> Result<u8> {
    // Raw JSON: the shape of /system/df changed across API versions and bollard's
    // model follows the newest one.
    let v: Value = serde_json::from_str(&crate::raw::get_json(ctx, "/system/df").await?)?;
    let arr = |k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let num = |x: &Value, k: &str| x.get(k).and_then(Value::as_f64).unwrap_or(0.0);

    let images = arr("Images");
    let img_total: f64 = images
        .iter()
        .map(|i| num(i, "Size") - num(i, "SharedSize").max(0.0))
        .sum::<f64>()
        + images
            .iter()
            .map(|i| num(i, "SharedSize").max(0.0))
            .fold(0.0, f64::max);
    let img_active = images.iter().filter(|i| num(i, "Containers") > 0.0).count();
    let img_active_size: f64 = images
        .iter()
        .filter(|i| num(i, "Containers") > 0.0)
        .map(|i| num(i, "Size"))
        .sum();

    let ctrs = arr("Containers");
    let c_total: f64 = ctrs.iter().map(|c| num(c, "SizeRw")).sum();
    let c_active: Vec<&Value> = ctrs
        .iter()
        .filter(|c| {
            matches!(
                c.get("State").and_then(Value::as_str),
                Some("running" | "paused" | "restarting")
            )
        })
        .collect();
    let c_active_size: f64 = c_active.iter().map(|c| num(c, "SizeRw")).sum();

    let vols = arr("Volumes");
    let vol_size = |x: &Value| {
        x.pointer("/UsageData/Size")
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
            .max(0.0)
    };
    let vol_ref = |x: &Value| {
        x.pointer("/UsageData/RefCount")
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
    };
    let v_total: f64 = vols.iter().map(vol_size).sum();
    let v_active = vols.iter().filter(|x| vol_ref(x) > 0.0).count();
    let v_reclaim: f64 = vols
        .iter()
        .filter(|x| vol_ref(x) == 0.0)
        .map(vol_size)
        .sum();

    let cache = arr("BuildCache");
    let b_total: f64 = cache.iter().map(|b| num(b, "Size")).sum();
    let b_active = cache
        .iter()
        .filter(|b| b.get("InUse").and_then(Value::as_bool) == Some(true))
        .count();
    let b_reclaim: f64 = cache
        .iter()
        .filter(|b| {
            b.get("Shared").and_then(Value::as_bool) != Some(true)
                && b.get("InUse").and_then(Value::as_bool) != Some(true)
        })
        .map(|b| num(b, "Size"))
        .sum();

    let rows = vec![
        serde_json::json!({"Type": "Images", "TotalCount": images.len().to_string(), "Active": img_active.to_string(), "Size": human_size(img_total), "Reclaimable": reclaim(img_total, (img_total - img_active_size).max(0.0))}),
        serde_json::json!({"Type": "Containers", "TotalCount": ctrs.len().to_string(), "Active": c_active.len().to_string(), "Size": human_size(c_total), "Reclaimable": reclaim(c_total, c_total - c_active_size)}),
        serde_json::json!({"Type": "Local Volumes", "TotalCount": vols.len().to_string(), "Active": v_active.to_string(), "Size": human_size(v_total), "Reclaimable": reclaim(v_total, v_reclaim)}),
        serde_json::json!({"Type": "Build Cache", "TotalCount": cache.len().to_string(), "Active": b_active.to_string(), "Size": human_size(b_total), "Reclaimable": human_size(b_reclaim)}),
    ];
    let _ = args.verbose;
    let fmt = match args.format.as_deref() {
        None | Some("table") => {
            "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}".to_string()
        }
        Some("json") => "{{json .}}".into(),
        Some(f) => f.to_string(),
    };
    let headers = serde_json::json!({"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"});
    super::ps::render_list(&fmt, &rows, &headers)?;
    Ok(0)
}
