/* quantize.c: `ken model quantize`: rewrites a GGUF model with its weight
 * matrices in another type, choosing per-tensor types by llama-quantize's
 * mixing rules (no importance matrix): the output tensor gets Q6_K, the _M
 * mixes give attn_v / ffn_down more bits in the layers llama.cpp picks,
 * etc. Rows are dequantized to F32 and re-quantized with nn's reference
 * quantizers, which are byte-identical to ggml's. Norms, biases, position
 * and token-type embeddings are copied unchanged. */
#include "ken_infer.h"
#include "model/model.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    const char *name;
    ken_dtype base;
    uint32_t ftype;      /* llama_ftype */
} qtype;

static const qtype qtypes[] = {
    {"F32", KEN_DT_F32, 0},      {"F16", KEN_DT_F16, 1},      {"BF16", KEN_DT_BF16, 32},
    {"Q4_0", KEN_DT_Q4_0, 2},    {"Q4_1", KEN_DT_Q4_1, 3},    {"Q8_0", KEN_DT_Q8_0, 7},
    {"Q5_0", KEN_DT_Q5_0, 8},    {"Q5_1", KEN_DT_Q5_1, 9},    {"Q2_K", KEN_DT_Q2_K, 10},
    {"Q3_K_S", KEN_DT_Q3_K, 11}, {"Q3_K_M", KEN_DT_Q3_K, 12}, {"Q3_K_L", KEN_DT_Q3_K, 13},
    {"Q4_K_S", KEN_DT_Q4_K, 14}, {"Q4_K_M", KEN_DT_Q4_K, 15}, {"Q5_K_S", KEN_DT_Q5_K, 16},
    {"Q5_K_M", KEN_DT_Q5_K, 17}, {"Q6_K", KEN_DT_Q6_K, 18},
};

typedef struct {
    const qtype *q;
    int64_t n_layer, n_gqa;
    bool has_output;
} qstate;

static bool is(const qstate *s, const char *name) { return strcmp(s->q->name, name) == 0; }

static bool use_more_bits(int64_t i, int64_t n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static bool has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Layer index of "blk.N...." (-1 otherwise). */
static int64_t layer_of(const char *name) {
    if (strncmp(name, "blk.", 4)) return -1;
    return strtoll(name + 4, NULL, 10);
}

/* llama-quantize's llama_tensor_get_type for the supported types. */
static ken_dtype pick_type(const qstate *s, const char *name, int64_t ne0) {
    ken_dtype t = s->q->base;
    const int64_t il = layer_of(name), nl = s->n_layer;
    if (!strcmp(name, "output.weight") || (!s->has_output && !strcmp(name, "token_embd.weight"))) {
        if (ne0 % 256) t = KEN_DT_Q8_0;
        else if (t != KEN_DT_Q8_0 && t != KEN_DT_F32 && t != KEN_DT_F16 && t != KEN_DT_BF16)
            t = KEN_DT_Q6_K;
    } else if (strstr(name, "attn_v.weight")) {
        if (is(s, "Q2_K")) t = s->n_gqa >= 4 ? KEN_DT_Q4_K : KEN_DT_Q3_K;
        else if (is(s, "Q3_K_M")) t = il < 2 ? KEN_DT_Q5_K : KEN_DT_Q4_K;
        else if (is(s, "Q3_K_L")) t = KEN_DT_Q5_K;
        else if ((is(s, "Q4_K_M") || is(s, "Q5_K_M")) && use_more_bits(il, nl)) t = KEN_DT_Q6_K;
        else if (is(s, "Q4_K_S") && il < 4) t = KEN_DT_Q5_K;
    } else if (strstr(name, "ffn_down")) {
        if (is(s, "Q2_K")) t = KEN_DT_Q3_K;
        else if (is(s, "Q3_K_M")) t = il < nl / 16 ? KEN_DT_Q5_K : KEN_DT_Q4_K;
        else if (is(s, "Q3_K_L")) t = KEN_DT_Q5_K;
        else if (is(s, "Q4_K_M") && use_more_bits(il, nl)) t = KEN_DT_Q6_K;
        else if (is(s, "Q5_K_M") && use_more_bits(il, nl)) t = KEN_DT_Q6_K;
        else if (is(s, "Q4_K_S") && il < nl / 8) t = KEN_DT_Q5_K;
    } else if (strstr(name, "attn_output.weight")) {
        if (is(s, "Q2_K")) t = KEN_DT_Q3_K;
        else if (is(s, "Q3_K_M")) t = KEN_DT_Q4_K;
        else if (is(s, "Q3_K_L")) t = KEN_DT_Q5_K;
    }
    /* rows that do not fill whole blocks: llama.cpp's fallbacks (IQ4_NL,
     * which ken cannot write, becomes Q5_0) */
    if (ne0 % ken_nn_block(t)) {
        switch (t) {
        case KEN_DT_Q2_K: case KEN_DT_Q3_K: t = KEN_DT_Q5_0; break;
        case KEN_DT_Q4_K: t = KEN_DT_Q5_0; break;
        case KEN_DT_Q5_K: t = KEN_DT_Q5_1; break;
        case KEN_DT_Q6_K: t = KEN_DT_Q8_0; break;
        default: break;
        }
        if (ne0 % ken_nn_block(t)) t = KEN_DT_F16;
    }
    return t;
}

static bool quantizable(const ken_gguf_tensor *t, const char *name) {
    if (t->n_dims < 2 || !has_suffix(name, "weight")) return false;
    if (strstr(name, "_norm.weight") || !strcmp(name, "position_embd.weight") ||
        !strcmp(name, "token_types.weight") || !strcmp(name, "rope_freqs.weight") ||
        strstr(name, "ffn_gate_inp"))
        return false;
    return true;
}

/* Converts tensor t to type nt into a malloc'd buffer. */
static ken_status convert(const ken_gguf_tensor *t, ken_dtype nt, void **out, size_t *bytes,
                          ken_err *err, const char *name) {
    const int64_t ne0 = (int64_t)t->ne[0], rows = (int64_t)(t->n_elems / t->ne[0]);
    const size_t ib = ken_nn_row_bytes(t->type, ne0), ob = ken_nn_row_bytes(nt, ne0);
    if (!ken_nn_type_ok(t->type) || ib == 0 || ob == 0)
        return ken_err_set(err, KEN_ERR_UNSUPPORTED, "tensor %s: cannot convert %s to %s", name,
                           ken_dtype_name(t->type), ken_dtype_name(nt));
    uint8_t *dst = malloc(ob * (size_t)rows);
    float *row = malloc((size_t)ne0 * sizeof *row);
    if (!dst || !row) {
        free(dst);
        free(row);
        return ken_err_set(err, KEN_ERR_NOMEM, "out of memory converting %s", name);
    }
    for (int64_t r = 0; r < rows; r++) {
        ken_nn_dequantize_row(t->type, (const uint8_t *)t->data + (size_t)r * ib, row, ne0);
        ken_nn_quantize_row(nt, row, dst + (size_t)r * ob, ne0);
    }
    free(row);
    *out = dst;
    *bytes = ob * (size_t)rows;
    return KEN_OK;
}

/* llama.cpp's tensor order (weight_name_comparer): tensors outside the
 * layers first, then by layer index, each group by name. */
typedef struct {
    int64_t layer;
    uint64_t idx;
    char name[KEN_GGUF_MAX_NAME + 1];
} tensor_key;

static int tensor_cmp(const void *pa, const void *pb) {
    const tensor_key *a = pa, *b = pb;
    if (a->layer != b->layer) return a->layer < b->layer ? -1 : 1;
    return strcmp(a->name, b->name);
}

static ken_status read_state(const ken_gguf *g, qstate *s, ken_err *err) {
    ken_gguf_str arch;
    if (!ken_gguf_get_str(g, "general.architecture", &arch) || arch.n > 32)
        return ken_err_set(err, KEN_ERR_FORMAT, "missing general.architecture");
    ken_gguf_str ty;
    if (ken_gguf_get_str(g, "general.type", &ty) && ken_gguf_str_eq(ty, "adapter"))
        return ken_err_set(err, KEN_ERR_UNSUPPORTED, "cannot quantize an adapter");
    char key[96];
    uint64_t nl = 0, nh = 1, nkv = 0;
    snprintf(key, sizeof key, "%.*s.block_count", (int)arch.n, arch.p);
    ken_gguf_get_u64(g, key, &nl);
    snprintf(key, sizeof key, "%.*s.attention.head_count", (int)arch.n, arch.p);
    ken_gguf_get_u64(g, key, &nh);
    snprintf(key, sizeof key, "%.*s.attention.head_count_kv", (int)arch.n, arch.p);
    if (!ken_gguf_get_u64(g, key, &nkv) || nkv == 0) nkv = nh;
    s->n_layer = (int64_t)KEN_MIN(nl, 1u << 20);
    s->n_gqa = (int64_t)(nh / nkv);
    s->has_output = ken_gguf_tensor_find(g, "output.weight") != NULL;
    return KEN_OK;
}

static ken_status quantize(const ken_gguf *g, const qtype *q, const char *out, ken_err *err) {
    qstate s = {.q = q};
    ken_status st = read_state(g, &s, err);
    if (st) return st;
    ken_gguf_writer *w = ken_gguf_writer_new(ken_gguf_alignment(g));
    uint64_t nt = ken_gguf_n_tensors(g);
    void **bufs = calloc(nt ? nt : 1, sizeof *bufs);
    if (!w || !bufs) {
        st = ken_err_set(err, KEN_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (uint64_t i = 0; !st && i < ken_gguf_n_kv(g); i++) {
        const ken_gguf_kv *kv = ken_gguf_kv_at(g, i);
        if (ken_gguf_str_eq(kv->key, "general.file_type") ||
            ken_gguf_str_eq(kv->key, "general.quantization_version"))
            continue;
        if (ken_gguf_set_kv(w, kv)) st = ken_err_set(err, KEN_ERR_FORMAT, "%s", ken_gguf_writer_errmsg(w));
    }
    if (!st && (ken_gguf_set_u32(w, "general.quantization_version", 2) ||
                ken_gguf_set_u32(w, "general.file_type", q->ftype)))
        st = ken_err_set(err, KEN_ERR_INTERNAL, "%s", ken_gguf_writer_errmsg(w));
    tensor_key *order = NULL;
    if (!st && !(order = malloc((nt ? nt : 1) * sizeof *order)))
        st = ken_err_set(err, KEN_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; !st && i < nt; i++) {
        const ken_gguf_tensor *t = ken_gguf_tensor_at(g, i);
        snprintf(order[i].name, sizeof order[i].name, "%.*s",
                 (int)KEN_MIN(t->name.n, KEN_GGUF_MAX_NAME), t->name.p);
        order[i].layer = layer_of(order[i].name);
        order[i].idx = i;
    }
    if (!st) qsort(order, nt, sizeof *order, tensor_cmp);
    for (uint64_t k = 0; !st && k < nt; k++) {
        const uint64_t i = order[k].idx;
        const ken_gguf_tensor *t = ken_gguf_tensor_at(g, i);
        const char *name = order[k].name;
        ken_dtype ty = quantizable(t, name) ? pick_type(&s, name, (int64_t)t->ne[0]) : t->type;
        if (ty == t->type) {
            if (ken_gguf_copy_tensor(w, t))
                st = ken_err_set(err, KEN_ERR_FORMAT, "%s", ken_gguf_writer_errmsg(w));
            continue;
        }
        size_t bytes = 0;
        if ((st = convert(t, ty, &bufs[i], &bytes, err, name))) break;
        if (ken_gguf_add_tensor_ref(w, name, ty, t->n_dims, t->ne, bufs[i], bytes))
            st = ken_err_set(err, KEN_ERR_FORMAT, "%s", ken_gguf_writer_errmsg(w));
    }
    if (!st) st = ken_gguf_write(w, out, err);
    free(order);
out:
    for (uint64_t i = 0; bufs && i < nt; i++) free(bufs[i]);
    free(bufs);
    ken_gguf_writer_free(w);
    return st;
}

ken_status ken_model_quantize(const char *in, const char *out, const char *type, char **errmsg) {
    if (errmsg) *errmsg = NULL;
    ken_err err = {{0}};
    const qtype *q = NULL;
    /* llama-quantize's aliases: the plain K types are their _M mixes */
    static const char *const alias[][2] = {{"Q3_K", "Q3_K_M"}, {"Q4_K", "Q4_K_M"}, {"Q5_K", "Q5_K_M"}};
    for (size_t i = 0; i < KEN_ARRAY_LEN(alias); i++)
        if (!strcasecmp(type, alias[i][0])) type = alias[i][1];
    for (size_t i = 0; i < KEN_ARRAY_LEN(qtypes); i++)
        if (!strcasecmp(type, qtypes[i].name)) q = &qtypes[i];
    ken_status st = KEN_OK;
    if (!q) {
        st = ken_err_set(&err, KEN_ERR_INVALID, "unknown type '%s' (F32 F16 BF16 Q8_0 Q4_0 Q4_1 "
                         "Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K; "
                         "Q3_K Q4_K Q5_K are the _M mixes)",
                         type);
    } else {
        ken_gguf *g = NULL;
        st = ken_gguf_open(in, &g, &err);
        if (!st) st = quantize(g, q, out, &err);
        ken_gguf_close(g);
    }
    if (st && errmsg) *errmsg = ken_strdup(err.msg);
    return st;
}
