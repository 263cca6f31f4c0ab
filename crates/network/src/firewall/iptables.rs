//! The iptables backend, for hosts where `nft` is missing or unusable.
//!
//! berth owns chains `BERTH-PREROUTING`, `BERTH-OUTPUT`, `BERTH-POSTROUTING` (nat)
//! and `BERTH-FORWARD`, `BERTH-ISOLATION` (filter). [`apply`](super::Firewall::apply)
//! refills all of them with one `iptables-restore --noflush` (it leaves every other
//! chain alone; declaring `:CHAIN - [0:0]` creates or flushes that chain, and each
//! table's block commits as one unit), then makes sure each built-in chain jumps to
//! berth's (`iptables -C … || iptables -I …`), so a restarted daemon neither loses
//! nor duplicates its jumps. The forward jump goes first in `FORWARD`, before any
//! host `DROP` policy rules, as dockerd's `DOCKER-FORWARD` does.
//!
//! The rules mirror [`super::nft`]; isolation uses Docker's two stages
//! (`-i br ! -o br -j BERTH-ISOLATION`, then `-o other -j DROP`) so it grows
//! linearly with the number of networks. Matches are `addrtype` (nft's `fib … type
//! local`) and `conntrack`.

use std::fmt::Write;

use super::{proto, Firewall, Iptables, Ruleset};
use crate::error::Result;

/// berth's chains, by table.
const NAT_CHAINS: [&str; 3] = ["BERTH-PREROUTING", "BERTH-OUTPUT", "BERTH-POSTROUTING"];
const FILTER_CHAINS: [&str; 2] = ["BERTH-FORWARD", "BERTH-ISOLATION"];

/// The jumps from built-in chains: (table, built-in chain, berth chain).
const JUMPS: [(&str, &str, &str); 4] = [
    ("nat", "PREROUTING", "BERTH-PREROUTING"),
    ("nat", "OUTPUT", "BERTH-OUTPUT"),
    ("nat", "POSTROUTING", "BERTH-POSTROUTING"),
    ("filter", "FORWARD", "BERTH-FORWARD"),
];

impl Firewall for Iptables {
    fn name(&self) -> &'static str {
        "iptables"
    }

    fn apply(&self, rs: &Ruleset) -> Result<()> {
        rs.validate()?;
        let (nat, filter) = render(rs);
        let script = format!("{nat}{filter}");
        super::run("iptables-restore", &["-w", "--noflush"], Some(&script))?;
        for (table, builtin, chain) in JUMPS {
            let rule = ["-w", "-t", table, "-C", builtin, "-j", chain];
            if super::run("iptables", &rule, None).is_err() {
                super::run(
                    "iptables",
                    &["-w", "-t", table, "-I", builtin, "1", "-j", chain],
                    None,
                )?;
            }
        }
        Ok(())
    }

    fn clear(&self) -> Result<()> {
        // Jumps first (a referenced chain cannot be deleted), every copy of them.
        for (table, builtin, chain) in JUMPS {
            while super::run(
                "iptables",
                &["-w", "-t", table, "-D", builtin, "-j", chain],
                None,
            )
            .is_ok()
            {}
        }
        // Then whatever BERTH- chains exist, including ones an older berth made.
        for table in ["nat", "filter"] {
            let saved = super::run("iptables-save", &["-t", table], None)?;
            let chains: Vec<&str> = saved
                .lines()
                .filter_map(|l| l.strip_prefix(':'))
                .filter_map(|l| l.split_whitespace().next())
                .filter(|c| c.starts_with("BERTH-"))
                .collect();
            for c in &chains {
                super::run("iptables", &["-w", "-t", table, "-F", c], None)?;
            }
            for c in &chains {
                super::run("iptables", &["-w", "-t", table, "-X", c], None)?;
            }
        }
        Ok(())
    }
}

/// The `iptables-restore` input for `rs`: the nat table's block and the filter
/// table's, each declaring (so flushing) all of berth's chains in it.
pub fn render(rs: &Ruleset) -> (String, String) {
    let mut nat = String::from("*nat\n");
    for c in NAT_CHAINS {
        let _ = writeln!(nat, ":{c} - [0:0]");
    }
    for chain in ["BERTH-PREROUTING", "BERTH-OUTPUT"] {
        for p in rs.published() {
            let daddr = if p.host_ip.is_unspecified() {
                String::new()
            } else {
                format!("-d {}/32 ", p.host_ip)
            };
            let pr = proto(p.proto);
            let _ = writeln!(
                nat,
                "-A {chain} {daddr}-p {pr} -m addrtype --dst-type LOCAL -m {pr} --dport {} -j DNAT --to-destination {}:{}",
                p.host_port, p.container_ip, p.container_port
            );
        }
    }
    for n in rs.networks.iter().filter(|n| !n.internal) {
        let br = &n.bridge;
        let _ = writeln!(
            nat,
            "-A BERTH-POSTROUTING -o {br} -m addrtype --src-type LOCAL -j MASQUERADE"
        );
        for p in rs.ports.iter().filter(|p| &p.bridge == br) {
            let pr = proto(p.proto);
            let _ = writeln!(
                nat,
                "-A BERTH-POSTROUTING -s {ip}/32 -d {ip}/32 -o {br} -p {pr} -m {pr} --dport {} -j MASQUERADE",
                p.container_port,
                ip = p.container_ip
            );
        }
        if n.masquerade {
            let _ = writeln!(
                nat,
                "-A BERTH-POSTROUTING -s {} ! -o {br} -j MASQUERADE",
                n.subnet
            );
        }
    }
    nat.push_str("COMMIT\n");

    let mut filter = String::from("*filter\n");
    for c in FILTER_CHAINS {
        let _ = writeln!(filter, ":{c} - [0:0]");
    }
    if rs.networks.len() > 1 {
        for n in &rs.networks {
            let br = &n.bridge;
            let _ = writeln!(
                filter,
                "-A BERTH-FORWARD -i {br} ! -o {br} -j BERTH-ISOLATION"
            );
            let _ = writeln!(filter, "-A BERTH-ISOLATION -o {br} -j DROP");
        }
    }
    for n in rs.networks.iter().filter(|n| n.internal) {
        let br = &n.bridge;
        let _ = writeln!(filter, "-A BERTH-FORWARD -i {br} ! -o {br} -j DROP");
        let _ = writeln!(filter, "-A BERTH-FORWARD ! -i {br} -o {br} -j DROP");
    }
    for n in rs.networks.iter().filter(|n| !n.internal) {
        let br = &n.bridge;
        let _ = writeln!(
            filter,
            "-A BERTH-FORWARD -o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
        );
        let _ = writeln!(filter, "-A BERTH-FORWARD -i {br} -o {br} -j ACCEPT");
        for p in rs.ports.iter().filter(|p| &p.bridge == br) {
            let pr = proto(p.proto);
            let _ = writeln!(
                filter,
                "-A BERTH-FORWARD -d {}/32 -o {br} -p {pr} -m {pr} --dport {} -j ACCEPT",
                p.container_ip, p.container_port
            );
        }
        let _ = writeln!(filter, "-A BERTH-FORWARD -o {br} -j DROP");
        let _ = writeln!(filter, "-A BERTH-FORWARD -i {br} -j ACCEPT");
    }
    filter.push_str("COMMIT\n");
    (nat, filter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::fixtures::sample;

    #[test]
    fn every_chain_is_declared_even_when_empty() {
        let (nat, filter) = render(&Ruleset::default());
        assert_eq!(
            nat,
            "*nat\n:BERTH-PREROUTING - [0:0]\n:BERTH-OUTPUT - [0:0]\n:BERTH-POSTROUTING - [0:0]\nCOMMIT\n"
        );
        assert_eq!(
            filter,
            "*filter\n:BERTH-FORWARD - [0:0]\n:BERTH-ISOLATION - [0:0]\nCOMMIT\n"
        );
    }

    #[test]
    fn ports_are_dnatted_in_prerouting_and_output() {
        let (nat, filter) = render(&sample());
        for chain in ["BERTH-PREROUTING", "BERTH-OUTPUT"] {
            assert!(nat.contains(&format!(
                "-A {chain} -p tcp -m addrtype --dst-type LOCAL -m tcp --dport 8080 -j DNAT --to-destination 172.18.0.2:80\n"
            )));
            assert!(nat.contains(&format!(
                "-A {chain} -d 127.0.0.1/32 -p udp -m addrtype --dst-type LOCAL -m udp --dport 5300 -j DNAT --to-destination 172.19.0.3:53\n"
            )));
        }
        assert!(
            !nat.contains("9000"),
            "internal network ports are not published"
        );
        assert!(filter.contains(
            "-A BERTH-FORWARD -d 172.18.0.2/32 -o br-a -p tcp -m tcp --dport 80 -j ACCEPT\n"
        ));
        assert!(nat.contains(
            "-A BERTH-POSTROUTING -s 172.18.0.2/32 -d 172.18.0.2/32 -o br-a -p tcp -m tcp --dport 80 -j MASQUERADE\n"
        ));
    }

    #[test]
    fn masquerade_follows_the_network_options() {
        let (nat, _) = render(&sample());
        assert!(nat.contains("-A BERTH-POSTROUTING -s 172.18.0.0/16 ! -o br-a -j MASQUERADE\n"));
        assert!(!nat.contains("-s 172.19.0.0/16"));
        assert!(!nat.contains("172.20.0.0/16"));
        assert!(nat
            .contains("-A BERTH-POSTROUTING -o br-b -m addrtype --src-type LOCAL -j MASQUERADE\n"));
    }

    #[test]
    fn bridges_are_isolated_in_two_stages() {
        let (_, filter) = render(&sample());
        for br in ["br-a", "br-b", "br-i"] {
            assert!(filter.contains(&format!(
                "-A BERTH-FORWARD -i {br} ! -o {br} -j BERTH-ISOLATION\n"
            )));
            assert!(filter.contains(&format!("-A BERTH-ISOLATION -o {br} -j DROP\n")));
        }
        assert!(filter.contains("-A BERTH-FORWARD -i br-i ! -o br-i -j DROP\n"));
        assert!(filter.contains("-A BERTH-FORWARD ! -i br-i -o br-i -j DROP\n"));
        let est = filter.find("-o br-a -m conntrack").unwrap();
        let drop = filter.find("-A BERTH-FORWARD -o br-a -j DROP").unwrap();
        assert!(est < drop);
    }
}
