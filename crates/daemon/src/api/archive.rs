//! `docker cp`, `docker export` and `docker diff`: files of a container's root.
//!
//! The container's root (`bundle/rootfs`) is mounted from create to removal, so
//! these work on created, running and stopped containers alike. The root is the
//! container's, so every path in it is hostile: a symlink `/etc -> /` planted by
//! the image or the process must not make `docker cp` read or write the host's
//! files (CVE-2018-15664, CVE-2019-14271). Paths are therefore resolved by the
//! kernel with `openat2(RESOLVE_IN_ROOT)`, as if the root were `/`, and trees are
//! walked with directory fds and `O_NOFOLLOW`, never by joining strings. The
//! final component of a `GET` path is not followed (Docker's `cp` copies a
//! symlink as a symlink), unless the path ends in `/` or `/.`.
//!
//! `X-Docker-Container-Path-Stat` carries base64 JSON of Go's `PathStat`: `mode`
//! is a Go `os.FileMode` (permission bits plus type bits such as `ModeDir =
//! 1<<31`, `ModeSymlink = 1<<27`), `mtime` an RFC 3339 time.
//!
//! `docker diff` reads the overlay upper directory, as Docker's overlay driver
//! does: a character device 0:0 is a deletion, a path that exists below is a
//! change, anything else an addition; a directory present below whose mode, size
//! and mtime are unchanged is not reported by itself, but the parent of an
//! addition or deletion always is.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path as FsPath, PathBuf};

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use berth_image::snapshot::Snapshotter;
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use serde_json::{json, Value};

use super::images::streamed_body;
use super::{json, AppState, Query};
use crate::daemon::{blocking, Daemon};
use crate::error::{Error, Result};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/containers/{id}/archive",
            get(get_archive).head(head_archive).put(put_archive),
        )
        .route("/containers/{id}/export", get(export))
        .route("/containers/{id}/changes", get(changes))
}

// ------------------------------------------------------------------ Go FileMode

const MODE_DIR: u32 = 1 << 31;
const MODE_SYMLINK: u32 = 1 << 27;
const MODE_DEVICE: u32 = 1 << 26;
const MODE_NAMED_PIPE: u32 = 1 << 25;
const MODE_SOCKET: u32 = 1 << 24;
const MODE_SETUID: u32 = 1 << 23;
const MODE_SETGID: u32 = 1 << 22;
const MODE_CHAR_DEVICE: u32 = 1 << 21;
const MODE_STICKY: u32 = 1 << 20;

/// A Unix `st_mode` as Go's `os.FileMode`.
pub fn go_file_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    m |= match st_mode & libc::S_IFMT {
        libc::S_IFDIR => MODE_DIR,
        libc::S_IFLNK => MODE_SYMLINK,
        libc::S_IFBLK => MODE_DEVICE,
        libc::S_IFCHR => MODE_DEVICE | MODE_CHAR_DEVICE,
        libc::S_IFIFO => MODE_NAMED_PIPE,
        libc::S_IFSOCK => MODE_SOCKET,
        _ => 0,
    };
    if st_mode & libc::S_ISUID != 0 {
        m |= MODE_SETUID;
    }
    if st_mode & libc::S_ISGID != 0 {
        m |= MODE_SETGID;
    }
    if st_mode & libc::S_ISVTX != 0 {
        m |= MODE_STICKY;
    }
    m
}

/// Go's `PathStat`, as the header carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    pub mtime_secs: i64,
    pub mtime_nanos: u32,
    pub link_target: String,
}

impl PathStat {
    pub fn to_json(&self) -> Value {
        let t = std::time::UNIX_EPOCH
            + std::time::Duration::new(self.mtime_secs.max(0) as u64, self.mtime_nanos);
        let mtime = if self.mtime_nanos == 0 {
            humantime::format_rfc3339_seconds(t).to_string()
        } else {
            humantime::format_rfc3339_nanos(t).to_string()
        };
        json!({"name": self.name, "size": self.size, "mode": self.mode, "mtime": mtime, "linkTarget": self.link_target})
    }

    /// The value of `X-Docker-Container-Path-Stat`.
    pub fn header(&self) -> String {
        base64(self.to_json().to_string().as_bytes())
    }
}

/// Standard base64 with padding (Go's `base64.StdEncoding`).
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

// ------------------------------------------------------------------ paths in the root

/// `path` made absolute and cleaned (`..` clamped at `/`), as the container sees it.
pub fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The base name Docker gives the top entry: `.` for `dir/.`, else the last
/// component of the cleaned path (`/` for the root).
fn base_name(path: &str) -> String {
    if path.ends_with("/.") || path == "." {
        return ".".into();
    }
    let c = clean(path);
    c.rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("/")
        .to_owned()
}

fn open_root(root: &FsPath) -> io::Result<OwnedFd> {
    Ok(rfs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Opens `rel` inside `root` with `RESOLVE_IN_ROOT`.
fn open_in(root: BorrowedFd<'_>, rel: &str, flags: OFlags) -> io::Result<OwnedFd> {
    let rel = rel.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let mut tries = 0;
    loop {
        match rfs::openat2(root, rel, flags | OFlags::CLOEXEC, Mode::empty(), resolve) {
            Err(Errno::AGAIN) if tries < 32 => tries += 1,
            r => return r.map_err(io::Error::from),
        }
    }
}

/// Opens for reading the file an `O_PATH` fd refers to, through its
/// `/proc/self/fd` link (the fd names the inode: nothing is resolved again).
fn reopen(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    Ok(rfs::open(
        link.as_str(),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// What a container path names: the directory holding it (resolved in the
/// root) and its own name there, not followed. The root itself is `(root, ".")`.
struct Located {
    parent: OwnedFd,
    name: Vec<u8>,
    stat: rfs::Stat,
}

fn locate(root: BorrowedFd<'_>, path: &str, follow_last: bool) -> io::Result<Located> {
    let c = clean(path);
    if follow_last || c == "/" {
        let fd = open_in(root, &c, OFlags::PATH)?;
        let stat = rfs::fstat(&fd)?;
        // For a directory, walking it through its fd works; other types are
        // read through the fd with "" below.
        return Ok(Located {
            parent: fd,
            name: Vec::new(),
            stat,
        });
    }
    let (dir, name) = c.rsplit_once('/').unwrap_or(("", &c));
    let parent = open_in(root, dir, OFlags::RDONLY | OFlags::DIRECTORY)?;
    let stat = rfs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(Located {
        parent,
        name: name.as_bytes().to_vec(),
        stat,
    })
}

fn stat_of(root: BorrowedFd<'_>, path: &str) -> io::Result<(Located, PathStat)> {
    let follow = path.ends_with('/') || path.ends_with("/.");
    let loc = locate(root, path, follow)?;
    let mode = go_file_mode(loc.stat.st_mode);
    let link_target = if mode & MODE_SYMLINK != 0 {
        let target = rfs::readlinkat(&loc.parent, loc.name.as_slice(), Vec::new())?;
        let target = String::from_utf8_lossy(target.to_bytes()).into_owned();
        let c = clean(path);
        let dir = c
            .rsplit_once('/')
            .map_or("/", |(d, _)| if d.is_empty() { "/" } else { d });
        if target.starts_with('/') {
            clean(&target)
        } else {
            clean(&format!("{dir}/{target}"))
        }
    } else {
        String::new()
    };
    let stat = PathStat {
        name: base_name(path),
        size: loc.stat.st_size,
        mode,
        mtime_secs: loc.stat.st_mtime,
        mtime_nanos: loc.stat.st_mtime_nsec as u32,
        link_target,
    };
    Ok((loc, stat))
}

fn not_found(path: &str, container: &str) -> Error {
    Error::not_found(format!(
        "Could not find the file {path} in container {container}"
    ))
}

fn map_io(e: io::Error, path: &str, container: &str) -> Error {
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => not_found(path, container),
        _ => Error::internal(format!("{path}: {e}")),
    }
}

fn rootfs(d: &Daemon, id: &str) -> PathBuf {
    d.bundle_dir(id).join("rootfs")
}

/// Files the container sees through bind mounts from its directory: the
/// rootfs only has their empty mount points, so `docker cp` reads them (as
/// Docker does) from where they really are. Returns the directory to resolve
/// in and the path inside it.
fn read_root(d: &Daemon, id: &str, path: &str) -> (PathBuf, String) {
    let c = clean(path);
    if let Some(file) = c.strip_prefix("/etc/") {
        if matches!(file, "hostname" | "hosts" | "resolv.conf") && !path.ends_with('/') {
            let dir = d.container_dir(id);
            if dir.join(file).is_file() {
                return (dir, format!("/{file}"));
            }
        }
    }
    (rootfs(d, id), path.to_owned())
}

// ------------------------------------------------------------------ tar writing

/// Writes a tree as tar members, walking with fds only.
struct TreeWriter<W: Write> {
    tar: tar::Builder<W>,
}

fn header_for(st: &rfs::Stat) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

impl<W: Write> TreeWriter<W> {
    /// Writes `name` in `dir` (or `dir` itself when `name` is empty) as `tar_name`.
    fn entry(&mut self, dir: BorrowedFd<'_>, name: &[u8], tar_name: &str) -> io::Result<()> {
        let st = if name.is_empty() {
            rfs::fstat(dir)?
        } else {
            rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?
        };
        let mut h = header_for(&st);
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let sub = if name.is_empty() {
                    rfs::openat(
                        dir,
                        ".",
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?
                } else {
                    rfs::openat(
                        dir,
                        name,
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?
                };
                h.set_entry_type(tar::EntryType::Directory);
                let dname = if tar_name.ends_with('/') {
                    tar_name.to_owned()
                } else {
                    format!("{tar_name}/")
                };
                if dname != "./" && dname != "/" {
                    self.tar.append_data(&mut h, &dname, io::empty())?;
                }
                let mut names = Vec::new();
                let mut rd = rfs::Dir::read_from(&sub)?;
                while let Some(e) = rd.read() {
                    let e = e?;
                    let n = e.file_name().to_bytes();
                    if n != b"." && n != b".." {
                        names.push(n.to_vec());
                    }
                }
                names.sort();
                for n in names {
                    let prefix = if tar_name.is_empty() {
                        ""
                    } else {
                        dname.as_str()
                    };
                    let child = format!("{prefix}{}", String::from_utf8_lossy(&n));
                    self.entry(sub.as_fd(), &n, &child)?;
                }
            }
            FileType::RegularFile => {
                let f = if name.is_empty() {
                    reopen(dir)?
                } else {
                    rfs::openat(
                        dir,
                        name,
                        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?
                };
                let file = std::fs::File::from(f);
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(st.st_size as u64);
                self.tar
                    .append_data(&mut h, tar_name, file.take(st.st_size as u64))?;
            }
            FileType::Symlink => {
                let target = rfs::readlinkat(dir, name, Vec::new())?;
                h.set_entry_type(tar::EntryType::Symlink);
                let target = target.to_bytes();
                if target.len() <= 100 {
                    // As is: the tar crate would rewrite `/` as `//`.
                    h.set_link_name_literal(target)?;
                    self.tar.append_data(&mut h, tar_name, io::empty())?;
                } else {
                    let target = String::from_utf8_lossy(target).into_owned();
                    self.tar.append_link(&mut h, tar_name, target)?;
                }
            }
            FileType::CharacterDevice | FileType::BlockDevice => {
                h.set_entry_type(
                    if FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice {
                        tar::EntryType::Char
                    } else {
                        tar::EntryType::Block
                    },
                );
                h.set_device_major(rustix::fs::major(st.st_rdev))?;
                h.set_device_minor(rustix::fs::minor(st.st_rdev))?;
                self.tar.append_data(&mut h, tar_name, io::empty())?;
            }
            FileType::Fifo => {
                h.set_entry_type(tar::EntryType::Fifo);
                self.tar.append_data(&mut h, tar_name, io::empty())?;
            }
            // Sockets are skipped, as Docker does.
            _ => {}
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ handlers

fn stat_response(status: StatusCode, stat: &PathStat, body: Body) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-tar"),
    );
    if let Ok(v) = HeaderValue::from_str(&stat.header()) {
        h.insert("x-docker-container-path-stat", v);
    }
    resp
}

fn path_param(q: &Query) -> Result<String> {
    match q.get("path") {
        Some(p) if !p.is_empty() => Ok(p.to_owned()),
        _ => Err(Error::invalid("Bad parameter: 'path' cannot be empty")),
    }
}

async fn head_archive(
    State(d): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let q = Query::parse(q.as_deref());
    let path = path_param(&q)?;
    let e = d.get(&id)?;
    let (root, lookup) = read_root(&d, &e.id, &path);
    let p = path.clone();
    let stat = blocking(move || {
        let rootfd = open_root(&root)?;
        stat_of(rootfd.as_fd(), &lookup)
            .map(|(_, s)| s)
            .map_err(|err| map_io(err, &p, &id))
    })
    .await?;
    Ok(stat_response(StatusCode::OK, &stat, Body::empty()))
}

async fn get_archive(
    State(d): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let q = Query::parse(q.as_deref());
    let path = path_param(&q)?;
    let e = d.get(&id)?;
    let (root, lookup) = read_root(&d, &e.id, &path);
    let p = path.clone();
    let (loc, stat) = blocking(move || {
        let rootfd = open_root(&root)?;
        stat_of(rootfd.as_fd(), &lookup).map_err(|err| map_io(err, &p, &id))
    })
    .await?;
    let name = stat.name.clone();
    let body = streamed_body(move |w| {
        let mut tw = TreeWriter {
            tar: tar::Builder::new(w),
        };
        let dir = loc.parent;
        if loc.name.is_empty() && FileType::from_raw_mode(loc.stat.st_mode) != FileType::Directory {
            // A followed final component that is not a directory: re-open for reading.
            let file = std::fs::File::from(reopen(dir.as_fd())?);
            let mut h = header_for(&loc.stat);
            h.set_size(loc.stat.st_size as u64);
            tw.tar
                .append_data(&mut h, &name, file.take(loc.stat.st_size as u64))?;
        } else {
            tw.entry(dir.as_fd(), &loc.name, &name)?;
        }
        tw.tar.into_inner()?.flush()
    });
    Ok(stat_response(StatusCode::OK, &stat, body))
}

async fn put_archive(
    State(d): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Body,
) -> Result<Response> {
    use futures_util::StreamExt;
    let q = Query::parse(q.as_deref());
    let path = path_param(&q)?;
    let no_overwrite = q.bool("noOverwriteDirNonDir");
    let e = d.get(&id)?;
    let root = rootfs(&d, &e.id);
    if e.snapshot().host_config.readonly_rootfs {
        return Err(Error::new(
            crate::error::Kind::Internal,
            "container rootfs is marked read-only",
        ));
    }
    // Resolve the destination before reading the body, so a missing directory
    // is a 404 at once.
    let p = path.clone();
    let id2 = id.clone();
    let dest = blocking(move || {
        let rootfd = open_root(&root)?;
        match open_in(
            rootfd.as_fd(),
            &clean(&p),
            OFlags::RDONLY | OFlags::DIRECTORY,
        ) {
            Ok(fd) => Ok(fd),
            Err(err) if err.raw_os_error() == Some(libc::ENOTDIR) => Err(Error::invalid(format!(
                "extraction point is not a directory: {p}"
            ))),
            Err(err) => Err(map_io(err, &p, &id2)),
        }
    })
    .await?;
    // The body goes to a file first: extraction is blocking work.
    let tmp_dir = d.config.data_root.join("tmp");
    tokio::fs::create_dir_all(&tmp_dir).await?;
    let tmp = tmp_dir.join(format!("cp-{}.tar", crate::daemon::random_id()));
    {
        use tokio::io::AsyncWriteExt;
        let mut f = tokio::fs::File::create(&tmp).await?;
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => f.write_all(&c).await?,
                Err(err) => {
                    let _ = tokio::fs::remove_file(&tmp).await;
                    return Err(Error::invalid(format!("failed to read the archive: {err}")));
                }
            }
        }
        f.flush().await?;
    }
    let t2 = tmp.clone();
    let res = blocking(move || {
        if no_overwrite {
            check_overwrite(dest.as_fd(), &t2, &path)?;
        }
        let file = std::fs::File::open(&t2)?;
        // The destination is addressed through its fd: a rename or symlink swap
        // after resolution cannot redirect the extraction.
        let target = PathBuf::from(format!("/proc/self/fd/{}", dest.as_raw_fd()));
        let opts = berth_layer::ApplyOptions {
            expected_diff_id: None,
            preserve_owners: true,
        };
        berth_layer::apply(file, &target, &opts).map_err(|err| {
            Error::invalid(format!("failed to extract the archive into {path}: {err}"))
        })?;
        Ok(())
    })
    .await;
    let _ = tokio::fs::remove_file(&tmp).await;
    res?;
    d.events.emit(
        "container",
        "extract-to-dir",
        &e.id,
        BTreeMap::from([("name".to_owned(), e.snapshot().name)]),
    );
    Ok(StatusCode::OK.into_response())
}

/// `noOverwriteDirNonDir`: refuses to replace a directory with a non-directory
/// or the reverse, with Docker's words.
fn check_overwrite(dest: BorrowedFd<'_>, tar_path: &FsPath, path: &str) -> Result<()> {
    let mut archive = tar::Archive::new(std::fs::File::open(tar_path)?);
    for entry in archive
        .entries()
        .map_err(|e| Error::invalid(format!("invalid tar archive: {e}")))?
    {
        let entry = entry.map_err(|e| Error::invalid(format!("invalid tar archive: {e}")))?;
        let name = entry.path_bytes().into_owned();
        let rel = clean(&String::from_utf8_lossy(&name));
        if rel == "/" {
            continue;
        }
        let is_dir = entry.header().entry_type().is_dir();
        let (dir, base) = rel.rsplit_once('/').unwrap_or(("", &rel));
        let Ok(parent) = open_in(dest, dir, OFlags::RDONLY | OFlags::DIRECTORY) else {
            continue;
        };
        let Ok(st) = rfs::statat(&parent, base, AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        let exists_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
        let shown = clean(&format!("{path}/{rel}"));
        if exists_dir && !is_dir {
            return Err(Error::invalid(format!(
                "cannot overwrite directory \"{shown}\" with non-directory \"{shown}\""
            )));
        }
        if !exists_dir && is_dir {
            return Err(Error::invalid(format!(
                "cannot overwrite non-directory \"{shown}\" with directory \"{shown}\""
            )));
        }
    }
    Ok(())
}

async fn export(State(d): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let e = d.get(&id)?;
    let root = rootfs(&d, &e.id);
    let rootfd = blocking(move || Ok(open_root(&root)?)).await?;
    d.events.emit(
        "container",
        "export",
        &e.id,
        BTreeMap::from([("name".to_owned(), e.snapshot().name)]),
    );
    let body = streamed_body(move |w| {
        let mut tw = TreeWriter {
            tar: tar::Builder::new(w),
        };
        tw.entry(rootfd.as_fd(), b"", "")?;
        tw.tar.into_inner()?.flush()
    });
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-tar"),
    );
    Ok(resp)
}

// ------------------------------------------------------------------ changes

/// Docker's change kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

fn is_whiteout(md: &std::fs::Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

fn is_opaque(p: &FsPath) -> bool {
    let mut buf = [0u8; 4];
    matches!(rfs::lgetxattr(p, "trusted.overlay.opaque", &mut buf), Ok(1) if buf[0] == b'y')
}

/// The entry `rel` in the lower directories (topmost first wins), honouring
/// overlay whiteouts in them.
fn lower_stat(lower: &[PathBuf], rel: &FsPath) -> Option<std::fs::Metadata> {
    for dir in lower.iter().rev() {
        if let Ok(md) = std::fs::symlink_metadata(dir.join(rel)) {
            if is_whiteout(&md) {
                return None;
            }
            return Some(md);
        }
    }
    None
}

/// The changes an overlay upper directory records over `lower` (lowest first),
/// sorted by path.
pub fn overlay_changes(upper: &FsPath, lower: &[PathBuf]) -> io::Result<Vec<(String, ChangeKind)>> {
    let mut out: BTreeMap<String, ChangeKind> = BTreeMap::new();
    let mut changed_dirs: BTreeSet<String> = BTreeSet::new();
    walk(upper, PathBuf::new(), lower, &mut out, &mut changed_dirs)?;
    Ok(out.into_iter().collect())
}

/// Files the runtime makes in every container for its bind mounts; Docker keeps
/// them in an "init" layer below the container's, so `docker diff` never shows them.
const INIT_PATHS: &[&str] = &[
    "/.dockerenv",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/mtab",
    "/dev/console",
];

/// Walks `rel` of `upper`; returns whether anything under it was reported.
fn walk(
    upper: &FsPath,
    rel: PathBuf,
    lower: &[PathBuf],
    out: &mut BTreeMap<String, ChangeKind>,
    changed_dirs: &mut BTreeSet<String>,
) -> io::Result<bool> {
    let dir = upper.join(&rel);
    let mut names: Vec<_> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort();
    let mut reported = false;
    for name in names {
        let child = rel.join(&name);
        let full = upper.join(&child);
        let md = std::fs::symlink_metadata(&full)?;
        let path = format!("/{}", child.display());
        if INIT_PATHS.contains(&path.as_str()) {
            continue;
        }
        // `weak`: a directory below whose only difference is its mtime, which
        // copy-up and the runtime's mount points change; reported only when
        // something inside it is.
        let mut weak = false;
        let kind = if is_whiteout(&md) {
            Some(ChangeKind::Deleted)
        } else {
            match lower_stat(lower, &child) {
                None => Some(ChangeKind::Added),
                Some(l) if md.is_dir() && l.is_dir() && !is_opaque(&full) => {
                    if md.mode() != l.mode() {
                        Some(ChangeKind::Modified)
                    } else {
                        weak = md.mtime() != l.mtime() || md.mtime_nsec() != l.mtime_nsec();
                        None
                    }
                }
                Some(_) => Some(ChangeKind::Modified),
            }
        };
        if let Some(kind) = kind {
            if md.is_dir() {
                changed_dirs.insert(path.clone());
            }
            if matches!(kind, ChangeKind::Added | ChangeKind::Deleted) {
                let parent = format!("/{}", rel.display());
                if parent != "/" && !changed_dirs.contains(&parent) {
                    changed_dirs.insert(parent.clone());
                    out.entry(parent).or_insert(ChangeKind::Modified);
                }
            }
            out.insert(path.clone(), kind);
            reported = true;
        }
        // An added or opaque directory's contents are additions too; a deleted
        // one has none.
        if md.is_dir() {
            let inner = walk(upper, child, lower, out, changed_dirs)?;
            if inner && weak {
                out.entry(path).or_insert(ChangeKind::Modified);
            }
            reported |= inner;
        }
    }
    Ok(reported)
}

async fn changes(State(d): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let e = d.get(&id)?;
    let key = e.snapshot().snapshot;
    let v = blocking(move || {
        let src = d.snapshotter.diff_source(&key)?;
        let upper = d.snapshotter.upper_dir(&key).unwrap_or(src.upper);
        let changes = overlay_changes(&upper, &src.lower)?;
        Ok(changes
            .into_iter()
            .map(|(p, k)| json!({"Path": p, "Kind": k as u8}))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(json(StatusCode::OK, Value::Array(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_file_mode_bits() {
        assert_eq!(go_file_mode(libc::S_IFDIR | 0o755), (1 << 31) | 0o755);
        assert_eq!(go_file_mode(libc::S_IFREG | 0o644), 0o644);
        assert_eq!(go_file_mode(libc::S_IFLNK | 0o777), (1 << 27) | 0o777);
        assert_eq!(
            go_file_mode(libc::S_IFCHR | 0o666),
            (1 << 26) | (1 << 21) | 0o666
        );
        assert_eq!(
            go_file_mode(libc::S_IFDIR | libc::S_ISVTX | 0o777),
            (1 << 31) | (1 << 20) | 0o777
        );
        assert_eq!(
            go_file_mode(libc::S_IFREG | libc::S_ISUID | 0o755),
            (1 << 23) | 0o755
        );
    }

    #[test]
    fn base64_matches_go() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn stat_header_encodes_docker_json() {
        let s = PathStat {
            name: "passwd".into(),
            size: 340,
            mode: 0o644,
            mtime_secs: 1_684_449_257,
            mtime_nanos: 0,
            link_target: String::new(),
        };
        let v = s.to_json();
        assert_eq!(v["mtime"], "2023-05-18T22:34:17Z");
        let decoded = s.header();
        assert_eq!(decoded, base64(v.to_string().as_bytes()));
        assert!(v.to_string().contains("\"linkTarget\":\"\""));
    }

    #[test]
    fn paths_are_cleaned_and_named_like_docker() {
        assert_eq!(clean("/etc/../../x/./y/"), "/x/y");
        assert_eq!(base_name("/etc/"), "etc");
        assert_eq!(base_name("/etc/."), ".");
        assert_eq!(base_name("/"), "/");
    }

    #[test]
    fn symlinks_do_not_escape_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), "inside").unwrap();
        std::os::unix::fs::symlink("/", root.join("escape")).unwrap();
        std::os::unix::fs::symlink("../../../..", root.join("up")).unwrap();
        let fd = open_root(&root).unwrap();
        let (_, s) = stat_of(fd.as_fd(), "/escape/etc/passwd").unwrap();
        assert_eq!(s.size, 6);
        let (_, s) = stat_of(fd.as_fd(), "/up/etc/passwd").unwrap();
        assert_eq!(s.size, 6);
        let (_, s) = stat_of(fd.as_fd(), "/escape").unwrap();
        assert_eq!(s.mode & MODE_SYMLINK, MODE_SYMLINK);
        assert_eq!(s.link_target, "/");
    }

    #[test]
    fn changes_classify_an_upper_dir() {
        let t = tempfile::tempdir().unwrap();
        let lower = t.path().join("lower");
        let upper = t.path().join("upper");
        for d in ["etc", "usr/local", "var/cache"] {
            std::fs::create_dir_all(lower.join(d)).unwrap();
        }
        std::fs::write(lower.join("etc/passwd"), "root").unwrap();
        std::fs::write(lower.join("etc/group"), "root").unwrap();
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::write(upper.join("etc/passwd"), "root2").unwrap();
        std::fs::write(upper.join("etc/new"), "x").unwrap();
        // A runtime mount point: never reported.
        std::fs::write(upper.join("etc/hostname"), "").unwrap();
        // usr and usr/local copied up unchanged (same metadata), plus a new file.
        for d in ["usr", "usr/local"] {
            std::fs::create_dir_all(upper.join(d)).unwrap();
            let l = std::fs::metadata(lower.join(d)).unwrap();
            let m = std::fs::metadata(upper.join(d)).unwrap();
            assert_eq!(l.mode(), m.mode());
        }
        std::fs::write(upper.join("usr/local/tool"), "x").unwrap();
        for d in ["usr", "usr/local"] {
            let l = std::fs::metadata(lower.join(d)).unwrap();
            let times = std::fs::FileTimes::new().set_modified(l.modified().unwrap());
            std::fs::File::open(upper.join(d))
                .unwrap()
                .set_times(times)
                .unwrap();
        }
        // A whiteout needs CAP_MKNOD; test it when we have it.
        std::fs::create_dir_all(upper.join("var")).unwrap();
        let can_mknod = rfs::mknodat(
            rfs::CWD,
            upper.join("var/cache"),
            FileType::CharacterDevice,
            Mode::from_raw_mode(0),
            0,
        )
        .is_ok();
        let got = overlay_changes(&upper, &[lower]).unwrap();
        let mut want = vec![
            ("/etc".to_owned(), ChangeKind::Modified),
            ("/etc/new".to_owned(), ChangeKind::Added),
            ("/etc/passwd".to_owned(), ChangeKind::Modified),
            ("/usr/local".to_owned(), ChangeKind::Modified),
            ("/usr/local/tool".to_owned(), ChangeKind::Added),
        ];
        if can_mknod {
            want.push(("/var".to_owned(), ChangeKind::Modified));
            want.push(("/var/cache".to_owned(), ChangeKind::Deleted));
        } else {
            want.push(("/var".to_owned(), ChangeKind::Modified));
        }
        want.sort();
        let mut got_sorted = got.clone();
        got_sorted.sort();
        assert_eq!(got_sorted, want, "{got:?}");
    }
}
