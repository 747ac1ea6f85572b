#!/usr/bin/env bash
# Builds the C kernels target with SwiftPM for aarch64-unknown-linux-gnu, against the
# sysroot of Debian's gcc-aarch64-linux-gnu (the Swift targets need an AArch64 Swift
# SDK, which this machine does not have; the C target needs only C headers).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sysroot=${AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}
cd "$root"
swift build --triple aarch64-unknown-linux-gnu --target DyadicKernels --scratch-path .build-aarch64 \
  -Xcc --sysroot="$sysroot" -Xcc -isystem -Xcc "$sysroot/include" 2>&1 | tail -n 1
# ELF e_machine (offset 18) of an object file: 183 is AArch64.
machine=$(od -An -t u2 -j 18 -N 2 .build-aarch64/aarch64-unknown-linux-gnu/debug/DyadicKernels.build/src/gemm/gemm-i8mm.c.o | tr -d ' ')
[ "$machine" = 183 ] || { echo "error: objects are not AArch64 (e_machine $machine)"; exit 1; }
echo "DyadicKernels built for aarch64 with SwiftPM"
