//! The `berth` binary: all of it lives in the library (see `berth_cli::app`).

fn main() -> std::process::ExitCode {
    berth_cli::app::main()
}
