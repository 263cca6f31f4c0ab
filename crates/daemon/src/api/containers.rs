//! `/containers/…`: create, lifecycle, attach, wait, logs, list and inspect.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use serde_json::{json, Value};

use super::{hijack, json, parse_json, AppState, Query};
use crate::container::model::{CreateBody, Record, Status, ZERO_TIME};
use berth_image::snapshot::Snapshotter;

use crate::daemon::{blocking, Daemon, Entry, PendingAttach};
use crate::error::{Error, Result};
use crate::logs;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/create", post(create))
        .route("/containers/json", get(list))
        .route("/containers/prune", post(prune))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}/attach", post(attach))
        .route("/containers/{id}/resize", post(resize))
        .route("/containers/{id}/logs", get(logs_handler))
        .route("/containers/{id}", delete(remove))
}

async fn create(State(d): State<AppState>, RawQuery(q): RawQuery, body: Bytes) -> Result<Response> {
    let q = Query::parse(q.as_deref());
    let body: CreateBody =
        parse_json(&body).map_err(|e| locate_create_error(&body).unwrap_or(e))?;
    let (id, warnings) = d.create(q.get("name").map(str::to_owned), body).await?;
    Ok(json(
        StatusCode::CREATED,
        json!({"Id": id, "Warnings": warnings}),
    ))
}

/// Names the field of a create body that does not parse. (Flattened structs hide
/// the path from the deserializer, so each key is tried alone.)
fn locate_create_error(body: &[u8]) -> Option<Error> {
    use crate::container::model::{Config, HostConfig};
    let v: Value = serde_json::from_slice(body).ok()?;
    for (k, val) in v.as_object()? {
        if k == "HostConfig" {
            for (hk, hv) in val.as_object()? {
                if let Err(e) = serde_json::from_value::<HostConfig>(json!({ hk: hv })) {
                    return Some(Error::invalid(format!(
                        "invalid JSON at HostConfig.{hk}: {e}"
                    )));
                }
            }
        } else if let Err(e) = serde_json::from_value::<Config>(json!({ k: val })) {
            return Some(Error::invalid(format!("invalid JSON at {k}: {e}")));
        }
    }
    None
}

async fn start(State(d): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let e = d.get(&id)?;
    d.start(&e).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn stop(
    State(d): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let q = Query::parse(q.as_deref());
    let e = d.get(&id)?;
    d.stop(&e, q.int("t")?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn kill(
    State(d): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let q = Query::parse(q.as_deref());
    let e = d.get(&id)?;
    d.kill(&e, q.get("signal").filter(|s| !s.is_empty()))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn restart(
    State(d): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let q = Query::parse(q.as_deref());
    let e = d.get(&id)?;
    d.restart(&e, q.int("t")?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn pause(State(d): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let e = d.get(&id)?;
    d.pause(&e, true).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn unpause(State(d): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let e = d.get(&id)?;
    d.pause(&e, false).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn rename(
    State(d): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let q = Query::parse(q.as_deref());
    let e = d.get(&id)?;
    let name = q
        .get("name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::invalid("Neither old nor new names may be empty"))?;
    d.rename(&e, name)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn remove(
    State(d): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let q = Query::parse(q.as_deref());
    let e = d.get(&id)?;
    d.remove(&e, q.bool("force"), q.bool("v")).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn prune(State(d): State<AppState>, RawQuery(q): RawQuery) -> Result<Response> {
    let q = Query::parse(q.as_deref());
    let filters = q.filters()?;
    let mut deleted = Vec::new();
    for e in d.all() {
        let r = e.snapshot();
        if r.state.status.is_live() || r.state.status == Status::Restarting {
            continue;
        }
        if !label_filter(&r, filters.get("label")) {
            continue;
        }
        if d.remove(&e, false, false).await.is_ok() {
            deleted.push(r.id);
        }
    }
    Ok(json(
        StatusCode::OK,
        json!({"ContainersDeleted": deleted, "SpaceReclaimed": 0}),
    ))
}

async fn resize(
    State(d): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let q = Query::parse(q.as_deref());
    let e = d.get(&id)?;
    let (h, w) = (q.int("h")?.unwrap_or(0), q.int("w")?.unwrap_or(0));
    let r = e.snapshot();
    let Some(sock) = r.shim_socket.filter(|_| r.state.status.is_live()) else {
        return Err(Error::conflict(format!(
            "Container {} is not running",
            r.id
        )));
    };
    blocking(move || Ok(berth_shim::ShimClient::new(sock).resize(w as u16, h as u16)?)).await?;
    Ok(StatusCode::OK.into_response())
}

async fn wait(
    State(d): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let q = Query::parse(q.as_deref());
    let e = d.get(&id)?;
    let condition = q.get("condition").unwrap_or("").to_owned();
    if !matches!(
        condition.as_str(),
        "" | "not-running" | "next-exit" | "removed"
    ) {
        return Err(Error::invalid(format!(
            "invalid condition: \"{condition}\""
        )));
    }
    // Headers now, the body when the condition is met (Docker's behaviour: the
    // CLI sends wait before start).
    let body = futures_util::stream::once(async move {
        let code = d.wait(&e, &condition).await.unwrap_or(-1);
        let v = json!({"Error": null, "StatusCode": code});
        Ok::<_, std::io::Error>(Bytes::from(format!("{v}\n")))
    });
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut().insert(
        "content-type",
        axum::http::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

enum AttachSource {
    Now(std::os::unix::net::UnixStream),
    AtStart(tokio::sync::oneshot::Receiver<std::os::unix::net::UnixStream>),
}

async fn attach(
    State(d): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    req: Request,
) -> Result<Response> {
    let q = Query::parse(q.as_deref());
    let e = d.get(&id)?;
    let (stdin, stdout, stderr) = (q.bool("stdin"), q.bool("stdout"), q.bool("stderr"));
    let r = e.snapshot();
    let d2 = d.clone();
    let e2 = e.clone();
    let live = r
        .state
        .status
        .is_live()
        .then_some(r.shim_socket.clone())
        .flatten();
    // Registered before the 101 goes out: the client's start may come at once.
    let source = match live {
        Some(sock) => {
            let s = blocking(move || {
                Ok(berth_shim::ShimClient::new(sock).attach(stdin, stdout, stderr)?)
            })
            .await?;
            AttachSource::Now(s)
        }
        None => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            e2.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(PendingAttach {
                    stdin,
                    stdout,
                    stderr,
                    tx,
                });
            AttachSource::AtStart(rx)
        }
    };
    let resp = hijack(req, move |client| async move {
        let shim = match source {
            AttachSource::Now(s) => s,
            AttachSource::AtStart(rx) => match rx.await {
                Ok(s) => s,
                Err(_) => return,
            },
        };
        super::bridge(client, shim, async {}).await;
        drop(d2);
    });
    d.emit(&e, "attach", &[]);
    Ok(resp)
}

async fn logs_handler(
    State(d): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let q = Query::parse(q.as_deref());
    let e = d.get(&id)?;
    let r = e.snapshot();
    if r.host_config.log_config.typ == "none"
        || (r.host_config.log_config.typ.is_empty() && d.config.log_driver == "none")
    {
        return Err(Error::invalid(
            "configured logging driver does not support reading",
        ));
    }
    let mut filter = logs::Filter {
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
        since: q
            .get("since")
            .and_then(logs::parse_timestamp)
            .filter(|n| *n > 0),
        until: q
            .get("until")
            .and_then(logs::parse_timestamp)
            .filter(|n| *n > 0),
        timestamps: q.bool("timestamps"),
        framed: !r.config.tty,
    };
    if !filter.stdout && !filter.stderr {
        return Err(Error::invalid(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let tail: Option<usize> = match q.get("tail") {
        None | Some("") | Some("all") => None,
        Some(n) => Some(
            n.parse()
                .map_err(|_| Error::invalid(format!("invalid value for tail: {n:?}")))?,
        ),
    };
    let follow = q.bool("follow") && filter.until.is_none();
    let path = std::path::PathBuf::from(&r.log_path);
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(16);
    let mut phase = e.phase.subscribe();
    tokio::spawn(async move {
        let p = path.clone();
        let Ok((lines, mut pos)) = blocking(move || Ok(logs::read_all(&p))).await else {
            return;
        };
        let mut selected: Vec<&logs::Line> = lines.iter().filter(|l| filter.wants(l)).collect();
        if let Some(n) = tail {
            let skip = selected.len().saturating_sub(n);
            selected.drain(..skip);
        }
        let mut out = Vec::new();
        for l in selected {
            filter.encode(l, &mut out);
            if out.len() > 64 * 1024
                && tx
                    .send(Ok(Bytes::from(std::mem::take(&mut out))))
                    .await
                    .is_err()
            {
                return;
            }
        }
        if !out.is_empty() && tx.send(Ok(Bytes::from(out))).await.is_err() {
            return;
        }
        if !follow {
            return;
        }
        // Follow: poll for new lines until the container stops (and its last
        // lines are read) or the client goes.
        filter.since = None;
        loop {
            let live = {
                let p = *phase.borrow_and_update();
                p.status.is_live() || p.status == Status::Restarting || p.status == Status::Created
            };
            let p = path.clone();
            let (new, newpos) = match blocking(move || {
                let mut pos = pos;
                let v = logs::read_new(&p, &mut pos);
                Ok((v, pos))
            })
            .await
            {
                Ok(x) => x,
                Err(_) => return,
            };
            pos = newpos;
            let mut out = Vec::new();
            for l in new.iter().filter(|l| filter.wants(l)) {
                filter.encode(l, &mut out);
            }
            if !out.is_empty() && tx.send(Ok(Bytes::from(out))).await.is_err() {
                return;
            }
            if !live || phase.borrow().removed {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = phase.changed() => {}
                _ = tx.closed() => return,
            }
        }
    });
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
    let mut resp = Response::new(Body::from_stream(stream));
    let ct = if r.config.tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    resp.headers_mut()
        .insert("content-type", axum::http::HeaderValue::from_static(ct));
    Ok(resp)
}

fn label_filter(r: &Record, wanted: Option<&Vec<String>>) -> bool {
    let labels = r.config.labels.clone().unwrap_or_default();
    wanted.is_none_or(|ws| {
        ws.iter().all(|w| match w.split_once('=') {
            Some((k, v)) => labels.get(k).map(String::as_str) == Some(v),
            None => labels.contains_key(w.as_str()),
        })
    })
}

/// go-units' `HumanDuration`, as `docker ps` prints ages.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    if s < 1 {
        return "Less than a second".into();
    }
    if s == 1 {
        return "1 second".into();
    }
    if s < 60 {
        return format!("{s} seconds");
    }
    let m = s / 60;
    if m == 1 {
        return "About a minute".into();
    }
    if m < 60 {
        return format!("{m} minutes");
    }
    let h = (s as f64 / 3600.0).round() as i64;
    if h == 1 {
        return "About an hour".into();
    }
    if h < 48 {
        return format!("{h} hours");
    }
    if h < 24 * 7 * 2 {
        return format!("{} days", h / 24);
    }
    if h < 24 * 30 * 2 {
        return format!("{} weeks", h / 24 / 7);
    }
    if h < 24 * 365 * 2 {
        return format!("{} months", h / 24 / 30);
    }
    format!("{} years", h / 24 / 365)
}

fn secs_since(t: &str) -> i64 {
    match logs::parse_time(t) {
        Some(n) => ((crate::events::now_nanos() - n) / 1_000_000_000) as i64,
        None => 0,
    }
}

fn unix_secs(t: &str) -> i64 {
    logs::parse_time(t)
        .map(|n| (n / 1_000_000_000) as i64)
        .unwrap_or(0)
}

/// The `Status` column of `docker ps`.
pub fn status_text(r: &Record) -> String {
    let s = &r.state;
    match s.status {
        Status::Created => "Created".into(),
        Status::Running => format!("Up {}", human_duration(secs_since(&s.started_at))),
        Status::Paused => format!("Up {} (Paused)", human_duration(secs_since(&s.started_at))),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            s.exit_code,
            human_duration(secs_since(&s.finished_at))
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Exited if s.finished_at == ZERO_TIME => "Created".into(),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            s.exit_code,
            human_duration(secs_since(&s.finished_at))
        ),
        Status::Dead => "Dead".into(),
    }
}

fn command(r: &Record) -> String {
    let mut parts = vec![r.path.clone()];
    parts.extend(r.args.iter().cloned());
    if r.host_config.init.unwrap_or(false) {
        parts.splice(0..0, ["/sbin/docker-init".to_owned(), "--".to_owned()]);
    }
    parts.join(" ")
}

/// `Mounts` of inspect and list, from the user's binds and the container's volumes.
fn mounts_json(r: &Record) -> Value {
    let mounts = crate::container::spec::parse_mounts(&r.host_config).unwrap_or_default();
    let binds = mounts
            .into_iter()
            .filter(|m| m.typ == "bind")
            .map(|m| {
                let ro = m.options.iter().any(|o| o == "ro");
                let prop = m.options.iter().find(|o| o.ends_with("private") || o.ends_with("shared") || o.ends_with("slave")).cloned().unwrap_or_default();
                json!({"Type": "bind", "Source": m.source, "Destination": m.destination, "Mode": if ro { "ro" } else { "" }, "RW": !ro, "Propagation": prop})
            });
    let volumes = r.volumes.iter().map(|v| {
        if v.bind {
            return json!({"Type": "bind", "Source": v.source, "Destination": v.destination, "Mode": if v.read_only { "ro" } else { "" }, "RW": !v.read_only, "Propagation": "rprivate"});
        }
        json!({"Type": "volume", "Name": v.name, "Source": v.source, "Destination": v.destination, "Driver": "local", "Mode": if v.read_only { "ro" } else { "z" }, "RW": !v.read_only, "Propagation": ""})
    });
    Value::Array(binds.chain(volumes).collect())
}

fn summary(d: &Daemon, r: &Record) -> Value {
    json!({
        "Id": r.id,
        "Names": [format!("/{}", r.name)],
        "Image": r.image_name,
        "ImageID": r.image_id,
        "Command": command(r),
        "Created": unix_secs(&r.created),
        "Ports": d.ports_summary(r),
        "Labels": r.config.labels.clone().unwrap_or_default(),
        "State": r.state.status.as_str(),
        "Status": status_text(r),
        "HostConfig": {"NetworkMode": if r.host_config.network_mode.is_empty() { "default" } else { &r.host_config.network_mode }},
        "NetworkSettings": {"Networks": d.network_settings(r)["Networks"].clone()},
        "Mounts": mounts_json(r),
    })
}

/// Whether a container passes the `ps` filters; `ancestor_ids` are the image IDs the
/// `ancestor` values name, looked up once per list.
fn matches(
    r: &Record,
    filters: &BTreeMap<String, Vec<String>>,
    ancestor_ids: &[String],
) -> Result<bool> {
    for (key, values) in filters {
        let ok = match key.as_str() {
            "name" => values.iter().any(|v| {
                let v = v.strip_prefix('/').unwrap_or(v);
                r.name.contains(v)
            }),
            "id" => values.iter().any(|v| r.id.starts_with(v.as_str())),
            "label" => label_filter(r, Some(values)),
            "status" => {
                for v in values {
                    if !matches!(
                        v.as_str(),
                        "created"
                            | "restarting"
                            | "running"
                            | "removing"
                            | "paused"
                            | "exited"
                            | "dead"
                    ) {
                        return Err(Error::invalid(format!("Invalid filter 'status={v}'")));
                    }
                }
                values.iter().any(|v| v == r.state.status.as_str())
            }
            "exited" => values.iter().any(|v| {
                r.state.status == Status::Exited && v.parse::<i32>().ok() == Some(r.state.exit_code)
            }),
            "ancestor" => {
                values.iter().any(|v| {
                    r.image_name == *v
                        || r.image_id
                            .strip_prefix("sha256:")
                            .is_some_and(|h| h.starts_with(v.strip_prefix("sha256:").unwrap_or(v)))
                }) || ancestor_ids.contains(&r.image_id)
            }
            "before" | "since" | "volume" | "network" | "publish" | "expose" | "health"
            | "isolation" | "is-task" => true,
            other => return Err(Error::invalid(format!("Invalid filter '{other}'"))),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn list(State(d): State<AppState>, RawQuery(q): RawQuery) -> Result<Response> {
    let q = Query::parse(q.as_deref());
    let filters = q.filters()?;
    let all = q.bool("all") || filters.contains_key("status") || filters.contains_key("exited");
    let limit = q.int("limit")?.filter(|n| *n > 0);
    let d2 = d.clone();
    let out = blocking(move || {
        let ancestor_ids: Vec<String> = filters
            .get("ancestor")
            .into_iter()
            .flatten()
            .filter_map(|v| d2.images.inspect(v).ok().map(|i| i.id.to_string()))
            .collect();
        let mut out = Vec::new();
        for e in d2.all() {
            let r = e.snapshot();
            if !all && !r.state.status.is_live() && r.state.status != Status::Restarting {
                continue;
            }
            if !matches(&r, &filters, &ancestor_ids)? {
                continue;
            }
            out.push(summary(&d2, &r));
            if limit.is_some_and(|l| out.len() as i64 >= l) {
                break;
            }
        }
        Ok(out)
    })
    .await?;
    Ok(json(StatusCode::OK, Value::Array(out)))
}

/// `GET /containers/{id}/json`, Docker's 23 keys.
pub fn inspect_json(d: &Daemon, e: &Entry) -> Value {
    let r = e.snapshot();
    let s = &r.state;
    let dir = d.container_dir(&r.id);
    let execs: Vec<String> = d
        .execs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .filter(|x| x.container == r.id)
        .map(|x| x.id.clone())
        .collect();
    let mut host = serde_json::to_value(&r.host_config).unwrap_or_default();
    if host["NetworkMode"] == "" {
        host["NetworkMode"] = json!("default");
    }
    if host["RestartPolicy"]["Name"] == "" {
        host["RestartPolicy"]["Name"] = json!("no");
    }
    if host["LogConfig"]["Type"] == "" {
        host["LogConfig"]["Type"] = json!(d.config.log_driver);
    }
    if host["Runtime"] == "" {
        host["Runtime"] = json!(r.runtime);
    }
    let mut config = serde_json::to_value(&r.config).unwrap_or_default();
    config["Image"] = json!(r.image_name);
    let upper = d
        .snapshotter
        .upper_dir(&r.snapshot)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    json!({
        "Id": r.id,
        "Created": r.created,
        "Path": r.path,
        "Args": r.args,
        "State": {
            "Status": s.status.as_str(),
            "Running": s.status.is_live(),
            "Paused": s.status == Status::Paused,
            "Restarting": s.status == Status::Restarting,
            "OOMKilled": s.oom_killed,
            "Dead": s.status == Status::Dead,
            "Pid": s.pid,
            "ExitCode": s.exit_code,
            "Error": s.error,
            "StartedAt": s.started_at,
            "FinishedAt": s.finished_at,
        },
        "Image": r.image_id,
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": r.log_path,
        "Name": format!("/{}", r.name),
        "RestartCount": r.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": if execs.is_empty() { Value::Null } else { json!(execs) },
        "HostConfig": host,
        "GraphDriver": {"Name": "overlay2", "Data": {"UpperDir": upper, "MergedDir": d.bundle_dir(&r.id).join("rootfs")}},
        "Mounts": mounts_json(&r),
        "Config": config,
        "NetworkSettings": d.network_settings(&r),
    })
}

async fn inspect(State(d): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let e = d.get(&id)?;
    Ok(json(StatusCode::OK, inspect_json(&d, &e)))
}
