//! Docker's json-file log driver, on-disk format included, so `docker logs`-style
//! readers (and berthd) can read the files as they read Docker's.
//!
//! One JSON object per line: `{"log":"<text incl. \n>","stream":"stdout","time":
//! "<RFC 3339 nanos, UTC>"}`. Output is cut at `\n`; a line without one is written
//! when it reaches [`MAX_PARTIAL`] bytes or its stream ends (as moby's
//! `daemon/logger/copier.go` does). Each line is one `write(2)` on an `O_APPEND`
//! file, so a reader following the file never sees half a line and nothing sits in
//! a user-space buffer.
//!
//! Rotation (moby `daemon/logger/loggerutils/logfile.go`): when `max_size > 0` and a
//! line would take the live file past it, `log.(n-1)` → `log.n`, …, `log` →
//! `log.1`, keeping `max_file` files in all, and a new `log` starts.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A partial line is written out once it is this long.
pub const MAX_PARTIAL: usize = 16 * 1024;

pub struct JsonLog {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_file: u32,
}

impl JsonLog {
    pub fn open(path: &Path, max_size: u64, max_file: u32) -> io::Result<JsonLog> {
        let file = open_append(path, false)?;
        let size = file.metadata()?.len();
        Ok(JsonLog {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_file: max_file.max(1),
        })
    }

    /// Writes one entry (`text` is one line, its `\n` included if it has one).
    pub fn write(&mut self, stream: &str, text: &[u8], time: SystemTime) -> io::Result<()> {
        let line = encode(stream, text, time);
        if self.max_size > 0 && self.size > 0 && self.size + line.len() as u64 > self.max_size {
            self.rotate()?;
        }
        self.file.write_all(line.as_bytes())?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.max_file > 1 {
            for i in (1..self.max_file - 1).rev() {
                match std::fs::rename(numbered(&self.path, i), numbered(&self.path, i + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::rename(&self.path, numbered(&self.path, 1))?;
        }
        self.file = open_append(&self.path, true)?;
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path, truncate: bool) -> io::Result<File> {
    if truncate {
        File::create(path)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// One log line, `\n`-terminated.
pub fn encode(stream: &str, text: &[u8], time: SystemTime) -> String {
    let log = serde_json::to_string(&String::from_utf8_lossy(text)).unwrap_or_default();
    format!(
        "{{\"log\":{log},\"stream\":\"{stream}\",\"time\":\"{}\"}}\n",
        humantime::format_rfc3339_nanos(time)
    )
}

/// Cuts one stream's output into log lines.
#[derive(Default)]
pub struct LineBuffer {
    buf: Vec<u8>,
}

impl LineBuffer {
    /// Adds output; calls `emit` for each complete line (and for a partial line that
    /// reached [`MAX_PARTIAL`]).
    pub fn push(&mut self, mut data: &[u8], mut emit: impl FnMut(&[u8])) {
        while !data.is_empty() {
            match data.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let (line, rest) = data.split_at(i + 1);
                    data = rest;
                    if self.buf.is_empty() {
                        emit(line);
                    } else {
                        self.buf.extend_from_slice(line);
                        emit(&self.buf);
                        self.buf.clear();
                    }
                }
                None => {
                    let room = MAX_PARTIAL - self.buf.len();
                    let take = room.min(data.len());
                    self.buf.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if self.buf.len() >= MAX_PARTIAL {
                        emit(&self.buf);
                        self.buf.clear();
                    }
                }
            }
            if self.buf.is_empty() && self.buf.capacity() > MAX_PARTIAL {
                self.buf = Vec::new();
            }
        }
    }

    /// The stream ended: emits what is left.
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.buf.is_empty() {
            emit(&self.buf);
        }
        self.buf = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut lb = LineBuffer::default();
        let mut out = Vec::new();
        for c in chunks {
            lb.push(c, |l| out.push(l.to_vec()));
        }
        lb.finish(|l| out.push(l.to_vec()));
        out
    }

    #[test]
    fn lines_are_cut_at_newlines_across_chunks() {
        let out = lines(&[b"a\nb", b"c\n\nd"]);
        assert_eq!(
            out,
            vec![
                b"a\n".to_vec(),
                b"bc\n".to_vec(),
                b"\n".to_vec(),
                b"d".to_vec()
            ]
        );
    }

    #[test]
    fn a_long_partial_line_is_written_at_16k() {
        let big = vec![b'x'; MAX_PARTIAL + 10];
        let out = lines(&[&big, b"\n"]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].len(), MAX_PARTIAL);
        assert_eq!(out[1], [vec![b'x'; 10], b"\n".to_vec()].concat());
    }

    #[test]
    fn entries_have_dockers_shape() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 5);
        let line = encode("stderr", b"h\"i\n", t);
        assert_eq!(
            line,
            "{\"log\":\"h\\\"i\\n\",\"stream\":\"stderr\",\"time\":\"2023-11-14T22:13:20.000000005Z\"}\n"
        );
    }

    #[test]
    fn rotation_keeps_max_file_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut log = JsonLog::open(&path, 200, 3).unwrap();
        for i in 0..20 {
            log.write(
                "stdout",
                format!("line {i}\n").as_bytes(),
                SystemTime::now(),
            )
            .unwrap();
        }
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["c-json.log", "c-json.log.1", "c-json.log.2"]);
        for n in &names {
            let len = std::fs::metadata(dir.path().join(n)).unwrap().len();
            assert!(len <= 200, "{n} is {len} bytes");
        }
        let live = std::fs::read_to_string(&path).unwrap();
        assert!(live.contains("line 19\\n"));
    }

    #[test]
    fn max_file_one_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let mut log = JsonLog::open(&path, 150, 1).unwrap();
        for i in 0..10 {
            log.write(
                "stdout",
                format!("line {i}\n").as_bytes(),
                SystemTime::now(),
            )
            .unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(std::fs::read_to_string(&path).unwrap().contains("line 9"));
    }
}
