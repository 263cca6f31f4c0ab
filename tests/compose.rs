//! docker-compose (Debian's 1.29.2, a client nobody here wrote) against berthd: a
//! web service and a client on the project's network, a named volume, a port
//! published on 127.0.0.1; `ps`, `logs`, and `down -v` leaving nothing behind.

use std::process::Command;
use std::time::Duration;

use berth_e2e::{text, Berthd};

const COMPOSE: &str = r#"version: "3"
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo hello-from-compose-web > /data/index.html && exec httpd -f -v -p 8000 -h /data"]
    volumes:
      - data:/data
    ports:
      - "127.0.0.1:PORT:8000"
  client:
    image: busybox
    depends_on: [web]
    command: ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://web:8000/ && echo client-ok && exit 0; sleep 0.3; done; exit 1"]
volumes:
  data: {}
"#;

fn compose(d: &Berthd, dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new("docker-compose")
        .env("DOCKER_HOST", d.host())
        .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
        .current_dir(dir)
        .args(["-p", "cdemo"])
        .args(args)
        .output()
        .expect("docker-compose (Debian package docker-compose)")
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "docker-compose failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

#[test]
fn compose_brings_up_a_web_service_and_its_client_then_down_leaves_nothing() {
    let d = Berthd::start();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        COMPOSE.replace("PORT", &port.to_string()),
    )
    .unwrap();
    ok(compose(&d, dir.path(), &["up", "-d"]));
    // The client ends by itself once it has the page.
    d.eventually(30, "the client exits", || {
        d.inspect("cdemo_client_1", "{{.State.Status}}") == "exited"
    });
    assert_eq!(d.inspect("cdemo_client_1", "{{.State.ExitCode}}"), "0");
    let logs = ok(compose(&d, dir.path(), &["logs", "--no-color", "client"]));
    assert!(logs.contains("hello-from-compose-web"), "{logs}");
    assert!(logs.contains("client-ok"), "{logs}");
    let ps = ok(compose(&d, dir.path(), &["ps"]));
    assert!(ps.contains("cdemo_web_1"), "{ps}");
    assert!(ps.contains(&format!("127.0.0.1:{port}->8000/tcp")), "{ps}");
    // The host reaches the web service on its published port.
    let mut page = String::new();
    for _ in 0..30 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
            let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
            let _ = s.read_to_string(&mut page);
            if page.contains("hello-from-compose-web") {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(page.contains("hello-from-compose-web"), "{page}");
    let weblogs = ok(compose(&d, dir.path(), &["logs", "--no-color", "web"]));
    assert!(weblogs.contains("response:200"), "{weblogs}");

    ok(compose(&d, dir.path(), &["down", "-v", "-t", "1"]));
    assert_eq!(text(&d.docker(&["ps", "-aq"]).stdout), "");
    let nets = text(&d.docker(&["network", "ls", "--format", "{{.Name}}"]).stdout);
    assert!(!nets.contains("cdemo"), "{nets}");
    let vols = text(&d.docker(&["volume", "ls", "-q"]).stdout);
    assert_eq!(vols, "");
    let rules = text(
        &Command::new("nft")
            .args(["list", "table", "ip", &d.net.table()])
            .output()
            .unwrap()
            .stdout,
    );
    assert!(!rules.contains("dnat"), "{rules}");
    assert!(!rules.contains("br-"), "{rules}");
    d.assert_clean();
}
