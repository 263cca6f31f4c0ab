//! Layer semantics on small hand-made layers: whiteouts in any order, type changes,
//! metadata, and the stats.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use berth_layer::{apply, ApplyOptions};
use common::{sha256, RawTar};

fn opts() -> ApplyOptions {
    ApplyOptions::default()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn lower(root: &Path) {
    let tar = RawTar::new()
        .dir("d")
        .file("d/a", b"a")
        .file("d/b", b"b")
        .dir("d/sub")
        .file("d/sub/x", b"x")
        .dir("keep")
        .file("keep/k", b"k")
        .finish();
    apply(&tar[..], root, &opts()).unwrap();
}

#[test]
fn opaque_marker_before_siblings() {
    let t = tempfile::tempdir().unwrap();
    lower(t.path());
    let tar = RawTar::new()
        .dir("d")
        .file("d/.wh..wh..opq", b"")
        .file("d/new", b"n")
        .dir("d/sub")
        .file("d/sub/y", b"y")
        .finish();
    apply(&tar[..], t.path(), &opts()).unwrap();
    assert_eq!(names(&t.path().join("d")), ["new", "sub"]);
    assert_eq!(names(&t.path().join("d/sub")), ["y"]);
    assert_eq!(names(&t.path().join("keep")), ["k"]);
}

#[test]
fn opaque_marker_after_siblings() {
    let t = tempfile::tempdir().unwrap();
    lower(t.path());
    let tar = RawTar::new()
        .dir("d")
        .file("d/new", b"n")
        .dir("d/sub")
        .file("d/sub/y", b"y")
        .file("d/a", b"rewritten")
        .file("d/.wh..wh..opq", b"")
        .finish();
    apply(&tar[..], t.path(), &opts()).unwrap();
    // This layer's entries survive, lower ones (d/b, d/sub/x) are gone.
    assert_eq!(names(&t.path().join("d")), ["a", "new", "sub"]);
    assert_eq!(fs::read(t.path().join("d/a")).unwrap(), b"rewritten");
    assert_eq!(names(&t.path().join("d/sub")), ["y"]);
}

#[test]
fn whiteouts_delete_files_and_trees() {
    let t = tempfile::tempdir().unwrap();
    lower(t.path());
    let tar = RawTar::new()
        .file("d/.wh.a", b"")
        .file("d/.wh.sub", b"")
        .file("d/.wh.missing", b"")
        .file("nodir/.wh.x", b"")
        .file(".wh.keep", b"")
        .finish();
    let stats = apply(&tar[..], t.path(), &opts()).unwrap();
    assert_eq!(stats.entries, 5);
    assert_eq!(names(&t.path().join("d")), ["b"]);
    assert_eq!(names(t.path()), ["d"]);
    // Whiteout files are never written, and a whiteout makes no directories.
    assert!(!t.path().join("nodir").exists());
}

#[test]
fn whiteout_after_same_layer_entry_spares_it() {
    let t = tempfile::tempdir().unwrap();
    lower(t.path());
    let tar = RawTar::new()
        .file("d/a", b"new a")
        .file("d/.wh.a", b"")
        .finish();
    apply(&tar[..], t.path(), &opts()).unwrap();
    assert_eq!(fs::read(t.path().join("d/a")).unwrap(), b"new a");
}

#[test]
fn replacing_types() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    lower(root);
    fs::write(root.join("f2d"), b"file").unwrap();
    std::os::unix::fs::symlink("/elsewhere", root.join("l2d")).unwrap();
    std::os::unix::fs::symlink("d", root.join("l2f")).unwrap();
    fs::write(root.join("f2l"), b"file").unwrap();
    let tar = RawTar::new()
        .dir("f2d")
        .file("f2d/in", b"in")
        .dir("l2d")
        .file("d", b"now a file")
        .file("l2f", b"not through the link")
        .symlink("f2l", "target")
        .dir("keep")
        .finish();
    apply(&tar[..], root, &opts()).unwrap();
    assert!(root.join("f2d/in").is_file());
    let md = fs::symlink_metadata(root.join("l2d")).unwrap();
    assert!(md.is_dir());
    assert_eq!(fs::read(root.join("d")).unwrap(), b"now a file");
    assert!(fs::symlink_metadata(root.join("l2f")).unwrap().is_file());
    assert_eq!(
        fs::read_link(root.join("f2l")).unwrap(),
        Path::new("target")
    );
    // A directory over a directory merges, and takes the new mode.
    assert_eq!(names(&root.join("keep")), ["k"]);
    assert_eq!(
        fs::metadata(root.join("keep")).unwrap().mode() & 0o7777,
        0o755
    );
}

#[test]
fn rewriting_a_hardlinked_file_leaves_the_other_name() {
    let t = tempfile::tempdir().unwrap();
    let tar = RawTar::new().file("a", b"old").hardlink("b", "a").finish();
    apply(&tar[..], t.path(), &opts()).unwrap();
    assert_eq!(fs::metadata(t.path().join("a")).unwrap().nlink(), 2);
    let tar = RawTar::new().file("a", b"new").finish();
    apply(&tar[..], t.path(), &opts()).unwrap();
    assert_eq!(fs::read(t.path().join("b")).unwrap(), b"old");
    assert_eq!(fs::read(t.path().join("a")).unwrap(), b"new");
}

#[test]
fn absolute_symlinks_resolve_inside_the_root() {
    let t = tempfile::tempdir().unwrap();
    let tar = RawTar::new()
        .dir("usr/etc")
        .symlink("etc", "/usr/etc")
        .file("etc/passwd", b"root:x:0:0")
        .hardlink("usr/passwd-link", "/etc/passwd")
        .finish();
    apply(&tar[..], t.path(), &opts()).unwrap();
    assert_eq!(
        fs::read(t.path().join("usr/etc/passwd")).unwrap(),
        b"root:x:0:0"
    );
    let a = fs::metadata(t.path().join("usr/etc/passwd")).unwrap();
    let b = fs::metadata(t.path().join("usr/passwd-link")).unwrap();
    assert_eq!(a.ino(), b.ino());
}

#[test]
fn metadata_owner_mode_xattrs_times_devices() {
    let t = tempfile::tempdir().unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let header = |kind, mode, uid| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(uid + 1);
        h.set_mtime(1_600_000_000);
        h.set_size(0);
        h
    };
    let mut h = header(tar::EntryType::Directory, 0o1777, 0);
    b.append_data(&mut h, "tmp", &b""[..]).unwrap();
    let mut h = header(tar::EntryType::Regular, 0o4755, 1000);
    h.set_size(3);
    b.append_pax_extensions([
        ("SCHILY.xattr.user.test", &b"hello"[..]),
        ("SCHILY.xattr.trusted.t", &b"t"[..]),
        ("mtime", &b"1600000000.25"[..]),
    ])
    .unwrap();
    b.append_data(&mut h, "tmp/suid", &b"bin"[..]).unwrap();
    let mut h = header(tar::EntryType::Symlink, 0o777, 7);
    b.append_link(&mut h, "tmp/link", "suid").unwrap();
    let mut h = header(tar::EntryType::Char, 0o666, 0);
    h.set_device_major(1).unwrap();
    h.set_device_minor(3).unwrap();
    b.append_data(&mut h, "dev/null", &b""[..]).unwrap();
    let mut h = header(tar::EntryType::Fifo, 0o600, 5);
    b.append_data(&mut h, "tmp/fifo", &b""[..]).unwrap();
    // A later member in tmp must not disturb tmp's mtime.
    let mut h = header(tar::EntryType::Regular, 0o2755, 0);
    b.append_data(&mut h, "tmp/late", &b""[..]).unwrap();
    let tar = b.into_inner().unwrap();

    let stats = apply(&tar[..], t.path(), &opts()).unwrap();
    assert_eq!(stats.diff_id, sha256(&tar));
    assert_eq!(stats.size, tar.len() as u64);
    assert_eq!(stats.entries, 6);

    let root = t.path();
    let tmp = fs::metadata(root.join("tmp")).unwrap();
    assert_eq!(tmp.permissions().mode() & 0o7777, 0o1777);
    assert_eq!(tmp.mtime(), 1_600_000_000);
    let suid = fs::metadata(root.join("tmp/suid")).unwrap();
    assert_eq!(suid.permissions().mode() & 0o7777, 0o4755);
    assert_eq!((suid.uid(), suid.gid()), (1000, 1001));
    assert_eq!(
        (suid.mtime(), suid.mtime_nsec()),
        (1_600_000_000, 250_000_000)
    );
    let x = common::xattrs(&root.join("tmp/suid"));
    assert_eq!(x.get("user.test").map(Vec::as_slice), Some(&b"hello"[..]));
    assert_eq!(x.get("trusted.t").map(Vec::as_slice), Some(&b"t"[..]));
    let link = fs::symlink_metadata(root.join("tmp/link")).unwrap();
    assert_eq!(
        (link.uid(), link.gid(), link.mtime()),
        (7, 8, 1_600_000_000)
    );
    let null = fs::metadata(root.join("dev/null")).unwrap();
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
    assert_eq!(null.permissions().mode() & 0o7777, 0o666);
    let late = fs::metadata(root.join("tmp/late")).unwrap();
    assert_eq!(late.permissions().mode() & 0o7777, 0o2755);
    // dev/ was made implicitly, like containerd: 0755.
    let dev = fs::metadata(root.join("dev")).unwrap();
    assert_eq!(dev.permissions().mode() & 0o7777, 0o755);
}

#[test]
fn without_owners_files_belong_to_the_caller() {
    let t = tempfile::tempdir().unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o640);
    h.set_uid(1234);
    h.set_gid(1234);
    h.set_size(1);
    b.append_data(&mut h, "f", &b"x"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let o = ApplyOptions {
        preserve_owners: false,
        ..opts()
    };
    apply(&tar[..], t.path(), &o).unwrap();
    let md = fs::metadata(t.path().join("f")).unwrap();
    assert_eq!(md.uid(), rustix::process::geteuid().as_raw());
    assert_eq!(md.permissions().mode() & 0o7777, 0o640);
}

#[test]
fn diff_id_covers_trailing_bytes() {
    // Bytes after the end-of-archive blocks are part of the blob and of its diff id.
    let t = tempfile::tempdir().unwrap();
    let mut tar = RawTar::new().file("f", b"x").finish();
    tar.extend_from_slice(&[0u8; 4096]);
    let o = ApplyOptions {
        expected_diff_id: Some(sha256(&tar)),
        ..opts()
    };
    let stats = apply(&common::gzip(&tar)[..], t.path(), &o).unwrap();
    assert_eq!(stats.size, tar.len() as u64);
    // And an empty stream is an empty layer.
    let stats = apply(&b""[..], t.path(), &opts()).unwrap();
    assert_eq!(stats.diff_id, sha256(b""));
    assert_eq!(stats.entries, 0);
}
