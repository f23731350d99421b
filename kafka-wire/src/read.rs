//! A checked big-endian reader over a byte slice, for Kafka's fixed-width formats that the
//! codec crate does not cover: the records of `__consumer_offsets` and `__transaction_state`,
//! WriteTxnMarkers v0. Every read returns None past the end instead of panicking; an array
//! count is refused when the bytes left could not hold that many elements, so no count on
//! disk or on the wire sizes an allocation.

pub struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.remaining() < n {
            return None;
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Some(s)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Some(a)
    }

    pub fn i8(&mut self) -> Option<i8> {
        self.array::<1>().map(i8::from_be_bytes)
    }

    pub fn i16(&mut self) -> Option<i16> {
        self.array::<2>().map(i16::from_be_bytes)
    }

    pub fn i32(&mut self) -> Option<i32> {
        self.array::<4>().map(i32::from_be_bytes)
    }

    pub fn i64(&mut self) -> Option<i64> {
        self.array::<8>().map(i64::from_be_bytes)
    }

    /// A nullable string (i16 length, -1 = null) of UTF-8.
    pub fn nstr(&mut self) -> Option<Option<String>> {
        let n = self.i16()?;
        if n < 0 {
            return Some(None);
        }
        let s = self.take(n as usize)?;
        Some(Some(String::from_utf8(s.to_vec()).ok()?))
    }

    /// A non-null string; null reads as None (malformed).
    pub fn str(&mut self) -> Option<String> {
        self.nstr()?
    }

    /// Nullable bytes (i32 length, -1 = null).
    pub fn nbytes(&mut self) -> Option<Option<&'a [u8]>> {
        let n = self.i32()?;
        if n < 0 {
            return Some(None);
        }
        Some(Some(self.take(n as usize)?))
    }

    /// An i32 array count, -1 (null) read as None; a count the remaining bytes could not hold
    /// at `min_size` bytes per element is malformed (Err).
    pub fn ncount(&mut self, min_size: usize) -> Option<Option<usize>> {
        let n = self.i32()?;
        if n < 0 {
            return Some(None);
        }
        if (n as usize).saturating_mul(min_size.max(1)) > self.remaining() {
            return None;
        }
        Some(Some(n as usize))
    }

    /// A non-null i32 array count no larger than the remaining bytes allow (see `ncount`).
    pub fn count(&mut self, min_size: usize) -> Option<usize> {
        self.ncount(min_size)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_and_stops_at_the_end() {
        let b = [0x01, 0xff, 0xfe, 0, 0, 0, 7, 0, 2, b'h', b'i', 0xff, 0xff];
        let mut r = Reader::new(&b);
        assert_eq!(r.i8(), Some(1));
        assert_eq!(r.i16(), Some(-2));
        assert_eq!(r.i32(), Some(7));
        assert_eq!(r.str().as_deref(), Some("hi"));
        assert_eq!(r.nstr(), Some(None));
        assert_eq!(r.remaining(), 0);
        assert_eq!(r.i8(), None);
        assert_eq!(Reader::new(&[0, 0, 0]).i32(), None);
        assert_eq!(Reader::new(&[0xff, 0xff]).str(), None);
    }

    #[test]
    fn hostile_counts_are_refused() {
        // 2^31-1 elements of 4 bytes claimed by 4 bytes of input.
        assert_eq!(Reader::new(&[0x7f, 0xff, 0xff, 0xff]).count(4), None);
        assert_eq!(Reader::new(&[0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]).count(4), Some(2));
        assert_eq!(Reader::new(&[0xff, 0xff, 0xff, 0xff]).ncount(4), Some(None));
        assert_eq!(Reader::new(&[0, 0, 0, 3, 1, 2]).nbytes(), None);
        assert_eq!(Reader::new(&[0, 0, 0, 1, 9]).nbytes(), Some(Some(&[9u8][..])));
    }
}
