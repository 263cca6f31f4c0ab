//! Helpers shared by the integration tests: OCI layouts, tree snapshots, raw tars.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The shared test images: `$BERTH_TEST_IMAGES`, else `shared/images` beside the repo.
pub fn images_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_TEST_IMAGES") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/images")
}

/// Layer blob paths (in order) and the config's diff ids of image `tag` in an OCI layout.
pub fn layers(layout: &Path, tag: &str) -> (Vec<PathBuf>, Vec<String>) {
    let blob = |digest: &str| {
        let (alg, hex) = digest.split_once(':').unwrap();
        layout.join("blobs").join(alg).join(hex)
    };
    let json = |p: PathBuf| -> serde_json::Value {
        serde_json::from_slice(&fs::read(&p).unwrap()).unwrap()
    };
    let index = json(layout.join("index.json"));
    let desc = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no tag {tag} in {}", layout.display()));
    let manifest = json(blob(desc["digest"].as_str().unwrap()));
    let config = json(blob(manifest["config"]["digest"].as_str().unwrap()));
    let layers = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| blob(l["digest"].as_str().unwrap()))
        .collect();
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    (layers, diff_ids)
}

/// What is compared of one file.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Node {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Symlink target, sha256 of contents, or device numbers.
    pub data: String,
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// Other paths sharing this inode (regular files only).
    pub links: Vec<String>,
}

/// Snapshots a tree (not its root) as path -> node.
pub fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    walk(root, root, &mut out, &mut inodes);
    for paths in inodes.values() {
        for p in paths {
            let mut others: Vec<String> = paths.iter().filter(|o| *o != p).cloned().collect();
            others.sort();
            out.get_mut(p).unwrap().links = others;
        }
    }
    out
}

fn walk(
    root: &Path,
    dir: &Path,
    out: &mut BTreeMap<String, Node>,
    inodes: &mut BTreeMap<u64, Vec<String>>,
) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let md = fs::symlink_metadata(&p).unwrap();
        let ft = md.file_type();
        let (kind, data) = if ft.is_dir() {
            ("dir", String::new())
        } else if ft.is_symlink() {
            (
                "symlink",
                fs::read_link(&p).unwrap().to_string_lossy().into_owned(),
            )
        } else if ft.is_file() {
            let digest = Sha256::digest(fs::read(&p).unwrap());
            inodes.entry(md.ino()).or_default().push(rel.clone());
            ("file", hex::encode(digest))
        } else if ft.is_char_device() {
            (
                "char",
                format!("{}:{}", libc_major(md.rdev()), libc_minor(md.rdev())),
            )
        } else if ft.is_block_device() {
            (
                "block",
                format!("{}:{}", libc_major(md.rdev()), libc_minor(md.rdev())),
            )
        } else if ft.is_fifo() {
            ("fifo", String::new())
        } else {
            ("socket", String::new())
        };
        out.insert(
            rel,
            Node {
                kind,
                mode: md.mode() & 0o7777,
                uid: md.uid(),
                gid: md.gid(),
                data,
                xattrs: xattrs(&p),
                links: Vec::new(),
            },
        );
        if ft.is_dir() {
            walk(root, &p, out, inodes);
        }
    }
}

fn libc_major(dev: u64) -> u32 {
    rustix::fs::major(dev)
}
fn libc_minor(dev: u64) -> u32 {
    rustix::fs::minor(dev)
}

/// All xattrs of a path, not following a symlink.
pub fn xattrs(p: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut buf = vec![0u8; 65536];
    let Ok(n) = rustix::fs::llistxattr(p, &mut buf[..]) else {
        return out;
    };
    for name in buf[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let mut val = vec![0u8; 65536];
        if let Ok(len) = rustix::fs::lgetxattr(p, name, &mut val[..]) {
            out.insert(
                String::from_utf8_lossy(name).into_owned(),
                val[..len].to_vec(),
            );
        }
    }
    out
}

/// A recursive listing of a directory with contents, for "nothing changed" checks.
pub fn fingerprint(root: &Path) -> BTreeMap<String, Node> {
    if !root.exists() {
        return BTreeMap::new();
    }
    snapshot(root)
}

/// Copies a directory tree (regular files and dirs only), for writable OCI layouts.
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// Builds a ustar header whose name (and link name) bytes are written raw, so that
/// names the tar crate's builder refuses (`..`, absolute) can be made.
pub fn raw_header(kind: tar::EntryType, name: &[u8], link: &[u8], size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_size(size);
    {
        let old = h.as_old_mut();
        old.name = [0; 100];
        old.name[..name.len()].copy_from_slice(name);
        old.linkname = [0; 100];
        old.linkname[..link.len()].copy_from_slice(link);
    }
    h.set_cksum();
    h
}

/// A tar assembled from raw members.
#[derive(Default)]
pub struct RawTar {
    pub bytes: Vec<u8>,
}

impl RawTar {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn file(mut self, name: &str, data: &[u8]) -> Self {
        self.push(
            raw_header(
                tar::EntryType::Regular,
                name.as_bytes(),
                b"",
                data.len() as u64,
            ),
            data,
        );
        self
    }
    pub fn dir(mut self, name: &str) -> Self {
        self.push(
            raw_header(tar::EntryType::Directory, name.as_bytes(), b"", 0),
            b"",
        );
        self
    }
    pub fn symlink(mut self, name: &str, target: &str) -> Self {
        self.push(
            raw_header(
                tar::EntryType::Symlink,
                name.as_bytes(),
                target.as_bytes(),
                0,
            ),
            b"",
        );
        self
    }
    pub fn hardlink(mut self, name: &str, target: &str) -> Self {
        self.push(
            raw_header(tar::EntryType::Link, name.as_bytes(), target.as_bytes(), 0),
            b"",
        );
        self
    }
    pub fn header(mut self, h: tar::Header, data: &[u8]) -> Self {
        self.push(h, data);
        self
    }
    fn push(&mut self, h: tar::Header, data: &[u8]) {
        self.bytes.extend_from_slice(h.as_bytes());
        self.bytes.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.bytes.extend(std::iter::repeat_n(0u8, pad));
    }
    pub fn finish(mut self) -> Vec<u8> {
        self.bytes.extend(std::iter::repeat_n(0u8, 1024));
        self.bytes
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}
