//! `/images/…`: the image store through Docker's API.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::{json, AppState, Query};
use crate::daemon::blocking;
use crate::error::{Error, Result};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/images/json", get(list))
        .route("/images/load", axum::routing::post(load))
        .route("/images/{*name}", get(inspect_any))
}

async fn list(State(d): State<AppState>) -> Result<Response> {
    let images = d.images.clone();
    let rows = blocking(move || Ok(images.list_images()?)).await?;
    let mut by_id: std::collections::BTreeMap<String, Value> = Default::default();
    for r in rows {
        let id = r.id.to_string();
        let created = r.created.as_deref().and_then(crate::logs::parse_time).map(|n| (n / 1_000_000_000) as i64).unwrap_or(0);
        let e = by_id.entry(id.clone()).or_insert_with(|| json!({
            "Containers": -1, "Created": created, "Id": id, "Labels": null, "ParentId": "",
            "RepoDigests": [], "RepoTags": [], "SharedSize": -1, "Size": r.size, "VirtualSize": r.size,
        }));
        if let Some(name) = r.reference {
            e["RepoTags"].as_array_mut().map(|a| a.push(json!(name.to_string())));
        }
    }
    Ok(json(StatusCode::OK, Value::Array(by_id.into_values().collect())))
}

async fn inspect_any(State(d): State<AppState>, Path(name): Path<String>) -> Result<Response> {
    let Some(name) = name.strip_suffix("/json").map(str::to_owned) else {
        return Err(crate::error::Error::not_found("page not found"));
    };
    let images = d.images.clone();
    let i = blocking(move || Ok(images.inspect(&name)?)).await?;
    let config = serde_json::to_value(&i.config).unwrap_or_default();
    Ok(json(
        StatusCode::OK,
        json!({
            "Id": i.id.to_string(),
            "RepoTags": i.references.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
            "RepoDigests": [],
            "Parent": "",
            "Comment": "",
            "Created": config["created"],
            "Container": "",
            "ContainerConfig": {},
            "DockerVersion": "",
            "Author": config["author"].as_str().unwrap_or(""),
            "Config": config["config"],
            "Architecture": config["architecture"],
            "Os": config["os"],
            "Size": i.size,
            "VirtualSize": i.size,
            "GraphDriver": {"Name": "overlay2", "Data": null},
            "RootFS": {"Type": "layers", "Layers": i.diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()},
            "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
        }),
    ))
}

/// `POST /images/load`: a docker-archive or OCI layout tar as the body.
async fn load(State(d): State<AppState>, RawQuery(q): RawQuery, body: axum::body::Body) -> Result<Response> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let _quiet = Query::parse(q.as_deref()).bool("quiet");
    let tmp_dir = d.config.data_root.join("tmp");
    tokio::fs::create_dir_all(&tmp_dir).await?;
    let path = tmp_dir.join(format!("load-{}.tar", crate::daemon::random_id()));
    let mut file = tokio::fs::File::create(&path).await?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let _ = tokio::fs::remove_file(&path).await;
                return Err(Error::invalid(format!("failed to read the archive: {e}")));
            }
        };
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    drop(file);
    let images = d.images.clone();
    let p = path.clone();
    let res = blocking(move || Ok(images.import_path(&p)?)).await;
    let _ = tokio::fs::remove_file(&path).await;
    let loaded = res?;
    let mut out = String::new();
    for img in loaded {
        let line = match &img.name {
            Some(n) => format!("Loaded image: {n}\n"),
            None => format!("Loaded image ID: {}\n", img.config),
        };
        d.events.emit("image", "load", &img.config.to_string(), Default::default());
        {
            out.push_str(&serde_json::to_string(&json!({"stream": line})).unwrap_or_default());
            out.push_str("\r\n");
        }
    }
    let mut resp = Response::new(axum::body::Body::from(out));
    resp.headers_mut().insert("content-type", axum::http::HeaderValue::from_static("application/json"));
    Ok(resp)
}
