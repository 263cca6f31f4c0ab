//! `berth network create|ls|inspect|rm|prune|connect|disconnect`: Docker's network
//! commands, flags and output (`ls` columns `NETWORK ID     NAME      DRIVER    SCOPE`,
//! names in natural order; `inspect` the daemon's JSON indented as Docker prints it).
//!
//! Parse (clap fills the `*Args` structs) → resolve (the pure `*_body`/`*_query`
//! functions check the flags as the docker CLI does and build the request: the IPAM
//! subnets, gateways and ranges must pair up, filters become Docker's
//! `{"key":{"value":true}}` JSON) → act (one request per name). The bodies are sent as
//! JSON built here rather than bollard's models, because docker CLI 28 still sends
//! fields (`CheckDuplicate`) that newer API models dropped.

use crate::client::{error_text, status_err, Ctx};
use crate::format::{self, labels_string, natural_cmp};
use crate::opts::{kv_map, parse_filters};
use crate::raw;
use anyhow::Result;
use clap::{ArgAction, Args, Subcommand};
use hyper::Method;
use serde_json::{json, Map, Value};
use std::net::IpAddr;

#[derive(Subcommand, Debug)]
pub enum NetworkCmd {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

#[derive(Args, Debug, Default)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long, action = ArgAction::Append, value_delimiter = ',')]
    pub subnet: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long, action = ArgAction::Append, value_delimiter = ',')]
    pub gateway: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range", action = ArgAction::Append, value_delimiter = ',')]
    pub ip_range: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", default_value = "default")]
    pub ipam_driver: String,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt", action = ArgAction::Append)]
    pub ipam_opt: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Enable manual container attachment
    #[arg(long)]
    pub attachable: bool,
    /// Enable or disable IPv6 address assignment
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub ipv6: Option<bool>,
    /// Control the network's scope
    #[arg(long)]
    pub scope: Option<String>,
    /// Set metadata on a network
    #[arg(long, action = ArgAction::Append)]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", action = ArgAction::Append)]
    pub opt: Vec<String>,
    #[arg(value_name = "NETWORK")]
    pub name: String,
}

#[derive(Args, Debug, Default)]
pub struct LsArgs {
    /// Only display network IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long = "filter", action = ArgAction::Append)]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short = 'v', long)]
    pub verbose: bool,
    #[arg(required = true, value_name = "NETWORK")]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true, value_name = "NETWORK")]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", action = ArgAction::Append)]
    pub filter: Vec<String>,
}

#[derive(Args, Debug, Default)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long, action = ArgAction::Append, value_delimiter = ',')]
    pub alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long)]
    pub ip6: Option<String>,
    /// Add a link-local address for the container
    #[arg(long = "link-local-ip", action = ArgAction::Append, value_delimiter = ',')]
    pub link_local_ip: Vec<String>,
    /// driver options for the network
    #[arg(long = "driver-opt", action = ArgAction::Append, value_delimiter = ',')]
    pub driver_opt: Vec<String>,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Args, Debug)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub async fn run(ctx: &Ctx, cmd: NetworkCmd) -> Result<u8> {
    match cmd {
        NetworkCmd::Create(a) => create(ctx, a).await,
        NetworkCmd::Ls(a) => ls(ctx, a).await,
        NetworkCmd::Inspect(a) => inspect(ctx, a).await,
        NetworkCmd::Rm(a) => rm(ctx, a).await,
        NetworkCmd::Prune(a) => prune(ctx, a).await,
        NetworkCmd::Connect(a) => connect(ctx, a).await,
        NetworkCmd::Disconnect(a) => disconnect(ctx, a).await,
    }
}

// ---- resolve: flags to requests, no daemon involved ----

/// An address block: the masked address as a number, its prefix length, its family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    addr: u128,
    bits: u32,
    v6: bool,
}

fn ip_bits(ip: IpAddr) -> (u128, bool) {
    match ip {
        IpAddr::V4(a) => (u128::from(u32::from(a)), false),
        IpAddr::V6(a) => (u128::from(a), true),
    }
}

/// Go's `net.ParseCIDR`, for the checks the docker CLI makes before sending.
fn parse_cidr(s: &str) -> Result<Cidr, String> {
    let bad = || format!("invalid CIDR address: {s}");
    let (ip, bits) = s.split_once('/').ok_or_else(bad)?;
    let ip: IpAddr = ip.parse().map_err(|_| bad())?;
    let (addr, v6) = ip_bits(ip);
    let max = if v6 { 128 } else { 32 };
    let bits: u32 = bits
        .parse()
        .ok()
        .filter(|b| *b <= max && !bits.starts_with('+'))
        .ok_or_else(bad)?;
    let host_bits = max - bits;
    let mask = if host_bits >= 128 {
        0
    } else {
        !((1u128 << host_bits) - 1)
    };
    Ok(Cidr {
        addr: addr & mask,
        bits,
        v6,
    })
}

impl Cidr {
    fn contains(&self, ip: IpAddr) -> bool {
        let (addr, v6) = ip_bits(ip);
        let max = if self.v6 { 128 } else { 32 };
        let host_bits = max - self.bits;
        let mask = if host_bits >= 128 {
            0
        } else {
            !((1u128 << host_bits) - 1)
        };
        v6 == self.v6 && addr & mask == self.addr
    }
}

/// The docker CLI's `subnetMatches`: does `subnet` hold `data` (an address or a CIDR)?
fn subnet_matches(subnet: &str, data: &str) -> Result<bool, String> {
    let s = parse_cidr(subnet).map_err(|e| format!("invalid subnet: {e}"))?;
    let ip = if data.contains('/') {
        parse_cidr(data)?;
        data.split('/').next().unwrap_or_default().parse().ok()
    } else {
        data.parse().ok()
    };
    Ok(ip.is_some_and(|ip| s.contains(ip)))
}

/// The docker CLI's `createIPAMConfig`: one `Config` entry per subnet, each gateway and
/// ip-range placed in the subnet that holds it.
pub fn ipam_config(
    subnets: &[String],
    ip_ranges: &[String],
    gateways: &[String],
) -> Result<Vec<Value>, String> {
    if subnets.len() < ip_ranges.len() || subnets.len() < gateways.len() {
        return Err("every ip-range or gateway must have a corresponding subnet".into());
    }
    let mut entries: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    for s in subnets {
        for (k, _, _) in &entries {
            if subnet_matches(s, k)? || subnet_matches(k, s)? {
                return Err("multiple overlapping subnet configuration is not supported".into());
            }
        }
        entries.push((s.clone(), None, None));
    }
    for r in ip_ranges {
        let mut matched = false;
        for (s, range, _) in entries.iter_mut() {
            if !subnet_matches(s, r)? {
                continue;
            }
            if let Some(old) = range {
                return Err(format!(
                    "cannot configure multiple ranges ({r}, {old}) on the same subnet ({s})"
                ));
            }
            *range = Some(r.clone());
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for range {r}"));
        }
    }
    for g in gateways {
        let mut matched = false;
        for (s, _, gw) in entries.iter_mut() {
            if !subnet_matches(s, g)? {
                continue;
            }
            if let Some(old) = gw {
                return Err(format!(
                    "cannot configure multiple gateways ({g}, {old}) for the same subnet ({s})"
                ));
            }
            *gw = Some(g.clone());
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for gateway {g}"));
        }
    }
    Ok(entries
        .into_iter()
        .map(|(subnet, range, gw)| {
            let mut o = Map::new();
            o.insert("Subnet".into(), json!(subnet));
            if let Some(r) = range {
                o.insert("IPRange".into(), json!(r));
            }
            if let Some(g) = gw {
                o.insert("Gateway".into(), json!(g));
            }
            Value::Object(o)
        })
        .collect())
}

/// The body of `POST /networks/create`, with the fields docker CLI 28 sends.
pub fn create_body(a: &CreateArgs) -> Result<Value, String> {
    let config = ipam_config(&a.subnet, &a.ip_range, &a.gateway)?;
    let mut body = json!({
        "Name": a.name,
        "Driver": a.driver,
        "Scope": a.scope.clone().unwrap_or_default(),
        "IPAM": {
            "Driver": a.ipam_driver,
            "Options": kv_map(&a.ipam_opt),
            "Config": config,
        },
        "Internal": a.internal,
        "Attachable": a.attachable,
        "Ingress": false,
        "ConfigOnly": false,
        "ConfigFrom": null,
        "Options": kv_map(&a.opt),
        "Labels": kv_map(&a.label),
        "CheckDuplicate": true,
    });
    if let Some(v6) = a.ipv6 {
        body["EnableIPv6"] = json!(v6);
    }
    Ok(body)
}

/// `--filter` values as the `filters` query parameter: Docker's `{"k":{"v":true}}` JSON,
/// URL-escaped; `None` without filters.
pub fn filters_query(items: &[String]) -> Result<Option<String>, String> {
    let f = parse_filters(items)?;
    if f.is_empty() {
        return Ok(None);
    }
    let mut keys: Vec<&String> = f.keys().collect();
    keys.sort();
    let mut o = Map::new();
    for k in keys {
        let vals: Map<String, Value> = f[k].iter().map(|v| (v.clone(), json!(true))).collect();
        o.insert(k.clone(), Value::Object(vals));
    }
    Ok(Some(raw::escape(&Value::Object(o).to_string())))
}

/// The body of `POST /networks/{id}/connect`.
pub fn connect_body(a: &ConnectArgs) -> Value {
    let mut ep = Map::new();
    let mut ipam = Map::new();
    if let Some(ip) = &a.ip {
        ipam.insert("IPv4Address".into(), json!(ip));
    }
    if let Some(ip) = &a.ip6 {
        ipam.insert("IPv6Address".into(), json!(ip));
    }
    if !a.link_local_ip.is_empty() {
        ipam.insert("LinkLocalIPs".into(), json!(a.link_local_ip));
    }
    if !ipam.is_empty() {
        ep.insert("IPAMConfig".into(), Value::Object(ipam));
    }
    if !a.alias.is_empty() {
        ep.insert("Aliases".into(), json!(a.alias));
    }
    if !a.driver_opt.is_empty() {
        ep.insert("DriverOpts".into(), json!(kv_map(&a.driver_opt)));
    }
    json!({"Container": a.container, "EndpointConfig": ep})
}

/// The body of `POST /networks/{id}/disconnect`.
pub fn disconnect_body(a: &DisconnectArgs) -> Value {
    json!({"Container": a.container, "Force": a.force})
}

/// Docker's network formatter fields for one network of `GET /networks`.
pub fn row(n: &Value, trunc: bool) -> Value {
    let id = n["Id"].as_str().unwrap_or_default();
    let s = |k: &str| json!(n[k].as_str().unwrap_or_default());
    json!({
        "ID": if trunc { format::short_id(id) } else { id.to_string() },
        "Name": s("Name"),
        "Driver": s("Driver"),
        "Scope": s("Scope"),
        "IPv6": n["EnableIPv6"].as_bool().unwrap_or(false).to_string(),
        "Internal": n["Internal"].as_bool().unwrap_or(false).to_string(),
        "Labels": labels_string(&n["Labels"]),
        "Label": n["Labels"].clone(),
        "CreatedAt": created_at(n["Created"].as_str().unwrap_or_default()),
    })
}

/// Go's `time.Time.String()` of an RFC 3339 time in UTC ("2026-11-22 13:38:48.1 +0000 UTC").
fn created_at(rfc3339: &str) -> String {
    match rfc3339.strip_suffix('Z') {
        Some(t) if t.len() > 11 => {
            let t = t.replacen('T', " ", 1);
            let t = if t.contains('.') {
                t.trim_end_matches('0').trim_end_matches('.').to_string()
            } else {
                t
            };
            format!("{t} +0000 UTC")
        }
        _ => rfc3339.to_string(),
    }
}

/// The template `ls` renders: `-q` (unless a custom format), `table`, `json` or custom.
pub fn ls_format(a: &LsArgs) -> String {
    match a.format.as_deref() {
        None | Some("table") | Some("") if a.quiet => "{{.ID}}".into(),
        None | Some("") | Some("table") => {
            "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}".into()
        }
        Some("json") => "{{json .}}".into(),
        Some(f) => f.into(),
    }
}

fn is_not_found(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<bollard::errors::Error>(),
            Some(bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                ..
            })
        )
    })
}

// ---- act ----

async fn create(ctx: &Ctx, a: CreateArgs) -> Result<u8> {
    let body = create_body(&a).map_err(|e| status_err(1, e))?;
    let r = raw::request_json(ctx, Method::POST, "/networks/create", Some(&body)).await?;
    let v: Value = serde_json::from_str(&r).unwrap_or_default();
    if let Some(w) = v["Warning"].as_str().filter(|w| !w.is_empty()) {
        eprintln!("{w}");
    }
    println!("{}", v["Id"].as_str().unwrap_or_default());
    Ok(0)
}

async fn ls(ctx: &Ctx, a: LsArgs) -> Result<u8> {
    let query = filters_query(&a.filter).map_err(|e| status_err(1, e))?;
    let fmt = ls_format(&a);
    let path = match query {
        Some(q) => format!("/networks?filters={q}"),
        None => "/networks".into(),
    };
    let r = raw::get_json(ctx, &path).await?;
    let mut nets: Vec<Value> = serde_json::from_str(&r)?;
    nets.sort_by(|x, y| {
        natural_cmp(
            x["Name"].as_str().unwrap_or_default(),
            y["Name"].as_str().unwrap_or_default(),
        )
    });
    let mut rows: Vec<Value> = nets.iter().map(|n| row(n, !a.no_trunc)).collect();
    if fmt == "{{json .}}" {
        for r in rows.iter_mut() {
            if let Some(o) = r.as_object_mut() {
                o.remove("Label");
            }
        }
    }
    let headers = json!({
        "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
        "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS", "Label": {},
        "CreatedAt": "CREATED AT",
    });
    super::ps::render_list(&fmt, &rows, &headers)?;
    Ok(0)
}

async fn inspect(ctx: &Ctx, a: InspectArgs) -> Result<u8> {
    let template = super::inspect::parse_format(a.format.as_deref())?;
    let q = if a.verbose { "?verbose=true" } else { "" };
    let mut objs = Vec::new();
    let mut errors = Vec::new();
    for name in &a.names {
        match raw::get_json(ctx, &format!("/networks/{}{q}", raw::escape(name))).await {
            Ok(o) => objs.push(o),
            Err(e) => errors.push(error_text(&e)),
        }
    }
    super::inspect::print_objects(&objs, template.as_ref(), errors)
}

/// Docker prints each failure as it happens and exits 1 at the end.
async fn rm(ctx: &Ctx, a: RmArgs) -> Result<u8> {
    let mut failed = false;
    for name in &a.names {
        let path = format!("/networks/{}", raw::escape(name));
        match raw::request_json(ctx, Method::DELETE, &path, None).await {
            Ok(_) => println!("{name}"),
            Err(e) if a.force && is_not_found(&e) => {}
            Err(e) => {
                eprintln!("{}", error_text(&e));
                failed = true;
            }
        }
    }
    if failed {
        Err(status_err(1, ""))
    } else {
        Ok(0)
    }
}

async fn prune(ctx: &Ctx, a: PruneArgs) -> Result<u8> {
    let query = filters_query(&a.filter).map_err(|e| status_err(1, e))?;
    let warning =
        "WARNING! This will remove all custom networks not used by at least one container.";
    if !a.force && !super::prompt::confirm(warning) {
        return Ok(0);
    }
    let path = match query {
        Some(q) => format!("/networks/prune?filters={q}"),
        None => "/networks/prune".into(),
    };
    let r = raw::request_json(ctx, Method::POST, &path, None).await?;
    let v: Value = serde_json::from_str(&r).unwrap_or_default();
    let deleted: Vec<&str> = v["NetworksDeleted"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !deleted.is_empty() {
        // Docker builds "Deleted Networks:\nname\n" and prints it with Println.
        println!("Deleted Networks:");
        for n in deleted {
            println!("{n}");
        }
        println!();
    }
    Ok(0)
}

async fn connect(ctx: &Ctx, a: ConnectArgs) -> Result<u8> {
    let body = connect_body(&a);
    let path = format!("/networks/{}/connect", raw::escape(&a.network));
    raw::request_json(ctx, Method::POST, &path, Some(&body)).await?;
    Ok(0)
}

async fn disconnect(ctx: &Ctx, a: DisconnectArgs) -> Result<u8> {
    let body = disconnect_body(&a);
    let path = format!("/networks/{}/disconnect", raw::escape(&a.network));
    raw::request_json(ctx, Method::POST, &path, Some(&body)).await?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(subcommand)]
        cmd: NetworkCmd,
    }

    fn parse(args: &[&str]) -> NetworkCmd {
        Wrap::try_parse_from(std::iter::once("network").chain(args.iter().copied()))
            .expect("flags parse")
            .cmd
    }

    fn create_args(args: &[&str]) -> CreateArgs {
        let mut v = vec!["create"];
        v.extend_from_slice(args);
        match parse(&v) {
            NetworkCmd::Create(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn create_sends_what_docker_sends() {
        let b = create_body(&create_args(&["n1"])).unwrap();
        assert_eq!(
            b,
            json!({"Name":"n1","Driver":"bridge","Scope":"","IPAM":{"Driver":"default",
                "Options":{},"Config":[]},"Internal":false,"Attachable":false,"Ingress":false,
                "ConfigOnly":false,"ConfigFrom":null,"Options":{},"Labels":{},
                "CheckDuplicate":true})
        );
    }

    #[test]
    fn create_flags_fill_the_body() {
        let a = create_args(&[
            "-d",
            "bridge",
            "--subnet",
            "172.30.0.0/16",
            "--gateway",
            "172.30.0.1",
            "--ip-range",
            "172.30.5.0/24",
            "--internal",
            "--attachable",
            "--label",
            "a=b",
            "--label",
            "flag",
            "-o",
            "com.docker.network.bridge.name=br-x",
            "--ipv6",
            "appnet",
        ]);
        let b = create_body(&a).unwrap();
        assert_eq!(b["Name"], "appnet");
        assert_eq!(
            b["IPAM"]["Config"],
            json!([{"Subnet":"172.30.0.0/16","IPRange":"172.30.5.0/24","Gateway":"172.30.0.1"}])
        );
        assert_eq!(b["Internal"], true);
        assert_eq!(b["Attachable"], true);
        assert_eq!(b["EnableIPv6"], true);
        assert_eq!(b["Labels"], json!({"a":"b","flag":""}));
        assert_eq!(
            b["Options"],
            json!({"com.docker.network.bridge.name":"br-x"})
        );
        let b = create_body(&create_args(&["--ipv6=false", "n"])).unwrap();
        assert_eq!(b["EnableIPv6"], false);
    }

    #[test]
    fn ipam_pairs_gateways_and_ranges_with_their_subnets() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            ipam_config(
                &v(&["10.1.0.0/16", "fd00::/64"]),
                &[],
                &v(&["fd00::1", "10.1.0.1"])
            )
            .unwrap(),
            vec![
                json!({"Subnet":"10.1.0.0/16","Gateway":"10.1.0.1"}),
                json!({"Subnet":"fd00::/64","Gateway":"fd00::1"}),
            ]
        );
        assert_eq!(
            ipam_config(&[], &[], &v(&["10.0.0.1"])).unwrap_err(),
            "every ip-range or gateway must have a corresponding subnet"
        );
        assert_eq!(
            ipam_config(&v(&["10.1.0.0/16"]), &[], &v(&["10.2.0.1"])).unwrap_err(),
            "no matching subnet for gateway 10.2.0.1"
        );
        assert_eq!(
            ipam_config(&v(&["10.1.0.0/16"]), &v(&["10.9.0.0/24"]), &[]).unwrap_err(),
            "no matching subnet for range 10.9.0.0/24"
        );
        assert_eq!(
            ipam_config(&v(&["10.1.0.0/16", "10.1.2.0/24"]), &[], &[]).unwrap_err(),
            "multiple overlapping subnet configuration is not supported"
        );
        // Like the docker CLI, a lone subnet is checked only when something must fit in it.
        assert!(ipam_config(&v(&["10.1.0.0/33"]), &[], &[]).is_ok());
        assert_eq!(
            ipam_config(&v(&["10.1.0.0/33"]), &[], &v(&["10.1.0.1"])).unwrap_err(),
            "invalid subnet: invalid CIDR address: 10.1.0.0/33"
        );
        // Comma-separated values, as pflag's string slices take them.
        let a = create_args(&["--subnet", "10.1.0.0/16,10.2.0.0/16", "n"]);
        assert_eq!(
            create_body(&a).unwrap()["IPAM"]["Config"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn filters_are_sent_as_dockers_map_json() {
        assert_eq!(filters_query(&[]).unwrap(), None);
        let q = filters_query(&[
            "name=app".into(),
            "type=custom".into(),
            "label=a=b".into(),
            "dangling=true".into(),
            "driver=bridge".into(),
            "id=abc".into(),
        ])
        .unwrap()
        .unwrap();
        let decoded = percent_decode(&q);
        assert_eq!(
            serde_json::from_str::<Value>(&decoded).unwrap(),
            json!({"dangling":{"true":true},"driver":{"bridge":true},"id":{"abc":true},
                "label":{"a=b":true},"name":{"app":true},"type":{"custom":true}})
        );
        assert_eq!(
            filters_query(&["bogus".into()]).unwrap_err(),
            "bad format of filter (expected name=value)"
        );
    }

    fn percent_decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn connect_and_disconnect_bodies() {
        let NetworkCmd::Connect(a) = parse(&[
            "connect",
            "--alias",
            "web",
            "--alias",
            "www,w3",
            "--ip",
            "172.30.0.9",
            "appnet",
            "c1",
        ]) else {
            panic!()
        };
        assert_eq!(a.network, "appnet");
        assert_eq!(
            connect_body(&a),
            json!({"Container":"c1","EndpointConfig":{
                "IPAMConfig":{"IPv4Address":"172.30.0.9"},"Aliases":["web","www","w3"]}})
        );
        let NetworkCmd::Connect(a) = parse(&["connect", "n", "c"]) else {
            panic!()
        };
        assert_eq!(
            connect_body(&a),
            json!({"Container":"c","EndpointConfig":{}})
        );
        let NetworkCmd::Disconnect(a) = parse(&["disconnect", "-f", "n", "c"]) else {
            panic!()
        };
        assert_eq!(disconnect_body(&a), json!({"Container":"c","Force":true}));
        assert!(Wrap::try_parse_from(["network", "connect", "n"]).is_err());
    }

    #[test]
    fn ls_rows_and_formats() {
        let n = json!({"Name":"bridge","Id":"0123456789abcdef0123","Created":"2026-11-22T13:38:48.120Z",
            "Scope":"local","Driver":"bridge","EnableIPv6":false,"Internal":false,"Labels":{"k":"v"}});
        let r = row(&n, true);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Labels"], "k=v");
        assert_eq!(r["CreatedAt"], "2026-11-22 13:38:48.12 +0000 UTC");
        assert_eq!(row(&n, false)["ID"], "0123456789abcdef0123");
        let t = crate::template::Template::parse("{{.Name}} {{.Driver}} {{.Label \"k\"}}").unwrap();
        assert_eq!(t.execute(&r).unwrap(), "bridge bridge v");
        let ls = |args: &[&str]| {
            let mut v = vec!["ls"];
            v.extend_from_slice(args);
            match parse(&v) {
                NetworkCmd::Ls(a) => ls_format(&a),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(ls(&[]), "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}");
        assert_eq!(ls(&["-q"]), "{{.ID}}");
        assert_eq!(ls(&["--format", "{{.Name}}"]), "{{.Name}}");
        assert_eq!(ls(&["--format", "json"]), "{{json .}}");
        assert!(matches!(parse(&["list"]), NetworkCmd::Ls(_)));
        assert!(matches!(parse(&["remove", "x"]), NetworkCmd::Rm(_)));
    }

    #[test]
    fn cidrs_contain_what_go_says_they_contain() {
        let c = parse_cidr("172.30.0.0/16").unwrap();
        assert!(c.contains("172.30.255.1".parse().unwrap()));
        assert!(!c.contains("172.31.0.1".parse().unwrap()));
        assert!(!c.contains("fd00::1".parse().unwrap()));
        assert!(parse_cidr("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(parse_cidr("::/0")
            .unwrap()
            .contains("fd00::1".parse().unwrap()));
        assert!(parse_cidr("10.0.0.0").is_err());
        assert!(parse_cidr("10.0.0.0/x").is_err());
    }
}
