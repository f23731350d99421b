//! The JSON files and znode of `kafka-reassign-partitions.sh` (Kafka 2.5's formats), and the
//! checks Kafka makes on them before touching the cluster.
//!
//! Pure: text in, values or Kafka's error message out; values in, Kafka's compact JSON out.
//!
//! ```text
//! --topics-to-move-json-file   {"topics":[{"topic":"foo"}],"version":1}
//! --reassignment-json-file     {"version":1,"partitions":[{"topic":"foo","partition":0,
//!                                "replicas":[1,2],"log_dirs":["any","any"]}]}   (log_dirs optional)
//! /admin/reassign_partitions   {"version":1,"partitions":[{"topic":"foo","partition":0,"replicas":[1,2]}]}
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

/// A topic partition, printed as Kafka's `TopicPartition.toString` (`foo-0`).
pub type Tp = (String, i32);

pub fn tp_str(tp: &Tp) -> String {
    format!("{}-{}", tp.0, tp.1)
}

/// `log_dirs` entry meaning "wherever the broker likes".
pub const ANY_LOG_DIR: &str = "any";

fn parse_json(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|_| "The input string is not a valid JSON".to_string())
}

/// The file's `version` (1 when absent); only 1 exists.
fn check_version(v: &Value) -> Result<(), String> {
    match v.get("version") {
        None => Ok(()),
        Some(x) => match x.as_i64() {
            Some(1) => Ok(()),
            Some(n) => Err(format!("Not supported version field value {n}")),
            None => Err(format!("Not supported version field value {x}")),
        },
    }
}

/// `--topics-to-move-json-file`: the topic names, checked for duplicates.
pub fn parse_topics_to_move(text: &str) -> Result<Vec<String>, String> {
    let v = parse_json(text)?;
    if !v.is_object() {
        return Err("The topics to move JSON must be an object with a \"topics\" array".into());
    }
    check_version(&v)?;
    let topics = v.get("topics").and_then(|t| t.as_array()).ok_or("Missing or invalid \"topics\" array in the topics to move JSON")?;
    let mut out = Vec::new();
    for t in topics {
        let name = t.get("topic").and_then(|n| n.as_str()).ok_or("Missing or invalid \"topic\" field in an entry of \"topics\"")?;
        out.push(name.to_string());
    }
    if out.is_empty() {
        return Err("The topics to move JSON lists no topics".into());
    }
    let dups = duplicates(&out);
    if !dups.is_empty() {
        return Err(format!("List of topics to reassign contains duplicate entries: {}", dups.join(",")));
    }
    Ok(out)
}

/// `--broker-list 0,1,2`, checked for duplicates.
pub fn parse_broker_list(s: &str) -> Result<Vec<i32>, String> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let id = part.trim().parse::<i32>().map_err(|_| format!("For input string: \"{part}\""))?;
        out.push(id);
    }
    let dups = duplicates(&out);
    if !dups.is_empty() {
        return Err(format!("Broker list contains duplicate entries: {}", dups.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(",")));
    }
    Ok(out)
}

/// One entry of a reassignment file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Move {
    pub tp: Tp,
    pub replicas: Vec<i32>,
    /// One per replica; `any` unless the user asked for a log directory.
    pub log_dirs: Vec<String>,
}

/// `--reassignment-json-file`: parsed and checked the way Kafka 2.5 checks it before it looks at
/// the cluster (version, fields, log_dirs length, empty file, empty or duplicate replicas,
/// duplicate partitions). Entries keep the file's order.
pub fn parse_reassignment(text: &str) -> Result<Vec<Move>, String> {
    let v = parse_json(text)?;
    if !v.is_object() {
        return Err("The reassignment JSON must be an object with a \"partitions\" array".into());
    }
    check_version(&v)?;
    let mut moves = Vec::new();
    if let Some(parts) = v.get("partitions") {
        let parts = parts.as_array().ok_or("The \"partitions\" field of the reassignment JSON must be an array")?;
        for p in parts {
            let topic = p.get("topic").and_then(|t| t.as_str()).ok_or("Missing or invalid \"topic\" field in a partition entry")?;
            let partition = p
                .get("partition")
                .and_then(|x| x.as_i64())
                .and_then(|x| i32::try_from(x).ok())
                .ok_or_else(|| format!("Missing or invalid \"partition\" field in the entry for topic {topic}"))?;
            let tp = (topic.to_string(), partition);
            let replicas = int_list(p.get("replicas")).ok_or_else(|| format!("Missing or invalid \"replicas\" field for partition {}", tp_str(&tp)))?;
            let log_dirs = match p.get("log_dirs") {
                None => vec![ANY_LOG_DIR.to_string(); replicas.len()],
                Some(d) => {
                    let dirs: Option<Vec<String>> = d.as_array().map(|a| a.iter().map(|x| x.as_str().map(str::to_string)).collect::<Option<Vec<_>>>()).unwrap_or(None);
                    dirs.ok_or_else(|| format!("Invalid \"log_dirs\" field for partition {}: it must be a list of strings", tp_str(&tp)))?
                }
            };
            if replicas.len() != log_dirs.len() {
                return Err(format!(
                    "Size of replicas list {} is different from size of log dirs list {} for partition {}",
                    scala_list(&replicas.iter().map(|r| r.to_string()).collect::<Vec<_>>()),
                    scala_list(&log_dirs),
                    tp_str(&tp)
                ));
            }
            moves.push(Move { tp, replicas, log_dirs });
        }
    }
    if moves.is_empty() {
        return Err("Partition reassignment data file is empty".into());
    }
    if moves.iter().any(|m| m.replicas.is_empty()) {
        return Err("Partition replica list cannot be empty".into());
    }
    let dup_parts = duplicates(&moves.iter().map(|m| m.tp.clone()).collect::<Vec<_>>());
    if !dup_parts.is_empty() {
        return Err(format!("Partition reassignment contains duplicate topic partitions: {}", dup_parts.iter().map(tp_str).collect::<Vec<_>>().join(",")));
    }
    let dup_replicas: Vec<String> = moves
        .iter()
        .filter_map(|m| {
            let d = duplicates(&m.replicas);
            (!d.is_empty()).then(|| format!("{} contains multiple entries for {}", tp_str(&m.tp), d.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")))
        })
        .collect();
    if !dup_replicas.is_empty() {
        return Err(format!("Partition replica lists may not contain duplicate entries: {}", dup_replicas.join(". ")));
    }
    Ok(moves)
}

/// Refuses log directory moves (`log_dirs` other than `any`): they need AlterReplicaLogDirs,
/// which these tools do not send.
pub fn reject_log_dir_moves(moves: &[Move]) -> Result<(), String> {
    match moves.iter().find(|m| m.log_dirs.iter().any(|d| d != ANY_LOG_DIR)) {
        Some(m) => Err(format!(
            "Partition {} asks for a log directory ({}); moving replicas between log directories is not supported by this tool, use \"any\"",
            tp_str(&m.tp),
            m.log_dirs.iter().filter(|d| *d != ANY_LOG_DIR).cloned().collect::<Vec<_>>().join(",")
        )),
        None => Ok(()),
    }
}

/// Kafka's checks against the cluster: every partition exists, every broker id is registered.
pub fn check_against_cluster(moves: &[Move], existing: &BTreeMap<Tp, Vec<i32>>, brokers: &BTreeSet<i32>) -> Result<(), String> {
    let missing: Vec<String> = moves.iter().filter(|m| !existing.contains_key(&m.tp)).map(|m| tp_str(&m.tp)).collect();
    if !missing.is_empty() {
        return Err(format!("The proposed assignment contains non-existent partitions: ListBuffer({})", missing.join(", ")));
    }
    let unknown: BTreeSet<i32> = moves.iter().flat_map(|m| m.replicas.iter().copied()).filter(|b| !brokers.contains(b)).collect();
    if !unknown.is_empty() {
        return Err(format!("The proposed assignment contains non-existent brokerIDs: {}", unknown.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(",")));
    }
    Ok(())
}

/// Kafka's `formatAsReassignmentJson`: compact, `version` first, partitions sorted by topic and
/// partition, every replica's log dir `any`.
pub fn format_assignment(assignment: &BTreeMap<Tp, Vec<i32>>) -> String {
    let parts: Vec<Value> = assignment
        .iter()
        .map(|((t, p), r)| {
            let mut m = Map::new();
            m.insert("topic".into(), json!(t));
            m.insert("partition".into(), json!(p));
            m.insert("replicas".into(), json!(r));
            m.insert("log_dirs".into(), json!(vec![ANY_LOG_DIR; r.len()]));
            Value::Object(m)
        })
        .collect();
    let mut top = Map::new();
    top.insert("version".into(), json!(1));
    top.insert("partitions".into(), Value::Array(parts));
    Value::Object(top).to_string()
}

/// The `/admin/reassign_partitions` znode Kafka 2.5's tool writes (and its controller reads).
pub fn znode_json(moves: &[(Tp, Vec<i32>)]) -> String {
    let parts: Vec<Value> = moves
        .iter()
        .map(|((t, p), r)| {
            let mut m = Map::new();
            m.insert("topic".into(), json!(t));
            m.insert("partition".into(), json!(p));
            m.insert("replicas".into(), json!(r));
            Value::Object(m)
        })
        .collect();
    let mut top = Map::new();
    top.insert("version".into(), json!(1));
    top.insert("partitions".into(), Value::Array(parts));
    Value::Object(top).to_string()
}

/// Reads the `/admin/reassign_partitions` znode (entries it cannot read are skipped, as a
/// half-written node must not stop `--verify`).
pub fn parse_znode(data: &[u8]) -> Result<BTreeMap<Tp, Vec<i32>>, String> {
    let v: Value = serde_json::from_slice(data).map_err(|e| format!("/admin/reassign_partitions is not valid JSON: {e}"))?;
    let mut out = BTreeMap::new();
    for p in v.get("partitions").and_then(|x| x.as_array()).into_iter().flatten() {
        let (Some(t), Some(n)) = (p.get("topic").and_then(|x| x.as_str()), p.get("partition").and_then(|x| x.as_i64())) else { continue };
        out.insert((t.to_string(), n as i32), int_list(p.get("replicas")).unwrap_or_default());
    }
    Ok(out)
}

/// Kafka 2.5's throttled replica lists for one topic, as `leader.replication.throttled.replicas`
/// and `follower.replication.throttled.replicas` values (`partition:broker,...`): leaders are
/// every current replica of a partition that gains replicas; followers are the replicas it gains.
pub fn throttled_replicas(existing: &BTreeMap<i32, Vec<i32>>, proposed: &BTreeMap<i32, Vec<i32>>) -> (String, String) {
    let mut leader = Vec::new();
    let mut follower = Vec::new();
    for (p, before) in existing {
        if let Some(after) = proposed.get(p) {
            if after.iter().any(|r| !before.contains(r)) {
                leader.extend(before.iter().map(|r| format!("{p}:{r}")));
            }
        }
    }
    for (p, after) in proposed {
        let before = existing.get(p).cloned().unwrap_or_default();
        follower.extend(after.iter().filter(|r| !before.contains(r)).map(|r| format!("{p}:{r}")));
    }
    (leader.join(","), follower.join(","))
}

fn int_list(v: Option<&Value>) -> Option<Vec<i32>> {
    v?.as_array()?.iter().map(|x| x.as_i64().and_then(|i| i32::try_from(i).ok())).collect()
}

/// Scala's `List(1, 2)` rendering, as Kafka's messages show sequences.
fn scala_list(items: &[String]) -> String {
    format!("List({})", items.join(", "))
}

/// The values that occur more than once, each once, in first-seen order.
fn duplicates<T: Ord + Clone>(items: &[T]) -> Vec<T> {
    let mut seen = BTreeSet::new();
    let mut reported = BTreeSet::new();
    let mut out = Vec::new();
    for i in items {
        if !seen.insert(i.clone()) && reported.insert(i.clone()) {
            out.push(i.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reassignment_ok_and_errors() {
        let m = parse_reassignment(r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2]}]}"#).unwrap();
        assert_eq!(m, vec![Move { tp: ("t".into(), 0), replicas: vec![1, 2], log_dirs: vec!["any".into(), "any".into()] }]);
        let err = |s: &str| parse_reassignment(s).unwrap_err();
        assert_eq!(err("{nope"), "The input string is not a valid JSON");
        assert_eq!(err(r#"{"version":2,"partitions":[]}"#), "Not supported version field value 2");
        assert_eq!(err(r#"{"version":1}"#), "Partition reassignment data file is empty");
        assert_eq!(err(r#"{"partitions":[]}"#), "Partition reassignment data file is empty");
        assert_eq!(err(r#"{"partitions":[{"topic":"t","partition":0,"replicas":[]}]}"#), "Partition replica list cannot be empty");
        assert_eq!(
            err(r#"{"partitions":[{"topic":"t","partition":0,"replicas":[1]},{"topic":"t","partition":0,"replicas":[2]}]}"#),
            "Partition reassignment contains duplicate topic partitions: t-0"
        );
        assert_eq!(
            err(r#"{"partitions":[{"topic":"t","partition":0,"replicas":[1,1,2]},{"topic":"u","partition":1,"replicas":[3,3]}]}"#),
            "Partition replica lists may not contain duplicate entries: t-0 contains multiple entries for 1. u-1 contains multiple entries for 3"
        );
        assert_eq!(
            err(r#"{"partitions":[{"topic":"t","partition":0,"replicas":[1,2],"log_dirs":["any"]}]}"#),
            "Size of replicas list List(1, 2) is different from size of log dirs list List(any) for partition t-0"
        );
        assert_eq!(err(r#"{"partitions":[{"partition":0,"replicas":[1]}]}"#), "Missing or invalid \"topic\" field in a partition entry");
        assert_eq!(err(r#"{"partitions":[{"topic":"t","partition":"x","replicas":[1]}]}"#), "Missing or invalid \"partition\" field in the entry for topic t");
        assert_eq!(err(r#"{"partitions":[{"topic":"t","partition":0,"replicas":["a"]}]}"#), "Missing or invalid \"replicas\" field for partition t-0");
        assert!(err("[]").contains("must be an object"));
    }

    #[test]
    fn log_dirs() {
        let m = parse_reassignment(r#"{"partitions":[{"topic":"t","partition":0,"replicas":[1,2],"log_dirs":["any","/data/x"]}]}"#).unwrap();
        assert!(reject_log_dir_moves(&m).unwrap_err().contains("/data/x"));
        let m = parse_reassignment(r#"{"partitions":[{"topic":"t","partition":0,"replicas":[1],"log_dirs":["any"]}]}"#).unwrap();
        assert!(reject_log_dir_moves(&m).is_ok());
    }

    #[test]
    fn cluster_checks() {
        let m = parse_reassignment(r#"{"partitions":[{"topic":"t","partition":0,"replicas":[1,7]},{"topic":"t","partition":5,"replicas":[1]}]}"#).unwrap();
        let existing: BTreeMap<Tp, Vec<i32>> = [(("t".to_string(), 0), vec![0])].into_iter().collect();
        let brokers: BTreeSet<i32> = [0, 1, 2].into_iter().collect();
        assert_eq!(check_against_cluster(&m, &existing, &brokers).unwrap_err(), "The proposed assignment contains non-existent partitions: ListBuffer(t-5)");
        assert_eq!(check_against_cluster(&m[..1], &existing, &brokers).unwrap_err(), "The proposed assignment contains non-existent brokerIDs: 7");
    }

    #[test]
    fn topics_and_brokers() {
        assert_eq!(parse_topics_to_move(r#"{"topics":[{"topic":"a"},{"topic":"b"}],"version":1}"#).unwrap(), vec!["a", "b"]);
        assert_eq!(parse_topics_to_move(r#"{"topics":[{"topic":"a"},{"topic":"a"}]}"#).unwrap_err(), "List of topics to reassign contains duplicate entries: a");
        assert_eq!(parse_topics_to_move("x").unwrap_err(), "The input string is not a valid JSON");
        assert_eq!(parse_topics_to_move(r#"{"topics":[],"version":3}"#).unwrap_err(), "Not supported version field value 3");
        assert_eq!(parse_broker_list("0,1,2").unwrap(), vec![0, 1, 2]);
        assert_eq!(parse_broker_list("0,x").unwrap_err(), "For input string: \"x\"");
        assert_eq!(parse_broker_list("1,1,2,2").unwrap_err(), "Broker list contains duplicate entries: 1,2");
    }

    #[test]
    fn formats() {
        let a: BTreeMap<Tp, Vec<i32>> = [(("b".to_string(), 1), vec![2, 0]), (("a".to_string(), 0), vec![1])].into_iter().collect();
        assert_eq!(
            format_assignment(&a),
            r#"{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1],"log_dirs":["any"]},{"topic":"b","partition":1,"replicas":[2,0],"log_dirs":["any","any"]}]}"#
        );
        let z = znode_json(&[(("t".to_string(), 0), vec![1, 2])]);
        assert_eq!(z, r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2]}]}"#);
        let back = parse_znode(z.as_bytes()).unwrap();
        assert_eq!(back.get(&("t".to_string(), 0)), Some(&vec![1, 2]));
    }

    #[test]
    fn throttles() {
        let existing: BTreeMap<i32, Vec<i32>> = [(0, vec![0]), (1, vec![1, 2])].into_iter().collect();
        let proposed: BTreeMap<i32, Vec<i32>> = [(0, vec![1, 2]), (1, vec![2, 1])].into_iter().collect();
        assert_eq!(throttled_replicas(&existing, &proposed), ("0:0".to_string(), "0:1,0:2".to_string()));
    }
}
