#!/usr/bin/env bash
# chat_session.sh: `ken chat` driven line by line on stdin, end to end:
# with a scripted OpenAI-compatible server (scripted_llm.py) the answers are
# checked like `ken ask`'s; a follow-up is searched with the words of the
# question it refers to and the earlier turns reach the model; the session is
# stored, listed and resumed with its history (the resumed turn's prompt holds
# the earlier turns); and one turn with a local GGUF model (stories260K).
set -euo pipefail
: "${KEN_BIN:?KEN_BIN must point at the ken binary}"
: "${KEN_SRC:?KEN_SRC must point at the source tree}"
: "${KEN_FIXTURES:?KEN_FIXTURES must point at the fixtures}"
command -v python3 >/dev/null || { echo "FAIL: python3 is needed" >&2; exit 1; }
MODEL="$KEN_FIXTURES/models/stories260K.gguf"
[ -f "$MODEL" ] || { echo "FAIL: $MODEL missing" >&2; exit 1; }
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
export KEN_DB="$tmp/kb.db"
unset KEN_BACKEND_URL KEN_BACKEND_MODEL KEN_API_KEY
fail() { echo "FAIL: $*" >&2; exit 1; }
ken() { "$KEN_BIN" "$@"; }

mkdir -p "$tmp/docs"
printf '# Bicycle care\n\nReplace a bicycle chain when it has stretched by half a percent. Measure the stretch with a chain checker tool every thousand kilometres.\n' >"$tmp/docs/bike.md"
printf '# Composting\n\nTurn the compost heap every two weeks to let oxygen in.\n' >"$tmp/docs/compost.md"
ken add "$tmp/docs" >/dev/null

python3 "$KEN_SRC/tests/cli/scripted_llm.py" --mode correct --fact "half a percent" \
    --fact "chain checker" --port-file "$tmp/port" --log "$tmp/req.log" &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || fail "scripted server did not start"
URL="http://127.0.0.1:$(cat "$tmp/port")/v1"

# Two turns; the second refers back ("it").
printf 'when should I replace a bicycle chain\nhow do I measure it?\n' |
    ken chat --session bikes --backend "$URL" --json >"$tmp/t.jsonl" 2>"$tmp/t.err" ||
    fail "chat exited $?: $(cat "$tmp/t.err")"
python3 - "$tmp/t.jsonl" "$tmp/req.log" <<'EOF'
import json, sys
turns = [json.loads(l) for l in open(sys.argv[1])]
assert len(turns) == 2, turns
a, b = turns
assert a["grounded"] and a["flagged"] == 0 and a["history"]["kept"] == 0, a
assert b["query"].startswith("how do I measure it?") and "chain" in b["query"], b["query"]
assert b["grounded"] and b["history"]["kept"] == 2, b
reqs = [json.loads(l) for l in open(sys.argv[2])]
assert len(reqs) == 2, len(reqs)
m = reqs[1]["messages"]
roles = [x["role"] for x in m]
assert roles == ["system", "user", "assistant", "user"], roles
assert m[1]["content"] == "when should I replace a bicycle chain", m[1]
assert m[2]["content"] == a["answer"], m[2]
EOF
grep -q "session 'bikes'" "$tmp/t.err" || fail "no session line: $(cat "$tmp/t.err")"

# Listed, and resumed with its history.
ken chat --list | grep -q "^bikes  *4 turns" || fail "list: $(ken chat --list)"
: >"$tmp/req.log"
out=$(printf 'and what about it?\n/quit\nnot asked\n' |
      ken chat --session bikes --backend "$URL" --history 2>"$tmp/r.err")
grep -q "resumed session 'bikes' (4 messages)" "$tmp/r.err" || fail "resume: $(cat "$tmp/r.err")"
grep -q "^you> when should I replace a bicycle chain$" <<<"$out" || fail "history: $out"
grep -q "Check: grounded" <<<"$out" || fail "answer check: $out"
[ "$(wc -l <"$tmp/req.log")" = 1 ] || fail "/quit did not stop the session"
python3 -c '
import json, sys
m = json.loads(open(sys.argv[1]).readline())["messages"]
assert [x["role"] for x in m] == ["system", "user", "assistant", "user", "assistant", "user"], m' \
    "$tmp/req.log"
ken chat --list | grep -q "^bikes  *6 turns" || fail "list after resume: $(ken chat --list)"

# A local model, one turn.
printf 'when should I replace a bicycle chain\n' |
    ken chat --session local --model "$MODEL" -k 1 --max-tokens 8 --ctx 1024 --json \
    >"$tmp/l.jsonl" 2>/dev/null || fail "local chat"
python3 -c '
import json, sys
d = json.loads(open(sys.argv[1]).readline())
assert d["backend"] == "local" and d["found"] and d["answer"], d' "$tmp/l.jsonl"

# Usage errors: no model; a bad option.
set +e
echo hi | ken chat >/dev/null 2>&1; [ $? = 1 ] || fail "chat without a model"
ken chat --backend "$URL" --bogus >/dev/null 2>&1; [ $? = 1 ] || fail "bad option"
set -e
echo "chat_session: ok"
