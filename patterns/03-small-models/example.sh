#!/usr/bin/env bash
# example.sh: pattern 3, small model first, big model when needed. A small
# local model answers from the knowledge base; ken checks every citation;
# when the answer is ungrounded or unsure (or retrieval confidence is low)
# the same prompt goes to a larger model behind an OpenAI-compatible server,
# and ken says which model answered and why.
#
#   patterns/03-small-models/example.sh
#
# Environment (all optional):
#   KEN_BIN          the ken binary (default: ken on PATH)
#   SMALL_MODEL      a local GGUF chat model (default: the fixtures' stories260K,
#                    a 260K-parameter story model that cannot cite: it shows
#                    escalation)
#   LARGE_URL        an OpenAI-compatible base URL of the larger model, e.g. a
#                    llama.cpp server or vLLM at http://127.0.0.1:8080/v1
#                    (with LARGE_NAME as its model name). Unset: a scripted
#                    stand-in (tests/cli/scripted_llm.py) that answers by quoting
#                    the sources ken gives it, with correct citations.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
KEN=${KEN_BIN:-ken}
SMALL_MODEL=${SMALL_MODEL:-${KEN_FIXTURES:-$src/../shared/fixtures}/models/stories260K.gguf}
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
ken() { "$KEN" --db "$tmp/kb.db" "$@"; }

if [ -z "${LARGE_URL:-}" ]; then
    echo "== no LARGE_URL: starting the scripted stand-in for the larger model"
    python3 "$src/tests/cli/scripted_llm.py" --mode correct --name stand-in-large \
        --fact "every two weeks" --fact "hungry" --port-file "$tmp/port" &
    pid=$!
    for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
    LARGE_URL="http://127.0.0.1:$(cat "$tmp/port")/v1"
fi
large=(--escalate-backend "$LARGE_URL")
[ -n "${LARGE_NAME:-}" ] && large+=(--escalate-backend-model "$LARGE_NAME")
small=(--model "$SMALL_MODEL" -k 3 --max-tokens 24 --ctx 2048)

echo "== ingest"
ken add "$here/../02-rag/corpus"

echo; echo "== the small model alone: its answer is checked (a story model cites nothing)"
ken ask "${small[@]}" "how often should I turn the compost heap"

echo; echo "== small first, large when needed: the routing decision and its reason"
ken ask "${small[@]}" "${large[@]}" --verbose "how often should I turn the compost heap"

echo; echo "== nothing relevant: 'I don't know', and no model is asked"
ken ask "${small[@]}" "${large[@]}" --verbose "how do I tune a guitar"

echo; echo "== the decisions as JSON (what a log or the feedback loop keeps)"
ken ask "${small[@]}" "${large[@]}" --json "what does grey liquid on a sourdough starter mean" |
    python3 -c '
import json, sys
d = json.load(sys.stdin)
for s in d["routing"]:
    print("%-16s %-6s %-9s %s" % (s["model"], s["backend"], s["decision"], s["reason"]))
print("answered by %s, grounded=%s, citations=%s" % (
    d["model"], d["grounded"], [(c["n"], c["uri"].rsplit("/", 1)[-1]) for c in d["citations"]]))
assert d["escalated"] and d["grounded"], d'
