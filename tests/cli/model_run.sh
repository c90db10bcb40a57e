#!/usr/bin/env bash
# model_run.sh: `ken model generate | embed | rerank | logits` end to end on
# the llama.cpp fixtures: greedy text, logits files against llama.cpp's,
# embeddings as JSON, exit codes for bad input and usage errors.
set -euo pipefail
KEN=${KEN_BIN:?KEN_BIN not set}
FX=${KEN_FIXTURES:?KEN_FIXTURES not set}
[[ -d $FX/models ]] || { echo "FAIL: fixtures missing at $FX" >&2; exit 1; }
M=$FX/models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# generate: greedy stories260K is llama.cpp's continuation
out=$("$KEN" model generate --model "$M/stories260K.gguf" -p "Once upon a time" -n 16)
[[ $out == ", there was a little girl named Lily. She loved to play"* ]] ||
    fail "generate: '$out'"
# sampling with a seed is reproducible, threads do not change greedy output
a=$("$KEN" model generate --model "$M/stories260K.gguf" -p "Once upon a time" -n 24 --temp 0.9 --seed 5)
b=$("$KEN" model generate --model "$M/stories260K.gguf" -p "Once upon a time" -n 24 --temp 0.9 --seed 5 -t 2)
[[ $a == "$b" ]] || fail "seeded generation differs: '$a' vs '$b'"
out=$("$KEN" model generate --model "$M/stories260K.gguf" -p "Once upon a time" -n 32 --stop Lily)
[[ $out == ", there was a little girl named " ]] || fail "stop string: '$out'"
# a full context stops generation with a message (exit 0: the text is good)
err=$("$KEN" model generate --model "$M/stories260K.gguf" -p "Once upon a time" -n 64 --ctx 16 2>&1 >/dev/null) ||
    fail "generation to a full context failed"
[[ $err == *"context is full"* ]] || fail "no message when the context is full: '$err'"

# logits: --tokens from the fixture json, compared with llama.cpp's rows
check_logits() {  # run prompt model [lora]
    local run=$1 p=$2 model=$3 lora=${4:-}
    local toks
    toks=$(python3 -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['tokens'])))" \
        "$FX/expected/$run/p$p.json")
    local extra=()
    [[ -n $lora ]] && extra=(--lora "$M/$lora" --lora-scale 1.0)
    "$KEN" model logits --model "$M/$model" --tokens "$toks" "${extra[@]}" --out "$tmp/l.f32" 2>/dev/null
    python3 - "$FX/expected/$run/p$p.json" "$FX/expected/$run/p$p.logits.f32" "$tmp/l.f32" <<'PY'
import json, sys, array
meta = json.load(open(sys.argv[1]))
V = meta["n_vocab"]
exp = array.array("f"); exp.frombytes(open(sys.argv[2], "rb").read())
got = array.array("f"); got.frombytes(open(sys.argv[3], "rb").read())
assert len(got) == V * meta["n_tokens"], ("size", len(got))
worst = 0.0
for r, pos in enumerate(meta["logits_positions"]):
    e = exp[r * V:(r + 1) * V]; g = got[pos * V:(pos + 1) * V]
    worst = max(worst, max(abs(x - y) for x, y in zip(e, g)) / max(abs(x) for x in e))
if worst > 1e-3:
    sys.exit("logits rel err %g" % worst)
PY
}
check_logits stories260K 1 stories260K.gguf
check_logits tiny-llama3-lora 0 tiny-llama3-f32.gguf tiny-llama3-lora-r4.gguf
check_logits tiny-llama-q-Q4_K_M 2 tiny-llama-q-Q4_K_M.gguf
# -p tokenizes like the fixtures (BOS added): same file as --tokens
"$KEN" model logits --model "$M/stories260K.gguf" -p "Once upon a time" --out "$tmp/p.f32" 2>/dev/null
toks=$(python3 -c "import json; print(','.join(map(str, json.load(open('$FX/expected/stories260K/p0.json'))['tokens'])))")
"$KEN" model logits --model "$M/stories260K.gguf" --tokens "$toks" --out "$tmp/t.f32" 2>/dev/null
cmp -s "$tmp/p.f32" "$tmp/t.f32" || fail "-p and --tokens disagree"

# embed: JSON with unit vectors of dim 64; plain output one line per text
"$KEN" model embed --model "$M/tiny-bge-cls-f32.gguf" "The cat sits on the mat." "hello" --json > "$tmp/e.json"
python3 - "$tmp/e.json" "$FX/expected/tiny-bge-cls/embed.norm.f32" <<'PY'
import json, sys, array, math
d = json.load(open(sys.argv[1]))
assert d["dim"] == 64 and len(d["embeddings"]) == 2
want = array.array("f"); want.frombytes(open(sys.argv[2], "rb").read())
v = d["embeddings"][0]
cos = sum(a * b for a, b in zip(v, want[:64]))
assert abs(sum(x * x for x in v) - 1) < 1e-5 and cos >= 0.9999, cos
PY
n=$("$KEN" model embed --model "$M/tiny-bge-mean-f32.gguf" a b c | wc -l)
[[ $n == 3 ]] || fail "embed lines: $n"

# errors: not a reranker (2), missing file (2), usage (1), adapter as model (2)
set +e
"$KEN" model rerank --model "$M/tiny-bge-cls-f32.gguf" --query q p 2>/dev/null; rc=$?
[[ $rc == 2 ]] || fail "rerank on a non-reranker: rc $rc"
"$KEN" model generate --model "$tmp/none.gguf" -p x 2>/dev/null; rc=$?
[[ $rc == 2 ]] || fail "missing model: rc $rc"
"$KEN" model generate -p x 2>/dev/null; rc=$?
[[ $rc == 1 ]] || fail "no --model: rc $rc"
"$KEN" model logits --model "$M/stories260K.gguf" --tokens 1,x --out "$tmp/x" 2>/dev/null; rc=$?
[[ $rc == 1 ]] || fail "bad --tokens: rc $rc"
"$KEN" model logits --model "$M/stories260K.gguf" --tokens 1,99999 --out "$tmp/x" 2>/dev/null; rc=$?
[[ $rc == 2 ]] || fail "token out of range: rc $rc"
"$KEN" model generate --model "$M/tiny-llama3-lora-r4.gguf" -p x 2>/dev/null; rc=$?
[[ $rc == 2 ]] || fail "adapter as a model: rc $rc"
"$KEN" model embed --model "$M/stories260K.gguf" --pooling bogus x 2>/dev/null; rc=$?
[[ $rc == 1 ]] || fail "bad pooling: rc $rc"
"$KEN" model quantize "$M/stories260K.gguf" "$tmp/q.gguf" Q7 2>/dev/null; rc=$?
[[ $rc == 1 ]] || fail "unknown quantization type: rc $rc"
set -e
# quantize: byte for byte the file llama-quantize wrote
"$KEN" model quantize "$M/tiny-llama-q-f32.gguf" "$tmp/q.gguf" Q4_K_M 2>/dev/null
cmp -s "$tmp/q.gguf" "$M/tiny-llama-q-Q4_K_M.gguf" ||
    fail "quantize Q4_K_M: the file differs from llama-quantize's"
# random: a qwen3 model with the stories vocabulary loads and generates
"$KEN" model random --arch qwen3 --vocab "$M/stories260K.gguf" --n-embd 32 --seed 1 -o "$tmp/r.gguf" 2>/dev/null
out=$("$KEN" model generate --model "$tmp/r.gguf" -p "Once upon a time" -n 4 --ignore-eos)
[[ -n $out ]] || fail "random model generated nothing"
"$KEN" model generate --help | grep -q "usage: ken model generate" || fail "help"
echo "model_run: ok"
