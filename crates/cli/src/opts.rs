//! Parsing of flag values whose syntax Docker defines: memory sizes (go-units
//! `RAMInBytes`), env files (`opts.ParseEnvFile`), CPU counts, restart policies, port
//! specs, the time arguments of `logs`/`events` (`--since 10m`, RFC 3339, unix time) and
//! `--mount` specs (docker CLI 28's `opts.MountOpt`: one CSV record of key=value fields).
//! Error messages follow Docker's so that scripts matching on them keep working.

use bollard::models::{
    Mount, MountBindOptions, MountBindOptionsPropagationEnum, MountImageOptions, MountTmpfsOptions,
    MountType, MountVolumeOptions, MountVolumeOptionsDriverConfig,
};
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// go-units `RAMInBytes`: "64m", "1g", "512k", "1.5GiB", plain bytes; binary multipliers.
/// A value without a leading number is an "invalid size", an unknown unit an "invalid suffix".
pub fn parse_memory(s: &str) -> Result<i64, String> {
    let sep = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let num = &s[..sep];
    let v: f64 = match num.parse() {
        Ok(v) if sep > 0 => v,
        _ => return Err(format!("invalid size: '{s}'")),
    };
    let raw_sfx = s[sep..].trim();
    let sfx = raw_sfx.to_lowercase();
    let bad_sfx = || format!("invalid suffix: '{raw_sfx}'");
    let mut chars = sfx.chars();
    let mult: i64 = match chars.next() {
        None => return Ok(v as i64),
        Some('b') if sfx.len() == 1 => return Ok(v as i64),
        Some('k') => 1 << 10,
        Some('m') => 1 << 20,
        Some('g') => 1 << 30,
        Some('t') => 1 << 40,
        Some('p') => 1 << 50,
        _ => return Err(bad_sfx()),
    };
    match chars.as_str() {
        "" | "b" | "i" | "ib" => Ok((v * mult as f64) as i64),
        _ => Err(bad_sfx()),
    }
}

/// Docker's `--cpus`: a decimal number of CPUs to NanoCPUs.
pub fn parse_cpus(s: &str) -> Result<i64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("failed to parse {s} as a rational number"))?;
    let nano = v * 1e9;
    if (nano - nano.round()).abs() > 1e-6 {
        return Err("value is too precise".into());
    }
    Ok(nano.round() as i64)
}

/// Parse an env file as Docker does: `#` comments and blank lines skipped, `K=V` kept
/// verbatim, a bare `K` taken from our environment (and dropped if unset).
pub fn parse_env_file(content: &str, path: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (n, line) in content.lines().enumerate() {
        let line = if n == 0 {
            line.trim_start_matches('\u{feff}')
        } else {
            line
        };
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (var, value) = match trimmed.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (trimmed, None),
        };
        if var.is_empty() {
            return Err(format!(
                "invalid env file ({path}): no variable name on line '{trimmed}'"
            ));
        }
        if var.contains(char::is_whitespace) {
            return Err(format!(
                "invalid env file ({path}): variable '{var}' contains whitespaces"
            ));
        }
        match value {
            Some(v) => out.push(format!("{var}={v}")),
            None => {
                if let Ok(v) = std::env::var(var) {
                    out.push(format!("{var}={v}"));
                }
            }
        }
    }
    Ok(out)
}

/// `-e K` without a value takes K from our environment, as Docker does.
pub fn expand_env(e: &str) -> String {
    if e.contains('=') {
        return e.to_string();
    }
    match std::env::var(e) {
        Ok(v) => format!("{e}={v}"),
        Err(_) => e.to_string(),
    }
}

/// A restart policy: "no", "always", "unless-stopped", "on-failure[:N]".
pub fn parse_restart(s: &str) -> Result<(String, Option<i64>), String> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (n, Some(c)),
        None => (s, None),
    };
    let count = match count {
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| format!("invalid restart policy format: maximum retry count must be an integer: strconv.Atoi: parsing \"{c}\": invalid syntax"))?,
        ),
        None => None,
    };
    match name {
        "" | "no" | "always" | "unless-stopped" | "on-failure" => {}
        _ => return Err(format!("invalid restart policy '{name}'")),
    }
    if count.is_some() && name != "on-failure" {
        return Err(
            "invalid restart policy format: maximum retry count can only be used with 'on-failure'"
                .to_string(),
        );
    }
    Ok((
        if name.is_empty() {
            "no".into()
        } else {
            name.into()
        },
        count,
    ))
}

/// A label or key=value pair list into a map; a bare key gets an empty value.
pub fn kv_map(items: &[String]) -> HashMap<String, String> {
    items
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

/// Go's `encoding/csv` reading the first record of `line` with default settings: fields
/// split on commas, a field may be quoted (`""` inside is a quote), a quote elsewhere is an
/// error. Errors are Go's words ("EOF" for an empty line, then the parse errors with
/// 1-based byte columns).
pub fn split_csv_record(line: &str) -> Result<Vec<String>, String> {
    if line.is_empty() {
        return Err("EOF".into());
    }
    let quote_err = |col: usize| {
        format!("parse error on line 1, column {col}: extraneous or missing \" in quoted-field")
    };
    let b = line.as_bytes();
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        if b.get(i) == Some(&b'"') {
            let mut field = Vec::new();
            let mut j = i + 1;
            loop {
                match (b.get(j), b.get(j + 1)) {
                    (None, _) => return Err(quote_err(j + 1)),
                    (Some(b'"'), Some(b'"')) => {
                        field.push(b'"');
                        j += 2;
                    }
                    (Some(b'"'), Some(b',')) => {
                        fields.push(String::from_utf8_lossy(&field).into_owned());
                        i = j + 2;
                        break;
                    }
                    (Some(b'"'), None) => {
                        fields.push(String::from_utf8_lossy(&field).into_owned());
                        return Ok(fields);
                    }
                    (Some(b'"'), Some(_)) => return Err(quote_err(j + 1)),
                    (Some(&c), _) => {
                        field.push(c);
                        j += 1;
                    }
                }
            }
        } else {
            let end = line[i..].find(',').map_or(line.len(), |k| i + k);
            let field = &line[i..end];
            if let Some(q) = field.find('"') {
                return Err(format!(
                    "parse error on line 1, column {}: bare \" in non-quoted-field",
                    i + q + 1
                ));
            }
            fields.push(field.to_owned());
            if end == line.len() {
                return Ok(fields);
            }
            i = end + 1;
        }
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// One `--mount` spec, as docker CLI 28's `MountOpt.Set` reads it: keys are
/// case-insensitive, `type` defaults to volume, a `bind-*`/`volume-*`/`tmpfs-*`/`image-*`
/// option refuses another type, and a relative `./src` becomes absolute. The error
/// words are the docker CLI's; the caller adds the `invalid argument … for "--mount"`
/// prefix. A type or propagation the API does not know is refused here, where the
/// docker CLI leaves it to the daemon.
pub fn parse_mount(spec: &str) -> Result<Mount, String> {
    let fields = split_csv_record(spec)?;
    let mut typ = String::from("volume");
    let mut m = Mount::default();
    let mut bind: Option<MountBindOptions> = None;
    let mut volume: Option<MountVolumeOptions> = None;
    let mut tmpfs: Option<MountTmpfsOptions> = None;
    let mut image: Option<MountImageOptions> = None;
    let invalid = |key: &str, val: &str| format!("invalid value for {key}: {val}");
    let set_kv = |map: &mut Option<HashMap<String, String>>, kv: &str| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        if !k.is_empty() {
            map.get_or_insert_with(HashMap::new)
                .insert(k.to_owned(), v.to_owned());
        }
    };
    for field in &fields {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), v),
            None => {
                match field.to_lowercase().as_str() {
                    "readonly" | "ro" => m.read_only = Some(true),
                    "volume-nocopy" => volume_options(&mut volume).no_copy = Some(true),
                    "bind-nonrecursive" => {
                        bind.get_or_insert_with(Default::default).non_recursive = Some(true)
                    }
                    _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
                }
                continue;
            }
        };
        match key.as_str() {
            "type" => typ = val.to_lowercase(),
            "source" | "src" => {
                m.source = Some(if val == "." || val.starts_with("./") {
                    absolute(val)
                } else {
                    val.to_owned()
                })
            }
            "target" | "dst" | "destination" => m.target = Some(val.to_owned()),
            "readonly" | "ro" => {
                m.read_only = parse_go_bool(val)
                    .ok_or_else(|| invalid(&key, val))?
                    .then_some(true)
            }
            "consistency" => m.consistency = Some(val.to_lowercase()),
            "bind-propagation" => {
                let b = bind.get_or_insert_with(Default::default);
                b.propagation = match val.to_lowercase().as_str() {
                    "" => None,
                    p => Some(
                        p.parse::<MountBindOptionsPropagationEnum>()
                            .map_err(|_| format!("invalid propagation mode: {p}"))?,
                    ),
                };
            }
            "bind-nonrecursive" => {
                let v = parse_go_bool(val).ok_or_else(|| invalid(&key, val))?;
                bind.get_or_insert_with(Default::default).non_recursive = v.then_some(true);
            }
            "bind-recursive" => match val {
                "enabled" => {}
                "disabled" => {
                    bind.get_or_insert_with(Default::default).non_recursive = Some(true)
                }
                "writable" => {
                    bind.get_or_insert_with(Default::default).read_only_non_recursive = Some(true)
                }
                "readonly" => {
                    bind.get_or_insert_with(Default::default)
                        .read_only_force_recursive = Some(true)
                }
                _ => {
                    return Err(format!(
                        "invalid value for {key}: {val} (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")"
                    ))
                }
            },
            "volume-subpath" => {
                volume_options(&mut volume).subpath = Some(val.to_owned())
            }
            "volume-nocopy" => {
                let v = parse_go_bool(val).ok_or_else(|| invalid(&key, val))?;
                volume_options(&mut volume).no_copy = v.then_some(true);
            }
            "volume-label" => set_kv(&mut volume_options(&mut volume).labels, val),
            "volume-driver" => {
                volume
                    .get_or_insert_with(Default::default)
                    .driver_config
                    .get_or_insert_with(Default::default)
                    .name = Some(val.to_owned())
            }
            "volume-opt" => {
                let driver: &mut MountVolumeOptionsDriverConfig = volume
                    .get_or_insert_with(Default::default)
                    .driver_config
                    .get_or_insert_with(Default::default);
                set_kv(&mut driver.options, val);
            }
            "image-subpath" => {
                image.get_or_insert_with(Default::default).subpath = Some(val.to_owned())
            }
            "tmpfs-size" => {
                let size = parse_memory(val).map_err(|_| invalid(&key, val))?;
                tmpfs.get_or_insert_with(Default::default).size_bytes = Some(size);
            }
            "tmpfs-mode" => {
                let mode = (!val.is_empty() && val.bytes().all(|c| (b'0'..=b'7').contains(&c)))
                    .then(|| u32::from_str_radix(val, 8).ok())
                    .flatten()
                    .ok_or_else(|| invalid(&key, val))?;
                tmpfs.get_or_insert_with(Default::default).mode = Some(i64::from(mode));
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if typ.is_empty() {
        return Err("type is required".into());
    }
    if m.target.is_none() || m.target.as_deref() == Some("") {
        return Err("target is required".into());
    }
    for (set, prefix, owner) in [
        (volume.is_some(), "volume", "volume"),
        (image.is_some(), "image", "image"),
        (bind.is_some(), "bind", "bind"),
        (tmpfs.is_some(), "tmpfs", "tmpfs"),
    ] {
        if set && typ != owner {
            return Err(format!(
                "cannot mix '{prefix}-*' options with mount type '{typ}'"
            ));
        }
    }
    if let Some(b) = &bind {
        let read_only = m.read_only == Some(true);
        if b.read_only_non_recursive == Some(true) && !read_only {
            return Err(
                "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction"
                    .into(),
            );
        }
        if b.read_only_force_recursive == Some(true) {
            if !read_only {
                return Err("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction".into());
            }
            if b.propagation != Some(MountBindOptionsPropagationEnum::RPRIVATE) {
                return Err("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction".into());
            }
        }
    }
    m.typ = Some(
        typ.parse::<MountType>()
            .map_err(|_| format!("invalid mount config for type \"{typ}\": mount type unknown"))?,
    );
    m.bind_options = bind;
    m.volume_options = volume;
    m.tmpfs_options = tmpfs;
    m.image_options = image;
    Ok(m)
}

/// The docker CLI's `volumeOptions()`: made on first use, always with a (possibly
/// empty) `DriverConfig`, which is therefore sent as `{}` as docker sends it.
fn volume_options(v: &mut Option<MountVolumeOptions>) -> &mut MountVolumeOptions {
    v.get_or_insert_with(|| MountVolumeOptions {
        driver_config: Some(MountVolumeOptionsDriverConfig::default()),
        ..Default::default()
    })
}

/// Go's `filepath.Abs` for a `./`-relative mount source.
fn absolute(p: &str) -> String {
    let Ok(cwd) = std::env::current_dir() else {
        return p.to_owned();
    };
    let mut out = cwd;
    for c in std::path::Path::new(p).components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out.to_string_lossy().into_owned()
}

/// One container port of a `-p` spec and the host side it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// The container port key, "80/tcp".
    pub port: String,
    /// The host address, "" for all.
    pub host_ip: String,
    /// The host port: "", "8080", or a range "8000-8010" to allocate from.
    pub host_port: String,
}

/// go-connections `ParsePortRange`: "80" or "8000-8010" (end not before start).
pub fn parse_port_range(ports: &str) -> Result<(u16, u16), String> {
    if ports.is_empty() {
        return Err("empty string specified for ports".into());
    }
    let num = |s: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("strconv.ParseUint: parsing \"{s}\": invalid syntax"))
    };
    let Some((a, rest)) = ports.split_once('-') else {
        let p = num(ports)?;
        return Ok((p, p));
    };
    let b = rest.split('-').next().unwrap_or_default();
    let (start, end) = (num(a)?, num(b)?);
    if end < start {
        return Err(format!("invalid range specified for port: {ports}"));
    }
    Ok((start, end))
}

/// go-connections `SplitProtoPort`: "80/udp" → ("udp", "80"); the protocol defaults to tcp.
pub fn split_proto_port(raw: &str) -> (String, String) {
    let parts: Vec<&str> = raw.split('/').collect();
    if raw.is_empty() || parts[0].is_empty() {
        return (String::new(), String::new());
    }
    match parts.get(1) {
        None | Some(&"") => ("tcp".into(), parts[0].into()),
        Some(p) => ((*p).into(), parts[0].into()),
    }
}

/// A `-p` spec, `[ip:][hostPort:]containerPort[/proto]`, as go-connections'
/// `ParsePortSpec` reads it: one mapping per container port of a range
/// (`8000-8001:80-81` binds 80→8000 and 81→8001); a host range for a single container
/// port (`8000-8010:80`) is kept whole for the daemon to pick from.
pub fn parse_port_spec(raw: &str) -> Result<Vec<PortMapping>, String> {
    if raw.contains('=') {
        return parse_port_spec(&standard_notation(raw)?);
    }
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let (ip, host, ctr) = match n {
        1 => (String::new(), "", parts[0]),
        2 => (String::new(), parts[0], parts[1]),
        3 => (parts[0].to_string(), parts[1], parts[2]),
        _ => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    };
    let (proto, ctr) = split_proto_port(ctr);
    let mut ip = ip;
    if let Some(inner) = ip.strip_prefix('[') {
        match inner.strip_suffix(']') {
            Some(i) if !i.contains(['[', ']']) => ip = i.to_string(),
            _ => {
                return Err(format!(
                    "invalid IP address {ip}: address {ip}:: missing ']' in address"
                ))
            }
        }
    }
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }
    if ctr.is_empty() {
        return Err(format!("no port specified: {raw}<empty>"));
    }
    let (start, end) =
        parse_port_range(&ctr).map_err(|_| format!("invalid containerPort: {ctr}"))?;
    let (hstart, hend) = if host.is_empty() {
        (0, 0)
    } else {
        parse_port_range(host).map_err(|_| format!("invalid hostPort: {host}"))?
    };
    if !host.is_empty() && end - start != hend - hstart && end != start {
        return Err(format!(
            "invalid ranges specified for container and host Ports: {ctr} and {host}"
        ));
    }
    let proto = proto.to_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let count = u32::from(end - start) + 1;
    Ok((0..count)
        .map(|i| {
            let host_port = if host.is_empty() {
                String::new()
            } else if count == 1 && hstart != hend {
                format!("{hstart}-{hend}")
            } else {
                (u32::from(hstart) + i).to_string()
            };
            PortMapping {
                port: format!("{}/{proto}", u32::from(start) + i),
                host_ip: ip.clone(),
                host_port,
            }
        })
        .collect())
}

/// The docker CLI's `convertToStandardNotation`: the long form
/// `published=8080,target=80,protocol=udp` as `8080:80/udp`.
fn standard_notation(raw: &str) -> Result<String, String> {
    let mut params: HashMap<&str, &str> = HashMap::from([("protocol", "tcp")]);
    for param in raw.split(',') {
        match param.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                params.insert(k, v);
            }
            _ => {
                return Err(format!(
                    "invalid publish opts format (should be name=value but got '{param}')"
                ))
            }
        }
    }
    let get = |k: &str| params.get(k).copied().unwrap_or_default();
    Ok(format!(
        "{}:{}/{}",
        get("published"),
        get("target"),
        get("protocol")
    ))
}

/// `--expose 80`, `--expose 8000-8010/udp`: the container port keys, as the docker CLI
/// expands them.
pub fn parse_expose(e: &str) -> Result<Vec<String>, String> {
    if e.contains(':') {
        return Err(format!("invalid port format for --expose: {e}"));
    }
    let (proto, port) = split_proto_port(e);
    let (start, end) = parse_port_range(&port)
        .map_err(|err| format!("invalid range format for --expose: {e}, error: {err}"))?;
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// `--since`/`--until`: RFC 3339, unix seconds, or a duration before now ("10m").
/// Returns unix seconds with a fractional part, as Docker sends it.
pub fn parse_time_arg(s: &str, now: SystemTime) -> Result<String, String> {
    if s.chars().all(|c| c.is_ascii_digit() || c == '.') && !s.is_empty() {
        return Ok(s.to_string());
    }
    let secs = |t: SystemTime| -> String {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
    };
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(secs(now.checked_sub(d).unwrap_or(UNIX_EPOCH)));
    }
    if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        return Ok(secs(t));
    }
    if let Ok(t) = humantime::parse_rfc3339_weak(&format!("{s}T00:00:00")) {
        return Ok(secs(t));
    }
    Err(format!(
        "failed to parse value as time or duration: \"{s}\""
    ))
}

/// Docker's filter flags, `--filter k=v`, grouped by key.
pub fn parse_filters(items: &[String]) -> Result<HashMap<String, Vec<String>>, String> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for f in items {
        let Some((k, v)) = f.split_once('=') else {
            return Err("bad format of filter (expected name=value)".to_string());
        };
        m.entry(k.trim().to_lowercase())
            .or_default()
            .push(v.trim().to_string());
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory() {
        assert_eq!(parse_memory("64m"), Ok(64 << 20));
        assert_eq!(parse_memory("1g"), Ok(1 << 30));
        assert_eq!(parse_memory("512k"), Ok(512 << 10));
        assert_eq!(parse_memory("1024"), Ok(1024));
        assert_eq!(parse_memory("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_memory("32MB"), Ok(32 << 20));
        assert!(parse_memory("foo").is_err());
        assert!(parse_memory("").is_err());
        assert_eq!(parse_memory("12x").unwrap_err(), "invalid suffix: 'x'");
        assert!(parse_memory("-1").is_err());
        assert_eq!(parse_memory("foo").unwrap_err(), "invalid size: 'foo'");
    }

    #[test]
    fn restart() {
        assert_eq!(parse_restart("always").unwrap(), ("always".into(), None));
        assert_eq!(
            parse_restart("on-failure:3").unwrap(),
            ("on-failure".into(), Some(3))
        );
        assert!(parse_restart("sometimes").is_err());
        assert!(parse_restart("always:3").is_err());
    }

    #[test]
    fn publish() {
        let m = |port: &str, ip: &str, host: &str| PortMapping {
            port: port.into(),
            host_ip: ip.into(),
            host_port: host.into(),
        };
        assert_eq!(
            parse_port_spec("127.0.0.1:8080:80").unwrap(),
            vec![m("80/tcp", "127.0.0.1", "8080")]
        );
        assert_eq!(
            parse_port_spec("53/udp").unwrap(),
            vec![m("53/udp", "", "")]
        );
        assert_eq!(
            parse_port_spec("x:y").unwrap_err(),
            "invalid containerPort: y"
        );
    }
}
