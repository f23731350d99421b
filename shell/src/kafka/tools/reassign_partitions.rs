//! `kafka-reassign-partitions.sh` (Kafka 2.5's ReassignPartitionsCommand): `--generate` a
//! candidate assignment, `--execute` one from a JSON file (optionally throttled), `--verify` it.
//!
//! ```text
//! flags -> checks (Kafka's words) -> JSON files parsed and checked (reassign_json)
//!       -> Backend: --zookeeper  (reassign_zk: /admin/reassign_partitions, config znodes)
//!                   --bootstrap-server (reassign_admin: Alter/ListPartitionReassignments,
//!                                       Metadata, Describe/IncrementalAlterConfigs)
//!       -> Kafka 2.5's output
//! ```
//!
//! Kafka 2.5 itself needs --zookeeper (its --bootstrap-server only served log directory moves);
//! here --bootstrap-server alone drives the admin API the 2.4+ controllers offer, with the same
//! output. --cancel and --list came with Kafka 2.6 and are not offered. Failures print
//! `Partitions reassignment failed due to <reason>` and exit 1 (Kafka 2.5 exits 0 there).

use std::collections::{BTreeMap, BTreeSet};

use super::reassign_admin::AdminCluster;
use super::reassign_json::{self as rj, Move, Tp};
use super::reassign_zk::ZkCluster;
use super::replica_assignment::{self, BrokerMeta};
use super::{connect, load_props};
use crate::kafka::opts::{arg, flag, OptSpec, Parsed};
use crate::kafka::{start, usage_error, Start};

const INTRO: &str = "This tool helps to moves topic partitions between replicas.";

const SPECS: &[OptSpec] = &[
    arg("bootstrap-server", "String: Server(s) to use for bootstrapping", "the server(s) to use for bootstrapping. Without --zookeeper, the reassignment goes through the controller's AlterPartitionReassignments and ListPartitionReassignments APIs. REQUIRED unless --zookeeper is given."),
    arg("broker-list", "String: brokerlist", "The list of brokers to which the partitions need to be reassigned in the form \"0,1,2\". This is required if --topics-to-move-json-file is used to generate reassignment configuration"),
    arg("command-config", "String: Admin client property file", "Property file containing configs to be passed to Admin Client."),
    flag("disable-rack-aware", "Disable rack aware replica assignment"),
    flag("execute", "Kick off the reassignment as specified by the --reassignment-json-file option."),
    flag("generate", "Generate a candidate partition reassignment configuration. Note that this only generates a candidate assignment, it does not execute it."),
    arg("reassignment-json-file", "String: manual assignment json file path", "The JSON file with the partition reassignment configurationThe format to use is - \n{\"partitions\":\n\t[{\"topic\": \"foo\",\n\t  \"partition\": 1,\n\t  \"replicas\": [1,2,3],\n\t  \"log_dirs\": [\"dir1\",\"dir2\",\"dir3\"] }],\n\"version\":1\n}\nNote that \"log_dirs\" is optional. When it is specified, its length must equal the length of the replicas list. This tool accepts only \"any\" there (it does not move replicas between log directories)."),
    arg("replica-alter-log-dirs-throttle", "Long: replicaAlterLogDirsThrottle", "The movement of replicas between log directories on the same broker will be throttled to this value (bytes/sec). Rerunning with this option, whilst a rebalance is in progress, will alter the throttle value. The throttle rate should be at least 1 KB/s. (default: -1)"),
    arg("throttle", "Long: throttle", "The movement of partitions between brokers will be throttled to this value (bytes/sec). Rerunning with this option, whilst a rebalance is in progress, will alter the throttle value. The throttle rate should be at least 1 KB/s. (default: -1)"),
    arg("timeout", "Long: timeout", "The maximum time in ms allowed to wait for partition reassignment execution to be successfully initiated (default: 10000)"),
    arg("topics-to-move-json-file", "String: topics to reassign json file path", "Generate a reassignment configuration to move the partitions of the specified topics to the list of brokers specified by the --broker-list option. The format to use is - \n{\"topics\":\n\t[{\"topic\": \"foo\"},{\"topic\": \"foo1\"}],\n\"version\":1\n}"),
    flag("verify", "Verify if the reassignment completed as specified by the --reassignment-json-file option. If there is a throttle engaged for the replicas specified, and the rebalance has completed, the throttle will be removed"),
    arg("zookeeper", "String: urls", "The connection string for the zookeeper connection in the form host:port. Multiple URLS can be given to allow fail-over. With it the reassignment is written to /admin/reassign_partitions, as Kafka 2.5 does. REQUIRED unless --bootstrap-server is given."),
];

/// Broker-level throttle rates (dynamic broker configs).
const LEADER_RATE: &str = "leader.replication.throttled.rate";
const FOLLOWER_RATE: &str = "follower.replication.throttled.rate";
const LOG_DIR_RATE: &str = "replica.alter.log.dirs.io.max.bytes.per.second";
/// Topic-level throttled replica lists.
const LEADER_REPLICAS: &str = "leader.replication.throttled.replicas";
const FOLLOWER_REPLICAS: &str = "follower.replication.throttled.replicas";

/// Kafka 2.5's argument checks (`validateAndParseArgs`), first failure wins.
fn validate(p: &Parsed) -> Result<(), String> {
    let actions = ["generate", "execute", "verify"].iter().filter(|a| p.has(a)).count();
    if actions != 1 {
        return Err("Command must include exactly one action: --generate, --execute or --verify".into());
    }
    if !p.has("zookeeper") && !p.has("bootstrap-server") {
        return Err("Missing required argument \"[zookeeper]\" (or \"[bootstrap-server]\")".into());
    }
    let invalid = |used: &str, others: &[&str]| -> Result<(), String> {
        match others.iter().find(|o| p.has(o)) {
            Some(o) => Err(format!("Option \"[{used}]\" can't be used with option \"[{o}]\"")),
            None => Ok(()),
        }
    };
    if p.has("verify") {
        if !p.has("reassignment-json-file") {
            return Err("If --verify option is used, command must include --reassignment-json-file that was used during the --execute option".into());
        }
        invalid("verify", &["throttle", "replica-alter-log-dirs-throttle", "topics-to-move-json-file", "disable-rack-aware", "broker-list"])?;
    } else if p.has("generate") {
        if !(p.has("topics-to-move-json-file") && p.has("broker-list")) {
            return Err("If --generate option is used, command must include both --topics-to-move-json-file and --broker-list options".into());
        }
        invalid("generate", &["throttle", "replica-alter-log-dirs-throttle", "reassignment-json-file"])?;
    } else {
        if !p.has("reassignment-json-file") {
            return Err("If --execute option is used, command must include --reassignment-json-file that was output during the --generate option".into());
        }
        invalid("execute", &["topics-to-move-json-file", "disable-rack-aware", "broker-list"])?;
    }
    Ok(())
}

/// Where the reassignment is read and written: ZooKeeper (Kafka 2.5) or the admin API.
pub enum Backend {
    Zk(ZkCluster),
    Admin(Box<AdminCluster>),
}

impl Backend {
    async fn brokers(&mut self) -> Result<Vec<BrokerMeta>, String> {
        match self {
            Backend::Zk(z) => z.brokers().await,
            Backend::Admin(a) => a.brokers().await,
        }
    }
    /// The replica lists of every partition of these topics (unknown topics are left out).
    async fn assignment(&mut self, topics: &[String]) -> Result<BTreeMap<Tp, Vec<i32>>, String> {
        match self {
            Backend::Zk(z) => z.assignment(topics).await,
            Backend::Admin(a) => a.assignment(topics).await,
        }
    }
    /// Partitions being reassigned: of `parts`, or all of them.
    async fn ongoing(&mut self, parts: Option<&[Tp]>) -> Result<BTreeSet<Tp>, String> {
        match self {
            Backend::Zk(z) => z.ongoing(parts).await,
            Backend::Admin(a) => a.ongoing(parts).await,
        }
    }
    /// Whether a reassignment runs (Kafka 2.5: the znode exists; admin API: any is listed).
    async fn running(&mut self) -> Result<bool, String> {
        match self {
            Backend::Zk(z) => z.running().await,
            Backend::Admin(a) => Ok(!a.ongoing(None).await?.is_empty()),
        }
    }
    async fn start(&mut self, moves: &[(Tp, Vec<i32>)]) -> Result<(), String> {
        match self {
            Backend::Zk(z) => z.start(moves).await,
            Backend::Admin(a) => a.start(moves).await,
        }
    }
    async fn set_broker_configs(&mut self, brokers: &[i32], set: &[(&str, String)]) -> Result<(), String> {
        match self {
            Backend::Zk(z) => z.set_configs("brokers", &brokers.iter().map(|b| b.to_string()).collect::<Vec<_>>(), set).await,
            Backend::Admin(a) => a.set_broker_configs(brokers, set).await,
        }
    }
    async fn set_topic_config(&mut self, topic: &str, set: &[(&str, String)]) -> Result<(), String> {
        match self {
            Backend::Zk(z) => z.set_configs("topics", &[topic.to_string()], set).await,
            Backend::Admin(a) => a.set_topic_config(topic, set).await,
        }
    }
    /// Removes these keys where set; true when anything was removed.
    async fn remove_configs(&mut self, brokers: &[i32], broker_keys: &[&str], topics: &[String], topic_keys: &[&str]) -> Result<bool, String> {
        match self {
            Backend::Zk(z) => {
                let b = z.remove_configs("brokers", &brokers.iter().map(|b| b.to_string()).collect::<Vec<_>>(), broker_keys).await?;
                let t = z.remove_configs("topics", topics, topic_keys).await?;
                Ok(b || t)
            }
            Backend::Admin(a) => a.remove_configs(brokers, broker_keys, topics, topic_keys).await,
        }
    }
}

pub async fn main(args: &[String]) -> i32 {
    let p = match start(INTRO, SPECS, args) {
        Start::Go(p) => p,
        Start::Exit(c) => return c,
    };
    if let Some(extra) = p.rest.first() {
        return usage_error(&format!("Unexpected argument: {extra}"));
    }
    if let Err(m) = validate(&p) {
        return usage_error(&m);
    }
    let mut nums = [-1i64, -1, 10_000];
    for (i, name) in ["throttle", "replica-alter-log-dirs-throttle", "timeout"].iter().enumerate() {
        match p.num::<i64>(name) {
            Ok(Some(v)) => nums[i] = v,
            Ok(None) => {}
            Err(m) => return usage_error(&m),
        }
    }
    let [inter_broker, log_dir, timeout_ms] = nums;
    // Everything that can be checked without the cluster is checked first.
    let action = match read_action(&p) {
        Ok(a) => a,
        Err(m) => return failed(&m),
    };
    let props = match load_props(&p, "command-config", &[]) {
        Ok(x) => x,
        Err(m) => return usage_error(&m),
    };
    let mut backend = if let Some(zk) = p.value("zookeeper") {
        match ZkCluster::connect(zk).await {
            Ok(z) => Backend::Zk(z),
            Err(m) => return failed(&m),
        }
    } else {
        let server = p.value("bootstrap-server").unwrap_or_default();
        match connect(server, "reassign-partitions-tool", &props).await {
            Ok(c) => Backend::Admin(Box::new(AdminCluster::new(c, timeout_ms.clamp(1, i32::MAX as i64) as i32))),
            Err(e) => return failed(&e.to_string()),
        }
    };
    let result = match action {
        Action::Generate { topics, brokers } => generate(&mut backend, &topics, &brokers, p.has("disable-rack-aware")).await,
        Action::Execute(moves) => execute(&mut backend, &moves, inter_broker, log_dir).await,
        Action::Verify(moves) => verify(&mut backend, &moves).await,
    };
    match result {
        Ok(code) => code,
        Err(m) => failed(&m),
    }
}

fn failed(m: &str) -> i32 {
    eprintln!("Partitions reassignment failed due to {m}");
    1
}

enum Action {
    Generate { topics: Vec<String>, brokers: Vec<i32> },
    Execute(Vec<Move>),
    Verify(Vec<Move>),
}

fn read_file(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("Cannot read {path}: {e}"))
}

fn read_action(p: &Parsed) -> Result<Action, String> {
    if p.has("generate") {
        let brokers = rj::parse_broker_list(p.value("broker-list").unwrap_or_default())?;
        let topics = rj::parse_topics_to_move(&read_file(p.value("topics-to-move-json-file").unwrap_or_default())?)?;
        return Ok(Action::Generate { topics, brokers });
    }
    let moves = rj::parse_reassignment(&read_file(p.value("reassignment-json-file").unwrap_or_default())?)?;
    rj::reject_log_dir_moves(&moves)?;
    Ok(if p.has("execute") { Action::Execute(moves) } else { Action::Verify(moves) })
}

fn topics_of(moves: &[Move]) -> Vec<String> {
    moves.iter().map(|m| m.tp.0.clone()).collect::<BTreeSet<_>>().into_iter().collect()
}

/// `--generate`: the current assignment of the topics and Kafka's placement over the brokers.
async fn generate(b: &mut Backend, topics: &[String], broker_list: &[i32], disable_rack_aware: bool) -> Result<i32, String> {
    let current = b.assignment(topics).await?;
    let missing: Vec<&str> = topics.iter().filter(|t| !current.keys().any(|(ct, _)| ct == *t)).map(|t| t.as_str()).collect();
    if !missing.is_empty() {
        return Err(format!("Topic(s) to move do not exist: {}", missing.join(",")));
    }
    let mut brokers: Vec<BrokerMeta> = b.brokers().await?.into_iter().filter(|m| broker_list.contains(&m.id)).collect();
    brokers.sort_by_key(|m| m.id);
    let with_rack = brokers.iter().filter(|m| m.rack.is_some()).count();
    if disable_rack_aware {
        for m in &mut brokers {
            m.rack = None;
        }
    } else if with_rack > 0 && with_rack < brokers.len() {
        return Err("Not all brokers have rack information. Add --disable-rack-aware in command line to make replica assignment without rack information.".into());
    }
    let mut proposed = BTreeMap::new();
    for topic in topics {
        let parts: Vec<(&Tp, &Vec<i32>)> = current.iter().filter(|((t, _), _)| t == topic).collect();
        let rf = parts.first().map(|(_, r)| r.len()).unwrap_or(0) as i32;
        let plan = replica_assignment::assign(&brokers, parts.len() as i32, rf, None)?;
        for (p, r) in plan {
            proposed.insert((topic.clone(), p), r);
        }
    }
    println!("Current partition replica assignment\n{}\n", rj::format_assignment(&current));
    println!("Proposed partition reassignment configuration\n{}", rj::format_assignment(&proposed));
    Ok(0)
}

/// `--execute`: Kafka 2.5's sequence — check the cluster, refuse (or only re-throttle) while a
/// reassignment runs, print the rollback JSON, throttle, start.
async fn execute(b: &mut Backend, moves: &[Move], inter_broker: i64, log_dir: i64) -> Result<i32, String> {
    let topics = topics_of(moves);
    let existing = b.assignment(&topics).await?;
    let broker_ids: BTreeSet<i32> = b.brokers().await?.iter().map(|m| m.id).collect();
    rj::check_against_cluster(moves, &existing, &broker_ids)?;
    let throttled = inter_broker >= 0 || log_dir >= 0;
    if b.running().await? {
        println!("There is an existing assignment running.");
        // Rerunning with a throttle while a reassignment runs is how Kafka alters the limit.
        limit(b, &existing, moves, inter_broker, log_dir).await?;
        return Ok(if throttled { 0 } else { 1 });
    }
    println!(
        "Current partition replica assignment\n\n{}\n\nSave this to use as the --reassignment-json-file option during rollback",
        rj::format_assignment(&existing)
    );
    if throttled {
        println!("Warning: You must run Verify periodically, until the reassignment completes, to ensure the throttle is removed. You can also alter the throttle by rerunning the Execute command passing a new value.");
    }
    if inter_broker >= 0 {
        for topic in &topics {
            let before: BTreeMap<i32, Vec<i32>> = existing.iter().filter(|((t, _), _)| t == topic).map(|((_, p), r)| (*p, r.clone())).collect();
            let after: BTreeMap<i32, Vec<i32>> = moves.iter().filter(|m| &m.tp.0 == topic).map(|m| (m.tp.1, m.replicas.clone())).collect();
            let (leader, follower) = rj::throttled_replicas(&before, &after);
            b.set_topic_config(topic, &[(LEADER_REPLICAS, leader), (FOLLOWER_REPLICAS, follower)]).await?;
        }
    }
    limit(b, &existing, moves, inter_broker, log_dir).await?;
    if inter_broker >= 0 {
        println!("The inter-broker throttle limit was set to {inter_broker} B/s");
    }
    if log_dir >= 0 {
        println!("The replica-alter-dir throttle limit was set to {log_dir} B/s");
    }
    let list: Vec<(Tp, Vec<i32>)> = moves.iter().map(|m| (m.tp.clone(), m.replicas.clone())).collect();
    b.start(&list).await?;
    println!("Successfully started reassignment of partitions.");
    Ok(0)
}

/// Kafka's `maybeLimit`: the throttle rates on every broker that holds or will hold a replica
/// of the moving topics.
async fn limit(b: &mut Backend, existing: &BTreeMap<Tp, Vec<i32>>, moves: &[Move], inter_broker: i64, log_dir: i64) -> Result<(), String> {
    if inter_broker < 0 && log_dir < 0 {
        return Ok(());
    }
    let mut brokers: Vec<i32> = Vec::new();
    for r in existing.values().flatten().chain(moves.iter().flat_map(|m| m.replicas.iter())) {
        if !brokers.contains(r) {
            brokers.push(*r);
        }
    }
    let mut set = Vec::new();
    if inter_broker >= 0 {
        set.push((LEADER_RATE, inter_broker.to_string()));
        set.push((FOLLOWER_RATE, inter_broker.to_string()));
    }
    if log_dir >= 0 {
        set.push((LOG_DIR_RATE, log_dir.to_string()));
    }
    b.set_broker_configs(&brokers, &set).await
}

/// A partition's state as `--verify` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Completed,
    InProgress,
    Failed,
}

/// Kafka 2.5's rule: listed as being reassigned -> in progress; otherwise completed when the
/// replica list is exactly the target, else failed.
pub fn status(ongoing: &BTreeSet<Tp>, current: &BTreeMap<Tp, Vec<i32>>, m: &Move) -> Status {
    if ongoing.contains(&m.tp) {
        Status::InProgress
    } else if current.get(&m.tp) == Some(&m.replicas) {
        Status::Completed
    } else {
        Status::Failed
    }
}

/// `--verify`: each partition's state; once all completed, the throttles are cleared.
/// Exit 1 when some reassignment failed.
async fn verify(b: &mut Backend, moves: &[Move]) -> Result<i32, String> {
    println!("Status of partition reassignment: ");
    let parts: Vec<Tp> = moves.iter().map(|m| m.tp.clone()).collect();
    let ongoing = b.ongoing(Some(&parts)).await?;
    let current = b.assignment(&topics_of(moves)).await?;
    let mut sorted: Vec<&Move> = moves.iter().collect();
    sorted.sort_by(|a, b| a.tp.cmp(&b.tp));
    let mut all_done = true;
    let mut any_failed = false;
    for m in sorted {
        let tp = rj::tp_str(&m.tp);
        match status(&ongoing, &current, m) {
            Status::Completed => println!("Reassignment of partition {tp} completed successfully"),
            Status::InProgress => {
                all_done = false;
                println!("Reassignment of partition {tp} is still in progress");
            }
            Status::Failed => {
                all_done = false;
                any_failed = true;
                println!("Reassignment of partition {tp} failed");
            }
        }
    }
    if all_done {
        let brokers: Vec<i32> = b.brokers().await?.iter().map(|m| m.id).collect();
        let removed = b.remove_configs(&brokers, &[LEADER_RATE, FOLLOWER_RATE, LOG_DIR_RATE], &topics_of(moves), &[LEADER_REPLICAS, FOLLOWER_REPLICAS]).await?;
        if removed {
            println!("Throttle was removed.");
        }
    }
    Ok(if any_failed { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::opts::parse;

    fn check(a: &[&str]) -> Result<(), String> {
        let p = parse(SPECS, &a.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        validate(&p)
    }

    #[test]
    fn argument_rules() {
        let z = ["--zookeeper", "h:1"];
        let with = |extra: &[&str]| check(&[&z[..], extra].concat());
        assert_eq!(with(&[]).unwrap_err(), "Command must include exactly one action: --generate, --execute or --verify");
        assert_eq!(with(&["--execute", "--verify"]).unwrap_err(), "Command must include exactly one action: --generate, --execute or --verify");
        assert_eq!(check(&["--execute", "--reassignment-json-file", "f"]).unwrap_err(), "Missing required argument \"[zookeeper]\" (or \"[bootstrap-server]\")");
        assert!(check(&["--bootstrap-server", "h:1", "--execute", "--reassignment-json-file", "f"]).is_ok());
        assert_eq!(
            with(&["--verify"]).unwrap_err(),
            "If --verify option is used, command must include --reassignment-json-file that was used during the --execute option"
        );
        assert_eq!(with(&["--verify", "--reassignment-json-file", "f", "--throttle", "5"]).unwrap_err(), "Option \"[verify]\" can't be used with option \"[throttle]\"");
        assert_eq!(
            with(&["--generate", "--broker-list", "1"]).unwrap_err(),
            "If --generate option is used, command must include both --topics-to-move-json-file and --broker-list options"
        );
        assert_eq!(
            with(&["--generate", "--broker-list", "1", "--topics-to-move-json-file", "f", "--reassignment-json-file", "g"]).unwrap_err(),
            "Option \"[generate]\" can't be used with option \"[reassignment-json-file]\""
        );
        assert_eq!(
            with(&["--execute"]).unwrap_err(),
            "If --execute option is used, command must include --reassignment-json-file that was output during the --generate option"
        );
        assert_eq!(with(&["--execute", "--reassignment-json-file", "f", "--broker-list", "1"]).unwrap_err(), "Option \"[execute]\" can't be used with option \"[broker-list]\"");
        assert!(with(&["--execute", "--reassignment-json-file", "f", "--throttle", "100"]).is_ok());
    }

    #[test]
    fn verify_status() {
        let m = Move { tp: ("t".into(), 0), replicas: vec![1, 2], log_dirs: vec!["any".into(); 2] };
        let mut current = BTreeMap::new();
        let mut ongoing = BTreeSet::new();
        current.insert(("t".to_string(), 0), vec![2, 1]);
        assert_eq!(status(&ongoing, &current, &m), Status::Failed);
        current.insert(("t".to_string(), 0), vec![1, 2]);
        assert_eq!(status(&ongoing, &current, &m), Status::Completed);
        ongoing.insert(("t".to_string(), 0));
        assert_eq!(status(&ongoing, &current, &m), Status::InProgress);
    }
}
