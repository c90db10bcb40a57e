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
        fputs("],\"k1\":", stdout);
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
    if (st == KEN_OK) print_search(query, res, a.json);
    else rc = cli_fail(kb, st);
    ken_results_free(res);
    ken_kb_close(kb);
    free(query);
    return rc;
}

static const char eval_help[] =
    "usage: ken eval retrieval --queries Q.jsonl --qrels QRELS.tsv [options]\n\n"
    "Evaluates document-level BM25 on a BEIR-format test collection whose corpus was\n"
    "added to the knowledge base (`ken add corpus.jsonl`): nDCG@10, Recall@100, MRR@10\n"
    "and MAP@100 with trec_eval's definitions, averaged over the judged queries.\n\n"
    "options:\n"
    "  --queries FILE     queries.jsonl (\"_id\", \"text\")\n"
    "  --qrels FILE       qrels.tsv (header \"query-id corpus-id score\")\n"
    "  --run FILE         also write the run in TREC format (qid Q0 docid rank score ken)\n"
    "  -k N               documents retrieved per query (default 100)\n"
    "  --collection C     search only collection C\n"
    "  --prf              RM3 pseudo-relevance feedback\n"
    "  --k1 X, --b Y      BM25 parameters\n"
    "  --json             one JSON document on stdout (with per-query metrics)\n";

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

static int eval_retrieval(int argc, char **argv) {
    ken_eval_retrieval_opts o = {.size = sizeof o};
    const char *queries = NULL, *qrels = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        bool has = i + 1 < argc;
        if (cli_is_help(s)) { fputs(eval_help, stdout); return EXIT_OK; }
        else if (strcmp(s, "--json") == 0) json = true;
        else if (strcmp(s, "--prf") == 0) o.prf = 1;
        else if (strcmp(s, "--queries") == 0 && has) queries = argv[++i];
        else if (strcmp(s, "--qrels") == 0 && has) qrels = argv[++i];
        else if (strcmp(s, "--run") == 0 && has) o.run_path = argv[++i];
        else if (strcmp(s, "--collection") == 0 && has) o.collection = argv[++i];
        else if (strcmp(s, "-k") == 0 && has) {
            if (!cli_num_u32(argv[++i], 1, 10000, &o.k))
                return cli_usage_error("eval retrieval", "-k needs a number from 1 to 10000, got '%s'",
                                   argv[i]);
        } else if (strcmp(s, "--k1") == 0 && has) {
            if (!cli_num_f(argv[++i], 0.001, 100, &o.k1))
                return cli_usage_error("eval retrieval", "--k1 needs a number in (0, 100], got '%s'",
                                   argv[i]);
        } else if (strcmp(s, "--b") == 0 && has) {
            if (!cli_num_f(argv[++i], 0.001, 1, &o.b))
                return cli_usage_error("eval retrieval", "--b needs a number in (0, 1], got '%s'",
                                   argv[i]);
        } else return cli_usage_error("eval retrieval", "unknown argument or missing value: '%s'", s);
    }
    if (!queries || !qrels)
        return cli_usage_error("eval retrieval", "%s", "--queries and --qrels are needed");
    pq_state pq = {json, 0};
    o.per_query = on_query;
    o.per_query_ud = &pq;
    ken_kb *kb = NULL;
    ken_status st = cli_open_ro(&kb);
    if (st != KEN_OK) {
        int rc = cli_fail(kb, st);
        ken_kb_close(kb);
        return rc;
    }
    if (json) fputs("{\"per_query\":[", stdout);
    ken_eval_retrieval_report r;
    st = ken_eval_retrieval(kb, queries, qrels, &o, &r);
    if (st != KEN_OK) {
        if (json) fputs("]}\n", stdout);   /* keep stdout valid JSON */
        int rc = cli_fail(kb, st);
        ken_kb_close(kb);
        return rc;
    }
    if (json) {
        printf("],\"queries\":%" PRIu64 ",\"skipped\":%" PRIu64 ",\"ndcg@10\":%.6f,"
               "\"recall@100\":%.6f,\"mrr@10\":%.6f,\"map@100\":%.6f,\"k1\":%g,\"b\":%g,"
               "\"prf\":%s,\"seconds\":%.3f}\n",
               r.queries, r.skipped, r.ndcg10, r.recall100, r.mrr10, r.map100, r.k1, r.b,
               o.prf ? "true" : "false", r.seconds);
    } else {
        printf("queries     %" PRIu64 " judged (%" PRIu64 " without judgments skipped)\n",
               r.queries, r.skipped);
        printf("bm25        k1 %g, b %g%s\n", r.k1, r.b, o.prf ? ", RM3 feedback" : "");
        printf("nDCG@10     %.4f\nRecall@100  %.4f\nMRR@10      %.4f\nMAP@100     %.4f\n",
               r.ndcg10, r.recall100, r.mrr10, r.map100);
        printf("time        %.2f s\n", r.seconds);
        if (o.run_path) printf("run written to %s\n", o.run_path);
    }
    ken_kb_close(kb);
    return EXIT_OK;
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
