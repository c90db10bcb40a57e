#!/usr/bin/env python3
"""anchor_table.py RUN_DIR: the table of bench/speed/anchor.sh.

Reads RUN_DIR/llama.jsonl (llama-bench -o jsonl lines), RUN_DIR/ken.jsonl
(`ken model bench --json` objects), both tagged by anchor.sh with the model
file name and the load average at the start of the invocation, and
RUN_DIR/membw.txt (ken-bench-membw). Prints, per model, test and thread
count: each engine's median over the rounds (min-max), ken / llama.cpp (ratio
of the medians), each engine's median CPU share (whole invocation: process
CPU time / (wall x threads)) and the load-average range of the row; then
the tg roofline of both engines."""
import json
import os
import re
import statistics
import sys


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip().startswith("{")]


def fmt(v):
    return f"{v:,.0f}" if v >= 1000 else f"{v:.1f}"


def stat(vals):
    return statistics.median(vals), min(vals), max(vals)


def main(run):
    llama = load(os.path.join(run, "llama.jsonl"))
    ken = load(os.path.join(run, "ken.jsonl"))
    rows = {}  # (model, test, threads) -> values per round, CPU shares, load averages

    def row(key):
        return rows.setdefault(key, {"llama": [], "ken": [], "lcpu": [], "kcpu": [], "load": []})

    for r in llama:
        if r.get("embeddings"):
            test = f"embd 1x{r['n_prompt']}"
        elif r["n_gen"] == 0:
            test = f"pp{r['n_prompt']}"
        else:
            test = f"tg{r['n_gen']}"
        x = row((r["anchor_model"], test, r["n_threads"]))
        # one invocation = one value: the median of its repetitions
        x["llama"].append(statistics.median(r["samples_ts"]))
        x["lcpu"].append(r["anchor_cpu"])
        x["load"].append(r["anchor_load"])
    for r in ken:
        tests = ([(f"embd 1x{r['embd_seq']}", "embd")] if r["encoder"] else
                 [(f"pp{r['n_prompt']}", "pp"), (f"tg{r['n_gen']}", "tg")])
        for test, k in tests:
            x = row((r["anchor_model"], test, r["threads"]))
            x["ken"].append(r[f"{k}_tps"])
            x["kcpu"].append(r["anchor_cpu"])
            x["load"].append(r["anchor_load"])

    print("| model | test | threads | llama.cpp t/s median (min-max) | ken t/s median (min-max) "
          "| ken / llama.cpp | cpu share llama.cpp / ken | rounds | load avg |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    med = {}
    for key in sorted(rows, key=lambda k: (k[0], k[2], k[1])):
        x = rows[key]
        if not x["llama"] or not x["ken"]:
            print(f"| {key[0]} | {key[1]} | {key[2]} | missing runs: llama {len(x['llama'])}, "
                  f"ken {len(x['ken'])} | | | | | |")
            continue
        lm, ln, lx = stat(x["llama"])
        km, kn, kx = stat(x["ken"])
        med[key] = (lm, km)
        print(f"| {key[0]} | {key[1]} | {key[2]} | {fmt(lm)} ({fmt(ln)}-{fmt(lx)}) "
              f"| {fmt(km)} ({fmt(kn)}-{fmt(kx)}) | **{km / lm:.2f}** "
              f"| {statistics.median(x['lcpu']):.2f} / {statistics.median(x['kcpu']):.2f} "
              f"| {min(len(x['llama']), len(x['ken']))} "
              f"| {min(x['load']):.1f}-{max(x['load']):.1f} |")

    path = os.path.join(run, "membw.txt")
    if not os.path.exists(path):
        return
    print()
    print("| model | threads | bytes/token | best GB/s | bound t/s | ken tg (membw run) | frac "
          "| ken tg128 (table) | frac | llama.cpp tg128 (table) | frac |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    model = None
    for line in open(path):
        if line.startswith("== "):
            model = line[3:].strip()
            continue
        if not line.startswith("roofline "):
            continue
        kv = dict(re.findall(r"(\w+)=([0-9.]+)", line))
        t, bound = int(kv["threads"]), float(kv["bound_tps"])
        lm, km = med.get((model, "tg128", t), (float("nan"), float("nan")))
        print(f"| {model} | {t} | {int(kv['bytes_per_token']):,} | {float(kv['gbps']):.1f} "
              f"| {bound:.1f} | {float(kv['tg_tps']):.1f} | {float(kv['frac']):.2f} "
              f"| {km:.1f} | {km / bound:.2f} | {lm:.1f} | {lm / bound:.2f} |")
    print()
    for line in open(path):
        if line.startswith(("== ", "membw ")):
            print("    " + line.rstrip())


if __name__ == "__main__":
    main(sys.argv[1])
