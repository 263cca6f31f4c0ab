//! Published ports: parsing Docker's `HostConfig.PortBindings`, holding the host
//! port while the container runs, and a userland proxy for benchmarks.
//!
//! Why hold a port at all when the kernel's DNAT does the forwarding: without a
//! socket on the host port, another program could bind it and would never see its
//! traffic (the DNAT takes it first), and a second `docker run -p 8080:…` must fail
//! with "address already in use" as it does with dockerd. dockerd's port mapper
//! (`--userland-proxy=false`) holds the port with a bound, not listening, socket;
//! so does [`Reservation`]. A bound TCP socket that does not listen accepts no
//! connection, so it costs nothing but the port. No `SO_REUSEADDR`: with it two
//! bound-but-not-listening sockets could share a port (Linux `inet_csk_bind_conflict`).
//!
//! [`proxy_tcp`] is dockerd's `docker-proxy` in miniature, only for comparing the
//! two designs in benchmarks; berth publishes ports with DNAT.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::OwnedFd;

use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use crate::error::{Error, Result};
use crate::Proto;

/// A host port held for a published port: a bound (not listening) socket, as
/// dockerd's port mapper holds it, so nobody else takes the port while the
/// container runs. Dropping it frees the port.
#[derive(Debug)]
pub struct Reservation {
    _socket: OwnedFd,
    proto: Proto,
    host_ip: Ipv4Addr,
    port: u16,
}

impl Reservation {
    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn proto(&self) -> Proto {
        self.proto
    }
    /// Turns a TCP reservation into a listening socket on the same port (for the
    /// userland proxy); None for UDP.
    pub fn listen(self) -> Result<Option<std::net::TcpListener>> {
        if self.proto != Proto::Tcp {
            return Ok(None);
        }
        rustix::net::listen(&self._socket, 1024).map_err(|e| {
            Error::io(
                format!("listen on {}:{}", self.host_ip, self.port),
                e.into(),
            )
        })?;
        let l = std::net::TcpListener::from(self._socket);
        l.set_nonblocking(true)
            .map_err(|e| Error::io("set the proxy's listener non-blocking", e))?;
        Ok(Some(l))
    }

    pub fn host_ip(&self) -> Ipv4Addr {
        self.host_ip
    }
}

fn bind_one(
    proto: Proto,
    host_ip: Ipv4Addr,
    port: u16,
    reuse_addr: bool,
) -> std::result::Result<Reservation, Errno> {
    let kind = match proto {
        Proto::Tcp => SocketType::STREAM,
        Proto::Udp => SocketType::DGRAM,
    };
    let fd = rustix::net::socket_with(AddressFamily::INET, kind, SocketFlags::CLOEXEC, None)?;
    if reuse_addr {
        rustix::net::sockopt::set_socket_reuseaddr(&fd, true)?;
    }
    rustix::net::bind(&fd, &SocketAddrV4::new(host_ip, port))?;
    let bound =
        SocketAddrV4::try_from(rustix::net::getsockname(&fd)?).map_err(|_| Errno::AFNOSUPPORT)?;
    Ok(Reservation {
        _socket: fd,
        proto,
        host_ip,
        port: bound.port(),
    })
}

/// Binds `host_ip:port` (port 0: an ephemeral port chosen by the kernel; for a
/// range `lo..=hi` the first free port in it; `hi` 0 means `lo` alone).
/// [`Error::PortInUse`] when taken,
/// with dockerd's message: `failed to bind host port for 0.0.0.0:8080/tcp: address
/// already in use`.
pub fn reserve(proto: Proto, host_ip: Ipv4Addr, lo: u16, hi: u16) -> Result<Reservation> {
    reserve_with(proto, host_ip, lo, hi, false)
}

/// [`reserve`] for a port that is about to [`Reservation::listen`] (the userland
/// proxy): with `SO_REUSEADDR`, so the relay's old connections in TIME_WAIT (after a
/// daemon restart, say) do not keep the port. Only for sockets that listen at once:
/// two bound, not listening sockets with `SO_REUSEADDR` could share a port.
pub fn reserve_to_listen(proto: Proto, host_ip: Ipv4Addr, lo: u16, hi: u16) -> Result<Reservation> {
    reserve_with(proto, host_ip, lo, hi, true)
}

fn reserve_with(
    proto: Proto,
    host_ip: Ipv4Addr,
    lo: u16,
    hi: u16,
    reuse_addr: bool,
) -> Result<Reservation> {
    if lo != 0 && hi != 0 && hi < lo {
        return Err(Error::BadPort(format!(
            "invalid host port range: {lo}-{hi}"
        )));
    }
    // Port 0 is ephemeral whatever `hi` says; `hi` 0 is the single port `lo`.
    let hi = if lo == 0 { 0 } else { hi.max(lo) };
    let spec = if lo == hi {
        format!("{host_ip}:{lo}/{}", proto.as_str())
    } else {
        format!("{host_ip}:{lo}-{hi}/{}", proto.as_str())
    };
    let what = || format!("failed to bind host port for {spec}");
    for port in lo..=hi {
        match bind_one(proto, host_ip, port, reuse_addr) {
            Ok(r) => return Ok(r),
            Err(Errno::ADDRINUSE) => continue,
            Err(e) => return Err(Error::io(what(), e.into())),
        }
    }
    Err(Error::PortInUse(format!(
        "{}: address already in use",
        what()
    )))
}

/// A userland proxy (dockerd's `docker-proxy`) for comparison in benchmarks:
/// accepts on `listener` and copies both ways to `target` until aborted. Runs on
/// the caller's tokio runtime; aborting or dropping this future ends every
/// connection it relays.
pub async fn proxy_tcp(listener: tokio::net::TcpListener, target: SocketAddr) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((mut inbound, peer)) => {
                    conns.spawn(async move {
                        match tokio::net::TcpStream::connect(target).await {
                            Ok(mut outbound) => {
                                let _ = inbound.set_nodelay(true);
                                let _ = outbound.set_nodelay(true);
                                // 64 KiB buffers: the default 8 KiB halves bulk throughput.
                                let copied = tokio::io::copy_bidirectional_with_sizes(
                                    &mut inbound,
                                    &mut outbound,
                                    64 << 10,
                                    64 << 10,
                                )
                                .await;
                                if let Err(e) = copied {
                                    tracing::debug!(%peer, %target, "proxy connection ended: {e}");
                                }
                            }
                            Err(e) => tracing::debug!(%peer, %target, "proxy cannot connect: {e}"),
                        }
                    });
                }
                Err(e) => {
                    // EMFILE and the like: back off rather than spin.
                    tracing::warn!("proxy accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// One entry of `HostConfig.PortBindings`: container port `container_port/proto`
/// published on `host_ip` at a port in `host_lo..=host_hi` (`0, 0`: ephemeral).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Binding {
    pub proto: Proto,
    pub container_port: u16,
    pub host_ip: Ipv4Addr,
    pub host_lo: u16,
    pub host_hi: u16,
}

fn bad(msg: String) -> Error {
    Error::BadPort(msg)
}

/// `80`, `80/tcp`, `53/udp` → (port, proto).
fn parse_key(key: &str) -> Result<(u16, Proto)> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let proto = Proto::parse(&proto.to_ascii_lowercase())
        .ok_or_else(|| bad(format!("invalid proto: {proto}")))?;
    let port = match port.parse::<u16>() {
        Ok(p) if p != 0 => p,
        _ => return Err(bad(format!("invalid port specification: {port:?}"))),
    };
    Ok((port, proto))
}

/// `""` → (0, 0); `8080` → (8080, 8080); `5300-5310` → (5300, 5310).
fn parse_host_port(s: &str) -> Result<(u16, u16)> {
    let s = s.trim();
    if s.is_empty() {
        return Ok((0, 0));
    }
    let invalid = || bad(format!("invalid hostPort: {s}"));
    let (lo, hi) = s.split_once('-').unwrap_or((s, s));
    let lo: u16 = lo.trim().parse().map_err(|_| invalid())?;
    let hi: u16 = hi.trim().parse().map_err(|_| invalid())?;
    if lo > hi || (lo == 0 && hi != 0) {
        return Err(invalid());
    }
    Ok((lo, hi))
}

/// `HostConfig.PortBindings` → bindings, ordered by container port then proto:
/// `{"80/tcp":[{"HostIp":"","HostPort":"8080"}], "53/udp":[{"HostIp":"127.0.0.1",
/// "HostPort":"5300-5310"}], "90/tcp":[{}]}`. Errors name the bad field as dockerd
/// does (`invalid port specification: "x"`, `invalid proto: sctp`, `invalid
/// hostPort: x`, `invalid host IP: x`). `HostIp` `""` is 0.0.0.0; an IPv6 `HostIp`
/// (`"::"`) is skipped, berth being IPv4 only. `null` means no bindings.
pub fn parse_bindings(v: &serde_json::Value) -> Result<Vec<Binding>> {
    use serde_json::Value;
    let map = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Object(m) => m,
        _ => return Err(bad("invalid port bindings: expected an object".into())),
    };
    let mut out = Vec::new();
    for (key, list) in map {
        let (container_port, proto) = parse_key(key)?;
        let entries = match list {
            Value::Null => continue,
            Value::Array(a) => a,
            _ => {
                return Err(bad(format!(
                    "invalid port bindings for {key}: expected a list"
                )))
            }
        };
        for e in entries {
            let field = |name: &str| -> Result<String> {
                match e.get(name) {
                    None | Some(Value::Null) => Ok(String::new()),
                    Some(Value::String(s)) => Ok(s.clone()),
                    Some(other) => Err(bad(format!("invalid {name}: {other}"))),
                }
            };
            if !e.is_object() {
                return Err(bad(format!("invalid port binding for {key}: {e}")));
            }
            let ip = field("HostIp")?;
            let ip = ip.trim();
            let host_ip = if ip.is_empty() {
                Ipv4Addr::UNSPECIFIED
            } else if let Ok(v4) = ip.parse::<Ipv4Addr>() {
                v4
            } else if ip
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::Ipv6Addr>()
                .is_ok()
            {
                continue;
            } else {
                return Err(bad(format!("invalid host IP: {ip}")));
            };
            let (host_lo, host_hi) = parse_host_port(&field("HostPort")?)?;
            out.push(Binding {
                proto,
                container_port,
                host_ip,
                host_lo,
                host_hi,
            });
        }
    }
    out.sort_by_key(|b| (b.container_port, b.proto));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: serde_json::Value) -> String {
        match parse_bindings(&v) {
            Err(Error::BadPort(m)) => m,
            other => panic!("expected BadPort, got {other:?}"),
        }
    }

    #[test]
    fn docker_port_bindings_parse() {
        let v = json!({
            "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
            "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5300-5310"}],
            "90/tcp": [{}],
            "91": [{"HostIp": "::", "HostPort": "9191"}, {"HostPort": ""}],
            "92/tcp": [],
            "93/tcp": null,
        });
        let got = parse_bindings(&v).unwrap();
        let b = |proto, container_port, host_ip, host_lo, host_hi| Binding {
            proto,
            container_port,
            host_ip,
            host_lo,
            host_hi,
        };
        let any = Ipv4Addr::UNSPECIFIED;
        assert_eq!(
            got,
            vec![
                b(Proto::Udp, 53, Ipv4Addr::LOCALHOST, 5300, 5310),
                b(Proto::Tcp, 80, any, 8080, 8080),
                b(Proto::Tcp, 90, any, 0, 0),
                b(Proto::Tcp, 91, any, 0, 0),
            ]
        );
        assert_eq!(parse_bindings(&json!(null)).unwrap(), vec![]);
        assert_eq!(parse_bindings(&json!({})).unwrap(), vec![]);
    }

    #[test]
    fn bad_fields_are_named_as_docker_names_them() {
        assert_eq!(
            err(json!({"x/tcp": [{}]})),
            "invalid port specification: \"x\""
        );
        assert_eq!(
            err(json!({"0/tcp": [{}]})),
            "invalid port specification: \"0\""
        );
        assert_eq!(
            err(json!({"70000": [{}]})),
            "invalid port specification: \"70000\""
        );
        assert_eq!(err(json!({"80/sctp": [{}]})), "invalid proto: sctp");
        assert_eq!(
            err(json!({"80/tcp": [{"HostPort": "http"}]})),
            "invalid hostPort: http"
        );
        assert_eq!(
            err(json!({"80/tcp": [{"HostPort": "90-80"}]})),
            "invalid hostPort: 90-80"
        );
        assert_eq!(
            err(json!({"80/tcp": [{"HostIp": "1.2.3"}]})),
            "invalid host IP: 1.2.3"
        );
        assert_eq!(
            err(json!({"80/tcp": [{"HostPort": 8080}]})),
            "invalid HostPort: 8080"
        );
        assert_eq!(
            err(json!({"80/tcp": "8080"})),
            "invalid port bindings for 80/tcp: expected a list"
        );
        assert_eq!(err(json!([1])), "invalid port bindings: expected an object");
    }
}
