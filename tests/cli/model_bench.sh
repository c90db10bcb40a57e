#!/usr/bin/env bash
# model_bench.sh: `ken model bench` end to end on tiny fixture models: the
# table and the JSON object (fields, medians within min..max, sizes), the
# encoder's embedding throughput, skipping tests with -p 0 / -n 0, and exit
# codes for usage errors and bad input.
set -euo pipefail
KEN=${KEN_BIN:?KEN_BIN not set}
FX=${KEN_FIXTURES:?KEN_FIXTURES not set}
[[ -d $FX/models ]] || { echo "FAIL: fixtures missing at $FX" >&2; exit 1; }
M=$FX/models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# decoder, table: one pp and one tg row
out=$("$KEN" model bench --model "$M/stories260K.gguf" -p 16 -n 8 -r 3)
grep -q ' pp16 ' <<<"$out" || fail "no pp16 row: $out"
grep -q ' tg8 ' <<<"$out" || fail "no tg8 row: $out"

# decoder, JSON: fields and consistency
"$KEN" model bench --model "$M/tiny-llama-q-Q8_0.gguf" -p 32 -n 8 -r 3 -t 2 --json >"$tmp/d.json"
python3 - "$tmp/d.json" "$M/tiny-llama-q-Q8_0.gguf" <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1]))
for k in ("pp_tps", "pp_tps_min", "pp_tps_max", "tg_tps", "tg_tps_min", "tg_tps_max",
          "pp_cpu_share", "tg_cpu_share", "threads", "model_bytes", "kv_bytes",
          "peak_rss_bytes"):
    assert k in d, ("missing", k)
assert d["threads"] == 2 and d["reps"] == 3 and d["n_prompt"] == 32 and d["n_gen"] == 8, d
assert d["model_bytes"] == os.path.getsize(sys.argv[2]), d["model_bytes"]
assert d["encoder"] is False
for t in ("pp", "tg"):
    lo, med, hi = d[t + "_tps_min"], d[t + "_tps"], d[t + "_tps_max"]
    assert 0 < lo <= med <= hi, (t, lo, med, hi)
assert d["kv_bytes"] > 0 and d["peak_rss_bytes"] > d["model_bytes"]
assert 0 < d["pp_cpu_share"] <= 1.5 and 0 < d["tg_cpu_share"] <= 1.5, d
PY

# -p 0: generation only (pp figures are zero)
"$KEN" model bench --model "$M/stories260K.gguf" -p 0 -n 4 -r 1 --json >"$tmp/g.json"
python3 -c "
import json,sys; d=json.load(open(sys.argv[1]))
assert d['pp_tps'] == 0 and d['tg_tps'] > 0, d" "$tmp/g.json"

# encoder: embedding throughput at a batch and sequence length
"$KEN" model bench --model "$M/tiny-bge-mean-f32.gguf" --embd-seq 16 --embd-batch 4 -r 3 --json \
    >"$tmp/e.json"
python3 - "$tmp/e.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["encoder"] is True and d["embd_seq"] == 16 and d["embd_batch"] == 4, d
assert 0 < d["embd_tps_min"] <= d["embd_tps"] <= d["embd_tps_max"], d
assert "pp_tps" not in d
PY
out=$("$KEN" model bench --model "$M/tiny-bge-cls-f32.gguf" --embd-seq 8 --embd-batch 2 -r 1)
grep -q ' embd2x8 ' <<<"$out" || fail "no embd row: $out"

# errors: usage (1) and bad input (2)
rc=0; "$KEN" model bench 2>/dev/null || rc=$?
[[ $rc == 1 ]] || fail "no --model: exit $rc"
rc=0; "$KEN" model bench --model "$M/stories260K.gguf" -r 0 2>/dev/null || rc=$?
[[ $rc == 1 ]] || fail "-r 0: exit $rc"
rc=0; "$KEN" model bench --model "$M/stories260K.gguf" -t x 2>/dev/null || rc=$?
[[ $rc == 1 ]] || fail "-t x: exit $rc"
rc=0; "$KEN" model bench --model "$tmp/missing.gguf" 2>/dev/null || rc=$?
[[ $rc == 2 ]] || fail "missing file: exit $rc"
rc=0; "$KEN" model bench --model "$M/stories260K.gguf" -p 0 -n 0 2>/dev/null || rc=$?
[[ $rc == 2 ]] || fail "nothing to measure: exit $rc"
rc=0; "$KEN" model bench --model "$M/tiny-bge-mean-f32.gguf" --embd-seq 100000 2>/dev/null || rc=$?
[[ $rc == 2 ]] || fail "sequence over the context: exit $rc"
echo ok
