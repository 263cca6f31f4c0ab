//! One module per subcommand (Docker's command tree), plus the pieces they share:
//! `container_opts` (run/create flags), `common` (create-with-pull, resize, wait),
//! `multi` (per-container loops), `prompt` (prune confirmation).

pub mod attach;
pub mod commit;
pub mod common;
pub mod container_opts;
pub mod container_prune;
pub mod cp;
pub mod create;
pub mod diff;
pub mod events;
pub mod exec;
pub mod export;
pub mod history;
pub mod image_prune;
pub mod images;
pub mod import;
pub mod info;
pub mod inspect;
pub mod kill;
pub mod load;
pub mod logs;
pub mod multi;
pub mod network;
pub mod pause;
pub mod port;
pub mod prompt;
pub mod ps;
pub mod rename;
pub mod restart;
pub mod rm;
pub mod rmi;
pub mod run;
pub mod save;
pub mod start;
pub mod stats;
pub mod stop;
pub mod system_df;
pub mod system_prune;
pub mod tag;
pub mod top;
pub mod unpause;
pub mod version;
pub mod volume;
pub mod wait;
