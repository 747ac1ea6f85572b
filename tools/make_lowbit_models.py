#!/usr/bin/env python3
"""Build small ONNX models with 4-bit and FP8 tensors and ONNX Runtime's outputs.

Written by hand with onnx.helper at opset 21 (INT4/UINT4 weights, blocked scales,
FLOAT8E4M3FN activations), since ONNX Runtime's static quantizer writes 8-bit models:

    conv_int4w       Conv with INT4 weights, per-output-channel scales, uint8 activations (QDQ)
    conv_uint4w_zp   Conv with UINT4 weights and per-channel zero points 8, int8 activations
    gemm_int4w       Gemm (transB) with INT4 per-channel weights, uint8 activations
    matmul_int4_blk  MatMul with INT4 weights in blocks of 32 along K (float activations)
    conv_fp8         FP8 E4M3FN activations around a float Conv (Q/DQ, saturate on)
    relu_int4_act    INT4 activations through Q -> DQ around a Relu

Layout (relative to the repository root):

    models/lowbit/<case>.onnx, <case>.input_0.npy, <case>.output_0.npy
    models/lowbit/manifest.json   entries as tools/make_test_models.py writes them
                                   (variant "lowbit"; scale/zero_point of a dequantized
                                   8-bit output, else null)

Deterministic: running it twice gives identical files.
Usage (from the repository root):  python3 tools/make_lowbit_models.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "models" / "lowbit"
OPSET = 21


def rel(p: Path) -> str:
    return p.resolve().relative_to(ROOT).as_posix()


def pack4(values: np.ndarray) -> bytes:
    """ONNX's 4-bit packing: two per byte, the first element in the low nibble."""
    flat = (values.astype(np.int64).ravel() & 0xF).astype(np.uint8)
    if flat.size % 2:
        flat = np.append(flat, np.uint8(0))
    return (flat[0::2] | (flat[1::2] << 4)).tobytes()


def int4_tensor(name: str, values: np.ndarray, signed: bool) -> onnx.TensorProto:
    t = onnx.TensorProto()
    t.name = name
    t.data_type = TensorProto.INT4 if signed else TensorProto.UINT4
    t.dims.extend(values.shape)
    t.raw_data = pack4(values)
    return t


def const(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(array, name)


def qdq(x: str, out: str, scale: str, zp: str | None, prefix: str) -> list[onnx.NodeProto]:
    inputs = [x, scale] + ([zp] if zp else [])
    return [
        helper.make_node("QuantizeLinear", inputs, [prefix + "_q"], name=prefix + "_Q"),
        helper.make_node("DequantizeLinear", [prefix + "_q", scale] + ([zp] if zp else []), [out], name=prefix + "_DQ"),
    ]


def weights_per_channel(rng, shape, signed: bool, zero_point: int = 0):
    lo, hi = (-8, 7) if signed else (0, 15)
    q = rng.integers(lo, hi + 1, size=shape)
    q[0].fill(lo)  # an extreme channel
    scales = (rng.uniform(0.5, 1.5, size=shape[0]) * 0.05).astype(np.float32)
    return q, scales, np.full(shape[0], zero_point, dtype=np.int64)


def conv_case(name: str, signed_w: bool, act: str, rng) -> tuple[onnx.ModelProto, np.ndarray]:
    cin, cout = 8, 12
    q, scales, zps = weights_per_channel(rng, (cout, cin, 3, 3), signed_w, 0 if signed_w else 8)
    act_type = TensorProto.UINT8 if act == "u8" else TensorProto.INT8
    act_dtype = np.uint8 if act == "u8" else np.int8
    inits = [
        int4_tensor("w_q", q, signed_w),
        const("w_scale", scales),
        int4_tensor("w_zp", zps, signed_w),
        const("x_scale", np.array(0.02, np.float32)),
        const("x_zp", np.array(128 if act == "u8" else 0, act_dtype)),
        const("y_scale", np.array(0.05, np.float32)),
        const("y_zp", np.array(100 if act == "u8" else -3, act_dtype)),
        const("bias", (rng.standard_normal(cout) * 0.1).astype(np.float32)),
    ]
    del act_type
    nodes = qdq("x", "x_dq", "x_scale", "x_zp", "x")
    nodes.append(helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["w"], name="w_DQ", axis=0))
    nodes.append(helper.make_node("Conv", ["x_dq", "w", "bias"], ["c"], name="conv", pads=[1, 1, 1, 1]))
    nodes.append(helper.make_node("Relu", ["c"], ["r"], name="relu"))
    nodes += qdq("r", "y", "y_scale", "y_zp", "y")
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, 9, 11])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cout, 9, 11])], inits)
    x = rng.standard_normal((1, cin, 9, 11)).astype(np.float32)
    return graph_model(graph), x


def gemm_case(rng):
    k, n = 40, 24
    q, scales, zps = weights_per_channel(rng, (n, k), True)
    inits = [
        int4_tensor("w_q", q, True), const("w_scale", scales), int4_tensor("w_zp", zps, True),
        const("x_scale", np.array(0.03, np.float32)), const("x_zp", np.array(120, np.uint8)),
        const("y_scale", np.array(0.04, np.float32)), const("y_zp", np.array(128, np.uint8)),
    ]
    nodes = qdq("x", "x_dq", "x_scale", "x_zp", "x")
    nodes.append(helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["w"], name="w_DQ", axis=0))
    nodes.append(helper.make_node("Gemm", ["x_dq", "w"], ["g"], name="gemm", transB=1))
    nodes += qdq("g", "y", "y_scale", "y_zp", "y")
    graph = helper.make_graph(nodes, "gemm_int4w", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, n])], inits)
    return graph_model(graph), rng.standard_normal((3, k)).astype(np.float32)


def matmul_blocked_case(rng):
    k, n, block = 96, 20, 32
    q = rng.integers(-8, 8, size=(k, n))
    scales = (rng.uniform(0.5, 1.5, size=(k // block, n)) * 0.05).astype(np.float32)
    inits = [int4_tensor("w_q", q, True), const("w_scale", scales)]
    nodes = [
        helper.make_node("DequantizeLinear", ["w_q", "w_scale"], ["w"], name="w_DQ", axis=0, block_size=block),
        helper.make_node("MatMul", ["x", "w"], ["y"], name="matmul"),
    ]
    graph = helper.make_graph(nodes, "matmul_int4_blk", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, n])], inits)
    return graph_model(graph), rng.standard_normal((2, k)).astype(np.float32)


def fp8_case(rng):
    cin, cout = 4, 6
    w = (rng.standard_normal((cout, cin, 3, 3)) * 0.3).astype(np.float32)
    fp8_zero = helper.make_tensor("f8_zp", TensorProto.FLOAT8E4M3FN, [], [0])
    inits = [const("w", w), const("x_scale", np.array(0.01, np.float32)), const("y_scale", np.array(0.02, np.float32)), fp8_zero]
    nodes = qdq("x", "x_dq", "x_scale", "f8_zp", "x")
    nodes.append(helper.make_node("Conv", ["x_dq", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]))
    nodes += qdq("c", "y", "y_scale", "f8_zp", "y")
    graph = helper.make_graph(nodes, "conv_fp8", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, 7, 7])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cout, 7, 7])], inits)
    # Wide range: values beyond the FP8 range (448 * scale) saturate, tiny ones go subnormal.
    x = (rng.standard_normal((1, cin, 7, 7)) * np.logspace(-3, 1, 7)[None, None, None, :]).astype(np.float32)
    return graph_model(graph), x


def int4_activation_case(rng):
    zp = helper.make_tensor("a_zp", TensorProto.INT4, [], [-1])
    inits = [const("a_scale", np.array(0.25, np.float32)), zp]
    nodes = qdq("x", "x_dq", "a_scale", "a_zp", "x")
    nodes.append(helper.make_node("Relu", ["x_dq"], ["y"], name="relu"))
    graph = helper.make_graph(nodes, "relu_int4_act", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 4, 5])], inits)
    return graph_model(graph), (rng.standard_normal((2, 3, 4, 5)) * 2).astype(np.float32)


def graph_model(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=10)
    onnx.checker.check_model(model)
    return model


def main() -> None:
    rng = np.random.default_rng(2026)
    OUT.mkdir(parents=True, exist_ok=True)
    cases = [
        ("conv_int4w", *conv_case("conv_int4w", True, "u8", rng), (0.05, 100)),
        ("conv_uint4w_zp", *conv_case("conv_uint4w_zp", False, "s8", rng), (0.05, -3)),
        ("gemm_int4w", *gemm_case(rng), (0.04, 128)),
        ("matmul_int4_blk", *matmul_blocked_case(rng), (None, None)),
        ("conv_fp8", *fp8_case(rng), (None, None)),
        ("relu_int4_act", *int4_activation_case(rng), (None, None)),
    ]
    manifest = []
    for name, model, x, (scale, zp) in cases:
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        if name in ("conv_fp8", "matmul_int4_blk"):
            # Unoptimized, ONNX Runtime computes what the ONNX graph says. Optimized, it
            # would fuse the FP8 Q/DQ pair into a QLinearConv it cannot run, and the
            # blocked INT4 MatMul into MatMulNBits, which quantizes the activations too
            # (measured: up to 0.026 away from the exact result on this case).
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        path = OUT / f"{name}.onnx"
        onnx.save(model, path)
        x_file, y_file = OUT / f"{name}.input_0.npy", OUT / f"{name}.output_0.npy"
        np.save(x_file, x)
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        (y,) = sess.run(None, {"x": x})
        np.save(y_file, y)
        manifest.append({
            "case": name, "variant": "lowbit", "model": rel(path),
            "inputs": [{"name": "x", "file": rel(x_file)}],
            "outputs": [{"name": "y", "file": rel(y_file), "scale": scale, "zero_point": zp}],
            "ops": sorted({n.op_type for n in model.graph.node}),
        })
        print(f"{name}: output {list(y.shape)} {y.dtype}")
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
