/* mm.c: the model's entry points into nn's matrix products and thread
 * pool, so the forward passes name one function for "W·x" (activation
 * quantization as llama.cpp, split across the context's threads) and one
 * for "run this on every thread". */
#include "model/model_int.h"

ken_status ken_model_matmul(ken_model_ctx *c, const ken_nn_mat *w, const float *x, int64_t n,
                            float *y) {
    return ken_nn_matmul(c->pool, w, x, n, y, &c->work);
}

void ken_model_parallel(ken_model_ctx *c, int64_t n_chunks, void (*fn)(void *, int64_t, int),
                        void *ctx) {
    ken_pool_run(c->pool, n_chunks, fn, ctx);
}
