//! Pumping a hijacked attach/exec connection between the daemon and our stdio.
//!
//! Order matters, as Docker's CLI does it: when we have no stdin to send we half-close our
//! write side at once, so the daemon sees EOF; with stdin we half-close after stdin's EOF;
//! output keeps flowing after either. Without a TTY the daemon multiplexes stdout and
//! stderr (bollard decodes the 8-byte frames here; [`Demux`] does it for `logs`, which
//! reads the body itself); with a TTY the bytes are raw and go to stdout. With a TTY, the detach sequence ctrl-p ctrl-q is caught client-side: we stop
//! forwarding and leave the container running.
//!
//! Stdin is read on a plain thread (a blocked read must not keep the runtime alive), and
//! the thread is simply abandoned when the stream ends.

use anyhow::{anyhow, Result};
use bollard::container::LogOutput;
use bytes::BytesMut;
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

/// Docker's multiplexed framing (its `stdcopy`), decoded as the body arrives: push each
/// chunk, then take out the whole frames. A frame is an 8-byte header `[stream, 0, 0, 0,
/// length as u32 big-endian]` and `length` bytes; a frame may be split across chunks, so
/// the rest waits in the buffer. A partial frame left at the end is dropped, as Docker's
/// `StdCopy` does.
#[derive(Debug, Default)]
pub struct Demux {
    buf: BytesMut,
}

impl Demux {
    /// Append a chunk of the body.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next whole frame, if one is buffered. Stdin (0) and stdout (1) go to stdout,
    /// stderr (2) to stderr; a system error (3) or an unknown stream is an error.
    pub fn next_frame(&mut self) -> Result<Option<LogOutput>> {
        const HEADER: usize = 8;
        if self.buf.len() < HEADER {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]);
        let len = usize::try_from(len)?;
        if self.buf.len() < HEADER + len {
            return Ok(None);
        }
        let stream = self.buf[0];
        let _ = self.buf.split_to(HEADER);
        let message = self.buf.split_to(len).freeze();
        match stream {
            0 | 1 => Ok(Some(LogOutput::StdOut { message })),
            2 => Ok(Some(LogOutput::StdErr { message })),
            3 => Err(anyhow!(
                "error from daemon in stream: {}",
                String::from_utf8_lossy(&message)
            )),
            n => Err(anyhow!("Unrecognized input header: {n}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
        let mut v = vec![stream, 0, 0, 0];
        v.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        v.extend_from_slice(data);
        v
    }

    fn drain(d: &mut Demux) -> Vec<LogOutput> {
        let mut out = Vec::new();
        while let Some(f) = d.next_frame().unwrap() {
            out.push(f);
        }
        out
    }

    #[test]
    fn demux_frames_split_across_chunks() {
        let mut body = frame(1, b"out\n");
        body.extend(frame(2, b"err\n"));
        body.extend(frame(1, b""));
        body.extend(frame(1, b"tail"));
        // Every split point, byte by byte and in two halves, gives the same frames.
        for at in 0..=body.len() {
            let mut d = Demux::default();
            let mut got = Vec::new();
            d.push(&body[..at]);
            got.extend(drain(&mut d));
            d.push(&body[at..]);
            got.extend(drain(&mut d));
            assert_eq!(
                got,
                vec![
                    LogOutput::StdOut {
                        message: "out\n".into()
                    },
                    LogOutput::StdErr {
                        message: "err\n".into()
                    },
                    LogOutput::StdOut { message: "".into() },
                    LogOutput::StdOut {
                        message: "tail".into()
                    },
                ],
                "split at {at}"
            );
        }
        let mut d = Demux::default();
        for b in &body {
            d.push(std::slice::from_ref(b));
        }
        assert_eq!(drain(&mut d).len(), 4);
    }

    #[test]
    fn demux_partial_frame_waits_and_bad_stream_fails() {
        let mut d = Demux::default();
        d.push(&frame(1, b"abc")[..9]);
        assert!(d.next_frame().unwrap().is_none());
        let mut d = Demux::default();
        d.push(&frame(3, b"boom"));
        assert_eq!(
            d.next_frame().unwrap_err().to_string(),
            "error from daemon in stream: boom"
        );
        let mut d = Demux::default();
        d.push(&frame(7, b"x"));
        assert!(d.next_frame().is_err());
    }
}
