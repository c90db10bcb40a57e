/* util.c: what the knowledge-base commands share: status -> exit code, and
 * printing a failure with the handle's message. */
#include "cli.h"

#include <stdio.h>

int cli_exit_of(ken_status st) {
    switch (st) {
    case KEN_OK: return EXIT_OK;
    case KEN_ERR_NOMEM: case KEN_ERR_INTERNAL: case KEN_ERR_STORE: return EXIT_INTERNAL;
    case KEN_ERR_INVALID: return EXIT_USAGE;
    default: return EXIT_INPUT;
    }
}

int cli_fail(ken_kb *kb, ken_status st) {
    const char *m = kb ? ken_kb_errmsg(kb) : "";
    fprintf(stderr, "ken: %s\n", m && *m ? m : ken_status_str(st));
    return cli_exit_of(st);
}
