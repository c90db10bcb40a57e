#!/usr/bin/env bash
# serve_web.sh: the web UI end to end in headless Chromium (tests/node/web_ui.mjs
# with playwright-core, installed by `npm ci --prefix tests/node`): upload by
# drag and drop, ask, a streamed answer, open a citation; the screenshot is
# kept as a test artifact in the build dir (serve_web.png). Skips (77) only
# outside CI when a tool is missing; with CI=true that fails.
set -euo pipefail

: "${KEN_BIN:?KEN_BIN must point at the ken binary}"
: "${KEN_SRC:?KEN_SRC must point at the source tree}"
fail() { echo "FAIL: $*" >&2; exit 1; }
missing() {
    if [ "${CI:-}" = true ]; then fail "$1"; fi
    echo "SKIP: $1" >&2; exit 77
}
command -v node >/dev/null || missing "node is needed"
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || missing "chromium is needed (Debian package chromium)"
[ -d "$KEN_SRC/tests/node/node_modules/playwright-core" ] ||
    missing "playwright-core is not installed (npm ci --prefix tests/node)"
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
export KEN_DB="$tmp/kb.db"
printf 'Notes about sourdough bread fed with rye flour.\n' >"$tmp/seed.txt"
"$KEN_BIN" add -q "$tmp/seed.txt"
KEY=$("$KEN_BIN" key create --scope write)

"$KEN_BIN" serve --listen 127.0.0.1:0 --web "$KEN_SRC/web" 2>"$tmp/log" &
pid=$!
for _ in $(seq 1 400); do
    grep -q "serving" "$tmp/log" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/log" >&2; fail "server exited"; }
    sleep 0.05
done
PORT=$(sed -n 's/.*http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/log")
[ -n "$PORT" ] || { cat "$tmp/log" >&2; fail "no port in the log"; }
mkdir "$tmp/chromium-profile"
shot="$PWD/serve_web.png"
rm -f "$shot"
KEN_URL="http://127.0.0.1:$PORT" KEN_KEY="$KEY" KEN_SHOT="$shot" KEN_USER_DIR="$tmp/chromium-profile" \
    timeout 300 node "$KEN_SRC/tests/node/web_ui.mjs" || fail "web UI test"
[ -s "$shot" ] || fail "no screenshot"
kill -TERM "$pid"
for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$pid" 2>/dev/null && fail "server still running 30 s after SIGTERM"
rc=0
wait "$pid" || rc=$?
pid=
[ "$rc" = 0 ] || fail "server exit status $rc"
echo "serve_web: ok (screenshot: $shot)"
