"""Where the time of the Conv4 second-order MAML meta-step goes on XLA:CPU (issue 21 item 4).

Compiles the step of ``bench_meta.py`` (Conv4 5-way 1-shot, 1 query, meta-batch 32, one
inner step at 0.4, second order, Adam; ``jtransfer.ops.matmul_ops``), runs it ``--calls``
times under ``jax.profiler.trace`` and sums the XLA:CPU op events of the trace by HLO opcode
(dots listed by shape with their FLOPs and achieved GFLOP/s, fusions by the ops they fuse),
then prints the share of each category and the GEMM-rate bound of the dot FLOPs. Run::

    python experiments/bench_conv4_profile.py [--meta-batch 32] [--calls 3] [--json]

Measured 2026-12-06 before issue 21's second pass (2 cores shared with other jobs, load 21-23, so
the GEMM rate itself was 15 GFLOP/s instead of ~175 idle; the shares are the point, not the
times): step 6.59 s for 38.4 GFLOP = 38 % of the GEMM bound at that rate. Op time: dots 41.6 %
(per-task weight-gradient shapes far below the GEMM rate: ``[32,980,576]`` patch gradients
8.5 GFLOP/s, the task-summed kernel gradient ``[3,3,64,64]`` 5.2, the first layer's
``[32,3920,64]`` (K = 9) 2.0), pads 18.8 % (col2im: autodiff's transpose of im2col's nine
strided slices), transposes 13.8 %, reductions 11.0 % (batch norm statistics and their
derivatives), elementwise 9.5 %, concatenates 5.2 % (im2col).

Adopted (second pass, 2026-12-06): ``matmul_ops`` runs stride-1 convolutions through a
custom-VJP im2col convolution whose input gradient is the convolution of the output gradient
with the flipped kernel and whose kernel gradient's own VJP is two such convolutions, so no
derivative of any order contains col2im (meta-gradients equal to 2.7e-15 in float64). Meta-batch
32, CPU time per step in one process, 3 alternating rounds at load 16-19 (square GEMM in the
same process 62-66 GFLOP per CPU-second): before 1489-1660 ms = 23.1-25.7 GFLOP/CPU-s (37-39 %
of the GEMM rate), after 1351-1387 ms = 27.6-28.4 GFLOP/CPU-s (42-45 %); a second process, 4
rounds at load 10-11: before 1473-1572 ms, after 1354-1396 ms (GEMM 65-68); ``bench_meta.py --json
--only jtransfer --rounds 1`` then: 1.21 s CPU per step (31.7 GFLOP/CPU-s).

Profile after (this script, meta-batch 32, load 11, square-GEMM rate 27 GFLOP/s wall): step
3.23 s wall for 38.3 GFLOP (36.8 in dots) = 44 % of the GEMM bound. Per category (op time
share; bytes written per step; rate):

=================== ====== ========= ===============================================
category            share  written   rate
=================== ====== ========= ===============================================
fusion(dot)         40.6 % 0.223 GB  24.3 GFLOP/s (90 % of the square-GEMM rate)
concatenate         16.1 % 0.571 GB  0.95 GB/s written (im2col, also of gradients)
fusion(transpose)   13.5 % 0.606 GB  1.21 GB/s (between ``[task, rows, K]`` dot
                                     operands and NHWC activations; the pool's windows)
fusion(elementwise) 12.2 % 0.597 GB  1.31 GB/s (batch norm, ReLU, pool masks)
fusion(reduce)      10.2 % 0.074 GB  0.19 GB/s (batch-norm statistics, kernel sums)
fusion(pad)          7.4 % 0.515 GB  1.86 GB/s (the zero-padded inputs of im2col)
=================== ====== ========= ===============================================

Dots by shape: ``[32,980,64]`` 32.8 GFLOP/s, ``[32,576,64]`` 23.5, ``[32,245,64]`` 23.4,
kernel gradients ``[3,3,64,64]`` 15.8, the first layer's ``[32,3920,64]`` (K = 9) 3.4 (3.5 %
of the op time). Conclusion: the dots already run at ~90 % of the GEMM rate; the step is at
44 % of the bound because 59 % of the op time moves 2.36 GB per step (plus its reads) through
memory in im2col copies, layout transposes, batch norm and padding, at the 1-2 GB/s that the
loaded machine gives (a plain 256 MB stream ``a * 2 + 1`` measured 3.8-4.4 GB read+written per
CPU-second at load 9). With every dot at the full GEMM rate and the rest unchanged the step
would still be ~2.2x the bound (~45 %). The 60 % goal needs a convolution that reads its input
in place (a direct, fused convolution kernel with per-task weights, which XLA:CPU does not
have: its native convolution under ``vmap`` is a grouped convolution, below) or batch norm and
ReLU fused into the convolution's epilogue; neither is expressible in XLA:CPU's HLO fusion
without custom calls. im2col cannot be shared across tasks (each task convolves its own
images), and the per-layer GEMM is already one batched ``dot_general`` over the tasks (what
``jnp.einsum`` over tasks would emit).

Tried 2026-12-06 (meta-batch 8, 9.61 GFLOP/step, CPU time of the process at load 17-20,
median of 3 steps; the square-GEMM rate in the same process 57-64 GFLOP per CPU-second) and
not adopted, since none moved the number:
the first pass's ``matmul_ops`` (im2col + reshape/argmax pool) 382-397 ms CPU = 24-25
GFLOP/CPU-s, about 39 % of the GEMM rate; the same with a max-pool that keeps the window axes
in place (a constant first-max mask from a running ``>`` over strided views, pooled by
``sum(x * mask)``: every derivative is a broadcast times the mask, no transposes;
meta-gradients bitwise equal) 425 ms; a convolution without patch copies (one matmul
``x @ [w_0 .. w_8]`` into all taps, then a sum of shifted slices; equal to
``conv_general_dilated`` to 1e-12 in float64 up to the second derivative) 1600 ms, 4x slower:
it moves 9x the output instead of 9x the input and XLA:CPU emits its shifted sums and their
transposes as separate pads; XLA:CPU flags ``--xla_cpu_use_xnnpack=true`` 397 ms and
``--xla_cpu_use_onednn=true`` 413 ms. Folding the tasks into ``feature_group_count`` (input
``(1, H, W, tasks * C)``, kernel ``(3, 3, C, tasks * O)``) is exactly what ``vmap`` makes of
the native ``conv_general_dilated`` with per-task weights (``jax.lax``'s batching rule), i.e.
the ``--native-conv`` row: at meta-batch 8 it took 5361 ms CPU per step (1.6 GFLOP/CPU-s)
against 304 ms for ``matmul_ops`` in the same process (17.6x slower; XLA:CPU runs grouped
convolutions and their weight gradients as generic loops). Not tried for lack of time: NCHW
layout, and a cheaper max-pool second derivative (argmax-gather form; the pool is inside the
elementwise and transpose shares above, under 10 % of the step).
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from experiments import _bench, bench_meta  # noqa: E402
from jtransfer import ops  # noqa: E402

_INSTR = re.compile(r"^\s*(?:ROOT )?%?([\w.\-]+) = (\S+?)(?:\[[^\]]*\])?(?:\{[^}]*\})? ([\w\-]+)\(")


_BYTES = {"f64": 8, "f32": 4, "s32": 4, "u32": 4, "f16": 2, "bf16": 2, "s8": 1, "u8": 1, "pred": 1}


def out_bytes(shape: str) -> float:
    """Bytes of an HLO result shape (a tuple: the sum of its arrays)."""
    total = 0.0
    for dt, dims in re.findall(r"(\w+)\[([\d,]*)\]", shape):
        n = np.prod([int(v) for v in dims.split(",") if v]) if dims else 1
        total += float(n) * _BYTES.get(dt, 4)
    return total


def _dims(shape: str) -> list[int]:
    m = re.match(r"\w+\[([\d,]*)\]", shape)
    return [int(v) for v in m.group(1).split(",") if v] if m else []


def hlo_ops(text: str) -> dict[str, dict]:
    """name -> {opcode, shape, line, calls, fused, flops} for every HLO instruction; ``flops``
    of a dot (or of a fusion: the dots in its fused computation) is 2 * |out| * |contracted|."""
    out: dict[str, dict] = {}
    comps: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line and not line.startswith(" ") and "{" in line and ("%" in line or "ENTRY" in line):
            current = line.split()[1] if line.startswith("ENTRY") else line.split()[0]
            current = current.lstrip("%")
            comps[current] = []
            continue
        m = re.match(r"^\s*(?:ROOT )?%?([\w.\-]+) = (.+?) ([\w\-]+)\((.*)$", line)
        if not m:
            continue
        name, shape, opcode, rest = m.groups()
        calls = re.search(r"calls=%?([\w.\-]+)", rest)
        out[name] = {
            "opcode": opcode,
            "shape": shape,
            "rest": rest,
            "line": line.strip(),
            "calls": calls and calls.group(1),
        }
        if current is not None:
            comps[current].append(name)
    for info in out.values():
        info["flops"] = dot_flops(info, out) if info["opcode"] == "dot" else 0.0
    for info in out.values():
        if info["calls"] in comps:
            members = [out[n] for n in comps[info["calls"]]]
            inner = collections.Counter(x["opcode"] for x in members)
            info["fused"] = {k: v for k, v in inner.items() if k not in ("parameter", "constant")}
            info["flops"] = sum(x["flops"] for x in members)
    return out


def dot_flops(info: dict, table: dict[str, dict]) -> float:
    """2 * prod(output dims) * prod(contracting dims) of an HLO dot."""
    operands = re.findall(r"%?([\w.\-]+)", info["rest"].split(")")[0])
    lhs = table.get(operands[0]) if operands else None
    cd = re.search(r"lhs_contracting_dims=\{([\d,]*)\}", info["rest"])
    if lhs is None or cd is None:
        return float("nan")
    ld = _dims(lhs["shape"])
    k = int(np.prod([ld[int(i)] for i in cd.group(1).split(",") if i]))
    return 2.0 * float(np.prod(_dims(info["shape"]))) * k


def category(info: dict) -> str:
    op = info["opcode"]
    if op == "fusion":
        fused = info.get("fused", {})
        for key in (
            "dot",
            "convolution",
            "reduce-window",
            "select-and-scatter",
            "reduce",
            "gather",
            "scatter",
            "concatenate",
            "pad",
            "transpose",
            "slice",
        ):
            if key in fused:
                return f"fusion({key})"
        return "fusion(elementwise)"
    return op


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--meta-batch", type=int, default=32)
    ap.add_argument("--calls", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--native-conv", action="store_true", help="profile the native-conv step")
    args = ap.parse_args(argv)
    loss_fn, params, tasks = bench_meta.omniglot_problem(args.meta_batch)
    fn = loss_fn if args.native_conv else ops.matmul_ops(loss_fn)
    run, compile_s, flops = bench_meta.jax_step(fn, params, tasks, inner_lr=0.4, num_steps=1)
    jax.block_until_ready(run())
    import jax.numpy as jnp  # noqa: F401

    # the compiled HLO of the same step (jax_step compiles ahead of time; lower it again)
    import optax

    from jtransfer import meta

    opt = optax.adam(1e-3)

    def step(p, s, t):
        loss, g = jax.value_and_grad(meta.maml_loss, argnums=1)(fn, p, t, inner_lr=0.4, num_steps=1)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s, loss, g

    hlo = jax.jit(step).lower(params, opt.init(params), tasks).compile().as_text()
    info = hlo_ops(hlo)
    walls = []
    with tempfile.TemporaryDirectory() as d:
        with jax.profiler.trace(d):
            for _ in range(args.calls):
                t = time.perf_counter()
                jax.block_until_ready(run())
                walls.append(time.perf_counter() - t)
        pb = glob.glob(os.path.join(d, "**", "*.xplane.pb"), recursive=True)
        data = jax.profiler.ProfileData.from_file(pb[0])
    by_name = collections.defaultdict(float)
    for plane in data.planes:
        for line in plane.lines:
            for ev in line.events:
                if ev.name in info:
                    by_name[ev.name] += ev.duration_ns * 1e-9 / args.calls
    cats = collections.defaultdict(float)
    cat_bytes = collections.defaultdict(float)  # bytes written by the ops of each category
    cat_flops = collections.defaultdict(float)
    dots = collections.defaultdict(lambda: [0.0, 0.0, 0])
    for name, sec in by_name.items():
        c = category(info[name])
        cats[c] += sec
        cat_bytes[c] += out_bytes(info[name]["shape"])
        fl = info[name]["flops"]
        cat_flops[c] += 0.0 if np.isnan(fl) else fl
        if c in ("dot", "fusion(dot)"):
            fl = info[name]["flops"]
            key = info[name]["shape"]
            dots[key][0] += sec
            dots[key][1] += 0.0 if np.isnan(fl) else fl
            dots[key][2] += 1
    total_ops = sum(cats.values())
    wall = float(np.median(walls))
    rate = _bench.gemm_rate()
    dot_fl = sum(v[1] for v in dots.values())
    res = {
        "workload": f"maml2_conv4_omniglot_5w1s1q_mb{args.meta_batch}_profile",
        "peer": "jtransfer_native_conv" if args.native_conv else "jtransfer",
        "median_s": wall,
        "n": args.calls,
        "load": _bench.load(),
        "compile_s": round(compile_s, 2),
        "gflop_xla": round(flops / 1e9, 3),
        "gflop_dots": round(dot_fl / 1e9, 3),
        "gemm_gflops": round(rate / 1e9, 1),
        "op_seconds_per_step": round(total_ops, 4),
        "categories_s": {k: round(v, 4) for k, v in sorted(cats.items(), key=lambda kv: -kv[1])},
        # per category: GB written per step (result arrays) and GFLOP per step (dots)
        "categories_gb": {k: round(cat_bytes[k] / 1e9, 4) for k in cats},
        "categories_gflop": {k: round(cat_flops[k] / 1e9, 4) for k in cats if cat_flops[k]},
    }
    if args.json:
        print(json.dumps(res))
        return 0
    print(
        f"step {wall * 1e3:.0f} ms wall (median of {args.calls}), load {_bench.load()}, "
        f"compile {compile_s:.1f} s"
    )
    print(
        f"XLA cost analysis {flops / 1e9:.2f} GFLOP; dots {dot_fl / 1e9:.2f} GFLOP; best GEMM "
        f"rate now {rate / 1e9:.0f} GFLOP/s -> bound {flops / rate * 1e3:.0f} ms = "
        f"{100 * flops / rate / wall:.0f} % of the step"
    )
    print(f"op events sum to {total_ops * 1e3:.0f} ms per step (2 threads may overlap ops)")
    print("  category                       time/step  share  written   write rate  dot rate")
    for k, v in sorted(cats.items(), key=lambda kv: -kv[1]):
        gb = cat_bytes[k] / 1e9
        fl = f"{cat_flops[k] / 1e9 / v:6.1f} GFLOP/s" if cat_flops[k] and v else ""
        bw = f"{gb / v:6.2f} GB/s" if v else ""
        print(
            f"  {k:28s} {v * 1e3:9.1f} ms  {100 * v / total_ops:5.1f} %  {gb:6.3f} GB  {bw}  {fl}"
        )
    print("dots by output shape (time, FLOPs, achieved rate):")
    for k, (sec, fl, cnt) in sorted(dots.items(), key=lambda kv: -kv[1][0])[:15]:
        rate_s = f"{fl / sec / 1e9:6.1f} GFLOP/s" if fl and sec else ""
        print(f"  {k:40s} x{cnt:<3d} {sec * 1e3:8.1f} ms  {fl / 1e9:7.3f} GFLOP  {rate_s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
