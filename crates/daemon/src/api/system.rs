//! `/_ping`, `/version`, `/info`, `/events`.

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use super::{json, AppState, Query, API_VERSION, MIN_API_VERSION};
use crate::container::model::Status;
use crate::error::Result;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_ping", get(ping).head(ping_head))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/events", get(events))
        // The build cache comes with the builder; until then there is nothing to
        // prune, and `docker system prune` must not fail on it.
        .route(
            "/build/prune",
            axum::routing::post(|| async {
                json(
                    StatusCode::OK,
                    json!({"CachesDeleted": null, "SpaceReclaimed": 0}),
                )
            }),
        )
}

fn ping_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert("api-version", HeaderValue::from_static(API_VERSION));
    h.insert("ostype", HeaderValue::from_static("linux"));
    h.insert("docker-experimental", HeaderValue::from_static("false"));
    h.insert(
        "cache-control",
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert("pragma", HeaderValue::from_static("no-cache"));
    h.insert(
        "server",
        HeaderValue::from_static(concat!("berth/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
}

async fn ping() -> Response {
    let mut r = (StatusCode::OK, "OK").into_response();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    ping_headers(&mut r);
    r
}

async fn ping_head() -> Response {
    let mut r = StatusCode::OK.into_response();
    r.headers_mut()
        .insert("content-length", HeaderValue::from_static("0"));
    ping_headers(&mut r);
    r
}

fn kernel() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

async fn version() -> Response {
    let commit = option_env!("BERTH_COMMIT").unwrap_or("unknown");
    json(
        StatusCode::OK,
        json!({
            "Platform": {"Name": "berth"},
            "Components": [{"Name": "Engine", "Version": VERSION, "Details": {
                "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "GitCommit": commit,
                "GoVersion": "rust", "Os": "linux", "Arch": arch(), "KernelVersion": kernel(),
            }}],
            "Version": VERSION,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": commit,
            "GoVersion": "rust",
            "Os": "linux",
            "Arch": arch(),
            "KernelVersion": kernel(),
            "BuildTime": "",
        }),
    )
}

fn cgroup_version() -> &'static str {
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if v2 {
        "2"
    } else {
        "1"
    }
}

async fn info(State(d): State<AppState>) -> Result<Response> {
    let all = d.all();
    let count = |s: Status| {
        all.iter()
            .filter(|e| e.snapshot().state.status == s)
            .count()
    };
    let running = count(Status::Running);
    let paused = count(Status::Paused);
    let images = d.images.list_images().map(|v| v.len()).unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024;
    let runtimes: serde_json::Map<String, serde_json::Value> = d
        .config
        .runtimes
        .iter()
        .map(|(k, v)| (k.clone(), json!({"path": v.path})))
        .collect();
    let hostname = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    Ok(json(
        StatusCode::OK,
        json!({
            "ID": d.id,
            "Containers": all.len(),
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": all.len() - running - paused,
            "Images": images,
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Authorization": null, "Log": ["json-file", "none"]},
            "MemoryLimit": true, "SwapLimit": true, "CpuCfsPeriod": true, "CpuCfsQuota": true,
            "CPUShares": true, "CPUSet": true, "PidsLimit": true, "IPv4Forwarding": true,
            "Debug": d.config.debug,
            "NFd": std::fs::read_dir("/proc/self/fd").map(|r| r.count()).unwrap_or(0),
            "NGoroutines": 0,
            "SystemTime": crate::daemon::now_rfc3339(),
            "LoggingDriver": d.config.log_driver,
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": cgroup_version(),
            "NEventsListener": 0,
            "KernelVersion": kernel(),
            "OperatingSystem": "berth",
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": std::env::consts::ARCH,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8"], "Mirrors": []},
            "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "MemTotal": mem,
            "DockerRootDir": d.config.data_root,
            "Name": hostname,
            "Labels": [],
            "ExperimentalBuild": false,
            "ServerVersion": VERSION,
            "Runtimes": runtimes,
            "DefaultRuntime": d.config.default_runtime,
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
            "LiveRestoreEnabled": d.config.live_restore,
            "Isolation": "",
            "InitBinary": "docker-init",
            "ContainerdCommit": {"ID": ""},
            "RuncCommit": {"ID": ""},
            "InitCommit": {"ID": ""},
            "SecurityOptions": [],
            "Warnings": [],
        }),
    ))
}

async fn events(State(d): State<AppState>, RawQuery(q): RawQuery) -> Result<Response> {
    let q = Query::parse(q.as_deref());
    let filters = q.filters()?;
    let since = q.get("since").and_then(crate::logs::parse_timestamp);
    let until = q.get("until").and_then(crate::logs::parse_timestamp);
    let (past, mut rx) = d.events.subscribe(since);
    let (tx, out) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(64);
    tokio::spawn(async move {
        for e in past {
            if until.is_some_and(|u| e.time_nano > u) {
                return;
            }
            if e.matches(&filters)
                && tx
                    .send(Ok(Bytes::from(format!("{}\n", e.to_json()))))
                    .await
                    .is_err()
            {
                return;
            }
        }
        loop {
            let wait = match until {
                Some(u) => {
                    let left = u - crate::events::now_nanos();
                    if left <= 0 {
                        return;
                    }
                    std::time::Duration::from_nanos(left as u64)
                }
                None => std::time::Duration::from_secs(3600),
            };
            tokio::select! {
                ev = rx.recv() => match ev {
                    Ok(e) => {
                        if until.is_some_and(|u| e.time_nano > u) { return; }
                        if e.matches(&filters) && tx.send(Ok(Bytes::from(format!("{}\n", e.to_json())))).await.is_err() {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                },
                _ = tokio::time::sleep(wait) => if until.is_some() { return },
                _ = tx.closed() => return,
            }
        }
    });
    let stream =
        futures_util::stream::unfold(
            out,
            |mut rx| async move { rx.recv().await.map(|x| (x, rx)) },
        );
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    Ok(resp)
}
