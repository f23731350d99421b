#!/usr/bin/env bash
# zookeeper-shell.sh host:port[,host:port...][/chroot] [command args...]
#
# Kafka's bin/zookeeper-shell.sh, backed by this repository's Rust `zookeeper-shell`.
# Builds the release binary when it is missing or older than its sources, then runs it.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
repo_root="$(cd "$script_dir/.." && pwd -P)"
target_dir="${CARGO_TARGET_DIR:-$repo_root/target}"
binary="$target_dir/release/zookeeper-shell"

needs_build() {
    [[ -x "$binary" ]] || return 0
    [[ "$repo_root/Cargo.lock" -nt "$binary" ]] && return 0
    [[ "$repo_root/Cargo.toml" -nt "$binary" ]] && return 0
    [[ -n "$(find "$repo_root/shell" -type f -newer "$binary" -print -quit 2>/dev/null)" ]]
}

if needs_build; then
    echo "Building zookeeper-shell (cargo build --release -p shell --bin zookeeper-shell)..." >&2
    (cd "$repo_root" && cargo build --quiet --release -p shell --bin zookeeper-shell) >&2
fi

exec "$binary" "$@"
