//! `ImageStore::commit`, `import_with_changes` and dangling images.

use berth_image::{
    parse_changes, Change, ChangeError, CommitOptions, ImageStore, Reference, RootfsConfig,
};

fn tar_with(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn store_with_base() -> (tempfile::TempDir, ImageStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path().join("image")).unwrap();
    let rootfs = tar_with(&[("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")]);
    let cfg = RootfsConfig {
        cmd: Some(vec!["sh".into()]),
        env: vec!["PATH=/bin".into()],
        working_dir: None,
    };
    store
        .import_rootfs(&rootfs[..], Some("base:1"), &cfg)
        .unwrap();
    (dir, store)
}

fn config_of(store: &ImageStore, id: &berth_image::Digest) -> serde_json::Value {
    serde_json::from_slice(&store.content().read_verified(id).unwrap()).unwrap()
}

#[test]
fn commit_adds_a_layer_history_and_changes() {
    let (_dir, store) = store_with_base();
    let layer = tar_with(&[("tmp/hello", b"hi\n")]);
    let name = Reference::parse("app:v1").unwrap();
    let opts = CommitOptions {
        author: "me".into(),
        comment: "add hello".into(),
        created_by: "sh -c echo".into(),
        changes: parse_changes(&[
            "ENV FOO=bar PATH=/usr/bin",
            "CMD [\"cat\", \"/tmp/hello\"]",
            "EXPOSE 80",
            "LABEL a=b",
        ])
        .unwrap(),
        created: Some("2026-01-01T00:00:00Z".into()),
    };
    let c = store
        .commit("base:1", &layer[..], Some(&name), &opts)
        .unwrap();
    let i = store.inspect("app:v1").unwrap();
    assert_eq!(i.id, c.id);
    assert_eq!(i.diff_ids.len(), 2);
    assert_eq!(
        i.diff_ids[1], c.layer,
        "the layer is stored uncompressed: blob digest = diff id"
    );
    assert_eq!(c.layer_size, layer.len() as u64);
    let cfg = config_of(&store, &c.id);
    assert_eq!(cfg["author"], "me");
    assert_eq!(cfg["created"], "2026-01-01T00:00:00Z");
    assert_eq!(
        cfg["config"]["Env"],
        serde_json::json!(["PATH=/usr/bin", "FOO=bar"])
    );
    assert_eq!(
        cfg["config"]["Cmd"],
        serde_json::json!(["cat", "/tmp/hello"])
    );
    assert_eq!(
        cfg["config"]["ExposedPorts"],
        serde_json::json!({"80/tcp": {}})
    );
    assert_eq!(cfg["config"]["Labels"], serde_json::json!({"a": "b"}));
    let history = cfg["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["comment"], "add hello");
    assert_eq!(history[1]["created_by"], "sh -c echo");
    // The store's own history view agrees.
    let rows = store.history("app:v1").unwrap();
    assert_eq!(rows[0].comment, "add hello");
    assert_eq!(rows[0].size, layer.len() as u64);
    // The parent is untouched.
    let base = store.inspect("base:1").unwrap();
    assert_eq!(base.diff_ids.len(), 1);
}

#[test]
fn unnamed_commit_is_dangling_and_survives_gc_until_released() {
    let (_dir, store) = store_with_base();
    let layer = tar_with(&[("x", b"1")]);
    let c = store
        .commit("base:1", &layer[..], None, &CommitOptions::default())
        .unwrap();
    assert_eq!(
        store.dangling().unwrap(),
        vec![(c.id.clone(), c.manifest.clone())]
    );
    store.gc().unwrap();
    assert!(store.content().exists(&c.layer), "a dangling image is kept");
    // Found by ID prefix, with no names.
    let (m, refs) = store.resolve_image(&c.id.hex()[..12]).unwrap();
    assert_eq!(m, c.manifest);
    assert!(refs.is_empty());
    // A commit on a dangling parent works.
    let c2 = store
        .commit(
            &c.id.to_string(),
            &layer[..],
            None,
            &CommitOptions::default(),
        )
        .unwrap();
    assert_eq!(
        store
            .inspect_manifest(&c2.manifest, vec![])
            .unwrap()
            .diff_ids
            .len(),
        3
    );
    // It can be saved by ID.
    let tar = store.save_images(&[&c.id.hex()[..12]], Vec::new()).unwrap();
    assert!(!tar.is_empty());
    // Naming it makes it not dangling.
    store
        .metadata()
        .tag(&Reference::parse("named").unwrap(), &c.manifest)
        .unwrap();
    assert_eq!(store.dangling().unwrap().len(), 1);
    assert!(store.release_dangling(&c2.id).unwrap());
    store.gc().unwrap();
    assert!(!store.content().exists(&c2.manifest));
    assert!(store.content().exists(&c.manifest));
}

#[test]
fn import_with_changes_reads_gzip_and_applies_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let rootfs = tar_with(&[("bin/sh", b"#!")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &rootfs).unwrap();
    let gz = gz.finish().unwrap();
    let opts = CommitOptions {
        comment: "imported from tarball".into(),
        changes: parse_changes(&["ENTRYPOINT [\"/bin/sh\"]", "WORKDIR /srv", "USER 1000"]).unwrap(),
        ..Default::default()
    };
    let name = Reference::parse("imp").unwrap();
    let c = store
        .import_with_changes(&gz[..], Some(&name), &opts)
        .unwrap();
    assert_eq!(c.layer, berth_image::Digest::of(&rootfs));
    let cfg = config_of(&store, &c.id);
    assert_eq!(cfg["config"]["Entrypoint"], serde_json::json!(["/bin/sh"]));
    assert_eq!(cfg["config"]["WorkingDir"], "/srv");
    assert_eq!(cfg["config"]["User"], "1000");
    assert_eq!(
        cfg["rootfs"]["diff_ids"],
        serde_json::json!([c.layer.to_string()])
    );
    assert!(cfg["os"].is_string());
}

#[test]
fn changes_parse_like_docker() {
    assert_eq!(
        parse_changes(&["CMD echo hi"]).unwrap(),
        vec![Change::Cmd(vec![
            "/bin/sh".into(),
            "-c".into(),
            "echo hi".into()
        ])]
    );
    assert_eq!(
        parse_changes(&["env A=1 B=\"two words\""]).unwrap(),
        vec![Change::Env(vec![
            ("A".into(), "1".into()),
            ("B".into(), "two words".into())
        ])]
    );
    assert_eq!(
        parse_changes(&["VOLUME [\"/data\"]", "EXPOSE 53/udp 80"]).unwrap(),
        vec![
            Change::Volume(vec!["/data".into()]),
            Change::Expose(vec!["53/udp".into(), "80/tcp".into()])
        ]
    );
    assert_eq!(
        parse_changes(&["RUN true"]).unwrap_err(),
        ChangeError::Unsupported("RUN".into())
    );
    assert!(parse_changes(&["CMD"]).is_err());
}
