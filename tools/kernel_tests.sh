#!/usr/bin/env bash
# Builds the C kernels and their test driver natively (no SwiftPM) and runs it.
#   tools/kernel_tests.sh [driver args: -v, seed]
# CC=clang tools/kernel_tests.sh to use clang; CFLAGS adds flags (e.g. -fsanitize=address).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cc=${CC:-gcc}
out=${KERNEL_TESTS_OUT:-/tmp/dyadic-kernel-tests}
mkdir -p "$out"
# shellcheck disable=SC2046,SC2086
"$cc" -O2 -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror ${CFLAGS:-} -I"$root/kernels/include" \
  $(find "$root/kernels/src" -name '*.c' | sort) "$root/kernels/tests/kernel_tests.c" \
  -o "$out/kernel_tests" -lm -lpthread
"$out/kernel_tests" "$@"
