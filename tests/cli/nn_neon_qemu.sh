#!/usr/bin/env bash
# nn_neon_qemu.sh: the arm64 NEON kernels, cross-built and run under
# qemu-user. Builds base, gguf and nn with their tests for aarch64
# (cmake/aarch64-linux-gnu.cmake, -DKEN_NN_ONLY=ON, Debian's cross gcc) and
# runs the nn unit and conformance tests twice: on a CPU with the ARMv8.2
# dot product (QEMU_CPU=max: level neon-dot, whose tests also cover the plain
# level's one-row kernels) and on one without it (cortex-a53: level neon
# only, so the plain multi-row kernels and the dispatch without SDOT run).
# Each run must report the level it was meant to exercise. Emulated timings
# say nothing about speed on real arm64 hardware.
# In the sanitizer build (KEN_SANITIZE=ON) the cross build has UBSan in trap
# mode (no runtime library needed in a static program; ASan does not run
# under qemu-user).
# Without the cross tools this skips, except under CI=true, where it fails.
set -euo pipefail
: "${KEN_SRC:?KEN_SRC must point at the source tree}"
fail() { echo "FAIL: $*" >&2; exit 1; }

missing=()
for t in aarch64-linux-gnu-gcc qemu-aarch64 cmake; do command -v "$t" >/dev/null || missing+=("$t"); done
for f in /usr/aarch64-linux-gnu/lib/libc.a /usr/lib/aarch64-linux-gnu/libutf8proc.a; do
  [ -f "$f" ] || missing+=("$f")
done
if [ ${#missing[@]} -gt 0 ]; then
  msg="cross tools missing: ${missing[*]} (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libutf8proc-dev:arm64)"
  [ "${CI:-}" = "true" ] && fail "$msg"
  echo "SKIP: $msg" >&2
  exit 77
fi

build="$PWD/nn-neon-build"
# The nn tests that cover every architecture's kernels (test_nn_dot512 and
# test_nn_f32gemm test x86's AVX-512 kernels only and are not built here).
tests_re='^(unit\.test_nn(_pool|_qgemm)?|conformance\.conf_nn_(llama|quant))$'
cflags=
[ "${KEN_SANITIZE:-OFF}" = ON ] && cflags="-fsanitize=undefined -fsanitize-undefined-trap-on-error"
cmake -S "$KEN_SRC" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$KEN_SRC/cmake/aarch64-linux-gnu.cmake" \
      -DKEN_NN_ONLY=ON -DCMAKE_BUILD_TYPE=Release ${KEN_FIXTURES:+-DKEN_FIXTURES="$KEN_FIXTURES"} \
      -DCMAKE_C_FLAGS="$cflags" \
      >"$build.configure.log" 2>&1 || { cat "$build.configure.log" >&2; fail "configure"; }
# the nn tests' programs only (ctest names unit.test_nn..., conformance.conf_nn...)
mapfile -t targets < <(ctest --test-dir "$build" -N -R "$tests_re" |
                       sed -n 's/^ *Test *#[0-9]*: [a-z]*\.//p')
[ ${#targets[@]} -eq 5 ] || fail "expected the nn tests, found: ${targets[*]}"
cmake --build "$build" -j2 --target "${targets[@]}" >"$build.build.log" 2>&1 ||
  { tail -50 "$build.build.log" >&2; fail "cross build"; }
file "$build/tests/test_nn" | grep -q 'ARM aarch64' || fail "test_nn is not an arm64 program"

for run in "max neon-dot" "cortex-a53 neon"; do
  read -r cpu level <<<"$run"
  log="$build.$cpu.log"
  echo "== QEMU_CPU=$cpu (expect level $level)"
  QEMU_CPU=$cpu ctest --test-dir "$build" -R "$tests_re" -j2 -V \
      --timeout 240 >"$log" 2>&1 || { grep -E "FAIL|Failed|Error|Timeout" "$log" | head -40 >&2
                                     tail -30 "$log" >&2; fail "tests on $cpu"; }
  grep -q "simd detected: $level\$" "$log" || fail "$cpu: test_nn did not run level $level"
  grep -E "tests passed" "$log"
done
echo "OK: nn tests pass under qemu-aarch64 with and without the dot product"
