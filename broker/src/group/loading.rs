//! Coordinator ownership: when this broker starts or stops leading `__consumer_offsets`
//! partitions (from the metadata view), it loads their groups and offsets by replaying the
//! partition's records (formats in `records`), or drops them. Below the group handlers.

use super::*;

/// Replays one partition of `__consumer_offsets` into groups, and the offsets of
/// transactions still open at its end (offsets of transactional batches count only once their
/// producer's COMMIT marker follows; an ABORT marker drops them).
pub(super) fn load_partition(logs: &LogManager, p: i32) -> (HashMap<String, Group>, txn_offsets::Pending) {
    let now = now_ms();
    let mut replay = txn_offsets::Replay::default();
    let mut offsets: HashMap<String, BTreeMap<(String, i32), OffsetValue>> = HashMap::new();
    let mut metas: HashMap<String, Option<records::GroupValue>> = HashMap::new();
    logs.replay(OFFSETS_TOPIC, p, |h, bytes| {
        if h.is_control() {
            if let Some(commit) = txn_offsets::control_marker(bytes) {
                for (group, offs) in replay.marker(h.producer_id, commit).unwrap_or_default() {
                    let m = offsets.entry(group).or_default();
                    for (tp, v) in offs {
                        m.insert(tp, v);
                    }
                }
            }
            return;
        }
        let txn = h.is_transactional().then_some(h.producer_id);
        let recs = match batch::records(bytes) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("skipping unreadable batch at {} of {OFFSETS_TOPIC}-{p}: {e}", h.base_offset);
                return;
            }
        };
        for r in recs {
            let Some(key) = r.key.as_deref().and_then(records::decode_key) else { continue };
            match key {
                Key::Offset { group, topic, partition } if txn.is_some() => {
                    if let (Some(pid), Some(v)) = (txn, r.value.as_deref().and_then(records::decode_offset)) {
                        replay.offset(pid, group, (topic, partition), v);
                    }
                }
                Key::Offset { group, topic, partition } => {
                    let m = offsets.entry(group).or_default();
                    match r.value.as_deref().and_then(records::decode_offset) {
                        Some(v) => {
                            m.insert((topic, partition), v);
                        }
                        None => {
                            m.remove(&(topic, partition));
                        }
                    }
                }
                Key::Group { group } => {
                    let v = r.value.as_deref().and_then(records::decode_group);
                    if v.is_none() {
                        offsets.remove(&group);
                    }
                    metas.insert(group, v);
                }
            }
        }
    });
    let mut out = HashMap::new();
    for (id, v) in metas {
        if let Some(v) = v {
            out.insert(id.clone(), Group::from_stored(&id, &v, now));
        }
    }
    for (id, offs) in offsets {
        if offs.is_empty() && !out.contains_key(&id) {
            continue;
        }
        let g = out.entry(id.clone()).or_insert_with(|| Group::new(&id, now));
        g.offsets = offs;
    }
    (out, replay.pending)
}

impl GroupCoordinator {
    /// Leadership of `__consumer_offsets` partitions changed: load what we now lead, drop
    /// the groups of what we no longer lead.
    pub fn update_ownership(&self, logs: &LogManager, led: &BTreeSet<i32>, partition_count: Option<i32>) {
        if let Some(n) = partition_count {
            self.partitions.store(n.max(1), Ordering::Relaxed);
        }
        let n = self.partitions.load(Ordering::Relaxed);
        let (to_load, lost) = {
            let mut inner = self.lock();
            let lost: Vec<i32> = inner.partitions.keys().copied().filter(|p| !led.contains(p)).collect();
            for p in &lost {
                inner.partitions.remove(p);
            }
            for by_group in inner.txn_pending.values_mut() {
                by_group.retain(|g, _| led.contains(&records::partition_for(g, n)));
            }
            inner.txn_pending.retain(|_, by_group| !by_group.is_empty());
            let before = inner.groups.len();
            inner.groups.retain(|id, _| led.contains(&records::partition_for(id, n)));
            if before != inner.groups.len() {
                tracing::info!("unloaded {} group(s) of {OFFSETS_TOPIC} partitions {lost:?}", before - inner.groups.len());
            }
            let new: Vec<i32> = led.iter().copied().filter(|p| !inner.partitions.contains_key(p)).collect();
            for p in &new {
                inner.partitions.insert(*p, PartStatus::Loading);
            }
            (new, lost)
        };
        let _ = lost;
        for p in to_load {
            let started = std::time::Instant::now();
            let (groups, pending) = load_partition(logs, p);
            let mut inner = self.lock();
            if inner.partitions.get(&p) != Some(&PartStatus::Loading) {
                continue;
            }
            let count = groups.len();
            for (id, g) in groups {
                if records::partition_for(&id, n) == p {
                    inner.groups.insert(id, g);
                }
            }
            for (pid, by_group) in pending {
                for (g, offs) in by_group {
                    if records::partition_for(&g, n) == p {
                        inner.txn_pending.entry(pid).or_default().entry(g).or_default().extend(offs);
                    }
                }
            }
            inner.partitions.insert(p, PartStatus::Loaded);
            if count > 0 {
                tracing::info!("loaded {count} group(s) from {OFFSETS_TOPIC}-{p} in {:?}", started.elapsed());
            }
        }
    }
}
