//! The embedded DNS server against real sockets on loopback: a server bound on
//! 127.0.0.1 (port 0, not 53, so no root is needed) and fake upstreams on 127.0.0.1.
//! Nothing here sends a packet anywhere but loopback.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_network::dns::{Resolve, Server};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

const UPSTREAM_ADDR: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);

/// Names as one container sees them.
struct Names {
    forward: HashMap<&'static str, Vec<Ipv4Addr>>,
    reverse: HashMap<Ipv4Addr, &'static str>,
}

impl Resolve for Names {
    fn lookup(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
        self.forward.get(name).cloned()
    }
    fn reverse(&self, ip: Ipv4Addr) -> Option<String> {
        self.reverse.get(&ip).map(|n| n.to_string())
    }
}

fn names() -> Arc<Names> {
    let web = Ipv4Addr::new(172, 18, 0, 2);
    let db1 = Ipv4Addr::new(172, 18, 0, 3);
    let db2 = Ipv4Addr::new(172, 18, 0, 4);
    Arc::new(Names {
        forward: HashMap::from([
            ("web", vec![web]),
            ("web.mynet", vec![web]),
            ("db", vec![db1, db2]),
            ("stopped", vec![]),
        ]),
        reverse: HashMap::from([(web, "web.mynet")]),
    })
}

struct Running {
    udp: SocketAddr,
    tcp: SocketAddr,
    _server: Server,
}

fn start(upstream: Vec<SocketAddr>) -> Running {
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (udp_addr, tcp_addr) = (udp.local_addr().unwrap(), tcp.local_addr().unwrap());
    let server = Server::start(udp, tcp, names(), upstream).unwrap();
    Running {
        udp: udp_addr,
        tcp: tcp_addr,
        _server: server,
    }
}

fn query(id: u16, name: &str, qtype: RecordType) -> Message {
    let mut m = Message::new();
    m.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    m
}

async fn ask_udp(server: SocketAddr, q: &Message) -> Message {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&q.to_vec().unwrap(), server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    let (n, _) = tokio::time::timeout(Duration::from_secs(10), sock.recv_from(&mut buf))
        .await
        .expect("no reply over udp")
        .unwrap();
    let reply = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(reply.id(), q.id(), "reply carries the client's id");
    assert_eq!(reply.message_type(), MessageType::Response);
    reply
}

async fn ask_tcp_on(stream: &mut TcpStream, q: &Message) -> Message {
    let bytes = q.to_vec().unwrap();
    stream.write_u16(bytes.len() as u16).await.unwrap();
    stream.write_all(&bytes).await.unwrap();
    let read = async {
        let len = stream.read_u16().await.unwrap();
        let mut buf = vec![0u8; len as usize];
        stream.read_exact(&mut buf).await.unwrap();
        buf
    };
    let buf = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("no reply over tcp");
    let reply = Message::from_vec(&buf).unwrap();
    assert_eq!(reply.id(), q.id(), "reply carries the client's id");
    reply
}

async fn ask_tcp(server: SocketAddr, q: &Message) -> Message {
    let mut stream = TcpStream::connect(server).await.unwrap();
    ask_tcp_on(&mut stream, q).await
}

fn a_records(reply: &Message) -> Vec<Ipv4Addr> {
    reply
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

/// The fake upstream's answer to `q`: A 203.0.113.7 with TTL 42, so a relayed answer
/// is told apart from berth's own.
fn upstream_answer(q: &Message) -> Vec<u8> {
    let mut r = Message::new();
    r.set_id(q.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_recursion_available(true);
    if let Some(question) = q.query() {
        r.add_query(question.clone());
        r.add_answer(Record::from_rdata(
            question.name().clone(),
            42,
            RData::A(A(UPSTREAM_ADDR)),
        ));
    }
    r.to_vec().unwrap()
}

/// A fake upstream on loopback answering every query over UDP and TCP; counts queries.
struct Upstream {
    addr: SocketAddr,
    udp_queries: Arc<AtomicUsize>,
    tcp_queries: Arc<AtomicUsize>,
}

async fn fake_upstream() -> Upstream {
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    // The same port for TCP, as a real resolver has.
    let tcp = TcpListener::bind(addr).await.unwrap();
    let (udp_queries, tcp_queries) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let count = udp_queries.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65535];
        loop {
            let (n, peer) = udp.recv_from(&mut buf).await.unwrap();
            let q = Message::from_vec(&buf[..n]).unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            udp.send_to(&upstream_answer(&q), peer).await.unwrap();
        }
    });
    let count = tcp_queries.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = tcp.accept().await.unwrap();
            let count = count.clone();
            tokio::spawn(async move {
                while let Ok(len) = s.read_u16().await {
                    let mut buf = vec![0u8; len as usize];
                    s.read_exact(&mut buf).await.unwrap();
                    let q = Message::from_vec(&buf).unwrap();
                    count.fetch_add(1, Ordering::SeqCst);
                    let r = upstream_answer(&q);
                    s.write_u16(r.len() as u16).await.unwrap();
                    s.write_all(&r).await.unwrap();
                }
            });
        }
    });
    Upstream {
        addr,
        udp_queries,
        tcp_queries,
    }
}

/// A UDP socket on loopback that receives and never answers, and a closed TCP port.
async fn silent_upstream() -> (UdpSocket, SocketAddr) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    (sock, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_for_a_berth_name_is_answered_with_ttl_600_and_ra() {
    let s = start(vec![]);
    let reply = ask_udp(s.udp, &query(1, "web", RecordType::A)).await;
    assert_eq!(reply.response_code(), ResponseCode::NoError);
    assert!(reply.recursion_available());
    assert_eq!(a_records(&reply), vec![Ipv4Addr::new(172, 18, 0, 2)]);
    assert!(reply.answers().iter().all(|r| r.ttl() == 600));
    assert_eq!(reply.queries().len(), 1, "the question is echoed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_match_case_insensitively_and_with_a_trailing_dot() {
    let s = start(vec![]);
    for name in ["WEB", "Web.MyNet", "web.", "web.mynet.", "DB."] {
        let reply = ask_udp(s.udp, &query(7, name, RecordType::A)).await;
        assert_eq!(reply.response_code(), ResponseCode::NoError, "{name}");
        assert!(!a_records(&reply).is_empty(), "{name} has an address");
        // The answer carries the name as asked (clients may check its case).
        assert_eq!(
            reply.answers()[0].name().to_ascii().trim_end_matches('.'),
            name.trim_end_matches('.')
        );
    }
    let reply = ask_udp(s.udp, &query(8, "db", RecordType::A)).await;
    assert_eq!(
        a_records(&reply),
        vec![Ipv4Addr::new(172, 18, 0, 3), Ipv4Addr::new(172, 18, 0, 4)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aaaa_and_other_types_for_a_berth_name_are_noerror_and_empty() {
    let up = fake_upstream().await;
    let s = start(vec![up.addr]);
    for qtype in [RecordType::AAAA, RecordType::MX, RecordType::TXT] {
        let reply = ask_udp(s.udp, &query(2, "web", qtype)).await;
        assert_eq!(reply.response_code(), ResponseCode::NoError, "{qtype}");
        assert!(reply.answers().is_empty(), "{qtype}");
    }
    let reply = ask_udp(s.udp, &query(3, "stopped", RecordType::A)).await;
    assert_eq!(reply.response_code(), ResponseCode::NoError);
    assert!(
        reply.answers().is_empty(),
        "a known name without an address"
    );
    assert_eq!(
        up.udp_queries.load(Ordering::SeqCst),
        0,
        "berth's names never go upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ptr_of_a_container_address_gives_its_name() {
    let s = start(vec![]);
    let reply = ask_udp(s.udp, &query(4, "2.0.18.172.in-addr.arpa", RecordType::PTR)).await;
    assert_eq!(reply.response_code(), ResponseCode::NoError);
    let RData::PTR(ptr) = reply.answers()[0].data() else {
        panic!("not a PTR: {reply:?}");
    };
    assert_eq!(ptr.0.to_ascii(), "web.mynet.");
    assert_eq!(reply.answers()[0].ttl(), 600);

    // Not a container's address, and no upstream: SERVFAIL.
    let reply = ask_udp(s.udp, &query(5, "9.9.9.9.in-addr.arpa", RecordType::PTR)).await;
    assert_eq!(reply.response_code(), ResponseCode::ServFail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_name_is_forwarded_over_udp_and_the_reply_relayed() {
    let up = fake_upstream().await;
    let s = start(vec![up.addr]);
    let reply = ask_udp(s.udp, &query(0xbeef, "example.org", RecordType::A)).await;
    assert_eq!(reply.response_code(), ResponseCode::NoError);
    assert_eq!(a_records(&reply), vec![UPSTREAM_ADDR]);
    assert_eq!(
        reply.answers()[0].ttl(),
        42,
        "the upstream's answer, not ours"
    );
    assert_eq!(up.udp_queries.load(Ordering::SeqCst), 1);
    assert_eq!(up.tcp_queries.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_name_over_tcp_is_forwarded_over_tcp() {
    let up = fake_upstream().await;
    let s = start(vec![up.addr]);
    let mut stream = TcpStream::connect(s.tcp).await.unwrap();
    // Two queries on one connection, a forwarded one and a local one.
    let reply = ask_tcp_on(&mut stream, &query(0x1234, "example.org", RecordType::A)).await;
    assert_eq!(a_records(&reply), vec![UPSTREAM_ADDR]);
    let reply = ask_tcp_on(&mut stream, &query(0x1235, "WEB", RecordType::A)).await;
    assert_eq!(a_records(&reply), vec![Ipv4Addr::new(172, 18, 0, 2)]);
    assert_eq!(up.tcp_queries.load(Ordering::SeqCst), 1);
    assert_eq!(up.udp_queries.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_upstream_an_unknown_name_is_servfail() {
    let s = start(vec![]);
    let reply = ask_udp(s.udp, &query(9, "example.org", RecordType::A)).await;
    assert_eq!(reply.response_code(), ResponseCode::ServFail);
    let reply = ask_tcp(s.tcp, &query(10, "example.org", RecordType::A)).await;
    assert_eq!(reply.response_code(), ResponseCode::ServFail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_upstream_is_skipped_for_the_next_and_does_not_block_other_queries() {
    let (_silent, silent) = silent_upstream().await;
    let up = fake_upstream().await;
    let s = start(vec![silent, up.addr]);

    let started = Instant::now();
    let slow = tokio::spawn({
        let addr = s.udp;
        async move { ask_udp(addr, &query(11, "example.org", RecordType::A)).await }
    });
    // While the first upstream keeps the forwarded query waiting, local names answer at once.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fast = ask_udp(s.udp, &query(12, "web", RecordType::A)).await;
    assert_eq!(a_records(&fast), vec![Ipv4Addr::new(172, 18, 0, 2)]);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a local answer waited for the upstream"
    );

    let reply = slow.await.unwrap();
    assert_eq!(a_records(&reply), vec![UPSTREAM_ADDR]);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the first upstream had its 2 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_upstreams_failing_is_servfail() {
    let (_silent, silent) = silent_upstream().await;
    let s = start(vec![silent]);
    let reply = ask_udp(s.udp, &query(13, "example.org", RecordType::A)).await;
    assert_eq!(reply.response_code(), ResponseCode::ServFail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_packets_are_ignored_and_the_server_still_answers() {
    let s = start(vec![]);
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let garbage: [&[u8]; 5] = [
        b"",
        b"\x00",
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xff",
        &[0xff; 300],
        // A response (QR set) is not a query: never answered, so no loops.
        &upstream_answer(&query(14, "web", RecordType::A)),
    ];
    for g in garbage {
        sock.send_to(g, s.udp).await.unwrap();
    }
    let mut buf = [0u8; 512];
    let nothing = tokio::time::timeout(Duration::from_millis(300), sock.recv_from(&mut buf)).await;
    assert!(nothing.is_err(), "garbage got a reply");

    // Over TCP, garbage ends the connection.
    let mut stream = TcpStream::connect(s.tcp).await.unwrap();
    stream.write_all(b"\x00\x05hello").await.unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "connection not closed: {read:?}"
    );

    let reply = ask_udp(s.udp, &query(15, "web", RecordType::A)).await;
    assert_eq!(a_records(&reply), vec![Ipv4Addr::new(172, 18, 0, 2)]);
    let reply = ask_tcp(s.tcp, &query(16, "web", RecordType::A)).await;
    assert_eq!(a_records(&reply), vec![Ipv4Addr::new(172, 18, 0, 2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_queries_are_all_answered() {
    let up = fake_upstream().await;
    let s = start(vec![up.addr]);
    let mut tasks = Vec::new();
    for i in 0..50u16 {
        let addr = s.udp;
        tasks.push(tokio::spawn(async move {
            let (name, expect) = if i % 2 == 0 {
                ("web".to_string(), Ipv4Addr::new(172, 18, 0, 2))
            } else {
                (format!("host{i}.example.org"), UPSTREAM_ADDR)
            };
            let reply = ask_udp(addr, &query(1000 + i, &name, RecordType::A)).await;
            assert_eq!(a_records(&reply), vec![expect], "{name}");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(up.udp_queries.load(Ordering::SeqCst), 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_server_stops_it() {
    let s = start(vec![]);
    let (udp, tcp) = (s.udp, s.tcp);
    drop(s);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        TcpStream::connect(tcp).await.is_err(),
        "the listener is closed"
    );
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&query(17, "web", RecordType::A).to_vec().unwrap(), udp)
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let nothing = tokio::time::timeout(Duration::from_millis(300), sock.recv_from(&mut buf)).await;
    assert!(!matches!(nothing, Ok(Ok(_))), "a stopped server answered");
}
