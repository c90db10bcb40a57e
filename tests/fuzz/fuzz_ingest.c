/* fuzz_ingest.c: arbitrary bytes through ken_ingest_parse under a file name
 * chosen by the first byte (every supported extension, none, and .gz), then
 * every document through the chunker; span invariants are checked. */
#include "ingest/ingest.h"

#include <stdlib.h>
#include <string.h>

static const char *const NAMES[] = {
    "f.txt", "f.md", "f.html", "f.pdf", "f.json", "f.jsonl", "f.c", "f.py",
    "noext", "f.txt.gz", "f.md.gz", "f.jsonl.gz", "f.htm", "f.rs", "Makefile", "f.csv",
};

static void check(int cond) {
    if (!cond) abort();
}

static int on_doc(void *ud, ken_idoc *d) {
    (void)ud;
    check(d->text.data != NULL && ken_utf8_valid(d->text.data, d->text.len));
    for (size_t i = 0; i < d->n_secs; i++) {
        const ken_section *s = &d->secs[i];
        check(s->start >= 0 && s->start < s->end && s->end <= (int64_t)d->text.len);
        check(i == 0 || s->start >= d->secs[i - 1].end);
        check(s->heading != NULL);
    }
    ken_chunk_opts o = {16, 4, 200};
    ken_ichunk *c;
    size_t n;
    if (ken_chunk_doc(d, &o, &c, &n) != KEN_OK) return 0;
    for (size_t i = 0; i < n; i++) {
        check(c[i].start >= 0 && c[i].start < c[i].end && c[i].end <= (int64_t)d->text.len);
        check(c[i].end - c[i].start <= 200);
        check(ken_utf8_valid(d->text.data + c[i].start, (size_t)(c[i].end - c[i].start)));
        check(c[i].heading != NULL);
    }
    free(c);
    return 0;
}

static void on_warn(void *ud, const char *msg) {
    (void)ud;
    check(msg != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *name = NAMES[data[0] % (sizeof NAMES / sizeof NAMES[0])];
    ken_parse_opts o;
    memset(&o, 0, sizeof o);
    o.bytes_max = (size_t)16 << 20;
    o.json_depth_max = 64;
    ken_err err;
    ken_err_clear(&err);
    (void)ken_ingest_detect(name, data + 1, size - 1, &err);
    ken_err_clear(&err);
    ken_status st = ken_ingest_parse(name, data + 1, size - 1, &o, on_doc, NULL, on_warn, NULL, &err);
    if (st != KEN_OK) check(err.msg[0] != 0);
    return 0;
}
