#!/usr/bin/env bash
# bench/speed/anchor.sh: llama.cpp beside ken in one run (issue 6's anchor).
#
#   bench/speed/anchor.sh [build|bench]          (default: bench = build + bench)
#
# build: fetches the npm package node-llama-cpp@3.21.1 with `npm pack` into a
#   work dir OUTSIDE the repository ($KEN_ANCHOR_DIR, default /tmp/ken-anchor),
#   clones llama.cpp from the git bundle it carries (llama/gitRelease.bundle,
#   commit 80fb11a, the fixtures' oracle) and builds its CPU backend there
#   (CMake Release, GGML_NATIVE=ON, no OpenSSL/curl, targets llama-bench and
#   libllama only). Every step is cached: delete the work dir to start over.
#   No llama.cpp code enters the repository; never run in CI.
# bench: builds ken (release, $KEN_BUILD, default <repo>/build-rel: targets
#   ken and ken-bench-membw), then runs llama-bench and `ken model bench` on
#   the same files, alternating A B A B ... ($ROUNDS rounds, default 5, one
#   invocation of each engine per round), at 1 and 2 threads ($THREADS):
#   pp512 + tg128 for the decoders, embeddings of one 128-token sequence
#   (8 repetitions per invocation, median) for the encoders; then
#   ken-bench-membw for the tg roofline of both engines. Prints one table
#   (anchor_table.py: median over the rounds, min-max, ken / llama.cpp, each
#   engine's CPU share, the load average at the start of the row's runs).
#   Raw output: $KEN_ANCHOR_DIR/runs/<stamp>/.
#
# Environment: KEN_ANCHOR_DIR, KEN_BUILD, KEN_SPEED_MODELS (default
# /tmp/speed-models, see bench/speed/README.md), ROUNDS, THREADS ("1 2"),
# DECODERS / ENCODERS (file names in KEN_SPEED_MODELS; empty = none), JOBS
# (build -j, default 2).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=${KEN_ANCHOR_DIR:-/tmp/ken-anchor}
models=${KEN_SPEED_MODELS:-/tmp/speed-models}
ken_build=${KEN_BUILD:-$repo/build-rel}
rounds=${ROUNDS:-5}
threads=${THREADS:-1 2}
decoders=${DECODERS-qwen2-0.5b-q8_0.gguf qwen2-0.5b-q4_k_m.gguf}
encoders=${ENCODERS-bge-small-f16.gguf bge-small-q8_0.gguf}
jobs=${JOBS:-2}
pkg=node-llama-cpp@3.21.1
llama_commit=80fb11ac73e66d89eae2c6a91d8a77428fa733ed

case "$work" in "$repo"|"$repo"/*) echo "anchor.sh: the work dir must be outside the repository" >&2; exit 2;; esac

build_llama() {
  mkdir -p "$work"
  cd "$work"
  [ -f node-llama-cpp-3.21.1.tgz ] || npm pack --silent "$pkg" >/dev/null
  [ -f package/llama/gitRelease.bundle ] || tar -xzf node-llama-cpp-3.21.1.tgz package/llama
  [ -d llama.cpp/.git ] || git clone -q package/llama/gitRelease.bundle llama.cpp
  local head
  head=$(git -C llama.cpp rev-parse HEAD)
  [ "$head" = "$llama_commit" ] || echo "anchor.sh: warning: llama.cpp at $head, expected $llama_commit" >&2
  [ -f build/CMakeCache.txt ] || cmake -S llama.cpp -B build -DCMAKE_BUILD_TYPE=Release \
      -DGGML_NATIVE=ON -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
      -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF >"$work/cmake.log"
  cmake --build build -j"$jobs" --target llama-bench llama >"$work/build.log"
  cd - >/dev/null
}

build_ken() {
  [ -f "$ken_build/CMakeCache.txt" ] || cmake -S "$repo" -B "$ken_build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$ken_build" -j"$jobs" --target ken ken-bench-membw >/dev/null
}

loadavg() { cut -d' ' -f1 /proc/loadavg; }

# One round of both engines on one model and thread count (globals f, t,
# lb, kb for the two helpers); raw JSON lines go to $out/<engine>.jsonl,
# tagged with the file name and the load average at the start.
run_pair() {
  f=$1 t=$2 kind=$3 round=$4
  lb=(-m "$models/$f" -t "$t" -o jsonl)
  kb=(model bench --model "$models/$f" -t "$t" --json)
  if [ "$kind" = dec ]; then lb+=(-p 512 -n 128 -r 1); kb+=(-p 512 -n 128 -r 1)
  else lb+=(-p 128 -n 0 -embd 1 -r 8); kb+=(--embd-seq 128 --embd-batch 1 -r 8); fi
  # which engine goes first alternates with the round (A B, B A, ...)
  if [ $((round % 2)) -eq 0 ]; then run_llama; run_ken; else run_ken; run_llama; fi
}
run_llama() { run_one llama "$work/build/bin/llama-bench" "${lb[@]}"; }
run_ken() { run_one ken "$ken_build/ken" "${kb[@]}"; }
# run_one ENGINE PROGRAM ARGS...: its JSON lines, tagged with the file name,
# the load average at the start and the process's CPU share over the whole
# invocation ((user + sys) / (wall x threads), loading and warm-up included).
run_one() {
  local eng=$1 la; shift
  la=$(loadavg)
  /usr/bin/time -f "%e %U %S" -o "$out/time.txt" "$@" >"$out/last.jsonl" 2>>"$out/$eng.err"
  local share
  share=$(awk -v t="$t" '{ printf "%.3f", ($1 > 0) ? ($2 + $3) / ($1 * t) : 0 }' "$out/time.txt")
  sed "s|^{|{\"anchor_model\":\"$f\",\"anchor_load\":$la,\"anchor_cpu\":$share,|" \
      "$out/last.jsonl" >>"$out/$eng.jsonl"
}

bench() {
  build_ken
  out=$work/runs/$(date -u +%Y%m%dT%H%M%SZ)
  mkdir -p "$out"
  echo "anchor: llama.cpp $(git -C "$work/llama.cpp" rev-parse --short HEAD), ken $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD || echo '+dirty'), $(date -u '+%F %T') UTC, load $(cut -d' ' -f1-3 /proc/loadavg), raw output $out" | tee "$out/header.txt"
  for t in $threads; do
    for f in $decoders; do for ((r = 0; r < rounds; r++)); do run_pair "$f" "$t" dec "$r"; done; done
    for f in $encoders; do for ((r = 0; r < rounds; r++)); do run_pair "$f" "$t" enc "$r"; done; done
  done
  local tmax=1
  for t in $threads; do [ "$t" -gt "$tmax" ] && tmax=$t; done
  for f in $decoders; do
    echo "== $f" >>"$out/membw.txt"
    "$ken_build/bench/ken-bench-membw" --mib 512 --reps 9 -t "$tmax" --model "$models/$f" \
        -n 128 --tg-reps 3 >>"$out/membw.txt"
  done
  echo "end $(date -u '+%F %T') UTC, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/header.txt"
  python3 "$repo/bench/speed/anchor_table.py" "$out"
}

case "${1:-bench}" in
  build) build_llama ;;
  bench) build_llama; bench ;;
  *) echo "usage: bench/speed/anchor.sh [build|bench]" >&2; exit 2 ;;
esac
