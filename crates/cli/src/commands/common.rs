//! Steps several commands share: creating a container (pulling the image when the daemon
//! says it is missing, as Docker's CLI does), resizing a TTY now and on SIGWINCH, and
//! reading a wait response whatever bollard made of it.

use crate::client::{status_err, Ctx};
use crate::commands::container_opts::Resolved;
use anyhow::Result;
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ResizeContainerTTYOptions, ResizeExecOptions,
};
use futures_util::StreamExt;

/// Split "name[:tag]" (or "name@digest") into the pull parameters.
pub fn split_ref(image: &str) -> (String, String) {
    if let Some((n, d)) = image.split_once('@') {
        return (n.to_string(), d.to_string());
    }
    match image.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n.to_string(), t.to_string()),
        _ => (image.to_string(), "latest".to_string()),
    }
}

/// Pull an image, printing Docker's progress lines to stderr.
pub async fn pull(ctx: &Ctx, image: &str) -> Result<()> {
    let (name, tag) = split_ref(image);
    let opts = CreateImageOptions {
        from_image: Some(name),
        tag: Some(tag),
        ..Default::default()
    };
    let mut s = ctx.docker.create_image(Some(opts), None, None);
    while let Some(item) = s.next().await {
        let info = item?;
        if let Some(status) = info.status {
            match info.id {
                Some(id) if !status.starts_with("Digest") && !status.starts_with("Status") => {
                    eprintln!("{id}: {status}")
                }
                _ => eprintln!("{status}"),
            }
        }
    }
    Ok(())
}

/// Create the container; on "No such image" pull it and try again.
pub async fn create(ctx: &Ctx, r: &Resolved) -> Result<String> {
    let opts = CreateContainerOptions {
        name: r.name.clone(),
        ..Default::default()
    };
    if r.pull == "always" {
        pull(ctx, &r.image).await?;
    }
    let res = ctx
        .docker
        .create_container(Some(opts.clone()), r.body.clone())
        .await;
    let res = match res {
        Err(e) if is_404(&e) && r.pull != "never" => {
            let full = if r.image.contains(':') || r.image.contains('@') {
                r.image.clone()
            } else {
                format!("{}:latest", r.image)
            };
            eprintln!("Unable to find image '{full}' locally");
            pull(ctx, &r.image).await?;
            ctx.docker
                .create_container(Some(opts), r.body.clone())
                .await
        }
        other => other,
    };
    let res = res?;
    for w in res.warnings {
        eprintln!("WARNING: {w}");
    }
    Ok(res.id)
}

fn is_404(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError { status_code: 404, message }
            if message.contains("No such image") || message.contains("no such image")
    )
}

/// What to resize.
#[derive(Clone)]
pub enum ResizeTarget {
    Container(String),
    Exec(String),
}

async fn resize_once(ctx: &Ctx, target: &ResizeTarget) -> Result<()> {
    let Some((h, w)) = crate::tty::size() else {
        return Ok(());
    };
    match target {
        ResizeTarget::Container(id) => {
            ctx.docker
                .resize_container_tty(
                    id,
                    ResizeContainerTTYOptions {
                        h: h as i32,
                        w: w as i32,
                    },
                )
                .await?
        }
        ResizeTarget::Exec(id) => {
            ctx.docker
                .resize_exec(
                    id,
                    ResizeExecOptions {
                        h: h as i32,
                        w: w as i32,
                    },
                )
                .await?
        }
    }
    Ok(())
}

/// Resize now (retrying briefly, as the process may not be up yet) and on every SIGWINCH.
pub fn spawn_resizer(ctx: &Ctx, target: ResizeTarget) -> tokio::task::JoinHandle<()> {
    let docker = ctx.docker.clone();
    let host = ctx.host.clone();
    tokio::spawn(async move {
        let ctx = Ctx { docker, host };
        for _ in 0..5 {
            if resize_once(&ctx, &target).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let Ok(mut sig) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while sig.recv().await.is_some() {
            let _ = resize_once(&ctx, &target).await;
        }
    })
}

/// The exit status in a wait response (bollard turns non-zero codes into errors).
pub fn wait_status(
    item: Option<Result<bollard::models::ContainerWaitResponse, bollard::errors::Error>>,
) -> Result<i64> {
    match item {
        Some(Ok(r)) => {
            if let Some(msg) = r.error.and_then(|e| e.message).filter(|m| !m.is_empty()) {
                if r.status_code == 0 {
                    return Err(status_err(125, msg));
                }
            }
            Ok(r.status_code)
        }
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(e.into()),
        None => Err(status_err(125, "wait: the daemon closed the connection")),
    }
}

/// Convert an exit status to a process exit code.
pub fn exit_byte(code: i64) -> u8 {
    (code & 0xff) as u8
}
