//! Filesystem operations confined to the target directory.
//!
//! Everything a layer does happens through a directory fd of the target (the "root"),
//! never through a string path joined onto it. An entry's *parent* is resolved by the
//! kernel with `openat2(2)` and `RESOLVE_IN_ROOT`: `..` is clamped at the root and a
//! symlink is followed as if the root were `/`, so `etc -> /usr/etc` works as it does in
//! the container while `evil -> /` or `evil -> ../../..` lead back to the root instead of
//! out of it. This is the behaviour of containerd and umoci (CVE-2018-15664,
//! CVE-2019-14271 and docker's `docker cp` bugs came from resolving in userspace and then
//! using the string). The *last* component is never followed: it is created, replaced
//! or removed with `*at` calls on the parent fd with `AT_SYMLINK_NOFOLLOW`/`O_NOFOLLOW`,
//! and deleting a tree walks it with `O_NOFOLLOW` directory fds only.
//!
//! Resolving the parent of consecutive entries in one directory is the common case, so
//! the last resolved parent is cached; the cache is dropped whenever something is
//! removed, since a removed directory (or one replaced by a symlink) would otherwise
//! still be reachable through the stale fd.

use std::collections::HashSet;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;

use rustix::fs::{self as rfs, AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags, CWD};
use rustix::io::Errno;

/// Flags for directory fds that we read, create in and remove from.
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC);

/// `openat2` with `RESOLVE_IN_ROOT` fails with `EAGAIN` when a rename raced with it.
const EAGAIN_RETRIES: usize = 32;

/// The target directory and the last parent directory resolved in it.
pub(crate) struct Root {
    fd: Rc<OwnedFd>,
    cache: Option<(Vec<u8>, Rc<OwnedFd>)>,
}

impl Root {
    pub fn open(path: &Path) -> io::Result<Root> {
        let fd = rfs::openat(CWD, path, DIR_FLAGS, Mode::empty())?;
        Ok(Root {
            fd: Rc::new(fd),
            cache: None,
        })
    }

    /// The root directory itself.
    pub fn fd(&self) -> Rc<OwnedFd> {
        self.fd.clone()
    }

    /// Forgets the cached parent; call after anything was removed.
    pub fn invalidate(&mut self) {
        self.cache = None;
    }

    /// Opens the directory `dir` (a cleaned relative path) resolved inside the root.
    fn open_in(&self, dir: &[u8]) -> io::Result<OwnedFd> {
        let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        let mut tries = 0;
        loop {
            match rfs::openat2(&*self.fd, dir, DIR_FLAGS, Mode::empty(), resolve) {
                Err(Errno::AGAIN) if tries < EAGAIN_RETRIES => tries += 1,
                r => return r.map_err(io::Error::from),
            }
        }
    }

    /// Resolves the directory `dir` inside the root.
    ///
    /// With `create`, missing directories are made (mode 0755, like containerd) and
    /// recorded in `created`; without it, a missing or non-directory path gives `None`.
    pub fn dir(
        &mut self,
        dir: &[u8],
        create: bool,
        created: &mut HashSet<Vec<u8>>,
    ) -> io::Result<Option<Rc<OwnedFd>>> {
        if dir.is_empty() {
            return Ok(Some(self.fd.clone()));
        }
        if let Some((key, fd)) = &self.cache {
            if key == dir {
                return Ok(Some(fd.clone()));
            }
        }
        let fd = match self.open_in(dir) {
            Ok(fd) => fd,
            Err(e) if create && e.raw_os_error() == Some(libc::ENOENT) => {
                self.mkdir_all(dir, created)?
            }
            Err(e) if !create && matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let fd = Rc::new(fd);
        self.cache = Some((dir.to_vec(), fd.clone()));
        Ok(Some(fd))
    }

    /// Creates the missing components of `dir`, each resolved inside the root.
    fn mkdir_all(&self, dir: &[u8], created: &mut HashSet<Vec<u8>>) -> io::Result<OwnedFd> {
        let mut cur = self.fd.try_clone()?;
        let ends = dir
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'/')
            .map(|(i, _)| i)
            .chain(std::iter::once(dir.len()));
        let mut start = 0;
        for end in ends {
            let prefix = &dir[..end];
            let name = &dir[start..end];
            start = end + 1;
            match self.open_in(prefix) {
                Ok(fd) => cur = fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    match rfs::mkdirat(&cur, name, Mode::from_raw_mode(0o755)) {
                        Ok(()) => {
                            created.insert(prefix.to_vec());
                        }
                        // A dangling symlink: the open below fails and says so.
                        Err(Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    cur = self.open_in(prefix)?;
                    // mkdirat obeys the umask; the layer did not ask for it.
                    rfs::fchmod(&cur, Mode::from_raw_mode(0o755))?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(cur)
    }
}

/// Removes `name` in `dir` whatever it is (a directory with all its contents), never
/// following symlinks. A missing `name` is not an error.
pub(crate) fn remove_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    match rfs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        // unlink(2) of a directory: EISDIR on Linux, EPERM per POSIX.
        Err(Errno::ISDIR | Errno::PERM) => {
            let sub = match rfs::openat(dir, name, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOTDIR | Errno::LOOP) => {
                    return Err(io::Error::from(Errno::PERM));
                }
                Err(e) => return Err(e.into()),
            };
            for (child, _) in children(sub.as_fd())? {
                remove_at(sub.as_fd(), &child)?;
            }
            rfs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Opens the directory `name` in `dir` without following a symlink.
pub(crate) fn open_dir_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<OwnedFd> {
    Ok(rfs::openat(
        dir,
        name,
        DIR_FLAGS | OFlags::NOFOLLOW,
        Mode::empty(),
    )?)
}

/// Lists a directory (without `.` and `..`), names and whether each is a directory.
pub(crate) fn children(dir: BorrowedFd<'_>) -> io::Result<Vec<(Vec<u8>, bool)>> {
    let mut out = Vec::new();
    let mut d = Dir::read_from(dir)?;
    while let Some(entry) = d.read() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let is_dir = match entry.file_type() {
            FileType::Directory => true,
            FileType::Unknown => {
                let st = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
                FileType::from_raw_mode(st.st_mode) == FileType::Directory
            }
            _ => false,
        };
        out.push((name.to_vec(), is_dir));
    }
    Ok(out)
}

/// Sets an xattr on `name` in `dir` without following it if it is a symlink.
///
/// There is no `lsetxattrat` before Linux 6.13, so the entry is opened with
/// `O_PATH|O_NOFOLLOW` and addressed through its `/proc/self/fd` magic link, which
/// `setxattr` follows to the inode itself (the technique runc and umoci use).
pub(crate) fn set_xattr_at(
    dir: BorrowedFd<'_>,
    name: &[u8],
    key: &[u8],
    value: &[u8],
) -> io::Result<()> {
    let fd = rfs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let proc = format!("/proc/self/fd/{}", fd.as_raw_fd());
    rfs::setxattr(proc.as_str(), key, value, rfs::XattrFlags::empty())?;
    Ok(())
}

/// Lists the xattr names of an open file.
pub(crate) fn list_xattrs(fd: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    let mut buf = vec![0u8; 1024];
    let len = loop {
        match rfs::flistxattr(fd, &mut buf[..]) {
            Ok(n) => break n,
            Err(Errno::RANGE) => {
                let need = rfs::flistxattr_query(fd)?;
                buf.resize(need.max(buf.len() * 2), 0);
            }
            Err(Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        }
    };
    Ok(buf[..len]
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}
