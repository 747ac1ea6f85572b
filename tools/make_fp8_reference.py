#!/usr/bin/env python3
"""Generates kernels/tests/fp8_reference.h: FP8 E4M3FN reference data from the onnx
package's reference implementation, for the C conversions in kernels/src/fp8/.

Every expected value comes from running one-node ONNX models through
onnx.reference.ReferenceEvaluator (Cast, QuantizeLinear, DequantizeLinear); this
script only chooses the inputs. The rounding rules are not reimplemented here, so
the C code is checked against ONNX rather than against a second copy of itself.

    python3 tools/make_fp8_reference.py [output]
"""
from __future__ import annotations

import pathlib
import sys

import ml_dtypes
import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx.reference import ReferenceEvaluator

OPSET = 21  # Cast-19 (saturate attribute), QuantizeLinear-21, DequantizeLinear-21
ROOT = pathlib.Path(__file__).resolve().parent.parent
F8 = ml_dtypes.float8_e4m3fn


def model(node, inputs, outputs, initializers=()):
    g = h.make_graph([node], "g", inputs, outputs, initializer=list(initializers))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", OPSET)])
    onnx.checker.check_model(m)
    return ReferenceEvaluator(m)


def vec(name, elem):
    return h.make_tensor_value_info(name, elem, [None])


def run(ev, **feeds):
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf inputs are intended
        (y,) = ev.run(None, feeds)
    return y


def cast_to_fp8(x: np.ndarray, saturate: int) -> np.ndarray:
    ev = model(h.make_node("Cast", ["x"], ["y"], to=T.FLOAT8E4M3FN, saturate=saturate),
               [vec("x", T.FLOAT)], [vec("y", T.FLOAT8E4M3FN)])
    y = run(ev, x=x.astype(np.float32))
    assert y.dtype == F8
    return y.view(np.uint8)


def cast_from_fp8(codes: np.ndarray) -> np.ndarray:
    ev = model(h.make_node("Cast", ["x"], ["y"], to=T.FLOAT),
               [vec("x", T.FLOAT8E4M3FN)], [vec("y", T.FLOAT)])
    y = run(ev, x=codes.astype(np.uint8).view(F8))
    assert y.dtype == np.float32
    return y


def quantize_linear(x: np.ndarray, scale: np.float32, saturate: int) -> np.ndarray:
    # The float8 zero point (0) sets the output type, as an exporter writes it.
    zp = h.make_tensor("zp", T.FLOAT8E4M3FN, [], np.zeros(1, np.uint8).tobytes(), raw=True)
    sc = h.make_tensor("scale", T.FLOAT, [], [float(scale)])
    ev = model(h.make_node("QuantizeLinear", ["x", "scale", "zp"], ["y"], saturate=saturate),
               [vec("x", T.FLOAT)], [vec("y", T.FLOAT8E4M3FN)], [sc, zp])
    y = run(ev, x=x.astype(np.float32))
    assert y.dtype == F8
    return y.view(np.uint8)


def dequantize_linear(codes: np.ndarray, scale: np.float32) -> np.ndarray:
    sc = h.make_tensor("scale", T.FLOAT, [], [float(scale)])
    ev = model(h.make_node("DequantizeLinear", ["x", "scale"], ["y"]),
               [vec("x", T.FLOAT8E4M3FN)], [vec("y", T.FLOAT)], [sc])
    y = run(ev, x=codes.astype(np.uint8).view(F8))
    assert y.dtype == np.float32
    return y


def f32(bits) -> np.ndarray:
    return np.asarray(bits, dtype=np.uint32).view(np.float32)


def neighbours(v: np.ndarray) -> np.ndarray:
    """v and the float32 one ulp below and above each."""
    v = v.astype(np.float32)
    with np.errstate(over="ignore"):  # the float32 maximum's upper neighbour is inf
        lo = np.nextafter(v, np.float32(-np.inf))
        hi = np.nextafter(v, np.float32(np.inf))
    return np.concatenate([v, lo, hi])


def encode_inputs() -> np.ndarray:
    # Non-negative representable values, from ONNX's own decoding of codes 0x00..0x7E,
    # and 480, where 1.111b * 2^8 would be if S.1111.111 were not NaN: its midpoint
    # with 448 is the overflow boundary.
    pos = cast_from_fp8(np.arange(0x7F)).astype(np.float64)
    grid = np.append(pos, 480.0)
    ties = (grid[:-1] + grid[1:]) / 2  # exact in float32 (one more mantissa bit)
    assert np.all(ties.astype(np.float32).astype(np.float64) == ties)
    special = [
        448, 464, 480, 496, 512, 1000, 65504, 1e10, 1e30, 2.0 ** 127,
        np.finfo(np.float32).max,
        2.0 ** -6, 2.0 ** -7, 2.0 ** -9, 2.0 ** -10, 2.0 ** -11, 3 * 2.0 ** -11,
        2.0 ** -12, 2.0 ** -20, 2.0 ** -126, 2.0 ** -149, 1e-30,
    ]
    base = np.concatenate([neighbours(grid), neighbours(ties), neighbours(np.array(special))])
    base = base[base >= 0]
    signed = np.concatenate([base, -base])
    nan_bits = [0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FFFFFFF, 0xFFFFFFFF,
                0x7FA00000, 0xFFA00000]
    fixed = np.concatenate([
        signed, f32([0x00000000, 0x80000000, 0x7F800000, 0xFF800000] + nan_bits),
        f32([0x00000001, 0x80000001, 0x007FFFFF, 0x807FFFFF, 0x7F7FFFFF, 0xFF7FFFFF]),
    ])
    rng = np.random.default_rng(20261122)
    # Random bit patterns (any float, mostly far outside the range) and random floats
    # whose magnitude is log-uniform over the whole FP8 range and a bit beyond.
    any_bits = f32(rng.integers(0, 2 ** 32, 1000, dtype=np.uint64).astype(np.uint32))
    mags = np.exp2(rng.uniform(-13.0, 10.0, 4000)) * rng.choice([-1.0, 1.0], 4000)
    x = np.concatenate([fixed, any_bits, mags.astype(np.float32)]).astype(np.float32)
    _, first = np.unique(x.view(np.uint32), return_index=True)
    return x[np.sort(first)]


def quantize_inputs(scale: np.float32, rng) -> np.ndarray:
    # x / scale lands on ties, neighbours of ties and out of range (scaling moves some
    # off exact ties when scale is not a power of two: those are ordinary inputs).
    enc = encode_inputs()
    finite = enc[np.isfinite(enc) & (np.abs(enc) < 2000)]
    picked = rng.choice(finite, 400, replace=False).astype(np.float64) * float(scale)
    rand = rng.normal(0.0, 100.0, 200) * float(scale)
    return np.concatenate([picked.astype(np.float32), rand.astype(np.float32),
                           f32([0x7FC00000, 0xFFC00000, 0x7F800000, 0xFF800000, 0, 0x80000000])])


def c_array(ctype: str, name: str, values, fmt: str, per_line: int) -> str:
    vals = [fmt.format(int(v)) for v in values]
    lines = [", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line)]
    body = ",\n  ".join(lines)
    return f"static const {ctype} {name}[{len(vals)}] = {{\n  {body},\n}};\n"


def main() -> None:
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "kernels/tests/fp8_reference.h"
    codes = np.arange(256)
    decoded = cast_from_fp8(codes).view(np.uint32)

    x = encode_inputs()
    sat = cast_to_fp8(x, 1)
    nosat = cast_to_fp8(x, 0)

    rng = np.random.default_rng(7)
    scales = np.array([1.0, 0.0625, 0.0123, 3.7, 1e-3], dtype=np.float32)
    q_x, q_sat, q_nosat, q_scale_idx = [], [], [], []
    for i, s in enumerate(scales):
        xi = quantize_inputs(s, rng)
        q_x.append(xi)
        q_sat.append(quantize_linear(xi, s, 1))
        q_nosat.append(quantize_linear(xi, s, 0))
        q_scale_idx.append(np.full(len(xi), i))
    q_x, q_sat, q_nosat = np.concatenate(q_x), np.concatenate(q_sat), np.concatenate(q_nosat)
    q_len = [int(np.sum(np.concatenate(q_scale_idx) == i)) for i in range(len(scales))]

    dq = np.concatenate([dequantize_linear(codes, s) for s in scales]).view(np.uint32)

    text = [
        "/* Generated by tools/make_fp8_reference.py from onnx "
        f"{onnx.__version__} (ml_dtypes {ml_dtypes.__version__}) reference ops, opset {OPSET}.",
        " * Do not edit. Float values are float32 bit patterns; codes are FP8 E4M3FN bytes.",
        " *   fp8_ref_decode:  Cast(FLOAT8E4M3FN -> FLOAT) of codes 0..255",
        " *   fp8_ref_enc_*:   Cast(FLOAT -> FLOAT8E4M3FN) with saturate = 1 and 0",
        " *   fp8_ref_q_*:     QuantizeLinear(x, fp8_ref_scales[k], zero point FLOAT8E4M3FN 0),",
        " *                    saturate = 1 and 0, fp8_ref_q_len[k] inputs per scale in order",
        " *   fp8_ref_dq:      DequantizeLinear(codes 0..255, fp8_ref_scales[k]), 256 per scale */",
        "#ifndef DYADIC_FP8_REFERENCE_H",
        "#define DYADIC_FP8_REFERENCE_H",
        "#include <stdint.h>",
        "",
        c_array("uint32_t", "fp8_ref_decode", decoded, "0x{:08X}u", 8),
        c_array("uint32_t", "fp8_ref_enc_x", x.view(np.uint32), "0x{:08X}u", 8),
        c_array("uint8_t", "fp8_ref_enc_sat", sat, "0x{:02X}", 16),
        c_array("uint8_t", "fp8_ref_enc_nosat", nosat, "0x{:02X}", 16),
        c_array("uint32_t", "fp8_ref_scales", scales.view(np.uint32), "0x{:08X}u", 8),
        c_array("uint32_t", "fp8_ref_q_len", q_len, "{}u", 8),
        c_array("uint32_t", "fp8_ref_q_x", q_x.view(np.uint32), "0x{:08X}u", 8),
        c_array("uint8_t", "fp8_ref_q_sat", q_sat, "0x{:02X}", 16),
        c_array("uint8_t", "fp8_ref_q_nosat", q_nosat, "0x{:02X}", 16),
        c_array("uint32_t", "fp8_ref_dq", dq, "0x{:08X}u", 8),
        "#endif",
        "",
    ]
    out.write_text("\n".join(text))
    print(f"{out}: {len(x)} Cast inputs, {len(q_x)} QuantizeLinear inputs over "
          f"{len(scales)} scales, 256 codes")


if __name__ == "__main__":
    main()
