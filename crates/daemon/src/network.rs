//! Networks: Docker's `bridge`, `host` and `none`, and user-defined bridge
//! networks, with their address leases.
//!
//! A bridge network is a Linux bridge on the host (`berth0` for the default
//! network, `br-<id12>` for user-defined ones, as Docker names them), a subnet and
//! gateway from IPAM, and berth's firewall rules (rendered from every network and
//! every published port at once, see `container/net.rs`). The bridge is made when
//! the network is created and at every daemon start; it goes when the network is
//! removed.
//!
//! Layout under the data root (format version [`NETWORK_VERSION`]):
//!
//! ```text
//! <data-root>/network/<id>.json   {"Version": 1, "Id", "Name", "Driver", "Created",
//!                                  "Subnet", "Gateway", "IPRange", "Internal",
//!                                  "Attachable", "Options", "Labels", "Bridge",
//!                                  "UserSubnet"}    written atomically
//! ```
//!
//! Leases are not stored here: the running containers' records hold their
//! addresses, and the daemon re-reserves them at start (`restore`), so a crash
//! can never leave a lease without a container.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Mutex;

use berth_network::ipam::{self, Leases, Pool, Subnet};
use serde::{Deserialize, Serialize};

use crate::daemon::{now_rfc3339, random_id, write_atomic};
use crate::error::{Error, Kind, Result};

pub const NETWORK_VERSION: u32 = 1;

/// One network, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Network {
    #[serde(default)]
    pub version: u32,
    pub id: String,
    pub name: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    pub created: String,
    #[serde(default)]
    pub subnet: Option<Subnet>,
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    #[serde(default, rename = "IPRange")]
    pub ip_range: Option<Subnet>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The host's bridge interface (bridge driver only).
    #[serde(default)]
    pub bridge: String,
    /// The subnet came from the user (`--subnet`), not from a pool.
    #[serde(default)]
    pub user_subnet: bool,
}

impl Network {
    /// A new network with a fresh id and nothing configured.
    fn new(name: &str, driver: &str) -> Network {
        Network {
            version: NETWORK_VERSION,
            id: random_id(),
            name: name.into(),
            driver: driver.into(),
            created: now_rfc3339(),
            subnet: None,
            gateway: None,
            ip_range: None,
            internal: false,
            attachable: false,
            options: BTreeMap::new(),
            labels: BTreeMap::new(),
            bridge: String::new(),
            user_subnet: false,
        }
    }

    /// `bridge`, `host` and `none`: made by the daemon, never removed.
    pub fn predefined(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }
    pub fn is_bridge(&self) -> bool {
        self.driver == "bridge"
    }
    /// User-defined bridge networks have the embedded DNS and aliases.
    pub fn user_defined(&self) -> bool {
        self.is_bridge() && self.name != "bridge"
    }
}

/// A request to create a network (`POST /networks/create`).
#[derive(Debug, Clone, Default)]
pub struct CreateNetwork {
    pub name: String,
    pub driver: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
    pub internal: bool,
    pub attachable: bool,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

struct Slot {
    net: Network,
    leases: Leases,
}

/// The networks and their leases.
pub struct NetworkStore {
    dir: PathBuf,
    slots: Mutex<HashMap<String, Slot>>,
    pools: Vec<Pool>,
}

fn invalid(e: berth_network::Error) -> Error {
    match e {
        berth_network::Error::AddressInUse(_) => Error::new(Kind::Forbidden, e.to_string()),
        berth_network::Error::Exhausted(_) => Error::new(Kind::Forbidden, e.to_string()),
        _ => Error::invalid(e.to_string()),
    }
}

impl NetworkStore {
    /// Loads every network under `dir`; makes the predefined ones on first start.
    /// `bridge_name`/`bip` configure the default bridge (dockerd's `--bridge`,
    /// `--bip`).
    pub fn load(
        dir: PathBuf,
        pools: Vec<Pool>,
        bridge_name: &str,
        bip: Option<&str>,
    ) -> Result<NetworkStore> {
        std::fs::create_dir_all(&dir)?;
        let store = NetworkStore {
            dir,
            slots: Mutex::new(HashMap::new()),
            pools,
        };
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&store.dir)?.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            match std::fs::read(&path).map(|b| serde_json::from_slice::<Network>(&b)) {
                Ok(Ok(n)) => found.push(n),
                Ok(Err(e)) => tracing::warn!("skipping network file {}: {e}", path.display()),
                Err(e) => tracing::warn!("reading {}: {e}", path.display()),
            }
        }
        for n in found {
            store.insert(n);
        }
        for (name, driver) in [("host", "host"), ("none", "null")] {
            if store.find(name).is_none() {
                let n = Network::new(name, driver);
                store.save(&n)?;
                store.insert(n);
            }
        }
        // The default bridge follows the configuration at every start.
        let existing = store.find("bridge");
        let (subnet, gateway) = match bip {
            Some(bip) => {
                let subnet = Subnet::parse(bip).map_err(|e| Error::invalid(format!("bip: {e}")))?;
                let gw: Ipv4Addr = bip
                    .split('/')
                    .next()
                    .and_then(|a| a.parse().ok())
                    .ok_or_else(|| Error::invalid(format!("bip: invalid address {bip:?}")))?;
                (subnet, gw)
            }
            None => {
                match existing
                    .as_ref()
                    .and_then(|n| Some((n.subnet?, n.gateway?)))
                {
                    Some(sg) if existing.as_ref().is_some_and(|n| n.bridge == bridge_name) => sg,
                    _ => {
                        let taken = store.taken_subnets(None);
                        let subnet = ipam::next_free(&store.pools, &taken).ok_or_else(|| {
                        Error::internal("no free subnet for the default bridge network in the address pools")
                    })?;
                        (subnet, subnet.first_host())
                    }
                }
            }
        };
        let mut bridge = existing.unwrap_or_else(|| Network::new("bridge", "bridge"));
        bridge.subnet = Some(subnet);
        bridge.gateway = Some(gateway);
        bridge.bridge = bridge_name.to_owned();
        bridge.options = [
            ("com.docker.network.bridge.default_bridge", "true"),
            ("com.docker.network.bridge.enable_icc", "true"),
            ("com.docker.network.bridge.enable_ip_masquerade", "true"),
            ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
            ("com.docker.network.bridge.name", bridge_name),
            ("com.docker.network.driver.mtu", "1500"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        store.save(&bridge)?;
        store.insert(bridge);
        Ok(store)
    }

    fn insert(&self, n: Network) {
        let leases = Leases::new(
            n.subnet
                .unwrap_or(Subnet::new(Ipv4Addr::UNSPECIFIED, 32).expect("a /32")),
            n.ip_range,
            n.gateway,
        );
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(n.id.clone(), Slot { net: n, leases });
    }

    fn save(&self, n: &Network) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(n).map_err(|e| Error::internal(e.to_string()))?;
        write_atomic(&self.dir.join(format!("{}.json", n.id)), &bytes)
            .map_err(|e| Error::internal(format!("failed to save network {}: {e}", n.name)))
    }

    /// Every network, sorted by name.
    pub fn list(&self) -> Vec<Network> {
        let mut v: Vec<Network> = self
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|s| s.net.clone())
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// By full id, name, or unique id prefix (Docker's order).
    pub fn find(&self, key: &str) -> Option<Network> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = slots.get(key) {
            return Some(s.net.clone());
        }
        if let Some(s) = slots.values().find(|s| s.net.name == key) {
            return Some(s.net.clone());
        }
        let mut by_prefix = slots
            .values()
            .filter(|s| !key.is_empty() && s.net.id.starts_with(key));
        match (by_prefix.next(), by_prefix.next()) {
            (Some(s), None) => Some(s.net.clone()),
            _ => None,
        }
    }

    /// [`NetworkStore::find`] or Docker's 404.
    pub fn get(&self, key: &str) -> Result<Network> {
        self.find(key)
            .ok_or_else(|| Error::not_found(format!("network {key} not found")))
    }

    /// Subnets in use: other networks' and the host's own routes (but for the
    /// routes of berth's bridges, which are the networks themselves).
    fn taken_subnets(&self, except: Option<&str>) -> Vec<Subnet> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let ours: Vec<&str> = slots.values().map(|s| s.net.bridge.as_str()).collect();
        let mut taken: Vec<Subnet> = slots
            .values()
            .filter(|s| Some(s.net.id.as_str()) != except)
            .filter_map(|s| s.net.subnet)
            .collect();
        let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
        for line in routes.lines().skip(1) {
            let iface = line.split_whitespace().next().unwrap_or("");
            if ours.contains(&iface) {
                continue;
            }
            taken.extend(ipam::host_routes(&format!("h\n{line}")));
        }
        taken
    }

    /// `POST /networks/create`: checks everything, then stores the network. The
    /// bridge itself is made by the caller.
    pub fn create(&self, req: CreateNetwork) -> Result<Network> {
        let name = req.name.trim().to_owned();
        if name.is_empty() {
            return Err(Error::invalid("network name is required"));
        }
        if self.find(&name).is_some_and(|n| n.name == name) {
            return Err(Error::conflict(format!(
                "network with name {name} already exists"
            )));
        }
        let driver = if req.driver.is_empty() {
            "bridge"
        } else {
            req.driver.as_str()
        };
        match driver {
            "bridge" => {}
            "host" | "null" => {
                return Err(Error::new(
                    Kind::Forbidden,
                    format!("only one instance of \"{driver}\" network is allowed"),
                ))
            }
            other => {
                return Err(Error::not_found(format!(
                    "plugin \"{other}\" not found: berth has the bridge driver only"
                )))
            }
        }
        let subnet = req
            .subnet
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| Subnet::parse(s).map_err(|e| Error::invalid(e.to_string())))
            .transpose()?;
        let taken = self.taken_subnets(None);
        let subnet = match subnet {
            Some(s) => {
                if taken.iter().any(|t| t.overlaps(&s)) {
                    return Err(Error::new(
                        Kind::Forbidden,
                        format!("invalid pool request: Pool overlaps with other one on this address space ({s})"),
                    ));
                }
                s
            }
            None => {
                if req.gateway.as_deref().is_some_and(|g| !g.is_empty())
                    || req.ip_range.as_deref().is_some_and(|g| !g.is_empty())
                {
                    return Err(Error::invalid(
                        "invalid network config: --gateway and --ip-range need --subnet",
                    ));
                }
                ipam::next_free(&self.pools, &taken).ok_or_else(|| {
                    Error::new(
                        Kind::Forbidden,
                        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network",
                    )
                })?
            }
        };
        let gateway = match req.gateway.as_deref().filter(|g| !g.is_empty()) {
            Some(g) => {
                let ip: Ipv4Addr = g.parse().map_err(|_| {
                    Error::invalid(format!(
                        "invalid gateway address {g:?}: expected an IPv4 address"
                    ))
                })?;
                if !subnet.contains(ip) {
                    return Err(Error::invalid(format!(
                        "no matching subnet for gateway {ip}: it is outside {subnet}"
                    )));
                }
                ip
            }
            None => subnet.first_host(),
        };
        let ip_range = match req.ip_range.as_deref().filter(|g| !g.is_empty()) {
            Some(r) => {
                let r = Subnet::parse(r).map_err(|e| Error::invalid(format!("ip-range: {e}")))?;
                if !subnet.contains_subnet(&r) {
                    return Err(Error::invalid(format!(
                        "invalid ip-range {r}: it is not inside subnet {subnet}"
                    )));
                }
                Some(r)
            }
            None => None,
        };
        let id = random_id();
        let bridge = req
            .options
            .get("com.docker.network.bridge.name")
            .cloned()
            .unwrap_or_else(|| format!("br-{}", &id[..12]));
        if bridge.len() > 15 {
            return Err(Error::invalid(format!(
                "bridge name {bridge:?} is longer than 15 characters"
            )));
        }
        let n = Network {
            id,
            subnet: Some(subnet),
            gateway: Some(gateway),
            ip_range,
            internal: req.internal,
            attachable: req.attachable,
            options: req.options,
            labels: req.labels,
            bridge,
            user_subnet: req.subnet.is_some_and(|s| !s.is_empty()),
            ..Network::new(&name, driver)
        };
        self.save(&n)?;
        self.insert(n.clone());
        Ok(n)
    }

    /// Forgets a network (its file); the caller has checked it is unused.
    pub fn remove(&self, id: &str) -> Result<()> {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        match std::fs::remove_file(self.dir.join(format!("{id}.json"))) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Leases an address on network `id` (`want`: a `--ip`).
    pub fn allocate(&self, id: &str, want: Option<Ipv4Addr>) -> Result<Ipv4Addr> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = slots
            .get_mut(id)
            .ok_or_else(|| Error::not_found(format!("network {id} not found")))?;
        slot.leases.allocate(want).map_err(invalid)
    }

    /// Marks a running container's address as leased (restore).
    pub fn reserve(&self, id: &str, ip: Ipv4Addr) {
        if let Some(slot) = self
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(id)
        {
            let _ = slot.leases.reserve(ip);
        }
    }

    pub fn release(&self, id: &str, ip: Ipv4Addr) {
        if let Some(slot) = self
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(id)
        {
            slot.leases.release(ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &std::path::Path) -> NetworkStore {
        let pools = vec![Pool {
            base: Subnet::parse("10.213.0.0/16").unwrap(),
            size: 24,
        }];
        NetworkStore::load(dir.join("network"), pools, "btest0", None).unwrap()
    }

    #[test]
    fn predefined_networks_are_made_once_and_keep_their_ids() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let names: Vec<String> = s.list().into_iter().map(|n| n.name).collect();
        assert_eq!(names, ["bridge", "host", "none"]);
        let bridge = s.get("bridge").unwrap();
        assert_eq!(bridge.subnet.unwrap().to_string(), "10.213.0.0/24");
        assert_eq!(bridge.gateway.unwrap(), Ipv4Addr::new(10, 213, 0, 1));
        drop(s);
        let again = store(dir.path());
        assert_eq!(again.get("bridge").unwrap().id, bridge.id);
        assert_eq!(again.list().len(), 3);
    }

    #[test]
    fn user_networks_take_free_subnets_and_refuse_overlaps() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let a = s
            .create(CreateNetwork {
                name: "a".into(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(a.subnet.unwrap().to_string(), "10.213.1.0/24");
        assert!(a.bridge.starts_with("br-"));
        let e = s
            .create(CreateNetwork {
                name: "b".into(),
                subnet: Some("10.213.1.128/25".into()),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(e.kind, Kind::Forbidden);
        assert!(e.message.contains("overlaps"), "{}", e.message);
        let e = s
            .create(CreateNetwork {
                name: "a".into(),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(e.kind, Kind::Conflict);
        let e = s
            .create(CreateNetwork {
                name: "c".into(),
                subnet: Some("10.214.0.0/24".into()),
                gateway: Some("10.215.0.1".into()),
                ..Default::default()
            })
            .unwrap_err();
        assert!(e.message.contains("gateway"), "{}", e.message);
        // (`find` also takes id prefixes, and "c" may start a random id.)
        assert!(!s.list().iter().any(|n| n.name == "c"));
    }

    #[test]
    fn leases_refuse_addresses_outside_the_subnet_and_twice() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let n = s
            .create(CreateNetwork {
                name: "x".into(),
                subnet: Some("10.214.7.0/24".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            s.allocate(&n.id, None).unwrap(),
            Ipv4Addr::new(10, 214, 7, 2)
        );
        let want = Some(Ipv4Addr::new(10, 214, 7, 9));
        assert_eq!(
            s.allocate(&n.id, want).unwrap(),
            Ipv4Addr::new(10, 214, 7, 9)
        );
        assert_eq!(s.allocate(&n.id, want).unwrap_err().kind, Kind::Forbidden);
        let e = s
            .allocate(&n.id, Some(Ipv4Addr::new(10, 1, 1, 1)))
            .unwrap_err();
        assert_eq!(e.kind, Kind::InvalidArgument);
    }
}
