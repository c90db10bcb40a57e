/* cmd_search.c: `ken search` and `ken eval retrieval`: parse the
 * arguments, call the public API (ken_search.h), print text or one JSON
 * document. */
#include "cli.h"
#include "ken.h"
#include "ken_search.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_search(int argc, char **argv);
int cmd_eval(int argc, char **argv);


/* ------------------------------------------------------------ helpers */

/* "B,D": two fusion weights in (0, 1000]. */
static bool cli_weights(const char *v, double *b, double *d) {
    char *copy = strdup(v), *comma = copy ? strchr(copy, ',') : NULL;
    bool ok = comma != NULL;
    if (ok) {
        *comma = '\0';
        ok = cli_num_f(copy, 1e-9, 1000, b) && cli_num_f(comma + 1, 1e-9, 1000, d);
    }
    free(copy);
    return ok;
}

/* ------------------------------------------------------------ search */

static const char search_help[] =
    "usage: ken search QUERY... [options]\n\n"
    "BM25 search over the chunks of the knowledge base. Any text is a valid query:\n"
    "words are matched (stemmed, case and accents folded); quotes, *, AND/OR/NOT and\n"
    "other search syntax are read as plain words.\n\n"
    "options:\n"
    "  -k N               results (default 10, at most 10000)\n"
    "  --json             one JSON document on stdout\n"
    "  --docs             document-level: the best chunk per document\n"
    "  --collection C     only documents of collection C\n"
    "  --prefix P         only documents whose uri starts with P\n"
    "  --mime T           only documents of MIME type T\n"
    "  --meta FIELD=VALUE only documents whose metadata FIELD (a.b for nested) is VALUE\n"
    "  --prf              expand the query from the top passages (RM3)\n"
    "  --k1 X, --b Y      BM25 parameters for this search\n"
    "  --set-bm25 K1,B    store BM25 parameters in the knowledge base and exit\n"
    "  --mode M           bm25, dense (embedding similarity) or hybrid (both, fused);\n"
    "                     default: config search.mode, else bm25. Without a usable\n"
    "                     embedding model the search falls back to BM25 and says so\n"
    "  --fusion F         hybrid fusion: rrf (reciprocal ranks, default) or weighted\n"
    "                     (min-max normalized scores)\n"
    "  --weights B,D      fusion weights of BM25 and dense (default 1,1)\n"
    "  --rerank           re-rank the top candidates with a cross-encoder\n"
    "  --rerank-model F   the cross-encoder (GGUF; default: config rerank.model)\n"
    "  --rerank-top N     candidates re-ranked (default 50)\n"
    "  --no-rerank        do not re-rank even if the config says so\n"
    "  --                 the rest is the query, even if it starts with '-'\n";

typedef struct {
    ken_search_opts o;
    bool json;
    char *meta;          /* FIELD=VALUE copy, split in place */
    const char *set_bm25;
    int first_word, n_words;
} search_args;

static int parse_search(int argc, char **argv, search_args *a) {
    memset(a, 0, sizeof *a);
    a->o.size = sizeof a->o;
    char **words = argv + 1;
    int nw = 0;
    bool rest = false;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        bool has = i + 1 < argc;
        if (rest || s[0] != '-' || s[1] == '\0') { words[nw++] = argv[i]; continue; }
        if (strcmp(s, "--") == 0) rest = true;
        else if (cli_is_help(s)) { fputs(search_help, stdout); return -1; }
        else if (strcmp(s, "--json") == 0) a->json = true;
        else if (strcmp(s, "--docs") == 0) a->o.docs = 1;
        else if (strcmp(s, "--prf") == 0) a->o.prf = 1;
        else if (strcmp(s, "-k") == 0 && has) {
            if (!cli_num_u32(argv[++i], 1, 10000, &a->o.k))
                return cli_usage_error("search", "-k needs a number from 1 to 10000, got '%s'", argv[i]);
        } else if (strcmp(s, "--k1") == 0 && has) {
            if (!cli_num_f(argv[++i], 0.001, 100, &a->o.k1))
                return cli_usage_error("search", "--k1 needs a number in (0, 100], got '%s'", argv[i]);
        } else if (strcmp(s, "--b") == 0 && has) {
            if (!cli_num_f(argv[++i], 0.001, 1, &a->o.b))
                return cli_usage_error("search", "--b needs a number in (0, 1], got '%s'", argv[i]);
        } else if (strcmp(s, "--collection") == 0 && has) a->o.collection = argv[++i];
        else if (strcmp(s, "--prefix") == 0 && has) a->o.uri_prefix = argv[++i];
        else if (strcmp(s, "--mime") == 0 && has) a->o.mime = argv[++i];
        else if (strcmp(s, "--set-bm25") == 0 && has) a->set_bm25 = argv[++i];
        else if (strcmp(s, "--mode") == 0 && has) a->o.mode = argv[++i];
        else if (strcmp(s, "--fusion") == 0 && has) a->o.fusion = argv[++i];
        else if (strcmp(s, "--rerank") == 0) a->o.rerank = 1;
        else if (strcmp(s, "--no-rerank") == 0) a->o.rerank = -1;
        else if (strcmp(s, "--rerank-model") == 0 && has) {
            a->o.rerank_model = argv[++i];
            if (a->o.rerank == 0) a->o.rerank = 1;
        } else if (strcmp(s, "--rerank-top") == 0 && has) {
            if (!cli_num_u32(argv[++i], 1, 1000, &a->o.rerank_top))
                return cli_usage_error("search", "--rerank-top needs 1..1000, got '%s'", argv[i]);
        } else if (strcmp(s, "--weights") == 0 && has) {
            if (!cli_weights(argv[++i], &a->o.w_bm25, &a->o.w_dense))
                return cli_usage_error("search", "--weights needs B,D (numbers > 0), got '%s'",
                                       argv[i]);
        }
        else if (strcmp(s, "--meta") == 0 && has) {
            char *eq = strchr(argv[++i], '=');
            if (!eq || eq == argv[i])
                return cli_usage_error("search", "--meta needs FIELD=VALUE, got '%s'", argv[i]);
            *eq = '\0';   /* argv is ours to modify */
            a->o.meta_field = argv[i];
            a->o.meta_value = eq + 1;
        } else {
            return cli_usage_error("search", "unknown option or missing value: '%s'", s);
        }
    }
    a->first_word = (int)(words - argv);
    a->n_words = nw;
    return 0;
}

static void print_result_json(size_t rank, const ken_result *r) {
    printf("{\"rank\":%zu,\"score\":", rank);
    cli_jnum(r->score);
    printf(",\"doc_id\":%" PRId64 ",\"ext_id\":", r->doc_id);
    cli_jstr(r->ext_id);
    fputs(",\"uri\":", stdout);
    cli_jstr(r->uri);
    fputs(",\"title\":", stdout);
    cli_jstr(r->title);
    fputs(",\"heading\":", stdout);
    cli_jstr(r->heading);
    fputs(",\"collection\":", stdout);
    cli_jstr(r->collection);
    fputs(",\"mime\":", stdout);
    cli_jstr(r->mime);
    printf(",\"page\":%d,\"chunk_id\":%" PRId64 ",\"ordinal\":%d,\"start\":%" PRId64
           ",\"end\":%" PRId64 ",\"snippet\":",
           (int)r->page, r->chunk_id, (int)r->ordinal, r->start, r->end);
    cli_jstr(r->snippet);
    putchar('}');
}

static void print_search(const char *query, const ken_results *res, bool json) {
    size_t n = ken_results_count(res);
    double k1, b, secs;
    ken_results_params(res, &k1, &b, &secs);
    if (json) {
        fputs("{\"query\":", stdout);
        cli_jstr(query);
        fputs(",\"terms\":[", stdout);
        for (size_t i = 0; i < ken_results_terms(res); i++) {
            double w;
            const char *t = ken_results_term(res, i, &w);
            printf("%s{\"term\":", i ? "," : "");
            cli_jstr(t);
            fputs(",\"weight\":", stdout);
            cli_jnum(w);
            putchar('}');
        }
        fputs("],\"mode\":", stdout);
        cli_jstr(ken_results_mode(res));
        printf(",\"reranked\":%s,\"notice\":", ken_results_reranked(res) ? "true" : "false");
        cli_jstr(ken_results_notice(res));
        fputs(",\"k1\":", stdout);
        cli_jnum(k1);
        fputs(",\"b\":", stdout);
        cli_jnum(b);
        printf(",\"seconds\":%.6f,\"count\":%zu,\"results\":[", secs, n);
        for (size_t i = 0; i < n; i++) {
            if (i) putchar(',');
            print_result_json(i + 1, ken_results_get(res, i));
        }
        fputs("]}\n", stdout);
        return;
    }
    if (strcmp(ken_results_mode(res), "bm25") != 0 || ken_results_reranked(res))
        printf("(%s%s)\n", ken_results_mode(res), ken_results_reranked(res) ? ", re-ranked" : "");
    if (n == 0) {
        printf("no results\n");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const ken_result *r = ken_results_get(res, i);
        printf("%zu. %s", i + 1, r->title && *r->title ? r->title : r->uri);
        if (r->ext_id) printf(" [%s]", r->ext_id);
        printf("  (score %.3f)\n   %s", r->score, r->uri);
        if (r->heading && *r->heading) printf(" > %s", r->heading);
        if (r->page) printf(", page %d", (int)r->page);
        printf(", bytes %" PRId64 "-%" PRId64 ", chunk %" PRId64 "\n", r->start, r->end,
               r->chunk_id);
        if (r->snippet) {
            fputs("   ", stdout);
            for (const char *p = r->snippet; *p; p++) putchar(*p == '\n' ? ' ' : *p);
            putchar('\n');
        }
    }
}

static int set_bm25(const char *spec) {
    double k1, b;
    char *copy = strdup(spec), *comma = copy ? strchr(copy, ',') : NULL;
    bool ok = comma != NULL;
    if (ok) {
        *comma = '\0';
        ok = cli_num_f(copy, 0.001, 100, &k1) && cli_num_f(comma + 1, 0, 1, &b);
    }
    free(copy);
    if (!ok) return cli_usage_error("search", "--set-bm25 needs K1,B (e.g. 0.9,0.4), got '%s'", spec);
    ken_kb *kb = NULL;
    ken_kb_opts o = {.size = sizeof o, .path = cli_db_path};
    ken_status st = ken_kb_open(&o, &kb);
    if (st == KEN_OK) st = ken_search_set_bm25(kb, k1, b);
    int rc = st == KEN_OK ? EXIT_OK : cli_fail(kb, st);
    if (st == KEN_OK) printf("bm25.k1 = %g, bm25.b = %g\n", k1, b);
    ken_kb_close(kb);
    return rc;
}

int cmd_search(int argc, char **argv) {
    search_args a;
    int rc = parse_search(argc, argv, &a);
    if (rc < 0) return EXIT_OK;
    if (rc) return rc;
    if (a.set_bm25) return set_bm25(a.set_bm25);
    if (a.n_words == 0) return cli_usage_error("search", "%s", "a QUERY is needed");
    char *query = cli_join_words(argv + a.first_word, a.n_words);
    if (!query) return cli_usage_error("search", "%s", "the query is too long (at most 64 KiB)");
    ken_kb *kb = NULL;
    ken_results *res = NULL;
    ken_status st = cli_open_ro(&kb);
    if (st == KEN_OK) st = ken_search(kb, query, &a.o, &res);
    if (st == KEN_OK) {
        if (ken_results_notice(res)) fprintf(stderr, "ken: note: %s\n", ken_results_notice(res));
        print_search(query, res, a.json);
    } else rc = cli_fail(kb, st);
    ken_results_free(res);
    ken_kb_close(kb);
    free(query);
    return rc;
}

static const char eval_help[] =
    "usage: ken eval retrieval --queries Q.jsonl --qrels QRELS.tsv [options]\n\n"
    "Evaluates document-level retrieval on a BEIR-format test collection whose corpus\n"
    "was added to the knowledge base (`ken add corpus.jsonl`): nDCG@10, Recall@100,\n"
    "MRR@10 and MAP@100 with trec_eval's definitions, averaged over the judged queries.\n\n"
    "options:\n"
    "  --queries FILE     queries.jsonl (\"_id\", \"text\")\n"
    "  --qrels FILE       qrels.tsv (header \"query-id corpus-id score\")\n"
    "  --run FILE         also write the run in TREC format (qid Q0 docid rank score ken)\n"
    "  -k N               documents retrieved per query (default 100)\n"
    "  --collection C     search only collection C\n"
    "  --prf              RM3 pseudo-relevance feedback\n"
    "  --k1 X, --b Y      BM25 parameters\n"
    "  --mode M[,M...]    bm25, dense or hybrid, each optionally +rerank (e.g.\n"
    "                     bm25,dense,hybrid,hybrid+rerank): several modes print a table\n"
    "                     side by side (default: config search.mode, else bm25)\n"
    "  --fusion F, --weights B,D, --rerank, --rerank-model F, --rerank-top N\n"
    "                     as in `ken search`\n"
    "  --json             one JSON document on stdout (with per-query metrics for one mode)\n";

typedef struct { bool json; size_t n; } pq_state;

static int on_query(void *ud, const char *qid, double ndcg, double rec, double mrr, double map) {
    pq_state *s = ud;
    if (!s->json) return 0;
    printf("%s{\"qid\":", s->n++ ? "," : "");
    cli_jstr(qid);
    printf(",\"ndcg@10\":%.6f,\"recall@100\":%.6f,\"mrr@10\":%.6f,\"map@100\":%.6f}", ndcg, rec,
           mrr, map);
    return 0;
}

#define EVAL_MODES_MAX 8

typedef struct {
    ken_eval_retrieval_opts o;
    const char *queries, *qrels, *modes;
    bool json;
} eval_args;

static int parse_eval(int argc, char **argv, eval_args *e) {
    ken_eval_retrieval_opts *o = &e->o;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        bool has = i + 1 < argc;
        if (cli_is_help(s)) { fputs(eval_help, stdout); return -1; }
        else if (strcmp(s, "--json") == 0) e->json = true;
        else if (strcmp(s, "--prf") == 0) o->prf = 1;
        else if (strcmp(s, "--queries") == 0 && has) e->queries = argv[++i];
        else if (strcmp(s, "--qrels") == 0 && has) e->qrels = argv[++i];
        else if (strcmp(s, "--run") == 0 && has) o->run_path = argv[++i];
        else if (strcmp(s, "--collection") == 0 && has) o->collection = argv[++i];
        else if (strcmp(s, "--mode") == 0 && has) e->modes = argv[++i];
        else if (strcmp(s, "--fusion") == 0 && has) o->fusion = argv[++i];
        else if (strcmp(s, "--rerank") == 0) o->rerank = 1;
        else if (strcmp(s, "--rerank-model") == 0 && has) {
            o->rerank_model = argv[++i];
            if (!o->rerank) o->rerank = 1;
        } else if (strcmp(s, "--rerank-top") == 0 && has) {
            if (!cli_num_u32(argv[++i], 1, 1000, &o->rerank_top))
                return cli_usage_error("eval retrieval", "--rerank-top needs 1..1000, got '%s'",
                                       argv[i]);
        } else if (strcmp(s, "--weights") == 0 && has) {
            if (!cli_weights(argv[++i], &o->w_bm25, &o->w_dense))
                return cli_usage_error("eval retrieval", "--weights needs B,D, got '%s'", argv[i]);
        } else if (strcmp(s, "-k") == 0 && has) {
            if (!cli_num_u32(argv[++i], 1, 10000, &o->k))
                return cli_usage_error("eval retrieval", "-k needs a number from 1 to 10000, got '%s'",
                                   argv[i]);
        } else if (strcmp(s, "--k1") == 0 && has) {
            if (!cli_num_f(argv[++i], 0.001, 100, &o->k1))
                return cli_usage_error("eval retrieval", "--k1 needs a number in (0, 100], got '%s'",
                                   argv[i]);
        } else if (strcmp(s, "--b") == 0 && has) {
            if (!cli_num_f(argv[++i], 0.001, 1, &o->b))
                return cli_usage_error("eval retrieval", "--b needs a number in (0, 1], got '%s'",
                                   argv[i]);
        } else return cli_usage_error("eval retrieval", "unknown argument or missing value: '%s'", s);
    }
    if (!e->queries || !e->qrels)
        return cli_usage_error("eval retrieval", "%s", "--queries and --qrels are needed");
    return 0;
}

static void print_one(const eval_args *e, const ken_eval_retrieval_report *r) {
    const ken_eval_retrieval_opts *o = &e->o;
    if (e->json) {
        printf("],\"queries\":%" PRIu64 ",\"skipped\":%" PRIu64 ",\"ndcg@10\":%.6f,"
               "\"recall@100\":%.6f,\"mrr@10\":%.6f,\"map@100\":%.6f,\"k1\":%g,\"b\":%g,"
               "\"prf\":%s,\"mode\":\"%s\",\"reranked\":%s,\"notice\":",
               r->queries, r->skipped, r->ndcg10, r->recall100, r->mrr10, r->map100, r->k1, r->b,
               o->prf ? "true" : "false", r->mode, r->reranked ? "true" : "false");
        cli_jstr(r->notice[0] ? r->notice : NULL);
        printf(",\"seconds\":%.3f}\n", r->seconds);
        return;
    }
    printf("queries     %" PRIu64 " judged (%" PRIu64 " without judgments skipped)\n",
           r->queries, r->skipped);
    printf("retrieval   %s%s\n", r->mode, r->reranked ? ", re-ranked" : "");
    printf("bm25        k1 %g, b %g%s\n", r->k1, r->b, o->prf ? ", RM3 feedback" : "");
    printf("nDCG@10     %.4f\nRecall@100  %.4f\nMRR@10      %.4f\nMAP@100     %.4f\n",
           r->ndcg10, r->recall100, r->mrr10, r->map100);
    printf("time        %.2f s\n", r->seconds);
    if (o->run_path) printf("run written to %s\n", o->run_path);
}

/* Several modes: one evaluation each, then a table (or a JSON array). */
static int eval_table(ken_kb *kb, eval_args *e, char **modes, int n) {
    ken_eval_retrieval_report r[EVAL_MODES_MAX];
    for (int i = 0; i < n; i++) {
        ken_eval_retrieval_opts o = e->o;
        char *plus = strchr(modes[i], '+');
        if (plus) {
            if (strcmp(plus, "+rerank") != 0)
                return cli_usage_error("eval retrieval", "mode '%s': the only suffix is +rerank",
                                       modes[i]);
            *plus = '\0';
            o.rerank = 1;
        } else if (o.rerank == 0) {
            o.rerank = -1;   /* the table compares modes: re-ranking only where asked */
        }
        o.mode = modes[i];
        o.run_path = NULL;
        ken_status st = ken_eval_retrieval(kb, e->queries, e->qrels, &o, &r[i]);
        if (plus) *plus = '+';
        if (st) return cli_fail(kb, st);
        if (r[i].notice[0]) fprintf(stderr, "ken: note (%s): %s\n", modes[i], r[i].notice);
    }
    if (e->json) {
        printf("{\"queries\":%" PRIu64 ",\"modes\":[", r[0].queries);
        for (int i = 0; i < n; i++) {
            printf("%s{\"mode\":", i ? "," : "");
            cli_jstr(modes[i]);
            printf(",\"used\":\"%s\",\"reranked\":%s,\"ndcg@10\":%.6f,\"recall@100\":%.6f,"
                   "\"mrr@10\":%.6f,\"map@100\":%.6f,\"seconds\":%.3f}", r[i].mode,
                   r[i].reranked ? "true" : "false", r[i].ndcg10, r[i].recall100, r[i].mrr10,
                   r[i].map100, r[i].seconds);
        }
        fputs("]}\n", stdout);
        return EXIT_OK;
    }
    printf("queries %" PRIu64 " judged (%" PRIu64 " skipped)\n\n", r[0].queries, r[0].skipped);
    printf("%-16s %-8s %8s %10s %8s %8s %8s\n", "mode", "used", "nDCG@10", "Recall@100",
           "MRR@10", "MAP@100", "time s");
    for (int i = 0; i < n; i++)
        printf("%-16s %-8s %8.4f %10.4f %8.4f %8.4f %8.2f\n", modes[i], r[i].mode, r[i].ndcg10,
               r[i].recall100, r[i].mrr10, r[i].map100, r[i].seconds);
    return EXIT_OK;
}

static int eval_retrieval(int argc, char **argv) {
    eval_args e;
    memset(&e, 0, sizeof e);
    e.o.size = sizeof e.o;
    int rc = parse_eval(argc, argv, &e);
    if (rc < 0) return EXIT_OK;
    if (rc) return rc;
    char *list = e.modes ? strdup(e.modes) : NULL;
    char *modes[EVAL_MODES_MAX];
    int n = 0;
    for (char *t = list ? strtok(list, ",") : NULL; t; t = strtok(NULL, ",")) {
        if (n == EVAL_MODES_MAX) {
            free(list);
            return cli_usage_error("eval retrieval", "at most 8 modes, got '%s'", e.modes);
        }
        modes[n++] = t;
    }
    ken_kb *kb = NULL;
    ken_status st = cli_open_ro(&kb);
    if (st != KEN_OK) {
        rc = cli_fail(kb, st);
    } else if (n > 1) {
        rc = eval_table(kb, &e, modes, n);
    } else {
        if (n == 1) {
            char *plus = strchr(modes[0], '+');
            if (plus && strcmp(plus, "+rerank") == 0) { *plus = '\0'; e.o.rerank = 1; }
            e.o.mode = modes[0];
        }
        pq_state pq = {e.json, 0};
        e.o.per_query = on_query;
        e.o.per_query_ud = &pq;
        if (e.json) fputs("{\"per_query\":[", stdout);
        ken_eval_retrieval_report r;
        st = ken_eval_retrieval(kb, e.queries, e.qrels, &e.o, &r);
        if (st != KEN_OK) {
            if (e.json) fputs("]}\n", stdout);   /* keep stdout valid JSON */
            rc = cli_fail(kb, st);
        } else {
            if (r.notice[0]) fprintf(stderr, "ken: note: %s\n", r.notice);
            print_one(&e, &r);
            rc = EXIT_OK;
        }
    }
    ken_kb_close(kb);
    free(list);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    if (argc < 2 || cli_is_help(argv[1])) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "usage: ken eval SUBCOMMAND [ARGS]\n\nsubcommands:\n"
                   "  retrieval  nDCG@10, Recall@100, MRR@10, MAP@100 on a BEIR test collection\n");
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (strcmp(argv[1], "retrieval") == 0) return eval_retrieval(argc - 1, argv + 1);
    fprintf(stderr, "ken eval: unknown subcommand '%s' (see `ken eval --help`)\n", argv[1]);
    return EXIT_USAGE;
}
