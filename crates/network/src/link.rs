//! Bridges and veth pairs over rtnetlink: what libnetwork's bridge driver does
//! with netlink for each network and each container endpoint.
//!
//! Every function is synchronous and opens one netlink connection for its work,
//! driven by a current-thread tokio runtime built for the call. The functions are
//! meant for tokio's blocking pool or plain threads: calling one from an async task
//! panics ("cannot start a runtime from within a runtime"), and using the caller's
//! runtime instead would be wrong anyway, because a netlink socket belongs to the
//! network namespace of the thread that opened it (rtnetlink(7)). Work inside a
//! container's namespace therefore opens its connection on a thread that joined it
//! ([`netns::run_in`]).
//!
//! [`add_veth`] is on the path of every container start, so it is as few round
//! trips as the kernel allows and never polls: one `RTM_NEWLINK` makes the pair with
//! the host end attached to the bridge and up, and the peer created directly in the
//! container's namespace (`IFLA_NET_NS_FD` in the peer's attributes) with its final
//! name, MAC address and MTU, so it is never visible on the host. Inside the
//! namespace: set the peer up, add its address, add the default route. If
//! anything fails the host end is deleted, which takes the peer with it.
//!
//! See ip-link(8), veth(4), rtnetlink(7); moby `libnetwork/drivers/bridge`.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::pin::pin;

use futures_util::TryStreamExt;
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags};
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};

use crate::error::{Error, Result};
use crate::netns;

/// Creates bridge `name` if missing, gives it `gateway/prefix` if it lacks that
/// address (None: no address), sets it up. Idempotent.
pub fn ensure_bridge(name: &str, gateway: Option<Ipv4Addr>, prefix: u8) -> Result<()> {
    check_name(name)?;
    with_netlink(|h| async move {
        let found = match get(&h, name).await? {
            Some(found) => found,
            None => {
                match h.link().add(LinkBridge::new(name).build()).execute().await {
                    // EEXIST: someone made it between our lookup and now.
                    Ok(()) => {}
                    Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                    Err(e) => return Err(nl(format!("create bridge {name}"), e)),
                }
                get(&h, name)
                    .await?
                    .ok_or_else(|| Error::LinkNotFound(name.to_owned()))?
            }
        };
        if let Some(gw) = gateway {
            // The kernel refuses an exact duplicate (same address and prefix) with
            // EEXIST, which is the "already has it" answer: no need to list first.
            match h
                .address()
                .add(found.index, IpAddr::V4(gw), prefix)
                .execute()
                .await
            {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => return Err(nl(format!("add {gw}/{prefix} to bridge {name}"), e)),
            }
        }
        if !found.up {
            set_up(&h, found.index, name).await?;
        }
        Ok(())
    })
}

/// Deletes a link by name; Ok if it does not exist.
///
/// Deleting either end of a veth pair deletes both.
pub fn delete(name: &str) -> Result<()> {
    check_name(name)?;
    with_netlink(|h| async move {
        let mut req = h.link().del(0);
        req.message_mut()
            .attributes
            .push(LinkAttribute::IfName(name.to_owned()));
        match req.execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(nl(format!("delete link {name}"), e)),
        }
    })
}

/// Whether a link called `name` exists in the calling thread's network namespace.
pub fn exists(name: &str) -> bool {
    check_name(name).is_ok() && matches!(index_of(name), Ok(Some(_)))
}

/// One container's interface on a bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Veth {
    /// Host side, e.g. "veth1a2b3c4" (<= 15 chars), attached to `bridge` and up.
    pub host_name: String,
    pub bridge: String,
    /// The container's pinned netns ([`netns::create`]).
    pub netns: PathBuf,
    /// "eth0", "eth1", …
    pub name_in_ns: String,
    pub mac: [u8; 6],
    pub addr: Ipv4Addr,
    pub prefix: u8,
    /// Some: default route via it inside the netns.
    pub gateway: Option<Ipv4Addr>,
    /// 1500 by default.
    pub mtu: u32,
}

/// Makes the pair, moves the peer into the netns, renames it, sets mac, address,
/// mtu, up, and the default route. All or nothing: on failure deletes what it made.
pub fn add_veth(v: &Veth) -> Result<()> {
    check_name(&v.host_name)?;
    check_name(&v.bridge)?;
    check_name(&v.name_in_ns)?;
    let bridge = index_of(&v.bridge)?.ok_or_else(|| Error::LinkNotFound(v.bridge.clone()))?;
    let ns = netns::open(&v.netns)?;
    let ns_fd = ns.as_raw_fd();
    with_netlink(|h| async move {
        let peer = LinkMessageBuilder::<LinkUnspec>::new()
            .name(v.name_in_ns.clone())
            .address(v.mac.to_vec())
            .mtu(v.mtu)
            .append_extra_attribute(LinkAttribute::NetNsFd(ns_fd))
            .build();
        let pair = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(v.host_name.clone())
            .mtu(v.mtu)
            .controller(bridge)
            .up()
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .build();
        h.link().add(pair).execute().await.map_err(|e| {
            nl(
                format!(
                    "create veth {} on bridge {} with peer {} in {}",
                    v.host_name,
                    v.bridge,
                    v.name_in_ns,
                    v.netns.display()
                ),
                e,
            )
        })
    })?;
    drop(ns);

    // From here on the pair exists: undo it if the inside cannot be configured.
    let inside = {
        let (name, addr, prefix, gateway) = (v.name_in_ns.clone(), v.addr, v.prefix, v.gateway);
        netns::run_in(&v.netns, move || {
            configure_inside(&name, addr, prefix, gateway)
        })
        .and_then(|r| r)
    };
    if let Err(e) = inside {
        if let Err(cleanup) = delete(&v.host_name) {
            tracing::warn!(veth = %v.host_name, error = %cleanup, "failed to delete a half-made veth pair");
        }
        return Err(e);
    }
    Ok(())
}

/// Docker's MAC for an address: 02:42 then the four address bytes.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x42, a, b, c, d]
}

/// Writes /proc/sys/net/ipv4/conf/<name>/route_localnet = 1 (published ports on
/// 127.0.0.1 are DNATed out of this bridge).
///
/// The file belongs to the calling thread's network namespace.
pub fn set_route_localnet(name: &str) -> Result<()> {
    set_route_localnet_at(Path::new("/proc/sys/net/ipv4/conf"), name)
}

/// [`set_route_localnet`] under another `conf` directory (tests use a temp dir).
pub(crate) fn set_route_localnet_at(conf: &Path, name: &str) -> Result<()> {
    check_name(name)?;
    let path = conf.join(name).join("route_localnet");
    std::fs::write(&path, b"1").map_err(|e| Error::io(format!("write {}", path.display()), e))
}

/// Sets `lo` up inside the namespace at `netns` (a runtime's new namespace has it
/// down; Docker's sandbox brings it up).
pub fn loopback_up(netns: &Path) -> Result<()> {
    netns::run_in(netns, || set_up_here("lo"))?
}

/// Sets link `name` up in the calling thread's network namespace (used by
/// [`netns::create`] for `lo`).
pub(crate) fn set_up_here(name: &str) -> Result<()> {
    let index = index_of(name)?.ok_or_else(|| Error::LinkNotFound(name.to_owned()))?;
    with_netlink(|h| async move { set_up(&h, index, name).await })
}

/// The peer's half of [`add_veth`], on a thread inside the container's namespace.
fn configure_inside(
    name: &str,
    addr: Ipv4Addr,
    prefix: u8,
    gateway: Option<Ipv4Addr>,
) -> Result<()> {
    with_netlink(|h| async move {
        let index = index_of(name)?.ok_or_else(|| Error::LinkNotFound(name.to_owned()))?;
        h.address()
            .add(index, IpAddr::V4(addr), prefix)
            .execute()
            .await
            .map_err(|e| nl(format!("add {addr}/{prefix} to {name}"), e))?;
        // Not in the create message: veth_open() fails with ENOTCONN while the
        // peer is configured before its other end exists.
        set_up(&h, index, name).await?;
        if let Some(gw) = gateway {
            let route = RouteMessageBuilder::<Ipv4Addr>::new()
                .gateway(gw)
                .output_interface(index)
                .build();
            h.route()
                .add(route)
                .execute()
                .await
                .map_err(|e| nl(format!("add default route via {gw} on {name}"), e))?;
        }
        Ok(())
    })
}

/// What a lookup tells us about a link.
struct Found {
    index: u32,
    up: bool,
}

/// A link's index by name (`SIOCGIFINDEX`, as if_nametoindex(3) does); None if
/// there is none.
///
/// On the hot path instead of `RTM_GETLINK`: the kernel's answer for a bridge
/// carries all its settings and takes ~0.6 ms to produce and parse, the ioctl ~10 µs.
fn index_of(name: &str) -> Result<Option<u32>> {
    let sock = rustix::net::socket_with(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| Error::io("open a socket for interface lookups", e.into()))?;
    match rustix::net::netdevice::name_to_index(&sock, name) {
        Ok(index) => Ok(Some(index)),
        Err(rustix::io::Errno::NODEV) => Ok(None),
        Err(e) => Err(Error::io(format!("look up link {name}"), e.into())),
    }
}

/// Looks a link up by name; None if there is none.
async fn get(h: &Handle, name: &str) -> Result<Option<Found>> {
    let mut links = pin!(h.link().get().match_name(name.to_owned()).execute());
    match links.try_next().await {
        Ok(Some(msg)) => Ok(Some(Found {
            index: msg.header.index,
            up: msg.header.flags.contains(LinkFlags::Up),
        })),
        Ok(None) => Ok(None),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(nl(format!("look up link {name}"), e)),
    }
}

async fn set_up(h: &Handle, index: u32, name: &str) -> Result<()> {
    h.link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|e| nl(format!("set {name} up"), e))
}

/// Runs `f` with a fresh netlink connection on a runtime of its own, in the
/// calling thread's network namespace.
fn with_netlink<T, F, Fut>(f: F) -> Result<T>
where
    F: FnOnce(Handle) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("start a runtime for netlink", e))?;
    rt.block_on(async {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(|source| Error::Netlink {
            op: "open a netlink socket".to_owned(),
            source,
        })?;
        let conn = tokio::spawn(conn);
        let out = f(handle).await;
        conn.abort();
        out
    })
}

/// The errno of a netlink NACK.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(msg) => msg.code.map(|c| -c.get()),
        _ => None,
    }
}

fn nl(op: String, e: rtnetlink::Error) -> Error {
    let source = match errno(&e) {
        Some(code) => std::io::Error::from_raw_os_error(code),
        None => std::io::Error::other(e.to_string()),
    };
    Error::Netlink { op, source }
}

/// Interface names are at most IFNAMSIZ - 1 bytes; a name is also a path
/// component under /proc/sys, so no '/' or "." / "..".
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c == '\0');
    if ok {
        Ok(())
    } else {
        Err(Error::BadLinkName(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_is_02_42_then_the_address() {
        assert_eq!(
            mac_for(Ipv4Addr::new(172, 17, 0, 2)),
            [0x02, 0x42, 172, 17, 0, 2]
        );
    }

    #[test]
    fn names_longer_than_15_bytes_or_with_slashes_are_refused() {
        assert!(check_name("veth1a2b3c4").is_ok());
        assert!(check_name("abcdefghijklmno").is_ok());
        assert!(check_name("abcdefghijklmnop").is_err());
        assert!(check_name("").is_err());
        assert!(check_name("..").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("eth0:1").is_err());
    }

    #[test]
    fn route_localnet_writes_1_under_the_interface_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("br0")).unwrap();
        set_route_localnet_at(dir.path(), "br0").unwrap();
        let got = std::fs::read_to_string(dir.path().join("br0/route_localnet")).unwrap();
        assert_eq!(got, "1");
    }

    #[test]
    fn route_localnet_refuses_a_path_as_a_name() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            set_route_localnet_at(dir.path(), "../x"),
            Err(Error::BadLinkName(_))
        ));
    }
}
