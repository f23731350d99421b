//! Writes cases for the ZooKeeper wire fuzzer (`tests/zk/test_wire_fuzz.py`) to stdout.
//!
//! `zk_fuzz_frames <cases> <seed>`: each case is a u32 (big-endian) record length, then
//! `kind:u8 connect_kind:u8 connect_len:u32 connect_bytes request_bytes`, where both byte
//! strings are what goes on the wire (length prefixes included, or not, for junk).
//!
//! - kind 0: a valid request (`zk::fuzzgen`) for a random opcode a 3.8 client sends;
//!   1: the same with its body mutated (`fuzzgen::mutate`), framed with a correct length;
//!   2: an odd header (unknown or server-only opcode, odd xid) in front of a valid body, or
//!   a mutated header; 3: random bytes, half the time behind a correct length prefix.
//! - connect kind 0: a valid new-session handshake (4 s timeout); 1: a random connect
//!   request (reattaches with made-up ids and passwords, odd timeouts, a zxid from the
//!   future), mutated half the time; 2: no handshake (the request comes first).

use std::io::Write;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use zk::fuzzgen;
use zk::proto::{ConnectRequest, OpCode};

fn main() {
    let mut args = std::env::args().skip(1);
    let cases: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for case in 0..cases {
        let kind: u8 = match rng.gen_range(0..20) {
            0..=5 => 0,
            6..=15 => 1,
            16..=17 => 2,
            _ => 3,
        };
        let connect_kind: u8 = match rng.gen_range(0..20) {
            0..=16 => 0,
            17..=18 => 1,
            _ => 2,
        };
        let connect = match connect_kind {
            0 => {
                let req = ConnectRequest { protocol_version: 0, last_zxid_seen: 0, timeout: 4000, session_id: 0, passwd: vec![0; 16], read_only: Some(false) };
                let mut w = zk::proto::Writer::new();
                req.write(&mut w);
                fuzzgen::frame(&w.buf)
            }
            1 => {
                let (_, mut b) = fuzzgen::connect(&mut rng);
                if rng.gen_bool(0.5) {
                    fuzzgen::mutate(&mut b, &mut rng);
                }
                fuzzgen::frame(&b)
            }
            _ => Vec::new(),
        };
        let op = fuzzgen::CLIENT_OPS[rng.gen_range(0..fuzzgen::CLIENT_OPS.len())];
        let body = fuzzgen::request(&mut rng, op);
        let xid = fuzzgen::xid_for(op, case as i32 + 1);
        let request = match kind {
            0 => fuzzgen::frame(&fuzzgen::request_bytes(xid, op as i32, &body.bytes)),
            1 => {
                let mut b = body.bytes;
                fuzzgen::mutate(&mut b, &mut rng);
                fuzzgen::frame(&fuzzgen::request_bytes(xid, op as i32, &b))
            }
            2 => {
                let odd_op: i32 = match rng.gen_range(0..4) {
                    0 => rng.gen_range(-20..130),
                    1 => [OpCode::Notification, OpCode::CreateSession, OpCode::Error, OpCode::Reconfig, OpCode::Sasl][rng.gen_range(0..5)] as i32,
                    2 => rng.gen(),
                    _ => op as i32,
                };
                let odd_xid: i32 = [xid, -1, -2, -4, -8, 0, i32::MIN, i32::MAX][rng.gen_range(0..8)];
                let mut p = fuzzgen::request_bytes(odd_xid, odd_op, &body.bytes);
                if rng.gen_bool(0.3) {
                    let mut head: Vec<u8> = p.drain(..8).collect();
                    fuzzgen::mutate(&mut head, &mut rng);
                    head.extend(p);
                    p = head;
                }
                fuzzgen::frame(&p)
            }
            _ => {
                let n = rng.gen_range(0..48);
                let mut f: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
                if rng.gen_bool(0.5) && f.len() >= 4 {
                    let len = (f.len() - 4) as i32;
                    f[..4].copy_from_slice(&len.to_be_bytes());
                }
                f
            }
        };
        let mut record = vec![kind, connect_kind];
        record.extend_from_slice(&(connect.len() as u32).to_be_bytes());
        record.extend(connect);
        record.extend(request);
        let _ = out.write_all(&(record.len() as u32).to_be_bytes());
        let _ = out.write_all(&record);
    }
    let _ = out.flush();
}
