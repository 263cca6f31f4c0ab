use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp};
use oci_spec::runtime::LinuxSeccomp;

use super::cache::{self, Cache};
use super::*;

fn parse(json: &str) -> LinuxSeccomp {
    serde_json::from_str(json).unwrap()
}

fn err(json: &str) -> String {
    plan(&parse(json)).unwrap_err().to_string()
}

#[test]
fn actions_map_as_runc_does() {
    let p = plan(&parse(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["a"],"action":"SCMP_ACT_KILL"},
            {"names":["a"],"action":"SCMP_ACT_KILL_THREAD"},
            {"names":["a"],"action":"SCMP_ACT_KILL_PROCESS"},
            {"names":["a"],"action":"SCMP_ACT_TRAP"},
            {"names":["a"],"action":"SCMP_ACT_ERRNO","errnoRet":38},
            {"names":["a"],"action":"SCMP_ACT_TRACE"},
            {"names":["a"],"action":"SCMP_ACT_LOG"},
            {"names":["a"],"action":"SCMP_ACT_ALLOW"}]}"#,
    ))
    .unwrap();
    assert_eq!(p.default_action, ScmpAction::Errno(libc::EPERM));
    let got: Vec<_> = p.rules.iter().map(|r| r.action).collect();
    assert_eq!(
        got,
        [
            ScmpAction::KillThread,
            ScmpAction::KillThread,
            ScmpAction::KillProcess,
            ScmpAction::Trap,
            ScmpAction::Errno(38),
            ScmpAction::Trace(libc::EPERM as u16),
            ScmpAction::Log,
            ScmpAction::Allow,
        ]
    );
    let p = plan(&parse(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1234}"#,
    ))
    .unwrap();
    assert_eq!(p.default_action, ScmpAction::Errno(1234));
}

#[test]
fn operators_map_and_masked_eq_takes_value_as_mask() {
    let p = plan(&parse(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["clone"],"action":"SCMP_ACT_ERRNO","args":[
            {"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"},
            {"index":1,"value":5,"op":"SCMP_CMP_NE"},
            {"index":2,"value":5,"op":"SCMP_CMP_LT"},
            {"index":3,"value":5,"op":"SCMP_CMP_LE"},
            {"index":4,"value":5,"op":"SCMP_CMP_GE"},
            {"index":5,"value":5,"op":"SCMP_CMP_GT"}]}]}"#,
    ))
    .unwrap();
    assert_eq!(
        p.rules[0].conditions,
        vec![vec![
            ScmpArgCompare::new(0, ScmpCompareOp::MaskedEqual(2114060288), 0),
            ScmpArgCompare::new(1, ScmpCompareOp::NotEqual, 5),
            ScmpArgCompare::new(2, ScmpCompareOp::Less, 5),
            ScmpArgCompare::new(3, ScmpCompareOp::LessOrEqual, 5),
            ScmpArgCompare::new(4, ScmpCompareOp::GreaterEqual, 5),
            ScmpArgCompare::new(5, ScmpCompareOp::Greater, 5),
        ]],
        "conditions on distinct arguments form one rule"
    );
}

#[test]
fn conditions_on_one_argument_are_alternatives() {
    // Docker's profile: personality(0), personality(8), personality(0x20000) each allowed.
    let p = plan(&parse(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[
            {"index":0,"value":0,"op":"SCMP_CMP_EQ"},
            {"index":0,"value":8,"op":"SCMP_CMP_EQ"}]}]}"#,
    ))
    .unwrap();
    assert_eq!(p.rules[0].conditions.len(), 2);
    assert_eq!(p.rule_count(), 2);
}

#[test]
fn architectures_map_to_libseccomp() {
    let p = plan(&parse(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32","SCMP_ARCH_AARCH64","SCMP_ARCH_NATIVE"]}"#,
    ))
    .unwrap();
    assert_eq!(
        p.archs,
        [
            ScmpArch::X8664,
            ScmpArch::X86,
            ScmpArch::X32,
            ScmpArch::Aarch64,
            ScmpArch::Native
        ]
    );
    // The multi-arch filter compiles (libseccomp translates each syscall per arch).
    compile::compile(&p).unwrap();
}

#[test]
fn flags_become_kernel_bits() {
    let p = plan(&parse(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW"]}"#,
    ))
    .unwrap();
    assert_eq!(p.flags, 1 | 2 | 4);
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}"#,
    );
    assert!(e.contains("linux.seccomp.flags[0]"), "{e}");
}

#[test]
fn notify_is_refused() {
    let e = err(r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock"}"#);
    assert!(
        e.contains("linux.seccomp.listenerPath") && e.contains("notify"),
        "{e}"
    );
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    );
    assert!(e.contains("linux.seccomp.syscalls[0].action"), "{e}");
    assert!(e.contains("SCMP_ACT_NOTIFY"), "{e}");
    let e: crate::error::Error = plan(&parse(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#))
        .unwrap_err()
        .into();
    assert!(e.to_string().ends_with("is not supported"), "{e}");
}

#[test]
fn malformed_fields_are_named() {
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ERRNO"},
            {"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":0,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    assert_eq!(
        e,
        "linux.seccomp.syscalls[1].args[0].index: 6 is out of range: a syscall has 6 arguments (0-5)"
    );
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":[],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    assert!(e.starts_with("linux.seccomp.syscalls[0].names:"), "{e}");
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ERRNO","errnoRet":70000}]}"#,
    );
    assert!(e.starts_with("linux.seccomp.syscalls[0].errnoRet:"), "{e}");
    let e: crate::error::Error = SeccompError::invalid("linux.seccomp.x", "bad").into();
    assert_eq!(e.to_string(), "invalid config: linux.seccomp.x: bad");
}

#[test]
fn unknown_enum_values_name_the_field_and_the_kind() {
    let text = r#"{"ociVersion":"1.0.2","linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["a"],"action":"SCMP_ACT_ALLOW"},{"names":["a"],"action":"SCMP_ACT_ALLOW"},
        {"names":["a"],"action":"SCMP_ACT_ALLOW"},{"names":["a"],"action":"SCMP_ACT_FOO"}]}}}"#;
    let e = crate::spec::parse(text).unwrap_err().to_string();
    assert!(
        e.contains(r#"linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO" (known: SCMP_ACT_ALLOW"#),
        "{e}"
    );
    let d = |path: &str, value: &str| {
        describe_parse_error(
            path,
            &format!("unknown variant `{value}`, expected one of `X`"),
        )
    };
    assert!(d("linux.seccomp.syscalls[0].args[1].op", "SCMP_CMP_FOO")
        .unwrap()
        .contains(r#"unknown operator "SCMP_CMP_FOO""#));
    assert!(d("linux.seccomp.architectures[2]", "SCMP_ARCH_Z80")
        .unwrap()
        .contains(r#"unknown architecture "SCMP_ARCH_Z80""#));
    assert!(d("linux.seccomp.flags[0]", "F")
        .unwrap()
        .contains(r#"unknown flag "F""#));
    assert!(d("linux.seccomp.defaultAction", "A")
        .unwrap()
        .contains(r#"unknown action "A""#));
    assert_eq!(d("linux.namespaces[0].type", "bogus"), None);
}

#[test]
fn unknown_syscalls_are_skipped() {
    let known = plan(&parse(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#,
    ))
    .unwrap();
    let with_unknown = plan(&parse(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["no_such_syscall_xyz","mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#,
    ))
    .unwrap();
    assert_eq!(
        compile::compile(&known).unwrap(),
        compile::compile(&with_unknown).unwrap(),
        "the unknown name adds nothing"
    );
}

#[test]
fn a_rule_with_the_default_action_is_ignored() {
    let p = plan(&parse(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"},
            {"names":["read"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#,
    ))
    .unwrap();
    // libseccomp would refuse the first with EACCES; the second differs by its errno.
    let bpf = compile::compile(&p).unwrap();
    assert!(!bpf.is_empty() && bpf.len() % 8 == 0);
}

fn profile() -> LinuxSeccomp {
    parse(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
}

#[test]
fn cache_miss_then_hit() {
    let root = tempfile::tempdir().unwrap();
    let s = profile();
    let c = Cache::new(root.path());
    let key = cache::key(&s);
    assert!(c.get(&key).is_none());
    let first = prepare(&s, Some(root.path())).unwrap();
    let path = c.path(&key);
    assert!(path.starts_with(root.path().join("@seccomp")), "{path:?}");
    let stored = c.get(&key).expect("stored on a miss");
    let second = prepare(&s, Some(root.path())).unwrap();
    assert_eq!(first.program_bytes(), stored);
    assert_eq!(second.program_bytes(), stored);
    // Nothing but the file itself is left in the directory (no temp files).
    let names: Vec<_> = std::fs::read_dir(root.path().join("@seccomp"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [path.file_name().unwrap()]);
}

#[test]
fn cache_key_ignores_formatting_but_not_content() {
    let a = profile();
    let b = parse(
        "{ \"syscalls\": [ { \"action\": \"SCMP_ACT_ERRNO\", \"names\": [\"mkdir\", \"mkdirat\"] } ],\n \"defaultAction\": \"SCMP_ACT_ALLOW\" }",
    );
    assert_eq!(cache::key(&a), cache::key(&b));
    let c = parse(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    assert_ne!(cache::key(&a), cache::key(&c));
}

#[test]
fn damaged_cache_files_are_rebuilt() {
    let root = tempfile::tempdir().unwrap();
    let s = profile();
    let good = prepare(&s, Some(root.path())).unwrap().program_bytes();
    let c = Cache::new(root.path());
    let path = c.path(&cache::key(&s));
    let whole = std::fs::read(&path).unwrap();
    let mut flipped = whole.clone();
    *flipped.last_mut().unwrap() ^= 0xff;
    let mut wrong_version = whole.clone();
    wrong_version[8] = 99;
    for damage in [
        Vec::new(),
        whole[..20].to_vec(),
        whole[..whole.len() - 8].to_vec(),
        flipped,
        wrong_version,
        b"garbage garbage garbage garbage garbage garbage garbage".to_vec(),
    ] {
        std::fs::write(&path, &damage).unwrap();
        assert!(c.get(&cache::key(&s)).is_none());
        let f = prepare(&s, Some(root.path())).unwrap();
        assert_eq!(f.program_bytes(), good);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            whole,
            "the file was rewritten"
        );
    }
}

#[test]
fn encode_decode_round_trip() {
    let program: Vec<u8> = (0..64).collect();
    let file = cache::encode(&program);
    assert_eq!(cache::decode(&file), Some(program.as_slice()));
    assert_eq!(cache::decode(&file[..47]), None);
}

#[test]
fn decode_rejects_partial_instructions() {
    assert!(Filter::decode(0, &[]).is_none());
    assert!(Filter::decode(0, &[0; 12]).is_none());
    assert!(Filter::decode(0, &vec![0; 8 * 4097]).is_none());
    assert_eq!(Filter::decode(0, &[0; 16]).unwrap().len(), 2);
}

#[test]
fn features_lists_what_is_supported() {
    let f = features();
    assert_eq!(f["enabled"], true);
    let archs = f["archs"].as_array().unwrap();
    assert!(archs.iter().any(|a| a == "SCMP_ARCH_X86_64"), "{f}");
    assert!(!f["actions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "SCMP_ACT_NOTIFY"));
    // Every kernel this runs on (4.17+) has TSYNC.
    assert!(f["supportedFlags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "SECCOMP_FILTER_FLAG_TSYNC"));
}

#[test]
fn an_architecture_libseccomp_cannot_add_names_the_field() {
    // A big-endian ABI cannot share a filter with little-endian x86_64 (and vice versa).
    let other = if cfg!(target_endian = "little") {
        "SCMP_ARCH_S390X"
    } else {
        "SCMP_ARCH_X86_64"
    };
    let s = parse(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_NATIVE","{other}"]}}"#
    ));
    let e = prepare(&s, None).unwrap_err().to_string();
    assert!(
        e.starts_with("linux.seccomp.architectures[1]: libseccomp refused it"),
        "{e}"
    );
}
