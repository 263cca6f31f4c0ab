//! Import of OCI image layouts and `docker save` archives into the content store.
//!
//! Two formats arrive from `docker load` and friends, each as a directory or
//! a tar file (optionally gzip-compressed):
//!
//! * an **OCI image layout** (`oci-layout`, `index.json`, `blobs/sha256/…`),
//!   as written by skopeo, buildah, `docker save` since Docker 25 and
//!   `docker buildx --output type=oci`;
//! * a **docker-archive** (`manifest.json` with `Config`, `RepoTags` and
//!   `Layers`, plus the files it names), as written by `docker save` before
//!   Docker 25 and by skopeo. It has no manifest blob, so one is synthesised:
//!   a Docker schema2 manifest whose layers are
//!   `application/vnd.docker.image.rootfs.diff.tar` (or `.tar.gzip` when the
//!   file starts with the gzip magic). Its JSON encoding is deterministic,
//!   so loading the same archive twice gives the same manifest digest. The
//!   legacy `repositories` file is ignored, as Docker does when
//!   `manifest.json` is present.
//!
//! When both `index.json` and `manifest.json` exist (Docker 25+ archives),
//! the OCI index wins, as with Docker's containerd image store.
//!
//! **Naming** (what `docker load` prints as "Loaded image"): from an index
//! entry's `io.containerd.image.name` annotation (Docker 25+ writes the full
//! name there), else from `org.opencontainers.image.ref.name` if that is a
//! full reference, i.e. contains `/`, `:` or `@` (containerd's
//! `archive.refTranslator` rule). A bare ref name such as `latest` is only a
//! tag: it names an image only if the caller supplies a repository
//! ([`ImportOptions::repository`], like `ctr import --base-name`); otherwise
//! the image is imported untagged (`name: None`) and is reachable by digest.
//! None of the test images carry `io.containerd.image.name`, so
//! `busybox-oci` imports untagged unless a repository is given.
//!
//! **Integrity:** every blob read from the source is hashed on the way in
//! and checked against its descriptor's digest and size (for docker-archive
//! layers: against the config's `rootfs.diff_ids`, after decompression for
//! gzip layers). All blobs of an import are first written to `ingest/` and
//! verified, and only when every one passed are they committed, children
//! before parents (layers, config, manifest, index), so a failed import adds
//! no blob and a parent is never visible without its children. Blobs already
//! in the store are not read again.
//!
//! From an index only the manifest for the wanted platform (and its config
//! and layers) is imported, together with the index itself, as Docker does
//! by default; the other platforms' manifests are not required to be present.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::content::{ContentError, ContentStore, VerifiedBlob};
use crate::digest::{digest_reader, is_sha256_hex, Digest};
use crate::manifest::{
    self, ConfigSummary, Descriptor, Index, Manifest, PlatformSpec, ANNOTATION_CONTAINERD_NAME,
    ANNOTATION_REF_NAME,
};
use crate::reference::{Reference, ReferenceError};
use crate::ErrorKind;

/// Largest manifest, index or config accepted (containerd's manifest limit).
pub const MAX_DOCUMENT_SIZE: u64 = 8 << 20;
const MAX_INDEX_DEPTH: usize = 4;
const MAX_LINK_DEPTH: usize = 16;

/// Errors from importing an archive or layout.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Neither an OCI layout nor a docker archive.
    #[error("{0}: not an OCI image layout or docker archive (no index.json or manifest.json)")]
    UnknownFormat(PathBuf),
    /// The input is compressed with something other than gzip.
    #[error("{0}: unsupported archive compression (only plain and gzip tar are accepted)")]
    UnsupportedCompression(PathBuf),
    /// `oci-layout` names a version this code does not read.
    #[error("unsupported OCI image layout version {0:?}")]
    LayoutVersion(String),
    /// A file the index or manifest refers to is not in the source.
    #[error("{name} is missing from {source_path}")]
    Missing {
        /// The file inside the source.
        name: String,
        /// The source.
        source_path: PathBuf,
    },
    /// A blob's content does not hash to its announced digest.
    #[error("blob {expected} ({name}) does not match its digest: content hashes to {actual}")]
    BlobDigest {
        /// The announced digest.
        expected: Digest,
        /// What the content hashes to.
        actual: Digest,
        /// The file inside the source.
        name: String,
    },
    /// A blob's size differs from its descriptor.
    #[error("blob {digest} ({name}) has {actual} bytes, its descriptor says {expected}")]
    BlobSize {
        /// The blob's digest.
        digest: Digest,
        /// The descriptor's size.
        expected: u64,
        /// The bytes found.
        actual: u64,
        /// The file inside the source.
        name: String,
    },
    /// A layer's uncompressed content does not match the config's diff ID.
    #[error("layer {index} ({name}) does not match the config: uncompressed digest {actual}, diff id {expected}")]
    DiffId {
        /// Layer position, base 0.
        index: usize,
        /// The file inside the source.
        name: String,
        /// The config's diff ID.
        expected: Digest,
        /// What the uncompressed layer hashes to.
        actual: Digest,
    },
    /// Config and manifest disagree on the number of layers.
    #[error("image {image}: the config lists {diff_ids} diff ids but there are {layers} layers")]
    LayerCount {
        /// The manifest or config path.
        image: String,
        /// Diff IDs in the config.
        diff_ids: usize,
        /// Layers in the manifest.
        layers: usize,
    },
    /// A JSON document does not parse.
    #[error("invalid {what} {name}: {source}")]
    Json {
        /// What the document should be.
        what: &'static str,
        /// The file inside the source.
        name: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A JSON document is larger than [`MAX_DOCUMENT_SIZE`].
    #[error("{what} {name} is too large ({size} bytes, limit {MAX_DOCUMENT_SIZE})")]
    TooLarge {
        /// What the document should be.
        what: &'static str,
        /// The file inside the source.
        name: String,
        /// Its size.
        size: u64,
    },
    /// A descriptor's media type is not a manifest, index or image config.
    #[error("unsupported media type {media_type:?} for {digest}")]
    UnsupportedMediaType {
        /// The media type.
        media_type: String,
        /// The descriptor's digest.
        digest: Digest,
    },
    /// A docker-archive layer is compressed with something other than gzip.
    #[error("layer {0} is compressed with an unsupported algorithm (docker archives hold plain or gzip tars)")]
    UnsupportedLayerCompression(String),
    /// No manifest in an index matches the wanted platform.
    #[error("index {index} has no manifest for platform {platform}")]
    NoPlatform {
        /// The index digest.
        index: Digest,
        /// The wanted platform.
        platform: String,
    },
    /// Indexes nest deeper than allowed.
    #[error("index {0} nests more than {MAX_INDEX_DEPTH} levels deep")]
    TooDeep(Digest),
    /// An image name in the archive is not a valid reference.
    #[error("invalid image name {name:?} in archive: {source}")]
    Name {
        /// The name as written.
        name: String,
        /// Why it is invalid.
        #[source]
        source: ReferenceError,
    },
    /// A path in the archive escapes its root or a link loops.
    #[error("unsafe or unresolvable path {0:?} in archive")]
    UnsafePath(String),
    /// A rootfs archive given to `docker import` is not a readable tar.
    #[error("rootfs archive is not a valid tar: {0}")]
    InvalidRootfs(#[source] io::Error),
    /// The content store refused a blob.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// Reading the source failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl ImportError {
    /// The error's class, for the API layer.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ImportError::NoPlatform { .. } => ErrorKind::NotFound,
            ImportError::Content(e) => e.kind(),
            ImportError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            ImportError::Io { .. } => ErrorKind::Internal,
            _ => ErrorKind::InvalidArgument,
        }
    }
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ImportError {
    let path = path.to_owned();
    move |source| ImportError::Io { op, path, source }
}

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The platform picked from indexes. Default: the host's (linux/amd64 here).
    pub platform: PlatformSpec,
    /// Repository for OCI entries whose ref name is only a tag
    /// (`latest` becomes `<repository>:latest`).
    pub repository: Option<Reference>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            platform: PlatformSpec::host(),
            repository: None,
        }
    }
}

/// One image made available by an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedImage {
    /// The name to tag it with, if the archive gave one.
    pub name: Option<Reference>,
    /// What the archive's top level points at (an index or a manifest).
    pub target: Digest,
    /// The platform manifest.
    pub manifest: Digest,
    /// The image config (the image ID).
    pub config: Digest,
}

/// Imports a layout or archive (directory, tar or tar.gz) into `store`.
pub fn import_path(
    store: &ContentStore,
    path: &Path,
    opts: &ImportOptions,
) -> Result<Vec<ImportedImage>, ImportError> {
    let source = Source::open(store, path)?;
    let mut stager = Stager {
        store,
        staged: Vec::new(),
        seen: HashSet::new(),
    };
    let images = if source.exists("index.json") {
        import_oci(&source, opts, &mut stager)?
    } else if source.exists("manifest.json") {
        import_docker_archive(&source, &mut stager)?
    } else {
        return Err(ImportError::UnknownFormat(path.to_owned()));
    };
    stager.commit()?;
    Ok(images)
}

// ---------------------------------------------------------------- sources

/// A directory or an indexed tar file to read named files from.
enum Source {
    Dir(PathBuf),
    Tar(TarSource),
}

struct TarSource {
    /// The user's path (for messages).
    display: PathBuf,
    /// The plain tar actually read (a temporary file for .tar.gz).
    file: PathBuf,
    entries: HashMap<String, TarEntry>,
    _temp: Option<TempFile>,
}

enum TarEntry {
    File { offset: u64, size: u64 },
    Link(String),
}

/// A temporary file in the store's ingest directory, removed on drop.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Lexically normalises an archive path; refuses paths escaping the root.
fn clean(name: &str) -> Result<String, ImportError> {
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(ImportError::UnsafePath(name.to_owned()));
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

impl Source {
    fn open(store: &ContentStore, path: &Path) -> Result<Self, ImportError> {
        let meta = fs::metadata(path).map_err(io_err("stat", path))?;
        if meta.is_dir() {
            return Ok(Source::Dir(path.to_owned()));
        }
        let mut f = File::open(path).map_err(io_err("open", path))?;
        let mut magic = [0u8; 4];
        let n = read_up_to(&mut f, &mut magic).map_err(io_err("read", path))?;
        f.seek(SeekFrom::Start(0)).map_err(io_err("seek", path))?;
        let (file, temp) = match &magic[..n] {
            [0x1f, 0x8b, ..] => {
                let (tmp_path, mut tmp) = store.new_ingest_file()?;
                let temp = TempFile(tmp_path.clone());
                io::copy(&mut flate2::read::MultiGzDecoder::new(f), &mut tmp)
                    .map_err(io_err("decompress", path))?;
                (tmp_path, Some(temp))
            }
            [0x28, 0xb5, 0x2f, 0xfd] | [b'B', b'Z', b'h', _] | [0xfd, b'7', b'z', b'X'] => {
                return Err(ImportError::UnsupportedCompression(path.to_owned()))
            }
            _ => (path.to_owned(), None),
        };
        let entries = index_tar(&file).map_err(|e| match e {
            ImportError::Io { op, source, .. } => ImportError::Io {
                op,
                path: path.to_owned(),
                source,
            },
            other => other,
        })?;
        Ok(Source::Tar(TarSource {
            display: path.to_owned(),
            file,
            entries,
            _temp: temp,
        }))
    }

    fn display(&self) -> &Path {
        match self {
            Source::Dir(p) => p,
            Source::Tar(t) => &t.display,
        }
    }

    fn missing(&self, name: &str) -> ImportError {
        ImportError::Missing {
            name: name.to_owned(),
            source_path: self.display().to_owned(),
        }
    }

    fn exists(&self, name: &str) -> bool {
        match self {
            Source::Dir(root) => clean(name).is_ok_and(|n| root.join(n).is_file()),
            Source::Tar(t) => t.resolve(name).is_ok(),
        }
    }

    /// Opens a file inside the source; returns a reader and its size.
    fn open_file(&self, name: &str) -> Result<(Box<dyn Read + '_>, u64), ImportError> {
        match self {
            Source::Dir(root) => {
                let path = root.join(clean(name)?);
                let f = match File::open(&path) {
                    Ok(f) => f,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(self.missing(name)),
                    Err(e) => return Err(io_err("open", &path)(e)),
                };
                let size = f.metadata().map_err(io_err("stat", &path))?.len();
                Ok((Box::new(f), size))
            }
            Source::Tar(t) => {
                let (offset, size) = t.resolve(name).map_err(|e| match e {
                    ImportError::Missing { .. } => self.missing(name),
                    other => other,
                })?;
                let mut f = File::open(&t.file).map_err(io_err("open", &t.display))?;
                f.seek(SeekFrom::Start(offset))
                    .map_err(io_err("seek", &t.display))?;
                Ok((Box::new(f.take(size)), size))
            }
        }
    }

    /// Reads a small JSON document whole.
    fn read_doc(&self, name: &str, what: &'static str) -> Result<Vec<u8>, ImportError> {
        let (r, size) = self.open_file(name)?;
        if size > MAX_DOCUMENT_SIZE {
            return Err(ImportError::TooLarge {
                what,
                name: name.to_owned(),
                size,
            });
        }
        let mut data = Vec::with_capacity(size as usize);
        r.take(MAX_DOCUMENT_SIZE + 1)
            .read_to_end(&mut data)
            .map_err(io_err("read", &self.display().join(name)))?;
        Ok(data)
    }
}

impl TarSource {
    fn resolve(&self, name: &str) -> Result<(u64, u64), ImportError> {
        let mut current = clean(name)?;
        for _ in 0..MAX_LINK_DEPTH {
            match self.entries.get(&current) {
                Some(TarEntry::File { offset, size }) => return Ok((*offset, *size)),
                Some(TarEntry::Link(target)) => current = target.clone(),
                None => {
                    return Err(ImportError::Missing {
                        name: name.to_owned(),
                        source_path: self.display.clone(),
                    })
                }
            }
        }
        Err(ImportError::UnsafePath(name.to_owned()))
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Records where each regular file's data lies in the tar, and where each
/// link points, so files can be read in any order without extracting.
fn index_tar(path: &Path) -> Result<HashMap<String, TarEntry>, ImportError> {
    let f = File::open(path).map_err(io_err("open", path))?;
    let mut archive = tar::Archive::new(f);
    let mut entries = HashMap::new();
    for entry in archive.entries().map_err(io_err("read tar", path))? {
        let entry = entry.map_err(io_err("read tar", path))?;
        let raw = entry.path().map_err(io_err("read tar", path))?;
        let raw = raw.to_string_lossy().into_owned();
        let Ok(name) = clean(&raw) else {
            // An entry outside the root can never be named by a valid
            // manifest; skip it rather than fail the whole archive.
            continue;
        };
        let kind = entry.header().entry_type();
        let value = if kind.is_file() {
            TarEntry::File {
                offset: entry.raw_file_position(),
                size: entry.size(),
            }
        } else if kind.is_symlink() || kind.is_hard_link() {
            let Some(target) = entry.link_name().map_err(io_err("read tar", path))? else {
                continue;
            };
            let target = target.to_string_lossy().into_owned();
            let joined = if kind.is_symlink() && !target.starts_with('/') {
                match name.rsplit_once('/') {
                    Some((parent, _)) => format!("{parent}/{target}"),
                    None => target,
                }
            } else {
                target
            };
            match clean(&joined) {
                Ok(t) => TarEntry::Link(t),
                Err(_) => continue,
            }
        } else {
            continue;
        };
        entries.insert(name, value);
    }
    Ok(entries)
}

// ---------------------------------------------------------------- staging

/// Blobs written and verified in `ingest/`, waiting for the whole import to pass.
struct Stager<'a> {
    store: &'a ContentStore,
    staged: Vec<VerifiedBlob>,
    seen: HashSet<Digest>,
}

impl Stager<'_> {
    fn has(&self, d: &Digest) -> bool {
        self.seen.contains(d) || self.store.exists(d)
    }

    fn push(&mut self, blob: VerifiedBlob) {
        if self.seen.insert(blob.digest().clone()) && !self.store.exists(blob.digest()) {
            self.staged.push(blob);
        }
    }

    /// Streams a file into ingest, checking digest and size when given.
    fn stage_file(
        &mut self,
        src: &Source,
        name: &str,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
    ) -> Result<(Digest, u64), ImportError> {
        if let (Some(d), Some(size)) = (expected, expected_size) {
            if self.has(d) {
                return Ok((d.clone(), size));
            }
        }
        let (mut r, _) = src.open_file(name)?;
        let mut w = self.store.writer(expected.cloned(), expected_size)?;
        io::copy(&mut r, &mut w).map_err(io_err("read", &src.display().join(name)))?;
        let blob = w.verify().map_err(|e| blob_error(e, name))?;
        let out = (blob.digest().clone(), blob.size());
        self.push(blob);
        Ok(out)
    }

    fn stage_bytes(&mut self, data: &[u8]) -> Result<Digest, ImportError> {
        let d = Digest::of(data);
        if self.has(&d) {
            return Ok(d);
        }
        let mut w = self
            .store
            .writer(Some(d.clone()), Some(data.len() as u64))?;
        io::Write::write_all(&mut w, data).map_err(io_err("write", self.store.root()))?;
        let blob = w.verify()?;
        self.push(blob);
        Ok(d)
    }

    /// Makes every staged blob visible, in staging order (children first).
    fn commit(self) -> Result<(), ImportError> {
        for blob in self.staged {
            blob.commit()?;
        }
        Ok(())
    }
}

fn blob_error(e: ContentError, name: &str) -> ImportError {
    match e {
        ContentError::DigestMismatch { expected, actual } => ImportError::BlobDigest {
            expected,
            actual,
            name: name.to_owned(),
        },
        ContentError::SizeMismatch {
            digest,
            expected,
            actual,
        } => ImportError::BlobSize {
            digest,
            expected,
            actual,
            name: name.to_owned(),
        },
        other => other.into(),
    }
}

/// Checks an in-memory document against its descriptor.
fn check_doc(data: &[u8], desc: &Descriptor, name: &str) -> Result<(), ImportError> {
    let actual = Digest::of(data);
    if actual != desc.digest {
        return Err(ImportError::BlobDigest {
            expected: desc.digest.clone(),
            actual,
            name: name.to_owned(),
        });
    }
    if data.len() as u64 != desc.size {
        return Err(ImportError::BlobSize {
            digest: actual,
            expected: desc.size,
            actual: data.len() as u64,
            name: name.to_owned(),
        });
    }
    Ok(())
}

fn parse<T: for<'de> Deserialize<'de>>(
    data: &[u8],
    what: &'static str,
    name: &str,
) -> Result<T, ImportError> {
    serde_json::from_slice(data).map_err(|source| ImportError::Json {
        what,
        name: name.to_owned(),
        source,
    })
}

// ---------------------------------------------------------------- OCI layout

#[derive(Deserialize)]
struct LayoutHeader {
    #[serde(rename = "imageLayoutVersion")]
    version: String,
}

fn blob_name(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

fn import_oci(
    src: &Source,
    opts: &ImportOptions,
    stager: &mut Stager<'_>,
) -> Result<Vec<ImportedImage>, ImportError> {
    if src.exists("oci-layout") {
        let header: LayoutHeader = parse(
            &src.read_doc("oci-layout", "oci-layout")?,
            "oci-layout",
            "oci-layout",
        )?;
        if header.version.split('.').next() != Some("1") {
            return Err(ImportError::LayoutVersion(header.version));
        }
    }
    let index: Index = parse(&src.read_doc("index.json", "index")?, "index", "index.json")?;
    let mut images = Vec::new();
    for desc in &index.manifests {
        let name = image_name(&desc.annotations, opts)?;
        let (manifest, config) = walk(src, desc, opts, stager, 0)?;
        images.push(ImportedImage {
            name,
            target: desc.digest.clone(),
            manifest,
            config,
        });
    }
    Ok(images)
}

/// The name of an index.json entry; see the module docs.
fn image_name(
    annotations: &BTreeMap<String, String>,
    opts: &ImportOptions,
) -> Result<Option<Reference>, ImportError> {
    let parse_name = |n: &str| {
        Reference::parse(n).map_err(|source| ImportError::Name {
            name: n.to_owned(),
            source,
        })
    };
    if let Some(n) = annotations.get(ANNOTATION_CONTAINERD_NAME) {
        return parse_name(n).map(Some);
    }
    let Some(r) = annotations.get(ANNOTATION_REF_NAME) else {
        return Ok(None);
    };
    if r.contains(['/', ':', '@']) {
        return parse_name(r).map(Some);
    }
    match &opts.repository {
        Some(repo) => repo
            .with_tag(r)
            .map(Some)
            .map_err(|source| ImportError::Name {
                name: r.clone(),
                source,
            }),
        None => Ok(None),
    }
}

/// Stages the graph under `desc`; returns (platform manifest, config).
fn walk(
    src: &Source,
    desc: &Descriptor,
    opts: &ImportOptions,
    stager: &mut Stager<'_>,
    depth: usize,
) -> Result<(Digest, Digest), ImportError> {
    let name = blob_name(&desc.digest);
    if manifest::is_index(&desc.media_type) {
        if depth >= MAX_INDEX_DEPTH {
            return Err(ImportError::TooDeep(desc.digest.clone()));
        }
        let data = src.read_doc(&name, "index")?;
        check_doc(&data, desc, &name)?;
        let index: Index = parse(&data, "index", &name)?;
        let child =
            manifest::select(&index, &opts.platform).ok_or_else(|| ImportError::NoPlatform {
                index: desc.digest.clone(),
                platform: opts.platform.to_string(),
            })?;
        let found = walk(src, child, opts, stager, depth + 1)?;
        stager.stage_bytes(&data)?;
        return Ok(found);
    }
    if !manifest::is_manifest(&desc.media_type) {
        return Err(ImportError::UnsupportedMediaType {
            media_type: desc.media_type.clone(),
            digest: desc.digest.clone(),
        });
    }
    let data = src.read_doc(&name, "manifest")?;
    check_doc(&data, desc, &name)?;
    let m: Manifest = parse(&data, "manifest", &name)?;
    if !manifest::is_config(&m.config.media_type) {
        return Err(ImportError::UnsupportedMediaType {
            media_type: m.config.media_type.clone(),
            digest: m.config.digest.clone(),
        });
    }
    let config_name = blob_name(&m.config.digest);
    let config_data = src.read_doc(&config_name, "image config")?;
    check_doc(&config_data, &m.config, &config_name)?;
    let config: ConfigSummary = parse(&config_data, "image config", &config_name)?;
    if config.rootfs.diff_ids.len() != m.layers.len() {
        return Err(ImportError::LayerCount {
            image: name,
            diff_ids: config.rootfs.diff_ids.len(),
            layers: m.layers.len(),
        });
    }
    for layer in &m.layers {
        stager.stage_file(
            src,
            &blob_name(&layer.digest),
            Some(&layer.digest),
            Some(layer.size),
        )?;
    }
    stager.stage_bytes(&config_data)?;
    stager.stage_bytes(&data)?;
    Ok((desc.digest.clone(), m.config.digest.clone()))
}

// ---------------------------------------------------------------- docker archive

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// The sha256 hex an archive file name carries (`<hex>.json`, `<hex>.tar`,
/// `blobs/sha256/<hex>`), if any.
fn hex_in_name(name: &str) -> Option<&str> {
    let base = name.rsplit('/').next()?;
    let stem = base.split_once('.').map_or(base, |(s, _)| s);
    is_sha256_hex(stem).then_some(stem)
}

fn import_docker_archive(
    src: &Source,
    stager: &mut Stager<'_>,
) -> Result<Vec<ImportedImage>, ImportError> {
    let entries: Vec<ArchiveEntry> = parse(
        &src.read_doc("manifest.json", "manifest.json")?,
        "docker archive manifest",
        "manifest.json",
    )?;
    let mut images = Vec::new();
    for entry in entries {
        let config_data = src.read_doc(&entry.config, "image config")?;
        let config_digest = Digest::of(&config_data);
        if let Some(hex) = hex_in_name(&entry.config) {
            if hex != config_digest.hex() {
                return Err(ImportError::BlobDigest {
                    expected: Digest::from_hex(hex).expect("checked hex"),
                    actual: config_digest,
                    name: entry.config.clone(),
                });
            }
        }
        let config: ConfigSummary = parse(&config_data, "image config", &entry.config)?;
        if config.rootfs.diff_ids.len() != entry.layers.len() {
            return Err(ImportError::LayerCount {
                image: entry.config.clone(),
                diff_ids: config.rootfs.diff_ids.len(),
                layers: entry.layers.len(),
            });
        }
        let mut layers = Vec::new();
        for (i, (name, diff_id)) in entry.layers.iter().zip(&config.rootfs.diff_ids).enumerate() {
            let (mut r, _) = src.open_file(name)?;
            let mut magic = [0u8; 4];
            let n = read_up_to(&mut r, &mut magic).map_err(io_err("read", src.display()))?;
            drop(r);
            let (media_type, digest, size) = match &magic[..n] {
                [0x1f, 0x8b, ..] => {
                    let (r, _) = src.open_file(name)?;
                    let (actual, _) = digest_reader(flate2::read::MultiGzDecoder::new(r))
                        .map_err(io_err("decompress", &src.display().join(name)))?;
                    if &actual != diff_id {
                        return Err(ImportError::DiffId {
                            index: i,
                            name: name.clone(),
                            expected: diff_id.clone(),
                            actual,
                        });
                    }
                    let (d, size) = stager.stage_file(src, name, None, None)?;
                    (manifest::MEDIA_TYPE_DOCKER_LAYER_GZIP, d, size)
                }
                [0x28, 0xb5, 0x2f, 0xfd] | [b'B', b'Z', b'h', _] | [0xfd, b'7', b'z', b'X'] => {
                    return Err(ImportError::UnsupportedLayerCompression(name.clone()))
                }
                _ => {
                    let (d, size) =
                        stager
                            .stage_file(src, name, Some(diff_id), None)
                            .map_err(|e| match e {
                                ImportError::BlobDigest {
                                    expected, actual, ..
                                } => ImportError::DiffId {
                                    index: i,
                                    name: name.clone(),
                                    expected,
                                    actual,
                                },
                                other => other,
                            })?;
                    (manifest::MEDIA_TYPE_DOCKER_LAYER, d, size)
                }
            };
            layers.push(Descriptor::new(media_type, digest, size));
        }
        let m = Manifest {
            schema_version: 2,
            media_type: Some(manifest::MEDIA_TYPE_DOCKER_MANIFEST.to_owned()),
            config: Descriptor::new(
                manifest::MEDIA_TYPE_DOCKER_CONFIG,
                config_digest.clone(),
                config_data.len() as u64,
            ),
            layers,
            annotations: BTreeMap::new(),
        };
        let manifest_data = serde_json::to_vec(&m).expect("manifest serialises");
        stager.stage_bytes(&config_data)?;
        let manifest_digest = stager.stage_bytes(&manifest_data)?;
        let tags = entry.repo_tags.unwrap_or_default();
        let image = |name| ImportedImage {
            name,
            target: manifest_digest.clone(),
            manifest: manifest_digest.clone(),
            config: config_digest.clone(),
        };
        if tags.is_empty() {
            images.push(image(None));
        }
        for tag in tags {
            let r = Reference::parse(&tag).map_err(|source| ImportError::Name {
                name: tag.clone(),
                source,
            })?;
            images.push(image(Some(r)));
        }
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_refuses_escapes() {
        assert_eq!(clean("./a/./b/").unwrap(), "a/b");
        assert_eq!(clean("a/../b").unwrap(), "b");
        assert!(clean("../etc/passwd").is_err());
        assert!(clean("a/../../b").is_err());
        assert_eq!(clean("/abs/x").unwrap(), "abs/x");
    }

    #[test]
    fn names_in_archive_file_names() {
        let hex = "e6fe98b4e638e3fad250f0fcdd0dc5bc2974268bcbe10df95c876504b37c78cb";
        assert_eq!(hex_in_name(&format!("{hex}.json")), Some(hex));
        assert_eq!(hex_in_name(&format!("blobs/sha256/{hex}")), Some(hex));
        assert_eq!(hex_in_name("abc/layer.tar"), None);
    }

    #[test]
    fn oci_ref_names_follow_containerd() {
        let ann = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), v.to_owned())]);
        let opts = ImportOptions::default();
        let with_repo = ImportOptions {
            repository: Some("example.com/team/app".parse().unwrap()),
            ..ImportOptions::default()
        };
        let name = |a: &BTreeMap<String, String>, o: &ImportOptions| {
            image_name(a, o).unwrap().map(|r| r.to_string())
        };
        assert_eq!(name(&ann(ANNOTATION_REF_NAME, "latest"), &opts), None);
        assert_eq!(
            name(&ann(ANNOTATION_REF_NAME, "latest"), &with_repo).as_deref(),
            Some("example.com/team/app:latest")
        );
        assert_eq!(
            name(&ann(ANNOTATION_REF_NAME, "busybox:1.36"), &opts).as_deref(),
            Some("docker.io/library/busybox:1.36")
        );
        assert_eq!(
            name(
                &ann(
                    ANNOTATION_CONTAINERD_NAME,
                    "docker.io/library/busybox:latest"
                ),
                &opts
            )
            .as_deref(),
            Some("docker.io/library/busybox:latest")
        );
        let mut both = ann(ANNOTATION_CONTAINERD_NAME, "user/app:v1");
        both.insert(ANNOTATION_REF_NAME.into(), "v1".into());
        assert_eq!(
            name(&both, &with_repo).as_deref(),
            Some("docker.io/user/app:v1")
        );
        assert!(matches!(
            image_name(&ann(ANNOTATION_REF_NAME, "Bad/Name:x"), &opts),
            Err(ImportError::Name { .. })
        ));
        assert_eq!(name(&BTreeMap::new(), &opts), None);
    }
}

// ---------------------------------------------------------------- rootfs tars

/// OCI uncompressed layer, the media type of a `docker import` layer.
pub const MEDIA_TYPE_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// Config overrides for [`import_rootfs`] (`docker import --change`, the
/// subset berth supports).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootfsConfig {
    /// `CMD`.
    pub cmd: Option<Vec<String>>,
    /// `ENV`, as `KEY=value`.
    pub env: Vec<String>,
    /// `WORKDIR`.
    pub working_dir: Option<String>,
}

/// The blobs [`import_rootfs`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsImage {
    /// The manifest.
    pub manifest: Digest,
    /// The config: the image ID.
    pub config: Digest,
    /// The layer blob, which is also its diff ID (stored uncompressed).
    pub layer: Digest,
}

/// Copies everything read from `r` into `w` as well.
struct Tee<R, W> {
    r: R,
    w: W,
}

impl<R: Read, W: io::Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.r.read(buf)?;
        self.w.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// `docker import`: stores a plain rootfs tar (or tar.gz) as a one-layer
/// image. The layer is stored **uncompressed**
/// (`application/vnd.oci.image.layer.v1.tar`), so its blob digest is its
/// diff ID. The tar is parsed while it streams in, so a file that is not a
/// tar is refused before anything is committed. The config is an OCI image
/// config for the host platform with one history entry, "imported from
/// tarball"; blobs are committed layer, config, manifest, so a crash leaves
/// at most unreferenced blobs.
pub fn import_rootfs(
    store: &ContentStore,
    reader: impl Read,
    config: &RootfsConfig,
) -> Result<RootfsImage, ImportError> {
    let mut input = io::BufReader::new(reader);
    let gzip = io::BufRead::fill_buf(&mut input)
        .map_err(ImportError::InvalidRootfs)?
        .starts_with(&[0x1f, 0x8b]);
    let plain: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(input))
    } else {
        Box::new(input)
    };
    let mut writer = store.writer(None, None)?;
    {
        let tee = Tee {
            r: plain,
            w: &mut writer,
        };
        let mut archive = tar::Archive::new(tee);
        let mut count = 0usize;
        for entry in archive.entries().map_err(ImportError::InvalidRootfs)? {
            entry.map_err(ImportError::InvalidRootfs)?;
            count += 1;
        }
        if count == 0 {
            return Err(ImportError::InvalidRootfs(io::Error::new(
                io::ErrorKind::InvalidData,
                "archive has no entries",
            )));
        }
        // Keep the end-of-archive blocks and any padding: the layer is
        // stored byte for byte as given (after decompression).
        let mut tee = archive.into_inner();
        io::copy(&mut tee, &mut io::sink()).map_err(ImportError::InvalidRootfs)?;
    }
    let layer_blob = writer.verify()?;
    let layer = layer_blob.digest().clone();
    let layer_size = layer_blob.size();
    layer_blob.commit()?;

    let platform = PlatformSpec::host();
    let created = rfc3339_now();
    let mut cfg = serde_json::Map::new();
    if let Some(cmd) = &config.cmd {
        cfg.insert("Cmd".into(), serde_json::json!(cmd));
    }
    if !config.env.is_empty() {
        cfg.insert("Env".into(), serde_json::json!(config.env));
    }
    if let Some(wd) = &config.working_dir {
        cfg.insert("WorkingDir".into(), serde_json::json!(wd));
    }
    let mut image_config = serde_json::json!({
        "created": created,
        "architecture": platform.architecture,
        "os": platform.os,
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [layer.to_string()]},
        "history": [{"created": created, "comment": "imported from tarball"}],
    });
    if !platform.variant.is_empty() {
        image_config["variant"] = serde_json::json!(platform.variant);
    }
    let config_data = serde_json::to_vec(&image_config).expect("config serialises");
    let config_digest = store.write_blob(&config_data, None)?;
    let desc = |media_type: &str, digest: &Digest, size: u64| {
        Descriptor::new(media_type, digest.clone(), size)
    };
    let m = Manifest {
        schema_version: 2,
        media_type: Some(manifest::MEDIA_TYPE_OCI_MANIFEST.to_owned()),
        config: desc(
            manifest::MEDIA_TYPE_OCI_CONFIG,
            &config_digest,
            config_data.len() as u64,
        ),
        layers: vec![desc(MEDIA_TYPE_OCI_LAYER, &layer, layer_size)],
        annotations: BTreeMap::new(),
    };
    let manifest_data = serde_json::to_vec(&m).expect("manifest serialises");
    let manifest_digest = store.write_blob(&manifest_data, None)?;
    Ok(RootfsImage {
        manifest: manifest_digest,
        config: config_digest,
        layer,
    })
}

/// The current UTC time as RFC 3339 (`2026-11-22T10:15:43Z`).
fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod rootfs_tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_342_543), "2026-11-22T10:15:43Z");
    }
}
