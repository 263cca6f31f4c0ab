//! Crash safety of import: a child process importing debian-oci is killed
//! with SIGKILL mid-import; the store it leaves must be consistent.
//!
//! The child is this test binary run again (`current_exe`) with
//! `--exact child_import` and [`CHILD_ENV`] naming the store; without the
//! variable `child_import` does nothing, so a normal test run passes it.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_image::{ImageStore, ImportOptions, PlatformSpec};

const CHILD_ENV: &str = "BERTH_IMAGE_CRASH_CHILD_STORE";
/// `../shared/images/debian-oci` beside the repository.
const DEBIAN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/images/debian-oci"
);

fn opts() -> ImportOptions {
    ImportOptions {
        platform: PlatformSpec::new("linux", "amd64", None),
        repository: Some("crash/debian".parse().unwrap()),
    }
}

#[test]
fn child_import() {
    let Ok(root) = std::env::var(CHILD_ENV) else {
        return;
    };
    let s = ImageStore::open(root).unwrap();
    s.import_path_with(DEBIAN, &opts()).unwrap();
}

fn ingest_files(root: &Path) -> usize {
    fs::read_dir(root.join("ingest"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Every blob verifies and every name points at a whole image.
fn assert_consistent(s: &ImageStore) {
    for d in s.content().list().unwrap() {
        s.content()
            .read_verified(&d)
            .unwrap_or_else(|e| panic!("blob {d} after crash: {e}"));
    }
    for (name, record) in s.metadata().list().unwrap() {
        let i = s
            .inspect_manifest(&record.manifest, vec![name.clone()])
            .unwrap_or_else(|e| panic!("{name} is tagged half-way: {e}"));
        for l in &i.layers {
            assert!(
                s.content().exists(&l.digest),
                "{name}: layer {} missing",
                l.digest
            );
        }
    }
}

#[test]
fn sigkill_mid_import_leaves_a_consistent_store() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    fs::create_dir_all(root.join("ingest")).unwrap();
    let exe = std::env::current_exe().unwrap();
    // Kill once as soon as the first ingest file appears, once a little later.
    for delay in [Duration::ZERO, Duration::from_millis(100)] {
        let mut child = Command::new(&exe)
            .args(["--exact", "child_import", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while ingest_files(&root) == 0
            && child.try_wait().unwrap().is_none()
            && start.elapsed() < Duration::from_secs(60)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(delay);
        let killed_mid_import = ingest_files(&root) > 0;
        // SIGKILL; a no-op if the child already exited.
        let _ = child.kill();
        let status = child.wait().unwrap();
        assert!(
            status.signal() == Some(9) || status.success(),
            "child failed on its own: {status:?}"
        );
        eprintln!("delay {delay:?}: child {status:?}, ingest files at kill: {killed_mid_import}");
        assert!(
            status.signal() == Some(9) || status.success(),
            "child failed on its own: {status:?}"
        );

        let s = ImageStore::open(&root).unwrap();
        assert_consistent(&s);
        if status.signal() == Some(9) {
            assert!(
                s.list_images().unwrap().is_empty(),
                "killed before the end, yet named"
            );
            if killed_mid_import {
                assert!(s.content().cleanup_ingest().unwrap() > 0);
            }
        }
        s.content().cleanup_ingest().unwrap();
        assert_eq!(ingest_files(&root), 0);
    }

    // A fresh import of the same image succeeds and names it.
    let s = ImageStore::open(&root).unwrap();
    let images = s.import_path_with(DEBIAN, &opts()).unwrap();
    assert_eq!(
        images[0].name.as_ref().unwrap().familiar(),
        "crash/debian:bookworm-minbase"
    );
    let listed = s.list_images().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].manifest, images[0].manifest);
    assert_consistent(&s);
    assert_eq!(ingest_files(&root), 0);
    // Nothing left behind by the killed imports is garbage any more.
    assert!(s.gc().unwrap().removed.is_empty());
}
