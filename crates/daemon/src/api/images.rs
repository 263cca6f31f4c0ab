//! `/images/…`, `/commit` and `/system/df`: the image store through Docker's API.
//!
//! Names go out as Docker displays them (`busybox:latest`, not
//! `docker.io/library/busybox:latest`). An image nobody named (a `docker
//! commit` or `docker import` without a repository) is a dangling image, kept
//! by a lease in the store (see `berth_image::commit`) and listed as
//! `<none>:<none>`, as API 1.41 does. Removal follows Docker's rules: the last
//! name of an image a container uses is only removed with `force`, an image ID
//! with several names needs `force`, and an image a running container uses
//! cannot be removed at all.

use std::collections::BTreeMap;
use std::io::Write;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_image::snapshot::Snapshotter;
use berth_image::{CommitOptions, Digest, ImageInspect, Reference};
use serde_json::{json, Value};

use super::{json, AppState, Query};
use crate::container::model::Status;
use crate::daemon::{blocking, Daemon};
use crate::error::{Error, Result};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/images/json", get(list))
        .route("/images/load", post(load))
        .route("/images/get", get(save_many))
        .route("/images/prune", post(prune))
        .route("/images/create", post(create))
        .route(
            "/images/{*name}",
            get(get_any).post(post_any).delete(remove),
        )
        .route("/commit", post(commit))
        .route("/system/df", get(system_df))
}

/// Every value of a repeated query parameter (`names=a&names=b`, `changes=…`).
fn all_values(q: Option<&str>, key: &str) -> Vec<String> {
    q.unwrap_or("")
        .split('&')
        .flat_map(|pair| Query::parse(Some(pair)).0.into_iter())
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .collect()
}

fn unix(created: Option<&str>) -> i64 {
    created
        .and_then(crate::logs::parse_time)
        .map(|n| (n / 1_000_000_000) as i64)
        .unwrap_or(0)
}

/// `sha256:abc…` → `abc…` cut to 12, as Docker's error messages show ids.
fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

fn name_attrs(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("name".to_owned(), name.to_owned())])
}

/// The containers (any state) whose image is `id`: `(container id, status)`.
fn users(d: &Daemon, id: &Digest) -> Vec<(String, Status)> {
    let id = id.to_string();
    d.all()
        .into_iter()
        .map(|e| e.snapshot())
        .filter(|r| r.image_id == id)
        .map(|r| (r.id, r.state.status))
        .collect()
}

/// An image by name, digest or ID, dangling images included.
fn inspect_image(d: &Daemon, input: &str) -> Result<ImageInspect> {
    let (manifest, refs) = d.images.resolve_image(input).map_err(|e| {
        if e.kind() == berth_image::ErrorKind::NotFound {
            Error::not_found(format!("No such image: {input}"))
        } else {
            e.into()
        }
    })?;
    Ok(d.images.inspect_manifest(&manifest, refs)?)
}

/// The raw image config JSON of an image ID.
fn raw_config(d: &Daemon, id: &Digest) -> Result<Value> {
    let data = d
        .images
        .content()
        .read_verified(id)
        .map_err(berth_image::StoreError::from)?;
    serde_json::from_slice(&data)
        .map_err(|e| Error::internal(format!("image config {id} is invalid: {e}")))
}

// ------------------------------------------------------------------ list

/// Simple glob (`*`, `?`) as Go's `path.Match` for names without `/` classes.
fn glob(pattern: &str, s: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => {
                (0..=s.len()).any(|i| !s[..i].contains(&b'/') && go(rest, &s[i..]))
            }
            Some((b'?', rest)) => s.first().is_some_and(|&c| c != b'/') && go(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    go(pattern.as_bytes(), s.as_bytes())
}

/// Docker's `reference` filter: the pattern against the familiar name, and
/// against `name:tag` when it has a tag.
fn reference_matches(pattern: &str, r: &Reference) -> bool {
    let name = r.familiar_name();
    if glob(pattern, &name) || glob(pattern, &r.familiar()) {
        return true;
    }
    // `busybox` also matches `docker.io/library/busybox`.
    glob(pattern, &r.name()) || glob(pattern, &r.to_string())
}

fn label_matches(labels: &Value, filters: &[String]) -> bool {
    filters.iter().all(|f| match f.split_once('=') {
        Some((k, v)) => labels.get(k).and_then(Value::as_str) == Some(v),
        None => labels.get(f.as_str()).is_some(),
    })
}

struct Row {
    inspect: ImageInspect,
    created: i64,
    labels: Value,
    dangling: bool,
}

fn all_images(d: &Daemon) -> Result<Vec<Row>> {
    let mut manifests: BTreeMap<Digest, Vec<Reference>> = BTreeMap::new();
    for (r, rec) in d
        .images
        .metadata()
        .list()
        .map_err(berth_image::StoreError::from)?
    {
        manifests.entry(rec.manifest).or_default().push(r);
    }
    let mut rows = Vec::new();
    for (manifest, refs) in manifests {
        rows.push((manifest, refs, false));
    }
    for (_, manifest) in d.images.dangling()? {
        rows.push((manifest, Vec::new(), true));
    }
    let mut out: Vec<Row> = Vec::new();
    for (manifest, refs, dangling) in rows {
        let inspect = d.images.inspect_manifest(&manifest, refs)?;
        // Two manifests of one config are one image to Docker.
        if let Some(existing) = out.iter_mut().find(|r| r.inspect.id == inspect.id) {
            existing.inspect.references.extend(inspect.references);
            existing.dangling &= dangling;
            continue;
        }
        let config = raw_config(d, &inspect.id)?;
        out.push(Row {
            created: unix(config["created"].as_str()),
            labels: config["config"]["Labels"].clone(),
            inspect,
            dangling,
        });
    }
    Ok(out)
}

fn repo_tags(refs: &[Reference]) -> Value {
    if refs.is_empty() {
        return json!(["<none>:<none>"]);
    }
    json!(refs.iter().map(Reference::familiar).collect::<Vec<_>>())
}

async fn list(State(d): State<AppState>, RawQuery(q): RawQuery) -> Result<Response> {
    let q = Query::parse(q.as_deref());
    let filters = q.filters()?;
    for key in filters.keys() {
        if !matches!(
            key.as_str(),
            "dangling" | "reference" | "label" | "before" | "since"
        ) {
            return Err(Error::invalid(format!("invalid filter '{key}'")));
        }
    }
    let out = blocking(move || {
        let rows = all_images(&d)?;
        let by_id = |input: &str| -> Result<i64> {
            let i = inspect_image(&d, input)?;
            Ok(rows.iter().find(|r| r.inspect.id == i.id).map_or(0, |r| r.created))
        };
        let before = filters.get("before").and_then(|v| v.first()).map(|v| by_id(v)).transpose()?;
        let since = filters.get("since").and_then(|v| v.first()).map(|v| by_id(v)).transpose()?;
        let mut out = Vec::new();
        for row in &rows {
            if let Some(v) = filters.get("dangling").and_then(|v| v.first()) {
                let want = matches!(v.as_str(), "true" | "1" | "True");
                if row.dangling != want {
                    continue;
                }
            }
            let mut refs = row.inspect.references.clone();
            if let Some(patterns) = filters.get("reference") {
                refs.retain(|r| patterns.iter().any(|p| reference_matches(p, r)));
                if refs.is_empty() {
                    continue;
                }
            }
            if let Some(labels) = filters.get("label") {
                if !label_matches(&row.labels, labels) {
                    continue;
                }
            }
            if before.is_some_and(|b| row.created >= b) || since.is_some_and(|s| row.created <= s) {
                continue;
            }
            let id = row.inspect.id.to_string();
            out.push((
                row.created,
                json!({
                    "Containers": -1,
                    "Created": row.created,
                    "Id": id,
                    "Labels": row.labels,
                    "ParentId": "",
                    "RepoDigests": if refs.is_empty() { json!(["<none>@<none>"]) } else { json!([]) },
                    "RepoTags": repo_tags(&refs),
                    "SharedSize": -1,
                    "Size": row.inspect.size,
                    "VirtualSize": row.inspect.size,
                }),
            ));
        }
        out.sort_by_key(|b| std::cmp::Reverse(b.0));
        Ok(out.into_iter().map(|(_, v)| v).collect::<Vec<_>>())
    })
    .await?;
    Ok(json(StatusCode::OK, Value::Array(out)))
}

// ------------------------------------------------------------------ GET/POST /images/{name}/…

async fn get_any(State(d): State<AppState>, Path(name): Path<String>) -> Result<Response> {
    if let Some(n) = name.strip_suffix("/json") {
        return inspect(d, n.to_owned()).await;
    }
    if let Some(n) = name.strip_suffix("/history") {
        return history(d, n.to_owned()).await;
    }
    if let Some(n) = name.strip_suffix("/get") {
        return save(d, vec![n.to_owned()]).await;
    }
    Err(Error::not_found(format!(
        "page not found: GET /images/{name}"
    )))
}

async fn post_any(
    State(d): State<AppState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    if let Some(n) = name.strip_suffix("/tag") {
        return tag(d, n.to_owned(), Query::parse(q.as_deref())).await;
    }
    if name.ends_with("/push") {
        return Err(Error::new(
            crate::error::Kind::Internal,
            "berth cannot push images to a registry yet",
        ));
    }
    Err(Error::not_found(format!(
        "page not found: POST /images/{name}"
    )))
}

async fn inspect(d: AppState, name: String) -> Result<Response> {
    let v = blocking(move || {
        let i = inspect_image(&d, &name)?;
        let config = raw_config(&d, &i.id)?;
        let history = config["history"].as_array().cloned().unwrap_or_default();
        let comment = config["comment"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| history.last().and_then(|h| h["comment"].as_str()).map(str::to_owned))
            .unwrap_or_default();
        Ok(json!({
            "Id": i.id.to_string(),
            "RepoTags": i.references.iter().map(Reference::familiar).collect::<Vec<_>>(),
            "RepoDigests": [],
            "Parent": "",
            "Comment": comment,
            "Created": config["created"].as_str().unwrap_or("0001-01-01T00:00:00Z"),
            "Container": config["container"].as_str().unwrap_or(""),
            "ContainerConfig": config.get("container_config").cloned().unwrap_or_else(|| json!({})),
            "DockerVersion": config["docker_version"].as_str().unwrap_or(""),
            "Author": config["author"].as_str().unwrap_or(""),
            "Config": config.get("config").cloned().unwrap_or(Value::Null),
            "Architecture": config["architecture"],
            "Variant": config.get("variant").cloned().unwrap_or(Value::Null),
            "Os": config["os"],
            "Size": i.size,
            "VirtualSize": i.size,
            "GraphDriver": {"Name": "overlay2", "Data": null},
            "RootFS": {"Type": "layers", "Layers": i.diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()},
            "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
        }))
    })
    .await?;
    Ok(json(StatusCode::OK, v))
}

/// `docker history` rows, newest first, from an image config: one per
/// `history` entry, the entries that made a layer matched with the layers in
/// order; one per layer when the config has no history (as the store's
/// `history` does, but for dangling images too).
fn history_rows(config: &Value, layer_sizes: &[u64]) -> Vec<(i64, String, u64, String)> {
    let entries = config["history"].as_array().cloned().unwrap_or_default();
    let mut rows = Vec::new();
    if entries.is_empty() {
        let created = unix(config["created"].as_str());
        for size in layer_sizes {
            rows.push((created, String::new(), *size, String::new()));
        }
    } else {
        let mut layers = layer_sizes.iter();
        for h in &entries {
            let empty = h["empty_layer"].as_bool().unwrap_or(false);
            let size = if empty {
                0
            } else {
                layers.next().copied().unwrap_or(0)
            };
            rows.push((
                unix(h["created"].as_str()),
                h["created_by"].as_str().unwrap_or("").to_owned(),
                size,
                h["comment"].as_str().unwrap_or("").to_owned(),
            ));
        }
    }
    rows.reverse();
    rows
}

async fn history(d: AppState, name: String) -> Result<Response> {
    let v = blocking(move || {
        let i = inspect_image(&d, &name)?;
        let config = raw_config(&d, &i.id)?;
        let sizes: Vec<u64> = i.layers.iter().map(|l| l.size).collect();
        let tags: Vec<String> = i.references.iter().map(Reference::familiar).collect();
        let out: Vec<Value> = history_rows(&config, &sizes)
            .into_iter()
            .enumerate()
            .map(|(n, (created, created_by, size, comment))| {
                json!({
                    "Comment": comment,
                    "Created": created,
                    "CreatedBy": created_by,
                    "Id": if n == 0 { i.id.to_string() } else { "<missing>".to_owned() },
                    "Size": size,
                    "Tags": if n == 0 && !tags.is_empty() { json!(tags) } else { Value::Null },
                })
            })
            .collect();
        Ok(out)
    })
    .await?;
    Ok(json(StatusCode::OK, Value::Array(v)))
}

/// The reference `repo[:tag]` of tag, commit and import (`tag` defaults to `latest`).
fn target_ref(repo: &str, tag: Option<&str>) -> Result<Reference> {
    let invalid = |_| Error::invalid("invalid reference format");
    let r = Reference::parse_normalized(repo).map_err(invalid)?;
    if r.digest().is_some() {
        return Err(Error::invalid(
            "refusing to create a tag with a digest reference",
        ));
    }
    match tag.filter(|t| !t.is_empty()) {
        Some(t) => r.with_tag(t).map_err(invalid),
        None => Ok(r.with_default_tag()),
    }
}

/// Names `manifest` `target`; an image that loses its last name to this stays
/// as a dangling image, as Docker keeps it.
fn name_image(d: &Daemon, target: &Reference, manifest: &Digest, id: &Digest) -> Result<()> {
    let old = d
        .images
        .metadata()
        .get(target)
        .map_err(berth_image::StoreError::from)?;
    d.images
        .metadata()
        .tag(target, manifest)
        .map_err(berth_image::StoreError::from)?;
    d.images.release_dangling(id)?;
    if let Some(old) = old.filter(|o| &o.manifest != manifest) {
        let still_named = d
            .images
            .metadata()
            .list()
            .map_err(berth_image::StoreError::from)?
            .iter()
            .any(|(_, r)| r.manifest == old.manifest);
        if !still_named {
            if let Ok(i) = d.images.inspect_manifest(&old.manifest, Vec::new()) {
                d.images.keep_dangling(&i.id, &old.manifest)?;
            }
        }
    }
    Ok(())
}

async fn tag(d: AppState, name: String, q: Query) -> Result<Response> {
    let repo = q.get("repo").unwrap_or("").to_owned();
    if repo.is_empty() {
        return Err(Error::invalid(
            "repository name must have at least one component",
        ));
    }
    let target = target_ref(&repo, q.get("tag"))?;
    let d2 = d.clone();
    let t = target.clone();
    let id = blocking(move || {
        let i = inspect_image(&d2, &name)?;
        name_image(&d2, &t, &i.manifest, &i.id)?;
        Ok(i.id)
    })
    .await?;
    d.events.emit(
        "image",
        "tag",
        &id.to_string(),
        name_attrs(&target.familiar()),
    );
    Ok(StatusCode::CREATED.into_response())
}

// ------------------------------------------------------------------ remove, prune

/// What one removal did, in Docker's `[{"Untagged"}, {"Deleted"}]` form.
#[derive(Default)]
struct Removed {
    items: Vec<Value>,
    untagged: Vec<(String, String)>,
    deleted: Vec<String>,
    bytes: u64,
}

fn remove_image(d: &Daemon, input: &str, force: bool) -> Result<Removed> {
    let i = inspect_image(d, input)?;
    let id = i.id.to_string();
    let users = users(d, &i.id);
    let by_name = Reference::parse(input)
        .ok()
        .filter(|r| i.references.contains(r));
    let mut out = Removed::default();
    let untag = |r: &Reference, out: &mut Removed| -> Result<()> {
        d.images.untag(&r.to_string())?;
        out.items.push(json!({"Untagged": r.familiar()}));
        out.untagged.push((id.clone(), r.familiar()));
        Ok(())
    };
    if let Some(r) = by_name {
        if i.references.len() > 1 {
            untag(&r, &mut out)?;
            return Ok(out);
        }
        if let Some((cid, _)) = users.first() {
            if !force {
                return Err(Error::conflict(format!(
                    "conflict: unable to remove repository reference \"{input}\" (must force) - container {} is using its referenced image {}",
                    short(cid),
                    short(&id)
                )));
            }
            // Forced: the name goes, the image stays for its containers.
            untag(&r, &mut out)?;
            d.images.keep_dangling(&i.id, &i.manifest)?;
            return Ok(out);
        }
        untag(&r, &mut out)?;
    } else {
        if let Some((cid, status)) = users.first() {
            if status.is_live() {
                return Err(Error::conflict(format!(
                    "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
                    short(&id),
                    short(cid)
                )));
            }
            if !force {
                return Err(Error::conflict(format!(
                    "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
                    short(&id),
                    short(cid)
                )));
            }
        }
        if i.references.len() > 1 && !force {
            return Err(Error::conflict(format!(
                "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                short(&id)
            )));
        }
        for r in &i.references {
            untag(r, &mut out)?;
        }
    }
    d.images.release_dangling(&i.id)?;
    let gc = d.images.gc()?;
    out.bytes = gc.bytes;
    if gc.removed.contains(&i.manifest) || gc.removed.contains(&i.id) {
        out.items.push(json!({"Deleted": id}));
        out.deleted.push(id.clone());
        for l in &i.layers {
            if gc.removed.contains(&l.digest) {
                out.items.push(json!({"Deleted": l.digest.to_string()}));
            }
        }
    }
    Ok(out)
}

fn emit_removed(d: &Daemon, r: &Removed) {
    for (id, name) in &r.untagged {
        d.events.emit("image", "untag", id, name_attrs(name));
    }
    for id in &r.deleted {
        d.events.emit("image", "delete", id, name_attrs(id));
    }
}

async fn remove(
    State(d): State<AppState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let q = Query::parse(q.as_deref());
    let force = q.bool("force");
    let _noprune = q.bool("noprune");
    let d2 = d.clone();
    let removed = blocking(move || remove_image(&d2, &name, force)).await?;
    emit_removed(&d, &removed);
    Ok(json(StatusCode::OK, Value::Array(removed.items)))
}

async fn prune(State(d): State<AppState>, RawQuery(q): RawQuery) -> Result<Response> {
    let q = Query::parse(q.as_deref());
    let filters = q.filters()?;
    let dangling_only = filters
        .get("dangling")
        .and_then(|v| v.first())
        .is_none_or(|v| matches!(v.as_str(), "true" | "1" | "True"));
    let labels = filters.get("label").cloned();
    let d2 = d.clone();
    let (items, bytes, removed) = blocking(move || {
        let mut items = Vec::new();
        let mut bytes = 0;
        let mut all = Vec::new();
        for row in all_images(&d2)? {
            if dangling_only && !row.dangling {
                continue;
            }
            if labels
                .as_ref()
                .is_some_and(|l| !label_matches(&row.labels, l))
            {
                continue;
            }
            if !users(&d2, &row.inspect.id).is_empty() {
                continue;
            }
            let r = remove_image(&d2, &row.inspect.id.to_string(), true)?;
            items.extend(r.items.iter().cloned());
            bytes += r.bytes;
            all.push(r);
        }
        Ok((items, bytes, all))
    })
    .await?;
    for r in &removed {
        emit_removed(&d, r);
    }
    let deleted = if items.is_empty() {
        Value::Null
    } else {
        Value::Array(items)
    };
    Ok(json(
        StatusCode::OK,
        json!({"ImagesDeleted": deleted, "SpaceReclaimed": bytes}),
    ))
}

// ------------------------------------------------------------------ save, load, import

async fn save_many(State(d): State<AppState>, RawQuery(q): RawQuery) -> Result<Response> {
    let names = all_values(q.as_deref(), "names");
    if names.is_empty() {
        return Err(Error::invalid("no images to save: pass names="));
    }
    save(d, names).await
}

/// A writer that sends what it gets to the response body, in chunks.
pub(super) struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

/// A body streamed from blocking work that writes into a [`ChannelWriter`].
pub(super) fn streamed_body(
    work: impl FnOnce(&mut ChannelWriter) -> std::io::Result<()> + Send + 'static,
) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::new(),
        };
        let res = work(&mut w).and_then(|()| w.flush());
        if let Err(e) = res {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                tracing::warn!("streamed response failed: {e}");
                let _ = tx.blocking_send(Err(e));
            }
        }
    });
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

async fn save(d: AppState, names: Vec<String>) -> Result<Response> {
    // Resolve first, so that a missing image is a 404 and not a broken stream.
    let d2 = d.clone();
    let n2 = names.clone();
    let ids = blocking(move || {
        n2.iter()
            .map(|n| inspect_image(&d2, n).map(|i| i.id.to_string()))
            .collect::<Result<Vec<_>>>()
    })
    .await?;
    for (id, name) in ids.iter().zip(&names) {
        d.events.emit("image", "save", id, name_attrs(name));
    }
    let images = d.images.clone();
    let body = streamed_body(move |w| {
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        images
            .save_images(&refs, w)
            .map(|_| ())
            .map_err(std::io::Error::other)
    });
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-tar"),
    );
    Ok(resp)
}

/// Writes a request body to a temporary file under the data root.
async fn body_to_file(d: &Daemon, prefix: &str, body: Body) -> Result<std::path::PathBuf> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let tmp_dir = d.config.data_root.join("tmp");
    tokio::fs::create_dir_all(&tmp_dir).await?;
    let path = tmp_dir.join(format!("{prefix}-{}.tar", crate::daemon::random_id()));
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
        if let Err(e) = file.write_all(&chunk).await {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e.into());
        }
    }
    file.flush().await?;
    Ok(path)
}

fn json_lines(messages: &[Value]) -> Response {
    let mut out = String::new();
    for m in messages {
        out.push_str(&m.to_string());
        out.push_str("\r\n");
    }
    let mut resp = Response::new(Body::from(out));
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
}

/// `POST /images/load`: a docker-archive or OCI layout tar as the body.
async fn load(State(d): State<AppState>, RawQuery(q): RawQuery, body: Body) -> Result<Response> {
    let _quiet = Query::parse(q.as_deref()).bool("quiet");
    let path = body_to_file(&d, "load", body).await?;
    let images = d.images.clone();
    let p = path.clone();
    let res = blocking(move || Ok(images.import_path(&p)?)).await;
    let _ = tokio::fs::remove_file(&path).await;
    let loaded = res?;
    let mut messages = Vec::new();
    for img in loaded {
        let (line, name) = match &img.name {
            Some(n) => (format!("Loaded image: {}\n", n.familiar()), n.familiar()),
            None => (
                format!("Loaded image ID: {}\n", img.config),
                img.config.to_string(),
            ),
        };
        if img.name.is_none() {
            d.images.keep_dangling(&img.config, &img.manifest)?;
        }
        d.events
            .emit("image", "load", &img.config.to_string(), name_attrs(&name));
        messages.push(json!({"stream": line}));
    }
    Ok(json_lines(&messages))
}

/// `POST /images/create`: `fromSrc=-` imports the body as a rootfs tar;
/// `fromImage` would pull, which berth cannot do yet.
async fn create(
    State(d): State<AppState>,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Result<Response> {
    let q = Query::parse(raw.as_deref());
    if let Some(image) = q.get("fromImage").filter(|s| !s.is_empty()) {
        let tag = q.get("tag").filter(|t| !t.is_empty());
        let full = match tag {
            Some(t) if t.starts_with("sha256:") => format!("{image}@{t}"),
            Some(t) => format!("{image}:{t}"),
            None => image.to_owned(),
        };
        let name = Reference::parse(&full)
            .map(|r| r.familiar())
            .unwrap_or(full.clone());
        // An image that is here already is "up to date" (no registry is asked):
        // the docker CLI pulls after any 404 of a create, a missing network's too,
        // and then retries the create, which reports the real error.
        let images = d.images.clone();
        let here = blocking(move || Ok(images.resolve_image(&full).is_ok())).await?;
        if here {
            let messages =
                vec![json!({"status": format!("Status: Image is up to date for {name}")})];
            return Ok(json_lines(&messages));
        }
        return Err(Error::not_found(format!(
            "pulling images is not supported yet: berth cannot pull {name} from a registry, and it is not in the local image store (load it with docker load)"
        )));
    }
    let Some(src) = q.get("fromSrc") else {
        return Err(Error::invalid("fromImage or fromSrc is required"));
    };
    if src != "-" {
        return Err(Error::invalid(format!(
            "importing from a URL ({src}) is not supported; send the archive as the request body (fromSrc=-)"
        )));
    }
    let repo = q.get("repo").filter(|r| !r.is_empty());
    let name = repo.map(|r| target_ref(r, q.get("tag"))).transpose()?;
    let changes = berth_image::parse_changes(&all_values(raw.as_deref(), "changes"))
        .map_err(|e| Error::invalid(e.to_string()))?;
    let message = q.get("message").unwrap_or("").to_owned();
    let path = body_to_file(&d, "import", body).await?;
    let images = d.images.clone();
    let p = path.clone();
    let n2 = name.clone();
    let res = blocking(move || {
        let file = std::fs::File::open(&p)?;
        let opts = CommitOptions {
            comment: if message.is_empty() {
                "imported from tarball".to_owned()
            } else {
                message
            },
            changes,
            ..Default::default()
        };
        let file = std::io::BufReader::new(file);
        let reader = gunzip_if_needed(file)?;
        Ok(images.import_with_changes(reader, n2.as_ref(), &opts)?.id)
    })
    .await;
    let _ = tokio::fs::remove_file(&path).await;
    let id = res?;
    let attr = name
        .as_ref()
        .map(Reference::familiar)
        .unwrap_or_else(|| id.to_string());
    d.events
        .emit("image", "import", &id.to_string(), name_attrs(&attr));
    Ok(json_lines(&[json!({"status": id.to_string()})]))
}

/// A rootfs tar may come gzipped (`docker import x.tar.gz`; the store
/// decompresses it); a plain one is checked to be a tar before it is stored.
fn gunzip_if_needed(
    mut r: std::io::BufReader<std::fs::File>,
) -> Result<Box<dyn std::io::Read + Send>> {
    use std::io::BufRead;
    let head = r.fill_buf()?;
    if head.is_empty() {
        return Err(Error::invalid("archive is empty"));
    }
    if head.starts_with(&[0x1f, 0x8b]) || (head.len() >= 512 && tar_header_ok(&head[..512])) {
        return Ok(Box::new(r));
    }
    Err(Error::invalid("the archive is not a tar file"))
}

fn tar_header_ok(h: &[u8]) -> bool {
    let sum: u32 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    let field = String::from_utf8_lossy(&h[148..156]);
    let stored = u32::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8).ok();
    stored == Some(sum)
}

// ------------------------------------------------------------------ commit

async fn commit(
    State(d): State<AppState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response> {
    let q = Query::parse(raw.as_deref());
    let container = q.get("container").unwrap_or("").to_owned();
    let e = d.get(&container)?;
    let repo = q.get("repo").filter(|r| !r.is_empty());
    let name = repo.map(|r| target_ref(r, q.get("tag"))).transpose()?;
    let mut changes = berth_image::parse_changes(&all_values(raw.as_deref(), "changes"))
        .map_err(|e| Error::invalid(e.to_string()))?;
    // A config in the body (docker-py's `conf`) overrides like changes do.
    if let Ok(conf) = serde_json::from_slice::<Value>(&body) {
        if let Some(cmd) = conf
            .get("Cmd")
            .and_then(|v| serde_json::from_value::<Vec<String>>(v.clone()).ok())
        {
            changes.push(berth_image::Change::Cmd(cmd));
        }
    }
    let record = e.snapshot();
    let pause = q.get("pause").is_none() || q.bool("pause");
    let paused = pause && record.state.status == Status::Running && d.pause(&e, true).await.is_ok();
    let opts = CommitOptions {
        author: q.get("author").unwrap_or("").to_owned(),
        comment: q.get("comment").unwrap_or("").to_owned(),
        created_by: std::iter::once(record.path.clone())
            .chain(record.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" "),
        changes,
        created: None,
    };
    let d2 = d.clone();
    let n2 = name.clone();
    let rec = record.clone();
    let res = blocking(move || {
        let tmp_dir = d2.config.data_root.join("tmp");
        std::fs::create_dir_all(&tmp_dir)?;
        let path = tmp_dir.join(format!("commit-{}.tar", crate::daemon::random_id()));
        let result = (|| {
            let file = std::fs::File::create(&path)?;
            let mut w = std::io::BufWriter::new(file);
            berth_image::snapshot::diff(&*d2.snapshotter, &rec.snapshot, &mut w)?;
            w.flush()?;
            drop(w);
            let file = std::io::BufReader::new(std::fs::File::open(&path)?);
            Ok(d2.images.commit(&rec.image_id, file, n2.as_ref(), &opts)?)
        })();
        let _ = std::fs::remove_file(&path);
        result
    })
    .await;
    if paused {
        let _ = d.pause(&e, false).await;
    }
    let committed = res?;
    let id = committed.id.to_string();
    let mut attrs = name_attrs(&record.name);
    attrs.insert("comment".into(), q.get("comment").unwrap_or("").to_owned());
    attrs.insert("imageID".into(), id.clone());
    if let Some(n) = &name {
        attrs.insert("imageRef".into(), n.familiar());
    }
    d.events.emit("container", "commit", &record.id, attrs);
    Ok(json(StatusCode::CREATED, json!({"Id": id})))
}

// ------------------------------------------------------------------ system df

async fn system_df(State(d): State<AppState>) -> Result<Response> {
    let v = blocking(move || {
        let containers: Vec<_> = d.all().into_iter().map(|e| e.snapshot()).collect();
        let mut rows = all_images(&d)?;
        rows.sort_by_key(|b| std::cmp::Reverse(b.created));
        // Layer -> (size, images using it), dangling images included.
        let mut layers: BTreeMap<Digest, (u64, usize)> = BTreeMap::new();
        for row in &rows {
            let mut seen = Vec::new();
            for l in &row.inspect.layers {
                if !seen.contains(&l.digest) {
                    seen.push(l.digest.clone());
                    layers.entry(l.digest.clone()).or_insert((l.size, 0)).1 += 1;
                }
            }
        }
        let mut images = Vec::new();
        let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
        for row in &rows {
            let id = row.inspect.id.to_string();
            let size = row.inspect.size;
            let shared: u64 = row
                .inspect
                .layers
                .iter()
                .filter_map(|l| layers.get(&l.digest))
                .filter(|(_, n)| *n > 1)
                .map(|(s, _)| s)
                .sum();
            sizes.insert(id.clone(), size);
            let n = containers.iter().filter(|c| c.image_id == id).count();
            images.push(json!({
                "Containers": n,
                "Created": row.created,
                "Id": id,
                "Labels": row.labels,
                "ParentId": "",
                "RepoDigests": if row.inspect.references.is_empty() { json!(["<none>@<none>"]) } else { json!([]) },
                "RepoTags": repo_tags(&row.inspect.references),
                "SharedSize": shared,
                "Size": size,
                "VirtualSize": size,
            }));
        }
        let layers_size: u64 = layers.values().map(|(s, _)| s).sum();
        let mut out_containers = Vec::new();
        for r in &containers {
            let size_rw = d.snapshotter.usage(&r.snapshot).unwrap_or(0);
            out_containers.push(json!({
                "Id": r.id,
                "Names": [format!("/{}", r.name)],
                "Image": r.image_name,
                "ImageID": r.image_id,
                "Command": std::iter::once(r.path.clone()).chain(r.args.iter().cloned()).collect::<Vec<_>>().join(" "),
                "Created": unix(Some(&r.created)),
                "Ports": [],
                "SizeRw": size_rw,
                "SizeRootFs": size_rw + sizes.get(&r.image_id).copied().unwrap_or(0),
                "Labels": r.config.labels.clone().unwrap_or_default(),
                "State": r.state.status.as_str(),
                "Status": super::containers::status_text(r),
                "HostConfig": {"NetworkMode": if r.host_config.network_mode.is_empty() { "default" } else { &r.host_config.network_mode }},
                "NetworkSettings": {"Networks": {}},
                "Mounts": [],
            }));
        }
        Ok(json!({
            "LayersSize": layers_size,
            "Images": images,
            "Containers": out_containers,
            "Volumes": super::volumes::df_volumes(&d),
            "BuildCache": [],
            "BuilderSize": 0,
        }))
    })
    .await?;
    Ok(json(StatusCode::OK, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_matches_layers_to_non_empty_steps() {
        let config = json!({"history": [
            {"created": "2026-01-01T00:00:00Z", "created_by": "ADD rootfs"},
            {"created": "2026-01-02T00:00:00Z", "created_by": "CMD sh", "empty_layer": true},
            {"created": "2026-01-03T00:00:00Z", "created_by": "commit", "comment": "c"},
        ]});
        let rows = history_rows(&config, &[100, 7]);
        assert_eq!(
            rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            vec![7, 0, 100]
        );
        assert_eq!(rows[0].3, "c");
        let bare = history_rows(&json!({"created": "2026-01-01T00:00:00Z"}), &[1, 2]);
        assert_eq!(bare.iter().map(|r| r.2).collect::<Vec<_>>(), vec![2, 1]);
    }

    #[test]
    fn glob_matches_like_path_match() {
        assert!(glob("busy*", "busybox"));
        assert!(glob("busybox:*", "busybox:latest"));
        assert!(!glob("busy*", "library/busybox"));
        assert!(glob("b?sybox", "busybox"));
    }

    #[test]
    fn reference_filter_uses_familiar_names() {
        let r = Reference::parse("busybox").unwrap();
        assert!(reference_matches("busybox", &r));
        assert!(reference_matches("busybox:latest", &r));
        assert!(!reference_matches("alpine", &r));
    }

    #[test]
    fn repeated_query_values_are_all_kept() {
        let q = "changes=CMD+%5B%22sh%22%5D&changes=ENV+A%3Db&repo=x";
        assert_eq!(
            all_values(Some(q), "changes"),
            vec!["CMD [\"sh\"]", "ENV A=b"]
        );
    }

    #[test]
    fn tar_header_checksum() {
        let mut h = tar::Header::new_ustar();
        h.set_path("a").unwrap();
        h.set_size(0);
        h.set_cksum();
        assert!(tar_header_ok(h.as_bytes()));
        assert!(!tar_header_ok(&[0u8; 512]));
    }
}
