//! IP address management: subnets, the pools new networks take their subnet
//! from, and the leases of one network's addresses.
//!
//! Pure logic, no kernel. Docker's defaults (libnetwork `ipamutils`): the pools are
//! 172.17.0.0/16 … 172.31.0.0/16 (each network a /16) and 192.168.0.0/16 cut into
//! /20s; a pool's subnet is skipped when it overlaps another network or one of the
//! host's routes. Addresses are handed out in order after the gateway and wrap
//! around (libnetwork's bitmap keeps a "current" pointer, so a released address is
//! not reused at once).

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::error::{Error, Result};

/// An IPv4 subnet: a network address (host bits zero) and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subnet {
    addr: Ipv4Addr,
    prefix: u8,
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl Subnet {
    /// The subnet of `addr` with `prefix` bits; host bits are cleared.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Subnet> {
        if prefix > 32 {
            return Err(Error::BadSubnet(format!("{addr}/{prefix}")));
        }
        Ok(Subnet {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        })
    }

    /// `172.18.0.0/16`. An address with host bits set (`172.18.0.1/16`) names its
    /// subnet, as Docker accepts it.
    pub fn parse(s: &str) -> Result<Subnet> {
        let bad = || Error::BadSubnet(s.to_owned());
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        Subnet::new(addr, prefix)
    }

    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
    /// The number of addresses, network and broadcast included.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.addr)
    }
    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }
    /// Whether `other` lies wholly inside this subnet.
    pub fn contains_subnet(&self, other: &Subnet) -> bool {
        other.prefix >= self.prefix && self.contains(other.addr)
    }
    /// The `n`th address of the subnet (0 is the network address), if inside.
    pub fn nth(&self, n: u64) -> Option<Ipv4Addr> {
        (n < self.size()).then(|| Ipv4Addr::from(u32::from(self.addr).wrapping_add(n as u32)))
    }
    /// The offset of `ip` from the network address.
    pub fn offset(&self, ip: Ipv4Addr) -> Option<u64> {
        self.contains(ip)
            .then(|| u64::from(u32::from(ip) - u32::from(self.addr)))
    }
    /// The first host address (Docker's default gateway).
    pub fn first_host(&self) -> Ipv4Addr {
        self.nth(1).unwrap_or(self.addr)
    }
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !mask(self.prefix))
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = Error;
    fn from_str(s: &str) -> Result<Subnet> {
        Subnet::parse(s)
    }
}

impl serde::Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Subnet, D::Error> {
        let s = String::deserialize(d)?;
        Subnet::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A pool new networks take their subnets from: `base` cut into `size`-bit
/// subnets (daemon.json's `default-address-pools` entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pool {
    pub base: Subnet,
    pub size: u8,
}

/// Docker's default pools: 172.17.0.0/16 to 172.31.0.0/16, then 192.168.0.0/16 in /20s.
pub fn default_pools() -> Vec<Pool> {
    vec![
        Pool {
            base: Subnet {
                addr: Ipv4Addr::new(172, 17, 0, 0),
                prefix: 16,
            },
            size: 16,
        },
        Pool {
            base: Subnet {
                addr: Ipv4Addr::new(172, 18, 0, 0),
                prefix: 15,
            },
            size: 16,
        },
        Pool {
            base: Subnet {
                addr: Ipv4Addr::new(172, 20, 0, 0),
                prefix: 14,
            },
            size: 16,
        },
        Pool {
            base: Subnet {
                addr: Ipv4Addr::new(172, 24, 0, 0),
                prefix: 13,
            },
            size: 16,
        },
        Pool {
            base: Subnet {
                addr: Ipv4Addr::new(192, 168, 0, 0),
                prefix: 16,
            },
            size: 20,
        },
    ]
}

/// The first subnet of the pools that overlaps none of `taken`.
pub fn next_free(pools: &[Pool], taken: &[Subnet]) -> Option<Subnet> {
    for pool in pools {
        let size = pool.size.max(pool.base.prefix);
        let step = 1u64 << (32 - u32::from(size));
        let mut n = 0u64;
        while n < pool.base.size() {
            let candidate = Subnet::new(pool.base.nth(n)?, size).ok()?;
            if !taken.iter().any(|t| t.overlaps(&candidate)) {
                return Some(candidate);
            }
            n += step;
        }
    }
    None
}

/// The subnets the host routes to directly, from `/proc/net/route`'s text: a new
/// network must not shadow them. The default route is not one of them.
pub fn host_routes(proc_net_route: &str) -> Vec<Subnet> {
    let hex = |s: &str| {
        u32::from_str_radix(s, 16)
            .ok()
            .map(|v| Ipv4Addr::from(v.swap_bytes()))
    };
    proc_net_route
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (dest, mask) = (hex(f.get(1)?)?, hex(f.get(7)?)?);
            let prefix = u32::from(mask).count_ones() as u8;
            (prefix > 0)
                .then(|| Subnet::new(dest, prefix).ok())
                .flatten()
        })
        .collect()
}

/// The leases of one network: addresses in `range` (the subnet, or `--ip-range`),
/// never the network address, the broadcast address or the gateway.
#[derive(Debug, Clone)]
pub struct Leases {
    subnet: Subnet,
    range: Subnet,
    gateway: Option<Ipv4Addr>,
    used: BTreeSet<Ipv4Addr>,
    /// Offset in `range` of the last address handed out.
    last: u64,
}

impl Leases {
    pub fn new(subnet: Subnet, range: Option<Subnet>, gateway: Option<Ipv4Addr>) -> Leases {
        Leases {
            subnet,
            range: range.unwrap_or(subnet),
            gateway,
            used: BTreeSet::new(),
            last: 0,
        }
    }

    fn usable(&self, ip: Ipv4Addr) -> bool {
        self.subnet.contains(ip)
            && ip != self.subnet.addr
            && (self.subnet.prefix >= 31 || ip != self.subnet.broadcast())
            && Some(ip) != self.gateway
    }

    /// Leases `want` (checked: inside the subnet, free) or the next free address.
    pub fn allocate(&mut self, want: Option<Ipv4Addr>) -> Result<Ipv4Addr> {
        if let Some(ip) = want {
            self.reserve(ip)?;
            return Ok(ip);
        }
        let size = self.range.size();
        for i in 1..=size {
            let off = (self.last + i) % size;
            let Some(ip) = self.range.nth(off) else {
                continue;
            };
            if self.usable(ip) && !self.used.contains(&ip) {
                self.used.insert(ip);
                self.last = off;
                return Ok(ip);
            }
        }
        Err(Error::Exhausted(self.range.to_string()))
    }

    /// Marks `ip` as leased (a `--ip` request, or a lease found at restore).
    pub fn reserve(&mut self, ip: Ipv4Addr) -> Result<()> {
        if !self.subnet.contains(ip) {
            return Err(Error::OutsideSubnet {
                addr: ip,
                subnet: self.subnet.to_string(),
            });
        }
        if !self.usable(ip) || !self.used.insert(ip) {
            return Err(Error::AddressInUse(ip));
        }
        Ok(())
    }

    pub fn release(&mut self, ip: Ipv4Addr) {
        self.used.remove(&ip);
    }

    pub fn in_use(&self) -> usize {
        self.used.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Subnet {
        Subnet::parse(x).unwrap()
    }

    #[test]
    fn subnets_parse_and_normalise() {
        assert_eq!(s("172.18.0.1/16").to_string(), "172.18.0.0/16");
        assert_eq!(
            s("10.0.0.0/8").broadcast(),
            Ipv4Addr::new(10, 255, 255, 255)
        );
        assert_eq!(s("10.1.2.0/24").first_host(), Ipv4Addr::new(10, 1, 2, 1));
        for bad in ["10.0.0.0", "10.0.0.0/33", "10.0.0/8", "x/8", "::1/64"] {
            assert!(
                matches!(Subnet::parse(bad), Err(Error::BadSubnet(_))),
                "{bad}"
            );
        }
        let json = serde_json::to_string(&s("10.9.0.0/16")).unwrap();
        assert_eq!(json, "\"10.9.0.0/16\"");
        assert_eq!(
            serde_json::from_str::<Subnet>(&json).unwrap(),
            s("10.9.0.0/16")
        );
    }

    #[test]
    fn overlap_is_symmetric_and_containment_is_not() {
        assert!(s("10.0.0.0/8").overlaps(&s("10.1.0.0/16")));
        assert!(s("10.1.0.0/16").overlaps(&s("10.0.0.0/8")));
        assert!(!s("10.1.0.0/16").overlaps(&s("10.2.0.0/16")));
        assert!(s("10.0.0.0/8").contains_subnet(&s("10.1.0.0/16")));
        assert!(!s("10.1.0.0/16").contains_subnet(&s("10.0.0.0/8")));
    }

    #[test]
    fn pools_skip_taken_subnets_and_host_routes() {
        let pools = default_pools();
        assert_eq!(next_free(&pools, &[]), Some(s("172.17.0.0/16")));
        assert_eq!(
            next_free(&pools, &[s("172.17.0.0/16"), s("172.18.5.0/24")]),
            Some(s("172.19.0.0/16"))
        );
        let all16: Vec<Subnet> = (17..=31).map(|b| s(&format!("172.{b}.0.0/16"))).collect();
        assert_eq!(next_free(&pools, &all16), Some(s("192.168.0.0/20")));
        let table =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth0\t00000000\t0100FC0A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                     eth0\t0000FC0A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n\
                     br0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        assert_eq!(
            host_routes(table),
            vec![s("10.252.0.0/16"), s("172.17.0.0/16")]
        );
    }

    #[test]
    fn leases_go_in_order_skip_the_gateway_and_wrap() {
        let mut l = Leases::new(s("10.5.0.0/29"), None, Some(Ipv4Addr::new(10, 5, 0, 1)));
        let got: Vec<Ipv4Addr> = (0..5).map(|_| l.allocate(None).unwrap()).collect();
        assert_eq!(got[0], Ipv4Addr::new(10, 5, 0, 2));
        assert_eq!(got[4], Ipv4Addr::new(10, 5, 0, 6));
        assert!(matches!(l.allocate(None), Err(Error::Exhausted(_))));
        l.release(Ipv4Addr::new(10, 5, 0, 3));
        assert_eq!(l.allocate(None).unwrap(), Ipv4Addr::new(10, 5, 0, 3));
        assert!(matches!(
            l.allocate(Some(Ipv4Addr::new(10, 5, 0, 4))),
            Err(Error::AddressInUse(_))
        ));
        assert!(matches!(
            l.allocate(Some(Ipv4Addr::new(10, 6, 0, 4))),
            Err(Error::OutsideSubnet { .. })
        ));
    }

    #[test]
    fn an_ip_range_limits_the_automatic_leases_only() {
        let mut l = Leases::new(
            s("10.7.0.0/16"),
            Some(s("10.7.5.0/30")),
            Some(Ipv4Addr::new(10, 7, 0, 1)),
        );
        assert_eq!(l.allocate(None).unwrap(), Ipv4Addr::new(10, 7, 5, 1));
        assert_eq!(l.allocate(None).unwrap(), Ipv4Addr::new(10, 7, 5, 2));
        assert_eq!(l.allocate(None).unwrap(), Ipv4Addr::new(10, 7, 5, 3));
        assert_eq!(
            l.allocate(Some(Ipv4Addr::new(10, 7, 9, 9))).unwrap(),
            Ipv4Addr::new(10, 7, 9, 9)
        );
        assert_eq!(l.in_use(), 4);
    }
}
