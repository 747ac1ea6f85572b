#!/usr/bin/env python3
"""A performance model of the AArch64 kernels, for want of an ARM board to time them on.

    python3 tools/arm_perf_model.py [--no-write]

Rewrites the section of kernels/README.md between the arm-perf-model markers (or, with
--no-write, prints it). Needs aarch64-linux-gnu-gcc, qemu-aarch64, qemu-x86_64, gcc,
binutils for both targets and llvm-mca (LLVM 14); no SwiftPM.

Two estimates, both from llvm-mca's scheduling models:

1. Per kernel (static): every function of the NEON bundles is compiled as the build
   compiles it, its innermost loop with the most multiply-accumulate instructions is cut
   out of the disassembly and run through llvm-mca; cycles per loop iteration divided by
   the loop's multiply-adds give cycles per MAC, set beside the ideal of the loop's MAC
   instruction (its reciprocal throughput in the same model over its MACs).
2. Per layer (dynamic): kernels/tests/perf_model_driver.c runs every EfficientNet-Lite0
   INT8 layer shape once under qemu with -d exec,nochain, which logs every translated
   block executed, so each block's execution count per layer is exact. Every executed
   block goes through llvm-mca as if it ran back to back; the layer's cycles are the sum
   of count x cycles per block. This ignores cache misses, branch mispredictions and
   latency carried from one block into the next.

Calibration: the same two estimates for the x86 kernels (the per-layer one on the AVX2
level, the only one qemu executes; the per-kernel one also for AVX-512 VNNI), against
their measured single-thread time on this machine, at the clock measured by a chain of
dependent multiplies. Deterministic except for the measured x86 times.
"""
import collections
import hashlib
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.environ.get("ARM_PERF_MODEL_OUT", "/tmp/dyadic-arm-perf-model")
README = os.path.join(ROOT, "kernels", "README.md")
BEGIN, END = "<!-- arm-perf-model:begin -->", "<!-- arm-perf-model:end -->"
CFLAGS = ["-O2", "-std=c11", "-D_DEFAULT_SOURCE", "-Wall", "-Wextra", "-Werror"]
ITERATIONS = 200

# The cores predicted: llvm-mca CPU name, clock, and the LLVM 14 model that CPU name
# selects (LLVM 14 has no Cortex-A76 model: cortex-a76 and neoverse-n1 use Cortex-A57's).
ARM_CORES = [
    ("Cortex-A76", "cortex-a76", 2.4e9, "Cortex-A57 (LLVM 14's model for cortex-a76)"),
    ("Cortex-A55", "cortex-a55", 1.8e9, "Cortex-A55"),
]
ARM_MATTR = "+dotprod,+i8mm,+fp16fml,+fullfp16"
X86_CPU = "icelake-server"  # nearest LLVM 14 model to this Emerald Rapids Xeon

ARM = {"cc": "aarch64-linux-gnu-gcc", "objdump": "aarch64-linux-gnu-objdump", "triple": "aarch64",
       "qemu": ["qemu-aarch64", "-cpu", "max"], "ldflags": ["-static", "-lm"]}
X86 = {"cc": "gcc", "objdump": "objdump", "triple": "x86_64", "qemu": ["qemu-x86_64", "-cpu", "max"],
       "ldflags": ["-static", "-no-pie", "-lm", "-lpthread"]}


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


# ---- building ----------------------------------------------------------------------------

def sources():
    found = []
    for d, _, files in os.walk(os.path.join(ROOT, "kernels", "src")):
        found += [os.path.join(d, f) for f in files if f.endswith(".c")]
    return sorted(found)


def build_driver(t):
    """The driver linked statically (fixed addresses for qemu's log and objdump); reused
    while no source changed, since the x86 build alone takes half a minute."""
    srcs = sources() + [os.path.join(ROOT, "kernels", "tests", "perf_model_driver.c")]
    h = hashlib.sha256(" ".join([t["cc"]] + CFLAGS + t["ldflags"]).encode())
    for s in srcs + sorted(os.path.join(ROOT, "kernels", "include", f)
                           for f in os.listdir(os.path.join(ROOT, "kernels", "include"))):
        h.update(open(s, "rb").read())
    exe = os.path.join(OUT, "perf_model_driver_%s_%s" % (t["triple"], h.hexdigest()[:12]))
    if not os.path.exists(exe):
        run([t["cc"]] + CFLAGS + ["-I" + os.path.join(ROOT, "kernels", d) for d in ("include", "tests")]
            + srcs + ["-o", exe] + t["ldflags"])
    return exe


# ---- disassembly -------------------------------------------------------------------------

FUNC_RE = re.compile(r"^([0-9a-f]+) <(.+)>:$")
INSN_RE = re.compile(r"^\s*([0-9a-f]+):\t(.*)$")


def disassemble(t, path):
    """{address: text} and [(start, name, [addresses])] from objdump, without raw bytes."""
    text, funcs = {}, []
    for line in run([t["objdump"], "-d", "-w", "--no-show-raw-insn", path]).splitlines():
        m = FUNC_RE.match(line)
        if m:
            funcs.append((int(m.group(1), 16), m.group(2), []))
            continue
        m = INSN_RE.match(line)
        if m and funcs:
            a = int(m.group(1), 16)
            text[a] = m.group(2).strip()
            funcs[-1][2].append(a)
    return text, funcs


ARM_BRANCH = re.compile(r"^(b|bl|b\.\w+|cbn?z|tbn?z)\s+(.*?)([0-9a-f]+)(\s+<[^>]*>)?$")
X86_BRANCH = re.compile(r"^((?:bnd |notrack )?(?:j\w+|call|jmp))\s+([0-9a-f]+)(\s+<[^>]*>)?$")


def branch_target(t, insn):
    """The target address of a direct branch, else None."""
    if t is ARM:
        m = ARM_BRANCH.match(insn.split("//")[0].strip())
        return int(m.group(3), 16) if m else None
    m = X86_BRANCH.match(insn.split("#")[0].strip())
    return int(m.group(2), 16) if m else None


def mca_line(t, insn):
    """objdump's text as llvm-mca's assembler takes it: comments dropped, branch
    targets pointed at a label, calls and returns as nops (llvm-mca ignores control
    flow; the callee's blocks are counted where they execute)."""
    if re.match(r"^(bl|blr|ret|call\w*|ret\w*)\b", insn):
        return "nop"  # llvm-mca would charge 100 cycles for a call
    if t is ARM:
        insn = insn.split("//")[0].strip()
        m = ARM_BRANCH.match(insn)
        if m:
            return "%s %s0b" % (m.group(1), m.group(2))
        return insn
    insn = re.sub(r"\s+#.*$", "", insn).strip()
    insn = re.sub(r"^(cs|ds|data16)\s+", "", insn)
    m = X86_BRANCH.match(insn)
    if m:
        return "%s 0b" % m.group(1).replace("bnd ", "").replace("notrack ", "")
    return insn.replace("bnd ", "").replace("notrack ", "")


# ---- llvm-mca --------------------------------------------------------------------------

def arm_model_fixes(cpu, line):
    """Cortex-A55 executes every 128-bit (Q-form) SDOT/UDOT on both of its 64-bit NEON
    pipes, as LLVM's A55 model has it for the by-vector form, but the model costs the
    by-element form as a D form; cost it as the by-vector Q form."""
    if cpu == "cortex-a55":
        return re.sub(r"^([su]dot\s+v\d+\.4s,\s*v\d+\.16b,\s*v(\d+))\.4b\[\d\]", r"\1.16b", line)
    return line


def mca(t, cpu, blocks, info=False):
    """Cycles per execution of each block (a list of instruction lists), each one run
    back to back ITERATIONS times by llvm-mca; with info, also each block's
    instruction table (reciprocal throughputs)."""
    if not blocks:
        return [], []
    lines, where = [], []  # where: block index of each assembly line (None for markers)
    for i, b in enumerate(blocks):
        lines.append("# LLVM-MCA-BEGIN b%d" % i), where.append(None)
        lines.append("0:"), where.append(None)
        for insn in b:
            lines.append(arm_model_fixes(cpu, insn) if t is ARM else insn), where.append(i)
        lines.append("# LLVM-MCA-END"), where.append(None)
    cmd = ["llvm-mca", "-mtriple=" + t["triple"], "-mcpu=" + cpu, "-iterations=%d" % ITERATIONS,
           "-resource-pressure=0", "-instruction-info=" + ("1" if info else "0")]
    if t is ARM:
        cmd.append("-mattr=" + ARM_MATTR)
    dropped = set()
    for _ in range(50):  # drop the lines the assembler rejects (a few odd x86 prefixes)
        with tempfile.NamedTemporaryFile("w", suffix=".s", dir=OUT, delete=False) as f:
            keep = [k for k in range(len(lines)) if k not in dropped]
            f.write("\n".join(lines[k] for k in keep) + "\n")
        p = subprocess.run(cmd + [f.name], capture_output=True, text=True)
        os.unlink(f.name)
        bad = [int(m.group(1)) - 1 for m in re.finditer(r"\.s:(\d+):\d+: error", p.stderr)]
        if p.returncode == 0 and not bad:
            break
        m = re.search(r"unsupported instruction.*\nnote: instruction:\s*(.*)", p.stderr)
        if m:  # one the model has no cost for (an atomic add): as a nop
            norm = lambda x: " ".join(x.replace(",", " ").split())
            lines = ["nop" if w is not None and norm(l) == norm(m.group(1)) else l
                     for l, w in zip(lines, where)]
            continue
        if not bad:
            raise RuntimeError(p.stderr[-3000:])
        dropped |= {keep[k] for k in bad}
    cycles, tables = [0.0] * len(blocks), [[] for _ in blocks]
    region = None
    for line in p.stdout.splitlines():
        m = re.match(r"\[\d+\] Code Region - b(\d+)", line)
        if m:
            region = int(m.group(1))
        m = re.match(r"Total Cycles:\s+(\d+)", line)
        if m and region is not None:
            cycles[region] = int(m.group(1)) / ITERATIONS
        m = re.match(r"^\s*(\d+)\s+(\d+)\s+([\d.]+)\s+[\s*U]*?\s{2,}(\S.*)$", line)
        if info and m and region is not None:
            tables[region].append((m.group(4).strip(), float(m.group(3))))
    return cycles, tables


# ---- per kernel: the innermost MAC loop of each function -----------------------------------

def arm_macs(insn):
    """Multiply-adds one AArch64 instruction performs (products; SADALP and the like
    only sum them)."""
    op = insn.split()[0] if insn.split() else ""
    regs = re.findall(r"v\d+\.(\d+)([bhsd])", insn)
    if op in ("smmla", "ummla", "usmmla"):
        return 32
    if op in ("sdot", "udot", "usdot", "sudot"):
        return 16 if regs and regs[0] == ("4", "s") else 8
    if op in ("smlal", "smlal2", "umlal", "umlal2", "smull", "smull2", "umull", "umull2",
              "smlsl", "smlsl2", "mla", "mls", "fmla", "fmlal", "fmlal2"):
        if regs and regs[0] == ("2", "d") and op.startswith(("smull", "umull")):
            return 0  # 32x32->64-bit products: the requantization's, not multiply-adds
        return int(regs[0][0]) if regs else 0
    return 0


def x86_macs(insn):
    op = insn.split()[0] if insn.split() else ""
    width = 64 if "%zmm" in insn else 32 if "%ymm" in insn else 16
    if op in ("vpdpbusd", "{vex}"):
        return width if "vpdpbusd" in insn else 0
    if op == "vpmaddubsw":
        return width
    if op == "vpmaddwd":  # 16-bit products
        return width // 2
    if op in ("vfmadd231ps", "vfmadd213ps", "vfmadd132ps"):
        return width // 4
    return 0


def mac_loops(t, text, funcs):
    """Per function: of the loops (a backward branch to a target inside the function)
    doing multiply-adds with the function's widest MAC instruction (SMMLA over SDOT over
    SMLAL) and holding no other such loop, the one doing the most, the shortest on a
    tie, among those with at least half the best MACs per instruction (so that the K loop
    wins over an epilogue whose activation polynomial also uses FMLA); nested: it holds a
    loop without MACs, whose body is then counted once per iteration (an underestimate
    of its cycles)."""
    macf = arm_macs if t is ARM else x86_macs
    found = []
    for start, name, addrs in funcs:
        widest = max((macf(text[a]) for a in addrs), default=0)
        if not widest:
            continue
        loops = []
        for a in addrs:
            target = branch_target(t, text[a])
            if target is not None and start <= target <= a:
                loops.append((target, a))
        score = {}
        for s, e in loops:
            score[(s, e)] = sum(macf(text[a]) for a in addrs if s <= a <= e and macf(text[a]) == widest)
        inside = lambda s, e: [l for l in loops if s <= l[0] and l[1] <= e and l != (s, e)]
        best = None
        # innermost among the loops doing such MACs
        cands = [(s, e) for s, e in loops if score[(s, e)] and not any(score[l] for l in inside(s, e))]
        length = lambda l: sum(1 for a in addrs if l[0] <= a <= l[1])
        densest = max((score[l] / length(l) for l in cands), default=0)
        for s, e in cands:
            if score[(s, e)] / length((s, e)) < densest / 2:
                continue
            body = [text[a] for a in addrs if s <= a <= e]
            key = (score[(s, e)], -len(body))
            if best is None or key > best[0]:
                best = (key, body, sum(macf(i) for i in body), bool(inside(s, e)))
        if best:
            found.append((name, best[1], best[2], best[3]))
    return found


def compile_object(t, src, extra=()):
    obj = os.path.join(OUT, os.path.basename(src) + "." + t["triple"] + ".o")
    run([t["cc"]] + CFLAGS + list(extra) + ["-I" + os.path.join(ROOT, "kernels", "include"), "-c", src, "-o", obj])
    return obj


def kernel_table(t, cores, files):
    """Rows: file, function, MACs per iteration, instructions, {cpu: (cycles, ideal cycles per MAC)}."""
    rows = []
    for rel in files:
        text, funcs = disassemble(t, compile_object(t, os.path.join(ROOT, "kernels", "src", rel)))
        loops = mac_loops(t, text, funcs)
        bodies = [[mca_line(t, i) for i in body] for _, body, _, _ in loops]
        per_cpu = {}
        for cpu in cores:
            cycles, tables = mca(t, cpu, bodies, info=True)
            macf = arm_macs if t is ARM else x86_macs
            ideals = []
            for table in tables:
                # the ideal: the loop's best MAC instruction issued back to back
                best = min((rt / macf(insn) for insn, rt in table if macf(insn)), default=0)
                ideals.append(best)
            per_cpu[cpu] = list(zip(cycles, ideals, tables))
        for k, (name, body, macs, nested) in enumerate(loops):
            ops = collections.Counter(i.split()[0] for i in body if (arm_macs if t is ARM else x86_macs)(i))
            rows.append({"file": rel, "name": name, "macs": macs, "insns": len(body),
                         "ops": "+".join(sorted(ops)), "nested": nested, "body": tuple(body),
                         "cpu": {cpu: per_cpu[cpu][k][:2] for cpu in cores}})
    return rows


# ---- per layer: qemu block counts ----------------------------------------------------------

TRACE_RE = re.compile(r"^Trace \d+: \S+ \[[0-9a-f]+/([0-9a-f]+)/")
ADDR_RE = re.compile(r"^0x([0-9a-f]+):")


def trace(t, exe, isa):
    """Items the driver ran (its "item" lines) and, per item, {block start: executions},
    with {block start: [instruction addresses]} from qemu's in_asm log."""
    syms = {name: a for a, name, _ in disassemble(t, exe)[1] if name in ("perf_begin", "perf_end")}
    out_path = os.path.join(OUT, "driver_%s_%s.txt" % (t["triple"], isa))
    with open(out_path, "w") as out:
        p = subprocess.Popen(t["qemu"] + ["-d", "in_asm,exec,nochain", exe, isa, "count"],
                             stdout=out, stderr=subprocess.PIPE, text=True, bufsize=1 << 20)
        blocks, counts, current = {}, [], None
        tb, inside = None, False
        begin, end = syms["perf_begin"], syms["perf_end"]
        for line in p.stderr:
            if line.startswith("Trace"):
                pc = int(TRACE_RE.match(line).group(1), 16)
                if pc == begin:
                    current = collections.Counter()
                    counts.append(current)
                    inside = True
                elif pc == end:
                    inside = False
                elif inside:
                    current[pc] += 1
            elif line.startswith("IN:"):
                tb = []
            elif tb is not None:
                m = ADDR_RE.match(line)
                if m:
                    tb.append(int(m.group(1), 16))
                elif not line.strip():
                    if tb:
                        blocks[tb[0]] = tb
                    tb = None
        if p.wait() != 0:
            raise RuntimeError("driver failed under qemu")
    items = []
    for line in open(out_path):
        f = line.rstrip("\n").split("\t")
        if f[0] == "item":
            items.append({"name": f[2], "family": f[3], "count": int(f[4]), "macs": float(f[5]),
                          "kernel": f[6]})
    assert len(items) == len(counts), "every item is delimited by the markers"
    for it, c in zip(items, counts):
        it["blocks"] = c
    return items, blocks


def layer_cycles(t, exe, items, blocks, cpus):
    """Per item and cpu: predicted cycles and retired instructions."""
    text, _ = disassemble(t, exe)
    used = sorted({b for it in items for b in it["blocks"]})
    bodies = [[mca_line(t, text[a]) for a in blocks[b] if a in text] for b in used]
    index = {b: k for k, b in enumerate(used)}
    for cpu in cpus:
        cycles, _ = mca(t, cpu, bodies)
        for it in items:
            it.setdefault("cycles", {})[cpu] = sum(n * cycles[index[b]] for b, n in it["blocks"].items())
    for it in items:
        it["instructions"] = sum(n * len(blocks[b]) for b, n in it["blocks"].items())
    return items


def measure(exe, isa):
    """Native single-thread seconds per item and the measured clock."""
    secs, hz = {}, 0.0
    for line in run([exe, isa, "time"]).splitlines():
        f = line.split("\t")
        if f[0] == "time":
            secs[int(f[1])] = float(f[2])
        if f[0] == "clock_hz":
            hz = float(f[1])
    return secs, hz


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            name = line.split(":", 1)[1].strip()
    for line in open("/proc/cpuinfo"):
        if line.startswith("model\t"):
            return "%s (family 6 model %s)" % (name, line.split(":", 1)[1].strip())
    return name


# ---- the report ----------------------------------------------------------------------------

NEON_FILES = ["gemm/gemm-neon.c", "gemm/gemm-neondot.c", "gemm/gemm-i8mm.c", "dwconv/dwconv-neon.c",
              "qgemm/qgemm-neon.c", "qgemm/qgemm-neondot.c", "f32/f32-neon.c", "fp8/fp8conv-neon.c"]
X86_FILES = ["gemm/gemm-avx2.c", "gemm/gemm-avx512vnni.c"]

# Why a kernel stays below 60% of its instruction's ideal (the table's last column).
REASONS = {
    "gemm/gemm-neondot.c": "A55: the low-bit variants unpack their weights in the loop (6-7 SHL/SSHR per "
                           "16 SDOT); only tiles with a single row block run them, larger ones run the "
                           "int8 kernel over an unpacked copy. (GCC compiles this file with Cortex-A76 "
                           "scheduling: its generic order, every accumulator's SDOTs back to back after "
                           "all 16 weight loads, ran the int8 loop at 165 cycles on A55, 39%)",
    "gemm/gemm-i8mm.c": "loads bound the loop: the A57 model has one load pipe, and 4 LDR D of A plus "
                        "4 LDP Q of B take 14 cycles against 8 for the 16 USMMLA; in LLVM's A55 model an "
                        "LDP Q costs 6 cycles and the in-order schedule issues all loads before the "
                        "USMMLAs. A 6x16 tile would spread B over three row pairs, at 24 accumulators "
                        "(no A55/A76 has i8mm anyway)",
    "gemm/gemm-neon.c": "A55: SMLAL by element issues two per cycle in LLVM's model (64 in 32 cycles per "
                        "8 K), but each 8-K block also widens 4 A rows and 4 weight vectors (12 "
                        "Q-form SXTL/UXTL, one per cycle) and, in order, waits about 13 cycles at its "
                        "top for the loads and widenings the first SMLALs need",
    "dwconv/dwconv-neon.c": "A55: a tap's 4 SMLAL come with 2 Q-form widenings of the input (at one "
                            "Q-form instruction per cycle, 67% at best), each pixel's 16 channels are "
                            "requantized (about 40 NEON instructions against 36 SMLAL for 3x3), and the "
                            "in-order core waits on load -> widen -> SMLAL latency that the compiler's "
                            "schedule leaves uncovered",
    "qgemm/qgemm-neon.c": "as gemm-neon",
    "qgemm/qgemm-neondot.c": "A55, at 60-64% (Cortex-A76 scheduling, as gemm-neondot): besides the 64 "
                             "SDOT (one per cycle), the 16 weight vectors come as LDP Q (6 cycles each "
                             "in LLVM's A55 model, partly overlapped), the A rows need their EOR flips, "
                             "GCC copies two accumulators (MOV) for want of registers, and about 19 "
                             "cycles are load-use waits",
    "f32/f32-neon.c": "float kernels, not on the INT8 path. `gemm_8x8` on A55: each K step waits for "
                      "the B row's address (b_off[k], a load), then for the dependent LDP Q pair (6 "
                      "cycles in LLVM's A55 model), about 20 cycles for 8 of FMLA; `act_row`, "
                      "`dw_row`: few FMLA per iteration (SiLU polynomial, 2 taps); on A76 FMLA costs "
                      "are the A57 model's",
    "fp8/fp8conv-neon.c": "4-8 MACs per loop iteration (a 4x2 tile): loop overhead dominates",
}


def group_rows(rows):
    """Functions whose loops cost the same (the dyadic/fp32, u8/s8 twins) as one row."""
    groups = collections.OrderedDict()
    for r in rows:
        key = (r["file"], r["ops"], r["macs"], r["insns"], tuple(sorted(r["cpu"].items())))
        groups.setdefault(key, []).append(r)
    out = []
    for rs in groups.values():
        r = dict(rs[0])
        names = sorted({x["name"].split(".")[0] for x in rs})
        r["members"] = names
        r["names"] = names[0] + (" (+%d)" % (len(names) - 1) if len(names) > 1 else "")
        out.append(r)
    return out


def main_tile(rel):
    """The bundle's main (8-bit weight, dyadic) microkernel, the first `.ukernel` entry of
    the file's bundle: the tile the network's 1x1 layers run on (the one-row kernel only
    takes single-row calls, the fully connected layer at batch 1)."""
    m = re.search(r"^\s*\.ukernel = \{(\w+)", open(os.path.join(ROOT, "kernels", "src", rel)).read(), re.M)
    return m.group(1)


def family_totals(items, key):
    fam = collections.defaultdict(float)
    for it in items:
        if it["count"]:
            fam[it["family"]] += it["count"] * key(it)
    return fam


def report(no_write):
    os.makedirs(OUT, exist_ok=True)
    lines = [BEGIN, ""]
    w = lines.append
    cores = [c[1] for c in ARM_CORES]

    # 1. per kernel
    rows = group_rows(kernel_table(ARM, cores, NEON_FILES))
    w("Generated by `python3 tools/arm_perf_model.py` (no ARM board: llvm-mca %s scheduling "
      "models; code from `aarch64-linux-gnu-gcc -O2`, as `tools/arm_kernel_tests.sh` builds it). "
      "Cortex-A76 is costed with %s; Cortex-A55 with LLVM's Cortex-A55 model, except that its "
      "by-element Q-form SDOT is costed as the by-vector Q form (both pipes)." %
      (run(["llvm-mca", "--version"]).split("LLVM version")[1].split()[0], ARM_CORES[0][3]))
    w("")
    w("**Inner loop of every NEON MAC kernel.** The innermost loop of each function with the "
      "most multiply-adds of its widest MAC instruction (of the loops with at least half the "
      "densest one's multiply-adds per instruction, so not an activation epilogue), cut from the "
      "disassembly; cycles per "
      "iteration from llvm-mca (%d iterations back to back), over the loop's MACs. Ideal: the "
      "loop's MAC instruction issued back to back at the model's throughput (SDOT 16 MACs, "
      "USMMLA 32, SMLAL 4, FMLA.4S 4, FMLAL 4 per instruction). `%%` = ideal / predicted; "
      "`*`: the loop holds an inner loop without MACs, counted once." % ITERATIONS)
    w("")
    w("| file | function | MAC instr | MACs/iter | instr/iter | A76 cyc/iter | A76 cyc/MAC | A76 ideal | A76 % | A55 cyc/iter | A55 cyc/MAC | A55 ideal | A55 % |")
    w("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    below = collections.OrderedDict()
    for r in rows:
        cells = []
        for cpu in cores:
            cyc, ideal = r["cpu"][cpu]
            pct = 100 * ideal * r["macs"] / cyc if cyc else 0
            cells += ["%.1f" % cyc, "%.4f" % (cyc / r["macs"]), "%.4f" % ideal, "%.0f%%" % pct]
            if pct < 60:
                below.setdefault(r["file"], set()).add(cpu)
        w("| %s | `%s`%s | %s | %d | %d | %s |" % (r["file"].split("/")[1], r["names"], " *" if r["nested"] else "",
                                                 r["ops"], r["macs"], r["insns"], " | ".join(cells)))
    w("")
    w("Below 60% of the ideal, and why:")
    w("")
    for f, cpus in below.items():
        w("- `%s` (%s): %s." % (f.split("/")[1], ", ".join(c for c, n, _, _ in ARM_CORES if n in cpus), REASONS.get(f, "not analysed")))
    w("")

    # 2. x86 calibration
    x86exe = build_driver(X86)
    xitems, xblocks = trace(X86, x86exe, "avx2")
    layer_cycles(X86, x86exe, xitems, xblocks, [X86_CPU])
    secs2, hz = measure(x86exe, "avx2")
    secs5, _ = measure(x86exe, "avx512vnni")
    for k, it in enumerate(xitems):
        it["measured"] = secs2[k]
    pred = family_totals(xitems, lambda it: it["cycles"][X86_CPU] / hz)
    meas = family_totals(xitems, lambda it: it["measured"])
    xrows = group_rows(kernel_table(X86, [X86_CPU], X86_FILES))
    w("**Calibration on x86** (%s, one thread, clock %.2f GHz measured by a chain of dependent "
      "multiplies; llvm-mca model `%s`). The per-layer method on the AVX2 level (qemu runs AVX2 but not "
      "AVX-512; the GEMMs forced to the AVX2 row), against the same driver's measured median "
      "time, every EfficientNet-Lite0 layer counted:" % (cpu_model(), hz / 1e9, X86_CPU))
    w("")
    w("| family | predicted ms | measured ms | error |")
    w("|---|---:|---:|---:|")
    for f in sorted(meas):
        w("| %s | %.3f | %.3f | %+.0f%% |" % (f, pred[f] * 1e3, meas[f] * 1e3, 100 * (pred[f] / meas[f] - 1)))
    tp, tm = sum(pred.values()), sum(meas.values())
    calib = tm / tp
    w("| **network** | **%.3f** | **%.3f** | **%+.0f%%** |" % (tp * 1e3, tm * 1e3, 100 * (tp / tm - 1)))
    w("")
    # the per-kernel (inner loop) method against the 1x1 layers' measured cycles per MAC
    gemm = [it for it in xitems if it["family"] == "gemm" and it["count"]]
    macs = sum(it["count"] * it["macs"] for it in gemm)
    w("Inner-loop method on x86: the GEMM bundles' inner loop against the measured cycles per MAC "
      "of the network's 1x1 and fully connected layers (time x clock / MACs, every layer counted):")
    w("")
    w("| function | MAC instr | MACs/iter | predicted cyc/MAC | ideal | measured cyc/MAC (ISA) | predicted / measured |")
    w("|---|---|---:|---:|---:|---:|---:|")
    for isa, secs, rel in (("avx2", secs2, "gemm/gemm-avx2.c"), ("avx512vnni", secs5, "gemm/gemm-avx512vnni.c")):
        m = sum(secs[k] * it["count"] for k, it in enumerate(xitems) if it in gemm) * hz / macs
        f = rel.split("/")[1]
        for r in xrows:
            if r["file"] == rel and main_tile(rel) in r["members"]:
                cyc, ideal = r["cpu"][X86_CPU]
                w("| `%s` (%s) | %s | %d | %.4f | %.4f | %.4f (%s) | %.2f |" %
                  (r["names"], f, r["ops"], r["macs"], cyc / r["macs"], ideal, m, isa, cyc / r["macs"] / m))
    w("")

    # 3. ARM per layer
    w("**EfficientNet-Lite0 INT8, one thread, predicted** (the per-layer method; both cores have "
      "the dot product but not i8mm, so the `neondot` rows; residual adds and the input "
      "QuantizeLinear included, global pooling and the final copy not). `x86-calibrated`: "
      "times the x86 measured/predicted ratio above (%.2f), the same method's bias on a core it "
      "can be checked on." % calib)
    w("")
    aitems, ablocks = trace(ARM, build_driver(ARM), "neondot")
    layer_cycles(ARM, build_driver(ARM), aitems, ablocks, cores)
    w("| family | retired instructions (M) | " + " | ".join("%s @ %.1f GHz ms" % (n, hz_ / 1e9) for n, _, hz_, _ in ARM_CORES) + " |")
    w("|---|---:|" + "---:|" * len(ARM_CORES))
    insn = family_totals(aitems, lambda it: it["instructions"])
    totals = {}
    for f in sorted(insn):
        cells = []
        for n, cpu, hz_, _ in ARM_CORES:
            ms = family_totals(aitems, lambda it: it["cycles"][cpu])[f] / hz_ * 1e3
            totals[cpu] = totals.get(cpu, 0) + ms
            cells.append("%.2f" % ms)
        w("| %s | %.1f | %s |" % (f, insn[f] / 1e6, " | ".join(cells)))
    w("| **network** | **%.1f** | %s |" % (sum(insn.values()) / 1e6, " | ".join("**%.2f**" % totals[c] for _, c, _, _ in ARM_CORES)))
    w("| x86-calibrated | | %s |" % " | ".join("%.2f" % (totals[c] * calib) for _, c, _, _ in ARM_CORES))
    w("")
    w("Anchors: the EfficientNet-Lite authors publish 6.5 ms for the INT8 TFLite model on a "
      "Pixel 4's CPU with **4 threads** (Snapdragon 855: Cortex-A76 cores at 2.42-2.84 GHz; "
      "tensorflow/tpu, models/official/efficientnet/lite/README.md); that is not a one-thread "
      "figure, so it bounds the prediction only loosely. No published one-thread figure for a "
      "Raspberry Pi 5 (Cortex-A76) or for any Cortex-A55, from ONNX Runtime or TFLite/XNNPACK, "
      "was found.")
    w("")
    w("Limits: llvm-mca costs each block as if it repeated back to back, so cache misses, branch "
      "mispredictions and latency carried between blocks are missing (x86: the network's "
      "calibration error above); the A76 figures come from the Cortex-A57 model (3-wide, "
      "integer MUL/MLA.4S at half rate, FMLA latency 10), not from an A76 model.")
    w("")
    w(END)
    section = "\n".join(lines)
    if no_write:
        print(section)
        return
    text = open(README).read()
    if BEGIN in text:
        text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n## ARM performance model\n\n" + section + "\n"
    open(README, "w").write(text)


if __name__ == "__main__":
    report("--no-write" in sys.argv[1:])
