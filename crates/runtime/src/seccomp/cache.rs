//! The compiled-filter cache: `<root>/@seccomp/<key>.bpf`.
//!
//! Compiling a Docker-sized profile with libseccomp costs milliseconds on every start;
//! reading its program back (a few KiB) costs microseconds. The key is the SHA-256 of the
//! canonical seccomp JSON (the spec's section re-serialized, so whitespace and key
//! order do not matter) together with everything else that shapes the program: this
//! format's version, libseccomp's version and the CPU architecture. A changed profile
//! gets a new key, so files are never invalidated, only superseded.
//!
//! The directory is `@seccomp` because `@` cannot appear in a container id
//! (`state::validate_id`): no container's state dir can collide with it.
//!
//! File format, version 1 (all integers little endian):
//!
//! ```text
//! offset  size  field
//!      0     8  magic "BERTHBPF"
//!      8     4  format version (1)
//!     12     4  program length in bytes (a multiple of 8)
//!     16    32  SHA-256 of the program
//!     48     n  the program: struct sock_filter[], as seccomp_export_bpf wrote it
//! ```
//!
//! A file that is short, has another magic or version, or whose checksum does not
//! match is ignored, and the compiled program replaces it. Files are written to a
//! temporary name and renamed into place, so a reader never sees half a file.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;
use sha2::{Digest, Sha256};

use super::SeccompError;

const MAGIC: &[u8; 8] = b"BERTHBPF";
const VERSION: u32 = 2;
const HEADER: usize = 48;

/// The cache directory's name under the state root.
pub const DIR: &str = "@seccomp";

pub struct Cache {
    dir: PathBuf,
}

/// The cache key of a seccomp section: 64 hex digits.
pub fn key(seccomp: &LinuxSeccomp) -> String {
    let mut h = Sha256::new();
    h.update(format!("berth-seccomp-cache {VERSION}\0").as_bytes());
    if let Ok(v) = libseccomp::ScmpVersion::current() {
        h.update(format!("libseccomp {v}\0").as_bytes());
    }
    h.update(format!("{}\0", std::env::consts::ARCH).as_bytes());
    h.update(serde_json::to_vec(seccomp).expect("a seccomp section always serializes"));
    hex::encode(h.finalize())
}

impl Cache {
    pub fn new(state_root: &Path) -> Cache {
        Cache {
            dir: state_root.join(DIR),
        }
    }

    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.bpf"))
    }

    /// The cached program for `key`, or None when missing or damaged.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let path = self.path(key);
        let bytes = std::fs::read(&path).ok()?;
        let program = decode(&bytes);
        if program.is_none() {
            crate::logging::debug(&format!(
                "seccomp cache: {} is damaged; compiling again",
                path.display()
            ));
        }
        program.map(<[u8]>::to_vec)
    }

    /// Stores `program` under `key`, atomically.
    pub fn put(&self, key: &str, program: &[u8]) -> Result<(), SeccompError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(SeccompError::io(format!(
                "cannot create {}",
                self.dir.display()
            )))?;
        let path = self.path(key);
        let tmp = self
            .dir
            .join(format!("{key}.bpf.tmp-{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            // No fsync: after a crash a short or empty file fails its checksum and is
            // rebuilt, so durability would buy nothing but the sync's milliseconds.
            f.write_all(&encode(program))?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            SeccompError::Io {
                context: format!("cannot write {}", path.display()),
                source: e,
            }
        })
    }
}

pub fn encode(program: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + program.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(program.len() as u32).to_le_bytes());
    out.extend_from_slice(&Sha256::digest(program));
    out.extend_from_slice(program);
    out
}

/// The program inside a cache file, if the file is whole and matches its checksum.
pub fn decode(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return None;
    }
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    if word(8) != VERSION {
        return None;
    }
    let len = word(12) as usize;
    let program = &bytes[HEADER..];
    if program.len() != len || len == 0 || len % 8 != 0 {
        return None;
    }
    (Sha256::digest(program).as_slice() == &bytes[16..48]).then_some(program)
}
