//! `/networks/…`: create, list, inspect, remove, prune, connect and disconnect,
//! in Docker's JSON and with Docker's status codes (403 for what libnetwork
//! forbids: overlapping pools, removing a network with active endpoints or a
//! predefined one).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::volumes::labels_match;
use super::{json, parse_json, AppState, Query};
use crate::container::net::{mode, Mode};
use crate::daemon::{blocking, Daemon};
use crate::error::{Error, Kind, Result};
use crate::network::{CreateNetwork, Network};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct IpamConfig {
    subnet: Option<String>,
    gateway: Option<String>,
    #[serde(rename = "IPRange")]
    ip_range: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Ipam {
    driver: Option<String>,
    config: Option<Vec<IpamConfig>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: Option<String>,
    #[serde(rename = "IPAM")]
    ipam: Option<Ipam>,
    internal: bool,
    attachable: bool,
    #[serde(rename = "EnableIPv6")]
    enable_ipv6: Option<bool>,
    options: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

/// A network as Docker shows it; `containers` only in inspect.
fn network_json(d: &Daemon, n: &Network, containers: bool) -> Value {
    let config: Vec<Value> = match (n.subnet, n.gateway) {
        (Some(s), g) => {
            let mut c = json!({"Subnet": s.to_string()});
            if let Some(g) = g {
                c["Gateway"] = json!(g.to_string());
            }
            if let Some(r) = n.ip_range {
                c["IPRange"] = json!(r.to_string());
            }
            vec![c]
        }
        _ => vec![],
    };
    let mut members = serde_json::Map::new();
    if containers {
        for r in d.network_users(&n.id) {
            if let Some(ep) = r.endpoints.values().find(|e| e.network_id == n.id) {
                members.insert(
                    r.id.clone(),
                    json!({
                        "Name": r.name,
                        "EndpointID": ep.endpoint_id,
                        "MacAddress": ep.mac,
                        "IPv4Address": ep.ip.map(|ip| format!("{ip}/{}", ep.prefix)).unwrap_or_default(),
                        "IPv6Address": "",
                    }),
                );
            }
        }
    }
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv4": true,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": if n.is_bridge() { json!({}) } else { Value::Null }, "Config": config},
        "Internal": n.internal,
        "Attachable": n.attachable,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": members,
        "Options": n.options,
        "Labels": n.labels,
    })
}

async fn create(State(d): State<AppState>, body: Bytes) -> Result<Response> {
    let b: CreateBody = parse_json(&body)?;
    if b.enable_ipv6 == Some(true) {
        return Err(Error::invalid(
            "IPv6 networks are not supported by berth yet",
        ));
    }
    if let Some(drv) = b.ipam.as_ref().and_then(|i| i.driver.as_deref()) {
        if !drv.is_empty() && drv != "default" {
            return Err(Error::not_found(format!("plugin \"{drv}\" not found")));
        }
    }
    let mut configs = b.ipam.and_then(|i| i.config).unwrap_or_default();
    if configs.len() > 1 {
        return Err(Error::invalid(
            "berth networks have one IPv4 subnet: give one --subnet",
        ));
    }
    let cfg = configs.pop().unwrap_or_default();
    let req = CreateNetwork {
        name: b.name,
        driver: b.driver.unwrap_or_default(),
        subnet: cfg.subnet,
        gateway: cfg.gateway,
        ip_range: cfg.ip_range,
        internal: b.internal,
        attachable: b.attachable,
        options: b.options.unwrap_or_default(),
        labels: b.labels.unwrap_or_default(),
    };
    let d2 = d.clone();
    let n = blocking(move || {
        let n = d2.networks.create(req)?;
        let made = d2.bridge_up(&n).and_then(|_| d2.sync_firewall());
        if let Err(e) = made {
            let _ = berth_network::link::delete(&n.bridge);
            let _ = d2.networks.remove(&n.id);
            let _ = d2.sync_firewall();
            return Err(e);
        }
        Ok(n)
    })
    .await?;
    emit(&d, &n, "create", None);
    Ok(json(
        StatusCode::CREATED,
        json!({"Id": n.id, "Warning": ""}),
    ))
}

fn emit(d: &Daemon, n: &Network, action: &str, container: Option<&str>) {
    let mut a = BTreeMap::new();
    a.insert("name".to_owned(), n.name.clone());
    a.insert("type".to_owned(), n.driver.clone());
    if let Some(c) = container {
        a.insert("container".to_owned(), c.to_owned());
    }
    d.events.emit("network", action, &n.id, a);
}

fn filter(d: &Daemon, n: &Network, filters: &BTreeMap<String, Vec<String>>) -> Result<bool> {
    for (key, values) in filters {
        let ok = match key.as_str() {
            "name" => values.iter().any(|v| n.name.contains(v.as_str())),
            "id" => values.iter().any(|v| n.id.starts_with(v.as_str())),
            "driver" => values.contains(&n.driver),
            "label" => labels_match(&n.labels, values),
            "scope" => values.iter().any(|v| v == "local"),
            "type" => values.iter().any(|v| match v.as_str() {
                "custom" => !n.predefined(),
                "builtin" => n.predefined(),
                _ => false,
            }),
            "dangling" => {
                let want = matches!(values.last().map(String::as_str), Some("true" | "1"));
                (!n.predefined() && d.network_users(&n.id).is_empty()) == want
            }
            other => return Err(Error::invalid(format!("invalid filter '{other}'"))),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn list(State(d): State<AppState>, RawQuery(q): RawQuery) -> Result<Response> {
    let filters = Query::parse(q.as_deref()).filters()?;
    if let Some(types) = filters.get("type") {
        if let Some(bad) = types
            .iter()
            .find(|t| !matches!(t.as_str(), "custom" | "builtin"))
        {
            return Err(Error::invalid(format!("invalid filter: 'type'='{bad}'")));
        }
    }
    let d2 = d.clone();
    let out = blocking(move || {
        let mut out = Vec::new();
        for n in d2.networks.list() {
            if filter(&d2, &n, &filters)? {
                out.push(network_json(&d2, &n, false));
            }
        }
        Ok(out)
    })
    .await?;
    Ok(json(StatusCode::OK, Value::Array(out)))
}

async fn inspect(State(d): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let n = d.networks.get(&id)?;
    Ok(json(StatusCode::OK, network_json(&d, &n, true)))
}

/// Removes one network (blocking): refused while a running container uses it.
fn remove_network(d: &Daemon, n: &Network) -> Result<()> {
    if n.predefined() {
        return Err(Error::new(
            Kind::Forbidden,
            format!("{} is a pre-defined network and cannot be removed", n.name),
        ));
    }
    let users = d.network_users(&n.id);
    if let Some(r) = users.first() {
        return Err(Error::new(
            Kind::Forbidden,
            format!(
                "error while removing network: network {} has active endpoints (name:\"{}\" id:\"{}\")",
                n.name,
                r.name,
                &r.id[..12]
            ),
        ));
    }
    d.networks.remove(&n.id)?;
    if let Err(e) = berth_network::link::delete(&n.bridge) {
        tracing::warn!("removing bridge {}: {e}", n.bridge);
    }
    d.sync_firewall()
}

async fn remove(State(d): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let n = d.networks.get(&id)?;
    let d2 = d.clone();
    let n2 = n.clone();
    blocking(move || remove_network(&d2, &n2)).await?;
    emit(&d, &n, "destroy", None);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn prune(State(d): State<AppState>, RawQuery(q): RawQuery) -> Result<Response> {
    let filters = Query::parse(q.as_deref()).filters()?;
    let d2 = d.clone();
    let gone = blocking(move || {
        let mut gone = Vec::new();
        for n in d2.networks.list() {
            if n.predefined() || !d2.network_users(&n.id).is_empty() {
                continue;
            }
            if let Some(l) = filters.get("label") {
                if !labels_match(&n.labels, l) {
                    continue;
                }
            }
            if let Some(l) = filters.get("label!") {
                if labels_match(&n.labels, l) {
                    continue;
                }
            }
            // A created container still names the network: keep it, as Docker does.
            let named = d2.all().iter().any(|e| {
                e.snapshot()
                    .endpoints
                    .values()
                    .any(|ep| ep.network_id == n.id)
            });
            if named {
                continue;
            }
            if remove_network(&d2, &n).is_ok() {
                gone.push(n);
            }
        }
        Ok(gone)
    })
    .await?;
    for n in &gone {
        emit(&d, n, "destroy", None);
    }
    let names: Vec<&str> = gone.iter().map(|n| n.name.as_str()).collect();
    Ok(json(StatusCode::OK, json!({"NetworksDeleted": names})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ConnectBody {
    container: String,
    endpoint_config: Option<Value>,
    force: bool,
}

async fn connect(
    State(d): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let b: ConnectBody = parse_json(&body)?;
    let n = d.networks.get(&id)?;
    let entry = d.get(&b.container)?;
    let _op = entry.op.lock().await;
    let r = entry.snapshot();
    match mode(&r.host_config) {
        Mode::Host | Mode::None | Mode::Container(_) => {
            return Err(Error::invalid(format!(
                "container cannot be connected to network {}: it is in {} network mode",
                n.name, r.host_config.network_mode
            )))
        }
        Mode::Network(_) => {}
    }
    if !n.is_bridge() {
        return Err(Error::invalid(
            "container cannot be disconnected from host network or connected to host network",
        ));
    }
    if r.endpoints.contains_key(&n.name) {
        return Err(Error::new(
            Kind::Forbidden,
            format!(
                "endpoint with name {} already exists in network {}",
                r.name, n.name
            ),
        ));
    }
    let cfg = b.endpoint_config.unwrap_or(Value::Null);
    let mut planned = d.plan_endpoints(
        &crate::container::model::HostConfig {
            network_mode: n.name.clone(),
            ..Default::default()
        },
        Some(&json!({"EndpointsConfig": {n.name.clone(): cfg}})),
        None,
    )?;
    let ep = planned
        .remove(&n.name)
        .ok_or_else(|| Error::internal("no endpoint planned"))?;
    entry.update(|rec| rec.endpoints.insert(n.name.clone(), ep));
    if r.state.status.is_live() {
        let d2 = d.clone();
        let e2 = entry.clone();
        let name = n.name.clone();
        let rt = tokio::runtime::Handle::current();
        if let Err(e) = blocking(move || d2.attach_live(&e2, &name, &rt)).await {
            entry.update(|rec| rec.endpoints.remove(&n.name));
            return Err(e);
        }
    }
    d.save(&entry.snapshot())?;
    emit(&d, &n, "connect", Some(&r.id));
    Ok(StatusCode::OK.into_response())
}

async fn disconnect(
    State(d): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let b: ConnectBody = parse_json(&body)?;
    let n = d.networks.get(&id)?;
    let entry = match d.get(&b.container) {
        Ok(e) => e,
        // `--force`: a container that is gone is disconnected already.
        Err(_) if b.force => return Ok(StatusCode::OK.into_response()),
        Err(e) => return Err(e),
    };
    let _op = entry.op.lock().await;
    let r = entry.snapshot();
    if !n.is_bridge() {
        return Err(Error::invalid(
            "container cannot be disconnected from host network or connected to host network",
        ));
    }
    if !r.endpoints.contains_key(&n.name) {
        return Err(Error::new(
            Kind::Forbidden,
            format!("container {} is not connected to network {}", r.id, n.name),
        ));
    }
    let d2 = d.clone();
    let e2 = entry.clone();
    let name = n.name.clone();
    blocking(move || d2.detach_live(&e2, &name)).await?;
    d.save(&entry.snapshot())?;
    emit(&d, &n, "disconnect", Some(&r.id));
    Ok(StatusCode::OK.into_response())
}
