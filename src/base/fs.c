/* fs.c: whole-file reads with a limit, atomic writes, folders, time. */
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

ken_status ken_file_read(const char *path, size_t bytes_max, ken_buf *out, ken_err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ken_err_set(err, errno == ENOENT ? KEN_ERR_NOTFOUND : KEN_ERR_IO,
                                   "%s: %s", path, strerror(errno));
    ken_status st = KEN_OK;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st = ken_err_set(err, KEN_ERR_IO, "%s: %s", path, strerror(errno));
        goto out_close;
    }
    if (S_ISDIR(sb.st_mode)) {
        st = ken_err_set(err, KEN_ERR_INVALID, "%s: is a directory", path);
        goto out_close;
    }
    if (S_ISREG(sb.st_mode)) {
        if ((uint64_t)sb.st_size > bytes_max) {
            st = ken_err_set(err, KEN_ERR_LIMIT, "%s: %lld bytes is over the limit of %zu",
                             path, (long long)sb.st_size, bytes_max);
            goto out_close;
        }
        if (ken_buf_reserve(out, (size_t)sb.st_size)) {
            st = ken_err_set(err, KEN_ERR_NOMEM, "%s: out of memory", path);
            goto out_close;
        }
    }
    for (;;) {
        if (out->len >= bytes_max) {
            char c;
            ssize_t r = read(fd, &c, 1);
            if (r > 0) st = ken_err_set(err, KEN_ERR_LIMIT, "%s: over the limit of %zu bytes",
                                        path, bytes_max);
            break;
        }
        if (ken_buf_reserve(out, KEN_MIN((size_t)1 << 20, bytes_max - out->len))) {
            st = ken_err_set(err, KEN_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        size_t room = KEN_MIN(out->cap - out->len - 1, bytes_max - out->len);
        ssize_t r = read(fd, out->data + out->len, room);
        if (r < 0) {
            if (errno == EINTR) continue;
            st = ken_err_set(err, KEN_ERR_IO, "%s: %s", path, strerror(errno));
            break;
        }
        if (r == 0) break;
        out->len += (size_t)r;
    }
    if (out->data) out->data[out->len] = 0;
out_close:
    close(fd);
    return st;
}

static ken_status mkdir_p(char *dir, ken_err *err) {
    struct stat sb;
    if (stat(dir, &sb) == 0) return KEN_OK;
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        ken_status st = mkdir_p(dir, err);
        *slash = '/';
        if (st) return st;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return ken_err_set(err, KEN_ERR_IO, "cannot create folder %s: %s", dir, strerror(errno));
    return KEN_OK;
}

ken_status ken_mkdir_parent(const char *path, ken_err *err) {
    char *copy = ken_strdup(path);
    if (!copy) return ken_err_set(err, KEN_ERR_NOMEM, "out of memory");
    char *dir = dirname(copy);
    ken_status st = KEN_OK;
    if (strcmp(dir, ".") != 0 && strcmp(dir, "/") != 0) st = mkdir_p(dir, err);
    free(copy);
    return st;
}

ken_status ken_file_write_atomic(const char *path, const void *data, size_t n, ken_err *err) {
    size_t len = strlen(path);
    char *tmp = malloc(len + 32);
    if (!tmp) return ken_err_set(err, KEN_ERR_NOMEM, "out of memory");
    snprintf(tmp, len + 32, "%s.tmp.%ld", path, (long)getpid());
    ken_status st = KEN_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = ken_err_set(err, KEN_ERR_IO, "%s: %s", tmp, strerror(errno));
        goto out_free;
    }
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            st = ken_err_set(err, KEN_ERR_IO, "%s: %s", tmp, strerror(errno));
            break;
        }
        p += w;
        n -= (size_t)w;
    }
    if (!st && fsync(fd) != 0) st = ken_err_set(err, KEN_ERR_IO, "%s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && !st) st = ken_err_set(err, KEN_ERR_IO, "%s: %s", tmp, strerror(errno));
    if (!st && rename(tmp, path) != 0)
        st = ken_err_set(err, KEN_ERR_IO, "%s: %s", path, strerror(errno));
    if (st) unlink(tmp);
out_free:
    free(tmp);
    return st;
}

bool ken_isatty_stderr(void) { return isatty(2) != 0; }

double ken_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
