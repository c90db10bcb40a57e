/* cmd_kb.c: the knowledge-base commands: add, sync, rm, ls, show, stats. */
#include "cli.h"
#include "ken.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers */

static ken_status open_kb(bool create, bool readonly, ken_kb **kb) {
    ken_kb_opts o = {.size = sizeof o, .path = cli_db_path, .create = create,
                     .readonly = readonly};
    return ken_kb_open(&o, kb);
}


/* Parses a non-negative integer option value; -1 on error. */
static long long num_arg(const char *opt, const char *v) {
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || *end || n < 0 || end == v) {
        fprintf(stderr, "ken: %s needs a non-negative integer, got '%s'\n", opt, v);
        return -1;
    }
    return n;
}

/* A JSON string on stdout (escaped); NULL prints null. */
static void jstr(const char *s) {
    if (!s) { fputs("null", stdout); return; }
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", stdout); break;
        case '\\': fputs("\\\\", stdout); break;
        case '\n': fputs("\\n", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        default:
            if (*p < 0x20) printf("\\u%04x", *p);
            else putchar(*p);
        }
    }
    putchar('"');
}

static void jstrn(const char *s, size_t n) {
    /* Text may hold NUL in theory; print through a copy. */
    char *c = malloc(n + 1);
    if (!c) { fputs("null", stdout); return; }
    memcpy(c, s, n);
    c[n] = 0;
    for (size_t i = 0; i < n; i++) if (!c[i]) c[i] = ' ';
    jstr(c);
    free(c);
}

/* ------------------------------------------------------------ progress */

typedef struct {
    bool tty, quiet, json;
    double t0;
    bool drawn;
    uint64_t problems;
} ui;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void clear_line(ui *u) {
    if (u->drawn) { fputs("\r\033[K", stderr); u->drawn = false; }
}

static void on_progress(void *ud, const ken_progress *p) {
    ui *u = ud;
    if (!u->tty || u->quiet) return;
    double dt = now_s() - u->t0;
    double mb = (double)p->bytes_done / 1e6, mbt = (double)p->bytes_total / 1e6;
    double rate = dt > 0 ? mb / dt : 0;
    char eta[32] = "";
    if (rate > 0 && mbt > mb) snprintf(eta, sizeof eta, " ETA %.0fs", (mbt - mb) / rate);
    fprintf(stderr, "\r\033[Kfiles %" PRIu64 "/%" PRIu64 "  %.1f/%.1f MB  %.1f MB/s%s",
            p->items_done, p->items_total, mb, mbt, rate, eta);
    u->drawn = true;
}

static void on_embed_progress(void *ud, const ken_progress *p) {
    ui *u = ud;
    if (!u->tty || u->quiet) return;
    fprintf(stderr, "\r\033[Kembedding %" PRIu64 "/%" PRIu64 " chunks", p->items_done,
            p->items_total);
    u->drawn = true;
}

static void on_event(void *ud, ken_event_kind k, const char *item, const char *msg) {
    ui *u = ud;
    const char *what = NULL;
    switch (k) {
    case KEN_EVENT_SKIPPED: what = "skipped"; u->problems++; break;
    case KEN_EVENT_WARNING: what = "warning"; u->problems++; break;
    default: return;
    }
    clear_line(u);
    if (item) fprintf(stderr, "ken: %s %s: %s\n", what, item, msg ? msg : "");
    else fprintf(stderr, "ken: %s: %s\n", what, msg ? msg : "");
}

static void print_stats(const ui *u, const ken_add_stats *s, double secs) {
    if (u->json) {
        printf("{\"added\":%" PRIu64 ",\"updated\":%" PRIu64 ",\"unchanged\":%" PRIu64
               ",\"skipped\":%" PRIu64 ",\"removed\":%" PRIu64 ",\"chunks\":%" PRIu64
               ",\"bytes\":%" PRIu64 ",\"seconds\":%.3f}\n",
               s->added, s->updated, s->unchanged, s->skipped, s->removed, s->chunks, s->bytes,
               secs);
        return;
    }
    if (u->quiet) return;
    printf("added %" PRIu64 ", updated %" PRIu64 ", unchanged %" PRIu64 ", skipped %" PRIu64
           ", removed %" PRIu64 " (%" PRIu64 " chunks, %.1f MB in %.2f s)\n",
           s->added, s->updated, s->unchanged, s->skipped, s->removed, s->chunks,
           (double)s->bytes / 1e6, secs);
}

static volatile int cancel_flag;
static void on_sigint(int sig) { (void)sig; cancel_flag = 1; }

/* ------------------------------------------------------------ add, sync */

static const char add_usage[] =
    "usage: ken add [OPTIONS] PATH... | -\n"
    "Adds files, folders (recursively; hidden files skipped, .kenignore honoured) or\n"
    "standard input (-). Unchanged files are skipped; changed ones replaced.\n"
    "Formats: text, Markdown, HTML, PDF, source code, JSON/JSONL (BEIR: _id, title,\n"
    "text), and gzip-compressed files of these.\n\n"
    "  --collection NAME   collection of the documents (default: default)\n"
    "  --chunk-words N     target chunk size in words (default 250)\n"
    "  --overlap N         overlap between chunks in words (default 40; 0 for none)\n"
    "  --id-field F        JSON field of the document id (default _id)\n"
    "  --title-field F     JSON field of the title (default title)\n"
    "  --text-field F      JSON field of the text (default text)\n"
    "  --name NAME         name of the stdin document; its extension sets the type\n"
    "  --batch-files N     files per transaction (default 256): smaller loses less\n"
    "                      work when interrupted, larger ingests faster\n"
    "  --embed-model FILE  embed the chunks with this GGUF encoder (remembered by the\n"
    "                      knowledge base: later adds embed with it too; giving another\n"
    "                      file re-embeds everything, see `ken embed`)\n"
    "  --no-embed          do not embed now (`ken embed --missing` does it later)\n"
    "  --embed-threads N   encoder threads (default 2)\n"
    "  --json              print the counts as one JSON object\n"
    "  -q, --quiet         print nothing but errors\n";

static const char sync_usage[] =
    "usage: ken sync [OPTIONS] DIR\n"
    "Adds new and changed files under DIR and removes the documents whose files\n"
    "vanished. Takes the options of `ken add`.\n";

static int add_or_sync(int argc, char **argv, bool sync) {
    ken_add_opts o = {.size = sizeof o};
    ui u = {.tty = isatty(2) != 0, .t0 = now_s()};
    char **paths = calloc((size_t)argc, sizeof *paths);
    size_t n = 0;
    if (!paths) return EXIT_INTERNAL;
    int rc = EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        long long v;
        if (cli_is_help(a)) { fputs(sync ? sync_usage : add_usage, stdout); rc = EXIT_OK; goto out; }
        else if (!strcmp(a, "--json")) u.json = true;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) u.quiet = true;
        else if (!strcmp(a, "--collection") && has) o.collection = argv[++i];
        else if (!strcmp(a, "--id-field") && has) o.json_id_field = argv[++i];
        else if (!strcmp(a, "--title-field") && has) o.json_title_field = argv[++i];
        else if (!strcmp(a, "--text-field") && has) o.json_text_field = argv[++i];
        else if (!strcmp(a, "--name") && has) o.stdin_name = argv[++i];
        else if (!strcmp(a, "--embed-model") && has) o.embed_model = argv[++i];
        else if (!strcmp(a, "--no-embed")) o.no_embed = 1;
        else if (!strcmp(a, "--embed-threads") && has) {
            if ((v = num_arg(a, argv[++i])) < 1 || v > 64) {
                fprintf(stderr, "ken: --embed-threads must be 1..64\n");
                goto out;
            }
            o.embed_threads = (int)v;
        }
        else if (!strcmp(a, "--chunk-words") && has) {
            if ((v = num_arg(a, argv[++i])) < 1 || v > 100000) {
                fprintf(stderr, "ken: --chunk-words must be 1..100000\n");
                goto out;
            }
            o.chunk_words = (uint32_t)v;
        } else if (!strcmp(a, "--batch-files") && has) {
            if ((v = num_arg(a, argv[++i])) < 1 || v > 1000000) {
                fprintf(stderr, "ken: --batch-files must be 1..1000000\n");
                goto out;
            }
            o.batch_files = (uint32_t)v;
        } else if (!strcmp(a, "--overlap") && has) {
            if ((v = num_arg(a, argv[++i])) < 0 || v > 100000) {
                if (v > 100000) fprintf(stderr, "ken: --overlap must be 0..100000\n");
                goto out;
            }
            o.overlap_words = v == 0 ? UINT32_MAX : (uint32_t)v;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "ken: unknown or incomplete option '%s'\n%s", a,
                    sync ? sync_usage : add_usage);
            goto out;
        } else paths[n++] = argv[i];
    }
    if (n == 0 || (sync && n != 1)) {
        fputs(sync ? sync_usage : add_usage, stderr);
        goto out;
    }
    if (o.chunk_words && o.overlap_words != UINT32_MAX && o.overlap_words >= o.chunk_words) {
        fprintf(stderr, "ken: --overlap must be smaller than --chunk-words\n");
        goto out;
    }
    o.progress = on_progress;
    o.progress_ud = &u;
    o.event = on_event;
    o.event_ud = &u;
    o.cancel = &cancel_flag;
    o.embed_progress = on_embed_progress;
    o.embed_progress_ud = &u;
    signal(SIGINT, on_sigint);
    ken_kb *kb = NULL;
    ken_status st = open_kb(true, false, &kb);
    ken_add_stats s = {0};
    if (!st) st = sync ? ken_kb_sync(kb, paths[0], &o, &s)
                       : ken_kb_add(kb, (const char *const *)paths, n, &o, &s);
    clear_line(&u);
    if (st) rc = cli_fail(kb, st);
    else {
        print_stats(&u, &s, now_s() - u.t0);
        rc = u.problems ? EXIT_INPUT : EXIT_OK;
    }
    ken_kb_close(kb);
out:
    free(paths);
    return rc;
}

int cmd_add(int argc, char **argv) { return add_or_sync(argc, argv, false); }
int cmd_sync(int argc, char **argv) { return add_or_sync(argc, argv, true); }

/* ------------------------------------------------------------ rm */

static const char rm_usage[] =
    "usage: ken rm [--json] REF...\n"
    "Removes documents. REF is a document id, an external id, a uri (a file's path,\n"
    "relative or not), or a folder path ending in / (every document from files\n"
    "under it).\n";

int cmd_rm(int argc, char **argv) {
    bool json = false;
    int first = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) { fputs(rm_usage, stdout); return EXIT_OK; }
        if (!strcmp(argv[i], "--json")) json = true;
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "ken: unknown option '%s'\n%s", argv[i], rm_usage);
            return EXIT_USAGE;
        } else if (!first) first = i;
    }
    if (!first) { fputs(rm_usage, stderr); return EXIT_USAGE; }
    ken_kb *kb = NULL;
    ken_status st = open_kb(false, false, &kb);
    if (st) { int rc = cli_fail(kb, st); ken_kb_close(kb); return rc; }
    int rc = EXIT_OK;
    uint64_t removed = 0;
    for (int i = first; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1]) continue;
        ken_add_stats s;
        st = ken_kb_remove(kb, argv[i], &s);
        if (st) { rc = cli_fail(kb, st); if (rc != EXIT_INPUT) break; continue; }
        removed += s.removed;
    }
    if (json) printf("{\"removed\":%" PRIu64 "}\n", removed);
    else printf("removed %" PRIu64 "\n", removed);
    ken_kb_close(kb);
    return rc;
}

/* ------------------------------------------------------------ ls */

static const char ls_usage[] =
    "usage: ken ls [--collection C] [--prefix URI] [--mime TYPE] [--limit N]\n"
    "              [--offset N] [--json]\n"
    "Lists documents: id, collection, type, chunks, bytes, title and uri.\n";

typedef struct { bool json; uint64_t n; } ls_ctx;

static void doc_json_fields(const ken_doc_info *d) {
    printf("\"id\":%" PRId64 ",\"ext_id\":", d->id);
    jstr(d->ext_id);
    printf(",\"uri\":");
    jstr(d->uri);
    printf(",\"collection\":");
    jstr(d->collection);
    printf(",\"title\":");
    jstr(d->title);
    printf(",\"mime\":");
    jstr(d->mime);
    printf(",\"hash\":");
    jstr(d->hash);
    printf(",\"mtime\":%" PRId64 ",\"bytes\":%" PRId64 ",\"chunks\":%" PRId64 ",\"meta\":%s",
           d->mtime, d->bytes, d->n_chunks, d->meta_json && *d->meta_json ? d->meta_json : "{}");
}

static int ls_cb(void *ud, const ken_doc_info *d) {
    ls_ctx *c = ud;
    if (c->json) {
        printf("%s{", c->n ? "," : "");
        doc_json_fields(d);
        putchar('}');
    } else {
        printf("%6" PRId64 "  %-10s %-16s %5" PRId64 " %9" PRId64 "  %s%s%s\n", d->id,
               d->collection, d->mime ? d->mime : "", d->n_chunks, d->bytes,
               d->title && *d->title ? d->title : "", d->title && *d->title ? "  " : "",
               d->ext_id ? d->ext_id : d->uri);
    }
    c->n++;
    return 0;
}

int cmd_ls(int argc, char **argv) {
    ken_list_opts o = {.size = sizeof o};
    ls_ctx c = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        long long v;
        if (cli_is_help(a)) { fputs(ls_usage, stdout); return EXIT_OK; }
        else if (!strcmp(a, "--json")) c.json = true;
        else if (!strcmp(a, "--collection") && has) o.collection = argv[++i];
        else if (!strcmp(a, "--prefix") && has) o.uri_prefix = argv[++i];
        else if (!strcmp(a, "--mime") && has) o.mime = argv[++i];
        else if (!strcmp(a, "--limit") && has) {
            if ((v = num_arg(a, argv[++i])) < 0) return EXIT_USAGE;
            o.limit = v;
        } else if (!strcmp(a, "--offset") && has) {
            if ((v = num_arg(a, argv[++i])) < 0) return EXIT_USAGE;
            o.offset = v;
        } else {
            fprintf(stderr, "ken: unexpected argument '%s'\n%s", a, ls_usage);
            return EXIT_USAGE;
        }
    }
    ken_kb *kb = NULL;
    ken_status st = open_kb(false, true, &kb);
    if (!st) {
        if (c.json) printf("{\"documents\":[");
        st = ken_kb_list(kb, &o, ls_cb, &c);
        if (c.json) printf("],\"count\":%" PRIu64 "}\n", c.n);
    }
    int rc = st ? cli_fail(kb, st) : EXIT_OK;
    ken_kb_close(kb);
    return rc;
}

/* ------------------------------------------------------------ show */

static const char show_usage[] =
    "usage: ken show [--json] [--text] DOC | chunk:ID\n"
    "Shows a document (by id, external id or uri) with its chunks, or one chunk.\n"
    "  --text   also print the document's normalized text\n";

static void chunk_json(const ken_chunk_info *c, bool with_text) {
    printf("{\"id\":%" PRId64 ",\"doc_id\":%" PRId64 ",\"ordinal\":%d,\"start\":%" PRId64
           ",\"end\":%" PRId64 ",\"heading\":",
           c->id, c->doc_id, c->ordinal, c->start, c->end);
    jstr(c->heading);
    printf(",\"page\":%d,\"tokens\":%d", c->page, c->tokens);
    if (with_text) {
        printf(",\"text\":");
        jstrn(c->text, c->text_len);
    }
    putchar('}');
}

typedef struct { bool json, text; uint64_t n; int64_t doc_id; } show_ctx;

static int show_chunk_cb(void *ud, const ken_chunk_info *c) {
    show_ctx *s = ud;
    if (s->json) {
        if (s->n) putchar(',');
        chunk_json(c, true);
    } else {
        printf("chunk %" PRId64 "  #%d  bytes %" PRId64 "-%" PRId64 "  ~%d tokens%s%s", c->id,
               c->ordinal, c->start, c->end, c->tokens, *c->heading ? "  " : "", c->heading);
        if (c->page) printf("  page %d", c->page);
        putchar('\n');
        if (s->doc_id < 0) {
            fwrite(c->text, 1, c->text_len, stdout);
            putchar('\n');
        }
    }
    s->n++;
    return 0;
}

static int show_doc_cb(void *ud, const ken_doc_info *d, const char *text, size_t len) {
    show_ctx *s = ud;
    s->doc_id = d->id;
    if (s->json) {
        printf("{\"document\":{");
        doc_json_fields(d);
        if (s->text) {
            printf(",\"text\":");
            jstrn(text, len);
        }
        printf("},\"chunks\":[");
        return 0;
    }
    printf("document %" PRId64 "\n  uri:        %s\n", d->id, d->uri);
    if (d->ext_id) printf("  id:         %s\n", d->ext_id);
    printf("  title:      %s\n  collection: %s\n  type:       %s\n  bytes:      %" PRId64
           "\n  chunks:     %" PRId64 "\n  sha256:     %s\n",
           d->title ? d->title : "", d->collection, d->mime ? d->mime : "", d->bytes, d->n_chunks,
           d->hash ? d->hash : "");
    if (d->meta_json && strcmp(d->meta_json, "{}") != 0) printf("  meta:       %s\n", d->meta_json);
    if (s->text) {
        printf("\n");
        fwrite(text, 1, len, stdout);
        printf("\n\n");
    }
    return 0;
}

int cmd_show(int argc, char **argv) {
    show_ctx s = {.doc_id = -1};
    const char *ref = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) { fputs(show_usage, stdout); return EXIT_OK; }
        if (!strcmp(argv[i], "--json")) s.json = true;
        else if (!strcmp(argv[i], "--text")) s.text = true;
        else if (!ref && (argv[i][0] != '-' || !argv[i][1])) ref = argv[i];
        else {
            fprintf(stderr, "ken: unexpected argument '%s'\n%s", argv[i], show_usage);
            return EXIT_USAGE;
        }
    }
    if (!ref) { fputs(show_usage, stderr); return EXIT_USAGE; }
    ken_kb *kb = NULL;
    ken_status st = open_kb(false, true, &kb);
    if (!st && strncmp(ref, "chunk:", 6) == 0) {
        long long id = num_arg("chunk:", ref + 6);
        if (id < 0) { ken_kb_close(kb); return EXIT_USAGE; }
        if (s.json) {
            /* One chunk: print it as the document. */
            st = ken_kb_chunk(kb, id, show_chunk_cb, &s);
            if (!st) putchar('\n');
        } else st = ken_kb_chunk(kb, id, show_chunk_cb, &s);
    } else if (!st) {
        st = ken_kb_doc(kb, ref, show_doc_cb, &s);
        if (!st) st = ken_kb_doc_chunks(kb, s.doc_id, show_chunk_cb, &s);
        if (!st && s.json) printf("]}\n");
    }
    int rc = st ? cli_fail(kb, st) : EXIT_OK;
    ken_kb_close(kb);
    return rc;
}

/* ------------------------------------------------------------ stats */

int cmd_stats(int argc, char **argv) {
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: ken stats [--json]\nCounts and sizes of the knowledge base.\n");
            return EXIT_OK;
        }
        if (!strcmp(argv[i], "--json")) json = true;
        else {
            fprintf(stderr, "ken: unexpected argument '%s'\nusage: ken stats [--json]\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    ken_kb *kb = NULL;
    ken_kb_stats s;
    ken_status st = open_kb(false, true, &kb);
    if (!st) st = ken_kb_stat(kb, &s);
    if (st) { int rc = cli_fail(kb, st); ken_kb_close(kb); return rc; }
    if (json) {
        printf("{\"path\":");
        jstr(cli_db_path);
        printf(",\"schema_version\":%d,\"sources\":%" PRId64 ",\"documents\":%" PRId64
               ",\"chunks\":%" PRId64 ",\"collections\":%" PRId64 ",\"text_bytes\":%" PRId64
               ",\"file_bytes\":%" PRId64 ",\"embeddings\":",
               s.schema_version, s.sources, s.documents, s.chunks, s.collections, s.text_bytes,
               s.file_bytes);
        ken_embed_stats es;
        if (ken_kb_embed_status(kb, &es) != KEN_OK || !es.model_name[0]) fputs("null", stdout);
        else {
            fputs("{\"model\":", stdout);
            jstr(es.model_name);
            printf(",\"dim\":%u,\"vectors\":%" PRIu64 ",\"missing\":%" PRIu64 "}", es.dim,
                   es.vectors, es.missing);
        }
        fputs("}\n", stdout);
    } else {
        printf("store:          %s (schema %d)\nsources:        %" PRId64 "\ndocuments:      %" PRId64
               "\nchunks:         %" PRId64 "\ncollections:    %" PRId64
               "\ntext:           %.2f MB\nfile:           %.2f MB\n",
               cli_db_path, s.schema_version, s.sources, s.documents, s.chunks, s.collections,
               (double)s.text_bytes / 1e6, (double)s.file_bytes / 1e6);
        ken_embed_stats es;
        if (ken_kb_embed_status(kb, &es) == KEN_OK && es.model_name[0])
            printf("embeddings:     %s, dim %u: %" PRIu64 " vectors, %" PRIu64 " chunks without\n",
                   es.model_name, es.dim, es.vectors, es.missing);
    }
    ken_kb_close(kb);
    return EXIT_OK;
}
