/* keys.c: API keys. A key is "ken_<id>_<secret>" (id: 12 hex digits,
 * secret: 40 hex digits from /dev/urandom); the store keeps only
 * key.<id> = {"hash": sha256(key) hex, "scope", "collection", "created"}
 * in its config table, so a stolen store file does not give working keys.
 * Checking compares the hashes in constant time. The config entry "keys"
 * lists the ids (a JSON array) for `ken key list`; a revoked key's record
 * becomes {"revoked": true, ...} without a hash, so it never matches. */
#include "server.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ID_HEX 12
#define SECRET_HEX 40
#define KEY_LEN (4 + ID_HEX + 1 + SECRET_HEX)

static ken_status random_bytes(uint8_t *p, size_t n) {
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return KEN_ERR_IO;
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, p + got, n - got);
        if (k <= 0) { close(fd); return KEN_ERR_IO; }
        got += (size_t)k;
    }
    close(fd);
    return KEN_OK;
}

static int scope_of(const char *s) {
    if (!s) return SCOPE_NONE;
    if (strcmp(s, "read") == 0) return SCOPE_READ;
    if (strcmp(s, "write") == 0) return SCOPE_WRITE;
    if (strcmp(s, "admin") == 0) return SCOPE_ADMIN;
    return SCOPE_NONE;
}

static bool hex_only(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

static ken_status key_record(const char *hash, const char *scope, const char *collection,
                             ken_buf *out) {
    ken_jw w;
    ken_jw_init(&w, out, 0);
    ken_jw_obj_begin(&w);
    ken_jw_key(&w, "hash"); ken_jw_str(&w, hash);
    ken_jw_key(&w, "scope"); ken_jw_str(&w, scope);
    ken_jw_key(&w, "collection"); ken_jw_str(&w, collection);
    ken_jw_key(&w, "created"); ken_jw_int(&w, (int64_t)time(NULL));
    ken_jw_obj_end(&w);
    return ken_jw_status(&w);
}

/* Appends id to the "keys" index (a JSON array of ids). */
static ken_status index_add(ken_store *s, const char *id) {
    ken_buf cur, out;
    ken_buf_init(&cur, 1 << 20);
    ken_buf_init(&out, 1 << 20);
    ken_status st = s->ops->config_get(s, "keys", &cur);
    if (st == KEN_ERR_NOTFOUND) st = ken_buf_puts(&cur, "[]");
    ken_json_doc *d = NULL;
    if (!st) st = ken_json_parse(cur.data, cur.len, NULL, &d, NULL, NULL);
    if (!st) {
        const ken_json *a = ken_json_root(d);
        ken_jw w;
        ken_jw_init(&w, &out, 0);
        ken_jw_arr_begin(&w);
        for (size_t i = 0; a->type == KEN_JSON_ARRAY && i < a->n; i++)
            if (a->kids[i].type == KEN_JSON_STRING) ken_jw_str(&w, a->kids[i].str);
        ken_jw_str(&w, id);
        ken_jw_arr_end(&w);
        st = ken_jw_status(&w);
    }
    if (!st) st = s->ops->config_set(s, "keys", out.data);
    ken_json_free(d);
    ken_buf_free(&cur);
    ken_buf_free(&out);
    return st;
}

ken_status ken_key_create(const char *db_path, const char *scope, const char *collection,
                          char **key_out, char **errmsg) {
    *key_out = NULL;
    if (errmsg) *errmsg = NULL;
    ken_err err = {{0}};
    ken_status st = KEN_OK;
    ken_store *s = NULL;
    ken_buf rec;
    ken_buf_init(&rec, 0);
    if (!db_path || scope_of(scope) == SCOPE_NONE) {
        st = ken_err_set(&err, KEN_ERR_INVALID, "scope must be read, write or admin");
        goto out;
    }
    if (collection && (!*collection || strlen(collection) >= COLLECTION_BYTES_MAX)) {
        st = ken_err_set(&err, KEN_ERR_INVALID, "collection names are 1 to %d bytes",
                         COLLECTION_BYTES_MAX - 1);
        goto out;
    }
    uint8_t rnd[(ID_HEX + SECRET_HEX) / 2];
    if ((st = random_bytes(rnd, sizeof rnd))) {
        ken_err_set(&err, st, "cannot read /dev/urandom");
        goto out;
    }
    char hex[ID_HEX + SECRET_HEX + 1], key[KEY_LEN + 1], hash[65], name[32];
    ken_hex(rnd, sizeof rnd, hex);
    snprintf(key, sizeof key, "ken_%.*s_%s", ID_HEX, hex, hex + ID_HEX);
    snprintf(name, sizeof name, "key.%.*s", ID_HEX, hex);
    ken_sha256_hex(key, strlen(key), hash);
    if ((st = key_record(hash, scope, collection, &rec))) goto out;
    ken_store_opts so = {.path = db_path, .create = true};
    if ((st = ken_store_open(&so, &s, &err))) goto out;
    if ((st = s->ops->config_set(s, name, rec.data)) || (st = index_add(s, name + 4))) {
        ken_err_set(&err, st, "%s", ken_store_errmsg(s));
        goto out;
    }
    if (!(*key_out = ken_strdup(key))) st = KEN_ERR_NOMEM;
out:
    ken_store_close(s);
    ken_buf_free(&rec);
    if (st && errmsg) *errmsg = ken_strdup(err.msg[0] ? err.msg : ken_status_str(st));
    return st;
}

ken_status srv_key_check(ken_store *st, const char *header, srv_auth *a) {
    memset(a, 0, sizeof *a);
    if (strncasecmp(header, "Bearer ", 7) != 0) return KEN_OK;
    const char *key = header + 7;
    while (*key == ' ') key++;
    size_t n = strlen(key);
    if (n != KEY_LEN || strncmp(key, "ken_", 4) != 0 || key[4 + ID_HEX] != '_' ||
        !hex_only(key + 4, ID_HEX) || !hex_only(key + 5 + ID_HEX, SECRET_HEX))
        return KEN_OK;
    char name[32];
    snprintf(name, sizeof name, "key.%.*s", ID_HEX, key + 4);
    ken_buf rec;
    ken_buf_init(&rec, 4096);
    ken_status s = st->ops->config_get(st, name, &rec);
    if (s == KEN_ERR_NOTFOUND) { ken_buf_free(&rec); return KEN_OK; }
    if (s) { ken_buf_free(&rec); return s; }
    ken_json_doc *d = NULL;
    if (ken_json_parse(rec.data, rec.len, NULL, &d, NULL, NULL) == KEN_OK) {
        const ken_json *root = ken_json_root(d);
        const char *want = ken_json_str(ken_json_get(root, "hash"));
        char got[65];
        ken_sha256_hex(key, n, got);
        unsigned diff = 1;   /* constant time over the hash: no early exit on mismatch */
        if (want && strlen(want) == 64) {
            diff = 0;
            for (int i = 0; i < 64; i++) diff |= (unsigned)(got[i] ^ want[i]);
        }
        const char *coll = ken_json_str(ken_json_get(root, "collection"));
        if (!diff && (!coll || strlen(coll) < COLLECTION_BYTES_MAX)) {
            a->scope = scope_of(ken_json_str(ken_json_get(root, "scope")));
            snprintf(a->collection, sizeof a->collection, "%s", coll ? coll : "");
            snprintf(a->id, sizeof a->id, "%.*s", ID_HEX, key + 4);
        }
    }
    ken_json_free(d);
    ken_buf_free(&rec);
    return KEN_OK;
}

static ken_status open_store(const char *db_path, ken_store **s, ken_err *err) {
    ken_store_opts so = {.path = db_path};
    return ken_store_open(&so, s, err);
}

ken_status ken_key_list(const char *db_path, char **json_out, char **errmsg) {
    *json_out = NULL;
    if (errmsg) *errmsg = NULL;
    ken_err err = {{0}};
    ken_store *s = NULL;
    ken_buf idx, rec, out;
    ken_buf_init(&idx, 1 << 20);
    ken_buf_init(&rec, 4096);
    ken_buf_init(&out, 0);
    ken_json_doc *d = NULL;
    ken_status st = open_store(db_path, &s, &err);
    if (!st) st = s->ops->config_get(s, "keys", &idx);
    if (st == KEN_ERR_NOTFOUND) st = ken_buf_puts(&idx, "[]");
    if (!st) st = ken_json_parse(idx.data, idx.len, NULL, &d, NULL, NULL);
    ken_jw w;
    ken_jw_init(&w, &out, 0);
    ken_jw_arr_begin(&w);
    const ken_json *a = st ? NULL : ken_json_root(d);
    for (size_t i = 0; a && a->type == KEN_JSON_ARRAY && i < a->n && !st; i++) {
        const char *id = ken_json_str(&a->kids[i]);
        char name[64];
        if (!id || strlen(id) != ID_HEX) continue;
        snprintf(name, sizeof name, "key.%s", id);
        ken_buf_reset(&rec);
        if (s->ops->config_get(s, name, &rec)) continue;
        ken_json_doc *r = NULL;
        if (ken_json_parse(rec.data, rec.len, NULL, &r, NULL, NULL)) continue;
        const ken_json *o = ken_json_root(r), *c = ken_json_get(o, "created");
        ken_jw_obj_begin(&w);
        ken_jw_key(&w, "id"); ken_jw_str(&w, id);
        ken_jw_key(&w, "scope"); ken_jw_str(&w, ken_json_str(ken_json_get(o, "scope")));
        ken_jw_key(&w, "collection"); ken_jw_str(&w, ken_json_str(ken_json_get(o, "collection")));
        ken_jw_key(&w, "created"); ken_jw_int(&w, c && c->type == KEN_JSON_NUMBER ? (int64_t)c->num : 0);
        ken_jw_key(&w, "revoked"); ken_jw_bool(&w, ken_json_get(o, "hash") == NULL);
        ken_jw_obj_end(&w);
        ken_json_free(r);
    }
    ken_jw_arr_end(&w);
    if (!st) st = ken_jw_status(&w);
    if (!st && !(*json_out = ken_buf_take(&out, NULL))) st = KEN_ERR_NOMEM;
    if (st && !err.msg[0] && s) ken_err_set(&err, st, "%s", ken_store_errmsg(s));
    ken_json_free(d);
    ken_store_close(s);
    ken_buf_free(&idx);
    ken_buf_free(&rec);
    ken_buf_free(&out);
    if (st && errmsg) *errmsg = ken_strdup(err.msg[0] ? err.msg : ken_status_str(st));
    return st;
}

ken_status ken_key_revoke(const char *db_path, const char *id, char **errmsg) {
    if (errmsg) *errmsg = NULL;
    ken_err err = {{0}};
    if (!id || strlen(id) != ID_HEX || !hex_only(id, ID_HEX)) {
        if (errmsg) *errmsg = ken_strdup("a key id is 12 hex digits (the part after \"ken_\")");
        return KEN_ERR_INVALID;
    }
    ken_store *s = NULL;
    ken_buf rec;
    ken_buf_init(&rec, 4096);
    char name[32];
    snprintf(name, sizeof name, "key.%s", id);
    ken_status st = open_store(db_path, &s, &err);
    if (!st) st = s->ops->config_get(s, name, &rec);
    ken_json_doc *d = NULL;
    if (!st && ken_json_parse(rec.data, rec.len, NULL, &d, NULL, NULL) == KEN_OK) {
        const ken_json *o = ken_json_root(d);
        ken_buf out;
        ken_buf_init(&out, 0);
        ken_jw w;
        ken_jw_init(&w, &out, 0);
        ken_jw_obj_begin(&w);
        ken_jw_key(&w, "revoked"); ken_jw_bool(&w, true);
        ken_jw_key(&w, "scope"); ken_jw_str(&w, ken_json_str(ken_json_get(o, "scope")));
        ken_jw_key(&w, "collection"); ken_jw_str(&w, ken_json_str(ken_json_get(o, "collection")));
        ken_jw_key(&w, "created"); ken_jw_int(&w, (int64_t)time(NULL));
        ken_jw_obj_end(&w);
        st = ken_jw_status(&w);
        if (!st) st = s->ops->config_set(s, name, out.data);
        ken_buf_free(&out);
    }
    if (st == KEN_ERR_NOTFOUND) ken_err_set(&err, st, "no key with id %s", id);
    else if (st && !err.msg[0] && s) ken_err_set(&err, st, "%s", ken_store_errmsg(s));
    ken_json_free(d);
    ken_store_close(s);
    ken_buf_free(&rec);
    if (st && errmsg) *errmsg = ken_strdup(err.msg[0] ? err.msg : ken_status_str(st));
    return st;
}
