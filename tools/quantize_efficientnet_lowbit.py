#!/usr/bin/env python3
"""Quantize EfficientNet-Lite0 with 4-bit weights: an INT4 model and a W4A8-FP8 model.

Input:  ../shared/models/efficientnet-lite0/model.onnx (float, opset 13; converted to
        opset 21, the first with INT4 and blocked Q/DQ, before quantizing).
Output: models/efficientnet-lite0-int4/
  int4.onnx  ONNX Runtime's quantize_static, QuantFormat.QDQ: uint8 asymmetric
             activations, INT4 symmetric per-output-channel weights on every Conv and
             the Gemm (scale 2*max|w|/15 per channel, codes [-8, 7]: ORT's symmetric
             INT4 rule), int32 biases at scale s_x*s_w[c]. Weights packed two per byte.
  w4a8.onnx  DPQ-style W4A8 with FP8 E4M3 compute, built here from the same float model
             and the same calibration ranges (see the README for the representation):
               activation  Q -> DQ, per-tensor scale max|x|/448, FLOAT8E4M3FN zero point 0
               weight      W_int4 -> DQ(g) -> Q(1.0, FP8) -> DQ(s_c, axis 0) -> Conv/Gemm,
                           i.e. w = s_c * e4m3(q * g)
             per-channel form (g = 1) for the stem and the depthwise convolutions, blocks
             of 32 input channels with a searched g for the 1x1 convolutions and the FC.
  plus the reference logits, manifest.json (tools/lowbit_reference.py --write-references,
  called at the end) and an ONNX Runtime sanity report on the five samples.

Calibration: exactly tools/quantize_efficientnet.py's (imported): 48 tensors from 12 real
photos that are not evaluation samples, MinMax with CalibStridedMinMax, so int4.onnx has
the activation scales of models/efficientnet-lite0-int8/qdq.onnx. The W4A8 scales come
from the same calibration ranges (max(|lowest|, |highest|) / 448).

W4A8 group scales: s_c = max|w_c| / 7 per output channel. For each block of 32 input
channels, g is chosen among the E4M3 values in [1/8, 1] (25 candidates). For a candidate
the block's 16 codes map to the table T[q] = e4m3(q * g); every weight takes the code
whose s_c * T[q] is nearest, and the g with the smallest squared error wins. Restricting g
to E4M3 values keeps q * g exact in float32 (4-bit by 4-bit significands), so the only
rounding in the weight chain is the FP8 cast itself, the same in ONNX Runtime, Dyadic
and the reference; g below 1/8 would only shrink a block that is already below one
channel step. Powers of two among the candidates give exact (uniform) tables; the others
trade uniformity for a range that fits the block, and the error decides.

Deterministic. Usage (from the repository root):
    python3 tools/quantize_efficientnet_lowbit.py [--runmodel .build/release/runmodel]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, version_converter

import onnxruntime as ort
from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lowbit_reference as ref  # noqa: E402
import quantize_efficientnet as q8  # noqa: E402
from make_lowbit_models import int4_tensor  # noqa: E402

ROOT = q8.ROOT
SRC = q8.SRC
OUT = ROOT / "models" / "efficientnet-lite0-int4"
OPSET = 21
FP8_MAX = 448.0
BLOCK = 32
# E4M3 values in [1/8, 1]: 1.mmm * 2^e for e = -3..-1, and 1.
G_CANDIDATES = np.array(sorted({(1 + m / 8) * 2.0**e for e in (-3, -2, -1) for m in range(8)} | {1.0}))


# ---------------------------------------------------------------------------
# INT4 with ONNX Runtime
# ---------------------------------------------------------------------------


def quantize_int4(float21: Path, out: Path, cache: Path, tensors: list[np.ndarray]) -> None:
    quantize_static(
        str(float21),
        str(out),
        q8.TensorReader(tensors, "input"),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        reduce_range=False,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt4,
        extra_options={"CalibStridedMinMax": q8.CALIBRATION_STRIDE},
        calibration_cache_path=str(cache),
    )
    model = onnx.load(out)
    # Every Conv and the Gemm must read INT4 weights (nothing left in float or int8).
    inits = {t.name: t for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    for n in model.graph.node:
        if n.op_type in ("Conv", "Gemm"):
            dq = producer[n.input[1]]
            assert dq.op_type == "DequantizeLinear" and inits[dq.input[0]].data_type == TensorProto.INT4, n.name


def calibration_ranges(cache: Path) -> dict[str, float]:
    """max(|lowest|, |highest|) per tensor from ORT's calibration cache."""
    data = json.loads(cache.read_text())["data"]
    return {name: max(abs(float(r["lowest"]["data"][0])), abs(float(r["highest"]["data"][0])))
            for name, r in data.items()}


# ---------------------------------------------------------------------------
# W4A8-FP8
# ---------------------------------------------------------------------------


def per_channel_codes(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """g = 1: q = clip(rne(w / s_c), -8, 7), s_c = max|w_c| / 7 (1.0 for an all-zero channel)."""
    amax = np.abs(w.reshape(w.shape[0], -1)).max(axis=1).astype(np.float64)
    s = np.where(amax > 0, amax / 7.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / s.astype(np.float64).reshape((-1,) + (1,) * (w.ndim - 1))), -8, 7).astype(np.int64)
    return q, s


def grouped_codes(w2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[O, K] weights -> codes [O, K], channel scales s [O], group scales g [O, ceil(K/32)].
    See the module docstring for the search."""
    o, k = w2.shape
    groups = -(-k // BLOCK)
    amax = np.abs(w2).max(axis=1).astype(np.float64)
    s = np.where(amax > 0, amax / 7.0, 1.0).astype(np.float32)
    # The weights in units of the channel scale, padded to whole blocks with zeros
    # (0 is always a table entry, so padding adds no error).
    u = np.zeros((o, groups * BLOCK))
    u[:, :k] = w2 / s.astype(np.float64)[:, None]
    u = u.reshape(o, groups, BLOCK)
    codes = np.arange(-8, 8)
    best_err = np.full((o, groups), np.inf)
    best_q = np.zeros((o, groups, BLOCK), np.int64)
    best_g = np.zeros((o, groups))
    for g in G_CANDIDATES[::-1]:  # from 1 down: on equal error the larger g stays
        table = ref.e4m3(codes * g)  # non-decreasing in q
        # Nearest table entry: look at the two neighbours of u's insertion point.
        hi = np.clip(np.searchsorted(table, u, side="left"), 1, 15)
        lo = hi - 1
        pick = np.where(np.abs(table[hi] - u) < np.abs(u - table[lo]), hi, lo)
        err = ((table[pick] - u) ** 2).sum(axis=2)
        better = err < best_err
        best_err = np.where(better, err, best_err)
        best_q = np.where(better[..., None], codes[pick], best_q)
        best_g = np.where(better, g, best_g)
    return best_q.reshape(o, groups * BLOCK)[:, :k], s, best_g.astype(np.float32)


def build_w4a8(float21: Path, ranges: dict[str, float], out: Path) -> dict:
    model = onnx.load(float21)
    graph = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    quantized_inputs = {
        "Conv": [0], "Gemm": [0], "Add": [0, 1], "GlobalAveragePool": [0], "AveragePool": [0], "MaxPool": [0],
        "Flatten": [0],
    }
    # Activation tensors that feed a conv / FC / add / pool / flatten, in first-use order
    # (the pooled features are quantized where they are made, as for the int8 model).
    acts: list[str] = []
    for n in graph.node:
        for i in quantized_inputs.get(n.op_type, []):
            if n.input[i] not in inits and n.input[i] not in acts:
                acts.append(n.input[i])

    new_inits: list[onnx.TensorProto] = [
        helper.make_tensor("fp8_zero", TensorProto.FLOAT8E4M3FN, [], [0]),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
    ]
    rename: dict[str, str] = {}
    act_nodes: dict[str, list[onnx.NodeProto]] = {}
    scales = {}
    for a in acts:
        amax = ranges.get(a)
        if amax is None and a == "flat":
            amax = ranges["gap"]  # Flatten moves values: the same range
        if amax is None:
            raise KeyError(f"no calibration range for {a}")
        scale = np.float32(amax / FP8_MAX) if amax > 0 else np.float32(1.0)
        scales[a] = float(scale)
        new_inits.append(numpy_helper.from_array(np.array(scale, np.float32), f"{a}_scale"))
        act_nodes[a] = [
            helper.make_node("QuantizeLinear", [a, f"{a}_scale", "fp8_zero"], [f"{a}_fp8"], name=f"{a}_QuantizeLinear"),
            helper.make_node("DequantizeLinear", [f"{a}_fp8", f"{a}_scale", "fp8_zero"], [f"{a}_dq"],
                             name=f"{a}_DequantizeLinear"),
        ]
        rename[a] = f"{a}_dq"

    weight_nodes: list[onnx.NodeProto] = []
    dropped: set[str] = set()
    forms = {}
    for n in graph.node:
        if n.op_type not in ("Conv", "Gemm"):
            continue
        wname = n.input[1]
        w = inits[wname].astype(np.float64)
        if n.op_type == "Gemm":
            a = {x.name: helper.get_attribute_value(x) for x in n.attribute}
            assert a.get("transB", 0) == 1, "FC weights are expected as [N, K]"
        group = next((helper.get_attribute_value(x) for x in n.attribute if x.name == "group"), 1)
        grouped = n.op_type == "Gemm" or (w.ndim == 4 and w.shape[2:] == (1, 1) and group == 1)
        if grouped:
            q2, s, g = grouped_codes(w.reshape(w.shape[0], -1))
            q = q2.reshape(w.shape)
            g_shape = [w.shape[0], g.shape[1]] + [1] * (w.ndim - 2)
            new_inits.append(numpy_helper.from_array(g.reshape(g_shape), f"{wname}_g"))
            dq1 = helper.make_node("DequantizeLinear", [f"{wname}_int4", f"{wname}_g"], [f"{wname}_qg"],
                                   name=f"{wname}_DequantizeLinear_g", axis=1, block_size=BLOCK)
            forms[n.name] = "grouped"
        else:
            q, s = per_channel_codes(w)
            dq1 = helper.make_node("DequantizeLinear", [f"{wname}_int4", "one"], [f"{wname}_qg"],
                                   name=f"{wname}_DequantizeLinear_g")
            forms[n.name] = "per-channel"
        new_inits.append(int4_tensor(f"{wname}_int4", q, True))
        new_inits.append(numpy_helper.from_array(s, f"{wname}_scale"))
        weight_nodes += [
            dq1,
            helper.make_node("QuantizeLinear", [f"{wname}_qg", "one", "fp8_zero"], [f"{wname}_fp8"],
                             name=f"{wname}_QuantizeLinear_fp8"),
            helper.make_node("DequantizeLinear", [f"{wname}_fp8", f"{wname}_scale"], [wname],
                             name=f"{wname}_DequantizeLinear", axis=0),
        ]
        dropped.add(wname)

    nodes: list[onnx.NodeProto] = list(weight_nodes)
    for a in acts:
        if a in [i.name for i in graph.input]:
            nodes += act_nodes[a]
    for n in graph.node:
        n = onnx.NodeProto.FromString(n.SerializeToString())
        for i, name in enumerate(n.input):
            if name in rename:
                n.input[i] = rename[name]
        nodes.append(n)
        for o in n.output:
            if o in act_nodes:
                nodes += act_nodes[o]

    kept = [t for t in graph.initializer if t.name not in dropped]
    new_graph = helper.make_graph(nodes, graph.name, list(graph.input), list(graph.output), kept + new_inits)
    w4a8 = helper.make_model(new_graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=10,
                             producer_name="dyadic tools/quantize_efficientnet_lowbit.py")
    onnx.checker.check_model(w4a8, full_check=True)
    onnx.save(w4a8, out)
    return {"activations": scales, "forms": forms}


# ---------------------------------------------------------------------------


def ort_logits(path: Path, x: np.ndarray, optimize: bool = True) -> np.ndarray:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    if not optimize:
        # Unoptimized, ONNX Runtime computes what the graph says (optimized, it would try
        # to fuse the FP8 Q/DQ pairs into kernels it does not have).
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {"input": x})
    return y


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runmodel", type=Path,
                    help="also check that this runmodel binary reproduces the int4 references bit for bit")
    args = ap.parse_args()
    logging.getLogger().setLevel(logging.ERROR)
    ort.set_default_logger_severity(3)
    OUT.mkdir(parents=True, exist_ok=True)

    print("calibration set:")
    tensors = q8.calibration_tensors()
    print(f"  {len(tensors)} tensors")

    with tempfile.TemporaryDirectory() as td:
        float21 = Path(td) / "float21.onnx"
        onnx.save(version_converter.convert_version(onnx.load(SRC / "model.onnx"), OPSET), float21)
        cache = Path(td) / "ranges.json"
        print(f"quantizing {q8.rel(OUT / 'int4.onnx')} (ONNX Runtime, INT4 weights)")
        quantize_int4(float21, OUT / "int4.onnx", cache, tensors)
        print(f"building {q8.rel(OUT / 'w4a8.onnx')} (W4A8-FP8)")
        info = build_w4a8(float21, calibration_ranges(cache), OUT / "w4a8.onnx")
    forms = list(info["forms"].values())
    print(f"  {len(info['activations'])} FP8 activations; weights: {forms.count('grouped')} grouped, "
          f"{forms.count('per-channel')} per-channel")

    labels = (SRC / "labels.txt").read_text().splitlines()
    print("\nONNX Runtime (sanity check; the references are tools/lowbit_reference.py):")
    print(f"{'sample':<11} {'float top-1':<26} {'int4 ORT top-1':<26} {'w4a8 ORT top-1':<26}")
    for s in q8.SAMPLES:
        x = np.load(SRC / "samples" / f"{s}.npy")
        f = int(np.load(SRC / "samples" / f"{s}.logits.npy").argmax())
        a = int(ort_logits(OUT / "int4.onnx", x).argmax())
        b = int(ort_logits(OUT / "w4a8.onnx", x, optimize=False).argmax())
        cells = [f"{k:>3} {labels[k][:21]:<22}" for k in (f, a, b)]
        print(f"{s:<11} {' '.join(cells)}{'' if f == a == b else '  DIFFERENT'}")

    print()
    exact = ref.write_references(args.runmodel)
    for v in ("int4", "w4a8"):
        p = OUT / f"{v}.onnx"
        print(f"{v}: {p.stat().st_size / 1e6:.2f} MB, ops: {' '.join(q8.op_types(onnx.load(p)))}")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
