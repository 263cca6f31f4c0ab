//! One conformance suite for every snapshotter (STYLE rule 9, after containerd's
//! `core/snapshots/testsuite`): each case is a function over `&dyn Snapshotter`, and
//! `conformance!` runs all of them against each implementation. Snapshots are mounted
//! the way the runtime will mount them, from the returned `Mount` lists, and every
//! mount is held by a guard that unmounts it even when an assertion fails.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_image::snapshot::mount::MountGuard;
use berth_image::snapshot::{
    chain_id, diff, unpack_layers_in, Kind, Mount, NativeSnapshotter, OverlaySnapshotter,
    SnapshotError, Snapshotter,
};
use berth_image::ErrorKind;

struct Fixture {
    sn: Box<dyn Snapshotter>,
    root: PathBuf,
    make: fn(&Path) -> Box<dyn Snapshotter>,
    /// Mount points and unpack scratch space.
    scratch: PathBuf,
    _tmp: tempfile::TempDir,
}

fn fixture(make: fn(&Path) -> Box<dyn Snapshotter>) -> Fixture {
    let tmp = tempfile::Builder::new()
        .prefix("berth-test-")
        .tempdir()
        .unwrap();
    let scratch = tmp.path().join("scratch");
    fs::create_dir(&scratch).unwrap();
    let root = tmp.path().join("snapshots");
    Fixture {
        sn: make(&root),
        root,
        make,
        scratch,
        _tmp: tmp,
    }
}

impl Fixture {
    /// Mounts `mounts` on a new directory under the scratch space.
    fn mount(&self, mounts: &[Mount], name: &str) -> (MountGuard, PathBuf) {
        let at = self.scratch.join(name);
        fs::create_dir_all(&at).unwrap();
        (MountGuard::mount(mounts, &at).unwrap(), at)
    }

    /// Prepares `key` on `parent`, lets `change` edit it through its mounts, commits
    /// it as `name`.
    fn layer(&self, name: &str, parent: Option<&str>, change: impl FnOnce(&Path)) {
        let key = format!("{name}-active");
        let mounts = self.sn.prepare(&key, parent).unwrap();
        let (guard, at) = self.mount(&mounts, &key);
        change(&at);
        guard.unmount().unwrap();
        self.sn.commit(name, &key).unwrap();
    }
}

fn names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn lifecycle(f: &Fixture) {
    let sn = &*f.sn;
    f.layer("base", None, |r| {
        fs::write(r.join("hello"), "world").unwrap()
    });
    let info = sn.stat("base").unwrap();
    assert_eq!(info.kind, Kind::Committed);
    assert_eq!(info.parent, None);
    assert!(matches!(
        sn.stat("base-active"),
        Err(SnapshotError::NotFound(_))
    ));

    // Views are read-only and cannot be committed.
    let mounts = sn.view("v", Some("base")).unwrap();
    assert_eq!(sn.mounts("v").unwrap(), mounts);
    {
        let (_g, at) = f.mount(&mounts, "v");
        assert_eq!(fs::read_to_string(at.join("hello")).unwrap(), "world");
        assert!(
            fs::write(at.join("nope"), "x").is_err(),
            "a view is writable"
        );
    }
    assert!(matches!(
        sn.commit("v2", "v"),
        Err(SnapshotError::NotActive(_))
    ));
    assert_eq!(sn.stat("v").unwrap().kind, Kind::View);

    // Keys are unique; parents must be committed.
    sn.prepare("c", Some("base")).unwrap();
    let e = sn.prepare("c", Some("base")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    let e = sn.prepare("d", Some("c")).unwrap_err();
    assert!(matches!(e, SnapshotError::ParentNotCommitted(_)), "{e}");
    assert!(matches!(
        sn.prepare("d", Some("missing")),
        Err(SnapshotError::NotFound(_))
    ));
    assert_eq!(sn.stat("c").unwrap().parent.as_deref(), Some("base"));
    assert_eq!(sn.stat("c").unwrap().kind, Kind::Active);

    let keys: Vec<String> = sn.list().unwrap().into_iter().map(|i| i.key).collect();
    assert_eq!(keys, ["base", "c", "v"]);

    // A parent outlives its children.
    let e = sn.remove("base").unwrap_err();
    assert!(matches!(e, SnapshotError::HasChildren { .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::Conflict);
    sn.remove("c").unwrap();
    sn.remove("v").unwrap();
    sn.remove("base").unwrap();
    assert!(sn.list().unwrap().is_empty());
    assert!(matches!(sn.remove("base"), Err(SnapshotError::NotFound(_))));
}

fn chain_of_three_with_whiteout(f: &Fixture) {
    let sn = &*f.sn;
    f.layer("l1", None, |r| {
        fs::write(r.join("a"), "1").unwrap();
        fs::write(r.join("b"), "1").unwrap();
        fs::create_dir(r.join("dir")).unwrap();
        fs::write(r.join("dir/x"), "x").unwrap();
    });
    f.layer("l2", Some("l1"), |r| {
        fs::remove_file(r.join("a")).unwrap();
        fs::remove_dir_all(r.join("dir")).unwrap();
        fs::write(r.join("c"), "2").unwrap();
    });
    f.layer("l3", Some("l2"), |r| {
        fs::write(r.join("b"), "3").unwrap();
        fs::write(r.join("d"), "3").unwrap();
    });
    let usage_l1 = sn.usage("l1").unwrap();
    assert!(usage_l1 > 0);

    let mounts = sn.prepare("top", Some("l3")).unwrap();
    {
        let (_g, at) = f.mount(&mounts, "top");
        assert_eq!(names(&at), set(&["b", "c", "d"]));
        assert_eq!(fs::read_to_string(at.join("b")).unwrap(), "3");
        // Writes into the active snapshot...
        fs::write(at.join("b"), "changed").unwrap();
        fs::write(at.join("new"), "n").unwrap();
        fs::remove_file(at.join("c")).unwrap();
        assert!(sn.upper_dir("top").unwrap().exists());
    }
    // ...are not seen by the committed parents, nor by a view of them.
    let mounts = sn.view("look", Some("l3")).unwrap();
    {
        let (_g, at) = f.mount(&mounts, "look");
        assert_eq!(names(&at), set(&["b", "c", "d"]));
        assert_eq!(fs::read_to_string(at.join("b")).unwrap(), "3");
    }
    // A committed snapshot's own mounts are read-only.
    let mounts = sn.mounts("l2").unwrap();
    {
        let (_g, at) = f.mount(&mounts, "l2");
        assert_eq!(names(&at), set(&["b", "c"]));
        assert!(
            fs::write(at.join("nope"), "x").is_err(),
            "a committed snapshot is writable"
        );
    }
    let mounts = sn.view("look1", Some("l1")).unwrap();
    {
        let (_g, at) = f.mount(&mounts, "look1");
        assert_eq!(names(&at), set(&["a", "b", "dir"]));
        assert_eq!(fs::read_to_string(at.join("b")).unwrap(), "1");
    }
    // Remounting the active snapshot shows its changes again.
    let mounts = sn.mounts("top").unwrap();
    {
        let (_g, at) = f.mount(&mounts, "top-again");
        assert_eq!(names(&at), set(&["b", "d", "new"]));
        assert_eq!(fs::read_to_string(at.join("b")).unwrap(), "changed");
    }
    assert_eq!(sn.usage("l1").unwrap(), usage_l1);
}

/// `../shared/images` beside the repository, wherever it is checked out.
const IMAGES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/images");

/// Layer blobs (in order) and diff ids of tag `latest` of an OCI layout.
fn image_layers(name: &str) -> Vec<(String, PathBuf)> {
    let layout = Path::new(IMAGES).join(name);
    let blob = |digest: &str| layout.join("blobs/sha256").join(&digest[7..]);
    let json = |p: PathBuf| -> serde_json::Value {
        serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
    };
    let index = json(layout.join("index.json"));
    let manifest = json(blob(index["manifests"][0]["digest"].as_str().unwrap()));
    let config = json(blob(manifest["config"]["digest"].as_str().unwrap()));
    let blobs = manifest["layers"].as_array().unwrap().iter();
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap().iter();
    diff_ids
        .zip(blobs)
        .map(|(d, l)| {
            (
                d.as_str().unwrap().to_owned(),
                blob(l["digest"].as_str().unwrap()),
            )
        })
        .collect()
}

fn unpack(f: &Fixture, image: &str) -> berth_image::snapshot::UnpackReport {
    let layers = image_layers(image)
        .into_iter()
        .map(|(diff_id, path)| (diff_id, fs::File::open(path).unwrap()));
    unpack_layers_in(&*f.sn, layers, &f.scratch).unwrap()
}

fn real_image_unpacks_by_chain_id(f: &Fixture) {
    let layers = image_layers("multilayer-oci");
    let report = unpack(f, "multilayer-oci");
    assert_eq!(report.unpacked, 5);
    assert_eq!(report.reused, 0);
    let mut expected = None;
    for (i, (diff_id, _)) in layers.iter().enumerate() {
        let id = chain_id(expected.as_deref(), diff_id);
        assert_eq!(report.chain_ids[i], id);
        expected = Some(id);
    }
    let top = report.chain_ids.last().unwrap();
    let info = f.sn.stat(top).unwrap();
    assert_eq!(info.kind, Kind::Committed);
    assert_eq!(info.parent.as_ref(), Some(&report.chain_ids[3]));
    // No extraction keys left behind.
    assert_eq!(f.sn.list().unwrap().len(), 5);

    let mounts = f.sn.prepare("container", Some(top)).unwrap();
    let (_g, root) = f.mount(&mounts, "rootfs");
    let data = root.join("data");
    // The README's facts about the last layers.
    assert!(!data.join("remove-me.txt").exists());
    assert!(!data.join("todelete").exists());
    assert!(!data.join("small/d00/f000.bin").exists());
    assert!(data.join("small/d00").is_dir());
    assert_eq!(names(&data.join("opaque")), set(&["new.txt"]));
    let a = fs::metadata(data.join("special/a.txt")).unwrap();
    let b = fs::metadata(data.join("special/a-hardlink.txt")).unwrap();
    assert_eq!(a.ino(), b.ino());
    assert!(root.join("bin/busybox").is_file());
}

fn shared_base_is_unpacked_once(f: &Fixture) {
    let busybox = unpack(f, "busybox-oci");
    assert_eq!((busybox.unpacked, busybox.reused), (1, 0));
    let base = busybox.chain_ids[0].clone();
    let usage = f.sn.usage(&base).unwrap();
    assert!(usage > 1 << 20, "busybox is about 1 MB, got {usage}");

    let multi = unpack(f, "multilayer-oci");
    assert_eq!(
        multi.chain_ids[0], base,
        "multilayer's base layer is busybox"
    );
    assert_eq!((multi.unpacked, multi.reused), (4, 1));
    assert_eq!(f.sn.list().unwrap().len(), 5);
    assert_eq!(f.sn.usage(&base).unwrap(), usage);

    // Unpacking again does nothing.
    let again = unpack(f, "multilayer-oci");
    assert_eq!((again.unpacked, again.reused), (0, 5));
    assert_eq!(again.chain_ids, multi.chain_ids);
}

fn bad_diff_id_leaves_nothing(f: &Fixture) {
    let (_, blob) = image_layers("busybox-oci").remove(0);
    let wrong = format!("sha256:{}", "0".repeat(64));
    let err =
        unpack_layers_in(&*f.sn, [(wrong, fs::File::open(blob).unwrap())], &f.scratch).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DataLoss, "{err}");
    assert!(f.sn.list().unwrap().is_empty());
}

/// What is compared of a tree: path → kind, mode, owner and contents or link target.
fn tree(root: &Path) -> BTreeMap<String, (String, u32, u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let md = fs::symlink_metadata(&p).unwrap();
            let (kind, data) = if md.is_dir() {
                stack.push(p.clone());
                ("dir", Vec::new())
            } else if md.file_type().is_symlink() {
                (
                    "symlink",
                    fs::read_link(&p)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                )
            } else if md.is_file() {
                ("file", fs::read(&p).unwrap())
            } else {
                ("special", md.rdev().to_string().into_bytes())
            };
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            out.insert(rel, (kind.to_owned(), md.mode(), md.uid(), data));
        }
    }
    out
}

/// `docker commit`: the diff of a container's snapshot, applied as a new layer on the
/// same parent, gives the container's tree back.
fn commit_changes_as_layer(f: &Fixture) {
    let sn = &*f.sn;
    f.layer("l1", None, |r| {
        fs::write(r.join("a"), "1").unwrap();
        fs::write(r.join("b"), "1").unwrap();
        fs::create_dir_all(r.join("dir/sub")).unwrap();
        fs::write(r.join("dir/sub/x"), "x").unwrap();
        fs::create_dir(r.join("opaque")).unwrap();
        fs::write(r.join("opaque/old"), "old").unwrap();
    });
    f.layer("l2", Some("l1"), |r| fs::write(r.join("c"), "2").unwrap());
    let mounts = sn.prepare("ctr", Some("l2")).unwrap();
    let expected = {
        let (_g, at) = f.mount(&mounts, "ctr");
        fs::remove_file(at.join("a")).unwrap();
        fs::write(at.join("b"), "changed").unwrap();
        fs::remove_dir_all(at.join("dir")).unwrap();
        fs::remove_dir_all(at.join("opaque")).unwrap();
        fs::create_dir(at.join("opaque")).unwrap();
        fs::write(at.join("opaque/new"), "new").unwrap();
        fs::create_dir(at.join("added")).unwrap();
        fs::write(at.join("added/f"), "f").unwrap();
        tree(&at)
    };
    let mut tar = Vec::new();
    let stats = diff(sn, "ctr", &mut tar).unwrap();
    assert_eq!(stats.size, tar.len() as u64);
    f.layer("l3", Some("l2"), |r| {
        berth_layer::apply(&tar[..], r, &Default::default()).unwrap();
    });
    let mounts = sn.view("check", Some("l3")).unwrap();
    let (_g, at) = f.mount(&mounts, "check");
    let got = tree(&at);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (path, (kind, mode, uid, data)) in &expected {
        let g = &got[path];
        assert_eq!((&g.0, g.1, g.2), (kind, *mode, *uid), "{path}");
        if kind != "dir" {
            assert_eq!(&g.3, data, "{path}");
        }
    }
    assert!(matches!(
        sn.diff_source("check"),
        Err(SnapshotError::NotActive(_))
    ));
}

/// Records survive reopening the snapshotter on the same root.
fn reopen_keeps_records(f: &Fixture) {
    f.layer("base", None, |r| fs::write(r.join("f"), "x").unwrap());
    f.sn.prepare("work", Some("base")).unwrap();
    f.sn.view("look", Some("base")).unwrap();
    let again = (f.make)(&f.root);
    assert_eq!(again.list().unwrap(), f.sn.list().unwrap());
    assert_eq!(again.mounts("work").unwrap(), f.sn.mounts("work").unwrap());
    let meta: serde_json::Value =
        serde_json::from_slice(&fs::read(f.root.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["version"], 1);
}

macro_rules! conformance {
    ($name:ident, $make:expr) => {
        mod $name {
            use super::*;
            fn make(root: &Path) -> Box<dyn Snapshotter> {
                Box::new($make(root).unwrap())
            }
            #[test]
            fn lifecycle() {
                super::lifecycle(&fixture(make));
            }
            #[test]
            fn chain_of_three_with_whiteout() {
                super::chain_of_three_with_whiteout(&fixture(make));
            }
            #[test]
            fn real_image_unpacks_by_chain_id() {
                super::real_image_unpacks_by_chain_id(&fixture(make));
            }
            #[test]
            fn shared_base_is_unpacked_once() {
                super::shared_base_is_unpacked_once(&fixture(make));
            }
            #[test]
            fn commit_changes_as_layer() {
                super::commit_changes_as_layer(&fixture(make));
            }
            #[test]
            fn reopen_keeps_records() {
                super::reopen_keeps_records(&fixture(make));
            }
            #[test]
            fn bad_diff_id_leaves_nothing() {
                super::bad_diff_id_leaves_nothing(&fixture(make));
            }
        }
    };
}

conformance!(overlay, OverlaySnapshotter::new);
conformance!(native, NativeSnapshotter::new);

#[test]
fn chain_ids_follow_the_oci_spec() {
    let d0 = "sha256:e6fe98b4e638e3fad250f0fcdd0dc5bc2974268bcbe10df95c876504b37c78cb";
    assert_eq!(chain_id(None, d0), d0);
    // sha256("<d0> <d0>"), computed independently with sha256sum.
    let c1 = chain_id(Some(d0), d0);
    let expected = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("printf '%s' '{d0} {d0}' | sha256sum"))
        .output()
        .unwrap();
    let hex = String::from_utf8(expected.stdout).unwrap();
    assert_eq!(c1, format!("sha256:{}", &hex[..64]));
}
