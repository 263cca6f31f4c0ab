//! Garbage collection, `docker rmi` and `docker import` on real images.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::Duration;

use berth_image::{
    Digest, ErrorKind, GcOptions, ImageStore, ImportOptions, PlatformSpec, RootfsConfig,
};

/// `../shared/images` beside the repository, wherever it is checked out.
const IMAGES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/images");
const BUSYBOX_LAYER_GZ: &str =
    "sha256:3e6a42d2e80106d107ebdbb45cfa0f596fce26092900b9ebe6450b92cf7ab731";

fn opts(repo: &str) -> ImportOptions {
    ImportOptions {
        platform: PlatformSpec::new("linux", "amd64", None),
        repository: Some(repo.parse().unwrap()),
    }
}

fn blobs(s: &ImageStore) -> BTreeSet<Digest> {
    s.content().list().unwrap().into_iter().collect()
}

/// `du -b` of the blobs directory.
fn blobs_du(s: &ImageStore) -> u64 {
    fs::read_dir(s.content().root().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

fn layout_blobs(name: &str) -> BTreeSet<Digest> {
    fs::read_dir(Path::new(IMAGES).join(name).join("blobs/sha256"))
        .unwrap()
        .map(|e| Digest::from_hex(e.unwrap().file_name().to_str().unwrap()).unwrap())
        .collect()
}

#[test]
fn removing_one_of_two_images_keeps_the_shared_base() {
    let tmp = tempfile::tempdir().unwrap();
    let s = ImageStore::open(tmp.path()).unwrap();
    s.import_path_with(Path::new(IMAGES).join("busybox-oci"), &opts("bb"))
        .unwrap();
    s.import_path_with(Path::new(IMAGES).join("multilayer-oci"), &opts("ml"))
        .unwrap();
    let busybox = layout_blobs("busybox-oci");
    let multilayer = layout_blobs("multilayer-oci");
    let base: Digest = BUSYBOX_LAYER_GZ.parse().unwrap();
    assert!(busybox.contains(&base) && multilayer.contains(&base));
    assert_eq!(blobs(&s), &busybox | &multilayer);

    // Nothing is garbage while both are named.
    assert!(s.gc().unwrap().removed.is_empty());

    let du_before = blobs_du(&s);
    let report = s.remove("ml").unwrap();
    assert_eq!(report.untagged.len(), 1);
    assert_eq!(report.untagged[0].familiar(), "ml:latest");
    let unique: BTreeSet<Digest> = &multilayer - &busybox;
    assert_eq!(
        report.gc.removed.iter().cloned().collect::<BTreeSet<_>>(),
        unique
    );
    assert_eq!(blobs(&s), busybox);
    assert_eq!(blobs_du(&s), du_before - report.gc.bytes);
    assert!(report.gc.bytes > 8 << 20, "the 8 MiB layer went");
    // The remaining image is whole.
    let i = s.inspect("bb").unwrap();
    for l in &i.layers {
        assert!(s.content().exists(&l.digest));
    }
    assert_eq!(s.remove("ml").unwrap_err().kind(), ErrorKind::NotFound);

    // Removing by image ID: the last image goes, the store is empty.
    let id = i.id.short().to_owned();
    let report = s.remove(&id).unwrap();
    assert_eq!(report.untagged[0].familiar(), "bb:latest");
    assert!(blobs(&s).is_empty());
    assert_eq!(blobs_du(&s), 0);
}

#[test]
fn an_image_with_two_names_stays_until_both_go() {
    let tmp = tempfile::tempdir().unwrap();
    let s = ImageStore::open(tmp.path()).unwrap();
    let img = s
        .import_path_with(Path::new(IMAGES).join("busybox-oci"), &opts("bb"))
        .unwrap()
        .remove(0);
    s.tag("bb", &"other:v1".parse().unwrap()).unwrap();
    let err = s.remove(img.config.hex()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let r = s.remove("bb").unwrap();
    assert!(r.gc.removed.is_empty());
    assert_eq!(blobs(&s).len(), 3);
    let r = s.remove("other:v1").unwrap();
    assert_eq!(r.gc.removed.len(), 3);
}

#[test]
fn a_lease_protects_untagged_blobs() {
    let tmp = tempfile::tempdir().unwrap();
    let s = ImageStore::open(tmp.path()).unwrap();
    let img = s
        .import_path_with(Path::new(IMAGES).join("busybox-oci"), &opts("bb"))
        .unwrap()
        .remove(0);
    let loose = s
        .content()
        .write_blob(b"a blob of a pull in progress", None)
        .unwrap();
    let other = s.content().write_blob(b"garbage", None).unwrap();

    // A lease on the manifest protects the whole image; one on a loose blob, that blob.
    s.metadata()
        .lease_add("pull-1", &[img.manifest.clone(), loose.clone()])
        .unwrap();
    s.untag("bb").unwrap();
    let stats = s.gc().unwrap();
    assert_eq!(stats.removed, vec![other.clone()]);
    assert_eq!(stats.bytes, 7);
    assert_eq!(blobs(&s).len(), 4);

    s.metadata().lease_delete("pull-1").unwrap();
    let stats = s.gc().unwrap();
    assert_eq!(stats.removed.len(), 4);
    assert!(blobs(&s).is_empty());
}

#[test]
fn young_ingest_files_survive_and_old_ones_go() {
    let tmp = tempfile::tempdir().unwrap();
    let s = ImageStore::open(tmp.path()).unwrap();
    let ingest = tmp.path().join("ingest");
    fs::write(ingest.join("writer-in-progress"), b"half").unwrap();
    let stats = s.gc().unwrap();
    assert_eq!(stats.ingest_removed, 0);
    assert!(ingest.join("writer-in-progress").exists());
    let stats = s
        .gc_with(&GcOptions {
            ingest_grace: Duration::ZERO,
        })
        .unwrap();
    assert_eq!(stats.ingest_removed, 1);
    assert_eq!(fs::read_dir(&ingest).unwrap().count(), 0);
}

#[test]
fn a_corrupt_root_manifest_stops_gc_before_deleting() {
    let tmp = tempfile::tempdir().unwrap();
    let s = ImageStore::open(tmp.path()).unwrap();
    let img = s
        .import_path_with(Path::new(IMAGES).join("busybox-oci"), &opts("bb"))
        .unwrap()
        .remove(0);
    let garbage = s.content().write_blob(b"garbage", None).unwrap();
    let path = s.content().blob_path(&img.manifest);
    let mut perms = fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(&path, perms).unwrap();
    fs::write(&path, b"{}").unwrap();
    let err = s.gc().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DataLoss);
    assert!(s.content().exists(&garbage));
}

/// A small rootfs tar built from a directory.
fn rootfs_tar(dir: &Path) -> Vec<u8> {
    fs::create_dir_all(dir.join("etc")).unwrap();
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::write(dir.join("etc/hostname"), b"imported\n").unwrap();
    fs::write(dir.join("bin/hello"), b"#!/bin/sh\necho hello\n").unwrap();
    let mut b = tar::Builder::new(Vec::new());
    b.mode(tar::HeaderMode::Deterministic);
    b.append_dir_all(".", dir).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn docker_import_of_a_rootfs_tar() {
    let tmp = tempfile::tempdir().unwrap();
    let s = ImageStore::open(tmp.path().join("store")).unwrap();
    let tar = rootfs_tar(&tmp.path().join("rootfs"));
    let cfg = RootfsConfig {
        cmd: Some(vec!["/bin/hello".into()]),
        env: vec!["PATH=/bin".into()],
        working_dir: Some("/etc".into()),
    };
    let id = s
        .import_rootfs(tar.as_slice(), Some("imported:v1"), &cfg)
        .unwrap();
    let i = s.inspect("imported:v1").unwrap();
    assert_eq!(i.id, id);
    // Stored uncompressed: the layer blob is the tar itself, its digest the diff ID.
    assert_eq!(i.diff_ids, vec![Digest::of(&tar)]);
    assert_eq!(i.layers[0].digest, Digest::of(&tar));
    assert_eq!(i.layers[0].size, tar.len() as u64);
    assert_eq!(
        i.layers[0].media_type,
        "application/vnd.oci.image.layer.v1.tar"
    );
    let c = i.config.config().as_ref().unwrap();
    assert_eq!(c.cmd().as_deref(), Some(&["/bin/hello".to_string()][..]));
    assert_eq!(c.env().as_deref(), Some(&["PATH=/bin".to_string()][..]));
    assert_eq!(c.working_dir().as_deref(), Some("/etc"));
    assert_eq!(i.config.os().to_string(), "linux");
    assert_eq!(
        i.config.architecture().to_string(),
        PlatformSpec::host().architecture
    );
    let raw: serde_json::Value =
        serde_json::from_slice(&s.content().read_verified(&id).unwrap()).unwrap();
    assert_eq!(raw["history"][0]["comment"], "imported from tarball");
    assert_eq!(raw["rootfs"]["type"], "layers");

    // Gzip input gives the same layer; without a name the image is untagged.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    let gz = gz.finish().unwrap();
    let before = s.content().list().unwrap().len();
    s.import_rootfs(gz.as_slice(), None, &RootfsConfig::default())
        .unwrap();
    assert!(s.content().exists(&Digest::of(&tar)));
    assert_eq!(s.list_images().unwrap().len(), 1);
    // New config and manifest; the layer is shared. The GC then drops them.
    assert_eq!(s.content().list().unwrap().len(), before + 2);
    assert_eq!(s.gc().unwrap().removed.len(), 2);

    // The imported image saves and loads like any other.
    let saved = s.save(&["imported:v1"], Vec::new()).unwrap();
    let path = tmp.path().join("saved.tar");
    fs::write(&path, saved).unwrap();
    let fresh = ImageStore::open(tmp.path().join("fresh")).unwrap();
    assert_eq!(fresh.import_path(&path).unwrap()[0].config, id);

    // Not a tar: refused, nothing stored.
    let before = blobs(&s);
    let err = s
        .import_rootfs(&b"this is not a tar archive"[..], None, &cfg)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(blobs(&s), before);
    assert_eq!(
        fs::read_dir(tmp.path().join("store/ingest"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn the_index_of_a_multi_platform_image_is_kept_while_named() {
    let tmp = tempfile::tempdir().unwrap();
    let s = ImageStore::open(tmp.path()).unwrap();
    let img = s
        .import_path_with(
            Path::new(IMAGES).join("busybox-multiarch-oci"),
            &opts("multi"),
        )
        .unwrap()
        .remove(0);
    assert_ne!(img.target, img.manifest, "the target is the index");
    // index, amd64 manifest, config, layer
    assert_eq!(blobs(&s).len(), 4);
    assert!(s.gc().unwrap().removed.is_empty());
    assert!(s.content().exists(&img.target));

    // A second name made by `docker tag` keeps it too.
    s.tag("multi:multi", &"copy:v1".parse().unwrap()).unwrap();
    s.remove("multi:multi").unwrap();
    assert!(s.content().exists(&img.target));
    let r = s.remove("copy:v1").unwrap();
    assert_eq!(r.gc.removed.len(), 4);
}
