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

/// A `--mount` spec as the JSON berth sends for it.
fn mount_json(spec: &str) -> serde_json::Value {
    serde_json::to_value(parse_mount(spec).unwrap_or_else(|e| panic!("{spec}: {e}"))).unwrap()
}

#[test]
fn mount_csv_records_split_as_go_reads_them() {
    assert_eq!(split_csv_record("a=1,b").unwrap(), vec!["a=1", "b"]);
    assert_eq!(
        split_csv_record(r#""dst=/a,b",ro"#).unwrap(),
        vec!["dst=/a,b", "ro"]
    );
    assert_eq!(split_csv_record(r#"x,"v""q""#).unwrap(), vec!["x", "v\"q"]);
    assert_eq!(split_csv_record("a,").unwrap(), vec!["a", ""]);
    assert_eq!(split_csv_record("").unwrap_err(), "EOF");
    // The docker CLI's own words for these three.
    assert_eq!(
        split_csv_record("dst=\"/a").unwrap_err(),
        "parse error on line 1, column 5: bare \" in non-quoted-field"
    );
    assert_eq!(
        split_csv_record("\"dst=/a\"x").unwrap_err(),
        "parse error on line 1, column 8: extraneous or missing \" in quoted-field"
    );
    assert_eq!(
        split_csv_record("\"dst=/a").unwrap_err(),
        "parse error on line 1, column 8: extraneous or missing \" in quoted-field"
    );
}

#[test]
fn go_bools() {
    for t in ["1", "t", "T", "true", "TRUE", "True"] {
        assert_eq!(parse_go_bool(t), Some(true), "{t}");
    }
    for f in ["0", "f", "F", "false", "FALSE", "False"] {
        assert_eq!(parse_go_bool(f), Some(false), "{f}");
    }
    assert_eq!(parse_go_bool("yes"), None);
    assert_eq!(parse_go_bool(""), None);
}

#[test]
fn bind_mounts() {
    assert_eq!(
        mount_json("type=bind,src=/a,dst=/b,ro,bind-propagation=rshared"),
        serde_json::json!({"Type": "bind", "Source": "/a", "Target": "/b", "ReadOnly": true,
            "BindOptions": {"Propagation": "rshared"}})
    );
    assert_eq!(
        mount_json("type=bind,source=/a,destination=/b,readonly=false"),
        serde_json::json!({"Type": "bind", "Source": "/a", "Target": "/b"})
    );
    assert_eq!(
        mount_json("Type=BIND,SRC=/a,target=/b,RO=1"),
        serde_json::json!({"Type": "bind", "Source": "/a", "Target": "/b", "ReadOnly": true})
    );
    for p in [
        "rprivate", "private", "rshared", "shared", "rslave", "slave",
    ] {
        let m = mount_json(&format!("type=bind,src=/a,dst=/b,bind-propagation={p}"));
        assert_eq!(m["BindOptions"]["Propagation"], p);
    }
    // "enabled" is the default: no BindOptions at all (so it is allowed with volumes).
    assert!(mount_json("type=bind,src=/a,dst=/b,bind-recursive=enabled")
        .get("BindOptions")
        .is_none());
    assert!(mount_json("dst=/b,bind-recursive=enabled")
        .get("BindOptions")
        .is_none());
    assert_eq!(
        mount_json("type=bind,src=/a,dst=/b,bind-recursive=disabled")["BindOptions"],
        serde_json::json!({"NonRecursive": true})
    );
    assert_eq!(
        mount_json("type=bind,src=/a,dst=/b,bind-nonrecursive")["BindOptions"],
        serde_json::json!({"NonRecursive": true})
    );
    assert_eq!(
        mount_json("type=bind,src=/a,dst=/b,bind-recursive=writable,ro")["BindOptions"],
        serde_json::json!({"ReadOnlyNonRecursive": true})
    );
    assert_eq!(
        mount_json("type=bind,src=/a,dst=/b,bind-recursive=readonly,ro,bind-propagation=rprivate")
            ["BindOptions"],
        serde_json::json!({"ReadOnlyForceRecursive": true, "Propagation": "rprivate"})
    );
    assert_eq!(
        mount_json("type=bind,src=/a,dst=/b,consistency=Cached")["Consistency"],
        "cached"
    );
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(
        mount_json("type=bind,src=./x/../y,dst=/b")["Source"],
        cwd.join("y").to_str().unwrap()
    );
    assert_eq!(
        mount_json("type=bind,src=.,dst=/b")["Source"],
        cwd.to_str().unwrap()
    );
}

#[test]
fn volume_mounts() {
    // Docker always sends the (empty) DriverConfig once any volume-* option is given.
    assert_eq!(
        mount_json("src=v,dst=/v,volume-nocopy"),
        serde_json::json!({"Type": "volume", "Source": "v", "Target": "/v",
            "VolumeOptions": {"NoCopy": true, "DriverConfig": {}}})
    );
    assert_eq!(
        mount_json("dst=/v"),
        serde_json::json!({"Type": "volume", "Target": "/v"})
    );
    assert_eq!(
        mount_json("dst=/v,volume-nocopy=false")["VolumeOptions"],
        serde_json::json!({"DriverConfig": {}})
    );
    assert_eq!(
        mount_json(
            "type=volume,src=v,dst=/v,volume-driver=local,volume-label=a=b,volume-label=c,\
             volume-opt=type=nfs,volume-opt=o=addr=1.2.3.4,volume-opt==x,volume-subpath=sub"
        )["VolumeOptions"],
        serde_json::json!({
            "Labels": {"a": "b", "c": ""},
            "DriverConfig": {"Name": "local", "Options": {"type": "nfs", "o": "addr=1.2.3.4"}},
            "Subpath": "sub",
        })
    );
    assert_eq!(
        mount_json("type=image,src=alpine,dst=/i,image-subpath=etc")["ImageOptions"],
        serde_json::json!({"Subpath": "etc"})
    );
}

#[test]
fn tmpfs_mounts() {
    assert_eq!(
        mount_json("type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770"),
        serde_json::json!({"Type": "tmpfs", "Target": "/t",
            "TmpfsOptions": {"SizeBytes": 67108864, "Mode": 0o1770}})
    );
    assert_eq!(
        mount_json("type=tmpfs,dst=/t,tmpfs-size=1g")["TmpfsOptions"]["SizeBytes"],
        1i64 << 30
    );
    assert_eq!(
        mount_json("type=tmpfs,dst=/t,tmpfs-size=4096")["TmpfsOptions"]["SizeBytes"],
        4096
    );
    assert_eq!(
        mount_json("type=tmpfs,dst=/t,tmpfs-mode=0700")["TmpfsOptions"]["Mode"],
        0o700
    );
}

/// Each error is the docker CLI 28's own text (checked against `docker run --mount`).
#[test]
fn mount_errors_use_the_docker_cli_words() {
    for (spec, msg) in [
        ("foo=1", "unexpected key 'foo' in 'foo=1'"),
        ("dst=/a,FOO=1", "unexpected key 'foo' in 'FOO=1'"),
        ("dst=/a,=1", "unexpected key '' in '=1'"),
        ("foo", "invalid field 'foo' must be a key=value pair"),
        ("dst=/a,,ro", "invalid field '' must be a key=value pair"),
        ("type=bind", "target is required"),
        ("type=bind,src=/a,dst=", "target is required"),
        ("type=,dst=/a", "type is required"),
        ("ro=maybe,dst=/a", "invalid value for ro: maybe"),
        ("dst=/a,readonly=", "invalid value for readonly: "),
        ("dst=/a,volume-nocopy=x", "invalid value for volume-nocopy: x"),
        ("type=bind,dst=/a,bind-nonrecursive=x", "invalid value for bind-nonrecursive: x"),
        ("type=tmpfs,dst=/a,tmpfs-size=abc", "invalid value for tmpfs-size: abc"),
        ("type=tmpfs,dst=/a,tmpfs-size=-1", "invalid value for tmpfs-size: -1"),
        ("type=tmpfs,dst=/a,tmpfs-mode=9", "invalid value for tmpfs-mode: 9"),
        ("type=tmpfs,dst=/a,tmpfs-mode=", "invalid value for tmpfs-mode: "),
        ("type=tmpfs,dst=/a,tmpfs-mode=77777777777", "invalid value for tmpfs-mode: 77777777777"),
        (
            "type=bind,dst=/a,bind-recursive=bad",
            "invalid value for bind-recursive: bad (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")",
        ),
        (
            "type=volume,dst=/a,bind-propagation=rshared",
            "cannot mix 'bind-*' options with mount type 'volume'",
        ),
        (
            "type=tmpfs,dst=/a,bind-recursive=disabled",
            "cannot mix 'bind-*' options with mount type 'tmpfs'",
        ),
        (
            "type=tmpfs,dst=/a,volume-nocopy",
            "cannot mix 'volume-*' options with mount type 'tmpfs'",
        ),
        (
            "type=bind,dst=/a,volume-driver=x",
            "cannot mix 'volume-*' options with mount type 'bind'",
        ),
        (
            "type=bind,dst=/a,tmpfs-size=1m",
            "cannot mix 'tmpfs-*' options with mount type 'bind'",
        ),
        (
            "type=volume,dst=/a,tmpfs-mode=700",
            "cannot mix 'tmpfs-*' options with mount type 'volume'",
        ),
        (
            "dst=/a,image-subpath=x",
            "cannot mix 'image-*' options with mount type 'volume'",
        ),
        (
            "type=bind,src=/x,dst=/y,bind-recursive=readonly",
            "option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction",
        ),
        (
            "type=bind,src=/x,dst=/y,bind-recursive=readonly,ro",
            "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction",
        ),
        (
            "type=bind,src=/x,dst=/y,bind-recursive=writable",
            "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction",
        ),
        ("", "EOF"),
    ] {
        assert_eq!(parse_mount(spec).unwrap_err(), msg, "{spec}");
    }
    // The docker CLI leaves these to the daemon; the API types cannot carry them.
    assert_eq!(
        parse_mount("type=foo,dst=/a").unwrap_err(),
        "invalid mount config for type \"foo\": mount type unknown"
    );
    assert_eq!(
        parse_mount("type=bind,src=/a,dst=/a,bind-propagation=bad").unwrap_err(),
        "invalid propagation mode: bad"
    );
}
