# Shared by the scripts/*.sh entry points: find the repository, build a release binary when
# it is missing or older than its sources, and run things in the background with a pid file.
# Source it; do not run it.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/release"

# ensure_built <cargo package> <binary name>: builds when missing or stale.
ensure_built() {
  local pkg="$1" bin="$2" exe="$BIN_DIR/$2"
  if [ -x "$exe" ] && [ -z "$(find "$ROOT/$pkg" "$ROOT/Cargo.lock" "$ROOT/Cargo.toml" -newer "$exe" -type f \( -name '*.rs' -o -name 'Cargo.*' \) -print -quit 2>/dev/null)" ]; then
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
