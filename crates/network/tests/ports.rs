//! Host-port reservations and the userland proxy, on loopback (no root needed).

use std::net::{Ipv4Addr, TcpListener, UdpSocket};

use berth_network::ports::{proxy_tcp, reserve};
use berth_network::{Error, Proto};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;

#[test]
fn a_busy_port_is_port_in_use_with_dockers_message() {
    let taken = TcpListener::bind((LO, 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    match reserve(Proto::Tcp, LO, port, port) {
        Err(Error::PortInUse(m)) => assert_eq!(
            m,
            format!("failed to bind host port for 127.0.0.1:{port}/tcp: address already in use")
        ),
        other => panic!("expected PortInUse, got {other:?}"),
    }
    // A port held by a listener on every address is busy on loopback too.
    let any = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    let port = any.local_addr().unwrap().port();
    assert!(matches!(
        reserve(Proto::Tcp, LO, port, port),
        Err(Error::PortInUse(_))
    ));
}

#[test]
fn a_reservation_holds_its_port_against_everyone() {
    let r = reserve(Proto::Tcp, Ipv4Addr::UNSPECIFIED, 0, 0).unwrap();
    let port = r.port();
    assert_ne!(port, 0);
    assert_eq!(
        (r.proto(), r.host_ip()),
        (Proto::Tcp, Ipv4Addr::UNSPECIFIED)
    );
    assert!(TcpListener::bind((LO, port)).is_err());
    match reserve(Proto::Tcp, Ipv4Addr::UNSPECIFIED, port, port) {
        Err(Error::PortInUse(m)) => assert_eq!(
            m,
            format!("failed to bind host port for 0.0.0.0:{port}/tcp: address already in use")
        ),
        other => panic!("a second reservation of the same port: {other:?}"),
    }
    drop(r);
    // Dropped: the port is free again.
    let again = reserve(Proto::Tcp, Ipv4Addr::UNSPECIFIED, port, port).unwrap();
    assert_eq!(again.port(), port);
}

#[test]
fn udp_ports_are_reserved_too() {
    let r = reserve(Proto::Udp, LO, 0, 0).unwrap();
    assert_ne!(r.port(), 0);
    assert!(UdpSocket::bind((LO, r.port())).is_err());
    assert!(matches!(
        reserve(Proto::Udp, LO, r.port(), r.port()),
        Err(Error::PortInUse(_))
    ));
}

#[test]
fn a_range_takes_the_first_free_port_and_fails_when_full() {
    // Find three consecutive free ports, then take the first.
    let (lo, first) = (0..50)
        .find_map(|_| {
            let a = reserve(Proto::Tcp, LO, 0, 0).ok()?;
            let p = a.port();
            if p > 65533 {
                return None;
            }
            let b = reserve(Proto::Tcp, LO, p + 1, p + 1).ok()?;
            let c = reserve(Proto::Tcp, LO, p + 2, p + 2).ok()?;
            drop((b, c));
            Some((p, a))
        })
        .expect("three consecutive free ports");
    let second = reserve(Proto::Tcp, LO, lo, lo + 2).unwrap();
    assert_eq!(second.port(), lo + 1);
    let third = reserve(Proto::Tcp, LO, lo, lo + 2).unwrap();
    assert_eq!(third.port(), lo + 2);
    match reserve(Proto::Tcp, LO, lo, lo + 2) {
        Err(Error::PortInUse(m)) => assert_eq!(
            m,
            format!(
                "failed to bind host port for 127.0.0.1:{lo}-{}/tcp: address already in use",
                lo + 2
            )
        ),
        other => panic!("a full range: {other:?}"),
    }
    drop(first);
    assert_eq!(reserve(Proto::Tcp, LO, lo, lo + 2).unwrap().port(), lo);
    assert!(matches!(
        reserve(Proto::Tcp, LO, lo + 2, lo),
        Err(Error::BadPort(_))
    ));
}

#[tokio::test]
async fn the_proxy_relays_bytes_both_ways() {
    let backend = tokio::net::TcpListener::bind((LO, 0)).await.unwrap();
    let target = backend.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = backend.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                let n = s.read(&mut buf).await.unwrap();
                let mut reply = b"echo: ".to_vec();
                reply.extend_from_slice(&buf[..n]);
                s.write_all(&reply).await.unwrap();
            });
        }
    });
    let front = tokio::net::TcpListener::bind((LO, 0)).await.unwrap();
    let front_addr = front.local_addr().unwrap();
    let proxy = tokio::spawn(proxy_tcp(front, target));

    for msg in ["one", "two"] {
        let mut c = tokio::net::TcpStream::connect(front_addr).await.unwrap();
        c.write_all(msg.as_bytes()).await.unwrap();
        let mut got = String::new();
        c.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, format!("echo: {msg}"));
    }

    proxy.abort();
    assert!(proxy.await.unwrap_err().is_cancelled());
    // Aborted: the listener is gone with it.
    assert!(tokio::net::TcpStream::connect(front_addr).await.is_err());
}

#[test]
fn a_proxy_port_survives_its_old_connections_but_not_a_second_listener() {
    use berth_network::ports::reserve_to_listen;
    let first = reserve_to_listen(Proto::Tcp, LO, 0, 0).unwrap();
    let port = first.port();
    let listener = first.listen().unwrap().expect("a TCP listener");
    // A connection the server side closes first leaves TIME_WAIT on the port.
    let client = std::net::TcpStream::connect((LO, port)).unwrap();
    let (server, _) = loop {
        match listener.accept() {
            Ok(c) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            Err(e) => panic!("{e}"),
        }
    };
    drop(server);
    std::thread::sleep(std::time::Duration::from_millis(50));
    drop(client);
    // While it listens, nobody else gets the port.
    assert!(matches!(
        reserve_to_listen(Proto::Tcp, LO, port, port),
        Err(Error::PortInUse(_))
    ));
    drop(listener);
    // Gone: the port is free again despite TIME_WAIT.
    let again = reserve_to_listen(Proto::Tcp, LO, port, port).unwrap();
    assert_eq!(again.port(), port);
}
