//! `/volumes/…`: create, list, inspect, remove and prune, in Docker's JSON.
//!
//! Prune follows API 1.41 (the version berthd reports): every unused volume goes,
//! named or anonymous, unless a `label` filter holds it back.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{json, parse_json, AppState, Query};
use crate::daemon::{blocking, Daemon};
use crate::error::{Error, Result};
use crate::volume::{CreateVolume, Volume};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove))
}

/// The body of `POST /volumes/create`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    driver: Option<String>,
    #[serde(default)]
    driver_opts: Option<BTreeMap<String, String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// A volume as Docker's API shows it.
fn volume_json(d: &Daemon, v: &Volume) -> Value {
    json!({
        "CreatedAt": v.created_at,
        "Driver": v.driver,
        "Labels": v.labels,
        "Mountpoint": d.volumes.mountpoint(&v.name),
        "Name": v.name,
        "Options": v.options,
        "Scope": "local",
    })
}

/// `Volumes` of `GET /system/df`: each volume with its size and how many
/// containers use it (blocking).
pub fn df_volumes(d: &Daemon) -> Value {
    Value::Array(
        d.volumes
            .list()
            .iter()
            .map(|v| {
                let mut j = volume_json(d, v);
                j["UsageData"] = json!({
                    "Size": d.volumes.size(&v.name),
                    "RefCount": d.volume_users(&v.name).len(),
                });
                j
            })
            .collect(),
    )
}

async fn create(State(d): State<AppState>, body: Bytes) -> Result<Response> {
    let b: CreateBody = parse_json(&body)?;
    let req = CreateVolume {
        name: b.name,
        driver: b.driver,
        options: b.driver_opts.unwrap_or_default(),
        labels: b.labels.unwrap_or_default(),
    };
    let store = d.volumes.clone();
    let v = blocking(move || store.create(req)).await?;
    Ok(json(StatusCode::CREATED, volume_json(&d, &v)))
}

/// Whether `labels` satisfy the `label` filter values (`key` or `key=value`);
/// networks filter the same way.
pub(super) fn labels_match(labels: &BTreeMap<String, String>, wanted: &[String]) -> bool {
    wanted.iter().all(|w| match w.split_once('=') {
        Some((k, val)) => labels.get(k).is_some_and(|x| x == val),
        None => labels.contains_key(w.as_str()),
    })
}

fn truthy(values: &[String]) -> Result<bool> {
    match values.last().map(String::as_str) {
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        other => Err(Error::invalid(format!(
            "invalid filter 'dangling={}'",
            other.unwrap_or("")
        ))),
    }
}

async fn list(State(d): State<AppState>, RawQuery(q): RawQuery) -> Result<Response> {
    let filters = Query::parse(q.as_deref()).filters()?;
    for key in filters.keys() {
        if !matches!(key.as_str(), "name" | "label" | "dangling" | "driver") {
            return Err(Error::invalid(format!("invalid filter '{key}'")));
        }
    }
    let dangling = filters.get("dangling").map(|v| truthy(v)).transpose()?;
    let mut out = Vec::new();
    for v in d.volumes.list() {
        if let Some(names) = filters.get("name") {
            if !names.iter().any(|n| v.name.contains(n.as_str())) {
                continue;
            }
        }
        if let Some(drivers) = filters.get("driver") {
            if !drivers.contains(&v.driver) {
                continue;
            }
        }
        if let Some(labels) = filters.get("label") {
            if !labels_match(&v.labels, labels) {
                continue;
            }
        }
        if let Some(want) = dangling {
            if d.volume_users(&v.name).is_empty() != want {
                continue;
            }
        }
        out.push(volume_json(&d, &v));
    }
    Ok(json(
        StatusCode::OK,
        json!({"Volumes": out, "Warnings": []}),
    ))
}

async fn inspect(State(d): State<AppState>, Path(name): Path<String>) -> Result<Response> {
    let v = d.volumes.get(&name)?;
    Ok(json(StatusCode::OK, volume_json(&d, &v)))
}

async fn remove(
    State(d): State<AppState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let force = Query::parse(q.as_deref()).bool("force");
    if let Err(e) = d.volumes.get(&name) {
        if force {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        return Err(e);
    }
    let users = d.volume_users(&name);
    if !users.is_empty() {
        return Err(Error::conflict(format!(
            "remove {name}: volume is in use - [{}]",
            users.join(", ")
        )));
    }
    let store = d.volumes.clone();
    blocking(move || store.remove(&name)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn prune(State(d): State<AppState>, RawQuery(q): RawQuery) -> Result<Response> {
    let filters = Query::parse(q.as_deref()).filters()?;
    let mut with = Vec::new();
    let mut without = Vec::new();
    for (key, values) in &filters {
        match key.as_str() {
            "label" => with.extend(values.iter().cloned()),
            "label!" => without.extend(values.iter().cloned()),
            // API ≥ 1.42 prunes only anonymous volumes unless `all`; at 1.41 all
            // unused volumes go either way.
            "all" => {}
            other => return Err(Error::invalid(format!("invalid filter '{other}'"))),
        }
    }
    let mut deleted = Vec::new();
    let mut reclaimed: i64 = 0;
    for v in d.volumes.list() {
        if !labels_match(&v.labels, &with) {
            continue;
        }
        if without
            .iter()
            .any(|w| labels_match(&v.labels, std::slice::from_ref(w)))
        {
            continue;
        }
        if !d.volume_users(&v.name).is_empty() {
            continue;
        }
        let store = d.volumes.clone();
        let name = v.name.clone();
        let size = blocking(move || {
            let size = store.size(&name);
            store.remove(&name)?;
            Ok(size)
        })
        .await;
        match size {
            Ok(size) => {
                reclaimed += size;
                deleted.push(v.name);
            }
            Err(e) => tracing::warn!("prune: volume {}: {e}", v.name),
        }
    }
    Ok(json(
        StatusCode::OK,
        json!({"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed}),
    ))
}
