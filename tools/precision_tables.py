#!/usr/bin/env python3
"""EfficientNet-Lite0 at INT8, INT4 weights and W4A8-FP8, layer by layer, side by side.

Runs the bundled `latency` tool (`--per-layer --csv`) on the three models in
interleaved rounds, takes each layer's median over the rounds, and lines up the
products (convolutions and the fully connected layer: the same 50 layers, in the
same order, in all three models). Other layers (input quantization, adds, pooling,
conversions) are summed by op. Weight bytes come from `runmodel --describe`.

Prints a Markdown table (the README's "Precisions" section) and, for each product,
the INT4/INT8 and FP8/INT8 time ratios; layers where INT4 is more than 10% slower
than INT8 are marked.

Usage (repository root, after `swift build -c release`):
    python3 tools/precision_tables.py [--rounds 5] [--runs 100] [--threads 1]
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = [
    ("INT8", "models/efficientnet-lite0-int8/qdq.onnx"),
    ("INT4", "models/efficientnet-lite0-int4/int4.onnx"),
    ("W4A8-FP8", "models/efficientnet-lite0-int4/w4a8.onnx"),
]
INPUT = "../shared/models/efficientnet-lite0/samples/chelsea.npy"


def run_latency(binary: Path, model: str, runs: int, threads: int, csv_path: Path) -> list[dict]:
    cmd = [str(binary), model, "--input", f"input={INPUT}", "--runs", str(runs), "--warmup", "10",
           "--threads", str(threads), "--per-layer", "--csv", str(csv_path)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"precision_tables: {' '.join(cmd)} failed: {done.stderr.strip()}")
    return list(csv.DictReader(io.StringIO(csv_path.read_text())))


def weight_bytes(binary: Path, model: str) -> int:
    done = subprocess.run([str(binary), model, "--describe"], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"precision_tables: runmodel --describe {model} failed: {done.stderr.strip()}")
    m = re.search(r"^weights: (\d+) bytes", done.stdout, re.M)
    if not m:
        sys.exit(f"precision_tables: no weights line in the description of {model}")
    return int(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--runs", type=int, default=100, help="timed runs per round (default 100)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bin-dir", default=".build/release", help="where latency and runmodel are")
    args = ap.parse_args()
    bins = ROOT / args.bin_dir
    for tool in ("latency", "runmodel"):
        if not (bins / tool).exists():
            sys.exit(f"precision_tables: {bins / tool} not found; run `swift build -c release` first")

    per_model: dict[str, list[list[dict]]] = {name: [] for name, _ in MODELS}
    tmp = Path("/tmp/dyadic-precision-tables")
    tmp.mkdir(exist_ok=True)
    for r in range(args.rounds):
        for name, model in MODELS:
            rows = run_latency(bins / "latency", model, args.runs, args.threads, tmp / f"{name}.csv")
            per_model[name].append(rows)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    def medians(name: str) -> list[dict]:
        rounds = per_model[name]
        out = []
        for i, row in enumerate(rounds[0]):
            row = dict(row)
            row["us"] = statistics.median(float(rs[i]["median_us"]) for rs in rounds)
            out.append(row)
        return out

    tables = {name: medians(name) for name, _ in MODELS}
    products = {name: [r for r in rows if int(r["macs"]) > 0] for name, rows in tables.items()}
    counts = {name: len(p) for name, p in products.items()}
    if len(set(counts.values())) != 1:
        sys.exit(f"precision_tables: the models have different numbers of products: {counts}")

    names = [n for n, _ in MODELS]
    print("| # | layer (INT8 shapes) | " + " | ".join(f"{n} µs" for n in names) + " | INT4/INT8 | FP8/INT8 |")
    print("|---:|---|" + "---:|" * len(names) + "---:|---:|")
    slower = []
    for i in range(counts["INT8"]):
        base = products["INT8"][i]
        shape = f"{base['input_shapes']} → {base['output_shapes']}".replace("|", "/")
        times = [products[n][i]["us"] for n in names]
        r4, r8 = times[1] / times[0], times[2] / times[0]
        mark = " **>1.1**" if r4 > 1.10 else ""
        if r4 > 1.10:
            slower.append((i, base["name"], r4))
        kind = "dw" if "dwconv" in base["kernel"] else ("fc" if base["op"] == "QMatMul" else "conv")
        print(f"| {i} | {kind} {shape} | " + " | ".join(f"{t:.1f}" for t in times) + f" | {r4:.2f}{mark} | {r8:.2f} |")

    def other_sums(name: str) -> dict[str, float]:
        sums: dict[str, float] = {}
        for r in tables[name]:
            if int(r["macs"]) == 0:
                sums[r["op"]] = sums.get(r["op"], 0.0) + r["us"]
        return sums

    print()
    print("| other layers, by op | " + " | ".join(f"{n} µs" for n in names) + " |")
    print("|---|" + "---:|" * len(names))
    ops = sorted({op for n in names for op in other_sums(n)})
    sums = {n: other_sums(n) for n in names}
    for op in ops:
        print(f"| {op} | " + " | ".join(f"{sums[n].get(op, 0):.1f}" for n in names) + " |")

    print()
    totals = {n: sum(r["us"] for r in tables[n]) for n in names}
    wbytes = {n: weight_bytes(bins / "runmodel", m) for n, m in MODELS}
    print("| | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    print("| sum of layer medians (ms) | " + " | ".join(f"{totals[n] / 1000:.3f}" for n in names) + " |")
    print("| ratio to INT8 | " + " | ".join(f"{totals[n] / totals['INT8']:.2f}" for n in names) + " |")
    print("| weight bytes (--describe) | " + " | ".join(f"{wbytes[n]:,}" for n in names) + " |")
    print("| weight bytes / INT8 | " + " | ".join(f"{wbytes[n] / wbytes['INT8']:.3f}" for n in names) + " |")
    print()
    if slower:
        print("INT4 more than 10% slower than INT8 on: " + ", ".join(f"#{i} {n} ({r:.2f}x)" for i, n, r in slower))
    else:
        print("INT4 is within 10% of INT8 (or faster) on every product layer.")


if __name__ == "__main__":
    main()
