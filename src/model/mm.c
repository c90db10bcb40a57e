/* mm.c: the model's matrix product entry point. It quantizes the activation
 * rows to the type llama.cpp pairs with the weight (nn's quantizer) and takes
 * nn's dot products row by row. Private stand-in for ken_nn_matmul until nn's
 * thread-pooled product lands; the numerics are the same (same quantizer,
 * same kernels). */
#include "model/model_int.h"

#include <stdlib.h>

ken_status ken_model_matmul(ken_model_ctx *c, const ken_nn_mat *w, const float *x, int64_t n,
                            float *y) {
    const ken_dtype act = ken_nn_act_type(w->type);
    const size_t arb = ken_nn_row_bytes(act, w->n_in), wrb = ken_nn_row_bytes(w->type, w->n_in);
    if (arb == 0 || wrb == 0 || n <= 0) return KEN_ERR_INVALID;
    if ((uint64_t)arb * (uint64_t)n > KEN_NN_WORK_MAX) return KEN_ERR_LIMIT;
    size_t need = arb * (size_t)n;
    if (need > c->act_cap) {
        void *p = realloc(c->act, need);
        if (!p) return KEN_ERR_NOMEM;
        c->act = p;
        c->act_cap = need;
    }
    uint8_t *a = c->act;
    for (int64_t t = 0; t < n; t++) ken_nn_quantize_act(act, x + t * w->n_in, a + (size_t)t * arb, w->n_in);
    ken_nn_dot_fn f = ken_nn_dot_best(w->type);
    if (!f) return KEN_ERR_UNSUPPORTED;
    const uint8_t *wd = w->data;
    for (int64_t o = 0; o < w->n_out; o++)
        for (int64_t t = 0; t < n; t++)
            y[t * w->n_out + o] = f(wd + (size_t)o * wrb, a + (size_t)t * arb, w->n_in);
    return KEN_OK;
}
