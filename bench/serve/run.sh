#!/usr/bin/env bash
# run.sh: load test of `ken serve` on loopback: BM25 search requests at
# increasing concurrency for a fixed time each (bench/serve/load.mjs); one
# line per level with throughput, p50/p99 latency and failed requests.
# The corpus is the ingest benchmark's (ken-bench-ingest --dir keeps it).
# usage: bench/serve/run.sh KEN_BIN BENCH_INGEST_BIN [MB=30] [SECONDS=10] [LEVELS=1,8,32] [THREADS=4]
# MODES="lexcache fts5" (default: both, in that order) picks the search paths;
# CLIENT=wrk uses Debian's wrk (bench/serve/wrk.lua) instead of load.mjs.
set -euo pipefail
KEN=${1:?ken binary}; INGEST=${2:?ken-bench-ingest binary}
MB=${3:-30}; SECS=${4:-10}; LEVELS=${5:-1,8,32}; THREADS=${6:-4}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
export KEN_DB="$tmp/kb.db"
mkdir -p "$tmp/corpus"
"$INGEST" --mb "$MB" --reps 1 --dir "$tmp/corpus" >/dev/null
"$KEN" add -q "$tmp/corpus/corpus"
# Queries: 2-3 word runs from the corpus itself (deterministic: every 97th line).
find "$tmp/corpus/corpus" -type f | sort | head -50 | xargs cat | grep -v '^#' |
    awk 'NF >= 3 && NR % 97 == 0 { print $1, $2, $3 }' | tr -d '.,;:' | head -500 >"$tmp/queries"
KEY=$("$KEN" key create --scope read)
echo "corpus: $MB MB; $("$KEN" stats 2>/dev/null | tr '\n' ' ')"
echo "queries: $(wc -l <"$tmp/queries"); server threads: $THREADS; $SECS s per level"
# One server per mode: the in-memory BM25 index (lexcache, the default) and
# the FTS5 path (KEN_LEXCACHE=0), in the same run. A warm-up first, long
# enough for the index the first search builds (~1 s per 7 MB; WARM= sets it).
for mode in ${MODES:-lexcache fts5}; do
    lx=1; [ "$mode" = fts5 ] && lx=0
    KEN_LEXCACHE=$lx "$KEN" serve --listen 127.0.0.1:0 --threads "$THREADS" 2>"$tmp/log" &
    pid=$!
    for _ in $(seq 1 400); do grep -q serving "$tmp/log" 2>/dev/null && break; sleep 0.05; done
    PORT=$(sed -n 's/.*http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/log")
    node "$here/load.mjs" "http://127.0.0.1:$PORT" "$KEY" "$tmp/queries" "${WARM:-$((1 + MB / 7))}" 1 >/dev/null
    echo "mode: $mode, client: ${CLIENT:-node} (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    if [ "${CLIENT:-node}" = wrk ]; then
        for c in ${LEVELS//,/ }; do
            echo "concurrency=$c $(wrk -t1 -c"$c" -d"${SECS}s" --timeout 10s -s "$here/wrk.lua" \
                "http://127.0.0.1:$PORT" -- "$KEY" "$tmp/queries" | tail -1)"
        done
    else
        node "$here/load.mjs" "http://127.0.0.1:$PORT" "$KEY" "$tmp/queries" "$SECS" "$LEVELS"
    fi
    kill -TERM "$pid"; wait "$pid" || true; pid=
done
