//! The byte-level encoding shared by bundles, trust-store updates and policy
//! signatures: big-endian integers, length-prefixed UTF-8 strings, fixed
//! 32-byte digests. Decoding is strict — every value has exactly one
//! encoding, so decode ∘ encode is the identity and re-encoding a decoded
//! manifest yields the signed bytes.

use std::io::Read;

/// A document that is not well-formed. Each variant names the part of the
/// file that is wrong.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("truncated: the file ends inside the {section}")]
    Truncated { section: &'static str },
    #[error("not a {expected} (bad magic bytes)")]
    BadMagic { expected: &'static str },
    #[error("format version {found} is not supported (this build reads version {supported})")]
    UnsupportedVersion { found: u16, supported: u16 },
    #[error("`{field}` is {value}, more than the limit of {max}")]
    TooLarge { field: &'static str, value: u64, max: u64 },
    #[error("`{field}`: {cause}")]
    Invalid { field: String, cause: String },
    #[error("{bytes} unexpected byte(s) after the {section}")]
    Trailing { section: &'static str, bytes: u64 },
}

impl FormatError {
    pub(crate) fn invalid(field: impl Into<String>, cause: impl Into<String>) -> Self {
        FormatError::Invalid { field: field.into(), cause: cause.into() }
    }
}

/// Check a declared length against its limit before allocating for it.
pub(crate) fn bound(field: &'static str, value: u64, max: u64) -> Result<(), FormatError> {
    if value > max { Err(FormatError::TooLarge { field, value, max }) } else { Ok(()) }
}

/// Read exactly `buf.len()` bytes; a short read is `Truncated { section }`.
pub(crate) fn read_exact(r: &mut impl Read, buf: &mut [u8], section: &'static str) -> Result<(), FormatError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => FormatError::Truncated { section },
        _ => FormatError::Io(e),
    })
}

/// Read a big-endian `u32` length prefix.
pub(crate) fn read_u32(r: &mut impl Read, section: &'static str) -> Result<u32, FormatError> {
    let mut b = [0; 4];
    read_exact(r, &mut b, section)?;
    Ok(u32::from_be_bytes(b))
}

/// Read `len` bytes (already bounded by the caller) into a new buffer.
pub(crate) fn read_vec(r: &mut impl Read, len: u32, section: &'static str) -> Result<Vec<u8>, FormatError> {
    let mut v = vec![0; len as usize];
    read_exact(r, &mut v, section)?;
    Ok(v)
}

/// Check the 8 magic bytes and the u16 format version of a document.
pub(crate) fn read_header(
    r: &mut impl Read,
    magic: &[u8; 8],
    expected: &'static str,
    version: u16,
) -> Result<(), FormatError> {
    let mut m = [0; 8];
    read_exact(r, &mut m, "header")?;
    if &m != magic {
        return Err(FormatError::BadMagic { expected });
    }
    let mut v = [0; 2];
    read_exact(r, &mut v, "header")?;
    let found = u16::from_be_bytes(v);
    if found != version {
        return Err(FormatError::UnsupportedVersion { found, supported: version });
    }
    Ok(())
}

/// Fail with `Trailing` unless `r` is at its end.
pub(crate) fn expect_end(r: &mut impl Read, section: &'static str) -> Result<(), FormatError> {
    let mut rest = [0; 4096];
    let mut extra = 0u64;
    loop {
        match r.read(&mut rest) {
            Ok(0) => break,
            Ok(n) => extra += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
        if extra > 1 << 20 {
            break;
        }
    }
    if extra == 0 { Ok(()) } else { Err(FormatError::Trailing { section, bytes: extra }) }
}

/// Encoder for canonical documents.
#[derive(Default)]
pub(crate) struct Writer(pub Vec<u8>);

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub fn bytes(&mut self, v: &[u8]) {
        self.0.extend_from_slice(v);
    }
    /// A string of at most 255 bytes: `u8` length, then UTF-8.
    pub fn str8(&mut self, v: &str) {
        let len = u8::try_from(v.len()).expect("strings are checked to fit 255 bytes before encoding");
        self.u8(len);
        self.bytes(v.as_bytes());
    }
    /// A byte string of at most 65535 bytes: `u16` length, then the bytes.
    pub fn bytes16(&mut self, v: &[u8]) {
        let len = u16::try_from(v.len()).expect("byte strings are checked to fit 65535 bytes before encoding");
        self.u16(len);
        self.bytes(v);
    }
}

/// Strict decoder over an in-memory document whose size was bounded when it
/// was read. Every read names the field it decodes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    section: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], section: &'static str) -> Self {
        Reader { buf, pos: 0, section }
    }

    pub fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], FormatError> {
        if self.buf.len() - self.pos < n {
            return Err(FormatError::invalid(
                field,
                format!("the {} ends after {} bytes, inside this field", self.section, self.buf.len()),
            ));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn u8(&mut self, field: &str) -> Result<u8, FormatError> {
        Ok(self.take(1, field)?[0])
    }
    pub fn u16(&mut self, field: &str) -> Result<u16, FormatError> {
        Ok(u16::from_be_bytes(self.take(2, field)?.try_into().expect("2 bytes")))
    }
    pub fn u32(&mut self, field: &str) -> Result<u32, FormatError> {
        Ok(u32::from_be_bytes(self.take(4, field)?.try_into().expect("4 bytes")))
    }
    pub fn u64(&mut self, field: &str) -> Result<u64, FormatError> {
        Ok(u64::from_be_bytes(self.take(8, field)?.try_into().expect("8 bytes")))
    }
    pub fn i64(&mut self, field: &str) -> Result<i64, FormatError> {
        Ok(i64::from_be_bytes(self.take(8, field)?.try_into().expect("8 bytes")))
    }
    pub fn digest(&mut self, field: &str) -> Result<[u8; 32], FormatError> {
        Ok(self.take(32, field)?.try_into().expect("32 bytes"))
    }
    /// A `u8`-length-prefixed UTF-8 string, non-empty, printable ASCII
    /// unless `any_utf8`.
    pub fn str8(&mut self, field: &str) -> Result<&'a str, FormatError> {
        let len = self.u8(field)? as usize;
        let bytes = self.take(len, field)?;
        let s = std::str::from_utf8(bytes).map_err(|_| FormatError::invalid(field, "is not UTF-8"))?;
        if s.is_empty() {
            return Err(FormatError::invalid(field, "is empty"));
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(FormatError::invalid(field, "holds characters other than printable ASCII"));
        }
        Ok(s)
    }
    pub fn bytes16(&mut self, field: &str) -> Result<&'a [u8], FormatError> {
        let len = self.u16(field)? as usize;
        self.take(len, field)
    }
    /// Fail unless every byte was consumed.
    pub fn finish(self) -> Result<(), FormatError> {
        let extra = self.buf.len() - self.pos;
        if extra == 0 { Ok(()) } else { Err(FormatError::Trailing { section: self.section, bytes: extra as u64 }) }
    }
}
