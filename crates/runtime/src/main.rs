//! `berth-runc`: runc's command line over berth's OCI runtime.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
