//! The network library's errors.

use std::net::Ipv4Addr;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "invalid subnet {0:?}: expected an IPv4 address and a prefix length, as 172.18.0.0/16"
    )]
    BadSubnet(String),
    #[error("invalid address {0:?}: expected an IPv4 address")]
    BadAddress(String),
    #[error("no available IPv4 address in {0}")]
    Exhausted(String),
    #[error("address {addr} is not in subnet {subnet}")]
    OutsideSubnet { addr: Ipv4Addr, subnet: String },
    #[error("address {0} is already in use")]
    AddressInUse(Ipv4Addr),
    #[error("{0}")]
    PortInUse(String),
    #[error("netlink: {op}: {source}")]
    Netlink {
        op: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{tool} failed: {stderr}")]
    Command { tool: String, stderr: String },
    #[error("the dns server must be started inside a tokio runtime")]
    NoRuntime,
    #[error("invalid interface name {0:?}: expected 1 to 15 characters, none of them '/', ':' or whitespace")]
    BadLinkName(String),
    #[error("link {0:?} not found")]
    LinkNotFound(String),
    #[error("{0}")]
    BadPort(String),
    #[error("invalid firewall ruleset: {0}")]
    BadRuleset(String),
}

impl Error {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
