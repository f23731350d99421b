//! `kafka-dump-log.sh --files <segment>[,...] [--print-data-log] [--deep-iteration]`: reads
//! log segments (`.log`), offset indexes (`.index`), time indexes (`.timeindex`) and
//! aborted-transaction indexes (`.txnindex`) offline, printing Kafka 2.5's DumpLogSegments
//! lines (transaction markers as `endTxnMarker: ABORT coordinatorEpoch: N`;
//! `--transaction-log-decoder` prints `__transaction_state` records as Kafka does, see
//! `txn_log`).
//!
//! Formats (Kafka's, as the broker writes them): `.log` is record batches back to back
//! (61-byte v2 header, see broker/src/log/batch.rs); `.index` entries are (relative offset
//! u32, position u32); `.timeindex` entries are (timestamp i64, relative offset u32);
//! `.txnindex` entries are 34 bytes (version i16, producer id i64, first offset i64, last
//! offset i64, last stable offset i64). A control batch's record has key (version i16,
//! type i16: 0 ABORT, 1 COMMIT) and, for those, value (version i16, coordinator epoch i32).

use std::io::Write;
use std::path::Path;

use bytes::Bytes;

use crate::kafka::opts::{arg, flag, OptSpec};
use crate::kafka::records::{codec_name, decode_records_with};
use crate::kafka::{start, usage_error, Start};

const INTRO: &str = "This tool helps to parse a log file and dump its contents to the console, useful for debugging a seemingly corrupt log segment.";

const SPECS: &[OptSpec] = &[
    flag("deep-iteration", "if set, uses deep instead of shallow iteration. Automatically set if print-data-log is enabled."),
    arg("files", "String: file1, file2, ...", "REQUIRED: The comma separated list of data and index log files to be dumped."),
    flag("index-sanity-check", "if set, just checks the index sanity without printing its content. This is the same check that is executed on broker startup to determine if an index needs rebuilding or not."),
    arg("key-decoder-class", "String", "if set, used to deserialize the keys. This class should implement kafka.serializer.Decoder trait. Custom jar should be available in kafka/libs directory. (default: kafka.serializer.StringDecoder)"),
    arg("max-message-size", "Integer: size", "Size of largest message. (default: 5242880)"),
    flag("offsets-decoder", "if set, log data will be parsed as offset data from the __consumer_offsets topic."),
    flag("print-data-log", "if set, printing the messages content when dumping data logs. Automatically set if any decoder option is specified."),
    flag("transaction-log-decoder", "if set, log data will be parsed as transaction metadata from the __transaction_state topic."),
    arg("value-decoder-class", "String", "if set, used to deserialize the messages. This class should implement kafka.serializer.Decoder trait. Custom jar should be available in kafka/libs directory. (default: kafka.serializer.StringDecoder)"),
    flag("verify-index-only", "if set, just verify the index log without printing its content."),
];

pub fn main(args: &[String]) -> i32 {
    let p = match start(INTRO, SPECS, args) {
        Start::Go(p) => p,
        Start::Exit(c) => return c,
    };
    let files = match p.required("files") {
        Ok(f) => f.to_string(),
        Err(m) => return usage_error(&m),
    };
    let print_data = p.has("print-data-log") || p.has("offsets-decoder") || p.has("transaction-log-decoder") || p.has("key-decoder-class") || p.has("value-decoder-class");
    let deep = print_data || p.has("deep-iteration");
    let verify_only = p.has("verify-index-only") || p.has("index-sanity-check");
    let mut code = 0;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for f in files.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let path = Path::new(f);
        let _ = writeln!(out, "Dumping {f}");
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) => {
                let _ = out.flush();
                eprintln!("Error: cannot read {f}: {e}");
                code = 1;
                continue;
            }
        };
        let base: i64 = path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse().ok()).unwrap_or(0);
        match ext {
            "log" => dump_log(&mut out, &data, base, deep, print_data, p.has("transaction-log-decoder")),
            "index" if !verify_only => {
                for e in data.chunks_exact(8) {
                    let rel = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
                    let pos = u32::from_be_bytes([e[4], e[5], e[6], e[7]]);
                    let _ = writeln!(out, "offset: {} position: {pos}", base + rel as i64);
                }
            }
            "timeindex" if !verify_only => {
                for e in data.chunks_exact(12) {
                    let ts = i64::from_be_bytes([e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]]);
                    let rel = u32::from_be_bytes([e[8], e[9], e[10], e[11]]);
                    let _ = writeln!(out, "timestamp: {ts} offset: {}", base + rel as i64);
                }
            }
            "txnindex" if !verify_only => dump_txn_index(&mut out, &data),
            "index" | "timeindex" => {
                let unit = if ext == "index" { 8 } else { 12 };
                if data.len() % unit != 0 {
                    let _ = writeln!(out, "{f} has a partial trailing entry ({} bytes)", data.len() % unit);
                }
            }
            _ => {
                let _ = writeln!(out, "Ignoring unknown file {f}");
            }
        }
    }
    let _ = out.flush();
    code
}

/// Kafka's dumpTxnIndex lines; a partial trailing entry is left out.
fn dump_txn_index(out: &mut impl Write, data: &[u8]) {
    for e in data.chunks_exact(34) {
        let version = i16::from_be_bytes([e[0], e[1]]);
        let _ = writeln!(
            out,
            "version: {version} producerId: {} firstOffset: {} lastOffset: {} lastStableOffset: {}",
            be_i64(e, 2),
            be_i64(e, 10),
            be_i64(e, 18),
            be_i64(e, 26)
        );
    }
}

/// What DumpLogSegments prints for a control record: the end-transaction marker, or the
/// control type when it is not one.
fn control_text(key: Option<&[u8]>, value: Option<&[u8]>) -> String {
    let kind = key.filter(|k| k.len() >= 4).map(|k| i16::from_be_bytes([k[2], k[3]]));
    match (kind, value.filter(|v| v.len() >= 6)) {
        (Some(t @ (0 | 1)), Some(v)) => {
            format!(" endTxnMarker: {} coordinatorEpoch: {}", if t == 0 { "ABORT" } else { "COMMIT" }, be_i32(v, 2))
        }
        (Some(t), _) => format!(" controlType: UNKNOWN({t})"),
        (None, _) => " controlType: UNKNOWN(-1)".to_string(),
    }
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn dump_log(out: &mut impl Write, data: &[u8], base: i64, deep: bool, print_data: bool, txn_log: bool) {
    let _ = writeln!(out, "Starting offset: {base}");
    let mut pos = 0usize;
    while data.len() - pos >= 61 {
        let b = &data[pos..];
        let len = be_i32(b, 8);
        if len < 49 || 12 + len as usize > b.len() {
            break;
        }
        let total = 12 + len as usize;
        let batch = &b[..total];
        let base_offset = be_i64(batch, 0);
        let leader_epoch = be_i32(batch, 12);
        let magic = batch[16] as i8;
        let crc = u32::from_be_bytes([batch[17], batch[18], batch[19], batch[20]]);
        let attrs = i16::from_be_bytes([batch[21], batch[22]]);
        let last_delta = be_i32(batch, 23);
        let max_ts = be_i64(batch, 35);
        let producer_id = be_i64(batch, 43);
        let producer_epoch = i16::from_be_bytes([batch[51], batch[52]]);
        let base_seq = be_i32(batch, 53);
        let count = be_i32(batch, 57);
        if magic != 2 {
            let _ = writeln!(out, "Found a batch with unsupported magic {magic} at position {pos}; stopping");
            break;
        }
        let valid = crc32c::crc32c(&batch[21..]) == crc;
        let codec = match attrs & 7 {
            0 => kafka_protocol::records::Compression::None,
            1 => kafka_protocol::records::Compression::Gzip,
            2 => kafka_protocol::records::Compression::Snappy,
            3 => kafka_protocol::records::Compression::Lz4,
            _ => kafka_protocol::records::Compression::Zstd,
        };
        let ts_type = if attrs & 8 != 0 { "LogAppendTime" } else { "CreateTime" };
        let last_seq = if base_seq < 0 { -1 } else { base_seq.wrapping_add(last_delta) };
        let _ = writeln!(
            out,
            "baseOffset: {base_offset} lastOffset: {} count: {count} baseSequence: {base_seq} lastSequence: {last_seq} producerId: {producer_id} producerEpoch: {producer_epoch} partitionLeaderEpoch: {leader_epoch} isTransactional: {} isControl: {} position: {pos} {ts_type}: {max_ts} size: {total} magic: {magic} compresscodec: {} crc: {crc} isvalid: {valid}",
            base_offset + last_delta as i64,
            attrs & 0x10 != 0,
            attrs & 0x20 != 0,
            codec_name(codec),
        );
        if deep {
            match decode_records_with(Bytes::copy_from_slice(batch), true) {
                Ok(recs) => {
                    for r in recs {
                        let seq = if base_seq < 0 { -1 } else { base_seq.wrapping_add((r.offset - base_offset) as i32) };
                        let ks = r.key.as_ref().map(|k| k.len() as i64).unwrap_or(-1);
                        let vs = r.value.as_ref().map(|v| v.len() as i64).unwrap_or(-1);
                        let hk: Vec<&str> = r.headers.iter().map(|(k, _)| k.as_str()).collect();
                        let _ = write!(out, "| offset: {} {ts_type}: {} keysize: {ks} valuesize: {vs} sequence: {seq} headerKeys: [{}]", r.offset, r.timestamp, hk.join(","));
                        if attrs & 0x20 != 0 {
                            let _ = write!(out, "{}", control_text(r.key.as_deref(), r.value.as_deref()));
                        } else if let Some((k, v)) = r.key.as_deref().filter(|_| txn_log).and_then(|k| super::txn_log::format(k, r.value.as_deref())) {
                            let _ = write!(out, " key: {k} payload: {v}");
                        } else if print_data {
                            if let Some(k) = &r.key {
                                let _ = write!(out, " key: {}", String::from_utf8_lossy(k));
                            }
                            if let Some(v) = &r.value {
                                let _ = write!(out, " payload: {}", String::from_utf8_lossy(v));
                            }
                        }
                        let _ = writeln!(out);
                    }
                }
                Err(e) => {
                    let _ = writeln!(out, "cannot decode the records of the batch at position {pos}: {e}");
                }
            }
        }
        pos += total;
    }
    if pos < data.len() {
        let _ = writeln!(out, "Found {} invalid bytes at the end of the segment (position {pos})", data.len() - pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txn_index_and_markers_print_as_kafka() {
        let mut e = vec![0u8, 0];
        for v in [1i64, 0, 10, 0] {
            e.extend_from_slice(&v.to_be_bytes());
        }
        e.extend_from_slice(&[0, 0, 1]);
        let mut out = Vec::new();
        dump_txn_index(&mut out, &e);
        assert_eq!(String::from_utf8(out).unwrap(), "version: 0 producerId: 1 firstOffset: 0 lastOffset: 10 lastStableOffset: 0\n");
        assert_eq!(control_text(Some(&[0, 0, 0, 0]), Some(&[0, 0, 0, 0, 0, 7])), " endTxnMarker: ABORT coordinatorEpoch: 7");
        assert_eq!(control_text(Some(&[0, 0, 0, 1]), Some(&[0, 0, 255, 255, 255, 255])), " endTxnMarker: COMMIT coordinatorEpoch: -1");
        assert_eq!(control_text(Some(&[0, 0, 0, 5]), None), " controlType: UNKNOWN(5)");
    }
}
