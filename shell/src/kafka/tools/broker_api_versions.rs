//! `kafka-broker-api-versions.sh`: every broker's ApiVersions table, printed as Kafka 2.5's
//! NodeApiVersions (`\tProduce(0): 0 to 8 [usable: 8],`), with the usable version computed
//! against Kafka 2.5's client.

use super::{connect, load_props};
use crate::kafka::conn::Conn;
use crate::kafka::opts::{arg, OptSpec};
use crate::kafka::{start, usage_error, Start};

const INTRO: &str = "This tool helps to retrieve broker version information.";

const SPECS: &[OptSpec] = &[
    arg("bootstrap-server", "String: server(s) to use for bootstrapping", "REQUIRED: The server to connect to."),
    arg("command-config", "String: command config property file", "A property file containing configs to be passed to Admin Client."),
];

/// Kafka 2.5's ApiKeys: (id, name, latest version its clients speak).
const KAFKA_25_APIS: &[(i16, &str, i16)] = &[
    (0, "Produce", 8),
    (1, "Fetch", 11),
    (2, "ListOffsets", 5),
    (3, "Metadata", 9),
    (4, "LeaderAndIsr", 4),
    (5, "StopReplica", 2),
    (6, "UpdateMetadata", 6),
    (7, "ControlledShutdown", 3),
    (8, "OffsetCommit", 8),
    (9, "OffsetFetch", 7),
    (10, "FindCoordinator", 3),
    (11, "JoinGroup", 7),
    (12, "Heartbeat", 4),
    (13, "LeaveGroup", 4),
    (14, "SyncGroup", 5),
    (15, "DescribeGroups", 5),
    (16, "ListGroups", 3),
    (17, "SaslHandshake", 1),
    (18, "ApiVersions", 3),
    (19, "CreateTopics", 5),
    (20, "DeleteTopics", 4),
    (21, "DeleteRecords", 1),
    (22, "InitProducerId", 3),
    (23, "OffsetForLeaderEpoch", 3),
    (24, "AddPartitionsToTxn", 1),
    (25, "AddOffsetsToTxn", 1),
    (26, "EndTxn", 1),
    (27, "WriteTxnMarkers", 0),
    (28, "TxnOffsetCommit", 3),
    (29, "DescribeAcls", 2),
    (30, "CreateAcls", 2),
    (31, "DeleteAcls", 2),
    (32, "DescribeConfigs", 2),
    (33, "AlterConfigs", 1),
    (34, "AlterReplicaLogDirs", 1),
    (35, "DescribeLogDirs", 1),
    (36, "SaslAuthenticate", 2),
    (37, "CreatePartitions", 2),
    (38, "CreateDelegationToken", 2),
    (39, "RenewDelegationToken", 2),
    (40, "ExpireDelegationToken", 2),
    (41, "DescribeDelegationToken", 2),
    (42, "DeleteGroups", 2),
    (43, "ElectLeaders", 2),
    (44, "IncrementalAlterConfigs", 1),
    (45, "AlterPartitionReassignments", 0),
    (46, "ListPartitionReassignments", 0),
    (47, "OffsetDelete", 0),
];

/// The NodeApiVersions text of one broker.
pub fn describe(conn: &Conn) -> String {
    let mut lines = std::collections::BTreeMap::new();
    for (&key, &(min, max)) in &conn.versions {
        let known = KAFKA_25_APIS.iter().find(|a| a.0 == key);
        let name = known.map(|a| a.1.to_string()).unwrap_or_else(|| "UNKNOWN".to_string());
        let range = if min == max { min.to_string() } else { format!("{min} to {max}") };
        let usable = match known {
            Some(&(_, _, latest)) if latest < min => " [unusable: node too new]".to_string(),
            Some(&(_, _, latest)) => format!(" [usable: {}]", latest.min(max)),
            None => String::new(),
        };
        lines.insert(key, format!("{name}({key}): {range}{usable}"));
    }
    for &(key, name, _) in KAFKA_25_APIS {
        lines.entry(key).or_insert_with(|| format!("{name}({key}): UNSUPPORTED"));
    }
    let body: Vec<String> = lines.into_values().collect();
    format!("(\n\t{}\n)", body.join(",\n\t"))
}

pub async fn main(args: &[String]) -> i32 {
    let p = match start(INTRO, SPECS, args) {
        Start::Go(p) => p,
        Start::Exit(c) => return c,
    };
    let server = match p.required("bootstrap-server") {
        Ok(s) => s.to_string(),
        Err(m) => return usage_error(&m),
    };
    let props = match load_props(&p, "command-config", &[]) {
        Ok(x) => x,
        Err(m) => return usage_error(&m),
    };
    let mut client = match connect(&server, "admin-1", &props).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    let brokers: Vec<_> = client.meta.brokers.values().cloned().collect();
    let mut code = 0;
    for b in brokers {
        let rack = b.rack.clone().unwrap_or_else(|| "null".into());
        match client.node(b.id).await {
            Ok(conn) => println!("{} (id: {} rack: {}) -> {}", b.addr(), b.id, rack, describe(conn)),
            Err(e) => {
                println!("{} (id: {} rack: {}) -> ERROR: {e}", b.addr(), b.id, rack);
                code = 1;
            }
        }
    }
    code
}
