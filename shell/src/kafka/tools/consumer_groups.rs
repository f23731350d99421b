//! `kafka-consumer-groups.sh`: list, describe (offsets, members, state), reset offsets,
//! delete groups and group offsets, with Kafka 2.5's columns and messages.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
use kafka_protocol::messages::{DeleteGroupsRequest, DescribeGroupsRequest, GroupId, ListGroupsRequest, OffsetDeleteRequest};

use super::{connect, list_offsets, load_props, now_ms, partitions_of};
use crate::kafka::client::{sb, tn, Client};
use crate::kafka::error::{check, KafkaError};
use crate::kafka::group::{commit_offsets, decode_assignment, fetch_offsets, find_coordinator, Tp};
use crate::kafka::opts::{arg, flag, OptSpec, Parsed};
use crate::kafka::{start, usage_error, Start};

const INTRO: &str = "This tool helps to list all consumer groups, describe a consumer group, delete consumer group info, or reset consumer group offsets.";

const SPECS: &[OptSpec] = &[
    flag("all-groups", "Apply to all consumer groups."),
    flag("all-topics", "Consider all topics assigned to a group in the `reset-offsets` process."),
    arg("bootstrap-server", "String: server to connect to", "REQUIRED: The server(s) to connect to."),
    arg("by-duration", "String: duration", "Reset offsets to offset by duration from current timestamp. Format: 'PnDTnHnMnS'"),
    arg("command-config", "String: command config property file", "Property file containing configs to be passed to Admin Client and Consumer."),
    flag("delete", "Pass in groups to delete topic partition offsets and ownership information over the entire consumer group. For instance --group g1 --group g2"),
    flag("delete-offsets", "Delete offsets of consumer group. Supports one consumer group at the time, and multiple topics."),
    flag("describe", "Describe consumer group and list offset lag (number of messages not yet processed) related to given group."),
    flag("dry-run", "Only show results without executing changes on Consumer Groups. Supported operations: reset-offsets."),
    flag("execute", "Execute operation. Supported operations: reset-offsets."),
    flag("export", "Export operation execution to a CSV file. Supported operations: reset-offsets."),
    arg("from-file", "String: path to CSV file", "Reset offsets to values defined in CSV file."),
    arg("group", "String: consumer group", "The consumer group we wish to act on."),
    flag("list", "List all consumer groups."),
    flag("members", "Describe members of the group. This option may be used with '--describe' and '--bootstrap-server' options only. Example: --bootstrap-server localhost:9092 --describe --group group1 --members"),
    flag("offsets", "Describe the group and list all topic partitions in the group along with their offset lag. This is the default sub-action of and may be used with '--describe' and '--bootstrap-server' options only. Example: --bootstrap-server localhost:9092 --describe --group group1 --offsets"),
    flag("reset-offsets", "Reset offsets of consumer group. Supports one consumer group at the time, and instances should be inactive. Has 2 execution options: --dry-run (the default) to plan which offsets to reset, and --execute to update the offsets. Additionally, the --export option is used to export the results to a CSV format. You must choose one of the following reset specifications: --to-datetime, --by-period, --to-earliest, --to-latest, --shift-by, --from-file, --to-current. To define the scope use --all-topics or --topic. One scope must be specified unless you use '--from-file'."),
    arg("shift-by", "Long: number-of-offsets", "Reset offsets shifting current offset by 'n', where 'n' can be positive or negative."),
    flag("state", "Describe the group state. This option may be used with '--describe' and '--bootstrap-server' options only. Example: --bootstrap-server localhost:9092 --describe --group group1 --state"),
    arg("timeout", "Long: timeout (ms)", "The timeout that can be set for some use cases. For example, it can be used when describing the group to specify the maximum amount of time in milliseconds to wait before the group stabilizes (when the group is just created, or is going through some changes). (default: 5000)"),
    flag("to-current", "Reset offsets to current offset."),
    arg("to-datetime", "String: datetime", "Reset offsets to offset from datetime. Format: 'YYYY-MM-DDTHH:mm:SS.sss'"),
    flag("to-earliest", "Reset offsets to earliest offset."),
    flag("to-latest", "Reset offsets to latest offset."),
    arg("to-offset", "Long: offset", "Reset offsets to a specific offset."),
    arg("topic", "String: topic", "The topic whose consumer group information should be deleted or topic whose should be included in the reset offset process. In `reset-offsets` case, partitions can be specified using this format: `topic1:0,1,2`, where 0,1,2 are the partition to be included in the process. Reset-offsets also supports multiple topic inputs."),
    flag("verbose", "Provide additional information, if any, when describing the group. This option may be used with '--offsets'/'--members'/'--state' and '--bootstrap-server' options only. Example: --bootstrap-server localhost:9092 --describe --group group1 --members --verbose"),
];

pub async fn main(args: &[String]) -> i32 {
    let p = match start(INTRO, SPECS, args) {
        Start::Go(p) => p,
        Start::Exit(c) => return c,
    };
    let actions = ["list", "describe", "delete", "reset-offsets", "delete-offsets"].iter().filter(|a| p.has(a)).count();
    if actions != 1 {
        return usage_error("Command must include exactly one action: --list, --describe, --delete, --reset-offsets, --delete-offsets");
    }
    let Some(server) = p.value("bootstrap-server").map(str::to_string) else {
        return usage_error("Missing required argument \"[bootstrap-server]\"");
    };
    if (p.has("describe") || p.has("reset-offsets") || p.has("delete-offsets") || p.has("delete")) && !p.has("group") && !p.has("all-groups") {
        return usage_error("Option [describe|delete|reset-offsets|delete-offsets] takes one of these options: [all-groups], [group]");
    }
    if p.has("reset-offsets") {
        let specs = ["to-datetime", "by-duration", "to-earliest", "to-latest", "shift-by", "from-file", "to-current", "to-offset"].iter().filter(|a| p.has(a)).count();
        if specs != 1 {
            return usage_error("Option [reset-offsets] takes exactly one of these options: [to-datetime], [by-duration], [to-earliest], [to-latest], [shift-by], [from-file], [to-current], [to-offset]");
        }
        if !p.has("from-file") && !p.has("topic") && !p.has("all-topics") {
            return usage_error("Option [reset-offsets] takes one of these options: [all-topics], [topic]");
        }
        if p.has("dry-run") && p.has("execute") {
            return usage_error("Option [reset-offsets] only accepts one of [execute], [dry-run]");
        }
    }
    if p.has("delete-offsets") && !p.has("topic") {
        return usage_error("Option [delete-offsets] takes the following options: [topic]");
    }
    let props = match load_props(&p, "command-config", &[]) {
        Ok(x) => x,
        Err(m) => return usage_error(&m),
    };
    let mut client = match connect(&server, "adminclient-1", &props).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: Executing consumer group command failed due to {e}");
            return 1;
        }
    };
    let r = if p.has("list") {
        list(&mut client, &p).await
    } else if p.has("describe") {
        describe(&mut client, &p).await
    } else if p.has("delete") {
        delete(&mut client, &p).await
    } else if p.has("reset-offsets") {
        reset(&mut client, &p).await
    } else {
        delete_offsets(&mut client, &p).await
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: Executing consumer group command failed due to {e}");
            1
        }
    }
}

async fn group_ids(client: &mut Client) -> Result<Vec<(String, String)>, KafkaError> {
    let brokers: Vec<i32> = client.meta.brokers.keys().copied().collect();
    let mut out = BTreeMap::new();
    for b in brokers {
        let req = ListGroupsRequest::default();
        let conn = client.node(b).await?;
        let resp = conn.send(&req, 3).await?;
        check(resp.error_code, None)?;
        for g in resp.groups {
            out.insert(g.group_id.0.to_string(), g.protocol_type.to_string());
        }
    }
    Ok(out.into_iter().collect())
}

async fn list(client: &mut Client, _p: &Parsed) -> Result<i32, KafkaError> {
    for (g, _) in group_ids(client).await? {
        println!("{g}");
    }
    Ok(0)
}

async fn targets(client: &mut Client, p: &Parsed) -> Result<Vec<String>, KafkaError> {
    if p.has("all-groups") {
        Ok(group_ids(client).await?.into_iter().map(|(g, _)| g).collect())
    } else {
        Ok(p.values("group"))
    }
}

pub(crate) struct MemberInfo {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) host: String,
    pub(crate) assignment: Vec<Tp>,
}

pub(crate) struct GroupInfo {
    pub(crate) state: String,
    pub(crate) protocol: String,
    pub(crate) coordinator: i32,
    pub(crate) members: Vec<MemberInfo>,
}

pub(crate) async fn describe_group(client: &mut Client, group: &str) -> Result<GroupInfo, KafkaError> {
    let coordinator = find_coordinator(client, group).await?;
    let mut req = DescribeGroupsRequest::default();
    req.groups = vec![GroupId(sb(group))];
    let conn = client.node(coordinator).await?;
    let resp = conn.send(&req, 5).await?;
    let g = resp.groups.into_iter().next().ok_or_else(|| KafkaError::Protocol("empty DescribeGroups response".into()))?;
    check(g.error_code, g.error_message.map(|m| m.to_string()))?;
    Ok(GroupInfo {
        state: g.group_state.to_string(),
        protocol: g.protocol_data.to_string(),
        coordinator,
        members: g
            .members
            .into_iter()
            .map(|m| MemberInfo {
                id: m.member_id.to_string(),
                client_id: m.client_id.to_string(),
                host: m.client_host.to_string(),
                assignment: decode_assignment(&m.member_assignment),
            })
            .collect(),
    })
}

/// Prints the notes Kafka prints for a group's state; false if there is nothing to show.
fn note_state(group: &str, state: &str, rows: usize) -> bool {
    match state {
        "Dead" => {
            eprintln!("Error: Consumer group '{group}' does not exist.");
            return false;
        }
        "Empty" => eprintln!("\nConsumer group '{group}' has no active members."),
        "PreparingRebalance" | "CompletingRebalance" => eprintln!("\nWarning: Consumer group '{group}' is rebalancing."),
        _ => {}
    }
    rows > 0
}

fn w(min: usize, vals: impl Iterator<Item = usize>) -> usize {
    vals.fold(min, |a, b| a.max(b))
}

async fn describe(client: &mut Client, p: &Parsed) -> Result<i32, KafkaError> {
    let groups = targets(client, p).await?;
    let mut code = 0;
    for group in groups {
        let info = describe_group(client, &group).await?;
        if info.state == "Dead" {
            note_state(&group, &info.state, 0);
            code = 1;
            continue;
        }
        if p.has("state") {
            let coord = client.meta.brokers.get(&info.coordinator).map(|b| format!("{}  ({})", b.addr(), b.id)).unwrap_or_else(|| format!("({})", info.coordinator));
            let gl = w(25, [group.len()].into_iter());
            let cl = w(25, [coord.len()].into_iter());
            println!("\n{:<gl$} {:<cl$} {:<20} {:<15} {}", "GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS");
            println!("{:<gl$} {:<cl$} {:<20} {:<15} {}", group, coord, info.protocol, info.state, info.members.len());
            continue;
        }
        if p.has("members") {
            let show = note_state(&group, &info.state, info.members.len());
            if show {
                let gl = w(15, [group.len()].into_iter());
                let il = w(15, info.members.iter().map(|m| m.id.len()));
                let hl = w(15, info.members.iter().map(|m| m.host.len()));
                let cl = w(15, info.members.iter().map(|m| m.client_id.len()));
                let verbose = p.has("verbose");
                println!("\n{:<gl$} {:<il$} {:<hl$} {:<cl$} {:<15} {}", "GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", if verbose { "ASSIGNMENT" } else { "" });
                for m in &info.members {
                    let assignment = if verbose {
                        let mut by_topic: BTreeMap<&str, Vec<String>> = BTreeMap::new();
                        for (t, pn) in &m.assignment {
                            by_topic.entry(t).or_default().push(pn.to_string());
                        }
                        let s: Vec<String> = by_topic.into_iter().map(|(t, ps)| format!("{t}({})", ps.join(","))).collect();
                        if s.is_empty() {
                            "-".to_string()
                        } else {
                            s.join(", ")
                        }
                    } else {
                        String::new()
                    };
                    println!("{:<gl$} {:<il$} {:<hl$} {:<cl$} {:<15} {}", group, m.id, m.host, m.client_id, m.assignment.len(), assignment);
                }
            }
            continue;
        }
        // Offsets view (the default).
        let committed = fetch_offsets(client, info.coordinator, &group, None).await?;
        let mut rows: Vec<(String, Tp, Option<i64>, String, String, String)> = Vec::new();
        let mut assigned: BTreeSet<Tp> = BTreeSet::new();
        let mut members: Vec<&MemberInfo> = info.members.iter().collect();
        members.sort_by(|a, b| a.id.cmp(&b.id));
        for m in &members {
            let mut a = m.assignment.clone();
            a.sort();
            for tp in a {
                assigned.insert(tp.clone());
                rows.push((group.clone(), tp.clone(), committed.get(&tp).copied(), m.id.clone(), m.host.clone(), m.client_id.clone()));
            }
        }
        for (tp, o) in &committed {
            if !assigned.contains(tp) {
                rows.push((group.clone(), tp.clone(), Some(*o), "-".into(), "-".into(), "-".into()));
            }
        }
        let topics: Vec<String> = rows.iter().map(|r| r.1 .0.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        client.refresh(Some(&topics)).await?;
        let parts: Vec<Tp> = rows.iter().map(|r| r.1.clone()).filter(|(t, pn)| client.leader(t, *pn).is_some()).collect();
        let ends = list_offsets(client, &parts, -1).await.unwrap_or_default();
        if !note_state(&group, &info.state, rows.len()) {
            continue;
        }
        let gl = w(15, rows.iter().map(|r| r.0.len()));
        let tl = w(15, rows.iter().map(|r| r.1 .0.len()));
        let il = w(15, rows.iter().map(|r| r.3.len()));
        let hl = w(15, rows.iter().map(|r| r.4.len()));
        println!("\n{:<gl$} {:<tl$} {:<10} {:<15} {:<15} {:<15} {:<il$} {:<hl$} {}", "GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID");
        for (g, tp, off, id, host, cid) in &rows {
            let end = ends.get(tp).copied();
            let o = off.map(|o| o.to_string()).unwrap_or_else(|| "-".into());
            let e = end.map(|e| e.to_string()).unwrap_or_else(|| "-".into());
            let lag = match (off, end) {
                (Some(o), Some(e)) => (e - o).to_string(),
                _ => "-".into(),
            };
            println!("{:<gl$} {:<tl$} {:<10} {:<15} {:<15} {:<15} {:<il$} {:<hl$} {}", g, tp.0, tp.1, o, e, lag, id, host, cid);
        }
    }
    Ok(code)
}

async fn delete(client: &mut Client, p: &Parsed) -> Result<i32, KafkaError> {
    let groups = targets(client, p).await?;
    let mut failed: Vec<(String, String)> = Vec::new();
    let mut ok = Vec::new();
    for g in &groups {
        let coordinator = find_coordinator(client, g).await?;
        let mut req = DeleteGroupsRequest::default();
        req.groups_names = vec![GroupId(sb(g))];
        let conn = client.node(coordinator).await?;
        let resp = conn.send(&req, 2).await?;
        for r in resp.results {
            if r.error_code == 0 {
                ok.push(r.group_id.0.to_string());
            } else {
                failed.push((r.group_id.0.to_string(), KafkaError::code(r.error_code, None).to_string()));
            }
        }
    }
    if failed.is_empty() {
        let list: Vec<String> = ok.iter().map(|g| format!("'{g}'")).collect();
        println!("Deletion of requested consumer groups ({}) was successful.", list.join(", "));
        Ok(0)
    } else {
        println!("Deletion of some consumer groups failed:");
        for (g, e) in &failed {
            println!("* Group '{g}' could not be deleted due to: {e}");
        }
        if !ok.is_empty() {
            println!("\nThese consumer groups were deleted successfully: {}", ok.iter().map(|g| format!("'{g}'")).collect::<Vec<_>>().join(", "));
        }
        Ok(1)
    }
}

/// `--topic t` / `--topic t:0,1` values as partitions (all of a topic's when none given).
fn topic_partitions(client: &Client, specs: &[String]) -> Result<Vec<Tp>, KafkaError> {
    let mut out = Vec::new();
    for s in specs {
        match s.split_once(':') {
            Some((t, ps)) => {
                for pn in ps.split(',') {
                    let pn = pn.trim().parse::<i32>().map_err(|_| KafkaError::Other(format!("Invalid partition '{pn}' in --topic {s}")))?;
                    out.push((t.to_string(), pn));
                }
            }
            None => {
                let all = partitions_of(client, s);
                if all.is_empty() {
                    return Err(KafkaError::code(3, Some(format!("Topic '{s}' does not exist"))));
                }
                out.extend(all.into_iter().map(|pn| (s.clone(), pn)));
            }
        }
    }
    Ok(out)
}

pub(crate) fn parse_datetime(s: &str) -> Result<i64, KafkaError> {
    let bad = || KafkaError::Other(format!("Error parsing timestamp '{s}'. It should be in the format 'YYYY-MM-DDTHH:mm:SS.sss' with an optional timezone (Z or +hh:mm)"));
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Ok(ts.as_millisecond());
    }
    let dt: jiff::civil::DateTime = s.parse().map_err(|_| bad())?;
    let z = dt.to_zoned(jiff::tz::TimeZone::system()).map_err(|_| bad())?;
    Ok(z.timestamp().as_millisecond())
}

async fn reset(client: &mut Client, p: &Parsed) -> Result<i32, KafkaError> {
    let groups = targets(client, p).await?;
    let Some(group) = groups.first().cloned() else { return Ok(0) };
    let info = describe_group(client, &group).await?;
    if info.state != "Empty" && info.state != "Dead" {
        eprintln!("Error: Assignments can only be reset if the group '{group}' is inactive, but the current state is {}.", info.state);
        return Ok(1);
    }
    let committed = fetch_offsets(client, info.coordinator, &group, None).await?;
    let parts: Vec<Tp> = if p.has("all-topics") {
        committed.keys().cloned().collect()
    } else if p.has("from-file") {
        Vec::new()
    } else {
        let specs = p.values("topic");
        let topics: Vec<String> = specs.iter().map(|s| s.split(':').next().unwrap_or("").to_string()).collect();
        client.refresh(Some(&topics)).await?;
        topic_partitions(client, &specs)?
    };
    let mut new: BTreeMap<Tp, i64> = BTreeMap::new();
    if let Some(f) = p.value("from-file") {
        let text = std::fs::read_to_string(f).map_err(|e| KafkaError::Other(format!("Cannot read {f}: {e}")))?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let cols: Vec<&str> = line.split(',').map(str::trim).collect();
            let (t, pn, o) = match cols.as_slice() {
                [t, pn, o] => (*t, *pn, *o),
                [_g, t, pn, o] => (*t, *pn, *o),
                _ => return Err(KafkaError::Other(format!("Invalid line in {f}: {line}"))),
            };
            let pn = pn.parse::<i32>().map_err(|_| KafkaError::Other(format!("Invalid line in {f}: {line}")))?;
            let o = o.parse::<i64>().map_err(|_| KafkaError::Other(format!("Invalid line in {f}: {line}")))?;
            new.insert((t.to_string(), pn), o);
        }
    } else {
        let topics: Vec<String> = parts.iter().map(|(t, _)| t.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        client.refresh(Some(&topics)).await?;
        let earliest = list_offsets(client, &parts, -2).await?;
        let latest = list_offsets(client, &parts, -1).await?;
        let clamp = |tp: &Tp, o: i64| -> i64 {
            let lo = earliest.get(tp).copied().unwrap_or(0);
            let hi = latest.get(tp).copied().unwrap_or(o);
            if o < lo {
                println!("New offset ({o}) is lower than earliest offset for topic partition {}-{}. Value will be set to {lo}", tp.0, tp.1);
                lo
            } else if o > hi {
                println!("New offset ({o}) is higher than latest offset for topic partition {}-{}. Value will be set to {hi}", tp.0, tp.1);
                hi
            } else {
                o
            }
        };
        for tp in &parts {
            let current = committed.get(tp).copied();
            let o = if p.has("to-earliest") {
                earliest.get(tp).copied().unwrap_or(0)
            } else if p.has("to-latest") {
                latest.get(tp).copied().unwrap_or(0)
            } else if p.has("to-current") {
                current.or_else(|| latest.get(tp).copied()).unwrap_or(0)
            } else if let Some(o) = p.num::<i64>("to-offset").map_err(KafkaError::Other)? {
                clamp(tp, o)
            } else if let Some(s) = p.num::<i64>("shift-by").map_err(KafkaError::Other)? {
                let base = current.or_else(|| latest.get(tp).copied()).unwrap_or(0);
                clamp(tp, base + s)
            } else {
                let ts = if let Some(d) = p.value("to-datetime") {
                    parse_datetime(d)?
                } else {
                    let d = p.value("by-duration").unwrap_or("");
                    let span: jiff::Span = d.parse().map_err(|_| KafkaError::Other(format!("Error parsing duration '{d}'. It should be in the format 'PnDTnHnMnS'")))?;
                    let now = jiff::Timestamp::from_millisecond(now_ms()).map_err(|e| KafkaError::Other(e.to_string()))?;
                    let then = now.checked_sub(span).map_err(|e| KafkaError::Other(format!("Error parsing duration '{d}': {e}")))?;
                    then.as_millisecond()
                };
                let found = list_offsets(client, std::slice::from_ref(tp), ts).await?;
                match found.get(tp).copied() {
                    Some(o) if o >= 0 => o,
                    _ => latest.get(tp).copied().unwrap_or(0),
                }
            };
            new.insert(tp.clone(), o);
        }
    }
    if p.has("export") {
        for ((t, pn), o) in &new {
            println!("{t},{pn},{o}");
        }
    } else {
        println!("\n{:<30} {:<30} {:<10} {:<15}", "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET");
        for ((t, pn), o) in &new {
            println!("{:<30} {:<30} {:<10} {:<15}", group, t, pn, o);
        }
    }
    if p.has("execute") {
        commit_offsets(client, info.coordinator, &group, -1, "", &new).await?;
    } else if !p.has("dry-run") {
        println!("WARN: No action will be performed as the --execute option is missing.In a future major release, the default behavior of this command will be to prompt the user before executing the reset rather than doing a dry run. You should add the --dry-run option explicitly if you are scripting this command and want to keep the current default behavior without prompting.");
    }
    Ok(0)
}

async fn delete_offsets(client: &mut Client, p: &Parsed) -> Result<i32, KafkaError> {
    let groups = targets(client, p).await?;
    let Some(group) = groups.first().cloned() else { return Ok(0) };
    let specs = p.values("topic");
    let topics: Vec<String> = specs.iter().map(|s| s.split(':').next().unwrap_or("").to_string()).collect();
    client.refresh(Some(&topics)).await?;
    let parts = topic_partitions(client, &specs)?;
    let coordinator = find_coordinator(client, &group).await?;
    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (t, pn) in &parts {
        by_topic.entry(t.clone()).or_default().push(*pn);
    }
    let mut req = OffsetDeleteRequest::default();
    req.group_id = GroupId(sb(&group));
    req.topics = by_topic
        .into_iter()
        .map(|(t, ps)| {
            let mut x = OffsetDeleteRequestTopic::default();
            x.name = tn(&t);
            x.partitions = ps
                .into_iter()
                .map(|pn| {
                    let mut y = OffsetDeleteRequestPartition::default();
                    y.partition_index = pn;
                    y
                })
                .collect();
            x
        })
        .collect();
    let conn = client.node(coordinator).await?;
    let resp = conn.send(&req, 0).await?;
    if resp.error_code != 0 {
        println!("Error: Encounter some unknown error: {}", KafkaError::code(resp.error_code, None));
        return Ok(1);
    }
    let failed = resp.topics.iter().any(|t| t.partitions.iter().any(|p| p.error_code != 0));
    if !failed {
        println!("Request succeed for deleting offsets with topic {} group {group}", topics.join(","));
    }
    println!("\n{:<30} {:<15} {:<15}", "TOPIC", "PARTITION", "STATUS");
    for t in resp.topics {
        for pr in t.partitions {
            let status = if pr.error_code == 0 {
                "Successful".to_string()
            } else {
                format!("Error: {}", KafkaError::code(pr.error_code, None))
            };
            println!("{:<30} {:<15} {:<15}", t.name.0, pr.partition_index, status);
        }
    }
    Ok(if failed { 1 } else { 0 })
}
