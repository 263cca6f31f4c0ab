//! `/containers/{id}/exec` and `/exec/{id}/…`: another process in a running
//! container, through its shim.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::{hijack, json, parse_json, AppState, Query};
use crate::container::spec;
use crate::daemon::{blocking, random_id, Daemon, Exec};
use crate::error::{Error, Result};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/{id}/exec", post(create))
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/resize", post(resize))
        .route("/exec/{id}/json", get(inspect))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    attach_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    tty: bool,
    cmd: Option<Vec<String>>,
    env: Option<Vec<String>>,
    working_dir: String,
    user: String,
    privileged: bool,
    detach_keys: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct StartBody {
    detach: bool,
    tty: bool,
}

async fn create(
    State(d): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let e = d.get(&id)?;
    let b: CreateBody = parse_json(&body)?;
    let cmd = b
        .cmd
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Error::invalid("No exec command specified"))?;
    let r = e.snapshot();
    if r.state.status == crate::container::model::Status::Paused {
        return Err(Error::conflict(format!(
            "Container {} is paused, unpause the container before exec",
            r.id
        )));
    }
    if !r.state.status.can_exec() {
        return Err(Error::conflict(format!(
            "Container {} is not running",
            r.id
        )));
    }
    let exec = Exec {
        id: random_id(),
        container: r.id.clone(),
        cmd,
        env: b.env.unwrap_or_default(),
        user: b.user,
        working_dir: b.working_dir,
        tty: b.tty,
        attach_stdin: b.attach_stdin,
        attach_stdout: b.attach_stdout,
        attach_stderr: b.attach_stderr,
        privileged: b.privileged,
        detach_keys: b.detach_keys,
        running: false,
        started: false,
        exit_code: None,
        pid: 0,
    };
    let id = exec.id.clone();
    let action = format!("exec_create: {}", exec.cmd.join(" "));
    d.execs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id.clone(), exec);
    d.emit(&e, &action, &[("execID", id.clone())]);
    Ok(json(StatusCode::CREATED, json!({"Id": id})))
}

fn get_exec(d: &Daemon, id: &str) -> Result<Exec> {
    d.execs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(id)
        .cloned()
        .ok_or_else(|| Error::not_found(format!("No such exec instance: {id}")))
}

fn set_exec(d: &Daemon, id: &str, f: impl FnOnce(&mut Exec)) {
    if let Some(x) = d
        .execs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_mut(id)
    {
        f(x);
    }
}

/// The OCI process of an exec: the container's process (capabilities and all),
/// with the exec's command, environment, directory, user and terminal.
fn process(d: &Daemon, x: &Exec) -> Result<Value> {
    let bundle = d.bundle_dir(&x.container);
    let config: Value = serde_json::from_slice(&std::fs::read(bundle.join("config.json"))?)
        .map_err(|e| Error::internal(format!("container config: {e}")))?;
    let mut p = config["process"].clone();
    let base: Vec<String> = p["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut env = base;
    for kv in &x.env {
        let k = kv.split('=').next().unwrap_or("");
        env.retain(|e| e.split('=').next() != Some(k));
        if kv.contains('=') {
            env.push(kv.clone());
        }
    }
    if x.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    p["args"] = json!(x.cmd);
    p["env"] = json!(env);
    p["terminal"] = json!(x.tty);
    if !x.working_dir.is_empty() {
        p["cwd"] = json!(x.working_dir);
    }
    if !x.user.is_empty() {
        let u = spec::resolve_user(&bundle.join("rootfs"), &x.user)?;
        p["user"] = json!({"uid": u.uid, "gid": u.gid, "additionalGids": u.additional});
    }
    if let Some(obj) = p.as_object_mut() {
        obj.remove("consoleSize");
    }
    Ok(p)
}

async fn start(
    State(d): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|e| Error::invalid(e.to_string()))?;
    let b: StartBody = parse_json(&bytes)?;
    let x = get_exec(&d, &id)?;
    if x.started {
        return Err(Error::conflict(format!(
            "Error: Exec command {id} has already run"
        )));
    }
    let e = d.get(&x.container)?;
    let r = e.snapshot();
    let sock = match (r.state.status.can_exec(), r.shim_socket.clone()) {
        (true, Some(s)) => s,
        _ => {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                r.id
            )))
        }
    };
    let proc = process(&d, &x)?;
    set_exec(&d, &id, |x| {
        x.started = true;
        x.running = true;
    });
    let launch = Launch {
        d: d.clone(),
        id: id.clone(),
        entry: e,
        sock,
        cmd: x.cmd.join(" "),
    };
    if b.detach {
        launch.run(proc, false, true).await?;
        return Ok(StatusCode::OK.into_response());
    }
    let (stdin, tty) = (x.attach_stdin, x.tty);
    let req = Request::from_parts(parts, axum::body::Body::empty());
    // The process starts once the response head is out, as dockerd does: docker-py
    // reads the head through a buffer it then throws away, so output that arrived
    // with the head would be lost (regression test: docker_py's exec_run).
    Ok(hijack(req, move |mut client| async move {
        match launch.run(proc, stdin, false).await {
            Ok(Some(stream)) => super::bridge(client, stream, launch.wait()).await,
            Ok(None) => launch.wait().await,
            Err(err) => {
                // As dockerd: the error goes to the client's stdout, and the exit
                // code (126 or 127) to `GET /exec/{id}/json`.
                let text = format!("{}\r\n", err.message);
                let mut out = Vec::new();
                if !tty {
                    out.extend_from_slice(&[1, 0, 0, 0]);
                    out.extend_from_slice(&(text.len() as u32).to_be_bytes());
                }
                out.extend_from_slice(text.as_bytes());
                let _ = client.write_all(&out).await;
                let _ = client.shutdown().await;
            }
        }
    }))
}

/// One exec being started: where it runs and what to record about it.
#[derive(Clone)]
struct Launch {
    d: AppState,
    id: String,
    entry: std::sync::Arc<crate::daemon::Entry>,
    sock: std::path::PathBuf,
    cmd: String,
}

impl Launch {
    /// Starts the process in the shim; the stream of its output unless detached.
    /// A failure records Docker's exit code: 127 when the command is not found,
    /// 126 otherwise.
    async fn run(
        &self,
        proc: Value,
        stdin: bool,
        detach: bool,
    ) -> Result<Option<std::os::unix::net::UnixStream>> {
        let (sock, exec_id) = (self.sock.clone(), self.id.clone());
        let started = blocking(move || {
            Ok(berth_shim::ShimClient::new(sock).exec(&exec_id, proc, stdin, detach)?)
        })
        .await;
        let (pid, stream) = match started {
            Ok(v) => v,
            Err(err) => {
                let code = if err.message.contains("executable file not found")
                    || err.message.contains("no such file")
                {
                    127
                } else {
                    126
                };
                set_exec(&self.d, &self.id, |x| {
                    x.running = false;
                    x.exit_code = Some(code);
                });
                return Err(err);
            }
        };
        set_exec(&self.d, &self.id, |x| x.pid = pid);
        self.d.emit(
            &self.entry,
            &format!("exec_start: {}", self.cmd),
            &[("execID", self.id.clone())],
        );
        if detach || stream.is_none() {
            let this = self.clone();
            tokio::spawn(async move { this.wait().await });
        }
        Ok(stream)
    }

    /// Waits for the exit and records it; the bridge runs this before it ends the
    /// client's stream, so the `GET /exec/{id}/json` that follows reads the real code.
    async fn wait(&self) {
        let (s, i) = (self.sock.clone(), self.id.clone());
        let code = blocking(move || Ok(berth_shim::ShimClient::new(s).exec_wait(&i)?))
            .await
            .map(|x| x.code)
            .unwrap_or(-1);
        set_exec(&self.d, &self.id, |x| {
            x.running = false;
            x.exit_code = Some(code);
        });
        self.d.emit(
            &self.entry,
            "exec_die",
            &[("execID", self.id.clone()), ("exitCode", code.to_string())],
        );
    }
}

async fn resize(
    State(d): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let q = Query::parse(q.as_deref());
    let x = get_exec(&d, &id)?;
    let e = d.get(&x.container)?;
    let (h, w) = (q.int("h")?.unwrap_or(0), q.int("w")?.unwrap_or(0));
    let Some(sock) = e.snapshot().shim_socket else {
        return Err(Error::conflict(format!(
            "Container {} is not running",
            x.container
        )));
    };
    blocking(move || Ok(berth_shim::ShimClient::new(sock).exec_resize(&id, w as u16, h as u16)?))
        .await?;
    Ok(StatusCode::OK.into_response())
}

async fn inspect(State(d): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let x = get_exec(&d, &id)?;
    Ok(json(
        StatusCode::OK,
        json!({
            "ID": x.id,
            "Running": x.running,
            "ExitCode": x.exit_code,
            "ProcessConfig": {
                "tty": x.tty,
                "entrypoint": x.cmd.first(),
                "arguments": x.cmd.get(1..).unwrap_or(&[]),
                "privileged": x.privileged,
                "user": x.user,
            },
            "OpenStdin": x.attach_stdin,
            "OpenStderr": x.attach_stderr,
            "OpenStdout": x.attach_stdout,
            "CanRemove": false,
            "ContainerID": x.container,
            "DetachKeys": x.detach_keys,
            "Pid": x.pid,
        }),
    ))
}
