//! Images from `../shared/images` imported into a fresh store, unpacked into overlay
//! snapshots with `ImageStore::unpack`, mounted as a read-only view of the top chain
//! id, and compared file by file with `umoci unpack` of the same layout (skipped with
//! a note when umoci is absent). Also: shared layers are unpacked once, and
//! `history`/`disk_usage` account for the layers as Docker does.
//!
//! Needs root (overlay mounts). Everything lives in a `berth-test-*` temp dir; mounts
//! are held by guards declared after it, so they are unmounted before it is removed,
//! even when an assertion fails.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use berth_image::snapshot::mount::MountGuard;
use berth_image::snapshot::{chain_id, OverlaySnapshotter, Snapshotter};
use berth_image::{ImageStore, ImportOptions, PlatformSpec};
use sha2::{Digest as _, Sha256};

/// `../shared/images` beside the repository, wherever it is checked out.
const IMAGES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/images");

struct Fixture {
    store: ImageStore,
    sn: OverlaySnapshotter,
    /// Mount points and unpack scratch space.
    scratch: PathBuf,
    tmp: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let tmp = tempfile::Builder::new()
        .prefix("berth-test-")
        .tempdir()
        .unwrap();
    let scratch = tmp.path().join("scratch");
    fs::create_dir(&scratch).unwrap();
    Fixture {
        store: ImageStore::open(tmp.path().join("store")).unwrap(),
        sn: OverlaySnapshotter::new(&tmp.path().join("snapshots")).unwrap(),
        scratch,
        tmp,
    }
}

impl Fixture {
    /// Imports layout `name` as `repo:<its tags>`; returns `repo:tag`.
    fn import(&self, name: &str, repo: &str, tag: &str) -> String {
        let opts = ImportOptions {
            platform: PlatformSpec::new("linux", "amd64", None),
            repository: Some(repo.parse().unwrap()),
        };
        let images = self
            .store
            .import_path_with(Path::new(IMAGES).join(name), &opts)
            .unwrap();
        assert!(!images.is_empty(), "{name}: nothing imported");
        format!("{repo}:{tag}")
    }

    /// Unpacks `reference` and checks the top chain id against the config's diff ids.
    fn unpack(&self, reference: &str) -> String {
        let start = Instant::now();
        let top = self
            .store
            .unpack_in(reference, &self.sn, &self.scratch)
            .unwrap_or_else(|e| panic!("unpacking {reference}: {e:?}"));
        eprintln!("{reference}: unpacked in {:?}", start.elapsed());
        let inspect = self.store.inspect(reference).unwrap();
        let mut expected: Option<String> = None;
        for d in &inspect.diff_ids {
            expected = Some(chain_id(expected.as_deref(), &d.to_string()));
        }
        assert_eq!(Some(&top), expected.as_ref(), "{reference}: top chain id");
        top
    }

    /// Mounts a read-only view of `chain` under the scratch space.
    fn view(&self, chain: &str, name: &str) -> (MountGuard, PathBuf) {
        let key = format!("view-{name}");
        let mounts = self.sn.view(&key, Some(chain)).unwrap();
        let at = self.scratch.join(&key);
        fs::create_dir_all(&at).unwrap();
        (MountGuard::mount(&mounts, &at).unwrap(), at)
    }

    fn committed(&self) -> usize {
        self.sn
            .list()
            .unwrap()
            .iter()
            .filter(|i| i.kind == berth_image::snapshot::Kind::Committed)
            .count()
    }
}

/// What is compared of one file (not mtimes).
#[derive(Debug, PartialEq, Eq, Clone)]
struct Node {
    kind: &'static str,
    mode: u32,
    uid: u32,
    gid: u32,
    /// Symlink target, sha256 of contents, or device numbers.
    data: String,
}

/// Snapshots a tree (not its root) as path -> node.
fn tree(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Node>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let md = fs::symlink_metadata(&p).unwrap();
        let ft = md.file_type();
        let dev = || format!("{}:{}", major(md.rdev()), minor(md.rdev()));
        let (kind, data) = if ft.is_dir() {
            ("dir", String::new())
        } else if ft.is_symlink() {
            ("symlink", fs::read_link(&p).unwrap().display().to_string())
        } else if ft.is_file() {
            ("file", hex::encode(Sha256::digest(fs::read(&p).unwrap())))
        } else if ft.is_char_device() {
            ("char", dev())
        } else if ft.is_block_device() {
            ("block", dev())
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
            },
        );
        if ft.is_dir() {
            walk(root, &p, out);
        }
    }
}

/// glibc's `gnu_dev_major`/`gnu_dev_minor`.
fn major(dev: u64) -> u64 {
    ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)
}
fn minor(dev: u64) -> u64 {
    (dev & 0xff) | ((dev >> 12) & !0xff)
}

/// Copies a directory tree (regular files and dirs only), for a writable layout.
fn copy_tree(from: &Path, to: &Path) {
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

/// `umoci unpack` of a copy of layout `name` (tag `tag`) into `work`; `None` with a
/// note when umoci is not installed.
fn umoci_unpack(name: &str, tag: &str, work: &Path) -> Option<PathBuf> {
    if Command::new("umoci").arg("--version").output().is_err() {
        eprintln!("note: umoci is not installed; skipping the comparison for {name}");
        return None;
    }
    let layout = work.join("layout");
    copy_tree(&Path::new(IMAGES).join(name), &layout);
    let bundle = work.join("bundle");
    let out = Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:{tag}", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "umoci unpack {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(bundle.join("rootfs"))
}

/// Imports, unpacks and mounts `name:tag`, and compares the mounted view with umoci's
/// unpacking of `umoci_name` (the same image, or one with the same diff ids that umoci
/// can read: umoci knows no zstd). Returns the mounted tree.
fn compare_with_umoci(name: &str, tag: &str, umoci_name: &str) -> BTreeMap<String, Node> {
    let f = fixture();
    let reference = f.import(name, "berth-test/e2e", tag);
    let top = f.unpack(&reference);
    let (_guard, root) = f.view(&top, name);
    let ours = tree(&root);
    assert!(!ours.is_empty(), "{name}: mounted view is empty");
    let work = f.tmp.path().join("umoci");
    let Some(theirs_root) = umoci_unpack(umoci_name, tag, &work) else {
        return ours;
    };
    let theirs = tree(&theirs_root);
    let mut diffs = Vec::new();
    for (path, node) in &ours {
        match theirs.get(path) {
            None => diffs.push(format!("only in ours: {path}")),
            Some(other) if other != node => {
                diffs.push(format!("{path}: ours {node:?} umoci {other:?}"))
            }
            Some(_) => {}
        }
    }
    for path in theirs.keys().filter(|p| !ours.contains_key(*p)) {
        diffs.push(format!("only in umoci: {path}"));
    }
    assert!(
        diffs.is_empty(),
        "{name}: {} differences from umoci:\n{}",
        diffs.len(),
        diffs[..diffs.len().min(40)].join("\n")
    );
    eprintln!("{name}: {} paths identical to umoci's", ours.len());
    ours
}

#[test]
fn busybox_matches_umoci() {
    let t = compare_with_umoci("busybox-oci", "latest", "busybox-oci");
    assert_eq!(t["bin/busybox"].kind, "file");
    assert_eq!(t["bin/sh"].kind, "symlink");
}

#[test]
fn debian_matches_umoci() {
    let t = compare_with_umoci("debian-oci", "bookworm-minbase", "debian-oci");
    assert!(t.values().any(|n| n.mode & 0o4000 != 0), "no setuid file");
    assert!(t.values().any(|n| n.kind == "char"), "no device node");
}

fn check_multilayer(t: &BTreeMap<String, Node>) {
    for gone in [
        "data/remove-me.txt",
        "data/todelete",
        "data/small/d00/f000.bin",
    ] {
        assert!(!t.contains_key(gone), "{gone} should be whited out");
    }
    assert_eq!(t["data/small/d00"].kind, "dir");
    let opaque: Vec<&String> = t.keys().filter(|p| p.starts_with("data/opaque/")).collect();
    assert_eq!(opaque, ["data/opaque/new.txt"]);
    // No overlay whiteouts (char 0:0) show through the mount.
    assert!(!t.values().any(|n| n.kind == "char" && n.data == "0:0"));
}

#[test]
fn multilayer_matches_umoci() {
    check_multilayer(&compare_with_umoci(
        "multilayer-oci",
        "latest",
        "multilayer-oci",
    ));
}

#[test]
fn multilayer_zstd_matches_umoci_of_the_gzip_image() {
    check_multilayer(&compare_with_umoci(
        "multilayer-zstd-oci",
        "latest",
        "multilayer-oci",
    ));
}

#[test]
fn shared_base_layer_is_unpacked_once() {
    let f = fixture();
    let busybox = f.import("busybox-oci", "berth-test/busybox", "latest");
    let multi = f.import("multilayer-oci", "berth-test/multi", "latest");
    let zstd = f.import("multilayer-zstd-oci", "berth-test/multi-zstd", "latest");

    let base = f.unpack(&busybox);
    assert_eq!(f.committed(), 1);
    let top = f.unpack(&multi);
    // Busybox's layer is multilayer's base: only the four layers above it are new.
    assert_eq!(f.committed(), 5);
    assert_eq!(
        f.sn.stat(&base).unwrap().kind,
        berth_image::snapshot::Kind::Committed
    );
    // The zstd image has the same diff ids: nothing to unpack, and the same top.
    assert_eq!(f.unpack(&zstd), top);
    assert_eq!(f.unpack(&multi), top);
    assert_eq!(f.committed(), 5);

    let (guard, root) = f.view(&top, "multi");
    check_multilayer(&tree(&root));
    guard.unmount().unwrap();
}

#[test]
fn unpack_of_an_unknown_image_is_not_found() {
    let f = fixture();
    let err = f.store.unpack("berth-test/none:latest", &f.sn).unwrap_err();
    assert_eq!(err.kind(), berth_image::ErrorKind::NotFound);
    assert_eq!(f.committed(), 0);
}

#[test]
fn history_has_one_row_per_config_history_entry() {
    let f = fixture();
    let multi = f.import("multilayer-oci", "berth-test/multi", "latest");
    let inspect = f.store.inspect(&multi).unwrap();
    let entries = inspect.config.history().as_ref().map_or(0, Vec::len);
    let rows = f.store.history(&multi).unwrap();
    assert_eq!(rows.len(), entries);
    assert_eq!(rows.len(), 5);
    // Newest first: the top row is the image, the rest `<missing>`.
    assert_eq!(rows[0].id.as_ref(), Some(&inspect.id));
    assert_eq!(rows[0].tags, inspect.references);
    assert!(rows[1..].iter().all(|r| r.id.is_none()));
    assert!(rows.last().unwrap().created_by.contains("/bin/sh"));
    // No step of this image is empty, so the sizes are the layers', newest first.
    let sizes: Vec<u64> = rows.iter().map(|r| r.size).collect();
    let mut layers: Vec<u64> = inspect.layers.iter().map(|l| l.size).collect();
    layers.reverse();
    assert_eq!(sizes, layers);
}

#[test]
fn disk_usage_splits_shared_and_unique_sizes() {
    let f = fixture();
    let busybox = f.import("busybox-oci", "berth-test/busybox", "latest");
    let multi = f.import("multilayer-oci", "berth-test/multi", "latest");
    // A second name for the same image is not a second image.
    f.store
        .tag(&busybox, &"berth-test/busybox:again".parse().unwrap())
        .unwrap();
    let bb = f.store.inspect(&busybox).unwrap();
    let ml = f.store.inspect(&multi).unwrap();
    let base = bb.layers[0].size;

    let du = f.store.disk_usage().unwrap();
    assert_eq!(du.images.len(), 2);
    let get = |id| du.images.iter().find(|i| i.manifest == id).unwrap();
    let b = get(bb.manifest.clone());
    assert_eq!(b.references.len(), 2);
    assert_eq!((b.size, b.shared_size, b.unique_size), (base, base, 0));
    let m = get(ml.manifest.clone());
    assert_eq!(m.size, ml.size);
    assert_eq!(m.shared_size, base);
    assert_eq!(m.unique_size, ml.size - base);
    assert_eq!(du.layers_size, ml.size);
}
