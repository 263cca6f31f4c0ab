//! Reading a container's json-file log (Docker's on-disk format, written by the
//! shim): `tail`, `since`, `until`, stream selection, and `follow`, which keeps
//! reading as the shim appends and across rotations.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One log line as stored.
#[derive(Debug, Clone, Deserialize)]
pub struct Line {
    pub log: String,
    pub stream: String,
    pub time: String,
}

impl Line {
    pub fn nanos(&self) -> i128 {
        parse_time(&self.time).unwrap_or(0)
    }
}

/// RFC 3339 (with nanoseconds) to Unix nanoseconds.
pub fn parse_time(s: &str) -> Option<i128> {
    let t = humantime::parse_rfc3339_weak(s).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(d.as_nanos() as i128)
}

/// Docker's `since`/`until`: Unix seconds with an optional fraction
/// (`1700000000.123456789`), or RFC 3339.
pub fn parse_timestamp(s: &str) -> Option<i128> {
    if s.is_empty() {
        return None;
    }
    if let Some(n) = parse_time(s) {
        return Some(n);
    }
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i128 = secs.parse().ok()?;
    let mut frac = frac.to_owned();
    frac.truncate(9);
    while frac.len() < 9 {
        frac.push('0');
    }
    Some(secs * 1_000_000_000 + frac.parse::<i128>().ok()?)
}

/// The log files of `path`, oldest first (`log.N` … `log.1`, `log`).
pub fn files(path: &Path) -> Vec<PathBuf> {
    let mut rotated = Vec::new();
    for n in 1.. {
        let p = PathBuf::from(format!("{}.{n}", path.display()));
        if !p.exists() {
            break;
        }
        rotated.push(p);
    }
    rotated.reverse();
    rotated.push(path.to_owned());
    rotated
}

/// Every line stored now, oldest first, and where the live file ends (its inode and
/// length) for a follower to continue from.
pub fn read_all(path: &Path) -> (Vec<Line>, Position) {
    let mut lines = Vec::new();
    let mut pos = Position::default();
    for f in files(path) {
        let ino = std::fs::metadata(&f)
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .unwrap_or(0);
        let offset = read_from(&f, 0, &mut lines);
        if f == path {
            pos = Position { ino, offset };
        }
    }
    (lines, pos)
}

/// Where a follower is in the live log file.
#[derive(Debug, Clone, Copy, Default)]
pub struct Position {
    pub ino: u64,
    pub offset: u64,
}

/// New whole lines since `pos`; a rotated-away file is finished from its renamed
/// copy (`log.1`) before the new live file is read from its start.
pub fn read_new(path: &Path, pos: &mut Position) -> Vec<Line> {
    let mut out = Vec::new();
    let live_ino = std::fs::metadata(path)
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .unwrap_or(0);
    if live_ino != pos.ino && pos.ino != 0 {
        // Rotated: finish the old file, which is now `log.1`.
        let old = PathBuf::from(format!("{}.1", path.display()));
        if std::fs::metadata(&old)
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .ok()
            == Some(pos.ino)
        {
            read_from(&old, pos.offset, &mut out);
        }
        *pos = Position {
            ino: live_ino,
            offset: 0,
        };
    }
    if pos.ino == 0 {
        pos.ino = live_ino;
    }
    pos.offset = read_from(path, pos.offset, &mut out);
    out
}

/// Appends the whole lines of `path` from `offset` to `out`; returns the offset after
/// the last whole line (a line being written is left for the next read).
fn read_from(path: &Path, offset: u64, out: &mut Vec<Line>) -> u64 {
    let Ok(mut file) = std::fs::File::open(path) else {
        return offset;
    };
    if file.seek(SeekFrom::Start(offset)).is_err() {
        return offset;
    }
    let mut reader = BufReader::new(file);
    let mut consumed = offset;
    let mut buf = String::new();
    loop {
        buf.clear();
        match reader.read_line(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if !buf.ends_with('\n') {
                    break;
                }
                consumed += n as u64;
                if let Ok(l) = serde_json::from_str::<Line>(&buf) {
                    out.push(l);
                }
            }
        }
    }
    consumed
}

/// Which lines a `logs` request wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub stdout: bool,
    pub stderr: bool,
    pub since: Option<i128>,
    pub until: Option<i128>,
    pub timestamps: bool,
    /// Docker's 8-byte framing (no terminal) or raw bytes.
    pub framed: bool,
}

impl Filter {
    pub fn wants(&self, l: &Line) -> bool {
        let stream_ok = match l.stream.as_str() {
            "stdout" => self.stdout,
            "stderr" => self.stderr,
            _ => false,
        };
        if !stream_ok {
            return false;
        }
        let t = l.nanos();
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t <= u)
    }

    /// The bytes to send for one line.
    pub fn encode(&self, l: &Line, out: &mut Vec<u8>) {
        let mut payload = Vec::with_capacity(l.log.len() + 32);
        if self.timestamps {
            payload.extend_from_slice(l.time.as_bytes());
            payload.push(b' ');
        }
        payload.extend_from_slice(l.log.as_bytes());
        if self.framed {
            let stream = if l.stream == "stderr" { 2 } else { 1 };
            out.extend_from_slice(&[stream, 0, 0, 0]);
            out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        }
        out.extend_from_slice(&payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_in_both_forms() {
        assert_eq!(
            parse_timestamp("1700000000.5"),
            Some(1_700_000_000_500_000_000)
        );
        assert_eq!(
            parse_timestamp("1700000000"),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(
            parse_timestamp("2023-11-14T22:13:20.000000001Z"),
            Some(1_700_000_000_000_000_001)
        );
    }

    #[test]
    fn follow_continues_across_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("c-json.log");
        let line = |s: &str| {
            format!("{{\"log\":\"{s}\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-22T09:24:05.739351378Z\"}}\n")
        };
        std::fs::write(&log, line("a")).unwrap();
        let (all, mut pos) = read_all(&log);
        assert_eq!(all.len(), 1);
        std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        std::fs::write(&log, line("a") + &line("b")).unwrap();
        std::fs::rename(&log, dir.path().join("c-json.log.1")).unwrap();
        std::fs::write(&log, line("c")).unwrap();
        let new: Vec<_> = read_new(&log, &mut pos)
            .into_iter()
            .map(|l| l.log)
            .collect();
        assert_eq!(new, ["b\n", "c\n"]);
    }

    #[test]
    fn frames_carry_the_stream_and_length() {
        let f = Filter {
            stdout: true,
            stderr: true,
            framed: true,
            ..Filter::default()
        };
        let l = Line {
            log: "hi\n".into(),
            stream: "stderr".into(),
            time: "2026-11-22T09:24:05Z".into(),
        };
        let mut out = Vec::new();
        f.encode(&l, &mut out);
        assert_eq!(out, b"\x02\x00\x00\x00\x00\x00\x00\x03hi\n");
    }
}
