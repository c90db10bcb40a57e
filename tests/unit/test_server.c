/* test_server.c: ken_serve in-process (a thread) over real loopback sockets:
 * health, keys (none, wrong, read-only writing, a bound key's collection),
 * JSON and multipart uploads, search, ask, hostile bodies (bad, deep and
 * oversized JSON, a truncated multipart), unknown routes; then the stop
 * flag ends it with KEN_OK (and, under ASan, without leaks). */
#include "ken.h"
#include "ken_server.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile int stop_flag;
static volatile int port;
static char db[256];
static ken_status serve_status = KEN_ERR_INTERNAL;

static void on_ready(void *ud, const char *host, int p) {
    (void)ud, (void)host;
    port = p;
}

static void *serve_main(void *arg) {
    (void)arg;
    ken_serve_opts o = {.size = sizeof o, .db_path = db, .listen = "127.0.0.1:0", .threads = 2,
                        .body_bytes_max = 65536, .on_ready = on_ready};
    char *msg = NULL;
    serve_status = ken_serve(&o, &stop_flag, &msg);
    if (msg) fprintf(stderr, "ken_serve: %s\n", msg);
    ken_free(msg);
    return NULL;
}

/* One request (Connection: close); returns the status, body copied to out. */
static int http(const char *method, const char *path, const char *key, const char *ctype,
                const char *body, size_t body_len, char *out, size_t out_cap) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %zu\r\n"
                     "%s%s%s%s%s%s\r\n", method, path, body_len,
                     key ? "Authorization: Bearer " : "", key ? key : "", key ? "\r\n" : "",
                     ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "");
    ssize_t w = write(fd, head, (size_t)n);
    if (w == n && body_len) w = write(fd, body, body_len);
    static char resp[1 << 20];
    size_t got = 0;
    ssize_t k;
    while (got < sizeof resp - 1 && (k = read(fd, resp + got, sizeof resp - 1 - got)) > 0)
        got += (size_t)k;
    resp[got] = 0;
    close(fd);
    int status = -1;
    sscanf(resp, "HTTP/1.%*d %d", &status);
    const char *b = strstr(resp, "\r\n\r\n");
    snprintf(out, out_cap, "%s", b ? b + 4 : "");
    return status;
}

static void test_server(void) {
    char tmpl[] = "/tmp/ken_test_server_XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    snprintf(db, sizeof db, "%s/kb.db", tmpl);
    char *w = NULL, *r = NULL, *b = NULL, *msg = NULL;
    REQUIRE(ken_key_create(db, "write", NULL, &w, &msg) == KEN_OK);
    REQUIRE(ken_key_create(db, "read", NULL, &r, &msg) == KEN_OK);
    REQUIRE(ken_key_create(db, "read", "beta", &b, &msg) == KEN_OK);
    char *none = NULL;
    CHECK(ken_key_create(db, "root", NULL, &none, &msg) == KEN_ERR_INVALID);
    CHECK(none == NULL && msg != NULL);
    ken_free(msg);
    CHECK(strncmp(w, "ken_", 4) == 0 && strlen(w) == 57);

    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, serve_main, NULL) == 0);
    for (int i = 0; i < 400 && !port; i++) usleep(25000);
    REQUIRE(port > 0);
    char out[65536];
    const char *J = "application/json";
    CHECK_EQ_INT(http("GET", "/healthz", NULL, NULL, NULL, 0, out, sizeof out), 200);
    CHECK_EQ_INT(http("GET", "/api/v1/stats", NULL, NULL, NULL, 0, out, sizeof out), 401);
    CHECK(strstr(out, "\"type\":\"authentication_error\"") != NULL);
    CHECK_EQ_INT(http("GET", "/api/v1/stats", "ken_x", NULL, NULL, 0, out, sizeof out), 401);
    const char *doc = "{\"name\":\"owls.md\",\"text\":\"# Owls\\n\\nBarn owls hunt mice at night "
                      "by sound alone.\",\"collection\":\"alpha\"}";
    CHECK_EQ_INT(http("POST", "/api/v1/documents", r, J, doc, strlen(doc), out, sizeof out), 403);
    CHECK_EQ_INT(http("POST", "/api/v1/documents", w, J, doc, strlen(doc), out, sizeof out), 201);
    const char *mp = "--XyZ\r\nContent-Disposition: form-data; name=\"collection\"\r\n\r\nbeta\r\n"
                     "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../f.txt\""
                     "\r\nContent-Type: text/plain\r\n\r\nFerns grow in shade.\r\n--XyZ--\r\n";
    const char *mpt = "multipart/form-data; boundary=XyZ";
    CHECK_EQ_INT(http("POST", "/api/v1/documents", w, mpt, mp, strlen(mp), out, sizeof out), 201);
    CHECK(strstr(out, "\"name\":\"f.txt\"") && strstr(out, "\"collection\":\"beta\""));
    CHECK_EQ_INT(http("POST", "/api/v1/documents", w, mpt, mp, 60, out, sizeof out), 400);
    CHECK_EQ_INT(http("GET", "/api/v1/search?q=barn+owls", r, NULL, NULL, 0, out, sizeof out), 200);
    CHECK(strstr(out, "\"uri\":\"owls.md\"") != NULL);
    CHECK_EQ_INT(http("GET", "/api/v1/search?q=barn+owls", b, NULL, NULL, 0, out, sizeof out), 200);
    CHECK(strstr(out, "\"count\":0") != NULL);
    const char *ask = "{\"question\":\"how do barn owls hunt?\"}";
    CHECK_EQ_INT(http("POST", "/api/v1/ask", r, J, ask, strlen(ask), out, sizeof out), 200);
    CHECK(strstr(out, "\"found\":true") && strstr(out, "by sound alone"));
    CHECK_EQ_INT(http("POST", "/api/v1/ask", b, J, ask, strlen(ask), out, sizeof out), 200);
    CHECK(strstr(out, "by sound alone") == NULL);
    CHECK_EQ_INT(http("GET", "/api/v1/stats", b, NULL, NULL, 0, out, sizeof out), 200);
    CHECK(strstr(out, "\"documents\":1,") != NULL);
    CHECK_EQ_INT(http("POST", "/api/v1/search", r, J, "{\"query\":", 9, out, sizeof out), 400);
    char deep[600];
    memset(deep, '[', sizeof deep);
    CHECK_EQ_INT(http("POST", "/api/v1/search", r, J, deep, sizeof deep, out, sizeof out), 413);
    static char big[70000];
    memset(big, 'a', sizeof big);
    CHECK_EQ_INT(http("POST", "/api/v1/documents?name=a.txt", w, "text/plain", big, sizeof big,
                      out, sizeof out), 413);
    CHECK_EQ_INT(http("GET", "/api/v2/x", r, NULL, NULL, 0, out, sizeof out), 404);
    CHECK_EQ_INT(http("GET", "/../etc/passwd", NULL, NULL, NULL, 0, out, sizeof out), 404);
    CHECK_EQ_INT(http("GET", "/healthz", NULL, NULL, NULL, 0, out, sizeof out), 200);

    stop_flag = 1;
    pthread_join(th, NULL);
    CHECK_EQ_INT(serve_status, KEN_OK);
    ken_free(w), ken_free(r), ken_free(b);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
    CHECK(system(cmd) == 0);
}

TEST_MAIN(test_server)
