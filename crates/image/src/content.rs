//! The content store: immutable, content-addressed blobs on disk.
//!
//! Layout under the store root (version 1, see [`LAYOUT_VERSION`]):
//!
//! ```text
//! <root>/blobs/sha256/<hex>   committed blobs, read-only, named by their digest
//! <root>/ingest/<random>      blobs being written; never read by anyone else
//! ```
//!
//! A blob becomes visible only by `rename(2)` from `ingest/` into `blobs/`,
//! after its bytes were fsynced and its size and digest checked. `rename` is
//! atomic within one filesystem, so a reader sees either no blob or the whole
//! verified blob, and a crash mid-write leaves only an ingest file, which
//! [`ContentStore::cleanup_ingest`] removes (the daemon calls it at start,
//! before any writer exists). The same design as containerd's
//! `plugins/content/local`, without its resumable-ingest refs: berth imports
//! from local files and can simply start again.
//!
//! Two writers of the same blob each write their own ingest file; the first
//! commit renames, the second finds the blob present and drops its copy
//! (dedup). Even if both rename, the bytes are identical, so readers never
//! see a difference.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::digest::{is_sha256_hex, Digest, HashingWriter};
use crate::ErrorKind;

/// Version of the on-disk layout described in the module docs.
pub const LAYOUT_VERSION: u32 = 1;

/// Errors from the content store.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// No blob with this digest.
    #[error("blob {0} not found")]
    NotFound(Digest),
    /// The written bytes hash to something else than expected.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest the caller announced.
        expected: Digest,
        /// The digest of the bytes received.
        actual: Digest,
    },
    /// The written byte count differs from the announced size.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The digest of the bytes received.
        digest: Digest,
        /// The size the caller announced.
        expected: u64,
        /// The bytes received.
        actual: u64,
    },
    /// A committed blob no longer matches its name (disk corruption or tampering).
    #[error("blob {expected} is corrupt: its content hashes to {actual}")]
    Corrupt {
        /// The blob's name.
        expected: Digest,
        /// What its bytes hash to now.
        actual: Digest,
    },
    /// A filesystem operation failed.
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

impl ContentError {
    /// The error's class, for the API layer.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ContentError::NotFound(_) => ErrorKind::NotFound,
            ContentError::DigestMismatch { .. } | ContentError::SizeMismatch { .. } => {
                ErrorKind::InvalidArgument
            }
            ContentError::Corrupt { .. } => ErrorKind::DataLoss,
            ContentError::Io { .. } => ErrorKind::Internal,
        }
    }
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ContentError {
    let path = path.to_owned();
    move |source| ContentError::Io { op, path, source }
}

/// A content-addressed blob store rooted at one directory.
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
}

impl ContentStore {
    /// Opens (creating if needed) a store under `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, ContentError> {
        let root = root.into();
        let store = ContentStore { root };
        for dir in [store.blobs_dir(), store.ingest_dir()] {
            fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
        }
        Ok(store)
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    fn ingest_dir(&self) -> PathBuf {
        self.root.join("ingest")
    }

    /// The path of a committed blob (which may not exist).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs_dir().join(digest.hex())
    }

    /// Starts writing a blob. With `expected` and/or `expected_size`, the
    /// commit fails unless the bytes match them.
    pub fn writer(
        &self,
        expected: Option<Digest>,
        expected_size: Option<u64>,
    ) -> Result<ContentWriter, ContentError> {
        let (path, file) = self.new_ingest_file()?;
        Ok(ContentWriter {
            store: self.clone(),
            path,
            inner: Some(HashingWriter::new(file)),
            expected,
            expected_size,
        })
    }

    /// A new, empty, uniquely named file in `ingest/` (also used for
    /// temporary files during import, so a crash leaves them where
    /// [`ContentStore::cleanup_ingest`] looks).
    pub(crate) fn new_ingest_file(&self) -> Result<(PathBuf, File), ContentError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        loop {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let name = format!(
                "{}-{}-{:x}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed),
                nanos
            );
            let path = self.ingest_dir().join(name);
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(f) => return Ok((path, f)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err("create ingest file", &path)(e)),
            }
        }
    }

    /// Writes `data` as a blob in one call.
    pub fn write_blob(
        &self,
        data: &[u8],
        expected: Option<Digest>,
    ) -> Result<Digest, ContentError> {
        let mut w = self.writer(expected, Some(data.len() as u64))?;
        w.write_all(data)
            .map_err(io_err("write ingest file", &w.path.clone()))?;
        w.commit()
    }

    /// True if the blob is committed.
    pub fn exists(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// The size of a committed blob.
    pub fn size(&self, digest: &Digest) -> Result<u64, ContentError> {
        let path = self.blob_path(digest);
        match fs::metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(ContentError::NotFound(digest.clone()))
            }
            Err(e) => Err(io_err("stat blob", &path)(e)),
        }
    }

    /// Opens a committed blob for reading (unverified: the name was checked
    /// at commit).
    pub fn open_blob(&self, digest: &Digest) -> Result<File, ContentError> {
        let path = self.blob_path(digest);
        match File::open(&path) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(ContentError::NotFound(digest.clone()))
            }
            Err(e) => Err(io_err("open blob", &path)(e)),
        }
    }

    /// Reads a whole blob into memory and checks it still matches its digest.
    /// Meant for manifests and configs, which are small.
    pub fn read_verified(&self, digest: &Digest) -> Result<Vec<u8>, ContentError> {
        let mut f = self.open_blob(digest)?;
        let mut data = Vec::new();
        f.read_to_end(&mut data)
            .map_err(io_err("read blob", &self.blob_path(digest)))?;
        let actual = Digest::of(&data);
        if &actual != digest {
            return Err(ContentError::Corrupt {
                expected: digest.clone(),
                actual,
            });
        }
        Ok(data)
    }

    /// Removes a blob. Removing a missing blob is `NotFound`.
    pub fn delete(&self, digest: &Digest) -> Result<(), ContentError> {
        let path = self.blob_path(digest);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(ContentError::NotFound(digest.clone()))
            }
            Err(e) => Err(io_err("remove blob", &path)(e)),
        }
    }

    /// All committed blobs, sorted. Files whose names are not digests are ignored.
    pub fn list(&self) -> Result<Vec<Digest>, ContentError> {
        let dir = self.blobs_dir();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err("read directory", &dir))? {
            let entry = entry.map_err(io_err("read directory", &dir))?;
            if let Some(name) = entry.file_name().to_str() {
                if is_sha256_hex(name) {
                    out.push(Digest::from_hex(name).expect("checked hex"));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes every ingest file. Only call when no writer is active (at
    /// daemon start); returns how many were removed.
    pub fn cleanup_ingest(&self) -> Result<usize, ContentError> {
        self.cleanup_ingest_older_than(Duration::ZERO)
    }

    /// Removes ingest files not modified for at least `age`.
    pub fn cleanup_ingest_older_than(&self, age: Duration) -> Result<usize, ContentError> {
        let dir = self.ingest_dir();
        let now = SystemTime::now();
        let mut removed = 0;
        for entry in fs::read_dir(&dir).map_err(io_err("read directory", &dir))? {
            let entry = entry.map_err(io_err("read directory", &dir))?;
            let path = entry.path();
            let old_enough = entry
                .metadata()
                .and_then(|m| m.modified())
                .map(|m| now.duration_since(m).unwrap_or_default() >= age)
                .unwrap_or(true);
            if old_enough {
                match fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err("remove ingest file", &path)(e)),
                }
            }
        }
        Ok(removed)
    }
}

/// A blob being written into `ingest/`. Dropped without commit, its ingest
/// file is removed.
pub struct ContentWriter {
    store: ContentStore,
    path: PathBuf,
    inner: Option<HashingWriter<File>>,
    expected: Option<Digest>,
    expected_size: Option<u64>,
}

impl ContentWriter {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.inner.as_ref().map_or(0, |w| w.written())
    }

    /// Fsyncs and checks size and digest, without making the blob visible.
    /// On mismatch the ingest file is removed.
    pub fn verify(mut self) -> Result<VerifiedBlob, ContentError> {
        let w = self.inner.take().expect("writer used after finish");
        let (file, actual, size) = w.finish();
        let path = std::mem::take(&mut self.path);
        // From here the VerifiedBlob (or the error path) owns the file.
        let cleanup = |e: ContentError| {
            let _ = fs::remove_file(&path);
            e
        };
        file.sync_all()
            .map_err(io_err("sync ingest file", &path))
            .map_err(cleanup)?;
        drop(file);
        if let Some(expected) = &self.expected {
            if expected != &actual {
                return Err(cleanup(ContentError::DigestMismatch {
                    expected: expected.clone(),
                    actual,
                }));
            }
        }
        if let Some(expected) = self.expected_size {
            if expected != size {
                return Err(cleanup(ContentError::SizeMismatch {
                    digest: actual,
                    expected,
                    actual: size,
                }));
            }
        }
        Ok(VerifiedBlob {
            store: self.store.clone(),
            path,
            digest: actual,
            size,
        })
    }

    /// Verifies and commits; returns the blob's digest.
    pub fn commit(self) -> Result<Digest, ContentError> {
        self.verify()?.commit()
    }
}

impl Write for ContentWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner
            .as_mut()
            .ok_or_else(|| io::Error::other("writer already finished"))?
            .write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.inner.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for ContentWriter {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A fully written and checked blob, still invisible in `ingest/`. Lets an
/// import check every blob of an image before making any of them visible.
/// Dropped without commit, its ingest file is removed.
pub struct VerifiedBlob {
    store: ContentStore,
    path: PathBuf,
    digest: Digest,
    size: u64,
}

impl VerifiedBlob {
    /// The blob's digest.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The blob's size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Makes the blob visible, atomically. If it already exists the ingest
    /// copy is dropped.
    pub fn commit(mut self) -> Result<Digest, ContentError> {
        let path = std::mem::take(&mut self.path);
        let target = self.store.blob_path(&self.digest);
        if target.exists() {
            let _ = fs::remove_file(&path);
            return Ok(self.digest.clone());
        }
        // Blobs are immutable: make them read-only before they become visible.
        let mut perms = fs::metadata(&path)
            .map_err(io_err("stat ingest file", &path))?
            .permissions();
        perms.set_readonly(true);
        let _ = fs::set_permissions(&path, perms);
        if let Err(e) = fs::rename(&path, &target) {
            let _ = fs::remove_file(&path);
            return Err(io_err("commit blob", &target)(e));
        }
        let dir = self.store.blobs_dir();
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("sync directory", &dir))?;
        Ok(self.digest.clone())
    }
}

impl Drop for VerifiedBlob {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContentStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = ContentStore::open(dir.path()).unwrap();
        (dir, s)
    }

    fn ingest_count(s: &ContentStore) -> usize {
        fs::read_dir(s.ingest_dir()).unwrap().count()
    }

    #[test]
    fn commit_ok_then_read_back() {
        let (_d, s) = store();
        let data = b"some layer bytes";
        let mut w = s
            .writer(Some(Digest::of(data)), Some(data.len() as u64))
            .unwrap();
        w.write_all(&data[..4]).unwrap();
        w.write_all(&data[4..]).unwrap();
        assert_eq!(w.written(), data.len() as u64);
        let d = w.commit().unwrap();
        assert_eq!(d, Digest::of(data));
        assert!(s.exists(&d));
        assert_eq!(s.size(&d).unwrap(), data.len() as u64);
        assert_eq!(s.read_verified(&d).unwrap(), data);
        let mut buf = Vec::new();
        s.open_blob(&d).unwrap().read_to_end(&mut buf).unwrap();
        assert_eq!(buf, data);
        assert_eq!(s.list().unwrap(), vec![d.clone()]);
        assert_eq!(ingest_count(&s), 0);
        s.delete(&d).unwrap();
        assert!(!s.exists(&d));
        assert_eq!(s.delete(&d).unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(s.size(&d).unwrap_err().kind(), ErrorKind::NotFound);
    }

    #[test]
    fn digest_mismatch_names_both_and_leaves_nothing() {
        let (_d, s) = store();
        let expected = Digest::of(b"what was announced");
        let mut w = s.writer(Some(expected.clone()), None).unwrap();
        w.write_all(b"what arrived").unwrap();
        let err = w.commit().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "digest mismatch: expected {expected}, got {}",
                Digest::of(b"what arrived")
            )
        );
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(s.list().unwrap().is_empty());
        assert_eq!(ingest_count(&s), 0);
    }

    #[test]
    fn size_mismatch_is_refused() {
        let (_d, s) = store();
        let mut w = s.writer(None, Some(100)).unwrap();
        w.write_all(b"short").unwrap();
        let err = w.commit().unwrap_err();
        assert!(matches!(
            err,
            ContentError::SizeMismatch {
                expected: 100,
                actual: 5,
                ..
            }
        ));
        assert!(
            err.to_string().contains("expected 100 bytes, got 5"),
            "{err}"
        );
        assert!(s.list().unwrap().is_empty());
        assert_eq!(ingest_count(&s), 0);
    }

    #[test]
    fn same_blob_twice_is_stored_once() {
        let (_d, s) = store();
        let a = s.write_blob(b"dup", None).unwrap();
        let b = s.write_blob(b"dup", Some(a.clone())).unwrap();
        assert_eq!(a, b);
        assert_eq!(s.list().unwrap().len(), 1);
        assert_eq!(ingest_count(&s), 0);
    }

    #[test]
    fn concurrent_writers_of_the_same_blob() {
        let (_d, s) = store();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let expected = Digest::of(&data);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let s = s.clone();
                    let data = &data;
                    let expected = expected.clone();
                    scope.spawn(move || {
                        let mut w = s.writer(Some(expected), None).unwrap();
                        for chunk in data.chunks(7_000) {
                            w.write_all(chunk).unwrap();
                        }
                        w.commit().unwrap()
                    })
                })
                .collect();
            for h in handles {
                assert_eq!(h.join().unwrap(), expected);
            }
        });
        assert_eq!(s.list().unwrap(), vec![expected.clone()]);
        assert_eq!(s.read_verified(&expected).unwrap(), data);
        assert_eq!(ingest_count(&s), 0);
    }

    #[test]
    fn interrupted_write_is_never_visible_and_is_cleaned() {
        let (_d, s) = store();
        let mut w = s.writer(None, None).unwrap();
        w.write_all(b"half a blob").unwrap();
        // A crash: the writer's destructor never runs.
        std::mem::forget(w);
        assert!(s.list().unwrap().is_empty());
        assert_eq!(ingest_count(&s), 1);
        assert_eq!(s.cleanup_ingest().unwrap(), 1);
        assert_eq!(ingest_count(&s), 0);
        // A writer dropped without commit cleans up after itself.
        let mut w = s.writer(None, None).unwrap();
        w.write_all(b"abandoned").unwrap();
        drop(w);
        assert_eq!(ingest_count(&s), 0);
    }

    #[test]
    fn verified_blob_is_invisible_until_commit() {
        let (_d, s) = store();
        let mut w = s.writer(None, None).unwrap();
        w.write_all(b"staged").unwrap();
        let v = w.verify().unwrap();
        assert!(!s.exists(v.digest()));
        drop(v);
        assert_eq!(ingest_count(&s), 0);
        assert!(s.list().unwrap().is_empty());
    }

    #[test]
    fn corrupt_blob_is_detected_on_verified_read() {
        let (_d, s) = store();
        let d = s.write_blob(b"original", None).unwrap();
        let path = s.blob_path(&d);
        let mut perms = fs::metadata(&path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        fs::set_permissions(&path, perms).unwrap();
        fs::write(&path, b"tampered").unwrap();
        let err = s.read_verified(&d).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DataLoss);
        assert!(err.to_string().contains(&d.to_string()));
    }
}
