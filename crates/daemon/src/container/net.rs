//! A container's networking: which networks it is on (decided at create, changed
//! by connect/disconnect), and what its task gets when it starts (addresses,
//! interfaces, published ports, the embedded DNS server, `/etc/hosts` and
//! `/etc/resolv.conf`).
//!
//! The network namespace is the one the runtime made for the container: berthd
//! configures it through `/proc/<pid>/ns/net` after `create` and before `start`,
//! so nothing pins it and it goes with the container's last process. What lives
//! on the host — the host end of each veth pair, address leases, host-port
//! reservations, firewall rules, the DNS server's sockets — is undone by
//! [`Daemon::net_down`] when the task ends, at every exit path, and is idempotent.
//!
//! The firewall is rendered whole from every bridge network and every published
//! port ([`Daemon::sync_firewall`]), so no rule can outlive what made it.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use berth_network::firewall::{self, Firewall, NetRules, PortMap, Ruleset};
use berth_network::{dns, link, netns, ports, Proto};
use serde_json::{json, Value};
use sha2::Digest;

use super::model::{Endpoint, HostConfig, PublishedPort, Record, Status};
use crate::daemon::{Daemon, Entry};
use crate::error::{Error, Result};
use crate::network::Network;

/// A container's `--network`.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// A bridge network, by name or id (`default` is `bridge`).
    Network(String),
    None,
    Host,
    Container(String),
}

pub fn mode(h: &HostConfig) -> Mode {
    match h.network_mode.as_str() {
        "" | "default" | "bridge" => Mode::Network("bridge".into()),
        "none" => Mode::None,
        "host" => Mode::Host,
        m => match m.strip_prefix("container:") {
            Some(c) => Mode::Container(c.to_owned()),
            None => Mode::Network(m.to_owned()),
        },
    }
}

/// What the running task holds on the host besides the kernel's objects.
#[derive(Default)]
pub struct Live {
    dns: Option<dns::Server>,
    reservations: Vec<ports::Reservation>,
    proxies: Vec<tokio::task::AbortHandle>,
}

impl Drop for Live {
    fn drop(&mut self) {
        for p in &self.proxies {
            p.abort();
        }
    }
}

/// The daemon's networking state that is not in records.
pub struct NetState {
    pub firewall: Option<Box<dyn Firewall>>,
    fw_lock: Mutex<()>,
    /// Published ports by container id, for the firewall.
    port_maps: Mutex<HashMap<String, Vec<PortMap>>>,
    live: Mutex<HashMap<String, Live>>,
    /// Upstream resolvers for the embedded DNS.
    pub upstream: Vec<SocketAddr>,
}

impl NetState {
    pub fn new(firewall: Option<Box<dyn Firewall>>, upstream: Vec<SocketAddr>) -> NetState {
        NetState {
            firewall,
            fw_lock: Mutex::new(()),
            port_maps: Mutex::new(HashMap::new()),
            live: Mutex::new(HashMap::new()),
            upstream,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn net_err(e: berth_network::Error) -> Error {
    match e {
        berth_network::Error::BadSubnet(_) | berth_network::Error::BadAddress(_) => {
            Error::invalid(e.to_string())
        }
        _ => Error::internal(e.to_string()),
    }
}

fn hex_of(parts: &[&str]) -> String {
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || {
        Error::invalid(format!(
            "invalid MAC address {s:?}: expected six hex pairs as 02:42:ac:11:00:02"
        ))
    };
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        mac[i] = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    Ok(mac)
}

fn fmt_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The ports a container publishes: `PortBindings`, and with `PublishAllPorts`
/// every exposed port without a binding on an ephemeral host port.
pub fn bindings(r: &Record) -> Result<Vec<ports::Binding>> {
    let mut out = match &r.host_config.port_bindings {
        Some(v) if !v.is_null() => {
            ports::parse_bindings(v).map_err(|e| Error::invalid(e.to_string()))?
        }
        _ => Vec::new(),
    };
    let all = r
        .host_config
        .extra
        .get("PublishAllPorts")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if all {
        for key in r.config.exposed_ports.iter().flat_map(|m| m.keys()) {
            let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
            let (Ok(port), Some(proto)) = (port.parse::<u16>(), Proto::parse(proto)) else {
                continue;
            };
            if !out
                .iter()
                .any(|b| b.container_port == port && b.proto == proto)
            {
                out.push(ports::Binding {
                    proto,
                    container_port: port,
                    host_ip: Ipv4Addr::UNSPECIFIED,
                    host_lo: 0,
                    host_hi: 0,
                });
            }
        }
    }
    Ok(out)
}

/// One `EndpointsConfig` entry.
fn endpoint_from(v: &Value, network: &Network) -> Result<Endpoint> {
    let aliases: Vec<String> = v["Aliases"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let want_ip = match v["IPAMConfig"]["IPv4Address"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        Some(s) => Some(s.parse::<Ipv4Addr>().map_err(|_| {
            Error::invalid(format!(
                "invalid endpoint settings:\ninvalid IPv4 address: {s}"
            ))
        })?),
        None => None,
    };
    let want_mac = v["MacAddress"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    if let Some(m) = &want_mac {
        parse_mac(m)?;
    }
    let ep = Endpoint {
        network_id: network.id.clone(),
        aliases,
        want_ip,
        want_mac,
        ..Default::default()
    };
    check_endpoint(&ep, network)?;
    Ok(ep)
}

/// Docker's checks of an endpoint's settings against its network.
fn check_endpoint(ep: &Endpoint, n: &Network) -> Result<()> {
    if !n.is_bridge() {
        if ep.want_ip.is_some() || !ep.aliases.is_empty() {
            return Err(Error::invalid(format!(
                "invalid endpoint settings: network {} cannot have addresses or aliases",
                n.name
            )));
        }
        return Ok(());
    }
    if !ep.aliases.is_empty() && !n.user_defined() {
        return Err(Error::invalid(
            "network-scoped alias is supported only for containers in user defined networks",
        ));
    }
    if let Some(ip) = ep.want_ip {
        if !n.user_defined() {
            return Err(Error::invalid(
                "user specified IP address is supported on user defined networks only",
            ));
        }
        if !n.user_subnet {
            return Err(Error::invalid(
                "user specified IP address is supported only when connecting to networks with user configured subnets",
            ));
        }
        if !n.subnet.is_some_and(|s| s.contains(ip)) {
            return Err(Error::invalid(format!(
                "invalid endpoint settings:\nno configured subnet or ip-range contain the IP address {ip}"
            )));
        }
    }
    Ok(())
}

impl Daemon {
    /// The endpoints of a new container from `--network` and `NetworkingConfig`,
    /// checked (create).
    pub fn plan_endpoints(
        &self,
        h: &HostConfig,
        networking: Option<&Value>,
        container_mac: Option<&str>,
    ) -> Result<BTreeMap<String, Endpoint>> {
        let configs = networking
            .and_then(|n| n.get("EndpointsConfig"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut out = BTreeMap::new();
        match mode(h) {
            Mode::Network(name) => {
                let n = self.networks.get(&name)?;
                if !n.is_bridge() {
                    // `--network <id of host or none>`.
                    return Ok(out);
                }
                let cfg = configs
                    .get(&name)
                    .or_else(|| configs.get(&n.name))
                    .or_else(|| configs.get(&n.id))
                    .or_else(|| {
                        (n.name == "bridge")
                            .then(|| configs.get("default"))
                            .flatten()
                    })
                    .cloned()
                    .unwrap_or(Value::Null);
                let mut ep = endpoint_from(&cfg, &n)?;
                // `Config.MacAddress` (API < 1.44): the primary endpoint's.
                if let Some(mac) = container_mac.filter(|m| !m.is_empty()) {
                    if ep.want_mac.is_none() {
                        parse_mac(mac)?;
                        ep.want_mac = Some(mac.to_owned());
                    }
                }
                out.insert(n.name.clone(), ep);
                for (key, cfg) in &configs {
                    if key == &name || key == &n.name || key == &n.id || key == "default" {
                        continue;
                    }
                    let other = self.networks.get(key)?;
                    if other.is_bridge() {
                        out.insert(other.name.clone(), endpoint_from(cfg, &other)?);
                    }
                }
            }
            Mode::Container(target) => {
                self.get(&target)?;
                if h.port_bindings
                    .as_ref()
                    .is_some_and(|p| p.as_object().is_some_and(|o| !o.is_empty()))
                {
                    return Err(Error::invalid(
                        "conflicting options: port publishing and the container type network mode",
                    ));
                }
            }
            Mode::None | Mode::Host => {
                for key in configs.keys() {
                    if !matches!(key.as_str(), "host" | "none" | "default") {
                        return Err(Error::invalid(format!(
                            "container cannot be connected to network {key} in {} mode",
                            h.network_mode
                        )));
                    }
                }
            }
        }
        Ok(out)
    }

    /// The firewall's whole ruleset, from the bridge networks and every published
    /// port, applied at once (blocking).
    pub fn sync_firewall(&self) -> Result<()> {
        let Some(fw) = &self.net.firewall else {
            return Ok(());
        };
        let _g = lock(&self.net.fw_lock);
        let networks = self
            .networks
            .list()
            .into_iter()
            .filter(|n| n.is_bridge())
            .filter_map(|n| {
                Some(NetRules {
                    bridge: n.bridge.clone(),
                    subnet: n.subnet?,
                    internal: n.internal,
                    masquerade: n
                        .options
                        .get("com.docker.network.bridge.enable_ip_masquerade")
                        .is_none_or(|v| v != "false"),
                })
            })
            .collect();
        let mut ports: Vec<PortMap> = lock(&self.net.port_maps)
            .values()
            .flatten()
            .cloned()
            .collect();
        ports.sort_by_key(|p| (p.host_port, p.proto));
        fw.apply(&Ruleset { networks, ports }).map_err(net_err)
    }

    /// Makes a network's bridge (create, daemon start).
    pub fn bridge_up(&self, n: &Network) -> Result<()> {
        if !n.is_bridge() {
            return Ok(());
        }
        link::ensure_bridge(
            &n.bridge,
            n.gateway,
            n.subnet.map(|s| s.prefix()).unwrap_or(16),
        )
        .map_err(net_err)?;
        // Published ports on 127.0.0.1 are DNATed out of the bridge.
        if let Err(e) = link::set_route_localnet(&n.bridge) {
            tracing::warn!("route_localnet on {}: {e}", n.bridge);
        }
        Ok(())
    }

    /// The host end of a container's veth: `veth` + 7 random hex digits, new at
    /// every start (the end of the previous task's pair may still be on its way out).
    fn host_if() -> String {
        format!("veth{}", &crate::daemon::random_id()[..7])
    }

    /// Connects the running task's namespace (`/proc/<pid>/ns/net`) to one network:
    /// lease, veth, interface `ifname`. Returns the filled endpoint.
    fn attach(
        &self,
        id: &str,
        nspath: &Path,
        ep: &Endpoint,
        ifname: &str,
        primary: bool,
    ) -> Result<Endpoint> {
        let n = self
            .networks
            .find(&ep.network_id)
            .ok_or_else(|| Error::not_found(format!("network {} not found", ep.network_id)))?;
        if !link::exists(&n.bridge) {
            self.bridge_up(&n)?;
        }
        let ip = self.networks.allocate(&n.id, ep.want_ip)?;
        let mac = match &ep.want_mac {
            Some(m) => parse_mac(m)?,
            None => link::mac_for(ip),
        };
        let prefix = n.subnet.map(|s| s.prefix()).unwrap_or(16);
        let host_if = Daemon::host_if();
        let veth = link::Veth {
            host_name: host_if.clone(),
            bridge: n.bridge.clone(),
            netns: nspath.to_path_buf(),
            name_in_ns: ifname.to_owned(),
            mac,
            addr: ip,
            prefix,
            gateway: if primary && !n.internal {
                n.gateway
            } else {
                None
            },
            mtu: 1500,
        };
        if let Err(e) = link::add_veth(&veth) {
            self.networks.release(&n.id, ip);
            return Err(Error::internal(format!(
                "failed to set up the container's interface on network {}: {e}",
                n.name
            )));
        }
        Ok(Endpoint {
            endpoint_id: hex_of(&[id, &n.id, "endpoint"]),
            ip: Some(ip),
            prefix,
            gateway: if n.internal { None } else { n.gateway },
            mac: fmt_mac(&mac),
            host_if,
            if_name: ifname.to_owned(),
            ..ep.clone()
        })
    }

    /// Sets up the networking of a created task whose init is `pid` (blocking):
    /// loopback, interfaces, ports, firewall, DNS, `/etc/hosts` and
    /// `/etc/resolv.conf`. On failure everything made is undone.
    pub fn net_up(
        self: &Arc<Self>,
        entry: &Entry,
        pid: u32,
        rt: &tokio::runtime::Handle,
    ) -> Result<()> {
        let r = entry.snapshot();
        let m = mode(&r.host_config);
        if matches!(m, Mode::Host | Mode::Container(_)) {
            return Ok(());
        }
        let nspath = PathBuf::from(format!("/proc/{pid}/ns/net"));
        let t0 = std::time::Instant::now();
        link::loopback_up(&nspath).map_err(net_err)?;
        tracing::debug!(container = %r.id, lo = ?t0.elapsed(), "network: loopback");
        if m == Mode::None || r.endpoints.is_empty() {
            self.write_net_files(&r)?;
            return Ok(());
        }
        let result = self.net_up_inner(entry, &r, &nspath, rt);
        tracing::debug!(container = %r.id, total = ?t0.elapsed(), "network: up");
        if result.is_err() {
            self.net_down(entry);
        }
        result
    }

    fn net_up_inner(
        self: &Arc<Self>,
        entry: &Entry,
        r: &Record,
        nspath: &Path,
        rt: &tokio::runtime::Handle,
    ) -> Result<()> {
        // The `--network` network is eth0 and has the default route.
        let primary = match mode(&r.host_config) {
            Mode::Network(n) => self.networks.find(&n).map(|n| n.name).unwrap_or(n),
            _ => String::new(),
        };
        let mut order: Vec<String> = r.endpoints.keys().cloned().collect();
        order.sort_by_key(|k| (k != &primary, k.clone()));
        for (i, name) in order.iter().enumerate() {
            let ep = r.endpoints[name].clone();
            let t = std::time::Instant::now();
            let filled = self.attach(&r.id, nspath, &ep, &format!("eth{i}"), i == 0)?;
            tracing::debug!(container = %r.id, network = %name, took = ?t.elapsed(), "network: attached");
            entry.update(|rec| rec.endpoints.insert(name.clone(), filled));
        }
        let r = entry.snapshot();
        // Published ports, on the primary network's address.
        let first = order.first().and_then(|n| r.endpoints.get(n)).cloned();
        let bindings = bindings(&r)?;
        let mut live = Live::default();
        let mut maps = Vec::new();
        let mut published = Vec::new();
        if let (Some(ep), false) = (first, bindings.is_empty()) {
            let n = self.networks.get(&ep.network_id)?;
            let ip = ep.ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
            for b in &bindings {
                let res = self
                    .reserve(b.proto, b.host_ip, b.host_lo, b.host_hi)
                    .map_err(|e| {
                        Error::internal(format!(
                        "driver failed programming external connectivity on endpoint {} ({}): {e}",
                        r.name, ep.endpoint_id
                    ))
                    })?;
                let port = res.port();
                published.push(PublishedPort {
                    proto: b.proto,
                    container_port: b.container_port,
                    host_ip: b.host_ip,
                    host_port: port,
                });
                let target = SocketAddr::from((ip, b.container_port));
                self.publish(res, target, &n.bridge, &mut live, &mut maps, rt)?;
            }
        }
        let has_ports = !maps.is_empty();
        lock(&self.net.port_maps).insert(r.id.clone(), maps);
        entry.update(|rec| rec.ports = published);
        if has_ports {
            self.sync_firewall()?;
        }
        // The embedded DNS on user-defined networks.
        if self.on_user_network(&r) {
            live.dns = Some(self.start_dns(&r.id, nspath, rt)?);
        }
        lock(&self.net.live).insert(r.id.clone(), live);
        self.write_net_files(&entry.snapshot())?;
        Ok(())
    }

    /// Holds a host port: bound, or for the userland proxy about to listen.
    fn reserve(
        &self,
        proto: Proto,
        ip: Ipv4Addr,
        lo: u16,
        hi: u16,
    ) -> berth_network::Result<ports::Reservation> {
        if self.config.userland_proxy && proto == Proto::Tcp {
            ports::reserve_to_listen(proto, ip, lo, hi)
        } else {
            ports::reserve(proto, ip, lo, hi)
        }
    }

    /// Whether the container is on a user-defined network (and so has the
    /// embedded DNS).
    fn on_user_network(&self, r: &Record) -> bool {
        r.endpoints.values().any(|ep| {
            self.networks
                .find(&ep.network_id)
                .is_some_and(|n| n.user_defined())
        })
    }

    /// Publishes one reserved host port: a DNAT rule to the container (`maps`), or
    /// with `userland-proxy` (TCP) a relay task listening on the reserved socket.
    fn publish(
        &self,
        res: ports::Reservation,
        target: SocketAddr,
        bridge: &str,
        live: &mut Live,
        maps: &mut Vec<PortMap>,
        rt: &tokio::runtime::Handle,
    ) -> Result<()> {
        let proto = res.proto();
        if self.config.userland_proxy && proto == Proto::Tcp {
            // dockerd's docker-proxy, for comparison (bench/network.py).
            if let Some(l) = res.listen().map_err(net_err)? {
                let _g = rt.enter();
                let l = tokio::net::TcpListener::from_std(l)?;
                let task = rt.spawn(ports::proxy_tcp(l, target));
                live.proxies.push(task.abort_handle());
            }
            return Ok(());
        }
        let std::net::IpAddr::V4(container_ip) = target.ip() else {
            return Err(Error::internal("published ports are IPv4 only"));
        };
        maps.push(PortMap {
            proto,
            host_ip: res.host_ip(),
            host_port: res.port(),
            container_ip,
            container_port: target.port(),
            bridge: bridge.to_owned(),
        });
        live.reservations.push(res);
        Ok(())
    }

    /// Binds 127.0.0.11:53 inside the container's namespace and serves it.
    fn start_dns(
        self: &Arc<Self>,
        id: &str,
        nspath: &Path,
        rt: &tokio::runtime::Handle,
    ) -> Result<dns::Server> {
        let (udp, tcp) = netns::run_in(nspath, || -> std::io::Result<_> {
            let addr = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 11), 53));
            let udp = std::net::UdpSocket::bind(addr)?;
            let tcp = std::net::TcpListener::bind(addr)?;
            udp.set_nonblocking(true)?;
            tcp.set_nonblocking(true)?;
            Ok((udp, tcp))
        })
        .map_err(net_err)?
        .map_err(|e| Error::internal(format!("failed to start the embedded DNS server: {e}")))?;
        let resolver = Arc::new(Names {
            daemon: Arc::downgrade(self),
            id: id.to_owned(),
        });
        // Internal networks have no way out, their DNS neither (as Docker's).
        let outside = self.get(id).ok().is_some_and(|e| {
            e.snapshot().endpoints.values().any(|ep| {
                self.networks
                    .find(&ep.network_id)
                    .is_some_and(|n| !n.internal)
            })
        });
        let upstream = if outside {
            self.net.upstream.clone()
        } else {
            Vec::new()
        };
        let _g = rt.enter();
        dns::Server::start(udp, tcp, resolver, upstream).map_err(net_err)
    }

    /// Undoes [`Daemon::net_up`] (blocking, idempotent): DNS, reservations, host
    /// veths, leases, port rules. The namespace itself goes with the task.
    pub fn net_down(&self, entry: &Entry) {
        let t0 = std::time::Instant::now();
        let id = entry.id.clone();
        let live = lock(&self.net.live).remove(&id);
        drop(live);
        let had_ports = lock(&self.net.port_maps)
            .remove(&id)
            .is_some_and(|m| !m.is_empty());
        let taken: Vec<Endpoint> = entry.update(|r| {
            r.ports.clear();
            r.endpoints
                .values_mut()
                .filter(|ep| ep.ip.is_some() || !ep.host_if.is_empty())
                .map(|ep| {
                    let old = ep.clone();
                    ep.ip = None;
                    ep.prefix = 0;
                    ep.gateway = None;
                    ep.mac.clear();
                    ep.host_if.clear();
                    ep.if_name.clear();
                    ep.endpoint_id.clear();
                    old
                })
                .collect()
        });
        let mut links = Vec::new();
        for ep in taken {
            if !ep.host_if.is_empty() {
                links.push(ep.host_if.clone());
            }
            if let Some(ip) = ep.ip {
                self.networks.release(&ep.network_id, ip);
            }
        }
        // Deleting a veth waits for the kernel's RCU grace period (4-13 ms here),
        // and the exited task's namespace takes the pair with it anyway: the host
        // end is deleted off the exit path, so `run --rm` does not wait for it.
        if !links.is_empty() {
            let spawned = std::thread::Builder::new()
                .name("berth-veth-del".into())
                .spawn(move || {
                    for l in links {
                        if let Err(e) = link::delete(&l) {
                            tracing::debug!("removing {l}: {e}");
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!("could not remove host veths: {e}");
            }
        }
        if had_ports {
            if let Err(e) = self.sync_firewall() {
                tracing::warn!("firewall: {}", e.message);
            }
        }
        tracing::debug!(container = %id, took = ?t0.elapsed(), "network: down");
    }

    /// Connects a running container to one more network (`network connect`).
    pub fn attach_live(
        self: &Arc<Self>,
        entry: &Entry,
        name: &str,
        rt: &tokio::runtime::Handle,
    ) -> Result<()> {
        let r = entry.snapshot();
        let nspath = PathBuf::from(format!("/proc/{}/ns/net", r.state.pid));
        let ep = r
            .endpoints
            .get(name)
            .cloned()
            .ok_or_else(|| Error::internal("endpoint vanished"))?;
        // The first free `ethN` (a disconnect may have left a gap).
        let used: Vec<&str> = r
            .endpoints
            .values()
            .filter(|e| !e.host_if.is_empty())
            .map(|e| e.if_name.as_str())
            .collect();
        let ifname = (0..)
            .map(|i| format!("eth{i}"))
            .find(|n| !used.contains(&n.as_str()))
            .unwrap_or_default();
        let filled = self.attach(&r.id, &nspath, &ep, &ifname, used.is_empty())?;
        let user = self
            .networks
            .find(&ep.network_id)
            .is_some_and(|n| n.user_defined());
        entry.update(|rec| rec.endpoints.insert(name.to_owned(), filled));
        if user
            && lock(&self.net.live)
                .get(&r.id)
                .is_none_or(|l| l.dns.is_none())
        {
            let server = self.start_dns(&r.id, &nspath, rt)?;
            lock(&self.net.live).entry(r.id.clone()).or_default().dns = Some(server);
        }
        self.write_net_files(&entry.snapshot())
    }

    /// Takes a running container off one network (`network disconnect`).
    pub fn detach_live(&self, entry: &Entry, name: &str) -> Result<()> {
        let ep = entry.update(|r| r.endpoints.remove(name));
        if let Some(ep) = ep {
            if !ep.host_if.is_empty() {
                let _ = link::delete(&ep.host_if);
            }
            if let Some(ip) = ep.ip {
                self.networks.release(&ep.network_id, ip);
            }
        }
        self.write_net_files(&entry.snapshot())
    }

    /// After a daemon restart: the running containers' leases, host ports, DNS
    /// servers and rules come back (blocking).
    pub fn net_restore(self: &Arc<Self>, entry: &Entry, rt: &tokio::runtime::Handle) {
        let r = entry.snapshot();
        let mut live = Live::default();
        let mut maps = Vec::new();
        // Ports are published on the primary (eth0) network's address.
        let first = r
            .endpoints
            .values()
            .find(|e| e.if_name == "eth0")
            .or_else(|| r.endpoints.values().find(|e| e.ip.is_some()))
            .cloned();
        for ep in r.endpoints.values() {
            if let Some(ip) = ep.ip {
                self.networks.reserve(&ep.network_id, ip);
            }
        }
        if let Some(ep) = first {
            if let Some(n) = self.networks.find(&ep.network_id) {
                let ip = ep.ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
                for p in &r.ports {
                    let published = self
                        .reserve(p.proto, p.host_ip, p.host_port, p.host_port)
                        .map_err(net_err)
                        .and_then(|res| {
                            let target = SocketAddr::from((ip, p.container_port));
                            self.publish(res, target, &n.bridge, &mut live, &mut maps, rt)
                        });
                    if let Err(e) = published {
                        tracing::warn!("container {}: port {}: {}", r.id, p.host_port, e.message);
                    }
                }
            }
        }
        lock(&self.net.port_maps).insert(r.id.clone(), maps);
        if self.on_user_network(&r) && r.state.pid != 0 {
            let nspath = PathBuf::from(format!("/proc/{}/ns/net", r.state.pid));
            match self.start_dns(&r.id, &nspath, rt) {
                Ok(s) => live.dns = Some(s),
                Err(e) => tracing::warn!("container {}: embedded DNS: {}", r.id, e.message),
            }
        }
        lock(&self.net.live).insert(r.id.clone(), live);
    }

    /// `/etc/hosts` and `/etc/resolv.conf` of the container (rewritten in place:
    /// they are bind-mounted into it).
    pub fn write_net_files(&self, r: &Record) -> Result<()> {
        let dir = self.container_dir(&r.id);
        let m = mode(&r.host_config);
        if m == Mode::Host {
            let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
            std::fs::write(dir.join("hosts"), hosts)?;
            std::fs::write(dir.join("resolv.conf"), self.resolv_conf(r, false))?;
            return Ok(());
        }
        let mut hosts = String::from(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff00::1\tip6-allnodes\nff00::2\tip6-allrouters\n",
        );
        for extra in r.host_config.extra_hosts.iter().flatten() {
            if let Some((name, ip)) = extra.split_once(':').or_else(|| extra.split_once('=')) {
                let ip = if ip == "host-gateway" {
                    self.networks
                        .find("bridge")
                        .and_then(|n| n.gateway)
                        .map(|g| g.to_string())
                        .unwrap_or_default()
                } else {
                    ip.to_owned()
                };
                hosts.push_str(&format!("{ip}\t{name}\n"));
            }
        }
        let mut names = r.config.hostname.clone();
        if !r.config.domainname.is_empty() {
            names = format!("{names}.{} {names}", r.config.domainname);
        }
        let ips: Vec<Ipv4Addr> = r.endpoints.values().filter_map(|e| e.ip).collect();
        if ips.is_empty() {
            if m == Mode::None {
                hosts.push_str(&format!("127.0.1.1\t{names}\n"));
            }
        } else {
            for ip in ips {
                hosts.push_str(&format!("{ip}\t{names}\n"));
            }
        }
        std::fs::write(dir.join("hosts"), hosts)?;
        let embedded = self.on_user_network(r);
        std::fs::write(dir.join("resolv.conf"), self.resolv_conf(r, embedded))?;
        Ok(())
    }

    /// Docker's resolv.conf of a container: the embedded server on user-defined
    /// networks, else the host's nameservers (without loopback ones, which the
    /// container cannot reach), `--dns*` overriding.
    fn resolv_conf(&self, r: &Record, embedded: bool) -> String {
        let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let strings = |key: &str| -> Vec<String> {
            r.host_config
                .extra
                .get(key)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (dns, search, options) = (strings("Dns"), strings("DnsSearch"), strings("DnsOptions"));
        let mut out = String::new();
        if embedded {
            out.push_str("nameserver 127.0.0.11\n");
        } else if !dns.is_empty() || !self.config.dns.is_empty() {
            let list = if dns.is_empty() {
                &self.config.dns
            } else {
                &dns
            };
            for s in list {
                out.push_str(&format!("nameserver {s}\n"));
            }
        } else {
            let mut any = false;
            for line in host.lines() {
                if let Some(ns) = line.trim().strip_prefix("nameserver") {
                    let ns = ns.trim();
                    if !ns.starts_with("127.") && ns != "::1" || mode(&r.host_config) == Mode::Host
                    {
                        out.push_str(&format!("nameserver {ns}\n"));
                        any = true;
                    }
                }
            }
            if !any {
                out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
            }
        }
        if !search.is_empty() {
            out.push_str(&format!("search {}\n", search.join(" ")));
        } else if let Some(l) = host.lines().find(|l| l.starts_with("search ")) {
            out.push_str(l);
            out.push('\n');
        }
        let mut opts: Vec<String> = if !options.is_empty() {
            options
        } else {
            host.lines()
                .filter_map(|l| l.strip_prefix("options "))
                .flat_map(|l| l.split_whitespace().map(str::to_owned))
                .collect()
        };
        if embedded && !opts.iter().any(|o| o.starts_with("ndots:")) {
            opts.push("ndots:0".into());
        }
        if !opts.is_empty() {
            out.push_str(&format!("options {}\n", opts.join(" ")));
        }
        out
    }

    /// Makes the `container:<x>` spec point at `x`'s namespace and shares its
    /// hosts and resolv.conf (start, blocking).
    pub fn join_container_netns(&self, r: &Record) -> Result<()> {
        let Mode::Container(target) = mode(&r.host_config) else {
            return Ok(());
        };
        let t = self.get(&target)?.snapshot();
        if !t.state.status.is_live() || t.state.pid == 0 {
            return Err(Error::conflict(format!(
                "cannot join network namespace of a non running container: {}",
                t.id
            )));
        }
        let bundle = self.bundle_dir(&r.id);
        let path = bundle.join("config.json");
        let mut spec: Value = serde_json::from_slice(&std::fs::read(&path)?)
            .map_err(|e| Error::internal(format!("config.json: {e}")))?;
        if let Some(list) = spec["linux"]["namespaces"].as_array_mut() {
            for ns in list.iter_mut() {
                if ns["type"] == "network" {
                    ns["path"] = json!(format!("/proc/{}/ns/net", t.state.pid));
                }
            }
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap_or_default())?;
        let (from, to) = (self.container_dir(&t.id), self.container_dir(&r.id));
        for f in ["hosts", "resolv.conf"] {
            let _ = std::fs::copy(from.join(f), to.join(f));
        }
        Ok(())
    }

    /// The live containers with an endpoint on network `id`.
    pub fn network_users(&self, id: &str) -> Vec<Record> {
        self.all()
            .into_iter()
            .map(|e| e.snapshot())
            .filter(|r| {
                r.state.status.is_live()
                    && r.endpoints
                        .values()
                        .any(|ep| ep.network_id == id && ep.ip.is_some())
            })
            .collect()
    }

    /// `NetworkSettings` of inspect (and `Networks` of the list).
    pub fn network_settings(&self, r: &Record) -> Value {
        let running = r.state.status.is_live();
        let mut networks = serde_json::Map::new();
        let m = mode(&r.host_config);
        let special = match &m {
            Mode::Host => Some("host"),
            Mode::None => Some("none"),
            _ => None,
        };
        if let Some(name) = special {
            let id = self.networks.find(name).map(|n| n.id).unwrap_or_default();
            networks.insert(
                name.to_owned(),
                json!({"IPAMConfig": null, "Links": null, "Aliases": null, "MacAddress": "", "DriverOpts": null,
                       "NetworkID": id, "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
                       "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": null}),
            );
        }
        for (name, ep) in &r.endpoints {
            let mut dns_names: Vec<String> = Vec::new();
            if self
                .networks
                .find(&ep.network_id)
                .is_some_and(|n| n.user_defined())
            {
                dns_names.push(r.name.clone());
                dns_names.extend(ep.aliases.iter().cloned());
                dns_names.push(r.id[..12].to_owned());
                dns_names.dedup();
            }
            networks.insert(
                name.clone(),
                json!({
                    "IPAMConfig": ep.want_ip.map(|ip| json!({"IPv4Address": ip.to_string()})),
                    "Links": null,
                    "Aliases": if ep.aliases.is_empty() { Value::Null } else { json!(ep.aliases) },
                    "MacAddress": ep.mac,
                    "DriverOpts": null,
                    "NetworkID": ep.network_id,
                    "EndpointID": ep.endpoint_id,
                    "Gateway": ep.gateway.map(|g| g.to_string()).unwrap_or_default(),
                    "IPAddress": ep.ip.map(|g| g.to_string()).unwrap_or_default(),
                    "IPPrefixLen": ep.prefix,
                    "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                    "DNSNames": if dns_names.is_empty() { Value::Null } else { json!(dns_names) },
                }),
            );
        }
        let mut ports = serde_json::Map::new();
        if running {
            for key in r.config.exposed_ports.iter().flat_map(|m| m.keys()) {
                ports.insert(key.clone(), Value::Null);
            }
            for p in &r.ports {
                let key = format!("{}/{}", p.container_port, p.proto.as_str());
                let entry = ports.entry(key).or_insert_with(|| json!([]));
                if !entry.is_array() {
                    *entry = json!([]);
                }
                if let Some(a) = entry.as_array_mut() {
                    a.push(json!({"HostIp": p.host_ip.to_string(), "HostPort": p.host_port.to_string()}));
                }
            }
        }
        let bridge = r.endpoints.get("bridge");
        let field =
            |f: &dyn Fn(&Endpoint) -> Value, default: Value| bridge.map(f).unwrap_or(default);
        let sandbox = if running && r.state.pid != 0 && !matches!(m, Mode::Host) {
            format!("/proc/{}/ns/net", r.state.pid)
        } else {
            String::new()
        };
        json!({
            "Bridge": "", "SandboxID": if sandbox.is_empty() { String::new() } else { hex_of(&[&r.id, "sandbox"]) },
            "SandboxKey": sandbox, "HairpinMode": false,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
            "Ports": ports,
            "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null,
            "EndpointID": field(&|e| json!(e.endpoint_id), json!("")),
            "Gateway": field(&|e| json!(e.gateway.map(|g| g.to_string()).unwrap_or_default()), json!("")),
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "IPAddress": field(&|e| json!(e.ip.map(|g| g.to_string()).unwrap_or_default()), json!("")),
            "IPPrefixLen": field(&|e| json!(e.prefix), json!(0)),
            "IPv6Gateway": "",
            "MacAddress": field(&|e| json!(e.mac), json!("")),
            "Networks": networks,
        })
    }

    /// `Ports` of the container list: published ones, then exposed ones.
    pub fn ports_summary(&self, r: &Record) -> Value {
        let mut out: Vec<Value> = Vec::new();
        if r.state.status.is_live() {
            for p in &r.ports {
                out.push(json!({"IP": p.host_ip.to_string(), "PrivatePort": p.container_port, "PublicPort": p.host_port, "Type": p.proto.as_str()}));
            }
            for key in r.config.exposed_ports.iter().flat_map(|m| m.keys()) {
                let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
                let Ok(port) = port.parse::<u16>() else {
                    continue;
                };
                if !r
                    .ports
                    .iter()
                    .any(|p| p.container_port == port && p.proto.as_str() == proto)
                {
                    out.push(json!({"PrivatePort": port, "Type": proto}));
                }
            }
        }
        Value::Array(out)
    }
}

/// Names the embedded DNS server of one container answers: the live containers
/// that share a user-defined network with it, by name, alias, short id and
/// hostname.
struct Names {
    daemon: Weak<Daemon>,
    id: String,
}

impl dns::Resolve for Names {
    fn lookup(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
        let d = self.daemon.upgrade()?;
        let me = d.get(&self.id).ok()?.snapshot();
        let mine: Vec<String> = me
            .endpoints
            .values()
            .filter(|ep| {
                d.networks
                    .find(&ep.network_id)
                    .is_some_and(|n| n.user_defined())
            })
            .map(|ep| ep.network_id.clone())
            .collect();
        // `name.network` resolves on that network only.
        let (want, only) = match name.rsplit_once('.') {
            Some((n, net)) => match d.networks.find(net) {
                Some(net) => (n.to_owned(), Some(net.id)),
                None => (name.to_owned(), None),
            },
            None => (name.to_owned(), None),
        };
        let mut out = Vec::new();
        for e in d.all() {
            let r = e.snapshot();
            if r.state.status != Status::Running && r.state.status != Status::Paused {
                continue;
            }
            for ep in r.endpoints.values() {
                if !mine.contains(&ep.network_id)
                    || only.as_ref().is_some_and(|o| o != &ep.network_id)
                {
                    continue;
                }
                let Some(ip) = ep.ip else { continue };
                let hit = r.name.eq_ignore_ascii_case(&want)
                    || r.id[..12].eq_ignore_ascii_case(&want)
                    || ep.aliases.iter().any(|a| a.eq_ignore_ascii_case(&want));
                if hit && !out.contains(&ip) {
                    out.push(ip);
                }
            }
        }
        (!out.is_empty()).then_some(out)
    }

    fn reverse(&self, ip: Ipv4Addr) -> Option<String> {
        let d = self.daemon.upgrade()?;
        for e in d.all() {
            let r = e.snapshot();
            for (net, ep) in &r.endpoints {
                if ep.ip == Some(ip) && r.state.status.is_live() {
                    return Some(format!("{}.{net}", r.name));
                }
            }
        }
        None
    }
}

/// The firewall backend for this daemon (`iptables: false` in daemon.json: none).
pub fn make_firewall(enabled: bool, name: &str) -> Option<Box<dyn Firewall>> {
    enabled.then(|| firewall::detect(name))
}
