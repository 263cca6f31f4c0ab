//! Lexical cleaning of tar member names.
//!
//! A name is cleaned as if joined onto `/` (Go's `filepath.Join("/", name)`, which is
//! what containerd does before anything touches the disk): leading `/` and `./` go,
//! empty and `.` components go, and `..` removes the component before it or, at the
//! top, nothing — it is clamped at the root instead of escaping it. The result is a
//! relative path of plain components, `""` meaning the root itself.
//!
//! Cleaning is only the first line of defence: symlinks inside the target can still
//! point anywhere, which is why every path is then *resolved* by the kernel with
//! `RESOLVE_IN_ROOT` (see `root.rs`).

/// Cleans a tar name (see the module docs). Bytes, not `str`: Linux paths need not be UTF-8.
pub(crate) fn clean(name: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(name.len());
    for comp in name.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                let cut = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
                out.truncate(cut);
            }
            _ => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(comp);
            }
        }
    }
    out
}

/// Splits a cleaned path into its parent (maybe `""`) and its last component.
pub(crate) fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}

/// Joins a cleaned parent and one component.
pub(crate) fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parent.len() + 1 + name.len());
    out.extend_from_slice(parent);
    if !parent.is_empty() {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        String::from_utf8(clean(s.as_bytes())).unwrap()
    }

    #[test]
    fn cleans_like_join_onto_root() {
        assert_eq!(c("usr/bin/ls"), "usr/bin/ls");
        assert_eq!(c("./usr/bin/"), "usr/bin");
        assert_eq!(c("/etc/passwd"), "etc/passwd");
        assert_eq!(c("//a//b/./c/"), "a/b/c");
        assert_eq!(c("./"), "");
        assert_eq!(c("/"), "");
        assert_eq!(c("."), "");
        assert_eq!(c("../../etc/x"), "etc/x");
        assert_eq!(c("a/../../b"), "b");
        assert_eq!(c("a/b/../c"), "a/c");
        assert_eq!(c("a/b/.."), "a");
        assert_eq!(c(".."), "");
        assert_eq!(c("..."), "...");
        assert_eq!(c("a/.wh...b"), "a/.wh...b");
    }

    #[test]
    fn splits_and_joins() {
        assert_eq!(split(b"a/b/c"), (&b"a/b"[..], &b"c"[..]));
        assert_eq!(split(b"c"), (&b""[..], &b"c"[..]));
        assert_eq!(split(b""), (&b""[..], &b""[..]));
        assert_eq!(join(b"", b"x"), b"x");
        assert_eq!(join(b"a/b", b"x"), b"a/b/x");
    }
}
