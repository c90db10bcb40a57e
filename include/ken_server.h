/* ken_server.h: `ken serve` as a library call: an HTTP server (libmicrohttpd)
 * over one knowledge base with a JSON API under /api/v1, OpenAI-compatible
 * endpoints under /v1, health and readiness probes and the web UI; plus the
 * API keys that guard it.
 *
 * Access control: every endpoint but /healthz and /readyz needs
 * `Authorization: Bearer KEY` unless no_auth is set (allowed only when the
 * listen address is loopback). Scopes: read < write < admin. A key bound to
 * a collection sees, searches, cites and counts only that collection's
 * documents. Keys are stored hashed (SHA-256) in the store's config table
 * as key.<id> = {"hash","scope","collection","created"}. */
#ifndef KEN_SERVER_H
#define KEN_SERVER_H

#include "ken.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t size;
    const char *db_path;         /* the store; required (created if missing) */
    const char *listen;          /* "HOST:PORT"; NULL: "127.0.0.1:8080"; port 0: any */
    int threads;                 /* knowledge-base handles (concurrent requests); 0: 4 */
    int no_auth;                 /* no keys needed (loopback only) */
    const char *model_path;      /* GGUF decoder for chat; NULL: extractive answers */
    const char *embed_model_path;/* GGUF encoder for /v1/embeddings; NULL: none */
    const char *web_dir;         /* the web UI's files; NULL: found next to the binary */
    size_t body_bytes_max;       /* request body; 0: 32 MiB */
    size_t query_bytes_max;      /* a query or question; 0: 8 KiB */
    int json_depth_max;          /* 0: 32 */
    int gen_max;                 /* concurrent generations (ask, chat); 0: 2 */
    int gen_queue_max;           /* generations waiting; 0: 8; more -> 429 */
    int timeout_s;               /* per request (generation, queueing); 0: 60 */
    int max_tokens;              /* generation cap; 0: 512 */
    /* Called once listening, with the bound port (e.g. to print it). */
    void (*on_ready)(void *ud, const char *host, int port);
    void *ud;
} ken_serve_opts;

/* Serves until *stop becomes non-zero; then stops accepting, lets in-flight
 * requests finish (at most timeout_s) and closes the store. On failure
 * *errmsg (when errmsg is not NULL) is a message freed with ken_free. */
ken_status ken_serve(const ken_serve_opts *opts, volatile int *stop, char **errmsg);

/* Creates an API key with scope "read", "write" or "admin", optionally bound
 * to a collection (NULL: all). *key_out is the key (shown once; only its
 * hash is stored), freed with ken_free. */
ken_status ken_key_create(const char *db_path, const char *scope, const char *collection,
                          char **key_out, char **errmsg);

/* The keys (never their secrets) as a JSON array of {"id","scope",
 * "collection","created","revoked"}; *json_out freed with ken_free. */
ken_status ken_key_list(const char *db_path, char **json_out, char **errmsg);

/* Revokes the key with this id (the 12 hex digits after "ken_"); its
 * requests get 401 from then on. KEN_ERR_NOTFOUND when there is none. */
ken_status ken_key_revoke(const char *db_path, const char *id, char **errmsg);

#ifdef __cplusplus
}
#endif
#endif
