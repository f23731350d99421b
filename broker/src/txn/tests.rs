//! The coordinator's state machine with values: a vector is the log, time is a number.

use std::collections::BTreeSet;

use super::core::{Core, Init, MarkerJob, Settings};
use super::metadata::TxnState;
use super::records::{self, TxnValue};
use crate::error_code::ErrorCode;

type Log = Vec<(i32, Vec<u8>, Option<Vec<u8>>)>;

fn core() -> Core {
    let mut c = Core::new(Settings { max_timeout_ms: 900_000, id_expiration_ms: 604_800_000 }, 1);
    c.start_loading(0, 5);
    c.loaded(0, 5, Vec::new());
    c
}

fn run<T>(log: &mut Log, f: impl FnOnce(&mut dyn FnMut(i32, &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), ErrorCode>) -> T) -> T {
    let mut st = |p: i32, recs: &[(Vec<u8>, Option<Vec<u8>>)]| {
        for (k, v) in recs {
            log.push((p, k.clone(), v.clone()));
        }
        Ok(())
    };
    f(&mut st)
}

fn last(log: &Log) -> (String, Option<TxnValue>) {
    let (_, k, v) = log.last().unwrap();
    (records::decode_key(k).unwrap(), v.as_deref().map(|v| records::decode_value(v).unwrap()))
}

fn parts(v: &[(&str, i32)]) -> BTreeSet<(String, i32)> {
    v.iter().map(|(t, p)| (t.to_string(), *p)).collect()
}

fn init(c: &mut Core, log: &mut Log, id: &str, fresh: i64, now: i64) -> Init {
    match run(log, |st| c.init_producer_id(id, 60_000, None, None, now, st)) {
        Init::NeedProducerId => run(log, |st| c.init_producer_id(id, 60_000, None, Some(fresh), now, st)),
        other => other,
    }
}

#[test]
fn commit_round_trip_writes_kafkas_states() {
    let mut c = core();
    let mut log = Log::new();
    assert_eq!(init(&mut c, &mut log, "tx", 1000, 1), Init::Ok { producer_id: 1000, producer_epoch: 0 });
    assert_eq!(last(&log).1.unwrap().state, TxnState::Empty);
    let ps = parts(&[("a", 0), ("a", 1), ("b", 0)]);
    assert_eq!(run(&mut log, |st| c.add_partitions("tx", 1000, 0, &ps, 10, st)), ErrorCode::NONE);
    let v = last(&log).1.unwrap();
    assert_eq!((v.state, v.partitions.len(), v.start_ms), (TxnState::Ongoing, 3, 10));
    // A subset of what is in already: nothing written.
    let n = log.len();
    assert_eq!(run(&mut log, |st| c.add_partitions("tx", 1000, 0, &parts(&[("a", 0)]), 11, st)), ErrorCode::NONE);
    assert_eq!(log.len(), n);
    assert_eq!(run(&mut log, |st| c.end_txn("tx", 1000, 0, true, 20, st)), ErrorCode::NONE);
    assert_eq!(last(&log).1.unwrap().state, TxnState::PrepareCommit);
    let jobs: Vec<MarkerJob> = c.outbox.drain(..).collect();
    assert_eq!(jobs.len(), 1);
    assert!(jobs[0].commit);
    assert_eq!((jobs[0].partitions.len(), jobs[0].coordinator_epoch, jobs[0].producer_epoch), (3, 5, 0));
    // Meanwhile the client may retry EndTxn or start over: not yet (Kafka answers
    // CONCURRENT_TRANSACTIONS while the Complete* transition is pending, whatever was asked).
    assert_eq!(run(&mut log, |st| c.end_txn("tx", 1000, 0, true, 21, st)), ErrorCode::CONCURRENT_TRANSACTIONS);
    assert_eq!(run(&mut log, |st| c.end_txn("tx", 1000, 0, false, 21, st)), ErrorCode::CONCURRENT_TRANSACTIONS);
    assert_eq!(init(&mut c, &mut log, "tx", 1, 21), Init::Err(ErrorCode::CONCURRENT_TRANSACTIONS));
    assert_eq!(run(&mut log, |st| c.add_partitions("tx", 1000, 0, &ps, 21, st)), ErrorCode::CONCURRENT_TRANSACTIONS);
    assert!(c.job_current(&jobs[0]));
    assert_eq!(run(&mut log, |st| c.markers_written(&jobs[0], 30, st)), Ok(true));
    let v = last(&log).1.unwrap();
    assert_eq!((v.state, v.partitions.len()), (TxnState::CompleteCommit, 0));
    assert!(!c.job_current(&jobs[0]));
    // A retried EndTxn(commit) now succeeds; an abort is in the wrong state.
    assert_eq!(run(&mut log, |st| c.end_txn("tx", 1000, 0, true, 31, st)), ErrorCode::NONE);
    assert_eq!(run(&mut log, |st| c.end_txn("tx", 1000, 0, false, 31, st)), ErrorCode::INVALID_TXN_STATE);
}

#[test]
fn request_errors() {
    let mut c = core();
    let mut log = Log::new();
    let ps = parts(&[("a", 0)]);
    assert_eq!(run(&mut log, |st| c.add_partitions("nope", 1, 0, &ps, 1, st)), ErrorCode::INVALID_PRODUCER_ID_MAPPING);
    assert_eq!(run(&mut log, |st| c.end_txn("nope", 1, 0, true, 1, st)), ErrorCode::INVALID_PRODUCER_ID_MAPPING);
    assert_eq!(run(&mut log, |st| c.init_producer_id("tx", 900_001, None, Some(1), 1, st)), Init::Err(ErrorCode::INVALID_TRANSACTION_TIMEOUT));
    assert_eq!(run(&mut log, |st| c.init_producer_id("tx", 0, None, Some(1), 1, st)), Init::Err(ErrorCode::INVALID_TRANSACTION_TIMEOUT));
    assert_eq!(run(&mut log, |st| c.init_producer_id("", 10, None, Some(1), 1, st)), Init::Err(ErrorCode::INVALID_REQUEST));
    init(&mut c, &mut log, "tx", 7, 1);
    assert_eq!(run(&mut log, |st| c.add_partitions("tx", 8, 0, &ps, 1, st)), ErrorCode::INVALID_PRODUCER_ID_MAPPING);
    assert_eq!(run(&mut log, |st| c.add_partitions("tx", 7, 3, &ps, 1, st)), ErrorCode::INVALID_PRODUCER_EPOCH);
    assert_eq!(run(&mut log, |st| c.end_txn("tx", 7, 0, true, 1, st)), ErrorCode::INVALID_TXN_STATE);
    // Partitions this broker does not lead, or is loading.
    let mut other = Core::new(Settings { max_timeout_ms: 900_000, id_expiration_ms: 1 }, 1);
    assert_eq!(run(&mut log, |st| other.end_txn("tx", 7, 0, true, 1, st)), ErrorCode::NOT_COORDINATOR);
    other.start_loading(0, 1);
    assert_eq!(run(&mut log, |st| other.init_producer_id("tx", 10, None, Some(1), 1, st)), Init::Err(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS));
    // A store failure: the state does not move and the error goes back.
    let mut fail = |_: i32, _: &[(Vec<u8>, Option<Vec<u8>>)]| Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
    assert_eq!(c.add_partitions("tx", 7, 0, &ps, 1, &mut fail), ErrorCode::COORDINATOR_NOT_AVAILABLE);
    assert_eq!(c.txns["tx"].state, TxnState::Empty);
}

#[test]
fn a_second_producer_fences_the_first() {
    let mut c = core();
    let mut log = Log::new();
    assert_eq!(init(&mut c, &mut log, "tx", 7, 1), Init::Ok { producer_id: 7, producer_epoch: 0 });
    assert_eq!(run(&mut log, |st| c.add_partitions("tx", 7, 0, &parts(&[("a", 0)]), 2, st)), ErrorCode::NONE);
    // The second producer's InitProducerId aborts the ongoing transaction with a bumped epoch.
    assert_eq!(init(&mut c, &mut log, "tx", 99, 3), Init::Err(ErrorCode::CONCURRENT_TRANSACTIONS));
    let v = last(&log).1.unwrap();
    assert_eq!((v.state, v.producer_epoch), (TxnState::PrepareAbort, 1));
    let job = c.outbox.pop().unwrap();
    assert_eq!((job.commit, job.producer_epoch), (false, 1));
    // The first producer is fenced from here on.
    assert_eq!(run(&mut log, |st| c.end_txn("tx", 7, 0, true, 4, st)), ErrorCode::INVALID_PRODUCER_EPOCH);
    assert_eq!(run(&mut log, |st| c.markers_written(&job, 5, st)), Ok(true));
    assert_eq!(init(&mut c, &mut log, "tx", 99, 6), Init::Ok { producer_id: 7, producer_epoch: 2 });
    assert_eq!(run(&mut log, |st| c.add_partitions("tx", 7, 0, &parts(&[("a", 0)]), 7, st)), ErrorCode::INVALID_PRODUCER_EPOCH);
    assert_eq!(run(&mut log, |st| c.add_partitions("tx", 7, 2, &parts(&[("a", 0)]), 7, st)), ErrorCode::NONE);
}

#[test]
fn an_exhausted_epoch_gets_a_new_producer_id() {
    let mut c = core();
    let mut log = Log::new();
    init(&mut c, &mut log, "tx", 7, 1);
    c.txns.get_mut("tx").unwrap().producer_epoch = i16::MAX - 1;
    assert_eq!(run(&mut log, |st| c.init_producer_id("tx", 10, None, None, 2, st)), Init::NeedProducerId);
    assert_eq!(run(&mut log, |st| c.init_producer_id("tx", 10, None, Some(8), 2, st)), Init::Ok { producer_id: 8, producer_epoch: 0 });
    // KIP-360 (v3+): the old producer may come back with its exhausted id and epoch.
    let m = &c.txns["tx"];
    assert_eq!(m.last_producer_id, 7);
    assert_eq!(run(&mut log, |st| c.init_producer_id("tx", 10, Some((8, 0)), None, 3, st)), Init::Ok { producer_id: 8, producer_epoch: 1 });
    assert_eq!(run(&mut log, |st| c.init_producer_id("tx", 10, Some((5, 0)), None, 3, st)), Init::Err(ErrorCode::INVALID_PRODUCER_EPOCH));
}

#[test]
fn timed_out_transactions_are_aborted_and_ids_expire() {
    let mut c = Core::new(Settings { max_timeout_ms: 900_000, id_expiration_ms: 1000 }, 1);
    c.start_loading(0, 1);
    c.loaded(0, 1, Vec::new());
    let mut log = Log::new();
    assert_eq!(run(&mut log, |st| c.init_producer_id("slow", 100, None, Some(1), 0, st)), Init::Ok { producer_id: 1, producer_epoch: 0 });
    assert_eq!(run(&mut log, |st| c.add_partitions("slow", 1, 0, &parts(&[("a", 0)]), 10, st)), ErrorCode::NONE);
    assert!(run(&mut log, |st| c.abort_timed_out(110, st)).is_empty());
    assert_eq!(run(&mut log, |st| c.abort_timed_out(111, st)), vec!["slow".to_string()]);
    let v = last(&log).1.unwrap();
    assert_eq!((v.state, v.producer_epoch), (TxnState::PrepareAbort, 1));
    let job = c.outbox.pop().unwrap();
    assert_eq!(run(&mut log, |st| c.end_txn("slow", 1, 0, true, 112, st)), ErrorCode::INVALID_PRODUCER_EPOCH);
    assert_eq!(run(&mut log, |st| c.markers_written(&job, 120, st)), Ok(true));
    // Idle in CompleteAbort for the expiration time: a tombstone and gone.
    assert!(run(&mut log, |st| c.expire_ids(1119, st)).is_empty());
    assert_eq!(run(&mut log, |st| c.expire_ids(1120, st)), vec!["slow".to_string()]);
    assert_eq!(last(&log), ("slow".to_string(), None));
    assert!(c.txns.is_empty());
}

#[test]
fn loading_resumes_a_prepared_transaction() {
    let mut c = core();
    let mut log = Log::new();
    init(&mut c, &mut log, "a", 1, 1);
    run(&mut log, |st| c.add_partitions("a", 1, 0, &parts(&[("t", 0), ("t", 1)]), 2, st));
    run(&mut log, |st| c.end_txn("a", 1, 0, true, 3, st));
    init(&mut c, &mut log, "b", 2, 4);
    init(&mut c, &mut log, "gone", 3, 4);
    log.push((0, records::encode_key("gone"), None));
    // A new coordinator (another broker, a later leader epoch) replays the records.
    let recs: Vec<(String, Option<TxnValue>)> = log
        .iter()
        .map(|(_, k, v)| (records::decode_key(k).unwrap(), v.as_deref().map(|v| records::decode_value(v).unwrap())))
        .collect();
    let mut d = Core::new(Settings { max_timeout_ms: 900_000, id_expiration_ms: 604_800_000 }, 1);
    d.start_loading(0, 6);
    assert_eq!(d.check("a"), Err(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS));
    let (n, resumed) = d.loaded(0, 6, recs);
    assert_eq!(n, 2);
    assert_eq!(resumed.len(), 1, "{resumed:?}");
    assert!(!d.txns.contains_key("gone"));
    assert_eq!(d.txns["a"].state, TxnState::PrepareCommit);
    assert_eq!(d.outbox.len(), 1);
    let job = d.outbox.pop().unwrap();
    assert_eq!((job.commit, job.coordinator_epoch, job.partitions.len()), (true, 6, 2));
    let mut log2 = Log::new();
    assert_eq!(run(&mut log2, |st| d.markers_written(&job, 10, st)), Ok(true));
    assert_eq!(last(&log2).1.unwrap().state, TxnState::CompleteCommit);
    // Losing the partition drops its transactions and makes old jobs obsolete.
    d.unload(0);
    assert!(d.txns.is_empty());
    assert_eq!(d.check("a"), Err(ErrorCode::NOT_COORDINATOR));
    assert_eq!(run(&mut log2, |st| d.markers_written(&job, 11, st)), Ok(false));
}
