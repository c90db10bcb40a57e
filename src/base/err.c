/* err.c: status strings, error messages, assertions and the log callback. */
#include "base.h"

#include <stdlib.h>
#include <string.h>

const char *ken_status_str(ken_status st) {
    switch (st) {
    case KEN_OK: return "ok";
    case KEN_ERR_NOMEM: return "out of memory";
    case KEN_ERR_IO: return "input/output error";
    case KEN_ERR_FORMAT: return "malformed input";
    case KEN_ERR_LIMIT: return "limit exceeded";
    case KEN_ERR_NOTFOUND: return "not found";
    case KEN_ERR_INVALID: return "invalid argument";
    case KEN_ERR_VERSION: return "unsupported version";
    case KEN_ERR_UNSUPPORTED: return "unsupported";
    case KEN_ERR_CANCELLED: return "cancelled";
    case KEN_ERR_STORE: return "store error";
    case KEN_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

void ken_free(void *p) { free(p); }

void ken_assert_fail(const char *cond, const char *file, int line) {
    /* The one place the library may stop the process: a broken invariant
     * means memory can no longer be trusted. */
    fprintf(stderr, "ken: assertion failed: %s (%s:%d)\n", cond, file, line);
    abort();
}

ken_status ken_err_set(ken_err *e, ken_status st, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return st;
}

void ken_err_clear(ken_err *e) {
    if (e) e->msg[0] = 0;
}

static ken_log_fn log_fn;
static void *log_ud;

void ken_set_log(ken_log_fn fn, void *ud) {
    log_fn = fn;
    log_ud = ud;
}

void ken_log(ken_log_level level, const char *fmt, ...) {
    if (!log_fn) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_fn(log_ud, level, msg);
}
