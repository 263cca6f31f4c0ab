//! `docker commit` and `docker import --change`: a new image from a parent image,
//! one more layer tar and Dockerfile-like config changes; and the dangling
//! images such commits leave when they are not named.
//!
//! The new layer is stored **uncompressed**, so its blob digest is its diff ID
//! (as [`import_rootfs`](crate::import::import_rootfs) does). The parent's config
//! is copied as raw JSON, so fields berth does not model survive; `created`,
//! `author`, `rootfs.diff_ids` and `history` are extended and the changes are
//! applied to its `config`. The manifest keeps the parent's flavour (Docker
//! schema 2 or OCI), with a layer media type of that flavour. Blobs are
//! committed layer, config, manifest, and only then named, as an import does.
//!
//! Unnamed images: the metadata database holds names only, and garbage
//! collection deletes what no name reaches. An image committed (or imported)
//! without a name is therefore kept by a lease `dangling/<image id>` on its
//! manifest: Docker's `<none>:<none>` image. Tagging it drops the lease; so do
//! `docker rmi <id>` and `docker image prune`.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use serde_json::{json, Map, Value};

use crate::content::ContentError;
use crate::digest::Digest;
use crate::export::{ExportFormat, ExportImage};
use crate::manifest::{self, Descriptor, Manifest};
use crate::reference::Reference;
use crate::store::{ImageStore, StoreError};

/// The lease prefix that keeps an unnamed image.
pub const DANGLING_LEASE_PREFIX: &str = "dangling/";

/// A config change of `--change`, one Dockerfile instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `CMD`.
    Cmd(Vec<String>),
    /// `ENTRYPOINT`.
    Entrypoint(Vec<String>),
    /// `ENV`, as `(key, value)` pairs.
    Env(Vec<(String, String)>),
    /// `WORKDIR`.
    WorkingDir(String),
    /// `USER`.
    User(String),
    /// `EXPOSE`, as `port/proto`.
    Expose(Vec<String>),
    /// `LABEL`, as `(key, value)` pairs.
    Label(Vec<(String, String)>),
    /// `VOLUME`.
    Volume(Vec<String>),
    /// `STOPSIGNAL`.
    StopSignal(String),
    /// `ONBUILD`, the trigger as written.
    OnBuild(String),
}

/// A `--change` that cannot be applied.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ChangeError {
    /// The instruction is not one `docker commit` allows (Docker's words).
    #[error("{0} is not a valid change command")]
    Unsupported(String),
    /// The instruction has no or a malformed argument.
    #[error("{instruction} {reason}")]
    Syntax {
        /// The instruction.
        instruction: String,
        /// What is wrong.
        reason: String,
    },
}

/// Parses `--change` lines (`CMD ["sh"]`, `ENV A=b`, `EXPOSE 80`, …).
pub fn parse_changes<S: AsRef<str>>(lines: &[S]) -> Result<Vec<Change>, ChangeError> {
    let mut out = Vec::new();
    for line in lines {
        let line = line.as_ref().trim();
        if line.is_empty() {
            continue;
        }
        let (word, rest) = match line.find(char::is_whitespace) {
            Some(i) => (&line[..i], line[i..].trim()),
            None => (line, ""),
        };
        let instruction = word.to_ascii_uppercase();
        let syntax = |reason: &str| ChangeError::Syntax {
            instruction: instruction.clone(),
            reason: reason.to_owned(),
        };
        if rest.is_empty() {
            if matches!(
                instruction.as_str(),
                "CMD"
                    | "ENTRYPOINT"
                    | "ENV"
                    | "WORKDIR"
                    | "USER"
                    | "EXPOSE"
                    | "LABEL"
                    | "VOLUME"
                    | "STOPSIGNAL"
                    | "ONBUILD"
            ) {
                return Err(syntax("requires at least one argument"));
            }
            return Err(ChangeError::Unsupported(word.to_owned()));
        }
        let change = match instruction.as_str() {
            "CMD" => Change::Cmd(command(rest)),
            "ENTRYPOINT" => Change::Entrypoint(command(rest)),
            "ENV" => Change::Env(key_values(rest, true).map_err(|r| syntax(&r))?),
            "LABEL" => Change::Label(key_values(rest, false).map_err(|r| syntax(&r))?),
            "WORKDIR" => Change::WorkingDir(rest.to_owned()),
            "USER" => Change::User(rest.to_owned()),
            "STOPSIGNAL" => Change::StopSignal(rest.to_owned()),
            "ONBUILD" => Change::OnBuild(rest.to_owned()),
            "EXPOSE" => Change::Expose(
                words(rest)
                    .into_iter()
                    .map(|p| {
                        if p.contains('/') {
                            p
                        } else {
                            format!("{p}/tcp")
                        }
                    })
                    .collect(),
            ),
            "VOLUME" => Change::Volume(json_array(rest).unwrap_or_else(|| words(rest))),
            _ => return Err(ChangeError::Unsupported(word.to_owned())),
        };
        out.push(change);
    }
    Ok(out)
}

/// The exec form (`["a","b"]`) or the shell form (`/bin/sh -c "…"`).
fn command(rest: &str) -> Vec<String> {
    json_array(rest).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), rest.to_owned()])
}

fn json_array(rest: &str) -> Option<Vec<String>> {
    if !rest.starts_with('[') {
        return None;
    }
    serde_json::from_str(rest).ok()
}

/// Splits on whitespace, honouring double and single quotes and backslashes.
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (q, '\\') if q != Some('\'') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// `K=V K2="v 2"`, or (with `legacy`) the old `K value with spaces` form of `ENV`.
fn key_values(rest: &str, legacy: bool) -> Result<Vec<(String, String)>, String> {
    let parts = words(rest);
    if parts.first().is_some_and(|p| !p.contains('=')) {
        if legacy {
            let (k, v) = rest
                .split_once(char::is_whitespace)
                .ok_or_else(|| "must have two arguments".to_owned())?;
            return Ok(vec![(k.to_owned(), v.trim().to_owned())]);
        }
        return Err("requires key=value arguments".to_owned());
    }
    parts
        .into_iter()
        .map(|p| match p.split_once('=') {
            Some(("", _)) => Err("names can not be blank".to_owned()),
            Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
            None => Err(format!(
                "syntax error - can't find = in {p:?}. Must be of the form: name=value"
            )),
        })
        .collect()
}

/// Applies changes to an image config's `config` object (Docker's field names).
pub fn apply_changes(config: &mut Map<String, Value>, changes: &[Change]) {
    for change in changes {
        match change {
            Change::Cmd(c) => {
                config.insert("Cmd".into(), json!(c));
            }
            Change::Entrypoint(e) => {
                config.insert("Entrypoint".into(), json!(e));
                // Docker: a new ENTRYPOINT resets an inherited CMD.
                if !changes.iter().any(|c| matches!(c, Change::Cmd(_))) {
                    config.insert("Cmd".into(), Value::Null);
                }
            }
            Change::Env(pairs) => {
                let mut env: Vec<String> = config
                    .get("Env")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                for (k, v) in pairs {
                    let entry = format!("{k}={v}");
                    match env
                        .iter_mut()
                        .find(|e| e.split_once('=').map_or(e.as_str(), |(ek, _)| ek) == k)
                    {
                        Some(e) => *e = entry,
                        None => env.push(entry),
                    }
                }
                config.insert("Env".into(), json!(env));
            }
            Change::WorkingDir(w) => {
                config.insert("WorkingDir".into(), json!(w));
            }
            Change::User(u) => {
                config.insert("User".into(), json!(u));
            }
            Change::StopSignal(s) => {
                config.insert("StopSignal".into(), json!(s));
            }
            Change::Expose(ports) => insert_set(config, "ExposedPorts", ports),
            Change::Volume(vols) => insert_set(config, "Volumes", vols),
            Change::Label(pairs) => {
                let labels = object_entry(config, "Labels");
                for (k, v) in pairs {
                    labels.insert(k.clone(), json!(v));
                }
            }
            Change::OnBuild(trigger) => {
                let entry = config.entry("OnBuild").or_insert_with(|| json!([]));
                if !entry.is_array() {
                    *entry = json!([]);
                }
                if let Some(a) = entry.as_array_mut() {
                    a.push(json!(trigger));
                }
            }
        }
    }
}

fn object_entry<'a>(config: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let entry = config.entry(key).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry.as_object_mut().expect("just made an object")
}

fn insert_set(config: &mut Map<String, Value>, key: &str, items: &[String]) {
    let set = object_entry(config, key);
    for i in items {
        set.insert(i.clone(), json!({}));
    }
}

/// What a commit records besides the layer.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `author` of the config and the history entry.
    pub author: String,
    /// The history entry's comment (`docker commit -m`).
    pub comment: String,
    /// The history entry's `created_by` (Docker: the container's command).
    pub created_by: String,
    /// Config changes (`--change`).
    pub changes: Vec<Change>,
    /// RFC 3339 creation time; now if `None`.
    pub created: Option<String>,
}

/// The blobs a commit wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The image ID: the config digest.
    pub id: Digest,
    /// The manifest.
    pub manifest: Digest,
    /// The new layer's blob, which is also its diff ID.
    pub layer: Digest,
    /// The new layer's size in bytes.
    pub layer_size: u64,
}

fn io_error(op: &'static str, source: io::Error) -> StoreError {
    StoreError::Content(ContentError::Io {
        op,
        path: "-".into(),
        source,
    })
}

fn corrupt<'a>(
    what: &'static str,
    digest: &'a Digest,
) -> impl FnOnce(serde_json::Error) -> StoreError + 'a {
    move |source| StoreError::Corrupt {
        what,
        digest: digest.clone(),
        source,
    }
}

impl ImageStore {
    /// `docker commit`: the image `parent` (name, digest or ID, dangling ones
    /// included) plus the uncompressed layer tar read from `layer`, with the
    /// config changed as `opts` says; named `name` if given, else kept as a
    /// dangling image.
    pub fn commit(
        &self,
        parent: &str,
        layer: impl Read,
        name: Option<&Reference>,
        opts: &CommitOptions,
    ) -> Result<Committed, StoreError> {
        let _shared = self.shared();
        let (parent_manifest, _) = self.resolve_image(parent)?;
        let data = self.content().read_verified(&parent_manifest)?;
        let m: Manifest =
            serde_json::from_slice(&data).map_err(corrupt("manifest", &parent_manifest))?;
        let config_data = self.content().read_verified(&m.config.digest)?;
        let config: Value = serde_json::from_slice(&config_data)
            .map_err(corrupt("image config", &m.config.digest))?;
        let docker = m.media_type.as_deref() == Some(manifest::MEDIA_TYPE_DOCKER_MANIFEST)
            || m.config.media_type == manifest::MEDIA_TYPE_DOCKER_CONFIG;
        self.write_image(Some((m, config)), layer, name, opts, docker)
    }

    /// A one-layer image from a rootfs tar and config changes (`docker import
    /// --change` with instructions beyond what [`ImageStore::import_rootfs`]
    /// takes); named `name` if given, else kept as a dangling image. A gzipped
    /// tar is decompressed.
    pub fn import_with_changes(
        &self,
        layer: impl Read,
        name: Option<&Reference>,
        opts: &CommitOptions,
    ) -> Result<Committed, StoreError> {
        let _shared = self.shared();
        let mut input = io::BufReader::new(layer);
        let gzip = io::BufRead::fill_buf(&mut input)
            .map_err(|e| io_error("read layer tar", e))?
            .starts_with(&[0x1f, 0x8b]);
        let plain: Box<dyn Read + '_> = if gzip {
            Box::new(flate2::read::MultiGzDecoder::new(input))
        } else {
            Box::new(input)
        };
        self.write_image(None, plain, name, opts, false)
    }

    fn write_image(
        &self,
        parent: Option<(Manifest, Value)>,
        mut layer: impl Read,
        name: Option<&Reference>,
        opts: &CommitOptions,
        docker: bool,
    ) -> Result<Committed, StoreError> {
        let mut writer = self.content().writer(None, None)?;
        io::copy(&mut layer, &mut writer).map_err(|e| io_error("read layer tar", e))?;
        writer.flush().map_err(|e| io_error("write layer", e))?;
        let blob = writer.verify()?;
        let layer_digest = blob.digest().clone();
        let layer_size = blob.size();
        blob.commit()?;

        let created = opts.created.clone().unwrap_or_else(rfc3339_now);
        let (parent_layers, mut config) = match parent {
            Some((m, c)) => (m.layers, c),
            None => {
                let platform = crate::manifest::PlatformSpec::host();
                let mut c = json!({
                    "architecture": platform.architecture,
                    "os": platform.os,
                    "config": {},
                    "rootfs": {"type": "layers", "diff_ids": []},
                    "history": [],
                });
                if !platform.variant.is_empty() {
                    c["variant"] = json!(platform.variant);
                }
                (Vec::new(), c)
            }
        };
        if !config.is_object() {
            config = json!({});
        }
        let obj = config.as_object_mut().expect("an object");
        obj.insert("created".into(), json!(created));
        if opts.author.is_empty() {
            obj.remove("author");
        } else {
            obj.insert("author".into(), json!(opts.author));
        }
        apply_changes(object_entry(obj, "config"), &opts.changes);
        let rootfs = object_entry(obj, "rootfs");
        rootfs.insert("type".into(), json!("layers"));
        let diff_ids = rootfs.entry("diff_ids").or_insert_with(|| json!([]));
        if !diff_ids.is_array() {
            *diff_ids = json!([]);
        }
        if let Some(a) = diff_ids.as_array_mut() {
            a.push(json!(layer_digest.to_string()));
        }
        let mut entry = Map::new();
        entry.insert("created".into(), json!(created));
        if !opts.author.is_empty() {
            entry.insert("author".into(), json!(opts.author));
        }
        if !opts.created_by.is_empty() {
            entry.insert("created_by".into(), json!(opts.created_by));
        }
        if !opts.comment.is_empty() {
            entry.insert("comment".into(), json!(opts.comment));
        }
        let history = obj.entry("history").or_insert_with(|| json!([]));
        if !history.is_array() {
            *history = json!([]);
        }
        if let Some(a) = history.as_array_mut() {
            a.push(Value::Object(entry));
        }

        let config_data = serde_json::to_vec(&config).expect("config serialises");
        let config_digest = self.content().write_blob(&config_data, None)?;
        let (manifest_type, config_type, layer_type) = if docker {
            (
                manifest::MEDIA_TYPE_DOCKER_MANIFEST,
                manifest::MEDIA_TYPE_DOCKER_CONFIG,
                manifest::MEDIA_TYPE_DOCKER_LAYER,
            )
        } else {
            (
                manifest::MEDIA_TYPE_OCI_MANIFEST,
                manifest::MEDIA_TYPE_OCI_CONFIG,
                crate::import::MEDIA_TYPE_OCI_LAYER,
            )
        };
        let mut layers = parent_layers;
        layers.push(Descriptor::new(
            layer_type,
            layer_digest.clone(),
            layer_size,
        ));
        let m = Manifest {
            schema_version: 2,
            media_type: Some(manifest_type.to_owned()),
            config: Descriptor::new(config_type, config_digest.clone(), config_data.len() as u64),
            layers,
            annotations: BTreeMap::new(),
        };
        let manifest_data = serde_json::to_vec(&m).expect("manifest serialises");
        let manifest_digest = self.content().write_blob(&manifest_data, None)?;
        match name {
            Some(n) => {
                self.metadata().tag(n, &manifest_digest)?;
            }
            None => self.keep_dangling(&config_digest, &manifest_digest)?,
        }
        Ok(Committed {
            id: config_digest,
            manifest: manifest_digest,
            layer: layer_digest,
            layer_size,
        })
    }

    /// `docker save` of names, digests or IDs, dangling images included: what
    /// [`ImageStore::save`] writes (a name is written into the archive when
    /// the input is one of the image's names).
    pub fn save_images<W: Write>(&self, refs: &[&str], out: W) -> Result<W, StoreError> {
        let mut images: Vec<ExportImage> = Vec::new();
        for input in refs {
            let (manifest, names) = self.resolve_image(input)?;
            let name = Reference::parse(input).ok().filter(|r| names.contains(r));
            match images.iter_mut().find(|i| i.manifest == manifest) {
                Some(existing) => {
                    if let Some(n) = name {
                        if !existing.names.contains(&n) {
                            existing.names.push(n);
                        }
                    }
                }
                None => images.push(ExportImage {
                    manifest,
                    names: name.into_iter().collect(),
                }),
            }
        }
        Ok(crate::export::write_tar(
            self.content(),
            &images,
            ExportFormat::DockerArchive,
            out,
        )?)
    }

    /// Keeps an unnamed image from garbage collection.
    pub fn keep_dangling(&self, id: &Digest, manifest: &Digest) -> Result<(), StoreError> {
        let lease = format!("{DANGLING_LEASE_PREFIX}{id}");
        self.metadata()
            .lease_add(&lease, std::slice::from_ref(manifest))?;
        Ok(())
    }

    /// Lets an unnamed image go (its blobs go at the next collection); returns
    /// whether it was kept.
    pub fn release_dangling(&self, id: &Digest) -> Result<bool, StoreError> {
        Ok(self
            .metadata()
            .lease_delete(&format!("{DANGLING_LEASE_PREFIX}{id}"))?)
    }

    /// The dangling images: `(image ID, manifest)`, sorted by ID. An image that
    /// has since been named elsewhere is not dangling and is left out.
    pub fn dangling(&self) -> Result<Vec<(Digest, Digest)>, StoreError> {
        let named: Vec<Digest> = self
            .metadata()
            .list()?
            .into_iter()
            .map(|(_, r)| r.manifest)
            .collect();
        let mut out = Vec::new();
        for lease in self.metadata().leases()? {
            let Some(id) = lease.strip_prefix(DANGLING_LEASE_PREFIX) else {
                continue;
            };
            let Ok(id) = id.parse::<Digest>() else {
                continue;
            };
            let Some(manifest) = self.metadata().lease_digests(&lease)?.into_iter().next() else {
                continue;
            };
            if !named.contains(&manifest) {
                out.push((id, manifest));
            }
        }
        Ok(out)
    }

    /// [`ImageStore::resolve`], then the dangling images by ID (prefix): the
    /// manifest and the names (none for a dangling image).
    pub fn resolve_image(&self, input: &str) -> Result<(Digest, Vec<Reference>), StoreError> {
        let err = match self.resolve(input) {
            Ok(r) => return Ok((r.manifest, r.references)),
            Err(e) if e.kind() == crate::ErrorKind::NotFound => e,
            Err(e) => return Err(e),
        };
        let prefix = input.strip_prefix("sha256:").unwrap_or(input);
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err);
        }
        let found: Vec<_> = self
            .dangling()?
            .into_iter()
            .filter(|(id, _)| id.hex().starts_with(prefix))
            .collect();
        match found.as_slice() {
            [(_, manifest)] => Ok((manifest.clone(), Vec::new())),
            _ => Err(err),
        }
    }
}

/// The current UTC time as RFC 3339 with nanoseconds, as Docker writes `created`.
fn rfc3339_now() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_honour_quotes() {
        assert_eq!(
            words(r#"a "b c" 'd e' f\ g"#),
            vec!["a", "b c", "d e", "f g"]
        );
    }

    #[test]
    fn env_legacy_form() {
        assert_eq!(
            key_values("PATH /usr/bin:/bin", true).unwrap(),
            vec![("PATH".to_owned(), "/usr/bin:/bin".to_owned())]
        );
        assert!(key_values("a", false).is_err());
    }
}
