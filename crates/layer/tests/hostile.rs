//! Hostile layers: each either fails with a clear error or applies safely, and in every
//! case nothing outside the target is created, changed or removed.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_layer::{apply, ApplyOptions, ApplyStats, Compression, LayerError};
use common::{fingerprint, gzip, raw_header, sha256, RawTar};

/// A base dir holding the target `root`, a `sentinel` tree and an `outside-dir`.
struct Sandbox {
    base: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let base = tempfile::tempdir().unwrap();
        fs::create_dir(base.path().join("root")).unwrap();
        fs::create_dir_all(base.path().join("sentinel/sub")).unwrap();
        fs::write(base.path().join("sentinel/file"), b"keep").unwrap();
        fs::write(base.path().join("sentinel/sub/x"), b"keep too").unwrap();
        fs::create_dir(base.path().join("outside-dir")).unwrap();
        fs::write(base.path().join("outside-dir/old"), b"old").unwrap();
        Sandbox { base }
    }
    fn base(&self) -> &Path {
        self.base.path()
    }
    fn root(&self) -> PathBuf {
        self.base.path().join("root")
    }
    /// The base as an absolute path without the leading `/`, for names in tars.
    fn abs(&self) -> String {
        self.base().to_str().unwrap().to_string()
    }

    /// Applies `tar`, then checks that everything outside the root is as it was.
    fn apply(&self, tar: &[u8], opts: &ApplyOptions) -> Result<ApplyStats, LayerError> {
        let outside = self.outside();
        let passwd = fs::metadata("/etc/passwd").unwrap();
        let result = apply(tar, &self.root(), opts);
        assert_eq!(
            self.outside(),
            outside,
            "something outside the root changed"
        );
        let after = fs::metadata("/etc/passwd").unwrap();
        assert_eq!(
            (passwd.nlink(), passwd.mtime(), passwd.size()),
            (after.nlink(), after.mtime(), after.size())
        );
        for name in ESCAPES {
            assert!(
                fs::symlink_metadata(Path::new("/").join(name)).is_err(),
                "/{name} exists"
            );
            assert!(
                fs::symlink_metadata(self.base().parent().unwrap().join(name)).is_err(),
                "{name} next to the base exists"
            );
        }
        result
    }

    /// Everything in the base except the root, with contents and metadata.
    fn outside(&self) -> Vec<(String, common::Node)> {
        fingerprint(self.base())
            .into_iter()
            .filter(|(p, _)| p != "root" && !p.starts_with("root/"))
            .collect()
    }
}

/// Names that hostile tars try to create outside the root.
const ESCAPES: &[&str] = &[
    "berth-layer-escape-a",
    "berth-layer-escape-b",
    "berth-layer-escape-c",
];

fn opts() -> ApplyOptions {
    ApplyOptions::default()
}

#[test]
fn dotdot_names_are_clamped_inside_the_root() {
    let sb = Sandbox::new();
    let tar = RawTar::new()
        .file("../../berth-layer-escape-a", b"a")
        .file("../escaped", b"b")
        .file("a/../../../etc/x", b"c")
        .finish();
    sb.apply(&tar, &opts()).unwrap();
    assert_eq!(
        fs::read(sb.root().join("berth-layer-escape-a")).unwrap(),
        b"a"
    );
    assert_eq!(fs::read(sb.root().join("escaped")).unwrap(), b"b");
    assert_eq!(fs::read(sb.root().join("etc/x")).unwrap(), b"c");
}

#[test]
fn absolute_names_land_inside_the_root() {
    let sb = Sandbox::new();
    let name = format!("{}/abs-escaped", sb.abs());
    let tar = RawTar::new()
        .file("/berth-layer-escape-b", b"a")
        .file(&name, b"b")
        .finish();
    sb.apply(&tar, &opts()).unwrap();
    assert!(sb.root().join("berth-layer-escape-b").is_file());
    assert!(sb.root().join(&name[1..]).is_file());
    assert!(!sb.base().join("abs-escaped").exists());
}

#[test]
fn symlinks_to_outside_are_followed_inside_the_root() {
    let sb = Sandbox::new();
    let tar = RawTar::new()
        .symlink("evil", "/")
        .file("evil/escaped1", b"1")
        .symlink("evil2", "../../..")
        .file("evil2/escaped2", b"2")
        .symlink("evil3", &sb.abs())
        .file("evil3/sentinel/file", b"overwritten?")
        .finish();
    // evil3 points at a path that does not exist inside the root: an error, not an escape.
    let err = sb.apply(&tar, &opts()).unwrap_err();
    assert!(matches!(err, LayerError::Fs { .. }), "{err:?}");
    assert!(err.to_string().contains("evil3/sentinel/file"), "{err}");
    assert_eq!(fs::read(sb.root().join("escaped1")).unwrap(), b"1");
    assert_eq!(fs::read(sb.root().join("escaped2")).unwrap(), b"2");
    // The symlinks themselves are kept as written.
    assert_eq!(
        fs::read_link(sb.root().join("evil")).unwrap(),
        Path::new("/")
    );
}

#[test]
fn symlinked_directory_from_a_lower_layer_stays_inside() {
    let sb = Sandbox::new();
    // Lower layer: a symlink to the real outside dir (as if a lower layer planted it),
    // and a directory in the root with the same path so that following inside works.
    let outside = format!("{}/outside-dir", sb.abs());
    std::os::unix::fs::symlink(&outside, sb.root().join("a")).unwrap();
    let tar = RawTar::new()
        .file("a/b", b"new")
        .file("a/old", b"replaced?")
        .finish();
    let err = sb.apply(&tar, &opts());
    // Either an error (the in-root path is missing) or a file inside the root.
    if err.is_ok() {
        assert!(sb.root().join(&outside[1..]).join("b").is_file());
    }
    assert_eq!(fs::read(sb.base().join("outside-dir/old")).unwrap(), b"old");
    assert!(!sb.base().join("outside-dir/b").exists());

    // Now with the in-root directory present: the write follows the link inside.
    fs::create_dir_all(sb.root().join(&outside[1..])).unwrap();
    let tar = RawTar::new().file("a/b", b"new").finish();
    sb.apply(&tar, &opts()).unwrap();
    assert_eq!(
        fs::read(sb.root().join(&outside[1..]).join("b")).unwrap(),
        b"new"
    );
}

#[test]
fn directory_replaced_by_symlink_in_the_same_layer() {
    let sb = Sandbox::new();
    let outside = format!("{}/outside-dir", sb.abs());
    let tar = RawTar::new()
        .dir("a")
        .file("a/first", b"1")
        .symlink("a", &outside)
        .file("a/old", b"pwned")
        .file("a/b", b"pwned")
        .finish();
    let _ = sb.apply(&tar, &opts());
    assert!(fs::symlink_metadata(sb.root().join("a"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read(sb.base().join("outside-dir/old")).unwrap(), b"old");
}

#[test]
fn hardlinks_to_outside_are_refused() {
    for link in [
        "/etc/passwd",
        "../../../../../../etc/passwd",
        "../outside-dir/old",
    ] {
        let sb = Sandbox::new();
        let tar = RawTar::new().hardlink("lnk", link).finish();
        let err = sb.apply(&tar, &opts()).unwrap_err();
        assert!(err.to_string().contains("lnk"), "{link}: {err}");
        assert!(!sb.root().join("lnk").exists());
    }
    // Through a symlink planted in the same layer.
    let sb = Sandbox::new();
    let tar = RawTar::new()
        .symlink("etc", "/etc")
        .hardlink("lnk", "etc/passwd")
        .symlink("up", &sb.abs())
        .hardlink("lnk2", "up/outside-dir/old")
        .finish();
    assert!(sb.apply(&tar, &opts()).is_err());
    // A hardlink to a symlink links the symlink itself, never what it points at.
    let sb = Sandbox::new();
    let tar = RawTar::new()
        .symlink("pw", "/etc/passwd")
        .hardlink("lnk", "pw")
        .finish();
    sb.apply(&tar, &opts()).unwrap();
    let md = fs::symlink_metadata(sb.root().join("lnk")).unwrap();
    assert!(md.file_type().is_symlink());
    assert_eq!(md.nlink(), 2);
}

#[test]
fn writing_through_a_hardlink_to_outside_is_impossible() {
    // Even if a lower layer somehow holds a hardlink to a file outside (same fs), a
    // member with its name replaces the link instead of writing into it.
    let sb = Sandbox::new();
    fs::hard_link(sb.base().join("sentinel/file"), sb.root().join("h")).unwrap();
    let before = sb.outside();
    let tar = RawTar::new().file("h", b"overwrite").finish();
    apply(&tar[..], &sb.root(), &opts()).unwrap();
    assert_eq!(fs::read(sb.root().join("h")).unwrap(), b"overwrite");
    assert_eq!(fs::read(sb.base().join("sentinel/file")).unwrap(), b"keep");
    // (nlink of the sentinel changed back once the link was replaced)
    assert_eq!(
        sb.outside(),
        before
            .into_iter()
            .map(|(p, mut n)| {
                n.links.clear();
                (p, n)
            })
            .collect::<Vec<_>>()
    );
}

#[test]
fn whiteouts_cannot_reach_outside() {
    let sb = Sandbox::new();
    let tar = RawTar::new()
        .file("../.wh.sentinel", b"")
        .file("../../.wh.outside-dir", b"")
        .symlink("l", &sb.abs())
        .file("l/.wh.sentinel", b"")
        .file("l/.wh..wh..opq", b"")
        .symlink("r", "/")
        .file("r/.wh..wh..opq", b"")
        .symlink("u", "../..")
        .file("u/.wh.outside-dir", b"")
        .finish();
    sb.apply(&tar, &opts()).unwrap();
    // The whiteouts did run inside the root: the symlinks themselves survive, since
    // they were made by this same layer.
    assert!(fs::symlink_metadata(sb.root().join("l")).is_ok());
    let err = sb
        .apply(&RawTar::new().file("d/.wh...", b"").finish(), &opts())
        .unwrap_err();
    assert!(matches!(err, LayerError::InvalidWhiteout { .. }), "{err:?}");
}

#[test]
fn root_cannot_be_replaced() {
    let sb = Sandbox::new();
    for tar in [
        RawTar::new().symlink("./", "/").finish(),
        RawTar::new().file("..", b"x").finish(),
        RawTar::new().hardlink("/", "x").finish(),
    ] {
        let err = sb.apply(&tar, &opts()).unwrap_err();
        assert!(matches!(err, LayerError::ReplaceRoot { .. }), "{err:?}");
    }
    assert!(sb.root().is_dir());
}

#[test]
fn huge_sizes_are_errors_not_allocations() {
    let sb = Sandbox::new();
    // A file claiming 8 GiB with 10 bytes behind it.
    let h = raw_header(tar::EntryType::Regular, b"big", b"", 0o77777777777);
    let mut tar = RawTar::new().header(h, b"").finish();
    tar.truncate(512 + 10);
    let err = sb.apply(&tar, &opts()).unwrap_err();
    assert!(
        matches!(err, LayerError::TruncatedEntry { ref path, .. } if path == "big"),
        "{err:?}"
    );

    // A GNU long name claiming 8 GiB, backed by a gzip bomb of 64 MiB.
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
    h.set_entry_type(tar::EntryType::GNULongName);
    h.set_mode(0o644);
    h.set_size(0o77777777777);
    h.set_cksum();
    let mut raw = h.as_bytes().to_vec();
    raw.extend(std::iter::repeat_n(b'a', 64 << 20));
    let err = sb.apply(&gzip(&raw), &opts()).unwrap_err();
    assert!(matches!(err, LayerError::HeaderTooLarge { .. }), "{err:?}");

    // The same with a PAX record.
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_path("pax").unwrap();
    h.set_size(64 << 20);
    h.set_cksum();
    let mut raw = h.as_bytes().to_vec();
    raw.extend(std::iter::repeat_n(b'a', 64 << 20));
    let err = sb.apply(&gzip(&raw), &opts()).unwrap_err();
    assert!(matches!(err, LayerError::HeaderTooLarge { .. }), "{err:?}");

    // A long name that fits the budget but no path.
    let mut b = tar::Builder::new(Vec::new());
    let long = "d/".repeat(2100) + "f";
    let mut h = tar::Header::new_gnu();
    h.set_size(0);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, &long, &b""[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let err = sb.apply(&tar, &opts()).unwrap_err();
    assert!(matches!(err, LayerError::PathTooLong { .. }), "{err:?}");
}

#[test]
fn truncated_compressed_streams_are_stream_errors() {
    let sb = Sandbox::new();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let tar = RawTar::new().file("f", &data).finish();
    let gz = gzip(&tar);
    for cut in [gz.len() / 2, gz.len() - 4] {
        let err = sb.apply(&gz[..cut], &opts()).unwrap_err();
        assert!(
            matches!(
                err,
                LayerError::Stream {
                    compression: Compression::Gzip,
                    ..
                }
            ),
            "cut at {cut}: {err:?}"
        );
        assert!(err.to_string().contains("gzip layer stream"), "{err}");
    }
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    let err = sb.apply(&zst[..zst.len() / 2], &opts()).unwrap_err();
    assert!(
        matches!(
            err,
            LayerError::Stream {
                compression: Compression::Zstd,
                ..
            }
        ),
        "{err:?}"
    );
    // A corrupt header checksum is a tar error.
    let mut bad = tar.clone();
    bad[0] ^= 1;
    let err = sb.apply(&bad, &opts()).unwrap_err();
    assert!(matches!(err, LayerError::Tar { .. }), "{err:?}");
}

#[test]
fn wrong_diff_id_is_reported() {
    let sb = Sandbox::new();
    let tar = RawTar::new().file("f", b"x").finish();
    let wrong = format!("sha256:{}", "0".repeat(64));
    let err = sb
        .apply(
            &gzip(&tar),
            &ApplyOptions {
                expected_diff_id: Some(wrong.clone()),
                ..opts()
            },
        )
        .unwrap_err();
    match err {
        LayerError::DiffIdMismatch { expected, actual } => {
            assert_eq!(expected, wrong);
            assert_eq!(actual, sha256(&tar));
        }
        other => panic!("{other:?}"),
    }
    let err = sb
        .apply(
            &tar,
            &ApplyOptions {
                expected_diff_id: Some("md5:abc".into()),
                ..opts()
            },
        )
        .unwrap_err();
    assert!(matches!(err, LayerError::BadDigest { .. }), "{err:?}");
}
