//! Manifest, index and descriptor documents, in both media-type families.
//!
//! Images arrive as OCI documents (`application/vnd.oci.image.*`) or Docker
//! schema2 documents (`application/vnd.docker.distribution.manifest.*`); the
//! two share one JSON shape, so one set of lenient types reads both and keeps
//! the media type as a string. `oci-spec`'s typed structs are used where the
//! exact shape matters to callers (the image configuration); these types are
//! for walking the graph of blobs, where an unknown media type or annotation
//! must be carried, not refused.
//!
//! [`select_platform`] picks a manifest from an index the way containerd's
//! `platforms` package does: names are normalised first (`aarch64` → `arm64`,
//! `x86_64` → `amd64`, arm64 variant `v8` → none, 32-bit arm defaults to `v7`),
//! then the best compatible variant wins (`arm/v7` also runs `v6` and `v5`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// OCI image manifest.
pub const MEDIA_TYPE_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const MEDIA_TYPE_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image configuration.
pub const MEDIA_TYPE_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker schema2 manifest.
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker schema2 manifest list.
pub const MEDIA_TYPE_DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image configuration.
pub const MEDIA_TYPE_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker uncompressed layer.
pub const MEDIA_TYPE_DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker gzip layer.
pub const MEDIA_TYPE_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker schema1 manifests are refused (deprecated, unsigned digests).
pub const MEDIA_TYPE_DOCKER_SCHEMA1: &str =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// Annotation: containerd's (and Docker 25+'s) full image name.
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
/// Annotation: the OCI layout reference name (a tag, or a full reference).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// True for a single-platform manifest media type.
pub fn is_manifest(media_type: &str) -> bool {
    media_type == MEDIA_TYPE_OCI_MANIFEST || media_type == MEDIA_TYPE_DOCKER_MANIFEST
}

/// True for a multi-platform index media type.
pub fn is_index(media_type: &str) -> bool {
    media_type == MEDIA_TYPE_OCI_INDEX || media_type == MEDIA_TYPE_DOCKER_MANIFEST_LIST
}

/// True for an image configuration media type.
pub fn is_config(media_type: &str) -> bool {
    media_type == MEDIA_TYPE_OCI_CONFIG || media_type == MEDIA_TYPE_DOCKER_CONFIG
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the target is.
    pub media_type: String,
    /// The target's digest.
    pub digest: Digest,
    /// The target's size in bytes.
    pub size: u64,
    /// Where else the blob may be fetched (foreign layers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The platform a manifest in an index is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// A plain descriptor: no urls, annotations or platform.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_owned(),
            digest,
            size,
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            platform: None,
        }
    }
}

/// A platform in an index entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Platform {
    /// CPU architecture (GOARCH).
    pub architecture: String,
    /// Operating system (GOOS).
    pub os: String,
    /// OS version (Windows).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// CPU variant (`v7`, `v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An image manifest (OCI or Docker schema2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// The document's own media type (required by Docker, optional in OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image configuration.
    pub config: Descriptor,
    /// Layers, base first.
    pub layers: Vec<Descriptor>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index or manifest list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// The document's own media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests (or nested indexes).
    pub manifests: Vec<Descriptor>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The few fields of an image configuration the store itself needs.
#[derive(Debug, Clone, Deserialize)]
pub struct ConfigSummary {
    /// RFC 3339 creation time.
    #[serde(default)]
    pub created: Option<String>,
    /// Operating system.
    #[serde(default)]
    pub os: Option<String>,
    /// Architecture.
    #[serde(default)]
    pub architecture: Option<String>,
    /// The layer diff IDs.
    pub rootfs: RootFs,
}

/// `rootfs` of an image configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Digests of the uncompressed layers, base first.
    pub diff_ids: Vec<Digest>,
}

/// A wanted platform, normalised as containerd does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformSpec {
    /// Operating system.
    pub os: String,
    /// Architecture.
    pub architecture: String,
    /// Variant, empty when none.
    pub variant: String,
}

impl PlatformSpec {
    /// A normalised platform from its parts.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        let (architecture, variant) = normalize_arch(architecture, variant.unwrap_or(""));
        PlatformSpec {
            os: normalize_os(os),
            architecture,
            variant,
        }
    }

    /// The platform this binary was built for, on Linux.
    pub fn host() -> Self {
        PlatformSpec::new("linux", std::env::consts::ARCH, None)
    }

    /// Parses `os/arch[/variant]`.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.split('/');
        let os = parts.next().filter(|p| !p.is_empty())?;
        let arch = parts.next().filter(|p| !p.is_empty())?;
        let variant = parts.next();
        if parts.next().is_some() {
            return None;
        }
        Some(PlatformSpec::new(os, arch, variant))
    }

    fn of(p: &Platform) -> Self {
        PlatformSpec::new(&p.os, &p.architecture, p.variant.as_deref())
    }

    /// Variants this platform runs, best first.
    fn compatible_variants(&self) -> Vec<String> {
        let num = |v: &str| v.strip_prefix('v').and_then(|n| n.parse::<u32>().ok());
        match self.architecture.as_str() {
            "arm" => match num(&self.variant) {
                Some(n) => (5..=n.min(8)).rev().map(|i| format!("v{i}")).collect(),
                None => vec![self.variant.clone()],
            },
            "amd64" => {
                let n = num(&self.variant).unwrap_or(1);
                let mut v: Vec<String> = (2..=n.min(4)).rev().map(|i| format!("v{i}")).collect();
                v.push(String::new());
                v
            }
            "arm64" if !self.variant.is_empty() => vec![self.variant.clone(), String::new()],
            _ => vec![self.variant.clone()],
        }
    }
}

impl std::fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

fn normalize_os(os: &str) -> String {
    match os.to_lowercase().as_str() {
        "macos" => "darwin".to_owned(),
        other => other.to_owned(),
    }
}

fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let arch = arch.to_lowercase();
    let variant = variant.to_lowercase();
    match arch.as_str() {
        "i386" => ("386".into(), String::new()),
        "x86_64" | "x86-64" | "amd64" => {
            let v = if variant == "v1" {
                String::new()
            } else {
                variant
            };
            ("amd64".into(), v)
        }
        "aarch64" | "arm64" => {
            let v = match variant.as_str() {
                "8" | "v8" | "v8.0" => String::new(),
                "9" | "9.0" | "v9.0" => "v9".into(),
                _ => variant,
            };
            ("arm64".into(), v)
        }
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        "arm" => {
            let v = match variant.as_str() {
                "" | "7" => "v7".into(),
                "5" | "6" | "8" => format!("v{variant}"),
                _ => variant,
            };
            ("arm".into(), v)
        }
        _ => (arch, variant),
    }
}

/// Picks the manifest for `os/arch[/variant]` from an index: the entry with
/// the best compatible variant, first in index order among equals. Entries
/// without a platform are never chosen.
pub fn select_platform<'a>(
    index: &'a Index,
    os: &str,
    arch: &str,
    variant: Option<&str>,
) -> Option<&'a Descriptor> {
    select(index, &PlatformSpec::new(os, arch, variant))
}

/// [`select_platform`] with an already built [`PlatformSpec`].
pub fn select<'a>(index: &'a Index, want: &PlatformSpec) -> Option<&'a Descriptor> {
    for variant in want.compatible_variants() {
        let found = index.manifests.iter().find(|d| {
            d.platform.as_ref().is_some_and(|p| {
                let have = PlatformSpec::of(p);
                have.os == want.os
                    && have.architecture == want.architecture
                    && have.variant == variant
            })
        });
        if found.is_some() {
            return found;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(n: u8, arch: &str, variant: Option<&str>) -> Descriptor {
        Descriptor {
            media_type: MEDIA_TYPE_OCI_MANIFEST.into(),
            digest: Digest::of(&[n]),
            size: 1,
            urls: vec![],
            annotations: BTreeMap::new(),
            platform: Some(Platform {
                architecture: arch.into(),
                os: "linux".into(),
                os_version: None,
                variant: variant.map(str::to_owned),
            }),
        }
    }

    fn index(entries: Vec<Descriptor>) -> Index {
        Index {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_OCI_INDEX.into()),
            manifests: entries,
            annotations: BTreeMap::new(),
        }
    }

    #[test]
    fn platform_selection_follows_containerd() {
        let idx = index(vec![
            desc(1, "amd64", None),
            desc(2, "arm64", Some("v8")),
            desc(3, "arm", Some("v6")),
            desc(4, "arm", Some("v7")),
            desc(5, "386", None),
        ]);
        let pick = |os: &str, arch: &str, v: Option<&str>| {
            select_platform(&idx, os, arch, v).map(|d| d.digest.clone())
        };
        let d = |n: u8| Some(Digest::of(&[n]));
        assert_eq!(pick("linux", "amd64", None), d(1));
        assert_eq!(pick("linux", "x86_64", None), d(1));
        assert_eq!(pick("linux", "amd64", Some("v3")), d(1), "v3 runs v1");
        assert_eq!(pick("linux", "arm64", None), d(2), "v8 is arm64's default");
        assert_eq!(pick("linux", "aarch64", Some("v8")), d(2));
        assert_eq!(pick("linux", "arm64", Some("8")), d(2));
        assert_eq!(pick("linux", "arm", None), d(4), "arm defaults to v7");
        assert_eq!(pick("linux", "arm", Some("v6")), d(3));
        assert_eq!(pick("linux", "armel", None), d(3));
        assert_eq!(
            pick("linux", "arm", Some("v8")),
            d(4),
            "best compatible variant wins"
        );
        assert_eq!(pick("linux", "i386", None), d(5));
        assert_eq!(pick("windows", "amd64", None), None);
        assert_eq!(pick("linux", "riscv64", None), None);
        assert_eq!(pick("linux", "arm", Some("v5")), None, "v5 cannot run v6");

        let only_v8 = index(vec![desc(7, "arm64", None)]);
        assert_eq!(
            select_platform(&only_v8, "linux", "arm64", Some("v8")).map(|d| d.digest.clone()),
            d(7)
        );
    }

    #[test]
    fn platform_strings_parse() {
        assert_eq!(
            PlatformSpec::parse("linux/arm64/v8").unwrap().to_string(),
            "linux/arm64"
        );
        assert_eq!(
            PlatformSpec::parse("linux/arm").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert!(PlatformSpec::parse("linux").is_none());
        assert!(PlatformSpec::parse("linux/amd64/v2/x").is_none());
    }

    #[test]
    fn both_families_parse() {
        let docker = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
            "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,
            "digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
            "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":2,
            "digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}]}"#;
        let m: Manifest = serde_json::from_str(docker).unwrap();
        assert!(is_manifest(m.media_type.as_deref().unwrap()));
        assert!(is_config(&m.config.media_type));
        let list = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",
            "manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":2,
            "digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            "platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]}"#;
        let i: Index = serde_json::from_str(list).unwrap();
        assert!(is_index(i.media_type.as_deref().unwrap()));
        assert!(select_platform(&i, "linux", "arm64", None).is_some());
    }
}
