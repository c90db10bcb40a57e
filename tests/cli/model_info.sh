#!/usr/bin/env bash
# model_info.sh: `ken model info` end to end on the fixture models: text and
# JSON fields, usage errors (exit 1), missing and truncated files (exit 2 with
# a "ken: ..." message on stderr).
set -euo pipefail

: "${KEN_BIN:?KEN_BIN must point at the ken binary}"
: "${KEN_FIXTURES:?KEN_FIXTURES must point at the fixtures}"
M="$KEN_FIXTURES/models"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
has() { grep -qF -- "$2" <<<"$1" || fail "expected '$2' in output of $3:"$'\n'"$1"; }

# --- text
out=$("$KEN_BIN" model info "$M/stories260K.gguf")
for want in "architecture      llama" "layers            5" "embedding length  64" \
            "context length    2,048" "vocabulary        llama, 512 tokens" "bos 1 '<s>'" \
            "chat template     no" "GGUF v3, alignment 32, 19 kvs, 48 tensors" \
            "parameters        292,800"; do
    has "$out" "$want" "model info stories260K"
done

# --- JSON: one document with stable field names
json=$("$KEN_BIN" model info --json "$M/tiny-llama-q-Q4_K_M.gguf")
for want in '"architecture": "llama"' '"block_count": 2' '"file_type_name": "MOSTLY_Q4_K_M"' \
            '"gguf_version": 3' '"alignment": 32' '"tensor_count": 21' '"size": 512' \
            '"chat_template": false' '"type": "Q6_K"'; do
    has "$json" "$want" "model info --json Q4_K_M"
done
if command -v python3 >/dev/null; then
    python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["head_count_kv"] == 2, d' \
        <<<"$json" || fail "JSON does not parse or head_count_kv wrong"
fi
json=$("$KEN_BIN" model info "$M/tiny-bge-cls-f32.gguf" --json)
has "$json" '"text": "[CLS]"' "model info --json bge"

# --- help and usage
"$KEN_BIN" model info --help | grep -q "usage: ken model info" || fail "--help"
set +e
"$KEN_BIN" model info >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || fail "no FILE: exit $rc, want 1"
grep -q "^ken: " "$tmp/err" || fail "no FILE: no 'ken:' message"
"$KEN_BIN" model info --bogus "$M/stories260K.gguf" >/dev/null 2>&1; rc=$?
[ $rc -eq 1 ] || fail "unknown option: exit $rc, want 1"

# --- bad input: missing file, truncated file, not GGUF
"$KEN_BIN" model info "$tmp/none.gguf" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] || fail "missing file: exit $rc, want 2"
grep -q "^ken: .*none.gguf" "$tmp/err" || fail "missing file: message: $(cat "$tmp/err")"
head -c 6000 "$M/stories260K.gguf" >"$tmp/trunc.gguf"
"$KEN_BIN" model info "$tmp/trunc.gguf" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] || fail "truncated file: exit $rc, want 2"
grep -q "^ken: .*truncated" "$tmp/err" || fail "truncated: message: $(cat "$tmp/err")"
[ ! -s "$tmp/out" ] || fail "truncated file: something on stdout"
echo "hello" >"$tmp/text.gguf"
"$KEN_BIN" model info --json "$tmp/text.gguf" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] || fail "not GGUF: exit $rc, want 2"
grep -q "not a GGUF file" "$tmp/err" || fail "not GGUF: message: $(cat "$tmp/err")"
set -e
echo "model_info.sh: ok"
