//! Diffing a directory against its lower layers into a layer tar: the inverse of
//! [`apply`](crate::apply), used by `docker commit` and by the builder.
//!
//! Two ways of knowing what changed, as in containerd:
//!
//! * [`DiffKind::Overlay`]: `upper` is an overlayfs upperdir. The kernel already
//!   recorded the changes: every entry in it is an addition or a change, a character
//!   device 0:0 is a deletion (emitted as `.wh.<name>`), and a directory carrying
//!   `trusted.overlay.opaque=y` hides everything below it (emitted as the directory
//!   followed by `.wh..wh..opq`). This is cheap: only `upper` is walked. overlayfs'
//!   `redirect_dir` and `metacopy` features are not supported (berth never enables them).
//! * [`DiffKind::Compare`]: `upper` is a full copy of the tree (native snapshots).
//!   Both trees are walked; an entry is emitted when its type, mode, owner, xattrs, size,
//!   mtime, symlink target or device differ, or, when all of those agree, when the
//!   regular file's contents differ (containerd's "naive diff" compares metadata first
//!   and only then content; we always read content when metadata agrees, trading speed
//!   for never missing a same-size write with a preserved mtime). Paths in the lower
//!   view but not in `upper` become `.wh.` entries, unless their parent is gone too.
//!
//! `lower` is read as overlayfs would stack it (lowest first here, like the image's
//! layer order), honouring whiteouts and opaque directories inside it, so the lower dirs
//! of an overlay snapshot chain can be passed as they are.
//!
//! Entries come in sorted order, component by component, so parents precede their
//! children and the same trees always give the same bytes (the same diff id). Regular
//! files of the diff that share an inode become one file and tar hardlinks to it. Owners,
//! modes, device numbers, whole-second mtimes and xattrs (as PAX `SCHILY.xattr.*`
//! records, minus overlayfs' own `trusted.overlay.*`) are recorded; sockets are skipped
//! as Docker does.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

const OVERLAY_XATTR_PREFIX: &str = "trusted.overlay.";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// How `upper` records changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffKind {
    /// `upper` is an overlayfs upperdir over `lower`.
    Overlay,
    /// `upper` is a complete tree to compare with `lower`.
    Compare,
}

/// What a diff wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffStats {
    /// `sha256:<hex>` of the tar written: the new layer's diff id.
    pub diff_id: String,
    /// Bytes written.
    pub size: u64,
    /// Tar members written (whiteouts included, PAX headers not).
    pub entries: u64,
}

/// What went wrong while diffing.
#[derive(thiserror::Error, Debug)]
pub enum DiffError {
    /// Reading a file of the lower or upper tree failed.
    #[error("cannot {op} {path}")]
    Fs {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Writing the tar failed.
    #[error("writing the layer tar failed")]
    Write(#[source] io::Error),
}

fn fs_err<'p>(op: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> DiffError + 'p {
    move |source| DiffError::Fs {
        op,
        path: path.to_owned(),
        source,
    }
}

/// One member to write.
enum Change {
    /// Add or replace with the file at this absolute path.
    Add(PathBuf),
    /// `.wh.<name>`.
    Whiteout,
    /// `.wh..wh..opq` (its path is the marker's own).
    Opaque,
}

/// Writes to `out` an uncompressed layer tar of what `upper` changes over `lower`
/// (lowest first).
pub fn diff(
    lower: &[&Path],
    upper: &Path,
    out: impl Write,
    kind: DiffKind,
) -> Result<DiffStats, DiffError> {
    let changes = match kind {
        DiffKind::Overlay => overlay_changes(upper)?,
        DiffKind::Compare => compare_changes(lower, upper)?,
    };
    write_tar(changes, out)
}

/// Reads an overlayfs upperdir.
fn overlay_changes(upper: &Path) -> Result<BTreeMap<PathBuf, Change>, DiffError> {
    let mut out = BTreeMap::new();
    let mut tree = BTreeMap::new();
    merged_walk(&[upper.to_owned()], Path::new(""), &mut tree, true)?;
    for (rel, abs) in tree {
        let md = fs::symlink_metadata(&abs).map_err(fs_err("stat", &abs))?;
        if is_whiteout(&md) {
            out.insert(whiteout_path(&rel), Change::Whiteout);
            continue;
        }
        if md.is_dir() && is_opaque(&abs) {
            out.insert(rel.join(".wh..wh..opq"), Change::Opaque);
        }
        out.insert(rel, Change::Add(abs));
    }
    Ok(out)
}

/// Compares a full tree with the lower view.
fn compare_changes(lower: &[&Path], upper: &Path) -> Result<BTreeMap<PathBuf, Change>, DiffError> {
    let top_first: Vec<PathBuf> = lower.iter().rev().map(|p| p.to_path_buf()).collect();
    let mut low = BTreeMap::new();
    merged_walk(&top_first, Path::new(""), &mut low, false)?;
    let mut up = BTreeMap::new();
    merged_walk(&[upper.to_owned()], Path::new(""), &mut up, true)?;

    let mut out = BTreeMap::new();
    for (rel, u) in &up {
        let changed = match low.get(rel) {
            None => true,
            Some(l) => differs(l, u)?,
        };
        if changed {
            out.insert(rel.clone(), Change::Add(u.clone()));
        }
    }
    for rel in low.keys() {
        if up.contains_key(rel) {
            continue;
        }
        // Deleting a parent (or replacing it by a non-directory) covers its children.
        let parent_kept = match rel.parent() {
            Some(p) if !p.as_os_str().is_empty() => match up.get(p) {
                Some(abs) => fs::symlink_metadata(abs)
                    .map_err(fs_err("stat", abs))?
                    .is_dir(),
                None => false,
            },
            _ => true,
        };
        if parent_kept {
            out.insert(whiteout_path(rel), Change::Whiteout);
        }
    }
    Ok(out)
}

/// Walks the union of `layers` (directories for `rel`, top first) as overlayfs would
/// show it, recording rel → the absolute path that provides it. With
/// `keep_whiteouts`, whiteouts are recorded instead of hiding lower entries (for
/// reading a single upperdir).
fn merged_walk(
    layers: &[PathBuf],
    rel: &Path,
    out: &mut BTreeMap<PathBuf, PathBuf>,
    keep_whiteouts: bool,
) -> Result<(), DiffError> {
    let mut names = BTreeSet::new();
    for l in layers {
        for e in fs::read_dir(l).map_err(fs_err("read directory", l))? {
            names.insert(e.map_err(fs_err("read directory", l))?.file_name());
        }
    }
    for name in names {
        let mut found: Option<PathBuf> = None;
        let mut dirs = Vec::new();
        for l in layers {
            let p = l.join(&name);
            let md = match fs::symlink_metadata(&p) {
                Ok(md) => md,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(fs_err("stat", &p)(e)),
            };
            if found.is_none() {
                if is_whiteout(&md) && !keep_whiteouts {
                    break;
                }
                found = Some(p.clone());
            } else if is_whiteout(&md) || !md.is_dir() {
                break;
            }
            if !md.is_dir() {
                break;
            }
            let opaque = is_opaque(&p);
            dirs.push(p);
            if opaque {
                break;
            }
        }
        if let Some(abs) = found {
            let child = rel.join(&name);
            out.insert(child.clone(), abs);
            if !dirs.is_empty() {
                merged_walk(&dirs, &child, out, keep_whiteouts)?;
            }
        }
    }
    Ok(())
}

fn is_whiteout(md: &Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

fn is_opaque(p: &Path) -> bool {
    let mut buf = [0u8; 8];
    matches!(rustix::fs::lgetxattr(p, OPAQUE_XATTR, &mut buf[..]), Ok(1) if buf[0] == b'y')
}

fn whiteout_path(rel: &Path) -> PathBuf {
    let mut name = b".wh.".to_vec();
    name.extend_from_slice(rel.file_name().unwrap_or_default().as_bytes());
    let name = std::ffi::OsStr::from_bytes(&name);
    match rel.parent() {
        Some(p) => p.join(name),
        None => PathBuf::from(name),
    }
}

/// All xattrs of a path (not following symlinks), without overlayfs' own.
///
/// Buffers are the kernel's limits (`XATTR_LIST_MAX`, `XATTR_SIZE_MAX`): asking for
/// the size first with an empty buffer is racy, and rustix answers it with 0.
fn xattrs(p: &Path) -> Result<BTreeMap<String, Vec<u8>>, DiffError> {
    const MAX: usize = 65536;
    let mut out = BTreeMap::new();
    let mut names = vec![0u8; MAX];
    let n = match rustix::fs::llistxattr(p, &mut names[..]) {
        Ok(n) => n,
        Err(rustix::io::Errno::NOTSUP) => return Ok(out),
        Err(e) => return Err(fs_err("list xattrs of", p)(e.into())),
    };
    let mut val = vec![0u8; MAX];
    for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let key = String::from_utf8_lossy(name).into_owned();
        if key.starts_with(OVERLAY_XATTR_PREFIX) {
            continue;
        }
        let len = match rustix::fs::lgetxattr(p, name, &mut val[..]) {
            Ok(n) => n,
            Err(rustix::io::Errno::NODATA) => continue,
            Err(e) => return Err(fs_err("read xattr of", p)(e.into())),
        };
        out.insert(key, val[..len].to_vec());
    }
    Ok(out)
}

/// Whether `u` differs from `l` (both exist).
fn differs(l: &Path, u: &Path) -> Result<bool, DiffError> {
    let lm = fs::symlink_metadata(l).map_err(fs_err("stat", l))?;
    let um = fs::symlink_metadata(u).map_err(fs_err("stat", u))?;
    if lm.mode() != um.mode()
        || lm.uid() != um.uid()
        || lm.gid() != um.gid()
        || lm.rdev() != um.rdev()
        || xattrs(l)? != xattrs(u)?
    {
        return Ok(true);
    }
    let ft = um.file_type();
    if ft.is_dir() {
        return Ok(lm.mtime() != um.mtime());
    }
    if lm.size() != um.size() || lm.mtime() != um.mtime() || lm.mtime_nsec() != um.mtime_nsec() {
        return Ok(true);
    }
    if ft.is_symlink() {
        let a = fs::read_link(l).map_err(fs_err("read link", l))?;
        let b = fs::read_link(u).map_err(fs_err("read link", u))?;
        return Ok(a != b);
    }
    if ft.is_file() {
        return Ok(!same_content(l, u)?);
    }
    Ok(false)
}

fn same_content(a: &Path, b: &Path) -> Result<bool, DiffError> {
    let mut fa = File::open(a).map_err(fs_err("open", a))?;
    let mut fb = File::open(b).map_err(fs_err("open", b))?;
    let mut ba = vec![0u8; 64 << 10];
    let mut bb = vec![0u8; 64 << 10];
    loop {
        let n = read_full(&mut fa, &mut ba).map_err(fs_err("read", a))?;
        let m = read_full(&mut fb, &mut bb).map_err(fs_err("read", b))?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A writer that hashes and counts what passes through.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    size: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn write_tar(changes: BTreeMap<PathBuf, Change>, out: impl Write) -> Result<DiffStats, DiffError> {
    let mut b = tar::Builder::new(Hashing {
        inner: out,
        hash: Sha256::new(),
        size: 0,
    });
    let mut entries = 0u64;
    // (dev, ino) → the first member written for that inode.
    let mut inodes: HashMap<(u64, u64), PathBuf> = HashMap::new();
    for (rel, change) in changes {
        let abs = match change {
            Change::Whiteout | Change::Opaque => {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_uid(0);
                h.set_gid(0);
                h.set_mtime(0);
                h.set_size(0);
                b.append_data(&mut h, &rel, io::empty())
                    .map_err(DiffError::Write)?;
                entries += 1;
                continue;
            }
            Change::Add(abs) => abs,
        };
        let md = fs::symlink_metadata(&abs).map_err(fs_err("stat", &abs))?;
        let ft = md.file_type();
        if ft.is_socket() {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_mode(md.mode() & 0o7777);
        h.set_uid(u64::from(md.uid()));
        h.set_gid(u64::from(md.gid()));
        h.set_mtime(md.mtime().max(0) as u64);
        h.set_size(0);
        let x = xattrs(&abs)?;
        if !x.is_empty() {
            write_pax(&mut b, &rel, &x)?;
        }
        if ft.is_file() && md.nlink() > 1 {
            if let Some(first) = inodes.get(&(md.dev(), md.ino())) {
                h.set_entry_type(tar::EntryType::Link);
                b.append_link(&mut h, &rel, first)
                    .map_err(DiffError::Write)?;
                entries += 1;
                continue;
            }
            inodes.insert((md.dev(), md.ino()), rel.clone());
        }
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            b.append_data(&mut h, &rel, io::empty())
                .map_err(DiffError::Write)?;
        } else if ft.is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            let target = fs::read_link(&abs).map_err(fs_err("read link", &abs))?;
            b.append_link(&mut h, &rel, target)
                .map_err(DiffError::Write)?;
        } else if ft.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(md.size());
            let f = File::open(&abs).map_err(fs_err("open", &abs))?;
            // Exactly the size in the header, even if the file changes meanwhile.
            let mut r = f.take(md.size()).chain(io::repeat(0)).take(md.size());
            b.append_data(&mut h, &rel, &mut r)
                .map_err(DiffError::Write)?;
        } else {
            let kind = if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            };
            h.set_entry_type(kind);
            if kind != tar::EntryType::Fifo {
                h.set_device_major(rustix::fs::major(md.rdev()))
                    .map_err(DiffError::Write)?;
                h.set_device_minor(rustix::fs::minor(md.rdev()))
                    .map_err(DiffError::Write)?;
            }
            b.append_data(&mut h, &rel, io::empty())
                .map_err(DiffError::Write)?;
        }
        entries += 1;
    }
    let w = b.into_inner().map_err(DiffError::Write)?;
    let Hashing {
        mut inner,
        hash,
        size,
    } = w;
    inner.flush().map_err(DiffError::Write)?;
    Ok(DiffStats {
        diff_id: format!("sha256:{}", hex::encode(hash.finalize())),
        size,
        entries,
    })
}

/// Writes a PAX extended header carrying `SCHILY.xattr.*` records for the next member.
fn write_pax<W: Write>(
    b: &mut tar::Builder<W>,
    rel: &Path,
    xattrs: &BTreeMap<String, Vec<u8>>,
) -> Result<(), DiffError> {
    let mut data = Vec::new();
    for (k, v) in xattrs {
        let key = format!("SCHILY.xattr.{k}");
        // "<len> <key>=<value>\n", where <len> counts itself.
        let base = key.len() + v.len() + 3;
        let mut len = base + 1;
        while base + len.to_string().len() != len {
            len = base + len.to_string().len();
        }
        data.extend_from_slice(format!("{len} {key}=").as_bytes());
        data.extend_from_slice(v);
        data.push(b'\n');
    }
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    let name = rel.as_os_str().as_bytes();
    let mut pax_name = b"PaxHeaders.0/".to_vec();
    pax_name.extend_from_slice(&name[name.len().saturating_sub(80)..]);
    {
        let old = h.as_old_mut();
        old.name = [0; 100];
        old.name[..pax_name.len()].copy_from_slice(&pax_name);
    }
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append(&h, &data[..]).map_err(DiffError::Write)
}
