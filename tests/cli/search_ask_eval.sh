#!/usr/bin/env bash
# search_ask_eval.sh: `ken search`, `ken ask` and `ken eval retrieval` end to end
# on the test collection in tests/data/retrieval: search --json fields and
# filters, hostile queries to search (plain, --docs --prf) and ask (exit 0 with
# strictly valid UTF-8 JSON or 1, never 3 or a crash), every citation of
# every answer read back with `ken show --json --text` (the span holds the
# sentence verbatim), "nothing found" for questions the corpus cannot answer,
# and the eval metrics checked against an independent computation from the run.
set -euo pipefail

: "${KEN_BIN:?KEN_BIN must point at the ken binary}"
: "${KEN_SRC:?KEN_SRC must point at the source tree}"
command -v python3 >/dev/null || { echo "FAIL: python3 is needed" >&2; exit 1; }
DATA="$KEN_SRC/tests/data/retrieval"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export KEN_DB="$tmp/kb.db"
fail() { echo "FAIL: $*" >&2; exit 1; }
ken() { "$KEN_BIN" "$@"; }

ken add "$DATA/corpus.jsonl" >/dev/null
mkdir -p "$tmp/notes"
printf '# Kitchen notes\n\n## Bread\n\nOur sourdough starter is fed with rye flour every morning.\n' \
    >"$tmp/notes/bread.md"
printf 'Plain text about the honeybee waggle dance seen in the garden.\n' >"$tmp/notes/bees.txt"
ken add "$tmp/notes" >/dev/null

# --- search --json: fields, ranking, snippets
ken search --json -k 3 "how do honeybees communicate with a dance" >"$tmp/s.json"
python3 - "$tmp/s.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for key in ("query", "terms", "k1", "b", "seconds", "count", "results"):
    assert key in d, key
assert d["count"] == len(d["results"]) and 1 <= d["count"] <= 3, d["count"]
r = d["results"][0]
for key in ("rank", "score", "doc_id", "ext_id", "uri", "title", "heading", "collection", "mime",
            "page", "chunk_id", "ordinal", "start", "end", "snippet"):
    assert key in r, key
assert r["rank"] == 1 and r["ext_id"] == "honeybee", r
assert "**" in r["snippet"], r["snippet"]
assert r["start"] >= 0 and r["end"] > r["start"]
scores = [x["score"] for x in d["results"]]
assert scores == sorted(scores, reverse=True), scores
assert all(t["term"] not in ("how", "do", "with", "a") for t in d["terms"]), d["terms"]
EOF
out=$(ken search "sourdough starter")
grep -q "^1\. " <<<"$out" || fail "search text output: $out"

# --- filters and document-level ranking
n() { python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'; }
[ "$(ken search --json --prefix "$tmp/notes/" sourdough | n)" = 1 ] || fail "--prefix"
[ "$(ken search --json --mime text/plain honeybee | n)" = 1 ] || fail "--mime"
[ "$(ken search --json --collection nosuch honeybee | n)" = 0 ] || fail "--collection"
[ "$(ken search --json --meta lang=en honeybee | n)" = 0 ] || fail "--meta"
docs=$(ken search --json --docs -k 50 bees | python3 -c '
import json, sys
d = json.load(sys.stdin)["results"]
ids = [r["doc_id"] for r in d]
assert len(ids) == len(set(ids)), ids
print(len(ids))')
[ "$docs" -ge 3 ] || fail "--docs gave $docs documents"
prf=$(ken search --json --prf "bees hive" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["terms"]))')
[ "$prf" -gt 2 ] || fail "--prf added no terms"

# --- usage errors
set +e
ken search >/dev/null 2>&1; [ $? = 1 ] || fail "search without a query should exit 1"
ken search -k 0 x >/dev/null 2>&1; [ $? = 1 ] || fail "-k 0 should exit 1"
ken search --meta novalue x >/dev/null 2>&1; [ $? = 1 ] || fail "--meta without = should exit 1"
ken search --meta "a') OR 1=1 --=x" x >/dev/null 2>&1; [ $? = 1 ] || fail "bad --meta field should exit 1"
ken --db "$tmp/none.db" search x >/dev/null 2>&1; [ $? = 2 ] || fail "missing store should exit 2"
set -e

# --- hostile queries: exit 0 (valid JSON) or 1 (usage), never 3 or a signal
noise=$(python3 -c '
import random
r = random.Random(7)
print("".join(r.choice("ab \"*()^:-+{}NEAROR\\x27\\\\") for _ in range(10000)))')
hostile=('"' '"""' 'fox*' '*' 'NEAR(' 'NEAR(bees honey, 2)' 'AND OR NOT' 'bees AND' '^bees'
         'title:bees' '{title text}: bees' '((bees' 'bees))' 'the of and a' '-bees' '+bees'
         "'; DROP TABLE chunks; --" $'\xff\xfe\xfd' $'\xc3' "$noise" ' ' ''
         $'\xf8\x88\x80 bees' $'\xfa\xb6\xa8' $'\xf5\x80\x80\x80' $'\xed\xa0\x80')
for q in "${hostile[@]}"; do
    for cmd in "search --json" "search --json --docs --prf -k 20" "ask --json"; do
        set +e
        # shellcheck disable=SC2086
        ken $cmd -- "$q" >"$tmp/h.json" 2>"$tmp/h.err"
        rc=$?
        set -e
        case $rc in
        0) python3 -c 'import json,sys; json.load(open(sys.argv[1], encoding="utf-8"))' \
               "$tmp/h.json" || fail "$cmd: invalid JSON for query '${q:0:40}'" ;;
        1) grep -q "ken" "$tmp/h.err" || fail "$cmd: usage error without a message for '${q:0:40}'" ;;
        *) fail "$cmd: query '${q:0:40}' exited $rc: $(cat "$tmp/h.err")" ;;
        esac
    done
done
big=$(python3 -c 'print("word " * 14000)')
set +e
ken search -- "$big" >/dev/null 2>"$tmp/h.err"; rc=$?
set -e
[ $rc = 1 ] && grep -q "too long" "$tmp/h.err" || fail "a 70 KB query: exit $rc"

# --- ask: every citation of every answer is verbatim in the stored document
python3 - "$KEN_BIN" "$DATA" <<'EOF'
import json, subprocess, sys
ken, data = sys.argv[1], sys.argv[2]
def run(*args):
    p = subprocess.run([ken, *args], capture_output=True)
    assert p.returncode == 0, (args, p.returncode, p.stderr)
    return json.loads(p.stdout)
texts = {}
def doc_text(ref):
    if ref not in texts:
        texts[ref] = run("show", "--json", "--text", ref)["document"]["text"].encode()
    return texts[ref]
questions = [json.loads(l)["text"] for l in open(data + "/queries.jsonl")]
checked = found = 0
for q in questions:
    a = run("ask", "--json", "--", q)
    if not a["found"]:
        continue
    found += 1
    assert a["citations"], a
    for c in a["citations"]:
        assert "[%d]" % c["n"] in a["answer"], (q, a["answer"])
        t = doc_text(str(c["doc_id"]))
        span = t[c["start"]:c["end"]]
        assert span == c["sentence"].encode(), (q, c, span)
        checked += 1
assert found >= len(questions) - 2, "answered %d of %d" % (found, len(questions))
refused = 0
for q in open(data + "/unanswerable.txt"):
    q = q.strip()
    if q:
        a = run("ask", "--json", "--", q)
        refused += not a["found"]
        if a["found"]:
            print("note: answered unanswerable question:", q, a["score"], file=sys.stderr)
assert refused >= 10, "refused only %d unanswerable questions" % refused
print("ask: %d answers, %d citations verified, %d unanswerable refused" % (found, checked, refused))
EOF
out=$(ken ask "what is the capital of Mongolia")
grep -q "No relevant passage" <<<"$out" || fail "unanswerable question: $out"
out=$(ken ask "why does sourdough bread taste sour")
grep -q "\[1\]" <<<"$out" && grep -q "^Sources:" <<<"$out" || fail "ask text output: $out"

# --- eval: metrics printed, and equal to an independent computation from the run
out=$(ken eval retrieval --queries "$DATA/queries.jsonl" --qrels "$DATA/qrels.tsv" \
          --run "$tmp/run.trec")
for m in "nDCG@10" "Recall@100" "MRR@10" "MAP@100"; do
    grep -q "^$m " <<<"$out" || fail "eval output lacks $m: $out"
done
ken eval retrieval --json --queries "$DATA/queries.jsonl" --qrels "$DATA/qrels.tsv" \
    --run "$tmp/run.trec" >"$tmp/e.json"
python3 - "$tmp/e.json" "$tmp/run.trec" "$DATA/qrels.tsv" <<'EOF'
import functools, json, math, sys
from collections import defaultdict
def trec_order(x, y):   # score descending, then docid descending (trec_eval)
    if x[0] != y[0]:
        return -1 if x[0] > y[0] else 1
    return (x[1] < y[1]) - (x[1] > y[1])
e = json.load(open(sys.argv[1]))
run = defaultdict(list)
for line in open(sys.argv[2]):
    q, _, d, rank, score, tag = line.split()
    assert tag == "ken"
    run[q].append((float(score), d))
qrels = defaultdict(dict)
for i, line in enumerate(open(sys.argv[3])):
    if i == 0: continue
    q, d, g = line.split("\t")
    qrels[q][d] = int(g)
m = defaultdict(float)
for q, j in qrels.items():
    r = [d for s, d in sorted(run[q], key=functools.cmp_to_key(trec_order))]
    nrel = sum(1 for g in j.values() if g > 0)
    dcg = sum(j.get(d, 0) / math.log2(i + 2) for i, d in enumerate(r[:10]) if j.get(d, 0) > 0)
    ideal = sorted(j.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal) if g > 0)
    m["ndcg@10"] += dcg / idcg if idcg else 0
    m["recall@100"] += sum(1 for d in r[:100] if j.get(d, 0) > 0) / nrel if nrel else 0
    m["mrr@10"] += next((1 / (i + 1) for i, d in enumerate(r[:10]) if j.get(d, 0) > 0), 0)
    hits, ap = 0, 0
    for i, d in enumerate(r[:100]):
        if j.get(d, 0) > 0:
            hits += 1
            ap += hits / (i + 1)
    m["map@100"] += ap / nrel if nrel else 0
assert e["queries"] == len(qrels), e["queries"]
for k in m:
    want = m[k] / len(qrels)
    assert abs(e[k] - want) < 2e-6, (k, e[k], want)
assert len(e["per_query"]) == len(qrels)
assert e["ndcg@10"] > 0.8, e
print("eval: nDCG@10 %.4f Recall@100 %.4f MRR@10 %.4f MAP@100 %.4f (independently checked)" %
      (e["ndcg@10"], e["recall@100"], e["mrr@10"], e["map@100"]))
EOF
set +e
ken eval retrieval --queries "$DATA/queries.jsonl" >/dev/null 2>&1; [ $? = 1 ] || fail "eval without --qrels"
ken eval retrieval --queries "$tmp/nope.jsonl" --qrels "$DATA/qrels.tsv" >/dev/null 2>&1
[ $? = 2 ] || fail "eval with a missing file should exit 2"
printf '{"_id": "q1", "text": \n' >"$tmp/bad.jsonl"
ken eval retrieval --queries "$tmp/bad.jsonl" --qrels "$DATA/qrels.tsv" 2>"$tmp/err" >/dev/null
[ $? = 2 ] && grep -q "line 1" "$tmp/err" || fail "a malformed queries file should exit 2 naming the line"
ken eval >/dev/null 2>&1; [ $? = 1 ] || fail "eval without a subcommand should exit 1"
set -e
echo "search_ask_eval: ok"
