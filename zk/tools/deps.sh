#!/usr/bin/env bash
# Which top-level modules of zk/src import which (grep-based: `crate::<module>` and, inside a
# module directory, `super::` does not leave the module). Prints "from -> to" edges, then
# checks the layering: quorum must not import server.
#   zk/tools/deps.sh
set -euo pipefail
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../src" && pwd)"
cd "$SRC"
mods=$(for f in *.rs */; do n=${f%.rs}; n=${n%/}; [ "$n" = lib ] || [ "$n" = main ] || echo "$n"; done | sort -u)
edges=""
for m in $mods; do
  files=$( { [ -f "$m.rs" ] && echo "$m.rs"; [ -d "$m" ] && find "$m" -name '*.rs'; } || true)
  [ -n "$files" ] || continue
  used=$(grep -hoE 'crate::[a-z_]+' $files 2>/dev/null | sed 's/crate:://' | sort -u || true)
  for u in $used; do
    [ "$u" = "$m" ] && continue
    echo "$mods" | grep -qx "$u" || continue
    edges+="$m -> $u"$'\n'
  done
done
printf '%s' "$edges" | sort
echo "---"
if printf '%s' "$edges" | grep -qx 'quorum -> server'; then
  echo "LAYERING BROKEN: quorum imports server:"
  grep -rn 'crate::server' quorum/ || true
  exit 1
fi
echo "ok: quorum does not import server"
