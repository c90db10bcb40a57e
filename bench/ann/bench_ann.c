/* bench_ann.c: ken-bench-ann, the ANN benchmark of ken's HNSW index.
 *
 *   ken-bench-ann --base B.fvecs --queries Q.fvecs --truth T.ivecs [--k 10]
 *       [--M 16] [--ef-construction 200] [--ef 16,32,64,128,256] [--threads N]
 *       [--metric ip|cos|l2] [--repeat R] [--save F | --load F] [--exact] [--json]
 *   ken-bench-ann --gen DIR [--n 100000] [--dim 384] [--nq 1000] [--seed S] [--threads N]
 *   ken-bench-ann --quant-report --base B.fvecs --queries Q.fvecs --truth T.ivecs
 *
 * The first form builds (or loads) the index and prints the build time, the
 * memory, and for each ef the recall@k against the truth file and the
 * single-thread queries/s (median of R passes); --exact adds the brute-force
 * scan. The second form writes DIR/base.fvecs, DIR/queries.fvecs and
 * DIR/truth.ivecs (exact top 100 by inner product, computed with N threads):
 * synthetic embeddings, described at gen_data below. */
#include "index/hnsw_int.h"
#include "vecs.h"

#include <math.h>
#include <pthread.h>
#include <sys/stat.h>

typedef struct {
    const char *base, *queries, *truth, *save, *load, *gen;
    size_t k, n, nq, dim;
    int M, ef_c, threads, repeat;
    int ef[32];
    size_t n_ef;
    ken_hnsw_metric metric;
    int json, exact, quant_report;
    uint64_t seed;
} args;

/* ------------------------------------------------------------ generator */

static uint64_t rng_state;
static double unif(void) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) * 0x1.0p-53;
}
static double gauss(void) { return sqrt(-2.0 * log(unif())) * cos(6.283185307179586 * unif()); }

/* A random orthogonal matrix (modified Gram-Schmidt of a Gaussian one), so
 * the decaying spectrum below is not aligned with the coordinate axes, as in
 * real embeddings (and as the int8 quantizer must cope with). */
static double *random_rotation(size_t d) {
    double *q = malloc(d * d * sizeof *q);
    for (size_t i = 0; i < d * d; i++) q[i] = gauss();
    for (size_t i = 0; i < d; i++) {
        double *r = q + i * d;
        for (size_t j = 0; j < i; j++) {
            const double *p = q + j * d;
            double dot = 0;
            for (size_t t = 0; t < d; t++) dot += r[t] * p[t];
            for (size_t t = 0; t < d; t++) r[t] -= dot * p[t];
        }
        double n2 = 0;
        for (size_t t = 0; t < d; t++) n2 += r[t] * r[t];
        for (size_t t = 0; t < d; t++) r[t] /= sqrt(n2);
    }
    return q;
}

/* Synthetic embeddings: a mixture of C = n/50 Gaussian clusters with
 * power-law sizes (weight of cluster c ~ 1/(c+1)^0.7), whose centres and
 * in-cluster noise both follow a decaying spectrum (sigma_j = (j+1)^-0.5,
 * noise at 0.8 of the centre spread), rotated by a random orthogonal matrix,
 * then normalized to the unit sphere. */
static void gen_row(const double *rot, const double *centres, const double *cw, size_t n_c,
                    size_t d, double *tmp, float *out) {
    double u = unif();
    size_t c = 0;
    while (c + 1 < n_c && cw[c] < u) c++;   /* cw: cumulative weights */
    for (size_t j = 0; j < d; j++)
        tmp[j] = centres[c * d + j] + 0.8 * gauss() / sqrt((double)j + 1);
    double n2 = 0;
    for (size_t i = 0; i < d; i++) {
        double s = 0;
        for (size_t j = 0; j < d; j++) s += rot[i * d + j] * tmp[j];
        tmp[d + i] = s;
        n2 += s * s;
    }
    for (size_t i = 0; i < d; i++) out[i] = (float)(tmp[d + i] / sqrt(n2));
}

typedef struct {
    const float *base, *q;
    size_t n, nq, d, tk;
    int32_t *truth;
    int t, nt;
} truth_job;

/* Exact top tk by inner product for queries t, t+nt, ... */
static void *truth_worker(void *arg) {
    truth_job *j = arg;
    float *best = malloc(j->tk * sizeof *best);
    for (size_t qi = (size_t)j->t; qi < j->nq; qi += (size_t)j->nt) {
        int32_t *ids = j->truth + qi * j->tk;
        size_t m = 0;
        for (size_t i = 0; i < j->n; i++) {
            const float *a = j->q + qi * j->d, *b = j->base + i * j->d;
            float s = 0;
            for (size_t t = 0; t < j->d; t++) s += a[t] * b[t];
            if (m == j->tk && s <= best[m - 1]) continue;
            size_t p = m < j->tk ? m++ : m - 1;   /* insertion into the sorted list */
            while (p > 0 && best[p - 1] < s) { best[p] = best[p - 1]; ids[p] = ids[p - 1]; p--; }
            best[p] = s;
            ids[p] = (int32_t)i;
        }
    }
    free(best);
    return NULL;
}

static int gen_data(const args *a) {
    size_t d = a->dim, n = a->n, nq = a->nq, n_c = n / 50 ? n / 50 : 1, tk = 100;
    rng_state = a->seed * 0x9E3779B97F4A7C15ull + 1;
    double *rot = random_rotation(d);
    double *centres = malloc(n_c * d * sizeof *centres), *cw = malloc(n_c * sizeof *cw);
    double *tmp = malloc(2 * d * sizeof *tmp), tot = 0;
    float *base = malloc(n * d * sizeof *base), *q = malloc(nq * d * sizeof *q);
    int32_t *truth = malloc(nq * tk * sizeof *truth);
    for (size_t c = 0; c < n_c; c++) {
        for (size_t j = 0; j < d; j++) centres[c * d + j] = gauss() / sqrt((double)j + 1);
        tot += cw[c] = 1.0 / pow((double)c + 1, 0.7);
    }
    double acc = 0;
    for (size_t c = 0; c < n_c; c++) cw[c] = (acc += cw[c] / tot);
    for (size_t i = 0; i < n; i++) gen_row(rot, centres, cw, n_c, d, tmp, base + i * d);
    for (size_t i = 0; i < nq; i++) gen_row(rot, centres, cw, n_c, d, tmp, q + i * d);
    int nt = a->threads > 0 ? a->threads : 1;
    pthread_t th[64];
    truth_job jobs[64];
    for (int t = 0; t < nt && t < 64; t++) {
        jobs[t] = (truth_job){base, q, n, nq, d, tk < n ? tk : n, truth, t, nt};
        pthread_create(&th[t], NULL, truth_worker, &jobs[t]);
    }
    for (int t = 0; t < nt && t < 64; t++) pthread_join(th[t], NULL);
    char p[4096];
    mkdir(a->gen, 0755);
    int rc = 0;
    snprintf(p, sizeof p, "%s/base.fvecs", a->gen);
    rc |= vecs_write(p, base, n, d);
    snprintf(p, sizeof p, "%s/queries.fvecs", a->gen);
    rc |= vecs_write(p, q, nq, d);
    snprintf(p, sizeof p, "%s/truth.ivecs", a->gen);
    rc |= vecs_write(p, truth, nq, tk < n ? tk : n);
    free(rot); free(centres); free(cw); free(tmp); free(base); free(q); free(truth);
    if (!rc) fprintf(stderr, "wrote %zu base, %zu queries (dim %zu) and their exact top %zu to %s\n",
                     n, nq, d, tk < n ? tk : n, a->gen);
    return rc ? 2 : 0;
}

/* ------------------------------------------------------------ benchmark */

typedef struct {
    int ef;
    double recall, qps, qps_wall;
} ef_result;

/* One single-thread pass over all queries (found filled); *cpu_s and *wall_s
 * get the thread CPU time and the wall time it took. */
static void query_pass(ken_hnsw *h, const float *q, size_t nq, size_t d, size_t k, int ef,
                       int exact, int64_t *found, double *cpu_s, double *wall_s) {
    ken_hnsw_hit hits[1024];
    ken_hnsw_search_opts o = {.ef = (uint32_t)ef};
    double c0 = vecs_thread_cpu_s(), w0 = vecs_wall_s();
    for (size_t i = 0; i < nq; i++) {
        size_t nh = 0;
        if (exact) ken_hnsw_search_exact(h, q + i * d, k, &o, hits, &nh, NULL);
        else ken_hnsw_search(h, q + i * d, k, &o, hits, &nh, NULL);
        for (size_t j = 0; j < k; j++) found[i * k + j] = j < nh ? (int64_t)hits[j].id : -1;
    }
    *cpu_s = vecs_thread_cpu_s() - c0;
    *wall_s = vecs_wall_s() - w0;
}

/* Median queries/s over repeat passes, by CPU time and by wall time. */
static void median_qps(ken_hnsw *h, const float *q, size_t nq, size_t d, size_t k, int exact,
                       int repeat, int64_t *found, ef_result *r) {
    double qc[64], qw[64];
    int n = repeat < 1 ? 1 : repeat > 64 ? 64 : repeat;
    for (int i = 0; i < n; i++) {
        double c, w;
        query_pass(h, q, nq, d, k, r->ef, exact, found, &c, &w);
        qc[i] = (double)nq / c;
        qw[i] = (double)nq / w;
    }
    r->qps = vecs_median(qc, (size_t)n);
    r->qps_wall = vecs_median(qw, (size_t)n);
}

static ken_hnsw *build_or_load(const args *a, const float *base, size_t n, size_t d,
                               double *build_s, double *build_cpu_s, int *loaded) {
    ken_err e;
    ken_hnsw *h = NULL;
    *loaded = 0;
    if (a->load && ken_hnsw_load(a->load, 0, (uint32_t)d, &h, &e) == KEN_OK) {
        *loaded = 1;
        return h;
    }
    if (a->load) fprintf(stderr, "%s (building instead)\n", e.msg);
    ken_hnsw_opts o = {.dim = (uint32_t)d, .metric = a->metric, .M = (uint32_t)a->M,
                       .ef_construction = (uint32_t)a->ef_c};
    if (ken_hnsw_new(&o, &h, &e)) { fprintf(stderr, "%s\n", e.msg); return NULL; }
    uint64_t *ids = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = i;
    double t0 = ken_now(), c0 = vecs_process_cpu_s();
    ken_status st = ken_hnsw_add_batch(h, ids, base, n, a->threads, NULL, NULL, NULL, &e);
    *build_s = ken_now() - t0;
    *build_cpu_s = vecs_process_cpu_s() - c0;
    free(ids);
    if (st) { fprintf(stderr, "%s\n", e.msg); ken_hnsw_free(h); return NULL; }
    if (a->save && ken_hnsw_save(h, a->save, 0, &e)) fprintf(stderr, "%s\n", e.msg);
    return h;
}

static void print_results(const args *a, size_t n, size_t nq, size_t d, double build_s,
                          double build_cpu_s, int loaded,
                          size_t rss, const ken_hnsw_stats *st, const ef_result *r, size_t nr,
                          const ef_result *ex) {
    if (!a->json) {
        printf("ken-hnsw n=%zu dim=%zu queries=%zu k=%zu M=%d ef_construction=%d threads=%d\n", n, d, nq,
               a->k, a->M, a->ef_c, a->threads);
        if (loaded) printf("build: loaded from %s\n", a->load);
        else printf("build: %.2f s wall, %.2f s cpu\n", build_s, build_cpu_s);
        printf("memory: %.1f MiB index, %.1f MiB rss growth\n", st->memory_bytes / 1048576.0, rss / 1048576.0);
        for (size_t i = 0; i < nr; i++)
            printf("ef=%d recall@%zu=%.4f qps=%.0f qps_wall=%.0f\n", r[i].ef, a->k, r[i].recall,
                   r[i].qps, r[i].qps_wall);
        if (ex) printf("exact recall@%zu=%.4f qps=%.1f qps_wall=%.1f\n", a->k, ex->recall, ex->qps, ex->qps_wall);
        return;
    }
    printf("{\"engine\":\"ken-hnsw\",\"n\":%zu,\"dim\":%zu,\"queries\":%zu,\"k\":%zu,\"M\":%d,"
           "\"ef_construction\":%d,\"threads\":%d,\"build_s\":", n, d, nq, a->k, a->M, a->ef_c, a->threads);
    if (loaded) printf("null,\"build_cpu_s\":null");
    else printf("%.3f,\"build_cpu_s\":%.3f", build_s, build_cpu_s);
    printf(",\"memory_bytes\":%zu,\"rss_growth_bytes\":%zu,\"results\":[", st->memory_bytes, rss);
    for (size_t i = 0; i < nr; i++)
        printf("%s{\"ef\":%d,\"recall\":%.4f,\"qps\":%.1f,\"qps_wall\":%.1f}", i ? "," : "", r[i].ef,
               r[i].recall, r[i].qps, r[i].qps_wall);
    printf("]");
    if (ex) printf(",\"exact\":{\"recall\":%.4f,\"qps\":%.2f,\"qps_wall\":%.2f}", ex->recall, ex->qps,
                   ex->qps_wall);
    printf("}\n");
}

static int run_bench(const args *a) {
    size_t n, d, nq, dq, nt, tk;
    float *base = vecs_read(a->base, &n, &d);
    float *q = vecs_read(a->queries, &nq, &dq);
    int32_t *truth = vecs_read(a->truth, &nt, &tk);
    int rc = 2;
    ken_hnsw *h = NULL;
    int64_t *found = NULL;
    if (!base || !q || !truth) goto out;
    if (dq != d || nt != nq || tk < a->k) {
        fprintf(stderr, "mismatch: base dim %zu, query dim %zu, %zu queries, %zu truth rows of %zu (k %zu)\n",
                d, dq, nq, nt, tk, a->k);
        goto out;
    }
    for (size_t i = 0; i < nq * tk; i++)
        if (truth[i] < 0 || (size_t)truth[i] >= n) { fprintf(stderr, "truth id out of range\n"); goto out; }
    double build_s = 0, build_cpu_s = 0;
    int loaded;
    size_t rss0 = vecs_rss();
    h = build_or_load(a, base, n, d, &build_s, &build_cpu_s, &loaded);
    if (!h) goto out;
    size_t rss = vecs_rss() - rss0;
    found = malloc(nq * a->k * sizeof *found);
    ef_result r[32], ex;
    for (size_t i = 0; i < a->n_ef; i++) {
        r[i].ef = a->ef[i];
        median_qps(h, q, nq, d, a->k, 0, a->repeat, found, &r[i]);
        r[i].recall = vecs_recall(found, nq, a->k, truth, tk);
    }
    if (a->exact) {
        size_t ne = nq < 100 ? nq : 100;   /* the scan is slow: a subset of the queries */
        ex.ef = 0;
        median_qps(h, q, ne, d, a->k, 1, 1, found, &ex);
        ex.recall = vecs_recall(found, ne, a->k, truth, tk);
    }
    ken_hnsw_stats st;
    ken_hnsw_get_stats(h, &st);
    print_results(a, n, nq, d, build_s, build_cpu_s, loaded, rss, &st, r, a->n_ef, a->exact ? &ex : NULL);
    rc = 0;
out:
    ken_hnsw_free(h);
    free(found);
    free(base);
    free(q);
    free(truth);
    return rc;
}

/* How well int8 alone ranks (no graph, no re-scoring): recall@k of a brute-
 * force scan by int8 dot products against the exact truth, with a scale per
 * vector (what the index uses) and with one global scale for all vectors
 * (the alternative). Inner product / cosine data. */
static int quant_report(const args *a) {
    size_t n, d, nq, dq, nt, tk;
    float *base = vecs_read(a->base, &n, &d), *q = vecs_read(a->queries, &nq, &dq);
    int32_t *truth = vecs_read(a->truth, &nt, &tk);
    if (!base || !q || !truth || d != dq || nt != nq || tk < a->k) return 2;
    size_t dimq = (d + 31) & ~(size_t)31, nqs = nq < 200 ? nq : 200;
    int8_t *qb = calloc(n * dimq, 1), *qg = calloc(n * dimq, 1), qq[8192], qqg[8192];
    float *sb = malloc(n * sizeof *sb), gmax = 0;
    int64_t *found = malloc(nqs * a->k * sizeof *found), *found_g = malloc(nqs * a->k * sizeof *found_g);
    for (size_t i = 0; i < n * d; i++) gmax = fmaxf(gmax, fabsf(base[i]));
    for (size_t i = 0; i < n; i++) {
        sb[i] = ken_hnsw_quantize(base + i * d, (uint32_t)d, (uint32_t)dimq, qb + i * dimq);
        for (size_t j = 0; j < d; j++) qg[i * dimq + j] = (int8_t)lrintf(base[i * d + j] / gmax * 127);
    }
    float *sc = malloc(n * sizeof *sc), *scg = malloc(n * sizeof *scg);
    for (size_t qi = 0; qi < nqs; qi++) {
        float qs = ken_hnsw_quantize(q + qi * d, (uint32_t)d, (uint32_t)dimq, qq);
        ken_hnsw_quantize(q + qi * d, (uint32_t)d, (uint32_t)dimq, qqg);   /* query: own scale */
        for (size_t i = 0; i < n; i++) {
            sc[i] = qs * sb[i] * (float)ken_hnsw_dot_i8(qq, qb + i * dimq, dimq);
            scg[i] = (float)ken_hnsw_dot_i8(qqg, qg + i * dimq, dimq);
        }
        for (size_t j = 0; j < a->k; j++) {   /* k argmax passes: k is small */
            size_t bi = 0, bg = 0;
            for (size_t i = 1; i < n; i++) {
                if (sc[i] > sc[bi]) bi = i;
                if (scg[i] > scg[bg]) bg = i;
            }
            found[qi * a->k + j] = (int64_t)bi;
            found_g[qi * a->k + j] = (int64_t)bg;
            sc[bi] = scg[bg] = -INFINITY;
        }
    }
    printf("int8 brute-force recall@%zu over %zu queries: per-vector scale %.4f, global scale %.4f\n",
           a->k, nqs, vecs_recall(found, nqs, a->k, truth, tk), vecs_recall(found_g, nqs, a->k, truth, tk));
    free(base); free(q); free(truth); free(qb); free(qg); free(sb); free(sc); free(scg);
    free(found); free(found_g);
    return 0;
}

static int usage(void) {
    fprintf(stderr,
            "usage: ken-bench-ann --base B.fvecs --queries Q.fvecs --truth T.ivecs [--k 10] [--M 16]\n"
            "         [--ef-construction 200] [--ef 16,32,64,128,256] [--threads N] [--metric ip|cos|l2]\n"
            "         [--repeat R] [--save F | --load F] [--exact] [--json]\n"
            "       ken-bench-ann --quant-report --base B.fvecs --queries Q.fvecs --truth T.ivecs [--k 10]\n"
            "       ken-bench-ann --gen DIR [--n 100000] [--dim 384] [--nq 1000] [--seed S] [--threads N]\n");
    return 1;
}

static long num_arg(const char *s, long lo, long hi) {
    char *end;
    long v = strtol(s, &end, 10);
    return (*s && !*end && v >= lo && v <= hi) ? v : lo - 1;
}

int main(int argc, char **argv) {
    args a = {.k = 10, .n = 100000, .nq = 1000, .dim = 384, .M = 16, .ef_c = 200, .threads = 1,
              .repeat = 1, .ef = {16, 32, 64, 128, 256}, .n_ef = 5, .metric = KEN_HNSW_IP, .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long x = 0;
        if (!strcmp(o, "--json")) { a.json = 1; continue; }
        if (!strcmp(o, "--exact")) { a.exact = 1; continue; }
        if (!strcmp(o, "--quant-report")) { a.quant_report = 1; continue; }
        if (!v) return usage();
        i++;
        if (!strcmp(o, "--base")) a.base = v;
        else if (!strcmp(o, "--queries")) a.queries = v;
        else if (!strcmp(o, "--truth")) a.truth = v;
        else if (!strcmp(o, "--save")) a.save = v;
        else if (!strcmp(o, "--load")) a.load = v;
        else if (!strcmp(o, "--gen")) a.gen = v;
        else if (!strcmp(o, "--ef")) { if (!(a.n_ef = vecs_parse_list(v, a.ef, 32))) return usage(); }
        else if (!strcmp(o, "--metric")) {
            if (!strcmp(v, "ip")) a.metric = KEN_HNSW_IP;
            else if (!strcmp(v, "cos")) a.metric = KEN_HNSW_COSINE;
            else if (!strcmp(v, "l2")) a.metric = KEN_HNSW_L2;
            else return usage();
        }
        else if (!strcmp(o, "--k") && (x = num_arg(v, 1, 1024)) > 0) a.k = (size_t)x;
        else if (!strcmp(o, "--M") && (x = num_arg(v, 2, KEN_HNSW_M_MAX)) > 0) a.M = (int)x;
        else if (!strcmp(o, "--ef-construction") && (x = num_arg(v, 1, KEN_HNSW_EF_MAX)) > 0) a.ef_c = (int)x;
        else if (!strcmp(o, "--threads") && (x = num_arg(v, 1, 64)) > 0) a.threads = (int)x;
        else if (!strcmp(o, "--repeat") && (x = num_arg(v, 1, 64)) > 0) a.repeat = (int)x;
        else if (!strcmp(o, "--n") && (x = num_arg(v, 1, 10000000)) > 0) a.n = (size_t)x;
        else if (!strcmp(o, "--nq") && (x = num_arg(v, 1, 1000000)) > 0) a.nq = (size_t)x;
        else if (!strcmp(o, "--dim") && (x = num_arg(v, 1, 4096)) > 0) a.dim = (size_t)x;
        else if (!strcmp(o, "--seed") && (x = num_arg(v, 1, 1L << 30)) > 0) a.seed = (uint64_t)x;
        else return usage();
    }
    if (a.gen) return gen_data(&a);
    if (!a.base || !a.queries || !a.truth) return usage();
    return a.quant_report ? quant_report(&a) : run_bench(&a);
}
