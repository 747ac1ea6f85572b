#!/usr/bin/env python3
"""Build the small quantized test models under models/tests/ and their reference outputs.

Every case is a tiny float32 ONNX graph (opset 13) built with onnx.helper and
random weights drawn from a fixed seed. Each is quantized with ONNX Runtime's
static quantizer in four ways:

    qdq_u8   QuantFormat.QDQ,       uint8 activations, int8 weights
    qdq_s8   QuantFormat.QDQ,       int8 activations,  int8 weights
    qop_u8   QuantFormat.QOperator, uint8 activations, int8 weights
    qop_s8   QuantFormat.QOperator, int8 activations,  int8 weights

and ONNX Runtime (CPU, one thread, default session options) produces the
reference output of every variant, float included. A few extra cases use the
integer ops directly (ConvInteger, MatMulInteger, QLinearConv and QLinearMatMul
with int8 data); those are built by hand and have the single variant "direct".

Layout written (paths relative to the repository root):

    models/tests/<case>/float.onnx, <variant>.onnx
    models/tests/<case>/input_<i>.npy             one per graph input, shared by all variants
    models/tests/<case>/<variant>.output_<i>.npy  ONNX Runtime's outputs
    models/tests/manifest.json                    one entry per (case, variant)

Weights are drawn with He-like magnitudes and per-output-channel gains so that
per-channel quantization matters; inputs and calibration data are standard
normal. Everything is deterministic: run it twice and the files are identical.

Usage (from the repository root):  python3 tools/make_test_models.py
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)

OPSET = 13
MS_OPSET = 1
CALIBRATION_BATCHES = 16
ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "models" / "tests"

QUANT_VARIANTS = {
    "qdq_u8": (QuantFormat.QDQ, QuantType.QUInt8),
    "qdq_s8": (QuantFormat.QDQ, QuantType.QInt8),
    "qop_u8": (QuantFormat.QOperator, QuantType.QUInt8),
    "qop_s8": (QuantFormat.QOperator, QuantType.QInt8),
}

# The ONNX Runtime quantized ops we want to see at least once in a QOperator model.
EXPECTED_QOP_OPS = [
    "QLinearConv",
    "QLinearMatMul",
    "com.microsoft.QLinearAdd",
    "com.microsoft.QLinearMul",
    "com.microsoft.QLinearGlobalAveragePool",
    "com.microsoft.QLinearAveragePool",
    "com.microsoft.QLinearConcat",
    "com.microsoft.QGemm",
    "com.microsoft.QLinearSigmoid",
    "com.microsoft.QLinearLeakyRelu",
    "com.microsoft.QLinearSoftmax",
]


# ---------------------------------------------------------------------------
# Graph builder
# ---------------------------------------------------------------------------


class GraphBuilder:
    """Accumulates nodes and initializers; every helper returns its output name."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[tuple[str, list[int]]] = []
        self.outputs: list[str] = []
        self._count: dict[str, int] = {}

    # -- naming and constants ------------------------------------------------

    def fresh(self, base: str) -> str:
        n = self._count.get(base, 0)
        self._count[base] = n + 1
        return f"{base}_{n}"

    def const(self, base: str, value: np.ndarray) -> str:
        name = self.fresh(base)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], base: str | None = None, n_out: int = 1, **attrs) -> str | list[str]:
        name = self.fresh(base or op.lower())
        outs = [name] if n_out == 1 else [f"{name}_out{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=name, **attrs))
        return outs[0] if n_out == 1 else outs

    # -- graph interface -----------------------------------------------------

    def input(self, name: str, shape: list[int]) -> str:
        self.inputs.append((name, list(shape)))
        return name

    def output(self, name: str) -> None:
        self.outputs.append(name)

    # -- layers --------------------------------------------------------------

    def weight(self, shape: list[int], fan_in: int, gain_spread: float = 2.0) -> np.ndarray:
        """He-normal weights with a per-output-channel gain in [1/spread, spread]."""
        w = self.rng.standard_normal(shape).astype(np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        gains = np.exp(self.rng.uniform(-np.log(gain_spread), np.log(gain_spread), size=shape[0]))
        w *= gains.reshape([-1] + [1] * (len(shape) - 1)).astype(np.float32)
        return w

    def conv(
        self,
        x: str,
        cin: int,
        cout: int,
        k: int | tuple[int, int],
        stride: int = 1,
        pads: list[int] | None = None,
        dilation: int = 1,
        group: int = 1,
        bias: bool = True,
        gain: float = 1.0,
        zero_channels: tuple[int, ...] = (),
    ) -> str:
        kh, kw = (k, k) if isinstance(k, int) else k
        if pads is None:
            ph, pw = dilation * (kh - 1) // 2, dilation * (kw - 1) // 2
            pads = [ph, pw, ph, pw]
        fan_in = cin // group * kh * kw
        w = self.weight([cout, cin // group, kh, kw], fan_in) * np.float32(gain)
        for c in zero_channels:
            w[c] = 0.0
        inputs = [x, self.const("w", w)]
        if bias:
            b = (self.rng.standard_normal(cout) * 0.2 * gain).astype(np.float32)
            inputs.append(self.const("b", b))
        return self.node(
            "Conv",
            inputs,
            "conv",
            kernel_shape=[kh, kw],
            strides=[stride, stride],
            pads=pads,
            dilations=[dilation, dilation],
            group=group,
        )

    def relu(self, x: str) -> str:
        return self.node("Relu", [x])

    def relu6(self, x: str) -> str:
        lo = self.const("clip_min", np.array(0.0, dtype=np.float32))
        hi = self.const("clip_max", np.array(6.0, dtype=np.float32))
        return self.node("Clip", [x, lo, hi], "clip")

    def gemm(self, x: str, k: int, n: int, bias: bool = True) -> str:
        """Gemm as PyTorch's nn.Linear exports it: B is [N, K] with transB=1."""
        w = self.weight([n, k], k)
        inputs = [x, self.const("fc_w", w)]
        if bias:
            inputs.append(self.const("fc_b", (self.rng.standard_normal(n) * 0.1).astype(np.float32)))
        return self.node("Gemm", inputs, "gemm", alpha=1.0, beta=1.0, transB=1)

    def matmul_const(self, x: str, k: int, n: int) -> str:
        w = self.weight([n, k], k).T.copy()  # [K, N]; gains per output column
        return self.node("MatMul", [x, self.const("mm_w", w)], "matmul")


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    build: Callable[[GraphBuilder], None]
    per_channel: bool = True
    note: str = ""


CASES: list[Case] = []


def case(name: str, per_channel: bool = True, note: str = ""):
    def register(fn: Callable[[GraphBuilder], None]):
        CASES.append(Case(name, fn, per_channel, note))
        return fn

    return register


@case("conv_s1_c3", note="3x3 stride 1, pad 1, bias, 3->8")
def _(b: GraphBuilder):
    x = b.input("input", [1, 3, 12, 12])
    b.output(b.conv(x, 3, 8, 3))


@case("conv_s2_c5_nobias", note="3x3 stride 2, pad 1, no bias, 5->17")
def _(b):
    x = b.input("input", [1, 5, 15, 15])
    b.output(b.conv(x, 5, 17, 3, stride=2, bias=False))


@case("conv_s3_asympad_c17", note="3x3 stride 3, pads [0,1,2,1], 17->16")
def _(b):
    x = b.input("input", [1, 17, 14, 13])
    b.output(b.conv(x, 17, 16, 3, stride=3, pads=[0, 1, 2, 1]))


@case("conv_dilation2", per_channel=False, note="3x3 dilation 2, per-tensor weights")
def _(b):
    x = b.input("input", [1, 8, 12, 12])
    b.output(b.conv(x, 8, 12, 3, dilation=2))


@case("conv_group2", note="3x3 groups 2, 10->6")
def _(b):
    x = b.input("input", [1, 10, 10, 10])
    b.output(b.conv(x, 10, 6, 3, group=2))


@case("conv_group4_s2", note="3x3 groups 4 stride 2, 16->20")
def _(b):
    x = b.input("input", [1, 16, 11, 11])
    b.output(b.conv(x, 16, 20, 3, stride=2, group=4))


@case("conv_depthwise_c33", note="depthwise 3x3 (groups=33), pad 1")
def _(b):
    x = b.input("input", [1, 33, 9, 9])
    b.output(b.conv(x, 33, 33, 3, group=33))


@case("conv_depthwise_s2_asympad", note="depthwise 3x3 stride 2, TF-SAME pads [0,0,1,1], 17 ch")
def _(b):
    x = b.input("input", [1, 17, 12, 12])
    b.output(b.conv(x, 17, 17, 3, stride=2, group=17, pads=[0, 0, 1, 1]))


@case("conv_depthwise_5x5", note="depthwise 5x5 pad 2, 8 ch, no bias")
def _(b):
    x = b.input("input", [1, 8, 10, 10])
    b.output(b.conv(x, 8, 8, 5, group=8, bias=False))


@case("conv_1x1_c33", note="1x1 33->17, one all-zero weight channel")
def _(b):
    x = b.input("input", [1, 33, 8, 8])
    b.output(b.conv(x, 33, 17, 1, zero_channels=(5,)))


@case("conv_7x7_s2", note="7x7 stride 2 pad 3, 3->16 (a network stem)")
def _(b):
    x = b.input("input", [1, 3, 20, 20])
    b.output(b.conv(x, 3, 16, 7, stride=2))


@case("conv_rect_kernel", note="1x3 kernel, pads [0,1,0,1], 5->8")
def _(b):
    x = b.input("input", [1, 5, 9, 11])
    b.output(b.conv(x, 5, 8, (1, 3), pads=[0, 1, 0, 1]))


@case("conv_relu", note="Conv + Relu")
def _(b):
    x = b.input("input", [1, 5, 10, 10])
    b.output(b.relu(b.conv(x, 5, 12, 3)))


@case("conv_relu6", note="Conv + Clip(0,6)")
def _(b):
    x = b.input("input", [1, 8, 10, 10])
    b.output(b.relu6(b.conv(x, 8, 16, 3, stride=2, gain=3.0)))


@case("conv_relu_per_tensor", per_channel=False, note="Conv + Relu, per-tensor weights")
def _(b):
    x = b.input("input", [1, 6, 9, 9])
    b.output(b.relu(b.conv(x, 6, 10, 3)))


@case("residual_add", note="Add of two conv branches")
def _(b):
    x = b.input("input", [1, 8, 10, 10])
    y1 = b.conv(x, 8, 8, 3)
    y2 = b.conv(x, 8, 8, 1, gain=0.5)
    b.output(b.node("Add", [y1, y2]))


@case("branch_mul", note="Mul of two conv branches (one through Sigmoid)")
def _(b):
    x = b.input("input", [1, 6, 8, 8])
    y1 = b.conv(x, 6, 8, 3)
    y2 = b.node("Sigmoid", [b.conv(x, 6, 8, 1)])
    b.output(b.node("Mul", [y1, y2]))


# Pooling follows a Conv: ONNX Runtime's QDQ quantizer leaves data-movement ops
# whose input is not already quantized in float.


@case("avgpool_nopad", note="Conv, AveragePool 3x3 stride 2, no padding")
def _(b):
    x = b.input("input", [1, 4, 13, 13])
    y = b.conv(x, 4, 5, 1)
    b.output(b.node("AveragePool", [y], kernel_shape=[3, 3], strides=[2, 2]))


@case("avgpool_pad_exclude", note="Conv, AveragePool 3x3 stride 1 pad 1, count_include_pad=0")
def _(b):
    x = b.input("input", [1, 4, 9, 9])
    y = b.conv(x, 4, 5, 1)
    b.output(b.node("AveragePool", [y], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=0))


@case("avgpool_pad_include", note="Conv, AveragePool 3x3 stride 2 pads [1,0,1,1], count_include_pad=1")
def _(b):
    x = b.input("input", [1, 4, 10, 10])
    y = b.conv(x, 4, 5, 1)
    b.output(
        b.node("AveragePool", [y], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 1, 1], count_include_pad=1)
    )


@case("maxpool_pad_s2", note="Conv, then MaxPool 3x3 stride 2 pad 1")
def _(b):
    x = b.input("input", [1, 4, 12, 12])
    y = b.conv(x, 4, 8, 3)
    b.output(b.node("MaxPool", [y], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))


@case("maxpool_2x2_relu", note="Conv + Relu, MaxPool 2x2 stride 2")
def _(b):
    x = b.input("input", [1, 3, 10, 10])
    y = b.relu(b.conv(x, 3, 6, 3))
    b.output(b.node("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2]))


@case("global_avgpool", note="Conv + Relu, then GlobalAveragePool")
def _(b):
    x = b.input("input", [1, 5, 9, 9])
    y = b.relu(b.conv(x, 5, 17, 3))
    b.output(b.node("GlobalAveragePool", [y]))


@case("concat_scales", note="Concat of three branches with very different ranges")
def _(b):
    x = b.input("input", [1, 4, 8, 8])
    y1 = b.conv(x, 4, 5, 3, gain=0.1)
    y2 = b.conv(x, 4, 6, 1, gain=4.0)
    b.output(b.node("Concat", [y1, y2, x], axis=1))


@case("gemm_transb", note="Gemm transB=1 with bias (nn.Linear), batch 2")
def _(b):
    x = b.input("input", [2, 40])
    b.output(b.gemm(x, 40, 10))


@case("gemm_nobias_per_tensor", per_channel=False, note="Gemm transB=1 without bias, per-tensor")
def _(b):
    x = b.input("input", [1, 33])
    b.output(b.gemm(x, 33, 17, bias=False))


@case("matmul_2d", note="MatMul [4,24] x [24,10]")
def _(b):
    x = b.input("input", [4, 24])
    b.output(b.matmul_const(x, 24, 10))


@case("matmul_3d", note="MatMul [2,5,24] x [24,12]")
def _(b):
    x = b.input("input", [2, 5, 24])
    b.output(b.matmul_const(x, 24, 12))


@case("flatten_gemm", note="Conv + Relu, Flatten, Gemm")
def _(b):
    x = b.input("input", [1, 3, 8, 8])
    y = b.relu(b.conv(x, 3, 4, 3, stride=2))
    y = b.node("Flatten", [y], axis=1)
    b.output(b.gemm(y, 4 * 4 * 4, 10))


@case("reshape_transpose_matmul", note="Conv, Reshape to [1,C,HW], Transpose, MatMul")
def _(b):
    x = b.input("input", [1, 4, 6, 6])
    y = b.conv(x, 4, 8, 3)
    y = b.node("Reshape", [y, b.const("shape", np.array([1, 8, 36], dtype=np.int64))])
    y = b.node("Transpose", [y], perm=[0, 2, 1])
    b.output(b.matmul_const(y, 8, 5))


@case("transpose_nchw_nhwc", note="Conv, Transpose to NHWC")
def _(b):
    x = b.input("input", [1, 3, 7, 9])
    b.output(b.node("Transpose", [b.conv(x, 3, 5, 3)], perm=[0, 2, 3, 1]))


@case("pad_conv", note="Conv, Pad (constant 0, pads [0,0,1,2,0,0,2,1]), Conv without padding")
def _(b):
    x = b.input("input", [1, 4, 8, 8])
    y = b.conv(x, 4, 6, 3)
    pads = b.const("pads", np.array([0, 0, 1, 2, 0, 0, 2, 1], dtype=np.int64))
    zero = b.const("pad_value", np.array(0.0, dtype=np.float32))
    y = b.node("Pad", [y, pads, zero], mode="constant")
    b.output(b.conv(y, 6, 8, 3, pads=[0, 0, 0, 0]))


@case("resize_nearest", note="Conv, Resize nearest x2 (asymmetric/floor, as PyTorch exports), Conv")
def _(b):
    x = b.input("input", [1, 4, 6, 6])
    y = b.conv(x, 4, 6, 3)
    scales = b.const("scales", np.array([1.0, 1.0, 2.0, 2.0], dtype=np.float32))
    y = b.node(
        "Resize",
        [y, "", scales],
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )
    b.output(b.conv(y, 6, 4, 3))


@case("sigmoid", note="Conv, Sigmoid")
def _(b):
    x = b.input("input", [1, 5, 8, 8])
    b.output(b.node("Sigmoid", [b.conv(x, 5, 8, 3, gain=2.0)]))


@case("leakyrelu", note="Conv, LeakyRelu(alpha=0.1)")
def _(b):
    x = b.input("input", [1, 5, 8, 8])
    b.output(b.node("LeakyRelu", [b.conv(x, 5, 8, 3)], alpha=0.1))


@case("softmax", note="Gemm, Softmax over the last axis")
def _(b):
    x = b.input("input", [2, 24])
    b.output(b.node("Softmax", [b.gemm(x, 24, 10)], axis=-1))


@case("mobile_block", note="conv3x3 s2+relu6, dw3x3+relu6, 1x1 project, residual, GAP, flatten, gemm")
def _(b):
    x = b.input("input", [1, 3, 20, 20])
    # TF "SAME" for 20 -> 10 with a 3x3 stride-2 kernel pads only at the end.
    stem = b.relu6(b.conv(x, 3, 16, 3, stride=2, pads=[0, 0, 1, 1]))
    dw = b.relu6(b.conv(stem, 16, 16, 3, group=16))
    proj = b.conv(dw, 16, 16, 1, gain=0.5)
    y = b.node("Add", [stem, proj])
    y = b.node("GlobalAveragePool", [y])
    y = b.node("Flatten", [y], axis=1)
    b.output(b.gemm(y, 16, 10))


@case("two_inputs_two_outputs", note="inputs a, b; outputs relu(conv(a)) + conv(b) and maxpool(conv(b))")
def _(b):
    a = b.input("a", [1, 4, 8, 8])
    c = b.input("b", [1, 6, 8, 8])
    ya = b.relu(b.conv(a, 4, 8, 3))
    yb = b.conv(c, 6, 8, 1)
    b.output(b.node("Add", [ya, yb], "sum"))
    b.output(b.node("MaxPool", [yb], "pooled", kernel_shape=[2, 2], strides=[2, 2]))


# ---------------------------------------------------------------------------
# Hand-built integer cases (variant "direct")
# ---------------------------------------------------------------------------


def _direct_model(nodes, inits, inputs, outputs) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "direct", inputs, outputs, inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="dyadic-tools",
    )
    model.ir_version = 8
    return model


def direct_convinteger(rng) -> tuple[onnx.ModelProto, list[np.ndarray]]:
    """ConvInteger: uint8 input with zero point 131, int8 weights with zero point -3, stride 2."""
    x = rng.integers(0, 256, size=[1, 5, 9, 9], dtype=np.uint8)
    w = rng.integers(-127, 128, size=[8, 5, 3, 3], dtype=np.int8)
    inits = [
        numpy_helper.from_array(w, "w"),
        numpy_helper.from_array(np.array(131, dtype=np.uint8), "x_zero_point"),
        numpy_helper.from_array(np.array(-3, dtype=np.int8), "w_zero_point"),
    ]
    node = helper.make_node(
        "ConvInteger",
        ["x", "w", "x_zero_point", "w_zero_point"],
        ["y"],
        name="convinteger",
        kernel_shape=[3, 3],
        strides=[2, 2],
        pads=[1, 1, 1, 1],
    )
    model = _direct_model(
        [node],
        inits,
        [helper.make_tensor_value_info("x", TensorProto.UINT8, x.shape)],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [1, 8, 5, 5])],
    )
    return model, [x]


def direct_matmulinteger(rng):
    """MatMulInteger: uint8 A [4,24] (zero point 120) x int8 B [24,10] (zero point 5)."""
    a = rng.integers(0, 256, size=[4, 24], dtype=np.uint8)
    bm = rng.integers(-128, 128, size=[24, 10], dtype=np.int8)
    inits = [
        numpy_helper.from_array(bm, "b"),
        numpy_helper.from_array(np.array(120, dtype=np.uint8), "a_zero_point"),
        numpy_helper.from_array(np.array(5, dtype=np.int8), "b_zero_point"),
    ]
    node = helper.make_node("MatMulInteger", ["a", "b", "a_zero_point", "b_zero_point"], ["y"], name="matmulinteger")
    model = _direct_model(
        [node],
        inits,
        [helper.make_tensor_value_info("a", TensorProto.UINT8, a.shape)],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [4, 10])],
    )
    return model, [a]


def direct_qlinearconv_s8(rng):
    """QLinearConv, int8 input/weights/output, per-channel weight scales, int32 bias."""
    cin, cout = 5, 8
    x = rng.integers(-128, 128, size=[1, cin, 9, 9], dtype=np.int8)
    w = rng.integers(-127, 128, size=[cout, cin, 3, 3], dtype=np.int8)
    x_scale = np.array(0.05, dtype=np.float32)
    w_scale = (rng.uniform(0.5, 2.0, size=cout) * 0.01).astype(np.float32)
    bias = rng.integers(-2000, 2000, size=cout, dtype=np.int32)
    inits = [
        numpy_helper.from_array(x_scale, "x_scale"),
        numpy_helper.from_array(np.array(-7, dtype=np.int8), "x_zero_point"),
        numpy_helper.from_array(w, "w"),
        numpy_helper.from_array(w_scale, "w_scale"),
        numpy_helper.from_array(np.zeros(cout, dtype=np.int8), "w_zero_point"),
        numpy_helper.from_array(np.array(0.4, dtype=np.float32), "y_scale"),
        numpy_helper.from_array(np.array(3, dtype=np.int8), "y_zero_point"),
        numpy_helper.from_array(bias, "bias"),
    ]
    node = helper.make_node(
        "QLinearConv",
        ["x", "x_scale", "x_zero_point", "w", "w_scale", "w_zero_point", "y_scale", "y_zero_point", "bias"],
        ["y"],
        name="qlinearconv",
        kernel_shape=[3, 3],
        pads=[1, 1, 1, 1],
    )
    model = _direct_model(
        [node],
        inits,
        [helper.make_tensor_value_info("x", TensorProto.INT8, x.shape)],
        [helper.make_tensor_value_info("y", TensorProto.INT8, [1, cout, 9, 9])],
    )
    return model, [x]


def direct_qlinearmatmul_s8(rng):
    """QLinearMatMul, int8 A [3,24] x int8 B [24,10], int8 output, per-tensor scales."""
    a = rng.integers(-128, 128, size=[3, 24], dtype=np.int8)
    bm = rng.integers(-127, 128, size=[24, 10], dtype=np.int8)
    inits = [
        numpy_helper.from_array(np.array(0.03, dtype=np.float32), "a_scale"),
        numpy_helper.from_array(np.array(4, dtype=np.int8), "a_zero_point"),
        numpy_helper.from_array(bm, "b"),
        numpy_helper.from_array(np.array(0.02, dtype=np.float32), "b_scale"),
        numpy_helper.from_array(np.array(0, dtype=np.int8), "b_zero_point"),
        numpy_helper.from_array(np.array(0.35, dtype=np.float32), "y_scale"),
        numpy_helper.from_array(np.array(-10, dtype=np.int8), "y_zero_point"),
    ]
    node = helper.make_node(
        "QLinearMatMul",
        ["a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "y_scale", "y_zero_point"],
        ["y"],
        name="qlinearmatmul",
    )
    model = _direct_model(
        [node],
        inits,
        [helper.make_tensor_value_info("a", TensorProto.INT8, a.shape)],
        [helper.make_tensor_value_info("y", TensorProto.INT8, [3, 10])],
    )
    return model, [a]


DIRECT_CASES = {
    "convinteger_u8s8": direct_convinteger,
    "matmulinteger_u8s8": direct_matmulinteger,
    "qlinearconv_s8": direct_qlinearconv_s8,
    "qlinearmatmul_s8": direct_qlinearmatmul_s8,
}


# ---------------------------------------------------------------------------
# Quantization and reference runs
# ---------------------------------------------------------------------------


class RandomReader(CalibrationDataReader):
    def __init__(self, batches: list[dict[str, np.ndarray]]):
        self.batches = batches
        self.index = 0

    def get_next(self):
        if self.index >= len(self.batches):
            return None
        self.index += 1
        return self.batches[self.index - 1]

    def rewind(self):
        self.index = 0


def make_session(model_path: Path) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])


def run_ort(model_path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return make_session(model_path).run(None, feeds)


def build_float_model(b: GraphBuilder, name: str, out_shapes: list[list[int]] | None) -> onnx.ModelProto:
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in b.inputs]
    outputs = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, out_shapes[i] if out_shapes else None)
        for i, n in enumerate(b.outputs)
    ]
    graph = helper.make_graph(b.nodes, name, inputs, outputs, b.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="dyadic-tools")
    model.ir_version = 8
    if out_shapes is not None:
        onnx.checker.check_model(model, full_check=True)
    return model


def op_types(model: onnx.ModelProto) -> list[str]:
    ops = set()
    for n in model.graph.node:
        ops.add(n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}")
    return sorted(ops)


def output_quant_params(model: onnx.ModelProto) -> list[tuple[float | None, int | None]]:
    """(scale, zero_point) of the DequantizeLinear producing each graph output, else (None, None)."""
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    consts[n.output[0]] = numpy_helper.to_array(a.t)
    producer = {o: n for n in model.graph.node for o in n.output}
    params = []
    for out in model.graph.output:
        n = producer.get(out.name)
        if n is None or n.op_type != "DequantizeLinear":
            params.append((None, None))
            continue
        scale = consts.get(n.input[1])
        zp = consts.get(n.input[2]) if len(n.input) > 2 and n.input[2] else np.array(0)
        if scale is None or scale.size != 1 or zp is None or zp.size != 1:
            params.append((None, None))
            continue
        params.append((float(scale.reshape(())), int(zp.reshape(()))))
    return params


def rel(p: Path) -> str:
    return p.resolve().relative_to(ROOT).as_posix()


def manifest_entry(case_name, variant, model_path, model, input_files, output_files, quantized):
    qparams = output_quant_params(model) if quantized else [(None, None)] * len(model.graph.output)
    return {
        "case": case_name,
        "variant": variant,
        "model": rel(model_path),
        "inputs": [{"name": i.name, "file": rel(f)} for i, f in zip(real_inputs(model), input_files)],
        "outputs": [
            {"name": o.name, "file": rel(f), "scale": s, "zero_point": z}
            for o, f, (s, z) in zip(model.graph.output, output_files, qparams)
        ],
        "ops": op_types(model),
    }


def real_inputs(model: onnx.ModelProto):
    inits = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def save_outputs(case_dir: Path, variant: str, outputs: list[np.ndarray]) -> list[Path]:
    files = []
    for i, y in enumerate(outputs):
        f = case_dir / f"{variant}.output_{i}.npy"
        np.save(f, y)
        files.append(f)
    return files


def quantize_variant(float_path: Path, out_path: Path, calib, fmt, act_type, per_channel: bool) -> None:
    quantize_static(
        str(float_path),
        str(out_path),
        RandomReader(calib),
        quant_format=fmt,
        per_channel=per_channel,
        reduce_range=False,
        activation_type=act_type,
        weight_type=QuantType.QInt8,
    )


def build_case(c: Case, index: int, manifest: list, summary: list, skipped: list) -> None:
    seed = 1000 + index
    b = GraphBuilder(seed)
    c.build(b)
    case_dir = OUT_DIR / c.name
    case_dir.mkdir(parents=True, exist_ok=True)

    data_rng = np.random.default_rng(seed + 500_000)
    test_feeds = {n: data_rng.standard_normal(s).astype(np.float32) for n, s in b.inputs}
    calib = [
        {n: data_rng.standard_normal(s).astype(np.float32) for n, s in b.inputs} for _ in range(CALIBRATION_BATCHES)
    ]

    # Two passes: the first model finds the output shapes, the second records them.
    with tempfile.TemporaryDirectory() as td:
        probe = Path(td) / "probe.onnx"
        onnx.save(build_float_model(b, c.name, None), probe)
        shapes = [list(y.shape) for y in run_ort(probe, test_feeds)]
    float_model = build_float_model(b, c.name, shapes)
    float_path = case_dir / "float.onnx"
    onnx.save(float_model, float_path)

    input_files = []
    for i, (n, _) in enumerate(b.inputs):
        f = case_dir / f"input_{i}.npy"
        np.save(f, test_feeds[n])
        input_files.append(f)

    outs = run_ort(float_path, test_feeds)
    manifest.append(
        manifest_entry(c.name, "float", float_path, float_model, input_files, save_outputs(case_dir, "float", outs), False)
    )
    summary.append((c.name, "float", op_types(float_model)))

    for variant, (fmt, act) in QUANT_VARIANTS.items():
        qpath = case_dir / f"{variant}.onnx"
        try:
            quantize_variant(float_path, qpath, calib, fmt, act, c.per_channel)
        except Exception as e:  # noqa: BLE001
            skipped.append((c.name, variant, f"quantize_static failed: {type(e).__name__}: {e}"))
            qpath.unlink(missing_ok=True)
            continue
        try:
            qmodel = onnx.load(qpath)
            qouts = run_ort(qpath, test_feeds)
        except Exception as e:  # noqa: BLE001
            skipped.append((c.name, variant, f"onnxruntime cannot run it: {type(e).__name__}: {str(e)[-300:]}"))
            qpath.unlink(missing_ok=True)
            continue
        manifest.append(
            manifest_entry(c.name, variant, qpath, qmodel, input_files, save_outputs(case_dir, variant, qouts), True)
        )
        summary.append((c.name, variant, op_types(qmodel)))


def build_direct_case(name: str, fn, index: int, manifest: list, summary: list, skipped: list) -> None:
    rng = np.random.default_rng(2000 + index)
    model, inputs = fn(rng)
    onnx.checker.check_model(model, full_check=True)
    case_dir = OUT_DIR / name
    case_dir.mkdir(parents=True, exist_ok=True)
    path = case_dir / "direct.onnx"
    onnx.save(model, path)
    input_files = []
    feeds = {}
    for i, (vi, x) in enumerate(zip(real_inputs(model), inputs)):
        f = case_dir / f"input_{i}.npy"
        np.save(f, x)
        input_files.append(f)
        feeds[vi.name] = x
    try:
        outs = run_ort(path, feeds)
    except Exception as e:  # noqa: BLE001
        skipped.append((name, "direct", f"onnxruntime cannot run it: {type(e).__name__}: {str(e)[-300:]}"))
        shutil.rmtree(case_dir)
        return
    manifest.append(manifest_entry(name, "direct", path, model, input_files, save_outputs(case_dir, "direct", outs), True))
    summary.append((name, "direct", op_types(model)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="build only these cases (the manifest then lists only them)")
    args = ap.parse_args()

    logging.getLogger().setLevel(logging.ERROR)
    ort.set_default_logger_severity(3)

    if not args.only and OUT_DIR.exists():
        shutil.rmtree(OUT_DIR)
    OUT_DIR.mkdir(parents=True, exist_ok=True)

    manifest: list[dict] = []
    summary: list[tuple[str, str, list[str]]] = []
    skipped: list[tuple[str, str, str]] = []

    for i, c in enumerate(CASES):
        if args.only and c.name not in args.only:
            continue
        print(f"building {c.name}", file=sys.stderr)
        build_case(c, i, manifest, summary, skipped)
    for i, (name, fn) in enumerate(DIRECT_CASES.items()):
        if args.only and name not in args.only:
            continue
        print(f"building {name}", file=sys.stderr)
        build_direct_case(name, fn, i, manifest, summary, skipped)

    with open(OUT_DIR / "manifest.json", "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")

    # -- report ----------------------------------------------------------------
    w_case = max(len(s[0]) for s in summary)
    print(f"\n{'case':<{w_case}}  {'variant':<7}  ops")
    for name, variant, ops in summary:
        print(f"{name:<{w_case}}  {variant:<7}  {' '.join(ops)}")

    if skipped:
        print("\nskipped combinations:")
        for name, variant, why in skipped:
            print(f"  {name} {variant}: {why}")

    qop_ops = sorted({op for _, v, ops in summary if v.startswith("qop") for op in ops})
    print("\nops in QOperator models:", " ".join(qop_ops))
    missing = [op for op in EXPECTED_QOP_OPS if op not in qop_ops]
    if missing:
        print("expected QOperator ops that never appear:", " ".join(missing))

    total = sum(f.stat().st_size for f in OUT_DIR.rglob("*") if f.is_file())
    print(f"\n{len(summary)} models in {len({s[0] for s in summary})} cases, {total / 1024:.0f} KiB under {rel(OUT_DIR)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
