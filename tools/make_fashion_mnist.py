#!/usr/bin/env python3
"""Train a small Fashion-MNIST CNN with NumPy only and write it as ONNX, with calibration and test data.

The network is trained from scratch here, so the repository has a real float
classifier whose accuracy a quantizer must preserve (a random-weight model
cannot show that). Source: Debian's `dataset-fashion-mnist` package, the
original IDX files (60,000 training and 10,000 test images, 28x28 greyscale,
10 classes) under /usr/share/datasets/fashion-mnist (--data to change it).

Network (ONNX NCHW; every conv 3x3, stride 1, padding 1):

    image [N,1,28,28]
      Conv 1->C1, Relu, MaxPool 2x2/2   -> [N,C1,14,14]
      Conv C1->C2, Relu, MaxPool 2x2/2  -> [N,C2,7,7]
      Flatten                           -> [N,C2*49]
      Gemm -> H, Relu                   -> [N,H]
      Gemm -> 10                        -> logits [N,10]

with C1=16, C2=32, H=128 (the constants below). Convolutions are im2col + one
matrix product; inside the trainer activations are NHWC and the im2col columns
are ordered (kernel row, kernel column, channel); the weights are kept in the
ONNX layout [O,C,3,3] and reordered for each product. Max pooling and ReLU
commute, so the trainer pools before the ReLU (a quarter of the work); the
exported graph has the usual Conv -> Relu -> MaxPool order and computes the
same function.

Training: softmax cross-entropy, Adam (beta 0.9/0.999, eps 1e-8), batch 128,
learning rate 2e-3 with a cosine decay to 0 over all steps, He-normal
initialisation, no augmentation, no weight decay, SEED for initialisation and
shuffling. NumPy's BLAS is pinned to one thread, so a run on one machine is
reproducible bit for bit (another CPU or BLAS build may round differently).

Preprocessing (the model's input contract):

    image = (pixel_uint8 / 255 - 0.2860) / 0.3530      float32, [N,1,28,28]

0.2860 and 0.3530 are the mean and standard deviation of the training pixels
scaled to [0,1], rounded to four places.

Output (paths relative to the repository root):

    models/fashion-mnist/model.onnx           float32, opset 17, input `image` [N,1,28,28], output `logits` [N,10]
    models/fashion-mnist/calibration/         256 training images, preprocessed float32, one sample or a batch per file:
        single_000.npy .. single_031.npy        [1,1,28,28]
        batch_00.npy .. batch_06.npy            [32,1,28,28]
    models/fashion-mnist/test_images_u8.npy   uint8  [10000,1,28,28], raw test pixels (preprocess as above)
    models/fashion-mnist/test_labels.npy      uint8  [10000]
    models/fashion-mnist/test_predictions.npy uint8  [10000], the float model's argmax under ONNX Runtime
    models/fashion-mnist/README.md            architecture, training, accuracy (float, and ONNX Runtime's
                                              own int8 quantization calibrated on calibration/ as a reference)

The float test tensor (31 MB) is not committed; rebuild it with
`preprocess(np.load("test_images_u8.npy"))` (this file) or the formula above.
The script checks that ONNX Runtime's accuracy equals the NumPy forward's.

Usage (from the repository root; about 4 minutes of CPU time on one core, more
wall time when the machine is busy):
    python3 tools/make_fashion_mnist.py [--epochs N] [--out DIR] [--data DIR]
"""

from __future__ import annotations

import os

# One BLAS thread: reproducible sums, and the machine is shared. Set before numpy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import gzip
import shutil
import struct
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "models" / "fashion-mnist"
DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
OPSET = 17
SEED = 20240611
MEAN, STD = 0.2860, 0.3530
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
C1, C2, HIDDEN = 16, 32, 128
BATCH = 128
LR = 2e-3
CALIBRATION_SINGLES = 32  # 32 single-sample files + 7 batch files of 32 = 256 samples
CALIBRATION_BATCH = 32
CALIBRATION_TOTAL = 256


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip'd or not) as a uint8 array of its declared shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    arr = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"{path}: {arr.size} bytes of data for shape {shape}")
    return arr.reshape(shape)


def load_split(data_dir: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    def find(stem: str) -> Path:
        for name in (stem + ".gz", stem):
            if (data_dir / name).exists():
                return data_dir / name
        raise FileNotFoundError(
            f"{data_dir / stem}[.gz] not found; install Debian's dataset-fashion-mnist "
            f"(apt-get install dataset-fashion-mnist) or pass --data DIR"
        )

    images = read_idx(find(f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(find(f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != (images.shape[0],):
        raise ValueError(f"{prefix}: unexpected shapes {images.shape} and {labels.shape}")
    return images[:, None], labels  # [N,1,28,28] uint8, [N] uint8


def preprocess(u8: np.ndarray) -> np.ndarray:
    """uint8 [N,1,28,28] -> the model's float32 input."""
    return ((u8.astype(np.float32) / np.float32(255) - np.float32(MEAN)) / np.float32(STD)).astype(np.float32)


# ---------------------------------------------------------------------------
# Layers (NHWC activations; conv weights [O,C,3,3] as in ONNX)
# ---------------------------------------------------------------------------


def im2col3x3(x: np.ndarray) -> np.ndarray:
    """x [N,H,W,C] -> columns [N*H*W, 9*C] for a 3x3 stride-1 pad-1 conv, (ky, kx, c) order.

    Nine contiguous slab copies (one per tap) rather than a strided gather."""
    n, h, w, c = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    cols = np.empty((n, h, w, 9, c), dtype=x.dtype)
    for k in range(9):
        ky, kx = divmod(k, 3)
        cols[:, :, :, k, :] = xp[:, ky : ky + h, kx : kx + w, :]
    return cols.reshape(n * h * w, 9 * c)


def tap_major(w: np.ndarray) -> np.ndarray:
    """ONNX weight [O,C,3,3] -> [O, 9*C] in the columns' (ky, kx, c) order."""
    return w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1)


def conv_forward(x, w, b):
    n, h, wd, _ = x.shape
    cols = im2col3x3(x)
    y = cols @ tap_major(w).T + b
    return y.reshape(n, h, wd, w.shape[0]), cols


def conv_backward(dy, cols, w, x_shape, need_dx: bool):
    o, c = w.shape[0], w.shape[1]
    d2 = dy.reshape(-1, o)
    dw = (d2.T @ cols).reshape(o, 3, 3, c).transpose(0, 3, 1, 2)
    db = d2.sum(axis=0)
    if not need_dx:
        return None, dw, db
    n, h, wd, _ = x_shape
    dxp = np.zeros((n, h + 2, wd + 2, c), dtype=dy.dtype)
    for k in range(9):  # col2im: each tap's gradient is one [M,O]x[O,C] product added to a shifted slab
        ky, kx = divmod(k, 3)
        dxp[:, ky : ky + h, kx : kx + wd, :] += (d2 @ w[:, :, ky, kx]).reshape(n, h, wd, c)
    return dxp[:, 1:-1, 1:-1, :], dw, db


def pool_forward(z):
    n, h, w, c = z.shape
    zr = z.reshape(n, h // 2, 2, w // 2, 2, c)
    p = zr.max(axis=(2, 4))
    return p, zr


def pool_backward(dp, zr, p):
    # Gradient to every position equal to the window's maximum (ties are
    # practically absent in float conv outputs).
    mask = zr == p[:, :, None, :, None, :]
    dz = mask * dp[:, :, None, :, None, :]
    n, h2, _, w2, _, c = zr.shape
    return dz.reshape(n, h2 * 2, w2 * 2, c)


def init_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    def he(shape, fan_in):
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    flat = C2 * 7 * 7
    return {
        "conv1.w": he((C1, 1, 3, 3), 9),
        "conv1.b": np.zeros(C1, np.float32),
        "conv2.w": he((C2, C1, 3, 3), C1 * 9),
        "conv2.b": np.zeros(C2, np.float32),
        "fc1.w": he((HIDDEN, flat), flat),  # [out, in], ONNX Gemm transB=1
        "fc1.b": np.zeros(HIDDEN, np.float32),
        "fc2.w": (rng.standard_normal((10, HIDDEN)) * np.sqrt(1.0 / HIDDEN)).astype(np.float32),
        "fc2.b": np.zeros(10, np.float32),
    }


def forward(params, x_nchw, keep: bool = False):
    """x [N,1,28,28] float32 -> logits [N,10] (and the cache for backward)."""
    x = x_nchw.transpose(0, 2, 3, 1)
    z1, cols1 = conv_forward(x, params["conv1.w"], params["conv1.b"])
    p1, z1r = pool_forward(z1)
    a1 = np.maximum(p1, 0)
    z2, cols2 = conv_forward(a1, params["conv2.w"], params["conv2.b"])
    p2, z2r = pool_forward(z2)
    a2 = np.maximum(p2, 0)
    flat = a2.transpose(0, 3, 1, 2).reshape(a2.shape[0], -1)  # ONNX Flatten order (c, h, w)
    h = flat @ params["fc1.w"].T + params["fc1.b"]
    ha = np.maximum(h, 0)
    logits = ha @ params["fc2.w"].T + params["fc2.b"]
    if not keep:
        return logits
    return logits, (x.shape, cols1, z1r, p1, a1.shape, cols2, z2r, p2, a2.shape, flat, h, ha)


def backward(params, cache, dlogits):
    x_shape, cols1, z1r, p1, a1_shape, cols2, z2r, p2, a2_shape, flat, h, ha = cache
    g = {}
    g["fc2.w"] = dlogits.T @ ha
    g["fc2.b"] = dlogits.sum(0)
    dh = (dlogits @ params["fc2.w"]) * (h > 0)
    g["fc1.w"] = dh.T @ flat
    g["fc1.b"] = dh.sum(0)
    n, hh, ww, cc = a2_shape
    da2 = (dh @ params["fc1.w"]).reshape(n, cc, hh, ww).transpose(0, 2, 3, 1)
    dz2 = pool_backward(da2 * (p2 > 0), z2r, p2)
    da1, g["conv2.w"], g["conv2.b"] = conv_backward(dz2, cols2, params["conv2.w"], a1_shape, True)
    dz1 = pool_backward(da1 * (p1 > 0), z1r, p1)
    _, g["conv1.w"], g["conv1.b"] = conv_backward(dz1, cols1, params["conv1.w"], x_shape, False)
    return g


def softmax_xent(logits, labels):
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    n = logits.shape[0]
    loss = float(-np.log(p[np.arange(n), labels] + 1e-12).mean())
    d = p
    d[np.arange(n), labels] -= 1
    return loss, (d / n).astype(np.float32)


def predict(params, x, batch=1000):
    return np.concatenate([forward(params, x[i : i + batch]).argmax(1) for i in range(0, len(x), batch)])


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


def train(params, x, y, epochs: int, rng: np.random.Generator, x_test, y_test) -> tuple[float, float]:
    """Adam over shuffled minibatches; returns (wall seconds, CPU seconds of this process)."""
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(val) for k, val in params.items()}
    b1, b2, eps = 0.9, 0.999, 1e-8
    steps_per_epoch = len(x) // BATCH  # the last partial batch of each shuffle is dropped
    total = epochs * steps_per_epoch
    t = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        losses = []
        correct = 0
        for s in range(steps_per_epoch):
            idx = order[s * BATCH : (s + 1) * BATCH]
            xb, yb = x[idx], y[idx]
            logits, cache = forward(params, xb, keep=True)
            loss, dlogits = softmax_xent(logits, yb)
            losses.append(loss)
            correct += int((logits.argmax(1) == yb).sum())
            grads = backward(params, cache, dlogits)
            t += 1
            lr = LR * 0.5 * (1 + np.cos(np.pi * (t - 1) / total))
            c1, c2 = 1 - b1**t, 1 - b2**t
            for k, p in params.items():
                gk = grads[k].astype(np.float32)
                m[k] = b1 * m[k] + (1 - b1) * gk
                v[k] = b2 * v[k] + (1 - b2) * gk * gk
                p -= (lr * (m[k] / c1) / (np.sqrt(v[k] / c2) + eps)).astype(np.float32)
            if (s + 1) % 100 == 0:
                print(
                    f"  epoch {epoch + 1}/{epochs} step {s + 1}/{steps_per_epoch} "
                    f"loss {np.mean(losses[-100:]):.4f} lr {lr:.2e} {time.perf_counter() - start:.0f}s",
                    flush=True,
                )
        test_acc = float((predict(params, x_test) == y_test).mean())
        print(
            f"epoch {epoch + 1}/{epochs}: train loss {np.mean(losses):.4f}, "
            f"train acc {correct / (steps_per_epoch * BATCH):.4f}, test acc {test_acc:.4f}, "
            f"{time.perf_counter() - start:.0f}s ({time.process_time() - cpu_start:.0f}s CPU)",
            flush=True,
        )
    return time.perf_counter() - start, time.process_time() - cpu_start


# ---------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------


def export_onnx(params, path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in params.items()]
    conv = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1])
    pool = dict(kernel_shape=[2, 2], strides=[2, 2])
    nodes = [
        helper.make_node("Conv", ["image", "conv1.w", "conv1.b"], ["conv1"], name="conv1", **conv),
        helper.make_node("Relu", ["conv1"], ["relu1"], name="relu1"),
        helper.make_node("MaxPool", ["relu1"], ["pool1"], name="pool1", **pool),
        helper.make_node("Conv", ["pool1", "conv2.w", "conv2.b"], ["conv2"], name="conv2", **conv),
        helper.make_node("Relu", ["conv2"], ["relu2"], name="relu2"),
        helper.make_node("MaxPool", ["relu2"], ["pool2"], name="pool2", **pool),
        helper.make_node("Flatten", ["pool2"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc1.w", "fc1.b"], ["fc1"], name="fc1", transB=1),
        helper.make_node("Relu", ["fc1"], ["relu3"], name="relu3"),
        helper.make_node("Gemm", ["relu3", "fc2.w", "fc2.b"], ["logits"], name="fc2", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "fashion_mnist_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializer=inits,
    )
    graph.doc_string = f"Fashion-MNIST classifier; input (pixel/255 - {MEAN}) / {STD}; classes: " + ", ".join(CLASSES)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="dyadic-tools")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)


def ort_logits(path: Path, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(["logits"], {"image": x[i : i + batch]})[0] for i in range(0, len(x), batch)])


def ort_int8_predictions(model_path: Path, cal_dir: Path, x: np.ndarray) -> np.ndarray:
    """Top-1 of ONNX Runtime's own int8 quantization of the model, calibrated on cal_dir:
    a reference accuracy for Dyadic's quantizer."""
    import logging
    import tempfile

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.files = iter(sorted(cal_dir.glob("*.npy")))

        def get_next(self):
            f = next(self.files, None)
            return None if f is None else {"image": np.load(f)}

    logging.getLogger().setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as td:
        q = Path(td) / "int8.onnx"
        quantize_static(
            str(model_path), str(q), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        )
        return ort_logits(q, x).argmax(1)


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def write_calibration(out: Path, x_train_u8: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """256 distinct training images, chosen with rng, in index order; returns their indices."""
    cal = out / "calibration"
    if cal.exists():
        shutil.rmtree(cal)
    cal.mkdir(parents=True)
    idx = np.sort(rng.choice(len(x_train_u8), CALIBRATION_TOTAL, replace=False))
    x = preprocess(x_train_u8[idx])
    for i in range(CALIBRATION_SINGLES):
        np.save(cal / f"single_{i:03d}.npy", x[i : i + 1])
    rest = x[CALIBRATION_SINGLES:]
    assert len(rest) % CALIBRATION_BATCH == 0
    for j in range(len(rest) // CALIBRATION_BATCH):
        np.save(cal / f"batch_{j:02d}.npy", rest[j * CALIBRATION_BATCH : (j + 1) * CALIBRATION_BATCH])
    return idx


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def per_class(pred: np.ndarray, labels: np.ndarray) -> list[float]:
    return [float((pred[labels == k] == k).mean()) for k in range(10)]


def write_readme(out: Path, info: dict) -> None:
    rows = "\n".join(
        f"| {k} | {name} | {acc * 100:.1f}% |" for k, (name, acc) in enumerate(zip(CLASSES, info["per_class"]))
    )
    text = f"""# Fashion-MNIST CNN (float32)

A small image classifier trained from scratch with NumPy by
`tools/make_fashion_mnist.py` (run it again to rebuild every file here; it needs
Debian's `dataset-fashion-mnist` package). It is the float model the quantizer's
accuracy is measured on: small enough to quantize and evaluate on all 10,000
test images in seconds.

## Files

| file | contents |
|---|---|
| `model.onnx` | float32, opset 17; input `image` float32 [N,1,28,28], output `logits` float32 [N,10]; N is dynamic |
| `calibration/single_000.npy` … `single_{CALIBRATION_SINGLES - 1:03d}.npy` | one preprocessed training image each, float32 [1,1,28,28] |
| `calibration/batch_00.npy` … `batch_{(CALIBRATION_TOTAL - CALIBRATION_SINGLES) // CALIBRATION_BATCH - 1:02d}.npy` | {CALIBRATION_BATCH} preprocessed training images each, float32 [{CALIBRATION_BATCH},1,28,28] |
| `test_images_u8.npy` | the 10,000 test images, raw pixels, uint8 [10000,1,28,28] |
| `test_labels.npy` | their labels, uint8 [10000] |
| `test_predictions.npy` | the float model's top-1 on them under ONNX Runtime, uint8 [10000] |

The calibration set is {CALIBRATION_TOTAL} distinct training images (none from the test
set) drawn with a fixed seed: {CALIBRATION_SINGLES} single-sample files and {(CALIBRATION_TOTAL - CALIBRATION_SINGLES) // CALIBRATION_BATCH} batch files,
so a `quantize --calibration` run reads both forms (with every batch exactly {CALIBRATION_BATCH}
images, the number of singles is a multiple of {CALIBRATION_BATCH} too). The float test tensor
(31 MB) is not committed.

## Preprocessing

```
image = (pixel / 255 - {MEAN:.4f}) / {STD:.4f}     # float32, pixel is the uint8 value
```

{MEAN:.4f} and {STD:.4f} are the training pixels' mean and standard deviation (on [0,1]).
To rebuild the float test tensor:

```python
x = ((np.load("test_images_u8.npy").astype(np.float32) / 255 - {MEAN:.4f}) / {STD:.4f}).astype(np.float32)
```

(or `preprocess()` in `tools/make_fashion_mnist.py`). The calibration files are
already preprocessed.

## Architecture

```
image [N,1,28,28]
Conv 3x3 1->{C1} (pad 1) + Relu, MaxPool 2x2 stride 2   [N,{C1},14,14]
Conv 3x3 {C1}->{C2} (pad 1) + Relu, MaxPool 2x2 stride 2  [N,{C2},7,7]
Flatten                                              [N,{C2 * 49}]
Gemm {C2 * 49}->{HIDDEN} + Relu                             [N,{HIDDEN}]
Gemm {HIDDEN}->10                                        logits [N,10]
```

{info["params"]:,} parameters, {info["macs"]:,} multiply-accumulates per image.

## Training

{info["train_n"]:,} training images, {info["epochs"]} epochs, batch {BATCH}, Adam (β 0.9/0.999,
ε 1e-8), learning rate {LR:g} with a cosine decay to 0, softmax cross-entropy,
He-normal initialisation, no augmentation, no weight decay, seed {SEED}. NumPy
only (im2col convolutions, hand-written backward pass), one BLAS thread:
{info["train_cpu_seconds"] / 60:.1f} minutes of CPU time on one core ({info["cpu"]}), including a test-set
evaluation after each epoch ({info["train_seconds"] / 60:.1f} minutes wall time on the shared machine).

## Accuracy

Float test accuracy, ONNX Runtime (CPU, one thread), all 10,000 test images:
**{info["ort_acc"] * 100:.2f}%** (the NumPy forward pass used in training agrees:
{info["np_acc"] * 100:.2f}%; largest logit difference {info["max_diff"]:.1e}).

| class | name | accuracy |
|---|---|---|
{rows}

Reference point for a quantizer: ONNX Runtime's `quantize_static` (QDQ, uint8
activations, int8 per-channel weights, MinMax on `calibration/`) reaches
**{info["ort_int8_acc"] * 100:.2f}%**, with the float model's top-1 on {info["ort_int8_agree"] * 100:.2f}% of the images.

Classes: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,
7 Sneaker, 8 Bag, 9 Ankle boot.
"""
    (out / "README.md").write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA_DIR, help="directory of the Fashion-MNIST IDX files (default %(default)s)")
    ap.add_argument("--out", type=Path, default=OUT_DIR, help="output directory (default models/fashion-mnist)")
    ap.add_argument("--epochs", type=int, default=10, help="training epochs (default %(default)s)")
    ap.add_argument("--train-limit", type=int, default=0, help="train on the first N training images only (a quick check; 0 = all)")
    args = ap.parse_args()
    if args.epochs < 1:
        ap.error("--epochs must be at least 1")
    if args.train_limit < 0:
        ap.error("--train-limit must be >= 0")

    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        print(f"error: {e}; install with: pip install onnx onnxruntime", file=sys.stderr)
        return 1
    try:
        train_u8, train_labels = load_split(args.data, "train")
        test_u8, test_labels = load_split(args.data, "t10k")
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.train_limit:
        train_u8, train_labels = train_u8[: args.train_limit], train_labels[: args.train_limit]
    print(f"data: {len(train_u8)} training and {len(test_u8)} test images from {args.data}")

    x_train = preprocess(train_u8)
    x_test = preprocess(test_u8)
    y_train = train_labels.astype(np.int64)
    y_test = test_labels.astype(np.int64)
    print(f"pixel mean/std after preprocessing (train): {x_train.mean():.4f} / {x_train.std():.4f}")

    rng = np.random.default_rng(SEED)
    params = init_params(rng)
    n_params = sum(v.size for v in params.values())
    macs = 28 * 28 * C1 * 9 + 14 * 14 * C2 * C1 * 9 + C2 * 49 * HIDDEN + HIDDEN * 10
    print(f"model: conv {C1}, conv {C2}, fc {HIDDEN}, fc 10; {n_params:,} parameters, {macs:,} MACs per image")
    print(f"training: {args.epochs} epochs, batch {BATCH}, Adam lr {LR:g} cosine")
    seconds, cpu_seconds = train(params, x_train, y_train, args.epochs, rng, x_test, y_test)
    print(f"training took {seconds:.0f}s wall, {cpu_seconds:.0f}s CPU")

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / "model.onnx"
    export_onnx(params, model_path)
    print(f"wrote {model_path}")

    np_logits = np.concatenate([forward(params, x_test[i : i + 1000]) for i in range(0, len(x_test), 1000)])
    logits = ort_logits(model_path, x_test)
    np_pred, ort_pred = np_logits.argmax(1), logits.argmax(1)
    np_acc = float((np_pred == y_test).mean())
    ort_acc = float((ort_pred == y_test).mean())
    max_diff = float(np.abs(np_logits - logits).max())
    print(f"test accuracy: ONNX Runtime {ort_acc:.4f}, NumPy {np_acc:.4f}; max |logit diff| {max_diff:.2e}")
    if ort_acc != np_acc or max_diff > 1e-3:
        print("error: ONNX Runtime and the NumPy forward pass disagree", file=sys.stderr)
        return 1
    # The dynamic batch dimension: one image at a time gives the same logits.
    single = ort_logits(model_path, x_test[:8], batch=1)
    if np.abs(single - logits[:8]).max() > 1e-4:
        print("error: batch-1 and batch-1000 logits differ", file=sys.stderr)
        return 1

    cal_idx = write_calibration(out, train_u8, np.random.default_rng(SEED + 1))  # independent of training
    print(f"wrote {out / 'calibration'}: {CALIBRATION_SINGLES} single files and "
          f"{(CALIBRATION_TOTAL - CALIBRATION_SINGLES) // CALIBRATION_BATCH} batch files "
          f"({len(cal_idx)} training images)")
    int8_pred = ort_int8_predictions(model_path, out / "calibration", x_test)
    int8_acc = float((int8_pred == y_test).mean())
    int8_agree = float((int8_pred == ort_pred).mean())
    print(f"ONNX Runtime int8 (QDQ u8/s8 per channel, MinMax on calibration/): test accuracy {int8_acc:.4f}, "
          f"same top-1 as float on {int8_agree:.4f}")
    np.save(out / "test_images_u8.npy", np.ascontiguousarray(test_u8))
    np.save(out / "test_labels.npy", test_labels.astype(np.uint8))
    np.save(out / "test_predictions.npy", ort_pred.astype(np.uint8))
    write_readme(
        out,
        dict(
            params=n_params, macs=macs, train_n=len(train_u8), epochs=args.epochs, train_seconds=seconds, train_cpu_seconds=cpu_seconds, cpu=cpu_name(),
            ort_acc=ort_acc, np_acc=np_acc, max_diff=max_diff, per_class=per_class(ort_pred, y_test),
            ort_int8_acc=int8_acc, ort_int8_agree=int8_agree,
        ),
    )
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out}: {total / 1e6:.2f} MB in total")
    if ort_acc < 0.89:
        print(f"warning: test accuracy {ort_acc:.4f} is below the 0.89 target", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
