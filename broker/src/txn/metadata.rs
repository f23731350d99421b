//! One transactional id's state, as Kafka 2.5's TransactionMetadata: the producer id and
//! epoch it owns, the state of its current transaction and the partitions in it. Changes are
//! computed as a `Transit` (the next value, checked against Kafka's table of valid previous
//! states), stored in `__transaction_state`, and only then applied. Pure values, no I/O.

use std::collections::BTreeSet;

use super::records::TxnValue;

/// Kafka's TransactionState, with its byte in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

impl TxnState {
    pub fn byte(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    pub fn from_byte(b: i8) -> Option<TxnState> {
        Some(match b {
            0 => TxnState::Empty,
            1 => TxnState::Ongoing,
            2 => TxnState::PrepareCommit,
            3 => TxnState::PrepareAbort,
            4 => TxnState::CompleteCommit,
            5 => TxnState::CompleteAbort,
            6 => TxnState::Dead,
            7 => TxnState::PrepareEpochFence,
            _ => return None,
        })
    }

    /// Kafka's `validPreviousStates`: may a transaction move from `self` to `to`?
    pub fn can_move_to(self, to: TxnState) -> bool {
        use TxnState::*;
        let prev: &[TxnState] = match to {
            Empty => &[Empty, CompleteCommit, CompleteAbort],
            Ongoing => &[Ongoing, Empty, CompleteCommit, CompleteAbort],
            PrepareCommit => &[Ongoing],
            PrepareAbort => &[Ongoing, PrepareEpochFence],
            CompleteCommit => &[PrepareCommit],
            CompleteAbort => &[PrepareAbort],
            Dead => &[Empty, CompleteAbort, CompleteCommit],
            PrepareEpochFence => &[Ongoing],
        };
        prev.contains(&self)
    }
}

/// Kafka: an epoch at Short.MaxValue - 1 or above cannot be bumped; a new producer id is due.
pub fn epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMeta {
    pub id: String,
    pub producer_id: i64,
    pub last_producer_id: i64,
    pub producer_epoch: i16,
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    pub start_ms: i64,
    pub last_update_ms: i64,
    /// Set while markers are being written: the Complete* state that follows (Kafka's
    /// pendingState between PrepareX being durable and CompleteX being written).
    pub pending: Option<TxnState>,
}

/// The next value of a transaction, to be stored before it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transit {
    pub producer_id: i64,
    pub last_producer_id: i64,
    pub producer_epoch: i16,
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    pub start_ms: i64,
    pub last_update_ms: i64,
}

impl Transit {
    pub fn value(&self) -> TxnValue {
        TxnValue {
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            timeout_ms: self.timeout_ms,
            state: self.state,
            partitions: self.partitions.clone(),
            last_update_ms: self.last_update_ms,
            start_ms: self.start_ms,
        }
    }
}

impl TxnMeta {
    /// A new transactional id (InitProducerId's first call), before its first epoch.
    pub fn new(id: &str, producer_id: i64, timeout_ms: i32, now: i64) -> TxnMeta {
        TxnMeta {
            id: id.to_string(),
            producer_id,
            last_producer_id: -1,
            producer_epoch: -1,
            last_producer_epoch: -1,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: now,
            pending: None,
        }
    }

    /// As read back from the log (Kafka does not store the last producer id/epoch).
    pub fn from_value(id: &str, v: &TxnValue) -> TxnMeta {
        TxnMeta {
            id: id.to_string(),
            producer_id: v.producer_id,
            last_producer_id: -1,
            producer_epoch: v.producer_epoch,
            last_producer_epoch: -1,
            timeout_ms: v.timeout_ms,
            state: v.state,
            partitions: v.partitions.clone(),
            start_ms: v.start_ms,
            last_update_ms: v.last_update_ms,
            pending: None,
        }
    }

    fn to(&self, state: TxnState) -> Option<Transit> {
        if !self.state.can_move_to(state) {
            return None;
        }
        Some(Transit {
            producer_id: self.producer_id,
            last_producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            last_producer_epoch: self.last_producer_epoch,
            timeout_ms: self.timeout_ms,
            state,
            partitions: self.partitions.clone(),
            start_ms: self.start_ms,
            last_update_ms: self.last_update_ms,
        })
    }

    /// InitProducerId on an Empty/Complete* transaction: bump the epoch (Kafka's
    /// prepareIncrementProducerEpoch). Err(()) = INVALID_PRODUCER_EPOCH.
    pub fn bump_epoch(&self, timeout_ms: i32, expected_epoch: Option<i16>, now: i64) -> Result<Transit, ()> {
        let bumped = self.producer_epoch.saturating_add(1);
        let (epoch, last) = match expected_epoch {
            None => (bumped, -1),
            Some(e) if self.producer_epoch == -1 || e == self.producer_epoch => (bumped, self.producer_epoch),
            Some(e) if e == self.last_producer_epoch => (self.producer_epoch, self.last_producer_epoch),
            Some(_) => return Err(()),
        };
        let mut t = self.to(TxnState::Empty).ok_or(())?;
        t.producer_epoch = epoch;
        t.last_producer_epoch = last;
        t.timeout_ms = timeout_ms;
        t.partitions.clear();
        t.start_ms = -1;
        t.last_update_ms = now;
        Ok(t)
    }

    /// InitProducerId when the epoch is exhausted: a new producer id at epoch 0.
    pub fn rotate_producer_id(&self, new_id: i64, timeout_ms: i32, now: i64, record_last_epoch: bool) -> Option<Transit> {
        let mut t = self.to(TxnState::Empty)?;
        t.producer_id = new_id;
        t.producer_epoch = 0;
        t.last_producer_epoch = if record_last_epoch { self.producer_epoch } else { -1 };
        t.timeout_ms = timeout_ms;
        t.partitions.clear();
        t.start_ms = -1;
        t.last_update_ms = now;
        Some(t)
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: Ongoing with the union of the partitions.
    pub fn add_partitions(&self, added: &BTreeSet<(String, i32)>, now: i64) -> Option<Transit> {
        let mut t = self.to(TxnState::Ongoing)?;
        if matches!(self.state, TxnState::Empty | TxnState::CompleteAbort | TxnState::CompleteCommit) {
            t.start_ms = now;
        }
        t.partitions.extend(added.iter().cloned());
        t.last_update_ms = now;
        Some(t)
    }

    /// EndTxn: PrepareCommit or PrepareAbort (the partitions stay for the markers).
    /// `fence_epoch` is the bumped epoch of an abort started by fencing (InitProducerId on an
    /// ongoing transaction, or its timeout), which Kafka 2.5 stores with the PrepareAbort.
    pub fn prepare_end(&self, commit: bool, fence_epoch: Option<i16>, now: i64) -> Option<Transit> {
        let mut t = self.to(if commit { TxnState::PrepareCommit } else { TxnState::PrepareAbort })?;
        if let (false, Some(e)) = (commit, fence_epoch) {
            t.last_producer_epoch = self.producer_epoch;
            t.producer_epoch = e;
        }
        t.last_update_ms = now;
        Some(t)
    }

    /// All markers written: CompleteCommit / CompleteAbort, no partitions.
    pub fn complete(&self, now: i64) -> Option<Transit> {
        let state = match self.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            TxnState::PrepareAbort => TxnState::CompleteAbort,
            _ => return None,
        };
        let mut t = self.to(state)?;
        t.partitions.clear();
        t.last_update_ms = now;
        Some(t)
    }

    /// Applies a stored transit.
    pub fn apply(&mut self, t: Transit) {
        self.producer_id = t.producer_id;
        self.last_producer_id = t.last_producer_id;
        self.producer_epoch = t.producer_epoch;
        self.last_producer_epoch = t.last_producer_epoch;
        self.timeout_ms = t.timeout_ms;
        self.state = t.state;
        self.partitions = t.partitions;
        self.start_ms = t.start_ms;
        self.last_update_ms = t.last_update_ms;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(v: &[(&str, i32)]) -> BTreeSet<(String, i32)> {
        v.iter().map(|(t, p)| (t.to_string(), *p)).collect()
    }

    #[test]
    fn transitions_follow_kafkas_table() {
        use TxnState::*;
        assert!(Empty.can_move_to(Ongoing));
        assert!(Ongoing.can_move_to(PrepareCommit));
        assert!(!Empty.can_move_to(PrepareCommit));
        assert!(!PrepareCommit.can_move_to(CompleteAbort));
        assert!(PrepareEpochFence.can_move_to(PrepareAbort));
        assert!(!Ongoing.can_move_to(Empty));
        for b in 0..8 {
            assert_eq!(TxnState::from_byte(b).map(|s| s.byte()), Some(b));
        }
        assert_eq!(TxnState::from_byte(8), None);
    }

    #[test]
    fn a_transaction_goes_round() {
        let mut m = TxnMeta::new("t", 5, 1000, 1);
        m.apply(m.bump_epoch(1000, None, 2).unwrap());
        assert_eq!((m.producer_epoch, m.state), (0, TxnState::Empty));
        m.apply(m.add_partitions(&parts(&[("a", 0)]), 10).unwrap());
        assert_eq!((m.state, m.start_ms), (TxnState::Ongoing, 10));
        m.apply(m.add_partitions(&parts(&[("a", 1)]), 20).unwrap());
        assert_eq!((m.partitions.len(), m.start_ms), (2, 10));
        assert_eq!(m.complete(21), None);
        m.apply(m.prepare_end(true, None, 30).unwrap());
        assert_eq!(m.state, TxnState::PrepareCommit);
        assert_eq!(m.partitions.len(), 2);
        m.apply(m.complete(40).unwrap());
        assert_eq!((m.state, m.partitions.len(), m.last_update_ms), (TxnState::CompleteCommit, 0, 40));
        // The next transaction starts anew.
        m.apply(m.add_partitions(&parts(&[("b", 0)]), 50).unwrap());
        assert_eq!(m.start_ms, 50);
    }

    #[test]
    fn epoch_bumps_and_rotation() {
        let mut m = TxnMeta::new("t", 5, 1000, 1);
        m.apply(m.bump_epoch(1000, None, 2).unwrap());
        m.apply(m.bump_epoch(1000, Some(0), 3).unwrap());
        assert_eq!((m.producer_epoch, m.last_producer_epoch), (1, 0));
        // A retry of the same call (the client saw no answer) gets the same epoch.
        assert_eq!(m.bump_epoch(1000, Some(0), 4).unwrap().producer_epoch, 1);
        assert!(m.bump_epoch(1000, Some(7), 4).is_err());
        m.producer_epoch = i16::MAX - 1;
        assert!(epoch_exhausted(m.producer_epoch));
        let t = m.rotate_producer_id(6, 1000, 5, true).unwrap();
        assert_eq!((t.producer_id, t.producer_epoch, t.last_producer_id, t.last_producer_epoch), (6, 0, 5, i16::MAX - 1));
    }

    #[test]
    fn a_fenced_abort_carries_the_bumped_epoch() {
        let mut m = TxnMeta::new("t", 5, 1000, 1);
        m.apply(m.bump_epoch(1000, None, 2).unwrap());
        m.apply(m.add_partitions(&parts(&[("a", 0)]), 10).unwrap());
        let t = m.prepare_end(false, Some(1), 11).unwrap();
        assert_eq!((t.state, t.producer_epoch, t.last_producer_epoch), (TxnState::PrepareAbort, 1, 0));
    }
}
