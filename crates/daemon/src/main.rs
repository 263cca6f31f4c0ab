#![recursion_limit = "512"]
//! `berthd`: the Docker Engine API on Unix sockets over berth's image store,
//! shims and runtime. See ARCHITECTURE.md for how a `run` flows through it.

mod api;
mod config;
mod container;
mod daemon;
mod error;
mod events;
mod logs;
mod network;
mod rootfs;
mod volume;

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::Parser;
use hyper_util::rt::TokioIo;
use tower::ServiceExt;

use crate::config::{Config, Flags};
use crate::daemon::Daemon;

fn main() -> ExitCode {
    let flags = Flags::parse();
    if flags.print_seccomp_profile {
        let caps: Vec<String> = container::spec::DEFAULT_CAPS
            .iter()
            .map(|c| c.to_string())
            .collect();
        let host = container::seccomp::Host::current();
        let profile = container::seccomp::default_profile(&caps, &host);
        let _ = writeln!(std::io::stdout(), "{profile}");
        return ExitCode::SUCCESS;
    }
    let config = match Config::load(flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berthd: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let filter = if config.debug { "debug" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berthd: failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berthd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    for dir in [&config.data_root, &config.exec_root] {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
    }
    if let Some(p) = &config.pidfile {
        std::fs::write(p, format!("{}\n", std::process::id()))
            .with_context(|| format!("failed to write the pid file {}", p.display()))?;
    }
    let images = berth_image::ImageStore::open(config.data_root.join("image"))
        .context("failed to open the image store")?;
    let snapshotter =
        berth_image::snapshot::OverlaySnapshotter::new(&config.data_root.join("snapshots"))
            .context("failed to open the snapshotter")?;
    let id_path = config.data_root.join("engine-id");
    let id = match std::fs::read_to_string(&id_path) {
        Ok(s) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => {
            let id = daemon::random_id();
            let _ = daemon::write_atomic(&id_path, id.as_bytes());
            id
        }
    };
    let daemon = Arc::new(Daemon {
        config: config.clone(),
        images: Arc::new(images),
        snapshotter: Arc::new(snapshotter),
        events: Default::default(),
        containers: Mutex::new(HashMap::new()),
        execs: Mutex::new(HashMap::new()),
        unpack_lock: tokio::sync::Mutex::new(()),
        volumes: Arc::new(
            volume::VolumeStore::load(config.data_root.join("volumes"))
                .map_err(|e| anyhow::anyhow!("failed to load volumes: {e}"))?,
        ),
        networks: Arc::new(
            network::NetworkStore::load(
                config.data_root.join("network"),
                config.address_pools.clone(),
                &config.bridge,
                config.bip.as_deref(),
            )
            .map_err(|e| anyhow::anyhow!("failed to load networks: {e}"))?,
        ),
        net: container::net::NetState::new(
            container::net::make_firewall(config.iptables, &config.firewall_name()),
            upstream_resolvers(&config),
        ),
        id,
    });
    // Bridges and forwarding before any container comes back.
    {
        let d = daemon.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            for n in d.networks.list() {
                d.bridge_up(&n)
                    .map_err(|e| anyhow::anyhow!("failed to set up network {}: {e}", n.name))?;
            }
            if d.config.ip_forward {
                let p = "/proc/sys/net/ipv4/ip_forward";
                if std::fs::read_to_string(p).is_ok_and(|v| v.trim() == "0") {
                    tracing::info!(
                        "enabling IPv4 forwarding (ip-forward: false in daemon.json leaves it off)"
                    );
                    let _ = std::fs::write(p, "1");
                }
            }
            Ok(())
        })
        .await??;
    }
    daemon
        .restore()
        .await
        .map_err(|e| anyhow::anyhow!("failed to restore containers: {e}"))?;
    {
        let d = daemon.clone();
        tokio::task::spawn_blocking(move || d.sync_firewall())
            .await?
            .map_err(|e| anyhow::anyhow!("failed to program the firewall: {e}"))?;
    }

    let app = api::router(daemon.clone());
    let mut listeners = Vec::new();
    for path in &config.hosts {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("failed to create {}", parent.display()))?;
        }
        let _ = std::fs::remove_file(path);
        let l = tokio::net::UnixListener::bind(path)
            .with_context(|| format!("failed to listen on {}", path.display()))?;
        tracing::info!("API listening on {}", path.display());
        listeners.push(l);
    }
    for l in listeners {
        let app = app.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = l.accept().await else {
                    continue;
                };
                let app = app.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let app = app.clone();
                            async move {
                                let req = req.map(axum::body::Body::new);
                                let resp = match api::rewrite(req) {
                                    Ok(req) => {
                                        app.oneshot(req).await.unwrap_or_else(|e| match e {})
                                    }
                                    Err(resp) => *resp,
                                };
                                Ok::<_, std::convert::Infallible>(resp)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .half_close(true)
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades()
                        .await;
                });
            }
        });
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    if config.live_restore {
        tracing::info!("shutting down; containers keep running (live restore)");
    } else {
        tracing::info!("shutting down; stopping containers (live-restore is off)");
        daemon.stop_all().await;
    }
    let d = daemon.clone();
    let _ = tokio::task::spawn_blocking(move || d.unmount_idle_volumes()).await;
    for path in &config.hosts {
        let _ = std::fs::remove_file(path);
    }
    if let Some(p) = &config.pidfile {
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}

/// Where the embedded DNS forwards names that are not containers': `dns` of
/// daemon.json, else the host's resolvers.
fn upstream_resolvers(config: &config::Config) -> Vec<std::net::SocketAddr> {
    if !config.dns.is_empty() {
        return config
            .dns
            .iter()
            .filter_map(|s| {
                s.parse::<std::net::IpAddr>()
                    .ok()
                    .map(|ip| std::net::SocketAddr::new(ip, 53))
                    .or_else(|| s.parse().ok())
            })
            .collect();
    }
    berth_network::dns::nameservers(
        &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
    )
}
