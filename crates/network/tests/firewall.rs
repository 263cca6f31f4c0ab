//! The firewall conformance suite (STYLE.md rule 9): the same checks run against
//! every [`Firewall`] backend.
//!
//! Root only (skipped otherwise). Each test makes its own network namespace
//! (`ip netns add berth-fw-<pid>-<n>`, removed by a drop guard) and applies rules
//! from a thread that `setns`'d into it, so the tools it runs inherit that
//! namespace; the host namespace's rules are never touched. Listings are read with
//! `ip netns exec`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use berth_network::firewall::{Firewall, Iptables, NetRules, Nftables, PortMap, Ruleset};
use berth_network::{Proto, Subnet};

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect(args[0]);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace of the test's own, deleted on drop.
struct Ns(String);

impl Ns {
    fn new() -> Ns {
        let name = format!(
            "berth-fw-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        sh(&["ip", "netns", "add", &name]);
        let ns = Ns(name);
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// `ip netns exec <ns> args…`, its stdout.
    fn exec(&self, args: &[&str]) -> String {
        let mut all = vec!["ip", "netns", "exec", &self.0];
        all.extend_from_slice(args);
        sh(&all)
    }

    /// Runs `f` on a thread moved into this namespace.
    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.0);
        std::thread::scope(|s| {
            s.spawn(|| {
                let fd = std::fs::File::open(&path).expect("open netns");
                rustix::thread::move_into_link_name_space(
                    fd.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .expect("setns");
                f()
            })
            .join()
            .expect("namespace thread panicked")
        })
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// What the suite needs to know of a backend besides the trait.
struct Backend {
    fw: &'static dyn Firewall,
    /// The whole ruleset of the namespace, without counters or timestamps.
    dump: fn(&Ns) -> String,
    /// Whether the dump shows nothing of berth's.
    clean: fn(&str) -> bool,
    /// Puts a rule of somebody else's into the namespace, and the text that shows it.
    foreign: fn(&Ns) -> &'static str,
}

static NFT: Backend = Backend {
    fw: &Nftables::DEFAULT,
    dump: |ns| ns.exec(&["nft", "list", "ruleset"]),
    clean: |d| !d.contains("berth"),
    foreign: |ns| {
        ns.exec(&["nft", "add", "table", "inet", "other"]);
        ns.exec(&["nft", "add", "chain", "inet", "other", "keep"]);
        "table inet other"
    },
};

static IPT: Backend = Backend {
    fw: &Iptables,
    dump: |ns| {
        ns.exec(&["iptables-save"])
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                // Chain counters: ":FORWARD ACCEPT [12:345]".
                match l.rfind(" [") {
                    Some(i) if l.starts_with(':') => &l[..i],
                    _ => l,
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    },
    clean: |d| !d.contains("BERTH"),
    foreign: |ns| {
        ns.exec(&[
            "iptables",
            "-A",
            "FORWARD",
            "-s",
            "192.0.2.7/32",
            "-j",
            "DROP",
        ]);
        "-A FORWARD -s 192.0.2.7/32 -j DROP"
    },
};

fn net(bridge: &str, subnet: &str) -> NetRules {
    NetRules {
        bridge: bridge.into(),
        subnet: Subnet::parse(subnet).unwrap(),
        internal: false,
        masquerade: true,
    }
}

fn port(host_port: u16, ip: [u8; 4], container_port: u16, bridge: &str) -> PortMap {
    PortMap {
        proto: Proto::Tcp,
        host_ip: Ipv4Addr::UNSPECIFIED,
        host_port,
        container_ip: Ipv4Addr::from(ip),
        container_port,
        bridge: bridge.into(),
    }
}

fn big() -> Ruleset {
    let mut internal = net("br-int", "10.99.3.0/24");
    internal.internal = true;
    Ruleset {
        networks: vec![
            net("br-one", "10.99.1.0/24"),
            net("br-two", "10.99.2.0/24"),
            internal,
        ],
        ports: vec![
            port(8080, [10, 99, 1, 2], 80, "br-one"),
            PortMap {
                proto: Proto::Udp,
                host_ip: Ipv4Addr::LOCALHOST,
                ..port(5353, [10, 99, 2, 2], 53, "br-two")
            },
        ],
    }
}

fn small() -> Ruleset {
    Ruleset {
        networks: vec![net("br-one", "10.99.1.0/24")],
        ports: vec![],
    }
}

macro_rules! conformance {
    ($($backend:ident: $tool:literal),*) => {
        $(
            #[allow(non_snake_case)]
            mod $backend {
                use super::*;

                fn backend() -> Option<&'static Backend> {
                    let ok = is_root()
                        && Command::new($tool).arg("--version").output().is_ok_and(|o| o.status.success());
                    if !ok {
                        eprintln!("skipped: needs root and {}", $tool);
                    }
                    ok.then_some(&$backend)
                }

                #[test]
                fn apply_installs_the_rules() {
                    let Some(b) = backend() else { return };
                    apply_installs_the_rules_(b);
                }
                #[test]
                fn a_smaller_ruleset_removes_the_rest() {
                    let Some(b) = backend() else { return };
                    a_smaller_ruleset_removes_the_rest_(b);
                }
                #[test]
                fn clear_leaves_nothing() {
                    let Some(b) = backend() else { return };
                    clear_leaves_nothing_(b);
                }
                #[test]
                fn apply_twice_is_apply_once() {
                    let Some(b) = backend() else { return };
                    apply_twice_is_apply_once_(b);
                }
                #[test]
                fn other_rules_are_left_alone() {
                    let Some(b) = backend() else { return };
                    other_rules_are_left_alone_(b);
                }
                #[test]
                fn a_published_loopback_port_reaches_the_container() {
                    let Some(b) = backend() else { return };
                    a_published_loopback_port_reaches_the_container_(b);
                }
            }
        )*
    };
}

conformance!(NFT: "nft", IPT: "iptables");

fn apply_installs_the_rules_(b: &Backend) {
    let ns = Ns::new();
    ns.run(|| b.fw.apply(&big())).unwrap();
    let d = (b.dump)(&ns);
    for want in [
        "dport 8080",
        "10.99.1.2:80",
        "dport 5353",
        "127.0.0.1",
        "10.99.2.2:53",
        "10.99.1.0/24",
        "10.99.2.0/24",
        "br-int",
    ] {
        assert!(d.contains(want), "{} lacks {want:?}:\n{d}", b.fw.name());
    }
    assert!(
        !d.contains("10.99.3.0/24"),
        "an internal network is not masqueraded:\n{d}"
    );
}

fn a_smaller_ruleset_removes_the_rest_(b: &Backend) {
    let ns = Ns::new();
    ns.run(|| b.fw.apply(&big())).unwrap();
    ns.run(|| b.fw.apply(&small())).unwrap();
    let d = (b.dump)(&ns);
    assert!(d.contains("10.99.1.0/24"), "{d}");
    for gone in [
        "dport 8080",
        "dport 5353",
        "10.99.2.0/24",
        "br-two",
        "br-int",
    ] {
        assert!(
            !d.contains(gone),
            "{} still has {gone:?}:\n{d}",
            b.fw.name()
        );
    }
    // And back: the smaller set is not a dead end.
    ns.run(|| b.fw.apply(&big())).unwrap();
    assert!((b.dump)(&ns).contains("dport 8080"));
}

fn clear_leaves_nothing_(b: &Backend) {
    let ns = Ns::new();
    // Clearing nothing is fine.
    ns.run(|| b.fw.clear()).unwrap();
    ns.run(|| b.fw.apply(&big())).unwrap();
    ns.run(|| b.fw.clear()).unwrap();
    let d = (b.dump)(&ns);
    assert!((b.clean)(&d), "{} left:\n{d}", b.fw.name());
    if b.fw.name() == "nftables" {
        assert_eq!(d.trim(), "", "nft list ruleset");
    }
    ns.run(|| b.fw.clear()).unwrap();
}

fn apply_twice_is_apply_once_(b: &Backend) {
    let ns = Ns::new();
    ns.run(|| b.fw.apply(&big())).unwrap();
    let once = (b.dump)(&ns);
    ns.run(|| b.fw.apply(&big())).unwrap();
    let twice = (b.dump)(&ns);
    assert_eq!(once, twice);
    if b.fw.name() == "iptables" {
        for jump in [
            "-j BERTH-PREROUTING",
            "-j BERTH-OUTPUT",
            "-j BERTH-POSTROUTING",
            "-j BERTH-FORWARD",
        ] {
            assert_eq!(
                twice.matches(&format!("{jump}\n")).count(),
                1,
                "{jump}:\n{twice}"
            );
        }
    }
}

fn other_rules_are_left_alone_(b: &Backend) {
    let ns = Ns::new();
    let theirs = (b.foreign)(&ns);
    ns.run(|| b.fw.apply(&big())).unwrap();
    assert!((b.dump)(&ns).contains(theirs));
    ns.run(|| b.fw.apply(&small())).unwrap();
    ns.run(|| b.fw.clear()).unwrap();
    let d = (b.dump)(&ns);
    assert!(d.contains(theirs), "{d}");
    assert!((b.clean)(&d), "{d}");
}

/// "Host" namespace H and "container" namespace C joined by a veth pair; H
/// publishes 127.0.0.1:8080 → C:80 and a client in H gets C's bytes back.
fn a_published_loopback_port_reaches_the_container_(b: &Backend) {
    let h = Ns::new();
    let c = Ns::new();
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let (vh, vc) = (format!("bfh{n}"), format!("bfc{n}"));
    h.exec(&[
        "ip", "link", "add", &vh, "type", "veth", "peer", "name", &vc, "netns", &c.0,
    ]);
    h.exec(&["ip", "addr", "add", "10.98.0.1/24", "dev", &vh]);
    h.exec(&["ip", "link", "set", &vh, "up"]);
    h.exec(&[
        "sysctl",
        "-qw",
        &format!("net.ipv4.conf.{vh}.route_localnet=1"),
    ]);
    c.exec(&["ip", "addr", "add", "10.98.0.2/24", "dev", &vc]);
    c.exec(&["ip", "link", "set", &vc, "up"]);
    c.exec(&["ip", "route", "add", "default", "via", "10.98.0.1"]);

    let rs = Ruleset {
        networks: vec![net(&vh, "10.98.0.0/24")],
        ports: vec![PortMap {
            host_ip: Ipv4Addr::LOCALHOST,
            ..port(8080, [10, 98, 0, 2], 80, &vh)
        }],
    };
    h.run(|| b.fw.apply(&rs)).unwrap();

    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let c = &c;
        let server = s.spawn(move || {
            c.run(|| {
                let l = TcpListener::bind("0.0.0.0:80").unwrap();
                tx.send(()).unwrap();
                let (mut conn, peer) = l.accept().unwrap();
                conn.write_all(format!("hello from C to {}", peer.ip()).as_bytes())
                    .unwrap();
            })
        });
        rx.recv().unwrap();
        let got = h.run(|| {
            let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
            let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut got = String::new();
            conn.read_to_string(&mut got).unwrap();
            got
        });
        server.join().unwrap();
        // Masqueraded: C saw H's address on the link, not 127.0.0.1.
        assert_eq!(got, "hello from C to 10.98.0.1", "{}", b.fw.name());
    });
    h.run(|| b.fw.clear()).unwrap();
}
