//! `kafka-preferred-replica-election.sh` (Kafka 2.5's PreferredReplicaLeaderElectionCommand,
//! deprecated there in favour of `kafka-leader-election.sh` but still shipped and still in
//! the books): moves leadership back to each partition's preferred (first) replica, for the
//! partitions of a JSON file or for every partition.
//!
//! Two paths, exactly one of which is chosen:
//! - `--bootstrap-server`: ElectLeaders (PREFERRED) to the controller, as `leader_election`
//!   sends it. Kafka's old tool reports every partition that was not elected as an error,
//!   including those whose preferred replica already leads (ElectionNotNeeded), and exits 1.
//! - `--zookeeper`: writes `/admin/preferred_replica_election`
//!   (`{"version":1,"partitions":[{"topic":"t","partition":0}]}`) for the partitions that exist;
//!   the controller watches that znode, runs the elections and deletes it. An existing znode
//!   means an election is still in progress: the tool refuses, as Kafka's does.
//!
//! Output, line for line as Kafka 2.5 prints it (partitions sorted here, in a Scala `Set` there).

use std::collections::BTreeSet;

use super::leader_election::{self, Election};
use super::reassign_json::{tp_str, Tp};
use super::reassign_zk::ZkCluster;
use super::{connect, load_props};
use crate::kafka::error::KafkaError;
use crate::kafka::opts::{arg, OptSpec, Parsed};
use crate::kafka::{start, usage_error, Start};

const INTRO: &str = "This tool helps to causes leadership for each partition to be transferred back to the 'preferred replica', it can be used to balance leadership among the servers.";

const DEPRECATED: &str = "This tool is deprecated. Please use kafka-leader-election tool. Tracking issue at: TBD";

const SPECS: &[OptSpec] = &[
    arg("admin.config", "String: config file", "Admin client config properties file to pass to the admin client when --bootstrap-server is given."),
    arg("bootstrap-server", "String: host:port", "A hostname and port for the broker to connect to, in the form host:port. Multiple comma-separated URLs can be given. REQUIRED unless --zookeeper is given."),
    arg("path-to-json-file", "String: list of partitions for which preferred replica leader election needs to be triggered", "The JSON file with the list of partitions for which preferred replica leader election should be done, in the following format - \n{\"partitions\":\n\t[{\"topic\": \"foo\", \"partition\": 1},\n\t {\"topic\": \"foobar\", \"partition\": 2}]\n}\nDefaults to all existing partitions"),
    arg("zookeeper", "String: urls", "DEPRECATED. The connection string for the zookeeper connection in the form host:port. Multiple URLS can be given to allow fail-over. Replaced by --bootstrap-server, REQUIRED unless --bootstrap-server is given."),
];

/// Kafka's `parsePreferredReplicaElectionData`, with its messages.
pub fn parse_json(text: &str) -> Result<BTreeSet<Tp>, String> {
    const EMPTY: &str = "Preferred replica election data is empty";
    let v: serde_json::Value = serde_json::from_str(text).map_err(|_| EMPTY.to_string())?;
    let parts = v.get("partitions").and_then(|p| p.as_array()).ok_or_else(|| EMPTY.to_string())?;
    let list = leader_election::partition_entries(parts)?;
    let mut seen = BTreeSet::new();
    let mut dups = BTreeSet::new();
    for tp in list {
        if seen.contains(&tp) {
            dups.insert(tp);
        } else {
            seen.insert(tp);
        }
    }
    if !dups.is_empty() {
        let d: Vec<String> = dups.iter().map(tp_str).collect();
        return Err(format!("Preferred replica election data contains duplicate partitions: {}", d.join(",")));
    }
    Ok(seen)
}

/// A Scala `Set` of partitions as `println` shows it: `Set(t-0, t-1)`.
fn scala_set(s: &BTreeSet<Tp>) -> String {
    format!("Set({})", s.iter().map(tp_str).collect::<Vec<_>>().join(", "))
}

pub async fn main(args: &[String]) -> i32 {
    println!("{DEPRECATED}");
    let p = match start(INTRO, SPECS, args) {
        Start::Go(p) => p,
        Start::Exit(c) => return c,
    };
    if let Some(extra) = p.rest.first() {
        return usage_error(&format!("Unexpected argument: {extra}"));
    }
    if p.has("bootstrap-server") == p.has("zookeeper") {
        return usage_error("Exactly one of '[bootstrap-server]' or '[zookeeper]' must be provided");
    }
    if p.has("admin.config") && !p.has("bootstrap-server") {
        return usage_error("Option admin.config is only allowed if bootstrap-server is used");
    }
    let partitions = match p.value("path-to-json-file") {
        Some(file) => {
            let text = match std::fs::read_to_string(file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("java.nio.file.NoSuchFileException: {file} ({e})");
                    return 1;
                }
            };
            match parse_json(&text) {
                Ok(set) => Some(set),
                Err(m) => {
                    eprintln!("kafka.admin.AdminOperationException: {m}");
                    return 1;
                }
            }
        }
        None => None,
    };
    if p.has("zookeeper") {
        println!("Warning: --zookeeper is deprecated and will be removed in a future version of Kafka.");
        println!("Use --bootstrap-server instead to specify a broker to connect to.");
        over_zookeeper(&p, partitions).await
    } else {
        over_admin_api(&p, partitions).await
    }
}

/// Writes the election znode for the partitions that exist; the controller does the rest.
async fn over_zookeeper(p: &Parsed, wanted: Option<BTreeSet<Tp>>) -> i32 {
    let failed = |m: String| {
        eprintln!("kafka.common.AdminCommandFailedException: Admin command failed");
        eprintln!("Caused by: {m}");
        1
    };
    let mut zk = match ZkCluster::connect(p.value("zookeeper").unwrap_or_default()).await {
        Ok(z) => z,
        Err(m) => return failed(m),
    };
    let topics: Vec<String> = match &wanted {
        Some(set) => set.iter().map(|(t, _)| t.clone()).collect::<BTreeSet<_>>().into_iter().collect(),
        None => match zk.topics().await {
            Ok(t) => t,
            Err(m) => return failed(m),
        },
    };
    let existing: BTreeSet<Tp> = match zk.assignment(&topics).await {
        Ok(a) => a.into_keys().collect(),
        Err(m) => return failed(m),
    };
    let (valid, invalid): (BTreeSet<Tp>, BTreeSet<Tp>) = match wanted {
        Some(set) => set.into_iter().partition(|tp| existing.contains(tp)),
        None => (existing, BTreeSet::new()),
    };
    match zk.start_preferred_election(&valid).await {
        Ok(None) => {}
        Ok(Some(running)) => {
            let list: Vec<String> = running.iter().map(tp_str).collect();
            return failed(format!(
                "kafka.admin.AdminOperationException: Preferred replica leader election currently in progress for {}. Aborting operation",
                list.join(",")
            ));
        }
        Err(m) => return failed(format!("kafka.admin.AdminOperationException: {m}")),
    }
    println!("Created preferred replica election path with {}", valid.iter().map(tp_str).collect::<Vec<_>>().join(","));
    println!("Successfully started preferred replica election for partitions {}", scala_set(&valid));
    for tp in &invalid {
        println!("Skipping preferred replica leader election for partition {} since it doesn't exist.", tp_str(tp));
    }
    0
}

/// ElectLeaders (PREFERRED); every partition not elected is an error line, as in Kafka 2.5.
async fn over_admin_api(p: &Parsed, partitions: Option<BTreeSet<Tp>>) -> i32 {
    let mut props = match load_props(p, "admin.config", &[]) {
        Ok(x) => x,
        Err(m) => return usage_error(&m),
    };
    props.insert("request.timeout.ms".into(), "30000".into());
    let server = p.value("bootstrap-server").unwrap_or_default();
    let mut client = match connect(server, "adminclient-1", &props).await {
        Ok(c) => c,
        Err(e) => {
            println!("Error while making request");
            eprintln!("{e}");
            return 1;
        }
    };
    let resp = match leader_election::elect(&mut client, Election::Preferred, partitions.as_ref()).await {
        Ok(r) => r,
        Err(KafkaError::Timeout(_)) | Err(KafkaError::Code(7, _)) => {
            println!("Timeout waiting for election results");
            eprintln!("kafka.common.AdminCommandFailedException: org.apache.kafka.common.errors.TimeoutException: Timeout waiting for election results");
            return 1;
        }
        Err(e) => {
            println!("Error while making request");
            eprintln!("{e}");
            return 1;
        }
    };
    let o = leader_election::outcome(&resp);
    if !o.succeeded.is_empty() {
        let ok: Vec<String> = o.succeeded.iter().map(tp_str).collect();
        println!("Successfully completed preferred replica election for partitions {}", ok.join(", "));
    }
    // Kafka 2.5's old tool has no notion of "already elected": ElectionNotNeeded is an error.
    let mut errors: Vec<(Tp, String)> = o.failed.into_iter().collect();
    for tp in o.noop {
        errors.push((tp, crate::kafka::error::describe(84, None)));
    }
    errors.sort();
    for (tp, e) in &errors {
        println!("Error completing preferred replica election for partition {}: {e}", tp_str(tp));
    }
    if errors.is_empty() {
        0
    } else {
        eprintln!("kafka.common.AdminCommandFailedException: {} preferred replica(s) could not be elected", errors.len());
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_as_kafka_reads_it() {
        let set = parse_json(r#"{"partitions":[{"topic":"a","partition":1},{"topic":"b","partition":0}]}"#).unwrap();
        assert_eq!(set.into_iter().collect::<Vec<_>>(), vec![("a".to_string(), 1), ("b".to_string(), 0)]);
        assert_eq!(parse_json("").unwrap_err(), "Preferred replica election data is empty");
        assert_eq!(parse_json(r#"{"x":1}"#).unwrap_err(), "Preferred replica election data is empty");
        assert_eq!(
            parse_json(r#"{"partitions":[{"topic":"a","partition":1},{"topic":"a","partition":1},{"topic":"b","partition":2},{"topic":"b","partition":2}]}"#).unwrap_err(),
            "Preferred replica election data contains duplicate partitions: a-1,b-2"
        );
        assert!(parse_json(r#"{"partitions":[{"topic":"a"}]}"#).unwrap_err().contains("partition"));
    }

    #[test]
    fn sets_print_as_scala_does() {
        let s: BTreeSet<Tp> = [("t".to_string(), 1), ("t".to_string(), 0)].into_iter().collect();
        assert_eq!(scala_set(&s), "Set(t-0, t-1)");
        assert_eq!(scala_set(&BTreeSet::new()), "Set()");
    }
}
