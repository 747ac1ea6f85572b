#!/usr/bin/env python3
"""NumPy reference outputs for the low-bit EfficientNet-Lite0 models.

Two simulators, one per model that tools/quantize_efficientnet_lowbit.py writes:

int4  models/efficientnet-lite0-int4/int4.onnx (INT4 weights, uint8 activations, QDQ).
      The integer arithmetic of Dyadic's default (`dyadic`) numerics, step by step as
      the engine lowers the QDQ graph (Sources/Dyadic/Lowering, kernels/src/ref):
        * input QuantizeLinear: y = sat(rne(float32(x) / float32(scale)) + z);
        * Conv/Gemm + (Relu/Clip) + QuantizeLinear -> one integer layer:
          acc = bias + sum (x - z_x) * w   (exact, then wrapped modulo 2^32 like int32),
          y = clamp(((acc * m + 2^(s-1)) >> s) + z_y, lo, hi), with (m, s) from
          DyadicMultiplier.init(Double(s_x) * Double(s_w[c]) / Double(s_y)) and lo/hi
          the Q range narrowed by a fused Relu/Clip (bounds quantized in float32);
        * Add + QuantizeLinear: both inputs rescaled to the shift of the larger ratio,
          y = clamp(z_y + ((a_mul*(a - z_a) + b_mul*(b - z_b) + 2^(shift-1)) >> shift));
        * GlobalAveragePool + QuantizeLinear: acc = sum (x - z_x) over the window,
          requantized with DyadicMultiplier(Double(s_x) / (Double(s_y) * Double(N)));
        * Flatten moves integers; Q(DQ(x)) with equal parameters is the identity
          (otherwise a dyadic requantization table);
        * final DequantizeLinear in float32: (q - z) * scale.
      Its output must equal `runmodel` (default numerics) bit for bit.

w4a8  models/efficientnet-lite0-int4/w4a8.onnx (INT4 codes -> FP8 E4M3 weights, FP8
      activations). A float64 evaluation of the graph: FP8 activation codes decoded
      exactly, weights s_c * e4m3(q * g) exactly, float64 accumulation, + bias, clamp,
      and every activation QuantizeLinear encoded from float64 (x / scale, round half
      to even, saturate to +-448). The engine accumulates in float32, so it is close to,
      not equal to, this reference.

Usage (from the repository root):
    python3 tools/lowbit_reference.py MODEL.onnx --input X.npy [--output Y.npy]
    python3 tools/lowbit_reference.py --write-references   # all five samples, both models,
                                                           # logits files and manifest.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
SRC = (ROOT / ".." / "shared" / "models" / "efficientnet-lite0").resolve()
OUT = ROOT / "models" / "efficientnet-lite0-int4"
SAMPLES = ["chelsea", "coffee", "astronaut", "rocket", "motorcycle"]

INT_RANGE = {TensorProto.UINT8: (0, 255), TensorProto.INT8: (-128, 127)}


# ---------------------------------------------------------------------------
# Dyadic numerics (Sources/Dyadic/Numerics/DyadicMultiplier.swift)
# ---------------------------------------------------------------------------


def swift_round(v: float) -> float:
    """Swift's Double.rounded(): to nearest, ties away from zero."""
    return math.copysign(math.floor(abs(v) + 0.5), v)


def dyadic_multiplier(real: float) -> tuple[int, int]:
    """DyadicMultiplier.init(_:): m in [2^30, 2^31), right shift s in [1, 62]; (0, 1) for
    zero, non-finite or negligible multipliers; (Int32.max, 1) when s would be < 1."""
    if not math.isfinite(real) or real <= 0:
        return 0, 1
    f, e = math.frexp(real)  # real = f * 2^e, f in [0.5, 1)
    significand, exponent = 2.0 * f, e - 1  # Swift: significand in [1, 2)
    m = swift_round(significand * 1073741824.0)
    s = 30 - exponent
    if m == 2147483648.0:
        m, s = 1073741824.0, s - 1
    if s > 62:
        return 0, 1
    if s < 1:
        return 2147483647, 1
    return int(m), s


def apply_dyadic(acc: np.ndarray, m, s) -> np.ndarray:
    """(acc * m + 2^(s-1)) >> s in int64, arithmetic shift: ties toward +inf.
    m, s may be per-channel arrays broadcast against acc."""
    acc = np.asarray(acc, dtype=np.int64)
    m = np.asarray(m, dtype=np.int64)
    s = np.asarray(s, dtype=np.int64)
    # |acc| < 2^31 and m < 2^31: the product stays below 2^62, exact in int64.
    return (acc * m + (np.int64(1) << (s - 1))) >> s


def wrap_int32(v: np.ndarray) -> np.ndarray:
    return ((np.asarray(v, dtype=np.int64) + 2**31) & 0xFFFFFFFF) - 2**31


def quantize_f32(x, scale: np.float32, zp: int, lo: int, hi: int) -> np.ndarray:
    """QuantizeLinear as ONNX Runtime and Dyadic compute it: float32 division, round
    half to even, + zero point, saturate (NaN gives the minimum)."""
    v = np.asarray(x, dtype=np.float32) / np.float32(scale)
    q = np.rint(v).astype(np.float64) + zp
    q = np.where(np.isnan(q), lo, q)
    return np.clip(q, lo, hi).astype(np.int64)


# ---------------------------------------------------------------------------
# Graph walking helpers
# ---------------------------------------------------------------------------


class Deq:
    """The dequantization of integer codes: real = scale * (q - zp)."""

    def __init__(self, codes: np.ndarray, scale: np.ndarray, zp: np.ndarray, dtype: int, const: bool):
        self.codes, self.scale, self.zp, self.dtype, self.const = codes, scale, zp, dtype, const

    @property
    def per_tensor(self) -> bool:
        return self.scale.size == 1


def attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def initializers(model) -> dict[str, tuple[np.ndarray, int]]:
    out = {}
    for t in model.graph.initializer:
        a = numpy_helper.to_array(t)
        if t.data_type in (TensorProto.INT4, TensorProto.UINT4, TensorProto.INT8, TensorProto.UINT8,
                           TensorProto.INT32):
            a = a.astype(np.int64)
        out[t.name] = (a, t.data_type)
    return out


def conv_nchw(x: np.ndarray, w: np.ndarray, a: dict) -> np.ndarray:
    """Convolution of NCHW x with OIHW w (explicit pads; groups 1 or depthwise), padding
    holding 0. Integer inputs (zero-point-corrected codes) give exact int64 sums;
    float inputs give float64 sums."""
    integer = np.issubdtype(x.dtype, np.integer)
    n, c, h, wi = x.shape
    o, cpg, kh, kw = w.shape
    group = a.get("group", 1)
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise ValueError("auto_pad is not simulated")
    if any(d != 1 for d in a.get("dilations", [1, 1])):
        raise ValueError("dilations are not simulated")
    pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
    sh, sw = a.get("strides", [1, 1])
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    ho, wo = (h + pt + pb - kh) // sh + 1, (wi + pl + pr - kw) // sw + 1
    taps = [xp[:, :, ky:ky + sh * (ho - 1) + 1:sh, kx:kx + sw * (wo - 1) + 1:sw] for ky in range(kh) for kx in range(kw)]
    if group == 1:
        cols = np.stack(taps, axis=2).reshape(n, c * kh * kw, ho * wo)  # [c][ky][kx], as OIHW
        wm = w.reshape(o, c * kh * kw)
        acc = np.einsum("ok,nkp->nop", wm.astype(np.float64), cols.astype(np.float64), optimize=True)
        acc = acc.reshape(n, o, ho, wo)
        # Integer sums stay far below 2^53 (|x - z| <= 255, |w| <= 128, K <= 2^11): exact.
        return np.rint(acc).astype(np.int64) if integer else acc
    if group == c and cpg == 1 and o == c:
        acc = np.zeros((n, o, ho, wo), dtype=np.int64 if integer else np.float64)
        for t, (ky, kx) in enumerate((ky, kx) for ky in range(kh) for kx in range(kw)):
            acc += taps[t] * w[:, 0, ky, kx][None, :, None, None]
        return acc
    raise ValueError(f"group {group} is not simulated")


# ---------------------------------------------------------------------------
# INT4 (integer) simulator
# ---------------------------------------------------------------------------


class IntegerSimulator:
    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.nodes = list(model.graph.node)
        self.inits = initializers(model)
        self.consumers: dict[str, list[int]] = {}
        for i, n in enumerate(self.nodes):
            for name in n.input:
                if name:
                    self.consumers.setdefault(name, []).append(i)
        self.outputs = {o.name for o in model.graph.output}

    def const(self, name: str) -> np.ndarray | None:
        return self.inits[name][0] if name in self.inits else None

    def qparams(self, node, scale_index: int = 1):
        scale = self.const(node.input[scale_index]).astype(np.float32)
        zp_name = node.input[scale_index + 1] if len(node.input) > scale_index + 1 else ""
        if zp_name:
            zp, dtype = self.inits[zp_name]
        else:
            zp, dtype = np.zeros(1, np.int64), TensorProto.UINT8
        return scale.reshape(-1), np.broadcast_to(zp.reshape(-1), scale.reshape(-1).shape).astype(np.int64), dtype

    def output_quantization(self, name: str):
        """Relu/Clip ... QuantizeLinear chain after `name` (Lowering.outputQuantization)."""
        current, absorbed = name, []
        low, high = -np.inf, np.inf
        while True:
            users = self.consumers.get(current, [])
            if current in self.outputs or len(users) != 1:
                return None
            i = users[0]
            node = self.nodes[i]
            if node.input[0] != current:
                return None
            if node.op_type == "Relu":
                low = max(low, 0.0)
            elif node.op_type == "Clip":
                if len(node.input) > 1 and node.input[1]:
                    low = max(low, float(np.float32(self.const(node.input[1]).reshape(-1)[0])))
                if len(node.input) > 2 and node.input[2]:
                    high = min(high, float(np.float32(self.const(node.input[2]).reshape(-1)[0])))
            elif node.op_type == "QuantizeLinear":
                scale, zp, dtype = self.qparams(node)
                assert scale.size == 1
                lo, hi = INT_RANGE[dtype]
                qmin, qmax = lo, hi
                if low > -np.inf:
                    qmin = max(qmin, int(quantize_f32(np.float32(low), scale[0], int(zp[0]), lo, hi)))
                if high < np.inf:
                    qmax = min(qmax, int(quantize_f32(np.float32(high), scale[0], int(zp[0]), lo, hi)))
                qmax = min(max(qmax, qmin), hi)
                return dict(name=node.output[0], scale=scale, zp=zp, dtype=dtype, qmin=qmin, qmax=qmax,
                            nodes=absorbed + [i])
            else:
                return None
            absorbed.append(i)
            current = node.output[0]

    def run(self, feeds: dict[str, np.ndarray], trace: dict | None = None) -> dict[str, np.ndarray]:
        env: dict[str, object] = dict(feeds)
        absorbed: set[int] = set()
        for i, node in enumerate(self.nodes):
            if i in absorbed:
                continue
            op = node.op_type
            if op == "DequantizeLinear":
                a = attrs(node)
                if a.get("block_size", 0):
                    raise ValueError(f"{node.name}: blocked scales are not integer-only")
                scale, zp, _ = self.qparams(node)
                base = node.input[0]
                if base in self.inits:
                    codes, dtype = self.inits[base]
                    env[node.output[0]] = Deq(codes, scale, zp, dtype, const=True)
                else:
                    codes, dtype = env[base]
                    env[node.output[0]] = Deq(codes, scale, zp, dtype, const=False)
            elif op == "QuantizeLinear":
                scale, zp, dtype = self.qparams(node)
                lo, hi = INT_RANGE[dtype]
                x = env[node.input[0]]
                if isinstance(x, Deq):
                    if x.scale[0] == scale[0] and x.zp[0] == zp[0] and x.dtype == dtype:
                        env[node.output[0]] = (x.codes, dtype)
                    else:  # requantization table, dyadic
                        m, s = dyadic_multiplier(float(x.scale[0]) / float(scale[0]))
                        y = apply_dyadic(x.codes - x.zp[0], m, s) + zp[0]
                        env[node.output[0]] = (np.clip(y, lo, hi), dtype)
                else:
                    env[node.output[0]] = (quantize_f32(x, scale[0], int(zp[0]), lo, hi), dtype)
            elif op in ("Conv", "Gemm"):
                absorbed |= self.matrix_product(node, env)
            elif op == "Add":
                absorbed |= self.add(node, env)
            elif op == "GlobalAveragePool":
                absorbed |= self.global_average_pool(node, env)
            elif op == "Flatten":
                x = env[node.input[0]]
                axis = attrs(node).get("axis", 1)
                shape = x.codes.shape
                new = (int(np.prod(shape[:axis])), int(np.prod(shape[axis:])))
                env[node.output[0]] = Deq(x.codes.reshape(new), x.scale, x.zp, x.dtype, const=False)
            else:
                raise ValueError(f"{node.name}: {op} is not simulated")
            if trace is not None:
                for o in node.output:
                    if o in env and isinstance(env[o], tuple):
                        trace[o] = env[o][0]
        result = {}
        for o in self.model.graph.output:
            x = env[o.name]
            assert isinstance(x, Deq) and x.per_tensor
            result[o.name] = (x.codes.astype(np.int64) - x.zp[0]).astype(np.float32) * np.float32(x.scale[0])
        return result

    def matrix_product(self, node, env) -> set[int]:
        x, w = env[node.input[0]], env[node.input[1]]
        out = self.output_quantization(node.output[0])
        if not (isinstance(x, Deq) and not x.const and x.per_tensor and isinstance(w, Deq) and w.const and out):
            raise ValueError(f"{node.name}: not an integer pattern")
        a = attrs(node)
        # Symmetric weights: codes minus the per-output-channel zero point (axis 0).
        wq = w.codes - w.zp.reshape((-1,) + (1,) * (w.codes.ndim - 1))
        if node.op_type == "Gemm":
            assert a.get("transA", 0) == 0 and a.get("alpha", 1.0) == 1.0 and a.get("beta", 1.0) == 1.0
            if not a.get("transB", 0):
                wq = wq.T
        w_scales = w.scale
        channels = wq.shape[0]
        if not (-128 <= wq.min() and wq.max() <= 127):
            raise ValueError(f"{node.name}: weights leave int8")
        bias = np.zeros(channels, np.int64)
        if len(node.input) > 2 and node.input[2]:
            b = env.get(node.input[2], self.const(node.input[2]))
            if isinstance(b, Deq):
                assert b.dtype == TensorProto.INT32
                bias = b.codes.reshape(-1)
            else:  # float bias, quantized at load (MatrixProducts.int32Bias)
                f = np.asarray(b, np.float32).reshape(-1)
                sc = [float(x.scale[0]) * float(w_scales[0 if w_scales.size == 1 else i]) for i in range(channels)]
                bias = np.array([0 if s == 0 else int(np.clip(np.rint(float(f[i]) / s), -2**31, 2**31 - 1))
                                 for i, s in enumerate(sc)], np.int64)
        xz = x.codes - x.zp[0]
        if node.op_type == "Conv":
            acc = conv_nchw(xz, wq, a)
            cshape = (1, channels, 1, 1)
        else:
            acc = np.rint(xz.astype(np.float64) @ wq.T.astype(np.float64)).astype(np.int64)
            cshape = (1, channels)
        acc = wrap_int32(acc + bias.reshape(cshape))
        ms = [dyadic_multiplier(float(x.scale[0]) * float(ws) / float(out["scale"][0]))
              for ws in np.broadcast_to(w_scales, (channels,))]
        m = np.array([p[0] for p in ms], np.int64).reshape(cshape)
        s = np.array([p[1] for p in ms], np.int64).reshape(cshape)
        y = np.clip(apply_dyadic(acc, m, s) + out["zp"][0], out["qmin"], out["qmax"])
        env[out["name"]] = (y, out["dtype"])
        return set(out["nodes"])

    def add(self, node, env) -> set[int]:
        a, b = env[node.input[0]], env[node.input[1]]
        out = self.output_quantization(node.output[0])
        if not (isinstance(a, Deq) and isinstance(b, Deq) and out):
            raise ValueError(f"{node.name}: not an integer pattern")
        assert a.codes.shape == b.codes.shape
        sa, sb, sy = float(a.scale[0]), float(b.scale[0]), float(out["scale"][0])
        ra, rb = sa / sy, sb / sy
        _, shift = dyadic_multiplier(max(ra, rb))
        scale = 2.0 ** shift
        clamp32 = lambda v: int(min(max(v, -2**31), 2**31 - 1))
        a_mul, b_mul = clamp32(swift_round(ra * scale)), clamp32(swift_round(rb * scale))
        acc = a_mul * (a.codes - a.zp[0]) + b_mul * (b.codes - b.zp[0])  # < 2^41
        y = ((acc + (np.int64(1) << (shift - 1))) >> shift) + out["zp"][0]
        env[out["name"]] = (np.clip(y, out["qmin"], out["qmax"]), out["dtype"])
        return set(out["nodes"])

    def global_average_pool(self, node, env) -> set[int]:
        x = env[node.input[0]]
        out = self.output_quantization(node.output[0])
        if not (isinstance(x, Deq) and out):
            raise ValueError(f"{node.name}: not an integer pattern")
        n, c, h, w = x.codes.shape
        count = h * w
        acc = (x.codes - x.zp[0]).sum(axis=(2, 3), keepdims=True)
        m, s = dyadic_multiplier(float(x.scale[0]) / (float(out["scale"][0]) * float(count)))
        y = np.clip(apply_dyadic(acc, m, s) + out["zp"][0], out["qmin"], out["qmax"])
        env[out["name"]] = (y, out["dtype"])
        return set(out["nodes"])


def run_int4(model_path: Path, x: np.ndarray, trace: dict | None = None) -> np.ndarray:
    model = onnx.load(model_path)
    name = model.graph.input[0].name
    (y,) = IntegerSimulator(model).run({name: x}, trace).values()
    return y


# ---------------------------------------------------------------------------
# FP8 E4M3FN (bias 7, max 448, no infinities) and the W4A8 (float64) simulator
# ---------------------------------------------------------------------------


def e4m3(v) -> np.ndarray:
    """The E4M3FN value nearest to v (float64 in, one rounding): round half to even,
    |v| beyond 448 (and +-inf) saturates to +-448 (QuantizeLinear's saturate=1), NaN
    stays NaN. Returned as float64 (every E4M3 value is exact there)."""
    v = np.asarray(v, dtype=np.float64)
    a = np.abs(v)
    with np.errstate(invalid="ignore", over="ignore"):
        _, e = np.frexp(a)  # a = f * 2^e, f in [0.5, 1): a's binade is 2^(e-1)
        quantum = np.ldexp(1.0, np.maximum(e - 1, -6) - 3)  # 3 mantissa bits; subnormal step 2^-9
        r = np.minimum(np.rint(a / quantum) * quantum, 448.0)
    r = np.where(np.isnan(a), np.nan, r)
    return np.copysign(r, v)


def e4m3_values(arr: np.ndarray) -> np.ndarray:
    """Decodes an FP8 E4M3FN array from numpy_helper (ml_dtypes) exactly."""
    return np.asarray(arr).astype(np.float32).astype(np.float64)


class FloatSimulator:
    """float64 evaluation of a Q/DQ graph with FP8 activations and INT4 -> FP8 weights."""

    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.types = {t.name: t.data_type for t in model.graph.initializer}
        self.inits = {}
        for t in model.graph.initializer:
            a = numpy_helper.to_array(t)
            if t.data_type == TensorProto.FLOAT8E4M3FN:
                a = e4m3_values(a)
            elif t.data_type in (TensorProto.INT4, TensorProto.UINT4, TensorProto.INT8, TensorProto.UINT8,
                                 TensorProto.INT32, TensorProto.INT64):
                a = a.astype(np.int64)
            else:
                a = a.astype(np.float64)
            self.inits[t.name] = a

    @staticmethod
    def expand(param: np.ndarray, shape: tuple, axis: int, block: int) -> np.ndarray:
        """Per-tensor, per-axis or blocked (opset 21) parameters broadcast to `shape`."""
        if param.size == 1:
            return param.reshape(())
        if block:
            return np.repeat(param, block, axis=axis)[tuple(slice(0, d) for d in shape)]
        return param.reshape([-1 if d == axis else 1 for d in range(len(shape))])

    def run(self, feeds: dict[str, np.ndarray], trace: dict | None = None) -> dict[str, np.ndarray]:
        env: dict[str, np.ndarray] = {k: np.asarray(v, np.float64) for k, v in feeds.items()}
        env.update(self.inits)
        fp8: set[str] = {k for k, t in self.types.items() if t == TensorProto.FLOAT8E4M3FN}
        for node in self.model.graph.node:
            a = attrs(node)
            ins = [env[n] if n else None for n in node.input]
            op = node.op_type
            if op == "QuantizeLinear":
                zp_type = self.types.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
                if zp_type != TensorProto.FLOAT8E4M3FN or a.get("saturate", 1) != 1:
                    raise ValueError(f"{node.name}: only saturating FP8 QuantizeLinear is simulated")
                x, scale = ins[0], ins[1]
                assert not ins[2].any(), "FP8 zero point must be 0"
                axis = a.get("axis", 1) % max(x.ndim, 1)
                y = e4m3(x / self.expand(scale, x.shape, axis, a.get("block_size", 0)))
                fp8.add(node.output[0])
            elif op == "DequantizeLinear":
                x, scale = ins[0], ins[1]
                zp = ins[2] if len(ins) > 2 and ins[2] is not None else np.zeros(1)
                axis = a.get("axis", 1) % max(x.ndim, 1)
                block = a.get("block_size", 0)
                y = (x - self.expand(zp, x.shape, axis, block)) * self.expand(scale, x.shape, axis, block)
            elif op == "Conv":
                y = conv_nchw(ins[0], ins[1], a)
                if len(ins) > 2 and ins[2] is not None:
                    y = y + ins[2].reshape(1, -1, 1, 1)
            elif op == "Gemm":
                assert a.get("transA", 0) == 0 and a.get("alpha", 1.0) == 1.0 and a.get("beta", 1.0) == 1.0
                w = ins[1].T if a.get("transB", 0) else ins[1]
                y = ins[0] @ w
                if len(ins) > 2 and ins[2] is not None:
                    y = y + ins[2]
            elif op == "Clip":
                y = ins[0]
                if len(ins) > 1 and ins[1] is not None:
                    y = np.maximum(y, ins[1])
                if len(ins) > 2 and ins[2] is not None:
                    y = np.minimum(y, ins[2])
            elif op == "Relu":
                y = np.maximum(ins[0], 0.0)
            elif op == "Add":
                y = ins[0] + ins[1]
            elif op == "GlobalAveragePool":
                y = ins[0].mean(axis=(2, 3), keepdims=True)
            elif op == "Flatten":
                ax = a.get("axis", 1)
                y = ins[0].reshape(int(np.prod(ins[0].shape[:ax])), -1)
            else:
                raise ValueError(f"{node.name}: {op} is not simulated")
            env[node.output[0]] = y
            if trace is not None:
                trace[node.output[0]] = y
        return {o.name: env[o.name] for o in self.model.graph.output}


def run_w4a8(model_path: Path, x: np.ndarray, trace: dict | None = None) -> np.ndarray:
    model = onnx.load(model_path)
    name = model.graph.input[0].name
    (y,) = FloatSimulator(model).run({name: x}, trace).values()
    return y


# ---------------------------------------------------------------------------
# Reference files, comparison, command line
# ---------------------------------------------------------------------------


def rel(p: Path) -> str:
    return Path(os.path.relpath(p.resolve(), ROOT)).as_posix()


def final_dequantize(model: onnx.ModelProto) -> tuple[float | None, int | None]:
    """Scale and zero point of the DequantizeLinear that produces the output, if any."""
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    n = producer.get(model.graph.output[0].name)
    if n is None or n.op_type != "DequantizeLinear":
        return None, None
    zp = int(consts[n.input[2]].reshape(())) if len(n.input) > 2 and n.input[2] else 0
    return float(consts[n.input[1]].reshape(())), zp


def op_types(model: onnx.ModelProto) -> list[str]:
    return sorted({n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}" for n in model.graph.node})


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def run_runmodel(binary: Path, model: Path, x_file: Path) -> np.ndarray:
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as td:
        subprocess.run([str(binary), str(model), "--input", f"input={x_file}", "--output-dir", td],
                       check=True, capture_output=True)
        return np.load(Path(td) / "logits.npy")


def write_references(runmodel: Path | None = None) -> bool:
    """Logits of both models on the five samples, manifest.json, and the comparison with
    the float model (and, given a runmodel binary, the bit-exact check of int4)."""
    labels = (SRC / "labels.txt").read_text().splitlines()
    simulators = {"int4": run_int4, "w4a8": run_w4a8}
    manifest, rows, exact = [], [], True
    for variant, run in simulators.items():
        path = OUT / f"{variant}.onnx"
        model = onnx.load(path)
        scale, zp = final_dequantize(model)
        for s in SAMPLES:
            x_file = SRC / "samples" / f"{s}.npy"
            y = run(path, np.load(x_file)).astype(np.float32)
            out_file = OUT / f"{variant}.{s}.logits.npy"
            np.save(out_file, y)
            f = np.load(SRC / "samples" / f"{s}.logits.npy")
            row = [variant, s, int(f.argmax()), int(y.argmax()), cosine(y, f), float(np.abs(y - f).max())]
            if runmodel is not None and variant == "int4":
                e = run_runmodel(runmodel, path, x_file)
                same = e.dtype == y.dtype and np.array_equal(e.view(np.uint32), y.view(np.uint32))
                exact &= same
                row.append("bit-exact" if same else f"DIFFERS ({int(np.sum(e != y))} of {y.size})")
            rows.append(row)
            manifest.append({
                "case": f"efficientnet-lite0.{s}",
                "variant": variant,
                "model": rel(path),
                "inputs": [{"name": "input", "file": rel(x_file)}],
                "outputs": [{"name": "logits", "file": rel(out_file), "scale": scale, "zero_point": zp}],
                "ops": op_types(model),
            })
    with open(OUT / "manifest.json", "w") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")

    print(f"{'model':<6} {'sample':<11} {'float top-1':<26} {'reference top-1':<26} {'cosine':>8} {'max|diff|':>9}"
          + ("  runmodel" if runmodel else ""))
    for variant in simulators:
        agree = 0
        for r in (r for r in rows if r[0] == variant):
            _, s, fk, yk, cos, md = r[:6]
            agree += fk == yk
            print(f"{variant:<6} {s:<11} {fk:>3} {labels[fk][:21]:<22} {yk:>3} {labels[yk][:21]:<22} {cos:8.5f} {md:9.4f}"
                  + (f"  {r[6]}" if len(r) > 6 else ""))
        print(f"{variant}: top-1 equals the float model's on {agree}/{len(SAMPLES)} samples")
    return exact


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", type=Path, help="int4.onnx or w4a8.onnx (or a model of the same form)")
    ap.add_argument("--input", type=Path, help="input tensor .npy (float32 [1,3,224,224])")
    ap.add_argument("--output", type=Path, help="write the logits here (.npy)")
    ap.add_argument("--mode", choices=["int4", "w4a8"], help="default: from the model's weights (FP8 -> w4a8)")
    ap.add_argument("--write-references", action="store_true",
                    help="write models/efficientnet-lite0-int4/{int4,w4a8}.<sample>.logits.npy and manifest.json")
    ap.add_argument("--runmodel", type=Path, help="with --write-references: check int4 against this runmodel binary")
    args = ap.parse_args()
    if args.write_references:
        return 0 if write_references(args.runmodel) else 1
    if args.model is None or args.input is None:
        ap.error("give MODEL and --input, or --write-references")
    model = onnx.load(args.model)
    mode = args.mode or ("w4a8" if any(t.data_type == TensorProto.FLOAT8E4M3FN for t in model.graph.initializer)
                         else "int4")
    x = np.load(args.input)
    y = (run_w4a8 if mode == "w4a8" else run_int4)(args.model, x).astype(np.float32)
    if args.output:
        np.save(args.output, y)
    top = np.argsort(-y.ravel())[:5]
    print(f"{mode}: top-5 {top.tolist()} logits {y.ravel()[top].round(4).tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
