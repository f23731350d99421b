//! `zookeeper-shell`: ZooKeeper's command-line client (zkCli / Kafka's zookeeper-shell.sh),
//! in Rust. See `shell::zookeeper_shell` for how it is put together.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = shell::zookeeper_shell::main_with_args(&args);
    std::process::exit(code);
}
