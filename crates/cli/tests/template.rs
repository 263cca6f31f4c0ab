//! The Go-template subset, as `inspect -f`, `ps --format` and `events --format` use it.

use berth_cli::template::{render, Template};
use serde_json::json;

fn r(t: &str, v: &serde_json::Value) -> String {
    render(t, v).unwrap_or_else(|e| panic!("{t}: {e}"))
}

#[test]
fn inspect_style_fields() {
    let v = json!({
        "Id": "abc",
        "State": {"Status": "running", "Pid": 1234, "Running": true, "ExitCode": 0},
        "Config": {"Labels": {"com.example.x": "1"}, "Env": ["A=1", "B=2"], "Cmd": ["sh", "-c", "x"]},
        "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}},
    });
    assert_eq!(r("{{.State.Pid}}", &v), "1234");
    assert_eq!(r("{{.State.Running}}", &v), "true");
    assert_eq!(r("{{json .Config.Cmd}}", &v), r#"["sh","-c","x"]"#);
    assert_eq!(r("{{json .Config.Labels}}", &v), r#"{"com.example.x":"1"}"#);
    assert_eq!(r(r#"{{index .Config.Labels "com.example.x"}}"#, &v), "1");
    assert_eq!(r(r#"{{index .Config.Labels "nope"}}"#, &v), "");
    assert_eq!(r("{{range .Config.Env}}{{.}} {{end}}", &v), "A=1 B=2 ");
    assert_eq!(r(r#"{{join .Config.Env ","}}"#, &v), "A=1,B=2");
    assert_eq!(
        r(
            r#"{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}"#,
            &v
        ),
        "8080"
    );
    assert_eq!(
        r(
            r#"{{range $p, $b := .NetworkSettings.Ports}}{{$p}}->{{(index $b 0).HostPort}}{{end}}"#,
            &v
        ),
        "80/tcp->8080"
    );
    assert_eq!(r("{{.Config.Cmd}}", &v), "[sh -c x]");
    assert_eq!(r("{{.Missing}}", &v), "<no value>");
}

#[test]
fn conditionals_and_functions() {
    let v = json!({"Status": "exited", "Code": 3, "Empty": "", "Name": "Web"});
    assert_eq!(r("{{if .Empty}}a{{else}}b{{end}}", &v), "b");
    assert_eq!(
        r(
            r#"{{if eq .Status "running"}}up{{else if eq .Code 3}}three{{end}}"#,
            &v
        ),
        "three"
    );
    assert_eq!(r("{{upper .Status}} {{lower .Name}}", &v), "EXITED web");
    assert_eq!(r("{{.Status | upper}}", &v), "EXITED");
    assert_eq!(r("{{with .Name}}<{{.}}>{{end}}", &v), "<Web>");
    assert_eq!(r("{{.}}", &json!("plain")), "plain");
    assert_eq!(r("{{len .Name}}", &v), "3");
    assert_eq!(r(r#"{{printf "%s:%d" .Status .Code}}"#, &v), "exited:3");
    assert_eq!(r("a {{- .Code -}} b", &v), "a3b");
}

#[test]
fn json_escapes_like_go() {
    assert_eq!(
        r("{{json .}}", &json!("a<b>&c")),
        r#""a\u003cb\u003e\u0026c""#
    );
}

#[test]
fn parse_errors() {
    for bad in [
        "{{if .A}}",
        "{{end}}",
        "{{.A",
        "{{range .A}}{{else}}",
        "{{else}}",
    ] {
        assert!(Template::parse(bad).is_err(), "{bad} should not parse");
    }
    assert!(render("{{nosuchfunc .}}", &json!({})).is_err());
    assert!(render("{{.A.B}}", &json!({"A": "str"})).is_err());
}
