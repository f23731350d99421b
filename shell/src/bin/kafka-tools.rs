//! `kafka-tools <tool> [options]`: Kafka 2.5's command-line tools (`kafka-topics`,
//! `kafka-console-consumer`, ...); the `scripts/kafka-*.sh` entry points call it with their
//! own name. See `shell::kafka` for how it is put together.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = shell::kafka::main_with_args(&args);
    std::process::exit(code);
}
