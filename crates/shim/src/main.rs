//! `berth-shim start <bundle>`: see the library's documentation and `server`.

mod server;

use std::path::Path;
use std::process::ExitCode;

use berth_shim::protocol;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("start") if args.len() == 3 => server::start(Path::new(&args[2])),
        Some("--version") => {
            println!("berth-shim {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: berth-shim start <bundle>");
            ExitCode::from(2)
        }
    }
}
