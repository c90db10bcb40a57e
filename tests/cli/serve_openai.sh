#!/usr/bin/env bash
# serve_openai.sh: `ken serve` with a random-weight decoder (chat) and encoder
# (embeddings) driven by the official `openai` npm client (tests/node, installed
# with `npm ci --prefix tests/node`): models, chat, streamed chat, the `ken`
# extension with citations, embeddings. Skips (exit 77) only outside CI when
# node or the client is missing; with CI=true a missing tool fails.
set -euo pipefail

: "${KEN_BIN:?KEN_BIN must point at the ken binary}"
: "${KEN_SRC:?KEN_SRC must point at the source tree}"
: "${KEN_FIXTURES:?KEN_FIXTURES must point at the fixtures}"
fail() { echo "FAIL: $*" >&2; exit 1; }
missing() {
    if [ "${CI:-}" = true ]; then fail "$1"; fi
    echo "SKIP: $1" >&2; exit 77
}
command -v curl >/dev/null || missing "curl is needed"
command -v node >/dev/null || missing "node is needed"
[ -d "$KEN_SRC/tests/node/node_modules/openai" ] ||
    missing "the openai client is not installed (npm ci --prefix tests/node)"
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
export KEN_DB="$tmp/kb.db"

"$KEN_BIN" model random --arch qwen2 --vocab "$KEN_FIXTURES/tokenizer/ggml-vocab-qwen2.gguf" \
    -o "$tmp/chat.gguf" >/dev/null
"$KEN_BIN" model random --arch bert --vocab "$KEN_FIXTURES/tokenizer/ggml-vocab-bert-bge.gguf" \
    -o "$tmp/enc.gguf" >/dev/null
printf '# Bees\n\nHoneybees communicate with a waggle dance that points to flowers.\n' >"$tmp/bees.md"
"$KEN_BIN" add -q "$tmp/bees.md"
KEY=$("$KEN_BIN" key create --scope read)

"$KEN_BIN" serve --listen 127.0.0.1:0 --model "$tmp/chat.gguf" --embed-model "$tmp/enc.gguf" \
    --max-generations 1 --queue 1 2>"$tmp/log" &
pid=$!
for _ in $(seq 1 400); do
    grep -q "serving" "$tmp/log" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/log" >&2; fail "server exited"; }
    sleep 0.05
done
PORT=$(sed -n 's/.*http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/log")
[ -n "$PORT" ] || { cat "$tmp/log" >&2; fail "no port in the log"; }

KEN_URL="http://127.0.0.1:$PORT" KEN_KEY="$KEY" KEN_CHAT_MODEL=chat.gguf KEN_EMBED_MODEL=enc.gguf \
    node "$KEN_SRC/tests/node/openai_client.mjs" || fail "openai client test"

# Generation limits: one running, one queued, the third at once gets 429.
cpids=()
for i in 1 2 3; do
    curl -sS --max-time 120 -o "$tmp/g$i" -w '%{http_code}\n' -H "Authorization: Bearer $KEY" \
        -d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":64}' \
        "http://127.0.0.1:$PORT/v1/chat/completions" >"$tmp/code$i" &
    cpids+=($!)
done
for c in "${cpids[@]}"; do wait "$c" || true; done
codes=$(cat "$tmp"/code? | sort | tr '\n' ' ')
[ "$codes" = "200 200 429 " ] || fail "generation queue: statuses $codes (want 200 200 429)"
grep -q rate_limit_error "$tmp"/g? || fail "429 without a JSON error"

kill -TERM "$pid"
for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$pid" 2>/dev/null && fail "server still running 30 s after SIGTERM"
rc=0
wait "$pid" || rc=$?
pid=
[ "$rc" = 0 ] || { cat "$tmp/log" >&2; fail "server exit status $rc"; }
echo "serve_openai: ok"
