//! `list`: a table, JSON, or ids only.

use std::io::Write;
use std::path::Path;

use berth_runtime::error::Error;
use berth_runtime::ops;

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// table or json
    #[arg(short, long, default_value = "table")]
    pub format: String,
    /// Print only the container ids
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn list(root: &Path, a: ListArgs) -> Result<u8, Error> {
    let states = ops::list(root)?;
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for st in &states {
            let _ = writeln!(out, "{}", st.id);
        }
        return Ok(0);
    }
    match a.format.as_str() {
        "json" => {
            let v: Vec<_> = states
                .iter()
                .map(|s| s.oci_json(s.current_status()))
                .collect();
            let _ = writeln!(out, "{}", serde_json::Value::Array(v));
        }
        "table" => {
            let mut rows = vec![[
                "ID".to_string(),
                "PID".into(),
                "STATUS".into(),
                "BUNDLE".into(),
                "CREATED".into(),
                "OWNER".into(),
            ]];
            for st in &states {
                let status = st.current_status();
                let pid = if status == berth_runtime::state::Status::Stopped {
                    0
                } else {
                    st.pid
                };
                rows.push([
                    st.id.clone(),
                    pid.to_string(),
                    status.to_string(),
                    st.bundle.display().to_string(),
                    st.created.clone(),
                    if st.owner.is_empty() {
                        owner_of(&berth_runtime::state::State::dir(root, &st.id))
                    } else {
                        st.owner.clone()
                    },
                ]);
            }
            // Go's tabwriter as runc sets it up: minimum cell width 12, padding 3.
            let widths: Vec<usize> = (0..6)
                .map(|i| {
                    rows.iter()
                        .map(|r| r[i].len() + 3)
                        .max()
                        .unwrap_or(0)
                        .max(12)
                })
                .collect();
            for r in rows {
                let line: Vec<String> = r
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        if i == 5 {
                            c.clone()
                        } else {
                            format!("{c:<w$}", w = widths[i])
                        }
                    })
                    .collect();
                let _ = writeln!(out, "{}", line.concat().trim_end());
            }
        }
        other => {
            return Err(Error::Usage(format!(
                "invalid --format {other:?}: use table or json"
            )))
        }
    }
    Ok(0)
}

/// The owner of a container's state dir, as runc's list shows it: the user's name
/// from /etc/passwd, or `#<uid>` when it has none (a rootless user may not).
fn owner_of(dir: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(uid) = std::fs::metadata(dir).map(|m| m.uid()) else {
        return String::new();
    };
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2].parse() == Ok(uid)).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| format!("#{uid}"))
}
