//! Fuzz target: the request guard and the `kafka-protocol` decoder behind it, in process.
//!
//! For every API and version the broker serves: random valid bodies (generated from the
//! request schema by `broker::fuzzgen`) must pass the guard and decode with the crate,
//! consuming exactly the body (this keeps the schema table and the crate in step); hostile
//! mutations of them, and plain random bytes, must either be refused by the guard or
//! decode without panicking. A count the guard lets through has real elements behind it, so
//! memory stays bounded; the peak RSS of this process is checked at the end.
//!
//! `FUZZ_CASES` (default 20,000) sets the number of mutated cases; `FUZZ_SEED` the seed.
//! The long run recorded in FUZZING.md: `FUZZ_CASES=1000000 cargo test --release -p broker
//! --test fuzz_requests -- --nocapture`.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use broker::fuzzgen::{self, env_u64, peak_rss_kib};
use broker::server::request_guard;
use broker::server::SUPPORTED;

/// DescribeLogDirs v0 travels as v1 in the crate (identical on the wire).
fn crate_version(api: ApiKey, v: i16) -> i16 {
    if api == ApiKey::DescribeLogDirs && v == 0 {
        1
    } else {
        v
    }
}

/// Decodes as the server does: WriteTxnMarkers v0 (Kafka 2.5's; the crate knows only v1)
/// and the old versions of `server::legacy` by their hand-written decoders, which consume
/// the whole body or refuse it.
fn decode(api: ApiKey, b: &mut Bytes, v: i16) -> Result<(), String> {
    if broker::server::legacy::handles(api, v) {
        // The versions the crate dropped: the hand decoders of `server::legacy`.
        return broker::server::legacy::decode_only(api, v, std::mem::take(b));
    }
    if api == ApiKey::WriteTxnMarkers && v == 0 {
        return broker::server::handlers::write_txn_markers::decode_v0(b).map(|_| b.clear()).ok_or_else(|| "refused by decode_v0".to_string());
    }
    RequestKind::decode(api, b, crate_version(api, v)).map(|_| ()).map_err(|e| e.to_string())
}

#[test]
fn valid_bodies_pass_the_guard_and_decode_exactly() {
    let mut rng = StdRng::seed_from_u64(env_u64("FUZZ_SEED", 1));
    let mut checked = 0;
    for &(api, min, max) in SUPPORTED {
        let msg = request_guard::schema(api as i16).expect("schema for a served API");
        for v in min..=max {
            for _ in 0..200 {
                let body = fuzzgen::valid_body(msg, v, &mut rng);
                if let Err(e) = request_guard::check(api as i16, v, &body) {
                    panic!("{api:?} v{v}: the guard refused a valid body: {e}\n{body:?}");
                }
                let mut b = Bytes::from(body.clone());
                match decode(api, &mut b, v) {
                    Ok(_) => assert_eq!(b.len(), 0, "{api:?} v{v}: the crate left bytes over: {body:?}"),
                    Err(e) => panic!("{api:?} v{v}: the crate refused a body the schema allows: {e}\n{body:?}"),
                }
                checked += 1;
            }
        }
    }
    println!("{checked} valid bodies checked");
}

#[test]
fn hostile_bodies_are_refused_or_decode_within_bounds() {
    let cases = env_u64("FUZZ_CASES", 20_000);
    let seed = env_u64("FUZZ_SEED", 2);
    let mut rng = StdRng::seed_from_u64(seed);
    let apis: Vec<(ApiKey, i16, i16)> = SUPPORTED.to_vec();
    let (mut refused, mut decoded, mut crate_refused) = (0u64, 0u64, 0u64);
    let mut largest = 0usize;
    for case in 0..cases {
        let (api, min, max) = apis[rng.gen_range(0..apis.len())];
        let v = rng.gen_range(min..=max);
        let msg = request_guard::schema(api as i16).expect("schema");
        let body = if case % 10 == 0 {
            let n = rng.gen_range(0..64);
            (0..n).map(|_| rng.gen()).collect()
        } else {
            let mut b = fuzzgen::valid_body(msg, v, &mut rng);
            fuzzgen::mutate(&mut b, &mut rng);
            b
        };
        largest = largest.max(body.len());
        if request_guard::check(api as i16, v, &body).is_err() {
            refused += 1;
            continue;
        }
        let mut b = Bytes::from(body);
        match decode(api, &mut b, v) {
            Ok(_) => decoded += 1,
            Err(_) => crate_refused += 1,
        }
    }
    let rss = peak_rss_kib();
    println!(
        "{cases} hostile cases (seed {seed}): {refused} refused by the guard, {decoded} decoded, \
         {crate_refused} refused by the crate after the guard; largest body {largest} bytes; peak RSS {rss} KiB"
    );
    // Bodies are under a few hundred bytes: anything near a GiB means a count was trusted.
    assert!(rss < 1024 * 1024, "peak RSS {rss} KiB");
}
