//! berth's networks: what Docker's libnetwork does for the bridge driver, as a
//! library the daemon drives.
//!
//! - [`ipam`]: subnets, pools and address leases (pure, no kernel).
//! - [`netns`]: network namespaces pinned by a bind mount at a path (as `ip netns`
//!   does), and running code inside one from a thread of its own.
//! - [`link`]: bridges and veth pairs over rtnetlink.
//! - [`firewall`]: the whole of berth's NAT and filter rules rendered from one
//!   [`firewall::Ruleset`] and applied atomically, with nftables (berth's own table)
//!   or iptables (berth's own chains) behind one trait.
//! - [`ports`]: host-port reservations for published ports (a bound socket holds
//!   the port, as dockerd's port mapper does) and a userland proxy.
//! - [`dns`]: the embedded DNS server each container on a user-defined network
//!   reaches at 127.0.0.11.
//!
//! Only IPv4. Everything here is synchronous but [`dns`] and the proxy, which run on
//! the caller's tokio runtime.

pub mod dns;
pub mod error;
pub mod firewall;
pub mod ipam;
pub mod link;
pub mod netns;
pub mod ports;

pub use error::{Error, Result};
pub use ipam::Subnet;

/// A transport protocol of a published port.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
    /// `tcp`, `udp` (Docker also knows `sctp`, which berth refuses).
    pub fn parse(s: &str) -> Option<Proto> {
        match s {
            "tcp" | "" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            _ => None,
        }
    }
}
