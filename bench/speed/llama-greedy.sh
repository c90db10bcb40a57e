#!/usr/bin/env bash
# bench/speed/llama-greedy.sh: llama.cpp's 64-token greedy continuation of
# stories260K for the fixtures' three prompts (issue 5), written to
# tests/data/greedy64/stories260K.json (or $1).
#
# Uses the llama.cpp that bench/speed/anchor.sh builds outside the repository
# (`anchor.sh build`: node-llama-cpp@3.21.1's git bundle, commit 80fb11a = the
# fixtures' oracle). Writes a small C program of ours against llama.h into the
# work dir, with the fixture README's settings: CPU, 1 thread, F32 KV cache,
# flash attention off, weight repacking off (use_extra_bufts = false), n_ctx /
# n_batch / n_ubatch 256, prompt tokenized with add_special = true and
# parse_special = false, the whole prompt in one llama_decode, then greedy
# (argmax, ties to the lower id) one token per llama_decode, no stop at EOG.
# Before writing, checks that the prompt tokens and the first 32 tokens equal
# the fixture's (expected/stories260K/pN.json), which shows that this build
# reproduces the fixtures' reference. Never run in CI.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=${KEN_ANCHOR_DIR:-/tmp/ken-anchor}
fx=${KEN_FIXTURES:-$repo/../shared/fixtures}
out=${1:-$repo/tests/data/greedy64/stories260K.json}
n_predict=64
"$repo/bench/speed/anchor.sh" build
mkdir -p "$work/greedy"
cat >"$work/greedy/greedy.c" <<'EOF'
/* greedy.c (written by ken's bench/speed/llama-greedy.sh): greedy
 * continuations with llama.cpp's public API, printed as JSON objects, one
 * per prompt: usage greedy MODEL N_PREDICT PROMPT... */
#include "llama.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void quiet(enum ggml_log_level level, const char *text, void *user) {
    (void)user;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static void jstr(const char *s, int n) {
    putchar('"');
    for (int i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') printf("\\n");
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static void jints(const char *key, const llama_token *v, int n) {
    printf(", \"%s\": [", key);
    for (int i = 0; i < n; i++) printf("%s%d", i ? ", " : "", v[i]);
    putchar(']');
}

static void jdoubles(const char *key, const double *v, int n) {
    printf(", \"%s\": [", key);
    for (int i = 0; i < n; i++) printf("%s%.9g", i ? ", " : "", v[i]);
    putchar(']');
}

static int run(struct llama_model *model, const char *prompt, int n_predict, int index) {
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = cp.n_batch = cp.n_ubatch = 256;
    cp.n_threads = cp.n_threads_batch = 1;
    cp.type_k = cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) return 1;
    llama_token ptok[256], gen[256];
    double maxl[256], margin[256];
    int np = llama_tokenize(vocab, prompt, (int)strlen(prompt), ptok, 256, true, false);
    if (np <= 0 || np + n_predict > 256 || llama_decode(ctx, llama_batch_get_one(ptok, np)))
        return 1;
    for (int k = 0; k < n_predict; k++) {
        const float *l = llama_get_logits_ith(ctx, -1);
        int best = 0, second = -1;
        for (int i = 1; i < n_vocab; i++) {
            if (l[i] > l[best]) second = best, best = i;
            else if (second < 0 || l[i] > l[second]) second = i;
        }
        gen[k] = best;
        maxl[k] = l[best];
        margin[k] = (double)l[best] - (double)l[second];
        if (llama_decode(ctx, llama_batch_get_one(&gen[k], 1))) return 1;
    }
    char text[8192];
    int nt = llama_detokenize(vocab, gen, n_predict, text, sizeof text, false, false);
    if (nt < 0) return 1;
    printf("    {\"index\": %d, \"prompt\": ", index);
    jstr(prompt, (int)strlen(prompt));
    jints("prompt_tokens", ptok, np);
    jints("tokens", gen, n_predict);
    jdoubles("max_logit", maxl, n_predict);
    jdoubles("margin_top1_top2", margin, n_predict);
    printf(", \"text\": ");
    jstr(text, nt);
    printf("}");
    llama_free(ctx);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    mp.use_extra_bufts = false;
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) return 1;
    int n_predict = atoi(argv[2]);
    for (int i = 3; i < argc; i++) {
        if (i > 3) printf(",\n");
        if (run(model, argv[i], n_predict, i - 3)) {
            fprintf(stderr, "greedy: failed on prompt %d\n", i - 3);
            return 1;
        }
    }
    printf("\n");
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
EOF
cc -O2 -std=c11 -Wall -o "$work/greedy/greedy" "$work/greedy/greedy.c" \
   -I"$work/llama.cpp/include" -I"$work/llama.cpp/ggml/include" \
   -L"$work/build/bin" -lllama -lggml -lggml-base -Wl,-rpath,"$work/build/bin"

prompts=()
for i in 0 1 2; do
  prompts+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["prompt"], end="")' \
      "$fx/expected/stories260K/p$i.json")")
done
commit=$(git -C "$work/llama.cpp" rev-parse HEAD)
tmp=$work/greedy/stories260K.json
{
  printf '{"kind": "greedy", "model": "stories260K.gguf", "model_sha256": "%s",\n' \
      "$(sha256sum "$fx/models/stories260K.gguf" | cut -d' ' -f1)"
  printf ' "llama_cpp_commit": "%s", "llama_cpp_source": "npm node-llama-cpp@3.21.1 llama/gitRelease.bundle",\n' "$commit"
  printf ' "command": "bench/speed/llama-greedy.sh (its greedy.c against llama.h, libllama of bench/speed/anchor.sh build)",\n'
  printf ' "settings": {"backend": "CPU", "n_threads": 1, "n_ctx": 256, "n_batch": 256, "n_ubatch": 256, "kv_cache_type": "f32", "flash_attn": false, "weight_repack": false, "add_special": true, "parse_special": false, "prompt_in_one_batch": true, "greedy_one_token_per_decode": true, "ties": "lower id", "stop_at_eog": false, "detokenize": "remove_special=false unparse_special=false"},\n'
  printf ' "n_predict": %d,\n "prompts": [\n' "$n_predict"
  "$work/greedy/greedy" "$fx/models/stories260K.gguf" "$n_predict" "${prompts[@]}"
  printf ' ]}\n'
} >"$tmp"
python3 - "$tmp" "$fx" <<'EOF'
import json, sys
ref = json.load(open(sys.argv[1]))
for p in ref["prompts"]:
    fx = json.load(open(f"{sys.argv[2]}/expected/stories260K/p{p['index']}.json"))
    g = fx["greedy"]
    ok = (p["prompt"] == fx["prompt"] and p["prompt_tokens"] == fx["tokens"]
          and p["tokens"][:32] == g["tokens"] and len(p["tokens"]) == 64)
    print(f"p{p['index']}: prompt tokens and first 32 equal the fixture: {ok}; "
          f"min margin over 64: {min(p['margin_top1_top2']):.3g}; "
          f"max |max_logit diff| over the first 32: "
          f"{max(abs(a - b) for a, b in zip(p['max_logit'], g['max_logit'])):.3g}")
    if not ok:
        sys.exit("llama-greedy.sh: this build does not reproduce the fixture; not written")
EOF
mkdir -p "$(dirname "$out")"
cp "$tmp" "$out"
echo "wrote $out"
