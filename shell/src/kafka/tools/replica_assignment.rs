//! Kafka's replica placement (`AdminUtils.assignReplicasToBrokers`), used by
//! `kafka-reassign-partitions.sh --generate` to propose a new assignment.
//!
//! Pure: brokers (id, rack) in, partition -> replica list out. Without racks: the first replica of
//! each partition goes round-robin from a random broker, the others follow with an increasing
//! shift. With racks on every broker: the same walk over a rack-alternated broker list, skipping
//! brokers whose rack (or themselves) already hold a replica while some rack (broker) has none.

use std::collections::{BTreeMap, BTreeSet};

use rand::Rng;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerMeta {
    pub id: i32,
    pub rack: Option<String>,
}

/// Replica lists by partition id (0..n_partitions). `fixed_start` pins Kafka's random start
/// index and replica shift (tests); `None` draws them at random as Kafka does.
pub fn assign(brokers: &[BrokerMeta], n_partitions: i32, replication_factor: i32, fixed_start: Option<usize>) -> Result<BTreeMap<i32, Vec<i32>>, String> {
    if n_partitions <= 0 {
        return Err("Number of partitions must be larger than 0.".into());
    }
    if replication_factor <= 0 {
        return Err("Replication factor must be larger than 0.".into());
    }
    if replication_factor as usize > brokers.len() {
        return Err(format!("Replication factor: {replication_factor} larger than available brokers: {}.", brokers.len()));
    }
    if brokers.iter().all(|b| b.rack.is_none()) {
        let ids: Vec<i32> = brokers.iter().map(|b| b.id).collect();
        return Ok(rack_unaware(&ids, n_partitions, replication_factor as usize, fixed_start));
    }
    if brokers.iter().any(|b| b.rack.is_none()) {
        return Err("Not all brokers have rack information for replica rack aware assignment.".into());
    }
    rack_aware(brokers, n_partitions, replication_factor as usize, fixed_start)
}

fn start_and_shift(n: usize, fixed_start: Option<usize>) -> (usize, usize) {
    match fixed_start {
        Some(s) => (s, s),
        None => {
            let mut rng = rand::thread_rng();
            (rng.gen_range(0..n), rng.gen_range(0..n))
        }
    }
}

/// Kafka's `replicaIndex`: the broker index of follower `replica` for a partition whose first
/// replica sits at `first` (never `first` itself; `n` >= 2 whenever it is called).
fn replica_index(first: usize, shift: usize, replica: usize, n: usize) -> usize {
    let shift = 1 + (shift + replica) % (n - 1).max(1);
    (first + shift) % n
}

fn rack_unaware(brokers: &[i32], n_partitions: i32, rf: usize, fixed_start: Option<usize>) -> BTreeMap<i32, Vec<i32>> {
    let n = brokers.len();
    let (start, mut shift) = start_and_shift(n, fixed_start);
    let mut out = BTreeMap::new();
    for p in 0..n_partitions {
        let pu = p as usize;
        if pu > 0 && pu.is_multiple_of(n) {
            shift += 1;
        }
        let first = (pu + start) % n;
        let mut replicas = vec![brokers[first]];
        for j in 0..rf - 1 {
            replicas.push(brokers[replica_index(first, shift, j, n)]);
        }
        out.insert(p, replicas);
    }
    out
}

/// Brokers alternating between racks (racks sorted by name, brokers by id within a rack):
/// rack1: 0,1 / rack2: 3 -> 0, 3, 1.
pub fn rack_alternated(brokers: &[BrokerMeta]) -> Vec<i32> {
    let mut by_rack: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for b in brokers {
        if let Some(r) = &b.rack {
            by_rack.entry(r.as_str()).or_default().push(b.id);
        }
    }
    for ids in by_rack.values_mut() {
        ids.sort_unstable();
    }
    let mut iters: Vec<std::vec::IntoIter<i32>> = by_rack.into_values().map(|v| v.into_iter()).collect();
    let total: usize = brokers.iter().filter(|b| b.rack.is_some()).count();
    let mut out = Vec::with_capacity(total);
    let mut i = 0;
    while out.len() < total && !iters.is_empty() {
        if let Some(id) = iters[i].next() {
            out.push(id);
        }
        i = (i + 1) % iters.len();
    }
    out
}

fn rack_aware(brokers: &[BrokerMeta], n_partitions: i32, rf: usize, fixed_start: Option<usize>) -> Result<BTreeMap<i32, Vec<i32>>, String> {
    let rack_of: BTreeMap<i32, &str> = brokers.iter().filter_map(|b| b.rack.as_deref().map(|r| (b.id, r))).collect();
    let num_racks = rack_of.values().collect::<BTreeSet<_>>().len();
    let list = rack_alternated(brokers);
    let n = list.len();
    let (start, mut shift) = start_and_shift(n, fixed_start);
    let mut out = BTreeMap::new();
    for p in 0..n_partitions {
        let pu = p as usize;
        if pu > 0 && pu.is_multiple_of(n) {
            shift += 1;
        }
        let first = (pu + start) % n;
        let leader = list[first];
        let mut replicas = vec![leader];
        let mut racks: BTreeSet<&str> = BTreeSet::new();
        let mut used: BTreeSet<i32> = BTreeSet::new();
        racks.insert(rack_of.get(&leader).copied().unwrap_or_default());
        used.insert(leader);
        let mut k = 0;
        for _ in 0..rf - 1 {
            // Every broker but the first comes up within n - 1 steps, and one of them always
            // qualifies (rf <= n); the bound only guards against a logic slip.
            let mut placed = false;
            while !placed {
                if k > n * n + n {
                    return Err("rack aware replica assignment did not converge".into());
                }
                let b = list[replica_index(first, shift * num_racks, k, n)];
                let rack = rack_of.get(&b).copied().unwrap_or_default();
                if (!racks.contains(rack) || racks.len() == num_racks) && (!used.contains(&b) || used.len() == n) {
                    replicas.push(b);
                    racks.insert(rack);
                    used.insert(b);
                    placed = true;
                }
                k += 1;
            }
        }
        out.insert(p, replicas);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(ids: &[i32]) -> Vec<BrokerMeta> {
        ids.iter().map(|&id| BrokerMeta { id, rack: None }).collect()
    }

    fn racked(pairs: &[(i32, &str)]) -> Vec<BrokerMeta> {
        pairs.iter().map(|&(id, r)| BrokerMeta { id, rack: Some(r.to_string()) }).collect()
    }

    #[test]
    fn rack_unaware_matches_kafka() {
        let got = assign(&plain(&[0, 1, 2, 3, 4]), 10, 3, Some(0)).unwrap();
        let want: BTreeMap<i32, Vec<i32>> = [
            (0, vec![0, 1, 2]),
            (1, vec![1, 2, 3]),
            (2, vec![2, 3, 4]),
            (3, vec![3, 4, 0]),
            (4, vec![4, 0, 1]),
            (5, vec![0, 2, 3]),
            (6, vec![1, 3, 4]),
            (7, vec![2, 4, 0]),
            (8, vec![3, 0, 1]),
            (9, vec![4, 1, 2]),
        ]
        .into_iter()
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn rack_alternated_list() {
        let b = racked(&[(0, "rack1"), (1, "rack3"), (2, "rack3"), (3, "rack2"), (4, "rack2"), (5, "rack1")]);
        assert_eq!(rack_alternated(&b), vec![0, 3, 1, 5, 4, 2]);
        assert_eq!(rack_alternated(&b[..5]), vec![0, 3, 1, 4, 2]);
    }

    #[test]
    fn rack_aware_matches_kafka() {
        let b = racked(&[(0, "rack1"), (1, "rack3"), (2, "rack3"), (3, "rack2"), (4, "rack2"), (5, "rack1")]);
        let got = assign(&b, 7, 3, Some(0)).unwrap();
        let want: BTreeMap<i32, Vec<i32>> =
            [(0, vec![0, 3, 1]), (1, vec![3, 1, 5]), (2, vec![1, 5, 4]), (3, vec![5, 4, 2]), (4, vec![4, 2, 0]), (5, vec![2, 0, 3]), (6, vec![0, 4, 2])]
                .into_iter()
                .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn random_start_spreads_replicas() {
        for _ in 0..50 {
            let got = assign(&plain(&[0, 1, 2]), 6, 2, None).unwrap();
            assert_eq!(got.len(), 6);
            let mut count = BTreeMap::new();
            for r in got.values() {
                assert_eq!(r.len(), 2);
                assert_ne!(r[0], r[1]);
                for b in r {
                    *count.entry(*b).or_insert(0) += 1;
                }
            }
            assert!(count.values().all(|&c| c == 4), "{count:?}");
        }
    }

    #[test]
    fn errors() {
        assert_eq!(assign(&plain(&[0, 1]), 1, 3, None).unwrap_err(), "Replication factor: 3 larger than available brokers: 2.");
        assert!(assign(&plain(&[0]), 0, 1, None).is_err());
        assert!(assign(&plain(&[0]), 1, 0, None).is_err());
        let mixed = vec![BrokerMeta { id: 0, rack: Some("a".into()) }, BrokerMeta { id: 1, rack: None }];
        assert_eq!(assign(&mixed, 1, 1, None).unwrap_err(), "Not all brokers have rack information for replica rack aware assignment.");
    }
}
