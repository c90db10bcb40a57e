/* sample.c: token sampling. The chain follows llama.cpp's common order:
 * penalties (repetition, frequency, presence over the last N tokens), then
 * top-k, top-p, min-p, then temperature and a draw from a seeded RNG
 * (splitmix64: the same seed gives the same tokens). Temperature <= 0 is
 * greedy (argmax after penalties, ties to the lower id). */
#include "model/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t id;
    float logit;
} cand;

struct ken_sampler {
    ken_sampler_params p;
    int32_t n_vocab;
    uint64_t rng;
    cand *c;             /* [n_vocab] */
    int32_t *count;      /* [n_vocab] occurrences in the penalty window */
};

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t *s) { return (double)(splitmix64(s) >> 11) * 0x1.0p-53; }

ken_status ken_sampler_new(const ken_sampler_params *p, int32_t n_vocab, ken_sampler **out) {
    *out = NULL;
    if (!p || n_vocab <= 0 || !(p->top_p > 0.0f) || p->min_p < 0.0f || p->min_p > 1.0f ||
        !(p->repeat_penalty > 0.0f) || isnan(p->temperature) || isnan(p->freq_penalty) ||
        isnan(p->presence_penalty))
        return KEN_ERR_INVALID;
    ken_sampler *s = calloc(1, sizeof *s);
    if (!s) return KEN_ERR_NOMEM;
    s->p = *p;
    s->n_vocab = n_vocab;
    s->rng = p->seed;
    s->c = malloc((size_t)n_vocab * sizeof *s->c);
    s->count = calloc((size_t)n_vocab, sizeof *s->count);
    if (!s->c || !s->count) {
        ken_sampler_free(s);
        return KEN_ERR_NOMEM;
    }
    *out = s;
    return KEN_OK;
}

void ken_sampler_free(ken_sampler *s) {
    if (!s) return;
    free(s->c);
    free(s->count);
    free(s);
}

static int cand_cmp(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void penalize(ken_sampler *s, const int32_t *hist, int64_t n_hist) {
    const ken_sampler_params *p = &s->p;
    if (p->repeat_penalty == 1.0f && p->freq_penalty == 0.0f && p->presence_penalty == 0.0f) return;
    int64_t last = p->penalty_last_n == 0 ? 64 : p->penalty_last_n;
    int64_t from = last < 0 || last >= n_hist ? 0 : n_hist - last;
    for (int64_t i = from; i < n_hist; i++)
        if (hist[i] >= 0 && hist[i] < s->n_vocab) s->count[hist[i]]++;
    for (int64_t i = from; i < n_hist; i++) {
        int32_t t = hist[i];
        if (t < 0 || t >= s->n_vocab || s->count[t] == 0) continue;
        cand *c = &s->c[t];    /* candidates are still indexed by id here */
        if (c->logit > 0.0f) c->logit /= p->repeat_penalty;
        else c->logit *= p->repeat_penalty;
        c->logit -= (float)s->count[t] * p->freq_penalty + p->presence_penalty;
        s->count[t] = 0;       /* once per distinct token; also resets the counts */
    }
}

/* Softmax probabilities of the first n sorted candidates into prob. */
static void probs(const cand *c, int64_t n, float temp, double *prob) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        prob[i] = exp(((double)c[i].logit - c[0].logit) / temp);
        sum += prob[i];
    }
    for (int64_t i = 0; i < n; i++) prob[i] /= sum;
}

int32_t ken_sampler_sample(ken_sampler *s, const float *logits, const int32_t *history,
                           int64_t n_history) {
    const ken_sampler_params *p = &s->p;
    int64_t n = s->n_vocab;
    for (int64_t i = 0; i < n; i++) s->c[i] = (cand){(int32_t)i, logits[i]};
    penalize(s, history, n_history);
    if (p->temperature <= 0.0f) {
        int64_t best = 0;
        for (int64_t i = 1; i < n; i++)
            if (s->c[i].logit > s->c[best].logit) best = i;
        return s->c[best].id;
    }
    qsort(s->c, (size_t)n, sizeof *s->c, cand_cmp);
    if (p->top_k > 0 && p->top_k < n) n = p->top_k;
    /* probabilities at temperature 1 decide top-p and min-p (llama.cpp) */
    double *pr = malloc((size_t)n * sizeof *pr);
    if (!pr) return s->c[0].id;
    probs(s->c, n, 1.0f, pr);
    if (p->top_p < 1.0f) {
        double cum = 0.0;
        int64_t keep = n;
        for (int64_t i = 0; i < n; i++) {
            cum += pr[i];
            if (cum >= p->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    if (p->min_p > 0.0f) {
        int64_t keep = 1;
        while (keep < n && pr[keep] >= p->min_p * pr[0]) keep++;
        n = keep;
    }
    probs(s->c, n, p->temperature, pr);
    double r = rng_uniform(&s->rng), cum = 0.0;
    int32_t pick = s->c[n - 1].id;
    for (int64_t i = 0; i < n; i++) {
        cum += pr[i];
        if (r < cum) {
            pick = s->c[i].id;
            break;
        }
    }
    free(pr);
    return pick;
}
