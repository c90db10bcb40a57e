#!/usr/bin/env bash
# serve_api.sh: `ken serve` end to end over HTTP with curl: every /api/v1
# endpoint and the OpenAI-compatible ones, hostile requests (bad, deep and
# huge JSON, invalid UTF-8, wrong types, unknown fields, huge numbers, long
# queries, path traversal in names, refs and static paths) that must get a
# 4xx JSON error and leave the server up, API keys (401 without, 403 for a
# read key writing) and collection isolation: a key bound to one collection
# must see, search, cite and count nothing of another through any endpoint.
# Ends with SIGTERM: the server must exit 0 with the store intact.
set -euo pipefail

: "${KEN_BIN:?KEN_BIN must point at the ken binary}"
fail() { echo "FAIL: $*" >&2; exit 1; }
for t in curl python3; do command -v $t >/dev/null || fail "$t is needed"; done
PY=$(python3 -c 'import sys; print(sys.executable)')   # not through a shim: ~50 calls
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
export KEN_DB="$tmp/kb.db"
ken() { "$KEN_BIN" "$@"; }

"$KEN_BIN" serve --help | grep -q -- "--listen" || fail "ken serve --help"
printf 'Plain notes about sourdough bread fed with rye flour.\n' >"$tmp/seed.txt"
ken add -q "$tmp/seed.txt"
ADMIN=$(ken key create --scope admin)
WRITE=$(ken key create --scope write)
READ=$(ken key create --scope read)
BETA=$(ken key create --scope write --collection beta)
[[ "$ADMIN" =~ ^ken_[0-9a-f]{12}_[0-9a-f]{40}$ ]] || fail "key format: $ADMIN"
ken key create --scope root >/dev/null 2>&1 && fail "bad scope accepted"
sqlite3 "$KEN_DB" "select value from config" 2>/dev/null | grep -q "${ADMIN#ken_*_}" &&
    fail "a key is stored in clear"

"$KEN_BIN" serve --listen 127.0.0.1:0 --max-body 1048576 --threads 3 2>"$tmp/log" &
pid=$!
for _ in $(seq 1 200); do
    grep -q "serving" "$tmp/log" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/log" >&2; fail "server exited"; }
    sleep 0.05
done
PORT=$(sed -n 's/.*http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/log")
[ -n "$PORT" ] || { cat "$tmp/log" >&2; fail "no port in the log"; }
URL="http://127.0.0.1:$PORT"

# req KEY METHOD PATH [curl args...]: body to $tmp/out, prints the status.
req() {
    local key=$1 m=$2 p=$3; shift 3
    local auth=()
    [ -n "$key" ] && auth=(-H "Authorization: Bearer $key")
    curl -sS --max-time 20 --path-as-is -o "$tmp/out" -w '%{http_code}' -X "$m" "${auth[@]}" "$@" "$URL$p"
}
expect() {   # expect STATUS KEY METHOD PATH [args]
    local want=$1; shift
    local got
    got=$(req "$@")
    [ "$got" = "$want" ] || { cat "$tmp/out" >&2; fail "$2 $3: status $got, want $want"; }
    if [ "$want" -ge 400 ]; then   # every error is a JSON error object
        grep -Eq '^\{"error":\{"message":".+","type":"[a-z_]+","code":"[a-z_0-9]+"\}\}$' "$tmp/out" ||
            { cat "$tmp/out" >&2; fail "$2 $3: no JSON error body"; }
    fi
}
jq_() { "$PY" -c "import json,sys; d=json.load(open('$tmp/out')); $1"; }
J=(-H 'Content-Type: application/json')

# --- health, readiness, auth
expect 200 "" GET /healthz
expect 200 "" GET /readyz
expect 401 "" GET /api/v1/stats
expect 401 "ken_000000000000_0000000000000000000000000000000000000000" GET /api/v1/stats
expect 401 "garbage" GET /v1/models
expect 200 "$READ" GET /api/v1/stats
jq_ 'assert d["documents"] == 1, d'

# --- add: JSON text, multipart upload, raw body; read keys cannot write
expect 403 "$READ" POST /api/v1/documents "${J[@]}" -d '{"name":"x.md","text":"x"}'
expect 201 "$WRITE" POST /api/v1/documents "${J[@]}" \
    -d '{"name":"alpha.md","text":"# Alpha\n\nThe zebra quartz protocol is the alpha secret.","collection":"alpha"}'
ALPHA_ID=$(jq_ 'print(d["id"])')
printf '# Bees\n\nHoneybees communicate with a waggle dance that points to flowers.\n' >"$tmp/bees.md"
expect 201 "$BETA" POST /api/v1/documents -F "file=@$tmp/bees.md" -F collection=beta
BEES_ID=$(jq_ 'assert d["collection"] == "beta", d; print(d["id"])')
printf 'Raw upload about the river delta and its silt.\n' >"$tmp/raw.txt"
expect 201 "$WRITE" POST '/api/v1/documents?name=raw.txt&collection=alpha' --data-binary "@$tmp/raw.txt" \
    -H 'Content-Type: application/octet-stream'
# a bound key cannot write elsewhere; names are file names, never paths
expect 404 "$BETA" POST /api/v1/documents "${J[@]}" -d '{"name":"b.md","text":"b","collection":"alpha"}'
expect 201 "$WRITE" POST /api/v1/documents "${J[@]}" -d '{"name":"../../../../tmp/ken_evil.md","text":"evil text"}'
jq_ 'assert d["name"] == "ken_evil.md", d'
[ -e /tmp/ken_evil.md ] && fail "an upload was written to disk"
expect 400 "$WRITE" POST /api/v1/documents "${J[@]}" -d '{"name":"..","text":"x"}'
expect 400 "$WRITE" POST /api/v1/documents "${J[@]}" -d '{"name":"a/","text":"x"}'
expect 400 "$WRITE" POST /api/v1/documents "${J[@]}" -d '{"name":"bin.bin","text":"\u0000\u0001\u0002\u0000\u0000"}'
expect 400 "$WRITE" POST /api/v1/documents -F "x=1"
expect 400 "$WRITE" POST /api/v1/documents --data-binary "@$tmp/raw.txt" -H 'Content-Type: text/plain'

# --- list, show, search, ask, stats (an unbound key sees everything)
expect 200 "$READ" GET '/api/v1/documents?limit=10'
jq_ 'assert len(d["documents"]) == 5, d'
expect 200 "$READ" GET "/api/v1/documents/$ALPHA_ID?text=1"
jq_ 'assert "zebra quartz" in d["text"] and d["collection"] == "alpha" and d["chunk_list"], d'
expect 404 "$READ" GET /api/v1/documents/999999
expect 404 "$READ" GET /api/v1/documents/../../../etc/passwd
expect 404 "$READ" GET /api/v1/documents/%2e%2e%2f%2e%2e%2fetc%2fpasswd
expect 200 "$READ" GET '/api/v1/search?q=zebra+quartz&k=5'
jq_ 'assert d["count"] >= 1 and d["results"][0]["collection"] == "alpha", d'
expect 200 "$READ" POST /api/v1/search "${J[@]}" -d '{"query":"waggle dance","mode":"docs","k":3,"text":true}'
jq_ 'r=d["results"][0]; assert d["mode"] == "docs" and r["uri"] == "bees.md" and "waggle" in r["text"], d'
expect 200 "$READ" POST /api/v1/search "${J[@]}" -d '{"query":"waggle dance","prf":true,"collection":"beta","snippets":false}'
jq_ 'assert d["count"] >= 1 and d["results"][0]["snippet"] is None, d'
expect 200 "$READ" POST /api/v1/ask "${J[@]}" -d '{"question":"how do honeybees communicate?"}'
jq_ 'assert d["found"] and d["citations"] and "[1]" in d["answer"], d'
expect 200 "$READ" POST /api/v1/ask "${J[@]}" -d '{"question":"how do honeybees communicate?","stream":true}'
grep -q '"type":"delta"' "$tmp/out" || fail "ask stream: no deltas"
grep -q '"type":"done".*"citations":\[{' "$tmp/out" || fail "ask stream: no citations"

# --- OpenAI-compatible endpoints (no model loaded: extractive answers)
expect 200 "$READ" GET /v1/models
jq_ 'assert d["object"] == "list" and d["data"][0]["id"] == "ken-extractive", d'
expect 200 "$READ" POST /v1/chat/completions "${J[@]}" \
    -d '{"model":"ken-extractive","messages":[{"role":"user","content":"what is the zebra quartz protocol?"}],"ken":{}}'
jq_ 'm=d["choices"][0]["message"]; assert "zebra" in m["content"] and d["ken"]["citations"], d'
expect 200 "$READ" POST /v1/chat/completions "${J[@]}" \
    -d '{"messages":[{"role":"user","content":[{"type":"text","text":"how do honeybees communicate?"}]}],"stream":true}'
grep -q 'chat.completion.chunk' "$tmp/out" && grep -q 'data: \[DONE\]' "$tmp/out" || fail "chat stream"
expect 400 "$READ" POST /v1/embeddings "${J[@]}" -d '{"input":"hello","model":"x"}'
grep -q no_embedding_model "$tmp/out" || fail "embeddings without an encoder"
expect 400 "$READ" POST /v1/chat/completions "${J[@]}" -d '{"messages":[]}'
expect 400 "$READ" POST /v1/chat/completions "${J[@]}" -d '{"messages":[{"role":"robot","content":"x"}]}'
expect 405 "$READ" GET /v1/chat/completions

# --- hostile requests: 4xx with a JSON error, never a crash
expect 400 "$READ" POST /api/v1/search "${J[@]}" -d '{"query":'
expect 400 "$READ" POST /api/v1/search "${J[@]}" -d '[1,2]'
expect 400 "$READ" POST /api/v1/search "${J[@]}" -d ''
deep=$("$PY" -c 'print("{\"query\":" + "["*200 + "]"*200 + "}")')
expect 413 "$READ" POST /api/v1/search "${J[@]}" -d "$deep"
printf '{"query":"bad \xff\xfe utf8"}' >"$tmp/badutf8.json"
expect 400 "$READ" POST /api/v1/search "${J[@]}" --data-binary "@$tmp/badutf8.json"
expect 400 "$READ" GET '/api/v1/search?q=%ff%fe'
expect 400 "$READ" POST /api/v1/search "${J[@]}" -d '{"query":"x","k":"ten"}'
expect 400 "$READ" POST /api/v1/search "${J[@]}" -d '{"query":"x","k":1e999}'
expect 400 "$READ" POST /api/v1/search "${J[@]}" -d '{"query":"x","k":99999999999999999999}'
expect 400 "$READ" POST /api/v1/search "${J[@]}" -d '{"query":"x","k":2.5}'
expect 400 "$READ" POST /api/v1/search "${J[@]}" -d '{"query":"x","mode":"magic"}'
expect 400 "$READ" POST /api/v1/search "${J[@]}" -d '{"query":"x","evil":1}'
expect 400 "$READ" POST /api/v1/search "${J[@]}" -d '{"query":["x"]}'
expect 400 "$READ" POST /api/v1/ask "${J[@]}" -d '{"question":"x\u0000y"}'
long=$(head -c 20000 /dev/zero | tr '\0' 'a')
expect 413 "$READ" POST /api/v1/search "${J[@]}" -d "{\"query\":\"$long\"}"
expect 413 "$READ" GET "/api/v1/search?q=$long"
head -c 2000000 /dev/zero | tr '\0' 'a' >"$tmp/huge"
expect 413 "$WRITE" POST '/api/v1/documents?name=huge.txt' --data-binary "@$tmp/huge"
expect 413 "$WRITE" POST '/api/v1/documents?name=huge.txt' --data-binary "@$tmp/huge" \
    -H 'Transfer-Encoding: chunked'
expect 400 "$READ" GET '/api/v1/documents?limit=-5'
expect 400 "$READ" GET '/api/v1/documents?limit=abc'
expect 404 "$READ" GET /api/v1/nothing
expect 404 "" GET /../../../../etc/passwd
expect 404 "" GET /%2e%2e/%2e%2e/etc/passwd
expect 405 "$READ" PUT /api/v1/search
expect 200 "" GET /healthz

# --- collection isolation: the beta key gets nothing of alpha anywhere
expect 200 "$BETA" GET /api/v1/documents
jq_ 'assert [x["collection"] for x in d["documents"]] == ["beta"], d'
expect 404 "$BETA" GET '/api/v1/documents?collection=alpha'
expect 404 "$BETA" GET "/api/v1/documents/$ALPHA_ID"
expect 404 "$BETA" GET /api/v1/documents/alpha.md
expect 404 "$BETA" DELETE "/api/v1/documents/$ALPHA_ID"
expect 200 "$BETA" GET '/api/v1/search?q=zebra+quartz+secret+river+delta+sourdough'
jq_ 'assert d["count"] == 0, d'
expect 404 "$BETA" GET '/api/v1/search?q=zebra&collection=alpha'
expect 200 "$BETA" POST /api/v1/search "${J[@]}" -d '{"query":"zebra quartz protocol","mode":"docs","prf":true}'
jq_ 'assert d["count"] == 0, d'
expect 200 "$BETA" POST /api/v1/ask "${J[@]}" -d '{"question":"what is the zebra quartz protocol?","min_score":-1}'
jq_ 'assert "zebra" not in json.dumps(d) or d["question"], d; assert all(c["uri"] == "bees.md" for c in d["citations"]), d'
expect 200 "$BETA" POST /api/v1/ask "${J[@]}" -d '{"question":"what is the zebra quartz protocol?","stream":true,"min_score":-1}'
grep -q 'alpha' "$tmp/out" && fail "stream ask leaked alpha"
expect 404 "$BETA" POST /api/v1/ask "${J[@]}" -d '{"question":"zebra","collection":"alpha"}'
expect 200 "$BETA" GET /api/v1/stats
jq_ 'assert d["documents"] == 1 and d["collection"] == "beta" and "sources" not in d, d'
expect 404 "$BETA" GET '/api/v1/stats?collection=alpha'
for body in '{"messages":[{"role":"user","content":"what is the zebra quartz protocol?"}],"ken":{}}' \
            '{"messages":[{"role":"user","content":"what is the zebra quartz protocol?"}]}' \
            '{"messages":[{"role":"user","content":"zebra quartz secret"}],"stream":true,"ken":{"k":50}}'; do
    expect 200 "$BETA" POST /v1/chat/completions "${J[@]}" -d "$body"
    grep -qi 'zebra quartz protocol is\|alpha.md\|raw.txt' "$tmp/out" && fail "chat leaked alpha: $body"
done
expect 404 "$BETA" POST /v1/chat/completions "${J[@]}" \
    -d '{"messages":[{"role":"user","content":"zebra"}],"ken":{"collection":"alpha"}}'

# --- delete (write scope), then it is gone
expect 403 "$READ" DELETE "/api/v1/documents/$BEES_ID"
expect 200 "$BETA" DELETE "/api/v1/documents/$BEES_ID"
expect 404 "$BETA" GET "/api/v1/documents/$BEES_ID"
expect 200 "$ADMIN" GET /api/v1/stats
jq_ 'assert d["documents"] == 4, d'

# --- revoking a key takes effect at once; list shows ids, never secrets
expect 200 "$READ" GET /api/v1/stats
ken key revoke "${READ:4:12}" >/dev/null
expect 401 "$READ" GET /api/v1/stats
ken key revoke 000000000000 >/dev/null 2>&1 && fail "revoking a missing key"
ken key list --json >"$tmp/keys.json"
"$PY" -c 'import json,sys; k=json.load(open(sys.argv[1])); assert len(k) == 4 and sum(x["revoked"] for x in k) == 1, k' "$tmp/keys.json"
grep -q "${READ:17}" "$tmp/keys.json" && fail "key list shows a secret"
ken key list | grep -q "${READ:4:12}.*revoked" || fail "key list text"

# --- graceful shutdown: SIGTERM, exit 0, store intact
kill -TERM "$pid"
rc=0
for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$pid" 2>/dev/null && fail "server still running 30 s after SIGTERM"
wait "$pid" || rc=$?
pid=
[ "$rc" = 0 ] || { cat "$tmp/log" >&2; fail "server exit status $rc after SIGTERM"; }
grep -q stopped "$tmp/log" || fail "no clean stop"
ken ls --json | "$PY" -c 'import json,sys; d=json.load(sys.stdin); assert len(d["documents"] if isinstance(d, dict) else d) == 4, d'

# --- --no-auth: refused off loopback; on loopback no key is needed
rc=0
"$KEN_BIN" serve --no-auth --listen 0.0.0.0:0 2>"$tmp/log2" || rc=$?
[ "$rc" = 1 ] && grep -q "loopback only" "$tmp/log2" || fail "--no-auth off loopback: exit $rc"
"$KEN_BIN" serve --no-auth --listen 127.0.0.1:0 2>"$tmp/log" &
pid=$!
for _ in $(seq 1 200); do grep -q "serving" "$tmp/log" 2>/dev/null && break; sleep 0.05; done
URL="http://127.0.0.1:$(sed -n 's/.*http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/log")"
expect 200 "" GET /api/v1/stats
expect 200 "" GET /
grep -q '<script src="/app.js">' "$tmp/out" || fail "web UI index"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
[ "$rc" = 0 ] || fail "--no-auth server exit status $rc"
echo "serve_api: ok"
