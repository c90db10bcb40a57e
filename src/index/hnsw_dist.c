/* hnsw_dist.c: the index's distance kernels and int8 quantization.
 * Each kernel has a scalar _ref twin that defines it (tests compare them); the
 * AVX2 versions are compiled with target attributes and chosen at run time,
 * so the default build stays portable. */
#include "index/hnsw_int.h"

#include <math.h>

int32_t ken_hnsw_dot_i8_ref(const int8_t *a, const int8_t *b, size_t n) {
    int32_t s = 0;
    for (size_t i = 0; i < n; i++) s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}

float ken_hnsw_dot_f32_ref(const float *a, const float *b, size_t n) {
    float s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

float ken_hnsw_l2_f32_ref(const float *a, const float *b, size_t n) {
    float s = 0;
    for (size_t i = 0; i < n; i++) {
        float d = a[i] - b[i];
        s += d * d;
    }
    return s;
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#define TGT __attribute__((target("avx2,fma")))

TGT static inline int32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

TGT static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 32 products per step: |a| (unsigned) times b with a's sign moved onto b,
 * pairwise-summed to int16 by maddubs (at most 2*127*127, no saturation since
 * quantized values lie in [-127, 127]), then widened to int32. */
TGT static int32_t dot_i8_avx2(const int8_t *a, const int8_t *b, size_t n) {
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    const __m256i ones = _mm256_set1_epi16(1);
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(a + i));
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(b + i));
        __m256i a1 = _mm256_loadu_si256((const __m256i *)(a + i + 32));
        __m256i b1 = _mm256_loadu_si256((const __m256i *)(b + i + 32));
        __m256i p0 = _mm256_maddubs_epi16(_mm256_abs_epi8(a0), _mm256_sign_epi8(b0, a0));
        __m256i p1 = _mm256_maddubs_epi16(_mm256_abs_epi8(a1), _mm256_sign_epi8(b1, a1));
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(p0, ones));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(p1, ones));
    }
    for (; i < n; i += 32) {
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(a + i));
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(b + i));
        __m256i p0 = _mm256_maddubs_epi16(_mm256_abs_epi8(a0), _mm256_sign_epi8(b0, a0));
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(p0, ones));
    }
    return hsum_i32(_mm256_add_epi32(acc0, acc1));
}

TGT static float dot_f32_avx2(const float *a, const float *b, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum_ps(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

TGT static float l2_f32_avx2(const float *a, const float *b, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
    }
    float s = hsum_ps(_mm256_add_ps(s0, s1));
    for (; i < n; i++) {
        float d = a[i] - b[i];
        s += d * d;
    }
    return s;
}

/* VNNI: one instruction does the u8 x s8 products and the int32 sums
 * (no int16 stage), after the same sign transfer as above. */
__attribute__((target("avx2,avxvnni")))
static int32_t dot_i8_avxvnni(const int8_t *a, const int8_t *b, size_t n) {
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(a + i));
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(b + i));
        __m256i a1 = _mm256_loadu_si256((const __m256i *)(a + i + 32));
        __m256i b1 = _mm256_loadu_si256((const __m256i *)(b + i + 32));
        acc0 = _mm256_dpbusd_avx_epi32(acc0, _mm256_abs_epi8(a0), _mm256_sign_epi8(b0, a0));
        acc1 = _mm256_dpbusd_avx_epi32(acc1, _mm256_abs_epi8(a1), _mm256_sign_epi8(b1, a1));
    }
    for (; i < n; i += 32) {
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(a + i));
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(b + i));
        acc0 = _mm256_dpbusd_avx_epi32(acc0, _mm256_abs_epi8(a0), _mm256_sign_epi8(b0, a0));
    }
    __m256i s = _mm256_add_epi32(acc0, acc1);
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(1, 0, 3, 2)));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(h);
}

/* AVX-512 has no sign_epi8: negate b where a is negative with a mask. */
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static int32_t dot_i8_avx512vnni(const int8_t *a, const int8_t *b, size_t n) {
    __m512i acc = _mm512_setzero_si512();
    const __m512i zero = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512i va = _mm512_loadu_si512((const void *)(a + i));
        __m512i vb = _mm512_loadu_si512((const void *)(b + i));
        __m512i sb = _mm512_mask_sub_epi8(vb, _mm512_movepi8_mask(va), zero, vb);
        acc = _mm512_dpbusd_epi32(acc, _mm512_abs_epi8(va), sb);
    }
    int32_t s = _mm512_reduce_add_epi32(acc);
    if (i < n) s += ken_hnsw_dot_i8_ref(a + i, b + i, n - i);
    return s;
}

typedef struct { bool avx2, avxvnni, avx512vnni; } cpu_caps;

static cpu_caps detect(void) {
    cpu_caps c = {false, false, false};
    c.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    unsigned a, b, cx, d, xlo = 0, xhi = 0;
    if (!c.avx2 || !__get_cpuid_count(7, 0, &a, &b, &cx, &d)) return c;
    /* The OS must save the registers: XCR0 bits for YMM (0x6), ZMM (0xe6). */
    __asm__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    bool zmm = (xlo & 0xe6) == 0xe6;
    c.avx512vnni = zmm && (b & (1u << 16)) && (b & (1u << 30)) && (cx & (1u << 11));
    if (__get_cpuid_count(7, 1, &a, &b, &cx, &d)) c.avxvnni = (a & (1u << 4)) != 0;
    return c;
}

static cpu_caps caps(void) {
    static int done;
    static cpu_caps c;
    if (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        c = detect();   /* racing threads store the same values */
        __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    }
    return c;
}

static int have_avx2(void) { return caps().avx2; }
#endif

size_t ken_hnsw_dot_i8_kernels(ken_hnsw_dot_i8_fn *out, size_t cap) {
    size_t n = 0;
    if (n < cap) out[n++] = ken_hnsw_dot_i8_ref;
#if defined(__x86_64__)
    cpu_caps c = caps();
    if (c.avx2 && n < cap) out[n++] = dot_i8_avx2;
    if (c.avxvnni && n < cap) out[n++] = dot_i8_avxvnni;
    if (c.avx512vnni && n < cap) out[n++] = dot_i8_avx512vnni;
#endif
    return n;
}

ken_hnsw_dot_i8_fn ken_hnsw_dot_i8_best(void) {
    ken_hnsw_dot_i8_fn k[4];
    size_t n = ken_hnsw_dot_i8_kernels(k, 4);
    return k[n - 1];
}

int32_t ken_hnsw_dot_i8(const int8_t *a, const int8_t *b, size_t n) {
    return ken_hnsw_dot_i8_best()(a, b, n);
}

float ken_hnsw_dot_f32(const float *a, const float *b, size_t n) {
#if defined(__x86_64__)
    if (have_avx2()) return dot_f32_avx2(a, b, n);
#endif
    return ken_hnsw_dot_f32_ref(a, b, n);
}

float ken_hnsw_l2_f32(const float *a, const float *b, size_t n) {
#if defined(__x86_64__)
    if (have_avx2()) return l2_f32_avx2(a, b, n);
#endif
    return ken_hnsw_l2_f32_ref(a, b, n);
}

/* Symmetric per-vector scale: max |x| maps to 127, so -128 never occurs (the
 * AVX2 kernel relies on that). Per-vector rather than global scale because
 * vectors arrive one at a time and their ranges differ. */
float ken_hnsw_quantize(const float *x, uint32_t dim, uint32_t dimq, int8_t *q) {
    float amax = 0;
    for (uint32_t i = 0; i < dim; i++) amax = fmaxf(amax, fabsf(x[i]));
    float scale = amax > 0 ? amax / 127.0f : 1.0f;
    float inv = 1.0f / scale;
    for (uint32_t i = 0; i < dim; i++) {
        long v = lrintf(x[i] * inv);
        q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
    for (uint32_t i = dim; i < dimq; i++) q[i] = 0;
    return scale;
}
