//! The byte pipeline under the tar parser: decompression, hashing, and a bound on
//! extended headers.
//!
//! A layer's diff id is the sha256 of the *uncompressed* tar, so the hash sits right
//! above the decompressor and sees every byte, including the end-of-archive blocks and
//! any trailing padding (the caller drains the stream after the last entry). Compression
//! is detected from the first bytes rather than trusted from a media type: registries
//! and `docker save` archives mislabel layers often enough that containerd sniffs too.
//!
//! The tar crate buffers GNU long names and PAX records whole in memory, so a small
//! gzip bomb could claim a multi-gigabyte "file name". [`Guard`] caps what the parser
//! may read while it is looking for the next entry; file data is read (and drained) by
//! the caller outside that window, unbounded.

use std::cell::Cell;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::rc::Rc;

use sha2::{Digest, Sha256};

/// Compression of a layer blob, as found from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        })
    }
}

/// Tells the compression of a stream from its first bytes (at least 4 for zstd).
///
/// `1f 8b` is gzip (RFC 1952), `28 b5 2f fd` is a zstd frame (RFC 8878); anything else
/// is taken as a plain tar.
pub fn detect(magic: &[u8]) -> Compression {
    if magic.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Size of the buffer between the raw (compressed) reader and the decompressor.
const INPUT_BUFFER: usize = 1 << 20;

/// Sniffs the compression of `reader` and returns a reader of the uncompressed bytes.
pub(crate) fn decompress<'r>(
    mut reader: impl Read + 'r,
) -> io::Result<(Box<dyn Read + 'r>, Compression)> {
    let mut magic = [0u8; 4];
    let mut got = 0;
    while got < magic.len() {
        match reader.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let compression = detect(&magic[..got]);
    let input = BufReader::with_capacity(
        INPUT_BUFFER,
        io::Cursor::new(magic).take(got as u64).chain(reader),
    );
    let out: Box<dyn Read + 'r> = match compression {
        Compression::None => Box::new(input),
        // Multi-member gzip is valid gzip; Go's reader (and thus Docker) accepts it.
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
    };
    Ok((out, compression))
}

/// What the pipeline saw, shared between the readers and the code that classifies errors.
#[derive(Default)]
pub(crate) struct Flags {
    /// The decompressor (or raw input) returned an error.
    pub stream_failed: Cell<bool>,
    /// Bytes the parser may still read before the next entry; `None` when unbounded.
    pub budget: Cell<Option<u64>>,
    /// The parser went over its budget.
    pub over_budget: Cell<bool>,
}

/// Hashes and counts everything read through it.
pub(crate) struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
    flags: Rc<Flags>,
}

impl<R: Read> Hashing<R> {
    pub fn new(inner: R, flags: Rc<Flags>) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            size: 0,
            flags,
        }
    }

    /// Returns `sha256:<hex>` and the number of bytes seen.
    pub fn finish(self) -> (String, u64) {
        let digest = self.hasher.finalize();
        (format!("sha256:{}", hex::encode(digest)), self.size)
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.hasher.update(&buf[..n]);
                self.size += n as u64;
                Ok(n)
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.flags.stream_failed.set(true);
                }
                Err(e)
            }
        }
    }
}

/// Limits how much the tar parser reads while a budget is set (see the module docs).
pub(crate) struct Guard<R> {
    inner: R,
    flags: Rc<Flags>,
}

impl<R: BufRead> Guard<R> {
    pub fn new(inner: R, flags: Rc<Flags>) -> Self {
        Guard { inner, flags }
    }

    /// Reads and discards the rest of the stream, so that the hash covers all of it.
    pub fn drain(mut self) -> io::Result<R> {
        io::copy(&mut self.inner, &mut io::sink())?;
        Ok(self.inner)
    }
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(left) = self.flags.budget.get() else {
            return self.inner.read(buf);
        };
        if left == 0 && !buf.is_empty() {
            self.flags.over_budget.set(true);
            return Err(io::Error::other("tar extended header too large"));
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.flags.budget.set(Some(left - n as u64));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_magic() {
        assert_eq!(detect(&[0x1f, 0x8b, 0x08, 0x00]), Compression::Gzip);
        assert_eq!(detect(&[0x1f, 0x8b]), Compression::Gzip);
        assert_eq!(detect(&[0x28, 0xb5, 0x2f, 0xfd, 0x00]), Compression::Zstd);
        assert_eq!(detect(&[0x28, 0xb5, 0x2f]), Compression::None);
        assert_eq!(detect(b"usr/"), Compression::None);
        assert_eq!(detect(&[0x1f]), Compression::None);
        assert_eq!(detect(&[]), Compression::None);
    }

    #[test]
    fn decompress_round_trips_each_format() {
        let data = b"hello layer".repeat(1000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &data).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&data[..], 1).unwrap();
        for (input, want) in [
            (&data[..], Compression::None),
            (&gz[..], Compression::Gzip),
            (&zst[..], Compression::Zstd),
        ] {
            let (mut r, c) = decompress(input).unwrap();
            assert_eq!(c, want);
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, data);
        }
        // Shorter than any magic.
        let (mut r, c) = decompress(&b"ab"[..]).unwrap();
        assert_eq!(c, Compression::None);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"ab");
    }

    #[test]
    fn guard_stops_at_budget() {
        let flags = Rc::new(Flags::default());
        let mut g = Guard::new(&[7u8; 100][..], flags.clone());
        flags.budget.set(Some(10));
        let mut buf = [0u8; 64];
        assert_eq!(g.read(&mut buf).unwrap(), 10);
        assert!(g.read(&mut buf).is_err());
        assert!(flags.over_budget.get());
        flags.budget.set(None);
        assert_eq!(g.read(&mut buf).unwrap(), 64);
    }
}
