#!/usr/bin/env bash
# example.sh: the RAG pattern as ken implements it: ingest a small corpus,
# search it, ask questions (extractive answers with citations, no model),
# check one citation against the stored text, then generated answers whose
# citations ken verifies.
#
#   patterns/02-rag/example.sh            (uses `ken` on PATH, or $KEN_BIN)
#
# The generated part needs a model: BACKEND_URL (an OpenAI-compatible base URL,
# BACKEND_MODEL its model name) or MODEL (a local GGUF). Unset: scripted
# stand-ins (tests/cli/scripted_llm.py) that quote the sources, once with the
# right source numbers and once with wrong ones, so the check has something
# to catch.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
KEN=${KEN_BIN:-ken}
db=$(mktemp -d)/rag.db
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$(dirname "$db")"; }
trap cleanup EXIT
ken() { "$KEN" --db "$db" "$@"; }

echo "== ingest: parse, normalize, chunk (headings and byte spans kept), index"
ken add "$here/corpus"

echo; echo "== search: BM25 over chunks, snippets with the matched terms marked"
ken search -k 3 "how often should I turn my compost heap"

echo; echo "== ask: the best sentences of the best passages, each cited to its span"
ken ask "how often should I turn the compost heap"
echo
ken ask "when should I replace a bicycle chain"
echo
ken ask "what does grey liquid on a sourdough starter mean"

echo; echo "== a question the corpus cannot answer"
ken ask "how do I tune a guitar"

echo; echo "== every citation is checkable: read the span back from the stored text"
ken ask --json "when should I replace a bicycle chain" | python3 -c '
import json, subprocess, sys
a = json.load(sys.stdin)
c = a["citations"][0]
doc = subprocess.run(sys.argv[1:] + ["show", "--json", "--text", str(c["doc_id"])],
                     capture_output=True, check=True, text=True).stdout
text = json.loads(doc)["document"]["text"].encode()
span = text[c["start"]:c["end"]].decode()
print("[%d] bytes %d-%d of %s:" % (c["n"], c["start"], c["end"], c["uri"]))
print("   ", span)
assert span == c["sentence"], "citation does not match the stored text"
print("    = the cited sentence, verbatim")' "$KEN" --db "$db"

echo; echo "== generated answers: a model writes, ken checks every [n]"
q="how often should I turn the compost heap and what does grey liquid on a starter mean"
if [ -n "${BACKEND_URL:-}" ]; then
    models=("--backend $BACKEND_URL ${BACKEND_MODEL:+--backend-model $BACKEND_MODEL}")
elif [ -n "${MODEL:-}" ]; then
    models=("--model $MODEL")
else
    src=$(cd "$here/../.." && pwd)
    models=()
    for mode in correct swap; do
        python3 "$src/tests/cli/scripted_llm.py" --mode "$mode" --name "stand-in-$mode" \
            --fact "every two weeks" --fact "hungry" --port-file "$(dirname "$db")/$mode.port" &
        pids+=($!)
        for _ in $(seq 100); do [ -s "$(dirname "$db")/$mode.port" ] && break; sleep 0.1; done
        models+=("--backend http://127.0.0.1:$(cat "$(dirname "$db")/$mode.port")/v1")
    done
fi
for m in "${models[@]}"; do
    echo; echo "-- ken ask $m"
    # shellcheck disable=SC2086
    ken ask $m "$q"
done
