//! Flag values whose syntax Docker defines: memory sizes, env files, restart policies,
//! port specs, CPU counts and time arguments.

use berth_cli::opts::*;
use std::time::{Duration, UNIX_EPOCH};

#[test]
fn memory_strings() {
    assert_eq!(parse_memory("64m"), Ok(64 * 1024 * 1024));
    assert_eq!(parse_memory("64M"), Ok(64 * 1024 * 1024));
    assert_eq!(parse_memory("1g"), Ok(1 << 30));
    assert_eq!(parse_memory("512k"), Ok(512 * 1024));
    assert_eq!(parse_memory("512kb"), Ok(512 * 1024));
    assert_eq!(parse_memory("2GiB"), Ok(2 << 30));
    assert_eq!(parse_memory("100"), Ok(100));
    assert_eq!(parse_memory("100b"), Ok(100));
    assert_eq!(parse_memory("1.5g"), Ok(3 << 29));
    assert_eq!(parse_memory("foo").unwrap_err(), "invalid size: 'foo'");
    assert_eq!(parse_memory("-1").unwrap_err(), "invalid size: '-1'");
    assert_eq!(parse_memory("").unwrap_err(), "invalid size: ''");
    assert_eq!(parse_memory("1x").unwrap_err(), "invalid suffix: 'x'");
    assert_eq!(parse_memory("1kx").unwrap_err(), "invalid suffix: 'kx'");
}

#[test]
fn env_files() {
    std::env::set_var("BERTH_TEST_FROM_ENV", "yes");
    let content = "\u{feff}# comment\n\nA=1\n  B=two words  \nBERTH_TEST_FROM_ENV\nBERTH_TEST_UNSET_VAR\nC=\n";
    let got = parse_env_file(content, "f.env").unwrap();
    assert_eq!(
        got,
        vec!["A=1", "B=two words  ", "BERTH_TEST_FROM_ENV=yes", "C="]
    );
    assert_eq!(
        parse_env_file("B C=1\n", "f.env").unwrap_err(),
        "invalid env file (f.env): variable 'B C' contains whitespaces"
    );
    assert!(parse_env_file("=1\n", "f.env").is_err());
}

#[test]
fn restart_policies() {
    assert_eq!(parse_restart("no").unwrap(), ("no".into(), None));
    assert_eq!(
        parse_restart("unless-stopped").unwrap(),
        ("unless-stopped".into(), None)
    );
    assert_eq!(
        parse_restart("on-failure:5").unwrap(),
        ("on-failure".into(), Some(5))
    );
    assert!(parse_restart("on-failure:x").is_err());
    assert!(parse_restart("always:2").is_err());
    assert_eq!(
        parse_restart("bogus").unwrap_err(),
        "invalid restart policy 'bogus'"
    );
}

#[test]
fn cpus_and_ports() {
    assert_eq!(parse_cpus("1.5"), Ok(1_500_000_000));
    assert_eq!(parse_cpus("0.000000001"), Ok(1));
    assert!(parse_cpus("abc").is_err());
    let m = |port: &str, ip: &str, host: &str| PortMapping {
        port: port.into(),
        host_ip: ip.into(),
        host_port: host.into(),
    };
    assert_eq!(
        parse_port_spec("8080:80").unwrap(),
        vec![m("80/tcp", "", "8080")]
    );
    assert_eq!(
        parse_port_spec("[::1]:8080:80/udp").unwrap(),
        vec![m("80/udp", "::1", "8080")]
    );
    assert_eq!(
        parse_port_spec("127.0.0.1::80").unwrap(),
        vec![m("80/tcp", "127.0.0.1", "")]
    );
}

#[test]
fn publish_ranges_expand_per_container_port() {
    let m = |port: &str, ip: &str, host: &str| PortMapping {
        port: port.into(),
        host_ip: ip.into(),
        host_port: host.into(),
    };
    assert_eq!(
        parse_port_spec("8000-8001:80-81").unwrap(),
        vec![m("80/tcp", "", "8000"), m("81/tcp", "", "8001")]
    );
    // A host range for one container port is the range the daemon picks from.
    assert_eq!(
        parse_port_spec("8000-8010:80").unwrap(),
        vec![m("80/tcp", "", "8000-8010")]
    );
    assert_eq!(
        parse_port_spec("0.0.0.0:5000-5001:5000-5001/UDP").unwrap(),
        vec![
            m("5000/udp", "0.0.0.0", "5000"),
            m("5001/udp", "0.0.0.0", "5001")
        ]
    );
    assert_eq!(
        parse_port_spec("80-82").unwrap(),
        vec![
            m("80/tcp", "", ""),
            m("81/tcp", "", ""),
            m("82/tcp", "", "")
        ]
    );
    assert_eq!(
        parse_port_spec("::1:8080:80").unwrap(),
        vec![m("80/tcp", "::1", "8080")]
    );
    assert_eq!(
        parse_port_spec("53/sctp").unwrap(),
        vec![m("53/sctp", "", "")]
    );
}

#[test]
fn bad_publish_specs_use_dockers_words() {
    let e = |s: &str| parse_port_spec(s).unwrap_err();
    assert_eq!(e("x"), "invalid containerPort: x");
    assert_eq!(e("8080:x"), "invalid containerPort: x");
    assert_eq!(e("70000"), "invalid containerPort: 70000");
    assert_eq!(e("81-80"), "invalid containerPort: 81-80");
    assert_eq!(e("x:80"), "invalid hostPort: x");
    assert_eq!(e("8080-:80"), "invalid hostPort: 8080-");
    assert_eq!(e("80/sctpx"), "invalid proto: sctpx");
    assert_eq!(e("1.2.3:80:80"), "invalid IP address: 1.2.3");
    assert_eq!(e("8080:"), "no port specified: 8080:<empty>");
    assert_eq!(
        e("8000-8002:80-81"),
        "invalid ranges specified for container and host Ports: 80-81 and 8000-8002"
    );
}

#[test]
fn expose_ranges() {
    assert_eq!(parse_expose("80").unwrap(), vec!["80/tcp"]);
    assert_eq!(
        parse_expose("8000-8002/udp").unwrap(),
        vec!["8000/udp", "8001/udp", "8002/udp"]
    );
    assert_eq!(
        parse_expose("1:2").unwrap_err(),
        "invalid port format for --expose: 1:2"
    );
    assert_eq!(
        parse_expose("x").unwrap_err(),
        "invalid range format for --expose: x, error: strconv.ParseUint: parsing \"x\": invalid syntax"
    );
}

#[test]
fn time_arguments() {
    let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
    assert_eq!(parse_time_arg("1700000000", now).unwrap(), "1700000000");
    assert_eq!(parse_time_arg("10m", now).unwrap(), "999400.000000000");
    assert_eq!(
        parse_time_arg("1970-01-02T00:00:00Z", now).unwrap(),
        "86400.000000000"
    );
    assert!(parse_time_arg("yesterday-ish", now).is_err());
}

#[test]
fn filters() {
    let f = parse_filters(&["name=web".into(), "label=a=b".into(), "name=db".into()]).unwrap();
    assert_eq!(f["name"], vec!["web", "db"]);
    assert_eq!(f["label"], vec!["a=b"]);
    assert!(parse_filters(&["nope".into()]).is_err());
}
