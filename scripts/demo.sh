#!/usr/bin/env bash
# scripts/demo.sh KEN: the main job on the demo corpus: ingest the project's
# own docs and the SQLite documentation into a fresh store, then query it.
set -euo pipefail
ken=${1:-build/ken}
cd "$(dirname "$0")/.."
db=${KEN_DB:-.ken/demo.db}
rm -f "$db" "$db-wal" "$db-shm"
run() { echo "\$ ken $*"; "$ken" --db "$db" "$@"; echo; }

inputs=()
for p in README.md docs patterns demo/corpus; do [ -e "$p" ] && inputs+=("$p"); done
run add "${inputs[@]}"
run stats
run ls --limit 8
if "$ken" --help | grep -q "^  ask "; then
  while IFS= read -r q; do
    [ -n "$q" ] && run ask "$q"
  done < demo/questions.txt
else
  first=$("$ken" --db "$db" ls --json --limit 1 | sed -n 's/.*"id":\([0-9]*\).*/\1/p' | head -1)
  run show "$first"
fi
