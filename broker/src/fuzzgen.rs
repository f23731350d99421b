//! Structure-aware request frames for fuzzing: valid bodies generated from the request
//! schema, then hostile mutations of them. Not on any server path.
//!
//! Used by `tests/fuzz_requests.rs` (the in-process fuzz target: request guard + the
//! `kafka-protocol` decoder) and by `examples/fuzz_frames.rs`, which writes frames for the
//! wire fuzzer that drives a real broker (`tests/broker/test_wire_fuzz.py`). The generator
//! follows the same schema table as `server::request_guard`, so a generated body is one a
//! real client could send; the mutations aim at what a parser must not trust: counts and
//! lengths replaced by huge or negative values, varints that never end, cut-off bodies,
//! flipped bits and repeated slices.

use rand::Rng;

use crate::server::request_guard::{Message, Ty, F};

/// Largest array a generated body holds.
const MAX_ELEMS: usize = 3;

/// A random body of `msg` at `version` that a real client could send.
pub fn valid_body<R: Rng>(msg: &Message, version: i16, rng: &mut R) -> Vec<u8> {
    let mut g = Gen { out: Vec::new(), version, flexible: msg.flexible.has(version), rng };
    g.fields(msg.fields);
    g.out
}

struct Gen<'r, R: Rng> {
    out: Vec<u8>,
    version: i16,
    flexible: bool,
    rng: &'r mut R,
}

impl<R: Rng> Gen<'_, R> {
    fn uvarint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    fn fields(&mut self, fields: &'static [F]) {
        let mut tagged = Vec::new();
        for f in fields {
            if !f.versions.has(self.version) {
                continue;
            }
            if self.flexible && f.tag.is_some() && f.tagged.has(self.version) {
                tagged.push(f);
                continue;
            }
            self.field(f);
        }
        if self.flexible {
            // Known tagged fields (some of them) in tag order, sometimes an unknown one.
            let present: Vec<&F> = tagged.into_iter().filter(|_| self.rng.gen_bool(0.5)).collect();
            let unknown = self.rng.gen_bool(0.2);
            self.uvarint((present.len() + usize::from(unknown)) as u32);
            for f in present {
                let tag = f.tag.unwrap_or(0);
                let mut inner = Gen { out: Vec::new(), version: self.version, flexible: self.flexible, rng: &mut *self.rng };
                inner.field(f);
                let bytes = inner.out;
                self.uvarint(tag);
                self.uvarint(bytes.len() as u32);
                self.out.extend_from_slice(&bytes);
            }
            if unknown {
                let n = self.rng.gen_range(0..6);
                let tag = self.rng.gen_range(10_000..20_000);
                self.uvarint(tag);
                self.uvarint(n);
                for _ in 0..n {
                    let b = self.rng.gen();
                    self.out.push(b);
                }
            }
        }
    }

    fn field(&mut self, f: &'static F) {
        let nullable = f.nullable.has(self.version);
        let compact = f.flexible.map_or(self.flexible, |v| v.has(self.version));
        // Timeouts and waits stay short, so that a valid request is answered promptly
        // (the wire fuzzer tells a parked request from a hang by this).
        if matches!(f.ty, Ty::Int32) && (f.name.ends_with("Ms") || f.name.contains("Timeout")) {
            let ms: i32 = self.rng.gen_range(0..1000);
            self.out.extend_from_slice(&ms.to_be_bytes());
            return;
        }
        self.value(&f.ty, nullable, compact);
    }

    fn len_prefix(&mut self, n: Option<usize>, compact: bool, wide: bool) {
        match (n, compact) {
            (None, true) => self.uvarint(0),
            (Some(n), true) => self.uvarint(n as u32 + 1),
            (None, false) if wide => self.out.extend_from_slice(&(-1i32).to_be_bytes()),
            (None, false) => self.out.extend_from_slice(&(-1i16).to_be_bytes()),
            (Some(n), false) if wide => self.out.extend_from_slice(&(n as i32).to_be_bytes()),
            (Some(n), false) => self.out.extend_from_slice(&(n as i16).to_be_bytes()),
        }
    }

    fn value(&mut self, ty: &'static Ty, nullable: bool, compact: bool) {
        let null = nullable && self.rng.gen_bool(0.15);
        match ty {
            Ty::Bool => {
                let b = self.rng.gen_bool(0.5);
                self.out.push(u8::from(b));
            }
            Ty::Int8 => self.random_bytes(1),
            Ty::Int16 | Ty::Uint16 => self.random_bytes(2),
            Ty::Int32 | Ty::Uint32 => self.random_bytes(4),
            Ty::Int64 | Ty::Float64 => self.random_bytes(8),
            Ty::Uuid => self.random_bytes(16),
            Ty::String => {
                if null {
                    self.len_prefix(None, compact, false);
                } else {
                    let n = self.rng.gen_range(0..12);
                    self.len_prefix(Some(n), compact, false);
                    for _ in 0..n {
                        let c = self.rng.gen_range(b'a'..=b'z');
                        self.out.push(c);
                    }
                }
            }
            Ty::Bytes | Ty::Records => {
                if null {
                    self.len_prefix(None, compact, true);
                } else {
                    let n = self.rng.gen_range(0..24);
                    self.len_prefix(Some(n), compact, true);
                    self.random_bytes(n);
                }
            }
            Ty::Array(elem) => {
                if null {
                    self.len_prefix(None, compact, true);
                } else {
                    let n = self.rng.gen_range(0..=MAX_ELEMS);
                    self.len_prefix(Some(n), compact, true);
                    for _ in 0..n {
                        self.value(elem, false, compact);
                    }
                }
            }
            Ty::Struct(fields) => self.fields(fields),
        }
    }

    fn random_bytes(&mut self, n: usize) {
        for _ in 0..n {
            let b = self.rng.gen();
            self.out.push(b);
        }
    }
}

/// Applies one to three hostile mutations to `body`.
pub fn mutate<R: Rng>(body: &mut Vec<u8>, rng: &mut R) {
    const HOSTILE32: [u32; 6] = [0x7fff_ffff, 0xffff_ffff, 0x8000_0000, 0x0100_0000, 0xffff_fffe, 0x00ff_ffff];
    for _ in 0..rng.gen_range(1..=3) {
        let len = body.len();
        let at = if len == 0 { 0 } else { rng.gen_range(0..len) };
        match rng.gen_range(0..8) {
            // A count or length replaced by a huge or negative int32.
            0 => {
                let v = HOSTILE32[rng.gen_range(0..HOSTILE32.len())].to_be_bytes();
                for (i, b) in v.iter().enumerate() {
                    if let Some(x) = body.get_mut(at + i) {
                        *x = *b;
                    }
                }
            }
            // An int16 length replaced by a large or negative value.
            1 => {
                let v: i16 = [i16::MAX, -2, -1, 0x4000][rng.gen_range(0..4)];
                for (i, b) in v.to_be_bytes().iter().enumerate() {
                    if let Some(x) = body.get_mut(at + i) {
                        *x = *b;
                    }
                }
            }
            // A varint that claims up to 2^32 elements, inserted.
            2 => {
                let v = [0xffu8, 0xff, 0xff, 0xff, 0x0f];
                body.splice(at..at, v.iter().copied());
            }
            // Cut off.
            3 => body.truncate(at),
            // Flipped bits.
            4 => {
                for _ in 0..rng.gen_range(1..4) {
                    if !body.is_empty() {
                        let i = rng.gen_range(0..body.len());
                        body[i] ^= 1 << rng.gen_range(0..8);
                    }
                }
            }
            // A slice repeated.
            5 if len > 0 => {
                let end = rng.gen_range(at..=len.min(at + 16));
                let piece: Vec<u8> = body[at..end].to_vec();
                body.splice(at..at, piece);
            }
            // Random bytes appended or inserted.
            6 => {
                let n = rng.gen_range(1..8);
                let extra: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
                body.splice(at..at, extra);
            }
            _ => {
                if at < len {
                    body.remove(at);
                }
            }
        }
    }
}

/// A whole request frame: length prefix, the request header of `api_key`'s `version`
/// (v1: int16 client id; v2: the same plus an empty tagged-field section), then `body`.
pub fn frame(api_key: i16, version: i16, header_version: i16, correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 32);
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&api_key.to_be_bytes());
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&correlation_id.to_be_bytes());
    if header_version >= 1 {
        let id = b"fuzz";
        out.extend_from_slice(&(id.len() as i16).to_be_bytes());
        out.extend_from_slice(id);
    }
    if header_version >= 2 {
        out.push(0);
    }
    out.extend_from_slice(body);
    let n = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&n.to_be_bytes());
    out
}
