//! Root-only end-to-end tests of `netns` and `link` against the kernel.
//!
//! They are skipped (pass with a note) when not run as root. Every namespace is
//! pinned under a temp dir, every link is named `bt<pid><tag>`, and a [`Cleanup`]
//! guard deletes them even when an assertion fails. Traffic only flows between
//! namespaces the tests made, over a bridge without an address (so the host gains
//! no route).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use berth_network::link::{self, Veth};
use berth_network::netns;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
    };
}

/// `bt<pid><tag>`, at most 15 bytes.
fn name(tag: &str) -> String {
    let n = format!("bt{}{tag}", std::process::id() % 1_000_000);
    assert!(n.len() <= 15, "{n} is too long");
    n
}

/// Deletes the links and namespaces it was told about when dropped.
#[derive(Default)]
struct Cleanup {
    links: Vec<String>,
    pins: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for l in &self.links {
            let _ = link::delete(l);
        }
        for p in &self.pins {
            let _ = netns::remove(p);
        }
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run a command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `nsenter --net=<pin> <args>`: succeeded?
fn nsenter_ok(pin: &Path, args: &[&str]) -> bool {
    Command::new("nsenter")
        .arg(format!("--net={}", pin.display()))
        .args(args)
        .output()
        .expect("run nsenter")
        .status
        .success()
}

/// `ip -j <args>` inside the namespace at `pin`, parsed.
fn ip_in(pin: &Path, args: &[&str]) -> serde_json::Value {
    let out = run(Command::new("nsenter")
        .arg(format!("--net={}", pin.display()))
        .args(["ip", "-j"])
        .args(args));
    serde_json::from_str(&out).unwrap()
}

/// `ip -j <args>` on the host, parsed.
fn ip_host(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&run(Command::new("ip").arg("-j").args(args))).unwrap()
}

fn mounted(path: &Path) -> bool {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let p = path.to_str().unwrap();
    mountinfo.lines().any(|l| l.split(' ').nth(4) == Some(p))
}

fn thread_netns() -> PathBuf {
    std::fs::read_link("/proc/thread-self/ns/net").unwrap()
}

fn veth(tag: &str, bridge: &str, pin: &Path, addr: Ipv4Addr) -> Veth {
    Veth {
        host_name: name(tag),
        bridge: bridge.to_owned(),
        netns: pin.to_owned(),
        name_in_ns: "eth0".to_owned(),
        mac: link::mac_for(addr),
        addr,
        prefix: 24,
        gateway: Some(Ipv4Addr::new(10, 213, 7, 1)),
        mtu: 1500,
    }
}

#[test]
fn netns_is_made_with_lo_up_and_removed_without_a_trace() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let pin = dir.path().join("a/b/ns");
    let mut guard = Cleanup::default();
    guard.pins.push(pin.clone());

    netns::create(&pin).unwrap();
    assert!(netns::exists(&pin));
    assert!(mounted(&pin));
    let lo = ip_in(&pin, &["link", "show", "lo"]);
    let flags = lo[0]["flags"].as_array().unwrap();
    assert!(flags.iter().any(|f| f == "UP"), "lo is not up: {lo}");
    let links = ip_in(&pin, &["link"]);
    assert_eq!(
        links.as_array().unwrap().len(),
        1,
        "a fresh netns has only lo: {links}"
    );

    netns::remove(&pin).unwrap();
    assert!(!netns::exists(&pin));
    assert!(!mounted(&pin));
    assert!(!pin.exists());
    netns::remove(&pin).unwrap();
}

#[test]
fn create_replaces_a_stale_pin_file() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let pin = dir.path().join("ns");
    let mut guard = Cleanup::default();
    guard.pins.push(pin.clone());
    std::fs::write(&pin, b"stale").unwrap();
    assert!(!netns::exists(&pin));

    netns::create(&pin).unwrap();
    assert!(netns::exists(&pin));
    // A second create over a live pin replaces it too, leaving one mount.
    netns::create(&pin).unwrap();
    assert!(netns::exists(&pin));
    netns::remove(&pin).unwrap();
    assert!(!mounted(&pin));
    assert!(!pin.exists());
}

#[test]
fn run_in_runs_inside_the_netns_and_leaves_the_callers_unchanged() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let pin = dir.path().join("ns");
    let mut guard = Cleanup::default();
    guard.pins.push(pin.clone());
    netns::create(&pin).unwrap();

    let before = thread_netns();
    let inside = netns::run_in(&pin, thread_netns).unwrap();
    assert_eq!(thread_netns(), before);

    let ino = std::os::linux::fs::MetadataExt::st_ino(&std::fs::metadata(&pin).unwrap());
    assert_eq!(inside, PathBuf::from(format!("net:[{ino}]")));
    assert_ne!(inside, before);
}

#[test]
fn run_in_a_missing_netns_is_an_error() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    assert!(netns::run_in(&dir.path().join("nope"), || ()).is_err());
}

#[test]
fn two_veths_on_one_bridge_ping_each_other_and_have_a_default_route() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let (pin_a, pin_b) = (dir.path().join("a"), dir.path().join("b"));
    let bridge = name("br");
    let mut guard = Cleanup::default();
    guard.links.extend([bridge.clone(), name("va"), name("vb")]);
    guard.pins.extend([pin_a.clone(), pin_b.clone()]);

    // No address on the host bridge: the host's routes stay as they are.
    link::ensure_bridge(&bridge, None, 24).unwrap();
    let (ip_a, ip_b) = (Ipv4Addr::new(10, 213, 7, 2), Ipv4Addr::new(10, 213, 7, 3));

    let t = Instant::now();
    netns::create(&pin_a).unwrap();
    let created = t.elapsed();
    link::add_veth(&veth("va", &bridge, &pin_a, ip_a)).unwrap();
    let total = t.elapsed();
    eprintln!(
        "netns::create {created:?}, link::add_veth {:?}, both {total:?}",
        total - created
    );
    netns::create(&pin_b).unwrap();
    link::add_veth(&veth("vb", &bridge, &pin_b, ip_b)).unwrap();

    // Host side: attached to the bridge, up, and the peer is not on the host.
    let host = ip_host(&["link", "show", &name("va")]);
    assert_eq!(host[0]["master"], bridge.as_str(), "{host}");
    assert!(host[0]["flags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "UP"));
    assert_eq!(host[0]["mtu"], 1500);

    // Inside: name, MAC, MTU, up, address, default route.
    let eth0 = ip_in(&pin_a, &["addr", "show", "dev", "eth0"]);
    assert_eq!(eth0[0]["address"], "02:42:0a:d5:07:02", "{eth0}");
    assert_eq!(eth0[0]["mtu"], 1500);
    assert!(eth0[0]["flags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "UP"));
    let addrs = eth0[0]["addr_info"].as_array().unwrap();
    assert!(
        addrs
            .iter()
            .any(|a| a["local"] == "10.213.7.2" && a["prefixlen"] == 24),
        "{eth0}"
    );
    let routes = ip_in(&pin_a, &["route", "show", "default"]);
    assert_eq!(routes[0]["gateway"], "10.213.7.1", "{routes}");
    assert_eq!(routes[0]["dev"], "eth0", "{routes}");

    assert!(nsenter_ok(
        &pin_a,
        &["busybox", "ping", "-c1", "-W1", "10.213.7.3"]
    ));
    assert!(nsenter_ok(
        &pin_b,
        &["busybox", "ping", "-c1", "-W1", "10.213.7.2"]
    ));
}

#[test]
fn add_veth_onto_a_missing_bridge_fails_and_leaves_no_veth() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let pin = dir.path().join("ns");
    let mut guard = Cleanup::default();
    guard.links.push(name("vm"));
    guard.pins.push(pin.clone());
    netns::create(&pin).unwrap();

    let v = veth("vm", &name("nobr"), &pin, Ipv4Addr::new(10, 213, 7, 2));
    assert!(link::add_veth(&v).is_err());
    assert!(!link::exists(&v.host_name));
    assert_eq!(ip_in(&pin, &["link"]).as_array().unwrap().len(), 1);
}

#[test]
fn add_veth_that_fails_inside_the_netns_deletes_the_pair() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let pin = dir.path().join("ns");
    let bridge = name("bf");
    let mut guard = Cleanup::default();
    guard.links.extend([bridge.clone(), name("vf")]);
    guard.pins.push(pin.clone());
    netns::create(&pin).unwrap();
    link::ensure_bridge(&bridge, None, 24).unwrap();

    // A gateway outside the container's subnet is unreachable: the route fails
    // after the pair and the address were made.
    let mut v = veth("vf", &bridge, &pin, Ipv4Addr::new(10, 213, 7, 2));
    v.gateway = Some(Ipv4Addr::new(10, 99, 0, 1));
    let err = link::add_veth(&v).unwrap_err();
    assert!(
        matches!(&err, berth_network::Error::Netlink { op, .. } if op.contains("default route")),
        "{err}"
    );
    assert!(!link::exists(&v.host_name));
    assert_eq!(ip_in(&pin, &["link"]).as_array().unwrap().len(), 1);

    // And the names are free again: the same veth with a good gateway works.
    v.gateway = Some(Ipv4Addr::new(10, 213, 7, 1));
    link::add_veth(&v).unwrap();
    assert!(link::exists(&v.host_name));
}

#[test]
fn delete_of_a_missing_link_is_ok() {
    require_root!();
    link::delete(&name("gone")).unwrap();
    assert!(!link::exists(&name("gone")));
}

#[test]
fn ensure_bridge_is_idempotent_and_route_localnet_is_set() {
    require_root!();
    // All inside a namespace of our own: nothing of the host's changes.
    let dir = tempfile::tempdir().unwrap();
    let pin = dir.path().join("host");
    let mut guard = Cleanup::default();
    guard.pins.push(pin.clone());
    netns::create(&pin).unwrap();
    let bridge = name("bi");

    let gw = Ipv4Addr::new(10, 213, 8, 1);
    let b = bridge.clone();
    let localnet = netns::run_in(&pin, move || {
        link::ensure_bridge(&b, Some(gw), 24)?;
        link::ensure_bridge(&b, Some(gw), 24)?;
        link::set_route_localnet(&b)?;
        Ok::<_, berth_network::Error>(
            std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{b}/route_localnet")).unwrap(),
        )
    })
    .unwrap()
    .unwrap();
    assert_eq!(localnet.trim(), "1");
    assert!(!link::exists(&bridge), "the bridge leaked onto the host");

    let br = ip_in(&pin, &["addr", "show", "dev", &bridge]);
    assert!(br[0]["flags"].as_array().unwrap().iter().any(|f| f == "UP"));
    let addrs: Vec<_> = br[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["family"] == "inet")
        .collect();
    assert_eq!(addrs.len(), 1, "{br}");
    assert_eq!(addrs[0]["local"], "10.213.8.1");
    assert_eq!(addrs[0]["prefixlen"], 24);
}
