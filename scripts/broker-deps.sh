#!/usr/bin/env bash
# Lists which top-level modules of broker/src use which (from `crate::<module>` paths in
# code, comments ignored), and fails if a lower layer uses a higher one.
#
#   lower:  error_code ids lifecycle log zk zkdata   (storage, ZooKeeper client, values)
#   higher: server controller replica group broker   (request handling, subsystems, wiring)
#
# Usage: scripts/broker-deps.sh [broker/src]
set -euo pipefail
src="${1:-$(dirname "$0")/../broker/src}"
lower="error_code ids lifecycle log zk zkdata"
higher="server controller replica group broker"

modules=()
for f in "$src"/*.rs "$src"/*/; do
    m="$(basename "$f" .rs)"
    case "$m" in lib | main) continue ;; esac
    modules+=("$m")
done

# Files of a module: <m>.rs or everything under <m>/.
files_of() {
    if [ -d "$src/$1" ]; then find "$src/$1" -name '*.rs'; else echo "$src/$1.rs"; fi
}

# Modules named as crate::<x> in a module's code (line comments stripped).
uses_of() {
    files_of "$1" | xargs sed -e 's://.*$::' | grep -o 'crate::[a-z_]*' | sed 's/crate:://' | sort -u | grep -vx "$1" || true
}

status=0
for m in $(printf '%s\n' "${modules[@]}" | sort); do
    deps="$(uses_of "$m" | tr '\n' ' ')"
    printf '%-15s -> %s\n' "$m" "${deps:-(nothing)}"
    if [[ " $lower " == *" $m "* ]]; then
        for d in $deps; do
            if [[ " $higher " == *" $d "* ]]; then
                echo "LAYER VIOLATION: $m (lower) uses crate::$d (higher):" >&2
                files_of "$m" | xargs grep -n "crate::$d\b" | grep -v '^\S*:\s*//' >&2 || true
                status=1
            fi
        done
    fi
done
if [ "$status" -eq 0 ]; then
    echo "ok: no lower layer ($lower) uses a higher one ($higher)"
fi
exit "$status"
