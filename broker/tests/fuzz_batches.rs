//! Fuzz target: record-batch validation for every codec, in process.
//!
//! Valid batches (built by `log::batch::build`, recompressed with none/gzip/snappy/lz4/zstd)
//! must pass `validate_produce` and read back their records; hostile mutations of them
//! (`broker::fuzzgen::mutate`: huge counts and lengths, cut-offs, flipped bits) and random
//! bytes must be refused or pass without panicking, within bounded memory (peak RSS is
//! checked at the end; a snappy block claiming gigabytes allocates nothing).
//!
//! `FUZZ_CASES` (default 20,000) and `FUZZ_SEED`; the long run is in FUZZING.md.

use broker::fuzzgen;
use broker::log::batch;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn peak_rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn random_batch(rng: &mut StdRng) -> Vec<u8> {
    let n = rng.gen_range(1..6);
    let vals: Vec<Vec<u8>> = (0..n)
        .map(|_| {
            let len = rng.gen_range(0..200);
            if rng.gen_bool(0.5) {
                vec![b'z'; len]
            } else {
                (0..len).map(|_| rng.gen()).collect()
            }
        })
        .collect();
    let recs: Vec<(Option<&[u8]>, Option<&[u8]>)> =
        vals.iter().map(|v| (if v.len() % 3 == 0 { None } else { Some(&v[..v.len() / 3]) }, Some(&v[..]))).collect();
    let plain = batch::build(&recs, 1_700_000_000_000);
    let codec = rng.gen_range(0..5);
    if codec == 0 {
        plain
    } else {
        batch::recompress(&plain, codec).expect("recompress a valid batch")
    }
}

#[test]
fn valid_batches_of_every_codec_pass_and_read_back() {
    let mut rng = StdRng::seed_from_u64(env_u64("FUZZ_SEED", 3));
    for _ in 0..2_000 {
        let b = random_batch(&mut rng);
        let v = batch::validate_produce(&b, -1).unwrap_or_else(|e| panic!("valid batch refused: {e}"));
        let recs = batch::records(&b).expect("records");
        assert_eq!(v.records as usize, recs.len());
    }
    // Highly compressible data passes the snappy length plausibility bound.
    let zeros = vec![0u8; 1 << 20];
    let plain = batch::build(&[(None, Some(&zeros[..]))], 1);
    for codec in 1..5 {
        let c = batch::recompress(&plain, codec).expect("recompress");
        assert!(batch::validate_produce(&c, -1).is_ok(), "codec {codec}");
    }
}

#[test]
fn hostile_batches_are_refused_or_pass_within_bounds() {
    let cases = env_u64("FUZZ_CASES", 20_000);
    let seed = env_u64("FUZZ_SEED", 4);
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut refused, mut passed) = (0u64, 0u64);
    for case in 0..cases {
        let mut b = if case % 10 == 0 {
            (0..rng.gen_range(0..128)).map(|_| rng.gen()).collect()
        } else {
            let mut b = random_batch(&mut rng);
            fuzzgen::mutate(&mut b, &mut rng);
            b
        };
        // Half the time keep the CRC right, so the mutation reaches the record parser.
        if rng.gen_bool(0.5) && b.len() >= 61 {
            let crc = crc32c::crc32c(&b[21..]);
            b[17..21].copy_from_slice(&crc.to_be_bytes());
        }
        match batch::validate_produce(&b, 1 << 20) {
            Ok(_) => {
                passed += 1;
                let _ = batch::records(&b);
                let _ = batch::split(&b);
            }
            Err(_) => refused += 1,
        }
        let _ = batch::records(&b);
    }
    let rss = peak_rss_kib();
    println!("{cases} hostile batches (seed {seed}): {refused} refused, {passed} passed; peak RSS {rss} KiB");
    assert!(rss < 1024 * 1024, "peak RSS {rss} KiB");
}

#[test]
fn a_snappy_block_claiming_gigabytes_is_refused_without_allocating() {
    // xerial framing, one block whose varint length header claims 500 MB (under the
    // decompression cap, so only the plausibility bound keeps it from being allocated).
    let mut payload = b"\x82SNAPPY\x00".to_vec();
    payload.extend(1i32.to_be_bytes());
    payload.extend(1i32.to_be_bytes());
    let block = [0x80, 0xca, 0xb5, 0xee, 0x01, 0x00];
    payload.extend((block.len() as i32).to_be_bytes());
    payload.extend(block);
    assert!(batch::decompress(2, &payload).is_err());
    assert!(peak_rss_kib() < 256 * 1024, "peak RSS {} KiB", peak_rss_kib());
}

fn varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

#[test]
fn a_gzip_batch_expanding_to_200_mb_is_validated_without_holding_it() {
    use std::io::Write;
    const VALUE: i64 = 200 * 1024 * 1024;
    // One record whose value is 200 MB of zeros, gzip-compressed as it is written.
    let mut rec = vec![0u8]; // attributes
    varlong(&mut rec, 0); // timestamp delta
    varlong(&mut rec, 0); // offset delta
    varlong(&mut rec, -1); // null key
    varlong(&mut rec, VALUE);
    let trailer = [0u8]; // no headers
    let mut head = Vec::new();
    varlong(&mut head, rec.len() as i64 + VALUE + 1);
    head.extend(&rec);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&head).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..200 {
        gz.write_all(&zeros).unwrap();
    }
    gz.write_all(&trailer).unwrap();
    let payload = gz.finish().unwrap();
    let mut b = Vec::new();
    b.extend(0i64.to_be_bytes());
    b.extend(((61 - 12 + payload.len()) as i32).to_be_bytes());
    b.extend(0i32.to_be_bytes());
    b.push(2);
    b.extend(0u32.to_be_bytes());
    b.extend(1i16.to_be_bytes()); // gzip
    b.extend(0i32.to_be_bytes()); // last offset delta
    b.extend(1i64.to_be_bytes());
    b.extend(1i64.to_be_bytes());
    b.extend((-1i64).to_be_bytes());
    b.extend((-1i16).to_be_bytes());
    b.extend((-1i32).to_be_bytes());
    b.extend(1i32.to_be_bytes());
    b.extend(&payload);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    let v = batch::validate_produce(&b, -1).expect("a valid gzip batch");
    assert_eq!(v.records, 1);
    let rss = peak_rss_kib();
    println!("{} compressed bytes validated as 200 MB of records; peak RSS {rss} KiB", b.len());
    assert!(rss < 150 * 1024, "peak RSS {rss} KiB: the batch was held decompressed");
}
