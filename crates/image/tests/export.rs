//! `docker save` round trips of the real images in ../shared/images.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use berth_image::{Digest, ErrorKind, ImageStore, ImportOptions, PlatformSpec};

/// `../shared/images` beside the repository, wherever it is checked out.
const IMAGES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/images");
const BUSYBOX_LAYER_GZ: &str = "3e6a42d2e80106d107ebdbb45cfa0f596fce26092900b9ebe6450b92cf7ab731";

fn store(dir: &Path, name: &str) -> ImageStore {
    ImageStore::open(dir.join(name)).unwrap()
}

fn opts(repo: &str) -> ImportOptions {
    ImportOptions {
        platform: PlatformSpec::new("linux", "amd64", None),
        repository: Some(repo.parse().unwrap()),
    }
}

/// Every regular file in a tar: name -> contents.
fn tar_files(path: &Path) -> HashMap<String, Vec<u8>> {
    let mut out = HashMap::new();
    let mut a = tar::Archive::new(File::open(path).unwrap());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type().is_file() {
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            assert!(out.insert(name.clone(), data).is_none(), "{name} twice");
        }
    }
    out
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    config: String,
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

struct Case {
    path: &'static str,
    repo: &'static str,
    /// Layers a docker-archive loader can read (plain or gzip).
    docker_layers: bool,
}

const CASES: &[Case] = &[
    Case {
        path: "busybox-oci",
        repo: "test/busybox",
        docker_layers: true,
    },
    Case {
        path: "busybox-docker-archive.tar",
        repo: "unused",
        docker_layers: true,
    },
    Case {
        path: "busybox-multiarch-oci",
        repo: "test/multi",
        docker_layers: true,
    },
    Case {
        path: "debian-oci",
        repo: "test/debian",
        docker_layers: true,
    },
    Case {
        path: "multilayer-oci",
        repo: "test/multilayer",
        docker_layers: true,
    },
    Case {
        path: "multilayer-zstd-oci",
        repo: "test/zstd",
        docker_layers: false,
    },
];

#[test]
fn every_test_image_survives_save_and_load_with_every_digest() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, case) in CASES.iter().enumerate() {
        let src = store(tmp.path(), &format!("src{i}"));
        let imported = src
            .import_path_with(Path::new(IMAGES).join(case.path), &opts(case.repo))
            .unwrap();
        assert_eq!(imported.len(), 1, "{}", case.path);
        let name = imported[0].name.clone().expect("named import");
        let before = src.inspect(&name.to_string()).unwrap();

        let tar_path = tmp.path().join(format!("saved{i}.tar"));
        src.save(&[&name.to_string()], File::create(&tar_path).unwrap())
            .unwrap();

        // Loaded into a fresh store: same name, manifest, config, layers.
        let dst = store(tmp.path(), &format!("dst{i}"));
        let loaded = dst.import_path(&tar_path).unwrap();
        assert_eq!(loaded.len(), 1, "{}", case.path);
        assert_eq!(loaded[0].name.as_ref(), Some(&name), "{}", case.path);
        assert_eq!(loaded[0].manifest, before.manifest, "{}", case.path);
        assert_eq!(loaded[0].config, before.id, "{}", case.path);
        let after = dst.inspect(&name.to_string()).unwrap();
        assert_eq!(after.layers, before.layers, "{}", case.path);
        assert_eq!(after.diff_ids, before.diff_ids, "{}", case.path);
        for d in dst.content().list().unwrap() {
            dst.content().open_blob(&d).unwrap();
        }

        // The same tar is a docker archive: manifest.json names files that exist.
        let files = tar_files(&tar_path);
        assert_eq!(
            files["oci-layout"],
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()
        );
        let entries: Vec<Entry> = serde_json::from_slice(&files["manifest.json"]).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].repo_tags, Some(vec![name.familiar()]));
        assert_eq!(
            entries[0].config,
            format!("blobs/sha256/{}", before.id.hex())
        );
        assert!(files.contains_key(&entries[0].config));
        assert_eq!(entries[0].layers.len(), before.layers.len());
        for l in &entries[0].layers {
            assert!(files.contains_key(l), "{}: {l} missing", case.path);
        }
        let repos: BTreeMap<String, BTreeMap<String, String>> =
            serde_json::from_slice(&files["repositories"]).unwrap();
        assert!(repos[&name.familiar_name()].contains_key(name.tag().unwrap()));
        let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
        let ann = &index["manifests"][0]["annotations"];
        assert_eq!(ann["io.containerd.image.name"], name.to_string());
        assert_eq!(
            ann["org.opencontainers.image.ref.name"],
            name.tag().unwrap()
        );

        // Loaded by a docker-archive reader (no index.json): same config and layers.
        if case.docker_layers {
            let dir = tmp.path().join(format!("legacy{i}"));
            for (n, data) in &files {
                if n == "index.json" {
                    continue;
                }
                let p = dir.join(n);
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                fs::write(p, data).unwrap();
            }
            let legacy = store(tmp.path(), &format!("legacy-store{i}"));
            let got = legacy.import_path(&dir).unwrap();
            assert_eq!(got[0].config, before.id, "{}", case.path);
            assert_eq!(got[0].name.as_ref(), Some(&name));
            let li = legacy.inspect(&name.to_string()).unwrap();
            assert_eq!(li.diff_ids, before.diff_ids);
            let digests = |l: &[berth_image::manifest::Descriptor]| {
                l.iter().map(|d| d.digest.clone()).collect::<Vec<Digest>>()
            };
            assert_eq!(digests(&li.layers), digests(&before.layers));
        }
        drop(files);
        fs::remove_file(&tar_path).unwrap();
    }
}

#[test]
fn a_shared_base_layer_is_saved_once() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path(), "s");
    s.import_path_with(Path::new(IMAGES).join("busybox-oci"), &opts("bb"))
        .unwrap();
    s.import_path_with(Path::new(IMAGES).join("multilayer-oci"), &opts("ml"))
        .unwrap();
    let tar_path = tmp.path().join("both.tar");
    s.save(&["bb:latest", "ml"], File::create(&tar_path).unwrap())
        .unwrap();

    let mut a = tar::Archive::new(File::open(&tar_path).unwrap());
    let names: Vec<String> = a
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    let base = format!("blobs/sha256/{BUSYBOX_LAYER_GZ}");
    assert_eq!(names.iter().filter(|n| **n == base).count(), 1, "{names:?}");
    // 3 busybox blobs + 7 multilayer blobs, one shared.
    let blobs = names
        .iter()
        .filter(|n| n.starts_with("blobs/sha256/") && n.len() > 13)
        .count();
    assert_eq!(blobs, 9, "{names:?}");

    let files = tar_files(&tar_path);
    let entries: Vec<Entry> = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].layers[0], base);
    assert_eq!(entries[1].layers[0], base);

    let fresh = store(tmp.path(), "fresh");
    let loaded = fresh.import_path(&tar_path).unwrap();
    let mut names: Vec<String> = loaded
        .iter()
        .map(|i| i.name.as_ref().unwrap().familiar())
        .collect();
    names.sort();
    assert_eq!(names, ["bb:latest", "ml:latest"]);
    assert_eq!(fresh.content().list().unwrap(), s.content().list().unwrap());
}

#[test]
fn save_is_deterministic_and_by_id_is_untagged() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path(), "s");
    let img = s
        .import_path_with(Path::new(IMAGES).join("busybox-oci"), &opts("bb"))
        .unwrap()
        .remove(0);
    let a = s.save(&["bb"], Vec::new()).unwrap();
    let b = s.save(&["bb"], Vec::new()).unwrap();
    assert_eq!(a, b);

    let by_id = s.save(&[img.config.short()], Vec::new()).unwrap();
    let path = tmp.path().join("byid.tar");
    fs::write(&path, &by_id).unwrap();
    let files = tar_files(&path);
    let entries: Vec<Entry> = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(entries[0].repo_tags, None);
    let fresh = store(tmp.path(), "fresh");
    let loaded = fresh.import_path(&path).unwrap();
    assert_eq!(loaded[0].name, None);
    assert_eq!(loaded[0].manifest, img.manifest);

    let err = s.save(&["nothere"], Vec::new()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = s.save(&[], Vec::new()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn plain_oci_layout_as_tar_and_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path(), "s");
    let img = s
        .import_path_with(Path::new(IMAGES).join("multilayer-oci"), &opts("ml"))
        .unwrap()
        .remove(0);

    let tar_path = tmp.path().join("oci.tar");
    s.save_oci(&["ml"], File::create(&tar_path).unwrap())
        .unwrap();
    let files = tar_files(&tar_path);
    assert!(!files.contains_key("manifest.json"));
    assert!(!files.contains_key("repositories"));
    assert!(files.contains_key("index.json") && files.contains_key("oci-layout"));

    let dir: PathBuf = tmp.path().join("oci-dir");
    s.save_oci_dir(&["ml"], &dir).unwrap();
    assert!(!dir.join("manifest.json").exists());
    for (src, name) in [(tar_path, "a"), (dir, "b")] {
        let fresh = store(tmp.path(), name);
        let loaded = fresh.import_path(&src).unwrap();
        assert_eq!(loaded[0].manifest, img.manifest);
        assert_eq!(loaded[0].config, img.config);
        assert_eq!(loaded[0].name.as_ref().unwrap().familiar(), "ml:latest");
        assert_eq!(fresh.content().list().unwrap(), s.content().list().unwrap());
    }
}
