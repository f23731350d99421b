# Shared by the scripts/*.sh entry points: find the repository, build a release binary when
# it is missing or older than its sources, and run things in the background with a pid file.
# Source it; do not run it.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/release"

# ensure_built <cargo package> <binary name>: builds when missing or stale.
ensure_built() {
  local pkg="$1" bin="$2" exe="$BIN_DIR/$2"
  # Only what goes into the binary counts (src/ of the package and of the shared codec crates
  # jute/ and kafka-wire/, the manifests): a test or example edited after the last build does
  # not make the server binary stale.
  if [ -x "$exe" ] && [ -z "$(find "$ROOT/$pkg/src" "$ROOT/jute/src" "$ROOT/kafka-wire/src" "$ROOT/$pkg/Cargo.toml" "$ROOT/Cargo.lock" "$ROOT/Cargo.toml" -newer "$exe" -type f \( -name '*.rs' -o -name 'Cargo.*' \) -print -quit 2>/dev/null)" ]; then
    return 0
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    echo "$(basename "$0"): cargo not found; install Rust (rustup) to build $bin" >&2
    exit 1
  fi
  echo "building $bin (release)..." >&2
  (cd "$ROOT" && cargo build --release --quiet -p "$pkg" --bin "$bin") >&2 || {
    echo "$(basename "$0"): building $bin failed" >&2
    exit 1
  }
}

# start_server <binary> <pid file name> <log file name> <ready pattern> <seconds> <args...>
# Foreground unless DAEMON=1: then runs it with nohup, logs to $LOG_DIR/<log file>, writes the
# pid file, and returns once <ready pattern> appears in the new log lines, or fails with the
# log's last lines if the process exits first (bad config, port in use, ...).
start_server() {
  local bin="$1" pid_name="$2" out_name="$3" ready="$4" secs="$5"; shift 5
  local exe="$BIN_DIR/$bin"
  if [ "${DAEMON:-0}" != 1 ]; then
    exec "$exe" "$@"
  fi
  local log_dir="${LOG_DIR:-$ROOT/logs}"
  mkdir -p "$log_dir"
  local pid_file="$log_dir/$pid_name" out="$log_dir/$out_name"
  if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    echo "$(basename "$0"): already running as pid $(cat "$pid_file")" >&2
    exit 1
  fi
  local start_line=1
  [ -f "$out" ] && start_line=$(( $(wc -l <"$out") + 1 ))
  nohup "$exe" "$@" >>"$out" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$pid_file"
  for _ in $(seq 1 $((secs * 10))); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$(basename "$0"): $bin exited at start; see $out:" >&2
      tail -n 3 "$out" >&2
      rm -f "$pid_file"
      exit 1
    fi
    tail -n +"$start_line" "$out" 2>/dev/null | grep -q "$ready" && exit 0
    sleep 0.1
  done
  echo "$(basename "$0"): $bin (pid $pid) not ready after ${secs}s; see $out" >&2
  exit 0
}

# stop_server <binary> <pid file name> <what> <seconds>: SIGTERM the process of the pid file
# written by start_server, wait up to <seconds>, then SIGKILL. Only that process: other
# servers of this checkout (other members, other tests) are left alone.
stop_server() {
  local bin="$1" pid_name="$2" what="$3" secs="$4"
  local pid_file="${LOG_DIR:-$ROOT/logs}/$pid_name" pids=""
  if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null \
     && grep -q "$bin" "/proc/$(cat "$pid_file")/cmdline" 2>/dev/null; then
    pids="$(cat "$pid_file")"
  fi
  if [ -z "$pids" ]; then
    echo "No $what to stop"
    exit 1
  fi
  kill -TERM $pids
  for _ in $(seq 1 $((secs * 10))); do
    local alive=0 p
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && { rm -f "$pid_file"; exit 0; }
    sleep 0.1
  done
  echo "$(basename "$0"): $what did not stop within ${secs}s; sending SIGKILL" >&2
  kill -KILL $pids 2>/dev/null
  rm -f "$pid_file"
  exit 0
}

# parse_start_args "$@": [-daemon] <config> [more args]; sets DAEMON, CONFIG, START_ARGS.
parse_start_args() {
  DAEMON=0
  while [ $# -gt 0 ]; do
    case "$1" in
      -daemon) DAEMON=1; shift ;;
      -h|--help) usage ;;
      -*) echo "$(basename "$0"): unknown option $1" >&2; usage ;;
      *) break ;;
    esac
  done
  [ $# -ge 1 ] || usage
  CONFIG="$1"; shift
  START_ARGS=("$@")
  [ -f "$CONFIG" ] || { echo "$(basename "$0"): config file $CONFIG not found" >&2; exit 1; }
}
