//! runc's log output: `--log FILE` with `--log-format text|json`.
//!
//! containerd passes `--log <file> --log-format json` and, when a command fails, reads
//! the last `"level":"error"` line to tell the user why. The lines look like
//! `{"level":"error","msg":"…","time":"2024-01-01T00:00:00Z"}`.

use std::io::Write;
use std::sync::Mutex;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

struct Logger {
    file: Option<std::fs::File>,
    format: Format,
    debug: bool,
}

static LOGGER: Mutex<Option<Logger>> = Mutex::new(None);

pub fn init(path: Option<&std::path::Path>, format: Format, debug: bool) -> std::io::Result<()> {
    let file = match path {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?,
        ),
        None => None,
    };
    *LOGGER.lock().unwrap_or_else(|e| e.into_inner()) = Some(Logger {
        file,
        format,
        debug,
    });
    Ok(())
}

fn line(level: &str, msg: &str, format: Format) -> String {
    let time = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    match format {
        Format::Json => {
            serde_json::json!({"level": level, "msg": msg, "time": time}).to_string() + "\n"
        }
        Format::Text => format!("time={time:?} level={level} msg={msg:?}\n"),
    }
}

fn log(level: &str, msg: &str) {
    let mut guard = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(logger) = guard.as_mut() else {
        if level != "debug" {
            eprintln!("berth-runc: {level}: {msg}");
        }
        return;
    };
    if level == "debug" && !logger.debug {
        return;
    }
    let text = line(level, msg, logger.format);
    match logger.file.as_mut() {
        Some(f) => {
            let _ = f.write_all(text.as_bytes());
        }
        None => {
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
    }
}

pub fn debug(msg: &str) {
    log("debug", msg);
}

pub fn warn(msg: &str) {
    log("warning", msg);
}

/// Records a fatal error in the log file (if any) and always on stderr as one line.
pub fn error(msg: &str) {
    let mut guard = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(Logger {
        file: Some(f),
        format,
        ..
    }) = guard.as_mut()
    {
        let _ = f.write_all(line("error", msg, *format).as_bytes());
    }
    eprintln!("berth-runc: {msg}");
}
