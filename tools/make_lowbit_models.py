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
    conv_int2w       Conv with INT2 weights (opset 25), uint8 activations
    conv_int3w       Conv whose int8 weights hold 3-bit values ([-4, 3]), int8 activations
    dpq_conv         W4A8-FP8 (DPQ) 3x3 Conv: FP8 activations, INT4 weights through a
                     per-channel FP8 table, Relu6, FP8 output
    dpq_mixed        int8 Conv -> FP8 conversion -> DPQ 1x1 (tables per 32 inputs) ->
                     DPQ depthwise -> FP8 Add -> FP8 GlobalAveragePool -> DPQ Gemm
                     (float output): the transitions between precisions in one graph
    fp8_to_u8        FP8 activations converted to uint8 for an int8 Conv

A DPQ weight is written as ONNX expresses "the FP8 cast of the dequantized INT4
value": W_int4 -> DequantizeLinear(group scales g, blocked or 1.0) -> QuantizeLinear
(scale 1, FLOAT8E4M3FN) -> DequantizeLinear(per-channel scale s_c), so that
w = s_c * e4m3(q * g) and each group's 16 codes map to FP8 through a table.

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


def int2_tensor(name: str, values: np.ndarray) -> onnx.TensorProto:
    """ONNX's 2-bit packing: four per byte, the first element in the lowest bits."""
    flat = (values.astype(np.int64).ravel() & 0x3).astype(np.uint8)
    flat = np.append(flat, np.zeros(-flat.size % 4, np.uint8))
    t = onnx.TensorProto()
    t.name = name
    t.data_type = TensorProto.INT2
    t.dims.extend(values.shape)
    t.raw_data = (flat[0::4] | (flat[1::4] << 2) | (flat[2::4] << 4) | (flat[3::4] << 6)).tobytes()
    return t


def narrow_conv_case(name: str, bits: int, rng):
    """A 3x3 Conv whose weights use `bits` bits: INT2 in the file for 2, int8 otherwise."""
    cin, cout = 6, 10
    half = 1 << (bits - 1)
    q = rng.integers(-half, half, size=(cout, cin, 3, 3))
    q[0, 0, 0, 0], q[1, 0, 0, 0] = -half, half - 1  # both extremes present
    scales = (rng.uniform(0.5, 1.5, size=cout) * 0.1).astype(np.float32)
    signed_act = bits != 2
    act = np.int8 if signed_act else np.uint8
    w_init = int2_tensor("w_q", q) if bits == 2 else const("w_q", q.astype(np.int8))
    inits = [w_init, const("w_scale", scales),
             const("x_scale", np.array(0.02, np.float32)), const("x_zp", np.array(-5 if signed_act else 128, act)),
             const("y_scale", np.array(0.08, np.float32)), const("y_zp", np.array(4 if signed_act else 120, act)),
             const("bias", (rng.standard_normal(cout) * 0.1).astype(np.float32))]
    nodes = qdq("x", "x_dq", "x_scale", "x_zp", "x")
    nodes.append(helper.make_node("DequantizeLinear", ["w_q", "w_scale"], ["w"], name="w_DQ", axis=0))
    nodes.append(helper.make_node("Conv", ["x_dq", "w", "bias"], ["c"], name="conv", pads=[1, 1, 1, 1], strides=[1, 2]))
    nodes += qdq("c", "y", "y_scale", "y_zp", "y")
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, 8, 9])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cout, 8, 5])], inits)
    return graph_model(graph, 25 if bits == 2 else OPSET), rng.standard_normal((1, cin, 8, 9)).astype(np.float32)


FP8_ZERO = "f8_zero"


def fp8_zero_init() -> onnx.TensorProto:
    return helper.make_tensor(FP8_ZERO, TensorProto.FLOAT8E4M3FN, [], [0])


def dpq_weight(prefix: str, shape: tuple, block: int, rng) -> tuple[list, list]:
    """Nodes and initializers for w = s_c * e4m3(q * g), `prefix` naming the result.

    block 0: one table per output channel (g = 1); else group scales g per `block`
    inputs along axis 1, drawn from a few ratios so that q * g needs FP8 rounding."""
    q = rng.integers(-8, 8, size=shape)
    q.reshape(shape[0], -1)[:, 0] = -8
    s_c = (rng.uniform(0.5, 1.5, size=shape[0]) * 0.03).astype(np.float32)
    inits = [int4_tensor(prefix + "_q", q, True), const(prefix + "_sc", s_c)]
    if block:
        g_shape = list(shape)
        g_shape[1] = -(-shape[1] // block)
        g = rng.choice(np.array([1.0, 0.75, 0.6, 0.45, 0.3], np.float32), size=g_shape).astype(np.float32)
        inits.append(const(prefix + "_g", g))
        first = helper.make_node("DequantizeLinear", [prefix + "_q", prefix + "_g"], [prefix + "_qg"],
                                 name=prefix + "_DQ4", axis=1, block_size=block)
    else:
        inits.append(const(prefix + "_g", np.array(1.0, np.float32)))
        first = helper.make_node("DequantizeLinear", [prefix + "_q", prefix + "_g"], [prefix + "_qg"], name=prefix + "_DQ4")
    inits.append(const(prefix + "_one", np.array(1.0, np.float32)))
    nodes = [
        first,
        helper.make_node("QuantizeLinear", [prefix + "_qg", prefix + "_one", FP8_ZERO], [prefix + "_f8"], name=prefix + "_Q8"),
        helper.make_node("DequantizeLinear", [prefix + "_f8", prefix + "_sc"], [prefix], name=prefix + "_DQ8", axis=0),
    ]
    return nodes, inits


def fp8_qdq(x: str, out: str, scale: float, prefix: str, inits: list) -> list:
    inits.append(const(prefix + "_s", np.array(scale, np.float32)))
    return qdq(x, out, prefix + "_s", FP8_ZERO, prefix)


def dpq_conv_case(rng):
    cin, cout = 8, 12
    inits = [fp8_zero_init(), const("lo", np.array(0, np.float32)), const("hi", np.array(6, np.float32)),
             const("bias", (rng.standard_normal(cout) * 0.2).astype(np.float32))]
    nodes = fp8_qdq("x", "x_dq", 0.01, "x", inits)
    wn, wi = dpq_weight("w", (cout, cin, 3, 3), 0, rng)
    nodes += wn
    inits += wi
    nodes.append(helper.make_node("Conv", ["x_dq", "w", "bias"], ["c"], name="conv", pads=[1, 1, 1, 1]))
    nodes.append(helper.make_node("Clip", ["c", "lo", "hi"], ["r"], name="relu6"))
    nodes += fp8_qdq("r", "y", 6 / 448, "y", inits)
    graph = helper.make_graph(nodes, "dpq_conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, 10, 9])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cout, 10, 9])], inits)
    return graph_model(graph), (rng.standard_normal((1, cin, 10, 9)) * 1.5).astype(np.float32)


def dpq_mixed_case(rng):
    cin, mid, wide, classes = 3, 24, 64, 10
    q0, s0, _ = weights_per_channel(rng, (mid, cin, 3, 3), True)
    inits = [fp8_zero_init(),
             const("w0_q", q0.astype(np.int8)), const("w0_s", s0 * 2),
             const("x_s", np.array(0.02, np.float32)), const("x_zp", np.array(128, np.uint8)),
             const("c0_s", np.array(0.05, np.float32)), const("c0_zp", np.array(0, np.uint8))]
    nodes = qdq("x", "x_dq", "x_s", "x_zp", "x")
    nodes.append(helper.make_node("DequantizeLinear", ["w0_q", "w0_s"], ["w0"], name="w0_DQ", axis=0))
    nodes.append(helper.make_node("Conv", ["x_dq", "w0"], ["c0"], name="conv0", pads=[1, 1, 1, 1], strides=[2, 2]))
    nodes.append(helper.make_node("Relu", ["c0"], ["r0"], name="relu0"))
    nodes += qdq("r0", "r0_dq", "c0_s", "c0_zp", "r0q")                 # int8 layer output
    nodes += fp8_qdq("r0_dq", "a_dq", 0.03, "a", inits)                 # explicit conversion to FP8
    for name, shape, block in [("w1", (wide, mid, 1, 1), 32), ("w2", (wide, 1, 3, 3), 0), ("w3", (classes, wide), 32)]:
        wn, wi = dpq_weight(name, shape, block, rng)
        nodes += wn
        inits += wi
    nodes.append(helper.make_node("Conv", ["a_dq", "w1"], ["c1"], name="expand"))
    nodes.append(helper.make_node("Relu", ["c1"], ["r1"], name="relu1"))
    nodes += fp8_qdq("r1", "b_dq", 0.02, "b", inits)
    nodes.append(helper.make_node("Conv", ["b_dq", "w2"], ["c2"], name="depthwise", pads=[1, 1, 1, 1], group=wide))
    nodes += fp8_qdq("c2", "d_dq", 0.02, "d", inits)
    nodes.append(helper.make_node("Add", ["b_dq", "d_dq"], ["s"], name="add"))
    nodes += fp8_qdq("s", "s_dq", 0.03, "sq", inits)
    nodes.append(helper.make_node("GlobalAveragePool", ["s_dq"], ["p"], name="pool"))
    nodes += fp8_qdq("p", "p_dq", 0.01, "pq", inits)
    nodes.append(helper.make_node("Flatten", ["p_dq"], ["f"], name="flatten"))
    inits.append(const("fc_bias", (rng.standard_normal(classes) * 0.1).astype(np.float32)))
    nodes.append(helper.make_node("Gemm", ["f", "w3", "fc_bias"], ["y"], name="fc", transB=1))
    graph = helper.make_graph(nodes, "dpq_mixed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, classes])], inits)
    return graph_model(graph), rng.standard_normal((1, cin, 16, 16)).astype(np.float32)


def fp8_to_u8_case(rng):
    cin, cout = 5, 7
    q, scales, _ = weights_per_channel(rng, (cout, cin, 1, 1), True)
    inits = [fp8_zero_init(), const("w_q", q.astype(np.int8) * 9), const("w_s", scales),
             const("u_s", np.array(0.05, np.float32)), const("u_zp", np.array(128, np.uint8)),
             const("y_s", np.array(0.1, np.float32)), const("y_zp", np.array(128, np.uint8))]
    nodes = fp8_qdq("x", "x_dq", 0.01, "x", inits)
    nodes += qdq("x_dq", "u_dq", "u_s", "u_zp", "u")                    # FP8 -> uint8 conversion
    nodes.append(helper.make_node("DequantizeLinear", ["w_q", "w_s"], ["w"], name="w_DQ", axis=0))
    nodes.append(helper.make_node("Conv", ["u_dq", "w"], ["c"], name="conv"))
    nodes += qdq("c", "y", "y_s", "y_zp", "y")
    graph = helper.make_graph(nodes, "fp8_to_u8", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cout, 6, 6])], inits)
    return graph_model(graph), (rng.standard_normal((1, cin, 6, 6)) * 2).astype(np.float32)


def graph_model(graph: onnx.GraphProto, opset: int = OPSET) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=10 if opset <= 21 else 11)
    onnx.checker.check_model(model)
    return model


# Outputs that are E4M3 codes dequantized with this scale (compared code by code).
FP8_OUTPUT_SCALES = {"conv_fp8": 0.02, "dpq_conv": 6 / 448}


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
        ("conv_int2w", *narrow_conv_case("conv_int2w", 2, rng), (0.08, 120)),
        ("conv_int3w", *narrow_conv_case("conv_int3w", 3, rng), (0.08, 4)),
        ("dpq_conv", *dpq_conv_case(rng), (None, None)),
        ("dpq_mixed", *dpq_mixed_case(rng), (None, None)),
        ("fp8_to_u8", *fp8_to_u8_case(rng), (0.1, 128)),
    ]
    manifest = []
    for name, model, x, (scale, zp) in cases:
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        if name in ("conv_fp8", "matmul_int4_blk", "conv_int2w") or "dpq" in name or "fp8" in name:
            # Unoptimized, ONNX Runtime computes what the ONNX graph says. Optimized, it
            # would fuse FP8 and INT2 Q/DQ pairs into QLinearConvs it cannot run, and the
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
            "outputs": [{"name": "y", "file": rel(y_file), "scale": scale, "zero_point": zp,
                         "fp8_scale": FP8_OUTPUT_SCALES.get(name)}],
            "ops": sorted({n.op_type for n in model.graph.node}),
        })
        print(f"{name}: output {list(y.shape)} {y.dtype}")
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
