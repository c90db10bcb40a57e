/* jinja.h: a Jinja2 subset for chat templates: a lexer and parser that turn
 * template text into an AST (jinja.c) and an evaluator over dynamic values
 * (jinja_eval.c), configured as Hugging Face transformers configures Jinja for
 * apply_chat_template: trim_blocks and lstrip_blocks on, loop controls, a
 * tojson that keeps non-ASCII, raise_exception() and strftime_now().
 *
 * Hostile templates are bounded: nesting depth (parser and evaluator), output
 * size, memory (one arena per render, with a cap) and evaluation steps (every
 * loop iteration and expression counts), so nothing hangs or grows without
 * limit. Errors name the line and column of the template.
 *
 * Ownership: a ken_jinja_tmpl owns its AST (free with ken_jinja_free); a
 * render writes into the caller's ken_buf. */
#ifndef KEN_JINJA_H
#define KEN_JINJA_H

#include "base/base.h"
#include "base/json.h"

/* ------------------------------------------------------------- arena */

/* A bump allocator with a total cap: all AST nodes of a template, and all
 * values of a render, live in one arena and are freed at once. */
typedef struct jarena_blk jarena_blk;
typedef struct {
    jarena_blk *head;
    size_t used, cap_max;
    bool failed;
} jarena;

void jarena_init(jarena *a, size_t cap_max);
void jarena_free(jarena *a);
/* NULL when the cap would be exceeded or malloc fails (a->failed set). */
void *jarena_alloc(jarena *a, size_t n);
char *jarena_strndup(jarena *a, const char *s, size_t n);

/* --------------------------------------------------------------- AST */

typedef enum {
    /* expressions */
    JN_STR, JN_INT, JN_FLOAT, JN_BOOL, JN_NONE, JN_NAME, JN_LIST, JN_TUPLE, JN_DICT,
    JN_ATTR, JN_SUB, JN_SLICE, JN_CALL, JN_FILTER, JN_TEST, JN_NEG, JN_POS, JN_NOT,
    JN_BIN, JN_AND, JN_OR, JN_COND,
    /* statements */
    JN_TEXT, JN_OUT, JN_BODY, JN_IF, JN_FOR, JN_SET, JN_SETBLOCK, JN_MACRO, JN_CALLBLOCK,
    JN_FILTERBLOCK, JN_BREAK, JN_CONTINUE
} jn_kind;

/* JN_BIN operators */
typedef enum {
    JOP_ADD, JOP_SUB, JOP_MUL, JOP_DIV, JOP_FLOORDIV, JOP_MOD, JOP_POW, JOP_CONCAT,
    JOP_EQ, JOP_NE, JOP_LT, JOP_LE, JOP_GT, JOP_GE, JOP_IN, JOP_NOTIN
} jop;

typedef struct jnode jnode;
struct jnode {
    uint8_t kind;          /* jn_kind */
    uint8_t op;            /* jop for JN_BIN; negation for JN_TEST; recursive for JN_FOR */
    int line, col;
    const char *s;         /* name, string literal, text, attribute, filter/test name */
    size_t n;
    int64_t i;             /* JN_INT, JN_BOOL */
    double f;              /* JN_FLOAT */
    jnode *a, *b, *c;      /* children: see jinja.c for each kind */
    jnode **kids;          /* items, arguments, body statements */
    const char **names;    /* per kid: keyword name or NULL (calls, macro params) */
    int nkids;
    jnode *d;              /* JN_SLICE step, JN_FOR else body */
    const char **undef;    /* JN_BODY starting a scope: names Jinja's compiler starts as */
    int nundef;            /* undefined there (stored before any load, no outer ref) */
};

typedef struct ken_jinja_tmpl {
    jarena arena;
    jnode *root;           /* JN_BODY */
} ken_jinja_tmpl;

/* Parses template text src[0..n). KEN_ERR_FORMAT with "line L, column C: ..."
 * on syntax errors; KEN_ERR_LIMIT when nesting or size is too large. */
ken_status ken_jinja_parse(const char *src, size_t n, ken_jinja_tmpl **out, ken_err *err);
void ken_jinja_free(ken_jinja_tmpl *t);

/* ---------------------------------------------------------- rendering */

typedef struct {
    size_t out_max;        /* 0: 16 MiB of output */
    size_t mem_max;        /* 0: 256 MiB of values */
    int depth_max;         /* 0: 200 levels of nesting (macro calls, expressions) */
    uint64_t steps_max;    /* 0: 20 million evaluation steps */
} ken_jinja_limits;

/* Renders t with the variables of the JSON objects vars[0..nvars) (later ones
 * override earlier ones; NULL entries are skipped). Output is appended to out.
 * Errors: KEN_ERR_FORMAT for template errors (undefined attributes, type
 * errors, raise_exception: the message is the exception's text, prefixed by
 * the location), KEN_ERR_LIMIT for exceeded limits, KEN_ERR_NOMEM. */
ken_status ken_jinja_render(const ken_jinja_tmpl *t, const ken_json *const *vars, size_t nvars,
                            const ken_jinja_limits *lim, ken_buf *out, ken_err *err);

/* Why the last render failed with an exception raised by the template itself
 * (raise_exception): set by ken_jinja_render into err as "raise_exception: MSG". */
#define KEN_JINJA_RAISE_PREFIX "raise_exception: "

/* ------------------------------------------- internal: jinja_eval.c / jinja_lib.c */

typedef enum { V_UNDEF, V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_LIST, V_DICT, V_FUNC } jv_type;

typedef struct jlist jlist;
typedef struct jdict jdict;
typedef struct jfunc jfunc;
typedef struct jframe jframe;

/* A value: scalars inline; str points at UTF-8 bytes (NUL-terminated, n
 * bytes) owned by the template, the variables' JSON or the render arena. */
typedef struct {
    uint8_t t;                  /* jv_type */
    int64_t i;                  /* BOOL, INT */
    double f;                   /* FLOAT */
    const char *s;              /* STR */
    size_t n;
    jlist *l;                   /* LIST (tuples too) */
    jdict *d;                   /* DICT (namespaces and loop objects too) */
    jfunc *fn;                  /* FUNC */
} jv;
#define JV_UNDEF_INIT ((jv){.t = V_UNDEF})

struct jlist { jv *v; size_t n, cap; bool tuple; };
struct jdict { jv *k, *v; size_t n, cap; bool ns, loop; };

typedef enum { JF_MACRO, JF_METHOD, JF_GLOBAL } jf_kind;
struct jfunc {
    uint8_t kind;               /* jf_kind */
    const char *name;           /* macro, method or global name */
    const jnode *node;          /* JF_MACRO: its JN_MACRO */
    jframe *scope;              /* JF_MACRO: where it was defined */
    jv self;                    /* JF_METHOD: the bound object */
};

struct jframe { jframe *parent; jv vars; };

typedef struct {
    jarena ar;
    ken_buf *out;
    size_t out_max;
    int depth, depth_max;
    uint64_t steps, steps_max;
    ken_err *err;
    ken_status st;
    jframe *root;
    int brk;                    /* 1 break, 2 continue pending */
    const jv *caller;           /* the {% call %} body inside a macro */
    const jnode *at;            /* the node being evaluated: errors without one point here */
    const jdict *printing[64];  /* dicts being printed (repr's {...} for cycles) */
    int printing_n;
} jctx;

jv jfail(jctx *c, const jnode *at, ken_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void *jalloc(jctx *c, size_t n);
/* Charges work on n bytes against the step budget (so loops over big strings
 * are bounded by time, not only by node count); false once exceeded. */
bool jcharge(jctx *c, size_t n);
jv jv_str(jctx *c, const char *s, size_t n);
jv jv_strref(const char *s, size_t n);
jv jv_int(int64_t i);
jv jv_float(double f);
jv jv_bool(bool b);
jv jv_none(void);
jv jv_list(jctx *c, size_t cap);
bool jlist_push(jctx *c, jlist *l, jv x);
jv jv_dict(jctx *c);
jv *jdict_getn(const jdict *d, const char *key, size_t n);
jv *jdict_get(const jdict *d, const jv *k);
bool jdict_set(jctx *c, jdict *d, jv k, jv v);
bool jdict_setn(jctx *c, jdict *d, const char *key, jv v);
bool jv_truthy(const jv *v);
bool jv_eq(const jv *a, const jv *b);
int jv_cmp(const jv *a, const jv *b, bool *ok);
const char *jv_type_name(const jv *v);
void py_float_repr(double f, char out[40]);
jv jv_to_str(jctx *c, const jv *v);
jv jv_repr(jctx *c, const jv *v);
jv jv_concat(jctx *c, const jv *x, const jv *y);
jv percent_format(jctx *c, const jnode *n, const jv *fmt, const jv *arg);  /* fmt % arg */
jv jv_getitem(jctx *c, const jnode *at, const jv *obj, const jv *key);
bool jv_iter(jctx *c, const jnode *at, const jv *v, jlist *out);
jv jv_from_json(jctx *c, const ken_json *j, int depth);
jv *frame_lookup(jframe *f, const char *name, size_t n);
jv jeval(jctx *c, const jnode *n, jframe *f);
void jexec(jctx *c, const jnode *n, jframe *f);
jv jcapture(jctx *c, const jnode *body, jframe *f);
void bind_undef(jctx *c, const jnode *body, jframe *f);

/* jinja_lib.c */
size_t utf8_count(const char *s, size_t n);
size_t utf8_offset(const char *s, size_t n, size_t cp_index);
int jv_contains(jctx *c, const jnode *at, const jv *container, const jv *item);  /* -1 error */
jv jmethod_bind(jctx *c, const jv *obj, const char *name);  /* UNDEF if no such method */
jv jglobal(jctx *c, const char *name);                        /* UNDEF if none */
jv jcall(jctx *c, const jnode *n, jframe *f);
jv jcall_block(jctx *c, const jnode *n, jframe *f);
jv jfilter(jctx *c, const jnode *n, jframe *f, const jv *input);  /* input: NULL -> eval n->a */
int jtest(jctx *c, const jnode *n, jframe *f);                /* 1, 0, or -1 on error */

#endif
