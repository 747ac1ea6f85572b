#!/usr/bin/env python3
"""Run the ONNX node tests for every op Dyadic supports, through `runmodel`.

The ONNX backend node tests (Debian's libonnx-testdata, by default
/usr/share/libonnx-testdata/data/node/test_*/) each hold a one-node model.onnx
and test_data_set_*/{input,output}_<i>.pb (TensorProto). A test belongs to an
op when its graph has exactly one node and that node is of this op type;
`*_expanded` tests (the function-body expansions) are ignored.

For each test and data set the inputs are converted to .npy in a temporary
directory, then

    runmodel model.onnx --input NAME=FILE.npy ... --output-dir TMP

runs, and TMP/<output name>.npy (characters other than letters, digits, '.',
'_' and '-' replaced by '_') is compared with output_<i>.pb: same shape and
dtype, integer and bool values exactly, floating values within
|actual - expected| <= atol + rtol * |expected| (rtol 1e-3, atol 1e-5; NaN
matches NaN).

The supported ops come from `runmodel --list-ops` (one op per line, contrib ops
as `com.microsoft.QLinearAdd`), or from --ops. A test that runmodel rejects as
unsupported counts as FAILED unless it is in EXCLUSIONS below, which is printed
with its reasons on every run.

`--runner ort` runs every test with ONNX Runtime through the same command-line
contract (this script re-invoked in a hidden mode), which checks the harness
itself; without --ops it covers every op that has node tests.

Exit status: 0 when nothing failed, 1 otherwise.

    python3 tools/conformance.py [--runmodel .build/debug/runmodel] [--markdown FILE]
    python3 tools/conformance.py --runner ort
"""

from __future__ import annotations

import argparse
import fnmatch
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_TESTDATA = "/usr/share/libonnx-testdata/data/node"
DEFAULT_RUNMODEL = ".build/debug/runmodel"
TIMEOUT_S = 60
RTOL = 1e-3
ATOL = 1e-5

# Tests that are not counted. Keep this short: every entry needs a reason that
# is about the harness or the test data, not about Dyadic missing a feature.
EXCLUSIONS: list[tuple[str, str]] = [
    ("test_cast*_BFLOAT16_to_*", "bfloat16 tensors have no .npy encoding"),
    ("test_cast*_to_BFLOAT16", "bfloat16 tensors have no .npy encoding"),
    ("test_cast*_STRING_to_*", "string tensors have no .npy encoding without pickling"),
    ("test_cast*_to_STRING", "string tensors have no .npy encoding without pickling"),
    ("test_strnormalizer_*", "string tensors have no .npy encoding without pickling"),
    ("test_identity_opt", "optional value: .npy carries tensors only"),
    ("test_identity_sequence", "sequence value: .npy carries tensors only"),
    ("test_bernoulli*", "random output; the expected values come from NumPy's generator"),
    ("test_training_dropout*", "random mask in training mode; the expected values come from NumPy's generator"),

    ("test_averagepool_1d*", "pooling is implemented for 2-D inputs only"),
    ("test_averagepool_3d*", "pooling is implemented for 2-D inputs only"),
    ("test_maxpool_1d*", "pooling is implemented for 2-D inputs only"),
    ("test_maxpool_3d*", "pooling is implemented for 2-D inputs only"),
    ("test_maxpool_with_argmax*", "MaxPool's Indices output is not implemented"),
    # Element types the engine does not hold (it has float32, 8/4/2-bit integers, int32,
    # int64, bool and FP8 E4M3): these tests exist only to cover the type.
    ("test_cast_*DOUBLE*", "float64 tensors are not an engine element type"),
    ("test_cast_*FLOAT16*", "float16 tensors are not an engine element type"),
    ("test_max_float16", "float16 tensors are not an engine element type"),
    ("test_min_float16", "float16 tensors are not an engine element type"),
    ("test_max_float64", "float64 tensors are not an engine element type"),
    ("test_min_float64", "float64 tensors are not an engine element type"),
    ("test_max_*int16", "16-bit integer tensors are not an engine element type"),
    ("test_min_*int16", "16-bit integer tensors are not an engine element type"),
    ("test_max_uint32", "uint32 tensors are not an engine element type"),
    ("test_min_uint32", "uint32 tensors are not an engine element type"),
    ("test_max_uint64", "uint64 tensors are not an engine element type"),
    ("test_min_uint64", "uint64 tensors are not an engine element type"),
    ("test_pow_types_*_uint32", "uint32 tensors are not an engine element type"),
    ("test_pow_types_*_uint64", "uint64 tensors are not an engine element type"),
    ("test_reduce_log_sum_exp_*", "these tests feed float64 tensors, not an engine element type"),
    ("test_convtranspose_3d", "ConvTranspose is implemented for 1-D and 2-D inputs only"),
]

# ONNX element types that .npy can carry (TensorProto.DataType -> numpy dtype).
NPY_TYPES = {
    1: np.float32,
    2: np.uint8,
    3: np.int8,
    4: np.uint16,
    5: np.int16,
    6: np.int32,
    7: np.int64,
    9: np.bool_,
    10: np.float16,
    11: np.float64,
    12: np.uint32,
    13: np.uint64,
}

def sanitize(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)

def op_key(node) -> str:
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"

def exclusion_reason(test: str) -> str | None:
    for pattern, reason in EXCLUSIONS:
        if fnmatch.fnmatchcase(test, pattern):
            return reason
    return None

# ---------------------------------------------------------------------------
# Test discovery
# ---------------------------------------------------------------------------

@dataclass
class NodeTest:
    name: str
    path: Path
    op: str

def discover(testdata: Path, ops: set[str] | None) -> tuple[list[NodeTest], set[str]]:
    """One-node tests whose op is in `ops` (all when None); also every op seen."""
    import onnx

    tests, seen = [], set()
    for d in sorted(testdata.glob("test_*")):
        if d.name.endswith("_expanded") or not (d / "model.onnx").is_file():
            continue
        try:
            model = onnx.load(str(d / "model.onnx"), load_external_data=False)
        except Exception as e:  # noqa: BLE001
            print(f"warning: cannot read {d / 'model.onnx'}: {e}", file=sys.stderr)
            continue
        if len(model.graph.node) != 1:
            continue
        op = op_key(model.graph.node[0])
        seen.add(op)
        if ops is None or op in ops:
            tests.append(NodeTest(d.name, d, op))
    return tests, seen

# ---------------------------------------------------------------------------
# Running and comparing one test
# ---------------------------------------------------------------------------

@dataclass
class Result:
    test: NodeTest
    status: str  # "pass", "fail", "excluded"
    message: str = ""
    seconds: float = 0.0

def load_pb(path: Path):
    """TensorProto -> (numpy array or None, elem_type)."""
    import onnx
    from onnx import numpy_helper

    t = onnx.TensorProto()
    t.ParseFromString(path.read_bytes())
    if t.data_type not in NPY_TYPES:
        return None, t.data_type
    return numpy_helper.to_array(t).astype(NPY_TYPES[t.data_type], copy=False), t.data_type

def type_name(elem_type: int) -> str:
    import onnx

    return onnx.TensorProto.DataType.Name(elem_type).lower()

def compare(name: str, actual: np.ndarray, expected: np.ndarray) -> str | None:
    """None when equal under the rules, else a one-line description."""
    if actual.dtype != expected.dtype:
        return f"{name}: dtype {actual.dtype}, expected {expected.dtype}"
    if actual.shape != expected.shape:
        return f"{name}: shape {list(actual.shape)}, expected {list(expected.shape)}"
    if actual.size == 0:
        return None
    if np.issubdtype(expected.dtype, np.floating):
        a = actual.astype(np.float64)
        e = expected.astype(np.float64)
        ok = np.isclose(a, e, rtol=RTOL, atol=ATOL, equal_nan=True)
        if ok.all():
            return None
        bad = ~ok
        finite = np.isfinite(a) & np.isfinite(e)
        diff = np.abs(np.where(finite, a - e, 0.0))
        score = np.where(bad, np.where(finite, diff, np.inf), -1.0)
        worst = np.unravel_index(np.argmax(score), e.shape)
        rel_mask = bad & finite & (e != 0)
        rel = f"{(diff[rel_mask] / np.abs(e[rel_mask])).max():.3g}" if rel_mask.any() else "n/a"
        return (
            f"{name}: {int(bad.sum())}/{e.size} values differ, max abs err {diff[bad].max():.3g}, "
            f"max rel err {rel}; at {list(map(int, worst))} got {actual[worst].item()!r}, "
            f"expected {expected[worst].item()!r}"
        )
    if np.array_equal(actual, expected):
        return None
    bad = actual != expected
    worst = np.unravel_index(np.argmax(bad), expected.shape)
    return (
        f"{name}: {int(bad.sum())}/{expected.size} values differ; "
        f"at {list(map(int, worst))} got {actual[worst].item()!r}, expected {expected[worst].item()!r}"
    )

def tail(text: str, n: int = 300) -> str:
    text = " ".join(text.strip().split())
    return text if len(text) <= n else "..." + text[-n:]

def describe_failure(proc: subprocess.CompletedProcess) -> str:
    """One line for a non-zero exit: crash or error, the key stderr line, and
    'unsupported' when the runner says so."""
    lines = [ln.strip() for ln in (proc.stderr + "\n" + proc.stdout).splitlines() if ln.strip()]
    key = next((ln for ln in lines if re.search(r"fatal error|error:", ln, re.I)), lines[-1] if lines else "")
    key = tail(key)
    if proc.returncode < 0:
        kind = f"crashed (signal {-proc.returncode})"
    else:
        kind = f"exit {proc.returncode}"
    if re.search(r"unsupported|not supported|not implemented", key, re.I):
        return f"unsupported, {kind}: {key}"
    return f"{kind}: {key}"

def run_test(test: NodeTest, command_prefix: list[str], keep: bool) -> Result:
    start = time.monotonic()
    reason = exclusion_reason(test.name)
    if reason is not None:
        return Result(test, "excluded", reason)
    try:
        return _run_test(test, command_prefix, keep, start)
    except Exception as e:  # noqa: BLE001 - one bad test must not stop the run
        return Result(test, "fail", f"harness error: {type(e).__name__}: {e}", time.monotonic() - start)

def _run_test(test: NodeTest, command_prefix: list[str], keep: bool, start: float) -> Result:
    import onnx

    model = onnx.load(str(test.path / "model.onnx"), load_external_data=False)
    inits = {t.name for t in model.graph.initializer}
    inputs = [v for v in model.graph.input if v.name not in inits]
    outputs = list(model.graph.output)
    for v in inputs + outputs:
        if not v.type.HasField("tensor_type"):
            return Result(test, "fail", f"{v.name} is not a tensor (sequence/optional values are not supported)")

    datasets = sorted(test.path.glob("test_data_set_*"))
    if not datasets:
        return Result(test, "fail", "no test_data_set_* directory")

    tmp_root = Path(tempfile.mkdtemp(prefix=f"dyd-{test.name}-"))
    try:
        for ds in datasets:
            ds_tmp = tmp_root / ds.name
            out_dir = ds_tmp / "out"
            out_dir.mkdir(parents=True)
            args = [*command_prefix, str(test.path / "model.onnx")]
            for i, v in enumerate(inputs):
                pb = ds / f"input_{i}.pb"
                if not pb.exists():
                    return Result(test, "fail", f"{ds.name}: missing {pb.name}")
                arr, et = load_pb(pb)
                if arr is None:
                    return Result(test, "fail", f"input {v.name}: {type_name(et)} has no .npy encoding")
                f = ds_tmp / f"input_{i}.npy"
                np.save(f, arr)
                args += ["--input", f"{v.name}={f}"]
            args += ["--output-dir", str(out_dir)]

            try:
                proc = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT_S, errors="replace")
            except subprocess.TimeoutExpired:
                return Result(test, "fail", f"timeout after {TIMEOUT_S} s", time.monotonic() - start)
            if proc.returncode != 0:
                return Result(test, "fail", describe_failure(proc), time.monotonic() - start)

            problems = []
            for i, v in enumerate(outputs):
                expected, et = load_pb(ds / f"output_{i}.pb")
                if expected is None:
                    problems.append(f"output {v.name}: {type_name(et)} has no .npy encoding")
                    continue
                f = out_dir / f"{sanitize(v.name)}.npy"
                if not f.exists():
                    problems.append(f"output {v.name}: {f.name} not written")
                    continue
                try:
                    actual = np.load(f, allow_pickle=False)
                except Exception as e:  # noqa: BLE001
                    problems.append(f"output {v.name}: cannot read {f.name}: {e}")
                    continue
                p = compare(v.name, actual, expected)
                if p:
                    problems.append(p)
            if problems:
                prefix = f"{ds.name}: " if len(datasets) > 1 else ""
                return Result(test, "fail", prefix + "; ".join(problems), time.monotonic() - start)
        return Result(test, "pass", "", time.monotonic() - start)
    finally:
        if keep:
            print(f"kept {tmp_root}", file=sys.stderr)
        else:
            shutil.rmtree(tmp_root, ignore_errors=True)

# ---------------------------------------------------------------------------
# ONNX Runtime stand-in: the same command-line contract as runmodel
# ---------------------------------------------------------------------------

def ort_exec(model: str, inputs: list[str], output_dir: str) -> int:
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    try:
        sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001
        kind = "unsupported" if "NOT_IMPLEMENTED" in str(e) else "load error"
        print(f"{kind}: {e}", file=sys.stderr)
        return 2
    feeds = {}
    for spec in inputs:
        name, _, path = spec.partition("=")
        feeds[name] = np.load(path, allow_pickle=False)
    try:
        results = sess.run(None, feeds)
    except Exception as e:  # noqa: BLE001
        print(f"run error: {e}", file=sys.stderr)
        return 3
    os.makedirs(output_dir, exist_ok=True)
    for meta, value in zip(sess.get_outputs(), results):
        np.save(os.path.join(output_dir, sanitize(meta.name) + ".npy"), np.asarray(value))
    return 0

# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------

def list_ops(runmodel: str) -> list[str]:
    proc = subprocess.run([runmodel, "--list-ops"], capture_output=True, text=True, timeout=TIMEOUT_S)
    if proc.returncode != 0:
        raise RuntimeError(f"`{runmodel} --list-ops` failed (exit {proc.returncode}): {tail(proc.stderr)}")
    ops = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not ops:
        raise RuntimeError(f"`{runmodel} --list-ops` printed no ops")
    return ops

def summarize(ops: list[str], results: list[Result]) -> dict[str, dict]:
    table = {op: {"pass": 0, "fail": 0, "excluded": 0, "failed": [], "excluded_tests": []} for op in ops}
    for r in results:
        row = table.setdefault(r.test.op, {"pass": 0, "fail": 0, "excluded": 0, "failed": [], "excluded_tests": []})
        row[r.status] += 1
        if r.status == "fail":
            row["failed"].append(r)
        elif r.status == "excluded":
            row["excluded_tests"].append(r)
    return table

def core_reason(message: str) -> str:
    """The gist of a failure message, without exit codes, paths and node names."""
    m = message
    if m.startswith(("unsupported", "exit", "crashed")):
        m = m.split(": ", 1)[1] if ": " in m else m
    for marker in ("raised an error: ", "Fatal error: "):
        if marker in m:
            m = m.split(marker, 1)[1]
            break
    m = re.sub(r"^error:\s*", "", m)
    m = re.sub(r"^\S+\.onnx:\s*", "", m)
    m = re.sub(r"^\w+ '[^']*':\s*", "", m)
    return tail(m, 90).replace("|", "/")

def short_reason(message: str) -> str:
    """A few words for the README table."""
    if message.startswith("timeout"):
        return "timeout"
    if "values differ" in message:
        return "wrong values"
    if re.search(r": dtype \S+, expected", message):
        return "wrong dtype"
    if re.search(r": shape \[.*\], expected", message):
        return "wrong shape"
    if message.startswith("crashed") or ", crashed" in message:
        return "crash: " + core_reason(message)
    return core_reason(message)

def write_markdown(path: Path, table: dict[str, dict], runner: str) -> None:
    lines = [
        "| op | node tests passed | notes |",
        "|---|---|---|",
    ]
    for op in sorted(table, key=str.lower):
        row = table[op]
        total = row["pass"] + row["fail"]
        notes = []
        if total == 0 and row["excluded"] == 0:
            notes.append("no ONNX node test")
        groups: dict[str, list[str]] = {}
        for r in row["failed"]:
            groups.setdefault(short_reason(r.message), []).append(r.test.name)
        for r in row["excluded_tests"]:
            groups.setdefault(f"not run: {r.message}", []).append(r.test.name)
        for reason, names in groups.items():
            who = ", ".join(f"`{n}`" for n in names) if len(names) <= 2 else f"{len(names)} tests"
            notes.append(f"{reason} ({who})")
        passed = f"{row['pass']}/{total}" if total else "-"
        lines.append(f"| {op} | {passed} | {'; '.join(notes)} |")
    n_pass = sum(r["pass"] for r in table.values())
    n_fail = sum(r["fail"] for r in table.values())
    lines.append("")
    lines.append(
        f"{n_pass} of {n_pass + n_fail} ONNX node tests pass ({runner}); generated by `tools/conformance.py --markdown`."
    )
    path.write_text("\n".join(lines) + "\n")

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runmodel", default=DEFAULT_RUNMODEL, help=f"runmodel binary (default {DEFAULT_RUNMODEL})")
    ap.add_argument("--testdata", default=DEFAULT_TESTDATA, help=f"node test folder (default {DEFAULT_TESTDATA})")
    ap.add_argument("--ops", nargs="+", help="ops to test (comma or space separated) instead of `runmodel --list-ops`")
    ap.add_argument("--filter", help="only tests whose name matches this glob, e.g. 'test_conv*'")
    ap.add_argument("--jobs", "-j", type=int, default=1, help="tests run in parallel (default 1)")
    ap.add_argument("--markdown", type=Path, help="write the README op table to this file")
    ap.add_argument("--keep-temp", action="store_true", help="keep the temporary directories")
    ap.add_argument("--verbose", "-v", action="store_true", help="also print passing tests")
    ap.add_argument("--runner", choices=["runmodel", "ort"], default="runmodel", help=argparse.SUPPRESS)
    # Hidden: act as an ONNX Runtime stand-in for runmodel.
    ap.add_argument("--ort-exec", metavar="MODEL", help=argparse.SUPPRESS)
    ap.add_argument("--input", action="append", default=[], help=argparse.SUPPRESS)
    ap.add_argument("--output-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.ort_exec:
        return ort_exec(args.ort_exec, args.input, args.output_dir)

    testdata = Path(args.testdata)
    if not testdata.is_dir():
        print(f"no node tests at {testdata}", file=sys.stderr)
        return 2

    if args.runner == "runmodel" and not Path(args.runmodel).exists() and shutil.which(args.runmodel) is None:
        print(f"runmodel not found at {args.runmodel} (build it, or pass --runmodel)", file=sys.stderr)
        return 2
    if args.ops:
        ops = [o for item in args.ops for o in item.replace(",", " ").split()]
    elif args.runner == "ort":
        ops = None
    else:
        try:
            ops = list_ops(args.runmodel)
        except Exception as e:  # noqa: BLE001
            print(f"{e}\npass the supported ops with --ops until runmodel has --list-ops", file=sys.stderr)
            return 2

    tests, seen = discover(testdata, set(ops) if ops is not None else None)
    if ops is None:
        ops = sorted(seen)
    if args.filter:
        tests = [t for t in tests if fnmatch.fnmatchcase(t.name, args.filter)]
        ops = [op for op in ops if any(t.op == op for t in tests)]

    if args.runner == "ort":
        prefix = [sys.executable, str(Path(__file__).resolve()), "--ort-exec"]
        runner_desc = "ONNX Runtime stand-in"
    else:
        prefix = [str(Path(args.runmodel).resolve()) if Path(args.runmodel).exists() else args.runmodel]
        runner_desc = f"runmodel {args.runmodel}"
    print(f"{len(tests)} node tests for {len(ops)} ops, runner: {runner_desc}")
    print("exclusions:")
    for pattern, reason in EXCLUSIONS:
        print(f"  {pattern:<28} {reason}")

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(lambda t: run_test(t, prefix, args.keep_temp), tests))

    print()
    for r in results:
        if r.status == "fail":
            print(f"FAILED {r.test.name} [{r.test.op}]: {r.message}")
        elif args.verbose:
            print(f"{r.status:<8} {r.test.name} [{r.test.op}] {r.seconds:.2f} s {r.message}")

    table = summarize(ops, results)
    width = max([len(op) for op in table] + [2])
    print(f"\n{'op':<{width}}  passed  failed  excluded")
    for op in sorted(table, key=str.lower):
        row = table[op]
        note = "  (no node tests)" if row["pass"] + row["fail"] + row["excluded"] == 0 else ""
        print(f"{op:<{width}}  {row['pass']:>6}  {row['fail']:>6}  {row['excluded']:>8}{note}")

    n_pass = sum(r.status == "pass" for r in results)
    n_fail = sum(r.status == "fail" for r in results)
    n_excl = sum(r.status == "excluded" for r in results)
    if args.markdown:
        write_markdown(args.markdown, table, "ONNX Runtime" if args.runner == "ort" else "runmodel")
        print(f"\nwrote {args.markdown}")
    print(f"\n{n_pass} passed, {n_fail} failed" + (f" ({n_excl} excluded)" if n_excl else ""))
    return 1 if n_fail else 0

if __name__ == "__main__":
    sys.exit(main())
