//! The embedded DNS server: what Docker's libnetwork resolver does for containers on
//! user-defined networks, reachable inside each container at 127.0.0.11:53.
//!
//! Why it exists: on a user-defined network containers find each other by name
//! (container name, aliases, service names), and those names change as containers
//! come and go, so they cannot be written into a static `/etc/hosts`. Each container
//! gets its own [`Server`] because what a name means depends on who asks: the
//! answers come from a [`Resolve`] that knows the networks of the querying container.
//!
//! What it answers, as Docker's resolver does:
//! - `A` for a berth name: the addresses, TTL 600, recursion-available set;
//! - `AAAA` or any other type for a berth name: NOERROR with no answers, so that
//!   resolvers do not go on to ask the host's DNS about an internal name;
//! - `PTR` for `d.c.b.a.in-addr.arpa` of a container's address: its name;
//! - anything else is forwarded verbatim to the host's resolvers ([`nameservers`]), in
//!   order, over the transport the client used (UDP with a 2 s timeout each, TCP over
//!   TCP), and the first reply that is neither SERVFAIL nor REFUSED is relayed with the
//!   client's id. No upstream, or none answering, gives SERVFAIL.
//!
//! Ordering and namespaces: the caller binds the listening sockets inside the
//! container's network namespace (a socket keeps the namespace it was created in) and
//! hands them over; [`Server::start`] only registers them with the caller's tokio
//! runtime. The forwarding sockets are created later, on the runtime's worker threads,
//! so they live in the host's namespace and reach the host's resolvers, including a
//! loopback one such as systemd-resolved's 127.0.0.53. This is why the runtime's
//! threads must stay in the host namespace.
//!
//! Cost: hundreds of servers run in one daemon, so a server is two tasks (a UDP loop
//! and a TCP accept loop) and no thread. Local answers are made inline; each forwarded
//! query and each TCP connection gets a task of its own, so a slow upstream delays only
//! its own query. Those tasks live in a `JoinSet` owned by their loop, so dropping the
//! [`Server`] (which aborts the loops) aborts them too. In-flight work is capped, and
//! malformed packets are dropped (UDP) or end the connection (TCP): the clients are
//! untrusted container processes.
//!
//! References: RFC 1035 (messages, TCP length prefix), RFC 6891 (EDNS payload size),
//! moby `libnetwork/resolver.go`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::timeout;

use crate::error::{Error, Result};

/// TTL of berth's own answers (Docker's).
const TTL: u32 = 600;
/// How long one upstream gets to answer a forwarded query.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a client's TCP connection may sit idle between queries.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Forwarded UDP queries in flight per server; more are dropped (the client retries).
const MAX_INFLIGHT: usize = 1024;
/// Client TCP connections per server; more are closed at once.
const MAX_TCP_CONNS: usize = 64;
/// The largest UDP reply berth sends when the client advertises EDNS.
const MAX_EDNS_PAYLOAD: u16 = 4096;
/// The UDP reply limit without EDNS (RFC 1035).
const CLASSIC_UDP_PAYLOAD: usize = 512;
/// Pause after a failing `recv`/`accept` (EMFILE and the like), so the loop cannot spin.
const ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// Who the querying container can see by name.
pub trait Resolve: Send + Sync + 'static {
    /// The IPv4 addresses of `name` (lowercased, no trailing dot) as seen by this
    /// server's container; None when the name is not berth's (then the query is
    /// forwarded upstream). `Some(vec![])` is possible (known name, no address).
    fn lookup(&self, name: &str) -> Option<Vec<Ipv4Addr>>;
    /// The name for a PTR query of `ip`, if it is a container's.
    fn reverse(&self, ip: Ipv4Addr) -> Option<String>;
}

/// One container's DNS server: UDP and TCP on sockets the caller bound (inside the
/// container's netns, at 127.0.0.11:53) and handed over as std sockets.
///
/// Dropping it stops it: both loops and every query and connection task are aborted.
pub struct Server {
    udp: JoinHandle<()>,
    tcp: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.udp.abort();
        self.tcp.abort();
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

/// What every task of one server shares.
struct Shared {
    resolver: Arc<dyn Resolve>,
    upstream: Vec<SocketAddr>,
}

impl Server {
    /// Serves on the caller's tokio runtime (must be called inside one). `upstream`:
    /// the host's resolvers for forwarded queries; the forwarding sockets are opened in
    /// the netns of the runtime's threads (the host's), not the container's.
    pub fn start(
        udp: std::net::UdpSocket,
        tcp: std::net::TcpListener,
        resolver: Arc<dyn Resolve>,
        upstream: Vec<SocketAddr>,
    ) -> Result<Server> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let _enter = handle.enter();
        udp.set_nonblocking(true)
            .map_err(|e| Error::io("dns: set the udp socket non-blocking", e))?;
        tcp.set_nonblocking(true)
            .map_err(|e| Error::io("dns: set the tcp listener non-blocking", e))?;
        let udp =
            UdpSocket::from_std(udp).map_err(|e| Error::io("dns: register the udp socket", e))?;
        let tcp = TcpListener::from_std(tcp)
            .map_err(|e| Error::io("dns: register the tcp listener", e))?;
        let shared = Arc::new(Shared { resolver, upstream });
        Ok(Server {
            udp: handle.spawn(serve_udp(Arc::new(udp), shared.clone())),
            tcp: handle.spawn(serve_tcp(tcp, shared)),
        })
    }
}

/// The nameservers of a resolv.conf text as socket addresses (port 53), in order,
/// without duplicates. IPv6 addresses with a numeric zone (`fe80::1%2`) keep it; an
/// interface-name zone cannot be turned into an index here and the line is skipped.
pub fn nameservers(resolv_conf: &str) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for line in resolv_conf.lines() {
        let line = line.split(['#', ';']).next().unwrap_or_default();
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(addr) = words.next().and_then(parse_nameserver) else {
            continue;
        };
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    out
}

fn parse_nameserver(word: &str) -> Option<SocketAddr> {
    if let Ok(ip) = word.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 53));
    }
    let (ip, zone) = word.split_once('%')?;
    let ip: Ipv6Addr = ip.parse().ok()?;
    let scope: u32 = zone.parse().ok()?;
    Some(SocketAddr::V6(SocketAddrV6::new(ip, 53, 0, scope)))
}

/// The transport a query came in on, which bounds the size of the reply.
#[derive(Clone, Copy)]
enum Transport {
    Udp,
    Tcp,
}

/// What to do with one incoming packet.
enum Outcome {
    /// Malformed, or not a query: say nothing.
    Drop,
    /// Answered here.
    Reply(Vec<u8>),
    /// Not berth's: relay the packet upstream.
    Forward(Message),
}

async fn serve_udp(sock: Arc<UdpSocket>, shared: Arc<Shared>) {
    let mut inflight = JoinSet::new();
    // Queries are small; anything longer than this is truncated and then fails to parse.
    let mut buf = vec![0u8; usize::from(MAX_EDNS_PAYLOAD)];
    loop {
        tokio::select! {
            r = sock.recv_from(&mut buf) => {
                let (n, peer) = match r {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::debug!(error = %e, "dns: udp receive failed");
                        tokio::time::sleep(ERROR_BACKOFF).await;
                        continue;
                    }
                };
                let packet = &buf[..n];
                match decide(&shared, packet, Transport::Udp) {
                    Outcome::Drop => {}
                    Outcome::Reply(reply) => send_udp(&sock, &reply, peer).await,
                    Outcome::Forward(query) if shared.upstream.is_empty() => {
                        if let Some(reply) = servfail(&query) {
                            send_udp(&sock, &reply, peer).await;
                        }
                    }
                    Outcome::Forward(_) if inflight.len() >= MAX_INFLIGHT => {
                        tracing::debug!(%peer, "dns: too many forwarded queries in flight, dropping one");
                    }
                    Outcome::Forward(query) => {
                        let packet = packet.to_vec();
                        let (sock, shared) = (sock.clone(), shared.clone());
                        inflight.spawn(async move {
                            let reply = forward(&shared.upstream, &packet, &query, Transport::Udp).await;
                            if let Some(reply) = reply.or_else(|| servfail(&query)) {
                                send_udp(&sock, &reply, peer).await;
                            }
                        });
                    }
                }
            }
            Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
        }
    }
}

async fn send_udp(sock: &UdpSocket, reply: &[u8], peer: SocketAddr) {
    if let Err(e) = sock.send_to(reply, peer).await {
        tracing::debug!(%peer, error = %e, "dns: udp reply failed");
    }
}

async fn serve_tcp(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) if conns.len() >= MAX_TCP_CONNS => drop(stream),
                Ok((stream, _)) => {
                    conns.spawn(serve_conn(stream, shared.clone()));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "dns: tcp accept failed");
                    tokio::time::sleep(ERROR_BACKOFF).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Serves one client TCP connection, one length-prefixed query after another, until
/// the client closes it, idles, or sends something malformed.
async fn serve_conn(mut stream: TcpStream, shared: Arc<Shared>) {
    loop {
        let Some(packet) = read_framed(&mut stream, TCP_IDLE).await else {
            return;
        };
        let reply = match decide(&shared, &packet, Transport::Tcp) {
            Outcome::Drop => return,
            Outcome::Reply(reply) => Some(reply),
            Outcome::Forward(query) => forward(&shared.upstream, &packet, &query, Transport::Tcp)
                .await
                .or_else(|| servfail(&query)),
        };
        let Some(reply) = reply else { return };
        if write_framed(&mut stream, &reply).await.is_err() {
            return;
        }
    }
}

/// One RFC 1035 §4.2.2 message: a two-byte length, then the message.
async fn read_framed(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let read = async {
        let len = stream.read_u16().await.ok()?;
        if len == 0 {
            return None;
        }
        let mut packet = vec![0u8; usize::from(len)];
        stream.read_exact(&mut packet).await.ok()?;
        Some(packet)
    };
    timeout(within, read).await.ok().flatten()
}

async fn write_framed(stream: &mut TcpStream, message: &[u8]) -> std::io::Result<()> {
    let len =
        u16::try_from(message.len()).map_err(|_| std::io::Error::other("dns message too long"))?;
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(message);
    stream.write_all(&framed).await
}

/// Parses a packet and answers it from the resolver, or says it must be forwarded.
fn decide(shared: &Shared, packet: &[u8], transport: Transport) -> Outcome {
    let Ok(query) = Message::from_vec(packet) else {
        tracing::debug!("dns: dropping a malformed packet");
        return Outcome::Drop;
    };
    if query.message_type() != MessageType::Query {
        return Outcome::Drop;
    }
    if query.op_code() != OpCode::Query {
        let mut reply = reply_to(&query);
        reply.set_response_code(ResponseCode::NotImp);
        return encode(reply, &query, transport).map_or(Outcome::Drop, Outcome::Reply);
    }
    let Some(question) = query.query() else {
        return Outcome::Drop;
    };
    let ascii = question.name().to_ascii().to_ascii_lowercase();
    let name = ascii.strip_suffix('.').unwrap_or(&ascii);
    let answers = match question.query_type() {
        RecordType::PTR => {
            let Some(target) = arpa_to_ipv4(name)
                .and_then(|ip| shared.resolver.reverse(ip))
                .and_then(|target| fqdn(&target))
            else {
                return Outcome::Forward(query);
            };
            vec![Record::from_rdata(
                question.name().clone(),
                TTL,
                RData::PTR(PTR(target)),
            )]
        }
        qtype => {
            let Some(addrs) = shared.resolver.lookup(name) else {
                return Outcome::Forward(query);
            };
            if qtype == RecordType::A {
                addrs
                    .into_iter()
                    .map(|ip| Record::from_rdata(question.name().clone(), TTL, RData::A(A(ip))))
                    .collect()
            } else {
                Vec::new()
            }
        }
    };
    let mut reply = reply_to(&query);
    reply.add_answers(answers);
    encode(reply, &query, transport).map_or(Outcome::Drop, Outcome::Reply)
}

/// The skeleton of a reply: the client's id, question, RD and CD, with RA set and an
/// OPT record when the client sent one.
fn reply_to(query: &Message) -> Message {
    let mut reply = Message::new();
    reply
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(query.op_code())
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .set_checking_disabled(query.checking_disabled());
    if let Some(question) = query.query() {
        reply.add_query(question.clone());
    }
    if query.extensions().is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(MAX_EDNS_PAYLOAD);
        reply.set_edns(edns);
    }
    reply
}

/// Serialises a reply, dropping answers and setting TC when it would not fit the
/// client's UDP payload size.
fn encode(mut reply: Message, query: &Message, transport: Transport) -> Option<Vec<u8>> {
    let limit = match (transport, query.extensions()) {
        (Transport::Tcp, _) => usize::from(u16::MAX),
        (Transport::Udp, None) => CLASSIC_UDP_PAYLOAD,
        (Transport::Udp, Some(edns)) => {
            usize::from(edns.max_payload().min(MAX_EDNS_PAYLOAD)).max(CLASSIC_UDP_PAYLOAD)
        }
    };
    loop {
        let bytes = reply
            .to_vec()
            .map_err(|e| tracing::debug!(error = %e, "dns: cannot encode a reply"))
            .ok()?;
        if bytes.len() <= limit {
            return Some(bytes);
        }
        reply.answers_mut().pop()?;
        reply.set_truncated(true);
    }
}

fn servfail(query: &Message) -> Option<Vec<u8>> {
    let mut reply = reply_to(query);
    reply.set_response_code(ResponseCode::ServFail);
    encode(reply, query, Transport::Tcp)
}

/// `d.c.b.a.in-addr.arpa` → `a.b.c.d`.
fn arpa_to_ipv4(name: &str) -> Option<Ipv4Addr> {
    let reversed = name.strip_suffix(".in-addr.arpa")?;
    let mut octets = [0u8; 4];
    let mut labels = reversed.split('.');
    for slot in octets.iter_mut().rev() {
        *slot = labels.next()?.parse().ok()?;
    }
    labels.next().is_none().then(|| Ipv4Addr::from(octets))
}

fn fqdn(name: &str) -> Option<Name> {
    let name = name.trim_end_matches('.');
    Name::from_ascii(format!("{name}.")).ok()
}

/// Sends the client's packet (`query`, parsed) to each upstream in turn and returns the
/// first usable reply, carrying the client's id.
async fn forward(
    upstream: &[SocketAddr],
    packet: &[u8],
    query: &Message,
    transport: Transport,
) -> Option<Vec<u8>> {
    let id = query.id().to_be_bytes();
    // The upstream answers within the payload size the client advertised.
    let max_reply = usize::from(query.max_payload()).max(CLASSIC_UDP_PAYLOAD);
    for &server in upstream {
        let exchange = async {
            match transport {
                Transport::Udp => exchange_udp(server, packet, id, max_reply).await,
                Transport::Tcp => exchange_tcp(server, packet, id).await,
            }
        };
        match timeout(UPSTREAM_TIMEOUT, exchange).await {
            Ok(Ok(reply)) => {
                // SERVFAIL (2) and REFUSED (5): another upstream may do better.
                let rcode = reply[3] & 0x0f;
                if rcode == 2 || rcode == 5 {
                    tracing::debug!(%server, rcode, "dns: upstream refused, trying the next");
                    continue;
                }
                return Some(reply);
            }
            Ok(Err(e)) => tracing::debug!(%server, error = %e, "dns: upstream failed"),
            Err(_) => tracing::debug!(%server, "dns: upstream timed out"),
        }
    }
    None
}

/// Whether `reply` looks like the answer to a query with this id: a full header, the
/// id, and QR set.
fn is_reply_to(reply: &[u8], id: [u8; 2]) -> bool {
    reply.len() >= 12 && reply[..2] == id && reply[2] & 0x80 != 0
}

async fn exchange_udp(
    server: SocketAddr,
    packet: &[u8],
    id: [u8; 2],
    max_reply: usize,
) -> std::io::Result<Vec<u8>> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(local).await?;
    // Connected: the kernel drops datagrams from anyone but `server`.
    sock.connect(server).await?;
    sock.send(packet).await?;
    let mut buf = vec![0u8; max_reply];
    loop {
        let n = sock.recv(&mut buf).await?;
        if is_reply_to(&buf[..n], id) {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn exchange_tcp(server: SocketAddr, packet: &[u8], id: [u8; 2]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(server).await?;
    write_framed(&mut stream, packet).await?;
    let reply = read_framed(&mut stream, UPSTREAM_TIMEOUT)
        .await
        .ok_or_else(|| std::io::Error::other("no reply"))?;
    if !is_reply_to(&reply, id) {
        return Err(std::io::Error::other("reply does not match the query"));
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameservers_reads_ipv4_and_ipv6_lines_and_skips_comments_and_options() {
        let conf = "\
# Generated by NetworkManager
; another comment
search example.com corp.example
nameserver 10.0.0.2
nameserver   1.1.1.1   # trailing comment
#nameserver 9.9.9.9
options edns0 trust-ad ndots:2
nameserver 2001:4860:4860::8888
nameserver fe80::1%3
nameserver fe80::2%eth0
nameserver not-an-address
nameserver
nameserver 10.0.0.2
domain example.com
";
        let got = nameservers(conf);
        assert_eq!(
            got,
            vec![
                "10.0.0.2:53".parse().unwrap(),
                "1.1.1.1:53".parse().unwrap(),
                "[2001:4860:4860::8888]:53".parse().unwrap(),
                SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 53, 0, 3)),
            ]
        );
    }

    #[test]
    fn nameservers_of_an_empty_file_is_empty() {
        assert!(nameservers("").is_empty());
        assert!(nameservers("options ndots:0\n").is_empty());
    }

    #[test]
    fn arpa_names_map_back_to_ipv4() {
        assert_eq!(
            arpa_to_ipv4("4.3.2.1.in-addr.arpa"),
            Some(Ipv4Addr::new(1, 2, 3, 4))
        );
        assert_eq!(arpa_to_ipv4("3.2.1.in-addr.arpa"), None);
        assert_eq!(arpa_to_ipv4("5.4.3.2.1.in-addr.arpa"), None);
        assert_eq!(arpa_to_ipv4("256.3.2.1.in-addr.arpa"), None);
        assert_eq!(arpa_to_ipv4("4.3.2.1.ip6.arpa"), None);
    }

    struct Many;
    impl Resolve for Many {
        fn lookup(&self, _: &str) -> Option<Vec<Ipv4Addr>> {
            Some((0..200u8).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect())
        }
        fn reverse(&self, _: Ipv4Addr) -> Option<String> {
            None
        }
    }

    #[test]
    fn a_udp_reply_too_big_for_512_bytes_is_truncated_with_tc_and_full_over_tcp() {
        let shared = Shared {
            resolver: Arc::new(Many),
            upstream: vec![],
        };
        let mut query = Message::new();
        query.set_id(7).add_query(hickory_proto::op::Query::query(
            Name::from_ascii("big").unwrap(),
            RecordType::A,
        ));
        let packet = query.to_vec().unwrap();

        let Outcome::Reply(udp) = decide(&shared, &packet, Transport::Udp) else {
            panic!("not answered");
        };
        assert!(udp.len() <= CLASSIC_UDP_PAYLOAD);
        let udp = Message::from_vec(&udp).unwrap();
        assert!(udp.truncated());
        assert!(udp.answers().len() < 200);

        let Outcome::Reply(tcp) = decide(&shared, &packet, Transport::Tcp) else {
            panic!("not answered");
        };
        let tcp = Message::from_vec(&tcp).unwrap();
        assert!(!tcp.truncated());
        assert_eq!(tcp.answers().len(), 200);
    }

    #[test]
    fn start_outside_a_runtime_is_an_error() {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        struct Nobody;
        impl Resolve for Nobody {
            fn lookup(&self, _: &str) -> Option<Vec<Ipv4Addr>> {
                None
            }
            fn reverse(&self, _: Ipv4Addr) -> Option<String> {
                None
            }
        }
        let err = Server::start(udp, tcp, Arc::new(Nobody), vec![]).unwrap_err();
        assert!(matches!(err, Error::NoRuntime));
    }
}
