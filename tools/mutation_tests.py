#!/usr/bin/env python3
"""Mutation testing of Dyadic's command-line tools on hostile and malformed input.

The tools promise (README, "Bad input") that a corrupt model, a bad .npy file or a bad
option prints one `error:` line, exits with status 1 and leaves no output file behind.
This script checks that promise the way a careless exporter or an attacker would break
it: it takes the models under models/ as seeds, damages them one class of defect at a
time (structured mutations with the onnx package, or byte by byte), runs runmodel,
`runmodel --describe`, latency and quantize on every mutant under a time and memory
limit, and sorts each run into one outcome:

  clean-error       exit 1, stderr exactly one line starting with `error:`, nothing left
                    in the output locations
  accepted          exit 0, and ONNX Runtime also accepts the mutant (or cannot tell)
  accepted-invalid  exit 0 on something invalid: ONNX Runtime (or numpy, for .npy files)
                    rejects the same mutant, or the command line is invalid by construction,
                    or quantize wrote a model ONNX Runtime rejects
  wrong-output      exit 0 on an input that means the same as the seed's (e.g. a big-endian
                    or Fortran-order .npy file) but the outputs differ from the seed's, or
                    fewer output files than graph outputs
  crash             killed by a signal, or an exit status other than 0, 1 and 64
  hang              the time limit ran out
  partial-output    a failed run left a file or directory in its output locations
  unclear-message   exit 1 (or 64) without exactly one `error:` line on stderr

Classes (--classes): arity, attributes, dims, dtypes, scales, zero-points, shapes, huge,
names, bytes, npy, quantize-args, output-paths; the runs are spread evenly over them.
Each run is reproducible from --seed and its index alone (its own random generator), so
--jobs does not change what is run, and --only INDEX replays one. Every run that is not
clean-error or accepted gets a reproducer (the mutant's files and a run.sh; at most
--max-reproducers per distinct finding) under --keep, and results.jsonl there lists every
run. Crashes are told apart by the first frame of the Swift backtrace in the project's
sources; where there is none (an allocation failure), and for hangs, by a rerun under gdb.
The tools run pinned where this script runs: start it with `taskset -c N nice -n 10` on a
shared machine.

usage: python3 tools/mutation_tests.py [--runs N] [--seed S] [--bin DIR] [--classes a,b,...]
                                       [--jobs J] [--keep DIR] [--markdown] [--max-minutes M]
"""
import argparse
import collections
import io
import json
import os
import random
import re
import resource
import select
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
TIMEOUT_SECONDS = 20
ADDRESS_SPACE_LIMIT = 8 << 30
MAX_SEED_BYTES = 30 << 20

OUTCOMES = ["clean-error", "accepted", "accepted-invalid", "wrong-output", "crash", "hang",
            "partial-output", "unclear-message"]
# Outcomes that get a reproducer and a place in the report.
FINDINGS = ["crash", "hang", "accepted-invalid", "wrong-output", "partial-output", "unclear-message"]

# Values that break integer arithmetic on sizes: 32-bit and 64-bit overflow, zero, negatives.
HUGE_INTS = [2**31 - 1, 2**31, 2**32, 2**40, 2**61, 2**62, 2**63 - 1]
BAD_INTS = [0, -1, -2, -2**31, -2**63] + HUGE_INTS
BAD_FLOATS = [0.0, -0.0, -1.0, float("inf"), float("-inf"), float("nan"), 1e-30, 1e-40,
              1.4e-45, 3.4e38, -3.4e38, 1e30]
WEIRD_NAMES = ["", " ", "\n", "a\nb", "line1\r\nline2", "\x01\x02\x7f", "\t", '"', "'",
               "\\", "a\"b'c", "../../../tmp/escape", "/", ".", "..", "a=b", "%s%n%x",
               "\u202eevil", "名前ü", "x" * 300, "y" * 100_000, "\x1b[31mred", "a/b",
               "con", "nul\x00byte"]


# ---------------------------------------------------------------------------------------
# Seeds: the repository's models and their inputs
# ---------------------------------------------------------------------------------------

@dataclass
class InputSpec:
    name: str
    elem_type: int
    declared: list          # declared dims; None for a symbolic or missing dimension
    array: np.ndarray       # the data every run of this seed feeds


@dataclass
class Seed:
    rel: str                # path relative to the repository
    data: bytes
    model: object           # onnx.ModelProto; mutations work on copies
    inputs: list
    ops: set
    quantized: bool
    weight: float
    ort_runs: bool = False  # ONNX Runtime runs the unmodified seed: its verdicts mean something
    dyadic_runs: bool = False
    baseline: dict = field(default_factory=dict)   # runmodel's output files on the seed


def npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def read_npy_header(path):
    """Shape and dtype from a .npy header without reading the data."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    return shape, dtype


def declared_input_specs(model):
    initializers = {t.name for t in model.graph.initializer}
    specs = []
    for vi in model.graph.input:
        if vi.name in initializers:
            continue
        tt = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                for d in tt.shape.dim]
        specs.append(InputSpec(vi.name, tt.elem_type, dims, None))
    return specs


def synthetic_array(spec, rng):
    """Data of the declared shape (symbolic dimensions become 1) and type."""
    import onnx
    shape = [d if d is not None else 1 for d in spec.declared]
    dtype = onnx.helper.tensor_dtype_to_np_dtype(spec.elem_type)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -100), min(info.max, 100) + 1, size=shape).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    raise ValueError(f"no synthetic data for {dtype}")


def find_input_arrays(path, model):
    """Each graph input's data: a .npy beside the model that fits its declared shape and
    type (input_K.npy, STEM.input_K.npy, NAME.npy first, then any other), else
    synthetic data."""
    import onnx
    specs = declared_input_specs(model)
    folder = path.parent
    candidates = sorted(folder.glob("*.npy")) + sorted((folder / "samples").glob("*.npy"))
    candidates = [c for c in candidates
                  if not re.search(r"output|logits|labels|predictions", c.name)]
    rng = np.random.default_rng(len(str(path)))
    for k, spec in enumerate(specs):
        preferred = [folder / f"input_{k}.npy", folder / f"{path.stem}.input_{k}.npy",
                     folder / f"{spec.name}.npy"]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(spec.elem_type)
        for c in preferred + candidates:
            if not c.is_file():
                continue
            try:
                shape, ftype = read_npy_header(c)
            except Exception:
                continue
            if ftype != dtype or len(shape) != len(spec.declared):
                continue
            if all(d is None or d == s for d, s in zip(spec.declared, shape)) and min(shape, default=1) > 0:
                if int(np.prod(shape)) <= 1 << 22:
                    spec.array = np.load(c, allow_pickle=False)
                    break
        if spec.array is None:
            spec.array = synthetic_array(spec, rng)
    return specs


QUANTIZED_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "QGemm",
                 "QLinearAdd", "QLinearMul", "QLinearConcat", "QLinearSigmoid", "QLinearSoftmax",
                 "QLinearLeakyRelu", "QLinearGlobalAveragePool", "QLinearAveragePool",
                 "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear"}


def load_seeds(models_dir):
    import onnx
    seeds = []
    for path in sorted(models_dir.rglob("*.onnx")):
        size = path.stat().st_size
        if size > MAX_SEED_BYTES:
            continue
        data = path.read_bytes()
        try:
            model = onnx.load_from_string(data)
            inputs = find_input_arrays(path, model)
        except Exception as e:
            print(f"skipping seed {path}: {e}", file=sys.stderr)
            continue
        ops = {n.op_type for n in model.graph.node}
        seeds.append(Seed(rel=str(path.relative_to(REPO)), data=data, model=model, inputs=inputs,
                          ops=ops, quantized=bool(ops & QUANTIZED_OPS),
                          weight=1.0 if size < 100_000 else 0.2))
    return seeds


# ---------------------------------------------------------------------------------------
# Mutations
# ---------------------------------------------------------------------------------------

@dataclass
class Mutation:
    """One defect. `kind` names what was done without the random values (results are
    grouped by it); `detail` says exactly what, so a report line is a reproduction recipe."""
    kind: str
    detail: str
    model: object = None        # mutated ModelProto or raw bytes; None: the seed unchanged
    inputs: dict = None         # input index -> .npy bytes replacing the seed's data
    input_names: list = None    # names to pass to --input (after a rename)
    tools: tuple = ("runmodel", "describe", "latency", "quantize")
    equivalent: bool = False    # means the same as the seed: runmodel's outputs must match
    # Complete command (quantize-argument class): argv after the binary, files under in/,
    # shell commands run in the work folder first.
    argv: list = None
    files: dict = None
    prep: list = None
    expected_outputs: list = None   # what a successful complete command may write in work/
    expect_error: bool = None   # True: exit 0 is wrong whatever ONNX Runtime says


class Ctx:
    """A seed being mutated: a private copy of its model and the run's random generator."""

    def __init__(self, rng, seed):
        import onnx
        self.rng = rng
        self.seed = seed
        self.model = onnx.ModelProto()
        self.model.CopyFrom(seed.model)

    @property
    def graph(self):
        return self.model.graph

    def choice(self, seq):
        seq = list(seq)
        return self.rng.choice(seq) if seq else None

    def nodes(self, ops=None, where=None):
        return [n for n in self.graph.node
                if (ops is None or n.op_type in ops) and (where is None or where(n))]

    def initializer(self, name):
        for t in self.graph.initializer:
            if t.name == name:
                return t
        return None

    def constant(self, name):
        """The TensorProto holding a constant value: an initializer or a Constant node's."""
        t = self.initializer(name)
        if t is not None:
            return t
        for n in self.graph.node:
            if n.op_type == "Constant" and n.output and n.output[0] == name:
                for a in n.attribute:
                    if a.name == "value":
                        return a.t
        return None

    def graph_inputs(self):
        inits = {t.name for t in self.graph.initializer}
        return [vi for vi in self.graph.input if vi.name not in inits]

    def fresh(self, base):
        used = {v for n in self.graph.node for v in list(n.input) + list(n.output)}
        used |= {t.name for t in self.graph.initializer} | {v.name for v in self.graph.input}
        k = 0
        while f"{base}_{k}" in used:
            k += 1
        return f"{base}_{k}"

    def mutation(self, kind, detail, **kw):
        return Mutation(kind=kind, detail=detail, model=self.model, **kw)


def set_values(tensor, array):
    """Replace a TensorProto's contents (keeping its name) by `array`."""
    from onnx import numpy_helper
    name = tensor.name
    tensor.CopyFrom(numpy_helper.from_array(np.asarray(array), name))


def values(tensor):
    from onnx import numpy_helper
    return numpy_helper.to_array(tensor)


def to_raw(tensor):
    """Store a tensor's data as raw_data, so a data_type or dims change keeps the bytes."""
    if not tensor.HasField("raw_data"):
        set_values(tensor, values(tensor))


def set_attr(node, name, value):
    from onnx import helper
    keep = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend(keep)
    node.attribute.append(helper.make_attribute(name, value))


def get_attr(node, name):
    for a in node.attribute:
        if a.name == name:
            return a
    return None


def insert_on_input(ctx, op, attrs=None, params=(), rank=4):
    """Put `op(x, *params)` between a float graph input of the given rank and its consumers
    (`params`: numpy arrays, added as initializers of their own types). Lets every seed
    exercise an operator it does not contain."""
    from onnx import TensorProto, helper, numpy_helper
    candidates = [vi for vi in ctx.graph_inputs()
                  if vi.type.tensor_type.elem_type == TensorProto.FLOAT
                  and (rank is None or len(vi.type.tensor_type.shape.dim) == rank)]
    if not candidates:
        return None
    vi = ctx.choice(candidates)
    x = vi.name
    y = ctx.fresh(f"{op.lower()}_mutant_out")
    for n in ctx.graph.node:
        for k, name in enumerate(n.input):
            if name == x:
                n.input[k] = y
    for o in ctx.graph.output:
        if o.name == x:
            return None
    inputs = [x]
    for arr in params:
        name = ctx.fresh(f"{op.lower()}_param")
        ctx.graph.initializer.append(numpy_helper.from_array(np.asarray(arr), name))
        inputs.append(name)
    node = helper.make_node(op, inputs, [y], name=ctx.fresh(f"{op}_mutant"), **(attrs or {}))
    ctx.graph.node.insert(0, node)
    return node


def input_channels(ctx):
    for vi in ctx.graph_inputs():
        dims = vi.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[1].dim_value > 0:
            return dims[1].dim_value, dims[2].dim_value or 8, dims[3].dim_value or 8
    return 3, 8, 8


# Scale and zero-point inputs of the quantized operators, as (scale index, zero-point index).
QPARAMS = {
    "QuantizeLinear": [(1, 2)], "DequantizeLinear": [(1, 2)],
    "QLinearConv": [(1, 2), (4, 5), (6, 7)], "QLinearMatMul": [(1, 2), (4, 5), (6, 7)],
    "QGemm": [(1, 2), (4, 5), (7, 8)], "QLinearAdd": [(1, 2), (4, 5), (6, 7)],
    "QLinearMul": [(1, 2), (4, 5), (6, 7)],
    "QLinearGlobalAveragePool": [(1, 2), (3, 4)], "QLinearAveragePool": [(1, 2), (3, 4)],
    "QLinearSigmoid": [(1, 2), (3, 4)], "QLinearLeakyRelu": [(1, 2), (3, 4)],
    "QLinearSoftmax": [(1, 2), (3, 4)],
    "ConvInteger": [(None, 2), (None, 3)], "MatMulInteger": [(None, 2), (None, 3)],
}


def qparam_slots(model):
    """Every (node, scale input name, zero-point input name) of the model's quantized ops."""
    slots = []
    for n in model.graph.node:
        pairs = QPARAMS.get(n.op_type)
        if n.op_type == "QLinearConcat":
            pairs = [(0, 1)] + [(k + 1, k + 2) for k in range(2, len(n.input), 3)]
        for s, z in pairs or []:
            scale = n.input[s] if s is not None and s < len(n.input) else ""
            zp = n.input[z] if z < len(n.input) else ""
            slots.append((n, scale, zp))
    return slots


def has_qparams(seed):
    return bool(qparam_slots(seed.model))


MUTATION_CLASSES = {}


@dataclass
class MutationClass:
    name: str
    fn: object
    applies: object     # Seed -> bool


def mutation_class(name, applies=lambda seed: True):
    def register(fn):
        MUTATION_CLASSES[name] = MutationClass(name, fn, applies)
        return fn
    return register


def pick_variant(ctx, variants):
    """Try the variants in random order and return the first that applies to this seed."""
    variants = list(variants)
    ctx.rng.shuffle(variants)
    for variant in variants:
        result = variant(ctx)
        if result is not None:
            return result
    return None


# --- arity -----------------------------------------------------------------------------

@mutation_class("arity")
def mutate_arity(ctx):
    """Inputs and outputs a node's schema does not allow (a DequantizeLinear with no output,
    a Conv with one input, an extra input or output): graph validation is meant to reject
    them before any lowering code indexes a node's inputs."""
    preferred = ("Conv", "DequantizeLinear", "QuantizeLinear", "QLinearConv", "Gemm", "MatMul",
                 "QLinearMatMul", "QGemm", "QLinearAdd", "Resize", "Pad", "Reshape")

    def pick_node(c):
        nodes = c.nodes(preferred) if c.rng.random() < 0.7 else []
        return c.choice(nodes or c.graph.node)

    def drop_input(c):
        n = pick_node(c)
        if not n or not n.input:
            return None
        k = c.rng.randrange(len(n.input))
        removed = n.input[k]
        del n.input[k]
        return c.mutation(f"drop an input of {n.op_type}",
                          f"node '{n.name}' ({n.op_type}) loses input {k} '{removed}', {len(n.input)} left")

    def keep_one_input(c):
        n = pick_node(c)
        if not n or len(n.input) < 2:
            return None
        del n.input[1:]
        return c.mutation(f"{n.op_type} with one input", f"node '{n.name}' keeps only input '{n.input[0]}'")

    def no_inputs(c):
        n = pick_node(c)
        if not n:
            return None
        del n.input[:]
        return c.mutation(f"{n.op_type} with no inputs", f"node '{n.name}' has no inputs")

    def empty_required_input(c):
        n = pick_node(c)
        if not n or not n.input:
            return None
        k = c.rng.randrange(min(len(n.input), 2))
        n.input[k] = ""
        return c.mutation(f"{n.op_type} input given as ''", f"node '{n.name}' input {k} is the empty name")

    def extra_inputs(c):
        n = pick_node(c)
        if not n:
            return None
        count = c.choice([1, 2, 5, 100])
        source = c.choice(["existing", "empty", "dangling"])
        for _ in range(count):
            if source == "existing":
                n.input.append(c.choice(list(n.input) or [c.graph.input[0].name]))
            elif source == "empty":
                n.input.append("")
            else:
                n.input.append(c.fresh("undefined_value"))
        return c.mutation(f"extra inputs on {n.op_type} ({source})",
                          f"node '{n.name}' gets {count} extra {source} inputs, {len(n.input)} in all")

    def no_outputs(c):
        n = pick_node(c)
        if not n:
            return None
        removed = list(n.output)
        del n.output[:]
        return c.mutation(f"{n.op_type} with no outputs", f"node '{n.name}' loses outputs {removed}")

    def dq_no_outputs(c):
        n = c.choice(c.nodes(["DequantizeLinear", "QuantizeLinear"]))
        if not n:
            return None
        del n.output[:]
        return c.mutation(f"{n.op_type} with no outputs", f"node '{n.name}' has no outputs")

    def extra_outputs(c):
        n = pick_node(c)
        if not n:
            return None
        count = c.choice([1, 3])
        for _ in range(count):
            n.output.append(c.fresh("extra_output"))
        if c.rng.random() < 0.5:
            from onnx import helper, TensorProto
            c.graph.output.append(helper.make_tensor_value_info(n.output[-1], TensorProto.FLOAT, None))
        return c.mutation(f"extra outputs on {n.op_type}", f"node '{n.name}' gets {count} extra outputs")

    def empty_output_name(c):
        n = pick_node(c)
        if not n or not n.output:
            return None
        n.output[0] = ""
        return c.mutation(f"{n.op_type} output named ''", f"node '{n.name}' output 0 is the empty name")

    def remove_node(c):
        n = pick_node(c)
        if not n:
            return None
        c.graph.node.remove(n)
        return c.mutation(f"{n.op_type} node removed", f"node '{n.name}' removed; its outputs {list(n.output)} dangle")

    def no_graph_outputs(c):
        del c.graph.output[:]
        return c.mutation("graph with no outputs", "graph.output emptied")

    def no_graph_inputs(c):
        inits = {t.name for t in c.graph.initializer}
        keep = [vi for vi in c.graph.input if vi.name in inits]
        del c.graph.input[:]
        c.graph.input.extend(keep)
        return c.mutation("graph with no inputs", "graph inputs (not initializers) removed")

    def empty_graph(c):
        del c.graph.node[:]
        return c.mutation("graph with no nodes", "all nodes removed")

    return pick_variant(ctx, [drop_input, keep_one_input, no_inputs, empty_required_input,
                              extra_inputs, no_outputs, dq_no_outputs, extra_outputs,
                              empty_output_name, remove_node, no_graph_outputs, no_graph_inputs,
                              empty_graph])


# --- attributes ------------------------------------------------------------------------

@mutation_class("attributes")
def mutate_attributes(ctx):
    """Attribute values of the wrong type, huge, negative or zero (pads, strides, dilations,
    group = 2^62, kernel_shape 0, axis out of range), removed required attributes, and
    operators inserted with such attributes: every size computed from an attribute must be
    checked before it is used in arithmetic or allocation."""
    from onnx import AttributeProto

    def numeric_attr(c):
        nodes = c.nodes(where=lambda n: any(a.type in (AttributeProto.INT, AttributeProto.INTS,
                                                       AttributeProto.FLOAT) for a in n.attribute))
        n = c.choice(nodes)
        if not n:
            return None
        a = c.choice([a for a in n.attribute if a.type in (AttributeProto.INT, AttributeProto.INTS,
                                                           AttributeProto.FLOAT)])
        if a.type == AttributeProto.INT:
            v = c.choice(BAD_INTS)
            a.i = v
            return c.mutation(f"{n.op_type}.{a.name} = bad int", f"node '{n.name}' {a.name} = {v}")
        if a.type == AttributeProto.FLOAT:
            v = c.choice(BAD_FLOATS)
            a.f = v
            return c.mutation(f"{n.op_type}.{a.name} = bad float", f"node '{n.name}' {a.name} = {v}")
        how = c.choice(["one element", "all elements", "empty", "longer", "shorter"])
        ints = list(a.ints)
        if how == "one element" and ints:
            ints[c.rng.randrange(len(ints))] = c.choice(BAD_INTS)
        elif how == "all elements":
            ints = [c.choice(BAD_INTS)] * max(len(ints), 1)
        elif how == "empty":
            ints = []
        elif how == "longer":
            ints = ints + [c.choice([0, 1, 2, 2**31])] * c.choice([1, 2, 6])
        else:
            ints = ints[:-1]
        del a.ints[:]
        a.ints.extend(ints)
        return c.mutation(f"{n.op_type}.{a.name} ints, {how}", f"node '{n.name}' {a.name} = {ints}")

    def targeted(c):
        table = {
            "Conv": [("group", [2**62, 0, -1, 2**31, 3, 7]), ("kernel_shape", [[0, 0], [0, 3], [2**31, 1], [3], [3, 3, 3], [-1, -1]]),
                     ("strides", [[0, 0], [-1, 1], [2**62, 1], [2**31, 2**31]]),
                     ("dilations", [[0, 1], [2**40, 1], [-2, 1], [2**31, 2**31]]),
                     ("pads", [[-1, -1, -1, -1], [2**62, 0, 0, 0], [1, 1], [1, 1, 1], [2**31 - 1] * 4, [-5, 0, 0, 0]]),
                     ("auto_pad", [b"BOGUS", b"SAME_UPPER", b"VALID", b"SAME_LOWER", b""])],
            "QLinearConv": [("group", [2**62, 0, -1, 3]), ("kernel_shape", [[0, 0], [2**31, 1]]),
                            ("strides", [[0, 0], [2**62, 1]]), ("dilations", [[0, 1], [2**40, 1]]),
                            ("pads", [[-1, -1, -1, -1], [2**62, 0, 0, 0], [1, 1]])],
            "ConvInteger": [("group", [2**62, 0, -1]), ("strides", [[0, 0]]), ("pads", [[2**62, 0, 0, 0]])],
            "MaxPool": [("kernel_shape", [[0, 0], [2**31, 2**31], [-1, 2], [2]]), ("strides", [[0, 0], [2**62, 1]]),
                        ("pads", [[-1, 0, 0, 0], [2**62] * 4, [5, 5, 5, 5]]), ("dilations", [[0, 0], [2**40, 1]]),
                        ("ceil_mode", [2, -1]), ("storage_order", [5])],
            "AveragePool": [("kernel_shape", [[0, 0], [2**31, 2**31], [-1, 2]]), ("strides", [[0, 0]]),
                            ("pads", [[-1, 0, 0, 0], [2**62] * 4, [9, 9, 9, 9]]), ("count_include_pad", [7, -1])],
            "QLinearAveragePool": [("kernel_shape", [[0, 0], [2**31, 2**31]]), ("strides", [[0, 0]]),
                                   ("pads", [[2**62] * 4])],
            "DequantizeLinear": [("axis", [4, -5, 2**62, -2**62, 1, 3]), ("block_size", [0, -1, 3, 2**40])],
            "QuantizeLinear": [("axis", [4, -5, 2**62, 1]), ("saturate", [5]), ("block_size", [0, -1, 2**40]),
                               ("output_dtype", [0, 999, 16])],
            "Concat": [("axis", [4, -5, 2**62, 0])], "QLinearConcat": [("axis", [4, -5, 2**62])],
            "Softmax": [("axis", [2, -3, 2**62])], "QLinearSoftmax": [("axis", [2, -3, 2**62]), ("opset", [0, 99])],
            "Flatten": [("axis", [5, -6, 2**62])],
            "Gemm": [("transA", [1, 2, -1]), ("transB", [0, 2, -1]), ("alpha", [float("nan"), 0.0, float("inf")]),
                     ("beta", [float("nan"), float("inf")])],
            "QGemm": [("transA", [1, 2]), ("transB", [0, 1, 2]), ("alpha", [float("nan"), 0.0])],
            "Transpose": [("perm", [[0, 0, 1, 2], [0, 1, 2, 9], [0, 1], [-1, 0, 1, 2], [3, 2, 1, 0, 4]])],
            "Resize": [("mode", [b"bogus", b"cubic", b"linear"]), ("coordinate_transformation_mode", [b"bogus", b"tf_crop_and_resize"]),
                       ("nearest_mode", [b"bogus"]), ("antialias", [2]), ("exclude_outside", [3])],
            "LeakyRelu": [("alpha", [float("nan"), float("inf"), -1e30])],
            "QLinearLeakyRelu": [("alpha", [float("nan"), float("inf")])],
            "Pad": [("mode", [b"bogus", b"reflect", b"edge", b"wrap"])],
            "Reshape": [("allowzero", [1, 2, -1])],
            "Clip": [("min", [float("nan")]), ("max", [float("-inf")])],
            "QLinearGlobalAveragePool": [("channels_last", [1, 2])],
        }
        nodes = c.nodes(table.keys())
        n = c.choice(nodes)
        if not n:
            return None
        name, options = c.choice(table[n.op_type])
        v = c.choice(options)
        set_attr(n, name, v)
        shown = v.decode() if isinstance(v, bytes) else v
        return c.mutation(f"{n.op_type}.{name} = {shown!r}"[:80], f"node '{n.name}' {name} = {shown!r}")

    def wrong_type(c):
        n = c.choice(c.nodes(where=lambda n: len(n.attribute) > 0))
        if not n:
            return None
        a = c.choice(n.attribute)
        old = a.type
        target = c.choice(["float", "string", "ints-for-int", "int-for-ints", "tensor", "graph",
                           "type-without-value", "undefined", "mismatched-tag"])
        name = a.name
        a.Clear()
        a.name = name
        if target == "float":
            a.type, a.f = AttributeProto.FLOAT, 2.5
        elif target == "string":
            a.type, a.s = AttributeProto.STRING, b"1"
        elif target == "ints-for-int":
            a.type = AttributeProto.INTS
            a.ints.extend([1, 2])
        elif target == "int-for-ints":
            a.type, a.i = AttributeProto.INT, 3
        elif target == "tensor":
            from onnx import helper, TensorProto
            a.type = AttributeProto.TENSOR
            a.t.CopyFrom(helper.make_tensor("t", TensorProto.FLOAT, [2], [1.0, 2.0]))
        elif target == "graph":
            a.type = AttributeProto.GRAPH
            a.g.name = "empty"
        elif target == "type-without-value":
            a.type = old
        elif target == "undefined":
            a.type = AttributeProto.UNDEFINED
            a.i = 1
        else:
            a.type = AttributeProto.INT if old != AttributeProto.INT else AttributeProto.FLOATS
            a.f = 1.0
            a.s = b"x"
        return c.mutation(f"{n.op_type}.{name} of the wrong type ({target})",
                          f"node '{n.name}' attribute {name} (type {old}) replaced: {target}")

    def remove_attr(c):
        n = c.choice(c.nodes(where=lambda n: len(n.attribute) > 0))
        if not n:
            return None
        a = c.choice(n.attribute)
        n.attribute.remove(a)
        return c.mutation(f"{n.op_type}.{a.name} removed", f"node '{n.name}' loses attribute {a.name}")

    def duplicate_attr(c):
        n = c.choice(c.nodes(where=lambda n: len(n.attribute) > 0))
        if not n:
            return None
        a = c.choice(n.attribute)
        b = n.attribute.add()
        b.CopyFrom(a)
        if b.type == AttributeProto.INT:
            b.i = b.i + 1
        elif b.type == AttributeProto.INTS and b.ints:
            b.ints[0] = b.ints[0] + 1
        return c.mutation(f"{n.op_type}.{a.name} given twice", f"node '{n.name}' has attribute {a.name} twice, different values")

    def unknown_attr(c):
        n = c.choice(c.graph.node)
        if not n:
            return None
        name = c.choice(["bogus_attribute", "", "axis", "group", "\n"])
        if get_attr(n, name) is not None:
            return None
        set_attr(n, name, c.choice([1, 2**62, -1, [1, 2, 3]]))
        return c.mutation(f"attribute {name!r} added to {n.op_type}", f"node '{n.name}' gets attribute {name!r}")

    def inserted_op(c):
        ch, h, w = input_channels(c)
        op, attrs, extra = c.choice([
            ("DepthToSpace", {"blocksize": c.choice([0, -1, 2**31, 2**62, 3])}, []),
            ("SpaceToDepth", {"blocksize": c.choice([0, -1, 2**31, 2**62, 5])}, []),
            ("Softmax", {"axis": c.choice([4, -5, 2**62])}, []),
            ("LogSoftmax", {"axis": c.choice([4, -5, 2**62])}, []),
            ("Flatten", {"axis": c.choice([5, -6, 2**62])}, []),
            ("Gather", {"axis": c.choice([4, -5, 2**62])}, [np.array([0], np.int64)]),
            ("ArgMax", {"axis": c.choice([4, -5, 2**62])}, []),
            ("ReduceMean", {"axes": c.choice([[7], [-9], [1, 1], [2**62]])}, []),
            ("Transpose", {"perm": c.choice([[0, 0, 1, 2], [0, 1, 2, 9], [0, 1], [0, 1, 2, 3, 4]])}, []),
            ("Cast", {"to": c.choice([0, 999, -1, 8])}, []),
            ("Elu", {"alpha": c.choice([float("nan"), float("inf")])}, []),
            ("HardSigmoid", {"alpha": float("nan"), "beta": float("inf")}, []),
            ("InstanceNormalization", {"epsilon": c.choice([float("nan"), -1.0])},
             [np.ones(ch, np.float32), np.zeros(ch, np.float32)]),
            ("Split", {"axis": c.choice([4, -5, 2**62])}, []),
            ("Unsqueeze", {}, [np.array(c.choice([[9], [-9], [0, 0], [2**62]]), np.int64)]),
            ("Squeeze", {}, [np.array(c.choice([[9], [1], [-9]]), np.int64)]),
            ("AveragePool", {"kernel_shape": c.choice([[0, 0], [2**31, 1], [-1, -1]])}, []),
            ("MaxPool", {"kernel_shape": c.choice([[0, 0], [1, 2**40], [h + 5, w + 5]])}, []),
            ("GlobalMaxPool", {"bogus": 1}, []),
            ("LayerNormalization", {"axis": c.choice([4, -5, 2**62])}, [np.ones(w, np.float32)]),
            ("ConvTranspose", {"group": c.choice([0, 2**62]), "output_padding": [2**31, 0]},
             [np.ones((ch, 1, 3, 3), np.float32)]),
        ])
        if insert_on_input(c, op, attrs, extra) is None:
            return None
        shown = {k: v for k, v in attrs.items()}
        return c.mutation(f"inserted {op} with a bad attribute", f"{op} {shown} on the graph input")

    return pick_variant(ctx, [numeric_attr, targeted, targeted, wrong_type, remove_attr,
                              duplicate_attr, unknown_attr, inserted_op, inserted_op])


# --- dims ------------------------------------------------------------------------------

@mutation_class("dims")
def mutate_dims(ctx):
    """Huge (2^31, 2^61), zero and negative dimensions in initializers and in declared graph
    inputs and outputs, products that overflow 64 bits, and data whose length disagrees
    with its dims: element counts must be computed with overflow checks and compared with
    the bytes actually present."""
    bad_dims = [2**31, 2**31 - 1, 2**32, 2**61, 2**63 - 1, 0, -1, -2**63]

    def initializer_dim(c):
        t = c.choice([t for t in c.graph.initializer if len(t.dims) > 0])
        if t is None:
            return None
        to_raw(t)
        k = c.rng.randrange(len(t.dims))
        v = c.choice(bad_dims)
        t.dims[k] = v
        return c.mutation(f"initializer dim = {v}", f"initializer '{t.name}' dims[{k}] = {v}, now {list(t.dims)}")

    def initializer_overflow(c):
        t = c.choice(list(c.graph.initializer))
        if t is None:
            return None
        to_raw(t)
        dims = c.choice([[2**32, 2**32], [2**21, 2**21, 2**21], [2**32, 2**32, 2**32], [-1, -1],
                         [2**31, 2**31, 2], [-2**31, 2**31], [2**62, 4]])
        del t.dims[:]
        t.dims.extend(dims)
        return c.mutation("initializer dims whose product overflows", f"initializer '{t.name}' dims = {dims}")

    def initializer_rank(c):
        t = c.choice(list(c.graph.initializer))
        if t is None:
            return None
        to_raw(t)
        how = c.choice(["scalar", "extra 1", "rank 64", "transposed"])
        dims = list(t.dims)
        if how == "scalar":
            dims = []
        elif how == "extra 1":
            dims = dims + [1]
        elif how == "rank 64":
            dims = [1] * 63 + [int(np.prod(dims)) if dims else 1]
        else:
            dims = dims[::-1]
        del t.dims[:]
        t.dims.extend(dims)
        return c.mutation(f"initializer rank changed ({how})", f"initializer '{t.name}' dims = {dims[:8]}{'...' if len(dims) > 8 else ''}")

    def data_length(c):
        t = c.choice([t for t in c.graph.initializer])
        if t is None:
            return None
        to_raw(t)
        how = c.choice(["one byte short", "one byte long", "empty", "half", "doubled"])
        raw = t.raw_data
        raw = {"one byte short": raw[:-1], "one byte long": raw + b"\x00", "empty": b"",
               "half": raw[:len(raw) // 2], "doubled": raw + raw}[how]
        t.raw_data = raw
        return c.mutation(f"initializer data {how}", f"initializer '{t.name}' raw_data {how} ({len(raw)} bytes, dims {list(t.dims)})")

    def typed_field_count(c):
        from onnx import TensorProto
        t = c.choice([t for t in c.graph.initializer if t.data_type == TensorProto.FLOAT])
        if t is None:
            return None
        arr = values(t).ravel()
        how = c.choice(["short", "long", "raw and typed"])
        raw_before = t.raw_data if t.HasField("raw_data") else None
        t.ClearField("raw_data")
        del t.float_data[:]
        if how == "short":
            t.float_data.extend(arr[:-1].tolist())
        elif how == "long":
            t.float_data.extend(arr.tolist() + [1.0])
        else:
            t.float_data.extend(arr.tolist())
            t.raw_data = raw_before or arr.astype(np.float32).tobytes()
        return c.mutation(f"float_data {how}", f"initializer '{t.name}' float_data {how} (dims {list(t.dims)})")

    def declared_input_dim(c):
        vi = c.choice([vi for vi in c.graph_inputs() if len(vi.type.tensor_type.shape.dim) > 0])
        if vi is None:
            return None
        dims = vi.type.tensor_type.shape.dim
        k = c.rng.randrange(len(dims))
        v = c.choice(bad_dims)
        dims[k].Clear()
        dims[k].dim_value = v
        return c.mutation(f"declared input dim = {v}", f"graph input '{vi.name}' dim {k} = {v}")

    def declared_input_shape(c):
        vi = c.choice(c.graph_inputs())
        if vi is None:
            return None
        tt = vi.type.tensor_type
        how = c.choice(["no shape", "rank 0", "extra dims", "all symbolic", "dim with neither", "huge rank"])
        if how == "no shape":
            tt.ClearField("shape")
        elif how == "rank 0":
            del tt.shape.dim[:]
        elif how == "extra dims":
            tt.shape.dim.add().dim_value = 1
            tt.shape.dim.add().dim_value = 2
        elif how == "all symbolic":
            for k, d in enumerate(tt.shape.dim):
                d.Clear()
                d.dim_param = f"s{k}"
        elif how == "dim with neither":
            d = tt.shape.dim[c.rng.randrange(len(tt.shape.dim))] if tt.shape.dim else tt.shape.dim.add()
            d.Clear()
        else:
            for _ in range(100):
                tt.shape.dim.add().dim_value = 1
        return c.mutation(f"declared input shape: {how}", f"graph input '{vi.name}': {how}")

    def declared_output_dim(c):
        vi = c.choice([vi for vi in c.graph.output if len(vi.type.tensor_type.shape.dim) > 0])
        if vi is None:
            return None
        dims = vi.type.tensor_type.shape.dim
        k = c.rng.randrange(len(dims))
        v = c.choice(bad_dims + [7])
        dims[k].Clear()
        dims[k].dim_value = v
        return c.mutation(f"declared output dim = {v}", f"graph output '{vi.name}' dim {k} = {v}")

    def value_info_dim(c):
        from onnx import helper, TensorProto
        produced = [o for n in c.graph.node for o in n.output if o]
        name = c.choice(produced)
        if name is None:
            return None
        dims = c.choice([[2**31, 2**31], [0], [-1, 3], [1, 2**61, 1, 1]])
        c.graph.value_info.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))
        return c.mutation("value_info with bad dims", f"value_info for '{name}' dims {dims}")

    return pick_variant(ctx, [initializer_dim, initializer_dim, initializer_overflow, initializer_rank,
                              data_length, typed_field_count, declared_input_dim, declared_input_dim,
                              declared_input_shape, declared_output_dim, value_info_dim])


# --- dtypes ----------------------------------------------------------------------------

@mutation_class("dtypes")
def mutate_dtypes(ctx):
    """Initializer, input and output element types changed: retagged (same bytes, new type),
    converted (consistent values of a type the operator does not take: int32 zero point,
    float16 weights), unknown enum values. Every reader of a tensor must check its type."""
    from onnx import TensorProto, helper
    retags = [TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.INT32, TensorProto.INT64,
              TensorProto.UINT8, TensorProto.INT8, TensorProto.BOOL, TensorProto.STRING,
              TensorProto.BFLOAT16, TensorProto.FLOAT8E4M3FN, TensorProto.INT4, TensorProto.UINT4,
              TensorProto.COMPLEX64, TensorProto.UINT64, TensorProto.UNDEFINED, 99, -1, 2**31 - 1]
    names = {v: k for k, v in TensorProto.DataType.items()}

    def retag(c):
        t = c.choice(list(c.graph.initializer))
        if t is None:
            return None
        to_raw(t)
        new = c.choice([d for d in retags if d != t.data_type])
        old = t.data_type
        t.data_type = new
        return c.mutation(f"initializer retagged {names.get(old, old)} -> {names.get(new, new)}",
                          f"initializer '{t.name}' data_type {old} -> {new}, raw bytes kept")

    def convert(c):
        t = c.choice(list(c.graph.initializer))
        if t is None:
            return None
        try:
            arr = values(t)
        except Exception:
            return None
        targets = {"f": [np.float16, np.float64, np.int32, np.uint8],
                   "i": [np.int32, np.int64, np.int16, np.float32, np.uint8],
                   "u": [np.int32, np.int8, np.uint16, np.float32, np.int64]}.get(arr.dtype.kind)
        if not targets:
            return None
        new = c.choice([d for d in targets if np.dtype(d) != arr.dtype])
        with np.errstate(all="ignore"):
            set_values(t, arr.astype(new))
        return c.mutation(f"initializer converted {arr.dtype} -> {np.dtype(new)}",
                          f"initializer '{t.name}' {arr.dtype}{list(arr.shape)} converted to {np.dtype(new)}")

    def zero_point_int32(c):
        slots = [(n, z) for n, s, z in qparam_slots(c.model) if z and c.initializer(z) is not None]
        if not slots:
            return None
        n, z = c.choice(slots)
        t = c.initializer(z)
        new = c.choice([np.int32, np.int16, np.float32, np.int64])
        set_values(t, values(t).astype(new))
        return c.mutation(f"{n.op_type} zero point as {np.dtype(new)}", f"zero point '{z}' of '{n.name}' converted to {np.dtype(new)}")

    def float16_weights(c):
        t = c.choice([t for t in c.graph.initializer if t.data_type == TensorProto.FLOAT and len(t.dims) >= 2])
        if t is None:
            return None
        set_values(t, values(t).astype(np.float16))
        return c.mutation("float16 weights", f"initializer '{t.name}' converted to float16")

    def input_type(c):
        vi = c.choice(c.graph_inputs())
        if vi is None:
            return None
        new = c.choice([TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.INT8, TensorProto.UINT8,
                        TensorProto.INT32, TensorProto.INT64, TensorProto.BOOL, TensorProto.STRING,
                        TensorProto.UNDEFINED, 99])
        old = vi.type.tensor_type.elem_type
        vi.type.tensor_type.elem_type = new
        inputs = None
        idx = [v.name for v in c.graph_inputs()].index(vi.name)
        note = "seed's data kept"
        if new in (TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.INT8, TensorProto.UINT8,
                   TensorProto.INT32, TensorProto.INT64, TensorProto.BOOL) and c.rng.random() < 0.5:
            dtype = helper.tensor_dtype_to_np_dtype(new)
            with np.errstate(all="ignore"):
                inputs = {idx: npy_bytes(c.seed.inputs[idx].array.astype(dtype))}
            note = f"data converted to {np.dtype(dtype)}"
        return c.mutation(f"graph input declared {names.get(new, new)}",
                          f"graph input '{vi.name}' elem_type {old} -> {new} ({note})", inputs=inputs)

    def output_type(c):
        vi = c.choice(list(c.graph.output))
        if vi is None:
            return None
        new = c.choice([TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.INT8, TensorProto.UINT8,
                        TensorProto.INT32, TensorProto.STRING, TensorProto.UNDEFINED, 99, TensorProto.FLOAT])
        old = vi.type.tensor_type.elem_type
        vi.type.tensor_type.elem_type = new
        return c.mutation(f"graph output declared {names.get(new, new)}", f"graph output '{vi.name}' elem_type {old} -> {new}")

    def not_a_tensor(c):
        vi = c.choice(list(c.graph_inputs()) + list(c.graph.output))
        if vi is None:
            return None
        how = c.choice(["no type", "sequence", "sparse"])
        vi.type.Clear()
        if how == "sequence":
            vi.type.sequence_type.elem_type.tensor_type.elem_type = TensorProto.FLOAT
        elif how == "sparse":
            vi.type.sparse_tensor_type.elem_type = TensorProto.FLOAT
        return c.mutation(f"value of {how} type", f"'{vi.name}' type: {how}")

    def q_output_type(c):
        # A QuantizeLinear whose zero point changes signedness: its output type changes,
        # and the DequantizeLinear after it reads a type its own zero point does not match.
        slots = [(n, z) for n, s, z in qparam_slots(c.model)
                 if n.op_type == "QuantizeLinear" and z and c.initializer(z) is not None]
        if not slots:
            return None
        n, z = c.choice(slots)
        t = c.initializer(z)
        arr = values(t)
        new = np.int8 if arr.dtype == np.uint8 else np.uint8
        fresh = c.fresh(z + "_retyped")
        from onnx import numpy_helper
        c.graph.initializer.append(numpy_helper.from_array(arr.astype(np.int16).clip(np.iinfo(new).min, np.iinfo(new).max).astype(new), fresh))
        n.input[2] = fresh
        return c.mutation("QuantizeLinear output signedness changed", f"'{n.name}' zero point {arr.dtype} -> {np.dtype(new)}; consumers keep theirs")

    return pick_variant(ctx, [retag, retag, convert, zero_point_int32, float16_weights, input_type,
                              input_type, output_type, not_a_tensor, q_output_type])


# --- scales ----------------------------------------------------------------------------

@mutation_class("scales", applies=has_qparams)
def mutate_scales(ctx):
    """Quantization scales of 0, -1, ±inf, NaN, 1e-30, denormals and 3.4e38: the dyadic
    multiplier and shift computed from them (log2, division, float-to-int conversion) must
    not trap, and must not yield an unbounded shift."""
    slots = [(n, s) for n, s, z in qparam_slots(ctx.model) if s and ctx.constant(s) is not None]
    if not slots:
        return None
    n, s = ctx.choice(slots)
    t = ctx.constant(s)
    arr = values(t).astype(np.float32) if values(t).dtype.kind == "f" else values(t)
    if arr.dtype.kind != "f":
        return None
    v = ctx.choice(BAD_FLOATS)
    where = "all" if arr.size == 1 or ctx.rng.random() < 0.4 else "one"
    new = arr.copy()
    with np.errstate(all="ignore"):
        if where == "all":
            new[...] = v
        else:
            new.flat[ctx.rng.randrange(new.size)] = v
    set_values(t, new.astype(values(t).dtype))
    role = "per-axis" if arr.size > 1 else "per-tensor"
    return ctx.mutation(f"{n.op_type} {role} scale = {v}", f"scale '{s}' of '{n.name}' ({where} of {arr.size}) = {v}")


# --- zero points -----------------------------------------------------------------------

@mutation_class("zero-points", applies=has_qparams)
def mutate_zero_points(ctx):
    """Zero points out of the quantized type's range, of the wrong type, of the wrong length
    for per-axis quantization, or missing: the zero-point corrections folded into biases
    must not overflow or read past the end."""
    from onnx import numpy_helper
    slots = [(n, s, z) for n, s, z in qparam_slots(ctx.model)]

    def out_of_range(c):
        cand = [(n, s, z) for n, s, z in slots if z and c.initializer(z) is not None]
        if not cand:
            return None
        n, s, z = c.choice(cand)
        t = c.initializer(z)
        arr = values(t)
        v = c.choice([300, -200, 2**31 - 1, -2**31, 65535, 128, -129])
        dtype = c.choice([d for d in (np.int16, np.int32, np.int64) if np.iinfo(d).min <= v <= np.iinfo(d).max])
        new = arr.astype(dtype)
        with np.errstate(all="ignore"):
            new[...] = v
        set_values(t, new)
        return c.mutation(f"{n.op_type} zero point out of range ({np.dtype(dtype)})", f"zero point '{z}' of '{n.name}' = {v} as {np.dtype(dtype)}")

    def extreme_in_type(c):
        cand = [(n, s, z) for n, s, z in slots if z and c.initializer(z) is not None]
        if not cand:
            return None
        n, s, z = c.choice(cand)
        t = c.initializer(z)
        arr = values(t)
        if arr.dtype.kind not in "iu":
            return None
        info = np.iinfo(arr.dtype)
        v = c.choice([info.min, info.max])
        new = arr.copy()
        new[...] = v
        set_values(t, new)
        return c.mutation(f"{n.op_type} zero point at the type's limit", f"zero point '{z}' of '{n.name}' = {v} ({arr.dtype})")

    def wrong_type(c):
        cand = [(n, s, z) for n, s, z in slots if z and c.initializer(z) is not None]
        if not cand:
            return None
        n, s, z = c.choice(cand)
        t = c.initializer(z)
        arr = values(t)
        dtype = c.choice([np.float32, np.float16, np.uint16, np.bool_, np.float64])
        set_values(t, arr.astype(dtype))
        return c.mutation(f"{n.op_type} zero point of type {np.dtype(dtype)}", f"zero point '{z}' of '{n.name}' converted to {np.dtype(dtype)}")

    def wrong_length(c):
        cand = [(n, s, z) for n, s, z in slots if z and c.initializer(z) is not None]
        if not cand:
            return None
        n, s, z = c.choice(cand)
        t = c.initializer(z)
        arr = values(t).ravel()
        how = c.choice(["one short", "one long", "length 1 (rank 1)", "rank 2", "doubled", "empty"])
        new = {"one short": arr[:-1], "one long": np.concatenate([arr, arr[:1]]),
               "length 1 (rank 1)": arr[:1], "rank 2": arr.reshape(1, -1),
               "doubled": np.concatenate([arr, arr]), "empty": arr[:0]}[how]
        set_values(t, new)
        return c.mutation(f"{n.op_type} zero point {how}", f"zero point '{z}' of '{n.name}': {arr.size} -> shape {list(new.shape)}")

    def shared_changed(c):
        # A fresh zero point for one node only, of the other signedness.
        cand = [(n, s, z) for n, s, z in slots if z and c.initializer(z) is not None]
        if not cand:
            return None
        n, s, z = c.choice(cand)
        arr = values(c.initializer(z))
        if arr.dtype not in (np.uint8, np.int8):
            return None
        new = (arr.astype(np.int16) - 128).astype(np.int8) if arr.dtype == np.uint8 else (arr.astype(np.int16) + 128).astype(np.uint8)
        name = c.fresh(z + "_other")
        c.graph.initializer.append(numpy_helper.from_array(new, name))
        k = list(n.input).index(z)
        n.input[k] = name
        return c.mutation(f"{n.op_type} zero point of the other signedness", f"'{n.name}' input {k} zero point {arr.dtype} -> {new.dtype}")

    def removed(c):
        cand = [(n, s, z) for n, s, z in slots if z]
        if not cand:
            return None
        n, s, z = c.choice(cand)
        k = list(n.input).index(z)
        if k == len(n.input) - 1 and c.rng.random() < 0.5:
            del n.input[k]
            how = "dropped"
        else:
            n.input[k] = ""
            how = "given as ''"
        return c.mutation(f"{n.op_type} zero point {how}", f"'{n.name}' zero point input {k} '{z}' {how}")

    def nonzero_for_symmetric(c):
        cand = [(n, s, z) for n, s, z in slots if z and c.initializer(z) is not None
                and values(c.initializer(z)).dtype in (np.int8, np.int32)]
        if not cand:
            return None
        n, s, z = c.choice(cand)
        t = c.initializer(z)
        arr = values(t).copy()
        arr[...] = c.choice([1, -1, 5, 127, -128])
        set_values(t, arr)
        return c.mutation(f"{n.op_type} nonzero {arr.dtype} zero point", f"zero point '{z}' of '{n.name}' = {arr.ravel()[0]}")

    return pick_variant(ctx, [out_of_range, extreme_in_type, wrong_type, wrong_length, wrong_length,
                              shared_changed, removed, nonzero_for_symmetric])


# --- shapes ----------------------------------------------------------------------------

@mutation_class("shapes")
def mutate_shapes(ctx):
    """Shapes that are each well formed but inconsistent with each other: reshape targets,
    per-axis parameter lengths, a bias one element short, weights that do not match the
    input's channels, and inserted Gather/Slice/Expand/Tile/Split with bad indices: every
    shape relation a kernel relies on must be checked at load."""
    from onnx import numpy_helper

    def reshape_target(c):
        nodes = [n for n in c.nodes(["Reshape"]) if len(n.input) > 1 and c.constant(n.input[1]) is not None]
        n = c.choice(nodes)
        if not n:
            return None
        t = c.constant(n.input[1])
        shape = values(t).astype(np.int64)
        how = c.choice(["product mismatch", "two -1", "-2", "zero", "huge", "rank 9", "empty",
                        "product overflow", "float", "rank 2 tensor"])
        if how == "product mismatch":
            new = shape.copy()
            new[c.rng.randrange(new.size)] = max(int(shape.max()), 1) * 2 + 1 if new.size else 3
        elif how == "two -1":
            new = np.array([-1, -1] + list(shape[2:]), np.int64)
        elif how == "-2":
            new = np.array([-2] + list(shape[1:]), np.int64)
        elif how == "zero":
            new = np.zeros_like(shape)
        elif how == "huge":
            new = np.array([2**62, 1], np.int64)
        elif how == "rank 9":
            new = np.array([1] * 8 + [-1], np.int64)
        elif how == "empty":
            new = np.array([], np.int64)
        elif how == "product overflow":
            new = np.array([2**32, 2**32, -1], np.int64)
        elif how == "float":
            new = shape.astype(np.float32)
        else:
            new = shape.reshape(1, -1)
        set_values(t, new)
        return c.mutation(f"Reshape target: {how}", f"'{n.name}' shape {shape.tolist()} -> {new.tolist()}")

    def per_axis_length(c):
        cands = [(n, s, z) for n, s, z in qparam_slots(c.model)
                 if s and c.initializer(s) is not None and values(c.initializer(s)).size > 1]
        if not cands:
            return None
        n, s, z = c.choice(cands)
        scale = values(c.initializer(s)).ravel()
        how = c.choice(["one short", "one long", "both one short", "both one long", "rank 2"])
        delta = -1 if "short" in how else 1
        def resize(a):
            if how == "rank 2":
                return a.reshape(-1, 1)
            return a[:-1] if delta < 0 else np.concatenate([a, a[:1]])
        set_values(c.initializer(s), resize(scale))
        if how.startswith("both") or how == "rank 2":
            if z and c.initializer(z) is not None:
                set_values(c.initializer(z), resize(values(c.initializer(z)).ravel()))
        return c.mutation(f"{n.op_type} per-axis parameters {how}", f"scale '{s}' of '{n.name}' ({scale.size}) {how}")

    def axis_other_dim(c):
        cands = [n for n, s, z in qparam_slots(c.model)
                 if n.op_type in ("DequantizeLinear", "QuantizeLinear") and s and c.initializer(s) is not None
                 and values(c.initializer(s)).size > 1]
        n = c.choice(cands)
        if not n:
            return None
        axis = get_attr(n, "axis")
        old = axis.i if axis else 1
        new = c.choice([a for a in (0, 1, 2, 3, -1) if a != old])
        set_attr(n, "axis", new)
        return c.mutation(f"{n.op_type} axis on a dimension of another length", f"'{n.name}' axis {old} -> {new}")

    def bias_length(c):
        cands = []
        for n in c.graph.node:
            idx = {"Conv": 2, "Gemm": 2, "QLinearConv": 8, "QGemm": 6, "ConvTranspose": 2}.get(n.op_type)
            if idx is not None and idx < len(n.input) and n.input[idx]:
                cands.append((n, n.input[idx]))
        if not cands:
            return None
        n, b = c.choice(cands)
        t = c.initializer(b)
        dq = None
        if t is None:
            dq = next((d for d in c.graph.node if d.op_type == "DequantizeLinear" and d.output and d.output[0] == b), None)
            if dq is None or c.initializer(dq.input[0]) is None:
                return None
            t = c.initializer(dq.input[0])
        arr = values(t).ravel()
        how = c.choice(["one short", "one long", "empty", "rank 2"])
        new = {"one short": arr[:-1], "one long": np.concatenate([arr, arr[:1]]), "empty": arr[:0],
               "rank 2": arr.reshape(1, -1)}[how]
        set_values(t, new)
        if dq is not None and how in ("one short", "one long") and c.rng.random() < 0.5:
            for k in (1, 2):
                if k < len(dq.input) and c.initializer(dq.input[k]) is not None:
                    p = values(c.initializer(dq.input[k])).ravel()
                    if p.size == arr.size and p.size > 1:
                        set_values(c.initializer(dq.input[k]), p[:-1] if how == "one short" else np.concatenate([p, p[:1]]))
        return c.mutation(f"{n.op_type} bias {how}", f"bias of '{n.name}' ({arr.size}) {how}")

    def weight_shape(c):
        cands = []
        for n in c.graph.node:
            idx = {"Conv": 1, "Gemm": 1, "MatMul": 1, "QLinearConv": 3, "QLinearMatMul": 3,
                   "QGemm": 3, "ConvInteger": 1, "MatMulInteger": 1}.get(n.op_type)
            if idx is None or idx >= len(n.input):
                continue
            w = n.input[idx]
            t = c.initializer(w)
            if t is None:
                dq = next((d for d in c.graph.node if d.op_type == "DequantizeLinear" and d.output and d.output[0] == w), None)
                t = c.initializer(dq.input[0]) if dq is not None else None
            if t is not None and len(t.dims) >= 2:
                cands.append((n, t))
        if not cands:
            return None
        n, t = c.choice(cands)
        arr = values(t)
        how = c.choice(["one input channel fewer", "one input channel more", "dims swapped", "rank +1", "rank -1"])
        if how == "one input channel fewer" and arr.shape[1] > 1:
            new = arr[:, :-1]
        elif how == "one input channel more":
            new = np.concatenate([arr, arr[:, :1]], axis=1)
        elif how == "dims swapped":
            new = np.ascontiguousarray(np.swapaxes(arr, -1, -2)) if arr.shape[-1] != arr.shape[-2] else arr.reshape(arr.shape[::-1])
        elif how == "rank +1":
            new = arr.reshape((1,) + arr.shape)
        else:
            new = arr.reshape((arr.shape[0], -1))
        set_values(t, new)
        return c.mutation(f"{n.op_type} weights: {how}", f"weights '{t.name}' of '{n.name}' {list(arr.shape)} -> {list(new.shape)}")

    def pads_length(c):
        nodes = [n for n in c.nodes(["Pad"]) if len(n.input) > 1 and c.constant(n.input[1]) is not None]
        n = c.choice(nodes)
        if not n:
            return None
        t = c.constant(n.input[1])
        arr = values(t)
        new = c.choice([arr[:4], np.concatenate([arr, [0]]), arr[:0], arr.reshape(2, -1), arr.astype(np.int32)])
        set_values(t, new)
        return c.mutation("Pad pads of the wrong length or type", f"'{n.name}' pads {arr.tolist()} -> {new.tolist()} ({new.dtype})")

    def inserted(c):
        ch, h, w = input_channels(c)
        op, params, attrs = c.choice([
            ("Gather", [np.array(c.choice([[ch], [-ch - 1], [2**31], [-2**63], [2**62]]), np.int64)], {"axis": 1}),
            ("Gather", [np.array([[0, 1], [2**40, 0]], np.int64)], {"axis": 2}),
            ("Slice", [np.array([0]), np.array([4]), np.array([1]), np.array([c.choice([0, -2**63, 2**62])])], {}),
            ("Slice", [np.array([2**62]), np.array([-2**62]), np.array([c.choice([9, -9, 1])]), np.array([1])], {}),
            ("Slice", [np.array([0, 0]), np.array([1, 1]), np.array([1, 1]), np.array([1, 1])], {}),
            ("Expand", [np.array(c.choice([[1, ch + 1, 1, 1], [-1, 1, 1, 1], [2, 3]]), np.int64)], {}),
            ("Tile", [np.array(c.choice([[1, -1, 1, 1], [1, 1], [0, 0, 0, 0], [-2**63, 1, 1, 1]]), np.int64)], {}),
            ("Split", [np.array(c.choice([[1, ch + 5], [-1, ch + 1], [0, 0]]), np.int64)], {"axis": 1}),
            ("Squeeze", [np.array([1], np.int64)], {}),
            ("Reshape", [np.array(c.choice([[1, -1, 7, 13], [-1, -1], [0, 0, 0, 0, 0]]), np.int64)], {}),
            ("Concat", [np.ones((1, 2), np.float32)], {"axis": 1}),
            ("Where", [np.ones((3, 1, 1, 1), np.float32), np.ones((2,), np.float32)], {}),
            ("Add", [np.ones((ch + 1, 1, 1), np.float32)], {}),
            ("PRelu", [np.ones((ch + 2,), np.float32)], {}),
            ("DepthToSpace", [], {"blocksize": 3}),
            ("BatchNormalization", [np.ones(ch + 1, np.float32)] * 4, {}),
        ])
        node = insert_on_input(c, op, attrs)
        if node is None:
            return None
        for k, arr in enumerate(params):
            name = c.fresh(f"{op.lower()}_param")
            arr = np.asarray(arr)
            if arr.dtype.kind == "i":
                arr = arr.astype(np.int64)
            if op == "Where" and k == 0:
                # Where(condition, x, y): the graph input becomes x
                c.graph.initializer.append(numpy_helper.from_array(arr.astype(bool), name))
                node.input.insert(0, name)
                continue
            c.graph.initializer.append(numpy_helper.from_array(arr, name))
            node.input.append(name)
        if op == "Split":
            node.output.append(c.fresh("split_extra"))
        shown = [p.tolist() if p.size < 10 else list(p.shape) for p in map(np.asarray, params)]
        return c.mutation(f"inserted {op} with inconsistent parameters", f"{op}{attrs or ''} params {shown} on the graph input")

    return pick_variant(ctx, [reshape_target, per_axis_length, per_axis_length, axis_other_dim,
                              bias_length, bias_length, weight_shape, pads_length, inserted, inserted])


# --- huge sizes ------------------------------------------------------------------------

@mutation_class("huge")
def mutate_huge(ctx):
    """Output sizes far beyond memory (Resize scales/sizes, Pad pads, pooling and conv
    windows, Expand/Tile/ConstantOfShape/Range): the engine must refuse before allocating,
    with no overflow in the size arithmetic and no loop over billions of elements."""
    from onnx import numpy_helper, helper
    ch, h, w = input_channels(ctx)
    huge_scales = [[1, 1, 2**20, 2**20], [1, 1, 1e30, 1e30], [1, 1, float("inf"), 1],
                   [1, 1, float("nan"), 1], [1, 1, -1, 1], [1, 1, 0, 1], [1, 1, 1e-30, 1], [1, 1, 3.4e38, 3.4e38]]
    huge_sizes = [[1, ch, 2**31, 2**31], [1, ch, 2**62, 1], [1, ch, -1, 1], [1, ch, 0, 0],
                  [2**63 - 1, 1, 1, 1], [1, ch, 2**16, 2**16]]
    huge_pads = [[0, 0, 2**30, 2**30, 0, 0, 2**30, 2**30], [0, 0, 2**62, 0, 0, 0, 0, 0],
                 [0, 0, -2**62, 0, 0, 0, 0, 0], [0, 0, -100, -100, 0, 0, 0, 0],
                 [0, 0, 2**31 - 1, 2**31 - 1, 0, 0, 2**31 - 1, 2**31 - 1], [2**40, 0, 0, 0, 0, 0, 0, 0]]

    def resize_existing(c):
        n = c.choice(c.nodes(["Resize"]))
        if not n:
            return None
        use_sizes = c.rng.random() < 0.5
        name = c.fresh("resize_mutant_param")
        if use_sizes:
            arr = np.array(c.choice(huge_sizes), np.int64)
            c.graph.initializer.append(numpy_helper.from_array(arr, name))
            while len(n.input) < 4:
                n.input.append("")
            n.input[2] = ""
            n.input[3] = name
        else:
            arr = np.array(c.choice(huge_scales), np.float32)
            c.graph.initializer.append(numpy_helper.from_array(arr, name))
            while len(n.input) < 3:
                n.input.append("")
            n.input[2] = name
            del n.input[3:]
        return c.mutation(f"Resize {'sizes' if use_sizes else 'scales'} huge or degenerate", f"'{n.name}' {'sizes' if use_sizes else 'scales'} = {arr.tolist()}")

    def resize_inserted(c):
        use_sizes = c.rng.random() < 0.5
        if use_sizes:
            arr = np.array(c.choice(huge_sizes), np.int64)
        else:
            arr = np.array(c.choice(huge_scales), np.float32)
        node = insert_on_input(c, "Resize", {"mode": "nearest"})
        if node is None:
            return None
        name = c.fresh("resize_param")
        c.graph.initializer.append(numpy_helper.from_array(arr, name))
        node.input.extend(["", "", name] if use_sizes else ["", name])
        return c.mutation(f"inserted Resize, {'sizes' if use_sizes else 'scales'} huge or degenerate", f"Resize {'sizes' if use_sizes else 'scales'} = {arr.tolist()} on the graph input")

    def pad(c):
        arr = np.array(c.choice(huge_pads), np.int64)
        mode = c.choice(["constant", "reflect", "edge"])
        existing = [n for n in c.nodes(["Pad"]) if len(n.input) > 1 and c.constant(n.input[1]) is not None]
        if existing and c.rng.random() < 0.5:
            n = c.choice(existing)
            set_values(c.constant(n.input[1]), arr)
            set_attr(n, "mode", mode)
            return c.mutation(f"Pad pads huge ({mode})", f"'{n.name}' pads = {arr.tolist()}, mode {mode}")
        if insert_on_input(c, "Pad", {"mode": mode}, [arr]) is None:
            return None
        return c.mutation(f"inserted Pad, pads huge ({mode})", f"Pad pads = {arr.tolist()}, mode {mode} on the graph input")

    def pooling(c):
        op = c.choice(["MaxPool", "AveragePool"])
        kernel = c.choice([[2**31 - 1, 2**31 - 1], [2**40, 1], [h + 1, w + 1], [2**62, 2**62], [h, 2**31]])
        attrs = {"kernel_shape": kernel}
        if c.rng.random() < 0.5:
            attrs["pads"] = c.choice([[2**31] * 4, [2**40, 0, 2**40, 0], [h, w, h, w]])
        if c.rng.random() < 0.3:
            attrs["strides"] = c.choice([[2**62, 2**62], [1, 2**31]])
        existing = c.nodes([op, "QLinearAveragePool" if op == "AveragePool" else op])
        if existing and c.rng.random() < 0.5:
            n = c.choice(existing)
            for k, v in attrs.items():
                set_attr(n, k, v)
            return c.mutation(f"{n.op_type} window huge", f"'{n.name}' {attrs}")
        if insert_on_input(c, op, attrs) is None:
            return None
        return c.mutation(f"inserted {op}, window huge", f"{op} {attrs} on the graph input")

    def conv_window(c):
        n = c.choice(c.nodes(["Conv", "QLinearConv", "ConvInteger"]))
        if not n:
            return None
        what = c.choice(["pads", "dilations", "strides"])
        v = {"pads": [[2**40] * 4, [2**31 - 1] * 4, [2**62, 0, 2**62, 0]],
             "dilations": [[2**40, 2**40], [2**31, 1]],
             "strides": [[2**62, 2**62], [2**31, 2**31]]}[what]
        value = c.choice(v)
        set_attr(n, what, value)
        return c.mutation(f"{n.op_type} {what} huge", f"'{n.name}' {what} = {value}")

    def allocation_ops(c):
        op, params = c.choice([
            ("Expand", [np.array(c.choice([[2**20, ch, 2**20, 1], [1, ch, 2**31, 2**31], [2**62, 1, 1, 1]]), np.int64)]),
            ("Tile", [np.array(c.choice([[1, 1, 2**31, 1], [2**20, 2**20, 1, 1], [2**62, 1, 1, 1]]), np.int64)]),
        ])
        if insert_on_input(c, op, None, params) is None:
            return None
        return c.mutation(f"inserted {op} to a huge shape", f"{op} {params[0].tolist()} on the graph input")

    def constant_ops(c):
        # A huge constant-shaped value added to the input: ConstantOfShape or Range.
        kind = c.choice(["ConstantOfShape", "Range", "Range-delta-0"])
        node = insert_on_input(c, "Add")
        if node is None:
            return None
        name = c.fresh("huge_value")
        if kind == "ConstantOfShape":
            shape = np.array(c.choice([[2**40], [2**31, 2**31], [1, 1, 2**20, 2**20], [-1], [2**63 - 1]]), np.int64)
            sname = c.fresh("shape")
            c.graph.initializer.append(numpy_helper.from_array(shape, sname))
            c.graph.node.insert(0, helper.make_node("ConstantOfShape", [sname], [name]))
            detail = f"ConstantOfShape {shape.tolist()}"
        else:
            start, limit, delta = (0.0, 1e18, 1.0) if kind == "Range" else (0.0, 10.0, 0.0)
            if kind == "Range" and c.rng.random() < 0.5:
                start, limit, delta = 0.0, float("inf"), 1.0
            names = []
            for v in (start, limit, delta):
                pn = c.fresh("range_param")
                c.graph.initializer.append(numpy_helper.from_array(np.array(v, np.float32), pn))
                names.append(pn)
            c.graph.node.insert(0, helper.make_node("Range", names, [name]))
            detail = f"Range({start}, {limit}, {delta})"
        node.input.append(name)
        return c.mutation(f"inserted {kind} of huge size", f"{detail} added to the graph input")

    return pick_variant(ctx, [resize_existing, resize_inserted, pad, pad, pooling, pooling,
                              conv_window, allocation_ops, constant_ops])


# --- names -----------------------------------------------------------------------------

def rename_value(graph, old, new):
    for n in graph.node:
        for k, v in enumerate(n.input):
            if v == old:
                n.input[k] = new
        for k, v in enumerate(n.output):
            if v == old:
                n.output[k] = new
    for coll in (graph.input, graph.output, graph.value_info, graph.initializer):
        for item in coll:
            if item.name == old:
                item.name = new


@mutation_class("names")
def mutate_names(ctx):
    """Empty names, names with newlines, control characters, quotes, path separators or
    invalid UTF-8, names that collide after the output-file sanitising, duplicate outputs,
    dangling references and cycles: names reach error messages and file names, and the
    graph's wiring is only as good as its names."""

    def weird_value_name(c):
        values_ = [v for n in c.graph.node for v in n.output if v] + [vi.name for vi in c.graph_inputs()]
        old = c.choice(values_)
        if old is None:
            return None
        new = c.choice(WEIRD_NAMES)
        rename_value(c.graph, old, new)
        names = [vi.name for vi in c.graph_inputs()]
        where = "graph input" if old in [vi.name for vi in c.seed.model.graph.input] else (
            "graph output" if old in [o.name for o in c.graph.output] else "value")
        return c.mutation(f"{where} renamed {new[:20]!r}", f"'{old}' renamed to {new[:60]!r} (len {len(new)}) everywhere",
                          input_names=names)

    def weird_node_name(c):
        n = c.choice(c.graph.node)
        if not n:
            return None
        new = c.choice(WEIRD_NAMES)
        n.name = new
        return c.mutation(f"node named {new[:20]!r}", f"node {n.op_type} renamed {new[:60]!r}")

    def duplicate_node_names(c):
        if len(c.graph.node) < 2:
            return None
        name = c.graph.node[0].name or "dup"
        for n in c.graph.node:
            n.name = name
        return c.mutation("every node has the same name", f"all nodes named {name!r}")

    def duplicate_output(c):
        produced = [(n, k) for n in c.graph.node for k in range(len(n.output)) if n.output[k]]
        if len(produced) < 2:
            return None
        (a, ka), (b, kb) = c.rng.sample(produced, 2)
        old = b.output[kb]
        b.output[kb] = a.output[ka]
        if c.rng.random() < 0.5:
            rename_value(c.graph, old, a.output[ka])
            how = "consumers follow"
        else:
            how = "consumers dangle"
        return c.mutation(f"two nodes produce one value ({how})", f"'{b.name}' ({b.op_type}) output '{old}' renamed to '{a.output[ka]}' of '{a.name}' ({a.op_type}); {how}")

    def output_listed_twice(c):
        if not c.graph.output:
            return None
        o = c.graph.output.add()
        o.CopyFrom(c.choice(list(c.graph.output)[:-1]))
        return c.mutation("graph output listed twice", f"graph output '{o.name}' listed twice")

    def colliding_file_names(c):
        # Two graph outputs whose names become the same file name ('a:b' and 'a/b' -> 'a_b').
        from onnx import helper
        if not c.graph.output:
            return None
        out = c.choice(list(c.graph.output))
        first, second = c.choice([("o:x", "o/x"), ("a b", "a_b"), ("é", "_"), ("..", "__"), ("x\n", "x\t")])
        rename_value(c.graph, out.name, first)
        c.graph.node.append(helper.make_node("Identity", [first], [second], name="identity_mutant"))
        extra = c.graph.output.add()
        extra.CopyFrom(out)
        extra.name = second
        return c.mutation("graph outputs whose file names collide", f"graph outputs {first!r} and {second!r} (same value)")

    def dangling_input(c):
        n = c.choice([n for n in c.graph.node if n.input])
        if not n:
            return None
        k = c.rng.randrange(len(n.input))
        old = n.input[k]
        n.input[k] = c.choice(["does_not_exist", old + " ", old.upper() + "_", "\n"])
        return c.mutation(f"{n.op_type} reads an undefined value", f"'{n.name}' input {k} '{old}' -> {n.input[k]!r}")

    def dangling_output(c):
        if not c.graph.output:
            return None
        o = c.choice(list(c.graph.output))
        old = o.name
        o.name = "nobody_makes_this"
        return c.mutation("graph output names an undefined value", f"graph output '{old}' -> 'nobody_makes_this'")

    def cycle(c):
        nodes = list(c.graph.node)
        consumers = collections.defaultdict(list)
        for n in nodes:
            for v in n.input:
                consumers[v].append(n)
        candidates = []
        for i, a in enumerate(nodes):
            if not a.input:
                continue
            seen, stack = set(), [o for o in a.output]
            down = []
            while stack:
                v = stack.pop()
                for m in consumers.get(v, []):
                    if id(m) not in seen:
                        seen.add(id(m))
                        down.append(m)
                        stack.extend(m.output)
            for b in down:
                candidates.append((a, b))
        if c.rng.random() < 0.3 or not candidates:
            a = c.choice([n for n in nodes if n.input and n.output])
            if not a:
                return None
            a.input[0] = a.output[0]
            return c.mutation(f"{a.op_type} reads its own output", f"'{a.name}' input 0 = its output '{a.output[0]}'")
        a, b = c.choice(candidates)
        a.input[0] = b.output[0]
        return c.mutation("cycle through the graph", f"'{a.name}' ({a.op_type}) input 0 = '{b.output[0]}' of downstream '{b.name}' ({b.op_type})")

    def input_shadows(c):
        inputs = c.graph_inputs()
        if not inputs or not c.graph.initializer:
            return None
        t = c.choice(list(c.graph.initializer))
        vi = c.choice(inputs)
        how = c.choice(["initializer named like the input", "input produced by a node"])
        if how == "initializer named like the input":
            old = t.name
            rename_value(c.graph, old, vi.name)
            return c.mutation("initializer and graph input share a name", f"initializer '{old}' renamed to input '{vi.name}'")
        n = c.choice(c.graph.node)
        old = n.output[0] if n.output else None
        if not old:
            return None
        n.output[0] = vi.name
        return c.mutation("node output named like a graph input", f"'{n.name}' output '{old}' -> '{vi.name}'")

    def duplicate_initializer(c):
        if not c.graph.initializer:
            return None
        t = c.choice(list(c.graph.initializer))
        d = c.graph.initializer.add()
        d.CopyFrom(t)
        arr = values(d)
        if arr.size:
            with np.errstate(all="ignore"):
                set_values(d, (arr.astype(np.float64) * 0 + 1).astype(arr.dtype) if arr.dtype.kind in "fiu" else arr)
        return c.mutation("initializer defined twice", f"initializer '{t.name}' defined twice, different values")

    def invalid_utf8(c):
        # Same length, so the protobuf framing stays valid; only the bytes are not UTF-8.
        data = c.model.SerializeToString()
        names = sorted({v for n in c.graph.node for v in list(n.input) + list(n.output) + [n.name] if len(v) >= 2})
        if not names:
            return None
        name = c.choice(names).encode()
        bad = c.choice([b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\x80"])
        repl = (bad * len(name))[:len(name)]
        if len(repl) != len(name):
            return None
        mutated = data.replace(name, repl)
        if mutated == data:
            return None
        return Mutation(kind="name with invalid UTF-8", detail=f"every occurrence of {name!r} replaced by {repl!r}", model=mutated)

    def external_data(c):
        from onnx import TensorProto
        t = c.choice([t for t in c.graph.initializer if t.data_type == TensorProto.FLOAT])
        if t is None:
            return None
        location = c.choice(["/etc/hostname", "../../../../etc/passwd", "missing.bin", "", "/dev/zero", "\n", "/proc/self/mem"])
        t.ClearField("raw_data")
        del t.float_data[:]
        t.data_location = TensorProto.EXTERNAL
        e = t.external_data.add()
        e.key, e.value = "location", location
        if c.rng.random() < 0.5:
            e = t.external_data.add()
            e.key, e.value = "length", str(c.choice([4, 2**40, -1]))
        return c.mutation("initializer with external data", f"initializer '{t.name}' external data at {location!r}")

    return pick_variant(ctx, [weird_value_name, weird_value_name, weird_node_name, duplicate_node_names,
                              duplicate_output, output_listed_twice, colliding_file_names, dangling_input,
                              dangling_output, cycle, cycle, input_shadows, duplicate_initializer,
                              invalid_utf8, external_data])


# --- bytes -----------------------------------------------------------------------------

@mutation_class("bytes")
def mutate_bytes(ctx):
    """Byte-level damage to the serialized model (bit flips, truncation, insertion,
    deletion, overwrites, duplication): the protobuf reader and everything after it must
    survive any byte string."""
    rng = ctx.rng
    data = bytearray(ctx.seed.data)
    n = len(data)
    how = rng.choice(["flip bits", "flip bits", "truncate", "truncate early", "insert", "delete",
                      "overwrite 0xff", "overwrite 0x00", "overwrite random", "append", "doubled",
                      "varint bomb", "empty", "one byte"])
    if how == "flip bits":
        k = rng.choice([1, 2, 4, 16, 64])
        where = sorted(rng.randrange(n) for _ in range(k))
        for p in where:
            data[p] ^= 1 << rng.randrange(8)
        detail = f"{k} bit flips at {where[:8]}{'...' if k > 8 else ''}"
    elif how == "truncate":
        cut = rng.randrange(1, n)
        data = data[:cut]
        detail = f"truncated to {cut} of {n} bytes"
    elif how == "truncate early":
        cut = rng.randrange(1, min(n, 64))
        data = data[:cut]
        detail = f"truncated to {cut} of {n} bytes"
    elif how == "insert":
        p, k = rng.randrange(n), rng.choice([1, 2, 7, 64])
        data[p:p] = bytes(rng.randrange(256) for _ in range(k))
        detail = f"{k} random bytes inserted at {p}"
    elif how == "delete":
        p = rng.randrange(n)
        k = rng.choice([1, 2, 8, 100])
        del data[p:p + k]
        detail = f"{k} bytes deleted at {p}"
    elif how.startswith("overwrite"):
        p, k = rng.randrange(n), rng.choice([1, 4, 16, 256])
        fill = {"overwrite 0xff": lambda: 0xFF, "overwrite 0x00": lambda: 0,
                "overwrite random": lambda: rng.randrange(256)}[how]
        for i in range(p, min(n, p + k)):
            data[i] = fill()
        detail = f"{k} bytes at {p} overwritten ({how[10:]})"
    elif how == "append":
        k = rng.choice([1, 16, 1000])
        data += bytes(rng.randrange(256) for _ in range(k))
        detail = f"{k} random bytes appended"
    elif how == "doubled":
        data = data + data
        detail = "the file twice (protobuf merges repeated fields)"
    elif how == "varint bomb":
        p = rng.randrange(n)
        data[p:p + 10] = b"\xff" * 9 + b"\x01"
        detail = f"a maximal varint written at {p}"
    elif how == "empty":
        data = bytearray()
        detail = "empty file"
    else:
        data = bytearray([rng.randrange(256)])
        detail = f"a single byte {data[0]:#04x}"
    return Mutation(kind=how, detail=detail, model=bytes(data))


# --- npy inputs ------------------------------------------------------------------------

NPY_MAGIC = b"\x93NUMPY"


def npy_file(header, data=b"", version=(1, 0), magic=NPY_MAGIC, pad=True, length=None):
    """A .npy file from its parts, so each part can be wrong on its own."""
    h = header.encode("utf-8" if version[0] >= 3 else "latin1")
    size_field = 2 if version[0] == 1 else 4
    if pad:
        total = len(magic) + 2 + size_field + len(h) + 1
        h = h + b" " * ((-total) % 64) + b"\n"
    hlen = len(h) if length is None else length
    hl = struct.pack("<H", hlen & 0xFFFF) if size_field == 2 else struct.pack("<I", hlen & 0xFFFFFFFF)
    return magic + bytes(version) + hl + h + data


def npy_header(descr, fortran, shape):
    return "{'descr': %r, 'fortran_order': %r, 'shape': %r, }" % (descr, fortran, tuple(shape))


@mutation_class("npy")
def mutate_npy(ctx):
    """Damaged .npy input files (bad magic, version or header length, unknown or mismatched
    dtype, wrong or huge declared shape, truncated or extra data, NaN/inf values), valid
    but unusual encodings (big-endian, Fortran order, version 2/3 headers) whose outputs
    must equal the seed's, and malformed --input arguments."""
    rng = ctx.rng
    k = rng.randrange(len(ctx.seed.inputs)) if ctx.seed.inputs else None
    if k is None:
        return None
    spec = ctx.seed.inputs[k]
    arr = spec.array
    descr = np.lib.format.dtype_to_descr(arr.dtype)
    shape = list(arr.shape)
    data = arr.tobytes()
    name = spec.name

    def m(kind, detail, blob, equivalent=False):
        return Mutation(kind=kind, detail=f"input '{name}': {detail}", inputs={k: blob},
                        tools=("runmodel", "latency"), equivalent=equivalent)

    def magic(c):
        bad = c.choice([b"\x93NUMPZ", b"PK\x03\x04\x14\x00", b"\x93NUM", b"", b"NUMPY\x93"])
        return m("bad magic", f"magic {bad!r}", npy_file(npy_header(descr, False, shape), data, magic=bad))

    def version(c):
        v = c.choice([(0, 0), (9, 9), (1, 9), (255, 0), (4, 0)])
        return m("unknown .npy version", f"version {v}", npy_file(npy_header(descr, False, shape), data, version=v))

    def header_length(c):
        length = c.choice([0, 1, 65535, len(npy_header(descr, False, shape)) + 500, 7])
        version = c.choice([(1, 0), (2, 0)])
        if version == (2, 0) and c.rng.random() < 0.5:
            length = c.choice([2**31, 2**32 - 1])
        return m("wrong header length", f"header length field {length}, version {version}",
                 npy_file(npy_header(descr, False, shape), data, version=version, length=length))

    def header_text(c):
        text = c.choice([
            "[]", "{}", "{'descr': '<f4', 'fortran_order': False}", "{'shape': (1,), 'fortran_order': False}",
            npy_header(descr, False, shape).replace("}", "'extra': 1}"),
            "{'descr': %r, 'fortran_order': 'yes', 'shape': %r}" % (descr, tuple(shape)),
            "{'descr': %r, 'fortran_order': False, 'shape': %r}" % (descr, list(shape)),
            "{'descr': %r, 'fortran_order': False, 'shape': (%s)}" % (descr, ", ".join(f"{d}.0" for d in shape)),
            "{'descr': %r, 'fortran_order': False, 'shape': ('a',)}" % descr,
            "{'descr': %r, 'fortran_order': False, 'shape': ((1, 2), 3)}" % descr,
            "{'descr': %r, 'fortran_order': False, 'shape': __import__('os').getpid()}" % descr,
            "{'descr': %r, 'fortran_order': False, 'shape': %r" % (descr, tuple(shape)),
            "{'descr': %r, 'fortran_order': False, 'shape': %r, } garbage" % (descr, tuple(shape)),
            "\x00" * 40, "{'descr': %r, 'fortran_order': False, 'shape': %r, }\x00\x00" % (descr, tuple(shape)),
            "{'descr': %r, 'shape': %r, 'shape': (1,), 'fortran_order': False}" % (descr, tuple(shape)),
            "{'descr': '\u00e9', 'fortran_order': False, 'shape': %r}" % (tuple(shape),),
        ])
        return m("malformed header text", f"header {text[:70]!r}", npy_file(text, data, pad=c.rng.random() < 0.8))

    def wrong_dtype(c):
        d = c.choice(["<f8", "<f2", "|u1", "|i1", "<i4", "<i8", "|b1", "<c8", "|O", "<U4", "|V4",
                      "<M8[s]", "", "<f16", "xyz", "[('a', '<f4')]", "<u2", "=f4", "f4"])
        if d == descr:
            return None
        return m("dtype other than the input's", f"descr {d!r} over the original bytes",
                 npy_file(npy_header(d, False, shape), data))

    def dtype_same_size(c):
        d = {"<f4": "<i4", "|u1": "|i1", "|i1": "|u1", "<i4": "<f4"}.get(descr)
        if d is None:
            return None
        return m("dtype of the same width", f"descr {d!r} instead of {descr!r}", npy_file(npy_header(d, False, shape), data))

    def declared_shape(c):
        how = c.choice(["scalar", "empty", "extra dim", "dims swapped", "one dim off", "negative",
                        "huge", "overflow to 0", "overflow", "rank 40"])
        s = list(shape)
        if how == "scalar":
            s = []
        elif how == "empty":
            s = [0] + s[1:]
        elif how == "extra dim":
            s = s + [1]
        elif how == "dims swapped":
            s = s[::-1]
        elif how == "one dim off":
            i = c.rng.randrange(max(len(s), 1))
            s = s or [1]
            s[i] += 1
        elif how == "negative":
            s = [-1] + s[1:]
        elif how == "huge":
            s = [2**61] + s[1:]
        elif how == "overflow to 0":
            s = [2**32, 2**32, 2**32]
        elif how == "overflow":
            s = [2**62, 4] + s[1:]
        else:
            s = [1] * 39 + [int(np.prod(shape))]
        if s == shape:
            return None
        return m(f"declared shape: {how}", f"shape {s[:8]} over the original data", npy_file(npy_header(descr, False, s), data))

    def data_length(c):
        how = c.choice(["truncated by one byte", "half the data", "no data", "one element extra", "one byte extra"])
        itemsize = arr.dtype.itemsize
        d = {"truncated by one byte": data[:-1], "half the data": data[:len(data) // 2], "no data": b"",
             "one element extra": data + data[:itemsize], "one byte extra": data + b"\x00"}[how]
        return m(f"data {how}", how, npy_file(npy_header(descr, False, shape), d))

    def special_values(c):
        if arr.dtype.kind != "f":
            return None
        v = c.choice([float("nan"), float("inf"), float("-inf"), 3e38, -3e38, 1e-45, -0.0])
        where = c.choice(["all", "one", "half"])
        new = arr.copy()
        if where == "all":
            new[...] = v
        elif where == "one":
            new.flat[c.rng.randrange(new.size)] = v
        else:
            new.flat[::2] = v
        return m(f"input values {v}", f"{where} values = {v}", npy_bytes(new))

    def equivalent_encoding(c):
        how = c.choice(["big-endian", "fortran order", "version 2.0", "version 3.0", "unpadded header",
                        "keys reordered", "double quotes", "no trailing comma", "descr as name"])
        if how == "big-endian":
            if arr.dtype.itemsize == 1:
                return None
            be = arr.astype(arr.dtype.newbyteorder(">"))
            blob = npy_file(npy_header(be.dtype.str, False, shape), be.tobytes())
        elif how == "fortran order":
            if arr.ndim < 2:
                return None
            blob = npy_file(npy_header(descr, True, shape), arr.tobytes(order="F"))
        elif how == "version 2.0":
            blob = npy_file(npy_header(descr, False, shape), data, version=(2, 0))
        elif how == "version 3.0":
            blob = npy_file(npy_header(descr, False, shape), data, version=(3, 0))
        elif how == "unpadded header":
            blob = npy_file(npy_header(descr, False, shape) + "\n", data, pad=False)
        elif how == "keys reordered":
            blob = npy_file("{'shape': %r, 'fortran_order': False, 'descr': %r}" % (tuple(shape), descr), data)
        elif how == "double quotes":
            blob = npy_file('{"descr": "%s", "fortran_order": False, "shape": %r}' % (descr, tuple(shape)), data)
        elif how == "no trailing comma":
            blob = npy_file("{'descr':%r,'fortran_order':False,'shape':%r}" % (descr, tuple(shape)), data)
        else:
            blob = npy_file(npy_header(arr.dtype.name, False, shape), data)
        return m(f"equivalent encoding: {how}", how, blob, equivalent=True)

    def truncated_file(c):
        full = npy_bytes(arr)
        cut = c.rng.randrange(0, min(len(full), 140))
        return m("file truncated inside the header", f"first {cut} bytes only", full[:cut])

    def input_argument(c):
        # Malformed --input arguments and input paths that are not regular files.
        how = c.choice(["no '='", "empty name", "empty path", "unknown name", "given twice",
                        "missing", "path is a directory", "nonexistent path", "dangling symlink",
                        "symlink loop", "extra input", "two '='"])
        files, _ = seed_command_parts(c.seed)
        path = f"../in/x{k}.npy"
        mine = {"no '='": [f"{name}{path}"], "empty name": [f"={path}"], "empty path": [f"{name}="],
                "unknown name": [f"{name}_unknown={path}"], "given twice": [f"{name}={path}", f"{name}={path}"],
                "missing": [], "path is a directory": [f"{name}=../in"], "nonexistent path": [f"{name}=../in/none.npy"],
                "dangling symlink": [f"{name}=link.npy"], "symlink loop": [f"{name}=loop.npy"],
                "extra input": [f"{name}={path}", f"extra_input_name={path}"], "two '='": [f"{name}={path}=x"]}[how]
        pairs = [f"{s.name}=../in/x{j}.npy" for j, s in enumerate(c.seed.inputs) if j != k] + mine
        tool = c.choice(["runmodel", "latency"])
        argv = ["../in/model.onnx"] + [x for p in pairs for x in ("--input", p)]
        prep = {"dangling symlink": ["ln -s nowhere.npy link.npy"], "symlink loop": ["ln -s loop.npy loop.npy"]}.get(how, [])
        if tool == "runmodel":
            argv += ["--output-dir", "out"]
            prep = ["mkdir out"] + prep
        else:
            argv += ["--runs", "1", "--warmup", "0"]
        expect = None if how == "given twice" or (tool == "latency" and how == "missing") else True
        return Mutation(kind=f"--input: {how}", detail=f"input '{name}': {how}", tools=(tool,), argv=argv,
                        files=files, prep=prep, expected_outputs=["out/"], expect_error=expect)

    return pick_variant(ctx, [magic, version, header_length, header_text, header_text, wrong_dtype,
                              dtype_same_size, declared_shape, declared_shape, data_length, special_values,
                              special_values, equivalent_encoding, equivalent_encoding, truncated_file,
                              input_argument])


# --- quantize arguments ----------------------------------------------------------------

def is_quantize_seed(seed):
    return not seed.quantized and len(seed.inputs) == 1 and seed.inputs[0].array.dtype == np.float32


@mutation_class("quantize-args", applies=is_quantize_seed)
def mutate_quantize_args(ctx):
    """Bad quantize command lines: missing or unreadable model, budgets of -1/NaN/abc,
    unknown options and values, outputs onto a directory or FIFO, calibration samples with
    NaN/inf/3e38 or of the wrong shape and type, bad latency tables: each must be one
    error line before any output appears (or a model whose scales are finite)."""
    rng = ctx.rng
    seed = ctx.seed
    sample = seed.inputs[0].array
    files = {"model.onnx": seed.data, "calib/s0.npy": npy_bytes(sample)}
    if rng.random() < 0.5:
        files["calib/s1.npy"] = npy_bytes((sample * 0.5 + 0.1).astype(np.float32))
    argv = ["../in/model.onnx", "--calibration", "../in/calib", "-o", "out.onnx"]
    extras = rng.choice([[], ["--method", "rtn"], ["--max-samples", "1"], ["--report", "report.txt"],
                         ["--ranges", "minmax"], ["--weights", "int4"]])
    prep = []
    expect_error = True
    conv_names = [n.name for n in seed.model.graph.node if n.op_type in ("Conv", "Gemm", "MatMul") and n.name]
    node_name = rng.choice(conv_names) if conv_names else "node"

    def opt(name, value):
        return [name, value]

    how = rng.choice(["model", "budget", "budget", "option", "enum", "enum", "output", "output",
                      "calibration", "calibration", "latency-table", "numbers"])
    if how == "model":
        sub = rng.choice(["nonexistent", "directory", "empty file", "garbage", "a .npy file", "quantized model",
                          "truncated", "empty path"])
        if sub == "nonexistent":
            argv[0] = "../in/missing.onnx"
        elif sub == "directory":
            argv[0] = "../in/calib"
        elif sub == "empty file":
            files["model.onnx"] = b""
        elif sub == "garbage":
            files["model.onnx"] = bytes(rng.randrange(256) for _ in range(200))
        elif sub == "a .npy file":
            files["model.onnx"] = npy_bytes(sample)
        elif sub == "quantized model":
            q = [s for s in QUANTIZE_QUANTIZED_SEEDS if s] or [seed.data]
            files["model.onnx"] = rng.choice(q)
            expect_error = None
        elif sub == "truncated":
            files["model.onnx"] = seed.data[:rng.randrange(1, len(seed.data))]
        else:
            argv[0] = ""
        detail = f"model: {sub}"
        kind = f"model {sub}"
    elif how == "budget":
        flag = rng.choice(["--size-budget", "--bops-budget", "--latency-budget"])
        v = rng.choice(["-1", "NaN", "nan", "abc", "inf", "-inf", "0", "1e308", "", " 0.5", "0x1p-1",
                        "1e-320", "-0", "1e999", "0.5.5", "1,5"])
        argv += ["--weights", "mixed", flag, v]
        if flag == "--latency-budget" and rng.random() < 0.5:
            files["int8.csv"] = b"index,name,op,precision,kernel,input_shapes,output_shapes,macs,median_us,gops,share\n"
            argv += ["--latency-table", "../in/int8.csv"]
        if v in ("1e308", "0x1p-1", "inf", "1e999", " 0.5"):
            expect_error = None
        detail = f"{flag} {v!r}"
        kind = f"{flag} {'number' if v not in ('NaN', 'nan', 'abc', '', '0.5.5', '1,5', '-1', '-inf', '-0', '0') else repr(v)}"
    elif how == "option":
        sub = rng.choice(["unknown option", "missing value", "-o twice", "extra positional", "no -o",
                          "no --calibration", "no model", "=value form", "single dash", "help mid-line"])
        if sub == "unknown option":
            argv += ["--frobnicate"]
        elif sub == "missing value":
            argv += [rng.choice(["--size-budget", "--method", "--report", "--pin", "--max-samples"])]
        elif sub == "-o twice":
            argv += ["-o", "second.onnx"]
            expect_error = None
        elif sub == "extra positional":
            argv += ["another.onnx"]
        elif sub == "no -o":
            argv = argv[:3]
        elif sub == "no --calibration":
            argv = [argv[0]] + argv[3:]
        elif sub == "no model":
            argv = argv[1:]
        elif sub == "=value form":
            argv += ["--max-samples=abc"]
        elif sub == "single dash":
            argv += ["-weights", "int4"]
        else:
            argv.insert(1, "--help")
            expect_error = None
        detail = sub
        kind = sub
    elif how == "enum":
        flag, v = rng.choice([
            ("--activations", rng.choice(["x", "u4", "s16", ""])), ("--weights", rng.choice(["int3", "int2", "fp16", ""])),
            ("--method", rng.choice(["foo", "dpq", ""])), ("--ranges", rng.choice(["foo", ""])),
            ("--objective", rng.choice(["foo", ""])),
            ("--candidates", rng.choice(["int8,int8", "", "int2", "fp8", "int8,,int4", "int4", "INT8"])),
            ("--keep-8bit", rng.choice(["no_such_node", "", "\n"])),
            ("--pin", rng.choice(["x", "x=", "=int4", f"{node_name}=int3", "no_such_node=int4", f"{node_name}=", f"{node_name}=int4=int8"])),
        ])
        mixed = flag in ("--candidates", "--pin", "--keep-8bit") and rng.random() < 0.7
        argv += (["--weights", "mixed"] if mixed else []) + [flag, v]
        if flag in ("--candidates", "--pin", "--keep-8bit") and not mixed:
            expect_error = None   # options of --weights mixed; ignoring them otherwise is defensible
        if flag == "--method" and v == "dpq":
            expect_error = None
        if flag == "--candidates" and v in ("int4", "fp8", "INT8", "int8,int8"):
            expect_error = None
        if flag == "--keep-8bit" and v == "no_such_node":
            expect_error = None
        detail = f"{flag} {v!r}"
        kind = f"{flag} bad value"
    elif how == "numbers":
        flag, v = rng.choice([
            ("--percentile", rng.choice(["0", "-1", "100", "101", "NaN", "inf", "1e-30", "abc"])),
            ("--max-samples", rng.choice(["0", "-1", str(2**63), str(2**63 - 1), "abc", "1.5"])),
            ("--sensitivity-samples", rng.choice(["0", "-1", "1000000000", "abc"])),
        ])
        if flag == "--sensitivity-samples":
            argv += ["--weights", "mixed"]
        argv += [flag, v]
        if (flag, v) in (("--percentile", "100"), ("--percentile", "1e-30"), ("--max-samples", str(2**63 - 1)),
                         ("--sensitivity-samples", "1000000000")):
            expect_error = None
        detail = f"{flag} {v!r}"
        kind = f"{flag} out of range or not a number"
    elif how == "output":
        sub = rng.choice(["onto a directory", "onto a FIFO", "in a missing folder", "empty path",
                          "report onto a directory", "report onto a FIFO", "report and -o the same",
                          "onto the model itself", "symlink to a directory", "dangling symlink",
                          "onto the calibration folder"])
        if sub == "onto a directory":
            prep.append("mkdir out.onnx")
        elif sub == "onto a FIFO":
            prep.append("mkfifo out.onnx")
        elif sub == "in a missing folder":
            argv[4] = "missing/out.onnx"
        elif sub == "empty path":
            argv[4] = ""
        elif sub == "report onto a directory":
            prep.append("mkdir report.txt")
            argv += ["--report", "report.txt"]
        elif sub == "report onto a FIFO":
            prep.append("mkfifo report.txt")
            argv += ["--report", "report.txt"]
        elif sub == "report and -o the same":
            argv += ["--report", "out.onnx"]
        elif sub == "onto the model itself":
            argv[4] = "../in/model.onnx"
            expect_error = None
        elif sub == "symlink to a directory":
            prep += ["mkdir real_dir", "ln -s real_dir out.onnx"]
        elif sub == "dangling symlink":
            prep.append("ln -s nowhere/target.onnx out.onnx")
            expect_error = None
        else:
            argv[4] = "../in/calib"
        detail = f"-o/--report {sub}"
        kind = f"output {sub}"
    elif how == "calibration":
        sub = rng.choice(["empty folder", "missing folder", "a file", "NaN", "inf", "-inf", "3e38",
                          "all zero", "denormal", "float64", "int8", "float16", "wrong shape", "wrong rank",
                          "zero samples", "truncated", "bad header", "text file", "subfolder named .npy",
                          "symlink loop", "huge declared shape"])
        del files["calib/s0.npy"]
        files.pop("calib/s1.npy", None)
        bad = None
        if sub == "empty folder":
            prep.append("mkdir -p ../in/calib")
        elif sub == "missing folder":
            argv[2] = "../in/missing_calib"
        elif sub == "a file":
            files["calib.npy"] = npy_bytes(sample)
            argv[2] = "../in/calib.npy"
        elif sub in ("NaN", "inf", "-inf", "3e38", "all zero", "denormal"):
            v = {"NaN": np.nan, "inf": np.inf, "-inf": -np.inf, "3e38": 3e38, "all zero": 0.0, "denormal": 1e-44}[sub]
            bad = sample.copy()
            if sub in ("all zero", "denormal") or rng.random() < 0.5:
                bad[...] = v
            else:
                bad.flat[rng.randrange(bad.size)] = v
            if sub in ("all zero", "denormal", "3e38"):
                expect_error = None
        elif sub == "float64":
            bad = sample.astype(np.float64)
        elif sub == "int8":
            bad = sample.astype(np.int8)
        elif sub == "float16":
            bad = sample.astype(np.float16)
        elif sub == "wrong shape":
            bad = np.concatenate([sample, sample], axis=-1)
        elif sub == "wrong rank":
            bad = sample.reshape(-1)
        elif sub == "zero samples":
            bad = sample[:0]
        if bad is not None:
            files["calib/s0.npy"] = npy_bytes(bad)
        if sub == "truncated":
            files["calib/s0.npy"] = npy_bytes(sample)[:-3]
        elif sub == "bad header":
            files["calib/s0.npy"] = npy_file("{'descr': '<f4', 'shape': (}", sample.tobytes())
        elif sub == "text file":
            files["calib/s0.npy"] = npy_bytes(sample)
            files["calib/notes.txt"] = b"not a sample\n"
            expect_error = None
        elif sub == "subfolder named .npy":
            files["calib/s0.npy"] = npy_bytes(sample)
            files["calib/dir.npy/x"] = b""
        elif sub == "symlink loop":
            files["calib/s0.npy"] = npy_bytes(sample)
            prep.append("ln -s loop.npy ../in/calib/loop.npy")
        elif sub == "huge declared shape":
            files["calib/s0.npy"] = npy_file(npy_header("<f4", False, [2**40] + list(sample.shape[1:])), sample.tobytes())
        detail = f"calibration: {sub}"
        kind = f"calibration {sub}"
    else:
        sub = rng.choice(["missing file", "a directory", "empty file", "header only", "wrong columns",
                          "NaN times", "negative times", "one table", "not CSV", "unterminated quote"])
        header = "index,name,op,precision,kernel,input_shapes,output_shapes,macs,median_us,gops,share\n"
        row = f'0,{node_name},QConv,int8,k,u8[1] NHWC,u8[1] NHWC,100,{{t}},1,1\n'
        tables = []
        if sub == "missing file":
            tables = ["../in/none.csv", "../in/none2.csv"]
        elif sub == "a directory":
            tables = ["../in/calib", "../in/calib"]
        else:
            content = {
                "empty file": "", "header only": header, "wrong columns": "a,b\n1,2\n",
                "NaN times": header + row.format(t="nan"), "negative times": header + row.format(t="-5"),
                "one table": header + row.format(t="3"), "not CSV": "\x00\xff" * 50,
                "unterminated quote": header + '0,"abc,QConv\n',
            }[sub]
            files["t8.csv"] = content.encode("latin1")
            files["t4.csv"] = content.encode("latin1")
            tables = ["../in/t8.csv"] if sub == "one table" else ["../in/t8.csv", "../in/t4.csv"]
        argv += ["--weights", "mixed", "--latency-budget", "0.9"]
        for t in tables:
            argv += ["--latency-table", t]
        detail = f"--latency-table {sub}"
        kind = f"latency table {sub}"
    if "--help" not in argv and len(argv) >= 5 and argv[3] == "-o":
        argv = argv[:5] + extras + argv[5:]   # the mutated option comes last and wins
    return Mutation(kind=kind, detail=detail, argv=argv, files=files, prep=prep, expect_error=expect_error,
                    tools=("quantize",))


QUANTIZE_QUANTIZED_SEEDS = []


# --- output paths ----------------------------------------------------------------------

@mutation_class("output-paths")
def mutate_output_paths(ctx):
    """runmodel's and latency's outputs aimed at a directory, a FIFO, a missing folder, a
    file name too long to create, or at paths where only some outputs can be written: the
    README promises an error before any work, the obstacle left untouched, and several
    outputs landing together or not at all."""
    rng = ctx.rng
    seed = ctx.seed
    files, input_args = seed_command_parts(seed)
    outputs = [o.name for o in seed.model.graph.output]
    if rng.random() < 0.5 or not outputs:
        tool = "latency"
        flags = {"--json": "out.json", "--csv": "out.csv", "--trace": "out.trace"}
        chosen = rng.sample(sorted(flags), rng.choice([1, 2, 3]))
        victim = rng.choice(chosen)
        how = rng.choice(["a directory", "a FIFO", "a missing folder", "an empty path", "the same path twice",
                          "a symlink to a directory", "a dangling symlink", "a name too long", "a file name of '.'"])
        argv = ["../in/model.onnx", "--runs", "1", "--warmup", "0"] + input_args
        prep, expect = [], True
        for flag in chosen:
            path = flags[flag]
            if flag == victim:
                if how == "a directory":
                    prep.append(f"mkdir {path}")
                elif how == "a FIFO":
                    prep.append(f"mkfifo {path}")
                elif how == "a missing folder":
                    path = "missing/" + path
                elif how == "an empty path":
                    path = ""
                elif how == "the same path twice":
                    path = flags[chosen[0]] if victim != chosen[0] else flags[chosen[-1]]
                    expect = None if len(chosen) == 1 else True
                elif how == "a symlink to a directory":
                    prep += ["mkdir real_dir", f"ln -s real_dir {path}"]
                elif how == "a dangling symlink":
                    prep.append(f"ln -s nowhere/x {path}")
                elif how == "a name too long":
                    path = "n" * 300
                else:
                    path = "."
            argv += [flag, path]
        return Mutation(kind=f"latency {victim} onto {how}", detail=f"latency {' '.join(chosen)}; {victim} onto {how}",
                        tools=(tool,), argv=argv, files=files, prep=prep, expect_error=expect,
                        expected_outputs=list(flags.values()))
    names = [sanitized(o) for o in outputs]
    how = rng.choice(["--output-dir onto a file", "--output-dir onto a FIFO", "--output-dir missing",
                      "--output-dir empty", "--output-dir a symlink to a directory", "an output file is a directory",
                      "an output file is a FIFO", "an output file is a symlink to a file",
                      "an output file is a dangling symlink", "an output name too long"])
    argv = ["../in/model.onnx"] + input_args + ["--output-dir", "out"]
    prep, expect, model = ["mkdir out"], True, None
    victim = rng.choice(names)
    if len(names) > 1:
        victim = names[-1]   # the last output: an early one may already have been written
    if how == "--output-dir onto a file":
        prep = ["touch out"]
    elif how == "--output-dir onto a FIFO":
        prep = ["mkfifo out"]
    elif how == "--output-dir missing":
        prep = []
    elif how == "--output-dir empty":
        argv[-1] = ""
    elif how == "--output-dir a symlink to a directory":
        prep = ["mkdir real_out", "ln -s real_out out"]
        expect = None
    elif how == "an output file is a directory":
        prep.append(f"mkdir {shlex.quote('out/' + victim)}")
    elif how == "an output file is a FIFO":
        prep.append(f"mkfifo {shlex.quote('out/' + victim)}")
    elif how == "an output file is a symlink to a file":
        prep += ["touch target.npy", f"ln -s ../target.npy {shlex.quote('out/' + victim)}"]
        expect = None
    elif how == "an output file is a dangling symlink":
        prep.append(f"ln -s ../nowhere/x.npy {shlex.quote('out/' + victim)}")
        expect = None
    else:
        rename_value(ctx.graph, outputs[-1], "o" * 300)
        model = ctx.model.SerializeToString()
        files["model.onnx"] = model
        victim = "o" * 20 + "…"
    mutation = Mutation(kind=f"runmodel {how}", detail=f"runmodel outputs {names}; {how} ({victim})",
                        tools=("runmodel",), argv=argv, files=files, prep=prep, expect_error=expect,
                        expected_outputs=["out/", "real_out/"])
    mutation.model = model
    return mutation


# ---------------------------------------------------------------------------------------
# Jobs: a mutation turned into one command line in a fresh folder
# ---------------------------------------------------------------------------------------

@dataclass
class Job:
    index: int
    cls: str
    kind: str
    detail: str
    seed: str
    tool: str
    argv: list                  # after the binary; paths relative to work/
    files: dict                 # path under in/ -> bytes
    prep: list                  # shell commands run in work/ first
    expected_outputs: list      # paths (relative to work/) a successful run may write
    ort_model: str = None       # path under in/ or work/ of the model ONNX Runtime should judge
    ort_inputs: dict = None     # graph input name -> path under in/; None: synthesize
    ort_output_model: str = None   # quantize: the written model, judged after success
    expect_error: bool = None
    equivalent: bool = False
    seed_ref: object = None
    numerics_default: bool = True
    graph_outputs: int = None


def model_bytes(mutation, seed):
    if mutation.model is None:
        return seed.data
    if isinstance(mutation.model, (bytes, bytearray)):
        return bytes(mutation.model)
    return mutation.model.SerializeToString()


def count_graph_outputs(data):
    import onnx
    try:
        m = onnx.load_from_string(data)
        return len({o.name for o in m.graph.output})
    except Exception:
        return None


def seed_command_parts(seed):
    """The unmodified seed's files and --input arguments (paths relative to work/)."""
    files = {"model.onnx": seed.data}
    args = []
    for k, spec in enumerate(seed.inputs):
        files[f"x{k}.npy"] = npy_bytes(spec.array)
        args += ["--input", f"{spec.name}=../in/x{k}.npy"]
    return files, args


def sanitized(name):
    """The file name runmodel gives an output (README: other characters become '_')."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) + ".npy"


def plan_job(index, cls, seed, mutation, rng):
    """The command line that exercises a mutation: quantize arguments as built, otherwise
    runmodel, runmodel --describe, latency or quantize on the mutant model."""
    common = dict(index=index, cls=cls, kind=mutation.kind, detail=mutation.detail, seed=seed.rel,
                  expect_error=mutation.expect_error, equivalent=mutation.equivalent, seed_ref=seed)
    if mutation.argv is not None:
        # A complete command line (quantize arguments, --input arguments, output paths).
        tool = mutation.tools[0]
        job = Job(tool=tool, argv=list(mutation.argv), files=dict(mutation.files), prep=list(mutation.prep or []),
                  expected_outputs=mutation.expected_outputs or [], **common)
        if tool == "quantize":
            job.expected_outputs = mutation.expected_outputs or ["out.onnx", "report.txt"]
            job.ort_output_model = "work/out.onnx"
            job.ort_inputs = {seed.inputs[0].name: "in/calib_check.npy"}
        elif tool == "runmodel" and mutation.model is not None:
            job.graph_outputs = count_graph_outputs(mutation.files["model.onnx"])
        return job

    data = model_bytes(mutation, seed)
    files = {"model.onnx": data}
    names = mutation.input_names or [s.name for s in seed.inputs]
    input_args = []
    ort_inputs = {}
    for k, spec in enumerate(seed.inputs):
        blob = (mutation.inputs or {}).get(k)
        files[f"x{k}.npy"] = blob if blob is not None else npy_bytes(spec.array)
        name = names[k] if k < len(names) else spec.name
        input_args += ["--input", f"{name}=../in/x{k}.npy"]
        ort_inputs[name] = f"in/x{k}.npy"

    tools = [t for t in mutation.tools if t != "quantize" or is_quantize_seed(seed)]
    weights = {"runmodel": 0.5, "describe": 0.2, "latency": 0.25, "quantize": 0.15}
    if any("\x00" in a for a in input_args):
        # A command line cannot carry a NUL byte: run only what needs no --input.
        tools = [t for t in tools if t in ("describe", "latency", "quantize")]
        input_args, ort_inputs = [], None
    tool = rng.choices(tools, [weights[t] for t in tools])[0]
    numerics_default = True
    expected = []
    if tool == "runmodel":
        argv = ["../in/model.onnx"] + input_args + ["--output-dir", "out"]
        prep = ["mkdir out"]
        if rng.random() < 0.25:
            argv += ["--numerics", "onnxruntime"]
            numerics_default = False
        if rng.random() < 0.15:
            argv += ["--threads", "2"]
        expected = ["out/"]
    elif tool == "describe":
        argv = ["--describe", "../in/model.onnx"]
        prep = []
        if rng.random() < 0.2:
            argv += input_args
    elif tool == "latency":
        argv = ["../in/model.onnx", "--runs", "1", "--warmup", "0"]
        prep = []
        if input_args and (mutation.inputs is not None or rng.random() < 0.5):
            argv += input_args
        else:
            ort_inputs = None
        if rng.random() < 0.3:
            argv += ["--per-layer"]
        for flag, path in (("--json", "out.json"), ("--csv", "out.csv"), ("--trace", "out.trace")):
            if rng.random() < 0.25:
                argv += [flag, path]
                expected.append(path)
        if rng.random() < 0.1:
            argv += ["--numerics", "onnxruntime"]
    else:
        argv = ["../in/model.onnx", "--calibration", "../in/calib", "-o", "out.onnx",
                "--max-samples", "2"] + rng.choice([[], ["--method", "rtn"], ["--weights", "int4", "--method", "rtn"],
                                                    ["--report", "report.txt"]])
        files["calib/s0.npy"] = files["x0.npy"]
        prep = []
        expected = ["out.onnx", "report.txt"]
    job = Job(tool=tool, argv=argv, files=files, prep=prep, expected_outputs=expected,
              ort_model="in/model.onnx", ort_inputs=ort_inputs, numerics_default=numerics_default,
              graph_outputs=count_graph_outputs(data) if tool == "runmodel" else None, **common)
    if tool == "quantize":
        job.ort_output_model = "work/out.onnx"
    return job


SEEDS_BY_CLASS = {}


def make_job(index, cls, seeds, base_seed):
    """Run `index` of the schedule: its own generator, so the run depends only on
    (--seed, index)."""
    rng = random.Random(f"{base_seed}:{index}")
    mclass = MUTATION_CLASSES[cls]
    if cls not in SEEDS_BY_CLASS:
        SEEDS_BY_CLASS[cls] = [s for s in seeds if mclass.applies(s)]
    candidates = SEEDS_BY_CLASS[cls]
    for _ in range(30):
        seed = rng.choices(candidates, [s.weight for s in candidates])[0]
        ctx = Ctx(rng, seed)
        try:
            mutation = mclass.fn(ctx)
        except Exception:   # a mutation that does not fit this seed
            mutation = None
            if os.environ.get("MUTATION_DEBUG"):
                import traceback
                traceback.print_exc()
        if mutation is not None:
            return plan_job(index, cls, seed, mutation, rng)
    return None


# ---------------------------------------------------------------------------------------
# Running one job
# ---------------------------------------------------------------------------------------

def limit_child():
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.setsid()


CHILD_ENV = dict(os.environ, SWIFT_BACKTRACE="enable=yes,interactive=no,color=no,threads=crashed,"
                                             "registers=none,images=none,limit=40")


def run_limited(argv, cwd, timeout=TIMEOUT_SECONDS):
    """Run with the address-space limit in its own process group; on timeout the whole
    group (the tool and any backtracer it started) is killed."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=limit_child, env=CHILD_ENV)
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        timed_out = True
    return proc.returncode, out, err, timed_out, time.monotonic() - start


def snapshot(root):
    """Every entry under root (not following links), as (relative path, kind)."""
    entries = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            kind = "dir" if os.path.isdir(p) and not os.path.islink(p) else (
                "link" if os.path.islink(p) else ("fifo" if (st.st_mode & 0o170000) == 0o010000 else "file"))
            entries.add((os.path.relpath(p, root) + ("/" if kind == "dir" else ""), kind))
    return entries


def write_files(base, files):
    for rel, data in files.items():
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


FRAME = re.compile(r"^\s*\d+\s+(?:\[[^\]]*\]\s*)*0x[0-9a-f]+\s+(.*?)(?:\s+\+\s+\d+)?\s+in \S+ at (\S+)\s*$", re.M)


def crash_signature(stderr, returncode):
    """(message, location) of a crash from the Swift backtrace: the fatal-error or runtime
    failure (else the signal and the innermost frame, e.g. Array.subscript for an index out
    of range), and the first frame in the project's sources as file:line (function)."""
    text = stderr.decode("utf-8", "replace")
    frames = [(re.sub(r"^specialized ", "", f), path) for f, path in FRAME.findall(text)]
    fatal = re.search(r"^.*Fatal error.*$", text, re.M)
    failure = next((f for f, _ in frames if f.startswith("Swift runtime failure:")), None)
    crashed = re.search(r"Program crashed: ([^*]*?)(?: at 0x[0-9a-f]+)?\s*\*\*\*", text)
    if fatal:
        message = fatal.group(0).strip()
    elif failure:
        message = failure
    elif crashed:
        message = crashed.group(1).strip() + (f" in {frames[0][0]}" if frames else "")
    elif returncode is not None and returncode < 0:
        try:
            message = signal.Signals(-returncode).name
        except ValueError:
            message = f"signal {-returncode}"
    else:
        message = f"exit status {returncode}"
    message = re.sub(r"\d{4,}", "N", message)   # "failed to allocate N bytes": one crash, not one per size
    location = None
    for function, path in frames:
        m = re.search(r"((?:Sources|kernels)/[^:]+):(\d+)", path)
        if m and "/.build/" not in path:
            if location is None:
                location = f"{m.group(1)}:{m.group(2)}"
            if not function.startswith("Swift runtime failure"):
                location += f" ({function})"
                break
    return message, location


GDB_FRAME = re.compile(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+) .* at (\S+):(\d+)\s*$")
OUR_SYMBOL = re.compile(r"^\$s\d+(?:Dyadic|DyadicONNX|DyadicQuantizer|runmodel|latency|quantize)")


def demangle(symbol):
    tool = shutil.which("swift-demangle")
    if tool is None:
        return symbol
    out = subprocess.run([tool, "--simplified", "--compact", symbol], capture_output=True, text=True)
    return out.stdout.strip() or symbol


def locate_with_gdb(job, folder, bin_dir, hang):
    """Where a crash without a project frame (an allocation failure aborts inside libc,
    which the Swift backtracer cannot unwind) or a hang is: the reproducer rerun under gdb,
    interrupted after a few seconds for a hang; its first frame in the project's sources."""
    gdb = shutil.which("gdb")
    if gdb is None or folder is None:
        return None
    work = folder / "gdb-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        for cmd in job.prep:
            subprocess.run(["sh", "-c", cmd], cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        binary = "runmodel" if job.tool == "describe" else job.tool
        env = dict(CHILD_ENV, SWIFT_BACKTRACE="enable=no")
        proc = subprocess.Popen([gdb, "-q", "-batch", "-ex", "set pagination off", "-ex", "run", "-ex", "bt",
                                 "--args", str(bin_dir / binary)] + job.argv, cwd=work, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                preexec_fn=limit_child)
        try:
            out, _ = proc.communicate(timeout=5 if hang else 120)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGINT)   # gdb stops the program and prints the backtrace
            try:
                out, _ = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                out, _ = proc.communicate()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    location, function = None, None
    for line in out.decode("utf-8", "replace").splitlines():
        m = GDB_FRAME.match(line)
        if not m or "/.build/" in m.group(2):
            continue
        p = re.search(r"((?:Sources|kernels)/.+)$", m.group(2))
        if p and location is None:
            location = f"{p.group(1)}:{m.group(3)}"
        if location and OUR_SYMBOL.match(m.group(1)):
            function = demangle(m.group(1))
            break
    if location is None:
        return None
    return f"{location} ({function or '?'}) [gdb]"


def one_line_error(stderr):
    text = stderr.decode("utf-8", "replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines = lines[:-1]
    return len(lines) == 1 and lines[0].startswith("error:")


@dataclass
class Result:
    job: Job
    outcome: str
    returncode: int
    stderr: bytes
    seconds: float
    leftovers: list
    note: str = ""
    crash: tuple = None
    ort: str = ""
    where: str = ""     # a hang's location (gdb)


def classify_failure(rc, timed_out, stderr, leftovers):
    if timed_out:
        return "hang"
    if rc is None or rc < 0 or rc not in (0, 1, 64):
        return "crash"
    if leftovers:
        return "partial-output"
    if rc == 1 and one_line_error(stderr):
        return "clean-error"
    return "unclear-message"


def compare_outputs(job, work):
    """For inputs that mean the same as the seed's: runmodel's outputs must be the seed's."""
    seed = job.seed_ref
    if not job.equivalent or job.tool != "runmodel" or not job.numerics_default or not seed.baseline:
        return None
    got = {p.name: p.read_bytes() for p in (work / "out").glob("*.npy")}
    if got != seed.baseline:
        return "outputs differ from the seed's"
    return None


def quantized_scales_finite(path):
    """quantize's output: every Q/DQ scale finite and positive."""
    import onnx
    m = onnx.load(str(path))
    inits = {t.name: t for t in m.graph.initializer}
    for n, s, z in qparam_slots(m):
        t = inits.get(s)
        if t is not None:
            v = values(t)
            if v.dtype.kind == "f" and not (np.all(np.isfinite(v)) and np.all(v > 0)):
                return f"scale '{s}' of '{n.name}' is {v.ravel()[:4].tolist()}"
    return None


def execute(job, bin_dir, top, oracle):
    base = Path(tempfile.mkdtemp(prefix=f"run{job.index}-", dir=top))
    try:
        (base / "in").mkdir()
        work = base / "work"
        work.mkdir()
        write_files(base / "in", job.files)
        if job.ort_output_model and job.tool == "quantize" and job.ort_inputs:
            seed_input = job.seed_ref.inputs[0].array
            (base / "in" / "calib_check.npy").write_bytes(npy_bytes(seed_input))
        for cmd in job.prep:
            if not cmd.startswith("#"):
                subprocess.run(["sh", "-c", cmd], cwd=work, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        before = snapshot(work)
        binary = "runmodel" if job.tool == "describe" else job.tool
        rc, out, err, timed_out, seconds = run_limited([str(bin_dir / binary)] + job.argv, work)
        after = snapshot(work)
        new = sorted(p for p, kind in after - before)
        if rc == 0 and not timed_out:
            outcome, note, ort = judge_success(job, base, work, new, oracle)
        else:
            outcome, note, ort = classify_failure(rc, timed_out, err, new), "", ""
        crash = crash_signature(err, rc) if outcome == "crash" else None
        result = Result(job, outcome, rc, err, seconds, new if outcome != "accepted" else [], note, crash, ort)
        result.base = base
        return result
    except Exception:
        shutil.rmtree(base, ignore_errors=True)
        raise


def judge_success(job, base, work, new, oracle):
    """Exit 0: accepted, unless the input was invalid (ONNX Runtime or numpy reject it, or it
    is invalid by construction) or the outputs are wrong."""
    stray = [p for p in new if not any(p == e or p.startswith(e) for e in job.expected_outputs)]
    note = f"stray files after success: {stray}" if stray else ""
    if job.expect_error:
        return "accepted-invalid", note, "invalid by construction"
    if job.tool == "runmodel" and job.graph_outputs:
        files = list((work / "out").glob("*.npy"))
        if len(files) < job.graph_outputs:
            return "wrong-output", note, f"{job.graph_outputs} graph outputs, {len(files)} files written"
    diff = compare_outputs(job, work)
    if diff:
        return "wrong-output", note, diff
    if job.ort_model and job.seed_ref.ort_runs:
        status, message = oracle.check(str(base / job.ort_model),
                                       {n: str(base / p) for n, p in (job.ort_inputs or {}).items()}
                                       if job.ort_inputs is not None else None)
        if status == "rejected":
            return "accepted-invalid", note, message
        if status == "unknown":
            note = (note + "; " if note else "") + f"ONNX Runtime: {message}"
    if job.ort_output_model and (base / job.ort_output_model).is_file():
        try:
            bad = quantized_scales_finite(base / job.ort_output_model)
        except Exception as e:
            bad = f"the written model does not load: {e}"
        if bad:
            return "accepted-invalid", note, f"quantize wrote a bad model: {bad}"
        if job.seed_ref.ort_runs or job.cls == "quantize-args":
            inputs = {job.seed_ref.inputs[0].name: str(base / "in" / "calib_check.npy")} if job.tool == "quantize" and job.cls == "quantize-args" else (
                {n: str(base / p) for n, p in job.ort_inputs.items()} if job.ort_inputs else None)
            status, message = oracle.check(str(base / job.ort_output_model), inputs)
            if status == "rejected":
                return "accepted-invalid", note, f"quantize wrote a model ONNX Runtime rejects: {message}"
    return "accepted", note, ""


# ---------------------------------------------------------------------------------------
# ONNX Runtime as the oracle, in a separate process (a hostile model may crash it)
# ---------------------------------------------------------------------------------------

def ort_worker_main():
    """Serve JSON requests on stdin: load the inputs with numpy, the model with ONNX
    Runtime, run it; answer ok / rejected with the exception's first line."""
    import onnxruntime as ort
    ort.set_default_logger_severity(4)
    out = sys.stdout
    sys.stdout = sys.stderr
    for line in sys.stdin:
        req = json.loads(line)
        try:
            status, message = ort_check(ort, req)
        except MemoryError:
            status, message = "unknown", "MemoryError"
        except BaseException as e:
            status, message = "rejected", ort_message(e)
        out.write(json.dumps({"status": status, "message": message}) + "\n")
        out.flush()


def ort_message(error):
    """An ONNX Runtime exception's first line without the boilerplate (status code, model path)."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)
    text = re.sub(r"^Load model from \S+ failed:", "", text)
    text = re.sub(r"/onnxruntime_src/\S+/", "", text)
    return text.strip()[:300]


def ort_check(ort, req):
    arrays = {}
    for name, path in (req.get("inputs") or {}).items():
        try:
            a = np.load(path, allow_pickle=False, max_header_size=10**7)
        except MemoryError:
            return "unknown", "numpy: MemoryError"
        except Exception as e:
            return "rejected", f"numpy: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("="))
        arrays[name] = np.ascontiguousarray(a)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 4
    sess = ort.InferenceSession(req["model"], so, providers=["CPUExecutionProvider"])
    feeds = dict(arrays)   # unknown names too: ONNX Runtime rejects them, as Dyadic should
    for i in sess.get_inputs():
        if i.name in arrays:
            feeds[i.name] = arrays[i.name]
            continue
        if req.get("inputs") is not None:
            continue   # a missing input: let ONNX Runtime say so
        shape = [d if isinstance(d, int) and d >= 0 else 1 for d in (i.shape or [])]
        if int(np.prod(shape, dtype=object)) > 1 << 26:
            return "unknown", "declared input too large to synthesise"
        dtype = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8,
                 "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(double)": np.float64,
                 "tensor(float16)": np.float16, "tensor(bool)": np.bool_}.get(i.type)
        if dtype is None:
            return "unknown", f"cannot synthesise {i.type}"
        feeds[i.name] = np.zeros(shape, dtype)
    sess.run(None, feeds)
    return "ok", ""


class Oracle:
    """One ONNX Runtime worker process (per job thread), restarted when it dies or hangs."""

    def __init__(self):
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--ort-worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     preexec_fn=limit_child)

    def stop(self):
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            self.proc = None

    def check(self, model, inputs, timeout=TIMEOUT_SECONDS):
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        req = json.dumps({"model": model, "inputs": inputs}) + "\n"
        try:
            self.proc.stdin.write(req.encode())
            self.proc.stdin.flush()
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
            if not ready:
                self.stop()
                return "unknown", "ONNX Runtime timed out"
            line = self.proc.stdout.readline()
        except (BrokenPipeError, OSError):
            line = b""
        if not line:
            rc = self.proc.wait() if self.proc else None
            self.proc = None
            return "unknown", f"ONNX Runtime died ({rc})"
        reply = json.loads(line)
        return reply["status"], reply["message"]


# ---------------------------------------------------------------------------------------
# Baseline, reproducers and the report
# ---------------------------------------------------------------------------------------

def baseline(seeds, bin_dir, top, oracle):
    """Run every seed unchanged: Dyadic's outputs (for the equivalence checks) and whether
    ONNX Runtime runs it (its verdict on mutants of a seed it cannot run means nothing)."""
    for seed in seeds:
        base = Path(tempfile.mkdtemp(prefix="seed-", dir=top))
        (base / "work" / "out").mkdir(parents=True)
        argv = [str(bin_dir / "runmodel"), str(REPO / seed.rel), "--output-dir", "out"]
        inputs = {}
        for k, spec in enumerate(seed.inputs):
            p = base / f"x{k}.npy"
            p.write_bytes(npy_bytes(spec.array))
            argv += ["--input", f"{spec.name}={p}"]
            inputs[spec.name] = str(p)
        rc, out, err, timed_out, _ = run_limited(argv, base / "work")
        seed.dyadic_runs = rc == 0
        if rc == 0:
            seed.baseline = {p.name: p.read_bytes() for p in (base / "work" / "out").glob("*.npy")}
        status, message = oracle.check(str(REPO / seed.rel), inputs)
        seed.ort_runs = status == "ok"
        shutil.rmtree(base, ignore_errors=True)


def slug(text, n=50):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:n].strip("_") or "x"


def message_shape(stderr, returncode):
    """What is wrong with a failure's stderr, in a few categories."""
    lines = stderr.decode("utf-8", "replace").rstrip("\n").split("\n") if stderr else []
    errors = [k for k, line in enumerate(lines) if line.startswith("error:")]
    if returncode == 64:
        return "exit 64 (usage error)"
    if not lines:
        return "empty stderr"
    if not errors:
        return "no error: line"
    if errors[0] > 0 and errors[-1] == len(lines) - 1 and len(errors) == 1:
        return "other lines before the error: line"
    if errors[0] == 0 and len(lines) > 1:
        return "the error: line continues on further lines"
    return "several error: lines or lines around it"


def group_key(r):
    if r.outcome == "crash":
        message, location = r.crash
        # Without a project frame (an allocation failure aborts in libc, whose frames the
        # backtracer cannot unwind) the mutation is the best name for the code path.
        return ("crash", message, location or f"no project frame; {r.job.cls} / {r.job.kind}")
    if r.outcome == "unclear-message":
        return ("unclear-message", r.job.cls, r.job.tool, r.returncode, message_shape(r.stderr, r.returncode))
    return (r.outcome, r.job.cls, r.job.kind, r.job.tool if r.outcome in ("hang", "partial-output") else "")


def shell_command(job, bin_dir):
    binary = "runmodel" if job.tool == "describe" else job.tool
    return " ".join([shlex.quote(str(bin_dir / binary))] + [shlex.quote(a) for a in job.argv])


def write_reproducer(result, keep, bin_dir):
    job = result.job
    folder = keep / result.outcome / f"{job.index:06d}-{job.cls}-{slug(job.kind, 40)}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shutil.copytree(result.base / "in", folder / "in", symlinks=True)
    lines = ["#!/bin/sh",
             f"# {job.cls}: {job.kind}".replace("\n", "\\n"),
             f"# {job.detail}"[:400].replace("\n", "\\n"),
             f"# seed {job.seed}; run {job.index}; outcome {result.outcome}",
             'BIN_DIR="${BIN_DIR:-%s}"' % bin_dir,
             'cd "$(dirname "$0")" && rm -rf work && mkdir work && cd work || exit 2']
    lines += [c for c in job.prep]
    binary = "runmodel" if job.tool == "describe" else job.tool
    lines.append(" ".join([f'"$BIN_DIR/{binary}"'] + [shlex.quote(a) for a in job.argv]))
    (folder / "run.sh").write_text("\n".join(lines) + "\n")
    (folder / "run.sh").chmod(0o755)
    (folder / "stderr.txt").write_bytes(result.stderr[-20000:])
    (folder / "info.json").write_text(json.dumps({
        "index": job.index, "class": job.cls, "kind": job.kind, "detail": job.detail, "seed": job.seed,
        "tool": job.tool, "outcome": result.outcome, "returncode": result.returncode,
        "leftovers": result.leftovers, "note": result.note, "onnxruntime": result.ort,
        "crash": result.crash}, indent=1, ensure_ascii=False))
    return folder


def result_record(r, bin_dir):
    job = r.job
    return {"index": job.index, "class": job.cls, "kind": job.kind, "detail": job.detail[:300],
            "seed": job.seed, "tool": job.tool, "outcome": r.outcome, "returncode": r.returncode,
            "stderr": first_stderr_line(r), "crash": r.crash, "where": r.where, "onnxruntime": r.ort[:300],
            "note": r.note[:300], "leftovers": r.leftovers[:10], "seconds": round(r.seconds, 3),
            "command": shell_command(job, bin_dir)[:500]}


def locate_findings(results, keep_info, bin_dir):
    """Give crashes without a project frame, and hangs, a location from gdb: one rerun per
    group; crashes that turn out to share a location then merge in the report."""
    groups = collections.OrderedDict()
    for r in sorted(results, key=lambda r: r.job.index):
        if (r.outcome == "crash" and r.crash[1] is None) or r.outcome == "hang":
            groups.setdefault(group_key(r), []).append(r)
    for key, rs in groups.items():
        first = next((r for r in rs if r.job.index in keep_info), None)
        if first is None:
            continue
        where = locate_with_gdb(first.job, keep_info[first.job.index], bin_dir, hang=first.outcome == "hang")
        if where is None:
            continue
        for r in rs:
            if r.outcome == "crash":
                r.crash = (r.crash[0], where)
            else:
                r.where = where


def first_stderr_line(r):
    text = r.stderr.decode("utf-8", "replace").strip()
    return text.splitlines()[0][:200] if text else "(empty)"


def report(results, classes, keep_info, markdown, wall, total_runs):
    lines = []
    counts = collections.Counter((r.job.cls, r.outcome) for r in results)
    cols = OUTCOMES
    if markdown:
        lines.append("| class | runs | " + " | ".join(cols) + " |")
        lines.append("|---|---:|" + "---:|" * len(cols))
        for c in classes + ["total"]:
            row = [sum(counts[(c, o)] for o in cols) if c != "total" else len(results)]
            row += [sum(counts[(k, o)] for k in classes) if c == "total" else counts[(c, o)] for o in cols]
            lines.append(f"| {c} | " + " | ".join(str(v) for v in row) + " |")
    else:
        w = max(len(c) for c in classes + ["total"])
        head = f"{'class':<{w}} {'runs':>6} " + " ".join(f"{o:>{max(len(o), 5)}}" for o in cols)
        lines.append(head)
        for c in classes + ["total"]:
            row = [sum(counts[(c, o)] for o in cols) if c != "total" else len(results)]
            row += [sum(counts[(k, o)] for k in classes) if c == "total" else counts[(c, o)] for o in cols]
            lines.append(f"{c:<{w}} {row[0]:>6} " + " ".join(f"{v:>{max(len(o), 5)}}" for v, o in zip(row[1:], cols)))
    lines.append("")
    lines.append(f"{len(results)} runs of {total_runs} scheduled in {wall:.0f} s")

    groups = collections.OrderedDict()
    for r in sorted(results, key=lambda r: r.job.index):
        if r.outcome in FINDINGS:
            groups.setdefault(group_key(r), []).append(r)

    def section(outcome, title, describe):
        items = [(k, v) for k, v in groups.items() if k[0] == outcome]
        if not items:
            return
        lines.append("")
        lines.append(f"## {title} ({len(items)} distinct, {sum(len(v) for _, v in items)} runs)")
        for k, rs in items:
            r = rs[0]
            lines.append(describe(k, rs))
            folder = keep_info.get(r.job.index)
            lines.append(f"    reproducer: {folder}/run.sh" if folder else "    reproducer: (not kept)")

    section("crash", "Crashes", lambda k, rs: (
        f"- {k[2] or 'no project frame'}: {k[1]}  [{len(rs)} runs; classes "
        f"{', '.join(sorted({r.job.cls for r in rs}))}]\n    first: {rs[0].job.cls} / {rs[0].job.kind}: "
        f"{rs[0].job.detail[:200]!s} (seed {rs[0].job.seed}, {rs[0].job.tool})"))
    section("hang", "Hangs", lambda k, rs: (
        f"- {k[1]} / {k[2]} ({k[3]}) [{len(rs)} runs]: {rs[0].job.detail[:200]} (seed {rs[0].job.seed})"
        + (f"\n    where (gdb, interrupted): {rs[0].where}" if rs[0].where else "")))
    section("accepted-invalid", "Accepted invalid input", lambda k, rs: (
        f"- {k[1]} / {k[2]} [{len(rs)} runs; tools {', '.join(sorted({r.job.tool for r in rs}))}]: "
        f"{rs[0].job.detail[:160]} (seed {rs[0].job.seed})\n    why invalid: {rs[0].ort[:200]}"))
    section("wrong-output", "Wrong outputs", lambda k, rs: (
        f"- {k[1]} / {k[2]} [{len(rs)} runs]: {rs[0].job.detail[:160]} (seed {rs[0].job.seed}): {rs[0].ort}"))
    section("partial-output", "Partial output after a failure", lambda k, rs: (
        f"- {k[1]} / {k[2]} ({k[3]}) [{len(rs)} runs]: left {rs[0].leftovers[:5]}; exit {rs[0].returncode}; "
        f"stderr {first_stderr_line(rs[0])!r}"))
    section("unclear-message", "Unclear messages", lambda k, rs: (
        f"- {k[1]} ({k[2]}), exit {k[3]}, {k[4]} [{len(rs)} runs; kinds {', '.join(sorted({r.job.kind for r in rs}))[:300]}]\n"
        f"    e.g. {rs[0].job.detail[:150]}: stderr {rs[0].stderr.decode('utf-8', 'replace')[:300]!r}"))
    notes = [r for r in results if r.note]
    if notes:
        lines.append("")
        lines.append(f"## Notes ({len(notes)} runs)")
        for note, n in collections.Counter(re.sub(r"\d+", "N", r.note)[:150] for r in notes).most_common(15):
            lines.append(f"- {n} x {note}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20000, help="total runs, spread evenly over the classes")
    ap.add_argument("--seed", default="0", help="random seed; a run depends only on it and its index")
    ap.add_argument("--bin", default=str(REPO / ".build" / "release"), help="folder of runmodel, latency, quantize")
    ap.add_argument("--classes", default=",".join(MUTATION_CLASSES), help="comma-separated: " + ", ".join(MUTATION_CLASSES))
    ap.add_argument("--jobs", type=int, default=1, help="runs in parallel")
    ap.add_argument("--keep", default=None, help="folder for reproducers and results.jsonl (default: a new folder under /tmp)")
    ap.add_argument("--markdown", action="store_true", help="print the summary table as Markdown")
    ap.add_argument("--max-minutes", type=float, default=None, help="stop starting runs after this long")
    ap.add_argument("--max-reproducers", type=int, default=2, help="reproducers kept per distinct finding")
    ap.add_argument("--only", type=int, default=None, help="run only this index of the schedule (replay)")
    ap.add_argument("--ort-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ort_worker:
        return ort_worker_main()

    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    unknown = [c for c in classes if c not in MUTATION_CLASSES]
    if unknown:
        ap.error(f"unknown classes {unknown}; known: {', '.join(MUTATION_CLASSES)}")
    bin_dir = Path(args.bin).resolve()
    for tool in ("runmodel", "latency", "quantize"):
        if not (bin_dir / tool).is_file():
            ap.error(f"{bin_dir / tool} not found (build with `swift build -c release` or pass --bin)")
    keep = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(prefix="dyadic-mutants-", dir="/tmp"))
    if keep == REPO or REPO in keep.parents:
        ap.error("--keep must be outside the repository")
    keep.mkdir(parents=True, exist_ok=True)
    top = Path(tempfile.mkdtemp(prefix="dyadic-mutation-runs-", dir="/tmp"))

    started = time.monotonic()
    seeds = load_seeds(REPO / "models")
    QUANTIZE_QUANTIZED_SEEDS.extend(s.data for s in seeds if s.quantized and len(s.data) < 100_000)
    main_oracle = Oracle()
    baseline(seeds, bin_dir, top, main_oracle)
    print(f"{len(seeds)} seed models: {sum(s.dyadic_runs for s in seeds)} run in Dyadic, "
          f"{sum(s.ort_runs for s in seeds)} in ONNX Runtime "
          f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    for s in seeds:
        if not s.dyadic_runs:
            print(f"  seed Dyadic does not run: {s.rel}", file=sys.stderr)

    schedule = [(i, classes[i % len(classes)]) for i in range(args.runs)]
    if args.only is not None:
        schedule = [schedule[args.only]]
    results = []
    keep_info = {}
    kept_per_group = collections.Counter()
    skipped = collections.Counter()   # runs whose class found nothing to mutate
    harness_errors = collections.Counter()
    lock = threading.Lock()
    local = threading.local()
    oracles = []
    deadline = started + args.max_minutes * 60 if args.max_minutes else None
    log = open(keep / "results.jsonl", "w")
    last_progress = [time.monotonic()]

    def work(item):
        index, cls = item
        if deadline and time.monotonic() > deadline:
            return
        if not hasattr(local, "oracle"):
            local.oracle = Oracle()
            with lock:
                oracles.append(local.oracle)
        try:
            job = make_job(index, cls, seeds, args.seed)
            result = execute(job, bin_dir, top, local.oracle) if job is not None else None
        except Exception:
            # A fault of this script, not of the tools: report it and go on.
            import traceback
            with lock:
                harness_errors[cls] += 1
                print(f"harness error in run {index} ({cls}):\n{traceback.format_exc()}", file=sys.stderr)
            return
        if job is None:
            with lock:
                skipped[cls] += 1
            return
        try:
            with lock:
                results.append(result)
                if result.outcome in FINDINGS:
                    key = group_key(result)
                    if kept_per_group[key] < args.max_reproducers:
                        kept_per_group[key] += 1
                        folder = write_reproducer(result, keep, bin_dir)
                        keep_info.setdefault(job.index, folder)
                log.write(json.dumps(result_record(result, bin_dir), ensure_ascii=False) + "\n")
                job.files = None        # the reproducer has them; keep memory flat
                job.seed_ref = None
                if result.outcome not in FINDINGS:
                    result.stderr = result.stderr[:2000]
                now = time.monotonic()
                if now - last_progress[0] > 30:
                    last_progress[0] = now
                    log.flush()
                    c = collections.Counter(r.outcome for r in results)
                    print(f"[{len(results)}/{len(schedule)} {now - started:.0f} s] " +
                          " ".join(f"{o} {c[o]}" for o in OUTCOMES if c[o]), file=sys.stderr, flush=True)
        finally:
            shutil.rmtree(result.base, ignore_errors=True)

    try:
        if args.jobs <= 1:
            for item in schedule:
                work(item)
        else:
            with ThreadPoolExecutor(max_workers=args.jobs) as pool:
                for f in [pool.submit(work, item) for item in schedule]:
                    f.result()
    except KeyboardInterrupt:
        print("interrupted: reporting the runs so far", file=sys.stderr)
    finally:
        for o in oracles + [main_oracle]:
            o.stop()
        log.close()
        shutil.rmtree(top, ignore_errors=True)

    locate_findings(results, keep_info, bin_dir)
    with open(keep / "results.jsonl", "w") as log:
        for r in sorted(results, key=lambda r: r.job.index):
            log.write(json.dumps(result_record(r, bin_dir), ensure_ascii=False) + "\n")
    wall = time.monotonic() - started
    text = report(results, classes, keep_info, args.markdown, wall, len(schedule))
    if skipped:
        text += "\n\nruns with nothing to mutate: " + ", ".join(f"{c} {n}" for c, n in skipped.items())
    if harness_errors:
        text += "\n\nruns lost to errors of this script (see stderr): " + ", ".join(f"{c} {n}" for c, n in harness_errors.items())
    (keep / "summary.md" if args.markdown else keep / "summary.txt").write_text(text + "\n")
    print(text)
    print(f"\nreproducers and results.jsonl in {keep}")


if __name__ == "__main__":
    main()
