//! Raw GETs, for the places where bollard's typed models lose information. `inspect`:
//! Docker prints the daemon's objects with every field, nulls included, in the daemon's
//! order; decoding into bollard's structs would drop nulls and unknown fields. `logs`:
//! bollard keeps `since`/`until` as whole seconds, Docker sends nanoseconds. So both
//! fetch the body themselves over the same Unix socket (HTTP/1.1 via hyper, which bollard
//! already uses); `inspect` re-indents the text without reordering it.

use crate::client::Ctx;
use anyhow::{anyhow, Context as _, Result};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// GET `path` (e.g. `/containers/x/json`) at the negotiated API version; the body as text.
/// Error statuses become bollard's `DockerResponseServerError`, like every other call.
pub async fn get_json(ctx: &Ctx, path: &str) -> Result<String> {
    let body = get(ctx, path)
        .await?
        .into_body()
        .collect()
        .await?
        .to_bytes();
    Ok(String::from_utf8_lossy(&body).to_string())
}

/// GET `path` (e.g. `/containers/x/logs?…`) at the negotiated API version; the body as a
/// stream of chunks as they arrive, for endpoints that keep writing (`logs -f`). Error
/// statuses are mapped as in [`get_json`].
pub async fn get_stream(
    ctx: &Ctx,
    path: &str,
) -> Result<impl Stream<Item = Result<Bytes>> + Send + Unpin + use<>> {
    let body = get(ctx, path).await?.into_body();
    Ok(body
        .into_data_stream()
        .map(|r| r.map_err(anyhow::Error::from)))
}

/// Send `method path` with an optional JSON body; the response body as text. For the
/// network commands, whose request bodies Docker sends with fields (`CheckDuplicate`)
/// that bollard's models no longer carry. Errors are mapped as in [`get_json`].
pub async fn request_json(
    ctx: &Ctx,
    method: hyper::Method,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<String> {
    let body = send(ctx, method, path, body.map(|b| b.to_string()))
        .await?
        .into_body()
        .collect()
        .await?
        .to_bytes();
    Ok(String::from_utf8_lossy(&body).to_string())
}

/// Send the GET; a response with a success status, or the daemon's error.
async fn get(ctx: &Ctx, path: &str) -> Result<hyper::Response<hyper::body::Incoming>> {
    send(ctx, hyper::Method::GET, path, None).await
}

/// Send one request; a response with a success status, or the daemon's error.
async fn send(
    ctx: &Ctx,
    method: hyper::Method,
    path: &str,
    json: Option<String>,
) -> Result<hyper::Response<hyper::body::Incoming>> {
    let sock = ctx
        .host
        .strip_prefix("unix://")
        .ok_or_else(|| anyhow!("unsupported host {}", ctx.host))?;
    let stream = tokio::net::UnixStream::connect(sock)
        .await
        .with_context(|| format!("failed to connect to {}", ctx.host))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let uri = format!("/v{}{}", ctx.docker.client_version(), path);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(uri)
        .header("Host", "api.moby.localhost")
        .header("User-Agent", concat!("berth/", env!("CARGO_PKG_VERSION")));
    if json.is_some() {
        req = req.header("Content-Type", "application/json");
    }
    let req = req.body(Full::new(Bytes::from(json.unwrap_or_default())))?;
    let res = sender.send_request(req).await?;
    let status = res.status().as_u16();
    if status < 400 {
        return Ok(res);
    }
    let body = res.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&body);
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| text.trim().to_string());
    Err(bollard::errors::Error::DockerResponseServerError {
        status_code: status,
        message,
    }
    .into())
}

/// Path-segment escaping for names in URLs.
pub fn escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Re-indent JSON text as Go's `json.Indent(prefix, indent)` does, keeping key order;
/// `<`, `>` and `&` are escaped as Go's encoder does. `depth` is the starting level.
pub fn indent(json: &str, indent: &str, depth: usize) -> String {
    let mut out = String::with_capacity(json.len() * 2);
    let mut level = depth;
    let mut in_str = false;
    let mut escaped = false;
    let chars: Vec<char> = json.trim().chars().collect();
    let newline = |out: &mut String, level: usize| {
        out.push('\n');
        for _ in 0..level {
            out.push_str(indent);
        }
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if in_str {
            match c {
                '<' => out.push_str("\\u003c"),
                '>' => out.push_str("\\u003e"),
                '&' => out.push_str("\\u0026"),
                _ => out.push(c),
            }
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                // Empty containers stay on one line.
                let mut j = i + 1;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                let close = if c == '{' { '}' } else { ']' };
                if j < chars.len() && chars[j] == close {
                    out.push(c);
                    out.push(close);
                    i = j + 1;
                    continue;
                }
                out.push(c);
                level += 1;
                newline(&mut out, level);
            }
            '}' | ']' => {
                level = level.saturating_sub(1);
                newline(&mut out, level);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, level);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indent_like_go() {
        let s = r#"{"b":1,"a":[1,{"x":"<&>"}],"e":{},"l":[]}"#;
        let want = "{\n    \"b\": 1,\n    \"a\": [\n        1,\n        {\n            \"x\": \"\\u003c\\u0026\\u003e\"\n        }\n    ],\n    \"e\": {},\n    \"l\": []\n}";
        assert_eq!(indent(s, "    ", 0), want);
        assert_eq!(indent(r#""a\"{""#, "    ", 0), r#""a\"{""#);
    }
}
