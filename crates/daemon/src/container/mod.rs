//! Containers: create, start, stop, kill, restart, pause, rename, remove, wait,
//! and what happens when a container's init exits (the monitor: events, restart
//! policies, `--rm`).
//!
//! Each operation checks the status first (`Status::can_*`), holds the container's
//! operation lock, and saves the record after each transition (atomically, by rename:
//! a kill -9 of berthd loses nothing committed). The task of a running
//! container lives in its `berth-shim`, which outlives berthd; `restore` reconnects
//! to the shims at start.

pub mod model;
pub mod net;
pub mod seccomp;
pub mod spec;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use berth_image::snapshot::Snapshotter;
use berth_shim::protocol::ShimConfig;
use berth_shim::ShimClient;

use crate::daemon::{blocking, now_rfc3339, random_id, write_atomic, Daemon, Entry, Phase};
use crate::error::{Error, Kind, Result};
use model::{CreateBody, Record, State, Status, RECORD_VERSION, ZERO_TIME};

/// Signals by name, Docker's spelling (`SIGTERM`, `TERM`, `15`).
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let name = s.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    let n = match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" | "IOT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "STKFLT" => 16,
        "CHLD" => 17,
        "CONT" => 18,
        "STOP" => 19,
        "TSTP" => 20,
        "TTIN" => 21,
        "TTOU" => 22,
        "URG" => 23,
        "XCPU" => 24,
        "XFSZ" => 25,
        "VTALRM" => 26,
        "PROF" => 27,
        "WINCH" => 28,
        "IO" | "POLL" => 29,
        "PWR" => 30,
        "SYS" => 31,
        _ => return Err(Error::invalid(format!("Invalid signal: {s}"))),
    };
    Ok(n)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

const ADJECTIVES: &[&str] = &[
    "admiring", "brave", "busy", "clever", "eager", "focused", "gallant", "happy", "jolly", "keen",
    "loving", "modest", "nifty", "quirky", "serene", "sharp", "stoic", "tender", "vibrant", "zen",
];
const NAMES: &[&str] = &[
    "babbage", "curie", "darwin", "euler", "fermat", "galois", "hopper", "hypatia", "kepler",
    "lovelace", "meitner", "noether", "pascal", "ritchie", "shannon", "thompson", "turing",
    "wilson", "wozniak", "yalow",
];

impl Daemon {
    fn random_name(&self) -> String {
        loop {
            let id = random_id();
            let b = id.as_bytes();
            let name = format!(
                "{}_{}",
                ADJECTIVES[b[0] as usize % ADJECTIVES.len()],
                NAMES[b[1] as usize % NAMES.len()]
            );
            if self.name_taken(&name).is_none() {
                return name;
            }
            let name = format!("{name}{}", b[2] % 10);
            if self.name_taken(&name).is_none() {
                return name;
            }
        }
    }

    pub fn save(&self, record: &Record) -> Result<()> {
        let bytes =
            serde_json::to_vec_pretty(record).map_err(|e| Error::internal(e.to_string()))?;
        write_atomic(
            &self.container_dir(&record.id).join("container.json"),
            &bytes,
        )
        .map_err(|e| Error::internal(format!("failed to save container {}: {e}", record.id)))
    }

    fn attributes(&self, r: &Record) -> BTreeMap<String, String> {
        let mut a: BTreeMap<String, String> = r
            .config
            .labels
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        a.insert("image".into(), r.image_name.clone());
        a.insert("name".into(), r.name.clone());
        a
    }

    pub fn emit(&self, entry: &Entry, action: &str, extra: &[(&str, String)]) {
        let r = entry.snapshot();
        let mut a = self.attributes(&r);
        for (k, v) in extra {
            a.insert((*k).to_owned(), v.clone());
        }
        self.events.emit("container", action, &r.id, a);
    }

    fn set_phase(&self, entry: &Entry, f: impl FnOnce(&mut Phase)) {
        entry.phase.send_modify(f);
    }

    /// `POST /containers/create`.
    pub async fn create(
        self: &Arc<Self>,
        name: Option<String>,
        body: CreateBody,
    ) -> Result<(String, Vec<String>)> {
        let mut config = body.config;
        let host = body.host_config.unwrap_or_default();
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                let n = n.strip_prefix('/').unwrap_or(&n).to_owned();
                if !valid_name(&n) {
                    return Err(Error::invalid(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                n
            }
            None => self.random_name(),
        };
        if let Some(other) = self.name_taken(&name) {
            return Err(Error::conflict(format!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        if config.image.is_empty() {
            return Err(Error::invalid("config.Image: an image name is required"));
        }
        if host.memory != 0 && host.memory < 6 * 1024 * 1024 {
            return Err(Error::invalid("Minimum memory limit allowed is 6MB"));
        }
        if host.memory_swap > 0 && host.memory > 0 && host.memory_swap < host.memory {
            return Err(Error::invalid(
                "Minimum memoryswap limit should be larger than memory limit, see usage",
            ));
        }
        if host.nano_cpus < 0 || host.cpu_shares < 0 || host.cpu_quota < 0 {
            return Err(Error::invalid(
                "invalid CPU settings: values must not be negative",
            ));
        }
        if host.nano_cpus > 0 && (host.cpu_quota > 0 || host.cpu_period > 0) {
            return Err(Error::invalid(
                "Conflicting options: Nano CPUs and CPU Period cannot both be set",
            ));
        }
        let policy = host.restart_policy.name.as_str();
        if !matches!(
            policy,
            "" | "no" | "always" | "unless-stopped" | "on-failure"
        ) {
            return Err(Error::invalid(format!("invalid restart policy '{policy}'")));
        }
        if host.auto_remove && !matches!(policy, "" | "no") {
            return Err(Error::invalid(
                "can't create 'AutoRemove' container with restart policy",
            ));
        }
        if policy != "on-failure" && host.restart_policy.maximum_retry_count != 0 {
            return Err(Error::invalid(
                "invalid restart policy: maximum retry count can only be used with 'on-failure'",
            ));
        }
        if !matches!(host.log_config.typ.as_str(), "" | "json-file" | "none") {
            return Err(Error::invalid(format!(
                "logger: no log driver named '{}' is registered",
                host.log_config.typ
            )));
        }
        // Docker saves the daemon's default driver into the container's config.
        let mut host = host;
        if host.log_config.typ.is_empty() {
            host.log_config.typ = self.config.log_driver.clone();
        }
        // Mounts and security options are checked before anything is made.
        let user_mounts = spec::parse_mounts(&host)?;
        spec::validate(&host)?;
        let runtime = if host.runtime.is_empty() {
            self.config.default_runtime.clone()
        } else {
            host.runtime.clone()
        };
        if !self.config.runtimes.contains_key(&runtime) {
            return Err(Error::invalid(format!(
                "unknown or invalid runtime name: {runtime}"
            )));
        }
        if let Some(sig) = &config.stop_signal {
            parse_signal(sig)?;
        }
        // Networks: checked before anything is made.
        let endpoints = self.plan_endpoints(
            &host,
            body.networking_config.as_ref(),
            config.extra.get("MacAddress").and_then(|m| m.as_str()),
        )?;
        if net::mode(&host) == net::Mode::Host && config.hostname.is_empty() {
            config.hostname = rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned();
        }
        {
            // Bad port specs fail the create, as Docker's do.
            let probe = Record {
                host_config: host.clone(),
                config: config.clone(),
                ..Record::empty()
            };
            net::bindings(&probe)?;
        }

        // The image: its config fills what the user left out.
        let image_name = config.image.clone();
        let images = self.images.clone();
        let lookup = image_name.clone();
        // Names, IDs and digests; an unnamed image (a commit or import without a
        // repository) only by its ID. Unpacking goes by the manifest digest.
        let (inspect, manifest) = blocking(move || {
            let not_found = |e: berth_image::StoreError| match e.kind() {
                berth_image::ErrorKind::NotFound | berth_image::ErrorKind::InvalidArgument => {
                    Error::not_found(format!("No such image: {}", display_image(&lookup)))
                }
                _ => e.into(),
            };
            let (manifest, _) = images.resolve_image(&lookup).map_err(not_found)?;
            let manifest = manifest.to_string();
            let inspect = images.inspect(&manifest).map_err(not_found)?;
            Ok((inspect, manifest))
        })
        .await?;
        let image_config = serde_json::to_value(&inspect.config).unwrap_or_default();
        let ic = &image_config["config"];
        let strings = |v: &serde_json::Value| -> Option<Vec<String>> {
            v.as_array().map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
        };
        let image_env = strings(&ic["Env"]).unwrap_or_default();
        let (entrypoint, cmd) = match (&config.entrypoint, &config.cmd) {
            (Some(ep), cmd) if !(ep.len() == 1 && ep[0].is_empty()) => {
                (ep.clone(), cmd.clone().unwrap_or_default())
            }
            (Some(_), cmd) => (
                Vec::new(),
                cmd.clone()
                    .or_else(|| strings(&ic["Cmd"]))
                    .unwrap_or_default(),
            ),
            (None, Some(cmd)) => (strings(&ic["Entrypoint"]).unwrap_or_default(), cmd.clone()),
            (None, None) => (
                strings(&ic["Entrypoint"]).unwrap_or_default(),
                strings(&ic["Cmd"]).unwrap_or_default(),
            ),
        };
        let mut argv: Vec<String> = entrypoint.iter().chain(&cmd).cloned().collect();
        if argv.is_empty() {
            return Err(Error::invalid("No command specified"));
        }
        if config.working_dir.is_empty() {
            config.working_dir = ic["WorkingDir"].as_str().unwrap_or("").to_owned();
        }
        if config.user.is_empty() {
            config.user = ic["User"].as_str().unwrap_or("").to_owned();
        }
        if config.stop_signal.is_none() {
            config.stop_signal = ic["StopSignal"].as_str().map(str::to_owned);
        }
        let mut labels: BTreeMap<String, String> = ic["Labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        labels.extend(config.labels.take().unwrap_or_default());
        config.labels = Some(labels);
        if config.cmd.is_none() {
            config.cmd = Some(cmd.clone());
        }
        if config.entrypoint.is_none() && !entrypoint.is_empty() {
            config.entrypoint = Some(entrypoint.clone());
        }
        let id = random_id();
        if config.hostname.is_empty() {
            config.hostname = id[..12].to_owned();
        }
        let env = spec::merge_env(
            &image_env,
            config.env.as_deref().unwrap_or(&[]),
            &config.hostname,
            config.tty,
        );
        config.env = Some(env.clone());
        let path = argv.remove(0);

        // Volumes: the user's, then the image's `VOLUME`s no mount covers.
        // `docker run -v /path` arrives as `Config.Volumes`, like the image's.
        let mut image_volumes: Vec<String> = ic["Volumes"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        for dst in config.volumes.iter().flat_map(|v| v.keys()) {
            if !image_volumes.contains(dst) {
                image_volumes.push(dst.clone());
            }
        }
        // `--volumes-from` goes first: its destinations are not the image's to fill.
        let inherited = self.volumes_from(&host, &user_mounts, &[])?;
        image_volumes.retain(|dst| !inherited.iter().any(|v| v.destination == *dst));
        let mut volumes = self.make_volumes(&user_mounts, &image_volumes).await?;
        volumes.extend(inherited);

        let dir = self.container_dir(&id);
        let record = Record {
            version: RECORD_VERSION,
            id: id.clone(),
            name,
            created: now_rfc3339(),
            image_name: image_name.clone(),
            image_id: inspect.id.to_string(),
            snapshot: format!("container-{id}"),
            path,
            args: argv,
            config,
            host_config: host,
            state: State::default(),
            restart_count: 0,
            manually_stopped: false,
            runtime,
            shim_socket: None,
            log_path: dir
                .join(format!("{id}-json.log"))
                .to_string_lossy()
                .into_owned(),
            volumes,
            endpoints,
            ports: Vec::new(),
        };

        // Unpack, prepare the container's layer, mount it, write the bundle. Any
        // failure undoes what was made.
        let guard = self.unpack_lock.lock().await;
        let d = self.clone();
        let r = record.clone();
        let made = blocking(move || d.materialize(&r, &manifest)).await;
        drop(guard);
        if let Err(e) = made {
            self.undo_create(&record).await;
            return Err(e);
        }
        let entry = Entry::new(record.clone());
        // A concurrent create may have taken the name meanwhile.
        let conflict = {
            let mut map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
            match map.values().find(|e| e.snapshot().name == record.name) {
                Some(other) => Some(format!(
                    "Conflict. The container name \"/{}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                    record.name, other.id
                )),
                None => {
                    map.insert(id.clone(), entry.clone());
                    None
                }
            }
        };
        if let Some(msg) = conflict {
            self.undo_create(&record).await;
            return Err(Error::conflict(msg));
        }
        self.emit(&entry, "create", &[]);
        Ok((id, Vec::new()))
    }

    /// Gets or creates the volumes a new container mounts. Anonymous ones get a
    /// random name and Docker's anonymous label.
    async fn make_volumes(
        &self,
        user: &[spec::UserMount],
        image_volumes: &[String],
    ) -> Result<Vec<model::VolumeUse>> {
        let clean = |p: &str| {
            let t = p.trim_end_matches('/');
            if t.is_empty() {
                "/".to_owned()
            } else {
                t.to_owned()
            }
        };
        let mut wanted: Vec<(String, crate::volume::CreateVolume, bool, bool)> = Vec::new();
        for m in user {
            if let Some(req) = &m.volume {
                let ro = m.options.iter().any(|o| o == "ro");
                let nocopy = m.options.iter().any(|o| o == "nocopy");
                wanted.push((m.destination.clone(), req.clone(), ro, nocopy));
            }
        }
        for dst in image_volumes {
            if !dst.starts_with('/') {
                return Err(Error::invalid(format!(
                    "invalid volume specification: '{dst}': invalid mount path: '{dst}' mount path must be absolute"
                )));
            }
            let covered = user.iter().any(|m| clean(&m.destination) == clean(dst))
                || wanted.iter().any(|w| clean(&w.0) == clean(dst));
            if !covered {
                wanted.push((dst.clone(), Default::default(), false, false));
            }
        }
        let store = self.volumes.clone();
        blocking(move || {
            let mut made: Vec<model::VolumeUse> = Vec::new();
            for (destination, mut req, read_only, nocopy) in wanted {
                let anonymous = req.name.is_none();
                if anonymous {
                    req.labels
                        .insert(crate::volume::ANONYMOUS_LABEL.to_owned(), String::new());
                }
                let v = match store.create(req) {
                    Ok(v) => v,
                    Err(e) => {
                        for u in made.iter().filter(|u| u.anonymous) {
                            let _ = store.remove(&u.name);
                        }
                        return Err(e);
                    }
                };
                made.push(model::VolumeUse {
                    source: store.mountpoint(&v.name).to_string_lossy().into_owned(),
                    name: v.name,
                    destination,
                    read_only,
                    nocopy,
                    anonymous,
                    bind: false,
                });
            }
            Ok(made)
        })
        .await
    }

    /// `--volumes-from c[:ro|rw]` (`HostConfig.VolumesFrom`): the volumes and bind
    /// mounts of those containers, at the same destinations, unless this
    /// container mounts something there itself. Never copied up, never removed
    /// with this container.
    fn volumes_from(
        &self,
        host: &model::HostConfig,
        own: &[spec::UserMount],
        volumes: &[model::VolumeUse],
    ) -> Result<Vec<model::VolumeUse>> {
        let list: Vec<String> = host
            .extra
            .get("VolumesFrom")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut out: Vec<model::VolumeUse> = Vec::new();
        for spec_ in list {
            let (name, mode) = match spec_.rsplit_once(':') {
                Some((n, m)) if matches!(m, "ro" | "rw" | "z" | "Z") => (n.to_owned(), Some(m)),
                Some((_, m)) => {
                    return Err(Error::invalid(format!(
                        "invalid mode for volumes-from: {m}"
                    )))
                }
                None => (spec_.clone(), None),
            };
            let other = self.get(&name)?.snapshot();
            let taken = |dst: &str, out: &[model::VolumeUse]| {
                own.iter().any(|m| m.destination == dst)
                    || volumes.iter().any(|v| v.destination == dst)
                    || out.iter().any(|v| v.destination == dst)
            };
            for v in &other.volumes {
                if taken(&v.destination, &out) {
                    continue;
                }
                out.push(model::VolumeUse {
                    read_only: match mode {
                        Some("ro") => true,
                        Some("rw") => false,
                        _ => v.read_only,
                    },
                    nocopy: true,
                    anonymous: false,
                    ..v.clone()
                });
            }
            for m in spec::parse_mounts(&other.host_config)?
                .into_iter()
                .filter(|m| m.typ == "bind")
            {
                if taken(&m.destination, &out) {
                    continue;
                }
                let ro = m.options.iter().any(|o| o == "ro");
                out.push(model::VolumeUse {
                    name: String::new(),
                    destination: m.destination.clone(),
                    source: m.source.clone(),
                    read_only: match mode {
                        Some("ro") => true,
                        Some("rw") => false,
                        _ => ro,
                    },
                    nocopy: true,
                    anonymous: false,
                    bind: true,
                });
            }
        }
        Ok(out)
    }

    /// The IDs of the containers that use volume `name`.
    pub fn volume_users(&self, name: &str) -> Vec<String> {
        self.all()
            .iter()
            .filter(|e| {
                e.snapshot()
                    .volumes
                    .iter()
                    .any(|v| !v.bind && v.name == name)
            })
            .map(|e| e.id.clone())
            .collect()
    }

    /// At shutdown: unmounts the tmpfs- and bind-backed volumes no running
    /// container uses (blocking).
    pub fn unmount_idle_volumes(&self) {
        let live: Vec<Record> = self
            .all()
            .iter()
            .map(|e| e.snapshot())
            .filter(|r| r.state.status.is_live())
            .collect();
        for v in self.volumes.list() {
            if live
                .iter()
                .any(|r| r.volumes.iter().any(|u| u.name == v.name))
            {
                continue;
            }
            if let Err(e) = self.volumes.unmount(&v.name) {
                tracing::warn!("volume {}: {e}", v.name);
            }
        }
    }

    /// Removes a container's anonymous volumes that no other container uses
    /// (`rm -v`, `--rm`); named volumes stay.
    async fn remove_anonymous_volumes(&self, r: &Record) {
        for v in r.volumes.iter().filter(|v| v.anonymous) {
            if !self.volume_users(&v.name).is_empty() {
                continue;
            }
            let store = self.volumes.clone();
            let name = v.name.clone();
            if let Err(e) = blocking(move || store.remove(&name)).await {
                tracing::warn!("removing volume {}: {e}", v.name);
            }
        }
    }

    /// Everything on disk for a new container (blocking).
    fn materialize(&self, r: &Record, image: &str) -> Result<()> {
        let dir = self.container_dir(&r.id);
        let bundle = self.bundle_dir(&r.id);
        let rootfs = bundle.join("rootfs");
        std::fs::create_dir_all(&rootfs)?;
        let scratch = self.config.data_root.join("tmp");
        std::fs::create_dir_all(&scratch)?;
        let parent = self.images.unpack_in(image, &*self.snapshotter, &scratch)?;
        let mounts = self.snapshotter.prepare(&r.snapshot, Some(&parent))?;
        crate::rootfs::mount(&mounts, &rootfs)?;
        // Copy-up: an empty volume gets the image's content at its destination.
        for v in r.volumes.iter().filter(|v| !v.nocopy) {
            let at = rootfs.join(v.destination.trim_start_matches('/'));
            // Symlinks in the image must not lead the copy outside the rootfs.
            match at.canonicalize() {
                Ok(real) if real.starts_with(&rootfs) => {
                    crate::volume::copy_up(&real, Path::new(&v.source)).map_err(|e| {
                        Error::internal(format!(
                            "failed to copy the image's {} into volume {}: {e}",
                            v.destination, v.name
                        ))
                    })?
                }
                _ => {}
            }
        }
        std::fs::write(dir.join("hostname"), format!("{}\n", r.config.hostname))?;
        self.write_net_files(r)?;
        let init = r.host_config.init.unwrap_or(false);
        if init && !Path::new(spec::INIT_BINARY).exists() {
            return Err(Error::invalid(format!(
                "--init needs {} (Debian package tini)",
                spec::INIT_BINARY
            )));
        }
        let args: Vec<String> = std::iter::once(r.path.clone())
            .chain(r.args.iter().cloned())
            .collect();
        let oci = spec::generate(&spec::SpecInput {
            id: &r.id,
            config: &r.config,
            host: &r.host_config,
            args: &args,
            env: r.config.env.as_deref().unwrap_or(&[]),
            rootfs: &rootfs,
            container_dir: &dir,
            cgroup_parent: &self.config.cgroup_parent,
            init,
            volumes: &r.volumes,
        })?;
        std::fs::write(
            bundle.join("config.json"),
            serde_json::to_vec_pretty(&oci).unwrap_or_default(),
        )?;
        self.save(r)
    }

    /// A create that failed half-way: everything it made goes.
    async fn undo_create(self: &Arc<Self>, record: &Record) {
        let d = self.clone();
        let r = record.clone();
        let _ = blocking(move || {
            d.dematerialize(&r);
            Ok(())
        })
        .await;
        self.remove_anonymous_volumes(record).await;
    }

    /// Removes everything [`Daemon::materialize`] made (blocking; best effort).
    fn dematerialize(&self, r: &Record) {
        let rootfs = self.bundle_dir(&r.id).join("rootfs");
        let _ = crate::rootfs::unmount(&rootfs);
        let _ = self.snapshotter.remove(&r.snapshot);
        let _ = std::fs::remove_dir_all(self.container_dir(&r.id));
    }

    fn shim_config(&self, r: &Record) -> ShimConfig {
        let rt = &self.config.runtimes[&r.runtime];
        let driver = match r.host_config.log_config.typ.as_str() {
            "" => self.config.log_driver.as_str(),
            t => t,
        };
        let (log_path, max_size, max_file) = match driver {
            "none" => (None, 0, 1),
            _ => {
                let opts = &r.host_config.log_config.config;
                let size = opts
                    .get("max-size")
                    .and_then(|s| crate::config::parse_size(s))
                    .unwrap_or(self.config.log_max_size);
                let files = opts
                    .get("max-file")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(self.config.log_max_file);
                (Some(r.log_path.clone().into()), size, files)
            }
        };
        ShimConfig {
            id: r.id.clone(),
            bundle: self.bundle_dir(&r.id),
            runtime: rt.path.clone(),
            runtime_root: self.runtime_root(&r.runtime),
            runtime_args: rt.args.clone(),
            socket: self.shim_socket(&r.id),
            tty: r.config.tty,
            stdin: r.config.open_stdin,
            stdin_once: r.config.stdin_once,
            log_path,
            log_max_size: max_size,
            log_max_file: max_file,
        }
    }

    /// `POST /containers/{id}/start`.
    pub async fn start(self: &Arc<Self>, entry: &Arc<Entry>) -> Result<()> {
        let _op = entry.op.lock().await;
        self.start_locked(entry, false).await
    }

    async fn start_locked(self: &Arc<Self>, entry: &Arc<Entry>, restarting: bool) -> Result<()> {
        let r = entry.snapshot();
        match r.state.status {
            Status::Running => {
                return Err(Error::new(Kind::NotModified, "container already started"))
            }
            Status::Paused => {
                return Err(Error::conflict(
                    "cannot start a paused container, try unpause instead",
                ))
            }
            Status::Removing => {
                return Err(Error::conflict(format!(
                    "container {} is marked for removal and cannot be started",
                    r.id
                )))
            }
            s if !s.can_start() && !restarting => {
                return Err(Error::conflict(format!(
                    "cannot start container {} in state {}",
                    r.id,
                    s.as_str()
                )))
            }
            _ => {}
        }
        let d = self.clone();
        let rec = r.clone();
        let cfg = self.shim_config(&r);
        let shim_bin = self.config.shim.clone();
        let t0 = std::time::Instant::now();
        let rt = tokio::runtime::Handle::current();
        let ent = entry.clone();
        let spawned = blocking(move || {
            // A previous task's shim (exited) is done with: remove it first.
            if let Some(sock) = &rec.shim_socket {
                let _ = ShimClient::new(sock).shutdown(true);
            }
            let rootfs = d.bundle_dir(&rec.id).join("rootfs");
            if !crate::rootfs::is_mounted(&rootfs) {
                let mounts = d.snapshotter.mounts(&rec.snapshot)?;
                crate::rootfs::mount(&mounts, &rootfs)?;
            }
            std::fs::create_dir_all(cfg.socket.parent().unwrap_or(Path::new("/")))?;
            std::fs::create_dir_all(&cfg.runtime_root)?;
            let _ = std::fs::remove_file(cfg.bundle.join("exit.json"));
            d.join_container_netns(&rec)?;
            berth_shim::write_config(&cfg)?;
            let started = berth_shim::spawn(&shim_bin, &cfg.bundle)?;
            // The task exists, not yet started: its network comes now.
            if let Err(e) = d.net_up(&ent, started.pid, &rt) {
                let _ = ShimClient::new(&cfg.socket).shutdown(true);
                return Err(e);
            }
            Ok((started, cfg.socket.clone()))
        })
        .await;
        let (started, socket) = match spawned {
            Ok(s) => s,
            Err(e) => {
                let code = if e.message.contains("executable file not found")
                    || e.message.contains("no such file or directory")
                {
                    127
                } else if e.message.contains("permission denied") {
                    126
                } else {
                    128
                };
                entry.update(|r| {
                    r.state.error = e.message.clone();
                    r.state.exit_code = code;
                    r.shim_socket = None;
                });
                let _ = self.save(&entry.snapshot());
                // Waiters (`next-exit`) learn the code; `--rm` removes the
                // container, as the CLI waits for that before it exits.
                self.set_phase(entry, |p| {
                    p.exit_code = code;
                    p.exits += 1;
                });
                if r.host_config.auto_remove {
                    let d = self.clone();
                    let e = entry.clone();
                    tokio::spawn(async move {
                        let _ = d.remove(&e, true, true).await;
                    });
                }
                let kind = if code == 128 {
                    Kind::Internal
                } else {
                    Kind::InvalidArgument
                };
                return Err(Error::new(
                    kind,
                    format!("failed to create task for container: {}", e.message),
                ));
            }
        };
        let client = ShimClient::new(&socket);
        // Attaches that came before the start get the stream now, before the
        // process runs, so no output is missed.
        let pending = std::mem::take(&mut *entry.pending.lock().unwrap_or_else(|e| e.into_inner()));
        for p in pending {
            let c = client.clone();
            let (i, o, er) = (p.stdin, p.stdout, p.stderr);
            if let Ok(stream) = blocking(move || Ok(c.attach(i, o, er)?)).await {
                let _ = p.tx.send(stream);
            }
        }
        let c = client.clone();
        let t1 = t0.elapsed();
        if let Err(e) = blocking(move || Ok(c.start()?)).await {
            let c = client.clone();
            let _ = blocking(move || Ok(c.shutdown(true)?)).await;
            let d = self.clone();
            let ent = entry.clone();
            let _ = blocking(move || {
                d.net_down(&ent);
                Ok(())
            })
            .await;
            entry.update(|r| {
                r.state.error = e.message.clone();
                r.shim_socket = None;
            });
            let _ = self.save(&entry.snapshot());
            return Err(e);
        }
        entry.update(|r| {
            r.state.status = Status::Running;
            r.state.pid = started.pid;
            r.state.started_at = now_rfc3339();
            r.state.error.clear();
            r.state.exit_code = 0;
            r.shim_socket = Some(socket.clone());
            if !restarting {
                r.manually_stopped = false;
            }
        });
        self.save(&entry.snapshot())?;
        tracing::debug!(container = %entry.id, shim = ?t1, total = ?t0.elapsed(), "started");
        self.set_phase(entry, |p| p.status = Status::Running);
        self.emit(entry, "start", &[]);
        self.monitor(entry.clone(), client);
        Ok(())
    }

    /// Waits for the task's exit in the background and handles it.
    pub fn monitor(self: &Arc<Self>, entry: Arc<Entry>, client: ShimClient) {
        let d = self.clone();
        tokio::spawn(async move {
            let c = client.clone();
            let bundle = d.bundle_dir(&entry.id);
            let exit = blocking(move || {
                // The shim may be unreachable for a moment (busy); retry a few
                // times before falling back to the exit file.
                let mut last = None;
                for _ in 0..3 {
                    match c.wait() {
                        Ok(e) => return Ok((e.code, e.at)),
                        Err(e) => {
                            last = Some(e);
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                }
                if let Ok(bytes) = std::fs::read(bundle.join("exit.json")) {
                    if let Ok(e) = serde_json::from_slice::<berth_shim::protocol::Exit>(&bytes) {
                        return Ok((e.code, e.at));
                    }
                }
                Err(Error::internal(format!(
                    "lost the container's shim: {}",
                    last.map(|e| e.to_string()).unwrap_or_default()
                )))
            })
            .await;
            match exit {
                Ok((code, at)) => d.handle_exit(&entry, code, at, String::new()).await,
                Err(e) => d.handle_exit(&entry, 255, now_rfc3339(), e.message).await,
            }
        });
    }

    /// The init has exited: record it, tell waiters, remove the task, then apply
    /// `--rm` or the restart policy.
    async fn handle_exit(
        self: &Arc<Self>,
        entry: &Arc<Entry>,
        code: i32,
        at: String,
        error: String,
    ) {
        let socket = entry.update(|r| {
            r.state.status = Status::Exited;
            r.state.exit_code = code;
            r.state.pid = 0;
            r.state.finished_at = at;
            if !error.is_empty() {
                r.state.error = error;
            }
            r.shim_socket.take()
        });
        // The task goes (the runtime's delete removes its cgroup); logs stay.
        // Its network on the host goes with it.
        let d = self.clone();
        let ent = entry.clone();
        let _ = blocking(move || {
            if let Some(sock) = socket {
                let _ = ShimClient::new(sock).shutdown(true);
            }
            d.net_down(&ent);
            Ok(())
        })
        .await;
        let _ = self.save(&entry.snapshot());
        self.emit(entry, "die", &[("exitCode", code.to_string())]);
        self.set_phase(entry, |p| {
            p.status = Status::Exited;
            p.exit_code = code;
            p.exits += 1;
        });
        let r = entry.snapshot();
        if r.host_config.auto_remove {
            let d = self.clone();
            let e = entry.clone();
            tokio::spawn(async move {
                let _ = d.remove(&e, true, true).await;
            });
            return;
        }
        if self.should_restart(&r, code) {
            let d = self.clone();
            let e = entry.clone();
            tokio::spawn(async move { d.restart_after_exit(e).await });
        }
    }

    fn should_restart(&self, r: &Record, code: i32) -> bool {
        if r.manually_stopped || r.state.status == Status::Removing {
            return false;
        }
        let p = &r.host_config.restart_policy;
        match p.name.as_str() {
            "always" | "unless-stopped" => true,
            "on-failure" => {
                code != 0
                    && (p.maximum_retry_count == 0
                        || (r.restart_count as i64) < p.maximum_retry_count)
            }
            _ => false,
        }
    }

    /// Docker's back-off: 100 ms doubling per restart, reset after 10 s of running.
    async fn restart_after_exit(self: Arc<Self>, entry: Arc<Entry>) {
        let r = entry.snapshot();
        let ran = match (
            crate::logs::parse_time(&r.state.started_at),
            crate::logs::parse_time(&r.state.finished_at),
        ) {
            (Some(s), Some(f)) => (f - s) / 1_000_000,
            _ => 0,
        };
        let count = if ran > 10_000 {
            0
        } else {
            r.restart_count.min(20)
        };
        let delay = Duration::from_millis((100u64 << count.min(10)).min(60_000));
        entry.update(|r| {
            r.state.status = Status::Restarting;
            r.restart_count += 1;
        });
        let _ = self.save(&entry.snapshot());
        self.set_phase(&entry, |p| p.status = Status::Restarting);
        tokio::time::sleep(delay).await;
        let _op = entry.op.lock().await;
        let now = entry.snapshot();
        if now.state.status != Status::Restarting
            || now.manually_stopped
            || entry.phase.borrow().removed
        {
            return;
        }
        if let Err(e) = self.start_locked(&entry, true).await {
            tracing::warn!(container = %entry.id, "restart failed: {e}");
            entry.update(|r| {
                r.state.status = Status::Exited;
                r.state.error = e.message.clone();
            });
            let _ = self.save(&entry.snapshot());
            self.set_phase(&entry, |p| p.status = Status::Exited);
        } else {
            self.emit(&entry, "restart", &[]);
        }
    }

    fn client(&self, entry: &Entry) -> Option<ShimClient> {
        entry.snapshot().shim_socket.map(ShimClient::new)
    }

    /// Waits until the container is not live, up to `timeout`; true if it stopped.
    async fn wait_stopped(&self, entry: &Entry, timeout: Option<Duration>) -> bool {
        let mut rx = entry.phase.subscribe();
        let fut = rx.wait_for(|p| !p.status.is_live() || p.removed);
        match timeout {
            Some(t) => matches!(tokio::time::timeout(t, fut).await, Ok(Ok(_))),
            None => fut.await.is_ok(),
        }
    }

    /// `POST /containers/{id}/kill`.
    pub async fn kill(&self, entry: &Entry, signal: Option<&str>) -> Result<()> {
        let sig = parse_signal(signal.unwrap_or("SIGKILL"))?;
        let r = entry.snapshot();
        let client = match (r.state.status.is_live(), self.client(entry)) {
            (true, Some(c)) => c,
            _ => {
                return Err(Error::conflict(format!(
                    "Cannot kill container: {}: Container {} is not running",
                    r.name, r.id
                )))
            }
        };
        if sig == 9 || sig == 15 {
            entry.update(|r| r.manually_stopped = true);
            let _ = self.save(&entry.snapshot());
        }
        blocking(move || Ok(client.kill(sig, false)?)).await?;
        self.emit(entry, "kill", &[("signal", sig.to_string())]);
        Ok(())
    }

    /// `POST /containers/{id}/stop`: the stop signal, `t` seconds, then SIGKILL.
    pub async fn stop(&self, entry: &Entry, t: Option<i64>) -> Result<()> {
        let _op = entry.op.lock().await;
        self.stop_locked(entry, t).await
    }

    async fn stop_locked(&self, entry: &Entry, t: Option<i64>) -> Result<()> {
        let r = entry.snapshot();
        if r.state.status == Status::Restarting {
            entry.update(|r| {
                r.manually_stopped = true;
                r.state.status = Status::Exited;
            });
            self.save(&entry.snapshot())?;
            entry.phase.send_modify(|p| p.status = Status::Exited);
            return Ok(());
        }
        if !r.state.status.is_live() {
            return Err(Error::new(Kind::NotModified, "container already stopped"));
        }
        entry.update(|r| r.manually_stopped = true);
        self.save(&entry.snapshot())?;
        let Some(client) = self.client(entry) else {
            return Ok(());
        };
        let timeout = t.or(r.config.stop_timeout).unwrap_or(10);
        let sig = parse_signal(r.config.stop_signal.as_deref().unwrap_or("SIGTERM")).unwrap_or(15);
        if r.state.status == Status::Paused {
            let c = client.clone();
            let _ = blocking(move || Ok(c.resume()?)).await;
        }
        let c = client.clone();
        let _ = blocking(move || Ok(c.kill(sig, false)?)).await;
        self.emit(entry, "kill", &[("signal", sig.to_string())]);
        let grace = if timeout < 0 {
            None
        } else {
            Some(Duration::from_secs(timeout as u64))
        };
        if !self.wait_stopped(entry, grace).await {
            let c = client.clone();
            let _ = blocking(move || Ok(c.kill(9, true)?)).await;
            self.emit(entry, "kill", &[("signal", "9".into())]);
            self.wait_stopped(entry, None).await;
        }
        self.emit(entry, "stop", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/restart`.
    pub async fn restart(self: &Arc<Self>, entry: &Arc<Entry>, t: Option<i64>) -> Result<()> {
        let _op = entry.op.lock().await;
        match self.stop_locked(entry, t).await {
            Ok(()) => {}
            Err(e) if e.kind == Kind::NotModified => {}
            Err(e) => return Err(e),
        }
        self.start_locked(entry, false).await?;
        self.emit(entry, "restart", &[]);
        Ok(())
    }

    /// `pause` / `unpause`.
    pub async fn pause(&self, entry: &Entry, pause: bool) -> Result<()> {
        let _op = entry.op.lock().await;
        let r = entry.snapshot();
        match (pause, r.state.status) {
            (true, Status::Running) | (false, Status::Paused) => {}
            (true, Status::Paused) => {
                return Err(Error::conflict(format!(
                    "Container {} is already paused",
                    r.id
                )))
            }
            (false, Status::Running) => {
                return Err(Error::conflict(format!("Container {} is not paused", r.id)))
            }
            _ => {
                return Err(Error::conflict(format!(
                    "Container {} is not running",
                    r.id
                )))
            }
        }
        let Some(client) = self.client(entry) else {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                r.id
            )));
        };
        blocking(move || {
            if pause {
                client.pause()?;
            } else {
                client.resume()?;
            }
            Ok(())
        })
        .await?;
        let status = if pause {
            Status::Paused
        } else {
            Status::Running
        };
        entry.update(|r| r.state.status = status);
        self.save(&entry.snapshot())?;
        entry.phase.send_modify(|p| p.status = status);
        self.emit(entry, if pause { "pause" } else { "unpause" }, &[]);
        Ok(())
    }

    /// `POST /containers/{id}/rename`.
    pub fn rename(&self, entry: &Entry, new: &str) -> Result<()> {
        let new = new.strip_prefix('/').unwrap_or(new);
        if !valid_name(new) {
            return Err(Error::invalid(format!(
                "Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(other) = map.values().find(|e| e.snapshot().name == new) {
            if other.id == entry.id {
                return Err(Error::invalid(
                    "Renaming a container with the same name as its current name",
                ));
            }
            return Err(Error::conflict(format!(
                "Conflict. The container name \"/{new}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            )));
        }
        let old = entry.update(|r| std::mem::replace(&mut r.name, new.to_owned()));
        drop(map);
        self.save(&entry.snapshot())?;
        self.emit(entry, "rename", &[("oldName", format!("/{old}"))]);
        Ok(())
    }

    /// `DELETE /containers/{id}`.
    pub async fn remove(&self, entry: &Arc<Entry>, force: bool, volumes: bool) -> Result<()> {
        let _op = entry.op.lock().await;
        if entry.phase.borrow().removed {
            return Ok(());
        }
        let r = entry.snapshot();
        if r.state.status.is_live() {
            if !force {
                let what = if r.state.status == Status::Paused {
                    "paused"
                } else {
                    "running"
                };
                return Err(Error::conflict(format!(
                    "cannot remove container \"/{}\": container is {what}: stop the container before removing or force remove",
                    r.name
                )));
            }
            if let Some(client) = self.client(entry) {
                let c = client.clone();
                let _ = blocking(move || Ok(c.kill(9, true)?)).await;
                if !self
                    .wait_stopped(entry, Some(Duration::from_secs(10)))
                    .await
                {
                    let _ = blocking(move || Ok(client.shutdown(true)?)).await;
                }
            }
        }
        entry.update(|r| r.state.status = Status::Removing);
        let rec = entry.snapshot();
        let socket = rec.shim_socket.clone();
        // The record goes first: a crash half-way leaves files, never a record
        // pointing at nothing.
        let d_root = self.container_dir(&rec.id);
        let bundle = self.bundle_dir(&rec.id);
        let sn = self.snapshotter.clone();
        blocking(move || {
            if let Some(sock) = socket {
                let _ = ShimClient::new(sock).shutdown(true);
            }
            let _ = std::fs::remove_file(d_root.join("container.json"));
            crate::rootfs::unmount(&bundle.join("rootfs"))?;
            match sn.remove(&rec.snapshot) {
                Ok(()) => {}
                Err(e) if e.kind() == berth_image::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            std::fs::remove_dir_all(&d_root).or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })?;
            Ok(())
        })
        .await?;
        self.containers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&entry.id);
        self.execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, x| x.container != entry.id);
        if volumes {
            self.remove_anonymous_volumes(&entry.snapshot()).await;
        }
        self.emit(entry, "destroy", &[]);
        entry.phase.send_modify(|p| {
            p.removed = true;
            p.status = Status::Exited;
        });
        Ok(())
    }

    /// `POST /containers/{id}/wait?condition=`: the exit code.
    pub async fn wait(&self, entry: &Entry, condition: &str) -> Result<i32> {
        let mut rx = entry.phase.subscribe();
        let start = *rx.borrow_and_update();
        let p = match condition {
            "" | "not-running" => {
                if !start.status.is_live() && start.status != Status::Restarting {
                    return Ok(start.exit_code);
                }
                rx.wait_for(|p| p.exits > start.exits || p.removed).await
            }
            "next-exit" => rx.wait_for(|p| p.exits > start.exits || p.removed).await,
            "removed" => rx.wait_for(|p| p.removed).await,
            other => return Err(Error::invalid(format!("invalid condition: \"{other}\""))),
        };
        match p {
            Ok(p) => Ok(p.exit_code),
            Err(_) => Ok(entry.phase.borrow().exit_code),
        }
    }

    /// Loads every container at start and reconnects to the shims of the live ones
    /// (live restore); containers that exited meanwhile get their real exit code.
    pub async fn restore(self: &Arc<Self>) -> Result<()> {
        let dir = self.containers_dir();
        std::fs::create_dir_all(&dir)?;
        let mut live = Vec::new();
        for ent in std::fs::read_dir(&dir)?.flatten() {
            let path = ent.path().join("container.json");
            let Ok(bytes) = std::fs::read(&path) else {
                // A create or remove that died half-way: nothing committed.
                let id = ent.file_name().to_string_lossy().into_owned();
                let d = self.clone();
                let _ = blocking(move || {
                    let r = Record {
                        snapshot: format!("container-{id}"),
                        id,
                        ..Record::empty()
                    };
                    d.dematerialize(&r);
                    Ok(())
                })
                .await;
                continue;
            };
            let record: Record = match serde_json::from_slice(&bytes) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!("skipping {}: {e}", path.display());
                    continue;
                }
            };
            let entry = Entry::new(record.clone());
            self.containers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(record.id.clone(), entry.clone());
            if record.state.status.is_live()
                || record.state.status == Status::Restarting
                || record.shim_socket.is_some()
            {
                live.push(entry);
            }
        }
        for entry in live {
            let r = entry.snapshot();
            let Some(sock) = r.shim_socket.clone() else {
                // Restarting when the daemon died: start it again.
                entry.update(|r| r.state.status = Status::Exited);
                let d = self.clone();
                tokio::spawn(async move { d.restart_after_exit(entry).await });
                continue;
            };
            let client = ShimClient::new(&sock);
            let c = client.clone();
            match blocking(move || Ok(c.state()?)).await {
                Ok(st) => {
                    let status = match st.status {
                        berth_shim::protocol::Status::Paused => Status::Paused,
                        _ => Status::Running,
                    };
                    entry.update(|r| {
                        r.state.status = status;
                        r.state.pid = st.pid;
                    });
                    entry.phase.send_modify(|p| p.status = status);
                    let d = self.clone();
                    let ent = entry.clone();
                    let rt = tokio::runtime::Handle::current();
                    let _ = blocking(move || {
                        d.net_restore(&ent, &rt);
                        Ok(())
                    })
                    .await;
                    self.monitor(entry.clone(), client);
                }
                Err(_) => {
                    let bundle = self.bundle_dir(&r.id);
                    let exit = std::fs::read(bundle.join("exit.json")).ok().and_then(|b| {
                        serde_json::from_slice::<berth_shim::protocol::Exit>(&b).ok()
                    });
                    entry.phase.send_modify(|p| p.status = Status::Running);
                    match exit {
                        Some(e) => self.handle_exit(&entry, e.code, e.at, String::new()).await,
                        None => {
                            self.handle_exit(
                                &entry,
                                255,
                                now_rfc3339(),
                                "the container's shim is gone".into(),
                            )
                            .await
                        }
                    }
                }
            }
        }
        // Restart policies at daemon start.
        for entry in self.all() {
            let r = entry.snapshot();
            let policy = r.host_config.restart_policy.name.as_str();
            let wants = match policy {
                "always" => true,
                "unless-stopped" => !r.manually_stopped,
                _ => false,
            };
            if wants
                && r.state.status == Status::Exited
                && r.state.started_at != ZERO_TIME
                && !r.manually_stopped
            {
                let d = self.clone();
                tokio::spawn(async move {
                    let _ = d.start(&entry).await;
                });
            }
        }
        Ok(())
    }
}

impl Daemon {
    /// At shutdown with `live-restore` off: stop every running container, as
    /// dockerd does (stop signal, then SIGKILL after the stop timeout).
    pub async fn stop_all(self: &Arc<Self>) {
        let mut tasks = Vec::new();
        for e in self.all() {
            if e.snapshot().state.status.is_live() {
                let d = self.clone();
                tasks.push(tokio::spawn(async move {
                    let _ = d.stop(&e, None).await;
                    // Stopped by the daemon, not the user: restart policies apply
                    // at the next start.
                    e.update(|r| r.manually_stopped = false);
                    let _ = d.save(&e.snapshot());
                }));
            }
        }
        for t in tasks {
            let _ = t.await;
        }
    }
}

/// `busybox` → `busybox:latest`, as Docker's "No such image" says it.
pub fn display_image(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if name.contains('@') || last.contains(':') || name.starts_with("sha256:") {
        name.to_owned()
    } else {
        format!("{name}:latest")
    }
}
