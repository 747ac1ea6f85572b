#!/usr/bin/env python3
"""Checks a numpy model of ONNX Runtime's CPU QLinearAdd (uint8) against ORT itself, bit for bit.

ORT's x86-64 kernel with AVX2 (MLAS MlasQLinearAddU8KernelAvx2, lib/intrinsics/avx2/qladd_avx2.cpp,
the same for the main loop and the tail, which computes a full 32-lane vector and stores part of it):

    rA = fl32(sa / sy)                      # float32 division
    rB = fl32(sb / sy)
    K  = fl32((float)zy - fma32(rA, (float)za, fl32(rB * (float)zb)))
         # GCC contracted `ScaleRatio_AC * ZeroPointA + ScaleRatio_BC * ZeroPointB` into one FMA
    per element:  c = fma32((float)a, rA, fma32((float)b, rB, K))   # raw a, b: no zero-point subtraction
                  y = clamp(cvtps2dq(c) (round to nearest even), 0, 255)
    Broadcasting (contrib_ops/cpu/quantization/qlinear_binary_op.cc): a scalar B gives the same
    result as B repeated; for a scalar A, ORT swaps the operands (the span becomes MLAS's A), so
    y = qadd(b, a) with (sb, zb) and (sa, za) exchanged: c = fma32(b, sb/sy, fma32(a, sa/sy, K'))
    with K' = zy - fma32(sb/sy, zb, (sa/sy)*za).

Modes (run from the repository root):
    model       add every QLinearAdd's inputs and output of a QOperator model to the graph outputs,
                run ORT with 1 and 2 threads on the given .npy inputs, compare every element.
    exhaustive  single-node models over all 65536 (a, b) pairs, with the scales and zero points of
                the model's QLinearAdd nodes plus random ones; also scores rejected variants.
    broadcast   single-node models with a scalar A or a scalar B (random parameters, all 256 values).

    python3 tools/ort_qlinearadd_check.py model [--model M] [--input NAME] [NPY ...]
    python3 tools/ort_qlinearadd_check.py exhaustive [--model M] [--random 40]
    python3 tools/ort_qlinearadd_check.py broadcast [--random 40]
"""
import argparse, sys
import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper, TensorProto

f32 = np.float32
DEFAULT_MODEL = "models/efficientnet-lite0-int8/qop.onnx"
DEFAULT_INPUTS = [f"../shared/models/efficientnet-lite0/samples/{s}.npy"
                  for s in ("chelsea", "astronaut", "coffee", "rocket", "motorcycle")]


def fma32(x, y, z):
    """Exact float32 fused multiply-add, elementwise: round32(x*y + z) with one rounding.
    x*y of two float32 is exact in float64; the float64 sum is made round-to-odd (TwoSum error
    term decides), and round-to-odd at 53 bits then to 24 bits is a correct single rounding."""
    x, y, z = (np.asarray(v, f32).astype(np.float64) for v in (x, y, z))
    x, y, z = np.broadcast_arrays(x, y, z)
    p = x * y
    s = p + z
    bp = s - z
    err = (p - bp) + (z - (s - bp))
    odd = (s.view(np.int64) & 1) == 1
    fix = (err != 0) & ~odd
    s = np.where(fix, np.nextafter(s, np.where(err > 0, np.inf, -np.inf)), s)
    return s.astype(f32)


def constants(sa, za, sb, zb, sy, zy, k="fmaA"):
    sa, sb, sy = f32(sa), f32(sb), f32(sy)
    rA, rB = f32(sa / sy), f32(sb / sy)
    if k == "fmaA":     # ORT 1.31 x86-64 build (verified)
        K = f32(f32(zy) - fma32(rA, f32(za), f32(rB * f32(zb))))
    elif k == "fmaB":
        K = f32(f32(zy) - fma32(rB, f32(zb), f32(rA * f32(za))))
    elif k == "plain":  # as written in the source, without contraction
        K = f32(f32(zy) - f32(f32(rA * f32(za)) + f32(rB * f32(zb))))
    elif k == "double":
        K = f32(float(zy) - (float(rA) * za + float(rB) * zb))
    return rA, rB, K


def qadd_ort(a, b, sa, za, sb, zb, sy, zy, k="fmaA", order="BA", fused=True):
    rA, rB, K = constants(sa, za, sb, zb, sy, zy, k)
    af, bf = np.asarray(a).astype(f32), np.asarray(b).astype(f32)
    Kv = np.full(af.shape, K, f32)
    if not fused:
        c = f32(f32(f32(af * rA) + f32(bf * rB)) + K)
    elif order == "BA":
        c = fma32(af, rA, fma32(bf, rB, Kv))
    else:
        c = fma32(bf, rB, fma32(af, rA, Kv))
    return np.clip(np.rint(c), 0, 255).astype(np.uint8)


def dyadic_float(a, b, sa, za, sb, zb, sy, zy):
    """Formula in kernels/src/ref/binary-ref.c (float kind) at the time of writing."""
    t = f32(f32(sa) * (np.asarray(a, np.int32) - za).astype(f32))
    u = f32(f32(sb) * (np.asarray(b, np.int32) - zb).astype(f32))
    r = np.rint(f32(f32(t + u) / f32(sy)))
    return np.clip(r + zy, 0, 255).astype(np.uint8)


VARIANTS = {
    "ORT (K fmaA, b then a)": dict(k="fmaA"),
    "K fmaB": dict(k="fmaB"),
    "K uncontracted": dict(k="plain"),
    "K in double": dict(k="double"),
    "a then b": dict(order="AB"),
    "no FMA": dict(fused=False),
}


def qladd_nodes(m):
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    out = []
    for n in m.graph.node:
        if n.op_type == "QLinearAdd":
            i = list(n.input)
            out.append(dict(name=n.name, a=i[0], b=i[3], y=n.output[0],
                            sa=float(inits[i[1]]), za=int(inits[i[2]]), sb=float(inits[i[4]]),
                            zb=int(inits[i[5]]), sy=float(inits[i[6]]), zy=int(inits[i[7]])))
    return out


def mode_model(args):
    m = onnx.load(args.model)
    nodes = qladd_nodes(m)
    have = {o.name for o in m.graph.output}
    for nd in nodes:
        for t in (nd["a"], nd["b"], nd["y"]):
            if t not in have:
                m.graph.output.append(helper.make_tensor_value_info(t, TensorProto.UINT8, None))
                have.add(t)
    blob = m.SerializeToString()
    sess = {}
    for th in (1, 2):
        so = ort.SessionOptions()
        so.intra_op_num_threads = th
        sess[th] = ort.InferenceSession(blob, so, providers=["CPUExecutionProvider"])
    files = args.npy or DEFAULT_INPUTS
    print(f"onnxruntime {ort.__version__}, {args.model}, {len(nodes)} QLinearAdd nodes, {len(files)} inputs")
    tot, mis = 0, {k: 0 for k in list(VARIANTS) + ["dyadic float (binary-ref.c)"]}
    for f in files:
        x = np.load(f)
        res = {}
        for th, s in sess.items():
            names = [o.name for o in s.get_outputs()]
            res[th] = dict(zip(names, s.run(None, {args.input: x})))
        for nd in nodes:
            a, b, y = (res[1][nd[t]] for t in ("a", "b", "y"))
            assert all(np.array_equal(res[1][nd[t]], res[2][nd[t]]) for t in ("a", "b", "y")), "thread count matters"
            p = {k: nd[k] for k in ("sa", "za", "sb", "zb", "sy", "zy")}
            tot += y.size
            for k, kw in VARIANTS.items():
                mis[k] += int((qadd_ort(a, b, **p, **kw) != y).sum())
            mis["dyadic float (binary-ref.c)"] += int((dyadic_float(a, b, **p) != y).sum())
    print(f"elements compared: {tot} (threads 1 and 2 identical)")
    for k, v in mis.items():
        print(f"  {k:32s} mismatches {v}")
    return 0 if mis["ORT (K fmaA, b then a)"] == 0 else 1


def single_node_session(sa, za, sb, zb, sy, zy):
    inits = [helper.make_tensor(n, TensorProto.FLOAT, [], [float(v)]) for n, v in (("sa", sa), ("sb", sb), ("sy", sy))]
    inits += [helper.make_tensor(n, TensorProto.UINT8, [], [int(v)]) for n, v in (("za", za), ("zb", zb), ("zy", zy))]
    node = helper.make_node("QLinearAdd", ["A", "sa", "za", "B", "sb", "zb", "sy", "zy"], ["Y"], domain="com.microsoft")
    g = helper.make_graph([node], "qladd",
                          [helper.make_tensor_value_info("A", TensorProto.UINT8, None),
                           helper.make_tensor_value_info("B", TensorProto.UINT8, None)],
                          [helper.make_tensor_value_info("Y", TensorProto.UINT8, None)], inits)
    mp = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.microsoft", 1)],
                           ir_version=8)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(mp.SerializeToString(), so, providers=["CPUExecutionProvider"])


def mode_exhaustive(args):
    A, B = np.meshgrid(np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.uint8), indexing="ij")
    A, B = A.ravel(), B.ravel()
    params = [(nd["name"], {k: nd[k] for k in ("sa", "za", "sb", "zb", "sy", "zy")})
              for nd in qladd_nodes(onnx.load(args.model))]
    rng = np.random.default_rng(args.seed)
    for i in range(args.random):
        params.append((f"random{i}", dict(sa=float(f32(rng.uniform(0.01, 1))), za=int(rng.integers(0, 256)),
                                          sb=float(f32(rng.uniform(0.01, 1))), zb=int(rng.integers(0, 256)),
                                          sy=float(f32(rng.uniform(0.01, 1))), zy=int(rng.integers(0, 256)))))
    print(f"onnxruntime {ort.__version__}, {len(params)} parameter sets x 65536 (a, b) pairs")
    mis = {k: 0 for k in VARIANTS}
    for name, p in params:
        s = single_node_session(**p)
        y = s.run(None, {"A": A, "B": B})[0]
        # an odd length exercises the partial-vector tail
        yt = s.run(None, {"A": A[:65531], "B": B[:65531]})[0]
        assert np.array_equal(y[:65531], yt), "tail differs"
        for k, kw in VARIANTS.items():
            mis[k] += int((qadd_ort(A, B, **p, **kw) != y).sum())
    print(f"elements compared: {len(params) * 65536}")
    for k, v in mis.items():
        print(f"  {k:32s} mismatches {v}")
    return 0 if mis["ORT (K fmaA, b then a)"] == 0 else 1


def mode_broadcast(args):
    rng = np.random.default_rng(args.seed)
    span = np.tile(np.arange(256, dtype=np.uint8), 3)[:700]  # 700: 21 full vectors and a tail
    n, mis = 0, {"scalar B": 0, "scalar A (swapped)": 0, "scalar A (unswapped)": 0}
    for _ in range(args.random):
        p = dict(sa=float(f32(rng.uniform(0.01, 1))), za=int(rng.integers(0, 256)),
                 sb=float(f32(rng.uniform(0.01, 1))), zb=int(rng.integers(0, 256)),
                 sy=float(f32(rng.uniform(0.01, 1))), zy=int(rng.integers(0, 256)))
        sw = dict(sa=p["sb"], za=p["zb"], sb=p["sa"], zb=p["za"], sy=p["sy"], zy=p["zy"])
        s = single_node_session(**p)
        for v in range(256):
            sc = np.array([v], np.uint8)
            rep = np.full(span.shape, v, np.uint8)
            y = s.run(None, {"A": span, "B": sc})[0]
            mis["scalar B"] += int((qadd_ort(span, rep, **p) != y).sum())
            y = s.run(None, {"A": sc, "B": span})[0]
            mis["scalar A (swapped)"] += int((qadd_ort(span, rep, **sw) != y).sum())
            mis["scalar A (unswapped)"] += int((qadd_ort(rep, span, **p) != y).sum())
            n += span.size
    print(f"onnxruntime {ort.__version__}, {args.random} parameter sets, {n} elements per case")
    for k, v in mis.items():
        print(f"  {k:32s} mismatches {v}")
    return 0 if mis["scalar B"] == 0 and mis["scalar A (swapped)"] == 0 else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["model", "exhaustive", "broadcast"])
    ap.add_argument("npy", nargs="*")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--input", default="input")
    ap.add_argument("--random", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    sys.exit({"model": mode_model, "exhaustive": mode_exhaustive, "broadcast": mode_broadcast}[args.mode](args))


if __name__ == "__main__":
    main()
