#!/usr/bin/env bash
# ask_model.sh: `ken ask` with a model, end to end.
#  (a) a local GGUF (stories260K, a real but tiny story model: its output
#      cites nothing, so this checks the machinery): streaming (the text
#      output holds the same greedy answer as --json), the ungrounded
#      verdict, the JSON fields, "nothing relevant" without a model call.
#  (b) a scripted OpenAI-compatible server on loopback (scripted_llm.py) whose
#      replies copy sentences out of the numbered sources ken sent: correct
#      citations pass; the same sentences citing the wrong source are flagged
#      weak; citing sources that were not given is ungrounded; no citations
#      is ungrounded. These fail if the numbering or the check were broken.
#  (c) routing: an ungrounded or unsure small model escalates to a second
#      server, a grounded one does not; decisions and reasons in --json.
set -euo pipefail
: "${KEN_BIN:?KEN_BIN must point at the ken binary}"
: "${KEN_SRC:?KEN_SRC must point at the source tree}"
: "${KEN_FIXTURES:?KEN_FIXTURES must point at the fixtures}"
command -v python3 >/dev/null || { echo "FAIL: python3 is needed" >&2; exit 1; }
MODEL="$KEN_FIXTURES/models/stories260K.gguf"
[ -f "$MODEL" ] || { echo "FAIL: $MODEL missing" >&2; exit 1; }
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
export KEN_DB="$tmp/kb.db"
unset KEN_BACKEND_URL KEN_BACKEND_MODEL KEN_API_KEY
fail() { echo "FAIL: $*" >&2; exit 1; }
ken() { "$KEN_BIN" "$@"; }

mkdir -p "$tmp/docs"
cat >"$tmp/docs/compost.md" <<'EOF'
# Composting

Turn the compost heap every two weeks to let oxygen in. A heap that smells of ammonia has
too much green material, so add dry leaves or cardboard.
EOF
cat >"$tmp/docs/bike.md" <<'EOF'
# Bicycle care

Replace a bicycle chain when it has stretched by half a percent. Measure the stretch with a
chain checker tool every thousand kilometres.
EOF
ken add "$tmp/docs" >/dev/null
Q="how often should I turn the compost heap and when should I replace a bicycle chain"

# ---------------------------------------------------------------- (a) local
ken ask --model "$MODEL" --json -k 2 --max-tokens 16 --ctx 640 "$Q" >"$tmp/local.json"
ken ask --model "$MODEL" -k 2 --max-tokens 16 --ctx 640 "$Q" >"$tmp/local.txt"
python3 - "$tmp/local.json" "$tmp/local.txt" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
txt = open(sys.argv[2]).read()
for k in ("question", "query", "found", "confidence", "answer", "grounded", "ungrounded",
          "unsure", "support", "claims", "flagged", "valid_citations", "invalid_citations",
          "model", "backend", "escalated", "citations", "sentences", "sources", "routing",
          "timings", "history", "finish"):
    assert k in d, k
assert d["found"] and d["backend"] == "local", d
assert d["ungrounded"] and not d["grounded"], "a story model cannot cite: %r" % d["answer"]
assert d["answer"], d
assert len(d["sources"]) == 2 and [s["n"] for s in d["sources"]] == [1, 2], d["sources"]
for s in d["sources"]:
    for k in ("doc_id", "chunk_id", "uri", "page", "start", "end", "text", "cited"):
        assert k in s, k
t = d["timings"]
assert t["prompt_tokens"] > 50 and 0 < t["generated_tokens"] <= 16, t
assert t["ttft_s"] > 0 and t["retrieval_s"] > 0, t
r = d["routing"]
assert len(r) == 1 and r[0]["decision"] == "answer" and "ungrounded" in r[0]["reason"], r
# Streaming: the text output starts with the same (greedy) answer, then the check.
assert txt.startswith(d["answer"]), (txt[:200], d["answer"])
assert "Check: UNGROUNDED" in txt and "Answered by" in txt, txt
EOF
# Nothing relevant: "I don't know" with no model call.
ken ask --model "$MODEL" --json "how do I tune a guitar" >"$tmp/none.json"
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert not d["found"] and d["model"] is None and d["routing"] == [], d
assert "know" in d["answer"], d' "$tmp/none.json"

# ---------------------------------------------------------------- (b) server
launch() {   # launch NAME MODE: a scripted server in the background
    python3 "$KEN_SRC/tests/cli/scripted_llm.py" --mode "$2" --fact "two weeks" \
        --fact "half a percent" --port-file "$tmp/$1.port" --log "$tmp/$1.log" &
    pids+=($!)
}
url() {   # url NAME: waits for the server's port; sets URL_NAME
    for _ in $(seq 200); do [ -s "$tmp/$1.port" ] && break; sleep 0.05; done
    [ -s "$tmp/$1.port" ] || fail "scripted server $1 did not start"
    printf -v "URL_$1" 'http://127.0.0.1:%s/v1' "$(cat "$tmp/$1.port")"
}
launch good correct; launch swap swap; launch invalid invalid; launch uncited uncited
launch unsure unsure
for s in good swap invalid uncited unsure; do url $s; done

check() {   # check FILE PYTHON-ASSERTIONS (d = the JSON)
    python3 -c "import json, sys
d = json.load(open(sys.argv[1]))
$2" "$1" || fail "check of $1 failed: $(cat "$1")"
}

ken ask --backend "$URL_good" --json "$Q" >"$tmp/good.json"
check "$tmp/good.json" '
assert d["backend"] == "http" and d["model"] == "scripted-correct", d
assert d["grounded"] and not d["ungrounded"], d
assert d["valid_citations"] == 2 and d["invalid_citations"] == 0, d
assert d["claims"] == 2 and d["flagged"] == 0, d["sentences"]
assert all(s["support"] >= 0.9 and s["flags"] == [] for s in d["sentences"]), d["sentences"]
assert all(s["best_source"] == s["cites"][0] for s in d["sentences"]), d["sentences"]
uris = sorted(c["uri"].rsplit("/", 1)[1] for c in d["citations"])
assert uris == ["bike.md", "compost.md"], d["citations"]
for c in d["citations"]:
    assert c["cited"] == 1 and c["end"] > c["start"], c'
# The prompt the server saw: numbered sources, the instruction, the question.
python3 - "$tmp/good.log" "$Q" <<'EOF'
import json, sys
req = json.loads(open(sys.argv[1]).readline())
assert req["stream"] is True, req
m = req["messages"]
assert m[0]["role"] == "system" and "[1]" in m[0]["content"], m[0]
u = m[-1]["content"]
assert u.startswith("Sources:\n\n[1] ") and "\n\n[2] " in u, u
assert u.endswith("Question: " + sys.argv[2]), u[-200:]
EOF
# Streamed text output with the check.
out=$(ken ask --backend "$URL_good" "$Q")
grep -q "^Turn the compost heap every two weeks to let oxygen in \[[12]\]\." <<<"$out" ||
    fail "streamed answer: $out"
grep -q "Check: grounded; 2 valid citation(s)" <<<"$out" || fail "text check line: $out"
grep -q "Answered by scripted-correct (http)" <<<"$out" || fail "who answered: $out"

# Wrong sources: each sentence cites the other document -> weak support.
ken ask --backend "$URL_swap" --json "$Q" >"$tmp/swap.json"
check "$tmp/swap.json" '
assert d["grounded"], d
assert d["flagged"] == 2, d["sentences"]
for s in d["sentences"]:
    assert "weak_support" in s["flags"] and s["support"] < 0.35, s
    assert s["best_source"] != s["cites"][0], s'
out=$(ken ask --backend "$URL_swap" "$Q")
grep -q "weak support" <<<"$out" || fail "weak support not shown: $out"

# Sources that were not given: invalid citations, ungrounded.
ken ask --backend "$URL_invalid" --json "$Q" >"$tmp/invalid.json"
check "$tmp/invalid.json" '
assert d["ungrounded"] and d["invalid_citations"] == 2 and d["valid_citations"] == 0, d
assert all("invalid_citation" in s["flags"] for s in d["sentences"]), d["sentences"]
assert d["citations"] == [], d["citations"]'
# No citations at all.
ken ask --backend "$URL_uncited" --json "$Q" >"$tmp/uncited.json"
check "$tmp/uncited.json" '
assert d["ungrounded"] and d["flagged"] == 2, d
assert all(s["flags"] == ["uncited"] for s in d["sentences"]), d["sentences"]'
# The model name comes from --backend-model, else the server's /models.
KEN_BACKEND_URL="$URL_good" KEN_BACKEND_MODEL=named ken ask --json "$Q" >"$tmp/env.json"
check "$tmp/env.json" 'assert d["model"] == "named" and d["grounded"], d'

# ---------------------------------------------------------------- (c) routing
# This two-part question's best sentence covers 0.35 of it, under the default
# confidence bar (0.4) for the small model: lower the bar to test the answers.
ken ask --backend "$URL_uncited" --escalate-backend "$URL_good" --escalate-below 0.3 --json --verbose "$Q" \
    >"$tmp/r1.json" 2>"$tmp/r1.err"
check "$tmp/r1.json" '
r = d["routing"]
assert d["escalated"] and d["model"] == "scripted-correct" and d["grounded"], d
assert len(r) == 2, r
assert r[0]["model"] == "scripted-uncited" and r[0]["decision"] == "escalate", r[0]
assert r[0]["reason"].startswith("ungrounded"), r[0]
assert r[0]["text"] and "[" not in r[0]["text"], r[0]
assert r[1]["model"] == "scripted-correct" and r[1]["decision"] == "answer", r[1]'
grep -q "route: scripted-uncited (http): escalate: ungrounded" "$tmp/r1.err" ||
    fail "no routing log line: $(cat "$tmp/r1.err")"
ken ask --backend "$URL_unsure" --escalate-backend "$URL_good" --escalate-below 0.3 --json "$Q" >"$tmp/r2.json"
check "$tmp/r2.json" '
assert d["escalated"] and d["routing"][0]["reason"].startswith("unsure"), d["routing"]'
ken ask --backend "$URL_invalid" --escalate-backend "$URL_good" --escalate-below 0.3 --json "$Q" >"$tmp/r3.json"
check "$tmp/r3.json" '
assert d["escalated"] and "not given" not in d["routing"][0]["reason"], d["routing"]
assert "no source that was in the prompt" in d["routing"][0]["reason"], d["routing"]'
# A grounded small model is not escalated; the large server is never asked.
: >"$tmp/uncited.log"
ken ask --backend "$URL_good" --escalate-backend "$URL_uncited" --escalate-below 0.3 --json "$Q" >"$tmp/r4.json"
check "$tmp/r4.json" '
assert not d["escalated"] and len(d["routing"]) == 1 and d["model"] == "scripted-correct", d'
[ ! -s "$tmp/uncited.log" ] || fail "the larger model was asked for a grounded answer"
# Low retrieval confidence skips the small model.
ken ask --backend "$URL_uncited" --escalate-backend "$URL_good" --escalate-below 0.99 --json \
    "$Q" >"$tmp/r5.json"
check "$tmp/r5.json" '
r = d["routing"]
assert r[0]["decision"] == "skip" and "low retrieval confidence" in r[0]["reason"], r
assert d["escalated"] and d["model"] == "scripted-correct", d'
# Local small model, scripted large one: the story is ungrounded, so it escalates.
ken ask --model "$MODEL" -k 2 --max-tokens 8 --ctx 640 --escalate-backend "$URL_good" \
    --escalate-below 0.3 --json "$Q" >"$tmp/r6.json"
check "$tmp/r6.json" '
r = d["routing"]
assert r[0]["backend"] == "local" and r[0]["decision"] == "escalate", r
assert d["backend"] == "http" and d["grounded"] and d["escalated"], d'
# Models configured in the store (config keys ask.*; written directly here, as
# `ken config set` learns these keys separately): used when no option names one.
conf() {   # conf KEY VALUE (VALUE "" deletes)
    python3 -c '
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
if sys.argv[3]:
    db.execute("INSERT OR REPLACE INTO config(key, value) VALUES(?, ?)", sys.argv[2:4])
else:
    db.execute("DELETE FROM config WHERE key = ?", (sys.argv[2],))
db.commit()' "$KEN_DB" "$1" "$2"
}
conf ask.escalate_backend "$URL_good"
ken ask --backend "$URL_uncited" --escalate-below 0.3 --json "$Q" >"$tmp/c1.json"
check "$tmp/c1.json" '
assert d["escalated"] and d["model"] == "scripted-correct", d["routing"]'
conf ask.escalate_backend ""
conf ask.backend "$URL_swap"
ken ask --json "$Q" >"$tmp/c2.json"
check "$tmp/c2.json" 'assert d["model"] == "scripted-swap" and d["flagged"] == 2, d'
# An option still wins over the store.
ken ask --backend "$URL_good" --json "$Q" >"$tmp/c3.json"
check "$tmp/c3.json" 'assert d["model"] == "scripted-correct", d'
conf ask.backend ""

# Usage errors.
set +e
ken ask --escalate-backend "$URL_good" "$Q" >/dev/null 2>&1; [ $? = 1 ] || fail "escalate alone"
ken ask --model "$MODEL" --backend "$URL_good" "$Q" >/dev/null 2>&1; [ $? = 1 ] || fail "both"
ken ask --backend "$URL_good" --max-tokens 0 "$Q" >/dev/null 2>&1; [ $? = 1 ] || fail "max-tokens 0"
ken ask --model "$tmp/nope.gguf" "$Q" >/dev/null 2>&1; [ $? = 2 ] || fail "missing model file"
set -e
echo "ask_model: ok"
