// hnswlib_peer.cpp: the baseline for ken-bench-ann: the same data, arguments
// and output fields, with hnswlib (Debian's libhnswlib-dev, header-only) as the
// index. Build with -O3 -march=native so hnswlib uses its widest SIMD path.
//
//   ken-bench-ann-hnswlib --base B.fvecs --queries Q.fvecs --truth T.ivecs [--k 10]
//       [--M 16] [--ef-construction 200] [--ef 16,32,64,128,256] [--threads N]
//       [--metric ip|l2] [--repeat R] [--save F | --load F] [--json]
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

extern "C" {
#include "vecs.h"
}

static double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static int usage() {
    fprintf(stderr, "usage: ken-bench-ann-hnswlib --base B.fvecs --queries Q.fvecs --truth T.ivecs [--k 10]\n"
                    "         [--M 16] [--ef-construction 200] [--ef 16,32,64,128,256] [--threads N]\n"
                    "         [--metric ip|l2] [--repeat R] [--save F | --load F] [--json]\n");
    return 1;
}

int main(int argc, char **argv) {
    const char *base_p = nullptr, *q_p = nullptr, *t_p = nullptr, *save = nullptr, *load = nullptr;
    size_t k = 10;
    int M = 16, ef_c = 200, threads = 1, repeat = 1, json = 0, l2 = 0;
    int ef[32] = {16, 32, 64, 128, 256};
    size_t n_ef = 5;
    for (int i = 1; i < argc; i++) {
        std::string o = argv[i];
        if (o == "--json") { json = 1; continue; }
        if (i + 1 >= argc) return usage();
        const char *v = argv[++i];
        if (o == "--base") base_p = v;
        else if (o == "--queries") q_p = v;
        else if (o == "--truth") t_p = v;
        else if (o == "--save") save = v;
        else if (o == "--load") load = v;
        else if (o == "--k") k = (size_t)atol(v);
        else if (o == "--M") M = atoi(v);
        else if (o == "--ef-construction") ef_c = atoi(v);
        else if (o == "--threads") threads = std::max(1, atoi(v));
        else if (o == "--repeat") repeat = std::min(64, std::max(1, atoi(v)));
        else if (o == "--metric") l2 = !strcmp(v, "l2");
        else if (o == "--ef") { if (!(n_ef = vecs_parse_list(v, ef, 32))) return usage(); }
        else return usage();
    }
    if (!base_p || !q_p || !t_p || k < 1 || k > 1024 || M < 2 || ef_c < 1) return usage();
    size_t n, d, nq, dq, nt, tk;
    float *base = (float *)vecs_read(base_p, &n, &d);
    float *q = (float *)vecs_read(q_p, &nq, &dq);
    int32_t *truth = (int32_t *)vecs_read(t_p, &nt, &tk);
    if (!base || !q || !truth || dq != d || nt != nq || tk < k) {
        fprintf(stderr, "bad or mismatched input files\n");
        return 2;
    }
    hnswlib::InnerProductSpace ip(d);
    hnswlib::L2Space l2s(d);
    hnswlib::SpaceInterface<float> *space = l2 ? (hnswlib::SpaceInterface<float> *)&l2s : &ip;
    size_t rss0 = vecs_rss();
    double build_s = 0, build_cpu_s = 0;
    int loaded = 0;
    hnswlib::HierarchicalNSW<float> *h;
    FILE *lf = load ? fopen(load, "rb") : nullptr;
    if (lf) {
        fclose(lf);
        h = new hnswlib::HierarchicalNSW<float>(space, load);
        loaded = 1;
    } else {
        h = new hnswlib::HierarchicalNSW<float>(space, n, (size_t)M, (size_t)ef_c);
        double t0 = now_s(), c0 = vecs_process_cpu_s();
        std::atomic<size_t> next(0);
        auto work = [&]() {
            for (size_t i; (i = next++) < n;) h->addPoint(base + i * d, i);
        };
        std::vector<std::thread> th;
        for (int t = 1; t < threads; t++) th.emplace_back(work);
        work();
        for (auto &t : th) t.join();
        build_s = now_s() - t0;
        build_cpu_s = vecs_process_cpu_s() - c0;
        if (save) h->saveIndex(save);
    }
    size_t rss = vecs_rss() - rss0;
    std::vector<int64_t> found(nq * k);
    if (!json)
        printf("hnswlib n=%zu dim=%zu queries=%zu k=%zu M=%d ef_construction=%d threads=%d\n", n, d, nq, k,
               M, ef_c, threads);
    if (!json && loaded) printf("build: loaded from %s\n", load);
    else if (!json) printf("build: %.2f s wall, %.2f s cpu\n", build_s, build_cpu_s);
    if (!json) printf("memory: %.1f MiB rss growth\n", rss / 1048576.0);
    if (json) {
        printf("{\"engine\":\"hnswlib\",\"n\":%zu,\"dim\":%zu,\"queries\":%zu,\"k\":%zu,\"M\":%d,"
               "\"ef_construction\":%d,\"threads\":%d,\"build_s\":", n, d, nq, k, M, ef_c, threads);
        if (loaded) printf("null,\"build_cpu_s\":null");
        else printf("%.3f,\"build_cpu_s\":%.3f", build_s, build_cpu_s);
        printf(",\"memory_bytes\":%zu,\"rss_growth_bytes\":%zu,\"results\":[", rss, rss);
    }
    for (size_t e = 0; e < n_ef; e++) {
        h->setEf((size_t)ef[e]);
        double qc[64], qw[64];
        for (int r = 0; r < repeat; r++) {
            double c0 = vecs_thread_cpu_s(), w0 = vecs_wall_s();
            for (size_t i = 0; i < nq; i++) {
                auto res = h->searchKnn(q + i * d, k);
                for (size_t j = 0; j < k; j++) found[i * k + j] = -1;
                for (size_t j = res.size(); j-- > 0; res.pop()) found[i * k + j] = (int64_t)res.top().second;
            }
            qc[r] = (double)nq / (vecs_thread_cpu_s() - c0);
            qw[r] = (double)nq / (vecs_wall_s() - w0);
        }
        double med = vecs_median(qc, (size_t)repeat), medw = vecs_median(qw, (size_t)repeat);
        double rec = vecs_recall(found.data(), nq, k, truth, tk);
        if (json) printf("%s{\"ef\":%d,\"recall\":%.4f,\"qps\":%.1f,\"qps_wall\":%.1f}", e ? "," : "", ef[e],
                         rec, med, medw);
        else printf("ef=%d recall@%zu=%.4f qps=%.0f qps_wall=%.0f\n", ef[e], k, rec, med, medw);
    }
    if (json) printf("]}\n");
    delete h;
    free(base);
    free(q);
    free(truth);
    return 0;
}
