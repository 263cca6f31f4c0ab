//! Imports of the real images in ../shared/images (see its README.md).

use std::fs;
use std::path::{Path, PathBuf};

use berth_image::import::ImportError;
use berth_image::manifest::{self, Manifest};
use berth_image::{Digest, ErrorKind, ImageStore, ImportOptions, PlatformSpec, StoreError};

/// `../shared/images` beside the repository, wherever it is checked out.
const IMAGES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/images");
const BUSYBOX_MANIFEST: &str =
    "sha256:4d1aa225a33e44fc883220ba04e3f7b8de6820fbc6958f77f26bae5c254dbfdb";
const BUSYBOX_CONFIG: &str =
    "sha256:746301599208580161ca87774d6986ae3fe1cfa603d1ac2c1a52589ffc861968";
const BUSYBOX_LAYER_GZ: &str =
    "sha256:3e6a42d2e80106d107ebdbb45cfa0f596fce26092900b9ebe6450b92cf7ab731";
const BUSYBOX_DIFF_ID: &str =
    "sha256:e6fe98b4e638e3fad250f0fcdd0dc5bc2974268bcbe10df95c876504b37c78cb";
const MULTIARCH_INDEX: &str =
    "sha256:fc694183a3f23d2e9c30bda5ab2e3903b2cf17773506ef42e449749640776b20";
const ARM64_MANIFEST: &str =
    "sha256:0cc01595f32d8cde950ca72983e63cfb74d922d5dbde3eacd460a43fd3c2ee48";
const ARM64_CONFIG: &str =
    "sha256:35d2d7fcc345cf4c1276f80d5bc3e8acfc7a286997ad943c82955a817cf257ba";

fn image(name: &str) -> PathBuf {
    Path::new(IMAGES).join(name)
}

fn d(s: &str) -> Digest {
    s.parse().unwrap()
}

fn store() -> (tempfile::TempDir, ImageStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = ImageStore::open(dir.path().join("store")).unwrap();
    (dir, s)
}

fn blob_count(s: &ImageStore) -> usize {
    fs::read_dir(s.content().root().join("blobs/sha256"))
        .unwrap()
        .count()
}

fn ingest_count(s: &ImageStore) -> usize {
    fs::read_dir(s.content().root().join("ingest"))
        .unwrap()
        .count()
}

fn amd64() -> ImportOptions {
    ImportOptions {
        platform: PlatformSpec::new("linux", "amd64", None),
        repository: None,
    }
}

fn with_repo(repo: &str) -> ImportOptions {
    ImportOptions {
        repository: Some(repo.parse().unwrap()),
        ..amd64()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
            let mut perms = fs::metadata(&target).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            fs::set_permissions(&target, perms).unwrap();
        }
    }
}

#[test]
fn busybox_oci_with_a_tag_only_ref_name_imports_untagged() {
    let (_t, s) = store();
    let images = s.import_path_with(image("busybox-oci"), &amd64()).unwrap();
    assert_eq!(images.len(), 1);
    let img = &images[0];
    // index.json says only ref.name "latest" and no io.containerd.image.name.
    assert_eq!(img.name, None);
    assert_eq!(img.manifest, d(BUSYBOX_MANIFEST));
    assert_eq!(img.target, d(BUSYBOX_MANIFEST));
    assert_eq!(img.config, d(BUSYBOX_CONFIG));
    assert_eq!(blob_count(&s), 3);
    assert!(s.list_images().unwrap().is_empty());
    // Reachable by digest even without a name.
    let inspect = s.inspect_manifest(&img.manifest, Vec::new()).unwrap();
    assert_eq!(inspect.id, d(BUSYBOX_CONFIG));
    assert_eq!(inspect.diff_ids, vec![d(BUSYBOX_DIFF_ID)]);
}

#[test]
fn busybox_oci_with_a_repository_is_named_and_inspectable() {
    let (_t, s) = store();
    let images = s
        .import_path_with(image("busybox-oci"), &with_repo("busybox"))
        .unwrap();
    assert_eq!(
        images[0].name.as_ref().unwrap().to_string(),
        "docker.io/library/busybox:latest"
    );
    let list = s.list_images().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        list[0].reference.as_ref().unwrap().familiar(),
        "busybox:latest"
    );
    assert_eq!(list[0].id, d(BUSYBOX_CONFIG));
    assert_eq!(list[0].manifest, d(BUSYBOX_MANIFEST));
    assert_eq!(list[0].size, 1_088_075);
    assert_eq!(
        list[0].created.as_deref(),
        Some("2026-11-22T10:15:43.582545155Z")
    );

    for input in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
        &BUSYBOX_CONFIG[7..19],  // image ID prefix
        BUSYBOX_CONFIG,          // full image ID
        &BUSYBOX_MANIFEST[..15], // manifest digest prefix
    ] {
        let i = s.inspect(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(i.id, d(BUSYBOX_CONFIG), "{input}");
        assert_eq!(i.diff_ids, vec![d(BUSYBOX_DIFF_ID)]);
        assert_eq!(i.references.len(), 1);
        let cmd = i.config.config().as_ref().unwrap().cmd().clone();
        assert_eq!(cmd, Some(vec!["sh".to_string()]));
        assert_eq!(
            i.layers[0].media_type,
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
    }
    let err = s.inspect("alpine").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);

    // tag and untag
    s.tag("busybox", &"localhost:5000/bb:v1".parse().unwrap())
        .unwrap();
    assert_eq!(
        s.inspect("localhost:5000/bb:v1").unwrap().references.len(),
        2
    );
    assert_eq!(s.untag("busybox").unwrap(), d(BUSYBOX_MANIFEST));
    assert_eq!(s.list_images().unwrap().len(), 1);
    assert_eq!(s.untag("busybox").unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn docker_archive_gets_a_schema2_manifest_and_shares_layers_by_diff_id() {
    let (_t, s) = store();
    let images = s.import_path(image("busybox-docker-archive.tar")).unwrap();
    assert_eq!(images.len(), 1);
    let img = &images[0];
    assert_eq!(
        img.name.as_ref().unwrap().to_string(),
        "docker.io/library/busybox:latest"
    );
    assert_eq!(img.config, d(BUSYBOX_CONFIG));
    let data = s.content().read_verified(&img.manifest).unwrap();
    let m: Manifest = serde_json::from_slice(&data).unwrap();
    assert_eq!(
        m.media_type.as_deref(),
        Some(manifest::MEDIA_TYPE_DOCKER_MANIFEST)
    );
    assert_eq!(m.config.media_type, manifest::MEDIA_TYPE_DOCKER_CONFIG);
    assert_eq!(m.layers.len(), 1);
    assert_eq!(m.layers[0].media_type, manifest::MEDIA_TYPE_DOCKER_LAYER);
    assert_eq!(
        m.layers[0].digest,
        d(BUSYBOX_DIFF_ID),
        "uncompressed: blob = diff id"
    );
    assert_eq!(m.layers[0].size, 2_130_432);
    assert_eq!(blob_count(&s), 3);

    // The OCI layout of the same image: same config, so same image ID and
    // layer identity (diff id), though its layer blob is the gzip one.
    let oci = s.import_path_with(image("busybox-oci"), &amd64()).unwrap();
    assert_eq!(oci[0].config, img.config);
    assert_ne!(oci[0].manifest, img.manifest);
    let a = s.inspect("busybox").unwrap();
    let b = s.inspect_manifest(&oci[0].manifest, Vec::new()).unwrap();
    assert_eq!(a.id, b.id);
    assert_eq!(a.diff_ids, b.diff_ids);
    assert_eq!(b.layers[0].digest, d(BUSYBOX_LAYER_GZ));
    // shared config; new: the OCI manifest and the gzip layer
    assert_eq!(blob_count(&s), 5);

    // Loading the archive again is deterministic and stores nothing new.
    let again = s.import_path(image("busybox-docker-archive.tar")).unwrap();
    assert_eq!(again, images);
    assert_eq!(blob_count(&s), 5);
    assert_eq!(ingest_count(&s), 0);
}

#[test]
fn gzip_compressed_docker_archive_loads() {
    let (t, s) = store();
    let gz = t.path().join("busybox.tar.gz");
    let mut enc =
        flate2::write::GzEncoder::new(fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    std::io::copy(
        &mut fs::File::open(image("busybox-docker-archive.tar")).unwrap(),
        &mut enc,
    )
    .unwrap();
    enc.finish().unwrap();
    let images = s.import_path(&gz).unwrap();
    assert_eq!(images[0].config, d(BUSYBOX_CONFIG));
    assert_eq!(ingest_count(&s), 0, "the decompressed temporary is removed");
}

#[test]
fn oci_layout_as_a_tar_imports_like_the_directory() {
    let (t, s) = store();
    let tar_path = t.path().join("busybox-oci.tar");
    let mut b = tar::Builder::new(fs::File::create(&tar_path).unwrap());
    b.append_dir_all(".", image("busybox-oci")).unwrap();
    b.finish().unwrap();
    drop(b);
    let from_tar = s
        .import_path_with(&tar_path, &with_repo("busybox"))
        .unwrap();
    let (_t2, s2) = store();
    let from_dir = s2
        .import_path_with(image("busybox-oci"), &with_repo("busybox"))
        .unwrap();
    assert_eq!(from_tar, from_dir);
    assert_eq!(blob_count(&s), 3);
}

#[test]
fn multiarch_index_selects_the_platform() {
    let (_t, s) = store();
    let images = s
        .import_path_with(image("busybox-multiarch-oci"), &with_repo("busybox"))
        .unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].target, d(MULTIARCH_INDEX));
    assert_eq!(images[0].manifest, d(BUSYBOX_MANIFEST));
    assert_eq!(images[0].config, d(BUSYBOX_CONFIG));
    assert_eq!(images[0].name.as_ref().unwrap().familiar(), "busybox:multi");
    // index + amd64 manifest + config + layer; the arm64 manifest is left out
    assert_eq!(blob_count(&s), 4);
    assert!(!s.content().exists(&d(ARM64_MANIFEST)));

    for variant in [None, Some("v8")] {
        let opts = ImportOptions {
            platform: PlatformSpec::new("linux", "arm64", variant),
            repository: Some("busybox-arm".parse().unwrap()),
        };
        let arm = s
            .import_path_with(image("busybox-multiarch-oci"), &opts)
            .unwrap();
        assert_eq!(arm[0].manifest, d(ARM64_MANIFEST));
        assert_eq!(arm[0].config, d(ARM64_CONFIG));
    }
    let i = s.inspect("busybox-arm:multi").unwrap();
    assert_eq!(i.diff_ids, vec![d(BUSYBOX_DIFF_ID)]);
    // arm64 manifest and config added; the layer is shared
    assert_eq!(blob_count(&s), 6);

    let err = s
        .import_path_with(
            image("busybox-multiarch-oci"),
            &ImportOptions {
                platform: PlatformSpec::new("linux", "riscv64", None),
                repository: None,
            },
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(
        err.to_string().contains(&format!(
            "index {MULTIARCH_INDEX} has no manifest for platform linux/riscv64"
        )),
        "{err}"
    );
}

#[test]
fn debian_imports() {
    let (_t, s) = store();
    let images = s
        .import_path_with(image("debian-oci"), &with_repo("debian"))
        .unwrap();
    assert_eq!(
        images[0].name.as_ref().unwrap().familiar(),
        "debian:bookworm-minbase"
    );
    let i = s.inspect("debian:bookworm-minbase").unwrap();
    assert_eq!(i.diff_ids.len(), 1);
    assert_eq!(blob_count(&s), 3);
}

#[test]
fn multilayer_gzip_and_zstd_share_the_config() {
    let (_t, s) = store();
    let gz = s
        .import_path_with(image("multilayer-oci"), &with_repo("multilayer"))
        .unwrap();
    let zst = s
        .import_path_with(image("multilayer-zstd-oci"), &with_repo("multilayer-zstd"))
        .unwrap();
    assert_eq!(gz[0].config, zst[0].config, "same image ID");
    assert_ne!(gz[0].manifest, zst[0].manifest);
    let a = s.inspect("multilayer").unwrap();
    let b = s.inspect("multilayer-zstd").unwrap();
    assert_eq!(a.diff_ids.len(), 5);
    assert_eq!(a.diff_ids, b.diff_ids);
    assert!(b
        .layers
        .iter()
        .all(|l| l.media_type == "application/vnd.oci.image.layer.v1.tar+zstd"));
    assert!(a
        .layers
        .iter()
        .all(|l| l.media_type == "application/vnd.oci.image.layer.v1.tar+gzip"));
    // 7 + 7 blobs, the config shared
    assert_eq!(blob_count(&s), 13);
}

#[test]
fn importing_twice_stores_each_blob_once() {
    let (_t, s) = store();
    for _ in 0..2 {
        s.import_path_with(image("multilayer-oci"), &with_repo("m"))
            .unwrap();
        s.import_path_with(image("busybox-oci"), &with_repo("busybox"))
            .unwrap();
    }
    // multilayer's base layer is busybox's layer: 7 + 3 - 1
    assert_eq!(blob_count(&s), 9);
    assert_eq!(ingest_count(&s), 0);
    assert_eq!(s.list_images().unwrap().len(), 2);
}

fn flip_byte(path: &Path, at: usize) {
    let mut data = fs::read(path).unwrap();
    data[at] ^= 0xff;
    fs::write(path, data).unwrap();
}

#[test]
fn tampered_layer_is_rejected_and_nothing_is_committed() {
    let (t, s) = store();
    let layout = t.path().join("tampered");
    copy_dir(&image("busybox-oci"), &layout);
    flip_byte(
        &layout.join("blobs/sha256").join(&BUSYBOX_LAYER_GZ[7..]),
        1000,
    );
    let err = s
        .import_path_with(&layout, &with_repo("busybox"))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("blob {BUSYBOX_LAYER_GZ} (blobs/sha256/")),
        "{msg}"
    );
    assert!(
        msg.contains("does not match its digest: content hashes to sha256:"),
        "{msg}"
    );
    assert!(matches!(
        err,
        StoreError::Import(ImportError::BlobDigest { .. })
    ));
    assert_eq!(blob_count(&s), 0, "no blob of a failed import is visible");
    assert_eq!(ingest_count(&s), 0);
    assert!(s.list_images().unwrap().is_empty());
}

#[test]
fn tampered_config_is_rejected_and_nothing_is_committed() {
    let (t, s) = store();
    let layout = t.path().join("tampered");
    copy_dir(&image("busybox-oci"), &layout);
    flip_byte(&layout.join("blobs/sha256").join(&BUSYBOX_CONFIG[7..]), 10);
    let err = s.import_path_with(&layout, &amd64()).unwrap_err();
    assert!(err.to_string().contains(BUSYBOX_CONFIG), "{err}");
    assert_eq!(blob_count(&s), 0);
    assert_eq!(ingest_count(&s), 0);
}

#[test]
fn missing_blob_and_unknown_format_are_clear() {
    let (t, s) = store();
    let layout = t.path().join("partial");
    copy_dir(&image("busybox-oci"), &layout);
    fs::remove_file(layout.join("blobs/sha256").join(&BUSYBOX_LAYER_GZ[7..])).unwrap();
    let err = s.import_path_with(&layout, &amd64()).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "blobs/sha256/{} is missing from",
            &BUSYBOX_LAYER_GZ[7..]
        )),
        "{err}"
    );
    assert_eq!(blob_count(&s), 0);

    let empty = t.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let err = s.import_path(&empty).unwrap_err();
    assert!(
        err.to_string()
            .contains("not an OCI image layout or docker archive"),
        "{err}"
    );
    let err = s.import_path(t.path().join("nothere")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn tampered_docker_archive_layer_fails_the_diff_id_check() {
    let (t, s) = store();
    // Rebuild the archive with one byte of the layer changed.
    let out = t.path().join("bad.tar");
    let mut archive =
        tar::Archive::new(fs::File::open(image("busybox-docker-archive.tar")).unwrap());
    let mut b = tar::Builder::new(fs::File::create(&out).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        if entry.path().unwrap().to_string_lossy().ends_with("cb.tar") {
            let n = data.len();
            data[n - 2000] ^= 1;
        }
        b.append(&header, data.as_slice()).unwrap();
    }
    b.finish().unwrap();
    drop(b);
    let err = s.import_path(&out).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("layer 0 ("), "{msg}");
    assert!(msg.contains(&format!("diff id {BUSYBOX_DIFF_ID}")), "{msg}");
    assert_eq!(blob_count(&s), 0);
}
