#!/usr/bin/env bash
# dense_search.sh: embeddings and dense/hybrid retrieval end to end through
# the ken binary, with random-weight encoders (`ken model random`): ingest with
# --embed-model, `ken config`, search in every mode (a passage's exact text is
# its own nearest neighbour), filters, `ken eval retrieval` with a table of
# modes, the index file damaged and rebuilt, the model file gone (BM25
# fallback, said so, exit 0), deletes, --no-embed + `ken embed --missing`,
# and a model switch.
set -euo pipefail

: "${KEN_BIN:?KEN_BIN must point at the ken binary}"
: "${KEN_SRC:?KEN_SRC must point at the source tree}"
command -v python3 >/dev/null || { echo "FAIL: python3 is needed" >&2; exit 1; }
VOCAB="${KEN_FIXTURES:-}/tokenizer/ggml-vocab-bert-bge.gguf"
if [ ! -f "$VOCAB" ]; then
    if [ "${CI:-}" = "true" ]; then echo "FAIL: fixtures missing ($VOCAB)" >&2; exit 1; fi
    echo "SKIP: fixtures missing ($VOCAB)" >&2
    exit 77
fi
DATA="$KEN_SRC/tests/data/retrieval"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export KEN_DB="$tmp/kb.db"
fail() { echo "FAIL: $*" >&2; exit 1; }
ken() { "$KEN_BIN" "$@"; }
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

ken model random --arch bert --vocab "$VOCAB" --n-embd 64 --seed 11 -o "$tmp/enc.gguf" >/dev/null
ken model random --arch bert --vocab "$VOCAB" --n-embd 32 --seed 12 -o "$tmp/enc2.gguf" >/dev/null

# --- ingest with an embedding model; the store remembers it
ken add --json --embed-model "$tmp/enc.gguf" "$DATA/corpus.jsonl" >"$tmp/add.json"
[ "$(jget "$tmp/add.json" 'd["added"]')" = 42 ] || fail "add: $(cat "$tmp/add.json")"
[ -s "$KEN_DB.hnsw" ] || fail "no index file next to the store"
ken embed --status --json >"$tmp/st.json"
[ "$(jget "$tmp/st.json" 'd["vectors"], d["missing"], d["dim"]')" = "(42, 0, 64)" ] \
    || fail "status: $(cat "$tmp/st.json")"

# --- ken config
ken config | grep -q "^embed.model .*enc.gguf" || fail "config does not show embed.model"
ken config --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["embeddings"]["vectors"] == 42, d'
set +e
ken config get search.mode >/dev/null 2>&1; rc=$?
ken config set search.mdoe dense >/dev/null 2>"$tmp/err"; rc2=$?
ken config set search.mode fuzzy >/dev/null 2>&1; rc3=$?
set -e
[ $rc = 2 ] || fail "unset key: exit $rc"
[ $rc2 = 1 ] && grep -q "unknown config key" "$tmp/err" || fail "bad key: exit $rc2"
[ $rc3 = 1 ] || fail "bad value: exit $rc3"
ken config set search.mode hybrid >/dev/null
[ "$(ken config get search.mode)" = hybrid ] || fail "config get"

# --- search in every mode; the store's mode is the default
text=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d["_id"] == "honeybee": print(d["title"] + "\n" + d["text"])' "$DATA/corpus.jsonl")
for mode in dense hybrid bm25; do
    ken search --json -k 5 --mode $mode -- "$text" >"$tmp/s.json"
    [ "$(jget "$tmp/s.json" 'd["mode"], d["results"][0]["ext_id"]')" = "('$mode', 'honeybee')" ] \
        || fail "$mode: $(head -c 400 "$tmp/s.json")"
done
ken search --json -k 3 -- "$text" >"$tmp/s.json"
[ "$(jget "$tmp/s.json" 'd["mode"]')" = hybrid ] || fail "config mode not the default"
ken search --json -k 3 --mode dense --collection nosuch -- "$text" >"$tmp/s.json"
[ "$(jget "$tmp/s.json" 'd["count"]')" = 0 ] || fail "filter"
ken search --json -k 500 --mode dense bees >"$tmp/s.json"
[ "$(jget "$tmp/s.json" 'd["count"]')" = 42 ] || fail "k > corpus"

# --- eval: modes side by side
ken eval retrieval --queries "$DATA/queries.jsonl" --qrels "$DATA/qrels.tsv" \
    --mode bm25,dense,hybrid >"$tmp/eval.txt"
grep -q "^bm25 " "$tmp/eval.txt" && grep -q "^dense " "$tmp/eval.txt" \
    && grep -q "^hybrid " "$tmp/eval.txt" || fail "eval table: $(cat "$tmp/eval.txt")"
ken eval retrieval --queries "$DATA/queries.jsonl" --qrels "$DATA/qrels.tsv" \
    --mode bm25,hybrid --json >"$tmp/eval.json"
python3 - "$tmp/eval.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
m = {x["mode"]: x for x in d["modes"]}
assert set(m) == {"bm25", "hybrid"} and m["hybrid"]["used"] == "hybrid", d
assert 0 < m["bm25"]["ndcg@10"] <= 1 and 0 <= m["hybrid"]["ndcg@10"] <= 1, d
EOF

# --- the index file truncated mid-write: rebuilt, said so
size=$(stat -c %s "$KEN_DB.hnsw")
truncate -s $((size / 2)) "$KEN_DB.hnsw"
ken search --json --mode dense -- "$text" >"$tmp/s.json" 2>"$tmp/err"
grep -q "not usable" "$tmp/err" || fail "no note about the damaged index"
[ "$(jget "$tmp/s.json" 'd["results"][0]["ext_id"]')" = honeybee ] || fail "after rebuild"
[ "$(stat -c %s "$KEN_DB.hnsw")" = "$size" ] || fail "the rebuilt index was not saved"

# --- deletes take the vectors
ken rm honeybee >/dev/null
ken search --json -k 42 --mode dense -- "$text" >"$tmp/s.json" 2>/dev/null
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["count"] == 41 and all(r["ext_id"] != "honeybee" for r in d["results"]), d["count"]' "$tmp/s.json"

# --- sync: a vanished file's vectors go with it
mkdir -p "$tmp/notes"
printf 'Kelp forests grow along cold rocky coasts.\n' >"$tmp/notes/kelp.txt"
printf 'Lighthouses warn ships away from dangerous rocks.\n' >"$tmp/notes/light.txt"
ken sync "$tmp/notes" >/dev/null
n1=$(ken embed --status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["vectors"])')
rm "$tmp/notes/light.txt"
ken sync "$tmp/notes" >/dev/null
n2=$(ken embed --status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["vectors"])')
[ $((n1 - n2)) = 1 ] || fail "sync: vectors $n1 -> $n2"
ken search --json -k 50 --mode dense "Lighthouses warn ships away from dangerous rocks." >"$tmp/s.json" 2>/dev/null
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert all("light.txt" not in r["uri"] for r in d["results"]), d' "$tmp/s.json"
ken rm "$tmp/notes/" >/dev/null

# --- --no-embed, then ken embed --missing
printf '{"_id": "late", "title": "Late", "text": "A document added without embedding."}\n' >"$tmp/late.jsonl"
ken add --no-embed "$tmp/late.jsonl" >/dev/null
ken search --json --mode dense late >"$tmp/s.json" 2>"$tmp/err"
grep -q "no vector yet" "$tmp/err" || fail "no note about missing vectors"
ken embed --missing --json >"$tmp/e.json"
[ "$(jget "$tmp/e.json" 'd["embedded"], d["missing"]')" = "(1, 0)" ] || fail "embed: $(cat "$tmp/e.json")"

# --- the model file gone: BM25 only, said so, exit 0
mv "$tmp/enc.gguf" "$tmp/enc.moved"
ken search --json --mode dense honeybee >"$tmp/s.json" 2>"$tmp/err"
grep -q "BM25 only" "$tmp/err" || fail "no fallback note"
[ "$(jget "$tmp/s.json" 'd["mode"]')" = bm25 ] || fail "fallback mode"
mv "$tmp/enc.moved" "$tmp/enc.gguf"

# --- a model switch
ken embed --model "$tmp/enc2.gguf" --json >"$tmp/e.json"
[ "$(jget "$tmp/e.json" 'd["switched"], d["dim"], d["vectors"], d["missing"]')" = "(True, 32, 42, 0)" ] \
    || fail "switch: $(cat "$tmp/e.json")"
ken search --json --mode dense -k 1 "Bumblebees" >"$tmp/s.json"
[ "$(jget "$tmp/s.json" 'd["mode"]')" = dense ] || fail "after switch"

# --- bad input: a decoder as embedding model, no model file
set +e
ken embed --model "$KEN_FIXTURES/models/stories260K.gguf" >/dev/null 2>"$tmp/err"; rc=$?
ken add --embed-model "$tmp/none.gguf" "$tmp/late.jsonl" >/dev/null 2>&1; rc2=$?
set -e
[ $rc = 2 ] && grep -q "not an encoder" "$tmp/err" || fail "decoder: exit $rc"
[ $rc2 = 2 ] || fail "missing model: exit $rc2"
echo "dense_search: ok"
