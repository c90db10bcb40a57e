#!/usr/bin/env bash
# scripts/deps.sh: checks for (and, as root, installs) the Debian 12 packages
# ken needs. `deps.sh build` = to build and run; `deps.sh test` adds what the
# test suite uses (clang for the sanitizer + fuzz build, the arm64 cross
# toolchain and qemu-user for the NEON test); `deps.sh bench`
# what the benchmarks' peers need (hnswlib).
set -euo pipefail
build_pkgs=(build-essential cmake pkg-config libsqlite3-dev libutf8proc-dev libpcre2-dev
            libmd4c-dev libxml2-dev libpoppler-glib-dev libmagic-dev zlib1g-dev
            libmicrohttpd-dev libcurl4-openssl-dev libedit-dev)
test_pkgs=(clang libclang-rt-14-dev sqlite3 curl python3 chromium
           gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libutf8proc-dev:arm64)
bench_pkgs=(libhnswlib-dev g++)
want=("${build_pkgs[@]}")
case "${1:-build}" in
  test) want+=("${test_pkgs[@]}")
        # Node.js runs the serve tests' clients; Debian's if there is none.
        command -v node >/dev/null && command -v npm >/dev/null || want+=(nodejs npm) ;;
  bench) want+=("${bench_pkgs[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "ken: missing Debian packages. Install them with:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "ken: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# the arm64 cross test's libutf8proc comes from Debian's arm64 archive
if [[ " ${missing[*]} " == *:arm64* ]] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
