#!/usr/bin/env bash
# Builds and runs the single-thread kernel throughput benchmark (native, no SwiftPM).
#   tools/kernel_bench.sh [isa] [-q] [-d] [-e] [-A] [-4] [-D] [-I] [-8 [-g N]] [-f] [-y] [-Q] [-G]  (see kernels/tests/kernel_bench.c; -f: float32 convs;
#   -Q: qgemm; -G: float32 linear layers, packed-B GEMM against the conv path)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cc=${CC:-gcc}
out=${KERNEL_TESTS_OUT:-/tmp/dyadic-kernel-tests}
mkdir -p "$out"
# shellcheck disable=SC2046
"$cc" -O2 -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -I"$root/kernels/include" \
  $(find "$root/kernels/src" -name '*.c' | sort) "$root/kernels/tests/kernel_bench.c" \
  -o "$out/kernel_bench" -lm -lpthread
"$out/kernel_bench" "$@"
