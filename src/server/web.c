/* web.c: the web UI's static files. Only the names in a fixed table are
 * served (so no request path ever reaches the file system as a path), read
 * from the web/ folder found from the options, $KEN_WEB, or next to the
 * binary (../web, ../../web, ../share/ken/web). */
#include "server.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WEB_FILE_BYTES_MAX ((size_t)4 << 20)

static const struct { const char *url, *file, *ctype; } files[] = {
    {"/", "index.html", "text/html; charset=utf-8"},
    {"/index.html", "index.html", "text/html; charset=utf-8"},
    {"/app.js", "app.js", "text/javascript; charset=utf-8"},
    {"/style.css", "style.css", "text/css; charset=utf-8"},
    {"/favicon.svg", "favicon.svg", "image/svg+xml"},
};

static bool has_index(const char *dir) {
    char p[PATH_MAX];
    struct stat sb;
    return snprintf(p, sizeof p, "%s/index.html", dir) < (int)sizeof p && stat(p, &sb) == 0;
}

void srv_web_find(srv *s) {
    s->web_dir[0] = 0;
    const char *env = getenv("KEN_WEB");
    const char *given = s->o.web_dir ? s->o.web_dir : env;
    if (given) {
        snprintf(s->web_dir, sizeof s->web_dir, "%s", given);
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return;
    *slash = 0;
    static const char *const rel[] = {"/../web", "/../../web", "/../share/ken/web", "/web"};
    for (size_t i = 0; i < KEN_ARRAY_LEN(rel); i++) {
        char cand[PATH_MAX];
        if (snprintf(cand, sizeof cand, "%s%s", exe, rel[i]) >= (int)sizeof cand) continue;
        char real[PATH_MAX];
        if (realpath(cand, real) && has_index(real)) {
            snprintf(s->web_dir, sizeof s->web_dir, "%s", real);
            return;
        }
    }
}

enum MHD_Result srv_web(srv_req *r, const char *path) {
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)
        return srv_error(r, 405, "method_not_allowed", "%s is not allowed here", r->method);
    for (size_t i = 0; i < KEN_ARRAY_LEN(files); i++) {
        if (strcmp(path, files[i].url) != 0) continue;
        if (!r->s->web_dir[0])
            return srv_error(r, 404, "no_web_ui", "the web UI files were not found "
                                                  "(set KEN_WEB to the web/ folder)");
        char p[sizeof r->s->web_dir + 32];   /* the folder + "/" + a short table name */
        snprintf(p, sizeof p, "%s/%.30s", r->s->web_dir, files[i].file);
        ken_buf b;
        ken_buf_init(&b, WEB_FILE_BYTES_MAX);
        ken_err err;
        if (ken_file_read(p, WEB_FILE_BYTES_MAX, &b, &err)) {
            ken_buf_free(&b);
            return srv_error(r, 404, "not_found", "no such file");
        }
        return srv_reply(r, 200, files[i].ctype, &b);
    }
    return srv_error(r, 404, "not_found", "no such page");
}
