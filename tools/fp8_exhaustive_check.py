#!/usr/bin/env python3
"""Checks the C float32 -> FP8 E4M3FN conversion (kernels/src/fp8/fp8.c) on every one
of the 2^32 float32 bit patterns, for saturate = 0 and 1, against the onnx package's
reference Cast (onnx.reference.ReferenceEvaluator), and every code's decoding.

A one-off verification (a few minutes on one core), not part of the test suite: the
committed reference data in kernels/tests/fp8_reference.h covers every tie and
boundary. Builds the C file into a temporary shared library with $CC (default gcc).

    python3 tools/fp8_exhaustive_check.py [log2 chunk size, default 24]
"""
from __future__ import annotations

import ctypes
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_fp8_reference import cast_from_fp8, cast_to_fp8  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


def build(tmp: pathlib.Path) -> ctypes.CDLL:
    lib = tmp / "libfp8.so"
    cc = os.environ.get("CC", "gcc")
    subprocess.run([cc, "-O2", "-std=c11", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror",
                    f"-I{ROOT / 'kernels/include'}", str(ROOT / "kernels/src/fp8/fp8.c"),
                    "-o", str(lib)], check=True)
    dll = ctypes.CDLL(str(lib))
    dll.dyd_fp8_e4m3_from_f32_array.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                                ctypes.c_float, ctypes.c_int]
    dll.dyd_fp8_e4m3_to_f32_array.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                              ctypes.c_float]
    return dll


def main() -> int:
    log_chunk = int(sys.argv[1]) if len(sys.argv) > 1 else 24
    chunk = 1 << log_chunk
    with tempfile.TemporaryDirectory() as tmp:
        dll = build(pathlib.Path(tmp))
        codes = np.arange(256, dtype=np.uint8)
        dec = np.empty(256, np.float32)
        dll.dyd_fp8_e4m3_to_f32_array(codes.ctypes.data, dec.ctypes.data, 256, 1.0)
        bad = int(np.sum(dec.view(np.uint32) != cast_from_fp8(codes).view(np.uint32)))
        got = np.empty(chunk, np.uint8)
        for start in range(0, 1 << 32, chunk):
            x = np.arange(start, start + chunk, dtype=np.uint64).astype(np.uint32).view(np.float32)
            for sat in (0, 1):
                # scale 1: x / 1 is x for every float32 (NaNs stay NaN with their sign)
                dll.dyd_fp8_e4m3_from_f32_array(x.ctypes.data, got.ctypes.data, chunk, 1.0, sat)
                want = cast_to_fp8(x, sat)
                diff = np.nonzero(got != want)[0]
                if diff.size:
                    i = diff[0]
                    print(f"saturate {sat}: {diff.size} mismatches in chunk 0x{start:08X}; first "
                          f"0x{int(x.view(np.uint32)[i]):08X}: got 0x{got[i]:02X} want 0x{want[i]:02X}")
                bad += int(diff.size)
        print(f"{2 * (1 << 32)} float32 -> FP8 conversions and 256 decodings checked, {bad} mismatches")
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
