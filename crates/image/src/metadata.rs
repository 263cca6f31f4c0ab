//! Image metadata: which names point at which manifests, and leases.
//!
//! Blobs live in the content store; this database only says which of them
//! are images and by what names, so that untagging never touches blob files
//! and a crash between the two can at worst leave an unreferenced blob (which
//! a garbage collector can remove), never a name pointing at nothing that was
//! not there before.
//!
//! One redb file, `meta.redb`. Every write is one redb transaction, which is
//! durable on commit and atomic across a crash. Schema, version 1:
//!
//! ```text
//! meta    (&str -> u64)          "schema_version" -> 1
//! images  (&str -> &[u8])        normalised reference ("docker.io/library/busybox:latest")
//!                                 -> JSON {"manifest": "sha256:…", "created": <unix seconds>,
//!                                          "target": "sha256:…" (optional: the index the
//!                                          manifest was chosen from, kept for GC)}
//! leases  (multimap &str -> &str) lease name -> digest string ("sha256:…")
//! ```
//!
//! Opening a database written by a newer berth (higher schema version) fails
//! with [`MetadataError::NewerSchema`] instead of misreading it; older
//! versions are upgraded in [`MIGRATIONS`] order inside the opening
//! transaction (none exist yet). Image records are JSON so that fields can be
//! added without a migration; readers ignore unknown fields.
//!
//! Leases (containerd's idea) protect blobs that an operation in progress
//! needs but no image references yet, such as the layers of a half-finished
//! pull, from a future garbage collector.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use redb::{
    Database, MultimapTableDefinition, ReadableMultimapTable, ReadableTable, TableDefinition,
};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::reference::Reference;
use crate::ErrorKind;

/// The schema version this code writes.
pub const SCHEMA_VERSION: u64 = 1;
/// The database file name under the store root.
pub const DB_FILE: &str = "meta.redb";

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const IMAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("images");
const LEASES: MultimapTableDefinition<&str, &str> = MultimapTableDefinition::new("leases");
const SCHEMA_KEY: &str = "schema_version";

/// Upgrades from version `i + 1` to `i + 2`, run in order on open.
type Migration = fn(&redb::WriteTransaction) -> Result<(), redb::Error>;
const MIGRATIONS: &[Migration] = &[];

/// Errors from the metadata database.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// The database was written by a newer berth.
    #[error(
        "metadata database {path} has schema version {found}, newer than the supported {supported}"
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The version in the file.
        found: u64,
        /// The version this code knows.
        supported: u64,
    },
    /// Another process holds the database open.
    #[error("metadata database {0} is in use by another process")]
    InUse(PathBuf),
    /// No image by that name or ID.
    #[error("no such image: {0}")]
    NotFound(String),
    /// A digest prefix matches several images.
    #[error("image id prefix {0:?} is ambiguous: it matches several images")]
    Ambiguous(String),
    /// A stored record does not parse.
    #[error("corrupt image record for {key}: {source}")]
    CorruptRecord {
        /// The record's key.
        key: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A redb error.
    #[error("metadata database: {0}")]
    Db(Box<redb::Error>),
}

impl MetadataError {
    /// The error's class, for the API layer.
    pub fn kind(&self) -> ErrorKind {
        match self {
            MetadataError::NewerSchema { .. } => ErrorKind::FailedPrecondition,
            MetadataError::InUse(_) => ErrorKind::Unavailable,
            MetadataError::NotFound(_) => ErrorKind::NotFound,
            MetadataError::Ambiguous(_) => ErrorKind::InvalidArgument,
            MetadataError::CorruptRecord { .. } => ErrorKind::DataLoss,
            MetadataError::Db(_) => ErrorKind::Internal,
        }
    }
}

macro_rules! db_from {
    ($($t:ty),*) => {$(
        impl From<$t> for MetadataError {
            fn from(e: $t) -> Self {
                MetadataError::Db(Box::new(e.into()))
            }
        }
    )*};
}
db_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// What the database holds for one name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The image's manifest.
    pub manifest: Digest,
    /// When the name was set, in seconds since the epoch.
    pub created: u64,
    /// The index `manifest` was picked from, when the image arrived as a
    /// multi-platform index; garbage collection keeps it while the name exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Digest>,
}

/// The result of [`Metadata::resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The manifest the input names.
    pub manifest: Digest,
    /// Every name pointing at that manifest, sorted.
    pub references: Vec<Reference>,
}

/// The metadata database.
pub struct Metadata {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for Metadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metadata")
            .field("path", &self.path)
            .finish()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Metadata {
    /// Opens (creating if needed) `dir/meta.redb`, checking and upgrading its schema.
    pub fn open(dir: &Path) -> Result<Self, MetadataError> {
        let path = dir.join(DB_FILE);
        let db = match Database::create(&path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(MetadataError::InUse(path))
            }
            Err(e) => return Err(e.into()),
        };
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let found = meta.get(SCHEMA_KEY)?.map(|v| v.value());
            match found {
                Some(v) if v > SCHEMA_VERSION => {
                    return Err(MetadataError::NewerSchema {
                        path,
                        found: v,
                        supported: SCHEMA_VERSION,
                    })
                }
                Some(v) => {
                    for m in MIGRATIONS.iter().skip((v as usize).saturating_sub(1)) {
                        m(&txn)?;
                    }
                }
                None => {}
            }
            meta.insert(SCHEMA_KEY, SCHEMA_VERSION)?;
            txn.open_table(IMAGES)?;
            txn.open_multimap_table(LEASES)?;
        }
        txn.commit()?;
        Ok(Metadata { db, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version stored in the file.
    pub fn schema_version(&self) -> Result<u64, MetadataError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        Ok(meta.get(SCHEMA_KEY)?.map(|v| v.value()).unwrap_or(0))
    }

    /// Points `reference` at `manifest`; returns the manifest it pointed at before.
    pub fn tag(
        &self,
        reference: &Reference,
        manifest: &Digest,
    ) -> Result<Option<Digest>, MetadataError> {
        self.tag_with_target(reference, manifest, None)
    }

    /// [`Metadata::tag`], also recording the index the manifest came from.
    pub fn tag_with_target(
        &self,
        reference: &Reference,
        manifest: &Digest,
        target: Option<&Digest>,
    ) -> Result<Option<Digest>, MetadataError> {
        let key = reference.to_string();
        let record = ImageRecord {
            manifest: manifest.clone(),
            created: now(),
            target: target.filter(|t| *t != manifest).cloned(),
        };
        let value = serde_json::to_vec(&record).expect("record serialises");
        let txn = self.db.begin_write()?;
        let previous = {
            let mut images = txn.open_table(IMAGES)?;
            let previous = images
                .insert(key.as_str(), value.as_slice())?
                .map(|old| decode(&key, old.value()))
                .transpose()?;
            previous.map(|r| r.manifest)
        };
        txn.commit()?;
        Ok(previous)
    }

    /// Removes a name; returns what it pointed at.
    pub fn untag(&self, reference: &Reference) -> Result<ImageRecord, MetadataError> {
        let key = reference.to_string();
        let txn = self.db.begin_write()?;
        let removed = {
            let mut images = txn.open_table(IMAGES)?;
            let removed = images.remove(key.as_str())?;
            match removed {
                Some(v) => decode(&key, v.value())?,
                None => return Err(MetadataError::NotFound(reference.familiar())),
            }
        };
        txn.commit()?;
        Ok(removed)
    }

    /// The record for one exact name.
    pub fn get(&self, reference: &Reference) -> Result<Option<ImageRecord>, MetadataError> {
        let key = reference.to_string();
        let txn = self.db.begin_read()?;
        let images = txn.open_table(IMAGES)?;
        let found = images.get(key.as_str())?;
        found.map(|v| decode(&key, v.value())).transpose()
    }

    /// Every name and its record, sorted by name.
    pub fn list(&self) -> Result<Vec<(Reference, ImageRecord)>, MetadataError> {
        let txn = self.db.begin_read()?;
        let images = txn.open_table(IMAGES)?;
        let mut out = Vec::new();
        for item in images.iter()? {
            let (k, v) = item?;
            let key = k.value();
            let record = decode(key, v.value())?;
            // Keys were written from parsed references; one that no longer
            // parses is a corrupt record, reported rather than skipped.
            let reference =
                Reference::parse_normalized(key).map_err(|e| MetadataError::CorruptRecord {
                    key: key.to_owned(),
                    source: serde::de::Error::custom(e),
                })?;
            out.push((reference, record));
        }
        Ok(out)
    }

    /// Resolves what a user typed: a reference (`busybox`, `user/app:v1`,
    /// `name@sha256:…`), a full manifest digest, or a unique manifest digest
    /// prefix (`sha256:4d1a…` or `4d1a…`), in that order, as Docker does.
    pub fn resolve(&self, input: &str) -> Result<Resolved, MetadataError> {
        let all = self.list()?;
        let by_manifest = |m: &Digest| -> Resolved {
            let mut references: Vec<Reference> = all
                .iter()
                .filter(|(_, r)| &r.manifest == m)
                .map(|(n, _)| n.clone())
                .collect();
            references.sort();
            Resolved {
                manifest: m.clone(),
                references,
            }
        };
        if let Ok(d) = input.parse::<Digest>() {
            if all.iter().any(|(_, r)| r.manifest == d) {
                return Ok(by_manifest(&d));
            }
            return Err(MetadataError::NotFound(input.to_owned()));
        }
        if let Ok(reference) = Reference::parse(input) {
            if let Some((_, r)) = all.iter().find(|(n, _)| n == &reference) {
                return Ok(by_manifest(&r.manifest));
            }
            if let Some(d) = reference.digest() {
                let same_repo = all
                    .iter()
                    .any(|(n, r)| n.name() == reference.name() && &r.manifest == d);
                if same_repo {
                    return Ok(by_manifest(d));
                }
            }
        }
        let prefix = input.strip_prefix("sha256:").unwrap_or(input);
        if !prefix.is_empty()
            && prefix.len() <= 64
            && prefix
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            let mut matches: Vec<&Digest> = all
                .iter()
                .map(|(_, r)| &r.manifest)
                .filter(|m| m.hex().starts_with(prefix))
                .collect();
            matches.sort();
            matches.dedup();
            match matches.as_slice() {
                [one] => return Ok(by_manifest(one)),
                [] => {}
                _ => return Err(MetadataError::Ambiguous(input.to_owned())),
            }
        }
        Err(MetadataError::NotFound(input.to_owned()))
    }

    /// Adds digests to a lease (creating it).
    pub fn lease_add(&self, lease: &str, digests: &[Digest]) -> Result<(), MetadataError> {
        let txn = self.db.begin_write()?;
        {
            let mut leases = txn.open_multimap_table(LEASES)?;
            for d in digests {
                leases.insert(lease, d.to_string().as_str())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Drops a lease; returns whether it existed.
    pub fn lease_delete(&self, lease: &str) -> Result<bool, MetadataError> {
        let txn = self.db.begin_write()?;
        let existed = {
            let mut leases = txn.open_multimap_table(LEASES)?;
            let removed = leases.remove_all(lease)?;
            !removed.is_empty()
        };
        txn.commit()?;
        Ok(existed)
    }

    /// Every lease name, sorted.
    pub fn leases(&self) -> Result<Vec<String>, MetadataError> {
        let txn = self.db.begin_read()?;
        let leases = txn.open_multimap_table(LEASES)?;
        let mut out = Vec::new();
        for item in leases.iter()? {
            let (k, _) = item?;
            out.push(k.value().to_owned());
        }
        Ok(out)
    }

    /// The digests a lease holds, sorted.
    pub fn lease_digests(&self, lease: &str) -> Result<Vec<Digest>, MetadataError> {
        let txn = self.db.begin_read()?;
        let leases = txn.open_multimap_table(LEASES)?;
        let mut out = Vec::new();
        for v in leases.get(lease)? {
            let v = v?;
            let d = v
                .value()
                .parse()
                .map_err(|e| MetadataError::CorruptRecord {
                    key: format!("lease {lease}"),
                    source: serde::de::Error::custom(e),
                })?;
            out.push(d);
        }
        out.sort();
        Ok(out)
    }
}

fn decode(key: &str, bytes: &[u8]) -> Result<ImageRecord, MetadataError> {
    serde_json::from_slice(bytes).map_err(|source| MetadataError::CorruptRecord {
        key: key.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Reference {
        s.parse().unwrap()
    }

    #[test]
    fn tag_untag_resolve_list() {
        let dir = tempfile::tempdir().unwrap();
        let m = Metadata::open(dir.path()).unwrap();
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        assert_eq!(m.tag(&r("busybox"), &a).unwrap(), None);
        assert_eq!(m.tag(&r("user/app:v1"), &a).unwrap(), None);
        assert_eq!(m.tag(&r("localhost:5000/x"), &b).unwrap(), None);
        assert_eq!(m.tag(&r("busybox"), &a).unwrap(), Some(a.clone()));

        let got = m.resolve("busybox:latest").unwrap();
        assert_eq!(got.manifest, a);
        assert_eq!(
            got.references,
            vec![r("docker.io/library/busybox:latest"), r("user/app:v1")]
        );
        assert_eq!(m.resolve("docker.io/library/busybox").unwrap().manifest, a);
        assert_eq!(m.resolve(&a.to_string()).unwrap().manifest, a);
        assert_eq!(m.resolve(&b.hex()[..8]).unwrap().manifest, b);
        assert_eq!(
            m.resolve(&format!("sha256:{}", &b.hex()[..8]))
                .unwrap()
                .manifest,
            b
        );
        assert_eq!(m.resolve(&format!("busybox@{a}")).unwrap().manifest, a);
        assert_eq!(
            m.resolve(&format!("busybox@{b}")).unwrap_err().kind(),
            ErrorKind::NotFound,
            "a digest reference must name a manifest of that repository"
        );
        let err = m.resolve("nothere").unwrap_err();
        assert_eq!(err.to_string(), "no such image: nothere");
        assert_eq!(err.kind(), ErrorKind::NotFound);

        let names: Vec<String> = m
            .list()
            .unwrap()
            .iter()
            .map(|(n, _)| n.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "docker.io/library/busybox:latest",
                "docker.io/user/app:v1",
                "localhost:5000/x:latest"
            ]
        );

        assert_eq!(m.untag(&r("busybox")).unwrap().manifest, a);
        assert_eq!(
            m.untag(&r("busybox")).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(m.get(&r("busybox")).unwrap(), None);
        assert_eq!(m.resolve("user/app:v1").unwrap().manifest, a);
    }

    #[test]
    fn ambiguous_prefix_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let m = Metadata::open(dir.path()).unwrap();
        // Find two digests sharing a first hex character.
        let digests: Vec<Digest> = (0u8..40).map(|i| Digest::of(&[i])).collect();
        let first = &digests[0];
        let other = digests[1..]
            .iter()
            .find(|d| d.hex()[..1] == first.hex()[..1])
            .unwrap();
        m.tag(&r("one"), first).unwrap();
        m.tag(&r("two"), other).unwrap();
        let err = m.resolve(&first.hex()[..1]).unwrap_err();
        assert!(matches!(err, MetadataError::Ambiguous(_)), "{err}");
    }

    #[test]
    fn survives_reopen_and_refuses_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let a = Digest::of(b"a");
        {
            let m = Metadata::open(dir.path()).unwrap();
            m.tag(&r("busybox"), &a).unwrap();
            m.lease_add("pull-1", &[a.clone(), Digest::of(b"c")])
                .unwrap();
            m.lease_add("pull-1", std::slice::from_ref(&a)).unwrap();
        }
        {
            let m = Metadata::open(dir.path()).unwrap();
            assert_eq!(m.schema_version().unwrap(), SCHEMA_VERSION);
            assert_eq!(m.get(&r("busybox")).unwrap().unwrap().manifest, a);
            assert_eq!(
                m.lease_digests("pull-1").unwrap().len(),
                2,
                "a lease is a set"
            );
            assert!(m.lease_delete("pull-1").unwrap());
            assert!(!m.lease_delete("pull-1").unwrap());
            assert!(m.lease_digests("pull-1").unwrap().is_empty());
        }
        {
            let db = Database::create(dir.path().join(DB_FILE)).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META)
                .unwrap()
                .insert(SCHEMA_KEY, SCHEMA_VERSION + 1)
                .unwrap();
            txn.commit().unwrap();
        }
        let err = Metadata::open(dir.path()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
        assert!(
            err.to_string()
                .contains("has schema version 2, newer than the supported 1"),
            "{err}"
        );
    }
}
