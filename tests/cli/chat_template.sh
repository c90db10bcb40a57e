#!/usr/bin/env bash
# chat_template.sh: `ken model chat-template` end to end: the template stored
# in a GGUF (tiny-qwen2), every fixture template (--template) for every
# conversation byte for byte against Hugging Face's reference renderings,
# with the BOS/EOS texts of the llama-bpe vocabulary; messages from stdin;
# a template that raises is an error (exit 2) with its message; built-in
# formats (--format) and the fallback with a warning when a model has no
# template or its template cannot be parsed; usage errors (exit 1) and bad
# input (exit 2).
set -euo pipefail

: "${KEN_BIN:?KEN_BIN must point at the ken binary}"
: "${KEN_FIXTURES:?KEN_FIXTURES must point at the fixtures}"
T="$KEN_FIXTURES/templates"
VOCAB="$KEN_FIXTURES/tokenizer/ggml-vocab-llama-bpe.gguf"
QWEN="$KEN_FIXTURES/models/tiny-qwen2-f32.gguf"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ct() { "$KEN_BIN" model chat-template "$@"; }

# --- the template inside the GGUF, messages from stdin (output compared in
#     bytes: $(...) would drop the trailing newline)
printf '%s' '[{"role":"user","content":"Hello!"},{"role":"assistant","content":"Hi!"},{"role":"user","content":"Bye é"}]' \
    > "$tmp/m.json"
printf '<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\nHi!<|im_end|>\n<|im_start|>user\nBye é<|im_end|>\n<|im_start|>assistant\n' \
    > "$tmp/want"
ct --model "$QWEN" --add-generation-prompt - < "$tmp/m.json" > "$tmp/got"
cmp "$tmp/got" "$tmp/want" || fail "tiny-qwen2's own template"
head -c -22 "$tmp/want" > "$tmp/want_nogen"   # without '<|im_start|>assistant\n'
ct --model "$QWEN" --messages "$tmp/m.json" > "$tmp/got"
cmp "$tmp/got" "$tmp/want_nogen" || fail "without --add-generation-prompt"

# --- every fixture template x conversation (python3's json only splits the files)
python3 - "$T/conversations.json" "$tmp" <<'EOF'
import json, sys
for name, msgs in json.load(open(sys.argv[1])).items():
    json.dump(msgs, open(f"{sys.argv[2]}/{name}.json", "w"), ensure_ascii=False)
EOF
n=0
for dir in "$T"/*/; do
    name=$(basename "$dir")
    for conv in sys_user multi_turn rag_cited; do
        if [[ -f "$dir/$conv.txt" ]]; then
            ct --model "$VOCAB" --template "$dir/template.jinja" --messages "$tmp/$conv.json" \
               --add-generation-prompt > "$tmp/got" || fail "$name/$conv: exit $?"
            cmp "$tmp/got" "$dir/$conv.txt" || fail "$name/$conv differs from the reference"
            n=$((n + 1))
        fi
    done
done
[[ $n -ge 28 ]] || fail "only $n renderings compared"

# --- a template that raises: exit 2 with the template's own message, no output
set +e
ct --model "$VOCAB" --template "$T/google-gemma-2-2b-it/template.jinja" --messages "$tmp/sys_user.json" \
   --add-generation-prompt > "$tmp/got" 2> "$tmp/err"
rc=$?
set -e
[[ $rc -eq 2 ]] || fail "raising template: exit $rc, want 2"
grep -q "System role not supported" "$tmp/err" || fail "raising template: message: $(cat "$tmp/err")"
[[ ! -s "$tmp/got" ]] || fail "raising template printed a prompt"

# --- built-in formats and fallbacks
ct --model "$VOCAB" --messages "$tmp/m.json" --add-generation-prompt --format llama3 > "$tmp/got"
printf '<|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nBye é<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n' \
    > "$tmp/want"
cmp "$tmp/got" "$tmp/want" || fail "--format llama3"
ct --model "$VOCAB" --messages "$tmp/m.json" --add-generation-prompt > "$tmp/got" 2> "$tmp/err"
grep -q "no chat template" "$tmp/err" || fail "no template: no warning"
head -c 12 "$tmp/got" | grep -q '<|im_start|>' || fail "no template: not chatml"
printf '%s' '{{ "<|start_header_id|>" }}{% for m in messages %}{{ m.content | frobnicate }}{% endfor %}' > "$tmp/bad.jinja"
ct --model "$VOCAB" --template "$tmp/bad.jinja" --messages "$tmp/m.json" > "$tmp/got" 2> "$tmp/err"
grep -q "warning:.*frobnicate.*llama3" "$tmp/err" || fail "unsupported filter: warning: $(cat "$tmp/err")"
grep -q "Bye é<|eot_id|>" "$tmp/got" || fail "fallback to llama3"
printf '%s' '{% if %}' > "$tmp/syntax.jinja"
ct --model "$VOCAB" --template "$tmp/syntax.jinja" --messages "$tmp/m.json" > /dev/null 2> "$tmp/err"
grep -q "warning:.*line 1, column" "$tmp/err" || fail "syntax error: warning: $(cat "$tmp/err")"
ct --model "$VOCAB" --template "$T/Qwen-Qwen3-0.6B/template.jinja" --messages "$tmp/m.json" \
   --add-generation-prompt --vars '{"enable_thinking": false}' > "$tmp/got"
tail -c 21 "$tmp/got" | grep -q '<think>' || fail "--vars enable_thinking=false"

# --- usage and input errors
expect() {
    local want=$1; shift
    set +e; "$@" > /dev/null 2> "$tmp/err"; local rc=$?; set -e
    [[ $rc -eq $want ]] || fail "$*: exit $rc, want $want ($(cat "$tmp/err"))"
}
expect 1 ct --messages "$tmp/m.json"
expect 1 ct --model "$VOCAB"
expect 1 ct --model "$VOCAB" --messages "$tmp/m.json" --bogus
expect 0 ct --help
expect 2 ct --model "$tmp/missing.gguf" --messages "$tmp/m.json"
expect 2 ct --model "$VOCAB" --messages "$tmp/missing.json"
printf '[{"role": "user", "content": "x"' > "$tmp/trunc.json"
expect 2 ct --model "$VOCAB" --messages "$tmp/trunc.json"
printf '{"role": "user"}' > "$tmp/obj.json"
expect 2 ct --model "$VOCAB" --messages "$tmp/obj.json"
expect 2 ct --model "$VOCAB" --messages "$tmp/m.json" --format nosuch
expect 2 ct --model "$VOCAB" --messages "$tmp/m.json" --vars '[1]'
head -c 3000 /dev/urandom > "$tmp/noise.gguf"
expect 2 ct --model "$tmp/noise.gguf" --messages "$tmp/m.json"
echo "chat_template.sh: ok ($n reference renderings)"
