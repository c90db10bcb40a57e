#!/usr/bin/env bash
# compare.sh: ken's HNSW against hnswlib on the same data, in one run.
#   bench/ann/compare.sh BUILD_DIR WORK_DIR [ROUNDS] [THREADS]
# Generates the data once (WORK_DIR/data), builds each index once and saves it
# (WORK_DIR/ken.idx, WORK_DIR/hnswlib.idx; delete them to rebuild), then runs
# the query passes of the two programs alternately ROUNDS times (default 5) and
# prints, per ef, each engine's median recall and queries/s and the median of
# the per-round ratios ken/hnswlib. One JSON line per program run is kept in
# WORK_DIR/runs.jsonl.
set -euo pipefail
build=${1:?build dir}; work=${2:?work dir}; rounds=${3:-5}; threads=${4:-2}
ken=$build/bench/ken-bench-ann
peer=$build/bench/ken-bench-ann-hnswlib
mkdir -p "$work"
d=$work/data
[ -f "$d/truth.ivecs" ] || "$ken" --gen "$d" --n 100000 --dim 384 --nq 1000 --threads "$threads"
common=(--base "$d/base.fvecs" --queries "$d/queries.fvecs" --truth "$d/truth.ivecs"
        --k 10 --M 16 --ef-construction 200 --threads "$threads" --json)
runs=$work/runs.jsonl
: > "$runs"
# The builds (each once, saved; their JSON lines carry the build times).
[ -f "$work/ken.idx" ] || "$ken" "${common[@]}" --ef 32 --save "$work/ken.idx" >> "$runs"
[ -f "$work/hnswlib.idx" ] || "$peer" "${common[@]}" --ef 32 --save "$work/hnswlib.idx" >> "$runs"
efs=16,24,32,48,64,128,256
for ((r = 0; r < rounds; r++)); do
  "$ken" "${common[@]}" --ef $efs --repeat 3 --load "$work/ken.idx" >> "$runs"
  "$peer" "${common[@]}" --ef $efs --repeat 3 --load "$work/hnswlib.idx" >> "$runs"
done
python3 - "$runs" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for r in rows:
    if r["build_s"] is not None:
        print(f'{r["engine"]}: build {r["build_s"]:.1f} s wall, {r["build_cpu_s"]:.1f} s cpu, '
              f'{r["rss_growth_bytes"] / 2**20:.0f} MiB rss growth')
q = [r for r in rows if r["build_s"] is None]
ken = [r for r in q if r["engine"] == "ken-hnsw"]
hl = [r for r in q if r["engine"] == "hnswlib"]
print("ef  | ken recall qps(cpu) qps(wall) | hnswlib recall qps(cpu) qps(wall) | ratio cpu (median of rounds)")
for i, res in enumerate(ken[0]["results"]):
    ef = res["ef"]
    med = lambda rs, key: statistics.median(r["results"][i][key] for r in rs)
    ratios = [a["results"][i]["qps"] / b["results"][i]["qps"] for a, b in zip(ken, hl)]
    print(f'{ef:<4}| {med(ken, "recall"):.4f} {med(ken, "qps"):8.0f} {med(ken, "qps_wall"):8.0f} | '
          f'{med(hl, "recall"):.4f} {med(hl, "qps"):8.0f} {med(hl, "qps_wall"):8.0f} | '
          f'{statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})')
EOF
