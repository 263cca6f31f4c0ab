//! Output formatting shared by the listing commands, matching Docker's go-units and
//! formatter packages: human durations ("About a minute"), decimal sizes ("4.26MB"),
//! binary sizes ("1.5MiB"), port lists, ellipsis truncation, tab-aligned tables and
//! Go-style indented JSON (which escapes `<`, `>` and `&`).

use serde_json::Value;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// go-units `HumanDuration`.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 1 {
        return "Less than a second".into();
    }
    if secs == 1 {
        return "1 second".into();
    }
    if secs < 60 {
        return format!("{secs} seconds");
    }
    let minutes = secs / 60;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (d.as_secs_f64() / 3600.0).round() as u64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", (d.as_secs_f64() / 3600.0 / 24.0 / 365.0) as u64)
}

/// "N units ago" for a unix timestamp in seconds.
pub fn since_unix(ts: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let d = Duration::from_secs(now.saturating_sub(ts).max(0) as u64);
    format!("{} ago", human_duration(d))
}

/// Go's `%.3g` followed by a unit: go-units `HumanSizeWithPrecision(size, 3)`, which
/// Docker's formatters use for every size they print.
fn size_with_units(size: f64, base: f64, units: &[&str], prec: i32) -> String {
    let mut size = size;
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    format!("{}{}", fmt_g(size, prec), units[i])
}

/// Go's `%.<prec>g` for non-negative numbers.
pub fn fmt_g(v: f64, prec: i32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let exp = v.abs().log10().floor() as i32;
    // Round to 4 significant digits first: rounding can bump the exponent.
    let decimals = (prec - 1 - exp).max(0) as usize;
    let rounded: f64 = format!("{v:.decimals$}").parse().unwrap_or(v);
    let exp = if rounded == 0.0 {
        0
    } else {
        rounded.abs().log10().floor() as i32
    };
    if exp >= prec || exp < -4 {
        let mant = rounded / 10f64.powi(exp);
        let digits = (prec - 1).max(0) as usize;
        let m = trim_zeros(&format!("{mant:.digits$}"));
        return format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    let decimals = (prec - 1 - exp).max(0) as usize;
    trim_zeros(&format!("{rounded:.decimals$}"))
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// go-units `HumanSize`: decimal units ("4.26MB").
pub fn human_size(bytes: f64) -> String {
    size_with_units(
        bytes,
        1000.0,
        &["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"],
        3,
    )
}

/// go-units `HumanSize`: decimal units with four digits ("1.986MB"), used by `system df`.
pub fn human_size4(bytes: f64) -> String {
    size_with_units(
        bytes,
        1000.0,
        &["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"],
        4,
    )
}

/// go-units `BytesSize`: binary units with four digits ("23.54GiB").
pub fn bytes_size(bytes: f64) -> String {
    size_with_units(
        bytes,
        1024.0,
        &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"],
        4,
    )
}

/// Docker's `formatter.Ellipsis`: cut to `max` characters, the last one being "…".
pub fn ellipsis(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Short form of an ID: strip `sha256:` and keep 12 characters.
pub fn short_id(id: &str) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.chars().take(12).collect()
}

/// One published or exposed port, as the container list reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub ip: String,
    pub private: u16,
    pub public: Option<u16>,
    pub proto: String,
}

/// Docker's `DisplayablePorts` (cli/command/formatter/container.go): ports sorted by
/// container port, then address, host port and protocol. Unpublished ports, and ports
/// published on the same number (`0.0.0.0:80->80/tcp`), fold into ranges per address and
/// protocol (`8000-8001/tcp`, `0.0.0.0:80-81->80-81/tcp`); every other mapping is listed
/// alone after them (`0.0.0.0:8000->80/tcp, 0.0.0.0:8001->81/tcp`), as Docker prints it.
pub fn display_ports(ports: &[Port]) -> String {
    let mut ports = ports.to_vec();
    ports.sort_by(|a, b| {
        (a.private, &a.ip, a.public.unwrap_or(0), &a.proto).cmp(&(
            b.private,
            &b.ip,
            b.public.unwrap_or(0),
            &b.proto,
        ))
    });
    // (ip, proto) → current run; keys kept in order of first appearance.
    let mut groups: Vec<((String, String), (u16, u16))> = Vec::new();
    let mut result: Vec<String> = Vec::new();
    let mut host_mappings: Vec<String> = Vec::new();
    for p in &ports {
        let public = p.public.unwrap_or(0);
        if !p.ip.is_empty() && public != p.private {
            host_mappings.push(format!(
                "{}->{}/{}",
                join_host_port(&p.ip, &public.to_string()),
                p.private,
                p.proto
            ));
            continue;
        }
        let key = (p.ip.clone(), p.proto.clone());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            None => groups.push((key, (p.private, p.private))),
            Some((_, (first, last))) => {
                if u32::from(p.private) == u32::from(*last) + 1 {
                    *last = p.private;
                } else {
                    result.push(form_group(&key.0, &key.1, *first, *last));
                    (*first, *last) = (p.private, p.private);
                }
            }
        }
    }
    for ((ip, proto), (first, last)) in &groups {
        result.push(form_group(ip, proto, *first, *last));
    }
    result.extend(host_mappings);
    result.join(", ")
}

fn form_group(ip: &str, proto: &str, first: u16, last: u16) -> String {
    let mut group = first.to_string();
    if first != last {
        group = format!("{group}-{last}");
    }
    if !ip.is_empty() {
        group = format!("{}->{group}", join_host_port(ip, &group));
    }
    format!("{group}/{proto}")
}

/// Go's `net.JoinHostPort`: IPv6 addresses in brackets.
pub fn join_host_port(ip: &str, port: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// `sortorder.NaturalLess`: runs of digits compare as numbers, the rest byte by byte.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let na = std::str::from_utf8(&a[si..i])
                .unwrap_or("0")
                .trim_start_matches('0');
            let nb = std::str::from_utf8(&b[sj..j])
                .unwrap_or("0")
                .trim_start_matches('0');
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

/// Docker's tables: Go's `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`.
pub fn table_writer<W: Write>(w: W) -> tabwriter::TabWriter<W> {
    // Go counts the padding inside minwidth; the Rust crate adds it after.
    tabwriter::TabWriter::new(w).minwidth(10 - 3).padding(3)
}

/// Print rows of tab-separated cells, aligned as Docker aligns them.
pub fn print_table(rows: &[String]) -> std::io::Result<()> {
    let mut tw = table_writer(Vec::new());
    for r in rows {
        writeln!(tw, "{r}")?;
    }
    tw.flush()?;
    let buf = tw
        .into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    out.write_all(&buf)?;
    out.flush()
}

/// Docker's container "Names" column: names without the leading slash, skipping links.
pub fn container_names(names: &[String]) -> String {
    names
        .iter()
        .map(|n| n.strip_prefix('/').unwrap_or(n))
        .filter(|n| !n.contains('/'))
        .collect::<Vec<_>>()
        .join(",")
}

/// Labels as "k=v,k2=v2" (sorted, as Go's map iteration is not, but stable output is kinder).
pub fn labels_string(labels: &Value) -> String {
    let Some(o) = labels.as_object() else {
        return String::new();
    };
    let mut v: Vec<String> = o
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    v.sort();
    v.join(",")
}

/// Format a unix time (seconds) as Docker's `CreatedAt`: "2006-01-02 15:04:05 -0700 MST" in UTC.
pub fn created_at(ts: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(ts.max(0) as u64);
    let s = humantime::format_rfc3339_seconds(t).to_string();
    // "2026-11-22T13:38:48Z" -> "2026-11-22 13:38:48 +0000 UTC"
    format!("{} {} +0000 UTC", &s[..10], &s[11..19])
}
