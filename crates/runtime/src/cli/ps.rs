//! `ps`: the container's processes, as `ps` shows them or as a JSON pid list.

use std::path::Path;

use berth_runtime::error::Error;
use berth_runtime::state::State;

#[derive(clap::Args, Debug)]
pub struct PsArgs {
    pub id: String,
    /// table or json
    #[arg(short, long, default_value = "table")]
    pub format: String,
    /// Options passed to ps(1) (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

pub fn ps(root: &Path, a: PsArgs) -> Result<u8, Error> {
    let st = State::load(root, &a.id)?;
    let mut pids = berth_runtime::cgroup_manager(&st.cgroup_path).pids()?;
    pids.sort_unstable();
    match a.format.as_str() {
        "json" => {
            println!("{}", serde_json::to_string(&pids).unwrap_or_default());
            Ok(0)
        }
        "table" => {
            let args = if a.ps_args.is_empty() {
                vec!["-ef".to_string()]
            } else {
                a.ps_args
            };
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .map_err(|e| Error::Usage(format!("cannot run ps: {e}")))?;
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .ok_or_else(|| Error::Usage("ps output has no PID column".into()))?;
            println!("{header}");
            for line in lines {
                let pid = line
                    .split_whitespace()
                    .nth(col)
                    .and_then(|p| p.parse::<i32>().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    println!("{line}");
                }
            }
            Ok(0)
        }
        other => Err(Error::Usage(format!(
            "invalid --format {other:?}: use table or json"
        ))),
    }
}
