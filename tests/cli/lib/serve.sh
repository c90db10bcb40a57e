# tests/cli/lib/serve.sh: sourced by the CLI tests that start `ken serve`.
# serve_start ARGS...: starts "$KEN_BIN" serve --listen 127.0.0.1:0 ARGS in
# the background with its log in $tmp/log, waits until it serves, and sets
# pid and URL (http://127.0.0.1:PORT). Needs $tmp, $KEN_BIN and fail().
# serve_stop: SIGTERM, and fails unless the server exits 0.
serve_start() {
    "$KEN_BIN" serve --listen 127.0.0.1:0 "$@" 2>"$tmp/log" &
    pid=$!
    for _ in $(seq 1 400); do
        grep -q "serving" "$tmp/log" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || { cat "$tmp/log" >&2; fail "server exited"; }
        sleep 0.05
    done
    local port
    port=$(sed -n 's/.*http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/log")
    [ -n "$port" ] || { cat "$tmp/log" >&2; fail "no port in the server log"; }
    URL="http://127.0.0.1:$port"
}
serve_stop() {
    kill -TERM "$pid"
    local rc=0
    wait "$pid" || rc=$?
    pid=
    [ "$rc" = 0 ] || { cat "$tmp/log" >&2; fail "server exit status $rc"; }
}
