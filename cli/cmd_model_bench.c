/* cmd_model_bench.c: `ken model bench`: prompt-processing and generation
 * tokens/s of a decoder (llama-bench's pp512 / tg128), embedding tokens/s
 * of an encoder, with repetitions (median, min, max), as a table or one
 * JSON object. The measuring loop is the library's ken_model_bench. */
#include "cli.h"
#include "ken.h"
#include "ken_infer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* Declared in cli.h once the lead adds it; repeated so the file builds on
 * its own with -Wmissing-prototypes. */
int cmd_model_bench(int argc, char **argv);

static void usage(FILE *f) {
    fprintf(f,
            "usage: ken model bench --model FILE [-t THREADS] [-p N] [-n N] [-r REPS]\n"
            "         [--embd-seq N] [--embd-batch N] [--seed S] [--kv-f32] [--json]\n"
            "Decoders: pp = one batch of N prompt tokens from an empty cache (-p, default 512;\n"
            "0 skips it), tg = N tokens generated one at a time (-n, default 128; 0 skips).\n"
            "Encoders: embeddings of --embd-batch sequences (default 8) of --embd-seq tokens\n"
            "(default 128). Random token ids; one warm-up run, then REPS runs (default 5):\n"
            "median tokens/s with the min and max; cpu = CPU time / (wall × threads), below 1\n"
            "when other processes took the cores.\n");
}

static int parse_long(const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "ken model bench: %s needs an integer in %ld..%ld, got '%s'\n", opt, lo, hi,
                s);
        return -1;
    }
    *out = v;
    return 0;
}

static void json_stat(const char *name, ken_bench_stat s) {
    printf(",\"%s_tps\":%.3f,\"%s_tps_min\":%.3f,\"%s_tps_max\":%.3f,\"%s_cpu_share\":%.3f", name,
           s.med, name, s.min, name, s.max, name, s.cpu_share);
}

static void print_json(const char *path, const ken_bench_result *r, long rss) {
    printf("{\"model\":\"");
    for (const char *p = path; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch < 0x20) printf("\\u%04x", ch);
        else putchar(ch);
    }
    printf("\",\"model_bytes\":%llu,\"threads\":%d,\"reps\":%d,\"encoder\":%s",
           (unsigned long long)r->model_bytes, r->n_threads, r->reps,
           r->is_encoder ? "true" : "false");
    if (r->is_encoder) {
        printf(",\"embd_seq\":%d,\"embd_batch\":%d", r->embd_seq, r->embd_batch);
        json_stat("embd", r->embd);
    } else {
        printf(",\"n_prompt\":%d,\"n_gen\":%d", r->n_prompt, r->n_gen);
        json_stat("pp", r->pp);
        json_stat("tg", r->tg);
        printf(",\"kv_bytes\":%llu", (unsigned long long)r->kv_bytes);
    }
    printf(",\"peak_rss_bytes\":%ld}\n", rss);
}

static void print_row(const char *path, const ken_bench_result *r, const char *test,
                      ken_bench_stat s) {
    printf("%-32s %9.1f MiB %3d %-10s %10.2f %10.2f %10.2f %5.2f\n", path,
           (double)r->model_bytes / (1024.0 * 1024.0), r->n_threads, test, s.med, s.min, s.max,
           s.cpu_share);
}

static void print_table(const char *path, const ken_bench_result *r, long rss) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char test[48];
    printf("%-32s %13s %3s %-10s %10s %10s %10s %5s\n", "model", "size", "th", "test", "t/s med",
           "min", "max", "cpu");
    if (r->is_encoder) {
        snprintf(test, sizeof test, "embd%dx%d", r->embd_batch, r->embd_seq);
        print_row(base, r, test, r->embd);
    }
    if (!r->is_encoder && r->n_prompt) {
        snprintf(test, sizeof test, "pp%d", r->n_prompt);
        print_row(base, r, test, r->pp);
    }
    if (!r->is_encoder && r->n_gen) {
        snprintf(test, sizeof test, "tg%d", r->n_gen);
        print_row(base, r, test, r->tg);
    }
    printf("reps %d, peak RSS %.1f MiB\n", r->reps, (double)rss / (1024.0 * 1024.0));
}

int cmd_model_bench(int argc, char **argv) {
    ken_bench_opts o = {.size = sizeof o};
    const char *model = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return EXIT_OK;
        }
        if (!strcmp(a, "--json")) { json = 1; continue; }
        if (!strcmp(a, "--kv-f32")) { o.kv_f32 = 1; continue; }
        if (i + 1 >= argc) {
            fprintf(stderr, "ken model bench: unknown option or missing value '%s'\n", a);
            return EXIT_USAGE;
        }
        const char *val = argv[++i];
        long v = 0;
        int bad = 0;
        if (!strcmp(a, "--model") || !strcmp(a, "-m")) model = val;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { bad = parse_long(a, val, 1, 256, &v); o.n_threads = (int)v; }
        else if (!strcmp(a, "-p")) { bad = parse_long(a, val, 0, 4096, &v); o.n_prompt = v ? (int)v : -1; }
        else if (!strcmp(a, "-n")) { bad = parse_long(a, val, 0, 1 << 20, &v); o.n_gen = v ? (int)v : -1; }
        else if (!strcmp(a, "-r") || !strcmp(a, "--reps")) { bad = parse_long(a, val, 1, 1000, &v); o.reps = (int)v; }
        else if (!strcmp(a, "--embd-seq")) { bad = parse_long(a, val, 1, 1 << 20, &v); o.embd_seq = (int)v; }
        else if (!strcmp(a, "--embd-batch")) { bad = parse_long(a, val, 1, 4096, &v); o.embd_batch = (int)v; }
        else if (!strcmp(a, "--seed")) { bad = parse_long(a, val, 1, 0x7fffffffL, &v); o.seed = (uint64_t)v; }
        else {
            fprintf(stderr, "ken model bench: unknown option '%s'\n", a);
            return EXIT_USAGE;
        }
        if (bad) return EXIT_USAGE;
    }
    if (!model) {
        usage(stderr);
        return EXIT_USAGE;
    }
    char *msg = NULL;
    ken_model *m = NULL;
    ken_status st = ken_model_open(model, &m, &msg);
    if (st) {
        fprintf(stderr, "ken model bench: %s: %s\n", model, msg ? msg : ken_status_str(st));
        ken_free(msg);
        return st == KEN_ERR_NOMEM ? EXIT_INTERNAL : EXIT_INPUT;
    }
    ken_bench_result r;
    st = ken_model_bench(m, &o, &r, &msg);
    ken_model_close(m);
    if (st) {
        fprintf(stderr, "ken model bench: %s\n", msg ? msg : ken_status_str(st));
        ken_free(msg);
        return st == KEN_ERR_NOMEM || st == KEN_ERR_INTERNAL ? EXIT_INTERNAL : EXIT_INPUT;
    }
    struct rusage ru;
    long rss = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss * 1024L : 0;
    if (json) print_json(model, &r, rss);
    else print_table(model, &r, rss);
    return EXIT_OK;
}
