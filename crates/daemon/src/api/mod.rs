//! The Docker Engine API over HTTP/1.1 on Unix sockets.
//!
//! Handlers turn HTTP into typed requests and call the daemon's services; they
//! never touch the kernel (STYLE rule 4). Versioned paths (`/v1.41/…`) are
//! rewritten to unversioned ones before routing, after the version is checked.
//! Hijacked endpoints (attach, exec start) answer `101 UPGRADED` and then copy
//! bytes between the client's connection and the shim's.

mod archive;
mod containers;
mod exec;
mod images;
mod networks;
mod system;
mod top;
mod volumes;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::daemon::Daemon;
use crate::error::{Error, Result};

/// The API version berthd reports (what the notes' clients negotiated with dockerd).
pub const API_VERSION: &str = "1.41";
/// The oldest version accepted.
pub const MIN_API_VERSION: &str = "1.12";
/// The newest version accepted from clients that do not negotiate.
const MAX_ACCEPTED: (u32, u32) = (1, 51);

pub type AppState = Arc<Daemon>;

/// The whole API.
pub fn router(daemon: AppState) -> Router {
    Router::new()
        .merge(system::routes())
        .merge(containers::routes())
        .merge(exec::routes())
        .merge(images::routes())
        .merge(archive::routes())
        .merge(top::routes())
        .merge(volumes::routes())
        .merge(networks::routes())
        .fallback(|req: Request| async move {
            Error::not_found(format!(
                "page not found: {} {}",
                req.method(),
                req.uri().path()
            ))
        })
        .with_state(daemon)
}

fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Strips `/v1.NN` from the path, refusing versions outside the accepted range
/// with Docker's words.
pub fn rewrite(mut req: Request) -> std::result::Result<Request, Box<Response>> {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok(req);
    };
    let (ver, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let Some(v) = parse_version(ver) else {
        return Ok(req);
    };
    if v > MAX_ACCEPTED {
        let body = serde_json::json!({"message": format!(
            "client version {ver} is too new. Maximum supported API version is {API_VERSION}"
        )});
        return Err(Box::new(
            (StatusCode::BAD_REQUEST, axum::Json(body)).into_response(),
        ));
    }
    if v < parse_version(MIN_API_VERSION).unwrap_or((1, 12)) {
        return Err(Box::new(
            (
                StatusCode::BAD_REQUEST,
                format!("client version {ver} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"),
            )
                .into_response(),
        ));
    }
    let pq = match req.uri().query() {
        Some(q) => format!("{tail}?{q}"),
        None => tail.to_owned(),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = pq.parse().ok();
    if let Ok(uri) = axum::http::Uri::from_parts(parts) {
        *req.uri_mut() = uri;
    }
    Ok(req)
}

/// Query parameters, tolerant as Docker's: booleans as `1/0/true/false/True/False`.
#[derive(Debug, Default)]
pub struct Query(pub BTreeMap<String, String>);

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        let mut map = BTreeMap::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(decode(k), decode(v));
        }
        Query(map)
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    pub fn bool(&self, key: &str) -> bool {
        match self.get(key) {
            None => false,
            Some(v) => !matches!(v, "" | "0" | "false" | "False" | "FALSE" | "no"),
        }
    }
    pub fn int(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                Error::invalid(format!("invalid value for {key}: {v:?} is not an integer"))
            }),
        }
    }
    /// `filters`, in the map form (`{"k":{"v":true}}`) or the list form (`{"k":["v"]}`).
    pub fn filters(&self) -> Result<BTreeMap<String, Vec<String>>> {
        let Some(raw) = self.get("filters").filter(|s| !s.is_empty()) else {
            return Ok(BTreeMap::new());
        };
        let v: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| Error::invalid(format!("invalid filter '{raw}': {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| Error::invalid(format!("invalid filter '{raw}': expected an object")))?;
        let mut out = BTreeMap::new();
        for (k, v) in obj {
            let values = match v {
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect(),
                serde_json::Value::Object(m) => m.keys().cloned().collect(),
                serde_json::Value::String(s) => vec![s.clone()],
                _ => {
                    return Err(Error::invalid(format!(
                        "invalid filter '{raw}': bad value for {k}"
                    )))
                }
            };
            out.insert(k.clone(), values);
        }
        Ok(out)
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(v);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a JSON body; a wrong type names the field, as the issue asks.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        bytes
    };
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            Error::invalid(format!("invalid JSON: {}", e.inner()))
        } else {
            Error::invalid(format!("invalid JSON at {path}: {}", e.inner()))
        }
    })
}

/// A JSON response.
pub fn json(status: StatusCode, v: serde_json::Value) -> Response {
    (status, axum::Json(v)).into_response()
}

/// Starts a hijacked stream: answers `101 UPGRADED` (when the client asked for an
/// upgrade) and hands the raw connection to `f` once the response is out.
pub fn hijack<F, Fut>(mut req: Request, f: F) -> Response
where
    F: FnOnce(Box<dyn Raw>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let upgrade = req.headers().get("upgrade").is_some();
    if !upgrade {
        // No upgrade asked: stream the output as the body.
        let (client, server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(f(Box::new(server)));
        let stream = tokio_util_stream(client);
        let mut resp = Response::new(Body::from_stream(stream));
        resp.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("application/vnd.docker.raw-stream"),
        );
        return resp;
    }
    let on = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on.await {
            f(Box::new(hyper_util::rt::TokioIo::new(upgraded))).await;
        }
    });
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/vnd.docker.raw-stream"),
    );
    h.insert("connection", HeaderValue::from_static("Upgrade"));
    h.insert("upgrade", HeaderValue::from_static("tcp"));
    resp
}

/// A raw bidirectional connection.
pub trait Raw: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Raw for T {}

fn tokio_util_stream(
    r: tokio::io::DuplexStream,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send {
    use tokio::io::AsyncReadExt;
    futures_util::stream::unfold(Some(r), |r| async move {
        let mut r = r?;
        let mut buf = vec![0u8; 32 * 1024];
        match r.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), Some(r)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

/// Copies between a client's raw connection and a shim stream: client bytes go to
/// the process's stdin (a client EOF becomes a half-close), shim bytes to the
/// client; when the output ends, the client's write side is shut down.
pub async fn bridge(
    client: Box<dyn Raw>,
    shim: std::os::unix::net::UnixStream,
    after_output: impl std::future::Future<Output = ()>,
) {
    let _ = shim.set_nonblocking(true);
    let Ok(shim) = tokio::net::UnixStream::from_std(shim) else {
        return;
    };
    let (mut sr, mut sw) = shim.into_split();
    let (mut cr, mut cw) = tokio::io::split(client);
    let up = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut cr, &mut sw).await;
        let _ = sw.shutdown().await;
    });
    let _ = tokio::io::copy(&mut sr, &mut cw).await;
    after_output.await;
    let _ = cw.flush().await;
    let _ = cw.shutdown().await;
    up.abort();
}
