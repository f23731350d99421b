//! The request guard: every request body is walked against its schema before it is decoded.
//!
//! Where it sits: `server::handle_frame` reads the frame (its length already checked against
//! `socket.request.max.bytes`), decodes the header, then calls [`check`] on the body; only a
//! body that passes is handed to the `kafka-protocol` crate. The crate trusts array counts
//! (`Vec::with_capacity(count)` before reading an element) and string lengths
//! (`vec![0; len]`), so a 20-byte request claiming 2^31 elements would make it allocate
//! tens of GiB and abort the process. The guard reads every count and length the way the
//! crate will and checks it against the bytes that actually follow, as Kafka's own generated
//! readers do ("Tried to allocate a collection of size N, but there are only M bytes
//! remaining"). Because the walk covers the whole body, a count that passes has that many
//! real elements behind it: the crate's allocations are then bounded by the frame size
//! times the in-memory size of an element.
//!
//! The schema (`request_schema.rs`) is generated from Kafka's `*Request.json` message
//! definitions by `scripts/gen-request-schema.py`: per field its type, the versions it is
//! present in, the versions it may be null in, and for tagged fields the tag. Encoding rules
//! (Kafka's protocol guide): in a flexible version strings, bytes and arrays carry an
//! unsigned varint of length + 1 (0 = null) and every struct ends with a tagged-field
//! section (count, then tag, size, value each); otherwise strings carry an int16 length,
//! bytes and arrays an int32 (-1 = null). A known tagged field is walked from the stream as
//! the crate decodes it; an unknown one is skipped by its size.
//!
//! This module does no I/O and allocates nothing; it is tested with bytes below and fuzzed
//! by `broker/tests/fuzz_requests.rs`.

/// An inclusive range of versions. `NONE` is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V(pub i16, pub i16);

/// No version.
pub const NONE: V = V(1, 0);

impl V {
    pub const fn has(self, v: i16) -> bool {
        v >= self.0 && v <= self.1
    }
}

/// A field's wire type.
#[derive(Debug)]
pub enum Ty {
    Bool,
    Int8,
    Int16,
    Uint16,
    Int32,
    Uint32,
    Int64,
    Float64,
    Uuid,
    String,
    Bytes,
    Records,
    Array(&'static Ty),
    Struct(&'static [F]),
}

/// A field of a request or of a struct inside it.
#[derive(Debug)]
pub struct F {
    pub name: &'static str,
    pub ty: Ty,
    pub versions: V,
    pub nullable: V,
    pub tag: Option<u32>,
    pub tagged: V,
    /// A field-level override of the message's flexible versions (Kafka uses it in headers).
    pub flexible: Option<V>,
}

impl F {
    pub const fn new(name: &'static str, ty: Ty, versions: V) -> F {
        F { name, ty, versions, nullable: NONE, tag: None, tagged: NONE, flexible: None }
    }
    pub const fn nullable(mut self, v: V) -> F {
        self.nullable = v;
        self
    }
    pub const fn tagged(mut self, tag: u32, v: V) -> F {
        self.tag = Some(tag);
        self.tagged = v;
        self
    }
    pub const fn flexible(mut self, v: V) -> F {
        self.flexible = Some(v);
        self
    }
}

/// One request message's schema.
#[derive(Debug)]
pub struct Message {
    pub api_key: i16,
    pub name: &'static str,
    pub valid: V,
    pub flexible: V,
    pub fields: &'static [F],
}

/// Why a request body was refused. The connection that sent it is closed (as Kafka closes a
/// connection whose request cannot be parsed); the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("API key {0} has no request schema")]
    UnknownApi(i16),
    #[error("{name} v{version} is not a version of this request")]
    UnknownVersion { name: &'static str, version: i16 },
    #[error("{field}: {what} of {n} but only {left} bytes remain")]
    TooLong { field: &'static str, what: &'static str, n: i64, left: usize },
    #[error("{field}: negative {what} ({n})")]
    Negative { field: &'static str, what: &'static str, n: i64 },
    #[error("{field}: null where the version does not allow it")]
    Null { field: &'static str },
    #[error("{field}: the request ends inside this field")]
    Truncated { field: &'static str },
    #[error("tagged field {tag} ({field}) is not valid in this version")]
    BadTag { field: &'static str, tag: u32 },
}

/// Checks that `body` (the request after its header) can be decoded as `api_key` at
/// `version` without any count or length exceeding the bytes that remain.
pub fn check(api_key: i16, version: i16, body: &[u8]) -> Result<(), GuardError> {
    let msg = schema(api_key).ok_or(GuardError::UnknownApi(api_key))?;
    if !msg.valid.has(version) {
        return Err(GuardError::UnknownVersion { name: msg.name, version });
    }
    let mut w = Walker { buf: body, version, flexible: msg.flexible.has(version) };
    w.fields(msg.fields, msg.name)
}

/// The schema of a request, if we have one.
pub fn schema(api_key: i16) -> Option<&'static Message> {
    let m = super::request_schema::REQUESTS.get(usize::try_from(api_key).ok()?)?;
    (m.api_key == api_key).then_some(m)
}

/// How one value is encoded: its name for errors, whether null is allowed, compact or not.
#[derive(Clone, Copy)]
struct Slot {
    name: &'static str,
    nullable: bool,
    compact: bool,
}

struct Walker<'a> {
    buf: &'a [u8],
    version: i16,
    flexible: bool,
}

impl Walker<'_> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<(), GuardError> {
        if n > self.buf.len() {
            return Err(GuardError::Truncated { field });
        }
        self.buf = &self.buf[n..];
        Ok(())
    }

    fn fixed<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], GuardError> {
        let Some((head, rest)) = self.buf.split_first_chunk::<N>() else {
            return Err(GuardError::Truncated { field });
        };
        self.buf = rest;
        Ok(*head)
    }

    /// An unsigned varint exactly as the crate reads it: at most 5 bytes, high bits dropped.
    fn uvarint(&mut self, field: &'static str) -> Result<u32, GuardError> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let [b] = self.fixed::<1>(field)?;
            value |= u32::from(b & 0x7F) << (i * 7);
            if b < 0x80 {
                break;
            }
        }
        Ok(value)
    }

    /// A length or count prefix: `Ok(None)` for null, `Ok(Some(n))` otherwise, with `n`
    /// checked against the bytes that remain.
    fn prefix(&mut self, s: Slot, what: &'static str, wide: bool) -> Result<Option<usize>, GuardError> {
        let n: i64 = if s.compact {
            i64::from(self.uvarint(s.name)?) - 1
        } else if wide {
            i64::from(i32::from_be_bytes(self.fixed::<4>(s.name)?))
        } else {
            i64::from(i16::from_be_bytes(self.fixed::<2>(s.name)?))
        };
        if n == -1 {
            return if s.nullable { Ok(None) } else { Err(GuardError::Null { field: s.name }) };
        }
        if n < 0 {
            return Err(GuardError::Negative { field: s.name, what, n });
        }
        let left = self.buf.len();
        match usize::try_from(n) {
            Ok(n) if n <= left => Ok(Some(n)),
            _ => Err(GuardError::TooLong { field: s.name, what, n, left }),
        }
    }

    fn fields(&mut self, fields: &'static [F], owner: &'static str) -> Result<(), GuardError> {
        for f in fields {
            if !f.versions.has(self.version) || (self.flexible && f.tag.is_some() && f.tagged.has(self.version)) {
                continue;
            }
            self.field(f)?;
        }
        if self.flexible {
            self.tagged_section(fields, owner)?;
        }
        Ok(())
    }

    fn tagged_section(&mut self, fields: &'static [F], owner: &'static str) -> Result<(), GuardError> {
        let count = self.uvarint(owner)?;
        // Each tagged field takes at least two bytes (tag, size).
        let left = self.buf.len();
        if u64::from(count) > left as u64 {
            return Err(GuardError::TooLong { field: owner, what: "tagged field count", n: count.into(), left });
        }
        for _ in 0..count {
            let tag = self.uvarint(owner)?;
            let size = self.uvarint(owner)?;
            match fields.iter().find(|f| f.tag == Some(tag)) {
                Some(f) if f.tagged.has(self.version) => self.field(f)?,
                Some(f) => return Err(GuardError::BadTag { field: f.name, tag }),
                None => self.take(usize::try_from(size).unwrap_or(usize::MAX), owner)?,
            }
        }
        Ok(())
    }

    fn field(&mut self, f: &'static F) -> Result<(), GuardError> {
        let slot = Slot {
            name: f.name,
            nullable: f.nullable.has(self.version),
            compact: f.flexible.map_or(self.flexible, |v| v.has(self.version)),
        };
        self.value(slot, &f.ty)
    }

    fn value(&mut self, s: Slot, ty: &'static Ty) -> Result<(), GuardError> {
        match ty {
            Ty::Bool | Ty::Int8 => self.take(1, s.name),
            Ty::Int16 | Ty::Uint16 => self.take(2, s.name),
            Ty::Int32 | Ty::Uint32 => self.take(4, s.name),
            Ty::Int64 | Ty::Float64 => self.take(8, s.name),
            Ty::Uuid => self.take(16, s.name),
            Ty::String => match self.prefix(s, "string length", false)? {
                Some(n) => self.take(n, s.name),
                None => Ok(()),
            },
            Ty::Bytes | Ty::Records => match self.prefix(s, "bytes length", true)? {
                Some(n) => self.take(n, s.name),
                None => Ok(()),
            },
            Ty::Array(elem) => {
                if let Some(n) = self.prefix(s, "array count", true)? {
                    // Elements are never null.
                    let e = Slot { nullable: false, ..s };
                    for _ in 0..n {
                        self.value(e, elem)?;
                    }
                }
                Ok(())
            }
            Ty::Struct(fields) => self.fields(fields, s.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i16b(v: i16) -> [u8; 2] {
        v.to_be_bytes()
    }
    fn i32b(v: i32) -> [u8; 4] {
        v.to_be_bytes()
    }

    #[test]
    fn every_api_key_up_to_47_has_its_schema_at_its_index() {
        for key in 0..=47 {
            let m = schema(key).expect("schema");
            assert_eq!(m.api_key, key);
        }
        assert!(schema(48).is_none());
        assert!(schema(-1).is_none());
    }

    #[test]
    fn a_huge_top_level_array_count_is_refused_before_anything_else() {
        // Metadata v1: topics count 0x7fffffff and nothing behind it.
        let body = i32b(i32::MAX);
        let e = check(3, 1, &body).unwrap_err();
        assert!(matches!(e, GuardError::TooLong { field: "Topics", n: 2147483647, left: 0, .. }), "{e}");
        // CreateTopics v5 (flexible): a varint count of 2^32 - 2.
        let body = [0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(matches!(check(19, 5, &body), Err(GuardError::TooLong { field: "Topics", .. })));
    }

    #[test]
    fn a_huge_nested_array_count_is_refused() {
        // CreateTopics v2: one topic "t", 1 partition, rf 1, one assignment whose broker-id
        // array claims 2^31-1 entries.
        let mut b = Vec::new();
        b.extend(i32b(1));
        b.extend(i16b(1));
        b.push(b't');
        b.extend(i32b(1));
        b.extend(i16b(1));
        b.extend(i32b(1)); // assignments
        b.extend(i32b(0)); // partition index
        b.extend(i32b(i32::MAX)); // broker ids
        let e = check(19, 2, &b).unwrap_err();
        assert!(matches!(e, GuardError::TooLong { field: "BrokerIds", .. }), "{e}");
    }

    #[test]
    fn a_well_formed_request_passes() {
        // CreateTopics v2 as above with a real assignment, no configs, timeout, validate_only.
        let mut b = Vec::new();
        b.extend(i32b(1));
        b.extend(i16b(1));
        b.push(b't');
        b.extend(i32b(-1));
        b.extend(i16b(-1));
        b.extend(i32b(1));
        b.extend(i32b(0));
        b.extend(i32b(2));
        b.extend(i32b(1));
        b.extend(i32b(2));
        b.extend(i32b(0)); // configs
        b.extend(i32b(30_000));
        b.push(0);
        assert_eq!(check(19, 2, &b), Ok(()));
        // Every byte short of the whole is refused as truncated or too long.
        for cut in 0..b.len() {
            assert!(check(19, 2, &b[..cut]).is_err(), "cut at {cut}");
        }
        // Metadata v0 with no topics.
        assert_eq!(check(3, 0, &i32b(0)), Ok(()));
    }

    #[test]
    fn strings_and_nulls_follow_the_versions() {
        // Metadata v0: topics is not nullable; v1 allows null.
        assert_eq!(check(3, 0, &i32b(-1)), Err(GuardError::Null { field: "Topics" }));
        assert_eq!(check(3, 1, &i32b(-1)), Ok(()));
        assert!(matches!(check(3, 1, &i32b(-2)), Err(GuardError::Negative { .. })));
        // A topic name claiming 32767 bytes.
        let mut b = i32b(1).to_vec();
        b.extend(i16b(i16::MAX));
        b.extend(b"abc");
        assert!(matches!(check(3, 1, &b), Err(GuardError::TooLong { field: "Name", n: 32767, left: 3, .. })));
    }

    #[test]
    fn tagged_fields_are_bounded_and_known_ones_walked() {
        // ApiVersions v3: ClientSoftwareName, ClientSoftwareVersion (compact), tagged section.
        let ok = [2, b'a', 2, b'b', 0];
        assert_eq!(check(18, 3, &ok), Ok(()));
        // An unknown tag whose size runs past the end.
        let bad = [2, b'a', 2, b'b', 1, 99, 50, 1, 2];
        assert!(matches!(check(18, 3, &bad), Err(GuardError::Truncated { .. })));
        // A tagged-field count far beyond the bytes left.
        let bad = [2, b'a', 2, b'b', 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(matches!(check(18, 3, &bad), Err(GuardError::TooLong { what: "tagged field count", .. })));
        // Fetch v12: ClusterId is tag 0 at the top level, a nullable compact string walked
        // from the stream; here its length runs past the end.
        let mut b = Vec::new();
        b.extend(i32b(-1)); // replica id
        b.extend(i32b(500));
        b.extend(i32b(1));
        b.extend(i32b(1 << 20));
        b.push(0); // isolation
        b.extend(i32b(0));
        b.extend(i32b(-1));
        b.push(1); // topics: empty
        b.push(1); // forgotten: empty
        b.push(1); // rack id ""
        b.extend([1, 0, 3, 0x7f]); // one tagged field: tag 0, size 3, string length 126
        assert!(matches!(check(1, 12, &b), Err(GuardError::TooLong { field: "ClusterId", .. })));
    }

    #[test]
    fn versions_outside_the_schema_are_refused() {
        assert!(matches!(check(3, 99, &[]), Err(GuardError::UnknownVersion { .. })));
        assert!(matches!(check(200, 0, &[]), Err(GuardError::UnknownApi(200))));
    }
}
