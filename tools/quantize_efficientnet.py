#!/usr/bin/env python3
"""Quantize EfficientNet-Lite0 to int8 with ONNX Runtime and record reference logits.

Input:  ../shared/models/efficientnet-lite0/model.onnx (float, input `input`
        [1,3,224,224] NCHW, output `logits` [1,1000]).
Output: models/efficientnet-lite0-int8/
          qdq.onnx   QuantFormat.QDQ       uint8 activations, int8 per-channel weights
          qop.onnx   QuantFormat.QOperator same settings
          labels.txt, chelsea.npy          demo labels and input (copied)
          <variant>.<sample>.logits.npy    ONNX Runtime's logits (one thread) per evaluation sample
          manifest.json                    same format as models/tests/manifest.json
          README.md

Calibration uses real photos that are not among the five evaluation samples
(chelsea, coffee, astronaut, rocket, motorcycle): scikit-learn's two sample
photos and scikit-image's other photographs, grey ones replicated to three
channels. Each photo yields several tensors from random scale, crop and
horizontal flip (fixed seed), preprocessed exactly like the samples: shorter
side resized with bicubic filtering, 224x224 crop, x = (pixel - 127) / 128,
HWC -> CHW. A photo whose centre crop matches an evaluation sample is refused.

Both quantized models share one calibration (the ranges are cached between the
two quantize_static calls), so they differ only in format.

Usage (from the repository root):  python3 tools/quantize_efficientnet.py
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
from PIL import Image

import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

ROOT = Path(__file__).resolve().parent.parent
SRC = (ROOT / ".." / "shared" / "models" / "efficientnet-lite0").resolve()
OUT = ROOT / "models" / "efficientnet-lite0-int8"
SAMPLES = ["chelsea", "coffee", "astronaut", "rocket", "motorcycle"]
VARIANTS = {"qdq": QuantFormat.QDQ, "qop": QuantFormat.QOperator}
SEED = 20240607
CROPS_PER_PHOTO = 4  # 12 photos -> 48 calibration tensors
CALIBRATION_STRIDE = 8  # tensors per calibration window; must divide their number


# ---------------------------------------------------------------------------
# Calibration photos
# ---------------------------------------------------------------------------


def calibration_photos() -> dict[str, np.ndarray]:
    """Real photographs, none of them an evaluation sample, as uint8 HxWx3."""
    import skimage.data as skd
    from sklearn.datasets import load_sample_images

    photos: dict[str, np.ndarray] = {}
    sk = load_sample_images()
    for path, img in zip(sk.filenames, sk.images):
        photos["sklearn." + Path(path).stem] = img
    # scikit-image photographs bundled with the package (no download). Excluded on
    # purpose: cat/chelsea, coffee, astronaut, rocket, stereo_motorcycle (the
    # evaluation samples) and the synthetic images (logo, colorwheel, phantom, ...).
    for name in [
        "hubble_deep_field",
        "retina",
        "immunohistochemistry",
        "camera",
        "coins",
        "moon",
        "clock",
        "gravel",
        "grass",
        "brick",
    ]:
        photos["skimage." + name] = getattr(skd, name)()
    out = {}
    for name, img in photos.items():
        img = np.asarray(img)
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)
        out[name] = np.ascontiguousarray(img[..., :3].astype(np.uint8))
    return out


def to_tensor(img: Image.Image) -> np.ndarray:
    a = np.asarray(img, dtype=np.float32)
    return ((a - 127.0) / 128.0).transpose(2, 0, 1)[None].copy()


def preprocess(img: np.ndarray, short: int = 256) -> np.ndarray:
    """The evaluation preprocessing: shorter side to 256 (bicubic), centre 224 crop."""
    im = Image.fromarray(img)
    w, h = im.size
    s = short / min(w, h)
    im = im.resize((round(w * s), round(h * s)), Image.BICUBIC)
    w, h = im.size
    left, top = (w - 224) // 2, (h - 224) // 2
    return to_tensor(im.crop((left, top, left + 224, top + 224)))


def random_crop(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    im = Image.fromarray(img)
    w, h = im.size
    short = int(rng.integers(232, 321))
    s = short / min(w, h)
    im = im.resize((max(224, round(w * s)), max(224, round(h * s))), Image.BICUBIC)
    w, h = im.size
    left = int(rng.integers(0, w - 224 + 1))
    top = int(rng.integers(0, h - 224 + 1))
    im = im.crop((left, top, left + 224, top + 224))
    if rng.random() < 0.5:
        im = im.transpose(Image.FLIP_LEFT_RIGHT)
    return to_tensor(im)


def calibration_tensors() -> list[np.ndarray]:
    samples = {s: np.load(SRC / "samples" / f"{s}.npy") for s in SAMPLES}
    rng = np.random.default_rng(SEED)
    tensors = []
    for name, img in calibration_photos().items():
        centre = preprocess(img)
        clash = [s for s, x in samples.items() if np.abs(centre - x).max() < 0.05]
        if clash:
            print(f"  refusing {name}: it is the evaluation sample {clash[0]}")
            continue
        print(f"  calibration photo {name} {img.shape[1]}x{img.shape[0]}")
        tensors.append(centre)
        tensors.extend(random_crop(img, rng) for _ in range(CROPS_PER_PHOTO - 1))
    return tensors


class TensorReader(CalibrationDataReader):
    """Feeds the tensors in windows (see CalibStridedMinMax) to bound the memory
    the calibrator spends on intermediate outputs."""

    def __init__(self, tensors: list[np.ndarray], input_name: str):
        self.tensors = tensors
        self.input_name = input_name
        self.set_range(0, len(tensors))

    def __len__(self):
        return len(self.tensors)

    def set_range(self, start_index: int, end_index: int):
        self.index, self.end = start_index, min(end_index, len(self.tensors))

    def get_next(self):
        if self.index >= self.end:
            return None
        self.index += 1
        return {self.input_name: self.tensors[self.index - 1]}

    def rewind(self):
        self.set_range(0, len(self.tensors))


# ---------------------------------------------------------------------------
# Manifest helpers (same format as models/tests/manifest.json)
# ---------------------------------------------------------------------------


def op_types(model: onnx.ModelProto) -> list[str]:
    return sorted({n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}" for n in model.graph.node})


def output_quant_params(model: onnx.ModelProto) -> list[tuple[float | None, int | None]]:
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    result = []
    for out in model.graph.output:
        n = producer.get(out.name)
        if n is None or n.op_type != "DequantizeLinear" or n.input[1] not in consts:
            result.append((None, None))
            continue
        zp = consts.get(n.input[2], np.array(0)) if len(n.input) > 2 and n.input[2] else np.array(0)
        result.append((float(consts[n.input[1]].reshape(())), int(zp.reshape(()))))
    return result


def rel(p: Path) -> str:
    """Path relative to the repository root (may start with ../)."""
    return Path(os.path.relpath(p.resolve(), ROOT)).as_posix()


# ---------------------------------------------------------------------------


def session(path: Path) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.parse_args()
    logging.getLogger().setLevel(logging.ERROR)
    ort.set_default_logger_severity(3)

    float_path = SRC / "model.onnx"
    if not float_path.exists():
        print(f"missing {float_path}", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)

    print("calibration set:")
    tensors = calibration_tensors()
    print(f"  {len(tensors)} tensors")

    labels = (SRC / "labels.txt").read_text().splitlines()
    shutil.copyfile(SRC / "labels.txt", OUT / "labels.txt")
    shutil.copyfile(SRC / "samples" / "chelsea.npy", OUT / "chelsea.npy")

    manifest = []
    top1: dict[str, dict[str, int]] = {"float": {}}
    for s in SAMPLES:
        top1["float"][s] = int(np.load(SRC / "samples" / f"{s}.logits.npy").argmax())

    with tempfile.TemporaryDirectory() as td:
        cache = Path(td) / "ranges.json"
        for variant, fmt in VARIANTS.items():
            path = OUT / f"{variant}.onnx"
            print(f"quantizing {rel(path)}")
            quantize_static(
                str(float_path),
                str(path),
                TensorReader(tensors, "input"),
                quant_format=fmt,
                per_channel=True,
                reduce_range=False,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                extra_options={"CalibStridedMinMax": CALIBRATION_STRIDE},
                calibration_cache_path=str(cache),
            )
            model = onnx.load(path)
            sess = session(path)
            (scale, zp), = output_quant_params(model)
            top1[variant] = {}
            for s in SAMPLES:
                sample_path = SRC / "samples" / f"{s}.npy"
                (logits,) = sess.run(None, {"input": np.load(sample_path)})
                out_file = OUT / f"{variant}.{s}.logits.npy"
                np.save(out_file, logits)
                top1[variant][s] = int(logits.argmax())
                manifest.append(
                    {
                        "case": f"efficientnet-lite0.{s}",
                        "variant": variant,
                        "model": rel(path),
                        "inputs": [{"name": "input", "file": rel(sample_path)}],
                        "outputs": [{"name": "logits", "file": rel(out_file), "scale": scale, "zero_point": zp}],
                        "ops": op_types(model),
                    }
                )

    with open(OUT / "manifest.json", "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")

    print(f"\n{'sample':<11} {'float top-1':<26} {'qdq top-1':<26} {'qop top-1':<26}")
    agree = 0
    for s in SAMPLES:
        cells = []
        for v in ["float", "qdq", "qop"]:
            k = top1[v][s]
            cells.append(f"{k:>3} {labels[k][:21]:<22}")
        same = top1["qdq"][s] == top1["float"][s] and top1["qop"][s] == top1["float"][s]
        agree += same
        print(f"{s:<11} {cells[0]} {cells[1]} {cells[2]} {'' if same else ' DIFFERENT'}")
    print(f"\nquantized top-1 equals float top-1 on {agree}/{len(SAMPLES)} samples (both variants)")
    for v in VARIANTS:
        print(f"{v}: {(OUT / f'{v}.onnx').stat().st_size / 1e6:.2f} MB, ops: {' '.join(op_types(onnx.load(OUT / f'{v}.onnx')))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
