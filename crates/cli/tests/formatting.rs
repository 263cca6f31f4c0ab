//! Docker's human-readable output: durations, sizes, ports, truncation, tables.

use berth_cli::format::*;
use std::time::Duration;

#[test]
fn human_durations() {
    let d = |s| human_duration(Duration::from_secs(s));
    assert_eq!(
        human_duration(Duration::from_millis(300)),
        "Less than a second"
    );
    assert_eq!(d(1), "1 second");
    assert_eq!(d(3), "3 seconds");
    assert_eq!(d(59), "59 seconds");
    assert_eq!(d(60), "About a minute");
    assert_eq!(d(119), "About a minute");
    assert_eq!(d(120), "2 minutes");
    assert_eq!(d(59 * 60), "59 minutes");
    assert_eq!(d(3600), "About an hour");
    assert_eq!(d(5 * 3600), "5 hours");
    assert_eq!(d(47 * 3600), "47 hours");
    assert_eq!(d(3 * 24 * 3600), "3 days");
    assert_eq!(d(20 * 24 * 3600), "2 weeks");
    assert_eq!(d(90 * 24 * 3600), "3 months");
    assert_eq!(d(3 * 365 * 24 * 3600), "3 years");
}

#[test]
fn sizes() {
    assert_eq!(human_size(0.0), "0B");
    assert_eq!(human_size(100.0), "100B");
    assert_eq!(human_size(1985574.0), "1.99MB");
    assert_eq!(human_size(4_260_000.0), "4.26MB");
    assert_eq!(human_size(2048.0), "2.05kB");
    assert_eq!(human_size(1_000_000_000.0), "1GB");
    assert_eq!(human_size(999_999.0), "1e+03kB");
    assert_eq!(human_size4(1985574.0), "1.986MB");
    assert_eq!(bytes_size(688128.0), "672KiB");
    assert_eq!(bytes_size(25_275_000_000.0), "23.54GiB");
}

#[test]
fn ports() {
    let p = |ip: &str, private, public: Option<u16>, proto: &str| Port {
        ip: ip.into(),
        private,
        public,
        proto: proto.into(),
    };
    assert_eq!(display_ports(&[]), "");
    assert_eq!(display_ports(&[p("", 80, None, "tcp")]), "80/tcp");
    assert_eq!(
        display_ports(&[p("0.0.0.0", 80, Some(8080), "tcp")]),
        "0.0.0.0:8080->80/tcp"
    );
    assert_eq!(
        display_ports(&[p("::", 80, Some(8080), "tcp")]),
        "[::]:8080->80/tcp"
    );
    assert_eq!(
        display_ports(&[
            p("0.0.0.0", 8001, Some(9001), "tcp"),
            p("0.0.0.0", 8000, Some(9000), "tcp"),
            p("", 53, None, "udp"),
        ]),
        "53/udp, 0.0.0.0:9000->8000/tcp, 0.0.0.0:9001->8001/tcp"
    );
}

/// `docker ps` folds only ports published on their own number (and unpublished ones);
/// `-p 8000-8001:80-81` shows two mappings, as Docker's `DisplayablePorts` prints them.
#[test]
fn ports_group_like_docker() {
    let p = |ip: &str, private, public: Option<u16>| Port {
        ip: ip.into(),
        private,
        public,
        proto: "tcp".into(),
    };
    assert_eq!(
        display_ports(&[
            p("0.0.0.0", 81, Some(32768)),
            p("127.0.0.1", 80, Some(8080)),
        ]),
        "127.0.0.1:8080->80/tcp, 0.0.0.0:32768->81/tcp"
    );
    assert_eq!(
        display_ports(&[
            p("0.0.0.0", 8001, Some(8001)),
            p("0.0.0.0", 8000, Some(8000)),
            p("::", 8000, Some(8000)),
            p("::", 8001, Some(8001)),
        ]),
        "0.0.0.0:8000-8001->8000-8001/tcp, [::]:8000-8001->8000-8001/tcp"
    );
    assert_eq!(
        display_ports(&[p("", 80, None), p("", 81, None), p("", 83, None)]),
        "80-81/tcp, 83/tcp"
    );
    assert_eq!(
        display_ports(&[p("0.0.0.0", 80, Some(8000)), p("0.0.0.0", 81, Some(8001)),]),
        "0.0.0.0:8000->80/tcp, 0.0.0.0:8001->81/tcp"
    );
    assert_eq!(
        display_ports(&[p("", 80, None), p("0.0.0.0", 443, Some(8443))]),
        "80/tcp, 0.0.0.0:8443->443/tcp"
    );
}

#[test]
fn truncation_and_names() {
    assert_eq!(ellipsis("sleep 1000", 20), "sleep 1000");
    assert_eq!(
        ellipsis("sh -c 'while true; do sleep 1; done'", 20),
        "sh -c 'while true; …"
    );
    assert_eq!(
        ellipsis("sh -c 'while true; do sleep 1; done'", 20)
            .chars()
            .count(),
        20
    );
    assert_eq!(short_id("sha256:746301599208abcdef"), "746301599208");
    assert_eq!(
        container_names(&["/web".into(), "/other/link".into()]),
        "web"
    );
}

#[test]
fn table_alignment_matches_go_tabwriter() {
    use std::io::Write;
    let mut tw = table_writer(Vec::new());
    writeln!(tw, "REPOSITORY\tTAG\tIMAGE ID\tSIZE").unwrap();
    writeln!(tw, "busybox\tlatest\t746301599208\t1.99MB").unwrap();
    tw.flush().unwrap();
    let out = String::from_utf8(tw.into_inner().unwrap()).unwrap();
    assert_eq!(
        out,
        "REPOSITORY   TAG       IMAGE ID       SIZE\nbusybox      latest    746301599208   1.99MB\n"
    );
}

#[test]
fn indent_keeps_order() {
    let got = berth_cli::raw::indent(r#"{"Id":"x","A":[],"B":{"c":null}}"#, "    ", 0);
    assert_eq!(
        got,
        "{\n    \"Id\": \"x\",\n    \"A\": [],\n    \"B\": {\n        \"c\": null\n    }\n}"
    );
}
