//! Networks with the official `docker` CLI (and `berth`): user-defined networks
//! with name and alias resolution through the embedded DNS, isolation between
//! networks, published ports (TCP and UDP, fixed and ephemeral, on 127.0.0.1),
//! `--network none|host|container:`, connect/disconnect, the per-container
//! `/etc/hosts` and `/etc/resolv.conf`, state across a berthd restart, and bad
//! input. All traffic stays on loopback or inside the containers' namespaces.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

use berth_e2e::{ok, text, Berthd};

// A `timeout` around wget must not be the container's pid 1 (which ignores
// SIGTERM): the commands below run it under `sh -c "…; exit $?"`.

/// A busybox httpd serving `page` on port 80.
fn httpd(page: &str) -> String {
    format!("mkdir -p /www && echo {page} > /www/index.html && exec httpd -f -p 80 -h /www")
}

/// GET / from 127.0.0.1:port on the host.
fn fetch(port: u16) -> std::io::Result<String> {
    let mut s =
        TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// A free port on 127.0.0.1 (for `-p 127.0.0.1:<port>:80`).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The daemon's firewall rules (its own nftables table).
fn rules(d: &Berthd) -> String {
    let o = Command::new("nft")
        .args(["list", "table", "ip", &d.net.table()])
        .output()
        .expect("nft");
    text(&o.stdout)
}

#[test]
fn containers_on_a_network_reach_each_other_by_name_and_alias() {
    let d = Berthd::start();
    let id = ok(d.docker(&["network", "create", "--label", "team=a", "n1"]));
    assert_eq!(id.trim().len(), 64, "{id}");
    let subnet = d.docker(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}",
        "n1",
    ]);
    let subnet = ok(subnet);
    let o = d.net.octet();
    assert_eq!(subnet.trim(), format!("10.{o}.1.0/24 10.{o}.1.1"));

    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "n1",
        "--network-alias",
        "www",
        "busybox",
        "sh",
        "-c",
        &httpd("hello-web"),
    ]));
    // The name, the alias and the short id, through 127.0.0.11.
    for name in ["web", "www", "WEB"] {
        let page = ok(d.docker(&[
            "run",
            "--rm",
            "--network",
            "n1",
            "busybox",
            "wget",
            "-qO-",
            &format!("http://{name}/"),
        ]));
        assert_eq!(page.trim(), "hello-web", "{name}");
    }
    let resolv = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "n1",
        "busybox",
        "cat",
        "/etc/resolv.conf",
    ]));
    assert!(resolv.contains("nameserver 127.0.0.11\n"), "{resolv}");
    assert!(resolv.contains("ndots:0"), "{resolv}");
    let ip = d.inspect("web", "{{.NetworkSettings.Networks.n1.IPAddress}}");
    assert!(ip.starts_with(&format!("10.{o}.1.")), "{ip}");
    let hosts = ok(d.docker(&["exec", "web", "cat", "/etc/hosts"]));
    let short = d.inspect("web", "{{.Id}}")[..12].to_owned();
    assert!(hosts.contains(&format!("{ip}\t{short}\n")), "{hosts}");
    let ns = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "n1",
        "busybox",
        "nslookup",
        "web",
        "127.0.0.11",
    ]));
    assert!(ns.contains(&ip), "{ns}");

    // The network lists its container; inspect shows Docker's fields.
    let members = ok(d.docker(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}",
        "n1",
    ]));
    assert_eq!(members.trim(), format!("web {ip}/24"));
    let ls = ok(d.docker(&[
        "network",
        "ls",
        "--filter",
        "label=team=a",
        "--format",
        "{{.Name}} {{.Driver}} {{.Scope}}",
    ]));
    assert_eq!(ls.trim(), "n1 bridge local");
    // The same through berth.
    let ls = ok(d.berth(&["network", "ls"]));
    assert!(
        ls.starts_with("NETWORK ID     NAME      DRIVER    SCOPE\n"),
        "{ls}"
    );
    for n in ["bridge", "host", "none", "n1"] {
        assert!(ls.contains(&format!(" {n} ")), "{ls}");
    }
    let page = ok(d.berth(&[
        "run",
        "--rm",
        "--network",
        "n1",
        "busybox",
        "wget",
        "-qO-",
        "http://www/",
    ]));
    assert_eq!(page.trim(), "hello-web");

    // A network in use cannot go; a stopped container does not hold it.
    let out = d.docker(&["network", "rm", "n1"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("has active endpoints"),
        "{}",
        text(&out.stderr)
    );
    ok(d.docker(&["rm", "-f", "web"]));
    assert_eq!(ok(d.docker(&["network", "rm", "n1"])).trim(), "n1");
    d.assert_clean();
}

#[test]
fn different_networks_are_isolated_from_each_other() {
    let d = Berthd::start();
    ok(d.docker(&["network", "create", "a"]));
    ok(d.docker(&["network", "create", "b"]));
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "a",
        "busybox",
        "sh",
        "-c",
        &httpd("on-a"),
    ]));
    let ip = d.inspect("srv", "{{.NetworkSettings.Networks.a.IPAddress}}");
    // From b: no name, and no route through the host.
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "b",
        "busybox",
        "sh",
        "-c",
        "timeout 3 wget -qO- http://srv/; exit $?",
    ]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "b",
        "busybox",
        "sh",
        "-c",
        &format!("timeout 3 wget -qO- http://{ip}/; exit $?"),
    ]);
    assert!(!out.status.success(), "b reached a: {}", text(&out.stdout));
    // From a: both work; the default bridge has no names.
    let page = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "a",
        "busybox",
        "sh",
        "-c",
        &format!("timeout 3 wget -qO- http://{ip}/; exit $?"),
    ]));
    assert_eq!(page.trim(), "on-a");
    let out = d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "timeout 3 wget -qO- http://srv/; exit $?",
    ]);
    assert!(!out.status.success());
    // Connect srv to b too: now b reaches it by name, then no more after disconnect.
    ok(d.docker(&["network", "connect", "--alias", "srv-b", "b", "srv"]));
    let page = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "b",
        "busybox",
        "sh",
        "-c",
        "timeout 3 wget -qO- http://srv-b/; exit $?",
    ]));
    assert_eq!(page.trim(), "on-a");
    let links = ok(d.docker(&["exec", "srv", "ls", "/sys/class/net"]));
    assert_eq!(
        links.split_whitespace().collect::<Vec<_>>(),
        ["eth0", "eth1", "lo"]
    );
    ok(d.docker(&["network", "disconnect", "b", "srv"]));
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "b",
        "busybox",
        "sh",
        "-c",
        "timeout 3 wget -qO- http://srv-b/; exit $?",
    ]);
    assert!(!out.status.success());
    // A gap left by a disconnect is filled: eth0 goes, then comes back as eth0.
    ok(d.docker(&["network", "connect", "b", "srv"]));
    ok(d.docker(&["network", "disconnect", "a", "srv"]));
    ok(d.docker(&["network", "connect", "a", "srv"]));
    let links = ok(d.docker(&["exec", "srv", "ls", "/sys/class/net"]));
    assert_eq!(
        links.split_whitespace().collect::<Vec<_>>(),
        ["eth0", "eth1", "lo"]
    );
    let page = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "a",
        "busybox",
        "wget",
        "-qO-",
        "http://srv/",
    ]));
    assert_eq!(page.trim(), "on-a");
    ok(d.docker(&["rm", "-f", "srv"]));
    let pruned = ok(d.docker(&["network", "prune", "-f"]));
    assert!(pruned.contains("Deleted Networks:"), "{pruned}");
    assert!(pruned.contains("a\n") && pruned.contains("b\n"), "{pruned}");
    d.assert_clean();
}

#[test]
fn published_ports_serve_the_host_on_loopback() {
    let d = Berthd::start();
    let port = free_port();
    let spec = format!("127.0.0.1:{port}:80");
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "fixed",
        "-p",
        &spec,
        "busybox",
        "sh",
        "-c",
        &httpd("fixed-port"),
    ]));
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "ephemeral",
        "-p",
        "127.0.0.1::80",
        "-p",
        "81",
        "busybox",
        "sh",
        "-c",
        &httpd("ephemeral-port"),
    ]));
    d.eventually(10, "httpd answers", || {
        fetch(port).is_ok_and(|p| p.contains("fixed-port"))
    });
    // `port` and `ps` report them as Docker does.
    let mapped = ok(d.docker(&["port", "ephemeral", "80"]));
    let eport: u16 = mapped
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .expect(&mapped);
    assert!(mapped.starts_with("127.0.0.1:"), "{mapped}");
    assert!(eport >= 32768, "{mapped}");
    d.eventually(10, "ephemeral answers", || {
        fetch(eport).is_ok_and(|p| p.contains("ephemeral-port"))
    });
    let all = ok(d.docker(&["port", "ephemeral"]));
    assert!(all.contains("80/tcp -> 127.0.0.1:"), "{all}");
    assert!(all.contains("81/tcp -> 0.0.0.0:"), "{all}");
    let ps = ok(d.docker(&["ps", "--format", "{{.Names}} {{.Ports}}"]));
    assert!(
        ps.contains(&format!("fixed 127.0.0.1:{port}->80/tcp")),
        "{ps}"
    );
    let bport: u16 = ok(d.berth(&["port", "ephemeral", "81"]))
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // 0.0.0.0 includes loopback.
    let out = Command::new("sh").arg("-c").arg("true").output();
    drop(out);
    assert!(bport > 0);
    assert!(
        rules(&d).contains(&format!("dport {port}")),
        "{}",
        rules(&d)
    );

    // A port already taken: Docker's words, a clear failure, nothing left.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tport = taken.local_addr().unwrap().port();
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "clash",
        "-p",
        &format!("127.0.0.1:{tport}:80"),
        "busybox",
        "sleep",
        "30",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("address already in use"), "{err}");
    assert_eq!(d.inspect("clash", "{{.State.Status}}"), "created");
    assert!(
        !rules(&d).contains(&format!("dport {tport}")),
        "{}",
        rules(&d)
    );
    drop(taken);
    // The same host port twice.
    let out = d.docker(&[
        "run", "-d", "--name", "twice", "-p", &spec, "busybox", "sleep", "30",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("address already in use"),
        "{}",
        text(&out.stderr)
    );

    ok(d.docker(&["rm", "-f", "fixed", "ephemeral", "clash", "twice"]));
    assert!(!rules(&d).contains("dnat"), "{}", rules(&d));
    assert!(fetch(port).is_err());
    d.assert_clean();
}

#[test]
fn udp_ports_are_published() {
    let d = Berthd::start();
    let port = free_port();
    // busybox has no UDP server: a UDP echo runs inside the container's network
    // namespace (nsenter from the host), behind the published port.
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "udp",
        "-p",
        &format!("127.0.0.1:{port}:5353/udp"),
        "busybox",
        "sleep",
        "60",
    ]));
    let pid = d.inspect("udp", "{{.State.Pid}}");
    let echo = "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',5353))\nwhile True:\n d,a=s.recvfrom(64)\n s.sendto(b'pong '+d,a)\n";
    let mut server = Command::new("nsenter")
        .arg(format!("--net=/proc/{pid}/ns/net"))
        .args(["python3", "-c", echo])
        .spawn()
        .expect("nsenter python3");
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut got = String::new();
    for _ in 0..20 {
        let _ = s.send_to(b"ping\n", ("127.0.0.1", port));
        let mut buf = [0u8; 64];
        if let Ok((n, _)) = s.recv_from(&mut buf) {
            got = String::from_utf8_lossy(&buf[..n]).into_owned();
            break;
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(got.trim(), "pong ping");
    let mapped = ok(d.docker(&["port", "udp"]));
    assert_eq!(mapped.trim(), format!("5353/udp -> 127.0.0.1:{port}"));
    ok(d.docker(&["rm", "-f", "udp"]));
    d.assert_clean();
}

#[test]
fn network_modes_none_host_and_container() {
    let d = Berthd::start();
    let none = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ls",
        "/sys/class/net",
    ]));
    assert_eq!(none.split_whitespace().collect::<Vec<_>>(), ["lo"]);
    let lo = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ping",
        "-c1",
        "-W2",
        "127.0.0.1",
    ]));
    assert!(lo.contains("1 packets received"), "{lo}");
    // host: the host's interfaces (this daemon's bridge among them).
    let host = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "ls",
        "/sys/class/net",
    ]));
    assert!(
        host.split_whitespace().any(|n| n == d.net.bridge()),
        "{host}"
    );
    let mine: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for n in host.split_whitespace() {
        assert!(mine.iter().any(|m| m == n), "{n} not on the host");
    }
    // The default bridge: eth0 with an address, a default route, lo up.
    let o = d.net.octet();
    let addr = ok(d.docker(&["run", "--rm", "busybox", "ip", "-o", "-4", "addr"]));
    assert!(addr.contains(&format!("eth0    inet 10.{o}.0.")), "{addr}");
    assert!(addr.contains("lo    inet 127.0.0.1/8"), "{addr}");
    let route = ok(d.docker(&["run", "--rm", "busybox", "ip", "route"]));
    assert!(
        route.contains(&format!("default via 10.{o}.0.1 dev eth0")),
        "{route}"
    );
    // container: shares the first one's namespace.
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "base",
        "busybox",
        "sh",
        "-c",
        &httpd("shared-ns"),
    ]));
    let page = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "container:base",
        "busybox",
        "sh",
        "-c",
        "sleep 0.3; wget -qO- http://127.0.0.1/",
    ]));
    assert_eq!(page.trim(), "shared-ns");
    // stats count the traffic of the namespace's interfaces.
    let base_ip = d.inspect("base", "{{.NetworkSettings.IPAddress}}");
    let page = ok(d.docker(&[
        "run",
        "--rm",
        "busybox",
        "wget",
        "-qO-",
        &format!("http://{base_ip}/"),
    ]));
    assert_eq!(page.trim(), "shared-ns");
    let netio = ok(d.docker(&["stats", "--no-stream", "--format", "{{.NetIO}}", "base"]));
    assert!(netio.contains(" / "), "{netio}");
    assert!(!netio.starts_with("0B / 0B"), "{netio}");
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "container:nosuch",
        "busybox",
        "true",
    ]);
    assert!(!out.status.success());
    ok(d.docker(&["rm", "-f", "base"]));
    d.assert_clean();
}

#[test]
fn hosts_resolv_and_addresses_follow_the_flags() {
    let d = Berthd::start();
    let o = d.net.octet();
    ok(d.docker(&[
        "network",
        "create",
        "--subnet",
        &format!("10.{o}.9.0/24"),
        "--gateway",
        &format!("10.{o}.9.254"),
        "--ip-range",
        &format!("10.{o}.9.128/25"),
        "fixed",
    ]));
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "fixed",
        "--ip",
        &format!("10.{o}.9.7"),
        "--hostname",
        "box",
        "--add-host",
        "db.local:10.1.2.3",
        "busybox",
        "sh",
        "-c",
        "ip -o -4 addr show eth0; ip link show eth0; ip route; cat /etc/hosts; hostname",
    ]));
    assert!(out.contains(&format!("inet 10.{o}.9.7/24")), "{out}");
    // --mac-address (the docker CLI 28 sends it only at API ≥ 1.44; berth per network).
    let link = ok(d.berth(&[
        "run",
        "--rm",
        "--network",
        "fixed",
        "--mac-address",
        "02:42:0a:00:00:08",
        "busybox",
        "ip",
        "link",
        "show",
        "eth0",
    ]));
    assert!(link.contains("link/ether 02:42:0a:00:00:08"), "{link}");
    assert!(out.contains(&format!("default via 10.{o}.9.254")), "{out}");
    assert!(out.contains("10.1.2.3\tdb.local\n"), "{out}");
    assert!(out.contains(&format!("10.{o}.9.7\tbox\n")), "{out}");
    assert!(out.trim_end().ends_with("box"), "{out}");
    // Without --ip: from the --ip-range.
    let ip = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "fixed",
        "busybox",
        "sh",
        "-c",
        "ip -o -4 addr show eth0",
    ]));
    assert!(ip.contains(&format!("inet 10.{o}.9.1")), "{ip}");
    let last: u8 = ip
        .split(&format!("10.{o}.9."))
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(last >= 128, "{ip}");
    // --dns on the default bridge.
    let resolv = ok(d.docker(&[
        "run",
        "--rm",
        "--dns",
        "10.9.9.9",
        "--dns-search",
        "example.test",
        "--dns-option",
        "ndots:2",
        "busybox",
        "cat",
        "/etc/resolv.conf",
    ]));
    assert_eq!(
        resolv,
        "nameserver 10.9.9.9\nsearch example.test\noptions ndots:2\n"
    );
    // --ip outside the subnet, --ip on the default bridge: Docker's refusals.
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "fixed",
        "--ip",
        "10.250.0.5",
        "busybox",
        "true",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr)
            .contains("no configured subnet or ip-range contain the IP address 10.250.0.5"),
        "{}",
        text(&out.stderr)
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "--ip",
        &format!("10.{o}.0.9"),
        "busybox",
        "true",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr)
            .contains("user specified IP address is supported on user defined networks only"),
        "{}",
        text(&out.stderr)
    );
    ok(d.docker(&["network", "rm", "fixed"]));
    d.assert_clean();
}

#[test]
fn bad_network_input_gets_dockers_status_and_leaves_nothing() {
    let d = Berthd::start();
    let o = d.net.octet();
    ok(d.docker(&[
        "network",
        "create",
        "--subnet",
        &format!("10.{o}.50.0/24"),
        "first",
    ]));
    let out = d.docker(&[
        "network",
        "create",
        "--subnet",
        &format!("10.{o}.50.128/25"),
        "second",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Pool overlaps with other one on this address space"),
        "{}",
        text(&out.stderr)
    );
    let (code, _) = d.http(
        "POST",
        "/networks/create",
        &format!(r#"{{"Name":"third","IPAM":{{"Config":[{{"Subnet":"10.{o}.50.0/25"}}]}}}}"#),
    );
    assert_eq!(code, 403);
    let (code, body) = d.http(
        "POST",
        "/networks/create",
        r#"{"Name":"x","IPAM":{"Config":[{"Subnet":"10.1.0.0/24","Gateway":"10.2.0.1"}]}}"#,
    );
    assert_eq!(code, 400, "{body}");
    let (code, body) = d.http(
        "POST",
        "/networks/create",
        r#"{"Name":"x","IPAM":{"Config":[{"Subnet":"10.1.0.0/33"}]}}"#,
    );
    assert_eq!(code, 400, "{body}");
    let (code, body) = d.http("POST", "/networks/create", r#"{"Name":"first"}"#);
    assert_eq!(code, 409, "{body}");
    let (code, body) = d.http("DELETE", "/networks/bridge", "");
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("pre-defined network"), "{body}");
    let (code, _) = d.http("DELETE", "/networks/nosuch", "");
    assert_eq!(code, 404);
    let out = d.docker(&["run", "--rm", "--network", "nosuch", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("network nosuch not found"),
        "{}",
        text(&out.stderr)
    );
    // Invalid port specs: the CLI's words, and the API's 400.
    let out = d.docker(&["run", "--rm", "-p", "80:abc", "busybox", "true"]);
    assert!(!out.status.success());
    assert_eq!(out.status.code(), Some(125));
    let out = d.berth(&["run", "--rm", "-p", "80:abc", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out.stderr));
    let (code, body) = d.http("POST", "/containers/create", r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"PortBindings":{"x/tcp":[{"HostPort":"80"}]}}}"#);
    assert_eq!(code, 400, "{body}");
    // A bind path that does not exist.
    let out = d.docker(&["run", "--rm", "-v", "/no/such/dir:/x", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("/no/such/dir"),
        "{}",
        text(&out.stderr)
    );
    // Only the first network is left; no containers.
    let names = ok(d.docker(&[
        "network",
        "ls",
        "--filter",
        "type=custom",
        "--format",
        "{{.Name}}",
    ]));
    assert_eq!(names, "first\n");
    assert_eq!(ok(d.docker(&["ps", "-aq"])), "");
    ok(d.docker(&["network", "rm", "first"]));
    d.assert_clean();
}

#[test]
fn addresses_ports_and_names_survive_a_berthd_restart() {
    let mut d = Berthd::start();
    ok(d.docker(&["network", "create", "keep"]));
    let port = free_port();
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "keep",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "sh",
        "-c",
        &httpd("survivor"),
    ]));
    d.eventually(10, "httpd answers", || {
        fetch(port).is_ok_and(|p| p.contains("survivor"))
    });
    let ip = d.inspect("srv", "{{.NetworkSettings.Networks.keep.IPAddress}}");
    d.kill9();
    // The kernel keeps serving while berthd is away.
    assert!(fetch(port).unwrap().contains("survivor"));
    d.spawn();
    assert_eq!(
        d.inspect("srv", "{{.NetworkSettings.Networks.keep.IPAddress}}"),
        ip
    );
    assert!(fetch(port).unwrap().contains("survivor"));
    // The embedded DNS is back, and a new container gets another address.
    let page = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "keep",
        "busybox",
        "wget",
        "-qO-",
        "http://srv/",
    ]));
    assert_eq!(page.trim(), "survivor");
    let other = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "keep",
        "busybox",
        "sh",
        "-c",
        "ip -o -4 addr show eth0",
    ]));
    assert!(!other.contains(&format!("inet {ip}/")), "{other}");
    ok(d.docker(&["rm", "-f", "srv"]));
    ok(d.docker(&["network", "rm", "keep"]));
    assert!(fetch(port).is_err());
    assert!(!rules(&d).contains("dnat"));
    d.assert_clean();
}

#[test]
fn an_internal_network_has_no_way_out_but_its_members_meet() {
    let d = Berthd::start();
    ok(d.docker(&["network", "create", "--internal", "inner"]));
    assert_eq!(
        ok(d.docker(&["network", "inspect", "-f", "{{.Internal}}", "inner"])).trim(),
        "true"
    );
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "inner",
        "busybox",
        "sh",
        "-c",
        &httpd("inside"),
    ]));
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "inner",
        "busybox",
        "sh",
        "-c",
        "ip route; wget -qO- http://db/",
    ]));
    assert!(!out.contains("default"), "{out}");
    assert!(out.contains("inside"), "{out}");
    // A container on the default bridge cannot reach it by address either.
    let ip = d.inspect("db", "{{.NetworkSettings.Networks.inner.IPAddress}}");
    let out = d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        &format!("timeout 3 wget -qO- http://{ip}/; exit $?"),
    ]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    ok(d.docker(&["rm", "-f", "db"]));
    ok(d.docker(&["network", "rm", "inner"]));
    d.assert_clean();
}

#[test]
fn the_userland_proxy_serves_published_ports_and_comes_back_after_a_restart() {
    let mut d = Berthd::start_with_config(r#"{"userland-proxy": true}"#);
    let port = free_port();
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "proxied",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "sh",
        "-c",
        &httpd("via-proxy"),
    ]));
    d.eventually(10, "the proxy answers", || {
        fetch(port).is_ok_and(|p| p.contains("via-proxy"))
    });
    // No DNAT: berthd itself listens on the port.
    assert!(!rules(&d).contains("dnat"), "{}", rules(&d));
    d.kill9();
    assert!(fetch(port).is_err());
    d.spawn();
    d.eventually(10, "the proxy is back", || {
        fetch(port).is_ok_and(|p| p.contains("via-proxy"))
    });
    ok(d.docker(&["rm", "-f", "proxied"]));
    assert!(fetch(port).is_err());
    d.assert_clean();
}
