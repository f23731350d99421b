//! `kafka-leader-election.sh` (Kafka 2.5's LeaderElectionCommand): asks the controller to elect
//! the preferred (or, for leaderless partitions, any live) replica as leader with ElectLeaders,
//! for one partition, the partitions of a JSON file, or every partition (`partitions = null`).
//!
//! Output as Kafka prints it: `Successfully completed leader election (PREFERRED) for partitions
//! t-0, t-1`, `Valid replica already elected for partitions ...`, one `Error completing leader
//! election (PREFERRED) for partition: t-0: <exception>` line per failure, then exit 1.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};

use super::reassign_json::{tp_str, Tp};
use super::{connect, controller_call, load_props};
use crate::kafka::client::tn;
use crate::kafka::error::{describe, KafkaError};
use crate::kafka::opts::{arg, flag, OptSpec, Parsed};
use crate::kafka::{start, usage_error, Start};

const INTRO: &str = "This tool attempts to elect a new leader for a set of topic partitions. The type of elections supported are preferred replicas and unclean replicas.";

const SPECS: &[OptSpec] = &[
    arg("admin.config", "String: config file", "Configuration properties files to pass to the admin client"),
    flag("all-topic-partitions", "Perform election on all of the eligible topic partitions based on the type of election (see the --election-type flag). Not allowed if --topic or --path-to-json-file is specified."),
    arg("bootstrap-server", "String: host:port", "A hostname and port for the broker to connect to, in the form host:port. Multiple comma separated URLs can be given. REQUIRED."),
    arg("election-type", "[PREFERRED,UNCLEAN]: election type", "Type of election to attempt. Possible values are \"preferred\" for preferred leader election or \"unclean\" for unclean leader election. If preferred election is selection, the election is only performed if the current leader is not the preferred leader for the topic partition. If unclean election is selected, the election is only performed if there are no leader for the topic partition. REQUIRED."),
    arg("partition", "Integer: partition id", "Partition id for which to perform an election. REQUIRED if --topic is specified."),
    arg("path-to-json-file", "String: Path to JSON file", "The JSON file with the list  of partition for which leader elections should be performed. This is an example format. \n{\"partitions\":\n\t[{\"topic\": \"foo\", \"partition\": 1},\n\t {\"topic\": \"foobar\", \"partition\": 2}]\n}\nNot allowed if --all-topic-partitions or --topic flags are specified."),
    arg("topic", "String: topic name", "Name of topic for which to perform an election. Not allowed if --path-to-json-file or --all-topic-partitions is specified."),
];

/// Kafka's ElectionType: its wire value and its name in messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Election {
    Preferred,
    Unclean,
}

impl Election {
    /// jopt-simple's enum conversion: the constant's name, any case.
    pub fn parse(s: &str) -> Option<Election> {
        match s.to_ascii_uppercase().as_str() {
            "PREFERRED" => Some(Election::Preferred),
            "UNCLEAN" => Some(Election::Unclean),
            _ => None,
        }
    }
    pub fn wire(self) -> i8 {
        match self {
            Election::Preferred => 0,
            Election::Unclean => 1,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Election::Preferred => "PREFERRED",
            Election::Unclean => "UNCLEAN",
        }
    }
}

/// Kafka's checks, in Kafka's order and words.
fn validate(p: &Parsed) -> Result<(), String> {
    let mut missing = Vec::new();
    if !p.has("bootstrap-server") {
        missing.insert(0, "bootstrap-server");
    }
    if !p.has("election-type") {
        missing.insert(0, "election-type");
    }
    if !missing.is_empty() {
        return Err(format!("Missing required option(s): {}", missing.join(", ")));
    }
    let exclusive = ["topic", "all-topic-partitions", "path-to-json-file"];
    if exclusive.iter().filter(|o| p.has(o)).count() != 1 {
        return Err(format!("One and only one of the following options is required: {}", exclusive.join(", ")));
    }
    match (p.has("topic"), p.has("partition")) {
        (true, false) => Err("Missing required option(s): partition".into()),
        (false, true) => Err("Option partition is only allowed if topic is used".into()),
        _ => Ok(()),
    }
}

/// The `--path-to-json-file` contents: `{"partitions":[{"topic":"t","partition":0}]}`.
pub fn parse_election_json(text: &str) -> Result<BTreeSet<Tp>, String> {
    if text.trim().is_empty() {
        return Err("Replica election data is empty".into());
    }
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("Replica election data is not valid JSON: {e}"))?;
    let parts = v.get("partitions").ok_or("Replica election data is missing \"partitions\" field")?;
    let parts = parts.as_array().ok_or("The \"partitions\" field of the replica election data must be an array")?;
    let list = partition_entries(parts)?;
    let mut seen = BTreeSet::new();
    let mut dups = Vec::new();
    for tp in &list {
        if !seen.insert(tp.clone()) && !dups.contains(tp) {
            dups.push(tp.clone());
        }
    }
    if !dups.is_empty() {
        return Err(format!("Replica election data contains duplicate partitions: {}", dups.iter().map(tp_str).collect::<Vec<_>>().join(",")));
    }
    Ok(seen)
}

/// The `{"topic": t, "partition": p}` entries of an election file's `partitions`, in order.
pub fn partition_entries(parts: &[serde_json::Value]) -> Result<Vec<Tp>, String> {
    let mut list = Vec::with_capacity(parts.len());
    for e in parts {
        let topic = e.get("topic").and_then(|t| t.as_str()).ok_or("Missing or invalid \"topic\" field in an entry of \"partitions\"")?;
        let partition = e
            .get("partition")
            .and_then(|x| x.as_i64())
            .and_then(|x| i32::try_from(x).ok())
            .ok_or_else(|| format!("Missing or invalid \"partition\" field in the entry for topic {topic}"))?;
        list.push((topic.to_string(), partition));
    }
    Ok(list)
}

/// What one ElectLeaders answer says, grouped the way the tool prints it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub succeeded: BTreeSet<Tp>,
    /// ELECTION_NOT_NEEDED: the wanted replica already leads.
    pub noop: BTreeSet<Tp>,
    /// The failure as the Java exception prints (`org.apache.kafka.common.errors.X: message`).
    pub failed: BTreeMap<Tp, String>,
}

const ELECTION_NOT_NEEDED: i16 = 84;

pub fn outcome(resp: &ElectLeadersResponse) -> Outcome {
    let mut o = Outcome::default();
    for t in &resp.replica_election_results {
        for p in &t.partition_result {
            let tp = (t.topic.0.to_string(), p.partition_id);
            match p.error_code {
                0 => {
                    o.succeeded.insert(tp);
                }
                ELECTION_NOT_NEEDED => {
                    o.noop.insert(tp);
                }
                code => {
                    o.failed.insert(tp, describe(code, p.error_message.as_deref()));
                }
            }
        }
    }
    o
}

/// The lines Kafka prints for an outcome (stdout).
pub fn report(election: Election, o: &Outcome) -> Vec<String> {
    let join = |s: &BTreeSet<Tp>| s.iter().map(tp_str).collect::<Vec<_>>().join(", ");
    let mut out = Vec::new();
    if !o.succeeded.is_empty() {
        out.push(format!("Successfully completed leader election ({}) for partitions {}", election.name(), join(&o.succeeded)));
    }
    if !o.noop.is_empty() {
        // Kafka 2.5 printed the succeeded set here by mistake (KAFKA-12684); this prints the
        // partitions the line is about.
        out.push(format!("Valid replica already elected for partitions {}", join(&o.noop)));
    }
    for (tp, e) in &o.failed {
        out.push(format!("Error completing leader election ({}) for partition: {}: {e}", election.name(), tp_str(tp)));
    }
    out
}

/// The request's timeout (Kafka's tool runs its admin client with a 30 s API timeout).
const ELECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// Kafka's tool sets request.timeout.ms to half the API timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

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
    let raw_type = p.value("election-type").unwrap_or_default();
    let Some(election) = Election::parse(raw_type) else {
        return usage_error(&format!("Cannot parse argument '{raw_type}' of option election-type"));
    };
    let mut partitions: Option<BTreeSet<Tp>> = None;
    if let Some(file) = p.value("path-to-json-file") {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => return usage_error(&format!("Cannot read {file}: {e}")),
        };
        match parse_election_json(&text) {
            Ok(set) => partitions = Some(set),
            Err(m) => return usage_error(&m),
        }
    }
    if let Some(topic) = p.value("topic") {
        let partition = match p.num::<i32>("partition") {
            Ok(Some(n)) => n,
            Ok(None) => return usage_error("Missing required option(s): partition"),
            Err(m) => return usage_error(&m),
        };
        partitions = Some([(topic.to_string(), partition)].into_iter().collect());
    }
    let mut props = match load_props(&p, "admin.config", &[]) {
        Ok(x) => x,
        Err(m) => return usage_error(&m),
    };
    props.insert("request.timeout.ms".into(), REQUEST_TIMEOUT.as_millis().to_string());
    let server = p.value("bootstrap-server").unwrap_or_default();
    let mut client = match connect(server, "adminclient-1", &props).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error while making request: {e}");
            return 1;
        }
    };
    let resp = match elect(&mut client, election, partitions.as_ref()).await {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let o = outcome(&resp);
    for line in report(election, &o) {
        println!("{line}");
    }
    if o.failed.is_empty() {
        0
    } else {
        eprintln!("kafka.common.AdminCommandFailedException: {} replica(s) could not be elected", o.failed.len());
        1
    }
}

/// A request-level failure, as Kafka's tool reports it.
fn fail(e: &KafkaError) -> i32 {
    match e {
        KafkaError::Timeout(_) | KafkaError::Code(7, _) => {
            println!("Timeout waiting for election results");
            eprintln!("kafka.common.AdminCommandFailedException: Timeout waiting for election results");
        }
        KafkaError::Code(31, _) => {
            println!("Not authorized to perform leader election");
            eprintln!("kafka.common.AdminCommandFailedException: Not authorized to perform leader election");
        }
        other => eprintln!("Error while making request: {other}"),
    }
    1
}

/// ElectLeaders to the controller at the highest version both sides know (v0 has no election
/// type: preferred only). `None` asks for every partition.
pub(super) async fn elect(client: &mut crate::kafka::client::Client, election: Election, partitions: Option<&BTreeSet<Tp>>) -> Result<ElectLeadersResponse, KafkaError> {
    let version = client.controller().await?.version_for::<ElectLeadersRequest>(2)?;
    if version == 0 && election != Election::Preferred {
        return Err(KafkaError::Other(describe(35, Some("API Version 0 only supports PREFERRED election type"))));
    }
    let mut req = ElectLeadersRequest::default();
    req.election_type = election.wire();
    req.timeout_ms = ELECTION_TIMEOUT.as_millis() as i32;
    req.topic_partitions = partitions.map(|set| {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in set {
            by_topic.entry(t.as_str()).or_default().push(*p);
        }
        by_topic
            .into_iter()
            .map(|(t, ps)| {
                let mut x = TopicPartitions::default();
                x.topic = tn(t);
                x.partitions = ps;
                x
            })
            .collect()
    });
    // The broker answers when the elections are done or its timeout passed.
    let extra = ELECTION_TIMEOUT.saturating_sub(client.timeout) + Duration::from_secs(2);
    let resp = controller_call(client, &req, version, extra, |r: &ElectLeadersResponse| r.error_code).await?;
    if resp.error_code != 0 {
        return Err(KafkaError::code(resp.error_code, None));
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::opts::parse;
    use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};

    fn parsed(a: &[&str]) -> Parsed {
        parse(SPECS, &a.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn validation_messages() {
        assert_eq!(validate(&parsed(&["--topic", "t"])).unwrap_err(), "Missing required option(s): election-type, bootstrap-server");
        assert_eq!(validate(&parsed(&["--bootstrap-server", "x:1", "--topic", "t"])).unwrap_err(), "Missing required option(s): election-type");
        let b = ["--bootstrap-server", "x:1", "--election-type", "preferred"];
        let with = |extra: &[&str]| validate(&parsed(&[&b[..], extra].concat()));
        assert_eq!(with(&[]).unwrap_err(), "One and only one of the following options is required: topic, all-topic-partitions, path-to-json-file");
        assert_eq!(with(&["--topic", "t", "--all-topic-partitions"]).unwrap_err(), "One and only one of the following options is required: topic, all-topic-partitions, path-to-json-file");
        assert_eq!(with(&["--topic", "t"]).unwrap_err(), "Missing required option(s): partition");
        assert_eq!(with(&["--all-topic-partitions", "--partition", "1"]).unwrap_err(), "Option partition is only allowed if topic is used");
        assert!(with(&["--topic", "t", "--partition", "0"]).is_ok());
        assert!(with(&["--path-to-json-file", "f"]).is_ok());
    }

    #[test]
    fn election_types() {
        assert_eq!(Election::parse("preferred"), Some(Election::Preferred));
        assert_eq!(Election::parse("UnClean"), Some(Election::Unclean));
        assert_eq!(Election::parse("other"), None);
    }

    #[test]
    fn json_file() {
        let s = parse_election_json(r#"{"partitions":[{"topic":"a","partition":1},{"topic":"a","partition":0}]}"#).unwrap();
        assert_eq!(s.into_iter().collect::<Vec<_>>(), vec![("a".to_string(), 0), ("a".to_string(), 1)]);
        assert_eq!(parse_election_json("  ").unwrap_err(), "Replica election data is empty");
        assert!(parse_election_json("{x").unwrap_err().starts_with("Replica election data is not valid JSON"));
        assert_eq!(parse_election_json("{}").unwrap_err(), "Replica election data is missing \"partitions\" field");
        assert_eq!(
            parse_election_json(r#"{"partitions":[{"topic":"a","partition":1},{"topic":"a","partition":1}]}"#).unwrap_err(),
            "Replica election data contains duplicate partitions: a-1"
        );
        assert!(parse_election_json(r#"{"partitions":[{"topic":"a"}]}"#).unwrap_err().contains("\"partition\""));
    }

    #[test]
    fn outcome_lines() {
        let mut resp = ElectLeadersResponse::default();
        let mut t = ReplicaElectionResult::default();
        t.topic = tn("t");
        for (p, code, msg) in [(1, 0, None), (0, 0, None), (2, 84, None), (3, 80, Some("no"))] {
            let mut r = PartitionResult::default();
            r.partition_id = p;
            r.error_code = code;
            r.error_message = msg.map(crate::kafka::client::sb);
            t.partition_result.push(r);
        }
        resp.replica_election_results.push(t);
        let lines = report(Election::Preferred, &outcome(&resp));
        assert_eq!(
            lines,
            vec![
                "Successfully completed leader election (PREFERRED) for partitions t-0, t-1".to_string(),
                "Valid replica already elected for partitions t-2".to_string(),
                "Error completing leader election (PREFERRED) for partition: t-3: org.apache.kafka.common.errors.PreferredLeaderNotAvailableException: no".to_string(),
            ]
        );
    }
}
