//! The nftables backend: berth's rules are the table `ip berth`, nothing else.
//!
//! [`apply`](super::Firewall::apply) feeds `nft -f -` one script:
//! `table ip berth {}` (creates the table if missing), `delete table ip berth`, then
//! the whole new table. nft runs a script as one transaction, so the kernel goes
//! from the old table to the new one with no moment in between, whether or not the
//! table existed. Base chains of other tables run too (nftables has no "jump from
//! the built-in chain"): an `accept` here does not override another table's `drop`,
//! which is the point of owning one table and leaving the rest alone.
//!
//! Layout (moby's nftables rules, flattened):
//! - `prerouting` (nat, dstnat) and `output` (nat, -100): local destinations jump to
//!   `ports`, which DNATs each published port.
//! - `postrouting` (nat, srcnat): masquerade of host-sourced traffic into a bridge,
//!   of a container reaching its own published port, and of outbound traffic.
//! - `forward` (filter, 0, policy accept): isolation, internal networks, replies,
//!   same-bridge traffic, published ports, then a drop of anything else into a bridge.

use std::fmt::Write;

use super::{proto, Firewall, Nftables, Ruleset};
use crate::error::Result;

impl Firewall for Nftables {
    fn name(&self) -> &'static str {
        "nftables"
    }

    fn apply(&self, rs: &Ruleset) -> Result<()> {
        rs.validate()?;
        let t = &self.table;
        let script = format!(
            "table ip {t} {{}}\ndelete table ip {t}\n{}",
            render_table(t, rs)
        );
        super::run("nft", &["-f", "-"], Some(&script)).map(drop)
    }

    fn clear(&self) -> Result<()> {
        let t = &self.table;
        let script = format!("table ip {t} {{}}\ndelete table ip {t}\n");
        super::run("nft", &["-f", "-"], Some(&script)).map(drop)
    }
}

/// The table `ip berth` for `rs`, as `nft -f` reads it (and close to how
/// `nft list table ip berth` prints it).
pub fn render(rs: &Ruleset) -> String {
    render_table("berth", rs)
}

/// [`render`] into the table `ip <table>` (a daemon of its own, e.g. in tests).
pub fn render_table(table: &str, rs: &Ruleset) -> String {
    let mut ports = String::new();
    let mut post = String::new();
    let mut fwd = String::new();
    let q = |s: &str| format!("\"{s}\"");

    for p in rs.published() {
        let daddr = if p.host_ip.is_unspecified() {
            String::new()
        } else {
            format!("ip daddr {} ", p.host_ip)
        };
        let _ = writeln!(
            ports,
            "\t\t{daddr}{} dport {} dnat to {}:{}",
            proto(p.proto),
            p.host_port,
            p.container_ip,
            p.container_port
        );
    }

    // postrouting: per network, host-sourced traffic into the bridge, hairpin to a
    // container's own published port, then outbound.
    for n in rs.networks.iter().filter(|n| !n.internal) {
        let br = q(&n.bridge);
        let _ = writeln!(post, "\t\toifname {br} fib saddr type local masquerade");
        for p in rs.ports.iter().filter(|p| p.bridge == n.bridge) {
            let _ = writeln!(
                post,
                "\t\toifname {br} ip saddr {ip} ip daddr {ip} {} dport {} masquerade",
                proto(p.proto),
                p.container_port,
                ip = p.container_ip
            );
        }
        if n.masquerade {
            let _ = writeln!(post, "\t\tip saddr {} oifname != {br} masquerade", n.subnet);
        }
    }

    // forward: drops that hold for every network first.
    for n in &rs.networks {
        let others: Vec<String> = rs
            .networks
            .iter()
            .filter(|o| o.bridge != n.bridge)
            .map(|o| q(&o.bridge))
            .collect();
        if !others.is_empty() {
            let _ = writeln!(
                fwd,
                "\t\tiifname {} oifname {{ {} }} drop",
                q(&n.bridge),
                others.join(", ")
            );
        }
    }
    for n in rs.networks.iter().filter(|n| n.internal) {
        let br = q(&n.bridge);
        let _ = writeln!(fwd, "\t\tiifname {br} oifname != {br} drop");
        let _ = writeln!(fwd, "\t\tiifname != {br} oifname {br} drop");
    }
    for n in rs.networks.iter().filter(|n| !n.internal) {
        let br = q(&n.bridge);
        let _ = writeln!(fwd, "\t\toifname {br} ct state established,related accept");
        let _ = writeln!(fwd, "\t\toifname {br} iifname {br} accept");
        for p in rs.ports.iter().filter(|p| p.bridge == n.bridge) {
            let _ = writeln!(
                fwd,
                "\t\toifname {br} ip daddr {} {} dport {} accept",
                p.container_ip,
                proto(p.proto),
                p.container_port
            );
        }
        let _ = writeln!(fwd, "\t\toifname {br} drop");
        let _ = writeln!(fwd, "\t\tiifname {br} accept");
    }

    format!(
        "table ip {table} {{\n\
         \tchain prerouting {{\n\
         \t\ttype nat hook prerouting priority dstnat; policy accept;\n\
         \t\tfib daddr type local jump ports\n\
         \t}}\n\
         \tchain output {{\n\
         \t\ttype nat hook output priority -100; policy accept;\n\
         \t\tfib daddr type local jump ports\n\
         \t}}\n\
         \tchain ports {{\n\
         {ports}\
         \t}}\n\
         \tchain postrouting {{\n\
         \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         {post}\
         \t}}\n\
         \tchain forward {{\n\
         \t\ttype filter hook forward priority 0; policy accept;\n\
         {fwd}\
         \t}}\n\
         }}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::fixtures::sample;

    #[test]
    fn an_empty_ruleset_is_the_bare_chains() {
        let s = render(&Ruleset::default());
        assert!(s.starts_with("table ip berth {\n"));
        for chain in [
            "type nat hook prerouting priority dstnat; policy accept;",
            "type nat hook output priority -100; policy accept;",
            "type nat hook postrouting priority srcnat; policy accept;",
            "type filter hook forward priority 0; policy accept;",
        ] {
            assert!(s.contains(chain), "{chain}");
        }
        assert!(!s.contains("dnat to"));
        assert!(!s.contains("masquerade"));
    }

    #[test]
    fn ports_are_dnatted_for_local_destinations_only() {
        let s = render(&sample());
        assert_eq!(s.matches("fib daddr type local jump ports").count(), 2);
        assert!(s.contains("\t\ttcp dport 8080 dnat to 172.18.0.2:80\n"));
        assert!(s.contains("\t\tip daddr 127.0.0.1 udp dport 5300 dnat to 172.19.0.3:53\n"));
        // No proxy: containers on the bridge reach the port too (hairpin).
        assert!(!s.contains("iifname != \"br-a\" tcp dport 8080"));
        assert!(s.contains(
            "oifname \"br-a\" ip saddr 172.18.0.2 ip daddr 172.18.0.2 tcp dport 80 masquerade"
        ));
        assert!(s.contains("oifname \"br-a\" ip daddr 172.18.0.2 tcp dport 80 accept"));
        assert!(s.contains("oifname \"br-b\" ip daddr 172.19.0.3 udp dport 53 accept"));
    }

    #[test]
    fn masquerade_follows_the_network_options() {
        let s = render(&sample());
        assert!(s.contains("ip saddr 172.18.0.0/16 oifname != \"br-a\" masquerade"));
        assert!(!s.contains("ip saddr 172.19.0.0/16"), "masquerade off");
        assert!(!s.contains("172.20.0.0/16"), "internal");
        assert!(s.contains("oifname \"br-a\" fib saddr type local masquerade"));
        assert!(s.contains("oifname \"br-b\" fib saddr type local masquerade"));
    }

    #[test]
    fn bridges_are_isolated_and_internal_networks_cut_off() {
        let s = render(&sample());
        assert!(s.contains("iifname \"br-a\" oifname { \"br-b\", \"br-i\" } drop"));
        assert!(s.contains("iifname \"br-i\" oifname != \"br-i\" drop"));
        assert!(s.contains("iifname != \"br-i\" oifname \"br-i\" drop"));
        // The internal network's port is not published.
        assert!(!s.contains("9000"));
        // Unpublished ports dropped after the accepts.
        let accept = s.find("oifname \"br-a\" ip daddr 172.18.0.2").unwrap();
        let est = s
            .find("oifname \"br-a\" ct state established,related accept")
            .unwrap();
        let drop = s.find("oifname \"br-a\" drop").unwrap();
        assert!(est < accept && accept < drop);
    }

    #[test]
    fn rendering_is_deterministic() {
        assert_eq!(render(&sample()), render(&sample()));
    }
}
