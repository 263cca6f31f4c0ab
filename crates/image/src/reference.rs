//! Docker image references, parsed and normalised exactly as Docker does.
//!
//! Users type `busybox`, `user/app:v1` or `localhost:5000/app@sha256:…`; the
//! store keys images by the fully qualified form
//! (`docker.io/library/busybox:latest`). The rules follow
//! `github.com/distribution/reference` (`ParseNormalizedNamed` followed by
//! `TagNameOnly`), because any difference would make `docker run busybox`
//! and `berth run busybox` name different images:
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [domain "/"] path-component ["/" path-component]*
//! domain           := host [":" port]        host: dns labels | "[" ipv6 "]"
//! path-component   := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag              := [\w][\w.-]{0,127}
//! digest           := "sha256:" 64 lowercase hex    (the only algorithm stored)
//! ```
//!
//! The first `/`-separated component is a domain only if it contains `.` or
//! `:`, is `localhost`, or has an uppercase letter; otherwise the domain is
//! `docker.io`, and single-component names on docker.io get `library/`.
//! `index.docker.io` is rewritten to `docker.io`. The whole name is limited
//! to 255 characters, and a bare 64-hex string is refused as a name because
//! it would be ambiguous with an image ID.

use std::fmt;
use std::str::FromStr;

use crate::digest::{Digest, DigestError};

/// The registry an unqualified name refers to.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag added to a reference that has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// Why a reference string was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ReferenceError {
    /// The input is empty.
    #[error("repository name must have at least one component")]
    Empty,
    /// The input does not follow the reference grammar.
    #[error("invalid reference format {input:?}: {reason}")]
    InvalidFormat {
        /// The whole input.
        input: String,
        /// What part of the grammar it broke.
        reason: String,
    },
    /// The repository path has uppercase letters (Docker's wording).
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    /// The name is longer than 255 characters.
    #[error("repository name must not be more than 255 characters ({0:?})")]
    TooLong(String),
    /// The input is a bare 64-hex string, which would shadow an image ID.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexName(String),
    /// The digest part is malformed.
    #[error("invalid digest in reference {input:?}: {source}")]
    Digest {
        /// The whole input.
        input: String,
        /// The digest error.
        #[source]
        source: DigestError,
    },
}

impl ReferenceError {
    /// Every reference error is a caller mistake.
    pub fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::InvalidArgument
    }
}

/// A normalised Docker reference: domain, path, and an optional tag and digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// `ParseNormalizedNamed`: normalises the domain and `library/` prefix but
    /// adds no default tag.
    pub fn parse_normalized(s: &str) -> Result<Self, ReferenceError> {
        if crate::digest::is_sha256_hex(s) {
            return Err(ReferenceError::HexName(s.to_owned()));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote_name = match remainder.find(':') {
            Some(i) => &remainder[..i],
            None => &remainder,
        };
        if remote_name.to_lowercase() != remote_name {
            return Err(ReferenceError::Uppercase(remote_name.to_owned()));
        }
        parse_full(s, &domain, &remainder)
    }

    /// `ParseNormalizedNamed` + `TagNameOnly`: `busybox` becomes
    /// `docker.io/library/busybox:latest`. This is also [`FromStr`].
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        Ok(Self::parse_normalized(s)?.with_default_tag())
    }

    /// Adds `:latest` if the reference has neither tag nor digest.
    pub fn with_default_tag(mut self) -> Self {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_owned());
        }
        self
    }

    /// The same repository with another tag (validated) and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Self, ReferenceError> {
        if !is_tag(tag) {
            return Err(ReferenceError::InvalidFormat {
                input: tag.to_owned(),
                reason: "tag must match [\\w][\\w.-]{0,127}".to_owned(),
            });
        }
        Ok(Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: Some(tag.to_owned()),
            digest: None,
        })
    }

    /// The same repository pinned to `digest`, without a tag.
    pub fn with_digest(&self, digest: Digest) -> Self {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: Some(digest),
        }
    }

    /// The registry, e.g. `docker.io` or `localhost:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The full repository name, e.g. `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository name as Docker displays it: `busybox`, `user/app`,
    /// `localhost:5000/app`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_owned(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    /// The whole reference as Docker displays it: `busybox:latest`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        push_tag_digest(&mut s, self.tag.as_deref(), self.digest.as_ref());
        s
    }
}

fn push_tag_digest(s: &mut String, tag: Option<&str>, digest: Option<&Digest>) {
    if let Some(t) = tag {
        s.push(':');
        s.push_str(t);
    }
    if let Some(d) = digest {
        s.push('@');
        s.push_str(&d.to_string());
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        push_tag_digest(&mut s, self.tag.as_deref(), self.digest.as_ref());
        f.write_str(&s)
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

/// distribution/reference `splitDockerDomain`.
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.find('/') {
        Some(i)
            if {
                let first = &name[..i];
                first.contains(['.', ':']) || first == "localhost" || first.to_lowercase() != first
            } =>
        {
            (name[..i].to_owned(), name[i + 1..].to_owned())
        }
        _ => (DEFAULT_DOMAIN.to_owned(), name.to_owned()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_owned();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
    }
    (domain, remainder)
}

/// distribution/reference `Parse` of `domain + "/" + remainder`.
fn parse_full(input: &str, domain: &str, remainder: &str) -> Result<Reference, ReferenceError> {
    if input.is_empty() {
        return Err(ReferenceError::Empty);
    }
    let bad = |reason: &str| ReferenceError::InvalidFormat {
        input: input.to_owned(),
        reason: reason.to_owned(),
    };
    let (name_tag, digest) = match remainder.split_once('@') {
        Some((nt, d)) => (nt, Some(d)),
        None => (remainder, None),
    };
    let (path, tag) = match name_tag.rfind(':') {
        Some(i) if !name_tag[i + 1..].contains('/') => (&name_tag[..i], Some(&name_tag[i + 1..])),
        _ => (name_tag, None),
    };
    if !is_domain(domain) {
        return Err(bad(&format!("invalid registry domain {domain:?}")));
    }
    if path.is_empty() {
        return Err(bad("empty repository path"));
    }
    for component in path.split('/') {
        if !is_path_component(component) {
            if is_path_component(&component.to_lowercase()) {
                return Err(ReferenceError::Uppercase(path.to_owned()));
            }
            return Err(bad(&format!(
                "invalid repository path component {component:?}"
            )));
        }
    }
    if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(ReferenceError::TooLong(format!("{domain}/{path}")));
    }
    if let Some(t) = tag {
        if !is_tag(t) {
            return Err(bad(&format!("invalid tag {t:?}")));
        }
    }
    let digest = match digest {
        None => None,
        Some(d) => {
            if !is_digest_syntax(d) {
                return Err(bad(&format!("invalid digest {d:?}")));
            }
            Some(
                d.parse::<Digest>()
                    .map_err(|source| ReferenceError::Digest {
                        input: input.to_owned(),
                        source,
                    })?,
            )
        }
    };
    Ok(Reference {
        domain: domain.to_owned(),
        path: path.to_owned(),
        tag: tag.map(str::to_owned),
        digest,
    })
}

fn is_alnum_lower(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn is_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && is_alnum_lower(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        let sep_start = i;
        while i < b.len() && matches!(b[i], b'.' | b'_' | b'-') {
            i += 1;
        }
        let sep = &s[sep_start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
}

/// `host[:port]` where host is dns labels or a bracketed IPv6 address.
fn is_domain(s: &str) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return false;
        };
        let v6 = &rest[..end];
        if v6.is_empty() || !v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        let after = &rest[end + 1..];
        match after.strip_prefix(':') {
            Some(p) => (None, Some(p)),
            None if after.is_empty() => (None, None),
            None => return false,
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(s), None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    match host {
        None => true,
        Some(h) => h.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        }),
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `[\w][\w.-]{0,127}`
fn is_tag(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && is_word(b[0])
        && b[1..]
            .iter()
            .all(|c| is_word(*c) || *c == b'.' || *c == b'-')
}

/// `[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}` (go-digest syntax, before
/// the algorithm-specific check).
fn is_digest_syntax(s: &str) -> bool {
    let Some((alg, hex)) = s.split_once(':') else {
        return false;
    };
    let alg_ok = !alg.is_empty()
        && alg
            .split(['.', '+', '_', '-'])
            .all(|p| !p.is_empty() && p.bytes().all(is_alnum_lower));
    alg_ok
        && hex.len() >= 32
        && hex
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'=' || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn valid_references_normalise_like_docker() {
        // input, full normalised form (with TagNameOnly), familiar form
        let cases: Vec<(String, String, String)> = [
            (
                "busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "busybox:1.36",
                "docker.io/library/busybox:1.36",
                "busybox:1.36",
            ),
            (
                "library/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "docker.io/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "index.docker.io/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "docker.io/library/busybox:latest",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            ("user/app", "docker.io/user/app:latest", "user/app:latest"),
            ("user/app:v1", "docker.io/user/app:v1", "user/app:v1"),
            (
                "docker.io/library/a/b",
                "docker.io/library/a/b:latest",
                "library/a/b:latest",
            ),
            (
                "localhost/app",
                "localhost/app:latest",
                "localhost/app:latest",
            ),
            (
                "localhost:5000/app:v1",
                "localhost:5000/app:v1",
                "localhost:5000/app:v1",
            ),
            (
                "localhost:5000",
                "docker.io/library/localhost:5000",
                "localhost:5000",
            ),
            (
                "example.com/a/b",
                "example.com/a/b:latest",
                "example.com/a/b:latest",
            ),
            (
                "example.com:443/a/b:tag",
                "example.com:443/a/b:tag",
                "example.com:443/a/b:tag",
            ),
            (
                "192.168.1.1:5000/x",
                "192.168.1.1:5000/x:latest",
                "192.168.1.1:5000/x:latest",
            ),
            ("[::1]:5000/x:y", "[::1]:5000/x:y", "[::1]:5000/x:y"),
            ("[fe80::1]/x", "[fe80::1]/x:latest", "[fe80::1]/x:latest"),
            (
                "Example.com/app",
                "Example.com/app:latest",
                "Example.com/app:latest",
            ),
            ("Foo/bar", "Foo/bar:latest", "Foo/bar:latest"),
            (
                "a-b--c/d.e__f_g",
                "docker.io/a-b--c/d.e__f_g:latest",
                "a-b--c/d.e__f_g:latest",
            ),
            (
                "busybox:_tag",
                "docker.io/library/busybox:_tag",
                "busybox:_tag",
            ),
            (
                "busybox:Tag.1-x",
                "docker.io/library/busybox:Tag.1-x",
                "busybox:Tag.1-x",
            ),
            ("latest", "docker.io/library/latest:latest", "latest:latest"),
        ]
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .chain([
            (
                format!("example.com/a/b@{D}"),
                format!("example.com/a/b@{D}"),
                format!("example.com/a/b@{D}"),
            ),
            (
                format!("busybox@{D}"),
                format!("docker.io/library/busybox@{D}"),
                format!("busybox@{D}"),
            ),
            (
                format!("busybox:1.36@{D}"),
                format!("docker.io/library/busybox:1.36@{D}"),
                format!("busybox:1.36@{D}"),
            ),
            (
                format!("localhost:5000/a:t@{D}"),
                format!("localhost:5000/a:t@{D}"),
                format!("localhost:5000/a:t@{D}"),
            ),
        ])
        .collect();
        for (input, full, familiar) in cases {
            let r: Reference = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), full, "input {input:?}");
            assert_eq!(r.familiar(), familiar, "input {input:?}");
            let again: Reference = r.to_string().parse().unwrap();
            assert_eq!(again, r, "round trip of {input:?}");
        }
    }

    #[test]
    fn parts_are_exposed() {
        let r: Reference = format!("localhost:5000/team/app:v2@{D}").parse().unwrap();
        assert_eq!(r.domain(), "localhost:5000");
        assert_eq!(r.path(), "team/app");
        assert_eq!(r.tag(), Some("v2"));
        assert_eq!(r.digest().unwrap().to_string(), D);
        assert_eq!(r.name(), "localhost:5000/team/app");
        let n = Reference::parse_normalized("busybox").unwrap();
        assert_eq!(n.tag(), None);
        assert_eq!(n.familiar(), "busybox");
        assert_eq!(n.with_tag("v1").unwrap().familiar(), "busybox:v1");
        assert!(n.with_tag("-v1").is_err());
        let pinned = Reference::parse(&format!("busybox@{D}")).unwrap();
        assert_eq!(pinned.tag(), None, "a digest reference gets no default tag");
    }

    #[test]
    fn invalid_references_are_refused_with_a_reason() {
        let hex = &D[7..];
        let long = format!("{}/{}", "a".repeat(200), "b".repeat(60));
        let long_tag = format!("busybox:{}", "t".repeat(129));
        let cases: Vec<(String, String)> = vec![
            ("".into(), "repository name must have at least one component".into()),
            ("Busybox".into(), "invalid reference format: repository name (library/Busybox) must be lowercase".into()),
            ("user/App".into(), "invalid reference format: repository name (user/App) must be lowercase".into()),
            ("localhost:5000/App".into(), "invalid reference format: repository name (App) must be lowercase".into()),
            ("example.com/Team/app:v1".into(), "invalid reference format: repository name (Team/app) must be lowercase".into()),
            ("busybox:".into(), "invalid reference format \"busybox:\": invalid tag \"\"".into()),
            ("busybox:-x".into(), "invalid reference format \"busybox:-x\": invalid tag \"-x\"".into()),
            ("busybox:.x".into(), "invalid reference format \"busybox:.x\": invalid tag \".x\"".into()),
            ("busybox:a+b".into(), "invalid reference format \"busybox:a+b\": invalid tag \"a+b\"".into()),
            (long_tag.clone(), format!("invalid reference format {long_tag:?}: invalid tag \"{}\"", "t".repeat(129))),
            ("busy..box".into(), "invalid reference format \"busy..box\": invalid repository path component \"busy..box\"".into()),
            ("busy___box".into(), "invalid reference format \"busy___box\": invalid repository path component \"busy___box\"".into()),
            ("-busybox".into(), "invalid reference format \"-busybox\": invalid repository path component \"-busybox\"".into()),
            ("busybox-".into(), "invalid reference format \"busybox-\": invalid repository path component \"busybox-\"".into()),
            ("a//b".into(), "invalid reference format \"a//b\": invalid repository path component \"\"".into()),
            ("user/".into(), "invalid reference format \"user/\": invalid repository path component \"\"".into()),
            ("example.com/".into(), "invalid reference format \"example.com/\": empty repository path".into()),
            ("-bad.com/app".into(), "invalid reference format \"-bad.com/app\": invalid registry domain \"-bad.com\"".into()),
            ("bad.com:port/app".into(), "invalid reference format \"bad.com:port/app\": invalid registry domain \"bad.com:port\"".into()),
            ("foo_bar.com/app".into(), "invalid reference format \"foo_bar.com/app\": invalid registry domain \"foo_bar.com\"".into()),
            ("busybox@sha256:abc".into(), "invalid reference format \"busybox@sha256:abc\": invalid digest \"sha256:abc\"".into()),
            ("busybox@".into(), "invalid reference format \"busybox@\": invalid digest \"\"".into()),
            (hex.to_string(), format!("invalid repository name ({hex}), cannot specify 64-byte hexadecimal strings")),
            (
                format!("busybox@sha512:{hex}"),
                format!("invalid digest in reference \"busybox@sha512:{hex}\": unsupported digest algorithm \"sha512\" in \"sha512:{hex}\""),
            ),
            (
                format!("busybox@sha256:{}", hex.to_uppercase()),
                format!("invalid digest in reference \"busybox@sha256:{0}\": invalid digest \"sha256:{0}\": sha256 needs 64 lowercase hex characters", hex.to_uppercase()),
            ),
            (long.clone(), format!("repository name must not be more than 255 characters (\"docker.io/{long}\")")),
        ];
        for (input, msg) in cases {
            let err = Reference::parse(&input).expect_err(&input);
            assert_eq!(err.to_string(), msg, "input {input:?}");
            assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
        }
    }
}
