//! `berth`: Docker's command line over the Docker Engine API.
//!
//! The library holds everything; `main.rs` only calls [`app::main`]. Being a library lets
//! the pure parts (templates, flag parsing, formatting) be tested from `tests/`.
//!
//! Each subcommand lives in its own file under `commands/` and follows parse → resolve →
//! act: clap parses flags into a plain struct, the command validates and derives the API
//! request from it, and only then talks to the daemon. The CLI never links the daemon; it
//! reaches berthd (or any Docker-compatible engine) through bollard on a Unix socket.
//!
//! Exit codes follow Docker: 0 on success, 1 for a failed command, 125 for usage errors
//! and for `run`/`create` failures before the container runs, 126/127 when the container's
//! command cannot be invoked or found, the container's status for `run`, `start -a`,
//! `exec` and `wait`.

pub mod app;
pub mod client;
pub mod commands;
pub mod format;
pub mod opts;
pub mod raw;
pub mod stream;
pub mod template;
pub mod tty;
