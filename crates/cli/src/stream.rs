//! Pumping a hijacked attach/exec connection between the daemon and our stdio.
//!
//! Order matters, as Docker's CLI does it: when we have no stdin to send we half-close our
//! write side at once, so the daemon sees EOF; with stdin we half-close after stdin's EOF;
//! output keeps flowing after either. Without a TTY the daemon multiplexes stdout and
//! stderr (bollard decodes the 8-byte frames); with a TTY the bytes are raw and go to
//! stdout. With a TTY, the detach sequence ctrl-p ctrl-q is caught client-side: we stop
//! forwarding and leave the container running.
//!
//! Stdin is read on a plain thread (a blocked read must not keep the runtime alive), and
//! the thread is simply abandoned when the stream ends.

use anyhow::Result;
use bollard::container::LogOutput;
use futures_util::{Stream, StreamExt};
use std::io::{Read, Write};
use std::pin::Pin;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// How a pump ended.
#[derive(Debug, PartialEq, Eq)]
pub enum PumpEnd {
    /// The daemon closed the output stream.
    Eof,
    /// The user typed the detach sequence.
    Detached,
}

/// The detach sequence: ctrl-p ctrl-q.
const DETACH: [u8; 2] = [0x10, 0x11];

type Output = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;
type Input = Pin<Box<dyn AsyncWrite + Send>>;

/// Pump until the output ends or the user detaches.
pub async fn pump(
    mut output: Output,
    mut input: Input,
    send_stdin: bool,
    tty: bool,
) -> Result<PumpEnd> {
    let (detach_tx, mut detach_rx) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(async move {
        if !send_stdin {
            let _ = input.shutdown().await;
            return;
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 4096];
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.blocking_send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let mut pending_ctrl_p = false;
        let mut detach_tx = Some(detach_tx);
        while let Some(mut chunk) = rx.recv().await {
            if tty {
                let mut out = Vec::with_capacity(chunk.len() + 1);
                if pending_ctrl_p {
                    if chunk.first() == Some(&DETACH[1]) {
                        if let Some(t) = detach_tx.take() {
                            let _ = t.send(());
                        }
                        return;
                    }
                    out.push(DETACH[0]);
                    pending_ctrl_p = false;
                }
                let mut i = 0;
                while i < chunk.len() {
                    if chunk[i] == DETACH[0] {
                        match chunk.get(i + 1) {
                            Some(&b) if b == DETACH[1] => {
                                let _ = input.write_all(&out).await;
                                if let Some(t) = detach_tx.take() {
                                    let _ = t.send(());
                                }
                                return;
                            }
                            None => {
                                pending_ctrl_p = true;
                                i += 1;
                                continue;
                            }
                            _ => {}
                        }
                    }
                    out.push(chunk[i]);
                    i += 1;
                }
                chunk = out;
            }
            if input.write_all(&chunk).await.is_err() {
                return;
            }
            let _ = input.flush().await;
        }
        let _ = input.shutdown().await;
    });

    let end = loop {
        tokio::select! {
            item = output.next() => match item {
                None => break PumpEnd::Eof,
                Some(Err(e)) => {
                    writer.abort();
                    return Err(e.into());
                }
                Some(Ok(msg)) => write_output(msg)?,
            },
            r = &mut detach_rx => {
                if r.is_ok() {
                    break PumpEnd::Detached;
                }
                // The writer finished without detaching: keep reading output only.
                loop {
                    match output.next().await {
                        None => break,
                        Some(Err(e)) => return Err(e.into()),
                        Some(Ok(msg)) => write_output(msg)?,
                    }
                }
                break PumpEnd::Eof;
            }
        }
    };
    writer.abort();
    Ok(end)
}

/// Write one frame to the matching local stream.
pub fn write_output(msg: LogOutput) -> Result<()> {
    match msg {
        LogOutput::StdErr { message } => {
            let mut e = std::io::stderr().lock();
            e.write_all(&message)?;
            e.flush()?;
        }
        LogOutput::StdOut { message } | LogOutput::Console { message } => {
            let mut o = std::io::stdout().lock();
            o.write_all(&message)?;
            o.flush()?;
        }
        LogOutput::StdIn { .. } => {}
    }
    Ok(())
}
