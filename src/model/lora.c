/* lora.c: LoRA adapters in llama.cpp's adapter GGUF format
 * (general.type = adapter, adapter.type = lora, adapter.lora.alpha,
 * blk.N.T.weight.lora_a [n_in, r] and .lora_b [r, n_out]). The adapter's
 * tensors stay mmap'd; the base weights are never touched: forward.c adds
 * scale·alpha/r · B(A x) to each target's product. */
#include "model/model.h"

#include <stdlib.h>
#include <string.h>

static const char *const target_names[KEN_LORA_NTARGETS] = {
    "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down",
};

static const ken_model_lin *base_lin(const ken_model_layer *y, int t) {
    switch (t) {
    case KEN_LORA_Q: return &y->q;
    case KEN_LORA_K: return &y->k;
    case KEN_LORA_V: return &y->v;
    case KEN_LORA_O: return &y->o;
    case KEN_LORA_GATE: return &y->gate;
    case KEN_LORA_UP: return &y->up;
    default: return &y->down;
    }
}

/* One 2-D F32/F16/... tensor as a matrix with n_in = ne0; NULL data when
 * absent. */
static ken_status lora_mat(const ken_gguf *g, const char *name, ken_nn_mat *out, ken_err *err) {
    memset(out, 0, sizeof *out);
    const ken_gguf_tensor *t = ken_gguf_tensor_find(g, name);
    if (!t) return KEN_OK;
    if (t->n_dims != 2 || t->ne[0] == 0 || t->ne[1] == 0 || t->ne[0] > (1u << 20) ||
        t->ne[1] > (1u << 20))
        return ken_err_set(err, KEN_ERR_UNSUPPORTED, "adapter tensor %s is not a 2-D matrix", name);
    if (!ken_nn_type_ok(t->type) ||
        (uint64_t)ken_nn_row_bytes(t->type, (int64_t)t->ne[0]) * t->ne[1] != t->n_bytes)
        return ken_err_set(err, KEN_ERR_UNSUPPORTED, "adapter tensor %s has unsupported type %s",
                           name, ken_dtype_name(t->type));
    out->type = t->type;
    out->n_in = (int64_t)t->ne[0];
    out->n_out = (int64_t)t->ne[1];
    out->data = t->data;
    return KEN_OK;
}

static ken_status load_pair(const ken_model *m, ken_lora *l, int64_t il, int t, ken_err *err) {
    char na[96], nb[96];
    snprintf(na, sizeof na, "blk.%lld.%s.weight.lora_a", (long long)il, target_names[t]);
    snprintf(nb, sizeof nb, "blk.%lld.%s.weight.lora_b", (long long)il, target_names[t]);
    ken_lora_pair *p = &l->pairs[il * KEN_LORA_NTARGETS + t];
    ken_status st;
    if ((st = lora_mat(l->g, na, &p->a, err)) || (st = lora_mat(l->g, nb, &p->b, err))) return st;
    if (!p->a.data && !p->b.data) return KEN_OK;
    if (!p->a.data || !p->b.data)
        return ken_err_set(err, KEN_ERR_FORMAT, "adapter has %s without its pair",
                           p->a.data ? na : nb);
    const ken_model_lin *w = base_lin(&m->layers[il], t);
    if (!w->w.data)
        return ken_err_set(err, KEN_ERR_UNSUPPORTED, "adapter targets %s, which the model lacks", na);
    /* A: n_in = base n_in, n_out = r; B: n_in = r, n_out = base n_out. */
    if (p->a.n_in != w->w.n_in || p->b.n_out != w->w.n_out || p->a.n_out != p->b.n_in)
        return ken_err_set(err, KEN_ERR_INVALID,
                           "adapter %s / %s shapes [%lld,%lld] / [%lld,%lld] do not fit the "
                           "model's [%lld,%lld]", na, nb, (long long)p->a.n_in,
                           (long long)p->a.n_out, (long long)p->b.n_in, (long long)p->b.n_out,
                           (long long)w->w.n_in, (long long)w->w.n_out);
    l->n_pairs++;
    return KEN_OK;
}

/* Whether tensor name nm (ending in .lora_a or .lora_b) belongs to a pair
 * that was loaded: blk.N.T.weight.lora_x with N a layer and T a target. */
static bool lora_used(const ken_lora *l, ken_gguf_str nm) {
    char b[KEN_GGUF_MAX_NAME + 1];
    if (nm.n >= sizeof b) return false;
    memcpy(b, nm.p, nm.n);
    b[nm.n] = '\0';
    if (strncmp(b, "blk.", 4) != 0) return false;
    char *e;
    long il = strtol(b + 4, &e, 10);
    if (e == b + 4 || *e != '.' || il < 0 || il >= l->n_layer) return false;
    for (int t = 0; t < KEN_LORA_NTARGETS; t++) {
        size_t tl = strlen(target_names[t]);
        if (!strncmp(e + 1, target_names[t], tl) && !strncmp(e + 1 + tl, ".weight.lora_", 13) &&
            strlen(e + 1 + tl) == 14)
            return l->pairs[il * KEN_LORA_NTARGETS + t].a.data != NULL;
    }
    return false;
}

static ken_status check_header(const ken_model *m, const ken_gguf *g, float *alpha, ken_err *err) {
    ken_gguf_str s;
    if (!ken_gguf_get_str(g, "general.type", &s) || !ken_gguf_str_eq(s, "adapter"))
        return ken_err_set(err, KEN_ERR_FORMAT, "not an adapter (general.type != adapter)");
    if (!ken_gguf_get_str(g, "adapter.type", &s) || !ken_gguf_str_eq(s, "lora"))
        return ken_err_set(err, KEN_ERR_UNSUPPORTED, "adapter type is not lora");
    if (ken_gguf_get_str(g, "general.architecture", &s) &&
        !ken_gguf_str_eq(s, ken_model_arch_name(m->arch)))
        return ken_err_set(err, KEN_ERR_INVALID, "adapter is for '%.*s', the model is %s",
                           (int)KEN_MIN(s.n, 32), s.p, ken_model_arch_name(m->arch));
    *alpha = 0.0f;
    if (ken_gguf_find(g, "adapter.lora.alpha") && !ken_gguf_get_f32(g, "adapter.lora.alpha", alpha))
        return ken_err_set(err, KEN_ERR_FORMAT, "adapter.lora.alpha is not a number");
    return KEN_OK;
}

ken_status ken_lora_load(const ken_model *m, const char *path, ken_lora **out, ken_err *err) {
    *out = NULL;
    ken_lora *l = calloc(1, sizeof *l);
    if (!l) return ken_err_set(err, KEN_ERR_NOMEM, "out of memory");
    ken_status st = ken_gguf_open(path, &l->g, err);
    if (!st) st = check_header(m, l->g, &l->alpha, err);
    if (!st) {
        l->n_layer = (int)m->n_layer;
        l->pairs = calloc((size_t)m->n_layer * KEN_LORA_NTARGETS, sizeof *l->pairs);
        if (!l->pairs) st = ken_err_set(err, KEN_ERR_NOMEM, "out of memory");
    }
    for (int64_t il = 0; !st && il < m->n_layer; il++)
        for (int t = 0; !st && t < KEN_LORA_NTARGETS; t++) st = load_pair(m, l, il, t, err);
    if (!st && l->n_pairs == 0)
        st = ken_err_set(err, KEN_ERR_FORMAT, "adapter has no lora_a/lora_b tensors for this model");
    /* Every lora tensor must be one of the pairs applied: an adapter of a
     * weight ken does not adapt (output, token_embd, ...) is refused, not
     * silently dropped. */
    for (uint64_t i = 0, n = st ? 0 : ken_gguf_n_tensors(l->g); i < n && !st; i++) {
        ken_gguf_str nm = ken_gguf_tensor_at(l->g, i)->name;
        bool lora = (nm.n > 7 && (!memcmp(nm.p + nm.n - 7, ".lora_a", 7) ||
                                  !memcmp(nm.p + nm.n - 7, ".lora_b", 7)));
        if (lora && !lora_used(l, nm))
            st = ken_err_set(err, KEN_ERR_UNSUPPORTED, "adapter tensor %.*s adapts a weight ken "
                             "does not apply adapters to (only blk.N.{attn_q,attn_k,attn_v,"
                             "attn_output,ffn_gate,ffn_up,ffn_down}.weight)",
                             (int)KEN_MIN(nm.n, 64), nm.p);
    }
    if (st) {
        ken_lora_free(l);
        return st;
    }
    *out = l;
    return KEN_OK;
}

void ken_lora_free(ken_lora *l) {
    if (!l) return;
    ken_gguf_close(l->g);
    free(l->pairs);
    free(l);
}
