//! `berth-runc`: runc's command line over berth's OCI runtime.
//!
//! Before anything else, the commands that enter a container (`create`, `run`, `exec`)
//! close the fds their caller left open beyond stdio and `--preserve-fds`, so none can
//! reach the container (CVE-2024-21626), and make sure the process runs from a copy of
//! the binary that the container cannot write to ([`berth_runtime::reexec`],
//! CVE-2019-5736).

mod cli;

use std::ffi::OsString;
use std::process::ExitCode;

use berth_runtime::{reexec, sys};

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if reexec::enters_container(&args) {
        if let Some(n) = preserve_fds(&args) {
            if let Err(e) = sys::close_from(3u32.saturating_add(n)) {
                return fail(&args, &e);
            }
        }
    }
    if let Err(e) = reexec::ensure(&args) {
        return fail(&args, &e);
    }
    cli::main()
}

fn fail(args: &[OsString], e: &berth_runtime::error::Error) -> ExitCode {
    eprintln!("berth-runc: {e}");
    // exec reserves every code below 255 for the process's own status.
    let is_exec = args.iter().skip(1).any(|a| a == "exec");
    ExitCode::from(if is_exec { 255 } else { 1 })
}

/// The `--preserve-fds` count as clap will read it (0 when absent); `None` when the
/// value is malformed, which clap then reports.
fn preserve_fds(args: &[OsString]) -> Option<u32> {
    let mut words = args.iter().skip(1).map(|a| a.to_str());
    while let Some(w) = words.next() {
        match w {
            Some("--") => break,
            Some("--preserve-fds") => return words.next()??.parse().ok(),
            Some(w) => {
                if let Some(v) = w.strip_prefix("--preserve-fds=") {
                    return v.parse().ok();
                }
            }
            None => {}
        }
    }
    Some(0)
}

#[cfg(test)]
mod tests {
    use super::preserve_fds;

    fn args(words: &[&str]) -> Vec<std::ffi::OsString> {
        words.iter().map(Into::into).collect()
    }

    #[test]
    fn preserve_fds_is_read_as_clap_reads_it() {
        assert_eq!(preserve_fds(&args(&["r", "run", "x"])), Some(0));
        assert_eq!(
            preserve_fds(&args(&["r", "run", "--preserve-fds", "2", "x"])),
            Some(2)
        );
        assert_eq!(
            preserve_fds(&args(&["r", "exec", "--preserve-fds=1", "x", "ls"])),
            Some(1)
        );
        assert_eq!(
            preserve_fds(&args(&["r", "run", "--preserve-fds", "many", "x"])),
            None
        );
        assert_eq!(
            preserve_fds(&args(&["r", "exec", "x", "--", "--preserve-fds", "5"])),
            Some(0)
        );
    }
}
