#!/usr/bin/env bash
# example.sh: the RAG pattern as ken implements it so far (lexical retrieval,
# extractive answers with citations, no model): ingest a small corpus, search
# it, ask questions, and check one citation against the stored text.
#
#   patterns/02-rag/example.sh            (uses `ken` on PATH, or $KEN_BIN)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
KEN=${KEN_BIN:-ken}
db=$(mktemp -d)/rag.db
trap 'rm -rf "$(dirname "$db")"' EXIT
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
