#!/usr/bin/env bash
# Cross-compiles the C kernels and their test driver for AArch64 and runs the
# driver under qemu-user on CPUs with different ISA levels:
#   max          (dot product and i8mm: every bundle)
#   neoverse-n1  (dot product, no i8mm)
#   cortex-a72   (baseline NEON)
# Needs gcc-aarch64-linux-gnu and qemu-user. Exit status is non-zero on any failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${KERNEL_TESTS_OUT:-/tmp/dyadic-kernel-tests}
mkdir -p "$out"
# shellcheck disable=SC2046
aarch64-linux-gnu-gcc -O2 -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -static \
  -I"$root/kernels/include" $(find "$root/kernels/src" -name '*.c' | sort) \
  "$root/kernels/tests/kernel_tests.c" -o "$out/kernel_tests_aarch64" -lm
status=0
for cpu in max neoverse-n1 cortex-a72; do
  log="$out/kernel_tests_aarch64_$cpu.log"
  if qemu-aarch64 -cpu "$cpu" "$out/kernel_tests_aarch64" "$@" >"$log" 2>&1; then rc=0; else rc=$?; status=1; fi
  printf '%-12s %s | %s (exit %d)\n' "$cpu" "$(head -n 1 "$log")" "$(tail -n 1 "$log")" "$rc"
  grep '^FAIL' "$log" | head -n 20 || true
done
exit $status
