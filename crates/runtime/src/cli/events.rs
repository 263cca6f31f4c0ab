//! `events`: resource statistics, once (`--stats`) or every `--interval`.

use std::path::Path;
use std::time::Duration;

use berth_runtime::error::Error;
use berth_runtime::state::{State, Status};

#[derive(clap::Args, Debug)]
pub struct EventsArgs {
    pub id: String,
    /// Print statistics once and exit
    #[arg(long)]
    pub stats: bool,
    /// Interval between statistics, e.g. 5s or 500ms
    #[arg(long, default_value = "5s")]
    pub interval: String,
}

pub fn events(root: &Path, a: EventsArgs) -> Result<u8, Error> {
    let interval: Duration = humantime::parse_duration(&a.interval)
        .map_err(|e| Error::Usage(format!("--interval {:?}: {e}", a.interval)))?;
    loop {
        let st = State::load(root, &a.id)?;
        if st.current_status() == Status::Stopped {
            return Err(Error::WrongState {
                op: "get events of",
                id: a.id.clone(),
                status: Status::Stopped,
            });
        }
        let stats = berth_runtime::cgroup_manager(&st.cgroup_path).stats()?;
        let v = serde_json::json!({"type": "stats", "id": a.id, "data": stats});
        println!("{v}");
        if a.stats {
            return Ok(0);
        }
        std::thread::sleep(interval);
    }
}
