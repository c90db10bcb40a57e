/* conf_nn_quant.c: ken's reference quantizers against llama-quantize.
 *
 * tiny-llama-q-<TYPE>.gguf are llama.cpp's quantizations (no importance
 * matrix) of tiny-llama-q-f32.gguf. For every tensor of every file we
 * quantize the F32 original with ken_nn_quantize_row to the type the
 * quantized file uses for it and require the same bytes; we also
 * dequantize llama.cpp's bytes and require them close to the original
 * (relative RMS error per type, the budget below). */
#include "test.h"

#include "gguf/gguf.h"
#include "nn/nn.h"

#include <math.h>

static const char *const files[] = {
    "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_M", "Q4_K_S", "Q4_K_M", "Q5_K_M", "Q6_K",
};

/* Relative RMS error (‖dequant − f32‖ / ‖f32‖) allowed per tensor type. */
static double budget(ken_dtype t) {
    switch (t) {   /* measured worst case on these files plus ~15% */
    case KEN_DT_Q8_0: return 0.0065;
    case KEN_DT_Q6_K: return 0.021;
    case KEN_DT_Q5_K: return 0.042;
    case KEN_DT_Q5_1: return 0.044;
    case KEN_DT_Q5_0: return 0.05;
    case KEN_DT_Q4_K: return 0.083;
    case KEN_DT_Q4_1: return 0.091;
    case KEN_DT_Q4_0: return 0.1;
    case KEN_DT_Q3_K: return 0.175;
    case KEN_DT_Q2_K: return 0.34;
    default: return 0;
    }
}

typedef struct {
    int tensors, identical;
    double worst_rms;
    double max_abs_diff;   /* largest |ours − llama.cpp| after dequantizing, if any differ */
} type_stats;

static type_stats stats[KEN_DT_COUNT];

static void check_tensor(const ken_gguf_tensor *q, const ken_gguf_tensor *f, const char *file) {
    const ken_dtype t = q->type;
    const int64_t n_row = (int64_t)q->ne[0], rows = (int64_t)(q->n_elems / q->ne[0]);
    const size_t rb = ken_nn_row_bytes(t, n_row);
    CHECKF(rb && rb * (size_t)rows == q->n_bytes, "%s %.*s: row size", file, (int)q->name.n, q->name.p);
    if (!rb || rb * (size_t)rows != q->n_bytes) return;
    uint8_t *mine = malloc(rb);
    float *back = malloc((size_t)n_row * 4), *back2 = malloc((size_t)n_row * 4);
    const float *src = f->data;
    const uint8_t *theirs = q->data;
    int same = 1;
    double se = 0, sx = 0, maxd = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *x = src + r * n_row;
        const uint8_t *qt = theirs + (size_t)r * rb;
        ken_nn_quantize_row(t, x, mine, n_row);
        if (memcmp(mine, qt, rb) != 0) {
            same = 0;
            ken_nn_dequantize_row(t, mine, back2, n_row);
        }
        ken_nn_dequantize_row(t, qt, back, n_row);
        for (int64_t i = 0; i < n_row; i++) {
            se += ((double)back[i] - x[i]) * ((double)back[i] - x[i]);
            sx += (double)x[i] * x[i];
            if (memcmp(mine, qt, rb) != 0 && fabs((double)back2[i] - back[i]) > maxd)
                maxd = fabs((double)back2[i] - back[i]);
        }
    }
    const double rms = sqrt(se / sx);
    type_stats *s = &stats[t];
    s->tensors++;
    s->identical += same;
    if (rms > s->worst_rms) s->worst_rms = rms;
    if (maxd > s->max_abs_diff) s->max_abs_diff = maxd;
    CHECKF(same, "%s %.*s (%s): our quantization differs from llama-quantize (max dequant diff %g)",
           file, (int)q->name.n, q->name.p, ken_dtype_name(t), maxd);
    CHECKF(rms <= budget(t), "%s %.*s (%s): relative rms error %g > %g", file, (int)q->name.n,
           q->name.p, ken_dtype_name(t), rms, budget(t));
    free(mine);
    free(back);
    free(back2);
}

static void test_quantize_vs_llama(void) {
    const char *dir = test_fixtures();
    char path[4096];
    ken_err err;
    ken_gguf *f32 = NULL;
    snprintf(path, sizeof path, "%s/models/tiny-llama-q-f32.gguf", dir);
    REQUIRE(ken_gguf_open(path, &f32, &err) == KEN_OK);
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        ken_gguf *q = NULL;
        snprintf(path, sizeof path, "%s/models/tiny-llama-q-%s.gguf", dir, files[k]);
        CHECKF(ken_gguf_open(path, &q, &err) == KEN_OK, "%s: %s", path, err.msg);
        if (!q) continue;
        int n_quant = 0;
        for (uint64_t i = 0; i < ken_gguf_n_tensors(q); i++) {
            const ken_gguf_tensor *tq = ken_gguf_tensor_at(q, i);
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)tq->name.n, tq->name.p);
            const ken_gguf_tensor *tf = ken_gguf_tensor_find(f32, name);
            CHECKF(tf && tf->type == KEN_DT_F32 && tf->n_elems == tq->n_elems, "%s: %s", files[k], name);
            if (!tf || tf->type != KEN_DT_F32 || tf->n_elems != tq->n_elems) continue;
            if (tq->type == KEN_DT_F32) {   /* norms stay F32: a plain copy */
                CHECK(memcmp(tq->data, tf->data, tf->n_bytes) == 0);
                continue;
            }
            CHECKF(ken_nn_can_quantize(tq->type), "%s: %s has type %s", files[k], name,
                   ken_dtype_name(tq->type));
            if (!ken_nn_can_quantize(tq->type)) continue;
            check_tensor(tq, tf, files[k]);
            n_quant++;
        }
        CHECKF(n_quant == 16, "%s: %d quantized tensors, expected 16", files[k], n_quant);
        ken_gguf_close(q);
    }
    ken_gguf_close(f32);
    fprintf(stderr, "type   tensors  byte-identical  worst rel. rms  max dequant diff\n");
    for (int t = 0; t < KEN_DT_COUNT; t++) {
        if (!stats[t].tensors) continue;
        fprintf(stderr, "%-6s %7d  %14d  %14.5f  %g\n", ken_dtype_name((ken_dtype)t),
                stats[t].tensors, stats[t].identical, stats[t].worst_rms, stats[t].max_abs_diff);
    }
}

TEST_MAIN(test_quantize_vs_llama)
