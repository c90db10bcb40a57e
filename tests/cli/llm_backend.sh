#!/usr/bin/env bash
# llm_backend.sh: `ken llm` through both backends: `ken serve` (started here
# on loopback with a random-weight decoder and encoder, keys required) answers
# through the HTTP backend exactly as the local backend answers from the same
# files (greedy, same token budget), for chat and embeddings; a wrong key
# fails with the server's 401 and is never printed; nothing listening fails
# with a clear message. A model whose chat template is not ChatML (phi-3's)
# answers over `ken serve` as locally too: the server renders the model's
# own template.
set -euo pipefail

: "${KEN_BIN:?KEN_BIN must point at the ken binary}"
: "${KEN_FIXTURES:?KEN_FIXTURES must point at the fixtures}"
fail() { echo "FAIL: $*" >&2; exit 1; }
. "$(dirname "$0")/lib/serve.sh"
if [ ! -d "$KEN_FIXTURES/tokenizer" ]; then
    [ "${CI:-}" = true ] && fail "fixtures missing"
    echo "SKIP: fixtures missing" >&2; exit 77
fi
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
export KEN_DB="$tmp/kb.db"
unset KEN_BACKEND_URL KEN_BACKEND_MODEL KEN_API_KEY http_proxy HTTP_PROXY all_proxy ALL_PROXY

"$KEN_BIN" model random --arch qwen2 --vocab "$KEN_FIXTURES/tokenizer/ggml-vocab-qwen2.gguf" \
    --seed 11 -o "$tmp/chat.gguf" >/dev/null
"$KEN_BIN" model random --arch bert --vocab "$KEN_FIXTURES/tokenizer/ggml-vocab-bert-bge.gguf" \
    -o "$tmp/enc.gguf" >/dev/null
KEY=$("$KEN_BIN" key create --scope read)

serve_start --model "$tmp/chat.gguf" --embed-model "$tmp/enc.gguf"
URL="$URL/v1"

# chat: the same words both ways
# (qwen2's byte-level vocabulary: a random model emits bytes that are not UTF-8)
for prompt in "What is 2 + 2?"; do
    "$KEN_BIN" llm chat --model "$tmp/chat.gguf" --threads 1 --max-tokens 40 --system "Be brief." \
        "$prompt" >"$tmp/local.txt" || fail "local chat"
    KEN_API_KEY="$KEY" "$KEN_BIN" llm chat --backend "$URL" --max-tokens 40 --system "Be brief." \
        "$prompt" >"$tmp/http.txt" 2>"$tmp/err" || { cat "$tmp/err" >&2; fail "http chat"; }
    [ -s "$tmp/local.txt" ] && [ "$(wc -c <"$tmp/local.txt")" -gt 5 ] || fail "empty local reply"
    cmp -s "$tmp/local.txt" "$tmp/http.txt" ||
        fail "replies differ for '$prompt': local '$(cat "$tmp/local.txt")' http '$(cat "$tmp/http.txt")'"
done
# --json names the backend and the model
KEN_API_KEY="$KEY" "$KEN_BIN" llm chat --backend "$URL" --max-tokens 8 --json hi >"$tmp/j"
grep -q '"backend":"http"' "$tmp/j" || fail "json: $(cat "$tmp/j")"
grep -q '"model":"chat.gguf"' "$tmp/j" || fail "json model: $(cat "$tmp/j")"

# embeddings: within 1e-5
"$KEN_BIN" llm embed --model "$tmp/enc.gguf" --threads 1 "honeybees dance" "a waggle dance" >"$tmp/el"
KEN_API_KEY="$KEY" "$KEN_BIN" llm embed --backend "$URL" --backend-model enc.gguf \
    "honeybees dance" "a waggle dance" >"$tmp/eh"
[ "$(wc -l <"$tmp/el")" -eq 2 ] || fail "local embeddings: $(wc -l <"$tmp/el") lines"
paste -d'\n' "$tmp/el" "$tmp/eh" | awk '
    NR % 2 == 1 { n = split($0, a, " ") }
    NR % 2 == 0 { m = split($0, b, " "); if (m != n || n < 8) { print "dims " n " vs " m; bad = 1 }
                  for (i = 1; i <= n; i++) { d = a[i] - b[i]; if (d < 0) d = -d; if (d > 1e-5) { print "component " i ": " a[i] " vs " b[i]; bad = 1 } } }
    END { exit bad }' || fail "embeddings differ"

# a wrong key: the server's 401, the key never shown
BAD="ken_0123456789ab_wrongwrongwrongwrong"
set +e
KEN_API_KEY="$BAD" "$KEN_BIN" llm chat --backend "$URL" --backend-model x hi >"$tmp/o" 2>"$tmp/e"
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "a wrong key was accepted"
grep -q "401" "$tmp/e" || fail "no 401 in: $(cat "$tmp/e")"
if grep -q "wrongwrong" "$tmp/e" "$tmp/o"; then fail "the key was printed"; fi

# nothing listens there
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
set +e
"$KEN_BIN" llm chat --backend "$URL" --backend-model x --retries -1 hi >/dev/null 2>"$tmp/e"
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "exit $rc when nothing listens"
grep -q "cannot connect to $URL" "$tmp/e" || fail "message: $(cat "$tmp/e")"

# a phi-3 template (not ChatML): the same reply through ken serve
"$KEN_BIN" model random --arch llama --vocab "$KEN_FIXTURES/tokenizer/ggml-vocab-phi-3.gguf" \
    --seed 5 -o "$tmp/phi.gguf" >/dev/null
"$KEN_BIN" model info "$tmp/phi.gguf" | grep -q "chat template *yes" || fail "phi-3 model has no template"
serve_start --no-auth --model "$tmp/phi.gguf"
URL="$URL/v1"
"$KEN_BIN" llm chat --model "$tmp/phi.gguf" --threads 1 --max-tokens 24 --system "Be brief." \
    "Name a bird." >"$tmp/local.txt" || fail "local phi chat"
"$KEN_BIN" llm chat --backend "$URL" --max-tokens 24 --system "Be brief." "Name a bird." \
    >"$tmp/http.txt" 2>"$tmp/err" || { cat "$tmp/err" >&2; fail "http phi chat"; }
[ "$(wc -c <"$tmp/local.txt")" -gt 5 ] || fail "empty phi reply"
cmp -s "$tmp/local.txt" "$tmp/http.txt" ||
    fail "phi-3 replies differ: local '$(cat "$tmp/local.txt")' http '$(cat "$tmp/http.txt")'"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
echo "ok"
