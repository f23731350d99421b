//! The `kafka-*` command-line tools (Kafka 2.5's flags and output formats), as one binary
//! `kafka-tools` whose first argument names the tool (`scripts/kafka-topics.sh` runs
//! `kafka-tools kafka-topics ...`).
//!
//! ```text
//! argv -> opts (jopt-simple style parsing, --help table) -> tools/<name>.rs
//!      -> client (bootstrap, metadata, leader routing) -> conn (frames, versions)
//!      -> kafka-protocol codec -> any Kafka-compatible broker
//! records: batch encode/decode with compression; group: the consumer group protocol
//! ```
//!
//! Every tool: usage mistakes are one line on stderr and exit 1; `--help` prints the option
//! table on stdout; network work is bounded by a timeout so an unreachable cluster is a
//! clear error, never a hang.

pub mod accumulator;
pub mod client;
pub mod conn;
pub mod consumer;
pub mod error;
pub mod group;
pub mod opts;
pub mod producer;
pub mod props;
pub mod records;
pub mod sender;
pub mod tools;

use std::time::Duration;

/// Default bound on reaching the cluster and on each request, as `request.timeout.ms`
/// can override it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The tools this binary provides (the script names without `.sh`).
pub const TOOLS: &[&str] = &[
    "kafka-topics",
    "kafka-configs",
    "kafka-console-producer",
    "kafka-console-consumer",
    "kafka-consumer-groups",
    "kafka-broker-api-versions",
    "kafka-delete-records",
    "kafka-dump-log",
    "kafka-log-dirs",
    "kafka-verifiable-producer",
    "kafka-verifiable-consumer",
    "kafka-producer-perf-test",
    "kafka-consumer-perf-test",
    "kafka-leader-election",
    "kafka-reassign-partitions",
    "kafka-preferred-replica-election",
    "kafka-get-offset-shell",
    "kafka-mirror-maker",
    "kafka-streams-application-reset",
];

/// Runs the tool named by `args[0]` with the rest; returns the exit code.
pub fn main_with_args(args: &[String]) -> i32 {
    let Some(tool) = args.first() else {
        eprintln!("usage: kafka-tools <tool> [options]; tools: {}", TOOLS.join(", "));
        return 1;
    };
    let tool = tool.trim_end_matches(".sh");
    let rest = &args[1..];
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return 1;
        }
    };
    match tool {
        "kafka-topics" => rt.block_on(tools::topics::main(rest)),
        "kafka-configs" => rt.block_on(tools::configs::main(rest)),
        "kafka-console-producer" => rt.block_on(tools::console_producer::main(rest)),
        "kafka-console-consumer" => rt.block_on(tools::console_consumer::main(rest)),
        "kafka-consumer-groups" => rt.block_on(tools::consumer_groups::main(rest)),
        "kafka-broker-api-versions" => rt.block_on(tools::broker_api_versions::main(rest)),
        "kafka-delete-records" => rt.block_on(tools::delete_records::main(rest)),
        "kafka-dump-log" => tools::dump_log::main(rest),
        "kafka-log-dirs" => rt.block_on(tools::log_dirs::main(rest)),
        "kafka-verifiable-producer" => rt.block_on(tools::verifiable_producer::main(rest)),
        "kafka-verifiable-consumer" => rt.block_on(tools::verifiable_consumer::main(rest)),
        "kafka-producer-perf-test" => rt.block_on(tools::producer_perf::main(rest)),
        "kafka-consumer-perf-test" => rt.block_on(tools::consumer_perf::main(rest)),
        "kafka-leader-election" => rt.block_on(tools::leader_election::main(rest)),
        "kafka-reassign-partitions" => rt.block_on(tools::reassign_partitions::main(rest)),
        "kafka-preferred-replica-election" => rt.block_on(tools::preferred_election::main(rest)),
        "kafka-get-offset-shell" => rt.block_on(tools::get_offset_shell::main(rest)),
        "kafka-mirror-maker" => rt.block_on(tools::mirror_maker::main(rest)),
        "kafka-streams-application-reset" => rt.block_on(tools::streams_resetter::main(rest)),
        other => {
            eprintln!("unknown tool {other}; tools: {}", TOOLS.join(", "));
            1
        }
    }
}

/// What a tool's option parsing decided: go on, or exit with this code (help, version,
/// usage error — already printed).
pub enum Start {
    Go(opts::Parsed),
    Exit(i32),
}

/// Parses options; handles `--help`, `--version` and usage errors (one line on stderr).
pub fn start(intro: &str, specs: &[opts::OptSpec], args: &[String]) -> Start {
    let p = match opts::parse(specs, args) {
        Ok(p) => p,
        Err(m) => {
            eprintln!("{m}");
            return Start::Exit(1);
        }
    };
    if p.has("help") || args.is_empty() {
        print!("{}", opts::help(intro, specs));
        return Start::Exit(if args.is_empty() { 1 } else { 0 });
    }
    if p.has("version") {
        println!("{}", opts::KAFKA_VERSION);
        return Start::Exit(0);
    }
    Start::Go(p)
}

/// Prints a one-line usage error and returns exit code 1.
pub fn usage_error(msg: &str) -> i32 {
    eprintln!("{msg}");
    1
}

/// `request.timeout.ms` from tool properties, else the default.
pub fn timeout_from(props: &props::Props) -> Duration {
    props
        .get("request.timeout.ms")
        .or_else(|| props.get("default.api.timeout.ms"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_TIMEOUT)
}
