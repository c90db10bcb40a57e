/* ops.c: the element-wise and row operations of the forward passes, with
 * llama.cpp's rounding: sums of squares and exponentials accumulate in
 * double, scales are computed in float, GELU goes through F16. */
#include "model/model_int.h"

#include <math.h>
#include <pthread.h>

void ken_model_rmsnorm(const float *x, const float *w, float eps, float *y, int64_t n) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale;
    if (w)
        for (int64_t i = 0; i < n; i++) y[i] *= w[i];
}

void ken_model_layernorm(const float *x, const float *w, const float *b, float eps, float *y,
                         int64_t n) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)x[i];
    const float mean = (float)(sum / (double)n);
    double sum2 = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] - mean;
        y[i] = v;
        sum2 += (double)(v * v);
    }
    const float var = (float)(sum2 / (double)n);
    const float scale = 1.0f / sqrtf(var + eps);
    for (int64_t i = 0; i < n; i++) y[i] *= scale;
    if (w)
        for (int64_t i = 0; i < n; i++) y[i] *= w[i];
    if (b)
        for (int64_t i = 0; i < n; i++) y[i] += b[i];
}

void ken_model_softmax(float *x, int64_t n) {
    float max = -INFINITY;
    for (int64_t i = 0; i < n; i++) max = x[i] > max ? x[i] : max;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float e = expf(x[i] - max);
        x[i] = e;
        sum += (double)e;
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

/* ggml's GELU table entry: the tanh form evaluated in float on an F16 input,
 * rounded to F16. */
static float gelu_f32(float x) {
    const float sqrt_2_over_pi = 0.79788456080286535587989211986876f;
    const float coef_a = 0.044715f;
    return 0.5f * x * (1.0f + tanhf(sqrt_2_over_pi * x * (1.0f + coef_a * x * x)));
}

float ken_model_gelu_ref(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    float xh = ken_nn_fp16_to_fp32(ken_nn_fp32_to_fp16(x));
    return ken_nn_fp16_to_fp32(ken_nn_fp32_to_fp16(gelu_f32(xh)));
}

/* ken_model_gelu_ref of every F16 input, as ggml's table: the tanh form cost
 * ~15% of an encoder's time when evaluated per element. */
static float gelu_table[1 << 16];
static pthread_once_t gelu_once = PTHREAD_ONCE_INIT;
static void gelu_init(void) {
    for (uint32_t h = 0; h < (1u << 16); h++) {
        float x = ken_nn_fp16_to_fp32((uint16_t)h);
        gelu_table[h] = x != x ? x : ken_nn_fp16_to_fp32(ken_nn_fp32_to_fp16(gelu_f32(x)));
    }
}

float ken_model_gelu(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    pthread_once(&gelu_once, gelu_init);
    return gelu_table[ken_nn_fp32_to_fp16(x)];
}

void ken_model_gelu_rows(float *x, int64_t n) {
    pthread_once(&gelu_once, gelu_init);
    /* the table indices a block at a time: nn converts a row to F16 with
     * SIMD (the same halves as ken_nn_fp32_to_fp16) */
    uint16_t h[256];
    for (int64_t i0 = 0; i0 < n; i0 += 256) {
        const int64_t nb = n - i0 < 256 ? n - i0 : 256;
        ken_nn_quantize_row(KEN_DT_F16, x + i0, h, nb);
        for (int64_t i = 0; i < nb; i++) {
            const float v = x[i0 + i];
            x[i0 + i] = v <= -10.0f ? 0.0f : v >= 10.0f ? v : gelu_table[h[i]];
        }
    }
}

void ken_model_l2_normalize(float *x, int64_t n) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)x[i] * x[i];
    if (sum <= 0.0) return;
    const float inv = (float)(1.0 / sqrt(sum));
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

int32_t ken_model_argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return (int32_t)best;
}
