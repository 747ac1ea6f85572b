#!/usr/bin/env python3
"""The quantizer's figures: every number of the README's "Quantizer results" section.

Runs `quantize` on two float models and measures the quantized models with Dyadic
(`runmodel`, dyadic numerics) against the float model run by ONNX Runtime:

  EfficientNet-Lite0 (../shared/models/efficientnet-lite0/model.onnx)
    calibrated on DIR/calibration (tools/make_calibration_photos.py: crops of 7 photos),
    evaluated on DIR/evaluation (64 crops of 8 other photos) plus the model's 5 samples:
    INT8 (GPTQ and RTN), INT4 on every layer (RTN and GPTQ), mixed INT8/INT4 at
    --size-budget 0.65, and mixed under a latency budget whose prediction is checked
    against the latency tool's measurement of the model it produced.
  Fashion-MNIST CNN (models/fashion-mnist): accuracy on the 10,000 test images for
    float, INT8 and INT4 (GPTQ and RTN).

    swift build -c release
    python3 tools/make_calibration_photos.py          # once; needs pillow, scikit-image, scikit-learn
    python3 tools/evaluate_quantizer.py [--write-readme]

Needs numpy and onnxruntime. With --write-readme the markdown replaces the README's
section between the quantizer-figures markers; otherwise it is printed.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EFFNET = os.path.join(ROOT, "..", "shared", "models", "efficientnet-lite0")
FASHION = os.path.join(ROOT, "models", "fashion-mnist")
START, END = "<!-- quantizer-figures:start -->", "<!-- quantizer-figures:end -->"


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
    return p.stdout + p.stderr


def quantize(args, model, calibration, out, *extra):
    log = run([args.bin + "/quantize", model, "--calibration", calibration, "-o", out,
               "--report", out + ".report.txt", *extra])
    return log


def dyadic_logits(args, model, batches, input_name, tmp):
    """Runs runmodel on each batch (N×... float32), returns the stacked first output."""
    outs = []
    for i, x in enumerate(batches):
        path = os.path.join(tmp, f"x{i}.npy")
        np.save(path, x)
        odir = os.path.join(tmp, "out")
        os.makedirs(odir, exist_ok=True)
        for f in os.listdir(odir):
            os.remove(os.path.join(odir, f))
        run([args.bin + "/runmodel", model, "--input", f"{input_name}={path}", "--output-dir", odir])
        outs.append(np.load(os.path.join(odir, os.listdir(odir)[0])))
    return np.concatenate(outs)


def cosine(a, b):
    return float(np.mean(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


def sqnr(ref, got):
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum((ref - got).astype(np.float64) ** 2)))


def predicted(log, name):
    m = re.search(name + r": predicted ([0-9.]+) = ([0-9.]+)×", log)
    return (float(m.group(1)), float(m.group(2))) if m else (None, None)


def read_table(path):
    """(name, precision) -> median µs from a latency CSV."""
    import csv
    with open(path) as f:
        return {(r["name"], r["precision"]): float(r["median_us"]) for r in csv.DictReader(f)}


def latency_median(args, model, csv=None):
    """The latency tool's whole-model median in µs (with --csv it also writes the per-layer table)."""
    cmd = [args.bin + "/latency", model, "--runs", str(args.latency_runs), "--warmup", "10"]
    out = run(cmd + (["--csv", csv] if csv else []))
    return 1000 * float(re.search(r"median ([0-9.]+) ms", out).group(1))


def efficientnet(args, tmp, lines):
    import onnxruntime as ort
    model = os.path.join(EFFNET, "model.onnx")
    evals = sorted(os.listdir(os.path.join(args.photos, "evaluation")))
    xs = [np.load(os.path.join(args.photos, "evaluation", f)) for f in evals]
    samples = os.path.join(EFFNET, "samples")
    for name in sorted(os.listdir(samples)):
        if name.endswith(".npy") and ".logits" not in name:
            xs.append(np.load(os.path.join(samples, name)))
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    ref = np.concatenate([sess.run(None, {"input": x})[0] for x in xs])
    calib = os.path.join(args.photos, "calibration")
    rows = []

    prob = np.exp(ref - ref.max(1, keepdims=True))
    prob /= prob.sum(1, keepdims=True)
    confident = prob.max(1) >= 0.5
    ranked = np.sort(prob, 1)
    margin = ranked[:, -1] - ranked[:, -2]  # float top-1 minus top-2 probability
    int8_bytes = {}

    def measure(label, path):
        got = dyadic_logits(args, path, xs, "input", tmp)
        same = got.argmax(1) == ref.argmax(1)
        agree = float(np.mean(same))
        # Weight bytes as Dyadic stores them (4-bit codes packed, FP8 tables included),
        # against the first row, the INT8 model.
        with open(path + ".report.txt") as f:
            size = int(re.search(r"Dyadic stores ([0-9]+) bytes", f.read()).group(1))
        int8_bytes.setdefault("bytes", size)
        size /= int8_bytes["bytes"]
        widest = float(margin[~same].max()) if (~same).any() else 0.0
        rows.append((label, agree, float(np.mean(same[confident])), cosine(ref, got), sqnr(ref, got), size, widest))
        print(f"  {label}: top-1 agreement {agree:.4f}, cosine {rows[-1][3]:.4f}", file=sys.stderr)
        return got

    configs = [
        ("INT8, GPTQ", "int8", "gptq", []),
        ("INT8, round-to-nearest", "int8", "rtn", []),
        ("INT4 every layer, round-to-nearest", "int4", "rtn", []),
        ("INT4 every layer, GPTQ", "int4", "gptq", []),
        ("mixed INT8/INT4, --size-budget 0.65, GPTQ", "mixed", "gptq", ["--size-budget", "0.65"]),
        ("mixed INT8/INT4, --size-budget 0.65, RTN", "mixed", "rtn", ["--size-budget", "0.65"]),
        ("mixed INT8/INT4, --size-budget 0.65, GPTQ, only the stem pinned to 8 bits", "mixed", "gptq",
         ["--size-budget", "0.65", "--no-pin-first-last", "--keep-8bit", "conv1"]),
        ("W4A8-FP8 every layer, DPQ", "fp8", "dpq", []),
        ("W4A8-FP8 every layer, round-to-nearest", "fp8", "rtn", []),
    ]
    paths = {}
    for label, w, m, extra in configs:
        out = os.path.join(tmp, f"effnet_{len(paths)}.onnx")
        print(f"EfficientNet-Lite0: {label}", file=sys.stderr)
        quantize(args, model, calib, out, "--weights", w, "--method", m, *extra)
        measure(label, out)
        paths[(w, m, len(paths))] = out

    # Latency budget: per-layer tables of the INT8 and INT4 models, then the prediction
    # against the latency tool's measurement of the chosen model. The budget is halfway
    # between 1 and the least the tables allow (every layer at its faster precision),
    # unless --latency-budget gives one.
    l8, l4 = os.path.join(tmp, "int8.csv"), os.path.join(tmp, "int4.csv")
    latency_median(args, paths[("int8", "gptq", 0)], l8)
    latency_median(args, paths[("int4", "gptq", 3)], l4)
    t8, t4 = read_table(l8), read_table(l4)
    chosen_names = {n for n, p in t4 if p == "w4a8"}
    fixed = sum(us for (n, p), us in t8.items() if n not in chosen_names)
    full = fixed + sum(us for (n, p), us in t8.items() if n in chosen_names)
    least = fixed + sum(min(us, t4.get((n, "w4a8"), us)) for (n, p), us in t8.items() if n in chosen_names)
    budget = args.latency_budget or round((1 + least / full) / 2, 3)
    out = os.path.join(tmp, "effnet_latency.onnx")
    print(f"EfficientNet-Lite0: mixed under --latency-budget {budget} (tables allow {least / full:.3f})", file=sys.stderr)
    log = quantize(args, model, calib, out, "--weights", "mixed", "--latency-budget", str(budget),
                   "--latency-table", l8, "--latency-table", l4)
    pred_us, pred_ratio = predicted(log, "latency us")
    meas_us = latency_median(args, out)
    base_us = latency_median(args, paths[("int8", "gptq", 0)])
    measure(f"mixed INT8/INT4, --latency-budget {budget}", out)
    latency_line = (f"Latency budget {budget}× INT8 (halfway between 1 and {least / full:.3f}, the least the tables "
                    f"allow; tables: the latency tool's per-layer CSV of the INT8 and INT4 models): predicted "
                    f"{pred_us:.0f} µs ({pred_ratio:.3f}× the INT8 table), measured {meas_us:.0f} µs by `latency` "
                    f"(the INT8 model: {base_us:.0f} µs); measured / predicted = {meas_us / pred_us:.3f}.")

    lines.append(f"EfficientNet-Lite0, calibrated on {len(os.listdir(calib))} crops of 7 photos, evaluated on "
                 f"{len(xs)} images ({len(evals)} crops of 8 other photos and the model's 5 samples); "
                 "float reference: ONNX Runtime on the float model; quantized models run by Dyadic (dyadic numerics).")
    lines.append("")
    lines.append(f"The float model is unsure on many of these crops (textures, micrographs, text): its top-1 "
                 f"probability is below 0.5 on {int((~confident).sum())} of {len(xs)} images, so the last column "
                 f"repeats the agreement on the {int(confident.sum())} images where it is at least 0.5.")
    lines.append("")
    lines.append("The last column is the widest float top-1 − top-2 probability margin among the images whose "
                 "top-1 changed: how close to a tie the float model was where quantization flipped it.")
    lines.append("")
    lines.append("| model | top-1 agreement | mean cosine | logits SQNR (dB) | weight bytes vs INT8 "
                 "| agreement, float p ≥ 0.5 | widest flipped margin |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for label, agree, conf, cos, s, size, widest in rows:
        lines.append(f"| {label} | {100 * agree:.1f}% | {cos:.4f} | {s:.2f} | {size:.3f}× | {100 * conf:.1f}% "
                     f"| {widest:.3f} |")
    lines.append("")

    lines.append(latency_line)
    lines.append("")


def fashion(args, tmp, lines):
    import onnxruntime as ort
    model = os.path.join(FASHION, "model.onnx")
    images = np.load(os.path.join(FASHION, "test_images_u8.npy"))
    labels = np.load(os.path.join(FASHION, "test_labels.npy"))
    x = ((images.astype(np.float32) / 255 - 0.2860) / 0.3530).astype(np.float32)
    batches = [x[i:i + 1000] for i in range(0, len(x), 1000)]
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    ref = sess.run(None, {"image": x})[0]
    float_acc = float(np.mean(ref.argmax(1) == labels))
    lines.append("Fashion-MNIST CNN (`models/fashion-mnist`), 10,000 test images, calibrated on 256 training images:")
    lines.append("")
    lines.append("| model | accuracy | vs float (points) | agreement with float |")
    lines.append("|---|---:|---:|---:|")
    lines.append(f"| float (ONNX Runtime) | {100 * float_acc:.2f}% | | |")
    for label, w, m in [("INT8, GPTQ", "int8", "gptq"), ("INT8, round-to-nearest", "int8", "rtn"),
                        ("INT4, GPTQ", "int4", "gptq"), ("INT4, round-to-nearest", "int4", "rtn"),
                        ("W4A8-FP8, DPQ", "fp8", "dpq"), ("W4A8-FP8, round-to-nearest", "fp8", "rtn")]:
        out = os.path.join(tmp, f"fashion_{w}_{m}.onnx")
        print(f"Fashion-MNIST: {label}", file=sys.stderr)
        quantize(args, model, os.path.join(FASHION, "calibration"), out, "--weights", w, "--method", m)
        got = dyadic_logits(args, out, batches, "image", tmp)
        acc = float(np.mean(got.argmax(1) == labels))
        agree = float(np.mean(got.argmax(1) == ref.argmax(1)))
        lines.append(f"| {label} | {100 * acc:.2f}% | {100 * (acc - float_acc):+.2f} | {100 * agree:.2f}% |")
    lines.append("")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build", "release"))
    ap.add_argument("--photos", default="/tmp/dyadic-photos")
    ap.add_argument("--latency-budget", type=float, help="default: halfway between 1 and the least the tables allow")
    ap.add_argument("--latency-runs", type=int, default=100)
    ap.add_argument("--write-readme", action="store_true")
    ap.add_argument("--only", choices=["efficientnet", "fashion"])
    args = ap.parse_args()
    for tool in ["quantize", "runmodel", "latency"]:
        if not os.access(os.path.join(args.bin, tool), os.X_OK):
            sys.exit(f"{args.bin}/{tool} not found: run `swift build -c release` first")
    if args.only != "fashion" and not os.path.isdir(os.path.join(args.photos, "calibration")):
        sys.exit(f"{args.photos}/calibration not found: run tools/make_calibration_photos.py first")
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.only != "fashion":
            efficientnet(args, tmp, lines)
        if args.only != "efficientnet":
            fashion(args, tmp, lines)
    text = "\n".join(lines)
    if args.write_readme:
        path = os.path.join(ROOT, "README.md")
        with open(path) as f:
            readme = f.read()
        if START not in readme or END not in readme:
            sys.exit("README.md has no quantizer-figures markers")
        head, rest = readme.split(START, 1)
        _, tail = rest.split(END, 1)
        with open(path, "w") as f:
            f.write(head + START + "\n" + text + "\n" + END + tail)
        print("README.md updated", file=sys.stderr)
    else:
        print(text)


if __name__ == "__main__":
    main()
