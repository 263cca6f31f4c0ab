//! `berth events`: the daemon's event stream, one line per event in Docker's layout
//! `TIME TYPE ACTION ID (k=v, ...)`, or through `--format`. `--since`/`--until` accept
//! RFC 3339, unix seconds or durations, converted to unix time as Docker sends them.

use crate::client::{status_err, Ctx};
use crate::opts::{parse_filters, parse_time_arg};
use anyhow::Result;
use bollard::query_parameters::EventsOptions;
use clap::{ArgAction, Args};
use futures_util::StreamExt;
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", action = ArgAction::Append)]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
}

/// RFC 3339 with nine fractional digits, in UTC (Docker's `RFC3339NanoFixed`).
pub fn rfc3339_nano(nanos: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_nanos(nanos.max(0) as u64);
    humantime::format_rfc3339_nanos(t).to_string()
}

pub async fn run(ctx: &Ctx, args: EventsArgs) -> Result<u8> {
    let filters = parse_filters(&args.filter).map_err(|e| status_err(1, e))?;
    let now = SystemTime::now();
    let since = match &args.since {
        Some(s) => Some(parse_time_arg(s, now).map_err(|e| status_err(1, e))?),
        None => None,
    };
    let until = match &args.until {
        Some(s) => Some(parse_time_arg(s, now).map_err(|e| status_err(1, e))?),
        None => None,
    };
    let template = match args.format.as_deref() {
        None | Some("") => None,
        Some("json") => Some(crate::template::Template::parse("{{json .}}")?),
        Some(f) => Some(
            crate::template::Template::parse(f)
                .map_err(|e| status_err(1, format!("template parsing error: {e}")))?,
        ),
    };
    let mut s = ctx.docker.events(Some(EventsOptions {
        since,
        until,
        filters: (!filters.is_empty()).then_some(filters),
    }));
    while let Some(ev) = s.next().await {
        let ev = ev?;
        let mut v = serde_json::to_value(&ev)?;
        // Docker's legacy fields, which templates still use.
        if let Some(o) = v.as_object_mut() {
            let actor_id = ev
                .actor
                .as_ref()
                .and_then(|a| a.id.clone())
                .unwrap_or_default();
            o.insert(
                "status".into(),
                Value::String(ev.action.clone().unwrap_or_default()),
            );
            o.insert("id".into(), Value::String(actor_id));
            if let Some(img) = ev
                .actor
                .as_ref()
                .and_then(|a| a.attributes.as_ref())
                .and_then(|a| a.get("image"))
            {
                o.insert("from".into(), Value::String(img.clone()));
            }
            for (k, alias) in [("status", "Status"), ("id", "ID"), ("from", "From")] {
                if let Some(x) = o.get(k).cloned() {
                    o.insert(alias.into(), x);
                }
            }
        }
        let json_only = matches!(args.format.as_deref(), Some("json") | Some("{{json .}}"));
        let line = match &template {
            Some(_) if json_only => event_json(&ev),
            Some(t) => t.execute(&v).map_err(|e| status_err(1, e.to_string()))?,
            None => {
                let nanos = ev
                    .time_nano
                    .unwrap_or_else(|| ev.time.unwrap_or(0) * 1_000_000_000);
                let actor = ev.actor.clone().unwrap_or_default();
                let mut attrs: Vec<String> = actor
                    .attributes
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                attrs.sort();
                let typ = ev.typ.map(|t| t.to_string()).unwrap_or_default();
                let mut line = format!(
                    "{} {} {} {}",
                    rfc3339_nano(nanos),
                    typ,
                    ev.action.unwrap_or_default(),
                    actor.id.unwrap_or_default()
                );
                if !attrs.is_empty() {
                    line.push_str(&format!(" ({})", attrs.join(", ")));
                }
                line
            }
        };
        println!("{line}");
    }
    Ok(0)
}

/// `{{json .}}` of an event in Docker's field order (legacy fields first).
fn event_json(ev: &bollard::models::EventMessage) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let actor = ev.actor.clone().unwrap_or_default();
    let id = actor.id.clone().unwrap_or_default();
    let mut parts = Vec::new();
    let action = ev.action.clone().unwrap_or_default();
    let typ = ev.typ.map(|t| t.to_string()).unwrap_or_default();
    if typ == "container" || typ == "image" {
        parts.push(format!("\"status\":{}", q(&action)));
        parts.push(format!("\"id\":{}", q(&id)));
        if let Some(img) = actor.attributes.as_ref().and_then(|a| a.get("image")) {
            parts.push(format!("\"from\":{}", q(img)));
        }
    }
    parts.push(format!("\"Type\":{}", q(&typ)));
    parts.push(format!("\"Action\":{}", q(&action)));
    let attrs = serde_json::to_string(
        &actor
            .attributes
            .unwrap_or_default()
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>(),
    )
    .unwrap_or_default();
    parts.push(format!(
        "\"Actor\":{{\"ID\":{},\"Attributes\":{attrs}}}",
        q(&id)
    ));
    if let Some(scope) = ev.scope {
        parts.push(format!("\"scope\":{}", q(scope.as_ref())));
    }
    parts.push(format!("\"time\":{}", ev.time.unwrap_or(0)));
    parts.push(format!("\"timeNano\":{}", ev.time_nano.unwrap_or(0)));
    crate::template::go_escape(&format!("{{{}}}", parts.join(",")))
}
