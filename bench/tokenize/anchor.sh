#!/usr/bin/env bash
# bench/tokenize/anchor.sh: ken's tokenizers beside llama.cpp's in one run.
#
#   bench/tokenize/anchor.sh [bench|diff|all] [VOCAB.gguf ...]   (default: all)
#
# Builds llama.cpp outside the repository exactly as bench/speed/anchor.sh
# does (same work dir, $KEN_ANCHOR_DIR, default /tmp/ken-anchor; commit
# 80fb11a, the fixtures' oracle), then compiles bench/tokenize/llama_tok.c
# (ours: llama.cpp's public C API, llama_tokenize with add_special = false and
# parse_special = false, as ken-bench-tokenize calls ken_tokenize) against its
# libllama. Never run in CI.
#
# bench: writes ken-bench-tokenize's three corpora to files (english 5 MiB,
#   english-256k, code 5 MiB) and, per vocabulary and corpus, runs ken and
#   llama.cpp on the same file alternately ($ROUNDS rounds, default 3, which
#   engine goes first alternating; each invocation reports the median CPU
#   time of $RUNS tokenizations, default 3). Prints MB/s (CPU) per engine as
#   the median over rounds and the ratio ken / llama.cpp. Vocabulary loading
#   is not timed on either side.
# diff: writes $N random hostile strings (bench/tokenize/cases.py, default
#   3000, seed $SEED) and compares every id ken produces with llama.cpp's, per
#   vocabulary. Exit status 1 if any vocabulary differs.
#
# Vocabularies: the arguments, else every ggml-vocab-*.gguf in
# ../shared/fixtures/tokenizer and in llama.cpp's own models/ directory.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=${KEN_ANCHOR_DIR:-/tmp/ken-anchor}
ken_build=${KEN_BUILD:-$repo/build-rel}
fixtures=${KEN_FIXTURES:-$repo/../shared/fixtures}
rounds=${ROUNDS:-3}
runs=${RUNS:-3}
n_cases=${N:-3000}
seed=${SEED:-1}
mode=${1:-all}
[ $# -gt 0 ] && shift

KEN_ANCHOR_DIR=$work "$repo/bench/speed/anchor.sh" build
[ -f "$ken_build/CMakeCache.txt" ] || cmake -S "$repo" -B "$ken_build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$ken_build" -j2 --target ken-bench-tokenize >/dev/null
kb=$ken_build/bench/ken-bench-tokenize
lt=$work/llama_tok
cc -O2 -std=c11 -Wall -Wextra -Werror -I"$work/llama.cpp/include" -I"$work/llama.cpp/ggml/include" \
   "$repo/bench/tokenize/llama_tok.c" -o "$lt" -L"$work/build/bin" -lllama -Wl,-rpath,"$work/build/bin"

vocabs=("$@")
if [ ${#vocabs[@]} -eq 0 ]; then
  declare -A seen=()
  for f in "$fixtures"/tokenizer/ggml-vocab-*.gguf "$work"/llama.cpp/models/ggml-vocab-*.gguf; do
    [ -f "$f" ] || continue
    b=$(basename "$f")
    [ -n "${seen[$b]:-}" ] && continue
    seen[$b]=1
    vocabs+=("$f")
  done
fi
out=$work/tok-runs/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
echo "tokenize anchor: llama.cpp $(git -C "$work/llama.cpp" rev-parse --short HEAD), ken $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD || echo '+dirty'), $(date -u '+%F %T') UTC, load $(cut -d' ' -f1-3 /proc/loadavg), output $out"

name() { local b; b=$(basename "$1" .gguf); echo "${b#ggml-vocab-}"; }
# The MB/s(cpu) field of a result line, or "-" when the engine refused it.
rate() { sed -n 's/.*MB\/s(cpu)=\([0-9.]*\).*/\1/p' "$1" | head -1; }

bench() {
  "$kb" --write "$out"
  printf '%-20s %-13s %10s %10s %8s\n' vocab corpus "ken MB/s" "llama MB/s" ratio
  for v in "${vocabs[@]}"; do
    for c in english english-256k code; do
      : >"$out/k.txt"; : >"$out/l.txt"
      for ((r = 0; r < rounds; r++)); do
        if [ $((r % 2)) -eq 0 ]; then
          "$lt" bench "$v" "$out/$c.txt" "$runs" >"$out/one" 2>>"$out/llama.err" || true; rate "$out/one" >>"$out/l.txt"
          "$kb" --runs "$runs" --text "$out/$c.txt" "$v" >"$out/one" 2>>"$out/ken.err" || true; rate "$out/one" >>"$out/k.txt"
        else
          "$kb" --runs "$runs" --text "$out/$c.txt" "$v" >"$out/one" 2>>"$out/ken.err" || true; rate "$out/one" >>"$out/k.txt"
          "$lt" bench "$v" "$out/$c.txt" "$runs" >"$out/one" 2>>"$out/llama.err" || true; rate "$out/one" >>"$out/l.txt"
        fi
      done
      python3 - "$(name "$v")" "$c" "$out/k.txt" "$out/l.txt" <<'EOF' | tee -a "$out/bench.txt"
import statistics, sys
def med(p):
    xs = [float(x) for x in open(p).read().split()]
    return statistics.median(xs) if xs else None
k, l = med(sys.argv[3]), med(sys.argv[4])
f = lambda x: "-" if x is None else "%.2f" % x
ratio = "%.2f" % (k / l) if k and l else "-"
print("%-20s %-13s %10s %10s %8s" % (sys.argv[1], sys.argv[2], f(k), f(l), ratio))
EOF
    done
  done
}

diff_ids() {
  python3 "$repo/bench/tokenize/cases.py" "$out/cases.inp" --n "$n_cases" --seed "$seed"
  for v in "${vocabs[@]}"; do
    local n
    "$lt" cases "$v" "$out/cases.inp" 2>>"$out/llama.err" | sed 's/^ *//' >"$out/$(name "$v").llama" || true
    "$kb" --cases "$out/cases.inp" "$v" 2>>"$out/ken.err" >"$out/$(name "$v").ken" || true
    if [ ! -s "$out/$(name "$v").ken" ]; then
      printf '%-20s ken refuses it: %s\n' "$(name "$v")" "$(tail -1 "$out/ken.err")"; continue
    fi
    n=$(diff "$out/$(name "$v").llama" "$out/$(name "$v").ken" | grep -c '^<' || true)
    printf '%-20s %d strings, %d differ\n' "$(name "$v")" "$n_cases" "$n"
  done | tee "$out/diff.txt"
  # any vocabulary refused or with a differing string fails the diff
  ! grep -qv ' 0 differ$' "$out/diff.txt"
}

case "$mode" in
  bench) bench ;;
  diff) diff_ids ;;
  all) diff_ids || st=1; bench; exit "${st:-0}" ;;
  *) echo "usage: bench/tokenize/anchor.sh [bench|diff|all] [VOCAB.gguf ...]" >&2; exit 2 ;;
esac
