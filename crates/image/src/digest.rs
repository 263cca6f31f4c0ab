//! Content digests: the names of everything in the content store.
//!
//! Every blob is addressed by `sha256:<64 lowercase hex>`. Only sha256 is
//! accepted: it is what Docker, containerd and every registry produce, and a
//! store that accepted several algorithms would have to hold several names
//! for the same bytes. Parsing is strict (lowercase hex, exact length) so that
//! a digest string doubles as a safe file name under `blobs/sha256/`.
//!
//! [`HashingWriter`] and [`HashingReader`] compute a digest while data flows,
//! so a blob is hashed exactly once, on its way to disk.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// The only algorithm berth stores blobs under.
pub const SHA256: &str = "sha256";

/// Errors from parsing a digest string.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DigestError {
    /// The string has no `algorithm:` prefix.
    #[error("invalid digest {0:?}: missing algorithm prefix (expected sha256:<hex>)")]
    MissingAlgorithm(String),
    /// The algorithm is not sha256.
    #[error("unsupported digest algorithm {algorithm:?} in {input:?}")]
    UnsupportedAlgorithm {
        /// The algorithm named in the input.
        algorithm: String,
        /// The whole input.
        input: String,
    },
    /// The hex part is not 64 lowercase hex characters.
    #[error("invalid digest {0:?}: sha256 needs 64 lowercase hex characters")]
    InvalidHex(String),
}

impl DigestError {
    /// Every digest error is a caller mistake.
    pub fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::InvalidArgument
    }
}

/// A validated `sha256:<hex>` digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Builds a digest from the 64 hex characters alone.
    pub fn from_hex(hex: &str) -> Result<Self, DigestError> {
        if is_sha256_hex(hex) {
            Ok(Digest {
                hex: hex.to_owned(),
            })
        } else {
            Err(DigestError::InvalidHex(hex.to_owned()))
        }
    }

    /// The sha256 digest of `data`.
    pub fn of(data: &[u8]) -> Self {
        Digest {
            hex: hex::encode(Sha256::digest(data)),
        }
    }

    /// The algorithm, always `sha256`.
    pub fn algorithm(&self) -> &'static str {
        SHA256
    }

    /// The 64 lowercase hex characters.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex characters, as `docker images` shows an image ID.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

/// True if `s` is exactly 64 lowercase hex characters.
pub(crate) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((algorithm, hex)) = s.split_once(':') else {
            return Err(DigestError::MissingAlgorithm(s.to_owned()));
        };
        if algorithm != SHA256 {
            return Err(DigestError::UnsupportedAlgorithm {
                algorithm: algorithm.to_owned(),
                input: s.to_owned(),
            });
        }
        if !is_sha256_hex(hex) {
            return Err(DigestError::InvalidHex(s.to_owned()));
        }
        Ok(Digest {
            hex: hex.to_owned(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SHA256}:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A writer that hashes and counts everything written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Returns the inner writer, the digest and the byte count.
    pub fn finish(self) -> (W, Digest, u64) {
        let digest = Digest {
            hex: hex::encode(self.hasher.finalize()),
        };
        (self.inner, digest, self.written)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            read: 0,
        }
    }

    /// Returns the digest and byte count of what was read so far.
    pub fn finish(self) -> (Digest, u64) {
        let digest = Digest {
            hex: hex::encode(self.hasher.finalize()),
        };
        (digest, self.read)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// Hashes a whole reader, returning its digest and length.
pub fn digest_reader<R: Read>(r: R) -> io::Result<(Digest, u64)> {
    let mut h = HashingReader::new(r);
    io::copy(&mut h, &mut io::sink())?;
    Ok(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parse_and_display_round_trip() {
        let d: Digest = EMPTY.parse().unwrap();
        assert_eq!(d.to_string(), EMPTY);
        assert_eq!(d, Digest::of(b""));
        assert_eq!(d.short(), "e3b0c44298fc");
    }

    #[test]
    fn invalid_digests_name_the_input() {
        let cases = [
            ("e3b0c442", "invalid digest \"e3b0c442\": missing algorithm prefix (expected sha256:<hex>)"),
            ("sha512:abcd", "unsupported digest algorithm \"sha512\" in \"sha512:abcd\""),
            ("sha256:abcd", "invalid digest \"sha256:abcd\": sha256 needs 64 lowercase hex characters"),
            (
                "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
                "invalid digest \"sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\": sha256 needs 64 lowercase hex characters",
            ),
            ("sha256:", "invalid digest \"sha256:\": sha256 needs 64 lowercase hex characters"),
            ("", "invalid digest \"\": missing algorithm prefix (expected sha256:<hex>)"),
        ];
        for (input, msg) in cases {
            let err = input.parse::<Digest>().unwrap_err();
            assert_eq!(err.to_string(), msg, "input {input:?}");
        }
    }

    #[test]
    fn hashing_writer_and_reader_agree() {
        let data = b"hello berth";
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(data).unwrap();
        let (buf, d, n) = w.finish();
        assert_eq!(buf, data);
        assert_eq!(n, data.len() as u64);
        assert_eq!(d, Digest::of(data));
        let (d2, n2) = digest_reader(&data[..]).unwrap();
        assert_eq!((d2, n2), (d, n));
    }

    #[test]
    fn serde_uses_the_string_form() {
        let d = Digest::of(b"x");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{d}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"md5:00\"").is_err());
    }
}
