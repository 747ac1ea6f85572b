"""A YOLOv8-shaped detector written with onnx.helper, for the model corpus.

No trained YOLOv8 ships in a small pip package we can use here, and exporting one
needs torch, so this builds a graph with the same structure and random (fixed-seed)
weights. What matters for an inference runtime is the op pattern, which follows
the Ultralytics export:

  * every Conv has BatchNorm folded in (weights + bias) and SiLU written as
    x * Sigmoid(x), as the exporter writes it;
  * C2f blocks: 1x1 conv, Split in two halves, a chain of bottlenecks (two 3x3
    convs, residual Add in the backbone), Concat of all pieces, 1x1 conv;
  * SPPF: 1x1 conv, three chained MaxPool 5x5 stride 1, Concat, 1x1 conv;
  * a PAN neck with Resize (nearest, x2) upsampling and strided-conv downsampling;
  * three detection heads at strides 8/16/32, each a box branch (4 x 16 DFL bins)
    and a class branch, concatenated per scale and then across scales;
  * the DFL decode: Reshape to [1,4,16,N], Transpose, Softmax over the 16 bins,
    a 1x1 Conv whose weights are 0..15 (the expected bin), then dist2bbox
    (anchor points +- distances, times the stride) and Sigmoid on class scores.

Output `output0` is [1, 4 + classes, N] (cx, cy, w, h in input pixels, then class
probabilities), N = 40*40 + 20*20 + 10*10 = 2100 for a 320x320 input.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class _Builder:
    """Collects nodes and initializers; names are generated from a counter."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, array: np.ndarray, prefix: str = "c") -> str:
        n = self.name(prefix)
        self.inits.append(numpy_helper.from_array(array, n))
        return n

    def node(self, op: str, inputs: list[str], prefix: str | None = None, n_out: int = 1, **attrs) -> list[str]:
        base = self.name(prefix or op.lower())
        outs = [f"{base}_out{i}" if n_out > 1 else base for i in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=base, **attrs))
        return outs

    def conv(self, x: str, cin: int, cout: int, k: int = 1, s: int = 1, act: bool = True,
             bias: np.ndarray | None = None, gain: float = 1.0) -> str:
        # He-style scale keeps activations in a plausible range through ~60 layers of
        # random weights, so calibration ranges look like a trained net's, not 0 or inf.
        fan_in = cin * k * k
        w = self.rng.normal(0.0, gain * np.sqrt(2.0 / fan_in), (cout, cin, k, k)).astype(np.float32)
        b = bias if bias is not None else self.rng.normal(0.0, 0.1, cout).astype(np.float32)
        p = k // 2
        y = self.node("Conv", [x, self.const(w, "w"), self.const(b.astype(np.float32), "b")], "conv",
                      kernel_shape=[k, k], strides=[s, s], pads=[p, p, p, p])[0]
        return self.silu(y) if act else y

    def silu(self, x: str) -> str:
        sig = self.node("Sigmoid", [x])[0]
        return self.node("Mul", [x, sig])[0]

    def c2f(self, x: str, cin: int, cout: int, n: int, shortcut: bool) -> str:
        c = cout // 2
        y = self.conv(x, cin, 2 * c, 1)
        parts = self.node("Split", [y, self.const(np.array([c, c], np.int64), "split")], n_out=2, axis=1)
        last = parts[1]
        pieces = list(parts)
        for _ in range(n):
            h = self.conv(last, c, c, 3)
            h = self.conv(h, c, c, 3)
            last = self.node("Add", [last, h])[0] if shortcut else h
            pieces.append(last)
        cat = self.node("Concat", pieces, axis=1)[0]
        return self.conv(cat, (2 + n) * c, cout, 1)

    def sppf(self, x: str, cin: int, cout: int) -> str:
        c = cin // 2
        y = self.conv(x, cin, c, 1)
        pools = [y]
        for _ in range(3):
            pools.append(self.node("MaxPool", [pools[-1]], kernel_shape=[5, 5], strides=[1, 1], pads=[2, 2, 2, 2])[0])
        cat = self.node("Concat", pools, axis=1)[0]
        return self.conv(cat, 4 * c, cout, 1)

    def upsample(self, x: str) -> str:
        scales = self.const(np.array([1, 1, 2, 2], np.float32), "scales")
        return self.node("Resize", [x, "", scales], mode="nearest")[0]


def build_yolov8_like(size: int = 320, classes: int = 80, width: float = 0.25, seed: int = 20260) -> onnx.ModelProto:
    """Returns the model; `width` scales the channel counts as YOLOv8's width multiple does."""
    b = _Builder(seed)
    ch = [max(8, int(round(c * width / 8)) * 8) for c in (64, 128, 256, 512, 1024)]
    reg_max = 16

    # Backbone.
    x = b.conv("images", 3, ch[0], 3, 2)                     # /2
    x = b.conv(x, ch[0], ch[1], 3, 2)                        # /4
    x = b.c2f(x, ch[1], ch[1], 1, True)
    x = b.conv(x, ch[1], ch[2], 3, 2)                        # /8
    p3 = b.c2f(x, ch[2], ch[2], 2, True)
    x = b.conv(p3, ch[2], ch[3], 3, 2)                       # /16
    p4 = b.c2f(x, ch[3], ch[3], 2, True)
    x = b.conv(p4, ch[3], ch[4], 3, 2)                       # /32
    x = b.c2f(x, ch[4], ch[4], 1, True)
    p5 = b.sppf(x, ch[4], ch[4])

    # Neck (top-down, then bottom-up).
    up = b.upsample(p5)
    n4 = b.c2f(b.node("Concat", [up, p4], axis=1)[0], ch[4] + ch[3], ch[3], 1, False)
    up = b.upsample(n4)
    o3 = b.c2f(b.node("Concat", [up, p3], axis=1)[0], ch[3] + ch[2], ch[2], 1, False)
    d = b.conv(o3, ch[2], ch[2], 3, 2)
    o4 = b.c2f(b.node("Concat", [d, n4], axis=1)[0], ch[2] + ch[3], ch[3], 1, False)
    d = b.conv(o4, ch[3], ch[3], 3, 2)
    o5 = b.c2f(b.node("Concat", [d, p5], axis=1)[0], ch[3] + ch[4], ch[4], 1, False)

    # Heads: per scale, box (4*16 logits) and class logits, flattened to [1, C, H*W].
    c_box = max(16, ch[2] // 4, reg_max * 4)
    c_cls = max(ch[2], min(classes, 100))
    flat = []
    anchors, strides = [], []
    for feat, cin, stride in ((o3, ch[2], 8), (o4, ch[3], 16), (o5, ch[4], 32)):
        box = b.conv(b.conv(feat, cin, c_box, 3), c_box, c_box, 3)
        box = b.conv(box, c_box, 4 * reg_max, 1, act=False)
        # Class bias -4.6 ~ sigmoid 0.01, the prior Ultralytics initializes with; the
        # larger weights spread the logits so a few anchors score high, as in a trained
        # model, and the top box is a clear winner rather than noise.
        cls = b.conv(b.conv(feat, cin, c_cls, 3), c_cls, c_cls, 3)
        cls = b.conv(cls, c_cls, classes, 1, act=False, bias=np.full(classes, -4.6, np.float32), gain=6.0)
        both = b.node("Concat", [box, cls], axis=1)[0]
        flat.append(b.node("Reshape", [both, b.const(np.array([1, 4 * reg_max + classes, -1], np.int64), "shape")])[0])
        g = size // stride
        ys, xs = np.meshgrid(np.arange(g, dtype=np.float32) + 0.5, np.arange(g, dtype=np.float32) + 0.5, indexing="ij")
        anchors.append(np.stack([xs.ravel(), ys.ravel()]))
        strides.append(np.full(g * g, stride, np.float32))
    n = sum(a.shape[1] for a in anchors)
    allx = b.node("Concat", flat, axis=2)[0]                                      # [1, 64+C, N]
    box, cls = b.node("Split", [allx, b.const(np.array([4 * reg_max, classes], np.int64), "split")], n_out=2, axis=1)

    # DFL: expected value of the 16-bin distribution of each side.
    d = b.node("Reshape", [box, b.const(np.array([1, 4, reg_max, n], np.int64), "shape")])[0]
    d = b.node("Transpose", [d], perm=[0, 2, 1, 3])[0]                          # [1,16,4,N]
    d = b.node("Softmax", [d], axis=1)[0]
    bins = b.const(np.arange(reg_max, dtype=np.float32).reshape(1, reg_max, 1, 1), "dfl")
    d = b.node("Conv", [d, bins], "dfl_conv", kernel_shape=[1, 1])[0]            # [1,1,4,N]
    d = b.node("Reshape", [d, b.const(np.array([1, 4, n], np.int64), "shape")])[0]

    # dist2bbox: (left, top) and (right, bottom) distances around each anchor point.
    lt, rb = b.node("Split", [d, b.const(np.array([2, 2], np.int64), "split")], n_out=2, axis=1)
    anchor = b.const(np.concatenate(anchors, axis=1)[None], "anchors")           # [1,2,N]
    x1y1 = b.node("Sub", [anchor, lt])[0]
    x2y2 = b.node("Add", [anchor, rb])[0]
    cxy = b.node("Div", [b.node("Add", [x1y1, x2y2])[0], b.const(np.array(2.0, np.float32))])[0]
    wh = b.node("Sub", [x2y2, x1y1])[0]
    xywh = b.node("Concat", [cxy, wh], axis=1)[0]
    boxes = b.node("Mul", [xywh, b.const(np.concatenate(strides)[None, None], "strides")])[0]
    scores = b.node("Sigmoid", [cls])[0]
    b.nodes.append(helper.make_node("Concat", [boxes, scores], ["output0"], name="output_concat", axis=1))

    graph = helper.make_graph(
        b.nodes, "yolov8_like",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + classes, n])],
        b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="dyadic-model-corpus")
    model.ir_version = 8  # readable by every onnxruntime from 1.10 on
    onnx.checker.check_model(model, full_check=True)
    return model


if __name__ == "__main__":
    import sys
    out = sys.argv[1] if len(sys.argv) > 1 else "yolov8_like.onnx"
    onnx.save(build_yolov8_like(), out)
    print(out)
