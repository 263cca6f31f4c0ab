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

/// runc's `spec --rootless` changes to the default spec: a user namespace mapping the
/// caller's effective uid and gid to root (size 1: the one mapping an unprivileged user
/// may write itself), no network namespace (an unprivileged user could not give it a
/// device), `/sys` bound read-only from the host (sysfs cannot be mounted without a
/// network namespace of one's own), no `uid=`/`gid=` mount options (`gid=5` of
/// `/dev/pts` is not mapped), and no `linux.resources` (no cgroup unless delegated).
fn rootless(base: &str) -> Result<String, Error> {
    let mut v: serde_json::Value =
        serde_json::from_str(base).map_err(|e| Error::Usage(e.to_string()))?;
    let uid = rustix::process::geteuid().as_raw();
    let gid = rustix::process::getegid().as_raw();
    let linux = &mut v["linux"];
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network" && n["type"] != "user");
        ns.push(serde_json::json!({"type": "user"}));
    }
    linux["uidMappings"] = serde_json::json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = serde_json::json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    if let Some(o) = linux.as_object_mut() {
        o.remove("resources");
    }
    for m in v["mounts"].as_array_mut().into_iter().flatten() {
        if m["destination"] == "/sys" {
            *m = serde_json::json!({
                "destination": "/sys",
                "type": "none",
                "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
            });
        } else if let Some(opts) = m.get_mut("options").and_then(|o| o.as_array_mut()) {
            opts.retain(|o| {
                let o = o.as_str().unwrap_or_default();
                !o.starts_with("uid=") && !o.starts_with("gid=")
            });
        }
    }
    Ok(serde_json::to_string_pretty(&v).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #[test]
    fn rootless_spec_maps_the_caller_and_drops_what_needs_root() {
        let text = super::rootless(berth_runtime::spec::DEFAULT_SPEC).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let euid = rustix::process::geteuid().as_raw();
        assert_eq!(
            v["linux"]["uidMappings"],
            serde_json::json!([{"containerID": 0, "hostID": euid, "size": 1}])
        );
        let types: Vec<&str> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(types.last(), Some(&"user"));
        assert!(!types.contains(&"network"));
        assert!(v["linux"].get("resources").is_none());
        let mounts = v["mounts"].as_array().unwrap();
        let sys = mounts.iter().find(|m| m["destination"] == "/sys").unwrap();
        assert_eq!(sys["type"], "none");
        assert!(!text.contains("gid=5"));
        let proc = mounts.iter().find(|m| m["destination"] == "/proc").unwrap();
        assert!(proc.get("options").is_none(), "no options made up: {proc}");
    }
}
