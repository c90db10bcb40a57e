#!/usr/bin/env bash
# serve_eval.sh: retrieval evaluation over REST (POST /api/v1/eval): the
# metrics equal `ken eval retrieval` on the same collection, per-query
# figures come back on request, a key bound to another collection evaluates
# only there (and cannot name this one), and bad bodies get JSON 4xx errors.
set -euo pipefail
: "${KEN_BIN:?KEN_BIN must point at the ken binary}"
: "${KEN_SRC:?KEN_SRC must point at the source tree}"
fail() { echo "FAIL: $*" >&2; exit 1; }
for t in curl python3; do command -v $t >/dev/null || fail "$t is needed"; done
DATA="$KEN_SRC/tests/data/retrieval"
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
export KEN_DB="$tmp/kb.db"
ken() { "$KEN_BIN" "$@"; }
. "$(dirname "$0")/lib/serve.sh"

ken add -q --collection ret "$DATA/corpus.jsonl"
printf 'Unrelated notes about sourdough bread fed with rye flour.\n' >"$tmp/other.txt"
ken add -q --collection other "$tmp/other.txt"
ken eval retrieval --json --collection ret --queries "$DATA/queries.jsonl" \
    --qrels "$DATA/qrels.tsv" >"$tmp/cli.json"
READ=$(ken key create --scope read)
OTHER=$(ken key create --scope read --collection other)

mkdir -p "$tmp/t"
TMPDIR="$tmp/t" serve_start --threads 2

# body COLLECTION PER_QUERY [QUERIES QRELS]: the request body as JSON
body() {
    python3 - "$1" "$2" "${3:-$DATA/queries.jsonl}" "${4:-$DATA/qrels.tsv}" <<'PY'
import json, sys
coll, per, qf, rf = sys.argv[1:5]
b = {"queries": open(qf).read(), "qrels": open(rf).read(), "per_query": per == "1"}
if coll:
    b["collection"] = coll
print(json.dumps(b))
PY
}
post() {   # post KEY BODYFILE: status; reply in $tmp/out
    curl -sS --max-time 60 -o "$tmp/out" -w '%{http_code}' -X POST \
        -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
        --data-binary "@$2" "$URL/api/v1/eval"
}
expect_error() {   # expect_error STATUS KEY BODYFILE
    local got
    got=$(post "$2" "$3")
    [ "$got" = "$1" ] || { cat "$tmp/out" >&2; fail "status $got, want $1"; }
    grep -Eq '^\{"error":\{"message":".+","type":"[a-z_]+","code":"[a-z_0-9]+"\}\}$' "$tmp/out" ||
        { cat "$tmp/out" >&2; fail "no JSON error body"; }
}

# --- the same metrics as the CLI, per-query figures on request
body ret 1 >"$tmp/b.json"
st=$(post "$READ" "$tmp/b.json")
[ "$st" = 200 ] || { cat "$tmp/out" >&2; fail "eval status $st"; }
python3 - "$tmp/out" "$tmp/cli.json" "$DATA/queries.jsonl" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); c = json.load(open(sys.argv[2]))
names = {"ndcg@10": "ndcg@10", "recall@100": "recall@100", "mrr@10": "mrr@10", "map@100": "map@100"}
def cli_metric(c, m):
    for k in (m, m.replace("@", "_"), {"ndcg@10": "ndcg10", "recall@100": "recall100",
              "mrr@10": "mrr10", "map@100": "map100"}[m]):
        for src in (c, c.get("metrics", {})):
            if k in src:
                return src[k]
    raise KeyError(m)
for m in names:
    a, b = r["metrics"][m], cli_metric(c, m)
    assert abs(a - b) < 1e-6, (m, a, b)   # the CLI prints 6 significant digits
assert r["metrics"]["ndcg@10"] > 0.3, r["metrics"]
n = sum(1 for l in open(sys.argv[3]) if l.strip())
assert r["queries"] + r["skipped"] == n, (r["queries"], r["skipped"], n)
assert len(r["per_query"]) == r["queries"], len(r["per_query"])
for q in r["per_query"]:
    assert set(q) == {"qid", "ndcg@10", "recall@100", "mrr@10", "map@100"}, q
    assert 0 <= q["ndcg@10"] <= 1, q
mean = sum(q["ndcg@10"] for q in r["per_query"]) / len(r["per_query"])
assert abs(mean - r["metrics"]["ndcg@10"]) < 1e-9, (mean, r["metrics"])
print("serve_eval: nDCG@10 %.4f over %d queries, equal to the CLI" % (r["metrics"]["ndcg@10"], r["queries"]))
PY

# --- a key bound to another collection: evaluates there (finds nothing), cannot name ours
body "" 0 >"$tmp/b2.json"
st=$(post "$OTHER" "$tmp/b2.json")
[ "$st" = 200 ] || { cat "$tmp/out" >&2; fail "bound key status $st"; }
python3 -c "
import json; r = json.load(open('$tmp/out'))
assert r['collection'] == 'other', r
assert r['metrics']['ndcg@10'] == 0 and r['metrics']['recall@100'] == 0, r
assert 'per_query' not in r, r"
expect_error 404 "$OTHER" "$tmp/b.json"

# --- bad requests
printf '{"queries": "x"}' >"$tmp/bad1.json"
expect_error 400 "$READ" "$tmp/bad1.json"
printf '{"queries": "{}", "qrels": "q1\\td1\\t1\\n", "k": 0}' >"$tmp/bad2.json"
expect_error 400 "$READ" "$tmp/bad2.json"
printf '{"queries": 5, "qrels": "x"}' >"$tmp/bad3.json"
expect_error 400 "$READ" "$tmp/bad3.json"
printf '{"queries": "x", "qrels": "y", "surprise": 1}' >"$tmp/bad4.json"
expect_error 400 "$READ" "$tmp/bad4.json"
printf 'not json' >"$tmp/bad5.json"
expect_error 400 "$READ" "$tmp/bad5.json"
printf 'query-id\tcorpus-id\tscore\nq1\td1\tbanana\n' >"$tmp/badqrels.tsv"
body ret 0 "$DATA/queries.jsonl" "$tmp/badqrels.tsv" >"$tmp/bad6.json"
expect_error 400 "$READ" "$tmp/bad6.json"
printf '{"_id": "q1", "text": ' >"$tmp/badq.jsonl"
body ret 0 "$tmp/badq.jsonl" "$DATA/qrels.tsv" >"$tmp/bad7.json"
expect_error 400 "$READ" "$tmp/bad7.json"
st=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $READ" "$URL/api/v1/eval")
[ "$st" = 405 ] || fail "GET /api/v1/eval: $st"
st=$(curl -sS -o /dev/null -w '%{http_code}' -X POST --data-binary "@$tmp/b.json" "$URL/api/v1/eval")
[ "$st" = 401 ] || fail "no key: $st"
[ -z "$(ls -A "$tmp/t")" ] || fail "temporary files left behind: $(ls "$tmp/t")"

serve_stop
echo "serve_eval: ok"
