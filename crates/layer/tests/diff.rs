//! `diff` is the inverse of `apply`: for both ways of finding changes (comparing two
//! trees, reading an overlayfs upper directory), applying the diff onto a copy of the
//! lower tree must give the changed tree back.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_layer::diff::{diff, DiffKind};
use rustix::fs::{FileType, Mode, CWD};

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("berth-test-")
        .tempdir()
        .unwrap()
}

fn write(p: &Path, data: &str) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, data).unwrap();
}

fn cp_a(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg("--no-target-directory")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

/// A lower tree with one of everything the changes below touch.
fn build_lower(r: &Path) {
    fs::create_dir_all(r).unwrap();
    write(&r.join("a.txt"), "a");
    write(&r.join("b.txt"), "bbb");
    write(&r.join("c.txt"), "c");
    write(&r.join("d/x"), "x");
    write(&r.join("d/y/z"), "z");
    write(&r.join("e.txt"), "e");
    write(&r.join("f/g"), "g");
    write(&r.join("g.txt"), "g");
    write(&r.join("h.txt"), "h");
    write(&r.join("i.txt"), "i");
    write(&r.join("d2/old1"), "1");
    write(&r.join("d2/old2"), "2");
    write(&r.join("keep/deep/file"), "deep");
    write(&r.join("keep/other"), "other");
    write(&r.join("hl1"), "linked");
    fs::hard_link(r.join("hl1"), r.join("hl2")).unwrap();
    symlink("a.txt", r.join("link")).unwrap();
    rustix::fs::lsetxattr(
        r.join("a.txt"),
        "user.lower",
        b"yes",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
}

/// Adds, modifies, deletes (a file, a directory), replaces a file by a directory and
/// back, chmods, chowns, sets an xattr, relinks, and recreates a deleted directory.
fn mutate(r: &Path) {
    write(&r.join("new.txt"), "new");
    write(&r.join("newdir/sub/f"), "nested");
    write(&r.join("b.txt"), "changed");
    fs::remove_file(r.join("c.txt")).unwrap();
    fs::remove_dir_all(r.join("d")).unwrap();
    fs::remove_file(r.join("e.txt")).unwrap();
    write(&r.join("e.txt/inner"), "now a dir");
    fs::remove_dir_all(r.join("f")).unwrap();
    write(&r.join("f"), "now a file");
    fs::set_permissions(r.join("g.txt"), fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::lchown(r.join("h.txt"), Some(1000), Some(1000)).unwrap();
    rustix::fs::lsetxattr(
        r.join("i.txt"),
        "user.k",
        b"v",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    fs::remove_file(r.join("link")).unwrap();
    symlink("b.txt", r.join("link")).unwrap();
    write(&r.join("n1"), "new pair");
    fs::hard_link(r.join("n1"), r.join("n2")).unwrap();
    fs::remove_dir_all(r.join("d2")).unwrap();
    write(&r.join("d2/fresh"), "fresh");
    write(&r.join("keep/deep/file"), "deeper");
    rustix::fs::mknodat(
        CWD,
        r.join("fifo"),
        FileType::Fifo,
        Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    rustix::fs::mknodat(
        CWD,
        r.join("null"),
        FileType::CharacterDevice,
        Mode::from_raw_mode(0o666),
        rustix::fs::makedev(1, 3),
    )
    .unwrap();
}

/// Applies `tar` onto a fresh copy of `lower` and returns the copy.
fn apply_on_copy(lower: &Path, tar: &[u8], dir: &Path) -> PathBuf {
    let fresh = dir.join("fresh");
    cp_a(lower, &fresh);
    berth_layer::apply(tar, &fresh, &Default::default()).unwrap();
    fresh
}

fn check_tar_members(tar: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(tar);
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn compare_diff_applied_to_lower_gives_upper() {
    let t = tempdir();
    let lower = t.path().join("lower");
    build_lower(&lower);
    let upper = t.path().join("upper");
    cp_a(&lower, &upper);
    mutate(&upper);

    let mut tar = Vec::new();
    let stats = diff(&[&lower], &upper, &mut tar, DiffKind::Compare).unwrap();
    assert_eq!(stats.size, tar.len() as u64);
    assert_eq!(stats.diff_id, common::sha256(&tar));

    let members = check_tar_members(&tar);
    assert!(members.contains(&".wh.c.txt".to_string()), "{members:?}");
    assert!(members.contains(&".wh.d".to_string()), "{members:?}");
    assert!(!members.iter().any(|m| m.starts_with("d/")), "{members:?}");
    assert!(
        !members.contains(&"a.txt".to_string()),
        "unchanged file in diff: {members:?}"
    );

    let fresh = apply_on_copy(&lower, &tar, t.path());
    assert_eq!(common::snapshot(&fresh), common::snapshot(&upper));

    // Deterministic: the same trees give the same bytes.
    let mut again = Vec::new();
    let stats2 = diff(&[&lower], &upper, &mut again, DiffKind::Compare).unwrap();
    assert_eq!(stats, stats2);
}

#[test]
fn compare_diff_of_identical_trees_is_empty() {
    let t = tempdir();
    let lower = t.path().join("lower");
    build_lower(&lower);
    let upper = t.path().join("upper");
    cp_a(&lower, &upper);
    let mut tar = Vec::new();
    let stats = diff(&[&lower], &upper, &mut tar, DiffKind::Compare).unwrap();
    assert_eq!(stats.entries, 0, "{:?}", check_tar_members(&tar));
}

/// An overlay mount that is unmounted when dropped, even if the test panics.
struct Overlay(PathBuf);

impl Overlay {
    fn mount(lower: &Path, upper: &Path, work: &Path, target: &Path) -> Overlay {
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            upper.display(),
            work.display()
        );
        let st = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &opts])
            .arg(target)
            .status()
            .unwrap();
        assert!(st.success(), "mount overlay");
        Overlay(target.to_owned())
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn overlay_diff_applied_to_lower_gives_merged_view() {
    let t = tempdir();
    let lower = t.path().join("lower");
    build_lower(&lower);
    let (upper, work, merged) = (t.path().join("u"), t.path().join("w"), t.path().join("m"));
    for d in [&upper, &work, &merged] {
        fs::create_dir(d).unwrap();
    }
    let expected = {
        let _m = Overlay::mount(&lower, &upper, &work, &merged);
        mutate(&merged);
        common::snapshot(&merged)
    };

    let mut tar = Vec::new();
    let stats = diff(&[&lower], &upper, &mut tar, DiffKind::Overlay).unwrap();
    assert_eq!(stats.diff_id, common::sha256(&tar));
    let members = check_tar_members(&tar);
    assert!(
        members.contains(&"d2/.wh..wh..opq".to_string()),
        "{members:?}"
    );
    assert!(members.contains(&".wh.c.txt".to_string()), "{members:?}");
    assert!(!members.contains(&"a.txt".to_string()), "{members:?}");

    let fresh = apply_on_copy(&lower, &tar, t.path());
    assert_eq!(common::snapshot(&fresh), expected);
}

#[test]
fn compare_reads_stacked_lowers_with_whiteouts() {
    // Two lower directories as an overlay chain stores them: the upper one deletes
    // c.txt with a whiteout device. Comparing a tree without c.txt emits no whiteout.
    let t = tempdir();
    let base = t.path().join("base");
    build_lower(&base);
    let mid = t.path().join("mid");
    fs::create_dir(&mid).unwrap();
    rustix::fs::mknodat(
        CWD,
        mid.join("c.txt"),
        FileType::CharacterDevice,
        Mode::empty(),
        0,
    )
    .unwrap();
    let upper = t.path().join("upper");
    cp_a(&base, &upper);
    fs::remove_file(upper.join("c.txt")).unwrap();
    let mut tar = Vec::new();
    let stats = diff(&[&base, &mid], &upper, &mut tar, DiffKind::Compare).unwrap();
    assert_eq!(stats.entries, 0, "{:?}", check_tar_members(&tar));
}

/// Applies every layer of a shared test image into `dir`.
fn apply_image(name: &str, tag: &str, dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let (blobs, _) = common::layers(&common::images_dir().join(name), tag);
    for blob in blobs {
        berth_layer::apply(fs::File::open(blob).unwrap(), dir, &Default::default()).unwrap();
    }
}

#[test]
fn whole_real_image_round_trips_through_diff() {
    // Diffing a tree against nothing is a layer of everything in it: hardlinks, device
    // nodes, fifos, setuid files and xattrs of the multilayer image must survive.
    let t = tempdir();
    let tree = t.path().join("tree");
    apply_image("multilayer-oci", "latest", &tree);
    let mut tar = Vec::new();
    diff(&[], &tree, &mut tar, DiffKind::Compare).unwrap();
    let back = t.path().join("back");
    fs::create_dir(&back).unwrap();
    berth_layer::apply(&tar[..], &back, &Default::default()).unwrap();
    assert_eq!(common::snapshot(&back), common::snapshot(&tree));
}

#[test]
fn changes_over_a_real_image_round_trip() {
    let t = tempdir();
    let lower = t.path().join("lower");
    apply_image("multilayer-oci", "latest", &lower);
    let upper = t.path().join("upper");
    cp_a(&lower, &upper);
    fs::remove_dir_all(upper.join("data/small")).unwrap();
    fs::remove_file(upper.join("bin/sh")).unwrap();
    write(&upper.join("data/special/a.txt"), "rewritten in place");
    fs::set_permissions(upper.join("data"), fs::Permissions::from_mode(0o700)).unwrap();
    let mut tar = Vec::new();
    diff(&[&lower], &upper, &mut tar, DiffKind::Compare).unwrap();
    let members = check_tar_members(&tar);
    assert!(
        members.contains(&"data/.wh.small".to_string()),
        "{members:?}"
    );
    assert!(members.len() < 20, "{members:?}");
    let fresh = apply_on_copy(&lower, &tar, t.path());
    assert_eq!(common::snapshot(&fresh), common::snapshot(&upper));
}

#[test]
#[ignore = "slow (about 50 s in a debug build): run with --ignored"]
fn debian_round_trips_through_diff() {
    // A real distribution: 6.7k entries, hardlinks, /dev nodes, setuid binaries.
    let t = tempdir();
    let tree = t.path().join("tree");
    apply_image("debian-oci", "bookworm-minbase", &tree);
    let mut tar = Vec::new();
    let stats = diff(&[], &tree, &mut tar, DiffKind::Compare).unwrap();
    assert!(stats.entries > 6000, "{stats:?}");
    let back = t.path().join("back");
    fs::create_dir(&back).unwrap();
    berth_layer::apply(&tar[..], &back, &Default::default()).unwrap();
    assert_eq!(common::snapshot(&back), common::snapshot(&tree));
}
