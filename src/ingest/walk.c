/* walk.c: finds the files to ingest under a root. Names are visited in
 * sorted (byte) order so runs are reproducible; hidden entries are skipped;
 * .kenignore files use gitignore syntax (*, ?, [...] with [:class:], **,
 * ! negation, trailing / for folders, leading / anchoring, # comments,
 * backslash escapes, trailing spaces dropped unless escaped) and apply to
 * their folder and below, deeper files and later lines winning; symlinked
 * folders are not followed, so there are no loops. */
#include "ingest/ingest_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WALK_DEPTH_MAX 256
#define IGNORE_BYTES_MAX (1 << 20)
#define SEGS_MAX 512
#define NAMES_MAX 10000000

typedef struct { uint32_t off, len; } seg;

typedef struct {
    char *pat;               /* pattern text, '/'-separated */
    seg *segs;
    size_t n_segs;
    bool neg, dir_only, anchored;
} rule;

typedef struct {
    size_t base_len;         /* length of the folder's path relative to root */
    rule *rules;
    size_t n;
} ignore_file;

typedef struct {
    ken_buf path;            /* current path: root + "/" + rel */
    size_t root_len;         /* where rel starts (after the '/') */
    ignore_file *ig;
    size_t n_ig, cap_ig;
    ken_walk_fn fn;
    void *ud;
    ken_warn_fn warn;
    void *warn_ud;
    ken_err *err;
    ken_status st;
} walker;

/* ------------------------------------------------------------ globs */

/* POSIX classes inside brackets, as git's wildmatch knows them. */
static const struct { const char *name; int (*fn)(int); } CLASSES[] = {
    {"alnum", isalnum}, {"alpha", isalpha}, {"blank", isblank}, {"cntrl", iscntrl},
    {"digit", isdigit}, {"graph", isgraph}, {"lower", islower}, {"print", isprint},
    {"punct", ispunct}, {"space", isspace}, {"upper", isupper}, {"xdigit", isxdigit}};

/* A "[:name:]" at p[j] inside a bracket: its length (0 if there is none);
 * *hit is set when c belongs to the class. An unknown name never matches. */
static size_t posix_class(const char *p, size_t pn, size_t j, char c, bool *hit) {
    if (j + 1 >= pn || p[j] != '[' || p[j + 1] != ':') return 0;
    const char *end = NULL;
    for (size_t k = j + 2; k + 1 < pn; k++)
        if (p[k] == ':' && p[k + 1] == ']') { end = p + k; break; }
    if (!end) return 0;
    size_t n = (size_t)(end - (p + j + 2));
    for (size_t k = 0; k < KEN_ARRAY_LEN(CLASSES); k++)
        if (strlen(CLASSES[k].name) == n && memcmp(CLASSES[k].name, p + j + 2, n) == 0 &&
            (unsigned char)c < 0x80 && CLASSES[k].fn((unsigned char)c))
            *hit = true;
    return n + 4;
}

/* Does pattern char class / char at p[*i] match c? Advances *i past it. */
static bool one_char(const char *p, size_t pn, size_t *i, char c) {
    char pc = p[*i];
    if (pc == '?') { (*i)++; return true; }
    if (pc == '\\' && *i + 1 < pn) { *i += 2; return p[*i - 1] == c; }
    if (pc != '[') { (*i)++; return pc == c; }
    size_t j = *i + 1;
    bool neg = j < pn && (p[j] == '!' || p[j] == '^');
    if (neg) j++;
    bool hit = false, first = true;
    while (j < pn && (p[j] != ']' || first)) {
        first = false;
        size_t cl = posix_class(p, pn, j, c, &hit);
        if (cl) { j += cl; continue; }
        char lo = p[j];
        if (lo == '\\' && j + 1 < pn) lo = p[++j];
        char hi = lo;
        if (j + 2 < pn && p[j + 1] == '-' && p[j + 2] != ']') {
            hi = p[j + 2];
            j += 2;
        }
        if ((unsigned char)c >= (unsigned char)lo && (unsigned char)c <= (unsigned char)hi) hit = true;
        j++;
    }
    if (j >= pn) { (*i)++; return c == '['; }    /* no closing ']': a literal '[' */
    *i = j + 1;
    return hit != neg;
}

/* Glob match of one path segment: '*' never crosses '/', and the classic
 * single-backtrack algorithm keeps it linear-ish (no exponential cases). */
static bool seg_match(const char *p, size_t pn, const char *s, size_t sn) {
    size_t pi = 0, si = 0, star_p = SIZE_MAX, star_s = 0;
    while (si < sn) {
        if (pi < pn && p[pi] == '*') {
            while (pi < pn && p[pi] == '*') pi++;
            star_p = pi;
            star_s = si;
            continue;
        }
        size_t np = pi;
        if (pi < pn && one_char(p, pn, &np, s[si])) { pi = np; si++; continue; }
        if (star_p == SIZE_MAX) return false;
        pi = star_p;
        si = ++star_s;
    }
    while (pi < pn && p[pi] == '*') pi++;
    return pi == pn;
}

/* A segment of two or more stars alone spans folders ("***" too, as in git). */
static bool is_dstar(const rule *r, size_t i) {
    if (r->segs[i].len < 2) return false;
    for (uint32_t k = 0; k < r->segs[i].len; k++)
        if (r->pat[r->segs[i].off + k] != '*') return false;
    return true;
}

/* Matches the rule's segments against path segments; "**" spans any number
 * of whole segments (the same single-backtrack scheme, one level up). */
static bool path_match(const rule *r, const char *path, const seg *ps, size_t ns) {
    size_t pi = 0, si = 0, star_p = SIZE_MAX, star_s = 0;
    while (si < ns) {
        if (pi < r->n_segs && is_dstar(r, pi)) {
            star_p = ++pi;
            star_s = si;
            continue;
        }
        if (pi < r->n_segs && seg_match(r->pat + r->segs[pi].off, r->segs[pi].len,
                                        path + ps[si].off, ps[si].len)) {
            pi++;
            si++;
            continue;
        }
        if (star_p == SIZE_MAX) return false;
        pi = star_p;
        si = ++star_s;
    }
    while (pi < r->n_segs && is_dstar(r, pi)) pi++;
    return pi == r->n_segs;
}

/* ------------------------------------------------------------ .kenignore */

static void free_rules(rule *rs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(rs[i].pat);
        free(rs[i].segs);
    }
    free(rs);
}

/* Parses one line into r; false for blank lines and comments. */
static bool parse_rule(const char *l, size_t n, rule *r, ken_status *st) {
    memset(r, 0, sizeof *r);
    if (n && l[n - 1] == '\r') n--;
    /* Trailing spaces go unless escaped; tabs stay (as in git). */
    while (n && l[n - 1] == ' ' && !(n >= 2 && l[n - 2] == '\\')) n--;
    if (n == 0 || l[0] == '#') return false;
    if (l[0] == '!') { r->neg = true; l++; n--; }
    else if (l[0] == '\\' && n > 1 && (l[1] == '!' || l[1] == '#')) { l++; n--; }
    if (n && l[n - 1] == '/') { r->dir_only = true; n--; }
    if (n && l[0] == '/') { r->anchored = true; l++; n--; }
    if (n == 0) return false;
    if (memchr(l, '/', n)) r->anchored = true;
    /* A trailing double star must match inside the folder, not the folder
     * itself: append a "*" segment. */
    bool tail = n >= 3 && memcmp(l + n - 3, "/**", 3) == 0;
    r->pat = malloc(n + 3);
    size_t nseg = 2;
    for (size_t i = 0; i < n; i++) nseg += l[i] == '/';
    r->segs = malloc(nseg * sizeof *r->segs);
    if (!r->pat || !r->segs) {
        free(r->pat);
        free(r->segs);
        *st = KEN_ERR_NOMEM;
        return false;
    }
    memcpy(r->pat, l, n);
    if (tail) { memcpy(r->pat + n, "/*", 2); n += 2; }
    r->pat[n] = 0;
    size_t s = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || r->pat[i] == '/') {
            if (i > s) r->segs[r->n_segs++] = (seg){(uint32_t)s, (uint32_t)(i - s)};
            s = i + 1;
        }
    }
    if (r->n_segs == 0) { free(r->pat); free(r->segs); return false; }
    return true;
}

/* Loads dir/.kenignore if there is one; pushes an entry either way. */
static ken_status push_ignore(walker *w, size_t base_len) {
    if (w->n_ig == w->cap_ig) {
        size_t cap = w->cap_ig ? w->cap_ig * 2 : 16;
        ignore_file *p = realloc(w->ig, cap * sizeof *p);
        if (!p) return KEN_ERR_NOMEM;
        w->ig = p;
        w->cap_ig = cap;
    }
    ignore_file *f = &w->ig[w->n_ig++];
    memset(f, 0, sizeof *f);
    f->base_len = base_len;
    size_t keep = w->path.len;
    ken_status st = ken_buf_puts(&w->path, "/.kenignore");
    if (st) return st;
    ken_buf text;
    ken_buf_init(&text, 0);
    ken_err e;
    struct stat sb;
    if (stat(w->path.data, &sb) == 0 && S_ISREG(sb.st_mode)) {
        if (ken_file_read(w->path.data, IGNORE_BYTES_MAX, &text, &e) != KEN_OK && w->warn) {
            char msg[1200];
            snprintf(msg, sizeof msg, "%s: %s", w->path.data, e.msg);
            w->warn(w->warn_ud, msg);
        }
    }
    w->path.len = keep;
    w->path.data[keep] = 0;
    size_t cap = 0;
    size_t i0 = text.len >= 3 && memcmp(text.data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;  /* a BOM */
    for (size_t i = i0; i < text.len && !st;) {
        const char *nl = memchr(text.data + i, '\n', text.len - i);
        size_t e2 = nl ? (size_t)(nl - text.data) : text.len;
        rule r;
        if (parse_rule(text.data + i, e2 - i, &r, &st)) {
            if (f->n == cap) {
                cap = cap ? cap * 2 : 16;
                rule *p = realloc(f->rules, cap * sizeof *p);
                if (!p) { free(r.pat); free(r.segs); st = KEN_ERR_NOMEM; break; }
                f->rules = p;
            }
            f->rules[f->n++] = r;
        }
        i = e2 + 1;
    }
    ken_buf_free(&text);
    return st;
}

static void pop_ignore(walker *w) {
    ignore_file *f = &w->ig[--w->n_ig];
    free_rules(f->rules, f->n);
}

/* Is the entry at rel (relative to root) ignored? */
static bool ignored(const walker *w, const char *rel, bool is_dir) {
    bool ig = false;
    const char *bn = strrchr(rel, '/');
    bn = bn ? bn + 1 : rel;
    for (size_t k = 0; k < w->n_ig; k++) {
        const ignore_file *f = &w->ig[k];
        if (f->n == 0) continue;
        const char *sub = rel + f->base_len + (f->base_len ? 1 : 0);
        seg ps[SEGS_MAX];
        size_t ns = 0, s = 0, len = strlen(sub);
        bool ok = true;
        for (size_t i = 0; i <= len && ok; i++) {
            if (i == len || sub[i] == '/') {
                if (ns == SEGS_MAX) ok = false;
                else if (i > s) ps[ns++] = (seg){(uint32_t)s, (uint32_t)(i - s)};
                s = i + 1;
            }
        }
        if (!ok) continue;
        for (size_t i = 0; i < f->n; i++) {
            const rule *r = &f->rules[i];
            if (r->dir_only && !is_dir) continue;
            bool m = r->anchored ? path_match(r, sub, ps, ns)
                                 : seg_match(r->pat, r->segs[0].len, bn, strlen(bn));
            if (m) ig = !r->neg;
        }
    }
    return ig;
}

/* ------------------------------------------------------------ walking */

static void warnf(walker *w, const char *what, int errnum) {
    if (!w->warn) return;
    char msg[1200];
    snprintf(msg, sizeof msg, "%s: %s%s%s", w->path.data, what, errnum ? ": " : "",
             errnum ? strerror(errnum) : "");
    w->warn(w->warn_ud, msg);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the visible entries of the folder at w->path. */
static ken_status list_dir(walker *w, char ***out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(w->path.data);
    if (!d) { warnf(w, "cannot open folder", errno); return KEN_OK; }
    char **v = NULL;
    size_t n = 0, cap = 0;
    ken_status st = KEN_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;           /* hidden, ".", ".." */
        if (n == NAMES_MAX) { warnf(w, "too many entries, rest skipped", 0); break; }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **p = realloc(v, cap * sizeof *p);
            if (!p) { st = KEN_ERR_NOMEM; break; }
            v = p;
        }
        if (!(v[n] = ken_strdup(e->d_name))) { st = KEN_ERR_NOMEM; break; }
        n++;
    }
    closedir(d);
    if (n) qsort(v, n, sizeof *v, cmp_str);
    *out = v;
    *n_out = n;
    return st;
}

static ken_status walk_dir(walker *w, int depth);

static ken_status visit(walker *w, const char *name, int depth) {
    size_t keep = w->path.len;
    ken_status st = ken_buf_putc(&w->path, '/');
    if (!st) st = ken_buf_puts(&w->path, name);
    if (st) return st;
    struct stat sb;
    if (lstat(w->path.data, &sb) != 0) {
        warnf(w, "cannot read", errno);
        goto out;
    }
    bool link = S_ISLNK(sb.st_mode);
    if (link && stat(w->path.data, &sb) != 0) {
        warnf(w, errno == ENOENT ? "dangling symlink" : "cannot follow symlink",
              errno == ENOENT ? 0 : errno);
        goto out;
    }
    bool is_dir = S_ISDIR(sb.st_mode);
    if ((link && is_dir) || (!is_dir && !S_ISREG(sb.st_mode))) goto out;
    if (ignored(w, w->path.data + w->root_len, is_dir)) goto out;
    if (is_dir) {
        if (depth >= WALK_DEPTH_MAX) warnf(w, "folder nesting too deep, skipped", 0);
        else st = walk_dir(w, depth + 1);
    } else if (w->fn && w->fn(w->ud, w->path.data) != 0) {
        st = ken_err_set(w->err, KEN_ERR_CANCELLED, "walk stopped by the caller");
    }
out:
    w->path.len = keep;
    w->path.data[keep] = 0;
    return st;
}

static ken_status walk_dir(walker *w, int depth) {
    char **names;
    size_t n;
    size_t rel_len = w->path.len > w->root_len ? w->path.len - w->root_len : 0;
    ken_status st = push_ignore(w, rel_len);
    if (!st) st = list_dir(w, &names, &n);
    else { pop_ignore(w); return st; }
    for (size_t i = 0; i < n && !st; i++) st = visit(w, names[i], depth);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    pop_ignore(w);
    return st;
}

ken_status ken_walk(const char *root, ken_walk_fn fn, void *ud,
                    ken_warn_fn warn, void *warn_ud, ken_err *err) {
    if (!root || !*root) return ken_err_set(err, KEN_ERR_INVALID, "empty path");
    struct stat sb;
    if (stat(root, &sb) != 0) {
        int e = errno;
        return ken_err_set(err, e == ENOENT ? KEN_ERR_NOTFOUND : KEN_ERR_IO, "%s: %s", root,
                           strerror(e));
    }
    if (S_ISREG(sb.st_mode)) {
        if (fn && fn(ud, root) != 0)
            return ken_err_set(err, KEN_ERR_CANCELLED, "walk stopped by the caller");
        return KEN_OK;
    }
    if (!S_ISDIR(sb.st_mode))
        return ken_err_set(err, KEN_ERR_UNSUPPORTED, "%s: not a file or folder", root);
    walker w;
    memset(&w, 0, sizeof w);
    ken_buf_init(&w.path, 1 << 20);
    w.fn = fn;
    w.ud = ud;
    w.warn = warn;
    w.warn_ud = warn_ud;
    w.err = err;
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/') n--;
    ken_status st = ken_buf_append(&w.path, root, n);
    if (n == 1 && root[0] == '/') w.path.len = 0;     /* "/" + "/name" */
    if (!st) {
        w.root_len = w.path.len + 1;
        st = walk_dir(&w, 0);
    }
    if (st == KEN_ERR_NOMEM || st == KEN_ERR_LIMIT)
        ken_err_set(err, st, "walking %s: %s", root, ken_status_str(st));
    ken_buf_free(&w.path);
    free(w.ig);
    return st;
}
