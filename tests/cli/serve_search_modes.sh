#!/usr/bin/env bash
# serve_search_modes.sh: /api/v1/search in every retrieval mode over a store
# with embeddings (a random-weight encoder written here): the server returns
# what `ken search --mode M --json` returns, says which retrieval it used,
# takes the mode from GET and POST alike, refuses unknown modes with a JSON
# 400, and reports the BM25 fallback when the encoder file is gone.
set -euo pipefail
: "${KEN_BIN:?KEN_BIN must point at the ken binary}"
: "${KEN_SRC:?KEN_SRC must point at the source tree}"
fail() { echo "FAIL: $*" >&2; exit 1; }
for t in curl python3; do command -v $t >/dev/null || fail "$t is needed"; done
VOCAB="${KEN_FIXTURES:-$KEN_SRC/../shared/fixtures}/tokenizer/ggml-vocab-bert-bge.gguf"
if [ ! -f "$VOCAB" ]; then
    if [ "${CI:-}" = "true" ]; then fail "fixtures missing ($VOCAB)"; fi
    echo "SKIP: fixtures missing ($VOCAB)" >&2
    exit 77
fi
DATA="$KEN_SRC/tests/data/retrieval"
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
export KEN_DB="$tmp/kb.db"
ken() { "$KEN_BIN" "$@"; }
. "$(dirname "$0")/lib/serve.sh"

ken model random --arch bert --vocab "$VOCAB" --n-embd 64 --seed 11 -o "$tmp/enc.gguf" >/dev/null
ken add -q --embed-model "$tmp/enc.gguf" "$DATA/corpus.jsonl"
Q="how do honeybees tell each other where flowers are"
for m in bm25 dense hybrid; do ken search --json -k 5 --mode $m -- "$Q" >"$tmp/cli-$m.json"; done

serve_start --no-auth --threads 2

# same {chunk_id: score} ranking as the CLI, and the retrieval named
same() {   # same MODE REPLY
    python3 - "$1" "$2" "$tmp/cli-$1.json" <<'PY'
import json, sys
mode, reply, cli = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
assert reply["retrieval"] == mode, (mode, reply.get("retrieval"), reply.get("notice"))
got = [(r["chunk_id"], r["score"]) for r in reply["results"]]
want = [(r["chunk_id"], r["score"]) for r in cli["results"]]   # printed to 6 digits
assert [g[0] for g in got] == [w[0] for w in want] and len(got) >= 3, (mode, got, want)
for (_, a), (_, b) in zip(got, want):
    assert abs(a - b) <= 1e-5 * max(1.0, abs(b)), (mode, got, want)
PY
}
qs=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$Q")
for m in bm25 dense hybrid; do
    st=$(curl -sS -o "$tmp/g.json" -w '%{http_code}' "$URL/api/v1/search?k=5&retrieval=$m&q=$qs")
    [ "$st" = 200 ] || { cat "$tmp/g.json" >&2; fail "GET $m: $st"; }
    same $m "$tmp/g.json"
    python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1], "k": 5, "retrieval": sys.argv[2]}))' \
        "$Q" "$m" >"$tmp/body.json"
    st=$(curl -sS -o "$tmp/p.json" -w '%{http_code}' -H 'Content-Type: application/json' \
         --data-binary "@$tmp/body.json" "$URL/api/v1/search")
    [ "$st" = 200 ] || { cat "$tmp/p.json" >&2; fail "POST $m: $st"; }
    same $m "$tmp/p.json"
done
# dense finds something other than BM25 here (else the comparison above proves little)
python3 - "$tmp/cli-bm25.json" "$tmp/cli-dense.json" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
assert [r["chunk_id"] for r in a["results"]] != [r["chunk_id"] for r in b["results"]], "dense == bm25"
PY
st=$(curl -sS -o "$tmp/e.json" -w '%{http_code}' "$URL/api/v1/search?q=bees&retrieval=vector")
[ "$st" = 400 ] && grep -q '"code":"bad_retrieval"' "$tmp/e.json" || fail "bad retrieval: $st $(cat "$tmp/e.json")"
st=$(curl -sS -o "$tmp/e.json" -w '%{http_code}' -H 'Content-Type: application/json' \
     --data-binary '{"query":"bees","fusion":"max"}' "$URL/api/v1/search")
[ "$st" = 400 ] && grep -q '"code":"bad_fusion"' "$tmp/e.json" || fail "bad fusion: $st"
serve_stop

# the encoder file is gone: BM25 results, said so
rm "$tmp/enc.gguf"
serve_start --no-auth --threads 2
st=$(curl -sS -o "$tmp/f.json" -w '%{http_code}' "$URL/api/v1/search?k=5&retrieval=dense&q=$qs")
[ "$st" = 200 ] || { cat "$tmp/f.json" >&2; fail "fallback status $st"; }
python3 - "$tmp/f.json" "$tmp/cli-bm25.json" <<'PY'
import json, sys
r, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert r["retrieval"] == "bm25" and r.get("notice"), r
assert [x["chunk_id"] for x in r["results"]] == [x["chunk_id"] for x in b["results"]]
PY
serve_stop
echo "serve_search_modes: ok"
