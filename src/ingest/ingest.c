/* ingest.c: type detection (extension first, content second, libmagic for
 * the unknown and the suspicious), gzip, the parse entry point, and the
 * plain-text and source-code parsers. */
#include "ingest/ingest_int.h"

#include <ctype.h>
#include <magic.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

/* ------------------------------------------------------------ types */

static const char MIME_TEXT[] = "text/plain", MIME_MD[] = "text/markdown",
                  MIME_HTML[] = "text/html", MIME_PDF[] = "application/pdf",
                  MIME_JSON[] = "application/json", MIME_JSONL[] = "application/x-ndjson",
                  MIME_SRC[] = "text/x-source";

typedef struct {
    const char *ext;     /* lower case, without the dot */
    const char *mime;
    ken_ingest_fmt fmt;
} ext_type;

static const ext_type EXTS[] = {
    {"txt", MIME_TEXT, KEN_FMT_TEXT}, {"text", MIME_TEXT, KEN_FMT_TEXT},
    {"log", MIME_TEXT, KEN_FMT_TEXT}, {"rst", MIME_TEXT, KEN_FMT_TEXT},
    {"org", MIME_TEXT, KEN_FMT_TEXT}, {"adoc", MIME_TEXT, KEN_FMT_TEXT},
    {"tex", MIME_TEXT, KEN_FMT_TEXT}, {"csv", MIME_TEXT, KEN_FMT_TEXT},
    {"tsv", MIME_TEXT, KEN_FMT_TEXT}, {"me", MIME_TEXT, KEN_FMT_TEXT},
    {"md", MIME_MD, KEN_FMT_MARKDOWN}, {"markdown", MIME_MD, KEN_FMT_MARKDOWN},
    {"mdown", MIME_MD, KEN_FMT_MARKDOWN}, {"mkd", MIME_MD, KEN_FMT_MARKDOWN},
    {"html", MIME_HTML, KEN_FMT_HTML}, {"htm", MIME_HTML, KEN_FMT_HTML},
    {"xhtml", MIME_HTML, KEN_FMT_HTML},
    {"pdf", MIME_PDF, KEN_FMT_PDF},
    {"json", MIME_JSON, KEN_FMT_JSON},
    {"jsonl", MIME_JSONL, KEN_FMT_JSONL}, {"ndjson", MIME_JSONL, KEN_FMT_JSONL},
    {"c", "text/x-c", KEN_FMT_CODE}, {"h", "text/x-c", KEN_FMT_CODE},
    {"cc", "text/x-c++", KEN_FMT_CODE}, {"cpp", "text/x-c++", KEN_FMT_CODE},
    {"cxx", "text/x-c++", KEN_FMT_CODE}, {"hpp", "text/x-c++", KEN_FMT_CODE},
    {"hh", "text/x-c++", KEN_FMT_CODE}, {"hxx", "text/x-c++", KEN_FMT_CODE},
    {"py", "text/x-python", KEN_FMT_CODE}, {"pyi", "text/x-python", KEN_FMT_CODE},
    {"js", "text/javascript", KEN_FMT_CODE}, {"mjs", "text/javascript", KEN_FMT_CODE},
    {"cjs", "text/javascript", KEN_FMT_CODE}, {"jsx", "text/javascript", KEN_FMT_CODE},
    {"ts", "text/x-typescript", KEN_FMT_CODE}, {"tsx", "text/x-typescript", KEN_FMT_CODE},
    {"go", "text/x-go", KEN_FMT_CODE}, {"rs", "text/x-rust", KEN_FMT_CODE},
    {"java", "text/x-java", KEN_FMT_CODE}, {"kt", "text/x-kotlin", KEN_FMT_CODE},
    {"scala", "text/x-scala", KEN_FMT_CODE}, {"swift", "text/x-swift", KEN_FMT_CODE},
    {"cs", "text/x-csharp", KEN_FMT_CODE}, {"rb", "text/x-ruby", KEN_FMT_CODE},
    {"php", "text/x-php", KEN_FMT_CODE}, {"pl", "text/x-perl", KEN_FMT_CODE},
    {"pm", "text/x-perl", KEN_FMT_CODE}, {"lua", "text/x-lua", KEN_FMT_CODE},
    {"sh", "text/x-shellscript", KEN_FMT_CODE}, {"bash", "text/x-shellscript", KEN_FMT_CODE},
    {"zsh", "text/x-shellscript", KEN_FMT_CODE}, {"sql", "text/x-sql", KEN_FMT_CODE},
    {"r", "text/x-r", KEN_FMT_CODE}, {"jl", "text/x-julia", KEN_FMT_CODE},
    {"hs", "text/x-haskell", KEN_FMT_CODE}, {"ml", "text/x-ocaml", KEN_FMT_CODE},
    {"ex", "text/x-elixir", KEN_FMT_CODE}, {"exs", "text/x-elixir", KEN_FMT_CODE},
    {"erl", "text/x-erlang", KEN_FMT_CODE}, {"clj", "text/x-clojure", KEN_FMT_CODE},
    {"dart", "text/x-dart", KEN_FMT_CODE}, {"zig", "text/x-zig", KEN_FMT_CODE},
    {"nim", "text/x-nim", KEN_FMT_CODE}, {"el", "text/x-lisp", KEN_FMT_CODE},
    {"vim", "text/x-vim", KEN_FMT_CODE}, {"ps1", "text/x-powershell", KEN_FMT_CODE},
    {"css", "text/css", KEN_FMT_CODE}, {"scss", "text/x-scss", KEN_FMT_CODE},
    {"vue", "text/x-vue", KEN_FMT_CODE}, {"svelte", "text/x-svelte", KEN_FMT_CODE},
    {"proto", "text/x-protobuf", KEN_FMT_CODE}, {"cmake", "text/x-cmake", KEN_FMT_CODE},
    {"yaml", "text/x-yaml", KEN_FMT_CODE}, {"yml", "text/x-yaml", KEN_FMT_CODE},
    {"toml", "text/x-toml", KEN_FMT_CODE}, {"ini", "text/x-ini", KEN_FMT_CODE},
    {"xml", "text/xml", KEN_FMT_CODE}, {"asm", "text/x-asm", KEN_FMT_CODE},
    {"s", "text/x-asm", KEN_FMT_CODE}, {"f90", "text/x-fortran", KEN_FMT_CODE},
    {"mk", "text/x-makefile", KEN_FMT_CODE},
};

/* Whole file names that say what they are. */
static const ext_type NAMES[] = {
    {"makefile", "text/x-makefile", KEN_FMT_CODE}, {"gnumakefile", "text/x-makefile", KEN_FMT_CODE},
    {"dockerfile", "text/x-dockerfile", KEN_FMT_CODE}, {"cmakelists.txt", "text/x-cmake", KEN_FMT_CODE},
};

ken_ingest_fmt ken_ingest_fmt_of(const char *mime) {
    if (!mime) return KEN_FMT_NONE;
    if (mime == MIME_SRC || strcmp(mime, MIME_SRC) == 0) return KEN_FMT_CODE;
    for (size_t i = 0; i < KEN_ARRAY_LEN(EXTS); i++)
        if (strcmp(EXTS[i].mime, mime) == 0) return EXTS[i].fmt;
    for (size_t i = 0; i < KEN_ARRAY_LEN(NAMES); i++)
        if (strcmp(NAMES[i].mime, mime) == 0) return NAMES[i].fmt;
    return KEN_FMT_NONE;
}

static const char *base_name(const char *name) {
    const char *s = strrchr(name, '/');
    return s ? s + 1 : name;
}

/* The type of a file name, or NULL when the name says nothing. */
static const ext_type *type_of_name(const char *name) {
    const char *bn = base_name(name);
    for (size_t i = 0; i < KEN_ARRAY_LEN(NAMES); i++)
        if (strcasecmp(bn, NAMES[i].ext) == 0) return &NAMES[i];
    const char *dot = strrchr(bn, '.');
    if (!dot || dot == bn) return NULL;
    for (size_t i = 0; i < KEN_ARRAY_LEN(EXTS); i++)
        if (strcasecmp(dot + 1, EXTS[i].ext) == 0) return &EXTS[i];
    return NULL;
}

static bool has_gz_ext(const char *name) {
    const char *bn = base_name(name);
    size_t n = strlen(bn);
    return n > 3 && strcasecmp(bn + n - 3, ".gz") == 0;
}

static bool is_gzip(const void *data, size_t len) {
    const unsigned char *p = data;
    return len >= 2 && p[0] == 0x1F && p[1] == 0x8B;
}

/* ------------------------------------------------------------ libmagic */

static pthread_once_t magic_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t magic_lock = PTHREAD_MUTEX_INITIALIZER;
static magic_t magic_db;   /* loaded once; kept for the life of the process */

static void magic_init(void) {
    magic_t m = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | MAGIC_ERROR);
    if (m && magic_load(m, NULL) != 0) {
        magic_close(m);
        m = NULL;
    }
    magic_db = m;
}

/* libmagic's MIME type of the first bytes into out, or "" when it cannot tell.
 * A magic_t is not safe to share across threads, hence the lock. */
static void magic_type(const void *data, size_t len, char *out, size_t cap) {
    out[0] = 0;
    pthread_once(&magic_once, magic_init);
    if (!magic_db) return;
    pthread_mutex_lock(&magic_lock);
    const char *r = magic_buffer(magic_db, data, KEN_MIN(len, (size_t)65536));
    if (r) snprintf(out, cap, "%s", r);
    pthread_mutex_unlock(&magic_lock);
}

/* Cheap content check on the first 8 KiB: NUL bytes or many control
 * characters mean binary, unless a UTF-16 BOM says otherwise. */
static bool looks_text(const unsigned char *p, size_t len) {
    if (len >= 2 && ((p[0] == 0xFF && p[1] == 0xFE) || (p[0] == 0xFE && p[1] == 0xFF)))
        return true;
    size_t n = KEN_MIN(len, (size_t)8192), bad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = p[i];
        if (c == 0) return false;
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' && c != 0x1B)
            bad++;
    }
    return bad * 20 <= n;
}

static bool looks_pdf(const unsigned char *p, size_t len) {
    size_t n = KEN_MIN(len, (size_t)1024);
    for (size_t i = 0; i + 5 <= n; i++)
        if (memcmp(p + i, "%PDF-", 5) == 0) return true;
    return false;
}

/* Maps a libmagic MIME type of text content to one of ours. */
static const char *mime_from_magic(const char *m) {
    if (strcmp(m, "text/html") == 0) return MIME_HTML;
    if (strcmp(m, "application/pdf") == 0) return MIME_PDF;
    if (strcmp(m, "application/json") == 0) return MIME_JSON;
    if (strcmp(m, "text/x-c") == 0 || strcmp(m, "text/x-c++") == 0 ||
        strcmp(m, "text/x-shellscript") == 0 || strcmp(m, "text/x-makefile") == 0 ||
        strncmp(m, "text/x-script.", 14) == 0 || strcmp(m, "application/javascript") == 0 ||
        strcmp(m, "text/x-java") == 0 || strcmp(m, "text/x-perl") == 0 ||
        strcmp(m, "text/x-ruby") == 0 || strcmp(m, "text/x-php") == 0)
        return MIME_SRC;
    if (strncmp(m, "text/", 5) == 0) return MIME_TEXT;
    return NULL;
}

/* Detection on uncompressed bytes. */
static const char *detect_plain(const char *name, const unsigned char *p, size_t len,
                                ken_err *err) {
    const ext_type *t = type_of_name(name);
    char m[128];
    if (t && t->fmt == KEN_FMT_PDF) {
        if (looks_pdf(p, len)) return t->mime;
        magic_type(p, len, m, sizeof m);
        ken_err_set(err, KEN_ERR_FORMAT, "named .pdf but the content is %s, not PDF",
                    m[0] ? m : "unknown");
        return NULL;
    }
    if (t && looks_text(p, len)) return t->mime;
    if (!t && looks_pdf(p, len)) return MIME_PDF;
    magic_type(p, len, m, sizeof m);
    if (t) {
        ken_err_set(err, KEN_ERR_FORMAT, "binary content (%s) in a file named like text",
                    m[0] ? m : "application/octet-stream");
        return NULL;
    }
    const char *mm = m[0] ? mime_from_magic(m) : NULL;
    if (!m[0] && looks_text(p, len)) mm = MIME_TEXT;     /* no magic database */
    if (mm && (mm == MIME_PDF || looks_text(p, len))) return mm;
    ken_err_set(err, KEN_ERR_FORMAT, "unsupported type %s", m[0] ? m : "(binary data)");
    return NULL;
}

/* ------------------------------------------------------------ gzip */

/* Inflates a gzip stream (members may be concatenated) into out; more than
 * bytes_max decompressed bytes -> KEN_ERR_LIMIT (zip bombs). With prefix_only
 * it stops quietly at bytes_max instead (enough for detection). */
static ken_status gunzip(const void *data, size_t len, size_t bytes_max, bool prefix_only,
                         ken_buf *out, ken_err *err) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 16) != Z_OK) return ken_err_set(err, KEN_ERR_NOMEM, "zlib init failed");
    const unsigned char *in = data;
    size_t left = len;
    ken_status st = KEN_OK;
    int zr = Z_OK;
    unsigned char tmp[65536];
    while (!st) {
        if (z.avail_in == 0 && left) {
            uInt n = (uInt)KEN_MIN(left, (size_t)1 << 30);
            z.next_in = (unsigned char *)in;
            z.avail_in = n;
            in += n;
            left -= n;
        }
        z.next_out = tmp;
        z.avail_out = sizeof tmp;
        zr = inflate(&z, Z_NO_FLUSH);
        size_t got = sizeof tmp - z.avail_out;
        if (got > bytes_max - KEN_MIN(out->len, bytes_max)) {
            if (prefix_only) {
                st = ken_buf_append(out, tmp, bytes_max - out->len);
                break;
            }
            st = ken_err_set(err, KEN_ERR_LIMIT, "gzip: decompressed size exceeds the limit of %zu bytes",
                             bytes_max);
            break;
        }
        if (got) st = ken_buf_append(out, tmp, got);
        if (st) { ken_err_set(err, st, "gzip: out of memory"); break; }
        if (zr == Z_STREAM_END) {
            if (z.avail_in == 0 && left == 0) break;
            /* Another member follows, unless it is trailing garbage. */
            if (z.avail_in + left < 2) break;
            if (z.avail_in >= 2 && (z.next_in[0] != 0x1F || z.next_in[1] != 0x8B)) break;
            inflateReset(&z);
            continue;
        }
        if (zr == Z_BUF_ERROR && z.avail_in == 0 && left == 0) {
            if (!prefix_only || out->len == 0)
                st = ken_err_set(err, KEN_ERR_FORMAT, "gzip: truncated stream");
            break;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            if (!prefix_only || out->len == 0)
                st = ken_err_set(err, KEN_ERR_FORMAT, "gzip: corrupt data (%s)",
                                 z.msg ? z.msg : "inflate failed");
            break;
        }
    }
    inflateEnd(&z);
    if (!st) st = ken_ingest_buf_cstr(out);
    return st;
}

/* The name without its ".gz" (for the inner type), into buf. */
static const char *inner_name(const char *name, char *buf, size_t cap) {
    if (!has_gz_ext(name)) return name;
    size_t n = strlen(name) - 3;
    if (n >= cap) n = cap - 1;
    memcpy(buf, name, n);
    buf[n] = 0;
    return buf;
}

const char *ken_ingest_detect(const char *name, const void *data, size_t len, ken_err *err) {
    if (!name) name = "";
    if (len == 0) {
        ken_err_set(err, KEN_ERR_FORMAT, "empty file (0 bytes)");
        return NULL;
    }
    if (!is_gzip(data, len)) return detect_plain(name, data, len, err);
    ken_buf b;
    ken_buf_init(&b, 0);
    char nb[4096];
    const char *mime = NULL;
    if (gunzip(data, len, 65536, true, &b, err) == KEN_OK) {
        if (b.len == 0) ken_err_set(err, KEN_ERR_FORMAT, "gzip: empty content");
        else mime = detect_plain(inner_name(name, nb, sizeof nb), (unsigned char *)b.data, b.len, err);
    }
    ken_buf_free(&b);
    return mime;
}

/* ------------------------------------------------------------ parse */

void ken_ingest_warnf(const ken_ingest_job *j, const char *fmt, ...) {
    if (!j->warn) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    j->warn(j->warn_ud, msg);
}

/* Hands d to the callback; its text must be normalized already. */
static ken_status emit_normalized(const ken_ingest_job *j, ken_idoc *d) {
    d->mime = j->mime;
    if (d->n_secs == 0) return ken_err_set(j->err, KEN_ERR_FORMAT, "no text content");
    if (j->fn && j->fn(j->ud, d) != 0)
        return ken_err_set(j->err, KEN_ERR_CANCELLED, "stopped by the caller");
    return KEN_OK;
}

ken_status ken_ingest_emit(const ken_ingest_job *j, ken_idoc *d) {
    ken_status st = ken_ingest_finalize(d);
    if (st) return ken_err_set(j->err, st, "%s: %s while normalizing text", j->name, ken_status_str(st));
    return emit_normalized(j, d);
}

ken_status ken_ingest_decode_text(const ken_ingest_job *j, ken_buf *out) {
    ken_buf raw;
    ken_buf_init(&raw, j->bytes_max);
    ken_err e;
    ken_err_clear(&e);
    ken_text_info info;
    ken_status st = ken_text_decode(j->data, j->len, &raw, &info, &e);
    if (st == KEN_ERR_FORMAT) st = ken_err_set(j->err, st, "not text: %s", e.msg);
    else if (st) st = ken_err_set(j->err, st, "decoding text: %s", ken_status_str(st));
    else if (info.replaced)
        ken_ingest_warnf(j, "invalid %s: %zu %s replaced by U+FFFD",
                         info.enc == KEN_ENC_UTF8 ? "UTF-8" : "UTF-16", info.replaced,
                         info.enc == KEN_ENC_UTF8 ? "byte(s)" : "unit(s)");
    if (!st) {
        st = ken_text_normalize(raw.data ? raw.data : "", raw.len, out);
        if (st) ken_err_set(j->err, st, "normalizing text: %s", ken_status_str(st));
    }
    ken_buf_free(&raw);
    return st;
}

/* Plain text is one prose section; source code one code section, verbatim. */
ken_status ken_ingest_text(const ken_ingest_job *j, bool code) {
    ken_idoc d;
    ken_idoc_init(&d);
    d.text.cap_max = j->bytes_max;
    ken_status st = ken_ingest_decode_text(j, &d.text);
    bool any = false;
    for (size_t i = 0; !st && i < d.text.len && !any; i++)
        any = !strchr(" \t\n", d.text.data[i]);
    if (any)
        st = ken_ingest_add_section(&d, 0, (int64_t)d.text.len, "", 0, 0,
                                    code ? KEN_SEC_CODE : KEN_SEC_PROSE);
    if (!st) st = emit_normalized(j, &d);      /* decoded and normalized as a whole */
    else if (st == KEN_ERR_NOMEM || st == KEN_ERR_LIMIT)
        ken_err_set(j->err, st, "%s", ken_status_str(st));
    ken_idoc_free(&d);
    return st;
}

static ken_status dispatch(ken_ingest_job *j) {
    switch (ken_ingest_fmt_of(j->mime)) {
    case KEN_FMT_TEXT: return ken_ingest_text(j, false);
    case KEN_FMT_CODE: return ken_ingest_text(j, true);
    case KEN_FMT_MARKDOWN: return ken_ingest_markdown(j);
    case KEN_FMT_HTML: return ken_ingest_html(j);
    case KEN_FMT_PDF: return ken_ingest_pdf(j);
    case KEN_FMT_JSON: return ken_ingest_json(j, false);
    case KEN_FMT_JSONL: return ken_ingest_json(j, true);
    case KEN_FMT_NONE: break;
    }
    return ken_err_set(j->err, KEN_ERR_UNSUPPORTED, "unsupported type %s", j->mime);
}

ken_status ken_ingest_parse(const char *name, const void *data, size_t len,
                            const ken_parse_opts *opts, ken_idoc_fn fn, void *ud,
                            ken_warn_fn warn, void *warn_ud, ken_err *err) {
    static const ken_parse_opts defaults;
    if (!opts) opts = &defaults;
    if (!name) name = "";
    if (!data && len) return ken_err_set(err, KEN_ERR_INVALID, "no data");
    size_t bytes_max = opts->bytes_max ? opts->bytes_max : KEN_INGEST_BYTES_MAX_DEFAULT;
    if (len == 0) return ken_err_set(err, KEN_ERR_FORMAT, "empty file (0 bytes)");
    ken_buf plain;
    ken_buf_init(&plain, 0);
    char nb[4096];
    ken_ingest_job j = {name, data, len, opts, bytes_max, NULL, fn, ud, warn, warn_ud, err};
    ken_status st = KEN_OK;
    if (is_gzip(data, len)) {
        st = gunzip(data, len, bytes_max, false, &plain, err);
        if (st) goto out;
        if (plain.len == 0) { st = ken_err_set(err, KEN_ERR_FORMAT, "gzip: empty content"); goto out; }
        j.name = inner_name(name, nb, sizeof nb);
        j.data = plain.data;
        j.len = plain.len;
    } else if (len > bytes_max) {
        st = ken_err_set(err, KEN_ERR_LIMIT, "input of %zu bytes exceeds the limit of %zu", len, bytes_max);
        goto out;
    }
    j.mime = detect_plain(j.name, j.data, j.len, err);
    if (!j.mime) { st = KEN_ERR_FORMAT; goto out; }
    st = dispatch(&j);
out:
    ken_buf_free(&plain);
    return st;
}
