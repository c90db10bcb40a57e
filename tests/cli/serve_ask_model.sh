#!/usr/bin/env bash
# serve_ask_model.sh: POST /api/v1/ask with a decoder loaded (`ken serve
# --model`): the model writes the answer (the same text, greedy, as `ken ask
# --model` on the same store), the reply carries the citation check in
# "reply" and names the model; streamed deltas add up to the answer; nothing
# relevant is answered without the model; "extractive": true keeps the
# extractive route.
set -euo pipefail
: "${KEN_BIN:?KEN_BIN must point at the ken binary}"
: "${KEN_SRC:?KEN_SRC must point at the source tree}"
fail() { echo "FAIL: $*" >&2; exit 1; }
for t in curl python3; do command -v $t >/dev/null || fail "$t is needed"; done
MODEL="${KEN_FIXTURES:-$KEN_SRC/../shared/fixtures}/models/stories260K.gguf"
if [ ! -f "$MODEL" ]; then
    if [ "${CI:-}" = "true" ]; then fail "fixtures missing ($MODEL)"; fi
    echo "SKIP: fixtures missing ($MODEL)" >&2
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
ken add -q "$DATA/corpus.jsonl"
Q="how do honeybees communicate with a dance"
ken ask --model "$MODEL" --max-tokens 24 --threads 1 --json -- "$Q" >"$tmp/cli.json"

serve_start --no-auth --model "$MODEL" --max-tokens 24
post() {   # post BODY OUT: status
    curl -sS --max-time 120 -o "$2" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary "$1" "$URL/api/v1/ask"
}
body() { python3 -c 'import json,sys; d={"question": sys.argv[1]}; d.update(json.loads(sys.argv[2])); print(json.dumps(d))' "$1" "$2"; }

st=$(post "$(body "$Q" '{}')" "$tmp/a.json")
[ "$st" = 200 ] || { cat "$tmp/a.json" >&2; fail "ask status $st"; }
python3 - "$tmp/a.json" "$tmp/cli.json" <<'PY'
import json, sys
a, c = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a["found"] is True and a["model"] and a["model"] != "ken-extractive", a
assert a["answer"] == c["answer"], (a["answer"], c["answer"])
r = a["reply"]
assert r["model"] == c["model"] and r["answer"] == a["answer"], r
for k in ("grounded", "sentences", "sources", "routing", "timings"):
    assert k in r, k
assert a["grounded"] == r["grounded"]
cited = {s["n"] for s in r["sources"] if s.get("cited")}
assert {x["n"] for x in a["citations"]} == cited, (a["citations"], cited)
print("serve_ask_model: %d chars from %s, grounded=%s" % (len(a["answer"]), a["model"], a["grounded"]))
PY

# streamed: the deltas are the answer, then one done event
curl -sS -N --max-time 120 -H 'Content-Type: application/json' \
    --data-binary "$(body "$Q" '{"stream": true}')" "$URL/api/v1/ask" >"$tmp/s.txt"
python3 - "$tmp/s.txt" "$tmp/a.json" <<'PY'
import json, sys
evs = [json.loads(l[6:]) for l in open(sys.argv[1]) if l.startswith("data: ")]
a = json.load(open(sys.argv[2]))
deltas = "".join(e["text"] for e in evs if e["type"] == "delta")
done = [e for e in evs if e["type"] == "done"]
assert len(done) == 1 and evs[-1]["type"] == "done", [e["type"] for e in evs]
assert deltas == done[0]["answer"] == a["answer"], (deltas, done[0]["answer"], a["answer"])
PY

# nothing relevant: no model runs
st=$(post "$(body "zyxxq quorble flimflam" '{}')" "$tmp/n.json")
[ "$st" = 200 ] || fail "unanswerable: $st"
python3 -c "
import json; a = json.load(open('$tmp/n.json'))
assert a['found'] is False and a['reply']['model'] is None and a['reply']['routing'] == [], a"

# extractive on request
st=$(post "$(body "$Q" '{"extractive": true}')" "$tmp/e.json")
[ "$st" = 200 ] || fail "extractive: $st"
grep -q '"model":"ken-extractive"' "$tmp/e.json" || fail "extractive model: $(cat "$tmp/e.json")"
st=$(post '{"question": "x", "extractive": 3}' "$tmp/x.json")
[ "$st" = 400 ] || fail "bad extractive type: $st"

serve_stop
echo "serve_ask_model: ok"
