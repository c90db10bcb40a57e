/* hnsw_io.c: the index file. Saved atomically (temp file, fsync, rename,
 * fsync of the folder); loaded through a read-only mapping, bounds-checked
 * and checksummed before anything in it is used, so a truncated, corrupt,
 * foreign or stale file is refused with a message and never trusted.
 *
 * Layout (little-endian, sizes in bytes):
 *   header (128): magic "KENHNSW\0", version, header size, dim, metric, M,
 *     ef_construction, count, deleted, entry, max_level, generation,
 *     body size, rng state, checksum (64-bit hash of header-with-zero-checksum
 *     and body), zero padding
 *   body: ids[count] u64 | levels[count] u8 | deleted[count] u8 | pad to 8 |
 *     vectors[count][dim] f32 | level-0 links[count][1 + 2M] u32 |
 *     upper links: for each node, levels[i] x [1 + M] u32
 * The int8 traversal vectors are not stored: they are recomputed from the
 * exact vectors at load (deterministic), which keeps the file smaller. */
#include "index/hnsw_int.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "KENHNSW"
#define VERSION 1u
#define HDR_BYTES 128u

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "hnsw_io.c writes little-endian files and assumes a little-endian host"
#endif

typedef struct {
    char magic[8];
    uint32_t version, header_bytes, dim, metric, M, ef_construction;
    uint64_t count, deleted;
    uint32_t entry;
    int32_t max_level;
    uint64_t generation, body_bytes, rng, checksum;
} file_hdr;   /* 96 bytes, written into a 128-byte zero-padded block */

_Static_assert(sizeof(file_hdr) <= HDR_BYTES, "header fits");
_Static_assert(offsetof(file_hdr, checksum) == KEN_HNSW_FILE_CHECKSUM_OFFSET, "checksum offset");
_Static_assert(HDR_BYTES == KEN_HNSW_FILE_HEADER_BYTES, "header size");

/* ------------------------------------------------------------ checksum */

/* A streaming 64-bit hash over 8-byte words in four lanes (multiply-rotate,
 * in the style of xxHash64; detects corruption, not tampering). */
typedef struct {
    uint64_t lane[4];
    uint8_t buf[32];
    size_t nbuf;
    uint64_t total;
} hasher;

#define P1 0x9E3779B185EBCA87ull
#define P2 0xC2B2AE3D27D4EB4Full
static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static void hash_init(hasher *s) {
    memset(s, 0, sizeof *s);
    for (int i = 0; i < 4; i++) s->lane[i] = P1 * (uint64_t)(i + 1) + P2;
}

static inline void hash_block(hasher *s, const uint8_t *p) {
    for (int i = 0; i < 4; i++) {
        uint64_t w;
        memcpy(&w, p + 8 * i, 8);
        s->lane[i] = rotl(s->lane[i] + w * P2, 31) * P1;
    }
}

static void hash_update(hasher *s, const void *data, size_t n) {
    const uint8_t *p = data;
    if (!n) return;   /* data may be NULL (an empty index) */
    s->total += n;
    if (s->nbuf) {
        size_t take = KEN_MIN(n, 32 - s->nbuf);
        memcpy(s->buf + s->nbuf, p, take);
        s->nbuf += take; p += take; n -= take;
        if (s->nbuf < 32) return;
        hash_block(s, s->buf);
        s->nbuf = 0;
    }
    for (; n >= 32; p += 32, n -= 32) hash_block(s, p);
    memcpy(s->buf, p, n);
    s->nbuf = n;
}

static uint64_t hash_final(hasher *s) {
    uint64_t h = rotl(s->lane[0], 1) + rotl(s->lane[1], 7) + rotl(s->lane[2], 12) +
                 rotl(s->lane[3], 18) + s->total;
    for (size_t i = 0; i < s->nbuf; i++) h = rotl(h ^ (s->buf[i] * P1), 11) * P2;
    h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P1; h ^= h >> 32;
    return h;
}

uint64_t ken_hnsw_file_checksum(const uint8_t *file, size_t len) {
    KEN_ASSERT(len >= HDR_BYTES);
    hasher hs;
    hash_init(&hs);
    uint8_t hb[HDR_BYTES];
    memcpy(hb, file, HDR_BYTES);
    memset(hb + offsetof(file_hdr, checksum), 0, 8);
    hash_update(&hs, hb, HDR_BYTES);
    hash_update(&hs, file + HDR_BYTES, len - HDR_BYTES);
    return hash_final(&hs);
}

/* ------------------------------------------------------------ save */

typedef struct {
    int fd;
    hasher hs;
    char buf[1 << 16];
    size_t n;
    int err;   /* errno of the first failure */
} writer;

static void w_flush(writer *w) {
    const char *p = w->buf;
    size_t n = w->n;
    while (n && !w->err) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0) {
            if (errno != EINTR) w->err = errno;
            continue;
        }
        p += k;
        n -= (size_t)k;
    }
    w->n = 0;
}

static void w_put(writer *w, const void *data, size_t n) {
    const char *p = data;
    hash_update(&w->hs, p, n);
    while (n) {
        size_t take = KEN_MIN(n, sizeof w->buf - w->n);
        memcpy(w->buf + w->n, p, take);
        w->n += take; p += take; n -= take;
        if (w->n == sizeof w->buf) w_flush(w);
    }
}

static uint64_t body_size(const ken_hnsw *h, uint64_t upper_links) {
    uint64_t n = h->n;
    return n * 8 + ((2 * n + 7) & ~7ull) + n * h->dim * 4 + n * (1 + h->M0) * 4 + upper_links * 4;
}

static void write_body(ken_hnsw *h, writer *w) {
    static const uint8_t zeros[8];
    w_put(w, h->ids, h->n * 8);
    w_put(w, h->levels, h->n);
    w_put(w, h->deleted, h->n);
    w_put(w, zeros, ((2 * h->n + 7) & ~(size_t)7) - 2 * h->n);
    w_put(w, h->vecs, h->n * h->dim * sizeof(float));
    for (uint32_t i = 0; i < h->n; i++) w_put(w, node_links0(h, i), 4u * (1 + h->M0));
    for (uint32_t i = 0; i < h->n; i++)
        if (h->levels[i]) w_put(w, h->upper[i], 4u * h->levels[i] * (1 + h->M));
}

static void fsync_dir(const char *path) {
    char *copy = ken_strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) { fsync(fd); close(fd); }
    free(copy);
}

ken_status ken_hnsw_save(ken_hnsw *h, const char *path, uint64_t generation, ken_err *err) {
    pthread_rwlock_wrlock(&h->rw);   /* no writer may change the graph meanwhile */
    uint64_t upper = 0;
    for (size_t i = 0; i < h->n; i++) upper += (uint64_t)h->levels[i] * (1 + h->M);
    uint8_t hb[HDR_BYTES] = {0};
    file_hdr hd = {.version = VERSION, .header_bytes = HDR_BYTES, .dim = h->dim,
                   .metric = (uint32_t)h->metric, .M = h->M, .ef_construction = h->ef_construction,
                   .count = h->n, .deleted = h->n_deleted, .entry = h->entry,
                   .max_level = h->max_level, .generation = generation,
                   .body_bytes = body_size(h, upper), .rng = h->rng};
    memcpy(hd.magic, MAGIC, 8);
    memcpy(hb, &hd, sizeof hd);
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 64);
    writer *w = malloc(sizeof *w);
    ken_status st = KEN_OK;
    if (!tmp || !w) { st = ken_err_set(err, KEN_ERR_NOMEM, "hnsw: out of memory"); goto out; }
    /* Unique per process and per save: two handles of one process (the
     * server's threads) may save the same index at once. */
    static unsigned long save_seq;
    unsigned long seq = __atomic_fetch_add(&save_seq, 1, __ATOMIC_RELAXED);
    snprintf(tmp, plen + 64, "%s.tmp.%ld.%lu", path, (long)getpid(), seq);
    w->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) { st = ken_err_set(err, KEN_ERR_IO, "%s: %s", tmp, strerror(errno)); goto out; }
    w->n = 0;
    w->err = 0;
    hash_init(&w->hs);
    w_put(w, hb, HDR_BYTES);
    write_body(h, w);
    w_flush(w);
    hd.checksum = hash_final(&w->hs);
    memcpy(hb, &hd, sizeof hd);
    if (!w->err && pwrite(w->fd, hb, HDR_BYTES, 0) != (ssize_t)HDR_BYTES) w->err = errno ? errno : EIO;
    if (!w->err && fsync(w->fd) != 0) w->err = errno;
    if (close(w->fd) != 0 && !w->err) w->err = errno;
    if (!w->err && rename(tmp, path) != 0) w->err = errno;
    if (w->err) {
        st = ken_err_set(err, KEN_ERR_IO, "hnsw: writing %s: %s", path, strerror(w->err));
        unlink(tmp);
    } else {
        fsync_dir(path);
    }
out:
    pthread_rwlock_unlock(&h->rw);
    free(tmp);
    free(w);
    return st;
}

/* ------------------------------------------------------------ load */

static ken_status check_header(const file_hdr *hd, size_t file_bytes, const char *path,
                               uint64_t expected_generation, uint32_t expected_dim, ken_err *err) {
    if (memcmp(hd->magic, MAGIC, 8) != 0)
        return ken_err_set(err, KEN_ERR_FORMAT, "%s: not a ken HNSW index", path);
    if (hd->version != VERSION)
        return ken_err_set(err, KEN_ERR_VERSION, "%s: index format version %u (this ken reads %u)",
                           path, hd->version, VERSION);
    if (hd->header_bytes != HDR_BYTES || hd->dim == 0 || hd->dim > KEN_HNSW_DIM_MAX ||
        hd->metric > KEN_HNSW_L2 || hd->M < 2 || hd->M > KEN_HNSW_M_MAX ||
        hd->ef_construction == 0 || hd->ef_construction > KEN_HNSW_EF_MAX ||
        hd->count > KEN_HNSW_COUNT_MAX || hd->deleted > hd->count ||
        hd->max_level > HNSW_LEVEL_MAX || hd->max_level < -1 ||
        (hd->max_level >= 0 && hd->entry >= hd->count))
        return ken_err_set(err, KEN_ERR_FORMAT, "%s: corrupt index header", path);
    if (hd->body_bytes != file_bytes - HDR_BYTES)
        return ken_err_set(err, KEN_ERR_FORMAT, "%s: truncated or padded index (%zu bytes, header says %llu)",
                           path, file_bytes, (unsigned long long)(hd->body_bytes + HDR_BYTES));
    if (hd->generation != expected_generation)
        return ken_err_set(err, KEN_ERR_VERSION, "%s: stale index (generation %llu, expected %llu)",
                           path, (unsigned long long)hd->generation,
                           (unsigned long long)expected_generation);
    if (expected_dim && hd->dim != expected_dim)
        return ken_err_set(err, KEN_ERR_INVALID, "%s: index has dimension %u, expected %u", path,
                           hd->dim, expected_dim);
    return KEN_OK;
}

static bool links_ok(const uint32_t *l, uint32_t max, uint64_t n) {
    if (l[0] > max) return false;
    for (uint32_t j = 0; j < l[0]; j++)
        if (l[1 + j] >= n) return false;
    return true;
}

/* Copies the checked body into h (allocated for hd->count nodes). */
static ken_status read_body(ken_hnsw *h, const file_hdr *hd, const uint8_t *p, const char *path,
                            ken_err *err) {
    size_t n = hd->count, dim = hd->dim, M0 = 2 * (size_t)hd->M;
    const uint8_t *levels = p + n * 8, *del = levels + n;
    const uint8_t *vecs = p + n * 8 + ((2 * n + 7) & ~(size_t)7);
    const uint8_t *l0 = vecs + n * dim * 4, *up = l0 + n * (1 + M0) * 4;
    uint64_t upper = 0, ndel = 0;
    if (n == 0) return KEN_OK;   /* an empty index: nothing to copy */
    for (size_t i = 0; i < n; i++) {
        if (levels[i] > HNSW_LEVEL_MAX || del[i] > 1 || (int)levels[i] > hd->max_level)
            return ken_err_set(err, KEN_ERR_FORMAT, "%s: corrupt node %zu", path, i);
        upper += (uint64_t)levels[i] * (1 + hd->M);
        ndel += del[i];
    }
    uint64_t want = (uint64_t)(up - p) + upper * 4;
    if (want != hd->body_bytes || ndel != hd->deleted ||
        (hd->max_level >= 0 && levels[hd->entry] != hd->max_level))
        return ken_err_set(err, KEN_ERR_FORMAT, "%s: inconsistent index body", path);
    memcpy(h->ids, p, n * 8);
    memcpy(h->levels, levels, n);
    memcpy(h->deleted, del, n);
    memcpy(h->vecs, vecs, n * dim * 4);
    for (size_t i = 0; i < n * dim; i++)
        if (!isfinite(h->vecs[i]))
            return ken_err_set(err, KEN_ERR_FORMAT, "%s: non-finite vector value", path);
    for (size_t i = 0; i < n; i++) h->upper[i] = NULL;
    h->n = n;   /* from here on free_data owns the upper lists */
    for (size_t i = 0; i < n; i++) {
        uint32_t *l = node_links0(h, (uint32_t)i);
        memcpy(l, l0 + i * (1 + M0) * 4, (1 + M0) * 4);
        if (!links_ok(l, (uint32_t)M0, n))
            return ken_err_set(err, KEN_ERR_FORMAT, "%s: bad links at node %zu", path, i);
        ken_hnsw_set_quant(h, (uint32_t)i);
        if (!levels[i]) continue;
        size_t cnt = (size_t)levels[i] * (1 + hd->M);
        if (!(h->upper[i] = malloc(cnt * 4))) return ken_err_set(err, KEN_ERR_NOMEM, "hnsw: out of memory");
        memcpy(h->upper[i], up, cnt * 4);
        up += cnt * 4;
        for (int lev = 1; lev <= levels[i]; lev++)
            if (!links_ok(node_links(h, (uint32_t)i, lev), hd->M, n))
                return ken_err_set(err, KEN_ERR_FORMAT, "%s: bad links at node %zu", path, i);
    }
    h->n_deleted = ndel;
    h->entry = hd->entry;
    h->max_level = hd->max_level;
    h->rng = hd->rng;
    for (size_t i = 0; i < n; i++)
        if (ken_hnsw_map_put(h, h->ids[i], (uint32_t)i))
            return ken_err_set(err, KEN_ERR_NOMEM, "hnsw: out of memory");
    h->n_deleted = ndel;   /* map_put may tombstone an older duplicate; the file's flags rule */
    return KEN_OK;
}

ken_status ken_hnsw_file_generation(const char *path, uint64_t *generation, ken_err *err) {
    *generation = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ken_err_set(err, errno == ENOENT ? KEN_ERR_NOTFOUND : KEN_ERR_IO, "%s: %s", path,
                           strerror(errno));
    file_hdr hd;
    ssize_t r = pread(fd, &hd, sizeof hd, 0);
    close(fd);
    if (r != (ssize_t)sizeof hd || memcmp(hd.magic, MAGIC, 8) != 0)
        return ken_err_set(err, KEN_ERR_FORMAT, "%s: not a ken HNSW index", path);
    if (hd.version != VERSION)
        return ken_err_set(err, KEN_ERR_VERSION, "%s: index format version %u (this ken reads %u)",
                           path, hd.version, VERSION);
    *generation = hd.generation;
    return KEN_OK;
}

ken_status ken_hnsw_load(const char *path, uint64_t expected_generation, uint32_t expected_dim,
                         ken_hnsw **out, ken_err *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ken_err_set(err, errno == ENOENT ? KEN_ERR_NOTFOUND : KEN_ERR_IO, "%s: %s", path,
                           strerror(errno));
    struct stat sb;
    ken_status st = KEN_OK;
    void *map = MAP_FAILED;
    ken_hnsw *h = NULL;
    if (fstat(fd, &sb) != 0) { st = ken_err_set(err, KEN_ERR_IO, "%s: %s", path, strerror(errno)); goto out; }
    size_t size = (size_t)sb.st_size;
    if (size < HDR_BYTES) { st = ken_err_set(err, KEN_ERR_FORMAT, "%s: truncated index (%zu bytes)", path, size); goto out; }
    map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) { st = ken_err_set(err, KEN_ERR_IO, "%s: mmap: %s", path, strerror(errno)); goto out; }
    file_hdr hd;
    memcpy(&hd, map, sizeof hd);
    st = check_header(&hd, size, path, expected_generation, expected_dim, err);
    if (st) goto out;
    if (ken_hnsw_file_checksum(map, size) != hd.checksum) { st = ken_err_set(err, KEN_ERR_FORMAT, "%s: checksum mismatch (corrupt index)", path); goto out; }
    ken_hnsw_opts o = {hd.dim, (ken_hnsw_metric)hd.metric, hd.M, hd.ef_construction, hd.rng};
    st = ken_hnsw_alloc(&o, hd.count, &h, err);
    if (!st) st = read_body(h, &hd, (const uint8_t *)map + HDR_BYTES, path, err);
    if (!st) { *out = h; h = NULL; }
out:
    if (map != MAP_FAILED) munmap(map, size);
    close(fd);
    ken_hnsw_free(h);
    return st;
}
