//! Jute primitives: the byte-level encoding ZooKeeper uses for every record.
//!
//! Sits at the very bottom of the request flow: the server's `connection` (or a client) cuts frames, then the
//! record types in [`super::records`] are read and written with [`Reader`] and [`Writer`].
//! Everything is big-endian. A `buffer` and a `string` are an `int` length followed by
//! the bytes, with length -1 meaning null; a `vector` is an `int` count (-1 = null)
//! followed by the elements. Nothing here does I/O and nothing panics on input.
//!
//! No count read from the input is trusted: a length or element count is checked against
//! the bytes that remain (a frame is at most `jute.maxbuffer`, checked by the connection
//! before it is read) times the smallest size an element can have, and a vector reserves at
//! most [`MAX_PREALLOC`] elements up front, growing only as elements actually decode.

use bytes::{BufMut, BytesMut};

/// Why a record could not be decoded. Input from a socket or a file ends here, never in a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record truncated: needed {needed} more bytes at offset {offset}")]
    Truncated { offset: usize, needed: usize },
    #[error("invalid length {len} at offset {offset}")]
    BadLength { offset: usize, len: i64 },
    #[error("string is not valid UTF-8 at offset {offset}")]
    BadUtf8 { offset: usize },
    #[error("unknown {what} {value}")]
    Unknown { what: &'static str, value: i64 },
    /// A snapshot node whose parent did not come before it.
    #[error("node at offset {offset} has no parent before it")]
    Orphan { offset: usize },
    /// A stored znode path that is not a valid path.
    #[error("invalid znode path at offset {offset}")]
    BadPath { offset: usize },
}

/// The most elements a vector reserves before they decode: a count that passes the
/// bytes-remaining check may still be far more than the elements that will really decode
/// (a 1-byte minimum per element in a 1 MiB frame, each element 100 bytes in memory).
pub const MAX_PREALLOC: usize = 1024;

/// How many elements to reserve for a vector that claims `count`.
pub fn initial_capacity(count: usize) -> usize {
    count.min(MAX_PREALLOC)
}

impl DecodeError {
    /// Where in the input the problem is, when known.
    pub fn offset(&self) -> Option<usize> {
        match self {
            DecodeError::Truncated { offset, .. }
            | DecodeError::BadLength { offset, .. }
            | DecodeError::BadUtf8 { offset }
            | DecodeError::Orphan { offset }
            | DecodeError::BadPath { offset } => Some(*offset),
            DecodeError::Unknown { .. } => None,
        }
    }
}

/// Cursor over one received record.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated { offset: self.pos, needed: n - self.remaining() });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn int(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn long(&mut self) -> Result<i64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.take(1)?[0] != 0)
    }

    /// A length prefix, checked against what is actually left so a hostile length never allocates.
    fn len(&mut self, elem_min: usize) -> Result<Option<usize>, DecodeError> {
        let at = self.pos;
        let n = self.int()?;
        if n == -1 {
            return Ok(None);
        }
        if n < 0 || (n as usize).saturating_mul(elem_min) > self.remaining() {
            return Err(DecodeError::BadLength { offset: at, len: n as i64 });
        }
        Ok(Some(n as usize))
    }

    /// A jute `buffer`; `None` is null (length -1).
    pub fn buffer(&mut self) -> Result<Option<Vec<u8>>, DecodeError> {
        match self.len(1)? {
            None => Ok(None),
            Some(n) => Ok(Some(self.take(n)?.to_vec())),
        }
    }

    /// A jute `ustring`; null reads as the empty string, as the Java server does.
    pub fn string(&mut self) -> Result<String, DecodeError> {
        match self.len(1)? {
            None => Ok(String::new()),
            Some(n) => {
                let at = self.pos;
                let b = self.take(n)?;
                std::str::from_utf8(b).map(str::to_owned).map_err(|_| DecodeError::BadUtf8 { offset: at })
            }
        }
    }

    /// A jute `vector`; null reads as empty. `elem_min` is the smallest encoded element size.
    pub fn vec<T>(
        &mut self,
        elem_min: usize,
        mut f: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        match self.len(elem_min.max(1))? {
            None => Ok(Vec::new()),
            Some(n) => {
                let mut v = Vec::with_capacity(initial_capacity(n));
                for _ in 0..n {
                    v.push(f(self)?);
                }
                Ok(v)
            }
        }
    }

    pub fn strings(&mut self) -> Result<Vec<String>, DecodeError> {
        self.vec(4, |r| r.string())
    }
}

/// Appends jute primitives to a growing buffer.
#[derive(Debug, Default)]
pub struct Writer {
    pub buf: BytesMut,
}

impl Writer {
    pub fn new() -> Self {
        Writer { buf: BytesMut::with_capacity(128) }
    }

    /// A writer whose first four bytes are reserved for the frame length; see [`Writer::finish_frame`].
    pub fn framed() -> Self {
        let mut w = Writer::new();
        w.int(0);
        w
    }

    /// Fills in the length reserved by [`Writer::framed`] and returns the frame.
    pub fn finish_frame(mut self) -> bytes::Bytes {
        let n = (self.buf.len() - 4) as u32;
        self.buf[..4].copy_from_slice(&n.to_be_bytes());
        self.buf.freeze()
    }

    pub fn int(&mut self, v: i32) -> &mut Self {
        self.buf.put_i32(v);
        self
    }
    pub fn long(&mut self, v: i64) -> &mut Self {
        self.buf.put_i64(v);
        self
    }
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.buf.put_u8(v as u8);
        self
    }
    pub fn buffer(&mut self, v: Option<&[u8]>) -> &mut Self {
        match v {
            None => self.int(-1),
            Some(b) => {
                self.buf.put_i32(b.len() as i32);
                self.buf.put_slice(b);
                self
            }
        }
    }
    pub fn string(&mut self, s: &str) -> &mut Self {
        self.buffer(Some(s.as_bytes()))
    }
    pub fn strings<S: AsRef<str>>(&mut self, v: &[S]) -> &mut Self {
        self.int(v.len() as i32);
        for s in v {
            self.string(s.as_ref());
        }
        self
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.buf.put_slice(b);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_round_trip() {
        let mut w = Writer::new();
        w.int(-7).long(1 << 40).bool(true).buffer(None).buffer(Some(b"xy")).string("héllo");
        w.strings(&["a", "bc"]);
        let b = w.buf.freeze();
        let mut r = Reader::new(&b);
        assert_eq!(r.int().unwrap(), -7);
        assert_eq!(r.long().unwrap(), 1 << 40);
        assert!(r.bool().unwrap());
        assert_eq!(r.buffer().unwrap(), None);
        assert_eq!(r.buffer().unwrap(), Some(b"xy".to_vec()));
        assert_eq!(r.string().unwrap(), "héllo");
        assert_eq!(r.strings().unwrap(), vec!["a".to_string(), "bc".to_string()]);
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn hostile_lengths_are_errors_not_allocations() {
        // A buffer claiming 2 GiB in a 8-byte record.
        let mut w = Writer::new();
        w.int(i32::MAX).int(0);
        let b = w.buf.freeze();
        assert!(matches!(Reader::new(&b).buffer(), Err(DecodeError::BadLength { .. })));
        // Negative lengths other than -1.
        let b = (-5i32).to_be_bytes();
        assert!(matches!(Reader::new(&b).string(), Err(DecodeError::BadLength { .. })));
        // A vector count far beyond the bytes present.
        let b = [0x10u8, 0, 0, 0, 0, 0, 0, 1];
        assert!(Reader::new(&b).strings().is_err());
        // Truncated long.
        assert!(matches!(Reader::new(&[1, 2, 3]).long(), Err(DecodeError::Truncated { .. })));
        // Invalid UTF-8.
        let mut w = Writer::new();
        w.buffer(Some(&[0xff, 0xfe]));
        let b = w.buf.freeze();
        assert!(matches!(Reader::new(&b).string(), Err(DecodeError::BadUtf8 { .. })));
    }

    #[test]
    fn hostile_vector_counts_reserve_little_and_fail_cleanly() {
        // A count that fits the bytes left at 4 bytes each, but whose elements do not decode:
        // an error at the first bad element, and no reservation of the claimed count.
        let n = 200_000i32;
        let mut w = Writer::new();
        w.int(n);
        for _ in 0..n {
            w.int(7); // 4 bytes each: lengths of strings that are not there
        }
        let b = w.buf.freeze();
        assert!(matches!(Reader::new(&b).strings(), Err(DecodeError::BadLength { .. }) | Err(DecodeError::Truncated { .. })));
        assert_eq!(initial_capacity(n as usize), MAX_PREALLOC);
        assert_eq!(initial_capacity(3), 3);
        // i32::MAX and every negative count other than -1 are refused before anything else.
        for count in [i32::MAX, -2, i32::MIN] {
            let mut w = Writer::new();
            w.int(count).int(0).int(0);
            let b = w.buf.freeze();
            assert!(matches!(Reader::new(&b).vec(1, |r| r.int()), Err(DecodeError::BadLength { .. })), "count {count}");
        }
        // -1 is a null vector: empty.
        assert!(Reader::new(&(-1i32).to_be_bytes()).strings().unwrap().is_empty());
        // A vector of ACLs claiming more elements than 12-byte minimums fit.
        let mut w = Writer::new();
        w.int(3).int(1).string("world").string("anyone");
        let b = w.buf.freeze();
        assert!(matches!(crate::Acl::read_list(&mut Reader::new(&b)), Err(DecodeError::BadLength { .. })));
    }
}
