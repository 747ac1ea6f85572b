#!/usr/bin/env python3
"""Latency of Dyadic's runmodel next to ONNX Runtime, measured in the same run.

This machine is shared and noisy, so absolute numbers drift; the ratio of two
medians taken close together in time is what we quote. Each round times every
model with ONNX Runtime and then with runmodel, back to back, and the rounds
repeat the pair several times:

  ONNX Runtime   one InferenceSession per model (CPU, intra_op_num_threads=N,
                 inter_op_num_threads=1, sequential), warmed up, then R timed runs.
  Dyadic         `runmodel MODEL --input NAME=FILE --runs R --threads N`; its
                 printed line `latency: min X ms, median Y ms, max Z ms` is parsed.

Per model and thread count the report gives the median over rounds of each
runner's median and the ratio Dyadic / ORT (below 1 means Dyadic is faster),
then each runner's speed-up from the first thread count to the others.

Defaults: the two EfficientNet-Lite0 int8 models (QDQ and QOperator) on both
runners and the float model on ONNX Runtime only, with chelsea.npy as input.

    python3 tools/bench_vs_ort.py [--threads 1 2] [--runs 50] [--rounds 3]
    python3 tools/bench_vs_ort.py --models a.onnx b.onnx --input x.npy --ort-only c.onnx
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS = [
    "models/efficientnet-lite0-int8/qdq.onnx",
    "models/efficientnet-lite0-int8/qop.onnx",
]
DEFAULT_ORT_ONLY = ["../shared/models/efficientnet-lite0/model.onnx"]
DEFAULT_INPUT = "models/efficientnet-lite0-int8/chelsea.npy"
DEFAULT_RUNMODEL = ".build/release/runmodel"

LATENCY_RE = re.compile(
    r"latency:\s*min\s*([\d.eE+-]+)\s*(ms|us|µs|s)\s*,\s*median\s*([\d.eE+-]+)\s*(ms|us|µs|s)\s*,"
    r"\s*max\s*([\d.eE+-]+)\s*(ms|us|µs|s)"
)
UNIT_MS = {"ms": 1.0, "us": 1e-3, "µs": 1e-3, "s": 1e3}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def input_name(model_path: Path) -> str:
    import onnx

    m = onnx.load(str(model_path), load_external_data=False)
    inits = {t.name for t in m.graph.initializer}
    names = [i.name for i in m.graph.input if i.name not in inits]
    if len(names) != 1:
        raise ValueError(f"{model_path} has {len(names)} inputs; this benchmark feeds exactly one")
    return names[0]


class OrtRunner:
    def __init__(self, model: Path, name: str, x: np.ndarray, threads: int):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
        self.feeds = {name: x}

    def median_ms(self, runs: int, warmup: int) -> float:
        for _ in range(warmup):
            self.sess.run(None, self.feeds)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            self.sess.run(None, self.feeds)
            times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)


def dyadic_median_ms(runmodel: str, model: Path, name: str, x_file: Path, runs: int, threads: int) -> float:
    cmd = [runmodel, str(model), "--input", f"{name}={x_file}", "--runs", str(runs), "--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=max(600, runs * 10))
    text = proc.stdout + "\n" + proc.stderr
    if proc.returncode != 0:
        last = [ln for ln in text.splitlines() if ln.strip()]
        raise RuntimeError(f"runmodel exit {proc.returncode}: {last[-1] if last else ''}")
    m = LATENCY_RE.search(text)
    if not m:
        raise RuntimeError("no `latency: min .., median .., max ..` line in runmodel's output")
    return float(m.group(3)) * UNIT_MS[m.group(4)]


def rel(p: Path) -> str:
    return os.path.relpath(p, ROOT)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS, help="models run by both runners")
    ap.add_argument("--ort-only", nargs="*", default=DEFAULT_ORT_ONLY, help="models run by ONNX Runtime only")
    ap.add_argument("--input", default=DEFAULT_INPUT, help="the input .npy fed to every model")
    ap.add_argument("--runmodel", default=DEFAULT_RUNMODEL, help=f"runmodel binary (default {DEFAULT_RUNMODEL})")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts for both runners (default 1 2)")
    ap.add_argument("--runs", type=int, default=50, help="timed runs per measurement (default 50)")
    ap.add_argument("--warmup", type=int, default=3, help="ONNX Runtime warm-up runs (default 3)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    args = ap.parse_args()

    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    os.chdir(ROOT)
    x_file = Path(args.input).resolve()
    x = np.load(x_file)
    runmodel = str(Path(args.runmodel).resolve()) if Path(args.runmodel).exists() else args.runmodel
    have_runmodel = Path(runmodel).exists()

    print(f"CPU: {cpu_name()} ({os.cpu_count()} logical cores)")
    print(f"ONNX Runtime {ort.__version__}, runmodel {args.runmodel}{'' if have_runmodel else ' (not found)'}")
    print(f"input {rel(x_file)} {list(x.shape)} {x.dtype}; threads {args.threads}, {args.runs} runs x {args.rounds} rounds")

    models = []  # (label, path, input name, with dyadic?)
    for paths, with_dyadic in ((args.models, True), (args.ort_only or [], False)):
        for p in paths:
            path = Path(p).resolve()
            try:
                models.append((rel(path), path, input_name(path), with_dyadic and have_runmodel))
            except Exception as e:  # noqa: BLE001
                print(f"skipping {p}: {e}")

    # One ORT session per model and thread count, made up front.
    runners = {}
    for label, path, name, _ in models:
        for t in args.threads:
            runners[(label, t)] = OrtRunner(path, name, x, t)

    ort_ms: dict = {k: [] for k in runners}
    dyd_ms: dict = {k: [] for k in runners}
    dyd_err: dict = {}
    for r in range(args.rounds):
        for t in args.threads:
            for label, path, name, with_dyadic in models:
                key = (label, t)
                ort_ms[key].append(runners[key].median_ms(args.runs, args.warmup))
                line = f"round {r + 1}  threads {t}  {label:<48} ORT {ort_ms[key][-1]:9.3f} ms"
                if with_dyadic and key not in dyd_err:
                    try:
                        dyd_ms[key].append(dyadic_median_ms(runmodel, path, name, x_file, args.runs, t))
                        line += f"   Dyadic {dyd_ms[key][-1]:9.3f} ms"
                    except Exception as e:  # noqa: BLE001
                        dyd_err[key] = str(e)
                        line += f"   Dyadic failed: {e}"
                print(line, flush=True)

    def med(xs):
        return statistics.median(xs) if xs else None

    print(f"\n{'model':<48} {'threads':>7} {'ORT median':>12} {'Dyadic median':>14} {'Dyadic/ORT':>11}")
    for label, *_ in models:
        for t in args.threads:
            key = (label, t)
            o, d = med(ort_ms[key]), med(dyd_ms[key])
            if d is not None:
                ratios = ", ".join(f"{dv / ov:.2f}" for dv, ov in zip(dyd_ms[key], ort_ms[key]))
                print(f"{label:<48} {t:>7} {o:9.3f} ms {d:11.3f} ms {d / o:11.2f}   (per round: {ratios})")
            else:
                print(f"{label:<48} {t:>7} {o:9.3f} ms {'-':>14} {'-':>11}   {dyd_err.get(key, 'ORT only')}")
    if len(args.threads) > 1:
        base = args.threads[0]
        print(f"\nspeed-up from {base} thread(s)")
        for label, *_ in models:
            for t in args.threads[1:]:
                o = med(ort_ms[(label, base)]) / med(ort_ms[(label, t)])
                text = f"{label:<48} {base}->{t}: ORT {o:.2f}x"
                if dyd_ms[(label, base)] and dyd_ms[(label, t)]:
                    text += f", Dyadic {med(dyd_ms[(label, base)]) / med(dyd_ms[(label, t)]):.2f}x"
                print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
