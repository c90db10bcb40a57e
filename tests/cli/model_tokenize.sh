#!/usr/bin/env bash
# model_tokenize.sh: `ken model tokenize` end to end: ids as llama.cpp gives
# them for SentencePiece, byte-level BPE and WordPiece vocabs, add/no-add
# special, parse-special, stdin byte for byte (including invalid UTF-8),
# the per-token and JSON outputs, usage errors (exit 1) and missing or
# broken models (exit 2 with a "ken: ..." message).
set -euo pipefail

: "${KEN_BIN:?KEN_BIN must point at the ken binary}"
: "${KEN_FIXTURES:?KEN_FIXTURES must point at the fixtures}"
T="$KEN_FIXTURES/tokenizer"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
same() { [[ "$1" == "$2" ]] || fail "$3: got '$1', want '$2'"; }
tok() { "$KEN_BIN" model tokenize "$@"; }

# --- ids (values from llama.cpp: fixtures/expected/tokenizer/*.json)
same "$(tok --ids --model "$T/ggml-vocab-llama-spm.gguf" 'Hello world')" "1 15043 3186" "spm"
same "$(tok --ids --no-add-special --model "$T/ggml-vocab-llama-spm.gguf" 'Hello world')" \
     "15043 3186" "spm --no-add-special"
same "$(tok --ids --model "$T/ggml-vocab-llama-bpe.gguf" 'Hello world')" "128000 9906 1917" \
     "llama-bpe adds BOS without the GGUF key"
same "$(tok --ids --model "$T/ggml-vocab-qwen2.gguf" 'Hello world')" "9707 1879" "qwen2 adds nothing"
same "$(tok --ids --model "$T/ggml-vocab-bert-bge.gguf" 'Hello world')" "101 7592 2088 102" \
     "bert [CLS] ... [SEP]"
same "$(tok --ids --model "$T/ggml-vocab-llama-spm.gguf" '')" "1" "empty text: BOS only"
same "$(tok --ids --no-add-special --model "$T/ggml-vocab-llama-spm.gguf" '')" "" "empty text"

# --- special-token text: plain text unless --parse-special
special='<s>[INST] hi [/INST]</s>'
same "$(tok --ids --parse-special --model "$T/ggml-vocab-llama-spm.gguf" "$special")" \
     "1 1 518 25580 29962 7251 518 29914 25580 29962 2" "--parse-special"
plain=$(tok --ids --model "$T/ggml-vocab-llama-spm.gguf" "$special")
[[ "$plain" != *" 2" ]] || fail "without --parse-special '</s>' must not become EOS: $plain"

# --- stdin, byte for byte: a trailing newline and invalid UTF-8 are kept
same "$(printf 'Hello world' | tok --ids --model "$T/ggml-vocab-llama-spm.gguf" -)" \
     "1 15043 3186" "stdin"
same "$(printf 'Hello world\n' | tok --ids --no-add-special --model "$T/ggml-vocab-llama-spm.gguf" -)" \
     "15043 3186 13" "stdin keeps the newline"
printf 'a\xffb' >"$tmp/bad.txt"
out=$(tok --ids --no-add-special --model "$T/ggml-vocab-gpt-2.gguf" - <"$tmp/bad.txt")
same "$out" "64 4210 65" "invalid UTF-8 becomes U+FFFD as in llama.cpp"

# --- llama.cpp test vectors through stdin: the empty and white-space-only ones,
#     newlines, and the long mixed last one (all 46 are covered by conf_tok_vectors)
if command -v python3 >/dev/null; then
    python3 - "$KEN_BIN" "$T/ggml-vocab-llama-spm.gguf" <<'EOF' || fail "llama-spm vectors via the CLI"
import subprocess, sys
ken, vocab = sys.argv[1], sys.argv[2]
inp = open(vocab + ".inp", "rb").read().split(b"\n__ggml_vocab_test__\n")[:-1]
out = open(vocab + ".out").read().split("\n")
for i, text in enumerate(inp):
    if i not in (2, 3, 4, 5, 6, 7, 8, 9, 10, 29, len(inp) - 1):
        continue
    got = subprocess.run([ken, "model", "tokenize", "--ids", "--no-add-special", "--model",
                          vocab, "-"], input=text, capture_output=True, check=True).stdout
    if got.decode().split() != out[i].split():
        sys.exit(f"case {i}: {got!r} != {out[i]!r}")
EOF
fi

# --- per-token lines and JSON
lines=$(tok --model "$T/ggml-vocab-llama-bpe.gguf" $'a\n"b')
same "$(sed -n 3p <<<"$lines")" $'198\t"\\n"' "escaped newline piece"
same "$(sed -n 4p <<<"$lines")" $'1\t"\\""' "escaped quote piece"
json=$(tok --json --model "$T/ggml-vocab-bert-bge.gguf" 'Hello')
[[ "$json" == *'"n_tokens": 3'* && "$json" == *'"piece": "[CLS]"'* ]] || fail "json: $json"
if command -v python3 >/dev/null; then
    python3 -c 'import json,sys; d=json.load(sys.stdin); assert [t["id"] for t in d["tokens"]] == [101, 7592, 102], d' \
        <<<"$json" || fail "JSON does not parse or has the wrong ids"
fi

# --- help, usage errors (1), bad input (2)
tok --help | grep -q "usage: ken model tokenize" || fail "--help"
set +e
tok 'x' 2>"$tmp/err"; rc=$?
[[ $rc -eq 1 ]] || fail "missing --model: exit $rc"
tok --model "$T/ggml-vocab-llama-spm.gguf" 2>"$tmp/err"; rc=$?
[[ $rc -eq 1 ]] || fail "missing TEXT: exit $rc"
tok --bogus --model "$T/ggml-vocab-llama-spm.gguf" x 2>"$tmp/err"; rc=$?
[[ $rc -eq 1 ]] || fail "unknown option: exit $rc"
tok --model "$tmp/nope.gguf" x 2>"$tmp/err"; rc=$?
[[ $rc -eq 2 ]] || fail "missing model: exit $rc"
grep -q "^ken: " "$tmp/err" || fail "missing model: message '$(cat "$tmp/err")'"
head -c 100 "$T/ggml-vocab-llama-spm.gguf" >"$tmp/trunc.gguf"
tok --model "$tmp/trunc.gguf" x 2>"$tmp/err"; rc=$?
[[ $rc -eq 2 ]] || fail "truncated model: exit $rc"
printf 'not a gguf' >"$tmp/junk.gguf"
tok --model "$tmp/junk.gguf" x 2>"$tmp/err"; rc=$?
[[ $rc -eq 2 ]] || fail "junk model: exit $rc"
set -e
echo "ok"
