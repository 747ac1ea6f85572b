#!/usr/bin/env bash
# Builds the C kernels and their test driver natively (no SwiftPM) and runs it.
#   tools/kernel_tests.sh [driver args: -v, seed]
# CC=clang tools/kernel_tests.sh to use clang; CFLAGS adds flags (e.g. -fsanitize=address).
# On x86 the driver runs a second time with the AVX-VNNI kernel forced on when the
# CPU executes VEX VPDPBUSD but CPUID hides it (some hypervisors do).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cc=${CC:-gcc}
out=${KERNEL_TESTS_OUT:-/tmp/dyadic-kernel-tests}
mkdir -p "$out"
# shellcheck disable=SC2046,SC2086
"$cc" -O2 -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror ${CFLAGS:-} -I"$root/kernels/include" \
  $(find "$root/kernels/src" -name '*.c' | sort) "$root/kernels/tests/kernel_tests.c" \
  -o "$out/kernel_tests" -lm -lpthread
status=0
"$out/kernel_tests" "$@" || status=1

if [ "$(uname -m)" = x86_64 ]; then
  cat >"$out/avxvnni_probe.c" <<'PROBE'
#include <immintrin.h>
__attribute__((target("avx2,avxvnni"), noinline)) static int probe(void) {
  __m256i r = _mm256_dpbusd_avx_epi32(_mm256_set1_epi32(1), _mm256_set1_epi8(2), _mm256_set1_epi8(3));
  return _mm256_extract_epi32(r, 0) == 25 ? 0 : 1;
}
int main(void) {
  unsigned a, b, c, d;
  __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(1));
  if ((a >> 4) & 1) return 2; /* reported: the first run already used it */
  return probe();
}
PROBE
  "$cc" -O2 "$out/avxvnni_probe.c" -o "$out/avxvnni_probe" 2>/dev/null || true
  if [ -x "$out/avxvnni_probe" ] && "$out/avxvnni_probe" 2>/dev/null; then
    echo "AVX-VNNI executes but CPUID hides it: second run with DYADIC_ASSUME_AVXVNNI=1"
    DYADIC_ASSUME_AVXVNNI=1 "$out/kernel_tests" "$@" || status=1
  fi
fi
exit $status
