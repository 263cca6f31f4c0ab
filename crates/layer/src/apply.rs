//! Applying one layer tar onto a directory.
//!
//! The rules are those of the OCI image spec (`layer.md`) as containerd and umoci
//! implement them:
//!
//! * Each member replaces whatever is at its path unless both are directories, which
//!   merge (the new header's owner, mode and xattrs win). A file is never written in
//!   place: the old one is unlinked first, so a hardlink from a lower layer cannot carry
//!   the write to its other names.
//! * `dir/.wh.name` deletes `dir/name` of the lower layers; `dir/.wh..wh..opq` deletes
//!   everything in `dir` that the lower layers put there. Whiteouts only ever hide
//!   *lower* layers, so everything this layer created is remembered and spared, whatever
//!   the order of the members (the spec only says whiteouts SHOULD come first).
//! * Metadata is applied after contents, in the order that keeps it: `chown` clears
//!   setuid/setgid and file capabilities, so `chown`, then `chmod`, then xattrs
//!   (`security.capability` among them), then times. Writing into a directory changes
//!   its mtime, so directory times are set once, at the very end.
//!
//! Where every path goes is in `root.rs`; how the stream is read and hashed, in
//! `stream.rs`.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;

use rustix::fs::{self as rfs, AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid};
use rustix::io::Errno;
use tar::EntryType;

use crate::error::{show, LayerError};
use crate::path::{clean, join, split};
use crate::root::{self, Root};
use crate::stream::{self, Compression, Flags, Guard, Hashing};

/// Longest member path accepted (`PATH_MAX`).
pub const MAX_PATH: usize = 4096;

/// Most bytes the tar parser may read to find the next member: its header plus PAX
/// records and GNU long names. Go's archive/tar allows 1 MiB of PAX records.
const HEADER_BUDGET: u64 = 4 << 20;

/// Buffer between the hash and the tar parser, which reads 512-byte headers.
const PARSE_BUFFER: usize = 256 << 10;

/// Buffer for copying file contents.
const COPY_BUFFER: usize = 1 << 20;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";

/// How to apply a layer.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// `sha256:<hex>` that the uncompressed tar must hash to (the config's
    /// `rootfs.diff_ids` entry). Checked after the whole stream is read: on a mismatch
    /// the files are already written, so apply into a fresh snapshot directory and
    /// remove it when `apply` fails.
    pub expected_diff_id: Option<String>,
    /// Give files the uid/gid of their headers (needs `CAP_CHOWN`); otherwise they
    /// belong to the caller and failures to set `trusted.*` xattrs are ignored.
    pub preserve_owners: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            expected_diff_id: None,
            preserve_owners: true,
        }
    }
}

/// What applying a layer found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyStats {
    /// `sha256:<hex>` of the uncompressed tar: the layer's diff id.
    pub diff_id: String,
    /// Bytes of the uncompressed tar.
    pub size: u64,
    /// Tar members applied (whiteouts included, extension headers not).
    pub entries: u64,
}

/// Applies a (possibly gzip- or zstd-compressed, auto-detected) layer tar read from
/// `reader` onto the directory `target`.
///
/// Nothing outside `target` is created, changed or removed, whatever the member names,
/// hardlink targets or symlinks in the tar or already in `target` say. On error the
/// tree may be partly applied.
pub fn apply(
    reader: impl Read,
    target: &Path,
    opts: &ApplyOptions,
) -> Result<ApplyStats, LayerError> {
    if let Some(d) = &opts.expected_diff_id {
        let hex = d.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(LayerError::BadDigest { digest: d.clone() });
        }
    }
    let root = Root::open(target).map_err(|source| LayerError::OpenTarget {
        path: target.display().to_string(),
        source,
    })?;
    let (raw, compression) = stream::decompress(reader).map_err(|source| LayerError::Stream {
        compression: Compression::None,
        source,
    })?;
    let flags = Rc::new(Flags::default());
    let hashing = Hashing::new(raw, flags.clone());
    let guard = Guard::new(
        BufReader::with_capacity(PARSE_BUFFER, hashing),
        flags.clone(),
    );
    let mut archive = tar::Archive::new(guard);
    let mut applier = Applier {
        root,
        opts,
        flags,
        compression,
        created: HashSet::new(),
        dirs: Vec::new(),
        buf: vec![0; COPY_BUFFER],
        entries: 0,
    };
    applier.run(&mut archive)?;
    applier.finish_dirs()?;
    let rest = archive
        .into_inner()
        .drain()
        .map_err(|e| applier.classify(e))?;
    let (diff_id, size) = rest.into_inner().finish();
    if let Some(expected) = &opts.expected_diff_id {
        if !expected.eq_ignore_ascii_case(&diff_id) {
            return Err(LayerError::DiffIdMismatch {
                expected: expected.clone(),
                actual: diff_id,
            });
        }
    }
    Ok(ApplyStats {
        diff_id,
        size,
        entries: applier.entries,
    })
}

/// The state of one application.
struct Applier<'o> {
    root: Root,
    opts: &'o ApplyOptions,
    flags: Rc<Flags>,
    compression: Compression,
    /// Cleaned paths this layer created (or merged into): spared by its whiteouts.
    created: HashSet<Vec<u8>>,
    /// Directories of this layer and the times to give them at the end.
    dirs: Vec<(Vec<u8>, Timestamps)>,
    buf: Vec<u8>,
    entries: u64,
}

/// Owner, mode, times and xattrs of a member.
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    times: Timestamps,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Applier<'_> {
    fn run<R: Read>(&mut self, archive: &mut tar::Archive<R>) -> Result<(), LayerError> {
        let mut entries = archive.entries().map_err(|e| self.classify(e))?;
        loop {
            self.flags.budget.set(Some(HEADER_BUDGET));
            let next = entries.next();
            self.flags.budget.set(None);
            let mut entry = match next {
                None => return Ok(()),
                Some(Ok(entry)) => entry,
                Some(Err(e)) => return Err(self.classify(e)),
            };
            self.entry(&mut entry)?;
            // Unread data (a directory with a size, say) is skipped here rather than by
            // the parser, so that it does not count against the header budget.
            io::copy(&mut entry, &mut io::sink()).map_err(|e| self.classify(e))?;
        }
    }

    /// Tells a broken stream from a broken tar.
    fn classify(&self, source: io::Error) -> LayerError {
        if self.flags.over_budget.get() {
            LayerError::HeaderTooLarge {
                limit: HEADER_BUDGET,
            }
        } else if self.flags.stream_failed.get() {
            LayerError::Stream {
                compression: self.compression,
                source,
            }
        } else {
            LayerError::Tar { source }
        }
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), LayerError> {
        let raw_path = entry.path_bytes().into_owned();
        if raw_path.len() > MAX_PATH {
            return Err(LayerError::PathTooLong {
                len: raw_path.len(),
                limit: MAX_PATH,
            });
        }
        let kind = entry.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            return Ok(());
        }
        self.entries += 1;
        let path = clean(&raw_path);
        let (dir, name) = split(&path);
        if name.starts_with(WHITEOUT_PREFIX) {
            return self.whiteout(&path, dir, name);
        }
        let meta = read_meta(entry, &raw_path)?;
        // An old-style (v7) directory is a regular file whose name ends in `/`.
        let kind = if kind == EntryType::Regular
            && entry.header().as_bytes()[156] == 0
            && raw_path.ends_with(b"/")
        {
            EntryType::Directory
        } else {
            kind
        };
        if path.is_empty() {
            return if kind == EntryType::Directory {
                let fd = self.root.fd();
                self.dir_meta(fd.as_fd(), &raw_path, &meta, false)?;
                self.dirs.push((path, meta.times));
                Ok(())
            } else {
                Err(LayerError::ReplaceRoot {
                    path: show(&raw_path),
                })
            };
        }
        let parent = self
            .root
            .dir(dir, true, &mut self.created)
            .map_err(LayerError::fs("resolve the parent directory", &raw_path))?
            .ok_or_else(|| LayerError::Fs {
                op: "resolve the parent directory",
                path: show(&raw_path),
                source: Errno::NOENT.into(),
            })?;
        let parent = parent.as_fd();
        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.regular(entry, parent, name, &raw_path, &meta, kind)?;
            }
            EntryType::Directory => {
                let existed = match rfs::mkdirat(parent, name, Mode::from_raw_mode(0o700)) {
                    Ok(()) => false,
                    Err(Errno::EXIST) => {
                        let st = rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
                            .map_err(|e| LayerError::fs("stat", &raw_path)(e.into()))?;
                        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                            true
                        } else {
                            self.replace(parent, name, &raw_path)?;
                            rfs::mkdirat(parent, name, Mode::from_raw_mode(0o700)).map_err(
                                |e| LayerError::fs("create directory", &raw_path)(e.into()),
                            )?;
                            false
                        }
                    }
                    Err(e) => return Err(LayerError::fs("create directory", &raw_path)(e.into())),
                };
                let fd = root::open_dir_at(parent, name)
                    .map_err(LayerError::fs("open directory", &raw_path))?;
                self.dir_meta(fd.as_fd(), &raw_path, &meta, existed)?;
                self.dirs.push((path.clone(), meta.times));
            }
            EntryType::Symlink => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                let create = || rfs::symlinkat(&target[..], parent, name);
                match create() {
                    Ok(()) => {}
                    Err(Errno::EXIST) => {
                        self.replace(parent, name, &raw_path)?;
                        create()
                            .map_err(|e| LayerError::fs("create symlink", &raw_path)(e.into()))?;
                    }
                    Err(e) => return Err(LayerError::fs("create symlink", &raw_path)(e.into())),
                }
                self.node_meta(parent, name, &raw_path, &meta, false)?;
            }
            EntryType::Link => {
                let link = entry.link_name_bytes().unwrap_or_default().into_owned();
                self.hardlink(parent, name, &raw_path, &link)?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let header = entry.header();
                let (file_type, dev) = if kind == EntryType::Fifo {
                    (FileType::Fifo, 0)
                } else {
                    let major = header
                        .device_major()
                        .map_err(invalid(&raw_path, "device major"))?
                        .unwrap_or(0);
                    let minor = header
                        .device_minor()
                        .map_err(invalid(&raw_path, "device minor"))?
                        .unwrap_or(0);
                    let file_type = if kind == EntryType::Char {
                        FileType::CharacterDevice
                    } else {
                        FileType::BlockDevice
                    };
                    (file_type, rfs::makedev(major, minor))
                };
                let create =
                    || rfs::mknodat(parent, name, file_type, Mode::from_raw_mode(0o600), dev);
                match create() {
                    Ok(()) => {}
                    Err(Errno::EXIST) => {
                        self.replace(parent, name, &raw_path)?;
                        create().map_err(|e| LayerError::fs("create node", &raw_path)(e.into()))?;
                    }
                    Err(e) => return Err(LayerError::fs("create node", &raw_path)(e.into())),
                }
                self.node_meta(parent, name, &raw_path, &meta, true)?;
            }
            other => {
                return Err(LayerError::UnsupportedEntry {
                    path: show(&raw_path),
                    kind: char::from(other.as_byte()),
                })
            }
        }
        self.created.insert(path);
        Ok(())
    }

    /// Removes what is at `name` so that an entry of another type can take its place.
    fn replace(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        raw: &[u8],
    ) -> Result<(), LayerError> {
        root::remove_at(parent, name).map_err(LayerError::fs("remove the existing file", raw))?;
        self.root.invalidate();
        Ok(())
    }

    fn regular<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        parent: BorrowedFd<'_>,
        name: &[u8],
        raw: &[u8],
        meta: &Meta,
        kind: EntryType,
    ) -> Result<(), LayerError> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let create = || rfs::openat(parent, name, flags, Mode::from_raw_mode(0o600));
        let fd = match create() {
            Ok(fd) => fd,
            Err(Errno::EXIST) => {
                self.replace(parent, name, raw)?;
                create().map_err(|e| LayerError::fs("create file", raw)(e.into()))?
            }
            Err(e) => return Err(LayerError::fs("create file", raw)(e.into())),
        };
        let mut file = File::from(fd);
        let expected = entry.size();
        let mut written = 0u64;
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.classify(e)),
            };
            file.write_all(&self.buf[..n])
                .map_err(LayerError::fs("write file", raw))?;
            written += n as u64;
        }
        // A sparse member's size is that of its stored data, not of the file.
        if written < expected && kind != EntryType::GNUSparse {
            return Err(LayerError::TruncatedEntry {
                path: show(raw),
                expected,
                actual: written,
            });
        }
        let fd = OwnedFd::from(file);
        self.fd_meta(fd.as_fd(), raw, meta)?;
        rfs::futimens(&fd, &meta.times).map_err(|e| LayerError::fs("set times", raw)(e.into()))?;
        Ok(())
    }

    fn hardlink(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        raw: &[u8],
        link: &[u8],
    ) -> Result<(), LayerError> {
        let bad = || LayerError::InvalidLink {
            path: show(raw),
            target: show(link),
        };
        let target = clean(link);
        if target.is_empty() {
            return Err(bad());
        }
        let (tdir, tname) = split(&target);
        let tparent = self
            .root
            .dir(tdir, false, &mut self.created)
            .map_err(LayerError::fs("resolve the hardlink target", raw))?
            .ok_or_else(bad)?;
        let create = || rfs::linkat(&*tparent, tname, parent, name, AtFlags::empty());
        match create() {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                let same =
                    |a: &rfs::Stat, b: &rfs::Stat| a.st_dev == b.st_dev && a.st_ino == b.st_ino;
                let old = rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW);
                let new = rfs::statat(&*tparent, tname, AtFlags::SYMLINK_NOFOLLOW);
                if let (Ok(old), Ok(new)) = (&old, &new) {
                    if same(old, new) {
                        return Ok(());
                    }
                }
                self.replace(parent, name, raw)?;
                create().map_err(|e| LayerError::fs("create hardlink", raw)(e.into()))
            }
            Err(e) => Err(LayerError::fs("create hardlink", raw)(e.into())),
        }
    }

    /// Owner, mode and xattrs of a regular file or directory, through its fd.
    fn fd_meta(&self, fd: BorrowedFd<'_>, raw: &[u8], meta: &Meta) -> Result<(), LayerError> {
        if self.opts.preserve_owners {
            rfs::fchown(
                fd,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
            )
            .map_err(|e| LayerError::fs("change owner", raw)(e.into()))?;
        }
        rfs::fchmod(fd, Mode::from_raw_mode(meta.mode))
            .map_err(|e| LayerError::fs("change mode", raw)(e.into()))?;
        for (key, value) in &meta.xattrs {
            let r = rfs::fsetxattr(fd, &key[..], value, rfs::XattrFlags::empty());
            self.xattr_result(r.map_err(io::Error::from), key, raw)?;
        }
        Ok(())
    }

    /// Metadata of a directory; a merged one loses the xattrs its new header lacks.
    fn dir_meta(
        &self,
        fd: BorrowedFd<'_>,
        raw: &[u8],
        meta: &Meta,
        existed: bool,
    ) -> Result<(), LayerError> {
        if existed {
            let names = root::list_xattrs(fd).map_err(LayerError::fs("list xattrs", raw))?;
            for key in names {
                let kept =
                    key.starts_with(b"security.") || meta.xattrs.iter().any(|(k, _)| *k == key);
                if !kept {
                    let r = rfs::fremovexattr(fd, &key[..]).map_err(io::Error::from);
                    self.xattr_result(r, &key, raw)?;
                }
            }
        }
        self.fd_meta(fd, raw, meta)
    }

    /// Metadata of a symlink, device or fifo, by name (the name was just created by us).
    fn node_meta(
        &self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        raw: &[u8],
        meta: &Meta,
        chmod: bool,
    ) -> Result<(), LayerError> {
        if self.opts.preserve_owners {
            rfs::chownat(
                parent,
                name,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| LayerError::fs("change owner", raw)(e.into()))?;
        }
        if chmod {
            rfs::chmodat(
                parent,
                name,
                Mode::from_raw_mode(meta.mode),
                AtFlags::empty(),
            )
            .map_err(|e| LayerError::fs("change mode", raw)(e.into()))?;
        }
        for (key, value) in &meta.xattrs {
            let r = root::set_xattr_at(parent, name, key, value);
            self.xattr_result(r, key, raw)?;
        }
        rfs::utimensat(parent, name, &meta.times, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| LayerError::fs("set times", raw)(e.into()))?;
        Ok(())
    }

    /// `security.*` xattrs (SELinux labels, IMA) depend on the host and may be refused;
    /// `trusted.*` needs `CAP_SYS_ADMIN`, which a rootless caller lacks. The rest must
    /// be exact.
    fn xattr_result(&self, r: io::Result<()>, key: &[u8], raw: &[u8]) -> Result<(), LayerError> {
        match r {
            Ok(()) => Ok(()),
            Err(_) if key.starts_with(b"security.") => Ok(()),
            Err(_) if key.starts_with(b"trusted.") && !self.opts.preserve_owners => Ok(()),
            Err(e) => Err(LayerError::Fs {
                op: "set xattr",
                path: format!("{} ({})", show(raw), show(key)),
                source: e,
            }),
        }
    }

    fn whiteout(&mut self, path: &[u8], dir: &[u8], name: &[u8]) -> Result<(), LayerError> {
        if name == OPAQUE_MARKER {
            return self.opaque(dir, path);
        }
        let victim = &name[WHITEOUT_PREFIX.len()..];
        if victim.starts_with(WHITEOUT_PREFIX) {
            // Other AUFS metadata (`.wh..wh.plnk`, `.wh..wh.aufs`): meaningless here.
            return Ok(());
        }
        if victim.is_empty() || victim == b"." || victim == b".." {
            return Err(LayerError::InvalidWhiteout { path: show(path) });
        }
        if self.created.contains(&join(dir, victim)) {
            return Ok(());
        }
        let Some(parent) = self
            .root
            .dir(dir, false, &mut self.created)
            .map_err(LayerError::fs("resolve the whiteout's directory", path))?
        else {
            return Ok(());
        };
        root::remove_at(parent.as_fd(), victim)
            .map_err(LayerError::fs("remove whited-out file", path))?;
        self.root.invalidate();
        Ok(())
    }

    /// Empties `dir` of everything the lower layers put in it.
    fn opaque(&mut self, dir: &[u8], path: &[u8]) -> Result<(), LayerError> {
        let fd = if dir.is_empty() {
            self.root
                .fd()
                .try_clone()
                .map_err(LayerError::fs("open directory", path))?
        } else {
            let (pdir, dname) = split(dir);
            let Some(parent) = self
                .root
                .dir(pdir, false, &mut self.created)
                .map_err(LayerError::fs("resolve the opaque directory", path))?
            else {
                return Ok(());
            };
            match root::open_dir_at(parent.as_fd(), dname) {
                Ok(fd) => fd,
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
                    ) =>
                {
                    return Ok(())
                }
                Err(e) => return Err(LayerError::fs("open the opaque directory", path)(e)),
            }
        };
        self.clear_lower(fd.as_fd(), dir)
            .map_err(LayerError::fs("empty the opaque directory", path))?;
        self.root.invalidate();
        Ok(())
    }

    fn clear_lower(&self, fd: BorrowedFd<'_>, dir: &[u8]) -> io::Result<()> {
        for (name, is_dir) in root::children(fd)? {
            let path = join(dir, &name);
            if !self.created.contains(&path) {
                root::remove_at(fd, &name)?;
            } else if is_dir {
                let sub = root::open_dir_at(fd, &name)?;
                self.clear_lower(sub.as_fd(), &path)?;
            }
        }
        Ok(())
    }

    /// Gives this layer's directories their times, now that nothing more is written.
    fn finish_dirs(&mut self) -> Result<(), LayerError> {
        let dirs = std::mem::take(&mut self.dirs);
        for (path, times) in &dirs {
            if path.is_empty() {
                rfs::futimens(&*self.root.fd(), times)
                    .map_err(|e| LayerError::fs("set times", path)(e.into()))?;
                continue;
            }
            let (dir, name) = split(path);
            let Some(parent) = self
                .root
                .dir(dir, false, &mut self.created)
                .map_err(LayerError::fs("resolve directory", path))?
            else {
                continue;
            };
            match rfs::statat(&*parent, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                    rfs::utimensat(&*parent, name, times, AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(|e| LayerError::fs("set times", path)(e.into()))?;
                }
                // Replaced by a later member of another type: its times are set.
                Ok(_) | Err(Errno::NOENT) => {}
                Err(e) => return Err(LayerError::fs("stat", path)(e.into())),
            }
        }
        Ok(())
    }
}

fn invalid<'a>(raw: &'a [u8], field: &'static str) -> impl FnOnce(io::Error) -> LayerError + 'a {
    move |source| LayerError::InvalidHeader {
        path: show(raw),
        field,
        source,
    }
}

/// Reads owner, mode, times and xattrs from a member's header and PAX records.
fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>, raw: &[u8]) -> Result<Meta, LayerError> {
    let header = entry.header();
    let to_id = |v: u64, field| {
        u32::try_from(v)
            .ok()
            .filter(|&v| v != u32::MAX)
            .ok_or_else(|| invalid(raw, field)(io::Error::other("out of range")))
    };
    let uid = to_id(header.uid().map_err(invalid(raw, "uid"))?, "uid")?;
    let gid = to_id(header.gid().map_err(invalid(raw, "gid"))?, "gid")?;
    let mode = header.mode().map_err(invalid(raw, "mode"))? & 0o7777;
    let secs = header.mtime().map_err(invalid(raw, "mtime"))?;
    let mut mtime = Timespec {
        tv_sec: i64::try_from(secs).unwrap_or(i64::MAX),
        tv_nsec: 0,
    };
    let mut atime = None;
    let mut xattrs = Vec::new();
    if let Some(pax) = entry.pax_extensions().map_err(invalid(raw, "pax header"))? {
        for ext in pax {
            let ext = ext.map_err(invalid(raw, "pax record"))?;
            let key = ext.key_bytes();
            if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                xattrs.push((name.to_vec(), ext.value_bytes().to_vec()));
            } else if key == b"mtime" {
                if let Some(t) = pax_time(ext.value_bytes()) {
                    mtime = t;
                }
            } else if key == b"atime" {
                atime = pax_time(ext.value_bytes());
            }
        }
    }
    Ok(Meta {
        uid,
        gid,
        mode,
        times: Timestamps {
            last_access: atime.unwrap_or(mtime),
            last_modification: mtime,
        },
        xattrs,
    })
}

/// Parses a PAX time, `seconds[.fraction]`, possibly negative.
fn pax_time(v: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(v).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = whole.parse().ok()?;
    let mut nanos: i64 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nanos += i64::from(b - b'0') * 10i64.pow(8 - i as u32);
    }
    Some(if !neg {
        Timespec {
            tv_sec: secs,
            tv_nsec: nanos,
        }
    } else if nanos == 0 {
        Timespec {
            tv_sec: -secs,
            tv_nsec: 0,
        }
    } else {
        Timespec {
            tv_sec: -secs - 1,
            tv_nsec: 1_000_000_000 - nanos,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        let t = pax_time(b"1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 500_000_000));
        let t = pax_time(b"12").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (12, 0));
        let t = pax_time(b"1.1234567891").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1, 123_456_789));
        let t = pax_time(b"-1.25").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (-2, 750_000_000));
        assert!(pax_time(b"x").is_none());
        assert!(pax_time(b"").is_none());
        assert!(pax_time(b"1.2.3").is_none());
    }
}
