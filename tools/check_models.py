#!/usr/bin/env python3
"""Runs `runmodel` on every entry of a models manifest and compares with ONNX Runtime's
committed outputs: exact match count, and the error in output LSBs for quantized models.

usage: tools/check_models.py [--manifest models/tests/manifest.json] [--numerics dyadic|onnxruntime]
                             [--runmodel .build/debug/runmodel] [--filter SUBSTRING]
"""
import argparse, json, os, re, subprocess, sys, tempfile
import numpy as np

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", default="models/tests/manifest.json")
    ap.add_argument("--numerics", default="onnxruntime")
    ap.add_argument("--runmodel", default=".build/debug/runmodel")
    ap.add_argument("--filter", default="")
    args = ap.parse_args()
    entries = json.load(open(args.manifest))
    failures = 0
    for e in entries:
        label = f"{e['case']}/{e['variant']}"
        if args.filter not in label:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [args.runmodel, e["model"], "--output-dir", tmp, "--numerics", args.numerics]
            for i in e["inputs"]:
                cmd += ["--input", f"{i['name']}={i['file']}"]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                print(f"FAIL {label}: exit {r.returncode}: {r.stderr.strip()[:300]}")
                failures += 1
                continue
            worst = ""
            ok = True
            for o in e["outputs"]:
                got = np.load(os.path.join(tmp, re.sub(r"[^A-Za-z0-9._-]", "_", o["name"]) + ".npy"))
                want = np.load(o["file"])
                if got.shape != want.shape or got.dtype != want.dtype:
                    ok = False
                    worst += f" {o['name']}: {got.dtype}{got.shape} vs {want.dtype}{want.shape}"
                    continue
                if o.get("scale"):
                    lsb = np.abs(got.astype(np.float64) - want.astype(np.float64)) / o["scale"]
                    exact = float(np.mean(lsb < 0.5))
                    if lsb.max() > 0.5:
                        ok = ok and args.numerics == "dyadic" and lsb.max() <= 2.5 and np.mean(lsb < 1.5) >= 0.999
                    worst += f" {o['name']}: max {lsb.max():.2f} LSB, exact {exact*100:.2f}%"
                elif want.dtype.kind == "f":
                    err = np.max(np.abs(got - want)) if got.size else 0
                    tol = 1e-4 * (1 + np.max(np.abs(want))) if want.size else 0
                    same = np.array_equal(got, want)
                    ok = ok and (same or err <= tol)
                    worst += f" {o['name']}: max abs err {err:.3g}"
                else:
                    diff = np.abs(got.astype(np.int64) - want.astype(np.int64))
                    ok = ok and (diff.max() == 0 if args.numerics == "onnxruntime" else diff.max() <= 2)
                    worst += f" {o['name']}: max diff {diff.max()}"
            print(("ok   " if ok else "FAIL ") + label + worst)
            failures += 0 if ok else 1
    print(f"{failures} failed")
    sys.exit(1 if failures else 0)

if __name__ == "__main__":
    main()
