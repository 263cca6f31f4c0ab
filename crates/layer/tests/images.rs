//! Real images (made by debootstrap, buildah and skopeo) applied layer by layer, checked
//! against their config's diff ids and against `umoci unpack` of the same layout.

mod common;

use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use berth_layer::{apply, ApplyOptions};
use common::{copy_tree, images_dir, layers, snapshot};

/// Applies every layer of `name:tag` into a fresh directory, checking each diff id.
fn apply_image(name: &str, tag: &str, into: &Path) {
    let layout = images_dir().join(name);
    let (blobs, diff_ids) = layers(&layout, tag);
    assert_eq!(blobs.len(), diff_ids.len());
    let start = Instant::now();
    for (blob, diff_id) in blobs.iter().zip(&diff_ids) {
        let opts = ApplyOptions {
            expected_diff_id: Some(diff_id.clone()),
            ..Default::default()
        };
        let stats = apply(File::open(blob).unwrap(), into, &opts)
            .unwrap_or_else(|e| panic!("{name}: applying {}: {e:?}", blob.display()));
        assert_eq!(&stats.diff_id, diff_id);
        assert!(stats.entries > 0);
    }
    eprintln!(
        "{name}: {} layers applied in {:?}",
        blobs.len(),
        start.elapsed()
    );
}

/// Unpacks with umoci; `None` (with a note) when umoci is not installed.
fn umoci_unpack(name: &str, tag: &str, work: &Path) -> Option<std::path::PathBuf> {
    if Command::new("umoci").arg("--version").output().is_err() {
        eprintln!("note: umoci is not installed; skipping the comparison for {name}");
        return None;
    }
    let layout = work.join("layout");
    copy_tree(&images_dir().join(name), &layout);
    let bundle = work.join("bundle");
    let start = Instant::now();
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
    eprintln!("{name}: umoci unpack in {:?}", start.elapsed());
    Some(bundle.join("rootfs"))
}

/// Applies the image and compares it, file by file, with umoci's unpacking of
/// `reference` (the same image, or one with the same diff ids that umoci can read:
/// umoci 0.4 knows no zstd).
fn compare_with_umoci(name: &str, tag: &str, reference: &str) -> tempfile::TempDir {
    let work = tempfile::tempdir().unwrap();
    let ours = work.path().join("ours");
    std::fs::create_dir(&ours).unwrap();
    apply_image(name, tag, &ours);
    if let Some(theirs) = umoci_unpack(reference, tag, work.path()) {
        let a = snapshot(&ours);
        let b = snapshot(&theirs);
        let mut diffs = Vec::new();
        for (path, node) in &a {
            match b.get(path) {
                None => diffs.push(format!("only in ours: {path}")),
                Some(other) if other != node => {
                    diffs.push(format!("{path}: ours {node:?} umoci {other:?}"))
                }
                Some(_) => {}
            }
        }
        for path in b.keys().filter(|p| !a.contains_key(*p)) {
            diffs.push(format!("only in umoci: {path}"));
        }
        assert!(
            diffs.is_empty(),
            "{name}: {} differences from umoci:\n{}",
            diffs.len(),
            diffs[..diffs.len().min(40)].join("\n")
        );
        eprintln!("{name}: {} paths identical to umoci's", a.len());
    }
    work
}

#[test]
fn busybox_matches_umoci() {
    compare_with_umoci("busybox-oci", "latest", "busybox-oci");
}

#[test]
fn debian_matches_umoci() {
    let work = compare_with_umoci("debian-oci", "bookworm-minbase", "debian-oci");
    let tree = snapshot(&work.path().join("ours"));
    // setuid binaries, device nodes and hardlinks survive.
    assert!(
        tree.values().any(|n| n.mode & 0o4000 != 0),
        "no setuid file"
    );
    assert!(tree.values().any(|n| n.kind == "char"), "no device node");
    assert!(tree.values().any(|n| !n.links.is_empty()), "no hardlink");
}

fn check_multilayer(root: &Path) {
    use std::os::unix::fs::MetadataExt;
    for gone in [
        "data/remove-me.txt",
        "data/todelete",
        "data/small/d00/f000.bin",
    ] {
        assert!(
            std::fs::symlink_metadata(root.join(gone)).is_err(),
            "{gone} should be whited out"
        );
    }
    assert!(root.join("data/small/d00").is_dir());
    let opaque: Vec<_> = std::fs::read_dir(root.join("data/opaque"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(opaque, ["new.txt"]);
    let a = std::fs::metadata(root.join("data/special/a.txt")).unwrap();
    let b = std::fs::metadata(root.join("data/special/a-hardlink.txt")).unwrap();
    assert_eq!(a.ino(), b.ino());
    let tree = snapshot(root);
    assert!(
        tree.values().any(|n| n.xattrs.contains_key("user.test")),
        "no user.test xattr"
    );
}

#[test]
fn multilayer_matches_umoci_and_readme() {
    let work = compare_with_umoci("multilayer-oci", "latest", "multilayer-oci");
    check_multilayer(&work.path().join("ours"));
}

#[test]
fn multilayer_zstd_matches_umoci_and_readme() {
    let work = compare_with_umoci("multilayer-zstd-oci", "latest", "multilayer-oci");
    check_multilayer(&work.path().join("ours"));
    // The same config: gzip and zstd layers decompress to the same trees.
    let gz = tempfile::tempdir().unwrap();
    apply_image("multilayer-oci", "latest", gz.path());
    assert_eq!(snapshot(gz.path()), snapshot(&work.path().join("ours")));
}
