//! Parsing of flag values whose syntax Docker defines: memory sizes (go-units
//! `RAMInBytes`), env files (`opts.ParseEnvFile`), CPU counts, restart policies, port
//! specs and the time arguments of `logs`/`events` (`--since 10m`, RFC 3339, unix time).
//! Error messages follow Docker's so that scripts matching on them keep working.

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

/// A `-p` spec: `[ip:][hostPort:]containerPort[/proto]`, returns
/// (container port key "80/tcp", host ip, host port).
pub fn parse_publish(s: &str) -> Result<(String, String, String), String> {
    let (spec, proto) = match s.rsplit_once('/') {
        Some((a, p)) => (a, p),
        None => (s, "tcp"),
    };
    let parts: Vec<&str> = if spec.starts_with('[') {
        // [::1]:8080:80
        let end = spec
            .find(']')
            .ok_or_else(|| format!("invalid port format: {s}"))?;
        let ip = &spec[1..end];
        let rest: Vec<&str> = spec[end + 1..].trim_start_matches(':').split(':').collect();
        let mut v = vec![ip];
        v.extend(rest);
        v
    } else {
        spec.split(':').collect()
    };
    let (ip, host, ctr) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [ip, h, c] => (*ip, *h, *c),
        _ => return Err(format!("invalid proto: {s}")),
    };
    if ctr.is_empty() || ctr.split('-').any(|p| p.parse::<u16>().is_err()) {
        return Err(format!("invalid containerPort: {ctr}"));
    }
    if !host.is_empty() && host.split('-').any(|p| p.parse::<u16>().is_err()) {
        return Err(format!("invalid hostPort: {host}"));
    }
    Ok((format!("{ctr}/{proto}"), ip.to_string(), host.to_string()))
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
        assert_eq!(
            parse_publish("127.0.0.1:8080:80").unwrap(),
            ("80/tcp".into(), "127.0.0.1".into(), "8080".into())
        );
        assert_eq!(
            parse_publish("53/udp").unwrap(),
            ("53/udp".into(), "".into(), "".into())
        );
        assert!(parse_publish("x:y").is_err());
    }
}
