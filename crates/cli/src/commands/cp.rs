//! `berth cp`: copy between a container and the local filesystem through the archive
//! endpoints, with Docker's path rules.
//!
//! From a container: GET the tar of SRC; into an existing local directory the entries
//! keep their names, otherwise the root entry is renamed to DEST. To a container: HEAD
//! DEST to learn whether it is a directory; if it is, the tar's root is SRC's basename
//! and it goes into DEST, otherwise the root is DEST's basename and the tar goes into
//! DEST's parent (`noOverwriteDirNonDir=true`, as Docker sends it). `-` means a tar on
//! stdin/stdout, passed through untouched.
//!
//! Extraction is done entry by entry with paths checked for `..` and absolute
//! components, so a hostile archive cannot write outside the destination.

use crate::client::{status_err, Ctx};
use crate::format::human_size;
use anyhow::{Context as _, Result};
use bollard::query_parameters::{
    ContainerArchiveInfoOptions, DownloadFromContainerOptions, UploadToContainerOptions,
};
use clap::Args;
use futures_util::StreamExt;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

#[derive(Args, Debug)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(value_name = "SRC_PATH")]
    pub src: String,
    #[arg(value_name = "DEST_PATH")]
    pub dest: String,
}

/// A cp argument: a local path, or CONTAINER:PATH.
#[derive(Debug, PartialEq, Eq)]
pub enum Loc {
    Local(String),
    Container(String, String),
}

/// Docker's `splitCpArg`: absolute or dot-relative paths are local; otherwise a colon
/// separates the container from the path.
pub fn split_arg(a: &str) -> Loc {
    if a.starts_with('/') || a.starts_with('.') {
        return Loc::Local(a.to_string());
    }
    match a.split_once(':') {
        Some((c, p)) if !c.is_empty() => Loc::Container(c.to_string(), p.to_string()),
        _ => Loc::Local(a.to_string()),
    }
}

pub async fn run(ctx: &Ctx, args: CpArgs) -> Result<u8> {
    match (split_arg(&args.src), split_arg(&args.dest)) {
        (Loc::Container(c, p), Loc::Local(d)) => from_container(ctx, &c, &p, &d, args.quiet).await,
        (Loc::Local(s), Loc::Container(c, p)) => {
            to_container(ctx, &s, &c, &p, args.quiet, args.archive).await
        }
        (Loc::Container(..), Loc::Container(..)) => {
            Err(status_err(1, "copying between containers is not supported"))
        }
        (Loc::Local(..), Loc::Local(..)) => {
            Err(status_err(1, "must specify at least one container source"))
        }
    }
}

async fn from_container(ctx: &Ctx, ctr: &str, path: &str, dest: &str, quiet: bool) -> Result<u8> {
    let mut s = ctx.docker.download_from_container(
        ctr,
        Some(DownloadFromContainerOptions {
            path: path.to_string(),
        }),
    );
    if dest == "-" {
        let mut out = std::io::stdout().lock();
        while let Some(chunk) = s.next().await {
            out.write_all(&chunk?)?;
        }
        out.flush()?;
        return Ok(0);
    }
    let mut buf = Vec::new();
    while let Some(chunk) = s.next().await {
        buf.extend_from_slice(&chunk?);
    }
    let dest_path = Path::new(dest);
    let contents_only = path.ends_with("/.");
    let (target_dir, rename) = if dest_path.is_dir() {
        (dest_path.to_path_buf(), None)
    } else {
        if dest.ends_with('/') {
            return Err(status_err(
                1,
                format!("destination directory {dest} must exist"),
            ));
        }
        let parent = dest_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(status_err(
                1,
                format!("lstat {}: no such file or directory", parent.display()),
            ));
        }
        let base = dest_path
            .file_name()
            .map(|b| b.to_string_lossy().to_string())
            .unwrap_or_default();
        (parent.to_path_buf(), Some(base))
    };
    let size = buf.len();
    let rename = if contents_only && dest_path.is_dir() {
        None
    } else {
        rename
    };
    extract(
        &buf,
        &target_dir,
        rename.as_deref(),
        contents_only && dest_path.is_dir(),
    )?;
    if !quiet && stderr_is_tty() {
        eprintln!(
            "Successfully copied {} to {}",
            human_size(size as f64),
            dest
        );
    }
    Ok(0)
}

/// Unpack `tar` under `dir`, renaming the first path component to `rename` if given,
/// or dropping it when `strip_root` (copying a directory's contents).
fn extract(tar_bytes: &[u8], dir: &Path, rename: Option<&str>, strip_root: bool) -> Result<()> {
    let mut ar = tar::Archive::new(tar_bytes);
    ar.set_preserve_permissions(true);
    ar.set_preserve_mtime(true);
    ar.set_overwrite(true);
    for entry in ar.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_path_buf();
        // A tar of "dir/." is already rooted at "."; only strip a named root.
        let rooted_at_dot = matches!(path.components().next(), Some(Component::CurDir));
        let mut comps: Vec<String> = Vec::new();
        for c in path.components() {
            match c {
                Component::Normal(n) => comps.push(n.to_string_lossy().to_string()),
                Component::CurDir => {}
                _ => {
                    return Err(status_err(
                        1,
                        format!("invalid path in archive: {}", path.display()),
                    ))
                }
            }
        }
        if comps.is_empty() {
            continue;
        }
        if strip_root && !rooted_at_dot {
            comps.remove(0);
            if comps.is_empty() {
                continue;
            }
        } else if let Some(r) = rename {
            comps[0] = r.to_string();
        }
        let target: PathBuf = comps.iter().fold(dir.to_path_buf(), |p, c| p.join(c));
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if entry.header().entry_type().is_dir() && target.is_dir() {
            continue;
        }
        entry
            .unpack(&target)
            .with_context(|| format!("failed to extract {}", target.display()))?;
    }
    Ok(())
}

async fn to_container(
    ctx: &Ctx,
    src: &str,
    ctr: &str,
    path: &str,
    quiet: bool,
    archive: bool,
) -> Result<u8> {
    let copy_uidgid = archive.then(|| "true".to_string());
    if src == "-" {
        let mut data = Vec::new();
        std::io::stdin().lock().read_to_end(&mut data)?;
        ctx.docker
            .upload_to_container(
                ctr,
                Some(UploadToContainerOptions {
                    path: path.to_string(),
                    no_overwrite_dir_non_dir: Some("true".into()),
                    copy_uidgid,
                }),
                bollard::body_full(data.into()),
            )
            .await?;
        return Ok(0);
    }
    let src_path = Path::new(src);
    let meta = std::fs::symlink_metadata(src_path)
        .map_err(|_| status_err(1, format!("lstat {src}: no such file or directory")))?;
    let stat = ctx
        .docker
        .get_container_archive_info(
            ctr,
            Some(ContainerArchiveInfoOptions {
                path: path.to_string(),
            }),
        )
        .await;
    let (exists, dest_is_dir) = match stat {
        // Go's os.ModeDir is the top bit of the mode.
        Ok(s) => (true, s.file_mode & (1 << 31) != 0),
        // A HEAD 404 has no body: tell a missing path from a missing container.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {
            ctx.docker.inspect_container(ctr, None).await?;
            (false, false)
        }
        Err(e) => return Err(e.into()),
    };
    let contents_only = src.ends_with("/.") && meta.is_dir();
    let (upload_dir, root_name) = if exists && dest_is_dir {
        let base = if contents_only {
            ".".to_string()
        } else {
            src_path
                .file_name()
                .map(|b| b.to_string_lossy().to_string())
                .unwrap_or_else(|| ".".into())
        };
        (path.to_string(), base)
    } else {
        if exists && meta.is_dir() {
            return Err(status_err(1, "cannot copy directory to a file"));
        }
        if !exists && path.ends_with('/') {
            return Err(status_err(
                1,
                format!(
                    "Error response from daemon: Could not find the file {path} in container {ctr}"
                ),
            ));
        }
        let trimmed = path.trim_end_matches('/');
        let (parent, base) = match trimmed.rsplit_once('/') {
            Some(("", b)) => ("/".to_string(), b.to_string()),
            Some((p, b)) => (p.to_string(), b.to_string()),
            None => (".".to_string(), trimmed.to_string()),
        };
        (parent, base)
    };
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    if meta.is_dir() {
        b.append_dir_all(&root_name, src_path)?;
    } else {
        b.append_path_with_name(src_path, &root_name)?;
    }
    let data = b.into_inner()?;
    let size = data.len();
    ctx.docker
        .upload_to_container(
            ctr,
            Some(UploadToContainerOptions {
                path: upload_dir,
                no_overwrite_dir_non_dir: Some("true".into()),
                copy_uidgid,
            }),
            bollard::body_full(data.into()),
        )
        .await?;
    if !quiet && stderr_is_tty() {
        eprintln!(
            "Successfully copied {} to {ctr}:{path}",
            human_size(size as f64)
        );
    }
    Ok(0)
}

/// Docker reports "Successfully copied" only to a terminal.
fn stderr_is_tty() -> bool {
    use std::os::fd::AsFd;
    rustix::termios::isatty(std::io::stderr().as_fd())
}
