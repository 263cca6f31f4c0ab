//! `spec`: write runc's default config.json.

use std::path::PathBuf;

use berth_runtime::error::Error;
use berth_runtime::spec::DEFAULT_SPEC;

#[derive(clap::Args, Debug)]
pub struct SpecArgs {
    /// Where to write config.json (default: the current directory)
    #[arg(short, long)]
    pub bundle: Option<PathBuf>,
    /// Write a spec for a rootless container
    #[arg(long)]
    pub rootless: bool,
}

pub fn spec(a: SpecArgs) -> Result<u8, Error> {
    let dir = a.bundle.unwrap_or_else(|| PathBuf::from("."));
    let path = dir.join("config.json");
    if path.exists() {
        return Err(Error::Usage(
            "File config.json exists. Remove it first".into(),
        ));
    }
    let text = if a.rootless {
        rootless(DEFAULT_SPEC)?
    } else {
        DEFAULT_SPEC.to_string()
    };
    std::fs::write(&path, text)
        .map_err(|e| Error::Usage(format!("cannot write {}: {e}", path.display())))?;
    Ok(0)
}

/// runc's `spec --rootless` changes: a user namespace mapping the caller to root, no
/// network namespace, /sys bound from the host, no device rules.
fn rootless(base: &str) -> Result<String, Error> {
    let mut v: serde_json::Value =
        serde_json::from_str(base).map_err(|e| Error::Usage(e.to_string()))?;
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    let linux = &mut v["linux"];
    linux["uidMappings"] = serde_json::json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = serde_json::json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network");
        ns.push(serde_json::json!({"type": "user"}));
    }
    if let Some(o) = linux.as_object_mut() {
        o.remove("resources");
    }
    if let Some(mounts) = v["mounts"].as_array_mut() {
        for m in mounts.iter_mut() {
            if m["destination"] == "/sys" {
                *m = serde_json::json!({"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
            }
            if m["destination"] == "/dev/pts" {
                if let Some(opts) = m["options"].as_array_mut() {
                    opts.retain(|o| o != "gid=5");
                }
            }
        }
    }
    Ok(serde_json::to_string_pretty(&v).unwrap_or_default())
}
