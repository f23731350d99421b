//! Writes request frames for the wire fuzzer (`tests/broker/test_wire_fuzz.py`) to stdout.
//!
//! `fuzz_frames <cases> <seed>`: each case is a u32 (big-endian) record length, then the
//! bytes to send. Most cases are a structure-aware body (`broker::fuzzgen`) for an API and
//! version the broker serves, mutated or not, framed with a correct request header; some
//! carry a random or unsupported API key/version, a mutated header, or random bytes with
//! a random length prefix. The first byte of each record says which kind it is
//! (0 valid, 1 mutated body, 2 odd header, 3 junk) and is not sent.

use std::io::Write;

use kafka_protocol::messages::ApiKey;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use broker::fuzzgen;
use broker::server::{request_guard, SUPPORTED};

fn main() {
    let mut args = std::env::args().skip(1);
    let cases: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for case in 0..cases {
        let kind: u8 = match rng.gen_range(0..20) {
            0..=5 => 0,
            6..=16 => 1,
            17..=18 => 2,
            _ => 3,
        };
        let (api, min, max) = SUPPORTED[rng.gen_range(0..SUPPORTED.len())];
        let v = rng.gen_range(min..=max);
        let corr = case as i32;
        let rec = match kind {
            0 | 1 => {
                let Some(msg) = request_guard::schema(api as i16) else { continue };
                let mut body = fuzzgen::valid_body(msg, v, &mut rng);
                if kind == 1 {
                    fuzzgen::mutate(&mut body, &mut rng);
                }
                fuzzgen::frame(api as i16, v, api.request_header_version(v), corr, &body)
            }
            2 => {
                // A known body behind a random API key and version (0..70, -1..20).
                let Some(msg) = request_guard::schema(api as i16) else { continue };
                let body = fuzzgen::valid_body(msg, v, &mut rng);
                let key = rng.gen_range(0..70i16);
                let ver = rng.gen_range(-1..20i16);
                let hv = ApiKey::try_from(key).map(|k| k.request_header_version(ver.max(0))).unwrap_or(1);
                let mut f = fuzzgen::frame(key, ver, hv, corr, &body);
                if rng.gen_bool(0.3) {
                    let mut rest = f.split_off(4);
                    fuzzgen::mutate(&mut rest, &mut rng);
                    let n = rest.len() as i32;
                    f = n.to_be_bytes().to_vec();
                    f.extend(rest);
                }
                f
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
        let mut record = vec![kind];
        record.extend(rec);
        let _ = out.write_all(&(record.len() as u32).to_be_bytes());
        let _ = out.write_all(&record);
    }
    let _ = out.flush();
}
